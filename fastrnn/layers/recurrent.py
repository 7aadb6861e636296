"""SimpleRNN, LSTM and GRU: one shared base, no math.

The layers check their input, own the weights in Keras's layout and order,
and call the kernels of the chosen backend through :mod:`fastrnn.ops`.

Dropout follows Keras 3 (``keras/src/layers/rnn/lstm.py``, ``gru.py``,
``simple_rnn.py``): a call with ``training=True`` draws its masks once, from
the layer's generator, and the kernels apply them at every step; entries are
0 or ``1 / (1 - rate)``. With ``recurrent_dropout`` 0 the input has one mask
(batch, features) for all gates; with ``recurrent_dropout`` > 0 (Keras's
``implementation=1``) every gate has its own input mask (when ``dropout`` >
0) and its own recurrent mask (batch, units). Calls without ``training`` and
``step`` never drop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Generic, TypeVar, overload

import numpy as np
import numpy.typing as npt

from .. import activations, backends, initializers, ops
from .._validation import check_rate
from .base import (
    ActivationSpec,
    DTypeSpec,
    FloatArray,
    InitializerSpec,
    Layer,
    Shape,
    ShapeTuple,
    as_float_array,
    check_bool,
    check_gradient,
    check_positive_int,
    input_shape_from_args,
)

__all__ = ["SimpleRNN", "LSTM", "GRU"]

_T = TypeVar("_T")


class _ForgetBiasOnes(initializers.Initializer):
    """Keras's ``unit_forget_bias``: the bias initializer, with ones for the f gate."""

    def __init__(self, base, units):
        self.base, self.units = base, units

    def __call__(self, shape, dtype="float32", rng=None):
        bias = self.base(shape, dtype, rng=rng)
        bias[self.units : 2 * self.units] = 1
        return bias


class _KernelOption(Generic[_T]):
    """A layer attribute the kernels see (an option, or the backend setting):
    setting it checks the value with ``check(layer, value)`` (which returns
    what to store, or raises) and drops the layer's kernel plans, so the next
    call makes them anew."""

    def __init__(self, check: Callable[[Any, Any], Any]) -> None:
        self.check = check

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.slot = "_" + name

    @overload
    def __get__(self, layer: None, owner: type | None = None) -> _KernelOption[_T]: ...
    @overload
    def __get__(self, layer: RNNBase, owner: type | None = None) -> _T: ...
    def __get__(self, layer: RNNBase | None, owner: type | None = None) -> _T | _KernelOption[_T]:
        if layer is None:
            return self
        try:
            return layer.__dict__[self.slot]
        except KeyError:
            raise AttributeError(self.name) from None

    def __set__(self, layer: RNNBase, value: _T) -> None:
        layer.__dict__[self.slot] = self.check(layer, value)
        layer.__dict__["_call_plan"] = layer.__dict__["_step_plan"] = None
        layer.__dict__["_options"] = None


def _activation_check(argument: str) -> Callable[[Any, Any], str | None]:
    """The check of an activation attribute (None allowed only for
    ``recurrent_activation``, which SimpleRNN leaves unset)."""

    def check(layer: Any, value: Any) -> str | None:
        if value is None and argument == "recurrent_activation":
            return None
        return activations.canonical_name(value, argument, activations.RECURRENT_ACTIVATION_NAMES)

    return check


def _flag_check(argument: str) -> Callable[[Any, Any], bool]:
    return lambda layer, value: check_bool(value, argument)


def _backend_check(layer: Any, value: Any) -> str | None:
    return None if value is None else backends.check_name(value)


def _reset_after_check(layer: Any, value: Any) -> bool:
    value = check_bool(value, "reset_after")
    if getattr(layer, "built", False) and value != layer.reset_after:
        raise ValueError(
            f"Layer {layer.name!r} was built with reset_after={layer.reset_after}, whose "
            f"bias has another shape; make a new GRU(reset_after={value}) instead"
        )
    return value


