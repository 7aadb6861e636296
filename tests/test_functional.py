"""The functional API and Model subclassing (issue 15): Keras's numbers on the
tutorial graphs, finite-difference gradients of shared layers and of
multi-input / multi-output graphs, sub-graph models, training with lists and
dicts, saving, the summary, and clear errors for graphs and calls that
cannot work."""

import os

import numpy as np
import pytest

import fastrnn
from fastrnn import Input, Model, layers
from fastrnn.models import Sequential, load_model
from keras_functional_models import BATCH_SIZE, LEARNING_RATE, MODELS, data

GOLDENS = np.load(os.path.join(os.path.dirname(__file__), "golden", "keras_functional_goldens.npz"))


def _golden(name, key):
    return GOLDENS[f"{name}/{key}"]


def _goldens(name, prefix):
    count = sum(1 for k in GOLDENS.files if k.startswith(f"{name}/{prefix}"))
    return [_golden(name, f"{prefix}{i}") for i in range(count)]


# --------------------------------------------------------------------------
# Keras 3.15 (TensorFlow 2.21) goldens
# --------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(MODELS))
def test_models_match_keras(backend_name, name):
    """Keras's weights in: Keras's predictions, and after one epoch of SGD on the
    same batches, Keras's weights and loss (float32)."""
    with fastrnn.use_backend(backend_name):
        model = MODELS[name](fastrnn)
        x, y = data(name)
        model(x)  # builds a subclassed model
        model.set_weights(_goldens(name, "weight"))
        np.testing.assert_allclose(
            model.predict(x, verbose=0), _golden(name, "output"), rtol=2e-5, atol=2e-6
        )
        model.compile(
            optimizer=fastrnn.optimizers.SGD(LEARNING_RATE), loss="categorical_crossentropy"
        )
        history = model.fit(x, y, batch_size=BATCH_SIZE, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], _golden(name, "loss"), rtol=1e-5)
    for ours, theirs in zip(model.get_weights(), _goldens(name, "trained")):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------
