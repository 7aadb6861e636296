"""The sequence driver of the Numba backend, one for the three cells.

Each public kernel of this backend (``lstm_forward``, ...) is built here from
its cell's compiled pieces (:func:`forward_kernel`, :func:`backward_kernel`),
and at every call the driver

1. reads :data:`fastrnn.config.settings` once (thread count, slicing
   thresholds, hand-product size), so a change applies from the next call;
2. answers an empty batch or sequence itself: the initial states are copied,
   the gradients are zeros;
3. chooses how the time loop runs by the slicing rule of
   :mod:`fastrnn.config` (:func:`slice_count`): over the whole batch on the
   calling thread, each product by hand or by BLAS according to its size; or
   as ``n`` disjoint batch slices, one per thread, every product by hand,
   cut where the rows' work under the mask is even
   (:func:`fastrnn._slices.slice_bounds`: each step computes a slice's rows
   up to its last valid one);
4. in a backward call, allocates the cell's workspace before the time loop and
   runs the cell's weight-gradient epilogue after it, on the calling thread
   with each product chosen by size (the big ones by BLAS, on its threads).

The recurrence couples time steps, never batch rows, so the slices need no
synchronisation until the end; each writes only its own rows of every output.
The compiled functions release the GIL (``nogil``), so plain Python threads
(the pool of ``fastrnn/_slices.py``, shared with the Cython backend) run the
slices in parallel; Numba's threading layer is never started. Every row is
computed by the same code, summed in the same order, whatever slice it is in
and however many slices there are, so results do not depend on the thread
count.

What a cell supplies
--------------------
``rows(b0, b1, hand_max, opts, ...)``
    The ``@njit`` time loop over the batch rows [b0, b1). A forward one first
    copies its rows of the initial states and projects its rows' inputs
    (:func:`._math.project_inputs`); a backward one first copies its rows of
    the final-state gradients into ``d_h0`` (``d_c0``), where it carries them
    back through time. ``hand_max`` is the hand-product size of the call:
    ``settings.hand_product_max`` over the whole batch, :data:`ALWAYS_BY_HAND`
    in a sliced call (so that BLAS is never called on a slice's thread and no
    product depends on the slice sizes).
``workspace(opts, ...)`` (backward)
    The arrays the backward time loop fills for the epilogue, as a tuple in the
    order of its ``workspace_names``.
``weight_grads(hand_max, opts, ...)`` (backward)
    The bulk GEMMs after the time loop: ``d_kernel``, ``d_recurrent_kernel``,
    ``d_bias`` and ``dx`` (SimpleRNN and LSTM share
    :func:`._math.weight_grads`).

The dropout masks of a call without dropout (empty arrays, M = R = 0) reach
the compiled functions as None (:func:`_no_empty_masks`): Numba compiles
those calls' functions with every ``mask is None`` branch decided, so they
run exactly the code of a kernel without dropout.

``opts`` is the options record, :data:`OPTIONS`: one tuple in the same order
for every cell and every compiled function, which each unpacks in one place.
Every other parameter is named after the contract argument it receives
(``x``, ``mask``, ``h_states``, ...) or after a workspace array, and the
driver passes arguments by those names: this backend takes the contract's
argument order from the signatures of :mod:`fastrnn.reference` and never
repeats it.
"""

import inspect
from operator import itemgetter

import numpy as np

from .. import config as _config
from .._slices import run_fixed_slices
from ..activations import LINEAR

__all__ = [
    "OPTIONS",
    "ALWAYS_BY_HAND",
    "slice_count",
    "gate_gradient_workspace",
    "forward_kernel",
    "backward_kernel",
]

#: The options record ``opts`` of every compiled function, in this order.
OPTIONS = (
    "activation",
    "recurrent_activation",
    "reset_after",
    "go_backwards",
    "zero_output_for_mask",
)

#: The value of an option that a cell's contract does not take (SimpleRNN has
#: no recurrent activation, only the GRU has ``reset_after``).
_OPTION_DEFAULTS = (LINEAR, LINEAR, False, False, False)

