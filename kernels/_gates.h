/* Elementwise gate math of the LSTM and GRU backward steps, for one batch row,
 * in C so that the loops vectorize.
 *
 * Written in C because C can promise the compiler that the arrays do not
 * overlap (restrict): with the activation codes known but the pointers
 * possibly aliased, GCC keeps the same loops written in Cython scalar, and
 * they are a sizeable part of a float32 train call.
 *
 * One macro per cell writes the step; it is parametrised by the derivative
 * expressions DACT(T, code, y) and DRACT(T, code, y) (d act / da from the
 * output y, for the activation and the recurrent activation), which gives
 * both variants:
 *
 *   *_tanh_sigmoid_*  Keras's default (tanh, with sigmoid gates), the
 *                     derivatives written out (FASTRNN_DTANH, _DSIGMOID);
 *   the generic one   any activation codes, known at run time
 *                     (FASTRNN_DCODE: fastrnn_derivative_<T> of
 *                     _activations.h).
 *
 * Every variant takes the codes (the default one ignores them).
 *
 * LSTM: with gates [i, f, g, o] (4 * units) of step t, act_c = act(c_t),
 * c_prev = c_{t-1}, and dh + d_h_new the gradient reaching h_t:
 *
 *     dhn = d_h_new + dh
 *     dcn = dc + dhn * o * act'(c_t)
 *     dz  = [dcn * g * ract'(i), dcn * c_prev * ract'(f), dcn * i * act'(g),
 *            dhn * act_c * ract'(o)]
 *     dc  = dcn * f   (the gradient reaching c_{t-1} through the forget gate)
 *     dh  = 0
 */
#ifndef FASTRNN_GATES_H
#define FASTRNN_GATES_H
#include <stddef.h>

#include "_activations.h"
#include "_fastmath.h"
#include "_restrict.h"

/* The derivative expressions (see above); ``code`` is the activation code,
 * which only FASTRNN_DCODE reads. */
#define FASTRNN_DTANH(T, code, y) ((T) 1 - (y) * (y))
#define FASTRNN_DSIGMOID(T, code, y) ((y) * ((T) 1 - (y)))
#define FASTRNN_DCODE(T, code, y) fastrnn_derivative_##T(code, y)

#define FASTRNN_LSTM_STEP_GRADS(NAME, T, DACT, DRACT)                                    \
static inline void NAME(ptrdiff_t units, int activation, int recurrent_activation,       \
                        const T* FASTRNN_RESTRICT gates,                                 \
                        const T* FASTRNN_RESTRICT act_c,                                 \
                        const T* FASTRNN_RESTRICT c_prev,                                \
                        const T* FASTRNN_RESTRICT d_h_new,                               \
                        T* FASTRNN_RESTRICT dh, T* FASTRNN_RESTRICT dc,                  \
                        T* FASTRNN_RESTRICT dz)                                          \
{                                                                                        \
    (void) activation;                                                                   \
    (void) recurrent_activation;                                                         \
    for (ptrdiff_t j = 0; j < units; j++) {                                              \
        T i = gates[j], f = gates[units + j];                                            \
        T g = gates[2 * units + j], o = gates[3 * units + j];                            \
        T a = act_c[j];                                                                  \
        T dhn = d_h_new[j] + dh[j];                                                      \
        T dcn = dc[j] + dhn * o * DACT(T, activation, a);                                \
        dz[j] = dcn * g * DRACT(T, recurrent_activation, i);                             \
        dz[units + j] = dcn * c_prev[j] * DRACT(T, recurrent_activation, f);             \
        dz[2 * units + j] = dcn * i * DACT(T, activation, g);                            \
        dz[3 * units + j] = dhn * a * DRACT(T, recurrent_activation, o);                 \
        dc[j] = dcn * f;                                                                 \
        dh[j] = 0;                                                                       \
    }                                                                                    \
}

FASTRNN_LSTM_STEP_GRADS(fastrnn_lstm_step_grads_tanh_sigmoid_f32, float,
                        FASTRNN_DTANH, FASTRNN_DSIGMOID)
