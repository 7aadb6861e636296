"""SimpleRNN forward and BPTT, compiled with Numba (contract: fastrnn.reference).

The input projection of all steps is one GEMM into the time-major
``h_states[1:]``, which then serves as the per-step workspace: each step
adds ``h_{s-1} @ W_h`` and the bias, applies the activation and writes the
state in place. Backward keeps only ``dh`` in the time loop; the weight and
input gradients are bulk GEMMs over the recorded pre-activation gradients.

The time loop works on a slice ``[b0, b1)`` of the batch; calls of 16 rows
or more run disjoint slices on threads (``_threads.py``), all others one slice
serially. In a sliced call each slice projects its own rows' inputs, on its
thread, with the hand products (``_sliced_rows``), instead of the one GEMM.
"""

import numpy as np
from numba import njit

from ._math import (
    act_add, backward_input_grads, column_sums, hand_sized, matmul, matmul_acc_rows,
    matmul_tn,
    mul_dact_inplace, project_rows, time_major, transpose,
)
from ._threads import public_kernel, run_slices, slices
from .config import JIT_OPTIONS
from .. import reference as _reference


@njit(**JIT_OPTIONS)
def _forward_rows(b0, b1, hand, mask, recurrent_kernel, bias, activation, go_backwards,
                  zero_output_for_mask, outputs, h_states):
    timesteps = h_states.shape[0] - 1
    units = h_states.shape[2]
    h_new = np.empty(units, h_states.dtype)
    tmp = np.empty((b1 - b0, units), h_states.dtype)
    for s in range(timesteps):
        t = timesteps - 1 - s if go_backwards else s
        h_prev = h_states[s, b0:b1]
        cur = h_states[s + 1, b0:b1]
        matmul_acc_rows(h_prev, recurrent_kernel, cur, tmp, hand)
        for i in range(b1 - b0):
            b = b0 + i
            row = cur[i]
            act_add(h_new, row, bias, 0, units, activation)
            out = outputs[b, s]
            if mask[b, t]:
                for j in range(units):
                    row[j] = h_new[j]
                    out[j] = h_new[j]
            else:
                hp = h_prev[i]
                for j in range(units):
                    row[j] = hp[j]
                if zero_output_for_mask or s == 0:
                    out[:] = 0
                else:
                    out[:] = outputs[b, s - 1]


@njit(**JIT_OPTIONS)
def _sliced_rows(b0, b1, hand, x, kernel, mask, recurrent_kernel, bias, activation,
                 go_backwards, zero_output_for_mask, outputs, h_states):
    """One slice of a sliced forward: its input projection, then its time loop."""
    project_rows(b0, b1, x, kernel, go_backwards, h_states[1:])
    _forward_rows(b0, b1, hand, mask, recurrent_kernel, bias, activation, go_backwards,
                  zero_output_for_mask, outputs, h_states)


@njit(**JIT_OPTIONS)
def _forward_prepare(x, h0, kernel, go_backwards, h_states, project):
    """Initial state, and (``project``) the input projection of every step into
    h_states[1:] (else each slice projects its own rows: ``_sliced_rows``)."""
    batch, timesteps, _ = x.shape
    h_states[0] = h0
    if batch == 0 or timesteps == 0 or not project:
        return
    xt = time_major(x, go_backwards)
    matmul(xt, kernel, h_states[1:].reshape(timesteps * batch, h_states.shape[2]))


@njit(**JIT_OPTIONS)
def _forward_serial(x, mask, h0, kernel, recurrent_kernel, bias, activation, go_backwards,
                    zero_output_for_mask, outputs, h_states):
    _forward_prepare(x, h0, kernel, go_backwards, h_states, True)
    units = h0.shape[1]
    _forward_rows(0, x.shape[0], hand_sized(x.shape[0], units, units), mask, recurrent_kernel,
                  bias, activation, go_backwards, zero_output_for_mask, outputs, h_states)


