"""save / load round trips and every way a model file can be wrong."""

import json
import os
import zipfile

import numpy as np
import pytest

from fastrnn import optimizers, saving

models = pytest.importorskip("fastrnn.models")
layers = pytest.importorskip("fastrnn.layers")
Sequential = models.Sequential


def data(n=64, t=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 10, size=(n, t))
    return x, (x == 3).any(axis=1).astype("float32")


def trained(build, optimizer="adam", epochs=1):
    x, y = data()
    model = build()
    model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=16, seed=0, verbose=0)
    return model


BUILDERS = {
    "simple_rnn": lambda: Sequential(
        [
            layers.Embedding(10, 4, seed=1),
            layers.SimpleRNN(5, seed=1),
            layers.Dense(1, activation="sigmoid", seed=1),
        ]
    ),
    "bilstm_masked": lambda: Sequential(
        [
            layers.Embedding(10, 4, mask_zero=True, seed=1),
            layers.Bidirectional(layers.LSTM(3, seed=1)),
            layers.Dense(1, activation="sigmoid", seed=1),
        ]
    ),
    "gru_stack": lambda: Sequential(
        [
            layers.Embedding(10, 4, seed=1),
            layers.GRU(3, return_sequences=True, seed=1),
            layers.GRU(3, seed=1, reset_after=False),
            layers.Dense(1, activation="sigmoid", seed=1),
        ]
    ),
}


@pytest.mark.parametrize("name", list(BUILDERS))
@pytest.mark.parametrize("opt", ["adam", "sgd_momentum", "rmsprop"])
def test_round_trip_bit_identical_and_training_continues(tmp_path, name, opt):
    optimizer = optimizers.SGD(0.1, momentum=0.9) if opt == "sgd_momentum" else opt
    model = trained(BUILDERS[name], optimizer)
    path = tmp_path / "model.fastrnn"
    model.save(str(path))
    assert os.listdir(tmp_path) == ["model.fastrnn"]  # no suffix added, no temp left
    loaded = models.load_model(path)
    x, y = data(seed=3)
    assert np.array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.iterations == model.optimizer.iterations
    assert loaded.metrics_names == ["loss", "accuracy"]
    h1 = model.fit(x, y, epochs=2, batch_size=16, seed=7, verbose=0)
    h2 = loaded.fit(x, y, epochs=2, batch_size=16, seed=7, verbose=0)
    assert h1.history == h2.history
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        assert np.array_equal(a, b)


def test_uncompiled_model_round_trip(tmp_path):
    model = Sequential([layers.LSTM(3, input_shape=(None, 2), seed=0), layers.Dense(2)])
    path = tmp_path / "m.bin"
    saving.save_model(model, path)
    loaded = saving.load_model(path)
    x = np.random.default_rng(0).normal(size=(4, 5, 2))
    assert np.array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert not getattr(loaded, "compiled", False)


def test_model_built_by_calling_only(tmp_path):
    model = Sequential([layers.SimpleRNN(3, seed=0), layers.Dense(1)])
    x = np.random.default_rng(0).normal(size=(4, 5, 2)).astype("float32")
    model(x)
    path = tmp_path / "m"
    model.save(path)
    assert np.array_equal(models.load_model(path)(x), model(x))


def test_unbuilt_model_cannot_be_saved(tmp_path):
    with pytest.raises(ValueError, match="not built"):
        Sequential([layers.SimpleRNN(3)]).save(tmp_path / "m")


def test_no_pickle_in_file(tmp_path):
    path = tmp_path / "m"
    trained(BUILDERS["simple_rnn"]).save(path)
    with np.load(path, allow_pickle=False) as npz:  # loads without pickle
        assert "__fastrnn__" in npz.files
        for k in npz.files:
            assert npz[k].dtype != object


def test_missing_file(tmp_path):
    path = tmp_path / "nope.fastrnn"
    with pytest.raises(FileNotFoundError, match="nope.fastrnn"):
        models.load_model(path)


