"""The optional Cython backend in the registry: listed when built, a clear error if not.

Where the extension was built (``import fastrnn._cython_kernels`` works),
"cython" must be an available backend exposing the six contract kernels,
checking the arrays it is given, and reporting how it was built
(``build_info()``). Where it was not (or ``FASTRNN_PUREPYTHON`` hides it),
``set_backend("cython")`` must raise a ``ValueError`` that says how to
build it. Under ``FASTRNN_STRICT_BUILD`` (what CI sets) a missing extension
is a failure, not a skip.
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
    not BUILT, reason="the Cython extension is not built here (see docs/building.md)"
)


def run_python(code, **env):
    """Run ``code`` in a fresh interpreter with extra environment variables."""
    full_env = {**os.environ, **env}
    for name, value in env.items():
        if value is None:
            del full_env[name]
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


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
        module.simple_rnn_forward(
            x,
            np.ones((1, 2), bool),
            np.empty((0, 1, 3), np.float16),
            np.empty((0, 1, 4), np.float16),
            h,
            np.zeros((3, 4), np.float16),
            np.zeros((4, 4), np.float16),
            np.zeros(4, np.float16),
            1,
            False,
            False,
            np.empty((1, 2, 4), np.float16),
            np.empty((3, 1, 4), np.float16),
        )


def _simple_rnn_arrays(dtype=np.float32, batch=2, timesteps=3, features=4, units=5):
    """The arguments of a valid ``simple_rnn_forward`` call, by name."""
    return {
        "x": np.zeros((batch, timesteps, features), dtype),
        "mask": np.ones((batch, timesteps), bool),
        "dropout_mask": np.empty((0, batch, features), dtype),
        "recurrent_dropout_mask": np.empty((0, batch, units), dtype),
        "h0": np.zeros((batch, units), dtype),
        "kernel": np.zeros((features, units), dtype),
        "recurrent_kernel": np.zeros((units, units), dtype),
        "bias": np.zeros(units, dtype),
        "activation": 1,
        "go_backwards": False,
        "zero_output_for_mask": False,
        "outputs": np.empty((batch, timesteps, units), dtype),
        "h_states": np.empty((timesteps + 1, batch, units), dtype),
    }


@needs_extension
@pytest.mark.parametrize(
    "name,bad",
    [
        ("h0", np.zeros((2, 5), np.float64)),  # not x's dtype
        ("kernel", np.zeros((5, 4), np.float32).T),  # not C-contiguous
        ("bias", np.zeros((1, 5), np.float32)),  # wrong number of dimensions
        ("mask", np.ones((2, 3), np.float32)),  # not bool
        ("outputs", np.broadcast_to(np.float32(0), (2, 3, 5))),  # read-only output
        ("dropout_mask", np.ones((2, 2, 4), np.float32)),  # 2 masks: SimpleRNN takes 0 or 1
        ("dropout_mask", np.ones((1, 2, 5), np.float32)),  # not (M, batch, features)
        ("recurrent_dropout_mask", np.ones((1, 3, 5), np.float32)),  # not (R, batch, units)
        ("recurrent_dropout_mask", np.ones((2, 5), np.float32)),  # wrong number of dimensions
    ],
)
def test_extension_checks_the_arrays(name, bad):
    module = importlib.import_module("fastrnn._cython_kernels")
    arrays = _simple_rnn_arrays()
    module.simple_rnn_forward(**arrays)
    arrays[name] = bad
    with pytest.raises(ValueError):
        module.simple_rnn_forward(**arrays)


@needs_extension
def test_build_info():
    module = importlib.import_module("fastrnn._cython_kernels")
    info = module.build_info()
    assert set(info) == {
        "isa", "compiler", "flags", "cython", "dispatch", "isa_levels", "isa_forced"
    }  # fmt: skip
    assert info["dispatch"] in info["isa_levels"] and info["isa_levels"][0] == "baseline"
    assert info["isa"] in ("avx512f", "avx2+fma", "avx", "sse2", "neon", "generic")
    assert info["compiler"] and info["compiler"] != "unknown"
    assert isinstance(info["flags"], str)
    assert info["cython"][0].isdigit()


def test_activation_codes_must_agree():
    if not BUILT or PURE_PYTHON:
        pytest.skip("the extension is not built here")
    code = """
        import fastrnn.activations as activations
        activations.TANH, activations.SIGMOID = activations.SIGMOID, activations.TANH
        import fastrnn._cython_kernels
    """
    result = run_python(code)
    assert result.returncode != 0
    assert "RuntimeError" in result.stderr and "activation codes" in result.stderr


@needs_extension
def test_float32_tanh_and_sigmoid_hooks():
    """The hooks compute what the kernels do; the approximation's error bound
    (kernels/_fastmath.h) holds on a dense grid and in saturation."""
    from scipy.special import expit

    module = importlib.import_module("fastrnn._cython_kernels")
    x = np.concatenate([np.linspace(-40, 40, 400_001), [0.0, 1e-30, 1e4, -1e4]])
    x = x.astype(np.float32)
    tanh, sigmoid = module._tanh_f32(x), module._sigmoid_f32(x)
    assert tanh.dtype == sigmoid.dtype == np.float32 and tanh.shape == x.shape
    exact = x.astype(np.float64)
    assert np.max(np.abs(tanh - np.tanh(exact))) <= 2.4e-7
    assert np.max(np.abs(sigmoid - expit(exact))) <= 1.2e-7
    np.testing.assert_array_equal(tanh, -module._tanh_f32(-x))
    # the kernels' own activations: a SimpleRNN step per row, one unit, weight 1
    every = x.size // 1000
    for code, hook in ((1, tanh), (2, sigmoid)):
        sample = x[::every]
        arrays = _simple_rnn_arrays(batch=sample.size, timesteps=1, features=1, units=1)
        arrays["x"] = sample.reshape(-1, 1, 1).copy()
        arrays["kernel"][...] = 1
        arrays["activation"] = code
        module.simple_rnn_forward(**arrays)
        np.testing.assert_array_equal(arrays["outputs"].ravel(), hook[::every])


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
    result = run_python(
        textwrap.dedent(blocker) + textwrap.dedent(CHECK_UNAVAILABLE),
        FASTRNN_PUREPYTHON=None,
        FASTRNN_BACKEND=None,
    )
    assert result.returncode == 0, result.stderr
    assert "fastrnn._cython_kernels" in result.stdout
    assert "build the compiled extension" in result.stdout