# finite differences (float64)
# --------------------------------------------------------------------------
def _check_gradients(model, x, projections, eps=1e-6, rtol=1e-6):
    """``model.backward`` and ``model.gradients`` against central differences of
    ``sum(projection * output)`` for every weight entry (sampled) and input."""

    def loss():
        out = model(x)
        out = out if isinstance(out, list) else [out]
        return sum(float(np.sum(o * p)) for o, p in zip(out, projections))

    def compare(array, gradient, samples):
        flat, g = array.reshape(-1), np.asarray(gradient).reshape(-1)
        for i in range(0, flat.size, max(1, flat.size // samples)):
            old = flat[i]
            flat[i] = old + eps
            up = loss()
            flat[i] = old - eps
            down = loss()
            flat[i] = old
            numeric = (up - down) / (2 * eps)
            assert abs(numeric - g[i]) <= rtol * max(1.0, abs(numeric)) + 1e-8, (array.shape, i)

    model(x, training=True)
    dx = model.backward(projections if len(projections) > 1 else projections[0])
    for weight, grad in zip(model.trainable_weights, model.gradients):
        compare(weight, grad, 11)
    inputs = x if isinstance(x, list) else [x]
    grads = dx if isinstance(dx, list) else [dx]
    for xi, di in zip(inputs, grads):
        if di is not None:
            compare(xi, di, 13)


def _shared_graph():
    """Two inputs, two outputs; one LSTM called twice (the second time from
    the first call's states), one Dense called three times."""
    f64 = {"dtype": "float64"}
    a = Input(shape=(4, 3), dtype="float64")
    b = Input(shape=(5,), dtype="float64")
    lstm = layers.LSTM(6, return_sequences=True, return_state=True, **f64)
    first, h, c = lstm(a)
    h_b = layers.Dense(6, **f64)(b)
    repeated = layers.RepeatVector(4, **f64)(layers.Dense(2, **f64)(b))
    joined = layers.Concatenate(**f64)([layers.Dense(3, **f64)(a), repeated])
    joined = layers.Dense(3, activation="tanh", **f64)(joined)
    second, h2, _ = lstm(joined, initial_state=[h_b, c])
    shared = layers.Dense(6, activation="tanh", **f64)
    total = layers.Add(**f64)([shared(h2), shared(h), shared(h)])
    steps = layers.TimeDistributed(layers.Dense(2, **f64))(layers.Multiply(**f64)([first, second]))
    return Model([a, b], [total, steps])


def test_shared_layers_multi_io_gradients(backend_name):
    rng = np.random.default_rng(0)
    with fastrnn.use_backend(backend_name):
        model = _shared_graph()
        x = [rng.standard_normal((3, 4, 3)), rng.standard_normal((3, 5))]
        projections = [rng.standard_normal((3, 6)), rng.standard_normal((3, 4, 2))]
        _check_gradients(model, x, projections)


def test_masked_embedding_graph_gradients(backend_name):
    """A mask from Embedding(mask_zero) flows through the graph (Bidirectional,
    attention over the encoder, pooling) as in Keras."""
    rng = np.random.default_rng(1)
    f64 = {"dtype": "float64"}
    with fastrnn.use_backend(backend_name):
        tokens = Input(shape=(6,), dtype="int64")
        embedded = layers.Embedding(12, 4, mask_zero=True, **f64)(tokens)
        encoded = layers.Bidirectional(layers.GRU(3, return_sequences=True, **f64))(embedded)
        query = layers.LSTM(6, return_sequences=True, **f64)(embedded)
        context = layers.Attention(**f64)([query, encoded])
        pooled = layers.GlobalAveragePooling1D(**f64)(layers.Concatenate(**f64)([query, context]))
        model = Model(tokens, layers.Dense(2, **f64)(pooled))
        x = rng.integers(1, 12, (4, 6))
        x[0, 3:] = 0
        x[2, 1:] = 0
        _check_gradients(model, x, [rng.standard_normal((4, 2))])
        # the padded steps change nothing
        changed = x.copy()
        changed[0, 3:] = 0
        np.testing.assert_array_equal(
            model.predict(changed, verbose=0), model.predict(x, verbose=0)
        )


def test_subclassed_model_gradients(backend_name):
    f64 = {"dtype": "float64"}

    class Siamese(Model):
        def __init__(self):
            super().__init__()
            self.encoder = layers.GRU(5, **f64)
            self.blocks = [layers.Dense(4, activation="tanh", **f64), layers.Dense(1, **f64)]
            self.add = layers.Add(**f64)

        def call(self, inputs, training=False):
            left, right = inputs
            joined = self.add([self.encoder(left), self.encoder(right)])  # shared encoder
            for block in self.blocks:
                joined = block(joined)
            return joined

    rng = np.random.default_rng(2)
    with fastrnn.use_backend(backend_name):
        model = Siamese()
        x = [rng.standard_normal((3, 5, 2)), rng.standard_normal((3, 5, 2))]
        model(x)
        assert [layer.name for layer in model.layers][:1] == [model.encoder.name]
        _check_gradients(model, x, [rng.standard_normal((3, 1))])


# --------------------------------------------------------------------------
# the graph: sub-graphs, structure, training with lists and dicts
# --------------------------------------------------------------------------
def test_inference_models_share_the_trained_layers():
    """The seq2seq tutorial's inference: an encoder model and a decoder model made
    of the trained layers, with new Inputs for the states, give the training
    model's predictions step by step."""
    model = MODELS["seq2seq"](fastrnn)
    (x_enc, x_dec), y = data("seq2seq")
    model.compile("adam", "categorical_crossentropy")
    model.fit([x_enc, x_dec], y, epochs=1, verbose=0)
    encoder_inputs, decoder_inputs = model.input
    _, state_h, state_c = model.layers[2].output
    encoder_model = Model(encoder_inputs, [state_h, state_c])
    decoder_lstm, decoder_dense = model.layers[3], model.layers[4]
    h_in, c_in = Input(shape=(8,)), Input(shape=(8,))
    out, h, c = decoder_lstm(decoder_inputs, initial_state=[h_in, c_in])
    decoder_model = Model([decoder_inputs, h_in, c_in], [decoder_dense(out), h, c])
    states = encoder_model.predict(x_enc, verbose=0)
    steps = []
    for t in range(x_dec.shape[1]):
        probabilities, *states = decoder_model.predict([x_dec[:, t : t + 1], *states], verbose=0)
        steps.append(probabilities[:, 0])
    np.testing.assert_allclose(
        np.stack(steps, axis=1), model.predict([x_enc, x_dec], verbose=0), rtol=1e-5, atol=1e-6
    )
    assert decoder_lstm.output is not None and len(decoder_lstm._inbound_nodes) == 2


def test_functional_equals_sequential():
    """The same layers as a Sequential stack and as a graph: the same predictions
    and the same training, step for step."""
    fastrnn.utils.set_random_seed(5)
    stack = Sequential(
        [Input(shape=(6,)), layers.Embedding(20, 4), layers.LSTM(5), layers.Dense(1)]
    )
    tokens = Input(shape=(6,))
    h = tokens
    twins = [layers.Embedding(20, 4), layers.LSTM(5), layers.Dense(1)]
    for layer in twins:
        h = layer(h)
    graph = Model(tokens, h)
    graph.set_weights(stack.get_weights())
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 20, (40, 6)), rng.standard_normal((40, 1))
    np.testing.assert_array_equal(stack.predict(x, verbose=0), graph.predict(x, verbose=0))
    for model in (stack, graph):
        model.compile("rmsprop", "mse", metrics=["mae"])
    h1 = stack.fit(x, y, epochs=2, batch_size=8, verbose=0, seed=1, validation_split=0.25)
    h2 = graph.fit(x, y, epochs=2, batch_size=8, verbose=0, seed=1, validation_split=0.25)
    assert h1.history == h2.history
    for a, b in zip(stack.get_weights(), graph.get_weights()):
        np.testing.assert_array_equal(a, b)


def _two_headed():
    tokens = Input(shape=(5,), name="tokens")
    extra = Input(shape=(3,), name="extra")
    h = layers.GRU(4)(layers.Embedding(10, 3)(tokens))
    h = layers.Concatenate()([h, extra])
    label = layers.Dense(3, activation="softmax", name="label")(h)
    score = layers.Dense(1, name="score")(h)
    return Model({"tokens": tokens, "extra": extra}, {"label": label, "score": score})


def test_multi_io_fit_evaluate_predict_with_dicts_and_lists():
    model = _two_headed()
    rng = np.random.default_rng(4)
    x = {"tokens": rng.integers(0, 10, (24, 5)), "extra": rng.standard_normal((24, 3))}
    y = {"label": rng.integers(0, 3, (24,)), "score": rng.standard_normal((24, 1))}
    model.compile(
        "adam",
        loss={"label": "sparse_categorical_crossentropy", "score": "mse"},
        metrics={"label": ["accuracy"]},
        loss_weights={"label": 1.0, "score": 0.5},
    )
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0, validation_data=(x, y))
    assert set(history.history) == {
        "loss",
        "label_loss",
        "score_loss",
        "label_accuracy",
        "val_loss",
        "val_label_loss",
        "val_score_loss",
        "val_label_accuracy",
    }
    loss, *_ = model.evaluate(x, y, verbose=0)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(logs["label_loss"] + 0.5 * logs["score_loss"])
    assert loss == pytest.approx(logs["loss"])
    out = model.predict(x, verbose=0)
    assert set(out) == {"label", "score"} and out["label"].shape == (24, 3)
    # a list in the inputs' order does the same
    as_list = model.predict([x["tokens"], x["extra"]], verbose=0)
    np.testing.assert_array_equal(as_list["score"], out["score"])


