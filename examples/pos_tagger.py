"""Part-of-speech tagger: Embedding(mask_zero) -> Bidirectional(LSTM) -> Dense(softmax) per token.

Data: Universal Dependencies English EWT in CoNLL-U. Trains on
``en_ewt-ud-dev.conllu`` (2,001 sentences) and tests on
``en_ewt-ud-test.conllu``; the target is the UPOS tag (column 4). Accuracy is
counted over real tokens only (padding excluded).

Words are lower-cased with digits mapped to 0; words seen fewer than
``--min-count`` times in training, and unknown test words, are replaced by a
shape signature such as ``<unk-cap-ing>`` so the model learns what to do with
words it has not seen (a preprocessing choice; the model is unchanged).

    python examples/pos_tagger.py --data /work/shared/data/ud_english_ewt
    python examples/pos_tagger.py --data ... --compare all   # + Keras, PyTorch
"""

import collections
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (
    Stopwatch,
    base_parser,
    fit_timed,
    import_keras,
    load_conllu,
    normalise_word,
    run_comparison,
    seed_peer,
    set_seed,
    torch_batches,
    torch_keras_init,
    use_fastrnn_backend,
    word_signature,
)

DEFAULT_DATA = "/work/shared/data/ud_english_ewt"
TRAIN_FILE = "en_ewt-ud-dev.conllu"
TEST_FILE = "en_ewt-ud-test.conllu"


def parse_args(argv=None):
    p = base_parser(__doc__.splitlines()[0], DEFAULT_DATA, default_epochs=8)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--embed-dim", type=int, default=64)
    p.add_argument("--units", type=int, default=64, help="LSTM units per direction")
    p.add_argument(
        "--max-train-len",
        type=int,
        default=40,
        help="training sentences longer than this are cut into pieces "
        "(saves padding; test sentences are never cut)",
    )
    p.add_argument(
        "--min-count",
        type=int,
        default=2,
        help="training words rarer than this become a shape signature",
    )
    p.add_argument("--learning-rate", type=float, default=2e-3)
    return p.parse_args(argv)


def _chunks(seq, n):
    return [seq[i : i + n] for i in range(0, len(seq), n)]


def prepare(args):
    """Read both files, map words and tags to integers, pad. Returns a dict of arrays."""
    from fastrnn.preprocessing import Tokenizer, pad_sequences

    train = load_conllu(os.path.join(args.data, TRAIN_FILE))
    test = load_conllu(os.path.join(args.data, TEST_FILE))

    counts = collections.Counter(normalise_word(w) for words, _ in train for w in words)
    known = {w for w, c in counts.items() if c >= args.min_count}

    def words_to_text(words):
        toks = []
        for w in words:
            nw = normalise_word(w)
            toks.append(nw if nw in known else word_signature(w))
        return " ".join(toks)

    # Cut long training sentences into pieces: less padding, same tokens.
    train_pieces = [
        (wc, tc)
        for words, tags in train
        for wc, tc in zip(_chunks(words, args.max_train_len), _chunks(tags, args.max_train_len))
    ]
    train_texts = [words_to_text(w) for w, _ in train_pieces]
    test_texts = [words_to_text(w) for w, _ in test]

    tokenizer = Tokenizer(filters="", lower=False, split=" ", oov_token="<oov>")
    tokenizer.fit_on_texts(train_texts)
    vocab = len(tokenizer.word_index) + 1  # + index 0, the padding (masked)

    tag_names = sorted(
        {t for _, tags in train for t in tags} | {t for _, tags in test for t in tags}
    )
    tag_index = {t: i for i, t in enumerate(tag_names)}

    train_len = max(len(w) for w, _ in train_pieces)
    test_len = max(len(w) for w, _ in test)
    x_train = pad_sequences(
        tokenizer.texts_to_sequences(train_texts), maxlen=train_len, padding="post"
    )
    x_test = pad_sequences(
        tokenizer.texts_to_sequences(test_texts), maxlen=test_len, padding="post"
    )
    y_train = pad_sequences(
        [[tag_index[t] for t in tags] for _, tags in train_pieces], maxlen=train_len, padding="post"
    )
    y_test = pad_sequences(
        [[tag_index[t] for t in tags] for _, tags in test], maxlen=test_len, padding="post"
    )
    x_train, x_test = np.asarray(x_train), np.asarray(x_test)
    for x, pieces in ((x_train, [w for w, _ in train_pieces]), (x_test, [w for w, _ in test])):
        lengths = np.array([len(w) for w in pieces])
        if not np.array_equal((x > 0).sum(axis=1), lengths):
            raise RuntimeError("tokenization changed the number of tokens in a sentence")
    n_test_tokens = int((x_test > 0).sum())
    test_unknown = sum(
        1 for _, (words, _) in enumerate(test) for w in words if normalise_word(w) not in known
    )
    print(
        f"UD EWT: train {len(train)} sentences ({len(train_pieces)} pieces of <= "
        f"{args.max_train_len}), test {len(test)} sentences / {n_test_tokens} tokens "
        f"({100 * test_unknown / n_test_tokens:.1f} % not in the training vocabulary), "
        f"vocabulary {vocab}, {len(tag_names)} tags"
    )
    return dict(
        x_train=x_train,
        y_train=np.asarray(y_train),
        x_test=x_test,
        y_test=np.asarray(y_test),
        vocab=vocab,
        n_tags=len(tag_names),
        tag_names=tag_names,
    )