def _keep_mask(rng: np.random.Generator, shape: tuple[int, ...], rate: float, dtype) -> FloatArray:
    """Keras's dropout mask of ``shape``: each entry 0 with probability ``rate``,
    else ``1 / (1 - rate)`` (rounded once to ``dtype``); empty when shape[0] is 0."""
    scale = np.asarray(1.0 / (1.0 - rate), dtype)
    return np.where(rng.random(shape) >= rate, scale, np.zeros((), dtype))


class RNNBase(Layer):
    """What SimpleRNN, LSTM and GRU share. Subclasses set ``cell``."""

    # "simple_rnn" | "lstm" | "gru" (a key of fastrnn.ops.CELLS): set by each subclass.
    cell: ClassVar[str] = None  # type: ignore[assignment]
    supports_masking = True
    _step_plan: ops.ForwardPlan | None = None  # the plan of step() for the last batch size
    _call_plan: ops.ForwardPlan | None = None  # the plan of __call__ for the last input shape
    _options: ops.KernelOptions | None = None  # of the current attributes, once asked for

    activation: _KernelOption[str] = _KernelOption(_activation_check("activation"))
    recurrent_activation: _KernelOption[str | None] = _KernelOption(
        _activation_check("recurrent_activation")
    )
    go_backwards: _KernelOption[bool] = _KernelOption(_flag_check("go_backwards"))
    zero_output_for_mask: _KernelOption[bool] = _KernelOption(_flag_check("zero_output_for_mask"))
    backend: _KernelOption[str | None] = _KernelOption(_backend_check)

    # Made by build().
    input_dim: int
    kernel: FloatArray
    recurrent_kernel: FloatArray
    bias: FloatArray

    _size_arguments = ("units",)
    _call_attributes = ("_cache", "_states")

    def __init__(
        self,
        units: int,
        activation: ActivationSpec = "tanh",
        use_bias: bool = True,
        kernel_initializer: InitializerSpec = "glorot_uniform",
        recurrent_initializer: InitializerSpec = "orthogonal",
        bias_initializer: InitializerSpec = "zeros",
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        dtype: DTypeSpec = "float32",
        backend: str | None = None,
        seed: int | np.integer | None = None,
        name: str | None = None,
        input_shape: Shape | None = None,
        batch_input_shape: Shape | None = None,
        input_dim: int | None = None,
        input_length: int | None = None,
        *,
        recurrent_activation: ActivationSpec = None,
        zero_output_for_mask: bool = False,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
    ) -> None:
        self.units = check_positive_int(units, "units")
        self.dropout = check_rate(dropout, "dropout")
        self.recurrent_dropout = check_rate(recurrent_dropout, "recurrent_dropout")
        self.activation = activations.canonical_name(
            activation, "activation", activations.RECURRENT_ACTIVATION_NAMES
        )
        self.recurrent_activation = None
        if recurrent_activation is not None:
            self.recurrent_activation = activations.canonical_name(
                recurrent_activation, "recurrent_activation", activations.RECURRENT_ACTIVATION_NAMES
            )
        self.use_bias = check_bool(use_bias, "use_bias")
        self.kernel_initializer: initializers.Initializer = initializers.get(
            kernel_initializer, "kernel_initializer"
        )
        self.recurrent_initializer: initializers.Initializer = initializers.get(
            recurrent_initializer, "recurrent_initializer"
        )
        self.bias_initializer: initializers.Initializer = initializers.get(
            bias_initializer, "bias_initializer"
        )
        self.return_sequences = check_bool(return_sequences, "return_sequences")
        self.return_state = check_bool(return_state, "return_state")
        self.go_backwards = check_bool(go_backwards, "go_backwards")
        self.stateful = check_bool(stateful, "stateful")
        self.zero_output_for_mask = check_bool(zero_output_for_mask, "zero_output_for_mask")
        if backend is not None:
            backends.check_name(backend)
        self.backend = backend
        super().__init__(name=name, dtype=dtype, seed=seed)
        self._batch_input_shape = input_shape_from_args(
            input_shape, batch_input_shape, input_dim, input_length
        )
        self._states: list[FloatArray] | None = None  # kept between calls when stateful
        self._cache = None
        # The masks a cell holding this layer reuses over its steps (set by the
        # cell, layers/cells.py); None: each training call draws its own.
        self._held_dropout_masks: tuple[FloatArray, FloatArray] | None = None
        if self._batch_input_shape is not None and self._batch_input_shape[-1] is not None:
            self.build(self._batch_input_shape)

    # -- weights ---------------------------------------------------------
    @property
    def gates(self) -> int:
        """G: the blocks of ``kernel``'s columns (1, 4 for LSTM, 3 for GRU)."""
        return ops.CELLS[self.cell].gates

    @property
    def state_size(self) -> int:
        return len(ops.CELLS[self.cell].state_names)

    def _bias_shape(self):
        return (self.gates * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    # Layer.build's shape is optional for the layers without weights only.
    def build(self, input_shape: Shape) -> None:  # type: ignore[override]
        """Create the weights for inputs of shape (batch, timesteps, features)."""
        shape = tuple(input_shape)
        if len(shape) != 3 or shape[-1] is None:
            raise ValueError(
                f"Layer {self.name!r} expects an input shape (batch, timesteps, "
                f"features) with known features; got {input_shape}"
            )
        features = check_positive_int(int(shape[-1]), "input_shape[-1] (features)")
        if self.built:
            if features != self.input_dim:
                raise ValueError(
                    f"Layer {self.name!r} was built for {self.input_dim} input "
                    f"features; got input shape {shape}"
                )
            return
        self.input_dim = features
        g_units = self.gates * self.units
        self._weight_names = []
        self._add_weight("kernel", (features, g_units), self.kernel_initializer)
        self._add_weight("recurrent_kernel", (self.units, g_units), self.recurrent_initializer)
        if self.use_bias:
            self._add_weight("bias", self._bias_shape(), self._bias_initializer())
        self.built = True

    def _kernel_bias(self):
        """The bias as the kernels take it (zeros when use_bias=False)."""
        if self.use_bias:
            return self.bias
        return np.zeros(self._bias_shape(), self.dtype)

    # -- shapes and masks --------------------------------------------------
    def compute_output_shape(self, input_shape: Shape) -> ShapeTuple | list[ShapeTuple]:
        batch, timesteps = input_shape[0], input_shape[1]
        out: ShapeTuple = (
            (batch, timesteps, self.units) if self.return_sequences else (batch, self.units)
        )
        if self.return_state:
            return [out] + [(batch, self.units)] * self.state_size
        return out

    def compute_mask(
        self, inputs: npt.ArrayLike, mask: npt.ArrayLike | None = None
    ) -> npt.ArrayLike | None:
        return mask if self.return_sequences else None

    # -- calling -----------------------------------------------------------
    def _check_inputs(self, inputs):
        x = as_float_array(inputs, self.dtype, argument="inputs")
        if x.ndim != 3:
            raise ValueError(
                f"Layer {self.name!r} expects 3-D input of shape (batch, "
                f"timesteps, features); got an array of shape {x.shape}"
            )
        if x.shape[1] < 1:
            raise ValueError(
                f"Layer {self.name!r} needs at least one timestep; got input of shape {x.shape}"
            )
        if self.built and x.shape[2] != self.input_dim:
            raise ValueError(
                f"Layer {self.name!r} expects inputs with {self.input_dim} "
                f"features (shape (batch, timesteps, {self.input_dim})); got "
                f"shape {x.shape}"
            )
        return x

    def _check_states(self, initial_state, batch, argument="initial_state", first_index=0):
        """Return (list of state arrays, how the caller gave them) or (None, None);
        errors name ``argument`` (``states`` for :meth:`step`), and number the
        arrays from ``first_index`` (a Bidirectional's backward half)."""
        if initial_state is None:
            return None, None
        given_as_list = isinstance(initial_state, (list, tuple))
        states = list(initial_state) if given_as_list else [initial_state]
        if len(states) != self.state_size:
            raise ValueError(
                f"Layer {self.name!r} expects `{argument}` as a list of "
                f"{self.state_size} array(s) of shape ({batch}, {self.units}); "
                f"got {len(states)}"
            )
        checked = []
        for i, s in enumerate(states, start=first_index):
            array = as_float_array(s, self.dtype, argument=f"{argument}[{i}]")
            if array.shape != (batch, self.units):
                raise ValueError(
                    f"Layer {self.name!r}: `{argument}[{i}]` must have shape "
                    f"({batch}, {self.units}); got {array.shape}"
                )
            checked.append(array)
        return checked, given_as_list

    @staticmethod
    def _check_mask(mask, batch, timesteps):
        if mask is None:
            return None
        m = np.asarray(mask)
        if m.shape != (batch, timesteps):
            raise ValueError(
                f"`mask` must have shape (batch, timesteps) = ({batch}, {timesteps}); got {m.shape}"
            )
        if m.dtype != np.bool_:
            if not np.issubdtype(m.dtype, np.number):
                raise TypeError(f"`mask` must be boolean; got dtype {m.dtype}")
            m = m != 0
        return m

    def _stateful_states(self, batch):
        if self._states is not None and self._states[0].shape[0] != batch:
            raise ValueError(
                f"Stateful layer {self.name!r} holds states for batch size "
                f"{self._states[0].shape[0]}; got a batch of {batch}. Call "
                f"reset_states() to start over with a new batch size."
            )
        if self._states is None:
            return [np.zeros((batch, self.units), self.dtype) for _ in range(self.state_size)]
        return self._states

    def _kernel_weights(self):
        return self.kernel, self.recurrent_kernel, self._kernel_bias()

    def _kernel_options(self):
        """The :class:`fastrnn.ops.KernelOptions` of the layer's current attributes."""
        options = self._options
        if options is None:
            options = self._options = ops.KernelOptions(
                activation=activations.get_code(self.activation),
                recurrent_activation=activations.get_code(self.recurrent_activation or "sigmoid"),
                reset_after=getattr(self, "reset_after", True),
                go_backwards=self.go_backwards,
                zero_output_for_mask=self.zero_output_for_mask,
            )
        return options

    def _plan(
        self, shape: tuple[int, int, int], input_shape: tuple[int, int] | None = None
    ) -> ops.ForwardPlan:
        """A new :class:`fastrnn.ops.ForwardPlan` for kernel inputs of ``shape``."""
        return ops.ForwardPlan(
            self.cell,
            shape,
            self.dtype,
            self.units,
            self._kernel_options(),
            self.backend,
            input_shape,
        )

    def __call__(
        self,
        inputs: npt.ArrayLike,
        initial_state: npt.ArrayLike | Sequence[npt.ArrayLike] | None = None,
        mask: npt.ArrayLike | None = None,
        training: bool = False,
    ) -> FloatArray | list[FloatArray]:
        """Run the layer over a batch of sequences.

        Parameters
        ----------
        inputs : array-like of shape (batch, timesteps, features)
        initial_state : ndarray of shape (batch, units), or a list of them
            ``[h0]`` or, for LSTM, ``[h0, c0]``. Default: zeros (or, when
            stateful, the states the previous call ended with).
        mask : array-like of bool, shape (batch, timesteps), optional
            Where False the step is skipped (state carried over).
        training : bool
            Keep what :meth:`backward` needs, and apply ``dropout`` and
            ``recurrent_dropout`` (masks drawn once for the call).

        Returns
        -------
        output : ndarray of shape (batch, units) or (batch, timesteps, units)
            With ``return_state=True``: a list ``[output, h]`` or ``[output, h, c]``.
        """
        plan = self._call_plan
        # The fast path: an input the last call's plan fits, no initial_state,
        # mask or training, not stateful. Every check of the full path below
        # holds for such an input (the plan was made after they passed).
        if (
            initial_state is None
            and mask is None
            and training is False
            and not self.stateful
            and plan is not None
            and plan.fits(inputs)
        ):
            self._cache = None
            return self._result(
                *plan(inputs, None, self._kernel_weights(), None, self.return_state)
            )
        x = self._check_inputs(inputs)
        batch, timesteps, _ = x.shape
        states, given_as_list = self._check_states(initial_state, batch)
        mask = self._check_mask(mask, batch, timesteps)
        if states is None and self.stateful:
            states = self._stateful_states(batch)
        if not self.built:
            self.build(x.shape)
        if plan is None or not plan.valid_for(x.shape):
            plan = self._call_plan = self._plan(x.shape)
        if training:
            masks = self._held_dropout_masks
            if masks is None:
                masks = self._dropout_masks(batch, x.shape[2])
            record = plan.record(x, mask, states, self._kernel_weights(), masks)
            self._cache = (record, given_as_list)
            final_states = [s.copy() for s in record.final_states]
            outputs = record.outputs
        else:
            self._cache = None
            outputs, final_states = plan.forward(
                x, states, self._kernel_weights(), mask, self.return_state or self.stateful
            )
        if self.stateful:
            self._states = [s.copy() for s in final_states]
        output = outputs if self.return_sequences else outputs[:, -1].copy()
        if self.return_state:
            return [output, *final_states]
        return output

    def _dropout_masks(self, batch: int, features: int) -> tuple[FloatArray, FloatArray] | None:
        """The dropout masks of one training call, as the kernels take them, or
        None without dropout: ``(dropout_mask, recurrent_dropout_mask)`` of
        shapes (M, batch, features) and (R, batch, units).

        Keras's counts: M = 1 (``dropout`` only), or with ``recurrent_dropout``
        one per gate, M = G when ``dropout`` > 0 (else 0) and R = G. Drawn from
        the layer's generator, the input masks first; entries 0 or
        ``1 / (1 - rate)``.
        """
        if not (self.dropout or self.recurrent_dropout):
            return None
        gates = self.gates
        input_masks = (gates if self.recurrent_dropout else 1) if self.dropout else 0
        recurrent_masks = gates if self.recurrent_dropout else 0
        return (
            _keep_mask(self._rng, (input_masks, batch, features), self.dropout, self.dtype),
            _keep_mask(
                self._rng, (recurrent_masks, batch, self.units), self.recurrent_dropout, self.dtype
            ),
        )

    def _result(self, outputs, final_states):
        """What a call returns, from what a planned forward returned."""
        output = outputs if self.return_sequences else outputs[:, -1].copy()
        if not self.return_state:
            return output
        return [output, *final_states]

    def step(
        self,
        inputs: npt.ArrayLike,
        states: npt.ArrayLike | Sequence[npt.ArrayLike] | None = None,
    ) -> tuple[FloatArray, list[FloatArray]]:
        """One time step, for streaming inference.

        Parameters
        ----------
        inputs : array-like of shape (batch, features)
            The input at this time step.
        states : ndarray of shape (batch, units), or a list of them, optional
            The states before this step (default zeros); for LSTM ``[h, c]``.

        Returns
        -------
        output : ndarray of shape (batch, units)
        new_states : list of ndarray of shape (batch, units)
            Pass them back in as ``states`` for the next step.

        Equal to one time step of the full call (without masks). This is the
        streaming hot path: when ``inputs`` and ``states`` (a list) already
        are C-contiguous arrays of the layer's dtype, the only work besides
        the kernel is a few checks and small allocations. The arrays returned
        are new at every call (never reused), and the weights are read at
        every call, so in-place weight updates take effect at the next step.
        """
        plan = self._step_plan
        if plan is None or not plan.fits(inputs):
            inputs, plan = self._step_setup(inputs, states)
        state_shape = plan.zero_states[0].shape
        if not (
            type(states) is list
            and len(states) == self.state_size
            and all(
                type(s) is np.ndarray
                and s.shape == state_shape
                and s.dtype == plan.dtype
                and s.flags.c_contiguous
                for s in states
            )
        ):
            states = self._step_states(states, state_shape)
        outputs, final_states = plan(inputs, states, self._kernel_weights())
        return outputs[:, 0], final_states

    def _step_setup(self, inputs: npt.ArrayLike, states: Any) -> tuple[FloatArray, ops.ForwardPlan]:
        """The checks of :meth:`step`'s slow path: builds the layer if needed
        (after checking ``states``, so that bad states leave it unbuilt);
        returns ``inputs`` as the plan takes them, and the step plan."""
        x = np.ascontiguousarray(as_float_array(inputs, self.dtype, "inputs", ndim=2))
        batch = x.shape[0]
        if not self.built:
            self._check_states(states, batch, argument="states")
            self.build((batch, 1, x.shape[1]))
        elif x.shape[1] != self.input_dim:
            raise ValueError(
                f"Layer {self.name!r} expects inputs of shape (batch, "
                f"{self.input_dim}); got {x.shape}"
            )
        plan = self._step_plan
        if plan is None or not plan.fits(x):
            plan = self._step_plan = self._plan((batch, 1, x.shape[1]), input_shape=x.shape)
        return x, plan

    def _step_states(self, states, state_shape):
        """The checks of :meth:`step`'s slow path for ``states``: a list of arrays."""
        batch = state_shape[0]
        checked, _ = self._check_states(states, batch, argument="states")
        if checked is None:
            return None
        return [np.ascontiguousarray(s) for s in checked]

    def reset_states(self, states: npt.ArrayLike | Sequence[npt.ArrayLike] | None = None) -> None:
        """Zero the kept states of a stateful layer (or set them to ``states``)."""
        if not self.stateful:
            return
        if states is None:
            self._states = None
            return
        if self._states is not None:
            batch = self._states[0].shape[0]
        else:
            first = states[0] if isinstance(states, (list, tuple)) and states else states
            first = as_float_array(first, self.dtype, argument="states[0]", ndim=2)
            batch = first.shape[0]
        checked, _ = self._check_states(states, batch, argument="states")
        self._states = [s.copy() for s in checked]

    reset_state = reset_states

    @property
    def states(self) -> list[FloatArray] | None:
        return None if self._states is None else [s.copy() for s in self._states]

    # -- gradients -----------------------------------------------------------
    def backward(
        self, dy: npt.ArrayLike | Sequence[npt.ArrayLike | None] | None
    ) -> FloatArray | tuple[FloatArray, FloatArray | list[FloatArray]]:
        """Backpropagate ``dy`` (the gradient of the loss w.r.t. the output).

        Parameters
        ----------
        dy : ndarray shaped like the output, or a list matching the output list
            when ``return_state=True`` (None entries mean zero gradient).

        Returns
        -------
        dx : ndarray of shape (batch, timesteps, features)
            And, when the forward call was given ``initial_state``, a tuple
            ``(dx, dstate)`` with ``dstate`` shaped like ``initial_state``.
        Fills ``self.gradients`` (same order and shapes as ``get_weights()``).
        """
        record, given_as_list = self._require_training_call()
        batch, timesteps, units = record.outputs.shape
        out_shape = (batch, timesteps, units) if self.return_sequences else (batch, units)
        if self.return_state:
            if not isinstance(dy, (list, tuple)) or len(dy) != 1 + self.state_size:
                raise ValueError(
                    f"Layer {self.name!r} returned {1 + self.state_size} arrays "
                    f"(return_state=True), so `dy` must be a list of "
                    f"{1 + self.state_size} gradients (None for zero); got "
                    f"{type(dy).__name__}"
                )
            d_out, d_states = dy[0], list(dy[1:])
        else:
            d_out, d_states = dy, [None] * self.state_size
        d_states = [
            None if d is None else check_gradient(d, (batch, units), f"dy[{i + 1}]", self.dtype)
            for i, d in enumerate(d_states)
        ]
        d_outputs: FloatArray | None = None
        if d_out is not None:
            d_out = check_gradient(
                d_out, out_shape, "dy" if not self.return_state else "dy[0]", self.dtype
            )
            if self.return_sequences:
                d_outputs = d_out
            else:
                d_outputs = np.zeros((batch, timesteps, units), self.dtype)
                d_outputs[:, -1] = d_out
        dx, d_init, d_weights = ops.recurrent_backward(record, d_outputs, d_states)
        self.gradients = self._weight_gradients(d_weights)
        if given_as_list is None:
            return dx
        return dx, (d_init if given_as_list else d_init[0])

    def _weight_gradients(self, d_weights):
        grads = list(d_weights[:2])
        if self.use_bias:
            grads.append(d_weights[2])
        return grads

    # -- config --------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            units=self.units,
            activation=self.activation,
            use_bias=self.use_bias,
            kernel_initializer=initializers.serialize(self.kernel_initializer),
            recurrent_initializer=initializers.serialize(self.recurrent_initializer),
            bias_initializer=initializers.serialize(self.bias_initializer),
            return_sequences=self.return_sequences,
            return_state=self.return_state,
            go_backwards=self.go_backwards,
            stateful=self.stateful,
            backend=self.backend,
            seed=self.seed,
            zero_output_for_mask=self.zero_output_for_mask,
            dropout=self.dropout,
            recurrent_dropout=self.recurrent_dropout,
        )
        return config


