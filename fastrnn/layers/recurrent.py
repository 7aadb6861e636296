"""SimpleRNN, LSTM and GRU: one shared base, no math.

The layers check their input, own the weights in Keras's layout and order,
and call the kernels of the chosen backend through :mod:`fastrnn.ops`.
"""
from typing import Any, Callable, NamedTuple

import numpy as np

from .. import activations, backends, initializers, ops
from .base import (Layer, as_float_array, check_bool, check_gradient, check_positive_int,
                   input_shape_from_args)

__all__ = ["SimpleRNN", "LSTM", "GRU"]


class _ForgetBiasOnes(initializers.Initializer):
    """Keras's ``unit_forget_bias``: the bias initializer, with ones for the f gate."""

    def __init__(self, base, units):
        self.base, self.units = base, units

    def __call__(self, shape, dtype="float32", rng=None):
        bias = self.base(shape, dtype, rng=rng)
        bias[self.units:2 * self.units] = 1
        return bias


class _KernelPlan(NamedTuple):
    """What a planned call (:meth:`RNNBase.__call__` repeated on one input
    shape, or :meth:`RNNBase.step`) needs besides weights and input values.

    Nothing in it depends on weight values (the weights are read at every
    call). It stays valid while the input shape and dtype, the layer's
    backend setting and the global default are those it was made for.

    ``workspace`` keeps the arrays of the last planned call that nobody
    holds afterwards (gates, candidate, and for ``__call__`` the state
    sequences): the next call reuses them instead of allocating fresh
    memory, whose first touch costs a page fault per 4 KB (measured, LSTM
    64x100x256x512 float32 forward: 60.5 ms fresh, 54.8 ms reused). A call
    takes them out of the list and puts them back when done, so concurrent
    calls never share them.
    """

    shape: tuple              # the input shape it is valid for
    dtype: np.dtype
    backend: Any              # the layer's backend setting when it was made
    default: Any              # backends._default when it was made
    forward: Callable         # the resolved forward kernel
    kernel_shape: tuple       # the input shape the kernel sees: (batch, timesteps, features)
    mask: np.ndarray          # all-True, read-only
    zeros: np.ndarray         # a read-only zero state of shape (batch, units)
    out_shape: tuple          # the shapes of the arrays the kernel fills: outputs,
    h_shape: tuple            # h_states (and c_states),
    gates_shape: tuple        # gates,
    candidate_shape: tuple    # recurrent_candidate
    workspace: list           # [] or [dict of arrays]: see above


def _work_array(work, name, shape, dtype):
    """``work[name]``, an array of ``shape`` and ``dtype``, made on first use."""
    array = work.get(name)
    if array is None:
        array = work[name] = np.empty(shape, dtype)
    return array


