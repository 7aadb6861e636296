"""Attention (Luong) and AdditiveAttention (Bahdanau) (issue 15): Keras 3's
outputs and gradients (goldens), finite-difference gradients in float64 for
every input and weight, masks, dropout, configs and bad inputs."""

import os

import numpy as np
import pytest

from fastrnn import layers

RNG = np.random.default_rng(0)
EPS = 1e-6
GOLDENS_PATH = os.path.join(os.path.dirname(__file__), "golden", "keras_attention_goldens.npz")

#: (case name, layer class, constructor kwargs, with a key, with masks, causal).
CASES = [
    ("dot", "Attention", {}, False, False, False),
    ("dot_scale_key_masks", "Attention", {"use_scale": True}, True, True, False),
    ("concat_masks", "Attention", {"score_mode": "concat"}, False, True, False),
    (
        "concat_scale_key",
        "Attention",
        {"score_mode": "concat", "use_scale": True},
        True,
        False,
        False,
    ),
    ("dot_causal", "Attention", {}, False, False, True),
    ("additive", "AdditiveAttention", {}, False, False, False),
    ("additive_key_masks", "AdditiveAttention", {}, True, True, False),
    ("additive_no_scale", "AdditiveAttention", {"use_scale": False}, False, True, False),
]
Q_MASK = np.array([[1, 1, 0], [1, 1, 1]], bool)
V_MASK = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 1]], bool)


def case_inputs(with_key, dtype):
    rng = np.random.default_rng(7)
    q = rng.standard_normal((2, 3, 4)).astype(dtype)
    v = rng.standard_normal((2, 5, 4)).astype(dtype)
    return [q, v, rng.standard_normal((2, 5, 4)).astype(dtype)] if with_key else [q, v]


def _call(layer, arrays, masked, causal, training=False):
    mask = [Q_MASK, V_MASK] if masked else None
    return layer(arrays, mask=mask, training=training, use_causal_mask=causal)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_finite_difference_gradients(case):
    _, cls, kwargs, with_key, masked, causal = case
    layer = getattr(layers, cls)(dtype="float64", seed=3, **kwargs)
    arrays = case_inputs(with_key, np.float64)
    out = _call(layer, arrays, masked, causal, training=True)
    projection = RNG.standard_normal(out.shape)
    grads = layer.backward(projection)
    targets = list(zip(grads, arrays)) + list(zip(layer.gradients, layer.weights))
    assert len(layer.gradients) == len(layer.weights)
    for k, (grad, array) in enumerate(targets):
        numeric = np.zeros_like(array)
        for idx in np.ndindex(array.shape):
            old = array[idx]
            array[idx] = old + EPS
            plus = float(np.sum(projection * _call(layer, arrays, masked, causal)))
            array[idx] = old - EPS
            minus = float(np.sum(projection * _call(layer, arrays, masked, causal)))
            array[idx] = old
            numeric[idx] = (plus - minus) / (2 * EPS)
        scale = max(np.max(np.abs(numeric)), 1e-3)
        np.testing.assert_allclose(grad, numeric, rtol=0, atol=1e-6 * scale, err_msg=f"#{k}")


@pytest.mark.skipif(not os.path.exists(GOLDENS_PATH), reason="no Keras goldens recorded")
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_matches_keras(case):
    name, cls, kwargs, with_key, masked, causal = case
    goldens = np.load(GOLDENS_PATH)
    layer = getattr(layers, cls)(**kwargs)
    arrays = case_inputs(with_key, np.float32)
    layer.build([a.shape for a in arrays[:2]])
    count = sum(1 for key in goldens.files if key.startswith(f"{name}/weight"))
    layer.set_weights([goldens[f"{name}/weight{i}"] for i in range(count)])
    out = _call(layer, arrays, masked, causal, training=True)
    np.testing.assert_allclose(out, goldens[f"{name}/output"], rtol=1e-5, atol=1e-6)
    grads = layer.backward(goldens[f"{name}/projection"])
    for i, grad in enumerate(grads):
        np.testing.assert_allclose(grad, goldens[f"{name}/dinput{i}"], rtol=1e-4, atol=1e-5)
    for i, grad in enumerate(layer.gradients):
        np.testing.assert_allclose(grad, goldens[f"{name}/grad{i}"], rtol=1e-4, atol=1e-5)