@pytest.fixture(scope="module")
def good_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("good") / "m"
    trained(BUILDERS["simple_rnn"]).save(path)
    return path.read_bytes()


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.3, 0.5, 0.9, 0.999])
def test_truncated_file(tmp_path, good_bytes, fraction):
    path = tmp_path / "cut"
    path.write_bytes(good_bytes[: int(len(good_bytes) * fraction)])
    with pytest.raises(ValueError, match="not a fastrnn model file"):
        models.load_model(path)


def test_corrupted_bytes(tmp_path, good_bytes):
    rng = np.random.default_rng(0)
    for _ in range(10):
        data = bytearray(good_bytes)
        for i in rng.integers(0, len(data), size=20):
            data[i] ^= 0xFF
        path = tmp_path / "bad"
        path.write_bytes(bytes(data))
        try:
            models.load_model(path)
        except ValueError as exc:
            assert "fastrnn" in str(exc)


def test_foreign_files(tmp_path):
    text = tmp_path / "a.txt"
    text.write_text("hello")
    npz = tmp_path / "b.npz"
    np.savez(npz, a=np.arange(3))
    zipf = tmp_path / "c.zip"
    with zipfile.ZipFile(zipf, "w") as z:
        z.writestr("x.txt", "hi")
    pickled = tmp_path / "d.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    header_only = tmp_path / "e.npz"
    np.savez(header_only, __fastrnn__=np.array('{"format": "something else"}'))
    bad_json = tmp_path / "f.npz"
    np.savez(bad_json, __fastrnn__=np.array("{not json"))
    for path in (text, npz, zipf, pickled, header_only, bad_json, tmp_path):
        with pytest.raises(ValueError, match="not a fastrnn model file"):
            models.load_model(path)


def test_bad_path_type():
    with pytest.raises(TypeError, match="path"):
        saving.load_model(42)


def test_dropout_model_continues_identically(tmp_path):
    def build():
        return Sequential(
            [
                layers.Embedding(10, 4, seed=1),
                layers.Dropout(0.3, seed=2),
                layers.SimpleRNN(5, seed=1),
                layers.Dense(1, activation="sigmoid", seed=1),
            ]
        )

    model = trained(build)
    model.save(tmp_path / "m")
    loaded = models.load_model(tmp_path / "m")
    x, y = data(seed=4)
    h1 = model.fit(x, y, epochs=2, batch_size=16, seed=3, verbose=0)
    h2 = loaded.fit(x, y, epochs=2, batch_size=16, seed=3, verbose=0)
    assert h1.history == h2.history
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        assert np.array_equal(a, b)


# --------------------------------------------------------------------------
# the format (fastrnn.saving) and the model's side of it
# --------------------------------------------------------------------------


def test_both_load_model_names_are_the_models_one():
    assert saving.load_model is models.load_model
    assert saving.save_model is models.save_model


def test_archive_round_trip(tmp_path):
    path = tmp_path / "a"
    arrays = {"w": np.arange(6.0).reshape(2, 3), "flags": np.array([True, False])}
    saving.write_archive(path, {"answer": 42, "shape": [None, 3]}, arrays)
    header, read = saving.read_archive(path)
    assert header == {
        "format": saving.FORMAT_NAME,
        "version": saving.FORMAT_VERSION,
        "answer": 42,
        "shape": [None, 3],
    }
    assert read.keys() == arrays.keys()
    for name, want in arrays.items():
        assert np.array_equal(read[name], want) and read[name].dtype == want.dtype


@pytest.mark.parametrize(
    "header,arrays,named",
    [
        ({"version": 2}, {}, "reserved"),
        ({"f": object()}, {}, "JSON"),
        ({}, {"__fastrnn__": np.zeros(1)}, "reserved"),
        ({}, {"a": np.array([{}], dtype=object)}, "pickle"),
    ],
)
def test_write_archive_refuses_what_it_cannot_store(tmp_path, header, arrays, named):
    with pytest.raises(ValueError, match=named):
        saving.write_archive(tmp_path / "a", header, arrays)
    assert os.listdir(tmp_path) == []


