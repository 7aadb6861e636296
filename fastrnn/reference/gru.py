r"""GRU: forward and backpropagation through time, both ``reset_after`` variants.

Gate order z (update), r (reset), h (candidate), as in Keras. ``b_in`` and
``b_rec`` are the two rows of the ``(2, 3H)`` bias. For each processing
step ``s`` reading input position ``t``::

    xz = x_t @ W_x + b_in                               # (B, 3H)

    reset_after=True (the default; cuDNN-compatible):
        u   = h_{s-1} @ W_h + b_rec                     # (B, 3H)
        z_s = rec_act(xz_z + u_z)     r_s = rec_act(xz_r + u_r)
        hh  = act(xz_h + r_s * u_h)

    reset_after=False (the original GRU; b_rec is a zero row):
        z_s = rec_act(xz_z + h_{s-1} @ W_h_z + b_rec_z)
        r_s = rec_act(xz_r + h_{s-1} @ W_h_r + b_rec_r)
        hh  = act(xz_h + (r_s * h_{s-1}) @ W_h_h + b_rec_h)

    h_s = z_s * h_{s-1} + (1 - z_s) * hh

Where the step is masked, ``h_s = h_{s-1}``. ``recurrent_candidate`` holds
the recurrent term of the candidate: ``u_h`` (reset_after) or
``(r_s * h_{s-1}) @ W_h_h + b_rec_h``.

Dropout (the same masks at every step; :func:`._steps.masked_product`):
with one input mask ``m`` (B, D), ``x_t`` becomes ``x_t * m``; with one per
gate, ``m_k`` and recurrent masks ``r_k`` (B, H) for k = z, r, h, each
product reads its gate's masked operand::

    xz_k = (x_t * m_k) @ W_x[:, k] + b_in_k
    reset_after=True:   u_k = (h_{s-1} * r_k) @ W_h[:, k] + b_rec_k
    reset_after=False:  z, r as u_k above; the candidate's product is
                        ((r_s * h_{s-1}) * r_h) @ W_h_h + b_rec_h

while ``h_s = z_s * h_{s-1} + ...`` keeps the unmasked ``h_{s-1}``.

Backward, with ``dh`` the gradient flowing into ``h_s``::

    dz  = dh * (h_{s-1} - hh)          dhh = dh * (1 - z_s)
    da_h = dhh * act'(hh)              (gradient of the candidate's pre-activation)
    reset_after=True:
        du_h = da_h * r_s              dr = da_h * u_h
    reset_after=False:
        d(r*h) = da_h @ W_h_h^T        dr = d(r*h) * h_{s-1}
    da_z = dz * rec_act'(z_s)          da_r = dr * rec_act'(r_s)
    dh_{s-1} = dh * z_s + (recurrent terms) @ W_h^T

and under dropout each product's gradients are those of
:func:`._steps.masked_product_grads`, per gate k (one input mask: ``m_k = m``)::

    dW_x[:, k] += (x_t * m_k)^T @ da_k         dx_t = sum_k (da_k @ W_x[:, k]^T) * m_k
    dW_h[:, k] += (h_{s-1} * r_k)^T @ du_k     dh_{s-1} += sum_k (du_k @ W_h[:, k]^T) * r_k
    reset_after=False: d(r*h) = (da_h @ W_h_h^T) * r_h,
                       dW_h_h += ((r_s * h_{s-1}) * r_h)^T @ da_h

(``du_k`` the gradient of gate k's recurrent pre-activation: ``da_z``,
``da_r``, and ``du_h`` or ``da_h``).
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


def gru_forward(
    x,
    mask,
    dropout_mask,
    recurrent_dropout_mask,
    h0,
    kernel,
    recurrent_kernel,
    bias,
    activation,
    recurrent_activation,
    reset_after,
    go_backwards,
    zero_output_for_mask,
    outputs,
    h_states,
    gates,
    recurrent_candidate,
):
    """Run a GRU over a whole sequence (see the module docstring).

    Parameters
    ----------
    x : ndarray of shape (batch, timesteps, features)
    mask : ndarray of bool, shape (batch, timesteps)
    dropout_mask : ndarray of shape (M, batch, features), M = 0, 1 or 3
        Multiplies ``x_t`` at every step: M = 1 for all gates, M = 3 one per
        gate (M = 0: no dropout).
    recurrent_dropout_mask : ndarray of shape (R, batch, units), R = 0 or 3
        ``recurrent_dropout_mask[k]`` multiplies the operand of gate k's
        recurrent product (R = 0: no dropout).
    h0 : ndarray of shape (batch, units)
    kernel : ndarray of shape (features, 3 * units)
    recurrent_kernel : ndarray of shape (units, 3 * units)
    bias : ndarray of shape (2, 3 * units)
        Input bias (row 0) and recurrent bias (row 1).
    activation, recurrent_activation : int
    reset_after, go_backwards, zero_output_for_mask : bool
    outputs : ndarray of shape (batch, timesteps, units)
    h_states : ndarray of shape (timesteps + 1, batch, units)
    gates : ndarray of shape (timesteps, batch, 3 * units)
        Filled with z, r and the candidate hh of each step.
    recurrent_candidate : ndarray of shape (timesteps, batch, units)
        Filled with the candidate's recurrent part of each step.
        Both are zeros where the step is masked (nothing of it is used, so a
        kernel need not compute it).
    """
    units = h0.shape[1]
    zr, hs = slice(0, 2 * units), slice(2 * units, 3 * units)
    h_states[0] = h0
    prev_output = np.zeros_like(h0)
    for s, t in enumerate(time_order(x.shape[1], go_backwards)):
        h_prev = h_states[s]
        step_mask = mask[:, t, None]

        xz = masked_product(x[:, t], dropout_mask, kernel) + bias[0]
        if reset_after:
            u = masked_product(h_prev, recurrent_dropout_mask, recurrent_kernel) + bias[1]
            zr_pre = xz[:, zr] + u[:, zr]
            u_h = u[:, hs]
        else:
            u_zr = masked_product(h_prev, recurrent_dropout_mask[:2], recurrent_kernel[:, zr])
            zr_pre = xz[:, zr] + u_zr + bias[1, zr]
        z = apply(recurrent_activation, zr_pre[:, :units])
        r = apply(recurrent_activation, zr_pre[:, units:])
        if reset_after:
            hh = apply(activation, xz[:, hs] + r * u_h)
        else:
            u_h = masked_product(r * h_prev, recurrent_dropout_mask[2:], recurrent_kernel[:, hs])
            u_h = u_h + bias[1, hs]
            hh = apply(activation, xz[:, hs] + u_h)
        h_new = z * h_prev + (1 - z) * hh

        gates[s] = np.where(step_mask, np.concatenate([z, r, hh], axis=1), 0)
        recurrent_candidate[s] = np.where(step_mask, u_h, 0)
        h_states[s + 1] = np.where(step_mask, h_new, h_prev)
        outputs[:, s] = masked_output(step_mask, h_new, prev_output, zero_output_for_mask)
        prev_output = outputs[:, s]


def gru_backward(
    x,
    mask,
    dropout_mask,
    recurrent_dropout_mask,
    kernel,
    recurrent_kernel,
    activation,
    recurrent_activation,
    reset_after,
    go_backwards,
    zero_output_for_mask,
    h_states,
    gates,
    recurrent_candidate,
    d_outputs,
    d_h_last,
    dx,
    d_h0,
    d_kernel,
    d_recurrent_kernel,
    d_bias,
):
    """Backpropagate through a GRU forward pass.

    Parameters
    ----------
    x, mask, dropout_mask, recurrent_dropout_mask, kernel, recurrent_kernel, activation,
    recurrent_activation, reset_after, go_backwards, zero_output_for_mask
        As given to :func:`gru_forward`.
    h_states, gates, recurrent_candidate
        As filled by :func:`gru_forward`.
    d_outputs : ndarray of shape (batch, timesteps, units)
    d_h_last : ndarray of shape (batch, units)
    dx, d_h0, d_kernel, d_recurrent_kernel, d_bias
        Overwritten with the gradients; ``d_bias`` has shape (2, 3 * units).
    """
    timesteps = x.shape[1]
    units = d_h_last.shape[1]
    zr, hs = slice(0, 2 * units), slice(2 * units, 3 * units)
    d_kernel[...] = 0
    d_recurrent_kernel[...] = 0
    d_bias[...] = 0
    dh = d_h_last.copy()
    d_prev_output = np.zeros_like(d_h_last)
    order = list(time_order(timesteps, go_backwards))
    for s in reversed(range(timesteps)):
        t = order[s]
        step_mask = mask[:, t, None]
        h_prev = h_states[s]
        z, r, hh = gates[s][:, :units], gates[s][:, units : 2 * units], gates[s][:, hs]
        u_h = recurrent_candidate[s]

        d_h_new, d_prev_output = masked_output_grad(
            step_mask, d_outputs[:, s] + d_prev_output, zero_output_for_mask
        )
        d_h_new = d_h_new + np.where(step_mask, dh, 0)

        dz = d_h_new * (h_prev - hh)
        da_h = d_h_new * (1 - z) * derivative_from_output(activation, hh)
        dh_prev = d_h_new * z
        if reset_after:
            du_h = da_h * r
            dr = da_h * u_h
        else:
            d_rh, d_recurrent_h = masked_product_grads(
                r * h_prev, recurrent_dropout_mask[2:], recurrent_kernel[:, hs], da_h
            )
            dr = d_rh * h_prev
            dh_prev = dh_prev + d_rh * r
        da_z = dz * derivative_from_output(recurrent_activation, z)
        da_r = dr * derivative_from_output(recurrent_activation, r)
        d_input = np.concatenate([da_z, da_r, da_h], axis=1)  # d(x_t @ W_x + b_in)

        if reset_after:
            d_recurrent = np.concatenate([da_z, da_r, du_h], axis=1)  # d(h_prev @ W_h + b_rec)
            dh_rec, d_recurrent_t = masked_product_grads(
                h_prev, recurrent_dropout_mask, recurrent_kernel, d_recurrent
            )
            d_recurrent_kernel += d_recurrent_t
            dh_prev = dh_prev + dh_rec
        else:
            d_recurrent = d_input
            dh_rec, d_recurrent_zr = masked_product_grads(
                h_prev, recurrent_dropout_mask[:2], recurrent_kernel[:, zr], d_input[:, zr]
            )
            d_recurrent_kernel[:, zr] += d_recurrent_zr
            d_recurrent_kernel[:, hs] += d_recurrent_h
            dh_prev = dh_prev + dh_rec

        dx_t, d_kernel_t = masked_product_grads(x[:, t], dropout_mask, kernel, d_input)
        d_kernel += d_kernel_t
        d_bias[0] += d_input.sum(axis=0)
        d_bias[1] += d_recurrent.sum(axis=0)
        dx[:, t] = dx_t
        dh = dh_prev + np.where(step_mask, 0, dh)
    d_h0[...] = dh
