"""The NumPy side of :mod:`fastrnn.torch`: a stacked, bidirectional torch
recurrent module as calls of :mod:`fastrnn.ops`, one kernel call per layer
and direction. Nothing here imports torch: the modules hand in NumPy views
of their tensors and wrap what comes back.

Layouts. The kernels take batch-major ``(batch, timesteps, features)``
C-contiguous input and write each direction's outputs in processing order
(the reverse direction's step ``s`` reads position ``T - 1 - s``). A
:class:`Layout` moves arrays between that and what the torch module's
caller sees: batch-first ``(B, T, F)``, time-major ``(T, B, F)``, or the
``(N, F)`` rows of a ``PackedSequence``. Between the layers of a stack the
arrays stay batch-major.

Weights. torch keeps ``weight_ih (G*H, D)``, ``weight_hh (G*H, H)`` and two
biases per layer and direction; the kernels take Keras's
``kernel (D, G*H)``, ``recurrent_kernel (H, G*H)`` and one bias (GRU: the
``(2, 3H)`` input and recurrent rows). :func:`kernel_weights` converts one
way and :func:`torch_gradients` maps the kernels' gradients back. LSTM's
gates i, f, g, o are Keras's order; GRU's r, z, n become z, r, n (the
first two blocks swap, which is its own inverse).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from .. import ops

__all__ = [
    "BatchFirst",
    "Layout",
    "Packed",
    "StackRun",
    "TimeMajor",
    "kernel_weights",
    "packed_layout",
    "torch_gradients",
]


# ----------------------------------------------------------------- weights
def _swap_rows(blocks: np.ndarray, units: int) -> np.ndarray:
    """GRU gate blocks along axis 0 with the first two swapped (r, z, n <-> z, r, n)."""
    return np.concatenate([blocks[units : 2 * units], blocks[:units], blocks[2 * units :]])


def _transposed(weight: np.ndarray, cell: str, units: int) -> np.ndarray:
    """``weight (G*H, rows)`` as the kernels' ``(rows, G*H)``, C-contiguous, GRU reordered."""
    if cell != "gru":
        return np.ascontiguousarray(weight.T)
    out = np.empty((weight.shape[1], 3 * units), weight.dtype)
    out[:, :units] = weight[units : 2 * units].T
    out[:, units : 2 * units] = weight[:units].T
    out[:, 2 * units :] = weight[2 * units :].T
    return out


