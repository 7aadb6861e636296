"""fastrnn.planner: "auto" decided by measurement, kept in memory and on disk."""

import json
import os

import numpy as np
import pytest

import fastrnn
from fastrnn import backends, layers, ops, planner
from test_cython_build import run_python

OPTIONS = ops.KernelOptions(1, 2, True, False, False)


@pytest.fixture
def measuring(tmp_path, monkeypatch):
    """The "measure" policy with an empty cache in a directory of the test."""
    monkeypatch.setenv("FASTRNN_CACHE_DIR", str(tmp_path))
    planner.clear()
    planner.set_policy("measure")
    yield tmp_path
    planner.set_policy("static")
    planner.clear()


def test_signature_buckets_the_shape():
    key = planner.signature("lstm", "forward", (32, 50, 100), np.float32, 128)
    assert key == "lstm/float32/forward/b32/t64/f128/u128"
    assert planner.signature("gru", "train", (33, 1, 1), np.float64, 1) == (
        "gru/float64/train/b64/t1/f1/u1"
    )


def test_trial_steps_truncate_long_sequences_only():
    assert planner.trial_steps((1, 10, 4), 8, 4) == 10  # tiny: whole sequence
    assert planner.trial_steps((64, 100, 256), 512, 4) == planner.MIN_TRIAL_STEPS
    assert 4 <= planner.trial_steps((32, 50, 100), 128, 4) < 50


def test_first_call_measures_then_the_choice_is_kept(measuring, monkeypatch):
    if len(planner._candidates()) < 2:
        pytest.skip("one compiled backend here: nothing to choose")
    calls = []
    real = planner.measure

    def counting(*args):
        calls.append(args[:2])
        return real(*args)

    monkeypatch.setattr(planner, "measure", counting)
    x = np.random.default_rng(0).standard_normal((4, 6, 5)).astype(np.float32)
    layer = layers.LSTM(7, backend="auto", seed=0)
    out = layer(x)
    layer(x, training=True)
    layer.backward(np.ones_like(out))
    assert calls == [("lstm", "forward"), ("lstm", "train")]
    # Another layer of the same signature: no new measurement.
    layers.LSTM(7, backend="auto", seed=1)(x[:3])
    assert len(calls) == 2
    data = json.loads(open(planner.cache_path()).read())
    assert set(data["choices"]) == {
        planner.signature("lstm", "forward", x.shape, np.float32, 7),
        planner.signature("lstm", "train", x.shape, np.float32, 7),
    }
    for entry in data["choices"].values():
        assert entry["backend"] in planner._candidates()
        assert set(entry["seconds"]) == set(planner._candidates())
    # A new process reads the file instead of measuring.
    planner.clear()
    monkeypatch.setattr(planner, "measure", None)  # would raise if called
    layers.LSTM(7, backend="auto", seed=0)(x)


def test_auto_results_are_those_of_the_chosen_backend(measuring):
    x = np.random.default_rng(1).standard_normal((3, 5, 4))
    layer = layers.GRU(6, backend="auto", seed=0, return_sequences=True)
    got = layer(x)
    key = planner.signature("gru", "forward", x.shape, x.dtype, 6)
    chosen = planner._choices.get(key, backends.auto_choice())
    want = layers.GRU(6, backend=chosen, seed=0, return_sequences=True)(x)
    np.testing.assert_array_equal(got, want)


def test_decision_keeps_the_prior_within_the_margin(monkeypatch):
    monkeypatch.setattr(planner, "_prior", lambda: "cython")
    assert planner._decide({"cython": 1.04, "numba": 1.0}) == "cython"
    assert planner._decide({"cython": 1.2, "numba": 1.0}) == "numba"
    assert planner._decide({"cython": 0.5, "numba": 1.0}) == "cython"


def test_static_policy_never_measures(monkeypatch):
    planner.set_policy("static")
    monkeypatch.setattr(planner, "measure", None)
    module = planner.choose("lstm", "forward", (2, 3, 4), np.float32, 5, OPTIONS)
    assert module is backends.resolve_backend(backends.auto_choice())


def test_bad_policy_names_the_valid_ones():
    with pytest.raises(ValueError, match=r"`policy` must be one of \['measure', 'static'\]"):
        planner.set_policy("fast")
    result = run_python("import fastrnn.planner as p; p.get_policy()", FASTRNN_AUTO="fast")
    assert "FASTRNN_AUTO must be one of" in result.stderr


def test_unwritable_cache_dir_only_costs_the_file(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("FASTRNN_CACHE_DIR", str(blocked / "sub"))
    planner.clear()
    planner.set_policy("measure")
    try:
        x = np.ones((2, 3, 4), np.float32)
        layers.SimpleRNN(3, backend="auto", seed=0)(x)
        assert not os.path.exists(planner.cache_path())
    finally:
        planner.set_policy("static")
        planner.clear()


def test_cache_file_is_keyed_by_machine_and_version(measuring):
    path = planner.cache_path()
    assert os.path.dirname(path) == str(measuring)
    assert os.path.basename(path).startswith("plans-") and path.endswith(".json")
    assert fastrnn.__version__ in planner._machine_key()[1]


def test_show_config_reports_the_policy_and_file():
    choice = fastrnn.show_config(mode="dicts")["backend_choice"]
    assert choice["auto_policy"] == planner.get_policy()
    assert choice["plans_file"] == planner.cache_path()