class SimpleRNN(RNNBase):
    """Fully-connected RNN: ``h_t = act(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``.

    Same arguments, weights and outputs as ``keras.layers.SimpleRNN``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn.layers import SimpleRNN
    >>> SimpleRNN(4)(np.ones((32, 10, 8))).shape
    (32, 4)
    >>> SimpleRNN(4, return_sequences=True)(np.ones((32, 10, 8))).shape
    (32, 10, 4)
    """

    cell = "simple_rnn"

    def __init__(self, units: int, **kwargs: Any) -> None:
        if "recurrent_activation" in kwargs:
            raise TypeError(
                "SimpleRNN has one activation, `activation`, and no `recurrent_activation` "
                f"argument (as in Keras); got recurrent_activation="
                f"{kwargs['recurrent_activation']!r}"
            )
        super().__init__(units, **kwargs)


class LSTM(RNNBase):
    """Long short-term memory layer (Hochreiter & Schmidhuber, 1997).

    Gate order i, f, c, o in ``kernel (features, 4*units)``,
    ``recurrent_kernel (units, 4*units)`` and ``bias (4*units,)``, as in Keras.
    With ``return_state=True`` the call returns ``[output, h, c]``.
    """

    cell = "lstm"

    def __init__(
        self,
        units: int,
        activation: ActivationSpec = "tanh",
        recurrent_activation: ActivationSpec = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: InitializerSpec = "glorot_uniform",
        recurrent_initializer: InitializerSpec = "orthogonal",
        bias_initializer: InitializerSpec = "zeros",
        unit_forget_bias: bool = True,
        **kwargs: Any,
    ) -> None:
        self.unit_forget_bias = check_bool(unit_forget_bias, "unit_forget_bias")
        super().__init__(
            units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            recurrent_activation=recurrent_activation,
            **kwargs,
        )

    def _bias_initializer(self):
        if self.unit_forget_bias:
            return _ForgetBiasOnes(self.bias_initializer, self.units)
        return self.bias_initializer

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            recurrent_activation=self.recurrent_activation, unit_forget_bias=self.unit_forget_bias
        )
        return config


