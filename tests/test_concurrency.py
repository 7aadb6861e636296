"""Layers used from several threads at once (issue 14): an inference server
warming up one model, many requests on one layer."""

import sys
import threading

import numpy as np
import pytest

from fastrnn import layers
from kernel_cases import CELL_NAMES

LAYERS = {"simple_rnn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}
THREADS = 8
TRIALS = 10


@pytest.fixture(autouse=True)
def _frequent_thread_switches():
    """Switch threads every microsecond, so that races show up within a few trials."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


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


def _masked_model(backend_name, cell):
    from fastrnn.models import Sequential

    model = Sequential(
        [
            layers.Embedding(20, 4, mask_zero=True, seed=3),
            LAYERS[cell](6, backend=backend_name, return_sequences=True, seed=4),
            layers.Dense(3, activation="softmax", seed=5),
        ]
    )
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _padded_batches(n_batches, seed=0):
    """Token batches with different padding per batch, so their masks differ."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for i in range(n_batches):
        x = rng.integers(1, 20, size=(4, 7))
        x[:, 7 - (i % 5) - 1 :] = 0
        xs.append(x)
        ys.append(rng.integers(0, 3, size=(4, 7)))
    return xs, ys


def _indexed_in_threads(work):
    """``work(i)`` for i in range(THREADS), one per thread, released together."""
    counter, lock = iter(range(THREADS)), threading.Lock()

    def next_index():
        with lock:
            i = next(counter)
        return i, work(i)

    return _in_threads(next_index)


@pytest.mark.parametrize("cell", CELL_NAMES)
def test_masked_evaluate_and_predict_from_many_threads(backend_name, cell):
    """Before, 1-3 of 160 evaluate results differed (they read the shared output_mask)."""
    model = _masked_model(backend_name, cell)
    xs, ys = _padded_batches(THREADS)
    want_loss = [model.evaluate(x, y, batch_size=1, verbose=0) for x, y in zip(xs, ys)]
    want_out = [model.predict(x, verbose=0) for x in xs]
    for _ in range(TRIALS // 2):
        results = _indexed_in_threads(
            lambda i: (
                model.evaluate(xs[i], ys[i], batch_size=1, verbose=0),
                model.predict(xs[i], verbose=0),
            )
        )
        for i, (loss, out) in results:
            assert loss == want_loss[i]
            np.testing.assert_array_equal(out, want_out[i])


@pytest.mark.parametrize("cell", CELL_NAMES)
def test_layer_inference_from_many_threads(backend_name, cell):
    """Fit-free inference: one built layer, different inputs and masks per thread."""
    rng = np.random.default_rng(2)
    layer = LAYERS[cell](5, backend=backend_name, return_sequences=True, seed=9)
    inputs = [rng.standard_normal((3, 6, 2)).astype(np.float32) for _ in range(THREADS)]
    masks = [rng.random((3, 6)) > 0.3 for _ in range(THREADS)]
    want = [layer(x, mask=m) for x, m in zip(inputs, masks)]
    for _ in range(TRIALS // 2):
        for i, out in _indexed_in_threads(lambda i: layer(inputs[i], mask=masks[i])):
            np.testing.assert_array_equal(out, want[i])


def test_blas_limits_restored_after_overlapping_loops(backend_name):
    """Before, overlapping predicts left the BLAS pools at 1 thread instead of the default.

    Callbacks force the overlap that breaks a per-call limit: the first
    loop starts, the second starts, and the first ends while the second
    still runs.
    """
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from fastrnn.callbacks import Callback
    from fastrnn.models import Sequential

    model = Sequential([LAYERS["lstm"](4, backend=backend_name, seed=1), layers.Dense(2, seed=2)])
    x = np.random.default_rng(3).standard_normal((8, 5, 3)).astype(np.float32)

    def blas_threads():
        return [lib.num_threads for lib in _blas_libs(threadpoolctl)]

    class Overlap(Callback):
        """Sets ``inside`` when its loop runs; waits for ``wait_for`` before the loop ends."""

        def __init__(self, inside, wait_for):
            super().__init__()
            self.inside, self.wait_for = inside, wait_for

        def on_predict_begin(self, logs=None):
            self.inside.set()

        def on_predict_end(self, logs=None):
            assert self.wait_for.wait(timeout=30)

    model.predict(x, verbose=0)  # loads every BLAS library the backend uses
    original = blas_threads()
    # A known starting point other than the loops' limit (1), whatever earlier tests
    # left, set without holding on to threadpoolctl's control of OpenBLAS.
    _set_blas_threads(threadpoolctl, 2)
    try:
        for _ in range(TRIALS // 2):
            inside = [threading.Event(), threading.Event()]
            done = [threading.Event(), threading.Event()]

            def run(k, inside=inside, done=done):
                wait_for = inside[1] if k == 0 else done[0]
                model.predict(x, verbose=0, callbacks=[Overlap(inside[k], wait_for)])
                done[k].set()

            threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
            threads[0].start()
            assert inside[0].wait(timeout=30)
            threads[1].start()
            for t in threads:
                t.join()
            assert blas_threads() == [2] * len(original)
    finally:
        for lib, n in zip(_blas_libs(threadpoolctl), original):
            lib.set_num_threads(n)
        _release_openblas_control(threadpoolctl)


def _blas_libs(threadpoolctl):
    return threadpoolctl.ThreadpoolController().select(user_api="blas").lib_controllers


def _release_openblas_control(threadpoolctl):
    """threadpoolctl >= 3.8 lets one thread at a time set OpenBLAS's limits; let go."""
    controller = getattr(threadpoolctl, "OpenBLASController", None)
    if hasattr(controller, "clear_controlling_thread"):
        controller.clear_controlling_thread()


def _set_blas_threads(threadpoolctl, n):
    for lib in _blas_libs(threadpoolctl):
        lib.set_num_threads(n)
    _release_openblas_control(threadpoolctl)
