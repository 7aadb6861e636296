"""Layers used from several threads at once (issue 14): an inference server
warming up one model, many requests on one layer."""

import threading

import numpy as np
import pytest

from fastrnn import layers
from kernel_cases import CELL_NAMES

LAYERS = {"simple_rnn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}
THREADS = 8
TRIALS = 10


def _in_threads(fn, n=THREADS):
    """``fn()`` on n threads released together; their results, in order."""
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def run(i):
        barrier.wait()
        try:
            results[i] = fn()
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


@pytest.mark.parametrize("cell", CELL_NAMES)
def test_first_calls_from_many_threads_build_once(backend_name, cell):
    """Before, 19-30 of 30 trials ended with 5-12 weight arrays instead of 3."""
    x = np.random.default_rng(0).standard_normal((2, 4, 3)).astype(np.float32)
    want = LAYERS[cell](5, backend=backend_name, seed=7)(x)
    for _ in range(TRIALS):
        layer = LAYERS[cell](5, backend=backend_name, seed=7)
        outputs = _in_threads(lambda layer=layer: layer(x))
        assert len(layer.weights) == 3
        assert layer.kernel.shape == (3, layer.gates * 5)
        for out in outputs:
            np.testing.assert_array_equal(out, want)


def test_dense_and_bidirectional_first_calls_build_once(backend_name):
    x = np.random.default_rng(1).standard_normal((2, 4, 3)).astype(np.float32)
    for _ in range(TRIALS):
        dense = layers.Dense(4, seed=1)
        _in_threads(lambda dense=dense: dense(x[:, 0]))
        assert len(dense.weights) == 2
        bi = layers.Bidirectional(layers.LSTM(3, backend=backend_name, seed=2))
        outputs = _in_threads(lambda bi=bi: bi(x))
        assert len(bi.weights) == 6
        for out in outputs[1:]:
            np.testing.assert_array_equal(out, outputs[0])
