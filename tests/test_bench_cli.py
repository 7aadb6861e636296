"""The benchmark command runs on a minimal grid and writes sane JSON (no timing asserts)."""

import json
import os
import sys
import threading
import time

import pytest

import fastrnn
from fastrnn.__main__ import main
from fastrnn.bench import forward_flops, mode_flops, runner
from fastrnn.bench.threads import limit_thread_env, restore_env

needs_proc = pytest.mark.skipif(
    not os.path.isdir("/proc/self/task"), reason="settle() reads /proc/self/task"
)


#: The LSTM rows of the tiny shape, three samples each: the smallest run.
MINIMAL = ["--cells", "lstm", "--shapes", "tiny", "--repeat", "3", "--no-cold-start", "--no-chart"]


def run_bench(out, *extra):
    """``fastrnn bench`` on the minimal grid with ``extra`` options, writing to ``out``."""
    assert main(["bench", *MINIMAL, "--out", str(out), *extra]) == 0
    return json.loads((out / "bench.json").read_text())


def test_bench_minimal_grid_writes_json(tmp_path, capsys):
    out = tmp_path / "results"
    data = run_bench(out, "--no-peers")
    printed = capsys.readouterr().out
    assert "| LSTM | tiny | forward |" in printed
    assert "skipped torch" in printed
    assert (out / "bench.md").exists()
    backends = ["auto", *fastrnn.available_backends()]  # "auto" first: the headline
    assert data["fastrnn_backends"] == backends
    assert [s["name"] for s in data["systems"]] == backends
    assert set(data["skipped"]) >= {"torch", "keras", "jax"}
    assert data["threads"] == 2
    assert data["gemm"]["gflops"] > 0
    assert {"cpu_count", "python"} <= set(data["machine"])
    assert {"fastrnn", "numpy"} <= set(data["versions"])
    assert data["config"]["backends"]["numpy"]["available"]
    assert all(s["threads"] == {"fastrnn": 2} for s in data["systems"])

    rows = data["results"]
    assert [(r["cell"], r["shape"], r["mode"]) for r in rows] == [
        ("lstm", "tiny", "forward"),
        ("lstm", "tiny", "train"),
    ]
    for r in rows:
        assert r["errors"] == {}
        assert set(r["medians_s"]) == set(backends)
        assert all(v > 0 for v in r["medians_s"].values())
        assert all(len(r["samples_s"][b]) == 3 for b in backends)
        assert r["best_peer"] is None and r["speedup"] is None
        assert r["best_fastrnn"] in backends
        assert r["flops"] == mode_flops("lstm", "tiny", r["mode"])
        assert r["bound_s"] > 0 and r["bound_ratio"] > 0
        assert set(r["settle_s"]) == set(backends) and set(r["settle_capped"]) == set(backends)
        assert all(v >= 0 for v in r["settle_s"].values())
    if runner.running_threads() is not None:
        assert data["settle"]["method"] and data["settle"]["max_wait_s"] > 0
    assert data["settle"]["total_s"] >= 0
    assert data["thread_env"]["OPENBLAS_THREAD_TIMEOUT"] is not None
    # the single-step benchmark ran (or says why it was skipped) for every backend
    assert set(data["step"]) == set(backends)
    for res in data["step"].values():
        assert ("median_s" in res) or ("skipped" in res)


def test_flops_formula():
    # 2*T*B*(D+H)*G*H on the standard grid
    assert forward_flops("lstm", "large") == 2 * 100 * 64 * (256 + 512) * 4 * 512
    assert forward_flops("simple_rnn", "tiny") == 2 * 10 * 1 * (4 + 8) * 1 * 8
    assert mode_flops("gru", "medium", "train") == 3 * forward_flops("gru", "medium")


