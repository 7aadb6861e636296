"""Weight initializers, by object or by Keras name (Keras 3 semantics).

An initializer is called as ``init(shape, dtype, rng=None)``. One built with
a ``seed`` draws from its own generator, so it gives the same values every
time; one without a seed draws from ``rng`` (the layer's generator, seeded
by the layer's ``seed=``) or from fresh entropy.
"""

import inspect

import numpy as np

from ._random import new_generator
from ._validation import check_real, check_seed

__all__ = [
    "Initializer",
    "Constant",
    "Zeros",
    "Ones",
    "GlorotUniform",
    "Orthogonal",
    "RandomUniform",
    "RandomNormal",
    "FromCallable",
    "get",
]


class Initializer:
    seed = None

    def _rng(self, rng):
        if self.seed is not None:
            return np.random.default_rng(self.seed)
        return rng if rng is not None else new_generator()

    def __call__(self, shape, dtype="float32", rng=None):
        raise NotImplementedError

    def get_config(self):
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Constant(Initializer):
    """Every value equal to ``value``."""

    def __init__(self, value=0.0):
        self.value = check_real(value, "value")

    def __call__(self, shape, dtype="float32", rng=None):
        return np.full(shape, self.value, dtype=dtype)

    def get_config(self):
        return {"value": self.value}


class Zeros(Constant):
    def __init__(self):
        super().__init__(0.0)

    def get_config(self):
        return {}


class Ones(Constant):
    def __init__(self):
        super().__init__(1.0)

    def get_config(self):
        return {}


def _fans(shape):
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


class GlorotUniform(Initializer):
    """Uniform in ``[-limit, limit]``, ``limit = sqrt(6 / (fan_in + fan_out))``."""

    def __init__(self, seed=None):
        self.seed = check_seed(seed)

    def __call__(self, shape, dtype="float32", rng=None):
        fan_in, fan_out = _fans(shape)
        limit = np.sqrt(6.0 / max(1, fan_in + fan_out))
        return self._rng(rng).uniform(-limit, limit, size=shape).astype(dtype)

    def get_config(self):
        return {"seed": self.seed}


class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix from the QR decomposition of a normal matrix."""

    def __init__(self, gain=1.0, seed=None):
        self.gain = check_real(gain, "gain")
        self.seed = check_seed(seed)

    def __call__(self, shape, dtype="float32", rng=None):
        rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        cols = shape[-1]
        a = self._rng(rng).standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return np.ascontiguousarray((self.gain * q).reshape(shape), dtype=dtype)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval = check_real(minval, "minval"), check_real(maxval, "maxval")
        self.seed = check_seed(seed)

    def __call__(self, shape, dtype="float32", rng=None):
        return self._rng(rng).uniform(self.minval, self.maxval, size=shape).astype(dtype)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev = check_real(mean, "mean"), check_real(stddev, "stddev")
        if self.stddev < 0:
            raise ValueError(f"`stddev` must be non-negative, got {stddev!r}")
        self.seed = check_seed(seed)

    def __call__(self, shape, dtype="float32", rng=None):
        return self._rng(rng).normal(self.mean, self.stddev, size=shape).astype(dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class FromCallable(Initializer):
    """Any callable ``fn(shape, dtype) -> array`` (or ``fn(shape)``) as an initializer.

    Keras's own initializer objects (``keras.initializers.GlorotUniform(seed=1)``)
    are such callables, so they can be passed to fastrnn layers unchanged;
    what they return is converted with ``np.asarray`` and must have the
    weight's shape.
    """

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError(f"an initializer must be callable, got {fn!r}")
        self.fn = fn
        try:
            inspect.signature(fn).bind((1,), "float32")
            self._takes_dtype = True
        except (TypeError, ValueError):  # no second argument, or no signature to read
            self._takes_dtype = False

    def __call__(self, shape, dtype="float32", rng=None):
        shape = tuple(shape)
        value = self.fn(shape, dtype) if self._takes_dtype else self.fn(shape)
        array = np.asarray(value, dtype=dtype)
        if array.shape != shape:
            raise ValueError(
                f"the initializer {self.fn!r} returned an array of shape {array.shape} "
                f"for a weight of shape {shape}"
            )
        return array

    def get_config(self):
        return {"fn": repr(self.fn)}


class _Unrestorable(Initializer):
    """What a saved :class:`FromCallable` comes back as: ``load_model`` takes the
    saved weights and never calls it; drawing new weights with it is an error."""

    def __init__(self, fn=""):
        self.fn = fn

    def __call__(self, shape, dtype="float32", rng=None):
        raise ValueError(
            f"this layer was configured with a custom initializer ({self.fn}), which a "
            f"config cannot hold; pass the initializer again to draw new weights"
        )

    def get_config(self):
        return {"fn": self.fn}


def _keras_twin(fn):
    """Our initializer of the same Keras class name and config as ``fn``, or None."""
    cls = _CLASSES.get(type(fn).__name__)
    get_config = getattr(fn, "get_config", None)
    if cls is None or not callable(get_config):
        return None
    try:
        config = dict(get_config())
        parameters = inspect.signature(cls).parameters
        return cls(**{k: v for k, v in config.items() if k in parameters})
    except (TypeError, ValueError):
        return None


_BY_NAME = {
    "constant": Constant,
    "zeros": Zeros,
    "ones": Ones,
    "glorot_uniform": GlorotUniform,
    "orthogonal": Orthogonal,
    "random_uniform": RandomUniform,
    "uniform": RandomUniform,
    "random_normal": RandomNormal,
    "normal": RandomNormal,
}
_CLASSES = {
    cls.__name__: cls
    for cls in (Constant, Zeros, Ones, GlorotUniform, Orthogonal, RandomUniform, RandomNormal)
}


def get(identifier, argument="initializer"):
    """Return an initializer from an object, a snake_case name, a config dict,
    or any callable ``fn(shape, dtype) -> array`` (a Keras initializer object
    included, which then draws Keras's own values)."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, dict) and identifier.get("class_name") in _CLASSES:
        return _CLASSES[identifier["class_name"]](**identifier.get("config", {}))
    if isinstance(identifier, dict) and identifier.get("class_name") == "FromCallable":
        return _Unrestorable(**identifier.get("config", {}))
    if callable(identifier) and not isinstance(identifier, type):
        return FromCallable(identifier)
    if isinstance(identifier, str):
        if identifier in _BY_NAME:
            return _BY_NAME[identifier]()
        raise ValueError(
            f"Unknown value for `{argument}`: expected one of "
            f"{sorted(_BY_NAME)} or an Initializer, got {identifier!r}"
        )
    raise TypeError(
        f"`{argument}` must be an Initializer, a callable (shape, dtype) -> array, or one "
        f"of {sorted(_BY_NAME)}; got {identifier!r}"
    )


def serialize(initializer):
    """A JSON-able config. A callable that is a Keras initializer of one of the
    classes above is saved as ours (same class name and arguments); another
    callable as a ``FromCallable`` that comes back unable to draw weights (a
    loaded model has its saved ones)."""
    if isinstance(initializer, FromCallable):
        twin = _keras_twin(initializer.fn)
        if twin is not None:
            return serialize(twin)
    name = "FromCallable" if isinstance(initializer, _Unrestorable) else type(initializer).__name__
    return {"class_name": name, "config": initializer.get_config()}