def _simple_rnn_forward_sliced(x, mask, h0, kernel, recurrent_kernel, bias,
                       activation, go_backwards, zero_output_for_mask,
                       outputs, h_states):
    """The SimpleRNN forward kernel (contract: fastrnn.reference.simple_rnn_forward)."""
    batch, timesteps = mask.shape
    units = h0.shape[1]
    n = slices(batch, timesteps, units, units)
    if not n:
        _forward_serial(x, mask, h0, kernel, recurrent_kernel, bias, activation,
                        go_backwards, zero_output_for_mask, outputs, h_states)
        return
    _forward_prepare(x, h0, kernel, go_backwards, h_states, False)
    run_slices(n, batch, _sliced_rows, x, kernel, mask, recurrent_kernel, bias, activation,
               go_backwards, zero_output_for_mask, outputs, h_states)


@njit(**JIT_OPTIONS)
def _backward_rows(b0, b1, hand, mask, rk_t, activation, go_backwards,
                   zero_output_for_mask, h_states, d_outputs, dh, dgates):
    """BPTT over batch rows [b0, b1): fills their rows of ``dgates`` (T*B, H)
    and leaves dh (B, H) holding the gradient into h0 there."""
    timesteps = h_states.shape[0] - 1
    batch = h_states.shape[1]
    units = h_states.shape[2]
    rows = b1 - b0
    d_prev_out = np.zeros((rows, units), h_states.dtype)
    tmp = np.empty((rows, units), h_states.dtype)
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
                for j in range(units):
                    row[j] = dout[j] + dpo[j] + dhb[j]
                    dpo[j] = 0
                    dhb[j] = 0
                mul_dact_inplace(row, h_states[s + 1, b], 0, units, activation)
            else:
                for j in range(units):
                    v = dout[j] + dpo[j]
                    dpo[j] = 0 if zero_output_for_mask else v
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
def _backward_serial(x, mask, kernel, recurrent_kernel, activation, go_backwards,
                     zero_output_for_mask, h_states, d_outputs, d_h_last,
                     dx, d_h0, d_kernel, d_recurrent_kernel, d_bias):
    batch, timesteps, _ = x.shape
    units = d_h_last.shape[1]
    d_h0[:, :] = d_h_last
    if batch == 0 or timesteps == 0:
        d_kernel[:, :] = 0
        d_recurrent_kernel[:, :] = 0
        d_bias[:] = 0
        dx[:, :, :] = 0
        return
    dgates = np.empty((timesteps * batch, units), x.dtype)
    _backward_rows(0, batch, hand_sized(batch, units, units), mask, transpose(recurrent_kernel),
                   activation, go_backwards, zero_output_for_mask, h_states, d_outputs, d_h0,
                   dgates)
    _backward_finish(x, kernel, go_backwards, h_states, dgates,
                     dx, d_kernel, d_recurrent_kernel, d_bias)


def _simple_rnn_backward_sliced(x, mask, kernel, recurrent_kernel,
                        activation, go_backwards, zero_output_for_mask,
                        h_states, d_outputs, d_h_last,
                        dx, d_h0, d_kernel, d_recurrent_kernel, d_bias):
    """The SimpleRNN backward kernel (contract: fastrnn.reference.simple_rnn_backward)."""
    batch, timesteps = mask.shape
    units = d_h_last.shape[1]
    n = slices(batch, timesteps, units, units)
    if not n:
        _backward_serial(x, mask, kernel, recurrent_kernel, activation, go_backwards,
                         zero_output_for_mask, h_states, d_outputs, d_h_last,
                         dx, d_h0, d_kernel, d_recurrent_kernel, d_bias)
        return
    d_h0[...] = d_h_last
    dgates = np.empty((timesteps * batch, units), x.dtype)
    run_slices(n, batch, _backward_rows, mask, transpose(recurrent_kernel), activation,
               go_backwards, zero_output_for_mask, h_states, d_outputs, d_h0, dgates)
    _backward_finish(x, kernel, go_backwards, h_states, dgates,
                     dx, d_kernel, d_recurrent_kernel, d_bias)


simple_rnn_forward = public_kernel(_reference.simple_rnn_forward, _forward_serial,
                              _simple_rnn_forward_sliced)
simple_rnn_backward = public_kernel(_reference.simple_rnn_backward, _backward_serial,
                               _simple_rnn_backward_sliced)
