"""GRU forward and BPTT (both ``reset_after`` variants), compiled with Numba.

Contract and math: :mod:`fastrnn.reference.gru`. The input projection of
all steps is one GEMM into the time-major ``gates`` buffer, which the time
loop turns into z, r, hh in place. Backward carries ``dh`` only and ends in
bulk GEMMs for the weight and input gradients.

The time loop works on a slice ``[b0, b1)`` of the batch; calls of 16 rows
or more run disjoint slices on threads (``_threads.py``), all others one slice
serially. In a sliced call each slice projects its own rows' inputs, on its
thread, with the hand products (``_sliced_rows``), instead of the one GEMM.
"""

import numpy as np
from numba import njit

from ._math import (
    act_bias_inplace, act_inplace, backward_input_grads, column_sums, hand_sized, matmul,
    matmul_acc_rows, matmul_rows, matmul_tn, mul_dact, mul_dact_inplace, project_rows,
    time_major, transpose,
)
from ._threads import public_kernel, run_slices, slices
from .config import JIT_OPTIONS
from .. import reference as _reference


@njit(**JIT_OPTIONS)
def _finish_step(s, t, b, units, g, hp, h_states, outputs, mask, zero_output_for_mask):
    """h_s = z * h_{s-1} + (1 - z) * hh where valid; carry and mask the output."""
    one = g.dtype.type(1)
    hn = h_states[s + 1, b]
    out = outputs[b, s]
    hh = g[2 * units:]   # a view indexed from 0: see _math.py, "Indices LLVM can prove"
    if mask[b, t]:
        for j in range(units):
            z = g[j]
            v = z * hp[j] + (one - z) * hh[j]
            hn[j] = v
            out[j] = v
    else:
        for j in range(units):
            hn[j] = hp[j]
        if zero_output_for_mask or s == 0:
            out[:] = 0
        else:
            out[:] = outputs[b, s - 1]


@njit(**JIT_OPTIONS)
def _forward_rows(b0, b1, hand, mask, recurrent_kernel, w_zr, w_h, bias, activation,
                  recurrent_activation, reset_after, go_backwards, zero_output_for_mask,
                  outputs, h_states, gates, recurrent_candidate):
    timesteps = gates.shape[0]
    units = h_states.shape[2]
    rows = b1 - b0
    h1, h2, h3 = units, 2 * units, 3 * units
    b_in = bias[0]
    b_rec = bias[1]
    b_in_h, b_rec_h = b_in[h2:], b_rec[h2:]   # candidate blocks, as views indexed from 0
    pre = np.empty(units, gates.dtype)
    if reset_after:
        u = np.empty((rows, h3), gates.dtype)
        for s in range(timesteps):
            t = timesteps - 1 - s if go_backwards else s
            h_prev = h_states[s, b0:b1]
            matmul_rows(h_prev, recurrent_kernel, u, hand)
            for i in range(rows):
                b = b0 + i
                g = gates[s, b]
                ub = u[i]
                uh = recurrent_candidate[s, b]
                for j in range(h2):
                    g[j] += ub[j] + b_rec[j]
                act_bias_inplace(g, b_in, 0, h2, recurrent_activation)
                gr, gh, ubh = g[h1:h2], g[h2:], ub[h2:]
                for j in range(units):
                    v = ubh[j] + b_rec_h[j]
                    uh[j] = v
                    pre[j] = gh[j] + b_in_h[j] + gr[j] * v
                act_inplace(g[h2:], pre, units, activation)
                _finish_step(s, t, b, units, g, h_prev[i], h_states, outputs, mask,
                             zero_output_for_mask)
    else:
        u = np.empty((rows, h2), gates.dtype)
        rh = np.empty((rows, units), gates.dtype)
        uh_all = np.empty((rows, units), gates.dtype)
        for s in range(timesteps):
            t = timesteps - 1 - s if go_backwards else s
            h_prev = h_states[s, b0:b1]
            matmul_rows(h_prev, w_zr, u, hand)
            for i in range(rows):
                g = gates[s, b0 + i]
                ub = u[i]
                for j in range(h2):
                    g[j] += ub[j] + b_rec[j]
                act_bias_inplace(g, b_in, 0, h2, recurrent_activation)
                hp = h_prev[i]
                rb = rh[i]
                gr = g[h1:h2]
                for j in range(units):
                    rb[j] = gr[j] * hp[j]
            matmul_rows(rh, w_h, uh_all, hand)
            for i in range(rows):
                b = b0 + i
                g = gates[s, b]
                uh = recurrent_candidate[s, b]
                ub = uh_all[i]
                gh = g[h2:]
                for j in range(units):
                    v = ub[j] + b_rec_h[j]
                    uh[j] = v
                    pre[j] = gh[j] + b_in_h[j] + v
                act_inplace(g[h2:], pre, units, activation)
                _finish_step(s, t, b, units, g, h_prev[i], h_states, outputs, mask,
                             zero_output_for_mask)


