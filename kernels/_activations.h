/* The kernels' activation codes, and each activation's derivative.
 *
 * The codes are those of fastrnn/activations.py (LINEAR, TANH, SIGMOID,
 * RELU); the extension checks at import that the two agree.
 *
 * fastrnn_derivative_float / fastrnn_derivative_double (code, y): d act(a)/da
 * in terms of the output y = act(a), for an activation known at run time:
 *
 *     linear 1,  tanh 1 - y^2,  sigmoid y (1 - y),  relu 1 if y > 0 else 0.
 *
 * The 1 of tanh and sigmoid is the double constant 1.0, so float32 evaluates
 * them partly in double (C's promotion) and rounds once on return: every
 * result of the generic (non-default activation) code paths depends on this
 * bit for bit. The default tanh/sigmoid step gradients of _gates.h use their
 * own float expressions.
 */
#ifndef FASTRNN_ACTIVATIONS_H
#define FASTRNN_ACTIVATIONS_H

#define FASTRNN_LINEAR 0
#define FASTRNN_TANH 1
#define FASTRNN_SIGMOID 2
#define FASTRNN_RELU 3

#define FASTRNN_DERIVATIVE(NAME, T)                                                      \
static inline T NAME(int code, T y)                                                      \
{                                                                                        \
    if (code == FASTRNN_TANH)                                                            \
        return (T) (1.0 - y * y);                                                        \
    if (code == FASTRNN_SIGMOID)                                                         \
        return (T) (y * (1.0 - y));                                                      \
    if (code == FASTRNN_RELU)                                                            \
        return y > 0 ? (T) 1 : (T) 0;                                                    \
    return 1;                                                                            \
}

FASTRNN_DERIVATIVE(fastrnn_derivative_float, float)
FASTRNN_DERIVATIVE(fastrnn_derivative_double, double)

#endif
