"""A read-only install (issue 14): the package tree, HOME and Numba's default
cache not writable, as in a system package or a container image.

``@njit(cache=True)`` used to raise "cannot cache function ... no locator
available" at import, which made ``fastrnn.available_backends()`` itself
raise. Now the Numba backend caches in a directory it can write (or not at
all) and says so once, and every backend still runs.

The tree is made read-only with a read-only bind mount in a private mount
namespace (``unshare -m``), since permission bits do not stop root; the
test is skipped where that is not allowed.
"""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

import fastrnn

PACKAGE = os.path.dirname(fastrnn.__file__)

CHILD = """
    import warnings, numpy as np
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import fastrnn
        from fastrnn import layers
        backends = fastrnn.available_backends()
        x = np.ones((2, 3, 4), np.float32)
        for backend in ["auto", *backends]:
            out = layers.SimpleRNN(3, backend=backend, seed=0)(x)
            assert out.shape == (2, 3), out.shape
    notes = [str(w.message) for w in caught if "Numba" in str(w.message)]
    print("backends", backends)
    print("notes", len(notes), notes[0] if notes else "")
"""


def _readonly_run(tmp_path, writable_tmp):
    site, home, scratch = tmp_path / "site", tmp_path / "home", tmp_path / "tmp"
    shutil.copytree(
        PACKAGE, site / "fastrnn", ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc")
    )
    home.mkdir()
    scratch.mkdir()
    # Without a writable TMPDIR, tempfile falls back to /tmp, /var/tmp, /usr/tmp.
    fallbacks = [d for d in ("/tmp", "/var/tmp", "/usr/tmp") if os.path.isdir(d)]
    ro = [site, home] + ([] if writable_tmp else [scratch, *fallbacks])
    mounts = " && ".join(f"mount --bind {d} {d} && mount -o remount,bind,ro {d}" for d in ro)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("NUMBA_CACHE_DIR", "FASTRNN_CACHE_DIR", "XDG_CACHE_HOME")
    }
    env.update(PYTHONPATH=str(site), HOME=str(home), TMPDIR=str(scratch))
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    command = f"{mounts} && cd {tmp_path} && {sys.executable} {script}"
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def can_mount_readonly(tmp_path_factory):
    target = tmp_path_factory.mktemp("ro")
    probe = (
        f"mount --bind {target} {target} && mount -o remount,bind,ro {target} && touch {target}/x"
    )
    if shutil.which("unshare") is None:
        pytest.skip("no unshare here")
    result = subprocess.run(["unshare", "-m", "sh", "-c", probe], capture_output=True, text=True)
    if "Read-only file system" not in result.stderr:
        pytest.skip(f"cannot make a read-only bind mount here: {result.stderr.strip()}")


@pytest.mark.parametrize("writable_tmp", [True, False], ids=["cache-in-tmp", "no-cache"])
def test_readonly_install_runs_every_backend(can_mount_readonly, tmp_path, writable_tmp):
    result = _readonly_run(tmp_path, writable_tmp)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
    assert "numba" in lines["backends"] and "numpy" in lines["backends"]
    count, _, note = lines["notes"].partition(" ")
    assert count == "1", result.stdout  # said once
    if writable_tmp:
        assert "cached in" in note and str(tmp_path / "tmp") in note
    else:
        assert "no writable directory for Numba's cache" in note
