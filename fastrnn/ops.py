"""Public wrappers around the backend kernels: check, cast, allocate, call.

Layers call :func:`recurrent_forward` and :func:`recurrent_backward`; these
make every array contiguous and of one dtype, allocate the outputs the
kernel fills, and call the chosen backend's kernel. Nothing here is math:
the math is in the kernels (:mod:`fastrnn.reference` states it).
"""
from dataclasses import dataclass

import numpy as np

__all__ = ["CELLS", "ForwardRecord", "recurrent_forward", "recurrent_backward"]


@dataclass(frozen=True)
class CellSpec:
    """What distinguishes the three cells to the code that calls kernels."""

    name: str
    gates: int        # G: column blocks of the kernel
    state_names: tuple  # "h", or "h", "c"


CELLS = {
    "simple_rnn": CellSpec("simple_rnn", 1, ("h",)),
    "lstm": CellSpec("lstm", 4, ("h", "c")),
    "gru": CellSpec("gru", 3, ("h",)),
}


class ForwardRecord:
    """Everything a forward pass produced, kept for the backward pass.

    Attributes
    ----------
    outputs : ndarray of shape (batch, timesteps, units)
        Output of each processed step (processing order).
    h_states, c_states : ndarray of shape (timesteps + 1, batch, units)
        States in processing order; ``c_states`` is None except for LSTM.
    gates : ndarray of shape (timesteps, batch, G * units) or None
    recurrent_candidate : ndarray of shape (timesteps, batch, units) or None
    options : tuple
        (activation, recurrent_activation, reset_after, go_backwards,
        zero_output_for_mask) as given to the forward kernel.
    """

    __slots__ = ("backend", "cell", "x", "mask", "weights", "options", "outputs",
                 "h_states", "c_states", "gates", "recurrent_candidate")

    def __init__(self, backend, cell, x, mask, weights, options, outputs, h_states,
                 c_states=None, gates=None, recurrent_candidate=None):
        self.backend, self.cell, self.x, self.mask = backend, cell, x, mask
        self.weights, self.options = weights, options
        self.outputs, self.h_states, self.c_states = outputs, h_states, c_states
        self.gates, self.recurrent_candidate = gates, recurrent_candidate

    @property
    def final_states(self):
        """The states after the last step: ``[h]`` or ``[h, c]``."""
        if self.c_states is None:
            return [self.h_states[-1]]
        return [self.h_states[-1], self.c_states[-1]]


_all_true_masks = {}


def _all_true(batch, timesteps):
    """A read-only all-True mask, reused between calls (kernels never write masks)."""
    mask = _all_true_masks.get((batch, timesteps))
    if mask is None:
        if len(_all_true_masks) > 64:
            _all_true_masks.clear()
        mask = np.ones((batch, timesteps), dtype=bool)
        mask.flags.writeable = False
        _all_true_masks[(batch, timesteps)] = mask
    return mask


def _c(array, dtype):
    if array.dtype == dtype and array.flags.c_contiguous:
        return array
    return np.ascontiguousarray(array, dtype=dtype)


