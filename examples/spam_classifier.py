"""SMS spam classifier: Embedding -> SimpleRNN -> Dense(1, sigmoid).

The model is the one from the common Keras tutorials; only the imports name
fastrnn. Data: the SMS Spam Collection (tab-separated ``label<TAB>text``),
split 80/20 with a fixed seed.

    python examples/spam_classifier.py --data /work/shared/data/sms_spam.tsv
    python examples/spam_classifier.py --data ... --compare all   # + Keras, PyTorch
    python examples/spam_classifier.py --data ... --dask 2   # data-parallel, 2 workers
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (
    Stopwatch,
    base_parser,
    fit_timed,
    import_keras,
    load_sms,
    run_comparison,
    seed_peer,
    set_seed,
    split_indices,
    torch_batches,
    torch_keras_init,
    use_fastrnn_backend,
)

DEFAULT_DATA = "/work/shared/data/sms_spam.tsv"


def parse_args(argv=None):
    p = base_parser(__doc__.splitlines()[0], DEFAULT_DATA, default_epochs=5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--vocab", type=int, default=10000, help="Tokenizer num_words")
    p.add_argument("--maxlen", type=int, default=50, help="pad_sequences maxlen")
    p.add_argument("--embed-dim", type=int, default=32)
    p.add_argument("--units", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument(
        "--clipnorm",
        type=float,
        default=1.0,
        help="gradient norm clipping (SimpleRNN gradients can explode; 0 = off)",
    )
    p.add_argument(
        "--dask",
        type=int,
        default=0,
        metavar="N",
        help="train, evaluate and predict on a dask LocalCluster of N one-thread workers "
        "(needs fastrnn[dask]; 0 = local)",
    )
    args = p.parse_args(argv)
    if args.dask < 0:
        p.error(f"--dask must be 0 (local) or a number of workers, got {args.dask}")
    return args


def prepare(args):
    """Read, split, tokenize and pad: returns a dict of arrays shared by all frameworks."""
    from fastrnn.preprocessing import Tokenizer, pad_sequences

    texts, labels = load_sms(args.data)
    train_idx, test_idx = split_indices(len(texts), 0.2, args.seed)
    train_texts = [texts[i] for i in train_idx]
    test_texts = [texts[i] for i in test_idx]

    tokenizer = Tokenizer(num_words=args.vocab, oov_token="<OOV>")
    tokenizer.fit_on_texts(train_texts)
    vocab = min(args.vocab, len(tokenizer.word_index) + 1)
    x_train = pad_sequences(tokenizer.texts_to_sequences(train_texts), maxlen=args.maxlen)
    x_test = pad_sequences(tokenizer.texts_to_sequences(test_texts), maxlen=args.maxlen)
    y_train, y_test = labels[train_idx], labels[test_idx]
    print(
        f"SMS spam: {len(texts)} messages ({int(labels.sum())} spam), "
        f"train {len(x_train)} / test {len(x_test)}, vocabulary {vocab}, maxlen {args.maxlen}"
    )
    print(f"majority-class (ham) test accuracy: {1 - y_test.mean():.4f}")
    return dict(
        x_train=np.asarray(x_train),
        y_train=y_train.astype("float32"),
        x_test=np.asarray(x_test),
        y_test=y_test,
        vocab=vocab,
    )


def accuracy(prob, y):
    return float(np.mean((np.asarray(prob).reshape(-1) > 0.5) == (np.asarray(y).reshape(-1) > 0.5)))


# ---------------------------------------------------------------------- fastrnn


def build_fastrnn(data, args):
    """The compiled fastrnn model."""
    from fastrnn.layers import Dense, Embedding, SimpleRNN
    from fastrnn.models import Sequential
    from fastrnn.optimizers import Adam

    set_seed(args.seed)
    model = Sequential(
        [
            # seed= per layer: fastrnn has no global seed (np.random.seed does not reach it)
            Embedding(data["vocab"], args.embed_dim, seed=args.seed),
            SimpleRNN(args.units, seed=args.seed + 1),
            Dense(1, activation="sigmoid", seed=args.seed + 2),
        ]
    )
    clip = {"clipnorm": args.clipnorm} if args.clipnorm > 0 else {}
    model.compile(
        optimizer=Adam(learning_rate=args.learning_rate, **clip),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


def train_and_test(model, arrays, args, label):
    """fit, evaluate and predict on ``arrays`` (NumPy or dask arrays): the
    seconds per epoch and the test probabilities."""
    times, _ = fit_timed(
        model,
        arrays["x_train"],
        arrays["y_train"],
        epochs=args.epochs,
        batch_size=args.batch_size,
        verbose=args.verbose,
        label=label,
        seed=args.seed,
    )
    test = arrays["x_test"], arrays["y_test"]
    loss_and_accuracy = model.evaluate(*test, batch_size=args.batch_size, verbose=0)
    print("fastrnn evaluate [loss, accuracy]:", loss_and_accuracy)
    with Stopwatch() as t:
        prob = np.asarray(model.predict(arrays["x_test"], batch_size=256, verbose=0))
    print(
        f"{label} predict: {len(prob)} sequences in {t.seconds:.2f} s "
        f"({len(prob) / t.seconds:,.0f} sequences/s)"
    )
    return times, prob


def run_fastrnn(data, args):
    model = build_fastrnn(data, args)
    arrays = {**data, "y_test": data["y_test"].astype("float32")}
    times, prob = train_and_test(model, arrays, args, "fastrnn")
    model.summary()
    return times, accuracy(prob, data["y_test"])


def run_fastrnn_dask(data, args):
    """The same model, trained data-parallel on a LocalCluster of ``--dask`` workers
    (fastrnn.distributed); evaluation and prediction run on the cluster too."""
    import dask.array as da
    from distributed import Client

    from fastrnn.distributed import local_cluster

    model = build_fastrnn(data, args)
    with local_cluster(args.dask) as cluster, Client(cluster) as client:
        print(f"dask: LocalCluster of {args.dask} workers, 1 thread each")

        def chunked(array):
            """``array`` as a dask array of one chunk per worker, held by the workers."""
            rows = -(-len(array) // args.dask)
            return client.persist(da.from_array(array, chunks=(rows, *array.shape[1:])))

        names = ("x_train", "y_train", "x_test", "y_test")
        arrays = {name: chunked(np.asarray(data[name])) for name in names}
        arrays["y_test"] = arrays["y_test"].astype("float32")
        times, prob = train_and_test(model, arrays, args, "fastrnn distributed")
        record = model.history.distributed  # of the last fit call: the last epoch
        step_ms = 1e3 * record["step_seconds"] / record["steps"]
        compute_ms = 1e3 * record["compute_seconds"] / record["steps"]
        print(
            f"dask, last epoch: {step_ms:.2f} ms per step on the driver (round trip "
            f"included), {compute_ms:.2f} ms of it computing on the slowest worker; steps "
            f"per worker {record['steps_per_worker']}; faults {record['faults']}"
        )
    return times, accuracy(prob, data["y_test"])


# ---------------------------------------------------------------------- Keras 3


def run_keras(data, args):
    keras = import_keras()
    seed_peer("keras", args.seed)
    model = keras.Sequential(
        [
            keras.Input(shape=(data["x_train"].shape[1],)),
            keras.layers.Embedding(data["vocab"], args.embed_dim),
            keras.layers.SimpleRNN(args.units),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    clip = {"clipnorm": args.clipnorm} if args.clipnorm > 0 else {}
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=args.learning_rate, **clip),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    times, _ = fit_timed(
        model,
        data["x_train"],
        data["y_train"],
        epochs=args.epochs,
        batch_size=args.batch_size,
        verbose=args.verbose,
        label="keras",
    )
    acc = accuracy(model.predict(data["x_test"], batch_size=256, verbose=0), data["y_test"])
    return times, acc


# ---------------------------------------------------------------------- PyTorch


def run_torch(data, args):
    import torch
    from torch import nn

    seed_peer("torch", args.seed)

    class SpamRNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(data["vocab"], args.embed_dim)
            self.rnn = nn.RNN(args.embed_dim, args.units, batch_first=True, nonlinearity="tanh")
            self.out = nn.Linear(args.units, 1)

        def forward(self, x):
            _, h = self.rnn(self.emb(x))
            return self.out(h[-1]).squeeze(-1)  # logits

    model = torch_keras_init(SpamRNN())
    opt = torch.optim.Adam(model.parameters(), lr=args.learning_rate, eps=1e-7)
    loss_fn = nn.BCEWithLogitsLoss()
    x = torch.from_numpy(data["x_train"].astype("int64"))
    y = torch.from_numpy(data["y_train"].astype("float32"))
    rng = np.random.RandomState(args.seed)
    times = []
    for epoch in range(args.epochs):
        model.train()
        total, n = 0.0, 0
        with Stopwatch() as t:
            for idx in torch_batches(len(x), args.batch_size, True, rng):
                idx = torch.from_numpy(idx)
                opt.zero_grad()
                loss = loss_fn(model(x[idx]), y[idx])
                loss.backward()
                if args.clipnorm > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), args.clipnorm)
                opt.step()
                total += loss.item() * len(idx)
                n += len(idx)
        times.append(t.seconds)
        print(
            f"[torch] epoch {epoch + 1}/{args.epochs}: {t.seconds:.1f} s  loss={total / n:.4f}",
            flush=True,
        )
    model.eval()
    with torch.no_grad():
        prob = torch.sigmoid(model(torch.from_numpy(data["x_test"].astype("int64")))).numpy()
    return times, accuracy(prob, data["y_test"])


# ---------------------------------------------------------------------- main


def main(argv=None):
    args = parse_args(argv)
    use_fastrnn_backend(args.backend)
    data = prepare(args)
    return run_comparison(
        args,
        data,
        {
            "fastrnn": run_fastrnn_dask if args.dask else run_fastrnn,
            "keras": run_keras,
            "torch": run_torch,
        },
        "test accuracy",
    )


if __name__ == "__main__":
    main()
