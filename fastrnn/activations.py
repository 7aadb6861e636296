"""Activation functions by name, and the integer codes the kernels use.

Kernels take an activation as a small integer (``LINEAR``, ``TANH``,
``SIGMOID``, ``RELU``) so that compiled backends can branch on it cheaply.
Layers accept the Keras names and convert them once with :func:`get_code`.

Every recurrent activation here has a derivative that can be written in
terms of its *output* ``y = act(a)``, which is what backpropagation through
time has at hand:

========  ==================  =========================
name      act(a)              act'(a) from y = act(a)
========  ==================  =========================
linear    a                   1
tanh      tanh(a)             1 - y**2
sigmoid   1 / (1 + exp(-a))   y * (1 - y)
relu      max(a, 0)           1 if y > 0 else 0
========  ==================  =========================
"""

import numpy as np

LINEAR = 0
TANH = 1
SIGMOID = 2
RELU = 3

_CODES = {"linear": LINEAR, "tanh": TANH, "sigmoid": SIGMOID, "relu": RELU}
_NAMES = {code: name for name, code in _CODES.items()}


def linear(a):
    return a


def tanh(a):
    return np.tanh(a)


def sigmoid(a):
    # Split by sign so exp never overflows (exp(-|a|) <= 1).
    a = np.asarray(a)
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(a.dtype, copy=False)


def relu(a):
    return np.maximum(a, 0)


def softmax(a, axis=-1):
    shifted = a - np.max(a, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


_FUNCTIONS = {"linear": linear, "tanh": tanh, "sigmoid": sigmoid, "relu": relu, "softmax": softmax}

#: Names accepted by every layer's ``activation`` argument.
ACTIVATION_NAMES = tuple(_FUNCTIONS)
#: Names a recurrent kernel can evaluate (softmax is not elementwise).
RECURRENT_ACTIVATION_NAMES = tuple(_CODES)


def canonical_name(activation, argument="activation", allowed=ACTIVATION_NAMES):
    """Return the canonical name of ``activation`` (None means "linear").

    Raises
    ------
    ValueError
        If the name is unknown; the message lists the valid names.
    TypeError
        If ``activation`` is neither a string nor None.
    """
    if activation is None:
        return "linear"
    if not isinstance(activation, str):
        name = getattr(activation, "__name__", None)
        if name in allowed and _FUNCTIONS.get(name) is activation:
            return name
        raise TypeError(
            f"`{argument}` must be a string naming an activation, one of "
            f"{list(allowed)}, or None; got {activation!r}"
        )
    if activation not in allowed:
        raise ValueError(
            f"Unknown value for `{argument}`: expected one of {list(allowed)}, got {activation!r}"
        )
    return activation


def get(activation, argument="activation"):
    """Return the elementwise function for an activation name."""
    return _FUNCTIONS[canonical_name(activation, argument)]


def get_code(activation, argument="activation"):
    """Return the kernel code (``LINEAR``, ``TANH``, ...) of an activation name."""
    return _CODES[canonical_name(activation, argument, RECURRENT_ACTIVATION_NAMES)]


def apply(code, a):
    """Apply the activation with kernel code ``code`` to ``a``."""
    return _FUNCTIONS[_NAMES[code]](a)


def derivative_from_output(code, y):
    """d act(a) / da, written in terms of the output ``y = act(a)``."""
    if code == LINEAR:
        return np.ones_like(y)
    if code == TANH:
        return 1 - y * y
    if code == SIGMOID:
        return y * (1 - y)
    if code == RELU:
        return (y > 0).astype(y.dtype)
    raise ValueError(f"unknown activation code {code}")