def token_accuracy(prob, x, y):
    """Accuracy of argmax tags over real (non-padding, x > 0) tokens."""
    mask = np.asarray(x) > 0
    pred = np.asarray(prob).argmax(axis=-1)
    return float((pred == np.asarray(y))[mask].mean())


# ---------------------------------------------------------------------- fastrnn


def run_fastrnn(data, args):
    from fastrnn.layers import LSTM, Bidirectional, Dense, Embedding
    from fastrnn.models import Sequential
    from fastrnn.optimizers import Adam

    set_seed(args.seed)
    model = Sequential(
        [
            # seed= per layer: fastrnn has no global seed (np.random.seed does not reach it)
            Embedding(data["vocab"], args.embed_dim, mask_zero=True, seed=args.seed),
            Bidirectional(LSTM(args.units, return_sequences=True, seed=args.seed + 1)),
            Dense(data["n_tags"], activation="softmax", seed=args.seed + 2),
        ]
    )
    model.compile(
        optimizer=Adam(learning_rate=args.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    times, _ = fit_timed(
        model,
        data["x_train"],
        data["y_train"],
        epochs=args.epochs,
        batch_size=args.batch_size,
        verbose=args.verbose,
        label="fastrnn",
        seed=args.seed,
    )
    model.summary()
    print(
        "fastrnn evaluate [loss, accuracy] (masked):",
        model.evaluate(data["x_test"], data["y_test"], batch_size=args.batch_size, verbose=0),
    )
    prob = model.predict(data["x_test"], batch_size=128, verbose=0)
    return times, token_accuracy(prob, data["x_test"], data["y_test"])


# ---------------------------------------------------------------------- Keras 3


def run_keras(data, args):
    keras = import_keras()
    seed_peer("keras", args.seed)
    model = keras.Sequential(
        [
            keras.Input(shape=(None,)),
            keras.layers.Embedding(data["vocab"], args.embed_dim, mask_zero=True),
            keras.layers.Bidirectional(keras.layers.LSTM(args.units, return_sequences=True)),
            keras.layers.Dense(data["n_tags"], activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=args.learning_rate),
        loss="sparse_categorical_crossentropy",
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
    prob = model.predict(data["x_test"], batch_size=128, verbose=0)
    return times, token_accuracy(prob, data["x_test"], data["y_test"])


# ---------------------------------------------------------------------- PyTorch


def run_torch(data, args):
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    seed_peer("torch", args.seed)

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(data["vocab"], args.embed_dim, padding_idx=0)
            self.rnn = nn.LSTM(args.embed_dim, args.units, batch_first=True, bidirectional=True)
            self.out = nn.Linear(2 * args.units, data["n_tags"])

        def forward(self, x):
            lengths = (x > 0).sum(dim=1).clamp(min=1)
            packed = pack_padded_sequence(
                self.emb(x), lengths.cpu(), batch_first=True, enforce_sorted=False
            )
            h, _ = pad_packed_sequence(
                self.rnn(packed)[0], batch_first=True, total_length=x.shape[1]
            )
            return self.out(h)  # logits (batch, T, n_tags)

    model = torch_keras_init(Tagger())
    opt = torch.optim.Adam(model.parameters(), lr=args.learning_rate, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss(ignore_index=-100)
    x = torch.from_numpy(data["x_train"].astype("int64"))
    y = torch.from_numpy(np.where(data["x_train"] > 0, data["y_train"], -100).astype("int64"))
    rng = np.random.RandomState(args.seed)
    times = []
    for epoch in range(args.epochs):
        model.train()
        total, n = 0.0, 0
        with Stopwatch() as t:
            for idx in torch_batches(len(x), args.batch_size, True, rng):
                idx = torch.from_numpy(idx)
                opt.zero_grad()
                logits = model(x[idx])
                loss = loss_fn(logits.reshape(-1, logits.shape[-1]), y[idx].reshape(-1))
                loss.backward()
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
        prob = torch.softmax(model(torch.from_numpy(data["x_test"].astype("int64"))), -1).numpy()
    return times, token_accuracy(prob, data["x_test"], data["y_test"])


# ---------------------------------------------------------------------- main


def main(argv=None):
    args = parse_args(argv)
    use_fastrnn_backend(args.backend)
    data = prepare(args)
    return run_comparison(
        args,
        data,
        {"fastrnn": run_fastrnn, "keras": run_keras, "torch": run_torch},
        "test token accuracy",
    )


if __name__ == "__main__":
    main()
