r"""LSTM: forward and backpropagation through time.

Gate order i, f, c (the candidate, here ``g``), o, as in Keras. Forward,
for each processing step ``s`` reading input position ``t``::

    z_s = x_t @ W_x + h_{s-1} @ W_h + b          # (B, 4H), split in four
    i_s = rec_act(z_i)      f_s = rec_act(z_f)
    g_s = act(z_g)          o_s = rec_act(z_o)
    c_s = f_s * c_{s-1} + i_s * g_s
    h_s = o_s * act(c_s)

(``act`` is tanh and ``rec_act`` sigmoid by default.) Where the step is
masked both states are carried: ``h_s = h_{s-1}``, ``c_s = c_{s-1}``.

Dropout (the same masks at every step; :func:`._steps.masked_product`):
with one input mask ``m`` (B, D), ``x_t`` becomes ``x_t * m``; with one
per gate, ``m_k`` for gate k = i, f, c, o, and per-gate recurrent masks
``r_k`` (B, H), gate k's pre-activation is::

    z_k = (x_t * m_k) @ W_x[:, k] + (h_{s-1} * r_k) @ W_h[:, k] + b_k

(``W[:, k]`` the gate's H columns). A product without masks is the plain
one above.

Backward, with ``dh``, ``dc`` the gradients flowing into ``h_s``, ``c_s``::

    do   = dh * act(c_s)
    dc   = dc + dh * o_s * act'(c_s)
    di   = dc * g_s         df = dc * c_{s-1}       dg = dc * i_s
    dz   = [di * rec_act'(i_s), df * rec_act'(f_s), dg * act'(g_s), do * rec_act'(o_s)]
    dW_x += x_t^T @ dz      dW_h += h_{s-1}^T @ dz  db += sum_b dz
    dx_t  = dz @ W_x^T
    dh_{s-1} = dz @ W_h^T   dc_{s-1} = dc * f_s

and under dropout, per gate k (one input mask: ``m_k = m`` for every k)::

    dW_x[:, k] += (x_t * m_k)^T @ dz_k          dx_t = sum_k (dz_k @ W_x[:, k]^T) * m_k
    dW_h[:, k] += (h_{s-1} * r_k)^T @ dz_k      dh_{s-1} = sum_k (dz_k @ W_h[:, k]^T) * r_k
"""

import numpy as np

from ..activations import apply, derivative_from_output
from ._steps import (
    masked_output,
    masked_output_grad,
    masked_product,
    masked_product_grads,
    time_order,
)


def lstm_forward(
    x,
    mask,
    dropout_mask,
    recurrent_dropout_mask,
    h0,
    c0,
    kernel,
    recurrent_kernel,
    bias,
    activation,
    recurrent_activation,
    go_backwards,
    zero_output_for_mask,
    outputs,
    h_states,
    c_states,
    gates,
):
    """Run an LSTM over a whole sequence (see the module docstring).

    Parameters
    ----------
    x : ndarray of shape (batch, timesteps, features)
    mask : ndarray of bool, shape (batch, timesteps)
    dropout_mask : ndarray of shape (M, batch, features), M = 0, 1 or 4
        Multiplies ``x_t`` at every step: M = 1 for all gates, M = 4 one per
        gate (M = 0: no dropout).
    recurrent_dropout_mask : ndarray of shape (R, batch, units), R = 0 or 4
        ``recurrent_dropout_mask[k]`` multiplies ``h_{s-1}`` in gate k's
        recurrent product (R = 0: no dropout).
    h0, c0 : ndarray of shape (batch, units)
    kernel : ndarray of shape (features, 4 * units)
    recurrent_kernel : ndarray of shape (units, 4 * units)
    bias : ndarray of shape (4 * units,)
    activation, recurrent_activation : int
        Kernel activation codes (:mod:`fastrnn.activations`).
    go_backwards, zero_output_for_mask : bool
    outputs : ndarray of shape (batch, timesteps, units)
    h_states, c_states : ndarray of shape (timesteps + 1, batch, units)
    gates : ndarray of shape (timesteps, batch, 4 * units)
        Filled with the post-activation gates i, f, g, o of each step; zeros
        where the step is masked (nothing of it is used, so a kernel need not
        compute it).
    """
    units = h0.shape[1]
    h_states[0] = h0
    c_states[0] = c0
    prev_output = np.zeros_like(h0)
    for s, t in enumerate(time_order(x.shape[1], go_backwards)):
        h_prev, c_prev = h_states[s], c_states[s]
        step_mask = mask[:, t, None]

        z = (
            masked_product(x[:, t], dropout_mask, kernel)
            + masked_product(h_prev, recurrent_dropout_mask, recurrent_kernel)
            + bias
        )
        i = apply(recurrent_activation, z[:, 0 * units : 1 * units])
        f = apply(recurrent_activation, z[:, 1 * units : 2 * units])
        g = apply(activation, z[:, 2 * units : 3 * units])
        o = apply(recurrent_activation, z[:, 3 * units : 4 * units])
        c_new = f * c_prev + i * g
        h_new = o * apply(activation, c_new)

        gates[s] = np.where(step_mask, np.concatenate([i, f, g, o], axis=1), 0)
        h_states[s + 1] = np.where(step_mask, h_new, h_prev)
        c_states[s + 1] = np.where(step_mask, c_new, c_prev)
        outputs[:, s] = masked_output(step_mask, h_new, prev_output, zero_output_for_mask)
        prev_output = outputs[:, s]


