"""Character language model: Embedding -> LSTM(return_sequences) -> Dense(V, softmax) per step.

Trained with teacher forcing on the first 90 % of a text (tinyshakespeare)
for a fixed time budget (``--minutes``), then the validation cross-entropy
(nats per character) is measured on the last 10 %, and text is sampled with a
temperature. Sampling feeds each sampled character back in through the LSTM's
streaming single-step call ``layer.step(x_t, states)`` when the layer has it,
and otherwise re-runs the model on the growing sequence.

    python examples/char_lm.py --data /work/shared/data/tinyshakespeare.txt --minutes 10
    python examples/char_lm.py --data ... --minutes 3 --compare all   # + Keras, PyTorch
"""

import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (
    base_parser,
    import_keras,
    load_text,
    peer_available,
    print_table,
    requested_peers,
    seed_peer,
    set_seed,
    torch_keras_init,
    use_fastrnn_backend,
)

DEFAULT_DATA = "/work/shared/data/tinyshakespeare.txt"


def parse_args(argv=None):
    p = base_parser(__doc__.splitlines()[0], DEFAULT_DATA, default_epochs=1000)
    p.epilog = (
        "--epochs caps the passes over the training text; normally the "
        "--minutes budget stops training first."
    )
    p.add_argument(
        "--minutes",
        type=float,
        default=3.0,
        help="training time budget per framework (default: %(default)s)",
    )
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seq-len", type=int, default=100, help="characters per training sequence")
    p.add_argument("--embed-dim", type=int, default=32)
    p.add_argument("--units", type=int, default=128)
    p.add_argument("--learning-rate", type=float, default=3e-3)
    p.add_argument("--clipnorm", type=float, default=5.0)
    p.add_argument(
        "--chunk-batches",
        type=int,
        default=10,
        help="batches per fit() call (the budget is checked between calls)",
    )
    p.add_argument(
        "--eval-every",
        type=float,
        default=60.0,
        help="seconds between quick validation estimates (default: %(default)s)",
    )
    p.add_argument("--sample-len", type=int, default=400)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--prime", default="ROMEO:", help="text to start sampling from")
    return p.parse_args(argv)


# ---------------------------------------------------------------------- data


def prepare(args):
    text = load_text(args.data)
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids = np.fromiter((index[c] for c in text), dtype="int32", count=len(text))
    n_train = int(len(ids) * 0.9)
    train, val = ids[:n_train], ids[n_train:]
    L = min(args.seq_len, max(1, (len(val) - 1)))
    if len(train) < L + 1:
        raise ValueError(
            f"--seq-len {args.seq_len}: the training text has only {len(train)} characters"
        )
    x_val, y_val = windows(val, L, 0)
    print(
        f"text: {len(text)} characters, {len(chars)} distinct; train {len(train)} / "
        f"validation {len(val)} characters; sequences of {L}; validation {len(x_val)} sequences"
    )
    return dict(
        chars=chars,
        index=index,
        train=train,
        x_val=x_val,
        y_val=y_val,
        seq_len=L,
        vocab=len(chars),
        text=text,
    )


def windows(ids, L, offset):
    """Non-overlapping (input, next-character target) windows of length L from ``offset``."""
    n = (len(ids) - 1 - offset) // L
    x = ids[offset : offset + n * L].reshape(n, L)
    y = ids[offset + 1 : offset + 1 + n * L].reshape(n, L)
    return x, y


def epoch_sequences(data, rng):
    """One pass over the training text: a random start offset, shuffled windows."""
    L = data["seq_len"]
    offset = int(rng.randint(0, min(L, len(data["train"]) - L)))
    x, y = windows(data["train"], L, offset)
    order = rng.permutation(len(x))
    return x[order], y[order]


def cross_entropy(prob, y):
    """Mean -log p(target) in nats over every position (probabilities clipped at 1e-7)."""
    prob = np.asarray(prob)
    p = np.take_along_axis(prob, np.asarray(y)[..., None], axis=-1)[..., 0]
    return float(-np.log(np.clip(p, 1e-7, 1.0)).mean())


# ---------------------------------------------------------------------- training loop


