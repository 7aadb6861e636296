"""Optimizers: hand-computed Keras 3 updates, clipping, state round trip, bad input."""

import numpy as np
import pytest

from fastrnn import optimizers


def f64(*v):
    return np.array(v, dtype=np.float64)


def test_sgd_plain():
    w = f64(1.0, -2.0)
    optimizers.SGD(learning_rate=0.1).apply_gradients([f64(1.0, -1.0)], [w])
    np.testing.assert_allclose(w, [0.9, -1.9])


def test_sgd_momentum_two_steps():
    w = f64(1.0)
    opt = optimizers.SGD(learning_rate=0.1, momentum=0.9)
    opt.apply_gradients([f64(1.0)], [w])
    np.testing.assert_allclose(w, [0.9])  # m = -0.1
    opt.apply_gradients([f64(1.0)], [w])
    np.testing.assert_allclose(w, [0.71])  # m = 0.9*-0.1 - 0.1 = -0.19
    assert opt.iterations == 2


def test_sgd_nesterov_two_steps():
    w = f64(1.0)
    opt = optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True)
    opt.apply_gradients([f64(1.0)], [w])
    np.testing.assert_allclose(w, [0.81])  # += 0.9*-0.1 - 0.1
    opt.apply_gradients([f64(1.0)], [w])
    np.testing.assert_allclose(w, [0.539])  # m=-0.19; += 0.9*-0.19 - 0.1


def test_adam_first_and_second_step():
    w = f64(1.0, 2.0)
    g = f64(0.5, -1.0)
    opt = optimizers.Adam(learning_rate=0.1)
    opt.apply_gradients([g], [w])
    # t=1: m = 0.1 g, v = 0.001 g^2, alpha = 0.1*sqrt(1-0.999)/(1-0.9)
    m = 0.1 * g
    v = 0.001 * g * g
    alpha = 0.1 * np.sqrt(1 - 0.999) / (1 - 0.9)
    expected = f64(1.0, 2.0) - alpha * m / (np.sqrt(v) + 1e-7)
    np.testing.assert_allclose(w, expected, rtol=1e-12)
    np.testing.assert_allclose(w, [0.9, 2.1], atol=1e-5)  # first step ~ lr * sign(g)
    g2 = f64(0.1, 0.1)
    opt.apply_gradients([g2], [w])
    m = m + (g2 - m) * 0.1
    v = v + (g2 * g2 - v) * 0.001
    alpha = 0.1 * np.sqrt(1 - 0.999**2) / (1 - 0.9**2)
    expected = expected - alpha * m / (np.sqrt(v) + 1e-7)
    np.testing.assert_allclose(w, expected, rtol=1e-12)


def test_rmsprop_step_and_momentum():
    w = f64(1.0)
    optimizers.RMSprop(learning_rate=0.01, rho=0.9).apply_gradients([f64(2.0)], [w])
    np.testing.assert_allclose(w, [1.0 - 0.01 * 2 / np.sqrt(0.4 + 1e-7)], rtol=1e-12)
    w = f64(1.0)
    opt = optimizers.RMSprop(learning_rate=0.01, rho=0.9, momentum=0.5)
    opt.apply_gradients([f64(2.0)], [w])
    opt.apply_gradients([f64(2.0)], [w])
    inc1 = 0.01 * 2 / np.sqrt(0.4 + 1e-7)
    inc2 = 0.01 * 2 / np.sqrt(0.9 * 0.4 + 0.4 + 1e-7)
    np.testing.assert_allclose(w, [1.0 - inc1 - (0.5 * inc1 + inc2)], rtol=1e-12)


def test_clipnorm_is_per_variable():
    a, b = f64(0.0, 0.0), f64(0.0, 0.0)
    optimizers.SGD(learning_rate=1.0, clipnorm=1.0).apply_gradients(
        [f64(3.0, 4.0), f64(0.3, 0.4)], [a, b]
    )
    np.testing.assert_allclose(a, [-0.6, -0.8])
    np.testing.assert_allclose(b, [-0.3, -0.4])


def test_clipvalue_and_global_clipnorm():
    a = f64(0.0, 0.0)
    optimizers.SGD(learning_rate=1.0, clipvalue=0.5).apply_gradients([f64(3.0, -0.2)], [a])
    np.testing.assert_allclose(a, [-0.5, 0.2])
    a, b = f64(0.0), f64(0.0)
    optimizers.SGD(learning_rate=1.0, global_clipnorm=1.0).apply_gradients(
        [f64(3.0), f64(4.0)], [a, b]
    )
    np.testing.assert_allclose([a[0], b[0]], [-0.6, -0.8])


def test_updates_in_place_and_float32():
    w = np.ones(3, dtype=np.float32)
    ref = w
    optimizers.Adam().apply_gradients([np.ones(3, np.float32)], [w])
    assert ref is w and w.dtype == np.float32 and np.all(w < 1)
    # pairs form, as in Keras
    optimizers.SGD().apply_gradients([(np.ones(3, np.float32), w)])


@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop"])
def test_state_round_trip_continues_identically(name):
    rng = np.random.default_rng(0)
    grads = [[rng.normal(size=(3, 2)), rng.normal(size=4)] for _ in range(6)]
    kwargs = {"momentum": 0.9} if name != "adam" else {}
    opt_a = optimizers.get(name).__class__(**kwargs)
    wa = [np.ones((3, 2)), np.zeros(4)]
    for g in grads[:3]:
        opt_a.apply_gradients(g, wa)
    opt_b = optimizers.deserialize(optimizers.serialize(opt_a))
    wb = [w.copy() for w in wa]
    opt_b.build(wb)
    opt_b.set_state(opt_a.get_state())
    assert opt_b.iterations == 3
    for g in grads[3:]:
        opt_a.apply_gradients(g, wa)
        opt_b.apply_gradients(g, wb)
    for x, y in zip(wa, wb):
        assert np.array_equal(x, y)


def test_get_and_bad_input():
    assert isinstance(optimizers.get("Adam"), optimizers.Adam)
    assert isinstance(optimizers.get("rmsprop"), optimizers.RMSprop)
    with pytest.raises(ValueError, match="sgd, adam, rmsprop"):
        optimizers.get("adagrad")
    with pytest.raises(TypeError):
        optimizers.get(1.0)
    with pytest.raises(ValueError, match="learning_rate"):
        optimizers.SGD(learning_rate=-1)
    with pytest.raises(ValueError, match="momentum"):
        optimizers.SGD(momentum=1.5)
    with pytest.raises(ValueError, match="Only one"):
        optimizers.Adam(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="shape"):
        optimizers.SGD().apply_gradients([np.ones(2)], [np.ones(3)])
    with pytest.raises(ValueError, match="2 gradients for 1"):
        optimizers.SGD().apply_gradients([np.ones(2), np.ones(2)], [np.ones(2)])
    with pytest.raises(TypeError, match="in place"):
        optimizers.SGD().apply_gradients([np.ones(2)], [[1.0, 2.0]])


def test_rmsprop_centered():
    w = f64(1.0)
    opt = optimizers.RMSprop(learning_rate=0.01, rho=0.9, centered=True)
    opt.apply_gradients([f64(2.0)], [w])
    # v = 0.4, a = 0.2 -> denominator 0.4 - 0.04 + eps
    np.testing.assert_allclose(w, [1.0 - 0.01 * 2 / np.sqrt(0.36 + 1e-7)], rtol=1e-12)
    again = optimizers.deserialize(optimizers.serialize(opt))
    assert again.centered and len(opt.get_state()) == 1 + 2
