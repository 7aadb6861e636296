"""The ONNX Runtime peer of the benchmark computes what fastrnn's layers do.

Skipped unless ``onnx`` and ``onnxruntime`` are installed (they are optional:
``pip install onnx onnxruntime``).
"""

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from fastrnn.bench import systems
from fastrnn.layers import GRU, LSTM, SimpleRNN

LAYERS = {"simple_rnn": SimpleRNN, "lstm": LSTM, "gru": GRU}


@pytest.mark.parametrize("cell", list(LAYERS))
@pytest.mark.parametrize("shape", [(1, 1, 3, 1), (3, 7, 5, 6), (2, 20, 8, 16)])
def test_onnxruntime_operators_match_the_reference(cell, shape):
    batch, timesteps, features, units = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, timesteps, features)).astype(np.float32)
    kernel, recurrent, bias = systems.keras_weights(cell, features, units)
    bias = bias + 0.1 * rng.standard_normal(bias.shape).astype(np.float32)
    session = systems.OnnxRuntimeSystem(threads=1).session(cell, kernel, recurrent, bias)
    (y,) = session.run(None, {"X": x})
    layer = LAYERS[cell](units, return_sequences=True, backend="numpy")
    layer(x)
    layer.set_weights([kernel, recurrent, bias])
    assert y.shape == (batch, timesteps, 1, units)
    np.testing.assert_allclose(y[:, :, 0], layer(x), rtol=1e-5, atol=1e-5)


def test_onnxruntime_is_inference_only():
    peer = systems.OnnxRuntimeSystem(threads=1)
    x = systems.make_input("tiny")
    assert peer.make("lstm", "tiny", "forward", x)() is not None
    with pytest.raises(systems.SkipSystem, match="inference only"):
        peer.make("lstm", "tiny", "train", x)
    assert peer.make_step()() is not None