def recurrent_forward(backend, cell, x, mask, initial_states, kernel, recurrent_kernel,
                      bias, *, activation, recurrent_activation=0, reset_after=True,
                      go_backwards=False, zero_output_for_mask=False):
    """Run one recurrent layer's forward kernel.

    Parameters
    ----------
    backend : module
        A kernel module (see :mod:`fastrnn.backends`).
    cell : {"simple_rnn", "lstm", "gru"}
    x : ndarray of shape (batch, timesteps, features)
    mask : ndarray of bool, shape (batch, timesteps), or None
    initial_states : list of ndarray of shape (batch, units)
        ``[h0]`` or, for LSTM, ``[h0, c0]``.
    kernel, recurrent_kernel, bias : ndarray
        Keras layout; GRU bias always as (2, 3 * units).
    activation, recurrent_activation : int
        Kernel activation codes.

    Returns
    -------
    ForwardRecord
    """
    spec = CELLS[cell]
    dtype = x.dtype
    x = _c(x, dtype)
    batch, timesteps, _ = x.shape
    units = recurrent_kernel.shape[0]
    mask = _all_true(batch, timesteps) if mask is None else _c(mask, np.bool_)
    states = [_c(s, dtype) for s in initial_states]
    weights = (_c(kernel, dtype), _c(recurrent_kernel, dtype), _c(bias, dtype))

    outputs = np.empty((batch, timesteps, units), dtype)
    h_states = np.empty((timesteps + 1, batch, units), dtype)
    activation, recurrent_activation = int(activation), int(recurrent_activation)
    flags = (bool(go_backwards), bool(zero_output_for_mask))
    record = ForwardRecord(backend, cell, x, mask, weights,
                           (activation, recurrent_activation, bool(reset_after), *flags),
                           outputs, h_states)
    if cell == "simple_rnn":
        backend.simple_rnn_forward(x, mask, states[0], *weights, activation, *flags,
                                   outputs, h_states)
    elif cell == "lstm":
        record.c_states = np.empty_like(h_states)
        record.gates = np.empty((timesteps, batch, spec.gates * units), dtype)
        backend.lstm_forward(x, mask, states[0], states[1], *weights, activation,
                             recurrent_activation, *flags, outputs, h_states,
                             record.c_states, record.gates)
    else:
        record.gates = np.empty((timesteps, batch, spec.gates * units), dtype)
        record.recurrent_candidate = np.empty((timesteps, batch, units), dtype)
        backend.gru_forward(x, mask, states[0], *weights, activation,
                            recurrent_activation, bool(reset_after), *flags,
                            outputs, h_states, record.gates, record.recurrent_candidate)
    return record


def recurrent_backward(record, d_outputs, d_final_states):
    """Run the backward kernel matching a :class:`ForwardRecord`.

    Parameters
    ----------
    record : ForwardRecord
    d_outputs : ndarray of shape (batch, timesteps, units) or None
        Gradient with respect to ``record.outputs`` (None: zeros).
    d_final_states : list of (ndarray of shape (batch, units) or None)
        Gradients with respect to the final states (None entries: zeros).

    Returns
    -------
    dx : ndarray of shape (batch, timesteps, features)
    d_initial_states : list of ndarray of shape (batch, units)
    d_weights : list of ndarray
        Gradients of kernel, recurrent_kernel, bias.
    """
    x, mask = record.x, record.mask
    dtype = x.dtype
    kernel, recurrent_kernel, bias = record.weights
    outputs = record.outputs
    d_outputs = np.zeros_like(outputs) if d_outputs is None else _c(d_outputs, dtype)
    d_last = [np.zeros_like(outputs[:, 0]) if d is None else _c(d, dtype)
              for d in d_final_states]
    activation, recurrent_activation, reset_after, *flags = record.options
    dx = np.empty_like(x)
    d_h0 = np.empty_like(d_last[0])
    d_weights = [np.empty_like(kernel), np.empty_like(recurrent_kernel), np.empty_like(bias)]
    backend = record.backend
    if record.cell == "simple_rnn":
        backend.simple_rnn_backward(x, mask, kernel, recurrent_kernel,
                                    activation, *flags, record.h_states,
                                    d_outputs, d_last[0], dx, d_h0, *d_weights)
        return dx, [d_h0], d_weights
    if record.cell == "lstm":
        d_c0 = np.empty_like(d_h0)
        backend.lstm_backward(x, mask, kernel, recurrent_kernel, activation,
                              recurrent_activation, *flags, record.h_states,
                              record.c_states, record.gates, d_outputs, d_last[0],
                              d_last[1], dx, d_h0, d_c0, *d_weights)
        return dx, [d_h0, d_c0], d_weights
    backend.gru_backward(x, mask, kernel, recurrent_kernel, activation,
                         recurrent_activation, reset_after, *flags, record.h_states, record.gates,
                         record.recurrent_candidate, d_outputs, d_last[0], dx, d_h0,
                         *d_weights)
    return dx, [d_h0], d_weights
