"""ONNX export: the exported graph, run in ONNX Runtime, gives ``model.predict``.

Skipped unless the optional ``onnx`` and ``onnxruntime`` are installed
(``pip install "fastrnn[onnx]"``). Every case checks the file with
``onnx.checker.check_model(..., full_check=True)`` and compares ONNX
Runtime's outputs with ``predict``'s within 2e-5 (atol and rtol).
"""

import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import fastrnn  # noqa: E402
from fastrnn import Input, Model  # noqa: E402
from fastrnn.interop import to_onnx  # noqa: E402
from fastrnn.layers import (  # noqa: E402
    GRU,
    LSTM,
    Activation,
    Add,
    Attention,
    Average,
    Bidirectional,
    Concatenate,
    Dense,
    Dropout,
    Embedding,
    GlobalAveragePooling1D,
    Masking,
    Multiply,
    RepeatVector,
    SimpleRNN,
    TimeDistributed,
)
from fastrnn.models import Sequential  # noqa: E402
from fastrnn.onnx_export import OPSET, OnnxExportError  # noqa: E402

TOL = 2e-5
CELLS = {"simple_rnn": SimpleRNN, "lstm": LSTM, "gru": GRU}
BATCH, STEPS, FEATURES, UNITS, VOCAB = 4, 6, 3, 5, 9


def _session(proto):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(
        proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def run_onnx(model, x, path=None):
    """The exported model's outputs on ``x`` (one array or a list, one per input)."""
    proto = to_onnx(model, path)
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == OPSET
    session = _session(proto)
    xs = x if isinstance(x, list) else [x]
    feed = {i.name: a for i, a in zip(session.get_inputs(), xs)}
    return session.run(None, feed)


def assert_exports(model, x):
    """ONNX Runtime's outputs equal ``predict``'s; returns the max abs difference."""
    expected = model.predict(x, verbose=0)
    if isinstance(expected, dict):  # the graph's outputs are in the dict's order
        expected = list(expected.values())
    expected = expected if isinstance(expected, list) else [expected]
    got = run_onnx(model, x)
    assert len(got) == len(expected)
    worst = 0.0
    for g, e in zip(got, expected):
        assert g.shape == e.shape and g.dtype == e.dtype
        np.testing.assert_allclose(g, e, rtol=TOL, atol=TOL)
        worst = max(worst, float(np.max(np.abs(g - e), initial=0.0)))
    return worst


def features(seed=0, batch=BATCH, steps=STEPS, dim=FEATURES):
    return np.random.default_rng(seed).standard_normal((batch, steps, dim)).astype(np.float32)


def _randomize(model, seed=1):
    """Weights of a larger spread than the initializers' (biases nonzero), so that
    every gate and bias block matters."""
    rng = np.random.default_rng(seed)
    model.set_weights([0.6 * rng.standard_normal(w.shape) for w in model.get_weights()])
    return model


def padded_ids(padding, steps=STEPS, seed=0):
    """Token ids (batch 5) with rows of lengths 1, full, 3, 2, 4, padded with 0 at
    the end ("post"), the front ("pre"), both ends ("both") or with holes
    ("gaps"), plus a row of padding only for "post"."""
    rng = np.random.default_rng(seed)
    lengths = [1, steps, 3, 2, 4]
    rows = []
    for n in lengths:
        tokens = list(rng.integers(1, VOCAB, size=n))
        pad = [0] * (steps - n)
        if padding == "post":
            row = tokens + pad
        elif padding == "pre":
            row = pad + tokens
        elif padding == "both":
            k = len(pad) // 2
            row = pad[:k] + tokens + pad[k:]
        else:  # gaps: the padding spread among the tokens
            row = tokens + pad
            rng.shuffle(row)
        rows.append(row)
    if padding == "post":
        rows.append([0] * steps)
    return np.array(rows, dtype=np.int64)


# ------------------------------------------------------------- recurrent layers
def _recurrent(cell, **kwargs):
    return CELLS[cell](UNITS, **kwargs)


RECURRENT_CASES = [
    (cell, rs, gb, ra)
    for cell in CELLS
    for rs in (False, True)
    for gb in (False, True)
    for ra in ((True, False) if cell == "gru" else (None,))
]


@pytest.mark.parametrize("cell, return_sequences, go_backwards, reset_after", RECURRENT_CASES)
@pytest.mark.parametrize("return_state", [False, True])
def test_recurrent_layer(cell, return_sequences, go_backwards, reset_after, return_state):
    kwargs = dict(
        return_sequences=return_sequences, go_backwards=go_backwards, return_state=return_state
    )
    if reset_after is not None:
        kwargs["reset_after"] = reset_after
    model = Sequential([_recurrent(cell, **kwargs)])
    model.build((None, STEPS, FEATURES))
    assert_exports(_randomize(model), features())


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "linear"])
def test_recurrent_activations(cell, activation):
    kwargs = {"activation": activation, "return_sequences": True}
    if cell != "simple_rnn":
        # the recurrent activation cycles through the others
        others = ["sigmoid", "linear", "tanh", "relu"]
        kwargs["recurrent_activation"] = others[(others.index(activation) + 1) % 4]
    model = Sequential([_recurrent(cell, **kwargs)])
    model.build((None, STEPS, FEATURES))
    assert_exports(_randomize(model, seed=2), features(seed=2) * 0.5)


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("masked", [False, True])
def test_recurrent_without_bias(cell, masked):
    layers = [Embedding(VOCAB, FEATURES, mask_zero=True)] if masked else []
    model = Sequential(layers + [_recurrent(cell, use_bias=False, return_sequences=True)])
    x = padded_ids("post") if masked else features()
    model.build((None, STEPS) if masked else (None, STEPS, FEATURES))
    assert_exports(_randomize(model), x)


