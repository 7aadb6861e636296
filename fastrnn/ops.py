"""The kernel contract's one caller: plans, buffers and argument order.

Every backend implements the six kernels of :mod:`fastrnn.reference`
(``<cell>_forward`` and ``<cell>_backward`` for each cell). This module is
the only code that knows their positional arguments and the arrays they
fill; the layers hand it checked arrays in Keras's layout and get outputs
back. Nothing here is math: the math is in the kernels.

The arguments of every kernel follow one pattern, spelled out per cell by
a :class:`CellSpec`::

    <cell>_forward(x, mask, dropout_mask, recurrent_dropout_mask, *initial_states,
                   kernel, recurrent_kernel, bias, *options, outputs, h_states,
                   *buffers)
    <cell>_backward(x, mask, dropout_mask, recurrent_dropout_mask, kernel,
                    recurrent_kernel, *options, h_states, *buffers, d_outputs,
                    *d_final_states, dx, *d_initial_states, d_kernel,
                    d_recurrent_kernel, d_bias)

where ``options`` are the :class:`KernelOptions` fields the cell takes, in
the spec's order, and ``buffers`` the arrays its forward records for the
backward (LSTM: ``c_states, gates``; GRU: ``gates, recurrent_candidate``).

The dropout masks are the same for every cell: ``dropout_mask`` (M, batch,
features) multiplies the input of every step, one mask for all of the
kernel's columns (M = 1) or one per gate block (M = G); and
``recurrent_dropout_mask`` (R, batch, units) the previous state in gate k's
recurrent product (R = G). M = 0 and R = 0 (empty arrays, what every call
without ``training`` passes: :attr:`ForwardPlan.no_dropout`) run the kernels
exactly as they run without dropout. A :class:`ForwardRecord` keeps the
masks for the backward, which takes the same ones
(:func:`check_dropout_masks` says which shapes are valid).

A :class:`ForwardPlan` holds what a call of one cell, backend, dtype, input
shape and set of options needs besides the values: the resolved kernel, a
read-only all-True mask and zero states, the option values, and reusable
scratch arrays. A layer keeps the plan of its last input shape and calls it
again and again; :func:`recurrent_forward` makes one for a single call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import NamedTuple

import numpy as np

from . import activations, backends

__all__ = [
    "CELLS",
    "CellSpec",
    "ForwardPlan",
    "ForwardRecord",
    "KernelOptions",
    "check_dropout_masks",
    "recurrent_backward",
    "recurrent_forward",
]


class KernelOptions(NamedTuple):
    """The options a recurrent kernel takes (each cell takes some of them).

    Attributes
    ----------
    activation, recurrent_activation : int
        Activation codes (:mod:`fastrnn.activations`).
    reset_after : bool
        GRU only: apply the reset gate after the recurrent product.
    go_backwards : bool
        Step ``s`` reads input position ``T - 1 - s``.
    zero_output_for_mask : bool
        Masked steps output zeros instead of the previous output.
    """

    activation: int = activations.TANH
    recurrent_activation: int = activations.SIGMOID
    reset_after: bool = True
    go_backwards: bool = False
    zero_output_for_mask: bool = False


#: How each shape kind of a recorded buffer is sized (see ``CellSpec.buffers``).
_BUFFER_SHAPES = {
    # a sequence of states, in processing order, the initial one first
    "states": lambda batch, timesteps, units, gates: (timesteps + 1, batch, units),
    # post-activation gates of each step
    "gates": lambda batch, timesteps, units, gates: (timesteps, batch, gates * units),
    # one (batch, units) array per step
    "steps": lambda batch, timesteps, units, gates: (timesteps, batch, units),
}


@dataclass(frozen=True)
class CellSpec:
    """What distinguishes one cell to the code that calls its kernels.

    Attributes
    ----------
    name : str
        The kernels are ``<name>_forward`` and ``<name>_backward``.
    gates : int
        G: column blocks of ``kernel`` (features, G*units).
    state_names : tuple of str
        The states a call starts from and ends with: ``("h",)`` or ``("h", "c")``.
    options : tuple of str
        The :class:`KernelOptions` fields the kernels take, in their order.
    buffers : tuple of (str, str)
        The arrays the forward fills for the backward after ``outputs`` and
        ``h_states``, in argument order: (the :class:`ForwardRecord` attribute,
        the shape kind: "states" (T+1, B, H), "gates" (T, B, G*H) or "steps"
        (T, B, H)).
    """

    name: str
    gates: int
    state_names: tuple[str, ...]
    options: tuple[str, ...]
    buffers: tuple[tuple[str, str], ...] = ()

    def option_values(self, options: KernelOptions) -> tuple:
        """The values of ``options`` this cell's kernels take, in their order."""
        return tuple(getattr(options, name) for name in self.options)


