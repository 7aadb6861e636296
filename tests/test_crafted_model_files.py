"""``load_model`` on crafted and hostile files (issue 14): each one is refused
with a ValueError naming the file, quickly and without allocating more than
the file holds.

Before, a 10 KB file declaring ``units=3000`` took 60-70 s and 1.6 GB before
its shape error, ``Embedding(input_dim=5e6)`` 18 s and 5.9 GB, bigger units
let NumPy's MemoryError escape, a huge random-generator state an
OverflowError, ``/dev/zero`` was read until memory ran out and a FIFO with no
writer blocked forever.
"""

import copy
import io
import json
import os
import threading
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

from fastrnn import layers, saving
from fastrnn.models import Sequential, load_model

#: Bounds for refusing one crafted file: well above what a refusal needs,
#: far below what building the declared model would.
SECONDS = 5.0
PEAK_BYTES = 64 * 2**20


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A small compiled, trained model's file, and its header and arrays."""
    model = Sequential(
        [
            layers.Embedding(10, 4, seed=1),
            layers.LSTM(5, return_sequences=True, seed=2),
            layers.Dropout(0.2, seed=3),
            layers.GRU(3, seed=4),
            layers.Dense(1, activation="sigmoid", seed=5),
        ]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy")
    x = np.random.default_rng(0).integers(0, 10, size=(8, 6))
    model.fit(x, (x[:, 0] > 4).astype("float32"), epochs=1, verbose=0)
    path = tmp_path_factory.mktemp("saved") / "model.npz"
    model.save(path)
    header, arrays = saving.read_archive(path)
    for key in ("format", "version"):
        del header[key]
    return path, header, arrays


def _layer_config(header, class_name):
    return next(c["config"] for c in header["config"]["layers"] if c["class_name"] == class_name)


def _set_units(units):
    def craft(header, arrays):
        _layer_config(header, "LSTM")["units"] = units

    return craft


def _set(key, value):
    def craft(header, arrays):
        header[key] = value

    return craft


def _embedding_rows(header, arrays):
    _layer_config(header, "Embedding")["input_dim"] = 5_000_000


def _huge_rng_state(header, arrays):
    state = next(s for s in header["rng_states"] if s is not None)
    state["state"]["state"] = 10**400


def _negative_iterations(header, arrays):
    arrays["optimizer_0"] = np.array(-5, dtype=np.int64)


def _fractional_iterations(header, arrays):
    arrays["optimizer_0"] = np.array(1.5)


def _layer_config_none(header, arrays):
    header["config"]["layers"][1]["config"] = None


def _layers_not_a_list(header, arrays):
    header["config"]["layers"] = "LSTM"


def _weight_of_wrong_shape(header, arrays):
    arrays["weight_1"] = np.zeros((1, 4), np.float32)


def _weight_of_strings(header, arrays):
    arrays["weight_2"] = np.array(["a"] * arrays["weight_2"].size).reshape(arrays["weight_2"].shape)


def _extra_weight(header, arrays):
    arrays[f"weight_{header['num_weights']}"] = np.zeros(3, np.float32)
    header["num_weights"] += 1


HEADER_CASES = {
    "units=3000": _set_units(3000),
    "units=20000": _set_units(20000),
    "units=10**12": _set_units(10**12),
    "units=2**63": _set_units(2**63),
    "units='abc'": _set_units("abc"),
    "Embedding(input_dim=5e6)": _embedding_rows,
    "huge rng state": _huge_rng_state,
    "negative optimizer iterations": _negative_iterations,
    "fractional optimizer iterations": _fractional_iterations,
    "layer config None": _layer_config_none,
    "layers not a list": _layers_not_a_list,
    "config None": _set("config", None),
    "input_shape of strings": _set("input_shape", ["a", 4]),
    "num_weights -1": _set("num_weights", -1),
    "num_weights '3'": _set("num_weights", "3"),
    "num_weights 10**18": _set("num_weights", 10**18),
    "num_optimizer_arrays True": _set("num_optimizer_arrays", True),
    "compile a list": _set("compile", [1, 2]),
    "rng_states a string": _set("rng_states", "x"),
    "weight of the wrong shape": _weight_of_wrong_shape,
    "weight of strings": _weight_of_strings,
    "one weight too many": _extra_weight,
}


def _refused_within_bounds(path, match=None):
    """load_model(path) raises a ValueError naming the file, in bounded time and memory."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ValueError) as caught:
            load_model(path)
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(caught.value)
    assert str(path) in message
    for raw in ("object is not subscriptable", "object is not iterable", "has no attribute"):
        assert raw not in message
    if match is not None:
        assert match in message
    assert seconds < SECONDS, f"took {seconds:.1f} s"
    assert peak < PEAK_BYTES, f"allocated {peak / 2**20:.0f} MiB"
    return message


@pytest.mark.parametrize("case", list(HEADER_CASES))
def test_crafted_header_is_refused_quickly(tmp_path, saved, case):
    _, header, arrays = saved
    header, arrays = copy.deepcopy(header), dict(arrays)
    HEADER_CASES[case](header, arrays)
    path = tmp_path / "crafted.npz"
    saving.write_archive(path, header, arrays)
    _refused_within_bounds(path)


def test_declared_shapes_are_named_in_the_error(tmp_path, saved):
    _, header, arrays = saved
    header = copy.deepcopy(header)
    _set_units(3000)(header, arrays)
    path = tmp_path / "units.npz"
    saving.write_archive(path, header, arrays)
    message = _refused_within_bounds(path)
    assert "(4, 12000)" in message and "(4, 20)" in message


def _npy_header(shape, dtype="<f4"):
    """The magic string and header of a version 1.0 ``.npy`` file."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": dtype, "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue()


def _rewrite_zip(source, target, replace=None, compression=zipfile.ZIP_STORED):
    """Copy the archive ``source`` to ``target``, with member bytes replaced."""
    replace = replace or {}
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", compression) as new:
        for info in old.infolist():
            new.writestr(info.filename, replace.get(info.filename, old.read(info)))


def test_member_declaring_a_huge_array_is_refused(tmp_path, saved):
    """A .npy header may claim any shape; reading must not allocate it."""
    path = tmp_path / "huge-member.npz"
    huge = _npy_header((10**6, 10**6)) + b"\0" * 16
    _rewrite_zip(saved[0], path, {"weight_0.npy": huge})
    _refused_within_bounds(path, match="declares shape")


def test_compressed_archive_is_refused(tmp_path, saved):
    path = tmp_path / "compressed.npz"
    _rewrite_zip(saved[0], path, compression=zipfile.ZIP_DEFLATED)
    _refused_within_bounds(path, match="compressed")


def test_object_member_is_refused(tmp_path, saved):
    path = tmp_path / "pickled.npz"
    _rewrite_zip(saved[0], path, {"weight_0.npy": _npy_header((2,), "|O") + b"\0" * 16})
    _refused_within_bounds(path)


@pytest.mark.parametrize("version", ["1", -1, 0, None, True])
def test_bad_format_version_is_refused(tmp_path, saved, version):
    path = tmp_path / "version.npz"
    header = json.dumps({"format": "fastrnn.model", "version": version})
    np.savez(path, __fastrnn__=np.array(header))
    _refused_within_bounds(path)


def test_device_is_refused(tmp_path):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    _refused_within_bounds("/dev/zero", match="not a regular file")
    link = tmp_path / "zero.npz"
    link.symlink_to("/dev/zero")
    _refused_within_bounds(link, match="not a regular file")


def test_fifo_without_writer_is_refused_at_once(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    path = tmp_path / "fifo.npz"
    os.mkfifo(path)
    errors = []

    def load():
        try:
            _refused_within_bounds(path, match="not a regular file")
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(timeout=SECONDS * 2)
    if thread.is_alive():  # unblock the reader, then fail
        with open(path, "wb"):
            pass
        pytest.fail("load_model blocked on a FIFO with no writer")
    if errors:
        raise errors[0]


def test_directory_is_refused(tmp_path):
    _refused_within_bounds(tmp_path, match="directory")


def test_refused_negative_iterations_never_reach_fit(tmp_path, saved):
    """Before, a negative count loaded and the next fit produced NaN."""
    _, header, arrays = saved
    arrays = dict(arrays, optimizer_0=np.array(-5, dtype=np.int64))
    path = tmp_path / "negative.npz"
    saving.write_archive(path, header, arrays)
    message = _refused_within_bounds(path)
    assert "non-negative" in message


def test_the_untouched_file_still_loads(saved):
    model = load_model(saved[0])
    assert len(model.get_weights()) == len(model.weights) > 0
