"""The optional Cython backend in the registry: listed when built, a clear error if not.

Where the extension was built (``import fastrnn._cython_kernels`` works),
"cython" must be an available backend exposing the six contract kernels.
Where it was not (or ``FASTRNN_PUREPYTHON`` hides it), ``set_backend("cython")``
must raise a ``ValueError`` that says how to build it. Under
``FASTRNN_STRICT_BUILD`` (what CI sets) a missing extension is a failure,
not a skip.
"""
import importlib.util
import inspect
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastrnn
import fastrnn.reference as reference
from fastrnn.backends import BackendUnavailableError

CONTRACT = reference.__all__
PURE_PYTHON = bool(os.environ.get("FASTRNN_PUREPYTHON"))
STRICT = bool(os.environ.get("FASTRNN_STRICT_BUILD"))


def _extension_importable():
    try:
        importlib.import_module("fastrnn._cython_kernels")
    except ImportError:
        return False
    return True


BUILT = _extension_importable()
needs_extension = pytest.mark.skipif(
    not BUILT, reason="the Cython extension is not built here (see docs/building.md)")


def run_python(code, **env):
    """Run ``code`` in a fresh interpreter with extra environment variables."""
    full_env = {**os.environ, **env}
    for name, value in env.items():
        if value is None:
            del full_env[name]
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=full_env,
                          capture_output=True, text=True, timeout=120)


def test_strict_build_means_built():
    if not STRICT or PURE_PYTHON:
        pytest.skip("only checked under FASTRNN_STRICT_BUILD without FASTRNN_PUREPYTHON")
    assert BUILT, "FASTRNN_STRICT_BUILD is set but fastrnn._cython_kernels does not import"


@needs_extension
def test_listed_when_extension_imports():
    if PURE_PYTHON:
        pytest.skip("FASTRNN_PUREPYTHON hides the extension")
    assert "cython" in fastrnn.available_backends()
    from fastrnn.backends import resolve_backend
    assert resolve_backend("cython").__name__ == "fastrnn._cython_kernels"


@needs_extension
@pytest.mark.parametrize("name", CONTRACT)
def test_extension_implements_the_contract(name):
    module = importlib.import_module("fastrnn._cython_kernels")
    want = list(inspect.signature(getattr(reference, name)).parameters)
    have = list(inspect.signature(getattr(module, name)).parameters)
    assert have == want


@needs_extension
def test_extension_rejects_other_dtypes():
    module = importlib.import_module("fastrnn._cython_kernels")
    x = np.zeros((1, 2, 3), np.float16)
    h = np.zeros((1, 4), np.float16)
    with pytest.raises(TypeError, match="float32 or float64"):
        module.simple_rnn_forward(x, np.ones((1, 2), bool), h, np.zeros((3, 4), np.float16),
                                  np.zeros((4, 4), np.float16), np.zeros(4, np.float16), 1,
                                  False, False, np.empty((1, 2, 4), np.float16),
                                  np.empty((3, 1, 4), np.float16))


def _assert_unavailable_in_process():
    assert "cython" not in fastrnn.available_backends()
    with pytest.raises(ValueError) as info:
        fastrnn.set_backend("cython")
    assert isinstance(info.value, BackendUnavailableError)
    message = str(info.value)
    assert "FASTRNN_PUREPYTHON" in message and "pip install" in message


def test_clear_error_when_not_built():
    if BUILT and not PURE_PYTHON:
        pytest.skip("the extension is built here; see the subprocess tests")
    _assert_unavailable_in_process()


CHECK_UNAVAILABLE = """
    import fastrnn
    assert "cython" not in fastrnn.available_backends(), fastrnn.available_backends()
    try:
        fastrnn.set_backend("cython")
    except ValueError as exc:
        print(exc)
    else:
        raise SystemExit("set_backend('cython') did not raise")
"""


def test_purepython_hides_the_extension():
    result = run_python(CHECK_UNAVAILABLE, FASTRNN_PUREPYTHON="1", FASTRNN_BACKEND=None)
    assert result.returncode == 0, result.stderr
    assert "FASTRNN_PUREPYTHON is set" in result.stdout
    assert "FASTRNN_STRICT_BUILD=1 pip install" in result.stdout


def test_missing_extension_gives_a_clear_error():
    # Simulate an install without the compiled module: block its import.
    blocker = """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "fastrnn._cython_kernels":
                    raise ImportError("No module named 'fastrnn._cython_kernels'")
        sys.meta_path.insert(0, Block())
    """
    result = run_python(textwrap.dedent(blocker) + textwrap.dedent(CHECK_UNAVAILABLE),
                        FASTRNN_PUREPYTHON=None, FASTRNN_BACKEND=None)
    assert result.returncode == 0, result.stderr
    assert "fastrnn._cython_kernels" in result.stdout
    assert "build the compiled extension" in result.stdout