@pytest.mark.parametrize("cell", list(CELLS))
def test_recurrent_dropout_is_the_identity_at_inference(cell):
    try:
        layer = _recurrent(cell, dropout=0.3, recurrent_dropout=0.2, return_sequences=True)
    except TypeError:
        pytest.skip("this fastrnn's recurrent layers have no dropout arguments")
    model = Sequential([Embedding(VOCAB, FEATURES, mask_zero=True), layer])
    model.build((None, STEPS))
    assert_exports(_randomize(model), padded_ids("pre"))


def test_steps_of_any_length_and_batch_of_one():
    model = Sequential([LSTM(UNITS, return_sequences=True)])
    model.build((None, None, FEATURES))
    _randomize(model)
    for batch, steps in [(1, 1), (1, 9), (3, 2)]:
        assert_exports(model, features(batch=batch, steps=steps))


# ------------------------------------------------------------------ masking
@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("padding", ["post", "pre", "both", "gaps"])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_embedding_mask_zero(cell, padding, return_sequences, go_backwards):
    model = Sequential(
        [
            Embedding(VOCAB, FEATURES, mask_zero=True),
            _recurrent(
                cell,
                return_sequences=return_sequences,
                go_backwards=go_backwards,
                return_state=True,
            ),
        ]
    )
    model.build((None, STEPS))
    assert_exports(_randomize(model), padded_ids(padding))


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_zero_output_for_mask(cell, go_backwards, return_sequences):
    layer = _recurrent(
        cell,
        return_sequences=return_sequences,
        go_backwards=go_backwards,
        zero_output_for_mask=True,
    )
    model = Sequential([Embedding(VOCAB, FEATURES, mask_zero=True), layer])
    model.build((None, STEPS))
    for padding in ("post", "pre", "gaps"):
        assert_exports(_randomize(model), padded_ids(padding))


