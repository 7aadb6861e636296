"""Helpers shared by every Numba kernel: activations and small matrix products.

Numba's cache does not notice edits to this module from the kernels that
use it; after editing, clear this package's ``__pycache__`` (see config.py).

Float32 uses a branch-free rational approximation of tanh (the kind XLA and
Eigen use: odd polynomial of degree 13 over even polynomial of degree 6,
clamped), which LLVM vectorizes; it stays within about 3e-7 of ``np.tanh``.
Sigmoid is ``0.5 * tanh(x / 2) + 0.5`` there. Float64 keeps exact
functions.
"""
import numpy as np
from numba import njit, types
from numba.extending import overload

from ..activations import LINEAR, RELU, SIGMOID, TANH
from .config import (
    JIT_OPTIONS, SMALL_GEMM,
)

__all__ = ["LINEAR", "TANH", "SIGMOID", "RELU", "tanh_", "sigmoid_", "act_add",
           "act_inplace", "dact", "mul_dact", "matmul", "matmul_tn", "transpose",
           "time_major", "scatter_batch_major", "column_sums", "add_rows",
           "act_bias_inplace", "mul_dact_inplace", "matmul_acc_hand",
           "backward_input_grads", "matmul_rows", "matmul_acc_rows", "hand_sized"]


def tanh_(x):
    """tanh, approximated in float32 (compiled code only)."""
    return np.tanh(x)


def sigmoid_(x):
    """The logistic function, approximated in float32 (compiled code only)."""
    return 1.0 / (1.0 + np.exp(-x))


def _is_f32(x):
    return isinstance(x, types.Float) and x.bitwidth == 32


@overload(tanh_, jit_options=JIT_OPTIONS)
def _ol_tanh(x):
    if _is_f32(x):
        def impl(x):
            v = min(max(x, np.float32(-7.90531110763549805)), np.float32(7.90531110763549805))
            v2 = v * v
            p = np.float32(-2.76076847742355e-16)
            p = p * v2 + np.float32(2.00018790482477e-13)
            p = p * v2 + np.float32(-8.60467152213735e-11)
            p = p * v2 + np.float32(5.12229709037114e-08)
            p = p * v2 + np.float32(1.48572235717979e-05)
            p = p * v2 + np.float32(6.37261928875436e-04)
            p = p * v2 + np.float32(4.89352455891786e-03)
            q = np.float32(1.19825839466702e-06)
            q = q * v2 + np.float32(1.18534705686654e-04)
            q = q * v2 + np.float32(2.26843463243900e-03)
            q = q * v2 + np.float32(4.89352518554385e-03)
            return v * p / q
        return impl
    return lambda x: np.tanh(x)


@overload(sigmoid_, jit_options=JIT_OPTIONS)
def _ol_sigmoid(x):
    if _is_f32(x):
        def impl(x):
            return np.float32(0.5) * tanh_(np.float32(0.5) * x) + np.float32(0.5)
        return impl
    # exp(-x) overflows to inf for very negative x, giving exactly 0.
    return lambda x: 1.0 / (1.0 + np.exp(-x))


@njit(**JIT_OPTIONS)
def act_add(dst, a, b, lo, hi, code):
    """dst[j] = act(a[j] + b[j]) for lo <= j < hi (dst may alias a)."""
    if code == TANH:
        for j in range(np.uint64(lo), np.uint64(hi)):
            dst[j] = tanh_(a[j] + b[j])
    elif code == SIGMOID:
        for j in range(np.uint64(lo), np.uint64(hi)):
            dst[j] = sigmoid_(a[j] + b[j])
    elif code == RELU:
        zero = dst.dtype.type(0)
        for j in range(np.uint64(lo), np.uint64(hi)):
            dst[j] = max(a[j] + b[j], zero)
    else:
        for j in range(np.uint64(lo), np.uint64(hi)):
            dst[j] = a[j] + b[j]


@njit(**JIT_OPTIONS)
def act_inplace(dst, src, n, code):
    """dst[j] = act(src[j]) for j < n."""
    if code == TANH:
        for j in range(n):
            dst[j] = tanh_(src[j])
    elif code == SIGMOID:
        for j in range(n):
            dst[j] = sigmoid_(src[j])
    elif code == RELU:
        zero = dst.dtype.type(0)
        for j in range(n):
            dst[j] = max(src[j], zero)
    else:
        for j in range(n):
            dst[j] = src[j]


@njit(**JIT_OPTIONS)
def dact(y, code, one):
    """d act(a) / da from the output y = act(a); ``one`` is 1 in y's dtype."""
    if code == TANH:
        return one - y * y
    if code == SIGMOID:
        return y * (one - y)
    if code == RELU:
        return one if y > 0 else one - one
    return one


