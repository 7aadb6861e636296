"""The Layer base class, the input checks every layer shares, and the types
of the layers' signatures (:data:`FloatArray`, :data:`Shape`, ...)."""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt

from .._random import new_generator
from .._validation import check_bool as check_bool  # the layers import it from here
from .._validation import check_seed
from ..initializers import Initializer
from ._graph import KerasTensor, traced_call

#: An array of a layer's float dtype (float32 or float64).
FloatArray: TypeAlias = npt.NDArray[np.floating]
#: A boolean array: a mask of shape (batch, timesteps).
BoolArray: TypeAlias = npt.NDArray[np.bool_]
#: A shape as Keras spells it, None for a size not known yet: ``(None, 10, 8)``.
Shape: TypeAlias = Sequence[int | None]
#: A shape as the layers give it back (``compute_output_shape``).
ShapeTuple: TypeAlias = tuple[int | None, ...]
#: A dtype: a name (``"float32"``, ``"float64"``), a NumPy dtype or a NumPy scalar type.
DTypeSpec: TypeAlias = str | np.dtype | type[np.floating] | None
#: An initializer: a Keras name (``"glorot_uniform"``), an :class:`Initializer`,
#: or the ``{"class_name": ..., "config": ...}`` dict ``initializers.serialize`` makes.
InitializerSpec: TypeAlias = str | Initializer | dict[str, Any]
#: An activation: a Keras name (``"tanh"``), one of the functions of
#: :mod:`fastrnn.activations`, or None for linear.
ActivationSpec: TypeAlias = str | Callable[..., Any] | None

_LayerT = TypeVar("_LayerT", bound="Layer")

DTYPES = ("float32", "float64")
_name_counts: defaultdict[str, int] = defaultdict(int)


def _snake_case(name):
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base: str) -> str:
    """Keras-style automatic names: ``lstm``, ``lstm_1``, ``lstm_2``..."""
    count = _name_counts[base]
    _name_counts[base] += 1
    return base if count == 0 else f"{base}_{count}"


def check_dtype(dtype: DTypeSpec) -> str:
    """The name of ``dtype``, one of :data:`DTYPES` (ValueError otherwise);
    None is Keras's default, float32 (NumPy would read it as float64)."""
    if dtype is None:
        return "float32"
    try:
        name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    except TypeError:  # not a dtype at all (3, an object, ...)
        name = None
    if name not in DTYPES:
        raise ValueError(
            f"Unknown value for `dtype`: expected one of {list(DTYPES)}, got {dtype!r}"
        )
    return name


def check_name(name: object, argument: str = "name") -> str:
    """A layer or model name: a string without ``/`` (as Keras 3 requires)."""
    if not isinstance(name, str):
        raise TypeError(f"`{argument}` must be a string, got {name!r}")
    if "/" in name:
        raise ValueError(f"`{argument}` cannot contain the character '/'; got {name!r}")
    return name


