"""Layer semantics (Keras 3's where API.md is silent) and the backend registry."""

import os
import subprocess
import sys

import numpy as np
import pytest

import fastrnn
from fastrnn import layers
from fastrnn.layers import GRU, LSTM, Bidirectional, Dense, Embedding, Masking, SimpleRNN
from fastrnn.models import Sequential

RNG = np.random.default_rng(42)
CELLS = [SimpleRNN, LSTM, GRU]


def make(cls, **kwargs):
    return cls(4, seed=1, dtype="float64", bias_initializer="random_normal", **kwargs)


def copy_weights(src, dst, x):
    dst(x[:, :1])
    dst.set_weights(src.get_weights())


@pytest.mark.parametrize("cls", CELLS)
def test_go_backwards_reads_reversed_and_returns_reversed(cls):
    x = RNG.standard_normal((2, 5, 3))
    forward = make(cls, return_sequences=True)
    backward = make(cls, return_sequences=True, go_backwards=True)
    forward(x)
    copy_weights(forward, backward, x)
    np.testing.assert_allclose(backward(x), forward(x[:, ::-1]), rtol=1e-12)


@pytest.mark.parametrize("cls", CELLS)
def test_mask_carries_state_and_repeats_output(cls):
    x = RNG.standard_normal((3, 5, 3))
    mask = np.array([[1, 1, 0, 1, 0], [0, 0, 1, 1, 1], [0, 0, 0, 0, 0]], bool)
    layer = make(cls, return_sequences=True, return_state=True)
    out, *states = layer(x, mask=mask)
    np.testing.assert_array_equal(out[0, 2], out[0, 1])  # repeats the previous
    np.testing.assert_array_equal(out[0, 4], out[0, 3])
    np.testing.assert_array_equal(out[1, :2], 0)  # zeros before first valid
    np.testing.assert_array_equal(out[2], 0)  # all masked
    np.testing.assert_array_equal(states[0][2], 0)  # state = initial (zeros)
    # Row 1 equals running only its valid steps.
    ref = make(cls, return_state=True)
    copy_weights(layer, ref, x)
    _, *valid_states = ref(x[1:2, 2:])
    for s, v in zip(states, valid_states):
        np.testing.assert_allclose(s[1], v[0], rtol=1e-12)


def test_masked_rows_keep_a_nonzero_initial_state():
    layer = make(GRU, return_state=True)
    h0 = RNG.standard_normal((1, 4))
    out, h = layer(RNG.standard_normal((1, 3, 2)), initial_state=[h0], mask=np.zeros((1, 3), bool))
    np.testing.assert_array_equal(out, 0)
    np.testing.assert_array_equal(h, h0)


@pytest.mark.parametrize("cls", CELLS)
def test_stateful_calls_continue_the_sequence(cls):
    x = RNG.standard_normal((2, 6, 3))
    whole = make(cls, return_sequences=True)
    stateful = make(cls, return_sequences=True, stateful=True)
    full = whole(x)
    copy_weights(whole, stateful, x)
    stateful.reset_states()
    parts = np.concatenate([stateful(x[:, :2]), stateful(x[:, 2:])], axis=1)
    np.testing.assert_allclose(parts, full, rtol=1e-12)
    stateful.reset_states()
    np.testing.assert_allclose(stateful(x[:, :2]), full[:, :2], rtol=1e-12)


@pytest.mark.parametrize("cls", CELLS)
def test_step_equals_one_timestep_of_the_call(cls):
    x = RNG.standard_normal((2, 5, 3))
    layer = make(cls, return_sequences=True)
    full = layer(x)
    states = None
    for t in range(5):
        out, states = layer.step(x[:, t], states)
        np.testing.assert_allclose(out, full[:, t], rtol=1e-12, atol=1e-14)
    assert len(states) == (2 if cls is LSTM else 1)


def test_weight_layout_is_keras():
    lstm = LSTM(3, input_shape=(5, 2))
    assert [w.shape for w in lstm.get_weights()] == [(2, 12), (3, 12), (12,)]
    np.testing.assert_array_equal(lstm.get_weights()[2], [0] * 3 + [1] * 3 + [0] * 6)
    assert [w.shape for w in GRU(3, input_shape=(5, 2)).get_weights()] == [(2, 9), (3, 9), (2, 9)]
    assert [w.shape for w in GRU(3, reset_after=False, input_shape=(5, 2)).get_weights()] == [
        (2, 9),
        (3, 9),
        (9,),
    ]
    assert len(SimpleRNN(3, use_bias=False, input_shape=(5, 2)).get_weights()) == 2
    assert LSTM(3, unit_forget_bias=False, input_shape=(5, 2)).get_weights()[2].sum() == 0
    bi = Bidirectional(LSTM(3), input_shape=(5, 2))
    assert bi.count_params() == 2 * lstm.count_params() and len(bi.weights) == 6