@njit(**JIT_OPTIONS)
def _sliced_rows(b0, b1, hand, x, kernel, mask, recurrent_kernel, w_zr, w_h, bias,
                 activation, recurrent_activation, reset_after, go_backwards,
                 zero_output_for_mask, outputs, h_states, gates, recurrent_candidate):
    """One slice of a sliced forward: its input projection, then its time loop."""
    project_rows(b0, b1, x, kernel, go_backwards, gates)
    _forward_rows(b0, b1, hand, mask, recurrent_kernel, w_zr, w_h, bias, activation,
                  recurrent_activation, reset_after, go_backwards, zero_output_for_mask,
                  outputs, h_states, gates, recurrent_candidate)


@njit(**JIT_OPTIONS)
def _forward_prepare(x, h0, kernel, recurrent_kernel, reset_after, go_backwards,
                     h_states, gates, project):
    """Initial state, (``project``) the input projection of every step into
    ``gates`` (else each slice projects its own rows: ``_sliced_rows``), and
    (reset_after=False) contiguous copies of the two recurrent kernel blocks."""
    batch, timesteps, _ = x.shape
    units = h0.shape[1]
    h_states[0] = h0
    # Placeholders are fresh empty arrays, not slices: both branches then
    # return C-contiguous arrays, and the time loop is compiled for that
    # layout (a strided "A" layout would keep its products from vectorizing).
    if reset_after:
        w_zr = np.empty((0, 0), x.dtype)
        w_h = w_zr
    else:
        w_zr = np.ascontiguousarray(recurrent_kernel[:, :2 * units])
        w_h = np.ascontiguousarray(recurrent_kernel[:, 2 * units:])
    if batch > 0 and timesteps > 0 and project:
        xt = time_major(x, go_backwards)
        matmul(xt, kernel, gates.reshape(timesteps * batch, 3 * units))
    return w_zr, w_h


@njit(**JIT_OPTIONS)
def _forward_serial(x, mask, h0, kernel, recurrent_kernel, bias,
                    activation, recurrent_activation, reset_after, go_backwards,
                    zero_output_for_mask, outputs, h_states, gates, recurrent_candidate):
    w_zr, w_h = _forward_prepare(x, h0, kernel, recurrent_kernel, reset_after,
                                 go_backwards, h_states, gates, True)
    units = h0.shape[1]
    _forward_rows(0, x.shape[0], hand_sized(x.shape[0], units, 3 * units), mask,
                  recurrent_kernel, w_zr, w_h, bias, activation, recurrent_activation,
                  reset_after, go_backwards, zero_output_for_mask, outputs, h_states, gates,
                  recurrent_candidate)


def _gru_forward_sliced(x, mask, h0, kernel, recurrent_kernel, bias,
                activation, recurrent_activation, reset_after, go_backwards,
                zero_output_for_mask, outputs, h_states, gates, recurrent_candidate):
    """The GRU forward kernel (contract: :func:`fastrnn.reference.gru_forward`)."""
    batch, timesteps = mask.shape
    units = h0.shape[1]
    n = slices(batch, timesteps, units, 3 * units)
    if not n:
        _forward_serial(x, mask, h0, kernel, recurrent_kernel, bias, activation,
                        recurrent_activation, reset_after, go_backwards,
                        zero_output_for_mask, outputs, h_states, gates, recurrent_candidate)
        return
    w_zr, w_h = _forward_prepare(x, h0, kernel, recurrent_kernel, reset_after,
                                 go_backwards, h_states, gates, False)
    run_slices(n, batch, _sliced_rows, x, kernel, mask, recurrent_kernel, w_zr, w_h, bias,
               activation, recurrent_activation, reset_after, go_backwards,
               zero_output_for_mask, outputs, h_states, gates, recurrent_candidate)