@njit(**JIT_OPTIONS)
def matmul(a, b, out):
    """out = a @ b for 2-D C-contiguous arrays; a hand loop when small."""
    m, k = a.shape
    n = b.shape[1]
    if m == 0 or n == 0:
        return
    if k == 0:
        out[:, :] = 0
        return
    if m * k * n <= SMALL_GEMM:
        out[:, :] = 0
        matmul_acc_hand(a, b, out)
    else:
        np.dot(a, b, out)


@njit(**JIT_OPTIONS)
def matmul_tn(a, b, out):
    """out = a.T @ b for 2-D C-contiguous a (m, k), b (m, n); out (k, n).

    By hand when small: a's transpose (k, m), then the blocked product of
    :func:`matmul_acc_hand`, which sums each element over the rows of a in
    the order the direct loop did (groups of four, then one by one), so the
    same bits, 1.2-1.8x sooner (measured, float32, one core: (100, 64) by
    (100, 256) 29 -> 17 us; the direct loop passed over all of ``out`` for
    every four rows of a)."""
    m, k = a.shape
    n = b.shape[1]
    if m == 0 or k == 0 or n == 0:
        out[:, :] = 0
        return
    if m * k * n <= SMALL_GEMM:
        out[:, :] = 0
        matmul_acc_hand(transpose(a), b, out)
    else:
        np.dot(a.T, b, out)


@njit(**JIT_OPTIONS)
def transpose(a):
    """A C-contiguous copy of a.T.

    Eight rows of ``a`` at a time: each output row then gets eight
    consecutive elements per pass, where the plain loop wrote one element
    per output row and pass, 2 KB or more apart, which at power-of-two
    widths all fell in the same few cache sets. Measured (float32): about
    0.25 ns per element at every size, against 2.6 ns for (128, 512) and 4.3
    for (512, 2048) with the plain loop."""
    m, n = a.shape
    out = np.empty((n, m), a.dtype)
    for i0 in range(0, m, 8):
        i1 = min(i0 + 8, m)
        for j in range(n):
            row = out[j]
            # unsigned indices: see "Indices LLVM can prove non-negative" below
            for i in range(np.uint64(i0), np.uint64(i1)):
                row[i] = a[i, j]
    return out


@njit(**JIT_OPTIONS)
def time_major(x, go_backwards):
    """x (B, T, D) -> (T*B, D), row s*B + b holding x[b, t(s)]."""
    batch, timesteps, features = x.shape
    if batch == 1 and not go_backwards:
        return x.reshape(timesteps, features)
    out = np.empty((timesteps * batch, features), x.dtype)
    for s in range(timesteps):
        t = timesteps - 1 - s if go_backwards else s
        for b in range(batch):
            out[s * batch + b, :] = x[b, t, :]
    return out


@njit(**JIT_OPTIONS)
def scatter_batch_major(src, go_backwards, dst):
    """dst (B, T, D)[b, t(s)] = src (T*B, D)[s*B + b]."""
    batch, timesteps, _ = dst.shape
    for s in range(timesteps):
        t = timesteps - 1 - s if go_backwards else s
        for b in range(batch):
            dst[b, t, :] = src[s * batch + b, :]


@njit(**JIT_OPTIONS)
def column_sums(a, out):
    """out[j] = sum_i a[i, j]."""
    out[:] = 0
    for i in range(a.shape[0]):
        ai = a[i]
        for j in range(a.shape[1]):
            out[j] += ai[j]


@njit(**JIT_OPTIONS)
def mul_dact(dst, grad, y, lo, hi, code):
    """dst[j] = grad[j] * act'(.) written from the output y[j], lo <= j < hi."""
    one = dst.dtype.type(1)
    if code == TANH:
        for j in range(np.uint64(lo), np.uint64(hi)):
            dst[j] = grad[j] * (one - y[j] * y[j])
    elif code == SIGMOID:
        for j in range(np.uint64(lo), np.uint64(hi)):
            dst[j] = grad[j] * (y[j] * (one - y[j]))
    elif code == RELU:
        zero = one - one
        for j in range(np.uint64(lo), np.uint64(hi)):
            dst[j] = grad[j] if y[j] > zero else zero
    else:
        for j in range(np.uint64(lo), np.uint64(hi)):
            dst[j] = grad[j]


@njit(**JIT_OPTIONS)
def add_rows(a, b):
    """a += b for 2-D arrays of one shape."""
    for i in range(a.shape[0]):
        ai = a[i]
        bi = b[i]
        for j in range(a.shape[1]):
            ai[j] += bi[j]