def test_recurrent_kernel_is_orthogonal_and_seed_reproducible():
    a, b = LSTM(4, seed=3, input_shape=(2, 3)), LSTM(4, seed=3, input_shape=(2, 3))
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    u = a.recurrent_kernel.astype(np.float64)
    np.testing.assert_allclose(u @ u.T, np.eye(4), atol=1e-5)


@pytest.mark.parametrize("cls", CELLS)
def test_backends_agree_at_layer_level(cls):
    x = RNG.standard_normal((3, 6, 2)).astype(np.float32)
    mask = RNG.random((3, 6)) > 0.3
    results = []
    for name in fastrnn.available_backends():
        layer = cls(5, seed=2, return_sequences=True, backend=name)
        y = layer(x, mask=mask, training=True)
        dx = layer.backward(np.ones_like(y))
        results.append((y, dx, layer.gradients))
    for y, dx, grads in results[1:]:
        np.testing.assert_allclose(y, results[0][0], atol=1e-5)
        np.testing.assert_allclose(dx, results[0][1], atol=1e-4)
        for g, g0 in zip(grads, results[0][2]):
            np.testing.assert_allclose(g, g0, atol=1e-4 * max(1, np.abs(g0).max()))


def test_embedding_mask_zero_feeds_the_next_layer():
    ids = np.array([[0, 0, 3, 4], [1, 2, 0, 0]])
    embedding = Embedding(6, 3, mask_zero=True, seed=0)
    lstm = LSTM(4, seed=1, return_sequences=True)
    model = Sequential([embedding, lstm])
    out = model(ids)
    np.testing.assert_array_equal(model.output_mask, ids != 0)
    np.testing.assert_allclose(out, lstm(embedding(ids), mask=ids != 0), rtol=1e-6)
    assert Sequential([Embedding(6, 3, mask_zero=True), LSTM(4)])(ids).shape == (2, 4)


def test_masking_layer():
    x = RNG.standard_normal((2, 4, 3)).astype(np.float32)
    x[0, 2] = 0
    model = Sequential([Masking(0.0), GRU(3, seed=0, return_sequences=True)])
    out = model(x)
    np.testing.assert_array_equal(out[0, 2], out[0, 1])
    np.testing.assert_array_equal(model.output_mask, np.any(x != 0, axis=-1))


def test_bidirectional_masked_sequence_outputs_zero():
    x = RNG.standard_normal((1, 4, 2))
    mask = np.array([[1, 1, 1, 0]], bool)
    out = Bidirectional(SimpleRNN(2, return_sequences=True))(x, mask=mask)
    np.testing.assert_array_equal(out[0, 3], 0)


@pytest.mark.parametrize(
    "layer",
    [
        LSTM(3, return_sequences=True, go_backwards=True, seed=1),
        GRU(2, reset_after=False, activation="relu"),
        Bidirectional(LSTM(3, return_state=True), merge_mode="ave"),
        Dense(4, activation="softmax"),
        Embedding(9, 2, mask_zero=True),
    ],
)
def test_config_round_trip(layer):
    clone = layers.deserialize(layers.serialize(layer))
    assert type(clone) is type(layer)
    assert clone.get_config().keys() == layer.get_config().keys()


def test_dense_on_3d_input_applies_per_step():
    dense = Dense(3, activation="relu", seed=0)
    x = RNG.standard_normal((2, 5, 4)).astype(np.float32)
    y = dense(x)
    assert y.shape == (2, 5, 3)
    np.testing.assert_allclose(y[:, 1], dense(x[:, 1]), rtol=1e-6)


def test_backend_registry():
    names = fastrnn.available_backends()
    assert names[0] == "numpy"
    assert fastrnn.get_backend() == "auto"
    with fastrnn.use_backend("numpy"):
        assert fastrnn.get_backend() == "numpy"
    assert fastrnn.get_backend() == "auto"
    fastrnn.set_backend("numpy")
    try:
        assert fastrnn.get_backend() == "numpy"
    finally:
        fastrnn.set_backend("auto")


def test_environment_variable_sets_the_default():
    code = "import fastrnn; print(fastrnn.get_backend())"
    env = dict(os.environ, FASTRNN_BACKEND="numpy")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "numpy"


def test_step_sees_weights_changed_in_place():
    layer = GRU(3, reset_after=False, seed=0, input_shape=(1, 2))
    x = np.ones((1, 2), np.float32)
    before, _ = layer.step(x)
    layer.bias += 1.0  # what an optimizer does
    after, _ = layer.step(x)
    np.testing.assert_allclose(after, layer(x[:, None]), rtol=1e-6)
    assert not np.allclose(before, after)