def lstm_backward(
    x,
    mask,
    dropout_mask,
    recurrent_dropout_mask,
    kernel,
    recurrent_kernel,
    activation,
    recurrent_activation,
    go_backwards,
    zero_output_for_mask,
    h_states,
    c_states,
    gates,
    d_outputs,
    d_h_last,
    d_c_last,
    dx,
    d_h0,
    d_c0,
    d_kernel,
    d_recurrent_kernel,
    d_bias,
):
    """Backpropagate through an LSTM forward pass.

    Parameters
    ----------
    x, mask, dropout_mask, recurrent_dropout_mask, kernel, recurrent_kernel, activation,
    recurrent_activation, go_backwards, zero_output_for_mask
        As given to :func:`lstm_forward`.
    h_states, c_states, gates
        As filled by :func:`lstm_forward`.
    d_outputs : ndarray of shape (batch, timesteps, units)
    d_h_last, d_c_last : ndarray of shape (batch, units)
        Gradients with respect to the final states.
    dx, d_h0, d_c0, d_kernel, d_recurrent_kernel, d_bias
        Overwritten with the gradients (shapes as their forward counterparts).
    """
    timesteps = x.shape[1]
    units = d_h_last.shape[1]
    d_kernel[...] = 0
    d_recurrent_kernel[...] = 0
    d_bias[...] = 0
    dh = d_h_last.copy()
    dc = d_c_last.copy()
    d_prev_output = np.zeros_like(d_h_last)
    order = list(time_order(timesteps, go_backwards))
    for s in reversed(range(timesteps)):
        t = order[s]
        step_mask = mask[:, t, None]
        h_prev, c_prev, c_new = h_states[s], c_states[s], c_states[s + 1]
        i = gates[s][:, 0 * units : 1 * units]
        f = gates[s][:, 1 * units : 2 * units]
        g = gates[s][:, 2 * units : 3 * units]
        o = gates[s][:, 3 * units : 4 * units]

        d_h_new, d_prev_output = masked_output_grad(
            step_mask, d_outputs[:, s] + d_prev_output, zero_output_for_mask
        )
        d_h_new = d_h_new + np.where(step_mask, dh, 0)
        d_c_new = np.where(step_mask, dc, 0)

        act_c = apply(activation, c_new)
        do = d_h_new * act_c
        d_c_new = d_c_new + d_h_new * o * derivative_from_output(activation, act_c)
        di = d_c_new * g
        df = d_c_new * c_prev
        dg = d_c_new * i
        dz = np.concatenate(
            [
                di * derivative_from_output(recurrent_activation, i),
                df * derivative_from_output(recurrent_activation, f),
                dg * derivative_from_output(activation, g),
                do * derivative_from_output(recurrent_activation, o),
            ],
            axis=1,
        )

        dx_t, d_kernel_t = masked_product_grads(x[:, t], dropout_mask, kernel, dz)
        dh_prev, d_recurrent_t = masked_product_grads(
            h_prev, recurrent_dropout_mask, recurrent_kernel, dz
        )
        d_kernel += d_kernel_t
        d_recurrent_kernel += d_recurrent_t
        d_bias += dz.sum(axis=0)
        dx[:, t] = dx_t
        dh = dh_prev + np.where(step_mask, 0, dh)
        dc = d_c_new * f + np.where(step_mask, 0, dc)
    d_h0[...] = dh
    d_c0[...] = dc