#: The ``hand_max`` of a sliced call: every product by hand.
ALWAYS_BY_HAND = np.iinfo(np.int64).max

#: (initial state, states) and (final-state gradient, initial-state gradient)
#: argument pairs of the contract, for the empty-batch case.
_STATE_COPIES = (("h0", "h_states"), ("c0", "c_states"))
_STATE_GRADIENT_COPIES = (("d_h_last", "d_h0"), ("d_c_last", "d_c0"))
_WEIGHT_AND_INPUT_GRADIENTS = ("dx", "d_kernel", "d_recurrent_kernel", "d_bias")


def slice_count(settings, batch, timesteps, features, units, width):
    """How many batch slices a call runs as (the rule of :mod:`fastrnn.config`).

    Parameters
    ----------
    settings : fastrnn.config.KernelSettings
    batch, timesteps, features, units : int
        The call's B, T, D and H.
    width : int
        G*H, the width of the gate block.

    Returns
    -------
    int
        0 to run the whole batch on the calling thread, each product chosen
        by size; else the number of slices, one per thread, at least 1.
    """
    if (
        batch < settings.slice_min_batch
        or timesteps * batch * width * (units + features) < settings.slice_min_work
    ):
        return 0
    return max(1, min(settings.num_threads, batch // settings.slice_min_rows))


def gate_gradient_workspace(opts, x, recurrent_kernel):
    """The backward workspace of SimpleRNN and LSTM: ``dgates`` (T*B, G*H), the
    gradients of the gate pre-activations, row s*B + b for step s of row b."""
    batch, timesteps, _ = x.shape
    return (np.empty((timesteps * batch, recurrent_kernel.shape[1]), x.dtype),)


def _parameters(function, leading):
    """The parameter names of a (compiled) function after its ``leading`` ones."""
    names = list(inspect.signature(getattr(function, "py_func", function)).parameters)
    if names[: len(leading)] != list(leading):
        raise TypeError(f"{function.__name__} must start with the parameters {leading}")
    return names[len(leading) :]


def _picker(wanted, available, owner):
    """A function of a sequence laid out as ``available`` (names) returning the
    tuple of its entries named ``wanted``."""
    missing = [name for name in wanted if name not in available]
    if missing:
        raise TypeError(f"{owner} takes {missing}, which the contract does not provide")
    positions = [available.index(name) for name in wanted]
    if len(positions) == 1:
        (position,) = positions
        return lambda values: (values[position],)
    return itemgetter(*positions)


def _compile_small_call(contract, calls, workspace=None):
    """A function ``small_call(a, hand_max)`` that runs a call of fewer than
    ``slice_min_batch`` rows (arguments ``a``, in the contract's order) on the
    calling thread: its options record, then each of ``calls`` in turn.

    It does what the general path does with ``take_options`` and the pickers,
    written out for this contract: a call of a few microseconds spends a
    good part of them in Python, and each generic pick costs a few hundred
    nanoseconds. ``calls`` are (function, leading arguments, parameter names)
    triples; with ``workspace`` = (function, its parameter names after
    ``opts``, the names of the arrays it returns), those arrays are made first
    and passed by name like the contract's.
    """
    namespace = {}
    where = {name: f"a[{i}]" for i, name in enumerate(contract.names)}
    lines = ["def small_call(a, hand_max):", f"    opts = {contract.options_source()}"]
    if workspace is not None:
        function, parameters, returned = workspace
        namespace["workspace"] = function
        arguments = ", ".join(where[name] for name in parameters)
        lines.append(f"    w = workspace(opts, {arguments})")
        where.update({name: f"w[{i}]" for i, name in enumerate(returned)})
    for k, (function, leading, parameters) in enumerate(calls):
        namespace[f"call{k}"] = function
        arguments = ", ".join([*leading, *(where[name] for name in parameters)])
        lines.append(f"    call{k}({arguments})")
    exec("\n".join(lines), namespace)  # the source is built above from names and indices only
    return namespace["small_call"]


#: The contract's dropout mask arguments, which always follow ``x, mask``.
_DROPOUT_MASKS = ("dropout_mask", "recurrent_dropout_mask")
_FIRST_MASK = 2


def _no_empty_masks(args):
    """``args`` with None in place of each empty dropout mask (M = 0 or R = 0)."""
    dropout_mask, recurrent_dropout_mask = args[_FIRST_MASK], args[_FIRST_MASK + 1]
    if len(dropout_mask) and len(recurrent_dropout_mask):
        return args
    return (
        *args[:_FIRST_MASK],
        dropout_mask if len(dropout_mask) else None,
        recurrent_dropout_mask if len(recurrent_dropout_mask) else None,
        *args[_FIRST_MASK + 2 :],
    )


def _run_rows(rows, slices, batch, hand_max, opts, arrays, mask):
    """Run ``rows`` over the whole batch (``slices`` 0 or 1) or the slices on
    threads, cut where the rows' work under ``mask`` is even."""
    if slices == 0:
        rows(0, batch, hand_max, opts, *arrays)
    elif slices == 1:
        rows(0, batch, ALWAYS_BY_HAND, opts, *arrays)
    else:

        def run_slice(b0, b1):
            rows(b0, b1, ALWAYS_BY_HAND, opts, *arrays)

        run_fixed_slices(slices, batch, run_slice, slices, mask)


def _public(reference_function, kernel):
    """Give ``kernel`` (which takes ``*args, **kwargs``) the contract's name,
    signature and docstring."""
    name = reference_function.__name__
    kernel.__name__ = kernel.__qualname__ = name
    kernel.__doc__ = f"The Numba ``{name}``; contract and signature: ``fastrnn.reference.{name}``."
    kernel.__signature__ = inspect.signature(reference_function)
    return kernel


class _Contract:
    """The argument names of one contract function and how to pick them out."""

    def __init__(self, reference_function):
        self.signature = inspect.signature(reference_function)
        self.names = list(self.signature.parameters)
        if tuple(self.names[_FIRST_MASK : _FIRST_MASK + 2]) != _DROPOUT_MASKS:
            raise TypeError(
                f"{reference_function.__name__} must take {_DROPOUT_MASKS} after x and mask"
            )
        self.x = self.names.index("x")
        self.mask = self.names.index("mask")
        self.recurrent_kernel = self.names.index("recurrent_kernel")
        # The kernels pick the options out of ``args + _OPTION_DEFAULTS``: an
        # option the contract lacks is read from the defaults after the args.
        after_args = len(self.names)
        self.take_options = itemgetter(
            *[
                self.names.index(name) if name in self.names else after_args + k
                for k, name in enumerate(OPTIONS)
            ]
        )

    def options_source(self):
        """The expression of the options record of a call whose arguments are ``a``."""
        values = [
            f"a[{self.names.index(name)}]" if name in self.names else repr(default)
            for name, default in zip(OPTIONS, _OPTION_DEFAULTS)
        ]
        return f"({', '.join(values)})"

    def pairs(self, pairs):
        """Positions of the (a, b) argument pairs both of whose names the contract has."""
        return [
            (self.names.index(a), self.names.index(b))
            for a, b in pairs
            if a in self.names and b in self.names
        ]


def forward_kernel(reference_function, rows):
    """The public forward kernel of one cell.

    Parameters
    ----------
    reference_function : callable
        The contract function (e.g. ``fastrnn.reference.lstm_forward``): its
        name, signature and argument names.
    rows : numba dispatcher
        ``rows(b0, b1, hand_max, opts, ...)``, the cell's time loop.
    """
    contract = _Contract(reference_function)
    row_parameters = _parameters(rows, ("b0", "b1", "hand_max", "opts"))
    take_rows = _picker(row_parameters, contract.names, rows.__name__)
    small_call = _compile_small_call(
        contract, [(rows, ("0", f"a[{contract.x}].shape[0]", "hand_max", "opts"), row_parameters)]
    )
    state_copies = contract.pairs(_STATE_COPIES)
    take_options, i_x, i_rk = contract.take_options, contract.x, contract.recurrent_kernel
    i_mask = contract.mask
    signature, arity = contract.signature, len(contract.names)

    def kernel(*args, **kwargs):
        if kwargs or len(args) != arity:
            args = signature.bind(*args, **kwargs).args
        args = _no_empty_masks(args)
        settings = _config.settings
        batch, timesteps, features = args[i_x].shape
        if 0 < batch < settings.slice_min_batch and timesteps:
            small_call(args, settings.hand_product_max)
            return
        if batch == 0 or timesteps == 0:
            for initial, states in state_copies:
                args[states][0] = args[initial]
            return
        opts = take_options(args + _OPTION_DEFAULTS)
        units, width = args[i_rk].shape
        slices = slice_count(settings, batch, timesteps, features, units, width)
        _run_rows(
            rows, slices, batch, settings.hand_product_max, opts, take_rows(args), args[i_mask]
        )

    return _public(reference_function, kernel)


def backward_kernel(reference_function, rows, workspace, workspace_names, weight_grads):
    """The public backward kernel of one cell.

    Parameters
    ----------
    reference_function : callable
        The contract function (e.g. ``fastrnn.reference.lstm_backward``).
    rows : numba dispatcher
        ``rows(b0, b1, hand_max, opts, ...)``, the cell's backward time loop.
    workspace : callable
        ``workspace(opts, ...)`` -> tuple of arrays, named ``workspace_names``.
    workspace_names : tuple of str
    weight_grads : numba dispatcher
        ``weight_grads(hand_max, opts, ...)``, the epilogue after the time loop.
    """
    contract = _Contract(reference_function)
    names = contract.names + list(workspace_names)
    row_parameters = _parameters(rows, ("b0", "b1", "hand_max", "opts"))
    grad_parameters = _parameters(weight_grads, ("hand_max", "opts"))
    workspace_parameters = _parameters(workspace, ("opts",))
    take_rows = _picker(row_parameters, names, rows.__name__)
    take_grads = _picker(grad_parameters, names, weight_grads.__name__)
    take_workspace = _picker(workspace_parameters, contract.names, workspace.__name__)
    small_call = _compile_small_call(
        contract,
        [
            (rows, ("0", f"a[{contract.x}].shape[0]", "hand_max", "opts"), row_parameters),
            (weight_grads, ("hand_max", "opts"), grad_parameters),
        ],
        (workspace, workspace_parameters, workspace_names),
    )
    state_gradient_copies = contract.pairs(_STATE_GRADIENT_COPIES)
    zeroed = [contract.names.index(name) for name in _WEIGHT_AND_INPUT_GRADIENTS]
    take_options, i_x, i_rk = contract.take_options, contract.x, contract.recurrent_kernel
    i_mask = contract.mask
    signature, arity = contract.signature, len(contract.names)

    def kernel(*args, **kwargs):
        if kwargs or len(args) != arity:
            args = signature.bind(*args, **kwargs).args
        args = _no_empty_masks(args)
        settings = _config.settings
        batch, timesteps, features = args[i_x].shape
        if 0 < batch < settings.slice_min_batch and timesteps:
            small_call(args, settings.hand_product_max)
            return
        if batch == 0 or timesteps == 0:
            for last, initial in state_gradient_copies:
                args[initial][...] = args[last]
            for i in zeroed:
                args[i][...] = 0
            return
        hand_max = settings.hand_product_max
        opts = take_options(args + _OPTION_DEFAULTS)
        arrays = args + workspace(opts, *take_workspace(args))
        units, width = args[i_rk].shape
        slices = slice_count(settings, batch, timesteps, features, units, width)
        _run_rows(rows, slices, batch, hand_max, opts, take_rows(arrays), args[i_mask])
        weight_grads(hand_max, opts, *take_grads(arrays))

    return _public(reference_function, kernel)
