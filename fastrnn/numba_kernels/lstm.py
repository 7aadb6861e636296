"""LSTM forward and BPTT, compiled with Numba (contract: fastrnn.reference).

Forward: one GEMM puts ``x_t @ W_x`` of every step into the time-major
``gates`` buffer, which is the workspace of the time loop: each step adds
``h_{s-1} @ W_h`` (hand loop when small, BLAS when large), then bias and
the gate nonlinearities in place, then the cell update. Backward carries
``dh``/``dc`` only; ``dW_x``, ``dW_h``, ``db`` and ``dx`` are bulk GEMMs
after the loop.

The time loop works on a slice ``[b0, b1)`` of the batch; calls of 16 rows
or more run disjoint slices on threads (``_threads.py``), all others one slice
serially. In a sliced call each slice projects its own rows' inputs, on its
thread, with the hand products (``_sliced_rows``), instead of the one GEMM.
"""

import numpy as np
from numba import njit

from ._math import (
    act_bias_inplace, act_inplace, backward_input_grads, column_sums, hand_sized, matmul,
    matmul_acc_rows, matmul_tn, mul_dact_inplace, project_rows, time_major, transpose,
)
from ._threads import public_kernel, run_slices, slices
from .config import JIT_OPTIONS
from .. import reference as _reference


@njit(**JIT_OPTIONS)
def _forward_rows(b0, b1, hand, mask, recurrent_kernel, bias, activation,
                  recurrent_activation, go_backwards, zero_output_for_mask,
                  outputs, h_states, c_states, gates):
    timesteps = gates.shape[0]
    units = h_states.shape[2]
    h1, h2, h3, h4 = units, 2 * units, 3 * units, 4 * units
    act_c = np.empty(units, gates.dtype)
    tmp = np.empty((b1 - b0, h4), gates.dtype)
    for s in range(timesteps):
        t = timesteps - 1 - s if go_backwards else s
        h_prev = h_states[s, b0:b1]
        c_prev = c_states[s, b0:b1]
        cur = gates[s, b0:b1]
        matmul_acc_rows(h_prev, recurrent_kernel, cur, tmp, hand)
        for i in range(b1 - b0):
            b = b0 + i
            g = cur[i]
            act_bias_inplace(g, bias, 0, h2, recurrent_activation)
            act_bias_inplace(g, bias, h2, h3, activation)
            act_bias_inplace(g, bias, h3, h4, recurrent_activation)
            hn = h_states[s + 1, b]
            cn = c_states[s + 1, b]
            cp = c_prev[i]
            out = outputs[b, s]
            if mask[b, t]:
                # gate blocks as views indexed from 0: see _math.py, "Indices LLVM can prove"
                gi, gf, gg, go = g[:h1], g[h1:h2], g[h2:h3], g[h3:]
                for j in range(units):
                    cn[j] = gf[j] * cp[j] + gi[j] * gg[j]
                act_inplace(act_c, cn, units, activation)
                for j in range(units):
                    v = go[j] * act_c[j]
                    hn[j] = v
                    out[j] = v
            else:
                hp = h_prev[i]
                for j in range(units):
                    hn[j] = hp[j]
                    cn[j] = cp[j]
                if zero_output_for_mask or s == 0:
                    out[:] = 0
                else:
                    out[:] = outputs[b, s - 1]


@njit(**JIT_OPTIONS)
def _sliced_rows(b0, b1, hand, x, kernel, mask, recurrent_kernel, bias, activation,
                 recurrent_activation, go_backwards, zero_output_for_mask,
                 outputs, h_states, c_states, gates):
    """One slice of a sliced forward: its input projection, then its time loop."""
    project_rows(b0, b1, x, kernel, go_backwards, gates)
    _forward_rows(b0, b1, hand, mask, recurrent_kernel, bias, activation,
                  recurrent_activation, go_backwards, zero_output_for_mask,
                  outputs, h_states, c_states, gates)


@njit(**JIT_OPTIONS)
def _forward_prepare(x, h0, c0, kernel, go_backwards, h_states, c_states, gates, project):
    """Initial states, and (``project``) the input projection of every step into
    ``gates`` (else each slice projects its own rows: ``_sliced_rows``)."""
    batch, timesteps, _ = x.shape
    h_states[0] = h0
    c_states[0] = c0
    if batch == 0 or timesteps == 0 or not project:
        return
    xt = time_major(x, go_backwards)
    matmul(xt, kernel, gates.reshape(timesteps * batch, gates.shape[2]))


