"""GRU forward and BPTT (both ``reset_after`` variants), compiled with Numba.

Contract and math: :mod:`fastrnn.reference.gru`. The input projection of
all steps goes into the time-major ``gates`` buffer, which the time loop
turns into z, r, hh in place. Backward carries ``dh`` only and ends in bulk
GEMMs for the weight and input gradients (:func:`_weight_grads`); for
``reset_after=False`` the recurrent kernel's candidate block multiplies
``r * h_prev``, so its gradient needs its own buffers (``d_ah``, ``rh_all``).

Under recurrent dropout each gate's recurrent product reads its own masked
state (``_math.py``'s ``masked_*`` products; for reset_after=False the
candidate's operand ``r * h_prev`` times its mask); a call without dropout
compiles none of it (its masks are None, see ``_math.py``).

Both time loops work on the batch rows ``[b0, b1)``; which rows, on which
thread, and how the products are chosen is the driver's (``_dispatch.py``).
"""

import numpy as np
from numba import njit

from .. import reference as _reference
from ._dispatch import backward_kernel, forward_kernel
from ._fpmode import flush_denormals, restore_denormals
from ._math import (
    activate,
    activate_inplace,
    backward_input_grads,
    column_blocks,
    column_sums,
    computed_end,
    hand_sized,
    masked_matmul_acc,
    masked_matmul_t_acc,
    masked_matmul_tn,
    matmul_acc_rows,
    matmul_rows,
    matmul_tn,
    mul_dact,
    mul_dact_inplace,
    project_inputs,
    transpose,
)
from .config import JIT_OPTIONS


@njit(**JIT_OPTIONS)
def _finish_step(s, t, b, units, g, hp, h_states, outputs, mask, zero_output_for_mask):
    """h_s = z * h_{s-1} + (1 - z) * hh where valid; else carry the state, mask
    the output and zero the step's gates."""
    one = g.dtype.type(1)
    hn = h_states[s + 1, b]
    out = outputs[b, s]
    hh = g[2 * units :]  # a view indexed from 0: see _math.py, "Indices LLVM can prove"
    if mask[b, t]:
        for j in range(units):
            z = g[j]
            v = z * hp[j] + (one - z) * hh[j]
            hn[j] = v
            out[j] = v
    else:
        for j in range(units):
            hn[j] = hp[j]
        g[:] = 0  # the contract's gates of a masked step
        if zero_output_for_mask or s == 0:
            out[:] = 0
        else:
            out[:] = outputs[b, s - 1]


@njit(**JIT_OPTIONS)
def _times_mask(a, m):
    """a *= m (1-D arrays of one length)."""
    for j in range(a.shape[0]):
        a[j] *= m[j]