@njit(**JIT_OPTIONS)
def _backward_rows(b0, b1, hand, mask, rk_t, w_zr_t, w_h_t, activation,
                   recurrent_activation, reset_after, go_backwards, zero_output_for_mask,
                   h_states, gates, recurrent_candidate, d_outputs, dh,
                   d_in, d_rec, d_ah, rh_all):
    """BPTT over batch rows [b0, b1): fills their rows of d_in (T*B, 3H),
    d_rec (T*B, 3H; reset_after=False: 2H) and, for reset_after=False, d_ah
    and rh_all (T*B, H); leaves dh (B, H) holding the gradient into h0."""
    timesteps = gates.shape[0]
    batch = h_states.shape[1]
    units = h_states.shape[2]
    rows = b1 - b0
    one = gates.dtype.type(1)
    h1, h2, h3 = units, 2 * units, 3 * units
    d_prev_out = np.zeros((rows, units), gates.dtype)
    dz = np.empty(units, gates.dtype)
    tmp = np.empty((rows, units), gates.dtype)
    d_rh = np.empty((rows, units), gates.dtype)
    dh_rows = dh[b0:b1]
    for s in range(timesteps - 1, -1, -1):
        t = timesteps - 1 - s if go_backwards else s
        lo, hi = s * batch + b0, s * batch + b1
        for i in range(rows):
            b = b0 + i
            row = d_in[lo + i]
            dout = d_outputs[b, s]
            dpo = d_prev_out[i]
            if mask[b, t]:
                dhb = dh[b]
                g = gates[s, b]
                hp = h_states[s, b]
                # gate blocks as views indexed from 0: see _math.py, "Indices LLVM can prove"
                gr, gh, dhh = g[h1:h2], g[h2:h3], row[h2:h3]
                # one output per loop: fewer pointers for LLVM's overlap checks
                for j in range(units):
                    dhb[j] = dout[j] + dpo[j] + dhb[j]     # the gradient reaching h_s
                dpo[:] = 0
                for j in range(units):
                    dz[j] = dhb[j] * (hp[j] - gh[j])
                for j in range(units):
                    dhh[j] = dhb[j] * (one - g[j])
                for j in range(units):
                    dhb[j] = dhb[j] * g[j]
                mul_dact(row, dz, g, 0, h1, recurrent_activation)
                mul_dact_inplace(row, g, h2, h3, activation)
                if reset_after:
                    uh = recurrent_candidate[s, b]
                    rrow = d_rec[lo + i]
                    rrow_h = rrow[h2:]
                    for j in range(units):
                        dz[j] = dhh[j] * uh[j]
                        rrow_h[j] = dhh[j] * gr[j]
                    mul_dact(row[h1:], dz, g[h1:], 0, units, recurrent_activation)
                    for j in range(h2):
                        rrow[j] = row[j]
                else:
                    ah = d_ah[lo + i]
                    rhb = rh_all[lo + i]
                    for j in range(units):
                        ah[j] = dhh[j]
                        rhb[j] = gr[j] * hp[j]
            else:
                for j in range(units):
                    v = dout[j] + dpo[j]
                    dpo[j] = 0 if zero_output_for_mask else v
                for j in range(h3):
                    row[j] = 0
                if reset_after:
                    d_rec[lo + i, :] = 0
                else:
                    d_ah[lo + i, :] = 0
                    hp = h_states[s, b]
                    gr = gates[s, b, h1:h2]
                    rhb = rh_all[lo + i]
                    for j in range(units):
                        rhb[j] = gr[j] * hp[j]
        if reset_after:
            matmul_acc_rows(d_rec[lo:hi], rk_t, dh_rows, tmp, hand)
        else:
            matmul_rows(d_ah[lo:hi], w_h_t, d_rh, hand)
            for i in range(rows):
                b = b0 + i
                row = d_in[lo + i]
                rrow = d_rec[lo + i]
                if mask[b, t]:
                    g = gates[s, b]
                    gr = g[h1:h2]
                    hp = h_states[s, b]
                    dhb = dh[b]
                    drb = d_rh[i]
                    for j in range(units):
                        dz[j] = drb[j] * hp[j]
                        dhb[j] += drb[j] * gr[j]
                    mul_dact(row[h1:], dz, g[h1:], 0, units, recurrent_activation)
                for j in range(h2):
                    rrow[j] = row[j]
            matmul_acc_rows(d_rec[lo:hi], w_zr_t, dh_rows, tmp, hand)


@njit(**JIT_OPTIONS)
def _backward_buffers(x, recurrent_kernel, reset_after):
    """Workspaces and transposed weights of the backward time loop."""
    batch, timesteps, _ = x.shape
    units = recurrent_kernel.shape[0]
    h2, h3 = 2 * units, 3 * units
    rows = timesteps * batch
    d_in = np.empty((rows, h3), x.dtype)
    if reset_after:
        d_rec = np.empty((rows, h3), x.dtype)
        rk_t = transpose(recurrent_kernel)
        w_zr_t = np.empty((0, 0), x.dtype)  # C layout in both branches (see _forward_prepare)
        w_h_t = w_zr_t
        d_ah = np.empty((0, units), x.dtype)
        rh_all = d_ah
    else:
        d_rec = np.empty((rows, h2), x.dtype)      # d(z, r pre-activations)
        d_ah = np.empty((rows, units), x.dtype)    # d(candidate pre-activation)
        rh_all = np.empty((rows, units), x.dtype)  # r * h_prev
        rk_t = np.empty((0, 0), x.dtype)
        w_zr_t = transpose(np.ascontiguousarray(recurrent_kernel[:, :h2]))
        w_h_t = transpose(np.ascontiguousarray(recurrent_kernel[:, h2:]))
    return d_in, d_rec, d_ah, rh_all, rk_t, w_zr_t, w_h_t