@pytest.mark.parametrize(
    "cls, options", [(SimpleRNN, {}), (LSTM, {}), (GRU, {}), (GRU, {"reset_after": False})]
)
def test_step_sees_every_weight_changed_in_place(cls, options, backend_name):
    # step() keeps a per-batch plan (kernel, shapes); the weights must still be read live.
    layer = cls(3, seed=0, backend=backend_name, input_shape=(1, 2), **options)
    x = np.ones((1, 2), np.float32)
    states = [np.full((1, 3), 0.5, np.float32)] * layer.state_size
    layer.step(x, states)
    for i, w in enumerate(layer.weights):
        w += 0.25  # in place, as an optimizer does
        out, _ = layer.step(x, states)
        np.testing.assert_allclose(
            out,
            layer(x[:, None], initial_state=states),
            rtol=1e-5,
            err_msg=f"after changing weight {i} in place",
        )
    layer.set_weights([np.zeros_like(w) for w in layer.weights])
    out, _ = layer.step(x, states)
    np.testing.assert_allclose(out, layer(x[:, None], initial_state=states), rtol=1e-6)


@pytest.mark.parametrize("cls", CELLS)
def test_step_returns_fresh_arrays(cls, backend_name):
    layer = cls(
        3, seed=0, backend=backend_name, bias_initializer="random_normal", input_shape=(1, 2)
    )
    x = RNG.standard_normal((4, 1, 2)).astype(np.float32)
    out1, states1 = layer.step(x[:, 0])
    kept = [out1.copy()] + [s.copy() for s in states1]
    out2, states2 = layer.step(x[:, 0], states1)
    out3, _ = layer.step(2 * x[:, 0], states2)
    # Later steps wrote neither the output nor the states an earlier step returned.
    for a, b in zip([out1] + states1, kept):
        np.testing.assert_array_equal(a, b)
    assert not any(np.shares_memory(a, b) for a in [out1, *states1] for b in [out2, *states2, out3])
    # Feeding the returned states back equals the full call.
    np.testing.assert_allclose(
        out3, layer(np.concatenate([x, x, 2 * x], axis=1)), rtol=1e-5, atol=1e-6
    )


def test_step_follows_changes_of_batch_and_backend():
    layer = LSTM(3, seed=0, bias_initializer="random_normal", input_shape=(1, 2))
    x = RNG.standard_normal((5, 2)).astype(np.float32)
    want = layer(x[:, None])
    for name in fastrnn.available_backends():
        layer.backend = name
        assert layer.step(x[:2])[0].shape == (2, 3)
        np.testing.assert_allclose(layer.step(x)[0], want, rtol=1e-5)
        assert layer._step_plan.kernel is fastrnn.backends.resolve_backend(name).lstm_forward
    layer.backend = None
    for name in fastrnn.available_backends():
        with fastrnn.use_backend(name):
            np.testing.assert_allclose(layer.step(x)[0], want, rtol=1e-5)
            assert layer._step_plan.kernel is fastrnn.backends.resolve_backend(name).lstm_forward
    with pytest.raises(ValueError, match="expects inputs of shape"):
        layer.step(np.ones((5, 3), np.float32))


def test_auto_prefers_cython_then_numba_then_numpy(monkeypatch):
    available = fastrnn.available_backends()
    want = next(name for name in ("cython", "numba", "numpy") if name in available)
    assert fastrnn.backends.auto_choice() == want
    assert fastrnn.backends.resolve_backend("auto") is fastrnn.backends.resolve_backend(want)
    load = fastrnn.backends._load
    monkeypatch.setattr(
        fastrnn.backends, "_load", lambda name: None if name == "cython" else load(name)
    )
    assert fastrnn.backends.auto_choice() == ("numba" if "numba" in available else "numpy")
    monkeypatch.setattr(
        fastrnn.backends, "_load", lambda name: None if name != "numpy" else load(name)
    )
    assert fastrnn.backends.auto_choice() == "numpy"


def test_set_backend_makes_plans_anew():
    layer = LSTM(3, seed=0, input_shape=(4, 2))
    x = RNG.standard_normal((2, 4, 2)).astype(np.float32)
    layer(x)
    plan = layer._call_plan
    assert plan.fits(x)
    before = fastrnn.backends.generation()
    with fastrnn.use_backend("numpy"):
        assert fastrnn.backends.generation() > before
        assert not plan.fits(x)
        layer(x)
        assert layer._call_plan is not plan
        assert layer._call_plan.kernel is fastrnn.backends.resolve_backend("numpy").lstm_forward
    with pytest.raises(ValueError):
        fastrnn.set_backend("no-such-backend")
    assert fastrnn.get_backend() == "auto"