@njit(**JIT_OPTIONS)
def _recurrent_blocks(recurrent_kernel, reset_after):
    """For reset_after=False, contiguous copies of the (z, r) and candidate
    blocks of the recurrent kernel (H, 2H) and (H, H), which multiply
    different rows; else empty placeholders."""
    units = recurrent_kernel.shape[0]
    # Placeholders are fresh empty arrays, not slices: both branches then
    # return C-contiguous arrays, and the time loop is compiled for that
    # layout (a strided "A" layout would keep its products from vectorizing).
    if reset_after:
        w_zr = np.empty((0, 0), recurrent_kernel.dtype)
        return w_zr, w_zr
    w_zr = np.ascontiguousarray(recurrent_kernel[:, : 2 * units])
    w_h = np.ascontiguousarray(recurrent_kernel[:, 2 * units :])
    return w_zr, w_h


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
    gates,
    recurrent_candidate,
):
    """The forward time loop over batch rows [b0, b1): fills their rows of
    ``outputs``, ``h_states``, ``gates`` and ``recurrent_candidate``."""
    saved_fp_mode = flush_denormals()  # see _fpmode.py
    activation, recurrent_activation, reset_after, go_backwards, zero_output_for_mask = opts
    timesteps = gates.shape[0]
    units = h_states.shape[2]
    rows = b1 - b0
    h1, h2, h3 = units, 2 * units, 3 * units
    h_states[0, b0:b1] = h0[b0:b1]
    project_inputs(b0, b1, hand_max, x, mask, dropout_mask, kernel, go_backwards, gates)
    hand = hand_sized(rows, units, h3, hand_max)
    w_zr, w_h = _recurrent_blocks(recurrent_kernel, reset_after)
    if recurrent_dropout_mask is not None:
        blocks = column_blocks(recurrent_kernel, 3)  # W_h's z, r and h blocks
        h_tmp = np.empty((rows, units), gates.dtype)
        part = np.empty((rows, units), gates.dtype)
    b_in = bias[0]
    b_rec = bias[1]
    b_in_h, b_rec_h = b_in[h2:], b_rec[h2:]  # candidate blocks, as views indexed from 0
    pre = np.empty(units, gates.dtype)
    if reset_after:
        u = np.empty((rows, h3), gates.dtype)
        for s in range(timesteps):
            t = timesteps - 1 - s if go_backwards else s
            h_prev = h_states[s, b0:b1]
            n = computed_end(mask, t, b0, b1) - b0  # the rows this step computes
            if recurrent_dropout_mask is None:
                matmul_rows(h_prev[:n], recurrent_kernel, u[:n], hand, hand_max)
            else:
                u[:n] = 0
                masked_matmul_acc(
                    h_prev[:n],
                    recurrent_dropout_mask,
                    b0,
                    blocks,
                    u[:n],
                    h_tmp[:n],
                    part[:n],
                    hand,
                    hand_max,
                )
            for i in range(rows):
                b = b0 + i
                g = gates[s, b]
                ub = u[i]
                uh = recurrent_candidate[s, b]
                if not mask[b, t]:
                    uh[:] = 0
                    _finish_step(
                        s, t, b, units, g, h_prev[i], h_states, outputs, mask, zero_output_for_mask
                    )
                    continue
                for j in range(h2):
                    g[j] += ub[j] + b_rec[j]
                activate_inplace(g, b_in, 0, h2, recurrent_activation)
                gr, gh, ubh = g[h1:h2], g[h2:], ub[h2:]
                for j in range(units):
                    v = ubh[j] + b_rec_h[j]
                    uh[j] = v
                    pre[j] = gh[j] + b_in_h[j] + gr[j] * v
                activate(g[h2:], pre, units, activation)
                _finish_step(
                    s, t, b, units, g, h_prev[i], h_states, outputs, mask, zero_output_for_mask
                )
    else:
        u = np.empty((rows, h2), gates.dtype)
        rh = np.empty((rows, units), gates.dtype)
        uh_all = np.empty((rows, units), gates.dtype)
        for s in range(timesteps):
            t = timesteps - 1 - s if go_backwards else s
            h_prev = h_states[s, b0:b1]
            n = computed_end(mask, t, b0, b1) - b0  # the rows this step computes
            if recurrent_dropout_mask is None:
                matmul_rows(h_prev[:n], w_zr, u[:n], hand, hand_max)
            else:
                u[:n] = 0
                masked_matmul_acc(
                    h_prev[:n],
                    recurrent_dropout_mask,
                    b0,
                    blocks[:2],
                    u[:n],
                    h_tmp[:n],
                    part[:n],
                    hand,
                    hand_max,
                )
            for i in range(n):
                g = gates[s, b0 + i]
                ub = u[i]
                for j in range(h2):
                    g[j] += ub[j] + b_rec[j]
                activate_inplace(g, b_in, 0, h2, recurrent_activation)
                hp = h_prev[i]
                rb = rh[i]
                gr = g[h1:h2]
                for j in range(units):
                    rb[j] = gr[j] * hp[j]
                if recurrent_dropout_mask is not None:
                    rm = recurrent_dropout_mask[2, b0 + i]  # the candidate's mask
                    for j in range(units):
                        rb[j] *= rm[j]
            matmul_rows(rh[:n], w_h, uh_all[:n], hand, hand_max)
            for i in range(rows):
                b = b0 + i
                g = gates[s, b]
                uh = recurrent_candidate[s, b]
                if not mask[b, t]:
                    uh[:] = 0
                    _finish_step(
                        s, t, b, units, g, h_prev[i], h_states, outputs, mask, zero_output_for_mask
                    )
                    continue
                ub = uh_all[i]
                gh = g[h2:]
                for j in range(units):
                    v = ub[j] + b_rec_h[j]
                    uh[j] = v
                    pre[j] = gh[j] + b_in_h[j] + v
                activate(g[h2:], pre, units, activation)
                _finish_step(
                    s, t, b, units, g, h_prev[i], h_states, outputs, mask, zero_output_for_mask
                )
    restore_denormals(saved_fp_mode)


