"""Bookkeeping shared by the reference kernels: time order and masked outputs.

These two rules are the whole of Keras's masking semantics; every cell uses
them the same way.
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
