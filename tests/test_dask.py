"""fastrnn on Dask (fastrnn.distributed): distributed predict, evaluate and
data-parallel fit give the local results; a lost worker changes nothing.

One LocalCluster of two one-thread worker processes serves the module
(``fastrnn.distributed.local_cluster``, started and closed here); the models
are tiny and run the NumPy reference backend, here and (as the driver's
backend) on the workers, so that local and distributed runs do the same
arithmetic. The tests that need no cluster run first, before any client
exists.
"""

import os
import pickle
import signal
import subprocess
import sys

import numpy as np
import pytest

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

import fastrnn  # noqa: E402
from fastrnn import distributed as fd  # noqa: E402
from fastrnn.callbacks import Callback, EarlyStopping  # noqa: E402
from fastrnn.layers import GRU, LSTM, Dense, Embedding, Input, SimpleRNN  # noqa: E402
from fastrnn.models import Sequential  # noqa: E402
from fastrnn.optimizers import SGD, Adam  # noqa: E402

BACKEND = "numpy"


@pytest.fixture(autouse=True)
def _numpy_backend():
    with fastrnn.use_backend(BACKEND):
        yield


def tokens(n=90, steps=7, vocab=40, seed=0):
    """Padded token sequences (leading zeros masked) and a binary label."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, vocab, (n, steps)).astype(np.int32)
    lengths = rng.integers(2, steps + 1, n)
    for i, length in enumerate(lengths):
        x[i, : steps - length] = 0
    y = (x[:, -1] > vocab // 2).astype(np.float32)
    return x, y


def classifier(dtype="float32", optimizer=None, metrics=("accuracy",)):
    model = Sequential(
        [
            Embedding(40, 4, mask_zero=True, seed=1, dtype=dtype),
            LSTM(5, seed=2, dtype=dtype),
            Dense(1, activation="sigmoid", seed=3, dtype=dtype),
        ]
    )
    model.compile(optimizer or SGD(0.5, momentum=0.5), "binary_crossentropy", metrics=list(metrics))
    model.build((None, 7))
    return model


def tagger(dtype="float64"):
    """Two outputs: per-token tags (masked) and a sequence label."""
    inp = Input(shape=(7,), dtype="int32", name="tokens")
    e = Embedding(40, 4, mask_zero=True, seed=1, dtype=dtype)(inp)
    h = GRU(5, return_sequences=True, seed=2, dtype=dtype)(e)
    tags = Dense(3, activation="softmax", seed=3, dtype=dtype, name="tags")(h)
    cls = Dense(1, activation="sigmoid", seed=4, dtype=dtype, name="cls")(
        GRU(3, seed=5, dtype=dtype)(h)
    )
    model = fastrnn.Model(inp, [tags, cls])
    model.compile(
        Adam(0.01),
        ["sparse_categorical_crossentropy", "binary_crossentropy"],
        metrics=[["accuracy"], ["accuracy"]],
        loss_weights=[1.0, 0.5],
    )
    return model


def relative(a, b):
    """max |a - b| over max |a|, over all the weights together."""
    a = np.concatenate([np.ravel(w) for w in a])
    b = np.concatenate([np.ravel(w) for w in b])
    return float(np.max(np.abs(a - b)) / np.max(np.abs(a)))


def assert_history_equal(local, distributed_, rtol):
    assert list(local.history) == list(distributed_.history)
    for key in local.history:
        np.testing.assert_allclose(distributed_.history[key], local.history[key], rtol=rtol)


# ----------------------------------------------------------- no cluster yet
def test_importing_fastrnn_imports_no_dask():
    code = (
        "import sys, numpy as np, fastrnn\n"
        "from fastrnn.models import Sequential\n"
        "from fastrnn.layers import Dense\n"
        "m = Sequential([Dense(1)]); m.compile('sgd', 'mse')\n"
        "m.fit(np.ones((4, 2)), np.ones((4, 1)), verbose=0)\n"
        "m.predict(np.ones((2, 2)), verbose=0)\n"
        "assert not any(k == 'dask' or k.startswith(('dask.', 'distributed')) "
        "for k in sys.modules), sorted(k for k in sys.modules if 'dask' in k)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_predict_and_evaluate_on_the_threaded_scheduler():
    assert distributed.client._get_global_client() is None
    x, y = tokens()
    model = classifier()
    dx, dy = da.from_array(x, chunks=25), da.from_array(y, chunks=25)
    lazy = model.predict(dx)
    assert isinstance(lazy, da.Array) and lazy.chunks == ((25, 25, 25, 15), (1,))
    np.testing.assert_allclose(
        lazy.compute(scheduler="threads"), model.predict(x, verbose=0), atol=1e-6
    )
    np.testing.assert_allclose(
        model.evaluate(dx, dy, batch_size=16, verbose=0),
        model.evaluate(x, y, batch_size=16, verbose=0),
        rtol=1e-6,
    )


def big_embedding_model():
    """A model of 256 KiB of weights, and that size in bytes."""
    model = Sequential([Embedding(4000, 16, seed=1), SimpleRNN(3, seed=2), Dense(1, seed=3)])
    model.compile("adam", "binary_crossentropy")
    model.build((None, 7))
    return model, sum(w.nbytes for w in model.get_weights())


def graph_bytes(lazy):
    return len(pickle.dumps(dict(lazy.__dask_graph__())))


def test_the_threaded_graph_holds_the_model_once():
    model, weights = big_embedding_model()
    x, _ = tokens()
    lazy = model.predict(da.from_array(x, chunks=15))  # 6 chunks, one model node
    assert weights < graph_bytes(lazy) < 2 * weights
    np.testing.assert_allclose(lazy.compute(), model.predict(x, verbose=0), atol=1e-6)


def test_fit_on_dask_arrays_without_a_client_says_so():
    x, y = tokens()
    model = classifier()
    before = model.get_weights()
    with pytest.raises(ValueError, match="no active client"):
        model.fit(da.from_array(x, chunks=30), da.from_array(y, chunks=30), verbose=0)
    with pytest.raises(ValueError, match="no active client"):
        model.fit(x, y, gradient_accumulation_steps=2, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


# -------------------------------------------------------------- the cluster
@pytest.fixture(scope="module")
def client():
    with fd.local_cluster(2) as cluster, distributed.Client(cluster) as c:
        c.wait_for_workers(2)
        yield c


def two_workers(client):
    client.wait_for_workers(2, timeout=60)
    return sorted(client.scheduler_info()["workers"])


def test_predict_matches_local(client):
    x, y = tokens()
    model = classifier()
    before = client.run(fd.worker_stats)
    lazy = model.predict(da.from_array(x, chunks=20), batch_size=8)
    assert isinstance(lazy, da.Array)
    assert lazy.chunks[0] == (20, 20, 20, 20, 10)
    np.testing.assert_allclose(lazy.compute(), model.predict(x, verbose=0), atol=1e-6)
    after = client.run(fd.worker_stats)
    # rebuilt once per worker for the call, whatever its number of chunks
    assert all(after[w]["rebuilds"] - before[w]["rebuilds"] <= 1 for w in after)
    assert sum(after[w]["rebuilds"] - before[w]["rebuilds"] for w in after) >= 1


def test_the_graph_only_names_the_scattered_model(client):
    model, weights = big_embedding_model()
    x, _ = tokens()
    lazy = model.predict(da.from_array(x, chunks=15))  # 6 chunks
    assert graph_bytes(lazy) < weights / 4
    np.testing.assert_allclose(lazy.compute(), model.predict(x, verbose=0), atol=1e-6)


def test_workers_run_one_thread_and_the_drivers_backend(client):
    model = classifier()
    model.predict(da.from_array(tokens()[0], chunks=45)).compute()
    assert set(client.nthreads().values()) == {1}
    assert set(client.run(fastrnn.get_num_threads).values()) == {1}
    assert set(client.run(fastrnn.get_backend).values()) == {BACKEND}


def test_predict_float_sequences_and_several_outputs(client):
    rng = np.random.default_rng(1)
    seqs = rng.normal(size=(50, 6, 3)).astype(np.float32)
    model = Sequential([SimpleRNN(4, return_sequences=True, seed=1), Dense(2, seed=2)])
    model.build((None, 6, 3))
    lazy = model.predict(da.from_array(seqs, chunks=(13, 6, 3)))
    assert lazy.shape == (50, 6, 2) and lazy.chunks[0] == (13, 13, 13, 11)
    np.testing.assert_allclose(lazy.compute(), model.predict(seqs, verbose=0), atol=1e-6)

    x, _ = tokens(40)
    two = tagger()
    outs = two.predict(da.from_array(x, chunks=15))
    for lazy_out, local_out in zip(outs, two.predict(x, verbose=0)):
        np.testing.assert_allclose(lazy_out.compute(), local_out, atol=1e-6)


def test_evaluate_matches_local_with_masks_and_uneven_chunks(client):
    x, _ = tokens(70)
    rng = np.random.default_rng(2)
    tags, labels = rng.integers(0, 3, (70, 7)), (x[:, -1] > 20).astype(np.float64)
    model = tagger()
    chunks = (11, 30, 29)  # not aligned with the batches of 16
    got = model.evaluate(
        da.from_array(x, chunks=(chunks, 7)),
        [da.from_array(tags, chunks=(chunks, 7)), da.from_array(labels, chunks=(chunks,))],
        batch_size=16,
        verbose=0,
        return_dict=True,
    )
    want = model.evaluate(x, [tags, labels], batch_size=16, verbose=0, return_dict=True)
    assert list(got) == list(want)
    np.testing.assert_allclose(list(got.values()), list(want.values()), rtol=1e-10)


TOLERANCE = {"float32": 1e-4, "float64": 1e-10}


def fit_both(make, x, y, dask_x, dask_y, rtol, local_changes=None, **kwargs):
    """Fit one ``make()`` locally on ``x, y`` (``kwargs`` updated by
    ``local_changes``) and another on ``dask_x, dask_y``; assert that the
    weights and the History agree to ``rtol``. Returns both models and the
    distributed History."""
    local, dist = make(), make()
    h_local = local.fit(x, y, **{**kwargs, **(local_changes or {})})
    h_dist = dist.fit(dask_x, dask_y, **kwargs)
    assert relative(local.get_weights(), dist.get_weights()) < rtol
    assert_history_equal(h_local, h_dist, rtol)
    assert h_dist.distributed["faults"] == []
    return local, dist, h_dist


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shuffle", [False, True], ids=["ordered", "shuffled"])
def test_fit_matches_local(client, dtype, shuffle):
    x, y = tokens()
    y = y.astype(dtype)
    dx, dy = da.from_array(x, chunks=25), da.from_array(y, chunks=25)
    _, _, history = fit_both(
        lambda: classifier(dtype),
        x,
        y,
        dx,
        dy,
        TOLERANCE[dtype],
        batch_size=16,
        epochs=2,
        shuffle=shuffle,
        seed=7,
        verbose=0,
    )
    assert history.distributed["steps"] == 2 * 6  # ceil(90 / 16) per epoch


def test_fit_float64_adam_shuffled_with_validation_matches_local(client):
    x, y = tokens(110)
    y = y.astype(np.float64)
    dx, dy = da.from_array(x, chunks=30), da.from_array(y, chunks=30)
    local, dist, history = fit_both(
        lambda: classifier("float64", Adam(0.02)),
        x,
        y,
        dx,
        dy,
        1e-10,
        batch_size=16,
        epochs=2,
        seed=3,
        verbose=0,
        validation_split=0.2,
    )
    assert "val_loss" in history.history
    np.testing.assert_allclose(
        dist.optimizer.get_state()[1:][0], local.optimizer.get_state()[1:][0], rtol=1e-9
    )


def test_fit_several_outputs_with_masks_matches_local(client):
    x, _ = tokens(60)
    rng = np.random.default_rng(3)
    tags, labels = rng.integers(0, 3, (60, 7)), (x[:, -1] > 20).astype(np.float64)
    dask_y = [da.from_array(tags, chunks=(17, 7)), da.from_array(labels, chunks=17)]
    fit_both(
        tagger,
        x,
        [tags, labels],
        da.from_array(x, chunks=17),
        dask_y,
        1e-10,
        batch_size=8,
        epochs=2,
        seed=1,
        verbose=0,
    )


def test_gradient_accumulation_is_the_local_fit_with_k_times_the_batch(client):
    x, y = tokens()
    y = y.astype(np.float64)
    _, _, history = fit_both(
        lambda: classifier("float64", Adam(0.02)),
        x,
        y,
        da.from_array(x, chunks=25),
        da.from_array(y, chunks=25),
        1e-10,
        local_changes=dict(batch_size=24, gradient_accumulation_steps=1),
        batch_size=8,
        gradient_accumulation_steps=3,
        epochs=2,
        seed=5,
        verbose=0,
    )
    assert history.distributed["steps"] == 2 * 4  # ceil(90 / 24) updates per epoch


def test_numpy_data_with_client_and_sample_weights(client):
    x, y = tokens(64)
    y = y.astype(np.float64)
    weights = np.linspace(0.5, 1.5, 64)
    fit_both(
        lambda: classifier("float64"),
        x,
        y,
        x,
        y,
        1e-10,
        local_changes=dict(client=None),
        client=client,
        sample_weight=weights,
        batch_size=16,
        epochs=1,
        seed=2,
        verbose=0,
    )


def test_the_gradient_work_runs_on_both_workers(client):
    workers = two_workers(client)
    x, y = tokens()
    model = classifier()
    with distributed.get_task_stream(client) as stream:
        history = model.fit(
            da.from_array(x, chunks=15), da.from_array(y, chunks=15), batch_size=30, verbose=0
        )
    ran = {t["worker"] for t in stream.data if "fastrnn-step" in str(t["key"])}
    assert ran == set(workers)
    per_worker = history.distributed["steps_per_worker"]
    assert sorted(per_worker) == workers and all(n == 3 for n in per_worker.values())


def test_callbacks_progress_and_early_stopping(client, capsys):
    x, y = tokens()
    seen = []

    class Record(Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append((batch, sorted(logs)))

    model = classifier()
    history = model.fit(
        da.from_array(x, chunks=30),
        da.from_array(y, chunks=30),
        batch_size=30,
        epochs=5,
        verbose=1,
        validation_data=(x[:20], y[:20]),
        callbacks=[Record(), EarlyStopping(monitor="loss", patience=0, min_delta=10.0)],
    )
    out = capsys.readouterr()
    assert "Epoch 1/5" in out.out and "3/3" in out.out + out.err
    assert seen[:3] == [(i, ["accuracy", "loss"]) for i in range(3)]
    assert len(history.epoch) == 2  # stopped: no improvement by 10
    assert model.history is history


class KillBetweenSteps(Callback):
    """Kills the first worker's process (SIGKILL) before step ``at`` of epoch 0."""

    def __init__(self, client, at):
        super().__init__()
        self.client, self.at, self.killed = client, at, None

    def on_train_batch_begin(self, batch, logs=None):
        if batch == self.at and self.killed is None:
            pids = self.client.run(os.getpid)
            self.killed = sorted(pids)[0]
            os.kill(pids[self.killed], signal.SIGKILL)