@njit(**JIT_OPTIONS)
def _backward_workspace(opts, x, recurrent_kernel):
    """What the backward time loop fills for the epilogue, row s*B + b for step
    s of batch row b: ``d_in`` (T*B, 3H), the gradients of the input-side
    pre-activations; ``d_rec``, those of the recurrent side (T*B, 3H; for
    reset_after=False (T*B, 2H), z and r only); for reset_after=False also
    ``d_ah`` (T*B, H), the candidate's recurrent pre-activation gradient, and
    ``rh_all`` (T*B, H), the ``r * h_prev`` it multiplied (else empty)."""
    _, _, reset_after, _, _ = opts
    batch, timesteps, _ = x.shape
    units = recurrent_kernel.shape[0]
    rows = timesteps * batch
    d_in = np.empty((rows, 3 * units), x.dtype)
    if reset_after:
        d_rec = np.empty((rows, 3 * units), x.dtype)
        d_ah = np.empty((0, units), x.dtype)
        rh_all = d_ah
    else:
        d_rec = np.empty((rows, 2 * units), x.dtype)
        d_ah = np.empty((rows, units), x.dtype)
        rh_all = np.empty((rows, units), x.dtype)
    return d_in, d_rec, d_ah, rh_all


@njit(**JIT_OPTIONS)
def _transposed_blocks(recurrent_kernel, reset_after):
    """The transposed recurrent weights of the backward time loop: for
    reset_after the whole kernel's (3H, H), else the (z, r) block's (2H, H)
    and the candidate block's (H, H); empty placeholders for the others (C
    layout in every branch, see _recurrent_blocks)."""
    units = recurrent_kernel.shape[0]
    empty = np.empty((0, 0), recurrent_kernel.dtype)
    if reset_after:
        return transpose(recurrent_kernel), empty, empty
    w_zr_t = transpose(np.ascontiguousarray(recurrent_kernel[:, : 2 * units]))
    w_h_t = transpose(np.ascontiguousarray(recurrent_kernel[:, 2 * units :]))
    return empty, w_zr_t, w_h_t


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
    gates,
    recurrent_candidate,
    d_outputs,
    d_h_last,
    d_h0,
    d_in,
    d_rec,
    d_ah,
    rh_all,
):
    """BPTT over batch rows [b0, b1): fills their rows of the workspace
    (:func:`_backward_workspace`) and leaves ``d_h0`` (B, H) holding the
    gradient into h0 there."""
    saved_fp_mode = flush_denormals()  # see _fpmode.py
    activation, recurrent_activation, reset_after, go_backwards, zero_output_for_mask = opts
    timesteps = gates.shape[0]
    batch = h_states.shape[1]
    units = h_states.shape[2]
    rows = b1 - b0
    one = gates.dtype.type(1)
    h1, h2, h3 = units, 2 * units, 3 * units
    hand = hand_sized(rows, units, h3, hand_max)
    rk_t, w_zr_t, w_h_t = _transposed_blocks(recurrent_kernel, reset_after)
    if recurrent_dropout_mask is not None:
        # W_h[:, block k].T for k = z, r, h (reset_after=False: z and r)
        blocks_t = rk_t.reshape(3, units, units) if reset_after else w_zr_t.reshape(2, units, units)
        d_tmp = np.empty((rows, units), gates.dtype)
        part = np.empty((rows, units), gates.dtype)
    dh = d_h0  # the gradient reaching h_s, carried back through the steps
    dh[b0:b1] = d_h_last[b0:b1]
    d_prev_out = np.zeros((rows, units), gates.dtype)
    dz = np.empty(units, gates.dtype)
    tmp = np.empty((rows, units), gates.dtype)
    d_rh = np.empty((rows, units), gates.dtype)
    dh_rows = dh[b0:b1]
    for s in range(timesteps - 1, -1, -1):
        t = timesteps - 1 - s if go_backwards else s
        lo = s * batch + b0
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
                    dhb[j] = dout[j] + dpo[j] + dhb[j]  # the gradient reaching h_s
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
                    if recurrent_dropout_mask is not None:
                        _times_mask(rhb, recurrent_dropout_mask[2, b])
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
                    if recurrent_dropout_mask is not None:
                        _times_mask(rhb, recurrent_dropout_mask[2, b])
        # the products over the rows the step computed (the gradients are 0 after them)
        n = computed_end(mask, t, b0, b1) - b0
        d_rec_s = d_rec[lo : lo + n]
        if reset_after:
            if recurrent_dropout_mask is None:
                matmul_acc_rows(d_rec_s, rk_t, dh_rows[:n], tmp[:n], hand, hand_max)
            else:
                r_masks = recurrent_dropout_mask
                masked_matmul_t_acc(
                    d_rec_s, r_masks, b0, blocks_t, dh_rows[:n], d_tmp[:n], part[:n], hand, hand_max
                )
        else:
            matmul_rows(d_ah[lo : lo + n], w_h_t, d_rh[:n], hand, hand_max)
            if recurrent_dropout_mask is not None:  # d(r * h_prev) = (da_h @ W_h_h^T) * r_h
                for i in range(n):
                    _times_mask(d_rh[i], recurrent_dropout_mask[2, b0 + i])
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
            if recurrent_dropout_mask is None:
                matmul_acc_rows(d_rec_s, w_zr_t, dh_rows[:n], tmp[:n], hand, hand_max)
            else:
                r_masks = recurrent_dropout_mask
                masked_matmul_t_acc(
                    d_rec_s, r_masks, b0, blocks_t, dh_rows[:n], d_tmp[:n], part[:n], hand, hand_max
                )
    restore_denormals(saved_fp_mode)


