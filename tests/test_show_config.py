"""fastrnn.show_config(), ``python -m fastrnn info`` and the bench's machine line."""

import json
import subprocess
import sys
import types

import pytest

import fastrnn
from fastrnn import _info, config
from fastrnn.__main__ import main

TOP_KEYS = {
    "fastrnn",
    "python",
    "platform",
    "cpu",
    "backends",
    "backend_choice",
    "settings",
    "blas",
    "environment",
}


def test_dicts_mode_has_every_section():
    info = fastrnn.show_config(mode="dicts")
    assert set(info) == TOP_KEYS
    assert info["fastrnn"]["version"] == fastrnn.__version__
    assert info["fastrnn"]["path"]
    assert info["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert info["cpu"]["model"]
    assert isinstance(info["cpu"]["features"], list)
    assert all(name == name.lower() for name in info["cpu"]["features"])
    assert isinstance(info["cpu"]["vendor"], str)
    assert info["settings"] == config.get_settings()._asdict()
    assert info["backend_choice"]["default"] == fastrnn.get_backend()
    assert info["backend_choice"]["auto"] in fastrnn.available_backends()
    for pool in info["blas"]:
        assert {"internal_api", "version", "num_threads", "filepath", "architecture"} == set(pool)
    json.dumps(info)  # plain JSON types only


def test_backends_listed_with_availability():
    info = fastrnn.show_config(mode="dicts")
    backends = info["backends"]
    assert list(backends) == ["numpy", "numba", "cython"]
    available = fastrnn.available_backends()
    for name, entry in backends.items():
        assert entry["available"] == (name in available)
        if not entry["available"]:
            assert entry["reason"]
            continue
        assert {"isa", "compiler", "flags", "threads"} <= set(entry)
        if name in _info.COMPILED_BACKENDS:
            assert entry["isa"] in ("baseline", "avx2", "avx512") and entry["target"]
    assert backends["numpy"]["available"]
    for name in ("numba", "cython"):
        if backends[name]["available"]:
            assert backends[name]["threads"] == fastrnn.get_num_threads()


def test_thread_count_and_settings_follow_the_configuration():
    with fastrnn.use_num_threads(3):
        info = fastrnn.show_config(mode="dicts")
    assert info["settings"]["num_threads"] == 3
    for name in ("numba", "cython"):
        if info["backends"][name]["available"]:
            assert info["backends"][name]["threads"] == 3


def test_environment_lists_the_variables_that_are_set(monkeypatch):
    monkeypatch.setenv("FASTRNN_LOOP_BLAS_THREADS", "1")
    monkeypatch.delenv("FASTRNN_ISA", raising=False)
    env = fastrnn.show_config(mode="dicts")["environment"]
    assert env["FASTRNN_LOOP_BLAS_THREADS"] == "1"
    assert "FASTRNN_ISA" not in env
    assert set(env) <= set(_info.ENVIRONMENT_VARIABLES)


def test_stdout_mode_prints_the_same_information(capsys):
    assert fastrnn.show_config() is None
    out = capsys.readouterr().out
    info = fastrnn.show_config(mode="dicts")
    for key in TOP_KEYS - {"environment"}:
        assert f"\n{key}:" in "\n" + out
    for name, entry in info["backends"].items():
        assert f"\n  {name}:\n    available: {json.dumps(entry['available'])}" in out
    assert f"  version: {fastrnn.__version__}" in out


def test_wrong_mode_names_the_argument_and_the_valid_values():
    with pytest.raises(ValueError, match="`mode`") as excinfo:
        fastrnn.show_config(mode="yaml")
    message = str(excinfo.value)
    assert "'stdout'" in message and "'dicts'" in message and "'yaml'" in message


def test_build_info_is_used_when_present_and_unknown_when_not():
    with_info = types.SimpleNamespace(
        __name__="fake_kernels",
        build_info=lambda: {
            "isa": "AVX2",
            "compiler": "gcc 14",
            "flags": ("-O3", "-march=native"),
            "cython": "3.2",
        },
    )
    entry = _info._compiled_backend(with_info)
    assert (entry["isa"], entry["target"], entry["compiler"]) == ("avx2", "AVX2", "gcc 14")
    assert entry["flags"] == ["-O3", "-march=native"] and entry["cython"] == "3.2"
    assert entry["threads"] == fastrnn.get_num_threads()

    entry = _info._compiled_backend(types.SimpleNamespace(__name__="bare"))
    assert (entry["isa"], entry["compiler"], entry["flags"]) == ("unknown",) * 3

    def broken():
        raise RuntimeError("no compiler record")

    broken_module = types.SimpleNamespace(__name__="broken", build_info=broken)
    entry = _info._compiled_backend(broken_module)
    assert entry["isa"] == "unknown" and "no compiler record" in entry["build_info"]


def test_machine_line_names_cpu_isa_and_compiler():
    info = {
        "cpu": {"model": "Some CPU"},
        "backends": {
            "numba": {"available": True, "isa": "AVX2", "cpu": "znver3", "compiler": "LLVM 15"},
            "cython": {"available": False, "reason": "not built"},
        },
    }
    assert _info.machine_line(info) == (
        "machine: Some CPU; numba: ISA AVX2 (znver3), compiler LLVM 15; cython: not available"
    )
    line = _info.machine_line()
    assert line.startswith("machine: ") and "\n" not in line


def test_importing_show_config_does_not_import_numba():
    code = "import sys, fastrnn, fastrnn._info; fastrnn.show_config; print('numba' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def _fastrnn_command(*words):
    return subprocess.run(
        [sys.executable, "-m", "fastrnn", *words], capture_output=True, text=True, timeout=300
    )


def test_info_command_prints_the_config():
    proc = _fastrnn_command("info")
    assert proc.returncode == 0, proc.stderr
    assert "backends:" in proc.stdout and "  numba:" in proc.stdout


def test_info_command_json_is_parseable():
    proc = _fastrnn_command("info", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert set(info) == TOP_KEYS
    assert info["backends"]["numpy"]["available"] is True


def test_usage_lists_info(capsys):
    assert main(["--help"]) == 0
    assert "info" in capsys.readouterr().out


def test_bench_tables_carry_the_machine_line(tmp_path, capsys):
    out = tmp_path / "results"
    code = main(
        ["bench", "--cells", "lstm", "--shapes", "tiny", "--modes", "forward", "--repeat", "3"]
        + ["--no-peers", "--no-cold-start", "--no-chart", "--out", str(out)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    data = json.loads((out / "bench.json").read_text())
    line = data["machine_line"]
    assert line.startswith("machine: ")
    assert set(data["config"]) == TOP_KEYS
    assert line == _info.machine_line(data["config"])
    for text in (printed, (out / "bench.md").read_text()):
        lines = text.splitlines()
        heads = [i for i, row in enumerate(lines) if row.startswith("| ") and lines[i - 1] == ""]
        assert len(heads) == 2  # the grid results and the single step
        for i in heads:
            assert lines[i - 2] == line


@pytest.mark.parametrize(
    "target,level",
    [
        ("avx512f", "avx512"),
        ("avx2+fma", "avx2"),
        ("AVX2", "avx2"),
        ("avx", "baseline"),
        ("sse2", "baseline"),
        ("neon", "baseline"),
        ("generic", "baseline"),
        ("unknown", "unknown"),
    ],
)
def test_isa_levels_are_the_ones_api_md_names(target, level):
    assert _info.isa_level(target) == level
