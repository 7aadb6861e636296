/* Elementwise gate math of the LSTM and GRU backward steps, for Keras's
 * default activations (tanh, with sigmoid gates; GRU with reset_after), in
 * C so that the loops vectorize.
 *
 * The same sums as the generic loops of ``lstm_step_grads`` and
 * ``gru_step_grads`` in _cython_kernels.pyx, written here because C can
 * promise the compiler that the arrays do not overlap (restrict): with the
 * activation codes known but the pointers possibly aliased, GCC kept the
 * Cython loops scalar (13 % of an LSTM 32x50x100x128 float32 train call,
 * 16 % of a GRU one).
 *
 * LSTM: for one batch row, with gates [i, f, g, o] (4 * units) of step t,
 * act_c = tanh(c_t), c_prev = c_{t-1}, and dh + d_h_new the gradient
 * reaching h_t:
 *
 *     dhn = d_h_new + dh
 *     dcn = dc + dhn * o * (1 - act_c^2)
 *     dz  = [dcn * g * i(1-i), dcn * c_prev * f(1-f), dcn * i * (1-g^2),
 *            dhn * act_c * o(1-o)]
 *     dc  = dcn * f   (the gradient reaching c_{t-1} through the forget gate)
 *     dh  = 0
 */
#ifndef FASTRNN_GATES_H
#define FASTRNN_GATES_H
#include <stddef.h>

#include "_restrict.h"

#define FASTRNN_LSTM_STEP_GRADS(NAME, T)                                                 \
static inline void NAME(ptrdiff_t units, const T* FASTRNN_RESTRICT gates,                \
                        const T* FASTRNN_RESTRICT act_c,                                 \
                        const T* FASTRNN_RESTRICT c_prev,                                \
                        const T* FASTRNN_RESTRICT d_h_new,                               \
                        T* FASTRNN_RESTRICT dh, T* FASTRNN_RESTRICT dc,                  \
                        T* FASTRNN_RESTRICT dz)                                          \
{                                                                                        \
    const T one = 1;                                                                     \
    for (ptrdiff_t j = 0; j < units; j++) {                                              \
        T i = gates[j], f = gates[units + j];                                            \
        T g = gates[2 * units + j], o = gates[3 * units + j];                            \
        T a = act_c[j];                                                                  \
        T dhn = d_h_new[j] + dh[j];                                                      \
        T dcn = dc[j] + dhn * o * (one - a * a);                                         \
        dz[j] = dcn * g * (i * (one - i));                                               \
        dz[units + j] = dcn * c_prev[j] * (f * (one - f));                               \
        dz[2 * units + j] = dcn * i * (one - g * g);                                     \
        dz[3 * units + j] = dhn * a * (o * (one - o));                                   \
        dc[j] = dcn * f;                                                                 \
        dh[j] = 0;                                                                       \
    }                                                                                    \
}

FASTRNN_LSTM_STEP_GRADS(fastrnn_lstm_step_grads_tanh_sigmoid_f32, float)
FASTRNN_LSTM_STEP_GRADS(fastrnn_lstm_step_grads_tanh_sigmoid_f64, double)

/* GRU with reset_after: for one batch row, with gates [z, r, hh] (3 * units)
 * of step t, u = h_{t-1} @ U_h + b_h (the candidate's recurrent part), and
 * dh + d_h_new the gradient reaching h_t:
 *
 *     dhn  = d_h_new + dh
 *     da_h = dhn * (1 - z) * (1 - hh^2)
 *     dz   = [dhn * (h_prev - hh) * z(1-z), da_h * u * r(1-r), da_h]
 *     aux  = da_h * r        (the gradient of u)
 *     dh   = dhn * z         (the direct part of the gradient reaching h_{t-1})
 */
#define FASTRNN_GRU_STEP_GRADS(NAME, T)                                                  \
static inline void NAME(ptrdiff_t units, const T* FASTRNN_RESTRICT gates,                \
                        const T* FASTRNN_RESTRICT u,                                     \
                        const T* FASTRNN_RESTRICT h_prev,                                \
                        const T* FASTRNN_RESTRICT d_h_new,                               \
                        T* FASTRNN_RESTRICT dh, T* FASTRNN_RESTRICT dz,                  \
                        T* FASTRNN_RESTRICT aux)                                         \
{                                                                                        \
    const T one = 1;                                                                     \
    for (ptrdiff_t j = 0; j < units; j++) {                                              \
        T z = gates[j], r = gates[units + j], hh = gates[2 * units + j];                 \
        T dhn = d_h_new[j] + dh[j];                                                      \
        T da_h = dhn * (one - z) * (one - hh * hh);                                      \
        dz[j] = dhn * (h_prev[j] - hh) * (z * (one - z));                                \
        dz[2 * units + j] = da_h;                                                        \
        aux[j] = da_h * r;                                                               \
        dz[units + j] = da_h * u[j] * (r * (one - r));                                   \
        dh[j] = dhn * z;                                                                 \
    }                                                                                    \
}

FASTRNN_GRU_STEP_GRADS(fastrnn_gru_step_grads_tanh_sigmoid_f32, float)
FASTRNN_GRU_STEP_GRADS(fastrnn_gru_step_grads_tanh_sigmoid_f64, double)

#endif