def check_positive_int(value: object, argument: str) -> int:
    """``value`` as an int, if it is a positive integer (TypeError, ValueError otherwise)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"Received an invalid value for argument `{argument}`: expected a "
            f"positive integer, got {value!r} of type {type(value).__name__}"
        )
    if value <= 0:
        raise ValueError(
            f"Received an invalid value for argument `{argument}`: expected a "
            f"positive integer, got {value}"
        )
    return int(value)


def as_float_array(
    value: npt.ArrayLike, dtype: DTypeSpec, argument: str = "inputs", ndim: int | None = None
) -> FloatArray:
    """Turn array-like input into a float ndarray of ``dtype``.

    Raises TypeError for non-numeric input, ValueError for ragged input or a
    wrong number of dimensions (naming the expected and given shapes).
    """
    if isinstance(value, np.ndarray) and value.dtype == dtype:
        array = value
    else:
        if value is None:
            raise TypeError(f"`{argument}` must be a numeric array; got None")
        try:
            array = np.asarray(value)
        except ValueError as exc:  # ragged nested lists
            raise ValueError(
                f"`{argument}` must be a rectangular array; got ragged nested sequences ({exc})"
            ) from None
        if array.dtype == object:
            kinds = sorted({type(v).__name__ for v in array.flat[:1000]})
            raise ValueError(
                f"`{argument}` must be a rectangular numeric array; got ragged or mixed-type "
                f"data (elements of type {', '.join(kinds)})"
            )
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
            raise TypeError(f"`{argument}` must be numeric; got an array of dtype {array.dtype}")
        if np.issubdtype(array.dtype, np.complexfloating):
            raise TypeError(f"`{argument}` must be real; got dtype {array.dtype}")
        array = array.astype(dtype, copy=False)
    if ndim is not None and array.ndim != ndim:
        expected = {2: "(batch, features)", 3: "(batch, timesteps, features)"}.get(
            ndim, f"{ndim}-D"
        )
        raise ValueError(
            f"`{argument}` must be {ndim}-D with shape {expected}; got an "
            f"array of shape {array.shape}"
        )
    return array


def input_shape_from_args(
    input_shape: Shape | None = None,
    batch_input_shape: Shape | None = None,
    input_dim: int | None = None,
    input_length: int | None = None,
) -> ShapeTuple | None:
    """Combine Keras's spellings of an input shape into (batch, *rest) or None.

    Raises
    ------
    TypeError, ValueError
        For a shape that is not a tuple of positive integers (or None), naming
        the argument and what was given.
    """
    if batch_input_shape is not None:
        return check_shape(batch_input_shape, "batch_input_shape")
    if input_shape is not None:
        return (None, *check_shape(input_shape, "input_shape"))
    if input_dim is not None:
        dim = check_positive_int(input_dim, "input_dim")
        length = None if input_length is None else check_positive_int(input_length, "input_length")
        return (None, length, dim)
    return None


def check_shape(shape: object, argument: str, allow_zero: bool = False) -> ShapeTuple:
    """``shape`` as a tuple of positive ints or None entries (Keras's unknown sizes);
    with ``allow_zero``, sizes of 0 too (a build from an empty batch)."""
    if isinstance(shape, (str, bytes)) or not isinstance(shape, (tuple, list)):
        raise TypeError(
            f"`{argument}` must be a tuple of integers (None for an unknown size); got {shape!r}"
        )
    checked = []
    for i, n in enumerate(shape):
        if n is None:
            checked.append(None)
        elif allow_zero and _is_zero(n):
            checked.append(0)
        else:
            checked.append(check_positive_int(n, f"{argument}[{i}]"))
    return tuple(checked)


def _checked_build_shape(input_shape: object) -> ShapeTuple | list[ShapeTuple]:
    """What ``build`` is given, checked: one shape, or a list of shapes (a layer
    called on a list of inputs, such as Attention)."""
    if (
        isinstance(input_shape, (list, tuple))
        and input_shape
        and all(isinstance(s, (list, tuple)) for s in input_shape)
    ):
        return [
            check_shape(s, f"input_shape[{i}]", allow_zero=True) for i, s in enumerate(input_shape)
        ]
    return check_shape(input_shape, "input_shape", allow_zero=True)


def _is_zero(n: object) -> bool:
    return isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_)) and n == 0


#: Weight arrays start on a cache line. NumPy only guarantees 16 bytes, and
#: the compiled kernels' vector loads of a weight row that starts mid-line
#: straddle two cache lines, which slows every time step down. Weights are
#: only ever updated in place (``set_weights``, the optimizers), so the
#: alignment lasts as long as the layer.
WEIGHT_ALIGNMENT = 64


def _aligned_copy(value, dtype):
    """A C-contiguous copy of ``value`` as ``dtype`` whose data starts on a
    multiple of ``WEIGHT_ALIGNMENT`` bytes."""
    value = np.asarray(value, dtype=dtype)
    nbytes = value.nbytes
    buffer = np.empty(nbytes + WEIGHT_ALIGNMENT, dtype=np.uint8)
    offset = -buffer.ctypes.data % WEIGHT_ALIGNMENT
    array = buffer[offset : offset + nbytes].view(dtype).reshape(value.shape)
    array[...] = value
    return array


def available_memory_bytes() -> int | None:
    """Memory a new allocation can use now, in bytes, or None where the OS does not say.

    Linux's ``MemAvailable`` (free memory plus what caches give back);
    elsewhere the physical memory.
    """
    try:
        with open("/proc/meminfo", "rb") as meminfo:
            for line in meminfo:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


#: Bytes per weight element that creating a weight needs at its peak: the
#: initializers draw in float64 (with a float64 temporary besides), then
#: the weight is cast to its dtype and copied to aligned memory.
_INIT_BYTES_PER_FLOAT64 = 2


def _format_bytes(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if nbytes < 1024 or unit == "PiB":
            return f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    raise AssertionError("unreachable")


class _WeightSource:
    """Saved weight arrays that layers built under :func:`weights_from` take in order."""

    def __init__(self, arrays: Sequence[np.ndarray]) -> None:
        self.arrays = list(arrays)
        self.taken = 0

    def take(self, layer: Layer, name: str, shape: ShapeTuple) -> np.ndarray:
        if self.taken == len(self.arrays):
            raise ValueError(
                f"layer {layer.name!r} declares weight `{name}` of shape {shape}, but the "
                f"saved weights are all used up ({len(self.arrays)} arrays)"
            )
        stored = self.arrays[self.taken]
        if tuple(np.shape(stored)) != shape:
            raise ValueError(
                f"layer {layer.name!r} declares weight `{name}` of shape {shape}, but saved "
                f"weight {self.taken} has shape {tuple(np.shape(stored))}"
            )
        self.taken += 1
        return as_float_array(stored, layer.dtype, argument=f"saved {name}")

    def check_all_taken(self) -> None:
        if self.taken != len(self.arrays):
            raise ValueError(
                f"the layers declare {self.taken} weights, but {len(self.arrays)} are saved"
            )


_building = threading.local()


@contextlib.contextmanager
def weights_from(arrays: Sequence[np.ndarray]):
    """Layers built in this thread inside the block take ``arrays`` as their weights.

    In the order the layers build them (Keras order), each declared weight
    shape is checked against the next saved array *before* anything is
    allocated, and no initializer runs: a file that declares a huge layer
    but holds small arrays fails at once. ``load_model`` builds this way.
    On leaving the block, every array must have been taken.
    """
    source = _WeightSource(arrays)
    _building.source = source
    try:
        yield source
        source.check_all_taken()
    finally:
        _building.source = None


#: Held while any layer builds: the first calls of a fresh layer from several
#: threads at once (an inference server warming up) build it once, the others
#: wait and find it built. Builds happen once per layer, so one lock for all
#: costs nothing, and layers hold no lock of their own (they stay copyable).
_BUILD_LOCK = threading.RLock()


class Layer:
    """Base class: a name, weights in Keras order, gradients, config.

    Subclasses set ``self._weight_names`` in ``build`` and keep each weight as
    an attribute of that name; ``weights`` returns the live arrays (so an
    optimizer can update them in place), ``get_weights`` copies of them.
    Every subclass's ``build`` runs under one lock (``_BUILD_LOCK``), and
    must return at once when the layer is already built. The shape it is
    given is checked first (a tuple of positive integers or None), and a
    build that raises leaves the layer as it was.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        call = cls.__dict__.get("__call__")
        if call is not None and not getattr(call, "_traced", False):
            # Calls on symbolic tensors build a graph; calls inside a
            # subclassed model's call() are recorded (layers/_graph.py).
            cls.__call__ = traced_call(call)  # type: ignore[method-assign]
        build = cls.__dict__.get("build")
        if build is not None and not getattr(build, "_under_build_lock", False):
            parameter = inspect.signature(build).parameters.get("input_shape")
            needs_shape = parameter is not None and parameter.default is inspect.Parameter.empty

            @functools.wraps(build)
            def locked_build(self, input_shape=None, *args, **kw):
                if input_shape is not None:
                    input_shape = _checked_build_shape(input_shape)
                elif needs_shape:
                    raise TypeError(
                        f"Layer {self.name!r}: build needs `input_shape`, a tuple of "
                        f"integers (None for an unknown size); got None"
                    )
                with _BUILD_LOCK:
                    before = dict(self.__dict__)
                    before_names = list(self.__dict__.get("_weight_names", ()))
                    rng = self.__dict__.get("_rng")
                    rng_state = rng.bit_generator.state if rng is not None else None
                    try:
                        return build(self, input_shape, *args, **kw)
                    except BaseException:
                        # A build that fails part way (a weight too big, a
                        # saved array of the wrong shape) leaves the layer as
                        # it was: no new weights or attributes, and its
                        # generator where it was (a retry draws the same weights).
                        self.__dict__.clear()
                        self.__dict__.update(before)
                        self.__dict__["_weight_names"] = before_names
                        if rng is not None:
                            rng.bit_generator.state = rng_state
                        raise

            locked_build._under_build_lock = True  # type: ignore[attr-defined]
            cls.build = locked_build  # type: ignore[method-assign]

    supports_masking: bool = False
    #: Whether the layer is called on a list of inputs (merges, attention).
    _takes_lists: bool = False
    #: What ``backward`` needs, kept by a call with ``training=True`` (else None).
    _cache: Any

    def __init__(
        self,
        name: str | None = None,
        dtype: DTypeSpec = "float32",
        input_shape: Shape | None = None,
        batch_input_shape: Shape | None = None,
        seed: int | np.integer | None = None,
    ) -> None:
        self.name = name if name is not None else unique_name(_snake_case(type(self).__name__))
        check_name(self.name)
        self.dtype = check_dtype(dtype)
        self.seed = check_seed(seed)
        self._rng = new_generator(self.seed)
        self.built = False
        self._weight_names: list[str] = []
        self.gradients: list[FloatArray] | None = None
        self._batch_input_shape: ShapeTuple | None = None
        if input_shape is not None or batch_input_shape is not None:
            self._batch_input_shape = input_shape_from_args(input_shape, batch_input_shape)

    # -- weights ---------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        """Assigning a weight attribute (``layer.kernel = array``) once it exists
        checks the new value first: the same shape (the kernels trust it), as a
        float array of the layer's dtype, stored as an aligned C-contiguous
        copy. A wrong one raises, and the layer keeps its weight."""
        names = self.__dict__.get("_weight_names")
        if names and name in names and name in self.__dict__:
            old = self.__dict__[name]
            array = as_float_array(value, self.dtype, argument=name)
            if array.shape != old.shape:
                raise ValueError(
                    f"Layer {self.name!r}: weight `{name}` must have shape {old.shape}, "
                    f"got {array.shape}"
                )
            value = _aligned_copy(array, self.dtype)
        object.__setattr__(self, name, value)

    @property
    def weights(self) -> list[FloatArray]:
        """The live weight arrays, in Keras order."""
        return [getattr(self, n) for n in self._weight_names]

    @property
    def trainable_weights(self) -> list[FloatArray]:
        return self.weights

    def get_weights(self) -> list[FloatArray]:
        """Copies of the weights, in Keras order."""
        return [w.copy() for w in self.weights]

    def set_weights(self, weights: Sequence[npt.ArrayLike]) -> None:
        """Set all weights from a list in Keras order (checked before any change)."""
        current = self.weights
        if not self.built:
            raise ValueError(
                f"Layer {self.name!r} has no weights yet: call it on an input "
                f"or call build(input_shape) before set_weights"
            )
        if isinstance(weights, np.ndarray) or not hasattr(weights, "__len__"):
            raise TypeError(
                f"`weights` must be a list of {len(current)} arrays, got {type(weights).__name__}"
            )
        if len(weights) != len(current):
            raise ValueError(
                f"Layer {self.name!r} expects {len(current)} weights "
                f"{[w.shape for w in current]}, but set_weights got "
                f"{len(weights)}"
            )
        new = []
        for i, (name, old, value) in enumerate(zip(self._weight_names, current, weights)):
            array = as_float_array(value, self.dtype, argument=f"weights[{i}] ({name})")
            if array.shape != old.shape:
                raise ValueError(
                    f"Layer {self.name!r}: weight `{name}` must have shape "
                    f"{old.shape}, got {array.shape}"
                )
            new.append(array)
        for old, array in zip(current, new):
            old[...] = array

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(
                f"Layer {self.name!r} is not built yet: its parameter count "
                f"depends on the input shape. Call build(input_shape) first."
            )
        return int(sum(w.size for w in self.weights))

    #: The constructor arguments that set this layer's weight sizes, named
    #: when a weight would not fit in memory.
    _size_arguments: tuple[str, ...] = ()

    def _add_weight(self, name, shape, initializer):
        shape = tuple(int(n) for n in shape)
        source = getattr(_building, "source", None)
        if source is not None:
            value = source.take(self, name, shape)
        else:
            self._check_fits_in_memory(name, shape)
            try:
                value = initializer(shape, self.dtype, rng=self._rng)
            except MemoryError as exc:  # the initializer's temporaries did not fit
                raise MemoryError(
                    f"Layer {self.name!r}: initializing weight `{name}` of shape {shape} ran "
                    f"out of memory ({exc}); check {self._size_argument_text()}"
                ) from None
        setattr(self, name, _aligned_copy(value, self.dtype))
        self._weight_names.append(name)

    def _check_fits_in_memory(self, name, shape):
        """ValueError naming the size arguments if creating weight ``name`` cannot fit.

        Checked before anything is allocated, against the memory available
        now: a weight that does not fit would otherwise raise NumPy's
        MemoryError, or, where the OS overcommits, get the process killed.
        """
        itemsize = np.dtype(self.dtype).itemsize
        elements = float(np.prod(shape, dtype=float))
        nbytes = elements * itemsize
        peak = elements * (8 * _INIT_BYTES_PER_FLOAT64 + 2 * itemsize)
        memory = available_memory_bytes()
        if memory is None or peak <= memory:
            return
        raise ValueError(
            f"Layer {self.name!r}: weight `{name}` of shape {shape} would take "
            f"{_format_bytes(nbytes)} ({_format_bytes(peak)} while it is initialized), more "
            f"than the memory available ({_format_bytes(memory)}); check "
            f"{self._size_argument_text()}"
        )

    def _size_argument_text(self):
        arguments = [
            f"{arg}={getattr(self, arg)!r}" for arg in self._size_arguments if hasattr(self, arg)
        ]
        return ", ".join(arguments + ["the input shape"])

    def build(self, input_shape: Shape | None = None) -> None:
        """Create the weights (layers without weights have nothing to do)."""
        self.built = True

    # -- masks and shapes ---------------------------------------------------
    def compute_mask(
        self, inputs: npt.ArrayLike, mask: npt.ArrayLike | None = None
    ) -> npt.ArrayLike | None:
        """The mask that goes with this layer's output (passes through by default)."""
        return mask

    def compute_output_shape(self, input_shape: Shape) -> ShapeTuple | list[ShapeTuple]:
        return tuple(input_shape)

    # -- config ---------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"name": self.name, "dtype": self.dtype}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        return config

    @classmethod
    def from_config(cls: type[_LayerT], config: Mapping[str, Any]) -> _LayerT:
        return cls(**config)

    def _check_dataset(self, x: Any, argument: str) -> None:
        """Check, before ``fit`` or ``evaluate`` runs a step, what this layer would
        refuse in some batch of ``x`` that the first batch does not show (an
        Embedding's index ranges). Shapes need no check here: every batch has
        the first one's."""

    #: The attributes a call changes: what ``backward`` needs, and (for
    #: stateful layers) the states carried to the next call.
    _call_attributes: tuple[str, ...] = ("_cache",)

    def _call_state(self) -> Any:
        """What a call changes, to put back with :meth:`_restore_call_state`
        when a call that spans several layers fails part way."""
        return tuple(self.__dict__.get(name) for name in self._call_attributes)

    def _restore_call_state(self, state: Any) -> None:
        for name, value in zip(self._call_attributes, state):
            self.__dict__[name] = value

    def _input_gradient(self, dy, shape):
        """``dy`` checked against ``shape``, for a layer without weights
        (its ``gradients`` become the empty list)."""
        self.gradients = []
        return check_gradient(dy, shape, dtype=self.dtype)

    # -- the functional API -------------------------------------------------
    def _node_attribute(self, attribute: str):
        nodes = self.__dict__.get("_inbound_nodes")
        if not nodes:
            raise AttributeError(
                f"Layer {self.name!r} has no {attribute} yet: it has never been called on a "
                f"symbolic tensor (fastrnn.Input(...) and what layers return for it)"
            )
        node = nodes[0]
        if attribute == "output":
            return node.result()
        inputs = node.arguments.inputs
        return list(inputs) if isinstance(inputs, (list, tuple)) else inputs

    @property
    def output(self) -> KerasTensor | list[KerasTensor]:
        """The symbolic output of the layer's first call on symbolic tensors (Keras 3)."""
        return self._node_attribute("output")

    @property
    def input(self) -> KerasTensor | list[KerasTensor]:
        """The symbolic input of the layer's first call on symbolic tensors (Keras 3)."""
        return self._node_attribute("input")

    def _require_training_call(self):
        if getattr(self, "_cache", None) is None:
            raise ValueError(
                f"Layer {self.name!r}: backward() needs a preceding call with "
                f"training=True; none was made (or it was not in training mode)"
            )
        return self._cache

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


def check_gradient(
    dy: npt.ArrayLike,
    expected_shape: Sequence[int],
    argument: str = "dy",
    dtype: DTypeSpec = "float64",
) -> FloatArray:
    """Check an upstream gradient's shape; returns a float array."""
    array = as_float_array(dy, dtype, argument=argument)
    if array.shape != tuple(expected_shape):
        raise ValueError(
            f"`{argument}` must have the shape of the layer's output "
            f"{tuple(expected_shape)}, got {array.shape}"
        )
    return array