class KillDuringStep(distributed.WorkerPlugin):
    """Kills its worker's process (SIGKILL) as a task of step ``serial`` starts
    executing there: the step is in flight. Once, for the first worker to get
    there (it writes its address into ``marker``)."""

    name = "fastrnn-test-kill-during-step"

    def __init__(self, serial, marker):
        self.serial, self.marker = serial, str(marker)

    def setup(self, worker):
        self.address = worker.address

    def transition(self, key, start, finish, **kwargs):
        name = str(key)
        if finish != "executing" or not name.startswith("fastrnn-step-"):
            return
        if int(name.rsplit("-", 3)[1]) == self.serial and not os.path.exists(self.marker):
            with open(self.marker, "w") as handle:
                handle.write(self.address)
            os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize("when", ["between_steps", "during_a_step"])
def test_a_worker_killed_mid_fit_changes_nothing(client, tmp_path, when):
    two_workers(client)
    x, y = tokens(120)
    y = y.astype(np.float64)
    kwargs = dict(batch_size=16, epochs=2, seed=11, verbose=0)
    reference, hit, local = (classifier("float64", Adam(0.02)) for _ in range(3))
    local.fit(x, y, **kwargs)
    dx, dy = da.from_array(x, chunks=20), da.from_array(y, chunks=20)
    h_reference = reference.fit(dx, dy, **kwargs)
    marker = tmp_path / "killed"
    callbacks = []
    if when == "between_steps":
        callbacks.append(KillBetweenSteps(client, at=3))
    else:
        client.register_plugin(KillDuringStep(serial=3, marker=marker))
    try:
        with pytest.warns(RuntimeWarning, match="was lost"):
            h_hit = hit.fit(dx, dy, callbacks=callbacks, **kwargs)
    finally:
        if when == "during_a_step":
            client.unregister_worker_plugin(KillDuringStep.name)
    killed = callbacks[0].killed if callbacks else marker.read_text()
    assert [f["worker"] for f in h_hit.distributed["faults"]] == [killed]
    assert h_hit.distributed["faults"][0]["epoch"] == 0
    # the groups are fixed, so the sums and the weights are the same, bit for bit
    for a, b in zip(reference.get_weights(), hit.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert h_hit.history == h_reference.history
    assert relative(local.get_weights(), hit.get_weights()) < 1e-10
    two_workers(client)  # the nanny's replacement joined: later tests see two again


# ---------------------------------------------------------------- bad input
def test_chunks_that_disagree_are_refused(client):
    x, y = tokens()
    model = classifier()
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"y must be chunked like x .*expected chunks"):
        model.fit(da.from_array(x, chunks=30), da.from_array(y, chunks=45), verbose=0)
    with pytest.raises(ValueError, match="sample_weight must be chunked like x"):
        model.fit(
            da.from_array(x, chunks=30),
            da.from_array(y, chunks=30),
            sample_weight=da.ones(90, chunks=40),
            verbose=0,
        )
    with pytest.raises(ValueError, match="same number of samples"):
        model.evaluate(da.from_array(x, chunks=30), da.from_array(y[:60], chunks=30), verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0


def test_bad_labels_are_found_before_the_first_step(client):
    x, y = tokens()
    y = y.copy()
    y[77] = 3.0
    model = Sequential([Embedding(40, 4, seed=1), SimpleRNN(3, seed=2), Dense(2, seed=3)])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.build((None, 7))
    before = model.get_weights()
    with pytest.raises(ValueError, match="class indices"):
        model.fit(da.from_array(x, chunks=30), da.from_array(y, chunks=30), verbose=0)
    bad_x = x.copy()
    bad_x[5, 3] = 99
    with pytest.raises(ValueError, match="99"):
        model.fit(da.from_array(bad_x, chunks=30), da.from_array(y % 2, chunks=30), verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_closed_client_is_refused():
    x, y = tokens()
    model = classifier()
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster:
        with distributed.Client(cluster, set_as_default=False) as other:
            pass
    before = model.get_weights()
    for call in (
        lambda: model.fit(da.from_array(x, chunks=30), da.from_array(y, chunks=30), client=other),
        lambda: model.predict(da.from_array(x, chunks=30), client=other),
        lambda: model.evaluate(x, y, client=other, verbose=0),
    ):
        with pytest.raises(ValueError, match=r"`client` is not running \(status 'closed'\)"):
            call()
    with pytest.raises(TypeError, match="must be a dask.distributed.Client"):
        model.predict(x, client="tcp://127.0.0.1:8786")
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_model_larger_than_a_worker_memory_limit_is_refused():
    x, y = tokens()
    model, _ = big_embedding_model()
    before = model.get_weights()
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        memory_limit="256KiB",
        dashboard_address=":0",
    ) as cluster:
        with distributed.Client(cluster, set_as_default=False) as small:
            dx, dy = da.from_array(x, chunks=30), da.from_array(y, chunks=30)
            with pytest.raises(
                fd.WorkerMemoryError, match=r"model: needs about .* memory limit of 256.0 KiB"
            ):
                model.fit(dx, dy, verbose=0, client=small)
            with pytest.raises(MemoryError, match="expected a memory limit of at least"):
                model.predict(dx, client=small)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0


def test_stateful_models_are_refused(client):
    model = Sequential([SimpleRNN(3, stateful=True, batch_input_shape=(10, 4, 2), seed=1)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="stateful"):
        model.predict(da.zeros((10, 4, 2), chunks=5))


def test_spam_example_runs_with_dask(tmp_path, capsys):
    from test_examples import load_example

    lines = ["Label\tSMS"]
    for i in range(40):
        label = "spam" if i % 4 == 0 else "ham"
        text = "win a free prize now" if label == "spam" else "see you at lunch"
        lines.append(f"{label}\t{text} {i}")
    path = tmp_path / "sms.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    load_example("spam_classifier").main(
        ["--data", str(path), "--epochs", "1", "--backend", "numpy", "--verbose", "0"]
        + ["--embed-dim", "4", "--units", "4", "--maxlen", "8", "--batch-size", "8"]
        + ["--dask", "2"]
    )
    out = capsys.readouterr().out
    assert "dask: LocalCluster of 2 workers" in out
    assert "distributed predict" in out