def test_write_archive_needs_an_existing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="directory does not exist"):
        saving.write_archive(tmp_path / "no" / "a", {}, {})


def test_newer_format_version_is_refused(tmp_path):
    path = tmp_path / "new"
    np.savez(path, __fastrnn__=np.array('{"format": "fastrnn.model", "version": 99}'))
    with pytest.raises(ValueError, match="newer fastrnn"):
        saving.read_archive(str(path) + ".npz")


def test_missing_model_arrays_are_reported(tmp_path):
    path = tmp_path / "m"
    trained(BUILDERS["simple_rnn"]).save(path)
    header, arrays = saving.read_archive(path)
    del header["format"], header["version"]
    del arrays["weight_1"]
    saving.write_archive(path, header, arrays)
    with pytest.raises(saving.ModelFileError, match="not a fastrnn model file.*weight_1"):
        models.load_model(path)


def test_a_file_in_the_version_1_layout_loads(tmp_path):
    """The layout files of format version 1 have, written without fastrnn.saving."""
    model = trained(BUILDERS["gru_stack"])
    weights = model.get_weights()
    state = model.optimizer.get_state()
    header = {
        "format": "fastrnn.model",
        "version": 1,
        "class_name": "Sequential",
        "config": model.get_config(),
        "input_shape": [None, 6],
        "compile": model.get_compile_config(),
        "rng_states": [None] * len(model.layers),
        "num_weights": len(weights),
        "num_optimizer_arrays": len(state),
    }
    arrays = {f"weight_{i}": w for i, w in enumerate(weights)}
    arrays.update((f"optimizer_{i}", np.asarray(a)) for i, a in enumerate(state))
    path = tmp_path / "v1.npz"
    np.savez(path, __fastrnn__=np.array(json.dumps(header)), **arrays)
    loaded = models.load_model(path)
    x, y = data(seed=5)
    assert np.array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.optimizer.iterations == model.optimizer.iterations
    assert loaded.input_shape == (None, 6)


def test_the_model_knows_its_input_shape():
    given = Sequential([layers.LSTM(3, input_shape=(None, 2)), layers.Dense(1)])
    assert given.input_shape == (None, None, 2)
    with_batch = Sequential([layers.SimpleRNN(3, batch_input_shape=(8, 5, 2))])
    assert with_batch.input_shape == (8, 5, 2)

    built = Sequential([layers.Embedding(10, 4), layers.GRU(3)])
    assert built.input_shape is None
    built.build((None, 7))
    assert built.input_shape == (None, 7)

    called = Sequential([layers.SimpleRNN(3), layers.Dense(1)])
    called(np.zeros((4, 5, 2), "float32"))
    assert called.input_shape == (None, 5, 2)
    called(np.zeros((3, 9, 2), "float32"))  # the first call's shape stays
    assert called.input_shape == (None, 5, 2)

    fitted = Sequential([layers.Embedding(10, 4), layers.SimpleRNN(3), layers.Dense(1)])
    fitted.compile(loss="mse")
    fitted.fit(*data(n=8), verbose=0)
    assert fitted.input_shape == (None, 6)


def test_input_shape_of_layers_built_before_the_model(tmp_path):
    lstm = layers.LSTM(3)
    lstm.build((None, None, 2))
    dense = layers.Dense(1)
    dense.build((None, 3))
    model = Sequential([layers.Masking(), lstm, dense])
    assert model.input_shape == (None, None, 2)
    model.save(tmp_path / "m")
    loaded = models.load_model(tmp_path / "m")
    x = np.random.default_rng(0).normal(size=(2, 4, 2)).astype("float32")
    assert np.array_equal(loaded(x), model(x))
    assert loaded.input_shape == (None, None, 2)


def test_compile_config_round_trip():
    model = trained(BUILDERS["simple_rnn"], optimizers.RMSprop(0.01))
    config = model.get_compile_config()
    other = BUILDERS["simple_rnn"]()
    assert other.get_compile_config() is None
    other.compile_from_config(config)
    assert other.get_compile_config() == config
    assert other.metrics_names == model.metrics_names