def test_scores_output_and_its_gradient():
    layer = layers.Attention(dtype="float64")
    arrays = case_inputs(False, np.float64)
    out, scores = layer(arrays, return_attention_scores=True, training=True)
    np.testing.assert_allclose(scores.sum(axis=-1), 1.0)
    d_out, d_scores = RNG.standard_normal(out.shape), RNG.standard_normal(scores.shape)
    dq, dv = layer.backward([d_out, d_scores])

    def loss():
        o, s = layer(arrays, return_attention_scores=True)
        return float(np.sum(d_out * o) + np.sum(d_scores * s))

    q = arrays[0]
    q[0, 1, 2] += EPS
    plus = loss()
    q[0, 1, 2] -= 2 * EPS
    minus = loss()
    q[0, 1, 2] += EPS
    assert dq[0, 1, 2] == pytest.approx((plus - minus) / (2 * EPS), rel=1e-6)


def test_masks():
    layer = layers.Attention()
    arrays = case_inputs(False, np.float32)
    out, scores = layer(arrays, mask=[Q_MASK, V_MASK], return_attention_scores=True)
    np.testing.assert_array_equal(out[0, 2], 0.0)  # a masked query step
    np.testing.assert_allclose(scores[0][:, 3:], 0.0, atol=1e-30)  # masked value steps
    np.testing.assert_array_equal(layer.compute_mask(arrays, [Q_MASK, V_MASK]), Q_MASK)
    assert layer.compute_output_shape([(None, 3, 4), (None, 5, 6)]) == (None, 3, 6)


def test_dropout_on_weights_in_training_only():
    layer = layers.Attention(dropout=0.5, seed=1)
    arrays = case_inputs(False, np.float32)
    _, inference = layer(arrays, return_attention_scores=True)
    _, trained = layer(arrays, return_attention_scores=True, training=True)
    np.testing.assert_allclose(inference.sum(axis=-1), 1.0, rtol=1e-6)
    kept = trained != 0
    np.testing.assert_allclose(trained[kept], 2 * inference[kept], rtol=1e-6)
    assert 0 < kept.mean() < 1


def test_configs_round_trip():
    for layer in (
        layers.Attention(use_scale=True, score_mode="concat", dropout=0.1, seed=2),
        layers.AdditiveAttention(use_scale=False),
    ):
        twin = layers.deserialize(layers.serialize(layer))
        assert twin.get_config() == layer.get_config()


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda: layers.Attention()(np.ones((2, 3, 4))), TypeError, r"\[query, value\]"),
        (lambda: layers.Attention()([np.ones((2, 3, 4))]), ValueError, "a list of 1"),
        (
            lambda: layers.Attention()([np.ones((2, 3, 4)), np.ones((2, 5, 3))]),
            ValueError,
            "last dimension",
        ),
        (
            lambda: layers.Attention()([np.ones((2, 3, 4)), np.ones((3, 5, 4))]),
            ValueError,
            "batch size",
        ),
        (lambda: layers.Attention()([np.ones((2, 3)), np.ones((2, 5))]), ValueError, "3-D"),
        (
            lambda: layers.Attention()([np.ones((2, 3, 4))] * 2, mask=[np.ones((2, 4)), None]),
            ValueError,
            r"mask\[0\]",
        ),
        (lambda: layers.Attention(score_mode="add"), ValueError, "score_mode"),
        (lambda: layers.Attention(dropout=1.0), ValueError, "dropout"),
        (lambda: layers.AdditiveAttention(use_scale="yes"), TypeError, "use_scale"),
    ],
)
def test_bad_inputs(call, error, match):
    with pytest.raises(error, match=match):
        call()
