"""``RNN``, ``LSTM`` and ``GRU``: torch.nn's recurrent modules on fastrnn's kernels.

Each class subclasses its ``torch.nn`` namesake, so the constructor,
parameters, initialization, ``state_dict``, ``repr`` and
``isinstance(module, torch.nn.LSTM)`` are torch's own; only ``forward``
differs. It runs the whole stack (every layer and direction) as one
:class:`torch.autograd.Function` whose forward and backward are NumPy calls
of :mod:`fastrnn.ops` (:mod:`fastrnn.torch._stack`), one kernel call per
layer and direction. Without gradients (``torch.no_grad()``, inference
mode, nothing requiring grad) it skips autograd altogether. The weights are
converted to the kernels' layout once and kept until a parameter changes
(:meth:`~_FastRecurrent.flatten_parameters` says which changes are seen).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch
from torch import nn
from torch.autograd.function import once_differentiable
from torch.nn.utils.rnn import PackedSequence

from .. import activations, backends, ops
from . import _stack

__all__ = ["ArgumentError", "GRU", "LSTM", "RNN"]

_DTYPES = (torch.float32, torch.float64)

#: torch's ``mode`` -> (fastrnn cell, activation code).
_MODES = {
    "RNN_TANH": ("simple_rnn", activations.TANH),
    "RNN_RELU": ("simple_rnn", activations.RELU),
    "LSTM": ("lstm", activations.TANH),
    "GRU": ("gru", activations.TANH),
}
#: torch's ``mode`` -> gate blocks G of ``weight_ih (G*hidden_size, features)``.
_GATES = {mode: ops.CELLS[cell].gates for mode, (cell, _) in _MODES.items()}


class ArgumentError(ValueError, RuntimeError):
    """A bad argument to a :mod:`fastrnn.torch` module.

    A ``ValueError``, as every bad input to fastrnn, and a ``RuntimeError``,
    which ``torch.nn`` raises for the same mistakes (wrong ``hx`` or input
    sizes), so ``except`` clauses written for either catch it.
    """


def _check_device(device: Any, owner: str) -> None:
    """Raise unless ``device`` (a constructor argument) is None or the CPU."""
    if device is None:
        return
    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError) as exc:
        raise ArgumentError(f"{owner}: `device` must be 'cpu' or None; got {device!r}") from exc
    if kind != "cpu":
        raise ArgumentError(
            f"{owner} runs fastrnn's CPU kernels: `device` must be 'cpu' or None; got "
            f"device={device!r}. Use {_torch_name(owner)} on other devices"
        )


def _check_dtype(dtype: Any, owner: str) -> None:
    """Raise unless ``dtype`` (a constructor argument, None: torch's default) is float32/64."""
    resolved = torch.get_default_dtype() if dtype is None else dtype
    if resolved not in _DTYPES:
        raise ArgumentError(
            f"{owner} runs in float32 or float64: `dtype` must be torch.float32 or "
            f"torch.float64; got dtype={resolved}. Use {_torch_name(owner)} for other dtypes"
        )


class _FastRecurrent:
    """What :class:`RNN`, :class:`LSTM` and :class:`GRU` add to their torch class.

    It comes first in their bases, so its ``forward`` replaces torch's.
    """

    #: The ``torch.nn`` class this one stands in for.
    torch_class: ClassVar[type[nn.RNNBase]]

    # set by torch.nn.RNNBase.__init__
    mode: str
    input_size: int
    hidden_size: int
    num_layers: int
    bias: bool
    batch_first: bool
    dropout: float
    bidirectional: bool
    proj_size: int
    training: bool
    _flat_weights_names: list[str]

    def _build(self, arguments: dict[str, Any]) -> None:
        """Build the module as ``torch_class`` does from its constructor's
        ``arguments`` (``locals()``), after checking what torch.nn accepts but
        fastrnn cannot run (``device``, ``dtype``, ``proj_size``); then set up
        what fastrnn keeps: the backend setting, the kernel plans and the
        parameters in the kernels' layout."""
        owner = self._owner
        arguments = {name: value for name, value in arguments.items() if name != "self"}
        _check_device(arguments["device"], owner)
        _check_dtype(arguments["dtype"], owner)
        proj_size = arguments.pop("proj_size", 0)
        if proj_size != 0:
            raise ArgumentError(
                f"{owner}: `proj_size` must be 0 (fastrnn's LSTM has no projection); "
                f"got proj_size={proj_size!r}. Use torch.nn.LSTM for projections"
            )
        self.torch_class.__init__(self, **arguments)
        self.__dict__["_fastrnn_backend"] = None
        self.__dict__["_fastrnn_plans"] = {}
        self.__dict__["_fastrnn_weights"] = None
        self.__dict__["_fastrnn_lock"] = threading.Lock()

    @property
    def _owner(self) -> str:
        return f"fastrnn.torch.{type(self).__name__}"

    # -- settings ------------------------------------------------------------
    @property
    def backend(self) -> str | None:
        """The fastrnn backend the module runs on (None: :func:`fastrnn.get_backend`).

        ``"numpy"``, ``"numba"``, ``"cython"`` or ``"auto"``; setting it
        checks the name and drops the module's kernel plans.
        """
        return self.__dict__["_fastrnn_backend"]

    @backend.setter
    def backend(self, value: str | None) -> None:
        self.__dict__["_fastrnn_backend"] = None if value is None else backends.check_name(value)
        self.__dict__["_fastrnn_plans"] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Plans hold kernel modules (not picklable) and scratch arrays, and the
        # converted weights weak references: a copy or an unpickled module
        # makes its own.
        state = super().__getstate__()  # type: ignore[misc]
        state["_fastrnn_plans"] = {}
        state["_fastrnn_weights"] = None
        state.pop("_fastrnn_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)  # type: ignore[misc]
        self.__dict__["_fastrnn_lock"] = threading.Lock()
        self.__dict__.setdefault("_fastrnn_plans", {})
        self.__dict__.setdefault("_fastrnn_weights", None)
        self.__dict__.setdefault("_fastrnn_backend", None)

    # -- conversion ------------------------------------------------------------
    @classmethod
    def from_torch(cls, module: nn.RNNBase) -> _FastRecurrent:
        """The fastrnn twin of a ``torch.nn`` module, sharing its parameters.

        Parameters
        ----------
        module : torch.nn.RNN, LSTM or GRU (``cls.torch_class``)
            On the CPU, float32 or float64, no ``proj_size``.

        Returns
        -------
        RNN, LSTM or GRU of this module
            The same configuration and training mode; its parameters are the
            module's own ``Parameter`` objects (an optimizer made for one
            updates the other). Hooks are not carried over
            (:func:`fastrnn.torch.convert` moves the forward hooks).
        """
        if not isinstance(module, cls.torch_class):
            raise TypeError(
                f"fastrnn.torch.{cls.__name__}.from_torch takes a torch.nn."
                f"{cls.torch_class.__name__}; got {type(module).__name__}"
            )
        owner = f"fastrnn.torch.{cls.__name__}"
        if getattr(module, "proj_size", 0):
            raise ArgumentError(
                f"{owner}: `proj_size` must be 0; the module has proj_size="
                f"{module.proj_size}. Keep torch.nn.LSTM for projections"
            )
        params = [getattr(module, name) for name in module._flat_weights_names]
        _check_parameters(module, params, owner)
        kwargs = dict(
            num_layers=module.num_layers,
            bias=module.bias,
            batch_first=module.batch_first,
            dropout=module.dropout,
            bidirectional=module.bidirectional,
            dtype=params[0].dtype,
        )
        if cls.torch_class is nn.RNN:
            kwargs["nonlinearity"] = module.nonlinearity
        # The twin's own initial weights are replaced at once: drawing them
        # must not move torch's global generator (dropout, data order).
        with torch.random.fork_rng(devices=[]):
            twin = cls(module.input_size, module.hidden_size, **kwargs)
        for name, param in zip(module._flat_weights_names, params):
            setattr(twin, name, param)
        twin.train(module.training)
        return twin

    def to_torch(self) -> nn.RNNBase:
        """The ``torch.nn`` module of this one, sharing its parameters.

        Returns
        -------
        torch.nn.RNN, LSTM or GRU
            The same configuration and training mode, whose parameters are
            this module's ``Parameter`` objects.
        """
        kwargs = dict(
            num_layers=self.num_layers,
            bias=self.bias,
            batch_first=self.batch_first,
            dropout=self.dropout,
            bidirectional=self.bidirectional,
        )
        if self.torch_class is nn.RNN:
            kwargs["nonlinearity"] = self.nonlinearity  # type: ignore[attr-defined]
        params = [getattr(self, name) for name in self._flat_weights_names]
        with torch.random.fork_rng(devices=[]):
            module = self.torch_class(
                self.input_size,
                self.hidden_size,
                device=params[0].device,
                dtype=params[0].dtype,
                **kwargs,
            )
        for name, param in zip(self._flat_weights_names, params):
            setattr(module, name, param)
        module.train(self.training)
        return module

    # -- the call ----------------------------------------------------------------
    # torch.compile runs the module as it is (a graph break), not traced: its
    # work is NumPy calls of compiled kernels, which Dynamo cannot follow.
    @torch.compiler.disable
    def forward(self, input, hx=None):
        """Run the module as its ``torch.nn`` namesake does.

        Parameters
        ----------
        input : Tensor or PackedSequence
            ``(T, B, input_size)``, or ``(B, T, input_size)`` with
            ``batch_first=True``, or unbatched ``(T, input_size)``; or a
            ``PackedSequence`` (any ``enforce_sorted``).
        hx : Tensor or (Tensor, Tensor), optional
            The initial ``h_0`` (LSTM: ``(h_0, c_0)``), each of shape
            ``(num_layers * num_directions, B, hidden_size)`` (unbatched:
            without the B axis); default zeros.

        Returns
        -------
        output : Tensor or PackedSequence
            ``(T, B, D * hidden_size)`` (batch-first: ``(B, T, ...)``), D = 2
            if bidirectional (the directions concatenated, forward first);
            packed like ``input`` when it is packed.
        h_n : Tensor, or (h_n, c_n) for LSTM
            The states after each sequence's last valid step, shaped like ``hx``.
        """
        owner = self._owner
        params = self._parameter_tensors()
        weights = self._kernel_weights(params)
        dtype = weights.dtype
        batch_dim = 0 if self.batch_first else 1
        packed = isinstance(input, PackedSequence)
        unbatched = False
        sorted_indices = unsorted_indices = None
        if packed:
            data, batch_sizes, sorted_indices, unsorted_indices = input
            _check_tensor(data, "input.data", dtype, owner)
            if data.dim() != 2 or data.shape[1] != self.input_size:
                raise ArgumentError(
                    f"{owner}: a PackedSequence's data must have shape (N, input_size) = "
                    f"(N, {self.input_size}); got {tuple(data.shape)}"
                )
            layout = _stack.packed_layout(batch_sizes.numpy())
            x = data
        else:
            _check_tensor(input, "input", dtype, owner)
            if input.dim() not in (2, 3):
                raise ArgumentError(
                    f"{owner}: `input` must be 3-D ({_input_shape(self)}) or unbatched 2-D "
                    f"(T, input_size); got a {input.dim()}-D tensor of shape {tuple(input.shape)}"
                )
            unbatched = input.dim() == 2
            x = input.unsqueeze(batch_dim) if unbatched else input
            if x.shape[2] != self.input_size:
                raise ArgumentError(
                    f"{owner}: `input` must have input_size = {self.input_size} features "
                    f"({_input_shape(self)}); got shape {tuple(input.shape)}"
                )
            if self.batch_first:
                layout = _stack.BatchFirst(x.shape[0], x.shape[1])
            else:
                layout = _stack.TimeMajor(x.shape[1], x.shape[0])
        if layout.timesteps < 1:
            raise ArgumentError(
                f"{owner}: `input` must have at least one time step; got shape {tuple(x.shape)}"
            )
        states = self._initial_states(hx, layout.batch, unbatched, dtype, owner)
        if states is not None and sorted_indices is not None:
            states = tuple(s.index_select(1, sorted_indices) for s in states)
        noise = self._dropout_noise(layout, packed, dtype)
        run = _stack.StackRun(
            _MODES[self.mode][0],
            self.num_layers,
            2 if self.bidirectional else 1,
            self.hidden_size,
            self._plans(layout, weights.numpy_dtype),
            weights.arrays,
            layout,
            noise,
        )
        if torch.is_grad_enabled() and (
            x.requires_grad
            or any(p.requires_grad for p in params)
            or (states is not None and any(s.requires_grad for s in states))
        ):
            h0, c0 = (None, None) if states is None else (states + (None,))[:2]
            results = _StackFunction.apply(run, self.bias, x, h0, c0, *params)
        else:
            results = _run_forward(run, x, states, record=False)
        output, h_n = results[0], results[1:]
        if unsorted_indices is not None:
            h_n = tuple(h.index_select(1, unsorted_indices) for h in h_n)
        if packed:
            output = PackedSequence(output, batch_sizes, sorted_indices, unsorted_indices)
        elif unbatched:
            output = output.squeeze(batch_dim)
            h_n = tuple(h.squeeze(1) for h in h_n)
        return output, (h_n if run.cell == "lstm" else h_n[0])

    def _parameter_tensors(self) -> list[torch.Tensor]:
        """The weights in ``_flat_weights_names`` order, as they are now (also
        under ``torch.func.functional_call``, which swaps them in ``_parameters``)."""
        registered = self._parameters
        try:
            return [registered[name] for name in self._flat_weights_names]
        except KeyError:  # one is no longer a registered parameter (a parametrization)
            return [getattr(self, name) for name in self._flat_weights_names]

    def flatten_parameters(self) -> None:
        """Drop the kernel-layout copy of the weights (and do what torch's does).

        The module converts its parameters to the kernels' layout once and
        converts them again when one of them is replaced or changed in place
        as autograd sees it (its ``_version`` moves: optimizers,
        ``load_state_dict``, in-place ops under ``torch.no_grad()``). Changes
        that bypass the version counter (``param.data.mul_(...)``, writes
        through a NumPy view) take effect after this call.
        """
        self.__dict__["_fastrnn_weights"] = None
        super().flatten_parameters()  # type: ignore[misc]

    def _kernel_weights(self, params: list[torch.Tensor]) -> _KernelWeights:
        """The parameters in the kernels' layout: the kept copy while it is current."""
        kept = self.__dict__.get("_fastrnn_weights")
        if kept is not None and kept.current(params):
            return kept
        _check_parameters(self, params, self._owner)
        cell = _MODES[self.mode][0]
        per = 4 if self.bias else 2
        arrays = [_numpy(p) for p in params]
        converted = []
        for i in range(0, len(arrays), per):
            group = arrays[i : i + per]
            b_ih, b_hh = (group[2], group[3]) if self.bias else (None, None)
            converted.append(
                _stack.kernel_weights(cell, self.hidden_size, group[0], group[1], b_ih, b_hh)
            )
        dtype = params[0].dtype
        kept = _KernelWeights(
            tuple(weakref.ref(p) for p in params),
            _stamps(params),
            dtype,
            np.float32 if dtype == torch.float32 else np.float64,
            converted,
        )
        self.__dict__["_fastrnn_weights"] = kept
        return kept

    def _initial_states(self, hx, batch, unbatched, dtype, owner):
        """``hx`` as a tuple of (layers*directions, B, H) tensors, checked; or None."""
        if hx is None:
            return None
        lstm = self.mode == "LSTM"
        if lstm:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ArgumentError(
                    f"{owner}: `hx` must be a tuple (h_0, c_0) of two tensors; got "
                    f"{type(hx).__name__}"
                    + (f" of length {len(hx)}" if isinstance(hx, (tuple, list)) else "")
                )
            names = ("hx[0] (h_0)", "hx[1] (c_0)")
            given = tuple(hx)
        else:
            names = ("hx (h_0)",)
            given = (hx,)
        count = self.num_layers * (2 if self.bidirectional else 1)
        expected = (count, self.hidden_size) if unbatched else (count, batch, self.hidden_size)
        states = []
        for name, state in zip(names, given):
            _check_tensor(state, name, dtype, owner)
            if tuple(state.shape) != expected:
                what = "unbatched input" if unbatched else "input"
                raise ArgumentError(
                    f"{owner}: `{name}` must have shape (num_layers * num_directions, "
                    + ("" if unbatched else "batch, ")
                    + f"hidden_size) = {expected} for this {what}; got {tuple(state.shape)}"
                )
            states.append(state.unsqueeze(1) if unbatched else state)
        return tuple(states)

    def _dropout_noise(self, layout, packed, dtype):
        """torch's dropout noise for the outputs of every layer but the last, or None.

        Drawn as torch's own modules draw it (``bernoulli_(1 - p)`` on each
        layer's time-major or packed output, layer by layer, scaled by
        ``1 / (1 - p)``), so a seeded run drops what torch.nn drops.
        """
        p = self.dropout
        if not self.training or p == 0 or self.num_layers == 1:
            return None
        width = (2 if self.bidirectional else 1) * self.hidden_size
        shape = (layout.size, width) if packed else (layout.timesteps, layout.batch, width)
        noise = []
        for _ in range(self.num_layers - 1):
            if p == 1:
                n = torch.zeros(shape, dtype=dtype)
            else:
                n = torch.empty(shape, dtype=dtype).bernoulli_(1 - p).div_(1 - p)
            noise.append(layout.noise(n.numpy()))
        return noise

    def _plans(self, layout: _stack.Layout, dtype: type) -> list[ops.ForwardPlan]:
        """The kernel plans of a call of this layout and dtype, one per layer and
        direction (kept per batch size, length and dtype; remade after
        :func:`fastrnn.set_backend`)."""
        masked = layout.mask is not None
        batch, timesteps = layout.batch, layout.timesteps
        key = (batch, timesteps, dtype, masked, self.mode)
        cache = self.__dict__["_fastrnn_plans"]
        plans = cache.get(key)
        if plans is not None and plans[0].valid_for(plans[0].shape):
            return plans
        cell, activation = _MODES[self.mode]
        directions = 2 if self.bidirectional else 1
        plans = []
        for layer in range(self.num_layers):
            features = self.input_size if layer == 0 else directions * self.hidden_size
            for direction in range(directions):
                options = ops.KernelOptions(
                    activation=activation,
                    recurrent_activation=activations.SIGMOID,
                    reset_after=True,
                    go_backwards=direction == 1,
                    zero_output_for_mask=masked,
                )
                plans.append(
                    ops.ForwardPlan(
                        cell,
                        (batch, timesteps, features),
                        dtype,
                        self.hidden_size,
                        options,
                        self.backend,
                    )
                )
        with self.__dict__["_fastrnn_lock"]:
            if len(cache) >= PLAN_CACHE_SIZE:
                cache.pop(next(iter(cache)))  # the oldest input shape
            cache[key] = plans
        return plans


#: The input shapes (batch, length, dtype) whose kernel plans a module keeps.
PLAN_CACHE_SIZE = 32


class _KernelWeights(NamedTuple):
    """A module's parameters in the kernels' layout, and what they were made from.

    Attributes
    ----------
    refs : tuple of weakref
        The parameter tensors converted (``_flat_weights_names`` order).
    stamps : tuple of (int, int), or None
        Their ``(_version, data_ptr())`` then; None for inference tensors
        (which keep no version counter: converted at every call).
    dtype : torch.dtype
    numpy_dtype : type
    arrays : list of (kernel, recurrent_kernel, bias)
        One per layer and direction (:func:`fastrnn.torch._stack.kernel_weights`).
    """

    refs: tuple
    stamps: tuple | None
    dtype: torch.dtype
    numpy_dtype: type
    arrays: list

    def current(self, params: list[torch.Tensor]) -> bool:
        """Whether ``params`` are the tensors converted, unchanged since."""
        if self.stamps is None:
            return False
        for ref, (version, address), param in zip(self.refs, self.stamps, params):
            if ref() is not param or param._version != version or param.data_ptr() != address:
                return False
        return True


def _stamps(params: list[torch.Tensor]) -> tuple | None:
    """What changes when a parameter is changed in place or its data replaced."""
    try:
        return tuple([(p._version, p.data_ptr()) for p in params])
    except RuntimeError:  # an inference tensor has no version counter
        return None


def _input_shape(module) -> str:
    if module.batch_first:
        return f"(batch, T, input_size={module.input_size}) with batch_first=True"
    return f"(T, batch, input_size={module.input_size})"


def _torch_name(owner: str) -> str:
    """``torch.nn.LSTM`` for ``fastrnn.torch.LSTM``: the module to use instead."""
    return f"torch.nn.{owner.rsplit('.', 1)[-1]}"


def _check_tensor(tensor: Any, name: str, dtype: torch.dtype, owner: str) -> None:
    """Raise unless ``tensor`` is a CPU tensor of ``dtype`` (the parameters')."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{owner}: `{name}` must be a torch.Tensor; got {type(tensor).__name__}")
    if not tensor.is_cpu:
        raise ArgumentError(
            f"{owner} runs fastrnn's CPU kernels: `{name}` must be on the CPU; got a "
            f"tensor on {tensor.device}. Use {_torch_name(owner)} on other devices"
        )
    if tensor.dtype != dtype:
        raise ArgumentError(
            f"{owner}: `{name}` must have the parameters' dtype {dtype}; got {tensor.dtype}. "
            f"Convert the input (`.to({dtype})`) or the module (`.to({tensor.dtype})`)"
        )


def _check_parameters(module: nn.RNNBase, params: list[torch.Tensor], owner: str) -> None:
    """Raise unless ``module``'s parameters are CPU tensors of one dtype, float32
    or float64, each of the shape torch.nn gives it (the kernels trust the sizes)."""
    dtype = params[0].dtype
    if not all(p.is_cpu for p in params):
        devices = sorted({str(p.device) for p in params})
        raise ArgumentError(
            f"{owner} runs fastrnn's CPU kernels: its parameters must be on the CPU; they are "
            f"on {', '.join(devices)}. Move the module to the CPU or use {_torch_name(owner)}"
        )
    if dtype not in _DTYPES or not all(p.dtype == dtype for p in params):
        dtypes = sorted({str(p.dtype) for p in params})
        raise ArgumentError(
            f"{owner} runs in float32 or float64: its parameters must be all torch.float32 "
            f"or all torch.float64; they are {', '.join(dtypes)}. Use "
            f"{_torch_name(owner)} for other dtypes"
        )
    width = _GATES[module.mode] * module.hidden_size
    directions = 2 if module.bidirectional else 1
    for name, param in zip(module._flat_weights_names, params):
        layer = int(name.split("_l", 1)[1].split("_", 1)[0])
        features = module.input_size if layer == 0 else directions * module.hidden_size
        rows = {"weight_ih": (width, features), "weight_hh": (width, module.hidden_size)}
        expected = rows.get(name.rsplit("_l", 1)[0], (width,))
        if tuple(param.shape) != expected:
            raise ArgumentError(
                f"{owner}: parameter `{name}` must have shape {expected} (input_size "
                f"{module.input_size}, hidden_size {module.hidden_size}); got "
                f"{tuple(param.shape)}"
            )


def _numpy(tensor: torch.Tensor | None) -> np.ndarray | None:
    """A NumPy view of ``tensor`` (None stays None; a lazily negated view resolved)."""
    if tensor is None:
        return None
    try:
        return tensor.detach().numpy()
    except RuntimeError:  # a view with the negative bit set has no NumPy view
        return tensor.detach().resolve_neg().numpy()


def _run_forward(run, x, states, record):
    """Run ``run`` on torch tensors; return (output, h_n[, c_n]) as tensors."""
    h0 = c0 = None
    if states is not None:
        h0 = _numpy(states[0])
        c0 = _numpy(states[1]) if len(states) > 1 else None
    output, h_n, c_n = run.forward(_numpy(x), h0, c0, record)
    results = [torch.from_numpy(output), torch.from_numpy(h_n)]
    if c_n is not None:
        results.append(torch.from_numpy(c_n))
    return tuple(results)


class _StackFunction(torch.autograd.Function):
    """A whole stacked module's forward and backward on fastrnn's kernels.

    Inputs: the :class:`~fastrnn.torch._stack.StackRun`, whether the module
    has biases, the input (the caller's layout, or the packed data), ``h_0``
    and ``c_0`` (or None), then the parameters in ``_flat_weights_names`` order.
    """

    @staticmethod
    def forward(ctx, run, bias, x, h0, c0, *params):
        states = None if h0 is None else ((h0,) if c0 is None else (h0, c0))
        results = _run_forward(run, x, states, record=True)
        ctx.run, ctx.bias = run, bias
        # The records read the input's memory: saving it makes torch check
        # that nobody changes it in place before the backward. (The weights
        # and initial states are copies in the records.)
        ctx.save_for_backward(x)
        # The gradient of an unused output (often h_n, or the output when only
        # h_n is used) comes as None, which the kernels' callers read as zeros.
        ctx.set_materialize_grads(False)
        return results

    @staticmethod
    @once_differentiable
    def backward(ctx, d_output, d_h_n, d_c_n=None):
        _ = ctx.saved_tensors  # raises if the input was changed in place since
        run = ctx.run
        # (once_differentiable: the gradients require no grad, so no detach)
        dx, d_h0, d_c0, d_weights = run.backward(
            *(None if d is None else d.numpy() for d in (d_output, d_h_n, d_c_n))
        )
        needs = ctx.needs_input_grad
        grads: list[torch.Tensor | None] = [None, None]
        grads.append(torch.from_numpy(np.ascontiguousarray(dx)) if needs[2] else None)
        grads.append(torch.from_numpy(d_h0) if needs[3] else None)
        grads.append(torch.from_numpy(d_c0) if needs[4] and d_c0 is not None else None)
        per = 4 if ctx.bias else 2
        for index, d_w in enumerate(d_weights):
            wanted = needs[5 + index * per : 5 + (index + 1) * per]
            if not any(wanted):
                grads += [None] * per
                continue
            for want, g in zip(wanted, _stack.torch_gradients(run.cell, run.units, d_w, ctx.bias)):
                grads.append(torch.from_numpy(g) if want else None)
        return tuple(grads)


class RNN(_FastRecurrent, nn.RNN):
    r"""``torch.nn.RNN`` (Elman RNN, tanh or ReLU) on fastrnn's CPU kernels.

    ``h_t = nonlinearity(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``. The
    arguments, parameters (``weight_ih_l{k}``, ``weight_hh_l{k}``,
    ``bias_ih_l{k}``, ``bias_hh_l{k}``, ``..._reverse``), initialization
    (uniform in ``(-1/sqrt(hidden_size), 1/sqrt(hidden_size))``) and forward
    are ``torch.nn.RNN``'s, so ``load_state_dict`` moves weights either way.

    Parameters
    ----------
    input_size, hidden_size : int
    num_layers : int
    nonlinearity : {"tanh", "relu"}
    bias, batch_first, bidirectional : bool
    dropout : float
        Dropout on the outputs of every layer but the last, in training mode.
    device : None or "cpu"
        Anything else raises (use ``torch.nn.RNN``).
    dtype : torch.float32, torch.float64 or None (torch's default)

    Examples
    --------
    >>> import torch, fastrnn.torch as ft
    >>> rnn = ft.RNN(10, 20, 2)
    >>> output, h_n = rnn(torch.randn(5, 3, 10))
    >>> output.shape, h_n.shape
    (torch.Size([5, 3, 20]), torch.Size([2, 3, 20]))
    """

    torch_class = nn.RNN

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        self._build(locals())


class LSTM(_FastRecurrent, nn.LSTM):
    r"""``torch.nn.LSTM`` on fastrnn's CPU kernels.

    Gates i, f, g, o in ``weight_ih_l{k} (4*hidden_size, in)`` and
    ``weight_hh_l{k} (4*hidden_size, hidden_size)``, as torch lays them out;
    ``forward(input, (h_0, c_0))`` returns ``output, (h_n, c_n)``.
    Everything but ``proj_size`` (which must stay 0) is ``torch.nn.LSTM``'s.

    Parameters
    ----------
    input_size, hidden_size : int
    num_layers : int
    bias, batch_first, bidirectional : bool
    dropout : float
        Dropout on the outputs of every layer but the last, in training mode.
    proj_size : int
        Must be 0: ``torch.nn.LSTM`` has the projections.
    device : None or "cpu"
    dtype : torch.float32, torch.float64 or None (torch's default)

    Examples
    --------
    >>> import torch, fastrnn.torch as ft
    >>> lstm = ft.LSTM(10, 20, batch_first=True, bidirectional=True)
    >>> output, (h_n, c_n) = lstm(torch.randn(3, 5, 10))
    >>> output.shape, h_n.shape
    (torch.Size([3, 5, 40]), torch.Size([2, 3, 20]))
    """

    torch_class = nn.LSTM

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
    ) -> None:
        self._build(locals())


class GRU(_FastRecurrent, nn.GRU):
    r"""``torch.nn.GRU`` on fastrnn's CPU kernels.

    Gates r, z, n in torch's layout, the reset gate applied after the
    recurrent product (Keras's ``reset_after=True``, which the kernels run
    with the gates reordered to z, r, n).

    Parameters
    ----------
    input_size, hidden_size : int
    num_layers : int
    bias, batch_first, bidirectional : bool
    dropout : float
        Dropout on the outputs of every layer but the last, in training mode.
    device : None or "cpu"
    dtype : torch.float32, torch.float64 or None (torch's default)

    Examples
    --------
    >>> import torch, fastrnn.torch as ft
    >>> gru = ft.GRU(10, 20, num_layers=2)
    >>> output, h_n = gru(torch.randn(5, 3, 10), torch.zeros(2, 3, 20))
    >>> output.shape, h_n.shape
    (torch.Size([5, 3, 20]), torch.Size([2, 3, 20]))
    """

    torch_class = nn.GRU

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        self._build(locals())