def test_changing_an_option_attribute_drops_the_plans():
    x = RNG.standard_normal((2, 4, 2)).astype(np.float32)
    layer = GRU(3, seed=0, return_sequences=True)
    forward = layer(x)
    layer.go_backwards = True
    assert layer._call_plan is None
    backward = layer(x)
    want = GRU(3, seed=0, return_sequences=True, go_backwards=True)
    want(x)
    want.set_weights(layer.get_weights())
    np.testing.assert_array_equal(backward, want(x))
    assert not np.array_equal(forward, backward)


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_repeated_calls_take_the_planned_path_with_the_same_results(cls):
    """The second call of a shape runs the cached plan; it must give what the
    checked path gives, see weight updates, and follow a backend change."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 4)).astype(np.float32)
    layer = cls(6, return_sequences=True, return_state=True)
    first = layer(x)
    assert layer._call_plan is not None
    second = layer(x)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    weights = layer.get_weights()
    layer.set_weights([w * 0.5 for w in weights])
    changed = layer(x)
    reference = cls(6, return_sequences=True, return_state=True)
    reference(x)
    reference.set_weights([w * 0.5 for w in weights])
    with fastrnn.use_backend("numpy"):
        want = reference(x)
        got = layer(x)
    for a, b, c in zip(changed, want, got):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(c, b, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="features"):
        layer(np.ones((3, 5, 7), np.float32))


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_planned_calls_reuse_scratch_but_never_what_they_return(cls, return_sequences):
    """Planned calls reuse the kernel's scratch arrays (gates, state
    sequences) between calls, never the arrays they hand out: an earlier
    result stays as it was after later calls on other inputs."""
    rng = np.random.default_rng(1)
    x1 = rng.standard_normal((3, 5, 4)).astype(np.float32)
    x2 = rng.standard_normal((3, 5, 4)).astype(np.float32)
    layer = cls(6, return_sequences=return_sequences, return_state=True)
    layer(x1)  # the checked path; makes the plan
    first = layer(x1)  # planned
    kept = [a.copy() for a in first]
    workspace = layer._call_plan._workspace
    assert len(workspace) == 1
    scratch = list(workspace[0].values())
    second = layer(x2)
    assert len(workspace) == 1  # reused, not remade
    assert all(a is b for a, b in zip(workspace[0].values(), scratch))
    for a, b, want in zip(first, second, kept):
        np.testing.assert_array_equal(a, want)
        assert not np.shares_memory(a, b)
        assert not any(np.shares_memory(a, s) for s in scratch)
    assert not any(np.shares_memory(b, s) for b in second for s in scratch)


def test_option_attributes_are_checked_when_set():
    layer = LSTM(3)
    with pytest.raises(ValueError, match="activation"):
        layer.activation = "softmax"
    with pytest.raises(TypeError, match="go_backwards"):
        layer.go_backwards = "yes"
    with pytest.raises(ValueError, match="no-such"):
        layer.backend = "no-such"
    layer.activation = "relu"
    assert layer.activation == "relu" and layer._kernel_options().activation == 3
    gru = GRU(2, input_shape=(3, 4))
    with pytest.raises(ValueError, match="reset_after"):
        gru.reset_after = False
    gru.reset_after = True  # unchanged: fine


def test_concurrent_calls_of_one_plan_give_the_single_threaded_results():
    import threading

    rng = np.random.default_rng(5)
    layer = LSTM(16, return_sequences=True, return_state=True, seed=0)
    inputs = [rng.standard_normal((4, 20, 8)).astype(np.float32) for _ in range(8)]
    layer(inputs[0])
    want = [[a.copy() for a in layer(x)] for x in inputs]
    got = [None] * len(inputs)

    def run(i):
        for _ in range(20):
            got[i] = layer(inputs[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w, g in zip(want, got):
        for a, b in zip(w, g):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("merge_mode", ["concat", None])
@pytest.mark.parametrize("return_state", [False, True])
def test_bidirectional_output_shape_with_a_backward_layer_of_other_units(merge_mode, return_state):
    layer = Bidirectional(
        LSTM(3, return_sequences=True, return_state=return_state),
        backward_layer=LSTM(5, return_sequences=True, return_state=return_state, go_backwards=True),
        merge_mode=merge_mode,
    )
    x = np.zeros((2, 4, 6), np.float32)
    outputs = layer(x)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    shapes = layer.compute_output_shape(x.shape)
    shapes = shapes if isinstance(shapes, list) else [shapes]
    assert [tuple(s) for s in shapes] == [o.shape for o in outputs]