def test_summary_get_layer_and_symbolic_attributes():
    model = MODELS["seq2seq"](fastrnn)
    text = model.summary(print_fn=None)
    assert "Connected to" in text and "lstm" in text and "input_layer" in text
    assert f"Total params: {model.count_params():,}" in text
    assert model.get_layer(index=2) is model.layers[2]
    assert model.get_layer(model.layers[3].name) is model.layers[3]
    with pytest.raises(ValueError, match="No such layer: 'nope'"):
        model.get_layer("nope")
    assert len(model.inputs) == 2 and model.output is model.outputs[0]
    assert model.layers[4].input is model.layers[3].output[0]


def test_save_and_load_functional_and_subclassed(tmp_path):
    model = _two_headed()
    model.compile("adam", loss=["sparse_categorical_crossentropy", "mse"])
    rng = np.random.default_rng(5)
    x = [rng.integers(0, 10, (16, 5)), rng.standard_normal((16, 3))]
    y = [rng.integers(0, 3, (16,)), rng.standard_normal((16, 1))]
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "graph.keras")
    loaded = load_model(tmp_path / "graph.keras")
    np.testing.assert_array_equal(
        loaded.predict(x, verbose=0)["label"], model.predict(x, verbose=0)["label"]
    )
    h1 = model.fit(x, y, epochs=1, verbose=0, shuffle=False)
    h2 = loaded.fit(x, y, epochs=1, verbose=0, shuffle=False)
    assert h1.history == h2.history

    tagger = MODELS["subclassed_tagger"](fastrnn)
    tokens, _ = data("subclassed_tagger")
    tagger(tokens)
    tagger.save(tmp_path / "tagger.keras")
    with pytest.raises(ValueError, match="custom_objects"):
        load_model(tmp_path / "tagger.keras")
    again = load_model(tmp_path / "tagger.keras", custom_objects={"Tagger": type(tagger)})
    np.testing.assert_array_equal(
        again.predict(tokens, verbose=0), tagger.predict(tokens, verbose=0)
    )

    stack = Sequential([Input(shape=(4, 2)), layers.SimpleRNN(3)])
    stack.save(tmp_path / "stack.keras")
    restored = load_model(tmp_path / "stack.keras")
    assert restored.input_shape == (None, 4, 2)
    assert restored.get_config()["layers"][0]["class_name"] == "InputLayer"