@njit(**JIT_OPTIONS)
def matmul_acc_hand(a, b, out):
    """out += a @ b by hand (2-D, C-contiguous).

    Register-friendly blocking: four output rows at a time, and the inner
    dimension four at a time, so each pass over an output row applies 16
    multiply-adds per element it loads and stores (the plain loop did one,
    and ran at a third of the speed: measured 55 vs 170 GFLOP/s for a
    (16, 128) @ (128, 512) product on one AVX-512 core). Every output
    element is summed in the same order, ``out += a0*b0 + a1*b1 + a2*b2 +
    a3*b3`` per group of four, then the leftover terms one by one, whether
    its row is in a block of four or not; so results do not depend on how
    the rows are split between threads.
    """
    m, k = a.shape
    n = b.shape[1]
    k4 = k - k % 4
    i = 0
    while i + 4 <= m:
        r0 = out[i]
        r1 = out[i + 1]
        r2 = out[i + 2]
        r3 = out[i + 3]
        a0 = a[i]
        a1 = a[i + 1]
        a2 = a[i + 2]
        a3 = a[i + 3]
        for p in range(0, k4, 4):
            b0 = b[p]
            b1 = b[p + 1]
            b2 = b[p + 2]
            b3 = b[p + 3]
            v00, v01, v02, v03 = a0[p], a0[p + 1], a0[p + 2], a0[p + 3]
            v10, v11, v12, v13 = a1[p], a1[p + 1], a1[p + 2], a1[p + 3]
            v20, v21, v22, v23 = a2[p], a2[p + 1], a2[p + 2], a2[p + 3]
            v30, v31, v32, v33 = a3[p], a3[p + 1], a3[p + 2], a3[p + 3]
            for j in range(n):
                w0 = b0[j]
                w1 = b1[j]
                w2 = b2[j]
                w3 = b3[j]
                r0[j] += v00 * w0 + v01 * w1 + v02 * w2 + v03 * w3
                r1[j] += v10 * w0 + v11 * w1 + v12 * w2 + v13 * w3
                r2[j] += v20 * w0 + v21 * w1 + v22 * w2 + v23 * w3
                r3[j] += v30 * w0 + v31 * w1 + v32 * w2 + v33 * w3
        for p in range(k4, k):
            bp = b[p]
            v0, v1, v2, v3 = a0[p], a1[p], a2[p], a3[p]
            for j in range(n):
                w = bp[j]
                r0[j] += v0 * w
                r1[j] += v1 * w
                r2[j] += v2 * w
                r3[j] += v3 * w
        i += 4
    for ii in range(i, m):
        row = out[ii]
        ai = a[ii]
        for p in range(0, k4, 4):
            b0 = b[p]
            b1 = b[p + 1]
            b2 = b[p + 2]
            b3 = b[p + 3]
            v0, v1, v2, v3 = ai[p], ai[p + 1], ai[p + 2], ai[p + 3]
            for j in range(n):
                row[j] += v0 * b0[j] + v1 * b1[j] + v2 * b2[j] + v3 * b3[j]
        for p in range(k4, k):
            v = ai[p]
            bp = b[p]
            for j in range(n):
                row[j] += v * bp[j]


@njit(**JIT_OPTIONS)
def project_rows(b0, b1, x, kernel, go_backwards, dest):
    """``dest[s, b] = x[b, t(s)] @ kernel`` for the batch rows b in [b0, b1) and
    every step s (dest time-major, (T, B, W)), by the hand products: the input
    projection of one slice of a sliced forward, on the slice's thread.

    Measured (float32, 2 threads, SimpleRNN 32x50x100x128 forward): 35 % of
    the time went to the one BLAS call projecting every slice's rows up front
    (OpenBLAS at ~130 GFLOP/s per core on these (1600, 100) @ (100, 128)
    products, with its own threads beside the slices'); the hand products run
    at ~200 per core, on the slices' own threads."""
    timesteps = x.shape[1]
    for s in range(timesteps):
        t = timesteps - 1 - s if go_backwards else s
        rows = dest[s, b0:b1]
        rows[:, :] = 0
        matmul_acc_hand(x[b0:b1, t], kernel, rows)


@njit(**JIT_OPTIONS)
def matmul_acc(a, b, out, tmp):
    """out += a @ b (2-D, C-contiguous); tmp shaped as out, used when large."""
    m, k = a.shape
    n = b.shape[1]
    if m * k * n <= SMALL_GEMM:
        matmul_acc_hand(a, b, out)
    else:
        np.dot(a, b, tmp)
        add_rows(out, tmp)