class GRU(RNNBase):
    """Gated recurrent unit (Cho et al., 2014), Keras's two variants.

    Gate order z, r, h. ``reset_after=True`` (the default, cuDNN-compatible)
    applies the reset gate after the recurrent matmul and has a ``bias`` of
    shape ``(2, 3*units)`` (input and recurrent biases); ``reset_after=False``
    applies it before, with ``bias (3*units,)``.
    """

    cell = "gru"
    reset_after: _KernelOption[bool] = _KernelOption(_reset_after_check)

    def __init__(
        self,
        units: int,
        activation: ActivationSpec = "tanh",
        recurrent_activation: ActivationSpec = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: InitializerSpec = "glorot_uniform",
        recurrent_initializer: InitializerSpec = "orthogonal",
        bias_initializer: InitializerSpec = "zeros",
        reset_after: bool = True,
        **kwargs: Any,
    ) -> None:
        self.reset_after = check_bool(reset_after, "reset_after")
        super().__init__(
            units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            recurrent_activation=recurrent_activation,
            **kwargs,
        )

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _kernel_bias(self):
        bias = super()._kernel_bias()
        if self.reset_after:
            return bias
        return np.stack([bias, np.zeros_like(bias)])  # the kernels' (2, 3H) layout

    def _weight_gradients(self, d_weights):
        grads = list(d_weights[:2])
        if self.use_bias:
            grads.append(d_weights[2] if self.reset_after else d_weights[2][0])
        return grads

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(recurrent_activation=self.recurrent_activation, reset_after=self.reset_after)
        return config
