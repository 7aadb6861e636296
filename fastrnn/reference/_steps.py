"""Rules shared by the reference kernels: time order, masked outputs, and
the products under dropout masks.

The first two rules are the whole of Keras's masking semantics; every cell
uses them the same way. The last two are the whole of its dropout
semantics: a product ``a @ W`` whose operand ``a`` is multiplied by a mask
first, one mask for all of ``W``'s columns or one per gate block.
"""

import numpy as np


def time_order(timesteps, go_backwards):
    """Input position read at each processing step ``s = 0..T-1``."""
    if go_backwards:
        return range(timesteps - 1, -1, -1)
    return range(timesteps)


def masked_output(step_mask, new_output, prev_output, zero_output_for_mask):
    """The output of one step under a mask.

    ``output = new_output`` where the step is valid; elsewhere the previous
    output (zeros before the first valid step), or zeros when
    ``zero_output_for_mask``.
    """
    fallback = np.zeros_like(prev_output) if zero_output_for_mask else prev_output
    return np.where(step_mask, new_output, fallback)


def masked_output_grad(step_mask, d_output, zero_output_for_mask):
    """Split the gradient of one masked output into its two sources.

    Returns ``(d_new_output, d_prev_output)``: the part that flows into this
    step's freshly computed output, and the part that flows into the
    previous step's output (repeated here where the step was masked).
    """
    d_new = np.where(step_mask, d_output, 0)
    if zero_output_for_mask:
        return d_new, np.zeros_like(d_output)
    return d_new, np.where(step_mask, 0, d_output)


def masked_product(a, masks, weight):
    """``a @ weight`` with ``a`` under dropout masks.

    ``masks`` holds K arrays shaped like ``a``; weight's columns are K equal
    blocks, and block k multiplies ``a * masks[k]``::

        (a * masks[0]) @ weight            K = 1: one mask for every column
        [(a * masks[k]) @ weight_k]_k      K = G: one mask per gate block
        a @ weight                         K = 0: no masks
    """
    if len(masks) == 0:
        return a @ weight
    blocks = np.split(weight, len(masks), axis=1)
    return np.concatenate([(a * m) @ w for m, w in zip(masks, blocks)], axis=1)


def masked_product_grads(a, masks, weight, d_product):
    """The gradients of :func:`masked_product` from ``d_product``, that of its result.

    Returns ``(d_a, d_weight)``: with block k of the columns read under
    ``masks[k]``, ``d_a = sum_k (d_k @ weight_k^T) * masks[k]`` and
    ``d_weight_k = (a * masks[k])^T @ d_k``; with no masks ``d_product @
    weight^T`` and ``a^T @ d_product``.
    """
    if len(masks) == 0:
        return d_product @ weight.T, a.T @ d_product
    count = len(masks)
    d_a = np.zeros_like(a)
    d_blocks = []
    for m, w, d in zip(masks, np.split(weight, count, axis=1), np.split(d_product, count, axis=1)):
        d_a += (d @ w.T) * m
        d_blocks.append((a * m).T @ d)
    return d_a, np.concatenate(d_blocks, axis=1)