def test_subclassed_fit_and_training_flag():
    """Layers called without ``training`` inside ``call`` get the model call's
    (Dropout drops in fit, not in predict), and fit lowers the loss."""

    class Net(Model):
        def __init__(self):
            super().__init__()
            self.lstm = layers.LSTM(8)
            self.drop = layers.Dropout(0.5, seed=1)
            self.out = layers.Dense(1)

        def call(self, inputs, training=False):
            return self.out(self.drop(self.lstm(inputs)))

    rng = np.random.default_rng(6)
    x = rng.standard_normal((64, 5, 3)).astype(np.float32)
    y = x.sum(axis=(1, 2))[:, None]
    net = Net()
    net.compile("adam", "mse")
    history = net.fit(x, y, epochs=8, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    np.testing.assert_array_equal(net.predict(x, verbose=0), net.predict(x, verbose=0))


# --------------------------------------------------------------------------
# what cannot work gets a clear error
# --------------------------------------------------------------------------
def test_graph_errors():
    a, b, c = Input(shape=(4, 3)), Input(shape=(5, 3)), Input(shape=(4, 2))
    with pytest.raises(ValueError, match="Graph disconnected"):
        Model(a, layers.Dense(2)(b))
    with pytest.raises(ValueError, match="Graph disconnected"):
        Model(a, [layers.Dense(2)(a), b])
    with pytest.raises(ValueError, match="other dimensions must match"):
        layers.Concatenate()([a, b])
    with pytest.raises(ValueError, match="one shape"):
        layers.Add()([a, c])
    with pytest.raises(ValueError, match="initial_state"):
        layers.LSTM(3)(a, initial_state=[c])
    with pytest.raises(TypeError, match="takes one tensor"):
        layers.Dense(3)([a, c])
    with pytest.raises(TypeError, match="symbolic"):
        a + a
    with pytest.raises(TypeError, match="inputs` and `outputs"):
        Model()
    with pytest.raises(TypeError, match="inputs\\[0\\] is ndarray"):
        Model([np.ones(3)], a)
    model = Model(a, layers.LSTM(2)(a))
    with pytest.raises(ValueError, match="must have shape \\(None, 4, 3\\)"):
        model.predict(np.ones((2, 4, 2)), verbose=0)
    with pytest.raises(TypeError, match="symbolic tensors"):
        model(a)
    two = Model([a, c], layers.Concatenate()([a, c]))
    with pytest.raises(ValueError, match="has 2 inputs"):
        two.predict([np.ones((1, 4, 3))], verbose=0)
    with pytest.raises(ValueError, match="missing"):
        two.predict({"nope": np.ones((1, 4, 3))}, verbose=0)


def test_subclassed_call_that_cannot_be_differentiated():
    class Doubling(Model):
        def __init__(self):
            super().__init__()
            self.first, self.second = layers.Dense(3), layers.Dense(1)

        def call(self, inputs, training=False):
            return self.second(self.first(inputs) * 2)

    class InPlace(Model):
        def __init__(self):
            super().__init__()
            self.first, self.second = layers.Dense(3), layers.Dense(1)

        def call(self, inputs, training=False):
            h = self.first(inputs)
            h += 1
            return self.second(h)

    x, y = np.ones((4, 2)), np.ones((4, 1))
    for cls, message in ((Doubling, "cannot be differentiated"), (InPlace, "read-only")):
        model = cls()
        assert model.predict(x, verbose=0).shape == (4, 1)  # inference is fine
        weights = model.get_weights()
        model.compile("sgd", "mse")
        with pytest.raises(ValueError, match=message):
            model.fit(x, y, verbose=0)
        for before, after in zip(weights, model.get_weights()):
            np.testing.assert_array_equal(before, after)  # nothing was updated


def test_sequential_input_must_come_first():
    with pytest.raises(ValueError, match="first entry"):
        Sequential([layers.Dense(2, input_shape=(3,)), Input(shape=(3,))])