def train_for_budget(label, data, args, train_chunk, val_loss, quick_val_n=128):
    """Shared time-budget loop. ``train_chunk(x, y) -> mean loss`` trains on a slice;
    ``val_loss(x, y) -> nats``. Returns a dict of figures."""
    rng = np.random.RandomState(args.seed)
    budget = args.minutes * 60.0
    chunk = args.chunk_batches * args.batch_size
    t_start = time.perf_counter()
    train_seconds, batches, seqs, epochs_done = 0.0, 0, 0, 0
    last_eval = t_start
    batches_per_epoch = None
    stop = False
    print(
        f"[{label}] training for {args.minutes:g} min "
        f"(batch {args.batch_size} x {data['seq_len']} characters)",
        flush=True,
    )
    for epoch in range(args.epochs):
        x, y = epoch_sequences(data, rng)
        batches_per_epoch = math.ceil(len(x) / args.batch_size)
        for start in range(0, len(x), chunk):
            if time.perf_counter() - t_start >= budget:
                stop = True
                break
            t0 = time.perf_counter()
            loss = train_chunk(x[start : start + chunk], y[start : start + chunk])
            train_seconds += time.perf_counter() - t0
            n = len(x[start : start + chunk])
            seqs += n
            batches += math.ceil(n / args.batch_size)
            now = time.perf_counter()
            if now - last_eval >= args.eval_every:
                v = val_loss(data["x_val"][:quick_val_n], data["y_val"][:quick_val_n])
                print(
                    f"[{label}] {now - t_start:6.0f} s  epoch {epoch + 1}  batch {batches}  "
                    f"train loss {loss:.3f}  val loss (first {quick_val_n} seqs) {v:.3f}",
                    flush=True,
                )
                last_eval = time.perf_counter()
        if stop:
            break
        epochs_done += 1
    elapsed = time.perf_counter() - t_start
    v = val_loss(data["x_val"], data["y_val"])
    s_per_batch = train_seconds / max(batches, 1)
    res = dict(
        val_loss=v,
        batches=batches,
        epochs=seqs / max(len(data["train"]) // data["seq_len"], 1),
        seconds=elapsed,
        train_seconds=train_seconds,
        s_per_batch=s_per_batch,
        s_per_epoch=s_per_batch * (batches_per_epoch or 0),
    )
    print(
        f"[{label}] {batches} batches ({res['epochs']:.2f} epochs) in {elapsed:.0f} s; "
        f"{1000 * s_per_batch:.0f} ms/batch; validation cross-entropy {v:.4f} nats/char "
        f"({v / math.log(2):.4f} bits/char)",
        flush=True,
    )
    return res


# ---------------------------------------------------------------------- fastrnn


def build_fastrnn(data, args):
    from fastrnn.layers import LSTM, Dense, Embedding
    from fastrnn.models import Sequential
    from fastrnn.optimizers import Adam

    set_seed(args.seed)
    model = Sequential(
        [
            # seed= per layer: fastrnn has no global seed (np.random.seed does not reach it)
            Embedding(data["vocab"], args.embed_dim, seed=args.seed),
            LSTM(args.units, return_sequences=True, seed=args.seed + 1),
            Dense(data["vocab"], activation="softmax", seed=args.seed + 2),
        ]
    )
    model.compile(
        optimizer=Adam(learning_rate=args.learning_rate, clipnorm=args.clipnorm),
        loss="sparse_categorical_crossentropy",
    )
    return model


def _keras_style_chunk(model, batch_size):
    """Train a fastrnn or Keras model on one slice: a single ``fit`` epoch over it."""

    def train_chunk(x, y):
        h = model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        return float(h.history["loss"][-1])

    return train_chunk


def run_fastrnn(data, args):
    model = build_fastrnn(data, args)
    res = train_for_budget(
        "fastrnn",
        data,
        args,
        _keras_style_chunk(model, args.batch_size),
        lambda x, y: cross_entropy(model.predict(x, batch_size=256, verbose=0), y),
    )
    model.summary()
    return model, res


def sample(model, data, args, n=None, temperature=None, prime=None):
    """Generate text from the fastrnn model; returns (text, method used)."""
    n = args.sample_len if n is None else n
    temperature = args.temperature if temperature is None else temperature
    index, chars = data["index"], data["chars"]
    prime = "".join(c for c in (args.prime if prime is None else prime) if c in index) or chars[0]
    rng = np.random.RandomState(args.seed)
    emb, lstm, dense = model.layers[0], model.layers[1], model.layers[2]

    def draw(prob):
        logp = np.log(np.clip(np.asarray(prob, dtype="float64").reshape(-1), 1e-12, 1.0))
        p = np.exp((logp - logp.max()) / temperature)
        return int(rng.choice(len(p), p=p / p.sum()))

    out = list(prime)
    if hasattr(lstm, "step"):
        method = "LSTM.step (streaming, one character at a time)"
        dtype = getattr(lstm, "dtype", "float32")
        states = [np.zeros((1, lstm.units), dtype=dtype), np.zeros((1, lstm.units), dtype=dtype)]
        prob = None
        for c in prime:
            x_t = np.asarray(emb(np.array([[index[c]]])))[:, 0, :]
            h, states = lstm.step(x_t, states)
            prob = dense(h)
        for _ in range(n):
            i = draw(prob)
            out.append(chars[i])
            x_t = np.asarray(emb(np.array([[i]])))[:, 0, :]
            h, states = lstm.step(x_t, states)
            prob = dense(h)
    else:
        method = "re-running the model on the growing sequence (no LSTM.step)"
        seq = [index[c] for c in prime]
        for _ in range(n):
            prob = model.predict(np.array([seq]), verbose=0)[0, -1]
            i = draw(prob)
            seq.append(i)
            out.append(chars[i])
    return "".join(out), method


# ---------------------------------------------------------------------- Keras 3


def run_keras(data, args):
    keras = import_keras()
    seed_peer("keras", args.seed)
    model = keras.Sequential(
        [
            keras.Input(shape=(None,)),
            keras.layers.Embedding(data["vocab"], args.embed_dim),
            keras.layers.LSTM(args.units, return_sequences=True),
            keras.layers.Dense(data["vocab"], activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=args.learning_rate, clipnorm=args.clipnorm),
        loss="sparse_categorical_crossentropy",
    )
    return train_for_budget(
        "keras",
        data,
        args,
        _keras_style_chunk(model, args.batch_size),
        lambda x, y: cross_entropy(model.predict(x, batch_size=256, verbose=0), y),
    )


# ---------------------------------------------------------------------- PyTorch


def run_torch(data, args):
    import torch
    from torch import nn

    seed_peer("torch", args.seed)

    class CharLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(data["vocab"], args.embed_dim)
            self.rnn = nn.LSTM(args.embed_dim, args.units, batch_first=True)
            self.out = nn.Linear(args.units, data["vocab"])

        def forward(self, x):
            return self.out(self.rnn(self.emb(x))[0])  # logits

    model = torch_keras_init(CharLSTM())
    opt = torch.optim.Adam(model.parameters(), lr=args.learning_rate, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()

    def train_chunk(x, y):
        model.train()
        x, y = torch.from_numpy(x.astype("int64")), torch.from_numpy(y.astype("int64"))
        total = 0.0
        for s in range(0, len(x), args.batch_size):
            opt.zero_grad()
            logits = model(x[s : s + args.batch_size])
            loss = loss_fn(
                logits.reshape(-1, logits.shape[-1]), y[s : s + args.batch_size].reshape(-1)
            )
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), args.clipnorm)
            opt.step()
            total += loss.item()
        return total / math.ceil(len(x) / args.batch_size)

    def val_loss(x, y):
        model.eval()
        with torch.no_grad():
            probs = [
                torch.softmax(model(torch.from_numpy(x[s : s + 256].astype("int64"))), -1).numpy()
                for s in range(0, len(x), 256)
            ]
        return cross_entropy(np.concatenate(probs), y)

    return train_for_budget("torch", data, args, train_chunk, val_loss)


# ---------------------------------------------------------------------- main


def main(argv=None):
    args = parse_args(argv)
    use_fastrnn_backend(args.backend)
    data = prepare(args)
    model, res = run_fastrnn(data, args)
    print(f"fastrnn validation cross-entropy: {res['val_loss']:.4f} nats/char")
    text, method = sample(model, data, args)
    print(f"\n--- sample (temperature {args.temperature}, {method}) ---\n{text}\n---")
    results = {"fastrnn": res}
    rows = [_row("fastrnn", res)]
    for peer in requested_peers(args.compare):
        if not peer_available(peer):
            print(f"{peer}: not installed here, skipped")
            rows.append([peer, "-", "-", "-", "-", "not installed"])
            continue
        p_res = (run_keras if peer == "keras" else run_torch)(data, args)
        results[peer] = p_res
        rows.append(_row(peer, p_res))
    print()
    print_table(
        [
            "framework",
            "ms/batch",
            "s/epoch (extrapolated)",
            "batches in budget",
            "val nats/char",
            "note",
        ],
        rows,
    )
    return results


def _row(name, r):
    return [
        name,
        1000 * r["s_per_batch"],
        r["s_per_epoch"],
        r["batches"],
        r["val_loss"],
        f"{r['epochs']:.2f} epochs in {r['seconds']:.0f} s",
    ]


if __name__ == "__main__":
    main()