@njit(**JIT_OPTIONS)
def _forward_serial(x, mask, h0, c0, kernel, recurrent_kernel, bias,
                    activation, recurrent_activation, go_backwards, zero_output_for_mask,
                    outputs, h_states, c_states, gates):
    _forward_prepare(x, h0, c0, kernel, go_backwards, h_states, c_states, gates, True)
    units = h0.shape[1]
    _forward_rows(0, x.shape[0], hand_sized(x.shape[0], units, 4 * units), mask,
                  recurrent_kernel, bias, activation, recurrent_activation, go_backwards,
                  zero_output_for_mask, outputs, h_states, c_states, gates)


def _lstm_forward_sliced(x, mask, h0, c0, kernel, recurrent_kernel, bias,
                 activation, recurrent_activation, go_backwards, zero_output_for_mask,
                 outputs, h_states, c_states, gates):
    """The LSTM forward kernel (contract: :func:`fastrnn.reference.lstm_forward`)."""
    batch, timesteps = mask.shape
    units = h0.shape[1]
    n = slices(batch, timesteps, units, 4 * units)
    if not n:
        _forward_serial(x, mask, h0, c0, kernel, recurrent_kernel, bias, activation,
                        recurrent_activation, go_backwards, zero_output_for_mask,
                        outputs, h_states, c_states, gates)
        return
    _forward_prepare(x, h0, c0, kernel, go_backwards, h_states, c_states, gates, False)
    run_slices(n, batch, _sliced_rows, x, kernel, mask, recurrent_kernel, bias, activation,
               recurrent_activation, go_backwards, zero_output_for_mask, outputs,
               h_states, c_states, gates)


@njit(**JIT_OPTIONS)
def _backward_rows(b0, b1, hand, mask, rk_t, activation, recurrent_activation,
                   zero_output_for_mask, go_backwards, h_states, c_states, gates,
                   d_outputs, dh, dc, dgates):
    """BPTT over batch rows [b0, b1): fills their rows of ``dgates`` (T*B, 4H)
    and leaves dh, dc (B, H) holding the gradients into h0, c0 there."""
    timesteps = gates.shape[0]
    batch = h_states.shape[1]
    units = h_states.shape[2]
    h1, h2, h3, h4 = units, 2 * units, 3 * units, 4 * units
    rows = b1 - b0
    d_prev_out = np.zeros((rows, units), gates.dtype)
    dhn = np.empty(units, gates.dtype)
    act_c = np.empty(units, gates.dtype)
    dtmp = np.empty(units, gates.dtype)
    tmp = np.empty((rows, units), gates.dtype)
    dh_rows = dh[b0:b1]
    for s in range(timesteps - 1, -1, -1):
        t = timesteps - 1 - s if go_backwards else s
        dg = dgates[s * batch + b0:s * batch + b1]
        for i in range(rows):
            b = b0 + i
            row = dg[i]
            dout = d_outputs[b, s]
            dpo = d_prev_out[i]
            if mask[b, t]:
                dhb = dh[b]
                dcb = dc[b]
                g = gates[s, b]
                cp = c_states[s, b]
                for j in range(units):
                    dhn[j] = dout[j] + dpo[j] + dhb[j]
                dpo[:] = 0
                dhb[:] = 0
                gi, gf, gg, go = g[:h1], g[h1:h2], g[h2:h3], g[h3:]
                di, df, dg_, do = row[:h1], row[h1:h2], row[h2:h3], row[h3:]
                act_inplace(act_c, c_states[s + 1, b], units, activation)
                for j in range(units):
                    dtmp[j] = dhn[j] * go[j]
                mul_dact_inplace(dtmp, act_c, 0, units, activation)
                # one output per loop: fewer pointers for LLVM's overlap checks
                for j in range(units):
                    dtmp[j] = dcb[j] + dtmp[j]      # dc_s
                for j in range(units):
                    di[j] = dtmp[j] * gg[j]
                for j in range(units):
                    df[j] = dtmp[j] * cp[j]
                for j in range(units):
                    dg_[j] = dtmp[j] * gi[j]
                for j in range(units):
                    do[j] = dhn[j] * act_c[j]
                for j in range(units):
                    dcb[j] = dtmp[j] * gf[j]
                mul_dact_inplace(row, g, 0, h2, recurrent_activation)
                mul_dact_inplace(row, g, h2, h3, activation)
                mul_dact_inplace(row, g, h3, h4, recurrent_activation)
            else:
                for j in range(units):
                    v = dout[j] + dpo[j]
                    dpo[j] = 0 if zero_output_for_mask else v
                for j in range(h4):
                    row[j] = 0
        # dh_{s-1} = dG_s @ W_h^T (+ the carried dh on masked rows, whose dG is 0)
        matmul_acc_rows(dg, rk_t, dh_rows, tmp, hand)


