"""LSTM forward and BPTT, compiled with Numba (contract: fastrnn.reference).

Forward: the input projection ``x_t @ W_x`` of every step goes into the
time-major ``gates`` buffer, which is the workspace of the time loop: each
step adds ``h_{s-1} @ W_h`` (hand loop when small, BLAS when large), then
bias and the gate nonlinearities in place, then the cell update. Backward
carries ``dh``/``dc`` only; ``dW_x``, ``dW_h``, ``db`` and ``dx`` are bulk
GEMMs after the loop (:func:`._math.weight_grads`).

Under dropout the products read their operands under the masks
(``_math.py``'s ``masked_*`` products: the input side in the projection and
the epilogue, the recurrent side in each step); a call without dropout
compiles none of it (its masks are None, see ``_math.py``).

Both time loops work on the batch rows ``[b0, b1)``, each step computing
those up to the last valid one (``_math.computed_end``); which rows, on
which thread, and how the products are chosen is the driver's
(``_dispatch.py``).
"""

import numpy as np
from numba import njit

from .. import reference as _reference
from ._dispatch import backward_kernel, forward_kernel, gate_gradient_workspace
from ._fpmode import flush_denormals, restore_denormals
from ._math import (
    activate,
    activate_inplace,
    column_blocks,
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
    c0,
    kernel,
    recurrent_kernel,
    bias,
    outputs,
    h_states,
    c_states,
    gates,
):
    """The forward time loop over batch rows [b0, b1): fills their rows of
    ``outputs``, ``h_states``, ``c_states`` and ``gates``."""
    saved_fp_mode = flush_denormals()  # see _fpmode.py
    activation, recurrent_activation, _, go_backwards, zero_output_for_mask = opts
    timesteps = gates.shape[0]
    units = h_states.shape[2]
    h1, h2, h3, h4 = units, 2 * units, 3 * units, 4 * units
    h_states[0, b0:b1] = h0[b0:b1]
    c_states[0, b0:b1] = c0[b0:b1]
    project_inputs(b0, b1, hand_max, x, mask, dropout_mask, kernel, go_backwards, gates)
    hand = hand_sized(b1 - b0, units, h4, hand_max)
    act_c = np.empty(units, gates.dtype)
    tmp = np.empty((b1 - b0, h4), gates.dtype)
    if recurrent_dropout_mask is not None:
        blocks = column_blocks(recurrent_kernel, 4)
        h_tmp = np.empty((b1 - b0, units), gates.dtype)
        part = np.empty((b1 - b0, units), gates.dtype)
    for s in range(timesteps):
        t = timesteps - 1 - s if go_backwards else s
        h_prev = h_states[s, b0:b1]
        c_prev = c_states[s, b0:b1]
        cur = gates[s, b0:b1]
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
                part[:n],
                hand,
                hand_max,
            )
        for i in range(b1 - b0):
            b = b0 + i
            g = cur[i]
            hn = h_states[s + 1, b]
            cn = c_states[s + 1, b]
            cp = c_prev[i]
            out = outputs[b, s]
            if mask[b, t]:
                activate_inplace(g, bias, 0, h2, recurrent_activation)
                activate_inplace(g, bias, h2, h3, activation)
                activate_inplace(g, bias, h3, h4, recurrent_activation)
                # gate blocks as views indexed from 0: see _math.py, "Indices LLVM can prove"
                gi, gf, gg, go = g[:h1], g[h1:h2], g[h2:h3], g[h3:]
                for j in range(units):
                    cn[j] = gf[j] * cp[j] + gi[j] * gg[j]
                activate(act_c, cn, units, activation)
                for j in range(units):
                    v = go[j] * act_c[j]
                    hn[j] = v
                    out[j] = v
            else:
                hp = h_prev[i]
                for j in range(units):
                    hn[j] = hp[j]
                    cn[j] = cp[j]
                g[:] = 0  # the contract's gates of a masked step
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
    c_states,
    gates,
    d_outputs,
    d_h_last,
    d_c_last,
    d_h0,
    d_c0,
    dgates,
):
    """BPTT over batch rows [b0, b1): fills their rows of ``dgates`` (T*B, 4H)
    and leaves ``d_h0``, ``d_c0`` (B, H) holding the gradients into h0, c0 there."""
    saved_fp_mode = flush_denormals()  # see _fpmode.py
    activation, recurrent_activation, _, go_backwards, zero_output_for_mask = opts
    timesteps = gates.shape[0]
    batch = h_states.shape[1]
    units = h_states.shape[2]
    h1, h2, h3, h4 = units, 2 * units, 3 * units, 4 * units
    rows = b1 - b0
    hand = hand_sized(rows, units, h4, hand_max)
    rk_t = transpose(recurrent_kernel)
    if recurrent_dropout_mask is not None:
        blocks_t = rk_t.reshape(4, units, units)  # W_h[:, block k].T, k = i, f, c, o
        d_tmp = np.empty((rows, units), gates.dtype)
        part = np.empty((rows, units), gates.dtype)
    dh, dc = d_h0, d_c0  # the gradients reaching h_s and c_s, carried back
    dh[b0:b1] = d_h_last[b0:b1]
    dc[b0:b1] = d_c_last[b0:b1]
    d_prev_out = np.zeros((rows, units), gates.dtype)
    dhn = np.empty(units, gates.dtype)
    act_c = np.empty(units, gates.dtype)
    dtmp = np.empty(units, gates.dtype)
    tmp = np.empty((rows, units), gates.dtype)
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
                dcb = dc[b]
                g = gates[s, b]
                cp = c_states[s, b]
                for j in range(units):
                    dhn[j] = dout[j] + dpo[j] + dhb[j]
                dpo[:] = 0
                dhb[:] = 0
                gi, gf, gg, go = g[:h1], g[h1:h2], g[h2:h3], g[h3:]
                di, df, dg_, do = row[:h1], row[h1:h2], row[h2:h3], row[h3:]
                activate(act_c, c_states[s + 1, b], units, activation)
                for j in range(units):
                    dtmp[j] = dhn[j] * go[j]
                mul_dact_inplace(dtmp, act_c, 0, units, activation)
                # one output per loop: fewer pointers for LLVM's overlap checks
                for j in range(units):
                    dtmp[j] = dcb[j] + dtmp[j]  # dc_s
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
                part[:n],
                hand,
                hand_max,
            )
    restore_denormals(saved_fp_mode)


lstm_forward = forward_kernel(_reference.lstm_forward, _forward_rows)
lstm_backward = backward_kernel(
    _reference.lstm_backward,
    _backward_rows,
    workspace=gate_gradient_workspace,
    workspace_names=("dgates",),
    weight_grads=weight_grads,
)