@pytest.mark.parametrize("mask_value", [0.0, -1.0])
def test_masking_and_dropout(mask_value):
    x = features(seed=3)
    x[0, 4:] = mask_value  # post-padded
    x[1, :2] = mask_value  # pre-padded
    x[2, 1:5] = mask_value  # both, length 2 of 6
    x[3, 0, 0] = mask_value  # one feature only: not masked
    model = Sequential(
        [
            Masking(mask_value),
            Dropout(0.5),
            GRU(UNITS, return_sequences=True),
            Dropout(0.3),
            Dense(2, activation="softmax"),
        ]
    )
    model.build((None, STEPS, FEATURES))
    assert_exports(_randomize(model), x)


def test_masking_only():
    x = features(seed=4)
    x[1, 3:] = 0
    model = Sequential([Masking()])
    model.build((None, STEPS, FEATURES))
    assert_exports(model, x)


# ------------------------------------------------------------ Bidirectional
MERGE_MODES = ["concat", "sum", "ave", "mul", None]


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("merge_mode", MERGE_MODES)
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_bidirectional(cell, merge_mode, return_sequences, masked):
    wrapper = Bidirectional(
        _recurrent(cell, return_sequences=return_sequences), merge_mode=merge_mode
    )
    layers = [Embedding(VOCAB, FEATURES, mask_zero=True)] if masked else []
    model = Sequential(layers + [wrapper])
    model.build((None, STEPS) if masked else (None, STEPS, FEATURES))
    assert_exports(_randomize(model), padded_ids("pre") if masked else features())


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("padding", [None, "post", "gaps"])
def test_bidirectional_return_state(cell, padding):
    wrapper = Bidirectional(_recurrent(cell, return_sequences=True, return_state=True))
    layers = [Embedding(VOCAB, FEATURES, mask_zero=True)] if padding else []
    model = Sequential(layers + [wrapper])
    model.build((None, STEPS) if padding else (None, STEPS, FEATURES))
    assert_exports(_randomize(model), padded_ids(padding) if padding else features())


@pytest.mark.parametrize("masked", [False, True])
def test_bidirectional_of_two_kinds(masked):
    """A backward layer of another cell runs as its own operator."""
    wrapper = Bidirectional(
        LSTM(UNITS, return_sequences=True),
        backward_layer=GRU(UNITS, return_sequences=True, go_backwards=True),
    )
    layers = [Embedding(VOCAB, FEATURES, mask_zero=True)] if masked else []
    model = Sequential(layers + [wrapper, Dense(3)])
    model.build((None, STEPS) if masked else (None, STEPS, FEATURES))
    assert_exports(_randomize(model), padded_ids("both") if masked else features())


def test_bidirectional_forward_layer_reading_backwards():
    wrapper = Bidirectional(
        SimpleRNN(UNITS, return_sequences=True, go_backwards=True),
        backward_layer=SimpleRNN(UNITS, return_sequences=True),
        merge_mode="sum",
    )
    model = Sequential([wrapper])
    model.build((None, STEPS, FEATURES))
    assert_exports(_randomize(model), features())
    masked = Sequential([Embedding(VOCAB, FEATURES, mask_zero=True), wrapper])
    assert_exports(masked, padded_ids("post"))


# ------------------------------------------------------------------ stacks
@pytest.mark.parametrize("padding", [None, "post", "pre", "gaps"])
def test_stacked_layers(padding):
    layers = [
        LSTM(UNITS, return_sequences=True),
        Bidirectional(GRU(4, return_sequences=True, reset_after=False), merge_mode="ave"),
        SimpleRNN(UNITS, return_sequences=True, go_backwards=True),
        Dropout(0.2),
        GRU(3),
        Dense(2, activation="sigmoid"),
    ]
    if padding:
        model = Sequential([Embedding(VOCAB, FEATURES, mask_zero=True)] + layers)
        model.build((None, STEPS))
        x = padded_ids(padding)
    else:
        model = Sequential(layers)
        model.build((None, STEPS, FEATURES))
        x = features()
    assert_exports(_randomize(model), x)