def kernel_weights(
    cell: str,
    units: int,
    weight_ih: np.ndarray,
    weight_hh: np.ndarray,
    bias_ih: np.ndarray | None,
    bias_hh: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One layer and direction's torch weights in the kernels' layout (new arrays).

    Parameters
    ----------
    cell : {"simple_rnn", "lstm", "gru"}
    units : int
        H, torch's ``hidden_size``.
    weight_ih : ndarray of shape (G*H, features)
    weight_hh : ndarray of shape (G*H, H)
    bias_ih, bias_hh : ndarray of shape (G*H,), or None (``bias=False``)

    Returns
    -------
    kernel : ndarray of shape (features, G*H)
    recurrent_kernel : ndarray of shape (H, G*H)
    bias : ndarray of shape (G*H,), or (2, 3H) for GRU
        SimpleRNN and LSTM: ``bias_ih + bias_hh``; GRU: the two reordered
        biases as rows (``reset_after=True``). Zeros without biases.
    """
    kernel = _transposed(weight_ih, cell, units)
    recurrent = _transposed(weight_hh, cell, units)
    width = weight_ih.shape[0]
    dtype = weight_ih.dtype
    if cell == "gru":
        if bias_ih is None:
            bias = np.zeros((2, width), dtype)
        else:
            bias = np.stack([_swap_rows(bias_ih, units), _swap_rows(bias_hh, units)])
    elif bias_ih is None:
        bias = np.zeros(width, dtype)
    else:
        bias = bias_ih + bias_hh
    return kernel, recurrent, bias


def torch_gradients(
    cell: str, units: int, d_weights: Sequence[np.ndarray], bias: bool
) -> list[np.ndarray]:
    """The kernels' weight gradients as those of torch's parameters.

    Parameters
    ----------
    cell : {"simple_rnn", "lstm", "gru"}
    units : int
    d_weights : (d_kernel, d_recurrent_kernel, d_bias)
        Shapes of :func:`kernel_weights`'s results.
    bias : bool
        Whether the module has biases (else only two gradients).

    Returns
    -------
    list of ndarray
        ``[d_weight_ih (G*H, features), d_weight_hh (G*H, H)]`` and, with
        ``bias``, ``d_bias_ih, d_bias_hh`` (G*H,), C-contiguous new arrays
        (so torch keeps them as the parameters' ``.grad`` without another
        copy). SimpleRNN and LSTM sum the two biases, so both get the bias
        gradient.
    """
    d_kernel, d_recurrent, d_bias = d_weights
    if cell == "gru":
        grads = [_swap_rows(d_kernel.T, units), _swap_rows(d_recurrent.T, units)]
        if bias:
            grads += [_swap_rows(d_bias[0], units), _swap_rows(d_bias[1], units)]
        return grads
    grads = [np.ascontiguousarray(d_kernel.T), np.ascontiguousarray(d_recurrent.T)]
    if bias:
        grads += [d_bias, d_bias.copy()]
    return grads


# ----------------------------------------------------------------- layouts
class Layout:
    """How the caller's arrays map to the kernels' batch-major ones.

    Attributes
    ----------
    batch, timesteps : int
    mask : ndarray of bool, shape (batch, timesteps), or None
        The valid steps (packed sequences); None: every step.
    """

    batch: int
    timesteps: int
    mask: np.ndarray | None = None

    def input(self, x: np.ndarray) -> np.ndarray:
        """The caller's input as the kernels' (B, T, F) (a view where it can be)."""
        raise NotImplementedError

    def output(self, outputs: Sequence[np.ndarray]) -> np.ndarray:
        """The caller's output from each direction's (B, T, H) processing-order outputs."""
        raise NotImplementedError

    def d_outputs(self, d_output: np.ndarray, directions: int) -> list[np.ndarray]:
        """The gradient of the caller's output as each of ``directions``'
        (B, T, H) output gradients, in processing order."""
        raise NotImplementedError

    def d_input(self, dx: np.ndarray) -> np.ndarray:
        """The kernels' (B, T, F) input gradient in the caller's layout."""
        raise NotImplementedError

    def noise(self, noise: np.ndarray) -> np.ndarray:
        """torch's dropout noise of a layer's output as (B, T, K), batch-major.

        torch runs the layers of an unpacked input time-major whatever
        ``batch_first`` says, so it draws the noise as (T, B, K): this is
        its transpose (a view). :class:`Packed` overrides it.
        """
        return noise.transpose(1, 0, 2)


class BatchFirst(Layout):
    """``(B, T, F)`` arrays: the kernels' own layout (also between layers)."""

    def __init__(self, batch: int, timesteps: int, mask: np.ndarray | None = None) -> None:
        self.batch, self.timesteps, self.mask = batch, timesteps, mask

    def input(self, x):
        return x

    def output(self, outputs):
        if len(outputs) == 1:
            return outputs[0]
        forward, backward = outputs
        units = forward.shape[2]
        y = np.empty((self.batch, self.timesteps, 2 * units), forward.dtype)
        y[..., :units] = forward
        y[..., units:] = backward[:, ::-1]
        return y

    def d_outputs(self, d_output, directions):
        if directions == 1:
            return [d_output]
        units = d_output.shape[2] // 2
        return [d_output[..., :units], d_output[:, ::-1, units:]]

    def d_input(self, dx):
        return dx


class TimeMajor(Layout):
    """``(T, B, F)`` arrays, torch's default (``batch_first=False``)."""

    def __init__(self, batch: int, timesteps: int) -> None:
        self.batch, self.timesteps = batch, timesteps

    def input(self, x):
        return np.ascontiguousarray(x.transpose(1, 0, 2))

    def output(self, outputs):
        units = outputs[0].shape[2]
        y = np.empty((self.timesteps, self.batch, len(outputs) * units), outputs[0].dtype)
        y[..., :units] = outputs[0].transpose(1, 0, 2)
        if len(outputs) == 2:
            y[..., units:] = outputs[1][:, ::-1].transpose(1, 0, 2)
        return y

    def d_outputs(self, d_output, directions):
        if directions == 1:
            return [d_output.transpose(1, 0, 2)]
        units = d_output.shape[2] // 2
        return [
            d_output[..., :units].transpose(1, 0, 2),
            d_output[::-1, :, units:].transpose(1, 0, 2),
        ]

    def d_input(self, dx):
        return dx.transpose(1, 0, 2)


class Packed(Layout):
    """The ``(N, F)`` rows of a ``PackedSequence``, in its sorted batch order.

    Row ``offset[t] + b`` of the packed data is sequence ``b`` (sorted) at
    step ``t``; the kernels see a post-padded ``(B, T, F)`` batch with the
    lengths as the mask. The forward direction's step ``t`` is position
    ``t``; the reverse direction's processing step ``T - 1 - t`` is (see
    :func:`packed_layout`).

    Attributes
    ----------
    rows : ndarray of int, shape (N,)
        For each packed row, its flat index ``b * T + t`` in the padded batch.
    reverse_rows : ndarray of int, shape (N,)
        The same in the reverse direction's processing order: ``b * T + T - 1 - t``.
    lengths : ndarray of int, shape (B,)
    """

    def __init__(self, batch_sizes: np.ndarray) -> None:
        sizes = np.asarray(batch_sizes, dtype=np.int64)
        timesteps = len(sizes)
        batch = int(sizes[0]) if timesteps else 0
        self.batch, self.timesteps = batch, timesteps
        rows = int(sizes.sum())
        offsets = np.cumsum(sizes) - sizes
        t = np.repeat(np.arange(timesteps), sizes)
        b = np.arange(rows) - np.repeat(offsets, sizes)
        self.rows = b * timesteps + t
        self.reverse_rows = b * timesteps + (timesteps - 1 - t)
        self.lengths = (sizes[None, :] > np.arange(batch)[:, None]).sum(axis=1)
        # shared by every call of these batch sizes; writable like the arrays
        # callers pass, so that Numba compiles one version of its kernels
        self.mask = np.arange(timesteps)[None, :] < self.lengths[:, None]
        self.size = rows

    def _scatter(self, rows, values, width):
        out = np.zeros((self.batch * self.timesteps, width), values.dtype)
        out[rows] = values
        return out.reshape(self.batch, self.timesteps, width)

    def input(self, x):
        return self._scatter(self.rows, x, x.shape[1])

    def output(self, outputs):
        units = outputs[0].shape[2]
        flat = [o.reshape(-1, units) for o in outputs]
        if len(outputs) == 1:
            return flat[0][self.rows]
        y = np.empty((self.size, 2 * units), outputs[0].dtype)
        y[:, :units] = flat[0][self.rows]
        y[:, units:] = flat[1][self.reverse_rows]
        return y

    def d_outputs(self, d_output, directions):
        units = d_output.shape[1] // directions
        grads = [self._scatter(self.rows, d_output[:, :units], units)]
        if directions == 2:
            grads.append(self._scatter(self.reverse_rows, d_output[:, units:], units))
        return grads

    def d_input(self, dx):
        return dx.reshape(-1, dx.shape[2])[self.rows]

    def noise(self, noise):
        return self._scatter(self.rows, noise, noise.shape[1])


_packed_cache: dict[bytes, Packed] = {}
_packed_lock = threading.Lock()
#: Packed layouts kept (the batch_sizes of recent calls; a few per data set).
PACKED_CACHE_SIZE = 64


def packed_layout(batch_sizes: np.ndarray) -> Packed:
    """The :class:`Packed` layout of ``batch_sizes`` (int64, (T,)), kept for reuse."""
    key = np.ascontiguousarray(batch_sizes, dtype=np.int64).tobytes()
    layout = _packed_cache.get(key)
    if layout is None:
        layout = Packed(batch_sizes)
        with _packed_lock:
            if len(_packed_cache) >= PACKED_CACHE_SIZE:
                _packed_cache.pop(next(iter(_packed_cache)))
            _packed_cache[key] = layout
    return layout


# ------------------------------------------------------------------- a run
class StackRun:
    """One call of a stacked module: the forward over every layer and
    direction, and (after :meth:`forward` with ``record=True``) its backward.

    Parameters
    ----------
    cell : {"simple_rnn", "lstm", "gru"}
    layers, directions, units : int
    plans : list of ForwardPlan
        One per layer and direction, ``layer * directions + direction``
        (torch's order of ``h_n``); the reverse direction's with
        ``go_backwards``, and with ``zero_output_for_mask`` under a mask.
    weights : list of (kernel, recurrent_kernel, bias)
        In the kernels' layout (:func:`kernel_weights`), in the plans' order.
    layout : Layout
        The caller's layout of the input and output.
    noise : list of ndarray of shape (B, T, directions*H), or None
        The dropout noise multiplying the output of each layer but the last
        (batch-major, :meth:`Layout.noise`); None: no dropout.
    """

    def __init__(self, cell, layers, directions, units, plans, weights, layout, noise=None):
        self.cell, self.layers, self.directions, self.units = cell, layers, directions, units
        self.plans, self.weights, self.layout, self.noise = plans, weights, layout, noise
        self.records: list[ops.ForwardRecord] = []
        self._with_c = cell == "lstm"
        # between the layers: batch-major, under the caller's mask
        self._inner = BatchFirst(layout.batch, layout.timesteps, layout.mask)

    def forward(
        self,
        x: np.ndarray,
        h0: np.ndarray | None,
        c0: np.ndarray | None,
        record: bool,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Run every layer and direction.

        Parameters
        ----------
        x : ndarray
            The input in the caller's layout (``layout.input`` takes it).
        h0, c0 : ndarray of shape (layers*directions, B, H), or None (zeros)
            ``c0`` for LSTM only.
        record : bool
            Keep what :meth:`backward` needs.

        Returns
        -------
        output : ndarray
            The last layer's output in the caller's layout, directions
            concatenated (forward first).
        h_n, c_n : ndarray of shape (layers*directions, B, H)
            The final states (``c_n`` None except for LSTM), new arrays.
        """
        batch, units, directions = self.layout.batch, self.units, self.directions
        count = self.layers * directions
        dtype = self.plans[0].dtype
        h_n = np.empty((count, batch, units), dtype)
        c_n = np.empty((count, batch, units), dtype) if self._with_c else None
        mask = self.layout.mask
        inputs = np.ascontiguousarray(self.layout.input(x), dtype)
        if h0 is not None:
            h0 = np.ascontiguousarray(h0, dtype)
            c0 = None if c0 is None else np.ascontiguousarray(c0, dtype)
        output = inputs
        for layer in range(self.layers):
            outputs = []
            for direction in range(directions):
                index = layer * directions + direction
                plan = self.plans[index]
                states = None
                if h0 is not None:
                    states = [h0[index], c0[index]] if self._with_c else [h0[index]]
                weights = self.weights[index]
                if record:
                    rec = plan.record(inputs, mask, states, weights)
                    self.records.append(rec)
                    out, finals = rec.outputs, rec.final_states
                else:
                    # The arrays are as the kernels take them (made so above;
                    # kernel_weights makes C-contiguous arrays of the
                    # parameters' dtype): only the weights' shapes are left
                    # to check, which a kernel trusts.
                    plan.check_weights(weights)
                    out, finals = plan(inputs, states, weights, mask)
                outputs.append(out)
                h_n[index] = finals[0]
                if self._with_c:
                    c_n[index] = finals[1]
            if layer == self.layers - 1:
                output = self.layout.output(outputs)
            else:
                inputs = self._inner.output(outputs)
                if self.noise is not None:
                    inputs = inputs * self.noise[layer]
        return output, h_n, c_n

    def backward(
        self,
        d_output: np.ndarray | None,
        d_h_n: np.ndarray | None,
        d_c_n: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, list[list[np.ndarray]]]:
        """Backpropagate through the recorded forward.

        Parameters
        ----------
        d_output : ndarray shaped like the forward's output, or None (zeros)
        d_h_n, d_c_n : ndarray of shape (layers*directions, B, H), or None (zeros)

        Returns
        -------
        dx : ndarray
            The input gradient in the caller's layout.
        d_h0, d_c0 : ndarray of shape (layers*directions, B, H)
            ``d_c0`` None except for LSTM.
        d_weights : list of (d_kernel, d_recurrent_kernel, d_bias)
            In the kernels' layout, one per layer and direction.
        """
        batch, units, directions = self.layout.batch, self.units, self.directions
        count = self.layers * directions
        dtype = self.plans[0].dtype
        d_h0 = np.empty((count, batch, units), dtype)
        d_c0 = np.empty((count, batch, units), dtype) if self._with_c else None
        d_weights: list = [None] * count
        d_layer = None if d_output is None else self.layout.d_outputs(d_output, directions)
        dx = None
        for layer in range(self.layers - 1, -1, -1):
            dx = None
            for direction in range(directions):
                index = layer * directions + direction
                finals = [None if d_h_n is None else d_h_n[index]]
                if self._with_c:
                    finals.append(None if d_c_n is None else d_c_n[index])
                d_out = None if d_layer is None else d_layer[direction]
                dx_part, d_init, d_w = ops.recurrent_backward(self.records[index], d_out, finals)
                if dx is None:
                    dx = dx_part
                else:
                    dx += dx_part
                d_h0[index] = d_init[0]
                if self._with_c:
                    d_c0[index] = d_init[1]
                d_weights[index] = d_w
            if layer > 0:
                if self.noise is not None:
                    dx *= self.noise[layer - 1]
                d_layer = self._inner.d_outputs(dx, directions)
        return self.layout.d_input(dx), d_h0, d_c0, d_weights