@njit(**JIT_OPTIONS)
def _weight_grads(
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
    d_in,
    d_rec,
    d_ah,
    rh_all,
):
    """The bulk GEMMs after the time loop: dW_h, both bias rows, dW_x and dx
    (each operand under its dropout masks, if any; ``rh_all`` holds the
    candidate's masked operand already)."""
    saved_fp_mode = flush_denormals()  # see _fpmode.py
    _, _, reset_after, go_backwards, _ = opts
    batch, timesteps, _ = x.shape
    units = h_states.shape[2]
    h2 = 2 * units
    h_prev = h_states[:timesteps].reshape(timesteps * batch, units)
    if reset_after:
        if recurrent_dropout_mask is None:
            matmul_tn(h_prev, d_rec, d_recurrent_kernel, hand_max)
        else:
            masked_matmul_tn(h_prev, recurrent_dropout_mask, d_rec, d_recurrent_kernel, hand_max)
        column_sums(d_rec, d_bias[1])
    else:
        part = np.empty((units, h2), x.dtype)
        if recurrent_dropout_mask is None:
            matmul_tn(h_prev, d_rec, part, hand_max)
        else:
            masked_matmul_tn(h_prev, recurrent_dropout_mask[:2], d_rec, part, hand_max)
        d_recurrent_kernel[:, :h2] = part
        part_h = np.empty((units, units), x.dtype)
        matmul_tn(rh_all, d_ah, part_h, hand_max)
        d_recurrent_kernel[:, h2:] = part_h
        column_sums(d_in, d_bias[1])
    column_sums(d_in, d_bias[0])
    backward_input_grads(x, dropout_mask, d_in, kernel, go_backwards, dx, d_kernel, hand_max)
    restore_denormals(saved_fp_mode)


gru_forward = forward_kernel(_reference.gru_forward, _forward_rows)
gru_backward = backward_kernel(
    _reference.gru_backward,
    _backward_rows,
    workspace=_backward_workspace,
    workspace_names=("d_in", "d_rec", "d_ah", "rh_all"),
    weight_grads=_weight_grads,
)
