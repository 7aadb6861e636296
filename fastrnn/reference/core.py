"""Kernels of the non-recurrent layers: Dense and Embedding.

These are a handful of BLAS calls, so every backend shares them.

Dense, on the last axis of 2-D or 3-D input::

    y = act(x @ W + b)
    da = dy * act'(.)        (softmax: da = y * (dy - sum(dy * y, axis=-1)))
    dW = x^T da   db = sum da   dx = da @ W^T

Embedding: ``y[b, t] = E[ids[b, t]]`` and ``dE[i] = sum of dy[b, t]`` over
the positions holding index ``i``.
"""

import numpy as np

from ..activations import derivative_from_output, get, get_code


def dense_forward(x, kernel, bias, activation):
    """``act(x @ kernel + bias)`` on the last axis; ``bias`` may be None."""
    # One 2-D GEMM over every (batch, timestep) row: NumPy runs a 3-D ``@`` as
    # one small GEMM per sequence, far slower for 3-D input.
    a = (x.reshape(-1, x.shape[-1]) @ kernel).reshape(*x.shape[:-1], kernel.shape[1])
    if bias is not None:
        a = a + bias
    return get(activation)(a)


def activation_backward(y, dy, activation):
    """``d loss / d a`` for ``y = act(a)``, from the output ``y`` and ``dy = d loss / d y``:
    ``dy * act'(a)`` elementwise; softmax (over the last axis) ``y * (dy - sum(dy * y))``."""
    if activation == "softmax":
        return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))
    return dy * derivative_from_output(get_code(activation), y)


def dense_backward(x, kernel, y, dy, activation):
    """Gradients of Dense: returns ``(dx, d_kernel, d_bias)``."""
    da = activation_backward(y, dy, activation)
    x2 = x.reshape(-1, x.shape[-1])
    da2 = da.reshape(-1, da.shape[-1])
    dx = (da2 @ kernel.T).reshape(x.shape)
    return dx, x2.T @ da2, da2.sum(axis=0)


def embedding_backward(ids, dy, input_dim):
    """Scatter-add ``dy`` (…, output_dim) into the rows ``ids`` point at."""
    d_embeddings = np.zeros((input_dim, dy.shape[-1]), dy.dtype)
    np.add.at(d_embeddings, ids.reshape(-1), dy.reshape(-1, dy.shape[-1]))
    return d_embeddings
