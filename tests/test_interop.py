"""Weight conversion to and from PyTorch and Keras (skipped without them)."""

import numpy as np
import pytest

from fastrnn import interop
from fastrnn.layers import GRU, Dense


def test_missing_framework_is_explained(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "torch":
            raise ImportError("No module named 'torch'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.delitem(__import__("sys").modules, "torch", raising=False)
    with pytest.raises(ImportError, match="needs 'torch'.*pip install"):
        interop.from_torch(object())


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_from_torch_and_back(kind, num_layers, bidirectional):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = getattr(torch.nn, kind)(
        3, 5, num_layers=num_layers, batch_first=True, bidirectional=bidirectional
    ).double()
    x = np.random.default_rng(0).standard_normal((2, 6, 3))
    with torch.no_grad():
        expected = module(torch.as_tensor(x))[0].numpy()
    model = interop.from_torch(module, dtype="float64")
    np.testing.assert_allclose(model(x), expected, rtol=1e-10, atol=1e-12)
    back = interop.to_torch(model).double()
    with torch.no_grad():
        np.testing.assert_allclose(back(torch.as_tensor(x))[0].numpy(), expected, atol=1e-12)


def test_to_torch_rejects_what_torch_cannot_express():
    pytest.importorskip("torch")
    with pytest.raises(ValueError, match="reset_after=True"):
        interop.to_torch(GRU(2, reset_after=False, input_shape=(3, 2)))
    with pytest.raises(TypeError, match="Sequential made only"):
        interop.to_torch(Dense(2))


def test_from_keras_model():
    keras = pytest.importorskip("keras")
    source = keras.Sequential(
        [
            keras.Input((7,)),
            keras.layers.Embedding(20, 4, mask_zero=True),
            keras.layers.Bidirectional(keras.layers.GRU(3, return_sequences=True)),
            keras.layers.LSTM(5, dropout=0.2, recurrent_dropout=0.1),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    ids = np.random.default_rng(1).integers(0, 20, size=(3, 7))
    ids[:, -2:] = 0
    model = interop.from_keras(source)
    np.testing.assert_allclose(model(ids), np.asarray(source(ids)), rtol=1e-5, atol=1e-6)
    lstm = model.layers[-2]
    assert (lstm.dropout, lstm.recurrent_dropout) == (0.2, 0.1)