# ------------------------------------------------------------------- Dense
@pytest.mark.parametrize("activation", [None, "linear", "tanh", "sigmoid", "relu", "softmax"])
@pytest.mark.parametrize("rank", [2, 3])
def test_dense(activation, rank):
    model = Sequential([Dense(4, activation=activation), Dense(3, activation=activation)])
    x = features() if rank == 3 else features()[:, 0]
    model.build((None, STEPS, FEATURES) if rank == 3 else (None, FEATURES))
    assert_exports(_randomize(model), x)


def test_tagger_softmax_on_sequences():
    model = Sequential(
        [
            Embedding(VOCAB, 4, mask_zero=True),
            Bidirectional(LSTM(UNITS, return_sequences=True)),
            Dense(VOCAB, activation="softmax"),
        ]
    )
    model.build((None, STEPS))
    assert_exports(_randomize(model), padded_ids("post"))


def test_float64_without_recurrent_layers():
    model = Sequential(
        [Embedding(VOCAB, 4, dtype="float64"), Dense(3, activation="tanh", dtype="float64")]
    )
    model.build((None, STEPS))
    x = padded_ids("post")
    assert assert_exports(_randomize(model), x) < 1e-12


def test_input_layer_dtype_is_the_graph_input():
    model = Sequential(
        [Input(shape=(STEPS,), dtype="int32"), Embedding(VOCAB, 3, mask_zero=True), GRU(4)]
    )
    proto = to_onnx(_randomize(model))
    (graph_input,) = proto.graph.input
    assert graph_input.type.tensor_type.elem_type == onnx.TensorProto.INT32
    assert graph_input.name == "input" and proto.graph.output[0].name == "output"
    dims = graph_input.type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == STEPS
    assert_exports(model, padded_ids("pre").astype(np.int32))


# -------------------------------------------------------------- functional
def test_functional_chain():
    inputs = Input(shape=(None,), dtype="int64", name="tokens")
    h = Embedding(VOCAB, 4, mask_zero=True)(inputs)
    h = LSTM(UNITS, return_sequences=True)(h)
    h = GRU(UNITS)(h)
    outputs = Dense(2, activation="softmax", name="probs")(h)
    model = _randomize(Model(inputs, outputs))
    assert_exports(model, padded_ids("pre"))
    proto = to_onnx(model)
    assert [i.name for i in proto.graph.input] == ["tokens"]
    assert [o.name for o in proto.graph.output] == ["probs"]


def test_functional_float_input_feeding_an_embedding():
    inputs = Input(shape=(STEPS,))  # float32 token ids, as Keras tutorials write
    h = Embedding(VOCAB, 4, mask_zero=True)(inputs)
    model = _randomize(Model(inputs, SimpleRNN(UNITS)(h)))
    assert_exports(model, padded_ids("gaps").astype(np.float32))


def test_functional_two_inputs_concatenated():
    words = Input(shape=(None,), dtype="int64", name="words")
    signal = Input(shape=(None, FEATURES), name="signal")
    a = Embedding(VOCAB, 4, mask_zero=True)(words)
    a = LSTM(UNITS)(a)
    b = Bidirectional(GRU(3))(signal)
    joined = Concatenate()([a, b])
    outputs = Dense(2, activation="sigmoid")(joined)
    model = _randomize(Model([words, signal], outputs))
    ids = padded_ids("post")
    assert_exports(model, [ids, features(batch=len(ids))])


def test_functional_merges_and_masks():
    """Add, Average, Multiply, Concatenate on sequences: the output mask is the
    AND of the inputs' masks (the steps masked in either are skipped)."""
    first = Input(shape=(None,), dtype="int64", name="first")
    second = Input(shape=(None,), dtype="int64", name="second")
    a = Embedding(VOCAB, 4, mask_zero=True)(first)
    b = Embedding(VOCAB, 4, mask_zero=True)(second)
    c = Embedding(VOCAB, 4)(second)  # no mask
    merged = Concatenate()([Add()([a, b]), Average()([a, c]), Multiply()([b, c])])
    seq = Activation("tanh")(merged)
    outputs = [LSTM(UNITS)(seq), GRU(3, return_sequences=True)(seq)]
    model = _randomize(Model([first, second], outputs))
    second_ids = np.vstack([padded_ids("gaps", seed=5), np.ones((1, STEPS), np.int64)])
    assert_exports(model, [padded_ids("post"), second_ids])


