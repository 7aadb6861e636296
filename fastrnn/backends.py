"""The backend registry: which module runs the kernels.

A backend is a module implementing the kernel contract of
:mod:`fastrnn.reference` function for function. Backends are imported
lazily, on first use, so ``import fastrnn`` stays cheap and a backend that
cannot be imported (Numba missing, the Cython extension not built) is simply
not available.
"""
import contextlib
import importlib
import os
import threading

__all__ = [
    "BackendUnavailableError",
    "available_backends",
    "get_backend",
    "set_backend",
    "use_backend",
    "resolve_backend",
]

#: Every backend fastrnn knows, in order of preference for ``"auto"``.
_MODULES = {
    "numba": "fastrnn.numba_kernels",
    "cython": "fastrnn._cython_kernels",
    "numpy": "fastrnn.reference",
}
_HOW_TO_GET = {
    "numba": "install Numba (`pip install numba`)",
    "cython": (
        "build the compiled extension: reinstall fastrnn from source with a C "
        "compiler and Cython available and FASTRNN_PUREPYTHON unset, e.g. "
        "`FASTRNN_STRICT_BUILD=1 pip install --no-build-isolation .`"
    ),
    "numpy": "",
}
VALID_NAMES = ("auto", "numpy", "numba", "cython")


class BackendUnavailableError(ValueError):
    """Raised when a backend is unknown or cannot be imported here."""


_loaded = {}
_import_errors = {}
_lock = threading.Lock()


def _load(name):
    """Import backend ``name``; return the module or None if it is unavailable."""
    with _lock:
        if name in _loaded:
            return _loaded[name]
        if name in _import_errors:
            return None
        if name == "cython" and os.environ.get("FASTRNN_PUREPYTHON"):
            _import_errors[name] = "FASTRNN_PUREPYTHON is set"
            return None
        try:
            module = importlib.import_module(_MODULES[name])
        except ImportError as exc:  # the backend is not installed or not built
            _import_errors[name] = str(exc)
            return None
        _loaded[name] = module
        return module


def available_backends():
    """Names of the backends that can run here, e.g. ``["numpy", "numba"]``.

    ``"numpy"`` (the reference) is always first; ``"cython"`` appears only
    when the compiled extension imports.
    """
    return [name for name in ("numpy", "numba", "cython") if _load(name) is not None]


_available = None


def _available_cached():
    global _available
    if _available is None:
        _available = available_backends()
    return _available


def _check_name(name, argument="backend"):
    if not isinstance(name, str):
        raise TypeError(
            f"`{argument}` must be a string, one of {list(VALID_NAMES)}; got {name!r}"
        )
    if name not in VALID_NAMES:
        raise BackendUnavailableError(
            f"Unknown backend for `{argument}`: {name!r}. Valid names: "
            f"{list(VALID_NAMES)}; available here: {available_backends()}"
        )
    if name != "auto" and _load(name) is None:
        raise BackendUnavailableError(
            f"Backend {name!r} is not available here ({_import_errors.get(name)}). "
            f"Available backends: {available_backends()}. To get it, "
            f"{_HOW_TO_GET[name]}."
        )
    return name


def _initial_default():
    name = os.environ.get("FASTRNN_BACKEND", "auto").strip() or "auto"
    return _check_name(name, argument="FASTRNN_BACKEND")


_default = None


def get_backend():
    """Name of the current default backend (``"auto"`` unless set)."""
    global _default
    if _default is None:
        _default = _initial_default()
    return _default


def set_backend(name):
    """Set the default backend: ``"numpy"``, ``"numba"``, ``"cython"`` or ``"auto"``.

    Raises
    ------
    BackendUnavailableError
        (a ``ValueError``) if the name is unknown or the backend cannot run
        here; the message names the available ones.
    """
    global _default
    _default = _check_name(name)


@contextlib.contextmanager
def use_backend(name):
    """Context manager: use backend ``name`` as the default inside the block."""
    previous = get_backend()
    set_backend(name)
    try:
        yield
    finally:
        set_backend(previous)


#: ``"auto"`` hands every call to Cython when it is built. Measured (float32,
#: layer calls, ms, Numba/Cython, forward and train, 2026-12-01, after the
#: Cython products gained packed weights and 8-row tiles): the benchmark
#: grid's tiny, small, medium and large shapes all favour Cython (see
#: docs/benchmarks.md), and so do few rows with big weights, which until
#: then went to Numba: LSTM 8x100x256x256 5.3/3.9 and 15.3/13.2, LSTM
#: 4x100x128x512 29.3/7.3 and 70.5/25.8, GRU 4x100x512x512 23.3/7.4 and
#: 61.5/29.2, LSTM 15x100x100x256 16.2/5.6 and 40.7/17.6. Numba's forward
#: is still ahead by 1.1-1.3x at batch 1-2 with 512 units (LSTM
#: 1x100x512x512 4.7/5.2, SimpleRNN 1x100x128x512 0.92/1.23), where Cython's
#: train is ahead by 1.15x; not worth a rule.


def auto_choice(cell=None, batch=None, timesteps=None, units=None, features=None):
    """The backend ``"auto"`` picks for a call of this cell and shape: Cython
    when it is built, else Numba, else NumPy.

    The shape does not change the choice today; the arguments are there so
    that a rule measured on them can use them (they used to send calls with
    few rows and big weights to Numba).
    """
    available = _available_cached()
    for name in ("cython", "numba", "numpy"):
        if name in available:
            return name
    return "numpy"


def resolve_backend(name=None, **call):
    """Return the kernel module for ``name`` (None: the default).

    ``call`` (cell, batch, timesteps, units, features) informs the ``"auto"`` choice.
    This runs on every layer call, so the common cases are dictionary
    look-ups.
    """
    if name is None:
        name = _default if _default is not None else get_backend()
    module = _loaded.get(name)
    if module is not None:
        return module
    if name != "auto":
        _check_name(name)
        return _load(name)
    return _load(auto_choice(**call))
