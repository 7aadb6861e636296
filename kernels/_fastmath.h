/* float32 tanh and sigmoid over arrays, written so the compiler vectorizes them.
 *
 * tanh(x) ~ x * P(x^2) / Q(x^2) on [-8, 8], evaluated in double and rounded
 * to float32 once, clamped outside: a rational fit made for fastrnn, and the
 * one float32 approximation of both compiled backends (the Numba backend
 * uses the same coefficients). sigmoid(x) = (1 + tanh(x/2)) / 2.
 *
 * |x| >= 8 gives exactly +-1, so saturated units pass no gradient, as
 * float32 tanh does (which reaches 1 from |x| = 9.01 on). Max abs error
 * against float64 tanh over every float32: 2.3e-7, just above |x| = 8
 * (tanh(8) = 1 - 2.25e-7); 3.9e-8 for |x| < 8. sigmoid: exactly 0 or 1
 * for |x| >= 16, max abs error 1.2e-7 there, 4.9e-8 for |x| < 16.
 *
 * Pure arithmetic and selects: with -fno-trapping-math, GCC and Clang turn
 * each loop into SIMD code. `out` may equal `a`.
 */
#ifndef FASTRNN_FASTMATH_H
#define FASTRNN_FASTMATH_H
#include <stddef.h>

static inline float fastrnn_tanh_f32(float xf) {
    /* Evaluated in double: float Horner steps would add ~3e-7 of rounding,
     * which a recurrence can amplify past the float32 tolerance. */
    double x = xf, u, p, q;
    x = x > 8.0 ? 8.0 : x;
    x = x < -8.0 ? -8.0 : x;
    u = x * x;
    p = (((1.5204140583e-08 * u + 2.1877638864e-05) * u + 3.5706600931e-03) * u
         + 1.3443746157e-01) * u + 1.0;
    q = (((8.5122442105e-07 * u + 3.4096874664e-04) * u + 2.6160987804e-02) * u
         + 4.6777075934e-01) * u + 1.0;
    /* Saturated inputs give exactly +-1 (x * 0.125 at x = +-8), so that the
     * derivative 1 - tanh^2 of a saturated unit is exactly 0. */
    return (float)((x == 8.0 || x == -8.0) ? x * 0.125 : x * p / q);
}

static inline void fastrnn_tanh_f32_array(const float *a, float *out, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++)
        out[i] = fastrnn_tanh_f32(a[i]);
}

static inline void fastrnn_sigmoid_f32_array(const float *a, float *out, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++)
        out[i] = 0.5f + 0.5f * fastrnn_tanh_f32(0.5f * a[i]);
}

#endif
