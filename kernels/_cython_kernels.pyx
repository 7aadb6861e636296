# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""The Cython backend: the kernel contract of :mod:`fastrnn.reference`, compiled.

The six public functions take and fill exactly what the reference kernels
do (see ``fastrnn/reference/__init__.py``). Each one checks the dtype once,
turns its arrays into typed memoryviews and runs a ``nogil`` implementation
specialised for float32 or float64. The math follows the reference modules
line by line; what differs is only how the work is arranged:

* forward: the input projection ``x @ W_x + b`` is one GEMM over all
  timesteps into a ``(B, T, G*H)`` scratch buffer; each step then adds
  ``h_{s-1} @ W_h`` (a loop for tiny sizes, BLAS otherwise) and applies the
  gates elementwise;
* backward: the time loop only carries ``dh`` (and ``dc``) and records the
  pre-activation gradients of each step in a ``(B, T, G*H)`` buffer; the
  weight, bias and input gradients are then bulk GEMMs over all timesteps.

Scratch buffers are allocated once per call, never per step.
"""
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy

import numpy as np

from _linalg cimport SMALL_PRODUCT, activate_array, derivative, floating, mm

__all__ = [
    "simple_rnn_forward",
    "simple_rnn_backward",
    "lstm_forward",
    "lstm_backward",
    "gru_forward",
    "gru_backward",
]

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)


cdef inline Py_ssize_t time_index(Py_ssize_t s, Py_ssize_t timesteps,
                                  bint go_backwards) noexcept nogil:
    """Input position read at processing step ``s``."""
    return timesteps - 1 - s if go_backwards else s


cdef void* scratch(Py_ssize_t n, size_t itemsize, bint zero) noexcept nogil:
    """A scratch buffer of ``n`` items (at least one), zeroed if asked; NULL if out of memory."""
    if n < 1:
        n = 1
    if zero:
        return calloc(n, itemsize)
    return malloc(n * itemsize)


cdef void project_inputs(const floating* x, const floating* kernel, const floating* bias,
                         Py_ssize_t rows, Py_ssize_t features, Py_ssize_t width,
                         floating* out) noexcept nogil:
    """``out[rows, width] = x[rows, features] @ kernel + bias`` (bias broadcast)."""
    cdef Py_ssize_t i, j
    for i in range(rows):
        for j in range(width):
            out[i * width + j] = bias[j]
    mm(False, False, rows, width, features, x, features, kernel, width, <floating> 1,
       out, width)


cdef void masked_outputs(const unsigned char* mask, Py_ssize_t s, Py_ssize_t t,
                         Py_ssize_t batch, Py_ssize_t timesteps, Py_ssize_t units,
                         bint zero_output_for_mask, const floating* h_new,
                         floating* outputs) noexcept nogil:
    """``outputs[:, s]``: the new state where valid, else the previous output or 0."""
    cdef Py_ssize_t b, j
    cdef floating* out
    for b in range(batch):
        out = outputs + (b * timesteps + s) * units
        if mask[b * timesteps + t]:
            memcpy(out, h_new + b * units, units * sizeof(floating))
        elif zero_output_for_mask or s == 0:
            for j in range(units):
                out[j] = 0
        else:
            memcpy(out, out - units, units * sizeof(floating))


cdef void output_grad(const unsigned char* mask, Py_ssize_t s, Py_ssize_t t,
                      Py_ssize_t batch, Py_ssize_t timesteps, Py_ssize_t units,
                      bint zero_output_for_mask, const floating* d_outputs,
                      floating* d_prev_output, floating* d_h_new) noexcept nogil:
    """Split ``d_outputs[:, s] + d_prev_output`` between this step and the previous output.

    ``d_h_new`` gets the part flowing into the freshly computed state of
    valid rows (zeros elsewhere); ``d_prev_output`` the part flowing into the
    previous output, repeated where the step was masked.
    """
    cdef Py_ssize_t b, j
    cdef floating g
    cdef const floating* d_out
    for b in range(batch):
        d_out = d_outputs + (b * timesteps + s) * units
        if mask[b * timesteps + t]:
            for j in range(units):
                d_h_new[b * units + j] = d_out[j] + d_prev_output[b * units + j]
                d_prev_output[b * units + j] = 0
        else:
            for j in range(units):
                d_h_new[b * units + j] = 0
                if zero_output_for_mask:
                    d_prev_output[b * units + j] = 0
                else:
                    d_prev_output[b * units + j] += d_out[j]


cdef void column_sums(const floating* a, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t lda,
                      floating* out) noexcept nogil:
    """``out[j] = sum_i a[i, j]`` over a row-major block with row stride ``lda``."""
    cdef Py_ssize_t i, j
    for j in range(cols):
        out[j] = 0
    for i in range(rows):
        for j in range(cols):
            out[j] += a[i * lda + j]


cdef void gather_states(const floating* h_states, Py_ssize_t batch, Py_ssize_t timesteps,
                        Py_ssize_t units, bint go_backwards, floating* out) noexcept nogil:
    """``out[b, t] = h_states[s, b]``: the previous state of each step, batch-major by t."""
    cdef Py_ssize_t s, t, b
    for s in range(timesteps):
        t = time_index(s, timesteps, go_backwards)
        for b in range(batch):
            memcpy(out + (b * timesteps + t) * units, h_states + (s * batch + b) * units,
                   units * sizeof(floating))


cdef floating* small_transpose(const floating* w, Py_ssize_t rows, Py_ssize_t cols,
                               Py_ssize_t batch) noexcept nogil:
    """``w.T`` (cols, rows) as a new buffer if the per-step product is small, else NULL.

    The backward step multiplies by ``W_h.T``; for the small products that
    run as plain loops, a transposed copy made once per call turns the
    strided dot products into contiguous row updates that vectorize.
    """
    cdef Py_ssize_t i, j
    cdef floating* out
    if batch * rows * cols > SMALL_PRODUCT:
        return NULL
    out = <floating*> scratch(rows * cols, sizeof(floating), False)
    if out != NULL:
        for i in range(rows):
            for j in range(cols):
                out[j * rows + i] = w[i * cols + j]
    return out


cdef inline void times_wt(Py_ssize_t m, Py_ssize_t units, Py_ssize_t k,
                          const floating* a, Py_ssize_t lda, const floating* w,
                          Py_ssize_t ldw, const floating* wt, Py_ssize_t col0,
                          floating* c) noexcept nogil:
    """``c[m, units] += a[m, k] @ w[:, col0:col0 + k].T``, via ``wt = w.T`` if given."""
    if wt != NULL:
        mm(False, False, m, units, k, a, lda, wt + col0 * units, units, <floating> 1, c, units)
    else:
        mm(False, True, m, units, k, a, lda, w + col0, ldw, <floating> 1, c, units)


# --------------------------------------------------------------------------
# SimpleRNN
# --------------------------------------------------------------------------

cdef int _simple_rnn_forward(
        const floating[:, :, ::1] x, const unsigned char[:, ::1] mask,
        const floating[:, ::1] h0, const floating[:, ::1] kernel,
        const floating[:, ::1] recurrent_kernel, const floating[::1] bias,
        int activation, bint go_backwards, bint zero_output_for_mask,
        floating[:, :, ::1] outputs, floating[:, :, ::1] h_states) except -1:
    cdef Py_ssize_t batch = x.shape[0], timesteps = x.shape[1], features = x.shape[2]
    cdef Py_ssize_t units = h0.shape[1]
    cdef Py_ssize_t s, t, b, j, bh = batch * units
    cdef floating* xw
    cdef floating* h_prev
    cdef floating* h_new
    cdef const floating* xw_t
    with nogil:
        if bh:
            memcpy(&h_states[0, 0, 0], &h0[0, 0], bh * sizeof(floating))
        if batch == 0 or timesteps == 0:
            return 0
        xw = <floating*> scratch(batch * timesteps * units, sizeof(floating), False)
        if xw == NULL:
            with gil:
                raise MemoryError()
        project_inputs(&x[0, 0, 0], &kernel[0, 0], &bias[0], batch * timesteps, features,
                       units, xw)
        for s in range(timesteps):
            t = time_index(s, timesteps, go_backwards)
            h_prev = &h_states[s, 0, 0]
            h_new = &h_states[s + 1, 0, 0]
            for b in range(batch):
                xw_t = xw + (b * timesteps + t) * units
                for j in range(units):
                    h_new[b * units + j] = xw_t[j]
            mm(False, False, batch, units, units, h_prev, units, &recurrent_kernel[0, 0], units,
               <floating> 1, h_new, units)
            for b in range(batch):
                if mask[b, t]:
                    activate_array(activation, h_new + b * units, h_new + b * units, units)
            masked_outputs(&mask[0, 0], s, t, batch, timesteps, units, zero_output_for_mask,
                           h_new, &outputs[0, 0, 0])
            for b in range(batch):
                if not mask[b, t]:
                    memcpy(h_new + b * units, h_prev + b * units, units * sizeof(floating))
        free(xw)
        return 0


cdef int _simple_rnn_backward(
        const floating[:, :, ::1] x, const unsigned char[:, ::1] mask,
        const floating[:, ::1] kernel, const floating[:, ::1] recurrent_kernel,
        int activation, bint go_backwards, bint zero_output_for_mask,
        const floating[:, :, ::1] h_states, const floating[:, :, ::1] d_outputs,
        const floating[:, ::1] d_h_last, floating[:, :, ::1] dx, floating[:, ::1] d_h0,
        floating[:, ::1] d_kernel, floating[:, ::1] d_recurrent_kernel,
        floating[::1] d_bias) except -1:
    cdef Py_ssize_t batch = x.shape[0], timesteps = x.shape[1], features = x.shape[2]
    cdef Py_ssize_t units = d_h_last.shape[1]
    cdef Py_ssize_t rows = batch * timesteps, bh = batch * units
    cdef Py_ssize_t s, t, b, j
    cdef floating* dh = &d_h0[0, 0] if bh else NULL
    cdef floating* da = NULL
    cdef floating* d_prev_output = NULL
    cdef floating* d_h_new = NULL
    cdef floating* h_prev_all = NULL
    cdef floating* da_t
    cdef floating* wt = small_transpose(&recurrent_kernel[0, 0], units, units, batch)
    cdef const floating* h_new
    with nogil:
        if bh:
            memcpy(dh, &d_h_last[0, 0], bh * sizeof(floating))
        da = <floating*> scratch(rows * units, sizeof(floating), False)
        d_prev_output = <floating*> scratch(bh, sizeof(floating), True)
        d_h_new = <floating*> scratch(bh, sizeof(floating), False)
        h_prev_all = <floating*> scratch(rows * units, sizeof(floating), False)
        if da == NULL or d_prev_output == NULL or d_h_new == NULL or h_prev_all == NULL:
            free(da); free(d_prev_output); free(d_h_new); free(h_prev_all); free(wt)
            with gil:
                raise MemoryError()
        for s in range(timesteps - 1, -1, -1):
            t = time_index(s, timesteps, go_backwards)
            h_new = &h_states[s + 1, 0, 0]
            output_grad(&mask[0, 0], s, t, batch, timesteps, units, zero_output_for_mask,
                        &d_outputs[0, 0, 0], d_prev_output, d_h_new)
            for b in range(batch):
                da_t = da + (b * timesteps + t) * units
                if mask[b, t]:
                    for j in range(units):
                        da_t[j] = ((d_h_new[b * units + j] + dh[b * units + j])
                                   * derivative(activation, h_new[b * units + j]))
                        dh[b * units + j] = 0
                else:
                    for j in range(units):
                        da_t[j] = 0
            # dh_{s-1} = da @ W_h^T (+ dh itself on masked rows, kept above)
            times_wt(batch, units, units, da + t * units, timesteps * units,
                     &recurrent_kernel[0, 0], units, wt, 0, dh)
        gather_states(&h_states[0, 0, 0], batch, timesteps, units, go_backwards, h_prev_all)
        mm(False, True, rows, features, units, da, units, &kernel[0, 0], units, <floating> 0,
           &dx[0, 0, 0] if rows else NULL, features)
        mm(True, False, features, units, rows, &x[0, 0, 0] if rows else NULL, features, da,
           units, <floating> 0, &d_kernel[0, 0], units)
        mm(True, False, units, units, rows, h_prev_all, units, da, units, <floating> 0,
           &d_recurrent_kernel[0, 0], units)
        column_sums(da, rows, units, units, &d_bias[0])
        free(da); free(d_prev_output); free(d_h_new); free(h_prev_all); free(wt)
        return 0


# --------------------------------------------------------------------------
# LSTM
# --------------------------------------------------------------------------

cdef int _lstm_forward(
        const floating[:, :, ::1] x, const unsigned char[:, ::1] mask,
        const floating[:, ::1] h0, const floating[:, ::1] c0, const floating[:, ::1] kernel,
        const floating[:, ::1] recurrent_kernel, const floating[::1] bias,
        int activation, int recurrent_activation, bint go_backwards,
        bint zero_output_for_mask, floating[:, :, ::1] outputs,
        floating[:, :, ::1] h_states, floating[:, :, ::1] c_states,
        floating[:, :, ::1] gates) except -1:
    cdef Py_ssize_t batch = x.shape[0], timesteps = x.shape[1], features = x.shape[2]
    cdef Py_ssize_t units = h0.shape[1], width = 4 * units
    cdef Py_ssize_t s, t, b, j, bh = batch * units
    cdef floating* xw
    cdef floating* z
    cdef floating* h_prev
    cdef floating* h_new
    cdef floating* c_prev
    cdef floating* c_new
    cdef floating* zb
    cdef floating* cb
    cdef floating* hb
    cdef const floating* cp
    with nogil:
        if bh:
            memcpy(&h_states[0, 0, 0], &h0[0, 0], bh * sizeof(floating))
            memcpy(&c_states[0, 0, 0], &c0[0, 0], bh * sizeof(floating))
        if batch == 0 or timesteps == 0:
            return 0
        xw = <floating*> scratch(batch * timesteps * width, sizeof(floating), False)
        if xw == NULL:
            with gil:
                raise MemoryError()
        project_inputs(&x[0, 0, 0], &kernel[0, 0], &bias[0], batch * timesteps, features,
                       width, xw)
        for s in range(timesteps):
            t = time_index(s, timesteps, go_backwards)
            h_prev, h_new = &h_states[s, 0, 0], &h_states[s + 1, 0, 0]
            c_prev, c_new = &c_states[s, 0, 0], &c_states[s + 1, 0, 0]
            z = &gates[s, 0, 0]
            for b in range(batch):
                memcpy(z + b * width, xw + (b * timesteps + t) * width, width * sizeof(floating))
            mm(False, False, batch, width, units, h_prev, units, &recurrent_kernel[0, 0], width,
               <floating> 1, z, width)
            for b in range(batch):
                zb = z + b * width
                cb, hb, cp = c_new + b * units, h_new + b * units, c_prev + b * units
                activate_array(recurrent_activation, zb, zb, 2 * units)            # i, f
                activate_array(activation, zb + 2 * units, zb + 2 * units, units)  # g
                activate_array(recurrent_activation, zb + 3 * units, zb + 3 * units, units)  # o
                for j in range(units):
                    cb[j] = zb[units + j] * cp[j] + zb[j] * zb[2 * units + j]
                activate_array(activation, cb, hb, units)
                for j in range(units):
                    hb[j] = zb[3 * units + j] * hb[j]
            masked_outputs(&mask[0, 0], s, t, batch, timesteps, units, zero_output_for_mask,
                           h_new, &outputs[0, 0, 0])
            for b in range(batch):
                if not mask[b, t]:
                    memcpy(h_new + b * units, h_prev + b * units, units * sizeof(floating))
                    memcpy(c_new + b * units, c_prev + b * units, units * sizeof(floating))
        free(xw)
        return 0


cdef int _lstm_backward(
        const floating[:, :, ::1] x, const unsigned char[:, ::1] mask,
        const floating[:, ::1] kernel, const floating[:, ::1] recurrent_kernel,
        int activation, int recurrent_activation, bint go_backwards,
        bint zero_output_for_mask, const floating[:, :, ::1] h_states,
        const floating[:, :, ::1] c_states, const floating[:, :, ::1] gates,
        const floating[:, :, ::1] d_outputs, const floating[:, ::1] d_h_last,
        const floating[:, ::1] d_c_last, floating[:, :, ::1] dx, floating[:, ::1] d_h0,
        floating[:, ::1] d_c0, floating[:, ::1] d_kernel,
        floating[:, ::1] d_recurrent_kernel, floating[::1] d_bias) except -1:
    cdef Py_ssize_t batch = x.shape[0], timesteps = x.shape[1], features = x.shape[2]
    cdef Py_ssize_t units = d_h_last.shape[1], width = 4 * units
    cdef Py_ssize_t rows = batch * timesteps, bh = batch * units
    cdef Py_ssize_t s, t, b, j
    cdef floating* dh = &d_h0[0, 0] if bh else NULL
    cdef floating* dc = &d_c0[0, 0] if bh else NULL
    cdef floating* dz = NULL
    cdef floating* d_prev_output = NULL
    cdef floating* d_h_new = NULL
    cdef floating* h_prev_all = NULL
    cdef floating* act_row = NULL
    cdef floating* wt = small_transpose(&recurrent_kernel[0, 0], units, width, batch)
    cdef floating* dz_t
    cdef const floating* g_s
    cdef const floating* c_prev
    cdef const floating* c_new
    cdef floating i, f, g, o, act_c, dhn, dcn
    with nogil:
        if bh:
            memcpy(dh, &d_h_last[0, 0], bh * sizeof(floating))
            memcpy(dc, &d_c_last[0, 0], bh * sizeof(floating))
        dz = <floating*> scratch(rows * width, sizeof(floating), False)
        d_prev_output = <floating*> scratch(bh, sizeof(floating), True)
        d_h_new = <floating*> scratch(bh, sizeof(floating), False)
        h_prev_all = <floating*> scratch(rows * units, sizeof(floating), False)
        act_row = <floating*> scratch(units, sizeof(floating), False)
        if (dz == NULL or d_prev_output == NULL or d_h_new == NULL or h_prev_all == NULL
                or act_row == NULL):
            free(dz); free(d_prev_output); free(d_h_new); free(h_prev_all); free(act_row)
            free(wt)
            with gil:
                raise MemoryError()
        for s in range(timesteps - 1, -1, -1):
            t = time_index(s, timesteps, go_backwards)
            c_prev, c_new = &c_states[s, 0, 0], &c_states[s + 1, 0, 0]
            g_s = &gates[s, 0, 0]
            output_grad(&mask[0, 0], s, t, batch, timesteps, units, zero_output_for_mask,
                        &d_outputs[0, 0, 0], d_prev_output, d_h_new)
            for b in range(batch):
                dz_t = dz + (b * timesteps + t) * width
                if not mask[b, t]:
                    for j in range(width):
                        dz_t[j] = 0
                    continue
                activate_array(activation, c_new + b * units, act_row, units)
                for j in range(units):
                    i = g_s[b * width + j]
                    f = g_s[b * width + units + j]
                    g = g_s[b * width + 2 * units + j]
                    o = g_s[b * width + 3 * units + j]
                    dhn = d_h_new[b * units + j] + dh[b * units + j]
                    act_c = act_row[j]
                    dcn = dc[b * units + j] + dhn * o * derivative(activation, act_c)
                    dz_t[j] = dcn * g * derivative(recurrent_activation, i)
                    dz_t[units + j] = dcn * c_prev[b * units + j] * derivative(
                        recurrent_activation, f)
                    dz_t[2 * units + j] = dcn * i * derivative(activation, g)
                    dz_t[3 * units + j] = dhn * act_c * derivative(recurrent_activation, o)
                    dc[b * units + j] = dcn * f
                    dh[b * units + j] = 0
            times_wt(batch, units, width, dz + t * width, timesteps * width,
                     &recurrent_kernel[0, 0], width, wt, 0, dh)
        gather_states(&h_states[0, 0, 0], batch, timesteps, units, go_backwards, h_prev_all)
        mm(False, True, rows, features, width, dz, width, &kernel[0, 0], width, <floating> 0,
           &dx[0, 0, 0] if rows else NULL, features)
        mm(True, False, features, width, rows, &x[0, 0, 0] if rows else NULL, features, dz,
           width, <floating> 0, &d_kernel[0, 0], width)
        mm(True, False, units, width, rows, h_prev_all, units, dz, width, <floating> 0,
           &d_recurrent_kernel[0, 0], width)
        column_sums(dz, rows, width, width, &d_bias[0])
        free(dz); free(d_prev_output); free(d_h_new); free(h_prev_all); free(act_row)
        free(wt)
        return 0


# --------------------------------------------------------------------------
# GRU
# --------------------------------------------------------------------------

cdef int _gru_forward(
        const floating[:, :, ::1] x, const unsigned char[:, ::1] mask,
        const floating[:, ::1] h0, const floating[:, ::1] kernel,
        const floating[:, ::1] recurrent_kernel, const floating[:, ::1] bias,
        int activation, int recurrent_activation, bint reset_after, bint go_backwards,
        bint zero_output_for_mask, floating[:, :, ::1] outputs,
        floating[:, :, ::1] h_states, floating[:, :, ::1] gates,
        floating[:, :, ::1] recurrent_candidate) except -1:
    cdef Py_ssize_t batch = x.shape[0], timesteps = x.shape[1], features = x.shape[2]
    cdef Py_ssize_t units = h0.shape[1], width = 3 * units
    cdef Py_ssize_t s, t, b, j, bh = batch * units
    cdef floating* xw = NULL
    cdef floating* u = NULL      # (B, 3H): h_prev @ W_h + b_rec, or (B, H) r * h_prev
    cdef floating* g
    cdef floating* h_prev
    cdef floating* h_new
    cdef floating* u_h
    cdef floating* gb
    cdef floating* ub
    cdef const floating* xw_t
    cdef const floating* b_rec = &bias[1, 0]
    cdef floating zg, hh
    with nogil:
        if bh:
            memcpy(&h_states[0, 0, 0], &h0[0, 0], bh * sizeof(floating))
        if batch == 0 or timesteps == 0:
            return 0
        xw = <floating*> scratch(batch * timesteps * width, sizeof(floating), False)
        u = <floating*> scratch(batch * width, sizeof(floating), False)
        if xw == NULL or u == NULL:
            free(xw); free(u)
            with gil:
                raise MemoryError()
        project_inputs(&x[0, 0, 0], &kernel[0, 0], &bias[0, 0], batch * timesteps, features,
                       width, xw)
        for s in range(timesteps):
            t = time_index(s, timesteps, go_backwards)
            h_prev, h_new = &h_states[s, 0, 0], &h_states[s + 1, 0, 0]
            g = &gates[s, 0, 0]
            u_h = &recurrent_candidate[s, 0, 0]
            if reset_after:
                for b in range(batch):
                    memcpy(u + b * width, b_rec, width * sizeof(floating))
                mm(False, False, batch, width, units, h_prev, units, &recurrent_kernel[0, 0],
                   width, <floating> 1, u, width)
                for b in range(batch):
                    xw_t = xw + (b * timesteps + t) * width
                    gb, ub = g + b * width, u + b * width
                    for j in range(2 * units):
                        gb[j] = xw_t[j] + ub[j]
                    activate_array(recurrent_activation, gb, gb, 2 * units)       # z, r
                    for j in range(units):
                        u_h[b * units + j] = ub[2 * units + j]
                        gb[2 * units + j] = xw_t[2 * units + j] + gb[units + j] * ub[2 * units + j]
                    activate_array(activation, gb + 2 * units, gb + 2 * units, units)  # hh
            else:
                for b in range(batch):
                    xw_t = xw + (b * timesteps + t) * width
                    for j in range(2 * units):
                        g[b * width + j] = xw_t[j] + b_rec[j]
                mm(False, False, batch, 2 * units, units, h_prev, units, &recurrent_kernel[0, 0],
                   width, <floating> 1, g, width)
                for b in range(batch):
                    activate_array(recurrent_activation, g + b * width, g + b * width, 2 * units)
                    for j in range(units):
                        u[b * units + j] = g[b * width + units + j] * h_prev[b * units + j]
                        u_h[b * units + j] = b_rec[2 * units + j]
                mm(False, False, batch, units, units, u, units, &recurrent_kernel[0, 2 * units],
                   width, <floating> 1, u_h, units)
                for b in range(batch):
                    xw_t = xw + (b * timesteps + t) * width
                    gb = g + b * width
                    for j in range(units):
                        gb[2 * units + j] = xw_t[2 * units + j] + u_h[b * units + j]
                    activate_array(activation, gb + 2 * units, gb + 2 * units, units)  # hh
            for b in range(batch):
                for j in range(units):
                    zg = g[b * width + j]
                    hh = g[b * width + 2 * units + j]
                    h_new[b * units + j] = zg * h_prev[b * units + j] + (1 - zg) * hh
            masked_outputs(&mask[0, 0], s, t, batch, timesteps, units, zero_output_for_mask,
                           h_new, &outputs[0, 0, 0])
            for b in range(batch):
                if not mask[b, t]:
                    memcpy(h_new + b * units, h_prev + b * units, units * sizeof(floating))
        free(xw); free(u)
        return 0


cdef int _gru_backward(
        const floating[:, :, ::1] x, const unsigned char[:, ::1] mask,
        const floating[:, ::1] kernel, const floating[:, ::1] recurrent_kernel,
        int activation, int recurrent_activation, bint reset_after, bint go_backwards,
        bint zero_output_for_mask, const floating[:, :, ::1] h_states,
        const floating[:, :, ::1] gates, const floating[:, :, ::1] recurrent_candidate,
        const floating[:, :, ::1] d_outputs, const floating[:, ::1] d_h_last,
        floating[:, :, ::1] dx, floating[:, ::1] d_h0, floating[:, ::1] d_kernel,
        floating[:, ::1] d_recurrent_kernel, floating[:, ::1] d_bias) except -1:
    cdef Py_ssize_t batch = x.shape[0], timesteps = x.shape[1], features = x.shape[2]
    cdef Py_ssize_t units = d_h_last.shape[1], width = 3 * units
    cdef Py_ssize_t rows = batch * timesteps, bh = batch * units
    cdef Py_ssize_t s, t, b, j
    cdef floating* dh = &d_h0[0, 0] if bh else NULL
    # d_in[b, t]: gradient of the step's x_t @ W_x + b_in, i.e. [da_z, da_r, da_h].
    cdef floating* d_in = NULL
    # aux[b, t]: reset_after: du_h, the gradient of u_h; else r * h_prev.
    cdef floating* aux = NULL
    cdef floating* d_prev_output = NULL
    cdef floating* d_h_new = NULL
    cdef floating* d_rh = NULL
    cdef floating* h_prev_all = NULL
    cdef floating* wt = small_transpose(&recurrent_kernel[0, 0], units, width, batch)
    cdef floating* d_t
    cdef floating* aux_t
    cdef const floating* g_s
    cdef const floating* u_s
    cdef const floating* h_prev
    cdef floating zg, r, hh, dhn, da_h, dr
    with nogil:
        if bh:
            memcpy(dh, &d_h_last[0, 0], bh * sizeof(floating))
        d_in = <floating*> scratch(rows * width, sizeof(floating), False)
        aux = <floating*> scratch(rows * units, sizeof(floating), False)
        d_prev_output = <floating*> scratch(bh, sizeof(floating), True)
        d_h_new = <floating*> scratch(bh, sizeof(floating), False)
        d_rh = <floating*> scratch(bh, sizeof(floating), False)
        h_prev_all = <floating*> scratch(rows * units, sizeof(floating), False)
        if (d_in == NULL or aux == NULL or d_prev_output == NULL or d_h_new == NULL
                or d_rh == NULL or h_prev_all == NULL):
            free(d_in); free(aux); free(d_prev_output); free(d_h_new); free(d_rh)
            free(h_prev_all); free(wt)
            with gil:
                raise MemoryError()
        for s in range(timesteps - 1, -1, -1):
            t = time_index(s, timesteps, go_backwards)
            h_prev = &h_states[s, 0, 0]
            g_s = &gates[s, 0, 0]
            u_s = &recurrent_candidate[s, 0, 0]
            output_grad(&mask[0, 0], s, t, batch, timesteps, units, zero_output_for_mask,
                        &d_outputs[0, 0, 0], d_prev_output, d_h_new)
            # Pass 1: dz (stored raw in the z block), da_h, du_h, and dh_prev's direct part.
            for b in range(batch):
                d_t = d_in + (b * timesteps + t) * width
                aux_t = aux + (b * timesteps + t) * units
                if not mask[b, t]:
                    for j in range(width):
                        d_t[j] = 0
                    for j in range(units):
                        aux_t[j] = 0
                    continue
                for j in range(units):
                    zg = g_s[b * width + j]
                    r = g_s[b * width + units + j]
                    hh = g_s[b * width + 2 * units + j]
                    dhn = d_h_new[b * units + j] + dh[b * units + j]
                    da_h = dhn * (1 - zg) * derivative(activation, hh)
                    d_t[j] = dhn * (h_prev[b * units + j] - hh) * derivative(
                        recurrent_activation, zg)
                    d_t[2 * units + j] = da_h
                    if reset_after:
                        aux_t[j] = da_h * r
                        d_t[units + j] = da_h * u_s[b * units + j] * derivative(
                            recurrent_activation, r)
                    else:
                        aux_t[j] = r * h_prev[b * units + j]
                    dh[b * units + j] = dhn * zg
            if not reset_after:
                # d(r * h_prev) = da_h @ W_h[:, h]^T; then dr and the reset path into dh.
                for j in range(bh):
                    d_rh[j] = 0
                times_wt(batch, units, units, d_in + t * width + 2 * units, timesteps * width,
                         &recurrent_kernel[0, 0], width, wt, 2 * units, d_rh)
                for b in range(batch):
                    if not mask[b, t]:
                        continue
                    d_t = d_in + (b * timesteps + t) * width
                    for j in range(units):
                        r = g_s[b * width + units + j]
                        dr = d_rh[b * units + j] * h_prev[b * units + j]
                        d_t[units + j] = dr * derivative(recurrent_activation, r)
                        dh[b * units + j] += d_rh[b * units + j] * r
            else:
                times_wt(batch, units, units, aux + t * units, timesteps * units,
                         &recurrent_kernel[0, 0], width, wt, 2 * units, dh)
            # Masked rows carried dh unchanged above; d_in is zero there.
            times_wt(batch, units, 2 * units, d_in + t * width, timesteps * width,
                     &recurrent_kernel[0, 0], width, wt, 0, dh)
        gather_states(&h_states[0, 0, 0], batch, timesteps, units, go_backwards, h_prev_all)
        mm(False, True, rows, features, width, d_in, width, &kernel[0, 0], width, <floating> 0,
           &dx[0, 0, 0] if rows else NULL, features)
        mm(True, False, features, width, rows, &x[0, 0, 0] if rows else NULL, features, d_in,
           width, <floating> 0, &d_kernel[0, 0], width)
        mm(True, False, units, 2 * units, rows, h_prev_all, units, d_in, width, <floating> 0,
           &d_recurrent_kernel[0, 0], width)
        column_sums(d_in, rows, width, width, &d_bias[0, 0])
        if reset_after:
            mm(True, False, units, units, rows, h_prev_all, units, aux, units, <floating> 0,
               &d_recurrent_kernel[0, 2 * units], width)
            column_sums(d_in, rows, 2 * units, width, &d_bias[1, 0])
            column_sums(aux, rows, units, units, &d_bias[1, 2 * units])
        else:
            mm(True, False, units, units, rows, aux, units, d_in + 2 * units, width,
               <floating> 0, &d_recurrent_kernel[0, 2 * units], width)
            column_sums(d_in, rows, width, width, &d_bias[1, 0])
        free(d_in); free(aux); free(d_prev_output); free(d_h_new); free(d_rh)
        free(h_prev_all); free(wt)
        return 0


# --------------------------------------------------------------------------
# The contract: Python entry points, dispatching on dtype
# --------------------------------------------------------------------------

cdef inline bint is_float32(x) except -1:
    dtype = x.dtype
    if dtype == _F32:
        return True
    if dtype == _F64:
        return False
    raise TypeError(f"fastrnn Cython kernels take float32 or float64 arrays, got {dtype}")


def _bytes(mask):
    """The bool mask as a uint8 view (typed memoryviews do not take numpy bool)."""
    return mask.view(np.uint8)


def simple_rnn_forward(x, mask, h0, kernel, recurrent_kernel, bias, activation,
                       go_backwards, zero_output_for_mask, outputs, h_states):
    """SimpleRNN forward; the contract of :func:`fastrnn.reference.simple_rnn_forward`."""
    if is_float32(x):
        _simple_rnn_forward[float](x, _bytes(mask), h0, kernel, recurrent_kernel, bias,
                                   activation, go_backwards, zero_output_for_mask, outputs,
                                   h_states)
    else:
        _simple_rnn_forward[double](x, _bytes(mask), h0, kernel, recurrent_kernel, bias,
                                    activation, go_backwards, zero_output_for_mask, outputs,
                                    h_states)


def simple_rnn_backward(x, mask, kernel, recurrent_kernel, activation, go_backwards,
                        zero_output_for_mask, h_states, d_outputs, d_h_last, dx, d_h0,
                        d_kernel, d_recurrent_kernel, d_bias):
    """SimpleRNN backward; the contract of :func:`fastrnn.reference.simple_rnn_backward`."""
    if is_float32(x):
        _simple_rnn_backward[float](x, _bytes(mask), kernel, recurrent_kernel, activation,
                                    go_backwards, zero_output_for_mask, h_states, d_outputs,
                                    d_h_last, dx, d_h0, d_kernel, d_recurrent_kernel, d_bias)
    else:
        _simple_rnn_backward[double](x, _bytes(mask), kernel, recurrent_kernel, activation,
                                     go_backwards, zero_output_for_mask, h_states, d_outputs,
                                     d_h_last, dx, d_h0, d_kernel, d_recurrent_kernel, d_bias)


def lstm_forward(x, mask, h0, c0, kernel, recurrent_kernel, bias, activation,
                 recurrent_activation, go_backwards, zero_output_for_mask, outputs,
                 h_states, c_states, gates):
    """LSTM forward; the contract of :func:`fastrnn.reference.lstm_forward`."""
    if is_float32(x):
        _lstm_forward[float](x, _bytes(mask), h0, c0, kernel, recurrent_kernel, bias,
                             activation, recurrent_activation, go_backwards,
                             zero_output_for_mask, outputs, h_states, c_states, gates)
    else:
        _lstm_forward[double](x, _bytes(mask), h0, c0, kernel, recurrent_kernel, bias,
                              activation, recurrent_activation, go_backwards,
                              zero_output_for_mask, outputs, h_states, c_states, gates)


def lstm_backward(x, mask, kernel, recurrent_kernel, activation, recurrent_activation,
                  go_backwards, zero_output_for_mask, h_states, c_states, gates, d_outputs,
                  d_h_last, d_c_last, dx, d_h0, d_c0, d_kernel, d_recurrent_kernel, d_bias):
    """LSTM backward; the contract of :func:`fastrnn.reference.lstm_backward`."""
    if is_float32(x):
        _lstm_backward[float](x, _bytes(mask), kernel, recurrent_kernel, activation,
                              recurrent_activation, go_backwards, zero_output_for_mask,
                              h_states, c_states, gates, d_outputs, d_h_last, d_c_last, dx,
                              d_h0, d_c0, d_kernel, d_recurrent_kernel, d_bias)
    else:
        _lstm_backward[double](x, _bytes(mask), kernel, recurrent_kernel, activation,
                               recurrent_activation, go_backwards, zero_output_for_mask,
                               h_states, c_states, gates, d_outputs, d_h_last, d_c_last, dx,
                               d_h0, d_c0, d_kernel, d_recurrent_kernel, d_bias)


def gru_forward(x, mask, h0, kernel, recurrent_kernel, bias, activation,
                recurrent_activation, reset_after, go_backwards, zero_output_for_mask,
                outputs, h_states, gates, recurrent_candidate):
    """GRU forward; the contract of :func:`fastrnn.reference.gru_forward`."""
    if is_float32(x):
        _gru_forward[float](x, _bytes(mask), h0, kernel, recurrent_kernel, bias, activation,
                            recurrent_activation, reset_after, go_backwards,
                            zero_output_for_mask, outputs, h_states, gates,
                            recurrent_candidate)
    else:
        _gru_forward[double](x, _bytes(mask), h0, kernel, recurrent_kernel, bias, activation,
                             recurrent_activation, reset_after, go_backwards,
                             zero_output_for_mask, outputs, h_states, gates,
                             recurrent_candidate)


def gru_backward(x, mask, kernel, recurrent_kernel, activation, recurrent_activation,
                 reset_after, go_backwards, zero_output_for_mask, h_states, gates,
                 recurrent_candidate, d_outputs, d_h_last, dx, d_h0, d_kernel,
                 d_recurrent_kernel, d_bias):
    """GRU backward; the contract of :func:`fastrnn.reference.gru_backward`."""
    if is_float32(x):
        _gru_backward[float](x, _bytes(mask), kernel, recurrent_kernel, activation,
                             recurrent_activation, reset_after, go_backwards,
                             zero_output_for_mask, h_states, gates, recurrent_candidate,
                             d_outputs, d_h_last, dx, d_h0, d_kernel, d_recurrent_kernel,
                             d_bias)
    else:
        _gru_backward[double](x, _bytes(mask), kernel, recurrent_kernel, activation,
                              recurrent_activation, reset_after, go_backwards,
                              zero_output_for_mask, h_states, gates, recurrent_candidate,
                              d_outputs, d_h_last, dx, d_h0, d_kernel, d_recurrent_kernel,
                              d_bias)