CELLS: dict[str, CellSpec] = {
    "simple_rnn": CellSpec(
        "simple_rnn", 1, ("h",), ("activation", "go_backwards", "zero_output_for_mask")
    ),
    "lstm": CellSpec(
        "lstm",
        4,
        ("h", "c"),
        ("activation", "recurrent_activation", "go_backwards", "zero_output_for_mask"),
        (("c_states", "states"), ("gates", "gates")),
    ),
    "gru": CellSpec(
        "gru",
        3,
        ("h",),
        (
            "activation",
            "recurrent_activation",
            "reset_after",
            "go_backwards",
            "zero_output_for_mask",
        ),
        (("gates", "gates"), ("recurrent_candidate", "steps")),
    ),
}


class ForwardRecord:
    """Everything a forward pass produced, kept for the backward pass.

    Attributes
    ----------
    backend : module
        The kernel module that ran the forward (and runs the backward).
    cell : str
    x : ndarray of shape (batch, timesteps, features)
    mask : ndarray of bool, shape (batch, timesteps)
    dropout_mask : ndarray of shape (M, batch, features)
    recurrent_dropout_mask : ndarray of shape (R, batch, units)
        The dropout masks the forward ran with (M = R = 0: none).
    weights : tuple of ndarray
        ``(kernel, recurrent_kernel, bias)`` as the kernel saw them.
    options : KernelOptions
    outputs : ndarray of shape (batch, timesteps, units)
        Output of each processed step (processing order).
    h_states, c_states : ndarray of shape (timesteps + 1, batch, units)
        States in processing order; ``c_states`` is None except for LSTM.
    gates : ndarray of shape (timesteps, batch, G * units) or None
    recurrent_candidate : ndarray of shape (timesteps, batch, units) or None
    """

    __slots__ = (
        "backend",
        "cell",
        "x",
        "mask",
        "dropout_mask",
        "recurrent_dropout_mask",
        "weights",
        "options",
        "outputs",
        "h_states",
        "c_states",
        "gates",
        "recurrent_candidate",
    )

    def __init__(
        self,
        backend: ModuleType,
        cell: str,
        x: np.ndarray,
        mask: np.ndarray,
        weights: tuple[np.ndarray, ...],
        options: KernelOptions,
        outputs: np.ndarray,
        h_states: np.ndarray,
        buffers: Sequence[np.ndarray] = (),
        dropout_masks: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self.backend, self.cell, self.x, self.mask = backend, cell, x, mask
        if dropout_masks is None:
            batch, _, features = x.shape
            units = h_states.shape[2]
            dropout_masks = _no_dropout(batch, features, units, x.dtype)
        self.dropout_mask, self.recurrent_dropout_mask = dropout_masks
        self.weights, self.options = weights, options
        self.outputs, self.h_states = outputs, h_states
        self.c_states = self.gates = self.recurrent_candidate = None
        for (name, _), array in zip(CELLS[cell].buffers, buffers):
            setattr(self, name, array)

    @property
    def buffers(self) -> tuple[np.ndarray, ...]:
        """The recorded buffers in the kernels' argument order."""
        return tuple(getattr(self, name) for name, _ in CELLS[self.cell].buffers)

    @property
    def final_states(self) -> list[np.ndarray]:
        """The states after the last step: ``[h]`` or ``[h, c]``."""
        if self.c_states is None:
            return [self.h_states[-1]]
        return [self.h_states[-1], self.c_states[-1]]


_WEIGHT_NAMES = ("kernel", "recurrent_kernel", "bias")


def _no_dropout(batch: int, features: int, units: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """The dropout masks of a call without dropout: (0, B, D) and (0, B, H)."""
    return np.empty((0, batch, features), dtype), np.empty((0, batch, units), dtype)


def check_dropout_masks(
    cell: str,
    dropout_mask: np.ndarray,
    recurrent_dropout_mask: np.ndarray,
    batch: int,
    features: int,
    units: int,
) -> None:
    """Raise unless the masks have shapes the kernels of ``cell`` take.

    ``dropout_mask`` (M, batch, features) with M = 0, 1 or G (the cell's gate
    count); ``recurrent_dropout_mask`` (R, batch, units) with R = 0 or G.

    Raises
    ------
    ValueError
        Naming the mask, the shapes it may have and the shape given.
    """
    gates = CELLS[cell].gates
    counts = sorted({0, 1, gates})
    for name, array, allowed, size in (
        ("dropout_mask", dropout_mask, counts, features),
        ("recurrent_dropout_mask", recurrent_dropout_mask, sorted({0, gates}), units),
    ):
        shape = getattr(array, "shape", None)
        shapes = [(n, batch, size) for n in allowed]
        if shape not in shapes:
            expected = " or ".join(str(valid) for valid in shapes)
            raise ValueError(f"{cell} `{name}` must have shape {expected}; got {shape}")


def _contiguous(array: np.ndarray, dtype) -> np.ndarray:
    if array.dtype == dtype and array.flags.c_contiguous:
        return array
    return np.ascontiguousarray(array, dtype=dtype)


class ForwardPlan:
    """A forward kernel call of one cell, backend, dtype, input shape and options.

    Nothing in a plan depends on weight or input values: the weights are
    passed at every call, so in-place updates take effect at the next one.
    A plan stays valid while the backend registry's :func:`fastrnn.backends.generation`
    is the one it was made at (``set_backend`` bumps it); :meth:`fits` checks
    that together with the input.

    Parameters
    ----------
    cell : {"simple_rnn", "lstm", "gru"}
    shape : tuple of int
        (batch, timesteps, features) of the inputs.
    dtype : dtype
        float32 or float64.
    units : int
    options : KernelOptions
    backend : str, module or None
        A backend name, None for the default (:func:`fastrnn.get_backend`), or a
        kernel module (``fastrnn.backends.resolve_backend(name)``). For
        ``"auto"``, :mod:`fastrnn.planner` picks the module at first use, once
        for calls and once for :meth:`record` (training).
    input_shape : tuple of int, optional
        The shape callers pass ``x`` in, when it is not ``shape`` (e.g.
        ``(batch, features)`` for one step of ``(batch, 1, features)``).
    """

    __slots__ = (
        "spec",
        "module",
        "generation",
        "shape",
        "input_shape",
        "dtype",
        "units",
        "options",
        "option_values",
        "kernel",
        "mask",
        "zero_states",
        "no_dropout",
        "_c_states",
        "_shapes",
        "_workspace",
        "_train_module",
        "weight_shapes",
    )

    def __init__(
        self,
        cell: str,
        shape: Sequence[int],
        dtype: np.dtype | str | type,
        units: int,
        options: KernelOptions,
        backend: str | ModuleType | None = None,
        input_shape: Sequence[int] | None = None,
    ) -> None:
        self.spec = spec = CELLS[cell]
        self.generation = backends.generation()
        self.shape = tuple(int(n) for n in shape)
        # "auto" leaves the module to fastrnn.planner, per mode, at first use.
        self.module: ModuleType | None = None
        self._train_module: ModuleType | None = None
        if isinstance(backend, ModuleType):
            self.module = self._train_module = backend
        elif (backends.get_backend() if backend is None else backend) != "auto":
            self.module = self._train_module = backends.resolve_backend(backend)
        self.input_shape = self.shape if input_shape is None else tuple(input_shape)
        self.dtype = np.dtype(dtype)
        self.units = units = int(units)
        self.options = options
        self.option_values = spec.option_values(options)
        width = spec.gates * units
        #: (kernel, recurrent_kernel, bias) shapes, in the kernels' layout.
        self.weight_shapes = (
            (self.shape[2], width),
            (units, width),
            (2, width) if cell == "gru" else (width,),
        )
        self.kernel = None if self.module is None else getattr(self.module, f"{cell}_forward")
        batch, timesteps, _ = self.shape
        # Never written by the kernels (they are inputs). Writable arrays, so
        # that Numba compiles one version for these and for callers' arrays.
        self.mask = np.ones((batch, timesteps), dtype=bool)
        zeros = np.zeros((batch, units), self.dtype)
        self.zero_states = [zeros] * len(spec.state_names)
        #: The dropout masks of a call without dropout (M = R = 0).
        self.no_dropout = _no_dropout(batch, self.shape[2], units, self.dtype)
        self._shapes = [
            (name, kind, _BUFFER_SHAPES[kind](batch, timesteps, units, spec.gates))
            for name, kind in spec.buffers
        ]
        names = [name for name, _ in spec.buffers]
        self._c_states = names.index("c_states") if "c_states" in names else None
        # Scratch arrays of earlier calls that nobody holds afterwards; a call
        # takes a dict out and puts it back, so concurrent calls never share one
        # (they make their own when the list is empty).
        self._workspace: list[dict[str, np.ndarray]] = []

    def fits(self, x: object) -> bool:
        """Whether ``x`` is an input the plan runs as it is, and the plan is current."""
        return (
            type(x) is np.ndarray
            and x.shape == self.input_shape
            and x.dtype == self.dtype
            and x.flags.c_contiguous
            and self.generation == backends.generation()
        )

    def valid_for(self, shape: tuple[int, ...]) -> bool:
        """Whether the plan is current and made for inputs of ``shape``."""
        return shape == self.input_shape and self.generation == backends.generation()

    def __call__(
        self,
        x: np.ndarray,
        states: Sequence[np.ndarray] | None,
        weights: Sequence[np.ndarray],
        mask: np.ndarray | None = None,
        final_states: bool = True,
    ) -> tuple[np.ndarray, list[np.ndarray] | None]:
        """Run the forward kernel on arrays it takes as they are.

        Parameters
        ----------
        x : ndarray that :meth:`fits`
        states : list of ndarray of shape (batch, units), or None
            The initial states (``[h]`` or ``[h, c]``), C-contiguous, of
            ``plan.dtype``; None: zeros.
        weights : sequence of ndarray
            ``(kernel, recurrent_kernel, bias)`` in the kernels' layout,
            C-contiguous, of ``plan.dtype`` and of :attr:`weight_shapes`. Not
            checked here (the hot path): :meth:`forward` and :meth:`record`
            check them, and the layers validate their weights when they are
            assigned.
        mask : ndarray of bool, shape (batch, timesteps), C-contiguous, or None
        final_states : bool
            Return the final states (else None in their place, and no copies).

        Returns
        -------
        outputs : ndarray of shape (batch, timesteps, units)
        final_states : list of ndarray of shape (batch, units), or None
            ``[h]`` or ``[h, c]`` after the last step. All returned arrays are
            new: the state sequences and gates the kernel fills are scratch,
            reused by the next call.
        """
        try:
            work = self._workspace.pop()
        except IndexError:
            work = {}
        dtype = self.dtype
        batch, timesteps, _ = self.shape
        outputs = np.empty((batch, timesteps, self.units), dtype)
        h_states = work.get("h_states")
        if h_states is None:
            h_states = work["h_states"] = np.empty((timesteps + 1, batch, self.units), dtype)
        buffers = []
        for name, _, shape in self._shapes:
            array = work.get(name)
            if array is None:
                array = work[name] = np.empty(shape, dtype)
            buffers.append(array)
        if self.input_shape is not self.shape:
            x = x.reshape(self.shape)
        if self.kernel is None:
            self._plan_auto("forward")
        self.kernel(
            x,
            self.mask if mask is None else mask,
            *self.no_dropout,
            *(self.zero_states if states is None else states),
            *weights,
            *self.option_values,
            outputs,
            h_states,
            *buffers,
        )
        # Copied out before the scratch goes back: another thread's call may
        # take it at once.
        finals: list[np.ndarray] | None = None
        if final_states:
            finals = [h_states[-1].copy()]
            if self._c_states is not None:
                finals.append(buffers[self._c_states][-1].copy())
        if not self._workspace:  # keep one call's scratch, not one per concurrent call
            self._workspace.append(work)
        return outputs, finals

    def check_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Raise unless ``weights`` are (kernel, recurrent_kernel, bias) of
        :attr:`weight_shapes`: a kernel trusts their sizes, and reads past the
        end of smaller ones.

        Raises
        ------
        ValueError
            Naming the weight, the shape expected and the shape given.
        """
        if len(weights) != 3:
            raise ValueError(
                f"`weights` must be (kernel, recurrent_kernel, bias); got {len(weights)} arrays"
            )
        for name, expected, weight in zip(_WEIGHT_NAMES, self.weight_shapes, weights):
            shape = getattr(weight, "shape", None)
            if shape != expected:
                raise ValueError(
                    f"{self.spec.name} weight `{name}` must have shape {expected} "
                    f"(features {self.shape[2]}, units {self.units}); got {shape}"
                )

    def check_inputs(self, x: np.ndarray, mask: np.ndarray | None, shape) -> None:
        """Raise unless ``x`` has ``shape`` and ``mask`` (if any) is (batch, timesteps)."""
        if x.shape != tuple(shape):
            raise ValueError(f"`x` must have shape {tuple(shape)} for this plan; got {x.shape}")
        batch, timesteps, _ = self.shape
        if mask is not None and mask.shape != (batch, timesteps):
            raise ValueError(
                f"`mask` must have shape (batch, timesteps) = ({batch}, {timesteps}); "
                f"got {mask.shape}"
            )

    def check_states(self, states: Sequence[np.ndarray]) -> None:
        """Raise unless ``states`` are the cell's states, each (batch, units).

        Raises
        ------
        ValueError
            Naming the state, the shape expected and the shape given.
        """
        names = self.spec.state_names
        if len(states) != len(names):
            raise ValueError(
                f"{self.spec.name} takes {len(names)} initial state(s) {list(names)}; "
                f"got {len(states)}"
            )
        expected = (self.shape[0], self.units)
        for name, state in zip(names, states):
            if getattr(state, "shape", None) != expected:
                raise ValueError(
                    f"{self.spec.name} initial state `{name}` must have shape (batch, units) "
                    f"= {expected}; got {getattr(state, 'shape', None)}"
                )

    def forward(
        self,
        x: np.ndarray,
        states: Sequence[np.ndarray] | None,
        weights: Sequence[np.ndarray],
        mask: np.ndarray | None = None,
        final_states: bool = True,
    ) -> tuple[np.ndarray, list[np.ndarray] | None]:
        """:meth:`__call__` on any arrays of the right shapes (made C-contiguous
        arrays of ``plan.dtype`` first; the weights' shapes checked,
        :meth:`check_weights`)."""
        x, mask, states, weights = self._checked(x, mask, states, weights, self.input_shape)
        return self(x, states, weights, mask, final_states)

    def _checked(self, x, mask, states, weights, x_shape):
        """The arrays made C-contiguous (``plan.dtype``; the mask bool), then
        checked against the plan (:meth:`check_inputs`, :meth:`check_states`,
        :meth:`check_weights`); ``states`` may be None."""
        dtype = self.dtype
        x = _contiguous(np.asarray(x), dtype)
        mask = None if mask is None else _contiguous(np.asarray(mask), np.bool_)
        self.check_inputs(x, mask, x_shape)
        if states is not None:
            states = [_contiguous(np.asarray(s), dtype) for s in states]
            self.check_states(states)
        weights = tuple(_contiguous(np.asarray(w), dtype) for w in weights)
        self.check_weights(weights)
        return x, mask, states, weights

    def record(
        self,
        x: np.ndarray,
        mask: np.ndarray | None,
        states: Sequence[np.ndarray] | None,
        weights: Sequence[np.ndarray],
        dropout_masks: Sequence[np.ndarray] | None = None,
    ) -> ForwardRecord:
        """Run the forward kernel and keep what the backward needs (new arrays).

        Parameters
        ----------
        x : ndarray of shape ``plan.shape``
        mask : ndarray of bool, shape (batch, timesteps), or None
        states : list of ndarray of shape (batch, units), or None (zeros)
        weights : sequence of ndarray
            ``(kernel, recurrent_kernel, bias)`` in the kernels' layout, of
            :attr:`weight_shapes` (checked: :meth:`check_weights`).
        dropout_masks : (ndarray, ndarray), optional
            ``(dropout_mask, recurrent_dropout_mask)``, of shapes (M, batch,
            features) and (R, batch, units) (checked:
            :func:`check_dropout_masks`); None: no dropout.

        Returns
        -------
        ForwardRecord
        """
        dtype = self.dtype
        batch, timesteps, features = self.shape
        x, mask, states, weights = self._checked(x, mask, states, weights, self.shape)
        if dropout_masks is None:
            dropout_masks = self.no_dropout
        else:
            dropout_masks = tuple(_contiguous(np.asarray(m), dtype) for m in dropout_masks)
            if len(dropout_masks) != 2:
                raise ValueError(
                    "`dropout_masks` must be (dropout_mask, recurrent_dropout_mask); "
                    f"got {len(dropout_masks)} arrays"
                )
            check_dropout_masks(self.spec.name, *dropout_masks, batch, features, self.units)
        if mask is None:
            mask = self.mask
        if states is None:
            states = self.zero_states
        outputs = np.empty((batch, timesteps, self.units), dtype)
        h_states = np.empty((timesteps + 1, batch, self.units), dtype)
        buffers = [np.empty(shape, dtype) for _, _, shape in self._shapes]
        module = self._train_module
        if module is None:
            module = self._plan_auto("train")
        kernel = getattr(module, f"{self.spec.name}_forward")
        kernel(
            x,
            mask,
            *dropout_masks,
            *states,
            *weights,
            *self.option_values,
            outputs,
            h_states,
            *buffers,
        )
        return ForwardRecord(
            module,
            self.spec.name,
            x,
            mask,
            weights,
            self.options,
            outputs,
            h_states,
            buffers,
            dropout_masks,
        )

    def _plan_auto(self, mode: str) -> ModuleType:
        """Let :mod:`fastrnn.planner` pick the module of ``mode`` ("forward" for
        calls, "train" for :meth:`record` and its backward)."""
        from . import planner

        module = planner.choose(
            self.spec.name, mode, self.shape, self.dtype, self.units, self.options
        )
        if mode == "forward":
            self.module = module
            self.kernel = getattr(module, f"{self.spec.name}_forward")
        else:
            self._train_module = module
        return module


def recurrent_forward(
    backend: ModuleType | str | None,
    cell: str,
    x: np.ndarray,
    mask: np.ndarray | None,
    initial_states: Sequence[np.ndarray],
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray,
    *,
    activation: int,
    recurrent_activation: int = activations.SIGMOID,
    reset_after: bool = True,
    go_backwards: bool = False,
    zero_output_for_mask: bool = False,
    dropout_mask: np.ndarray | None = None,
    recurrent_dropout_mask: np.ndarray | None = None,
) -> ForwardRecord:
    """Run one recurrent layer's forward kernel and record it for the backward.

    Parameters
    ----------
    backend : module, str or None
        A kernel module (``fastrnn.backends.resolve_backend(name)``), a backend
        name, or None for the default.
    cell : {"simple_rnn", "lstm", "gru"}
    x : ndarray of shape (batch, timesteps, features)
    mask : ndarray of bool, shape (batch, timesteps), or None
    initial_states : list of ndarray of shape (batch, units)
        ``[h0]`` or, for LSTM, ``[h0, c0]``.
    kernel, recurrent_kernel, bias : ndarray
        Keras layout; GRU bias always as (2, 3 * units).
    activation, recurrent_activation : int
        Kernel activation codes.
    reset_after, go_backwards, zero_output_for_mask : bool
        See :class:`KernelOptions`.
    dropout_mask : ndarray of shape (M, batch, features), optional
        M = 1 or G; None: no input dropout (see :func:`check_dropout_masks`).
    recurrent_dropout_mask : ndarray of shape (R, batch, units), optional
        R = G; None: no recurrent dropout.

    Returns
    -------
    ForwardRecord
    """
    options = KernelOptions(
        int(activation),
        int(recurrent_activation),
        bool(reset_after),
        bool(go_backwards),
        bool(zero_output_for_mask),
    )
    # The units from the states (or W_h), so a mismatched weight is the one named.
    states = list(initial_states)
    units = states[0].shape[-1] if states else recurrent_kernel.shape[0]
    plan = ForwardPlan(cell, x.shape, x.dtype, units, options, backend)
    masks = None
    if dropout_mask is not None or recurrent_dropout_mask is not None:
        none = plan.no_dropout
        masks = (
            none[0] if dropout_mask is None else dropout_mask,
            none[1] if recurrent_dropout_mask is None else recurrent_dropout_mask,
        )
    return plan.record(x, mask, states, (kernel, recurrent_kernel, bias), masks)


def recurrent_backward(
    record: ForwardRecord,
    d_outputs: np.ndarray | None,
    d_final_states: Sequence[np.ndarray | None],
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
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
    spec = CELLS[record.cell]
    x = record.x
    dtype = x.dtype
    kernel, recurrent_kernel, bias = record.weights
    outputs = record.outputs
    d_outputs = np.zeros_like(outputs) if d_outputs is None else _contiguous(d_outputs, dtype)
    d_last = [
        np.zeros_like(outputs[:, 0]) if d is None else _contiguous(d, dtype) for d in d_final_states
    ]
    dx = np.empty_like(x)
    d_initial = [np.empty_like(d) for d in d_last]
    d_weights = [np.empty_like(kernel), np.empty_like(recurrent_kernel), np.empty_like(bias)]
    backward = getattr(record.backend, f"{spec.name}_backward")
    backward(
        x,
        record.mask,
        record.dropout_mask,
        record.recurrent_dropout_mask,
        kernel,
        recurrent_kernel,
        *spec.option_values(record.options),
        record.h_states,
        *record.buffers,
        d_outputs,
        *d_last,
        dx,
        *d_initial,
        *d_weights,
    )
    return dx, d_initial, d_weights