class RNNBase(Layer):
    """What SimpleRNN, LSTM and GRU share. Subclasses set ``cell`` and ``gates``."""

    cell = None        # "simple_rnn" | "lstm" | "gru"
    gates = 1
    supports_masking = True
    _step_plan = None  # the _KernelPlan of step() for the last batch size
    _call_plan = None  # the _KernelPlan of __call__ for the last input shape

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, dtype="float32", backend=None,
                 seed=None, name=None, input_shape=None, batch_input_shape=None,
                 input_dim=None, input_length=None, *, recurrent_activation=None,
                 zero_output_for_mask=False):
        self.units = check_positive_int(units, "units")
        self.activation = activations.canonical_name(
            activation, "activation", activations.RECURRENT_ACTIVATION_NAMES)
        self.recurrent_activation = None
        if recurrent_activation is not None:
            self.recurrent_activation = activations.canonical_name(
                recurrent_activation, "recurrent_activation",
                activations.RECURRENT_ACTIVATION_NAMES)
        self.use_bias = check_bool(use_bias, "use_bias")
        self.kernel_initializer = initializers.get(kernel_initializer, "kernel_initializer")
        self.recurrent_initializer = initializers.get(recurrent_initializer,
                                                      "recurrent_initializer")
        self.bias_initializer = initializers.get(bias_initializer, "bias_initializer")
        self.return_sequences = check_bool(return_sequences, "return_sequences")
        self.return_state = check_bool(return_state, "return_state")
        self.go_backwards = check_bool(go_backwards, "go_backwards")
        self.stateful = check_bool(stateful, "stateful")
        self.zero_output_for_mask = check_bool(zero_output_for_mask, "zero_output_for_mask")
        if backend is not None:
            backends._check_name(backend)
        self.backend = backend
        super().__init__(name=name, dtype=dtype, seed=seed)
        self._batch_input_shape = input_shape_from_args(input_shape, batch_input_shape,
                                                        input_dim, input_length)
        self._codes = (activations.get_code(self.activation),
                       activations.get_code(self.recurrent_activation or "sigmoid"))
        self._states = None    # kept between calls when stateful
        self._cache = None
        if self._batch_input_shape is not None and self._batch_input_shape[-1] is not None:
            self.build(self._batch_input_shape)

    # -- weights ---------------------------------------------------------
    @property
    def state_size(self):
        return len(ops.CELLS[self.cell].state_names)

    def _bias_shape(self):
        return (self.gates * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def build(self, input_shape):
        """Create the weights for inputs of shape (batch, timesteps, features)."""
        shape = tuple(input_shape)
        if len(shape) != 3 or shape[-1] is None:
            raise ValueError(f"Layer {self.name!r} expects an input shape (batch, timesteps, "
                             f"features) with known features; got {input_shape}")
        features = check_positive_int(int(shape[-1]), "input_shape[-1] (features)")
        if self.built:
            if features != self.input_dim:
                raise ValueError(f"Layer {self.name!r} was built for {self.input_dim} input "
                                 f"features; got input shape {shape}")
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
    def compute_output_shape(self, input_shape):
        batch, timesteps = input_shape[0], input_shape[1]
        out = (batch, timesteps, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [out] + [(batch, self.units)] * self.state_size
        return out

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    # -- calling -----------------------------------------------------------
    def _check_inputs(self, inputs):
        x = as_float_array(inputs, self.dtype, argument="inputs")
        if x.ndim != 3:
            raise ValueError(f"Layer {self.name!r} expects 3-D input of shape (batch, "
                             f"timesteps, features); got an array of shape {x.shape}")
        if x.shape[1] < 1:
            raise ValueError(f"Layer {self.name!r} needs at least one timestep; got input "
                             f"of shape {x.shape}")
        if self.built and x.shape[2] != self.input_dim:
            raise ValueError(f"Layer {self.name!r} expects inputs with {self.input_dim} "
                             f"features (shape (batch, timesteps, {self.input_dim})); got "
                             f"shape {x.shape}")
        return x

    def _check_states(self, initial_state, batch):
        """Return (list of state arrays, how the caller gave them) or (None, None)."""
        if initial_state is None:
            return None, None
        given_as_list = isinstance(initial_state, (list, tuple))
        states = list(initial_state) if given_as_list else [initial_state]
        if len(states) != self.state_size:
            raise ValueError(f"Layer {self.name!r} expects `initial_state` as a list of "
                             f"{self.state_size} array(s) of shape ({batch}, {self.units}); "
                             f"got {len(states)}")
        checked = []
        for i, s in enumerate(states):
            array = as_float_array(s, self.dtype, argument=f"initial_state[{i}]")
            if array.shape != (batch, self.units):
                raise ValueError(f"Layer {self.name!r}: `initial_state[{i}]` must have shape "
                                 f"({batch}, {self.units}); got {array.shape}")
            checked.append(array)
        return checked, given_as_list

    @staticmethod
    def _check_mask(mask, batch, timesteps):
        if mask is None:
            return None
        m = np.asarray(mask)
        if m.shape != (batch, timesteps):
            raise ValueError(f"`mask` must have shape (batch, timesteps) = ({batch}, "
                             f"{timesteps}); got {m.shape}")
        if m.dtype != np.bool_:
            if not np.issubdtype(m.dtype, np.number):
                raise TypeError(f"`mask` must be boolean; got dtype {m.dtype}")
            m = m != 0
        return m

    def _stateful_states(self, batch):
        if self._states is not None and self._states[0].shape[0] != batch:
            raise ValueError(f"Stateful layer {self.name!r} holds states for batch size "
                             f"{self._states[0].shape[0]}; got a batch of {batch}. Call "
                             f"reset_states() to start over with a new batch size.")
        if self._states is None:
            return [np.zeros((batch, self.units), self.dtype) for _ in range(self.state_size)]
        return self._states

    def _kernel_weights(self):
        return self.kernel, self.recurrent_kernel, self._kernel_bias()

    def __call__(self, inputs, initial_state=None, mask=None, training=False):
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
            Keep what :meth:`backward` needs.

        Returns
        -------
        output : ndarray of shape (batch, units) or (batch, timesteps, units)
            With ``return_state=True``: a list ``[output, h]`` or ``[output, h, c]``.
        """
        plan = self._call_plan
        # The fast path: an input the plan fits, no initial_state, mask or
        # training, not stateful; every check of the full path below holds
        # for such an input (the plan is only made after they passed).
        if (initial_state is None and mask is None and training is False
                and not self.stateful and self._plan_fits(plan, inputs)):
            return self._planned_call(inputs, plan)
        x = self._check_inputs(inputs)
        batch, timesteps, _ = x.shape
        states, given_as_list = self._check_states(initial_state, batch)
        mask = self._check_mask(mask, batch, timesteps)
        if states is None:
            states = (self._stateful_states(batch) if self.stateful else
                      [np.zeros((batch, self.units), self.dtype)] * self.state_size)
        if not self.built:
            self.build(x.shape)

        backend = backends.resolve_backend(self.backend, cell=self.cell, batch=batch,
                                           timesteps=timesteps, units=self.units,
                                           features=x.shape[2])
        record = ops.recurrent_forward(
            backend, self.cell, x, mask, states, *self._kernel_weights(),
            activation=self._codes[0], recurrent_activation=self._codes[1],
            reset_after=getattr(self, "reset_after", True), go_backwards=self.go_backwards,
            zero_output_for_mask=self.zero_output_for_mask)

        if not self.stateful and mask is None and not self._plan_fits(plan, x):
            self._call_plan = self._kernel_plan(x.shape, x.shape)
        final_states = [s.copy() for s in record.final_states]
        if self.stateful:
            self._states = [s.copy() for s in final_states]
        self._cache = (record, given_as_list) if training else None
        output = record.outputs if self.return_sequences else record.outputs[:, -1].copy()
        if self.return_state:
            return [output, *final_states]
        return output

    def _plan_fits(self, plan, x):
        """Whether ``plan`` (a _KernelPlan or None) holds for input ``x``."""
        if plan is None or type(x) is not np.ndarray:
            return False
        shape, dtype, backend, default = plan[:4]   # faster than four attribute reads
        return (x.shape == shape and x.dtype == dtype and x.flags.c_contiguous
                and backend is self.backend and default is backends._default)

    def _kernel_plan(self, shape, kernel_shape):
        """The _KernelPlan for inputs of ``shape`` that the kernel sees as
        ``kernel_shape`` (batch, timesteps, features)."""
        batch, timesteps, features = kernel_shape
        name = self.backend
        module = backends.resolve_backend(name, cell=self.cell, batch=batch,
                                          timesteps=timesteps, units=self.units,
                                          features=features)
        zeros = np.zeros((batch, self.units), self.dtype)
        zeros.flags.writeable = False
        # backends._default is read after resolve_backend, which may have set it.
        units = self.units
        return _KernelPlan(tuple(shape), np.dtype(self.dtype), name, backends._default,
                           getattr(module, f"{self.cell}_forward"), tuple(kernel_shape),
                           ops._all_true(batch, timesteps), zeros,
                           (batch, timesteps, units), (timesteps + 1, batch, units),
                           (timesteps, batch, self.gates * units), (timesteps, batch, units),
                           [])

    def _planned_forward(self, plan, x, h, c, go_backwards, zero_output_for_mask,
                         fresh_states):
        """The planned forward kernel on checked arrays (``c`` only for LSTM):
        (outputs, h_states, c_states or None). The kernel is called here
        directly rather than through ``ops.recurrent_forward``, which checks
        and casts its arguments and keeps a record for the backward: about
        2 us, as much as the whole call on the tiny shape.

        ``outputs`` is always new; so are ``h_states`` and ``c_states`` with
        ``fresh_states``, else they come from the plan's workspace and are
        only valid until the next planned call (copy what you keep)."""
        (_, dtype, _, _, forward, _, mask, _, out_shape, h_shape, gates_shape,
         candidate_shape, workspace) = plan
        kernel, recurrent_kernel, bias = self._kernel_weights()
        act, rec_act = self._codes
        try:
            work = workspace.pop()
        except IndexError:
            work = {}
        outputs = np.empty(out_shape, dtype)
        cell = self.cell
        if fresh_states:
            h_states = np.empty(h_shape, dtype)
            c_states = np.empty(h_shape, dtype) if cell == "lstm" else None
        else:
            h_states = _work_array(work, "h_states", h_shape, dtype)
            c_states = _work_array(work, "c_states", h_shape, dtype) if cell == "lstm" else None
        if cell == "simple_rnn":
            forward(x, mask, h, kernel, recurrent_kernel, bias, act, go_backwards,
                    zero_output_for_mask, outputs, h_states)
        elif cell == "lstm":
            forward(x, mask, h, c, kernel, recurrent_kernel, bias, act, rec_act, go_backwards,
                    zero_output_for_mask, outputs, h_states, c_states,
                    _work_array(work, "gates", gates_shape, dtype))
        else:
            forward(x, mask, h, kernel, recurrent_kernel, bias, act, rec_act, self.reset_after,
                    go_backwards, zero_output_for_mask, outputs, h_states,
                    _work_array(work, "gates", gates_shape, dtype),
                    _work_array(work, "candidate", candidate_shape, dtype))
        if not workspace:
            workspace.append(work)
        return outputs, h_states, c_states

    def _planned_call(self, x, plan):
        """:meth:`__call__` on the fast path (see there)."""
        self._cache = None
        zeros = plan.zeros
        outputs, h_states, c_states = self._planned_forward(
            plan, x, zeros, zeros, self.go_backwards, self.zero_output_for_mask, False)
        output = outputs if self.return_sequences else outputs[:, -1].copy()
        if not self.return_state:
            return output
        if c_states is None:
            return [output, h_states[-1].copy()]
        return [output, h_states[-1].copy(), c_states[-1].copy()]

    def step(self, inputs, states=None):
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
        x = inputs
        plan = self._step_plan
        # _plan_fits, inlined: this is the streaming hot path
        if not (plan is not None and type(x) is np.ndarray and x.shape == plan[0]
                and x.dtype == plan[1] and x.flags.c_contiguous
                and plan[2] is self.backend and plan[3] is backends._default):
            x, plan = self._step_setup(inputs)
        dtype, state_shape = plan.dtype, plan.zeros.shape
        c = None
        if self.cell == "lstm":
            if not (type(states) is list and len(states) == 2):
                states = self._step_states(states, state_shape)
            h, c = states
            if not (type(h) is np.ndarray and type(c) is np.ndarray and h.shape == state_shape
                    and c.shape == state_shape and h.dtype == dtype and c.dtype == dtype
                    and h.flags.c_contiguous and c.flags.c_contiguous):
                h, c = self._step_states(states, state_shape)
        else:
            h = states[0] if type(states) is list and len(states) == 1 else states
            if not (type(h) is np.ndarray and h.shape == state_shape and h.dtype == dtype
                    and h.flags.c_contiguous):
                h, = self._step_states(states, state_shape)
        outputs, h_states, c_states = self._planned_forward(
            plan, x.reshape(plan.kernel_shape), h, c, False, False, True)
        if c_states is None:
            return outputs[:, 0], [h_states[1]]
        return outputs[:, 0], [h_states[1], c_states[1]]

    def _step_setup(self, inputs):
        """The checks of :meth:`step`'s slow path: returns (x, plan)."""
        x = np.ascontiguousarray(as_float_array(inputs, self.dtype, "inputs", ndim=2))
        batch = x.shape[0]
        if not self.built:
            self.build((batch, 1, x.shape[1]))
        elif x.shape[1] != self.input_dim:
            raise ValueError(f"Layer {self.name!r} expects inputs of shape (batch, "
                             f"{self.input_dim}); got {x.shape}")
        plan = self._step_plan
        if not self._plan_fits(plan, x):
            plan = self._step_plan = self._kernel_plan(x.shape, (batch, 1, x.shape[1]))
        return x, plan

    def _step_states(self, states, state_shape):
        """The checks of :meth:`step`'s slow path for ``states``: a list of arrays."""
        batch = state_shape[0]
        checked, _ = self._check_states(states, batch)
        if checked is None:
            return [np.zeros(state_shape, self.dtype)] * self.state_size
        return [np.ascontiguousarray(s) for s in checked]

    def reset_states(self, states=None):
        """Zero the kept states of a stateful layer (or set them to ``states``)."""
        if not self.stateful:
            return
        if states is None:
            self._states = None
            return
        batch = self._states[0].shape[0] if self._states is not None else None
        checked, _ = self._check_states(states, batch if batch is not None else
                                        np.asarray(states[0] if isinstance(states, (list, tuple))
                                                   else states).shape[0])
        self._states = [s.copy() for s in checked]

    reset_state = reset_states

    @property
    def states(self):
        return None if self._states is None else [s.copy() for s in self._states]

    # -- gradients -----------------------------------------------------------
    def backward(self, dy):
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
                raise ValueError(f"Layer {self.name!r} returned {1 + self.state_size} arrays "
                                 f"(return_state=True), so `dy` must be a list of "
                                 f"{1 + self.state_size} gradients (None for zero); got "
                                 f"{type(dy).__name__}")
            d_out, d_states = dy[0], list(dy[1:])
        else:
            d_out, d_states = dy, [None] * self.state_size
        d_states = [None if d is None else
                    check_gradient(d, (batch, units), f"dy[{i + 1}]", self.dtype)
                    for i, d in enumerate(d_states)]
        d_outputs = None
        if d_out is not None:
            d_out = check_gradient(d_out, out_shape, "dy" if not self.return_state else "dy[0]",
                                   self.dtype)
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
    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units, activation=self.activation, use_bias=self.use_bias,
            kernel_initializer=initializers.serialize(self.kernel_initializer),
            recurrent_initializer=initializers.serialize(self.recurrent_initializer),
            bias_initializer=initializers.serialize(self.bias_initializer),
            return_sequences=self.return_sequences, return_state=self.return_state,
            go_backwards=self.go_backwards, stateful=self.stateful, backend=self.backend,
            seed=self.seed, zero_output_for_mask=self.zero_output_for_mask)
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
    gates = 1


class LSTM(RNNBase):
    """Long short-term memory layer (Hochreiter & Schmidhuber, 1997).

    Gate order i, f, c, o in ``kernel (features, 4*units)``,
    ``recurrent_kernel (units, 4*units)`` and ``bias (4*units,)``, as in Keras.
    With ``return_state=True`` the call returns ``[output, h, c]``.
    """

    cell = "lstm"
    gates = 4

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, **kwargs):
        self.unit_forget_bias = check_bool(unit_forget_bias, "unit_forget_bias")
        super().__init__(units, activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer,
                         recurrent_activation=recurrent_activation, **kwargs)

    def _bias_initializer(self):
        if self.unit_forget_bias:
            return _ForgetBiasOnes(self.bias_initializer, self.units)
        return self.bias_initializer

    def get_config(self):
        config = super().get_config()
        config.update(recurrent_activation=self.recurrent_activation,
                      unit_forget_bias=self.unit_forget_bias)
        return config


class GRU(RNNBase):
    """Gated recurrent unit (Cho et al., 2014), Keras's two variants.

    Gate order z, r, h. ``reset_after=True`` (the default, cuDNN-compatible)
    applies the reset gate after the recurrent matmul and has a ``bias`` of
    shape ``(2, 3*units)`` (input and recurrent biases); ``reset_after=False``
    applies it before, with ``bias (3*units,)``.
    """

    cell = "gru"
    gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 reset_after=True, **kwargs):
        self.reset_after = check_bool(reset_after, "reset_after")
        super().__init__(units, activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer,
                         recurrent_activation=recurrent_activation, **kwargs)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _kernel_bias(self):
        bias = super()._kernel_bias()
        if self.reset_after:
            return bias
        return np.stack([bias, np.zeros_like(bias)])   # the kernels' (2, 3H) layout

    def _weight_gradients(self, d_weights):
        grads = list(d_weights[:2])
        if self.use_bias:
            grads.append(d_weights[2] if self.reset_after else d_weights[2][0])
        return grads

    def get_config(self):
        config = super().get_config()
        config.update(recurrent_activation=self.recurrent_activation,
                      reset_after=self.reset_after)
        return config