FASTRNN_LSTM_STEP_GRADS(fastrnn_lstm_step_grads_tanh_sigmoid_f64, double,
                        FASTRNN_DTANH, FASTRNN_DSIGMOID)
FASTRNN_LSTM_STEP_GRADS(fastrnn_lstm_step_grads_f32, float, FASTRNN_DCODE, FASTRNN_DCODE)
FASTRNN_LSTM_STEP_GRADS(fastrnn_lstm_step_grads_f64, double, FASTRNN_DCODE, FASTRNN_DCODE)

/* GRU, pass 1 of a backward step: with gates [z, r, hh] (3 * units) of step
 * t, u (with reset_after: h_{t-1} @ U_h + b_h, the candidate's recurrent
 * part), and dh + d_h_new the gradient reaching h_t:
 *
 *     dhn  = d_h_new + dh
 *     da_h = dhn * (1 - z) * act'(hh)
 *     dz   = [dhn * (h_prev - hh) * ract'(z), (see below), da_h]
 *     dh   = dhn * z         (the direct part of the gradient reaching h_{t-1})
 *
 * with reset_after: dz's middle block da_h * u * ract'(r), and aux = da_h * r
 * (the gradient of u); without: aux = r * h_prev, and the middle block is
 * left to the caller (it needs da_h @ W_h's candidate columns first).
 *
 * RESET_AFTER is the reset_after flag (the constant 1 in the default
 * variant, the argument in the generic one); ONE_MINUS(T, z) is 1 - z: in
 * T for the default variant, with the double 1.0 for the generic one, whose
 * float32 results depend on that bit for bit (see _activations.h). */
#define FASTRNN_ONE_MINUS_T(T, z) ((T) 1 - (z))
#define FASTRNN_ONE_MINUS_DOUBLE(T, z) (1.0 - (z))

#define FASTRNN_GRU_STEP_GRADS(NAME, T, DACT, DRACT, RESET_AFTER, ONE_MINUS)             \
static inline void NAME(ptrdiff_t units, int activation, int recurrent_activation,       \
                        int reset_after, const T* FASTRNN_RESTRICT gates,                \
                        const T* FASTRNN_RESTRICT u,                                     \
                        const T* FASTRNN_RESTRICT h_prev,                                \
                        const T* FASTRNN_RESTRICT d_h_new,                               \
                        T* FASTRNN_RESTRICT dh, T* FASTRNN_RESTRICT dz,                  \
                        T* FASTRNN_RESTRICT aux)                                         \
{                                                                                        \
    (void) activation;                                                                   \
    (void) recurrent_activation;                                                         \
    (void) reset_after;                                                                  \
    for (ptrdiff_t j = 0; j < units; j++) {                                              \
        T z = gates[j], r = gates[units + j], hh = gates[2 * units + j];                 \
        T dhn = d_h_new[j] + dh[j];                                                      \
        T da_h = dhn * ONE_MINUS(T, z) * DACT(T, activation, hh);                        \
        dz[j] = dhn * (h_prev[j] - hh) * DRACT(T, recurrent_activation, z);              \
        dz[2 * units + j] = da_h;                                                        \
        if (RESET_AFTER) {                                                               \
            aux[j] = da_h * r;                                                           \
            dz[units + j] = da_h * u[j] * DRACT(T, recurrent_activation, r);             \
        } else {                                                                         \
            aux[j] = r * h_prev[j];                                                      \
        }                                                                                \
        dh[j] = dhn * z;                                                                 \
    }                                                                                    \
}

/* The default variant is for reset_after only (Keras's default); the generic
 * one takes either. */
FASTRNN_GRU_STEP_GRADS(fastrnn_gru_step_grads_tanh_sigmoid_f32, float,
                       FASTRNN_DTANH, FASTRNN_DSIGMOID, 1, FASTRNN_ONE_MINUS_T)
FASTRNN_GRU_STEP_GRADS(fastrnn_gru_step_grads_tanh_sigmoid_f64, double,
                       FASTRNN_DTANH, FASTRNN_DSIGMOID, 1, FASTRNN_ONE_MINUS_T)
