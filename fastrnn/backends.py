"""The backend registry: which module runs the kernels.

A backend is a module implementing the kernel contract of
:mod:`fastrnn.reference` function for function. Backends are imported
lazily, on first use, so ``import fastrnn`` stays cheap and a backend that
cannot be imported (Numba missing, the Cython extension not built) is simply
not available.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import NamedTuple

__all__ = [
    "BackendUnavailableError",
    "available_backends",
    "generation",
    "get_backend",
    "how_to_get",
    "set_backend",
    "use_backend",
    "resolve_backend",
    "unavailable_reason",
]


class _Backend(NamedTuple):
    module: str  # the module that implements the kernel contract
    how_to_get: str  # what to do when it cannot be imported


#: Every backend fastrnn knows, in the order ``available_backends`` lists them.
_BACKENDS = {
    "numpy": _Backend("fastrnn.reference", ""),
    "numba": _Backend("fastrnn.numba_kernels", "install Numba (`pip install numba`)"),
    "cython": _Backend(
        "fastrnn._cython_kernels",
        "build the compiled extension: reinstall fastrnn from source with a C "
        "compiler and Cython available and FASTRNN_PUREPYTHON unset, e.g. "
        "`FASTRNN_STRICT_BUILD=1 pip install --no-build-isolation .`",
    ),
}
#: The names of every backend fastrnn knows; all but the reference are compiled.
BACKEND_NAMES = tuple(_BACKENDS)
COMPILED_BACKEND_NAMES = tuple(name for name in _BACKENDS if name != "numpy")
#: The order in which ``"auto"`` prefers the available backends.
AUTO_ORDER = ("cython", "numba", "numpy")
VALID_NAMES = ("auto", *BACKEND_NAMES)


class BackendUnavailableError(ValueError):
    """Raised when a backend is unknown or cannot be imported here."""


_loaded: dict[str, ModuleType] = {}
_import_errors: dict[str, str] = {}
_lock = threading.Lock()
_default: str | None = None
_generation = 0
_auto: ModuleType | None = None  # what "auto" resolves to, once known


def _load(name: str) -> ModuleType | None:
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
            module = importlib.import_module(_BACKENDS[name].module)
        except ImportError as exc:  # the backend is not installed or not built
            _import_errors[name] = str(exc)
            return None
        except Exception as exc:  # it is installed but cannot start here: say why
            _import_errors[name] = f"{type(exc).__name__} while importing it: {exc}"
            return None
        _loaded[name] = module
        return module


def available_backends() -> list[str]:
    """Names of the backends that can run here, e.g. ``["numpy", "numba"]``.

    ``"numpy"`` (the reference) is always first; ``"cython"`` appears only
    when the compiled extension imports.
    """
    return [name for name in _BACKENDS if _load(name) is not None]


def unavailable_reason(name: str) -> str | None:
    """Why backend ``name`` could not be imported, or None if it was not tried or works."""
    return _import_errors.get(name)


def how_to_get(name: str) -> str:
    """What to do to make backend ``name`` available (empty for the reference)."""
    return _BACKENDS[name].how_to_get


def check_name(name: object, argument: str = "backend") -> str:
    """``name`` if it is a backend that can run here, else a clear error.

    Raises
    ------
    TypeError
        If ``name`` is not a string.
    BackendUnavailableError
        If it is unknown or cannot run here (the message names the available ones).
    """
    if not isinstance(name, str):
        raise TypeError(f"`{argument}` must be a string, one of {list(VALID_NAMES)}; got {name!r}")
    if name not in VALID_NAMES:
        raise BackendUnavailableError(
            f"Unknown backend for `{argument}`: {name!r}. Valid names: "
            f"{list(VALID_NAMES)}; available here: {available_backends()}"
        )
    if name != "auto" and _load(name) is None:
        raise BackendUnavailableError(
            f"Backend {name!r} is not available here ({_import_errors.get(name)}). "
            f"Available backends: {available_backends()}. To get it, "
            f"{_BACKENDS[name].how_to_get}."
        )
    return name


def get_backend() -> str:
    """Name of the current default backend (``"auto"`` unless set)."""
    global _default
    if _default is None:
        name = os.environ.get("FASTRNN_BACKEND", "auto").strip() or "auto"
        _default = check_name(name, argument="FASTRNN_BACKEND")
    return _default


def set_backend(name: str) -> None:
    """Set the default backend: ``"numpy"``, ``"numba"``, ``"cython"`` or ``"auto"``.

    Every plan made before (:class:`fastrnn.ops.ForwardPlan`) is out of date
    afterwards: :func:`generation` changes.

    Raises
    ------
    BackendUnavailableError
        (a ``ValueError``) if the name is unknown or the backend cannot run
        here; the message names the available ones. The default is unchanged then.
    """
    global _default, _generation
    checked = check_name(name)
    with _lock:
        _default = checked
        _generation += 1


def generation() -> int:
    """A counter that :func:`set_backend` bumps: kernel plans made at another
    value may name another backend and are made anew."""
    return _generation


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[str]:
    """Context manager: use backend ``name`` as the default inside the block."""
    previous = get_backend()
    set_backend(name)
    try:
        yield name
    finally:
        set_backend(previous)


def auto_choice() -> str:
    """The prior of ``"auto"``: the first available of :data:`AUTO_ORDER`.

    Layer calls on ``"auto"`` measure the compiled backends per call
    signature and keep this one unless another is clearly faster
    (:mod:`fastrnn.planner`); with ``FASTRNN_AUTO=static``, and for
    :func:`resolve_backend`, it is the choice.
    """
    for name in AUTO_ORDER:
        if _load(name) is not None:
            return name
    return "numpy"


def resolve_backend(name: str | None = None) -> ModuleType:
    """Return the kernel module for backend ``name`` (None: the default).

    Raises
    ------
    TypeError, BackendUnavailableError
        As :func:`check_name`.
    """
    if name is None:
        name = _default if _default is not None else get_backend()
    module = _loaded.get(name)
    if module is not None:
        return module
    if name == "auto":
        global _auto
        if _auto is None:
            _auto = _load(auto_choice())
        assert _auto is not None  # auto_choice names an available backend
        return _auto
    check_name(name)
    module = _load(name)
    assert module is not None  # check_name raised otherwise
    return module
