"""Helpers shared by every Numba kernel: activations and small matrix products.

Numba's cache does not notice edits to this module from the kernels that
use it; after editing, clear this package's ``__pycache__`` (see config.py).

float32 ``tanh`` is the rational approximation of ``kernels/_fastmath.h``,
the same in both compiled backends (its error bounds are stated there):
``x * P(u) / Q(u)``, ``u = x^2``, with P and Q of degree 4, evaluated in
float64 after clamping ``x`` to [-8, 8] (exactly +-1 at +-8), then rounded to float32. float32
``sigmoid(x)`` is ``0.5 + 0.5 * tanh(0.5 * x)`` in float32. Both are plain arithmetic and
selects, which LLVM vectorizes (``np.tanh`` on float32 is a scalar libm
call). float64 keeps the exact functions.

Products take ``hand_max``, the size (multiply-adds) up to which a product
runs as a hand loop rather than a BLAS call: ``hand_product_max`` of
:data:`fastrnn.config.settings` in a call over the whole batch, no limit in a
sliced call (see ``_dispatch.py``). It is an argument, never a compiled-in
constant, so a change needs no recompilation.

Two rules keep the loops here vectorized:

* In-place variants. LLVM vectorizes ``a[j] = f(a[j])`` but not
  ``dst[j] = f(a[j])`` when dst and a are the same array passed twice: its
  runtime overlap check then takes the scalar loop. So a helper that updates
  an array in place takes it once.
* Indices LLVM can prove non-negative. Numba wraps negative indices
  (``a[-1]``), and where LLVM cannot prove an index non-negative that check
  stays in the loop and the loop is not vectorized: a loop over
  ``range(lo, hi)`` with a runtime ``lo``, or indexing ``g[h1 + j]``. So the
  helpers that take a range [lo, hi) loop over unsigned indices
  (``range(np.uint64(lo), np.uint64(hi))``; Numba does not wrap those), and
  the kernels take gate blocks as views that they index from 0
  (``gf = g[h1:h2]; gf[j]``), never as ``g[h1 + j]``.

Dropout masks (the kernels' ``dropout_mask``, ``recurrent_dropout_mask``)
reach the compiled functions as None when a call has none: Numba then
compiles a version of each function with every ``mask is None`` branch
decided, so a call without dropout runs the code it ran before masks
existed. The ``masked_*`` products below take K masks and a weight in K
column blocks (:func:`column_blocks`), block k reading its operand times
mask k: the math of ``fastrnn/reference/_steps.py``.

The activation of each element is one switch on the activation code
(:func:`act`, :func:`times_dact`) inside the loop; the code is the same for
the whole loop, so LLVM unswitches it into one vectorized loop per
activation.
"""

import numpy as np
from numba import njit, types
from numba.extending import overload

from ..activations import LINEAR, RELU, SIGMOID, TANH
from ._fpmode import flush_denormals, restore_denormals
from .config import JIT_OPTIONS

__all__ = [
    "LINEAR",
    "TANH",
    "SIGMOID",
    "RELU",
    "tanh_",
    "sigmoid_",
    "act",
    "times_dact",
    "activate",
    "activate_inplace",
    "mul_dact",
    "mul_dact_inplace",
    "hand_sized",
    "matmul_acc_hand",
    "matmul",
    "matmul_tn",
    "matmul_acc",
    "matmul_rows",
    "matmul_acc_rows",
    "transpose",
    "time_major",
    "scatter_batch_major",
    "column_sums",
    "add_rows",
    "project_inputs",
    "backward_input_grads",
    "weight_grads",
    "column_blocks",
    "masked_time_major",
    "masked_matmul_acc",
    "masked_matmul_t_acc",
    "masked_matmul_tn",
    "masked_matmul_nt",
]


def tanh_(x):
    """tanh, approximated in float32 (compiled code only)."""
    return np.tanh(x)


def sigmoid_(x):
    """The logistic function, approximated in float32 (compiled code only)."""
    return 1.0 / (1.0 + np.exp(-x))