def test_functional_seq2seq_with_initial_state():
    encoder_inputs = Input(shape=(None, FEATURES), name="encoder")
    _, h, c = LSTM(UNITS, return_state=True)(encoder_inputs)
    decoder_inputs = Input(shape=(None,), dtype="int64", name="decoder")
    embedded = Embedding(VOCAB, 4, mask_zero=True)(decoder_inputs)
    decoded, _, _ = LSTM(UNITS, return_sequences=True, return_state=True)(
        embedded, initial_state=[h, c]
    )
    outputs = Dense(VOCAB, activation="softmax")(decoded)
    model = _randomize(Model([encoder_inputs, decoder_inputs], outputs))
    ids = padded_ids("post")  # includes a row of padding only: its final state is h0
    assert_exports(model, [features(batch=len(ids), steps=4), ids])


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("masked", [False, True])
def test_functional_initial_state_and_states_out(cell, masked):
    encoder_inputs = Input(shape=(None, FEATURES), name="encoder")
    encoder = Bidirectional(_recurrent(cell, return_state=True), merge_mode="sum")
    encoded, *states = encoder(encoder_inputs)
    decoder_inputs = Input(shape=(None,), dtype="int64", name="decoder")
    embedded = Embedding(VOCAB, 4, mask_zero=masked)(decoder_inputs)
    decoder = Bidirectional(_recurrent(cell, return_sequences=True, return_state=True))
    decoded, *final = decoder(embedded, initial_state=states)
    model = _randomize(Model([encoder_inputs, decoder_inputs], [encoded, decoded, *final]))
    ids = padded_ids("post")
    assert_exports(model, [features(batch=len(ids)), ids])


def test_functional_repeat_vector_and_dict_outputs():
    inputs = Input(shape=(None, FEATURES), name="x")
    code = GRU(UNITS)(inputs)
    repeated = RepeatVector(4)(code)
    seq = SimpleRNN(3, return_sequences=True)(repeated)
    model = _randomize(Model(inputs, {"code": code, "seq": seq}))
    proto = to_onnx(model)
    assert [o.name for o in proto.graph.output] == ["code", "seq"]
    assert_exports(model, features())


def test_functional_explicit_mask_argument():
    inputs = Input(shape=(None, FEATURES), name="x")
    mask = Input(shape=(None,), dtype="bool", name="mask")
    outputs = LSTM(UNITS, return_sequences=True)(inputs, mask=mask)
    model = _randomize(Model([inputs, mask], outputs))
    m = padded_ids("gaps")[:BATCH] != 0
    assert_exports(model, [features(), m])