@njit(**JIT_OPTIONS)
def _backward_finish(x, kernel, reset_after, go_backwards, h_states, d_in, d_rec, d_ah,
                     rh_all, dx, d_kernel, d_recurrent_kernel, d_bias):
    """The bulk GEMMs after the time loop: dW_h, both bias rows, dW_x and dx."""
    batch, timesteps, _ = x.shape
    units = h_states.shape[2]
    h2 = 2 * units
    h_prev = h_states[:timesteps].reshape(timesteps * batch, units)
    if reset_after:
        matmul_tn(h_prev, d_rec, d_recurrent_kernel)
        column_sums(d_rec, d_bias[1])
    else:
        part = np.empty((units, h2), x.dtype)
        matmul_tn(h_prev, d_rec, part)
        d_recurrent_kernel[:, :h2] = part
        part_h = np.empty((units, units), x.dtype)
        matmul_tn(rh_all, d_ah, part_h)
        d_recurrent_kernel[:, h2:] = part_h
        column_sums(d_in, d_bias[1])
    column_sums(d_in, d_bias[0])
    xt = time_major(x, go_backwards)
    backward_input_grads(xt, d_in, kernel, go_backwards, dx, d_kernel)


@njit(**JIT_OPTIONS)
def _backward_serial(x, mask, kernel, recurrent_kernel,
                     activation, recurrent_activation, reset_after, go_backwards,
                     zero_output_for_mask, h_states, gates, recurrent_candidate,
                     d_outputs, d_h_last, dx, d_h0, d_kernel, d_recurrent_kernel, d_bias):
    batch, timesteps, _ = x.shape
    d_h0[:, :] = d_h_last
    if batch == 0 or timesteps == 0:
        d_kernel[:, :] = 0
        d_recurrent_kernel[:, :] = 0
        d_bias[:, :] = 0
        dx[:, :, :] = 0
        return
    d_in, d_rec, d_ah, rh_all, rk_t, w_zr_t, w_h_t = _backward_buffers(
        x, recurrent_kernel, reset_after)
    units = recurrent_kernel.shape[0]
    _backward_rows(0, batch, hand_sized(batch, units, 3 * units), mask, rk_t, w_zr_t, w_h_t,
                   activation, recurrent_activation, reset_after, go_backwards,
                   zero_output_for_mask, h_states, gates, recurrent_candidate, d_outputs,
                   d_h0, d_in, d_rec, d_ah, rh_all)
    _backward_finish(x, kernel, reset_after, go_backwards, h_states, d_in, d_rec, d_ah,
                     rh_all, dx, d_kernel, d_recurrent_kernel, d_bias)


def _gru_backward_sliced(x, mask, kernel, recurrent_kernel,
                 activation, recurrent_activation, reset_after, go_backwards,
                 zero_output_for_mask, h_states, gates, recurrent_candidate,
                 d_outputs, d_h_last,
                 dx, d_h0, d_kernel, d_recurrent_kernel, d_bias):
    """The GRU backward kernel (contract: :func:`fastrnn.reference.gru_backward`)."""
    batch, timesteps = mask.shape
    units = d_h_last.shape[1]
    n = slices(batch, timesteps, units, 3 * units)
    if not n:
        _backward_serial(x, mask, kernel, recurrent_kernel, activation,
                         recurrent_activation, reset_after, go_backwards,
                         zero_output_for_mask, h_states, gates, recurrent_candidate,
                         d_outputs, d_h_last, dx, d_h0, d_kernel, d_recurrent_kernel,
                         d_bias)
        return
    d_h0[...] = d_h_last
    d_in, d_rec, d_ah, rh_all, rk_t, w_zr_t, w_h_t = _backward_buffers(
        x, recurrent_kernel, reset_after)
    run_slices(n, batch, _backward_rows, mask, rk_t, w_zr_t, w_h_t, activation,
               recurrent_activation, reset_after, go_backwards, zero_output_for_mask,
               h_states, gates, recurrent_candidate, d_outputs, d_h0,
               d_in, d_rec, d_ah, rh_all)
    _backward_finish(x, kernel, reset_after, go_backwards, h_states, d_in, d_rec, d_ah,
                     rh_all, dx, d_kernel, d_recurrent_kernel, d_bias)


gru_forward = public_kernel(_reference.gru_forward, _forward_serial,
                              _gru_forward_sliced)
gru_backward = public_kernel(_reference.gru_backward, _backward_serial,
                               _gru_backward_sliced)