@njit(**JIT_OPTIONS)
def backward_input_grads(xt, dgates, kernel, go_backwards, dx, d_kernel):
    """The bulk GEMMs on the input side: d_kernel = X^T dG, dx = dG W_x^T."""
    batch, timesteps, features = dx.shape
    matmul_tn(xt, dgates, d_kernel)
    kernel_t = transpose(kernel)
    if batch == 1 and not go_backwards:
        matmul(dgates, kernel_t, dx.reshape(timesteps, features))
    else:
        dxt = np.empty((timesteps * batch, features), dx.dtype)
        matmul(dgates, kernel_t, dxt)
        scatter_batch_major(dxt, go_backwards, dx)


# In-place variants. LLVM vectorizes ``a[j] = f(a[j])`` but not
# ``dst[j] = f(a[j])`` when dst and a are the same array passed twice (its
# runtime overlap check then takes the scalar loop): 16x slower for tanh.
#
# Indices LLVM can prove non-negative. Numba wraps negative indices
# (``a[-1]``), and where LLVM cannot prove an index non-negative that
# check stays in the loop and the loop is not vectorized: a loop over
# ``range(lo, hi)`` with a runtime ``lo``, or indexing ``g[h1 + j]``.
# Measured (float32, 256 sigmoids): 527 ns that way, 33 ns vectorized,
# which made the LSTM's gate math scalar until 2026-12 (its forward is
# 1.25-1.35x faster since). So the helpers that take a range [lo, hi)
# loop over unsigned indices (``range(np.uint64(lo), np.uint64(hi))``; Numba
# does not wrap those), and the kernels take gate blocks as views that they
# index from 0 (``gf = g[h1:h2]; gf[j]``), never as ``g[h1 + j]``.

@njit(**JIT_OPTIONS)
def act_bias_inplace(g, bias, lo, hi, code):
    """g[j] = act(g[j] + bias[j]) for lo <= j < hi."""
    if code == TANH:
        for j in range(np.uint64(lo), np.uint64(hi)):
            g[j] = tanh_(g[j] + bias[j])
    elif code == SIGMOID:
        for j in range(np.uint64(lo), np.uint64(hi)):
            g[j] = sigmoid_(g[j] + bias[j])
    elif code == RELU:
        zero = g.dtype.type(0)
        for j in range(np.uint64(lo), np.uint64(hi)):
            g[j] = max(g[j] + bias[j], zero)
    else:
        for j in range(np.uint64(lo), np.uint64(hi)):
            g[j] = g[j] + bias[j]


@njit(**JIT_OPTIONS)
def mul_dact_inplace(d, y, lo, hi, code):
    """d[j] *= act'(.) written from the output y[j], lo <= j < hi."""
    one = d.dtype.type(1)
    if code == TANH:
        for j in range(np.uint64(lo), np.uint64(hi)):
            d[j] = d[j] * (one - y[j] * y[j])
    elif code == SIGMOID:
        for j in range(np.uint64(lo), np.uint64(hi)):
            d[j] = d[j] * (y[j] * (one - y[j]))
    elif code == RELU:
        zero = one - one
        for j in range(np.uint64(lo), np.uint64(hi)):
            d[j] = d[j] if y[j] > zero else zero


# The serial time loops decide "by hand or by size" once per call
# (``hand_sized``) and pass ``hand=True`` when every per-step product is
# small; these two helpers are inlined into the loops, so such a step calls
# the hand loop directly. Measured (1x8 by 8x8, float32): 19 ns a product
# that way, 41 through a helper call, 54-95 through the size check of
# ``matmul_acc``; a step of the tiny SimpleRNN went from 0.15 us to 0.10.

@njit(**JIT_OPTIONS)
def hand_sized(rows, units, width):
    """Whether a product of (rows, units) by (units, width) runs by hand in
    :func:`matmul` / :func:`matmul_acc` (the same test, so the same bits)."""
    return rows * units * width <= SMALL_GEMM


@njit(inline="always", **JIT_OPTIONS)
def matmul_rows(a, b, out, hand):
    """out = a @ b: by hand if ``hand``, else by size (see :func:`matmul`)."""
    if hand:
        out[:, :] = 0
        matmul_acc_hand(a, b, out)
    else:
        matmul(a, b, out)


@njit(inline="always", **JIT_OPTIONS)
def matmul_acc_rows(a, b, out, tmp, hand):
    """out += a @ b: by hand if ``hand``, else by size (see :func:`matmul_acc`)."""
    if hand:
        matmul_acc_hand(a, b, out)
    else:
        matmul_acc(a, b, out, tmp)