FASTRNN_GRU_STEP_GRADS(fastrnn_gru_step_grads_f32, float, FASTRNN_DCODE, FASTRNN_DCODE,
                       reset_after, FASTRNN_ONE_MINUS_DOUBLE)
FASTRNN_GRU_STEP_GRADS(fastrnn_gru_step_grads_f64, double, FASTRNN_DCODE, FASTRNN_DCODE,
                       reset_after, FASTRNN_ONE_MINUS_DOUBLE)

/* The forward's gate math of one batch row, float32, Keras's default
 * activations (tanh, with sigmoid gates), fused into one pass over the
 * units once the step's products are in ``z``:
 *
 *   LSTM, z = [i, f, g, o] pre-activations (4 * units), written back
 *   activated (the backward reads them):
 *       c_new = f * c_prev + i * g,   h_new = o * tanh(c_new)
 *
 *   GRU with reset_after, z = [z, r, hh] of x_t @ W_x + b_x and
 *   u = h_prev @ U + b_rec (3 * units):
 *       z = sig(z + u_z), r = sig(r + u_r), u_h = u[2H:],
 *       hh = tanh(hh + r * u_h),   h_new = z * h_prev + (1 - z) * hh
 *
 * sig(x) = 0.5 + 0.5 * tanh(0.5 x) with fastrnn_tanh_f32, each product and
 * sum rounded to float32 (the build does not contract): the bits of the
 * unfused loops, and of the intrinsics versions in _simd_isa.h. */
static inline float fastrnn_sigmoid_f32(float x)
{
    return 0.5f + 0.5f * fastrnn_tanh_f32(0.5f * x);
}

/* Units [j0, units) of a row (the intrinsics versions' last units mod 8). */
static inline void fastrnn_lstm_gates_f32_from(ptrdiff_t j0, ptrdiff_t units,
                                               float* FASTRNN_RESTRICT z,
                                               const float* FASTRNN_RESTRICT c_prev,
                                               float* FASTRNN_RESTRICT c_new,
                                               float* FASTRNN_RESTRICT h_new)
{
    for (ptrdiff_t j = j0; j < units; j++) {
        float i = fastrnn_sigmoid_f32(z[j]), f = fastrnn_sigmoid_f32(z[units + j]);
        float g = fastrnn_tanh_f32(z[2 * units + j]);
        float o = fastrnn_sigmoid_f32(z[3 * units + j]);
        float c = f * c_prev[j] + i * g;
        z[j] = i;
        z[units + j] = f;
        z[2 * units + j] = g;
        z[3 * units + j] = o;
        c_new[j] = c;
        h_new[j] = o * fastrnn_tanh_f32(c);
    }
}

static inline void fastrnn_gru_gates_f32_from(ptrdiff_t j0, ptrdiff_t units,
                                              float* FASTRNN_RESTRICT z,
                                              const float* FASTRNN_RESTRICT u,
                                              const float* FASTRNN_RESTRICT h_prev,
                                              float* FASTRNN_RESTRICT u_h,
                                              float* FASTRNN_RESTRICT h_new)
{
    for (ptrdiff_t j = j0; j < units; j++) {
        float zg = fastrnn_sigmoid_f32(z[j] + u[j]);
        float r = fastrnn_sigmoid_f32(z[units + j] + u[units + j]);
        float hh = fastrnn_tanh_f32(z[2 * units + j] + r * u[2 * units + j]);
        z[j] = zg;
        z[units + j] = r;
        z[2 * units + j] = hh;
        u_h[j] = u[2 * units + j];
        h_new[j] = zg * h_prev[j] + (1 - zg) * hh;
    }
}

static inline void fastrnn_lstm_gates_f32(ptrdiff_t units, float* z, const float* c_prev,
                                          float* c_new, float* h_new)
{
    fastrnn_lstm_gates_f32_from(0, units, z, c_prev, c_new, h_new);
}

static inline void fastrnn_gru_gates_f32(ptrdiff_t units, float* z, const float* u,
                                         const float* h_prev, float* u_h, float* h_new)
{
    fastrnn_gru_gates_f32_from(0, units, z, u, h_prev, u_h, h_new);
}

#endif