def like(x, value):
    """``value`` as a number of the type of ``x`` (compiled code only)."""
    return type(x)(value)


def _is_f32(x):
    return isinstance(x, types.Float) and x.bitwidth == 32


@overload(like, jit_options=JIT_OPTIONS)
def _ol_like(x, value):
    number_type = x

    def impl(x, value):
        return number_type(value)

    return impl


@overload(tanh_, jit_options=JIT_OPTIONS)
def _ol_tanh(x):
    if _is_f32(x):

        def impl(x):
            # kernels/_fastmath.h, fastrnn_tanh_f32: the same coefficients and steps.
            v = np.float64(x)
            v = 8.0 if v > 8.0 else v
            v = -8.0 if v < -8.0 else v
            u = v * v
            p = (
                ((1.5204140583e-08 * u + 2.1877638864e-05) * u + 3.5706600931e-03) * u
                + 1.3443746157e-01
            ) * u + 1.0
            q = (
                ((8.5122442105e-07 * u + 3.4096874664e-04) * u + 2.6160987804e-02) * u
                + 4.6777075934e-01
            ) * u + 1.0
            # Saturated inputs give exactly +-1, as the C's select does.
            return np.float32(v * 0.125 if v == 8.0 or v == -8.0 else v * p / q)

        return impl
    return lambda x: np.tanh(x)


@overload(sigmoid_, jit_options=JIT_OPTIONS)
def _ol_sigmoid(x):
    if _is_f32(x):

        def impl(x):
            half = np.float32(0.5)
            return half + half * tanh_(half * x)

        return impl
    # exp(-x) overflows to inf for very negative x, giving exactly 0.
    return lambda x: 1.0 / (1.0 + np.exp(-x))


@njit(inline="always", **JIT_OPTIONS)
def act(v, code):
    """The activation ``code`` (a :mod:`fastrnn.activations` code) of one value."""
    if code == TANH:
        return tanh_(v)
    if code == SIGMOID:
        return sigmoid_(v)
    if code == RELU:
        return max(v, like(v, 0))
    return v


@njit(inline="always", **JIT_OPTIONS)
def times_dact(grad, y, code):
    """``grad * act'(a)``, the derivative written from the output ``y = act(a)``."""
    one = like(y, 1)
    if code == TANH:
        return grad * (one - y * y)
    if code == SIGMOID:
        return grad * (y * (one - y))
    if code == RELU:
        return grad if y > like(y, 0) else like(y, 0)
    return grad


@njit(**JIT_OPTIONS)
def activate(dst, src, n, code):
    """``dst[j] = act(src[j])`` for j < n (dst and src distinct)."""
    for j in range(n):
        dst[j] = act(src[j], code)


@njit(**JIT_OPTIONS)
def activate_inplace(g, bias, lo, hi, code):
    """``g[j] = act(g[j] + bias[j])`` for lo <= j < hi."""
    for j in range(np.uint64(lo), np.uint64(hi)):
        g[j] = act(g[j] + bias[j], code)


@njit(**JIT_OPTIONS)
def mul_dact(dst, grad, y, lo, hi, code):
    """``dst[j] = grad[j] * act'(.)`` written from the output y[j], lo <= j < hi."""
    for j in range(np.uint64(lo), np.uint64(hi)):
        dst[j] = times_dact(grad[j], y[j], code)


@njit(**JIT_OPTIONS)
def mul_dact_inplace(d, y, lo, hi, code):
    """``d[j] *= act'(.)`` written from the output y[j], lo <= j < hi."""
    if code == LINEAR:
        return
    for j in range(np.uint64(lo), np.uint64(hi)):
        d[j] = times_dact(d[j], y[j], code)


