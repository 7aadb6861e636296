r"""SimpleRNN (Elman network): forward and backpropagation through time.

Forward, for each processing step ``s`` reading input position ``t``::

    a_s = (x_t * m) @ W_x + (h_{s-1} * r) @ W_h + b   # (B, H)
    h_s = act(a_s)                               # where mask[:, t]
    h_s = h_{s-1}                                # where not mask[:, t]

with ``W_x`` the Keras ``kernel`` (D, H), ``W_h`` the ``recurrent_kernel``
(H, H) and ``b`` the ``bias`` (H,). The output at a valid step is ``h_s``.
``m = dropout_mask[0]`` (B, D) and ``r = recurrent_dropout_mask[0]`` (B, H)
are the dropout masks, the same at every step; a mask that is absent (an
empty mask array) is 1, and the product is then the plain ``x_t @ W_x``
(``h_{s-1} @ W_h``).

Backward, with ``dh`` the gradient flowing into ``h_s``::

    da_s       = dh * act'(a_s)                  # from the output: 1 - h_s**2 for tanh
    dW_x      += (x_t * m)^T      @ da_s
    dW_h      += (h_{s-1} * r)^T  @ da_s
    db        += sum_b da_s
    dx_t       = (da_s @ W_x^T) * m
    dh_{s-1}   = (da_s @ W_h^T) * r   (+ dh itself where the step was masked)
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


def simple_rnn_forward(
    x,
    mask,
    dropout_mask,
    recurrent_dropout_mask,
    h0,
    kernel,
    recurrent_kernel,
    bias,
    activation,
    go_backwards,
    zero_output_for_mask,
    outputs,
    h_states,
):
    """Run a SimpleRNN over a whole sequence (see the module docstring).

    Parameters
    ----------
    x : ndarray of shape (batch, timesteps, features)
    mask : ndarray of bool, shape (batch, timesteps)
    dropout_mask : ndarray of shape (M, batch, features), M = 0 or 1
        Multiplies ``x_t`` at every step (M = 0: no dropout).
    recurrent_dropout_mask : ndarray of shape (R, batch, units), R = 0 or 1
        Multiplies ``h_{s-1}`` in the recurrent product (R = 0: no dropout).
    h0 : ndarray of shape (batch, units)
    kernel : ndarray of shape (features, units)
    recurrent_kernel : ndarray of shape (units, units)
    bias : ndarray of shape (units,)
    activation : int
        Kernel activation code (:mod:`fastrnn.activations`).
    go_backwards, zero_output_for_mask : bool
    outputs : ndarray of shape (batch, timesteps, units)
        Filled with the output of each processed step.
    h_states : ndarray of shape (timesteps + 1, batch, units)
        Filled with the initial state and the state after each step.
    """
    h_states[0] = h0
    prev_output = np.zeros_like(h0)
    for s, t in enumerate(time_order(x.shape[1], go_backwards)):
        h_prev = h_states[s]
        step_mask = mask[:, t, None]

        a = (
            masked_product(x[:, t], dropout_mask, kernel)
            + masked_product(h_prev, recurrent_dropout_mask, recurrent_kernel)
            + bias
        )
        h_new = apply(activation, a)

        h_states[s + 1] = np.where(step_mask, h_new, h_prev)
        outputs[:, s] = masked_output(step_mask, h_new, prev_output, zero_output_for_mask)
        prev_output = outputs[:, s]


def simple_rnn_backward(
    x,
    mask,
    dropout_mask,
    recurrent_dropout_mask,
    kernel,
    recurrent_kernel,
    activation,
    go_backwards,
    zero_output_for_mask,
    h_states,
    d_outputs,
    d_h_last,
    dx,
    d_h0,
    d_kernel,
    d_recurrent_kernel,
    d_bias,
):
    """Backpropagate through a SimpleRNN forward pass.

    Parameters
    ----------
    x, mask, dropout_mask, recurrent_dropout_mask, kernel, recurrent_kernel, activation,
    go_backwards, zero_output_for_mask
        As given to :func:`simple_rnn_forward`.
    h_states : ndarray of shape (timesteps + 1, batch, units)
        As filled by :func:`simple_rnn_forward`.
    d_outputs : ndarray of shape (batch, timesteps, units)
        Gradient of the loss with respect to ``outputs``.
    d_h_last : ndarray of shape (batch, units)
        Gradient of the loss with respect to the final state ``h_states[-1]``.
    dx : ndarray of shape (batch, timesteps, features)
    d_h0 : ndarray of shape (batch, units)
    d_kernel, d_recurrent_kernel, d_bias
        Shaped as ``kernel``, ``recurrent_kernel``, ``bias``. All five are
        overwritten with the gradients.
    """
    timesteps = x.shape[1]
    d_kernel[...] = 0
    d_recurrent_kernel[...] = 0
    d_bias[...] = 0
    dh = d_h_last.copy()  # gradient flowing into h_s
    d_prev_output = np.zeros_like(d_h_last)  # gradient into the repeated output
    order = list(time_order(timesteps, go_backwards))
    for s in reversed(range(timesteps)):
        t = order[s]
        step_mask = mask[:, t, None]
        h_prev, h_new = h_states[s], h_states[s + 1]

        d_h_new, d_prev_output = masked_output_grad(
            step_mask, d_outputs[:, s] + d_prev_output, zero_output_for_mask
        )
        d_h_new = d_h_new + np.where(step_mask, dh, 0)

        da = d_h_new * derivative_from_output(activation, h_new)
        dx_t, d_kernel_t = masked_product_grads(x[:, t], dropout_mask, kernel, da)
        dh_prev, d_recurrent_t = masked_product_grads(
            h_prev, recurrent_dropout_mask, recurrent_kernel, da
        )
        d_kernel += d_kernel_t
        d_recurrent_kernel += d_recurrent_t
        d_bias += da.sum(axis=0)
        dx[:, t] = dx_t
        dh = dh_prev + np.where(step_mask, 0, dh)
    d_h0[...] = dh