# -------------------------------------------------------- files and entry points
def test_export_writes_a_checked_file(tmp_path):
    model = Sequential([Embedding(VOCAB, 3, mask_zero=True), LSTM(UNITS)])
    model.build((None, STEPS))
    _randomize(model)
    path = tmp_path / "model.onnx"
    assert model.export(path) is None
    assert model.export(str(tmp_path / "again.onnx"), format="onnx") is None
    loaded = onnx.load(str(path))
    onnx.checker.check_model(loaded, full_check=True)
    assert loaded.opset_import[0].version == OPSET
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ids = padded_ids("pre")
    (got,) = session.run(None, {"input": ids})
    np.testing.assert_allclose(got, model.predict(ids, verbose=0), rtol=TOL, atol=TOL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.onnx", "model.onnx"]
    assert fastrnn.interop.to_onnx(model, tmp_path / "third.onnx").graph.node


def test_export_unknown_format(tmp_path):
    model = Sequential([Dense(2)])
    model.build((None, 3))
    with pytest.raises(
        ValueError, match=r"`format` 'tf_saved_model'.*supported formats: \['onnx'\]"
    ):
        model.export(tmp_path / "m", format="tf_saved_model")
    with pytest.raises(ValueError, match=r"`format` 'ONNX'"):
        model.export(tmp_path / "m", format="ONNX")
    with pytest.raises(TypeError, match=r"no other arguments; got \['verbose'\]"):
        model.export(tmp_path / "m.onnx", verbose=True)
    assert not list(tmp_path.iterdir())


def test_export_path_errors(tmp_path):
    model = Sequential([Dense(2)])
    model.build((None, 3))
    missing = tmp_path / "no" / "such" / "m.onnx"
    with pytest.raises(FileNotFoundError, match=r"`filepath`.*existing directory.*does not exist"):
        model.export(missing)
    with pytest.raises(IsADirectoryError, match=r"`filepath` must name a file"):
        to_onnx(model, tmp_path)
    with pytest.raises(TypeError, match=r"`filepath` must be a str or os.PathLike.*got int"):
        to_onnx(model, 3)


def test_missing_onnx_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    model = Sequential([Dense(2)])
    model.build((None, 3))
    with pytest.raises(ImportError, match=r'pip install "fastrnn\[onnx\]"'):
        to_onnx(model)


# ----------------------------------------------------------------- refusals
def _refused(model, *patterns):
    with pytest.raises(OnnxExportError) as info:
        to_onnx(model)
    for pattern in patterns:
        assert pattern in str(info.value), str(info.value)


@pytest.mark.parametrize(
    "layer, name",
    [
        (TimeDistributed(Dense(2)), "TimeDistributed"),
        (GlobalAveragePooling1D(), "GlobalAveragePooling1D"),
    ],
)
def test_unsupported_layer(layer, name):
    model = Sequential([LSTM(UNITS, return_sequences=True), layer])
    model.build((None, STEPS, FEATURES))
    _refused(model, f"of class {name} cannot be exported", "supported layers: InputLayer,")


def test_unsupported_layer_in_a_functional_model():
    inputs = Input(shape=(None, FEATURES))
    seq = LSTM(UNITS, return_sequences=True)(inputs)
    model = Model(inputs, Attention()([seq, seq]))
    _refused(model, "of class Attention cannot be exported", "Concatenate")


def test_subclassed_layer_is_refused():
    class MyLSTM(LSTM):
        pass

    model = Sequential([MyLSTM(UNITS)])
    model.build((None, STEPS, FEATURES))
    _refused(model, "of class MyLSTM cannot be exported")


def test_stateful_layer_is_refused():
    model = Sequential([GRU(UNITS, stateful=True, name="memory")])
    model.build((2, STEPS, FEATURES))
    _refused(model, "'memory' (GRU) has stateful=True", "supported: stateful=False")
    wrapped = Sequential([Bidirectional(LSTM(UNITS, stateful=True))])
    wrapped.build((2, STEPS, FEATURES))
    _refused(wrapped, "has stateful=True (inside 'bidirectional")


def test_float64_recurrent_layer_is_refused():
    model = Sequential([LSTM(UNITS, dtype="float64", name="wide")])
    model.build((None, STEPS, FEATURES))
    _refused(model, "'wide' (LSTM) has dtype float64", "supported dtype is float32")


def test_subclassed_model_is_refused():
    class Classifier(Model):
        def __init__(self):
            super().__init__()
            self.lstm = LSTM(UNITS)

        def call(self, inputs, training=False):
            return self.lstm(inputs)

    model = Classifier()
    model(features())
    _refused(model, "is a subclassed Model (Classifier)", "supported: Sequential and functional")


def test_not_a_model_or_not_built():
    with pytest.raises(TypeError, match=r"`model` must be a fastrnn Sequential.*got LSTM"):
        to_onnx(LSTM(3))
    _refused(Sequential(), "has no layers")
    _refused(Sequential([LSTM(3)]), "is not built")