def test_bad_arguments_name_the_option(tmp_path):
    with pytest.raises(ValueError, match="--cells"):
        main(["bench", "--cells", "transformer", "--no-peers", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="--shapes"):
        main(["bench", "--shapes", "huge", "--no-peers", "--out", str(tmp_path)])


def test_usage_without_command(capsys):
    assert main([]) == 2
    usage = capsys.readouterr().out
    assert "bench" in usage and "info" in usage
    assert main(["frobnicate"]) == 2


def test_no_settle_records_the_policy(tmp_path):
    out = tmp_path / "results"
    main(
        [
            "bench",
            "--cells",
            "simple_rnn",
            "--shapes",
            "tiny",
            "--modes",
            "forward",
            "--repeat",
            "3",
            "--no-peers",
            "--no-step",
            "--no-cold-start",
            "--no-chart",
            "--no-settle",
            "--out",
            str(out),
        ]
    )
    data = json.loads((out / "bench.json").read_text())
    assert data["settle"]["method"] is None and data["settle"]["why"] == "--no-settle"
    assert data["settle"]["total_s"] == 0
    assert all(v == 0 for v in data["results"][0]["settle_s"].values())


def _spin_in_thread(seconds):
    stop = time.perf_counter() + seconds

    def spin():
        while time.perf_counter() < stop:
            pass

    thread = threading.Thread(target=spin)
    thread.start()
    return thread


@needs_proc
def test_settle_returns_at_once_when_nothing_spins():
    runner.settle()  # earlier tests may have left worker threads spinning
    waited, capped = runner.settle()
    assert waited < 0.05 and not capped, (waited, runner.running_threads())


@needs_proc
def test_settle_waits_for_a_spinning_thread():
    thread = _spin_in_thread(0.1)
    try:
        waited, capped = runner.settle(max_wait=5.0)
    finally:
        thread.join()
    assert 0.02 < waited < 5.0 and not capped

    thread = _spin_in_thread(1.0)
    try:
        waited, capped = runner.settle(max_wait=0.05)
    finally:
        thread.join()
    assert capped and waited < 0.9


@needs_proc
def test_interleaved_reports_the_settle_waits():
    res, errors = runner.interleaved({"a": lambda: None, "b": lambda: None}, repeat=3)
    assert errors == {}
    for r in res.values():
        assert len(r["samples_s"]) == 3 and r["settle_s"] >= 0 and r["settle_capped"] == 0
    res, _ = runner.interleaved({"a": lambda: None}, repeat=2, settle=None)
    assert res["a"]["settle_s"] == 0


def test_thread_env_keeps_numba_off_openmp(monkeypatch):
    # Numba's OpenMP layer would load the system libgomp, which PyTorch then binds to
    monkeypatch.delenv("NUMBA_THREADING_LAYER", raising=False)
    monkeypatch.delitem(sys.modules, "numba", raising=False)
    previous, notes = limit_thread_env(2)
    try:
        assert os.environ["NUMBA_THREADING_LAYER"] == "workqueue"
    finally:
        restore_env(previous)
    assert "NUMBA_THREADING_LAYER" not in os.environ

    monkeypatch.setenv("NUMBA_THREADING_LAYER", "tbb")  # the user's choice is kept
    previous, notes = limit_thread_env(2)
    try:
        assert os.environ["NUMBA_THREADING_LAYER"] == "tbb"
    finally:
        restore_env(previous)


def test_a_peer_that_skips_a_mode_reads_n_a_in_the_table():
    from fastrnn.bench import report

    data = {
        "systems": [
            {"name": "cython", "label": "cython"},
            {"name": "onnxruntime", "label": "onnxruntime"},
        ],
        "results": [
            {
                "cell": "lstm",
                "shape": "tiny",
                "mode": "train",
                "medians_s": {"cython": 4e-5},
                "errors": {"onnxruntime": "n/a: inference only"},
                "best_peer": None,
                "speedup": None,
                "bound_s": 1e-7,
                "bound_ratio": 400.0,
                "best_fastrnn": "cython",
                "others_cores": 0.0,
            }
        ],
    }
    line = report.results_table(data).splitlines()[-1]
    assert "| n/a |" in line and "error" not in line


#: fastrnn.torch and torch.nn beside one backend, on one thread (steadier when busy).
TORCH_ROWS = [
    "--peers",
    "torch",
    "--backends",
    "numba",
    "--threads",
    "1",
    "--warmup",
    "1",
    "--no-step",
]


def test_torch_rows_beside_torch_nn(tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    from fastrnn.bench import grid

    # the packed row on a small batch: what is checked is its plumbing
    small = dict(batch=4, timesteps=9, input_dim=3, units=5, min_length=2)
    monkeypatch.setattr(grid, "PACKED_SHAPE", small)
    data = run_bench(tmp_path / "results", *TORCH_ROWS)
    printed = capsys.readouterr().out
    names = [s["name"] for s in data["systems"]]
    assert names == ["numba", "fastrnn.torch", "torch"]
    assert data["systems"][1]["kind"] == "fastrnn.torch"
    assert "fastrnn.torch" in data["versions"]
    for row in data["results"]:
        assert row["errors"] == {}
        assert {"fastrnn.torch", "torch"} <= set(row["medians_s"])
        medians = row["medians_s"]
        assert row["torch_module_speedup"] == medians["torch"] / medians["fastrnn.torch"]
        assert row["best_peer"] == "torch" and row["best_fastrnn"] == "numba"
    assert "| speed-up vs best peer | fastrnn.torch vs torch.nn | GEMM bound |" in printed

    packed = data["packed"]
    assert packed["shape"] == small
    lengths = packed["lengths"]
    assert len(lengths) == 4 and min(lengths) == 2 and max(lengths) == 9
    assert lengths != sorted(lengths, reverse=True)  # unsorted, as real data
    assert [r["mode"] for r in packed["rows"]] == ["forward", "train"]
    for row in packed["rows"]:
        assert row["errors"] == {}
        assert set(row["medians_s"]) == {"fastrnn.torch", "torch"}
        assert row["speedup"] > 0
    assert "packed LSTM, B=4 T=9 (lengths 2-9) D=3 H=5" in printed


def test_torch_rows_are_skipped_with_a_note_without_torch(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    data = run_bench(tmp_path / "results", *TORCH_ROWS)
    printed = capsys.readouterr().out
    assert [s["name"] for s in data["systems"]] == ["numba"]
    assert "not installed" in data["skipped"]["torch"]
    assert data["skipped"]["fastrnn.torch"].startswith("runs beside the torch peer")
    assert data["packed"]["skipped"].startswith("needs torch and fastrnn.torch")
    assert "skipped fastrnn.torch" in printed
    assert "Packed LSTM skipped: needs torch and fastrnn.torch" in printed
    assert all(r["torch_module_speedup"] is None for r in data["results"])