@njit(inline="always", **JIT_OPTIONS)
def computed_end(mask, t, b0, b1):
    """One past the last row of [b0, b1) valid at position ``t`` (b0 if none).

    A step computes rows [b0, computed_end) and carries the states of the
    rows after them, which are all masked there: a batch sorted by length
    (a ``PackedSequence``) has the valid rows of every step first, so its
    steps cost what its valid rows do."""
    while b1 > b0 and not mask[b1 - 1, t]:
        b1 -= 1
    return b1


@njit(**JIT_OPTIONS)
def hand_sized(rows, units, width, hand_max):
    """Whether a product of (rows, units) by (units, width) runs by hand in
    :func:`matmul` / :func:`matmul_acc` (the same test, so the same bits)."""
    return rows * units * width <= hand_max


@njit(**JIT_OPTIONS)
def matmul_acc_hand(a, b, out):
    """out += a @ b by hand (2-D, C-contiguous).

    Register-friendly blocking: four output rows at a time, and the inner
    dimension four at a time, so each pass over an output row applies 16
    multiply-adds per element it loads and stores. Every output element is
    summed in the same order, ``out += a0*b0 + a1*b1 + a2*b2 + a3*b3`` per
    group of four, then the leftover terms one by one, whether its row is in
    a block of four or not; so results do not depend on how the rows are
    split between threads.
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
def matmul(a, b, out, hand_max):
    """out = a @ b for 2-D C-contiguous arrays; a hand loop up to ``hand_max``."""
    m, k = a.shape
    n = b.shape[1]
    if m == 0 or n == 0:
        return
    if k == 0:
        out[:, :] = 0
        return
    if m * k * n <= hand_max:
        out[:, :] = 0
        matmul_acc_hand(a, b, out)
    else:
        np.dot(a, b, out)


@njit(**JIT_OPTIONS)
def matmul_tn(a, b, out, hand_max):
    """out = a.T @ b for 2-D C-contiguous a (m, k), b (m, n); out (k, n).

    By hand up to ``hand_max``: a's transpose (k, m), then the blocked
    product of :func:`matmul_acc_hand`, which sums each element over the rows
    of a in groups of four, then one by one (a direct loop over a's rows
    would pass over all of ``out`` for every four rows of a)."""
    m, k = a.shape
    n = b.shape[1]
    if m == 0 or k == 0 or n == 0:
        out[:, :] = 0
        return
    if m * k * n <= hand_max:
        out[:, :] = 0
        matmul_acc_hand(transpose(a), b, out)
    else:
        np.dot(a.T, b, out)


@njit(**JIT_OPTIONS)
def add_rows(a, b):
    """a += b for 2-D arrays of one shape."""
    for i in range(a.shape[0]):
        ai = a[i]
        bi = b[i]
        for j in range(a.shape[1]):
            ai[j] += bi[j]


@njit(**JIT_OPTIONS)
def matmul_acc(a, b, out, tmp, hand_max):
    """out += a @ b (2-D, C-contiguous); tmp shaped as out, used above ``hand_max``."""
    m, k = a.shape
    n = b.shape[1]
    if m * k * n <= hand_max:
        matmul_acc_hand(a, b, out)
    else:
        np.dot(a, b, tmp)
        add_rows(out, tmp)


# The time loops decide "by hand or by size" once per call (``hand_sized``)
# and pass ``hand=True`` when every per-step product is small; these two
# helpers are inlined into the loops, so such a step calls the hand loop
# directly, without a helper call or a size check per product.


@njit(inline="always", **JIT_OPTIONS)
def matmul_rows(a, b, out, hand, hand_max):
    """out = a @ b: by hand if ``hand``, else by size (see :func:`matmul`)."""
    if hand:
        out[:, :] = 0
        matmul_acc_hand(a, b, out)
    else:
        matmul(a, b, out, hand_max)


@njit(inline="always", **JIT_OPTIONS)
def matmul_acc_rows(a, b, out, tmp, hand, hand_max):
    """out += a @ b: by hand if ``hand``, else by size (see :func:`matmul_acc`)."""
    if hand:
        matmul_acc_hand(a, b, out)
    else:
        matmul_acc(a, b, out, tmp, hand_max)


@njit(**JIT_OPTIONS)
def transpose(a):
    """A C-contiguous copy of a.T.

    Eight rows of ``a`` at a time: each output row then gets eight
    consecutive elements per pass, where a plain loop would write one element
    per output row and pass, 2 KB or more apart, which at power-of-two widths
    all fall in the same few cache sets."""
    m, n = a.shape
    out = np.empty((n, m), a.dtype)
    for i0 in range(0, m, 8):
        i1 = min(i0 + 8, m)
        for j in range(n):
            row = out[j]
            # unsigned indices: see "Indices LLVM can prove non-negative" above
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
def project_inputs(b0, b1, hand_max, x, mask, dropout_mask, kernel, go_backwards, dest):
    """``dest[s, b] = x[b, t(s)] @ kernel`` for the batch rows b in [b0, b1)
    and every step s (dest time-major, (T, B, W)): the input projection of a
    forward call, which every forward rows function starts with. Under
    ``dropout_mask`` (K, B, D), block k of dest's columns is
    ``(x[b, t(s)] * dropout_mask[k, b]) @ kernel[:, block k]``.

    For the whole batch it is one product of (T*B, D) by (D, W), by hand up
    to ``hand_max`` or else by BLAS; for one slice of a sliced call, one hand
    product per step over the slice's rows up to the step's ``computed_end``
    (the time loop computes no row after it), on the slice's thread. The
    hand product sums every element in the same order either way."""
    batch, timesteps, _ = x.shape
    if dropout_mask is not None:
        _project_masked(b0, b1, hand_max, x, mask, dropout_mask, kernel, go_backwards, dest)
    elif b0 == 0 and b1 == batch:
        xt = time_major(x, go_backwards)
        matmul(xt, kernel, dest.reshape(timesteps * batch, dest.shape[2]), hand_max)
    else:
        for s in range(timesteps):
            t = timesteps - 1 - s if go_backwards else s
            end = computed_end(mask, t, b0, b1)
            rows = dest[s, b0:end]
            rows[:, :] = 0
            matmul_acc_hand(x[b0:end, t], kernel, rows)


@njit(**JIT_OPTIONS)
def _project_masked(b0, b1, hand_max, x, mask, dropout_mask, kernel, go_backwards, dest):
    """:func:`project_inputs` under ``dropout_mask`` (K, B, D): the same
    products, one per column block, each of the masked inputs."""
    batch, timesteps, features = x.shape
    count = dropout_mask.shape[0]
    width = dest.shape[2]
    n = width // count
    blocks = column_blocks(kernel, count)
    if b0 == 0 and b1 == batch:
        flat = dest.reshape(timesteps * batch, width)
        part = flat if count == 1 else np.empty((timesteps * batch, n), dest.dtype)
        for k in range(count):
            matmul(masked_time_major(x, dropout_mask[k], go_backwards), blocks[k], part, hand_max)
            if count > 1:
                flat[:, k * n : (k + 1) * n] = part
        return
    rows = b1 - b0
    xm = np.empty((rows, features), x.dtype)
    part = np.empty((rows, n), x.dtype)
    for s in range(timesteps):
        t = timesteps - 1 - s if go_backwards else s
        end = computed_end(mask, t, b0, b1)
        computed = end - b0
        for k in range(count):
            mk = dropout_mask[k]
            for i in range(computed):
                xi, mi, xmi = x[b0 + i, t], mk[b0 + i], xm[i]
                for j in range(features):
                    xmi[j] = xi[j] * mi[j]
            part[:computed] = 0
            matmul_acc_hand(xm[:computed], blocks[k], part[:computed])
            dest[s, b0:end, k * n : (k + 1) * n] = part[:computed]


@njit(**JIT_OPTIONS)
def column_blocks(w, count):
    """``w`` (K, W) as ``count`` equal column blocks, (count, K, W / count),
    each C-contiguous (a view of ``w`` when count is 1)."""
    k, width = w.shape
    if count == 1:
        return w.reshape(1, k, width)
    n = width // count
    out = np.empty((count, k, n), w.dtype)
    for g in range(count):
        out[g] = w[:, g * n : (g + 1) * n]
    return out


@njit(**JIT_OPTIONS)
def masked_time_major(x, m, go_backwards):
    """x (B, T, D) times ``m`` (B, D) -> (T*B, D), row s*B + b holding
    x[b, t(s)] * m[b] (always a new array)."""
    batch, timesteps, features = x.shape
    out = np.empty((timesteps * batch, features), x.dtype)
    for s in range(timesteps):
        t = timesteps - 1 - s if go_backwards else s
        for b in range(batch):
            row, xb, mb = out[s * batch + b], x[b, t], m[b]
            for j in range(features):
                row[j] = xb[j] * mb[j]
    return out


@njit(**JIT_OPTIONS)
def masked_matmul_acc(a, masks, b0, blocks, out, a_tmp, part, hand, hand_max):
    """``out[:, block k] += (a * masks[k, b0:b0 + m]) @ blocks[k]`` for every
    block k: a (m, K) times a weight in column blocks (:func:`column_blocks`),
    each block reading ``a`` under its own mask; ``a_tmp`` (m, K) and
    ``part`` (m, n) are scratch. Products by hand if ``hand``, else by size."""
    rows, inner = a.shape
    n = blocks.shape[2]
    for k in range(blocks.shape[0]):
        mk = masks[k]
        for i in range(rows):
            ai, mi, ti = a[i], mk[b0 + i], a_tmp[i]
            for j in range(inner):
                ti[j] = ai[j] * mi[j]
        matmul_rows(a_tmp, blocks[k], part, hand, hand_max)
        for i in range(rows):
            pi = part[i]
            oi = out[i, k * n : (k + 1) * n]  # a view indexed from 0
            for j in range(n):
                oi[j] += pi[j]


@njit(**JIT_OPTIONS)
def masked_matmul_t_acc(d, masks, b0, blocks_t, out, d_tmp, part, hand, hand_max):
    """``out += sum_k (d[:, block k] @ blocks_t[k]) * masks[k, b0:b0 + m]``: the
    gradient of :func:`masked_matmul_acc` with respect to ``a``, from the
    gradient ``d`` (m, K*n) of its result (``blocks_t[k] = blocks[k].T``, (n,
    K)); ``d_tmp`` (m, n) and ``part`` (m, K) are scratch."""
    rows = d.shape[0]
    n = blocks_t.shape[1]
    inner = out.shape[1]
    for k in range(blocks_t.shape[0]):
        for i in range(rows):
            di = d[i, k * n : (k + 1) * n]
            ti = d_tmp[i]
            for j in range(n):
                ti[j] = di[j]
        matmul_rows(d_tmp, blocks_t[k], part, hand, hand_max)
        mk = masks[k]
        for i in range(rows):
            pi, mi, oi = part[i], mk[b0 + i], out[i]
            for j in range(inner):
                oi[j] += pi[j] * mi[j]


@njit(**JIT_OPTIONS)
def masked_matmul_tn(a, masks, d, out, hand_max):
    """``out[:, block k] = (a * masks[k])^T @ d[:, block k]``, the weight
    gradient of a masked product, over rows r = s*B + b of ``a`` (R, K) and
    ``d`` (R, W) (time-major), row r reading ``masks[k, b]``."""
    rows, inner = a.shape
    count, batch, _ = masks.shape
    width = d.shape[1]
    n = width // count
    am = np.empty((rows, inner), a.dtype)
    dk = d if count == 1 else np.empty((rows, n), d.dtype)
    part = out if count == 1 else np.empty((inner, n), d.dtype)
    for k in range(count):
        mk = masks[k]
        for r in range(rows):
            ar, mr, amr = a[r], mk[r % batch], am[r]
            for j in range(inner):
                amr[j] = ar[j] * mr[j]
        if count > 1:
            dk[:, :] = d[:, k * n : (k + 1) * n]
        matmul_tn(am, dk, part, hand_max)
        if count > 1:
            out[:, k * n : (k + 1) * n] = part


@njit(**JIT_OPTIONS)
def masked_matmul_nt(d, masks, w, out, hand_max):
    """``out = sum_k (d[:, block k] @ w[:, block k]^T) * masks[k]``, the
    gradient with respect to the operand of a masked product with ``w`` (K,
    W), over rows r = s*B + b of ``d`` (R, W) and ``out`` (R, K), row r
    reading ``masks[k, b]``."""
    rows, width = d.shape
    count, batch, inner = masks.shape
    n = width // count
    blocks = column_blocks(w, count)
    dk = d if count == 1 else np.empty((rows, n), d.dtype)
    part = np.empty((rows, inner), d.dtype)
    out[:, :] = 0
    for k in range(count):
        if count > 1:
            dk[:, :] = d[:, k * n : (k + 1) * n]
        matmul(dk, transpose(blocks[k]), part, hand_max)
        mk = masks[k]
        for r in range(rows):
            pr, mr, outr = part[r], mk[r % batch], out[r]
            for j in range(inner):
                outr[j] += pr[j] * mr[j]


@njit(**JIT_OPTIONS)
def backward_input_grads(x, dropout_mask, dgates, kernel, go_backwards, dx, d_kernel, hand_max):
    """The bulk GEMMs on the input side: d_kernel = X^T dG, dx = dG W_x^T
    (under ``dropout_mask``: :func:`masked_matmul_tn`, :func:`masked_matmul_nt`)."""
    batch, timesteps, features = dx.shape
    xt = time_major(x, go_backwards)
    if dropout_mask is None:
        matmul_tn(xt, dgates, d_kernel, hand_max)
    else:
        masked_matmul_tn(xt, dropout_mask, dgates, d_kernel, hand_max)
    if batch == 1 and not go_backwards:
        dxt = dx.reshape(timesteps, features)
    else:
        dxt = np.empty((timesteps * batch, features), dx.dtype)
    if dropout_mask is None:
        matmul(dgates, transpose(kernel), dxt, hand_max)
    else:
        masked_matmul_nt(dgates, dropout_mask, kernel, dxt, hand_max)
    if batch != 1 or go_backwards:
        scatter_batch_major(dxt, go_backwards, dx)


@njit(**JIT_OPTIONS)
def weight_grads(
    hand_max,
    opts,
    x,
    dropout_mask,
    recurrent_dropout_mask,
    kernel,
    h_states,
    dx,
    d_kernel,
    d_recurrent_kernel,
    d_bias,
    dgates,
):
    """The bulk GEMMs after a SimpleRNN or LSTM backward time loop.

    ``opts`` is the options record of ``_dispatch.py``; ``dgates`` (T*B,
    G*H) holds the gradients of the gate pre-activations, row s*B + b for
    step s of batch row b. Fills ``d_recurrent_kernel =
    H_prev^T dG``, ``d_bias = sum dG``, ``d_kernel = X^T dG`` and ``dx = dG
    W_x^T`` (each operand under its dropout masks, if any).
    """
    saved_fp_mode = flush_denormals()  # see _fpmode.py
    _, _, _, go_backwards, _ = opts
    batch, timesteps, _ = x.shape
    units = h_states.shape[2]
    h_prev = h_states[:timesteps].reshape(timesteps * batch, units)
    if recurrent_dropout_mask is None:
        matmul_tn(h_prev, dgates, d_recurrent_kernel, hand_max)
    else:
        masked_matmul_tn(h_prev, recurrent_dropout_mask, dgates, d_recurrent_kernel, hand_max)
    column_sums(dgates, d_bias)
    backward_input_grads(x, dropout_mask, dgates, kernel, go_backwards, dx, d_kernel, hand_max)
    restore_denormals(saved_fp_mode)