@njit(**JIT_OPTIONS)
def _backward_finish(x, kernel, go_backwards, h_states, dgates,
                     dx, d_kernel, d_recurrent_kernel, d_bias):
    """The bulk GEMMs after the time loop: dW_h, db, dW_x and dx."""
    batch, timesteps, _ = x.shape
    units = h_states.shape[2]
    xt = time_major(x, go_backwards)
    matmul_tn(h_states[:timesteps].reshape(timesteps * batch, units), dgates,
              d_recurrent_kernel)
    column_sums(dgates, d_bias)
    backward_input_grads(xt, dgates, kernel, go_backwards, dx, d_kernel)


@njit(**JIT_OPTIONS)
def _backward_serial(x, mask, kernel, recurrent_kernel,
                     activation, recurrent_activation, go_backwards, zero_output_for_mask,
                     h_states, c_states, gates, d_outputs, d_h_last, d_c_last,
                     dx, d_h0, d_c0, d_kernel, d_recurrent_kernel, d_bias):
    batch, timesteps, _ = x.shape
    units = d_h_last.shape[1]
    d_h0[:, :] = d_h_last
    d_c0[:, :] = d_c_last
    if batch == 0 or timesteps == 0:
        d_kernel[:, :] = 0
        d_recurrent_kernel[:, :] = 0
        d_bias[:] = 0
        dx[:, :, :] = 0
        return
    dgates = np.empty((timesteps * batch, 4 * units), x.dtype)
    _backward_rows(0, batch, hand_sized(batch, units, 4 * units), mask,
                   transpose(recurrent_kernel), activation, recurrent_activation,
                   zero_output_for_mask, go_backwards, h_states, c_states, gates, d_outputs,
                   d_h0, d_c0, dgates)
    _backward_finish(x, kernel, go_backwards, h_states, dgates,
                     dx, d_kernel, d_recurrent_kernel, d_bias)


def _lstm_backward_sliced(x, mask, kernel, recurrent_kernel,
                  activation, recurrent_activation, go_backwards, zero_output_for_mask,
                  h_states, c_states, gates, d_outputs, d_h_last, d_c_last,
                  dx, d_h0, d_c0, d_kernel, d_recurrent_kernel, d_bias):
    """The LSTM backward kernel (contract: :func:`fastrnn.reference.lstm_backward`)."""
    batch, timesteps = mask.shape
    units = d_h_last.shape[1]
    n = slices(batch, timesteps, units, 4 * units)
    if not n:
        _backward_serial(x, mask, kernel, recurrent_kernel, activation,
                         recurrent_activation, go_backwards, zero_output_for_mask,
                         h_states, c_states, gates, d_outputs, d_h_last, d_c_last,
                         dx, d_h0, d_c0, d_kernel, d_recurrent_kernel, d_bias)
        return
    d_h0[...] = d_h_last
    d_c0[...] = d_c_last
    dgates = np.empty((timesteps * batch, 4 * units), x.dtype)
    run_slices(n, batch, _backward_rows, mask, transpose(recurrent_kernel), activation,
               recurrent_activation, zero_output_for_mask, go_backwards, h_states,
               c_states, gates, d_outputs, d_h0, d_c0, dgates)
    _backward_finish(x, kernel, go_backwards, h_states, dgates,
                     dx, d_kernel, d_recurrent_kernel, d_bias)


lstm_forward = public_kernel(_reference.lstm_forward, _forward_serial,
                              _lstm_forward_sliced)
lstm_backward = public_kernel(_reference.lstm_backward, _backward_serial,
                               _lstm_backward_sliced)
