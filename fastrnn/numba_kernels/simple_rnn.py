"""SimpleRNN forward and BPTT, compiled with Numba (contract: fastrnn.reference).

The input projection of all steps goes into the time-major ``h_states[1:]``,
which then serves as the per-step workspace: each step adds
``h_{s-1} @ W_h`` and the bias, applies the activation and writes the state
in place. Backward keeps only ``dh`` in the time loop; the weight and input
gradients are bulk GEMMs over the recorded pre-activation gradients
(:func:`._math.weight_grads`).

Both time loops work on the batch rows ``[b0, b1)``; which rows, on which
thread, and how the products are chosen is the driver's (``_dispatch.py``).
"""

import numpy as np
from numba import njit

from .. import reference as _reference
from ._dispatch import backward_kernel, forward_kernel, gate_gradient_workspace
from ._fpmode import flush_denormals, restore_denormals
from ._math import (
    activate_inplace,
    computed_end,
    hand_sized,
    masked_matmul_acc,
    masked_matmul_t_acc,
    matmul_acc_rows,
    mul_dact_inplace,
    project_inputs,
    transpose,
    weight_grads,
)
from .config import JIT_OPTIONS


@njit(**JIT_OPTIONS)
def _forward_rows(
    b0,
    b1,
    hand_max,
    opts,
    x,
    mask,
    dropout_mask,
    recurrent_dropout_mask,
    h0,
    kernel,
    recurrent_kernel,
    bias,
    outputs,
    h_states,
):
    """The forward time loop over batch rows [b0, b1): fills their rows of
    ``outputs`` and ``h_states``."""
    saved_fp_mode = flush_denormals()  # see _fpmode.py
    activation, _, _, go_backwards, zero_output_for_mask = opts
    timesteps = h_states.shape[0] - 1
    units = h_states.shape[2]
    h_states[0, b0:b1] = h0[b0:b1]
    project_inputs(b0, b1, hand_max, x, mask, dropout_mask, kernel, go_backwards, h_states[1:])
    hand = hand_sized(b1 - b0, units, units, hand_max)
    tmp = np.empty((b1 - b0, units), h_states.dtype)
    if recurrent_dropout_mask is not None:
        blocks = recurrent_kernel.reshape(1, units, units)
        h_tmp = np.empty((b1 - b0, units), h_states.dtype)
    for s in range(timesteps):
        t = timesteps - 1 - s if go_backwards else s
        h_prev = h_states[s, b0:b1]
        cur = h_states[s + 1, b0:b1]
        n = computed_end(mask, t, b0, b1) - b0  # the rows this step computes
        if recurrent_dropout_mask is None:
            matmul_acc_rows(h_prev[:n], recurrent_kernel, cur[:n], tmp[:n], hand, hand_max)
        else:
            masked_matmul_acc(
                h_prev[:n],
                recurrent_dropout_mask,
                b0,
                blocks,
                cur[:n],
                h_tmp[:n],
                tmp[:n],
                hand,
                hand_max,
            )
        for i in range(b1 - b0):
            b = b0 + i
            row = cur[i]
            out = outputs[b, s]
            if mask[b, t]:
                activate_inplace(row, bias, 0, units, activation)
                for j in range(units):
                    out[j] = row[j]
            else:
                hp = h_prev[i]
                for j in range(units):
                    row[j] = hp[j]
                if zero_output_for_mask or s == 0:
                    out[:] = 0
                else:
                    out[:] = outputs[b, s - 1]
    restore_denormals(saved_fp_mode)


@njit(**JIT_OPTIONS)
def _backward_rows(
    b0,
    b1,
    hand_max,
    opts,
    mask,
    recurrent_dropout_mask,
    recurrent_kernel,
    h_states,
    d_outputs,
    d_h_last,
    d_h0,
    dgates,
):
    """BPTT over batch rows [b0, b1): fills their rows of ``dgates`` (T*B, H)
    and leaves ``d_h0`` (B, H) holding the gradient into h0 there."""
    saved_fp_mode = flush_denormals()  # see _fpmode.py
    activation, _, _, go_backwards, zero_output_for_mask = opts
    timesteps = h_states.shape[0] - 1
    batch = h_states.shape[1]
    units = h_states.shape[2]
    rows = b1 - b0
    hand = hand_sized(rows, units, units, hand_max)
    rk_t = transpose(recurrent_kernel)
    if recurrent_dropout_mask is not None:
        blocks_t = rk_t.reshape(1, units, units)
        d_tmp = np.empty((rows, units), h_states.dtype)
    dh = d_h0  # the gradient reaching h_s, carried back through the steps
    dh[b0:b1] = d_h_last[b0:b1]
    d_prev_out = np.zeros((rows, units), h_states.dtype)
    tmp = np.empty((rows, units), h_states.dtype)
    dh_rows = dh[b0:b1]
    for s in range(timesteps - 1, -1, -1):
        t = timesteps - 1 - s if go_backwards else s
        dg = dgates[s * batch + b0 : s * batch + b1]
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
        # dh_{s-1} = dG_s @ W_h^T (+ the carried dh on masked rows, whose dG is 0),
        # over the rows the step computed (dG is 0 after them)
        n = computed_end(mask, t, b0, b1) - b0
        if recurrent_dropout_mask is None:
            matmul_acc_rows(dg[:n], rk_t, dh_rows[:n], tmp[:n], hand, hand_max)
        else:
            masked_matmul_t_acc(
                dg[:n],
                recurrent_dropout_mask,
                b0,
                blocks_t,
                dh_rows[:n],
                d_tmp[:n],
                tmp[:n],
                hand,
                hand_max,
            )
    restore_denormals(saved_fp_mode)


simple_rnn_forward = forward_kernel(_reference.simple_rnn_forward, _forward_rows)
simple_rnn_backward = backward_kernel(
    _reference.simple_rnn_backward,
    _backward_rows,
    workspace=gate_gradient_workspace,
    workspace_names=("dgates",),
    weight_grads=weight_grads,
)
