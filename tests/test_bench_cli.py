"""The benchmark command runs on a minimal grid and writes sane JSON (no timing asserts)."""
import json

import pytest

import fastrnn
from fastrnn.__main__ import main
from fastrnn.bench import forward_flops, mode_flops


def test_bench_minimal_grid_writes_json(tmp_path, capsys):
    out = tmp_path / "results"
    code = main(["bench", "--cells", "lstm", "--shapes", "tiny", "--repeat", "3",
                 "--no-peers", "--no-cold-start", "--no-chart", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| LSTM | tiny | forward |" in printed
    assert "skipped torch" in printed

    data = json.loads((out / "bench.json").read_text())
    assert (out / "bench.md").exists()
    backends = fastrnn.available_backends()
    assert data["fastrnn_backends"] == backends
    assert [s["name"] for s in data["systems"]] == backends
    assert set(data["skipped"]) >= {"torch", "keras", "jax"}
    assert data["threads"] == 2
    assert data["gemm"]["gflops"] > 0
    assert {"cpu_count", "python"} <= set(data["machine"])
    assert {"fastrnn", "numpy"} <= set(data["versions"])

    rows = data["results"]
    assert [(r["cell"], r["shape"], r["mode"]) for r in rows] == [
        ("lstm", "tiny", "forward"), ("lstm", "tiny", "train")]
    for r in rows:
        assert r["errors"] == {}
        assert set(r["medians_s"]) == set(backends)
        assert all(v > 0 for v in r["medians_s"].values())
        assert all(len(r["samples_s"][b]) == 3 for b in backends)
        assert r["best_peer"] is None and r["speedup"] is None
        assert r["best_fastrnn"] in backends
        assert r["flops"] == mode_flops("lstm", "tiny", r["mode"])
        assert r["bound_s"] > 0 and r["bound_ratio"] > 0
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
    assert "bench" in capsys.readouterr().out
    assert main(["frobnicate"]) == 2
