"""Helpers shared by the examples: data loading, seeding, timing, peers, tables.

Nothing here is part of the fastrnn API; the examples import it as a sibling
module (``from _common import ...``). The data readers are plain Python so the
same arrays feed fastrnn, Keras and PyTorch.
"""

import argparse
import importlib.util
import os
import random
import re
import statistics
import time

import numpy as np

PEERS = ("keras", "torch")


# --------------------------------------------------------------------------
# command line


def base_parser(description, default_data, default_epochs):
    """The options every example takes: --data, --epochs, --seed, --compare.

    ``default_data=None`` leaves out ``--data``, for an example that
    generates its data.
    """
    p = argparse.ArgumentParser(description=description)
    if default_data is not None:
        p.add_argument(
            "--data", default=default_data, help="path to the data (default: %(default)s)"
        )
    p.add_argument(
        "--epochs", type=int, default=default_epochs, help="training epochs (default: %(default)s)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument(
        "--compare",
        choices=["none", "keras", "torch", "all"],
        default="none",
        help="also train the same model in Keras 3 (TensorFlow) and/or PyTorch "
        "and compare seconds per epoch (default: %(default)s)",
    )
    p.add_argument(
        "--verbose",
        type=int,
        default=1,
        choices=[0, 1, 2],
        help="fit verbosity for fastrnn and Keras (default: %(default)s)",
    )
    p.add_argument(
        "--backend",
        default="auto",
        help="fastrnn backend: auto, numpy, numba or cython (default: %(default)s)",
    )
    return p


def require_at_least_one(parser, args, *names):
    """``parser.error`` for the first option of ``names`` (attribute names) set below 1."""
    for name in names:
        value = getattr(args, name)
        if value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {value}")


def use_fastrnn_backend(name):
    """Set fastrnn's default backend for this run and say which one is used."""
    import fastrnn

    fastrnn.set_backend(name)
    chosen = fastrnn.get_backend()
    if chosen == "auto":
        from fastrnn import backends

        chosen = f"auto -> {backends.auto_choice()}"
    print(
        f"fastrnn {fastrnn.__version__}, backend {chosen!r} "
        f"(available: {', '.join(fastrnn.available_backends())})"
    )


def requested_peers(compare):
    """Peers named by --compare, as a tuple of "keras"/"torch"."""
    if compare == "none":
        return ()
    if compare == "all":
        return PEERS
    return (compare,)


def peer_available(name):
    """True when the peer framework can be imported here (without importing it)."""
    if name == "keras":
        return (
            importlib.util.find_spec("keras") is not None
            and importlib.util.find_spec("tensorflow") is not None
        )
    if name == "torch":
        return importlib.util.find_spec("torch") is not None
    raise ValueError(f"unknown peer {name!r}")


def import_keras():
    """Import Keras 3 on the TensorFlow backend (set before the first import)."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras  # noqa: WPS433

    return keras


def set_seed(seed):
    """Seed Python's and NumPy's global generators (fastrnn draws from NumPy)."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - the legacy global generator is what it seeds


def seed_peer(name, seed):
    if name == "keras":
        keras = import_keras()
        keras.utils.set_random_seed(seed)
    elif name == "torch":
        import torch

        torch.manual_seed(seed)
    set_seed(seed)


# --------------------------------------------------------------------------
# data


def load_sms(path):
    """SMS Spam Collection TSV (header ``Label<TAB>SMS``) -> (texts, labels 0/1)."""
    texts, labels = [], []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            line = line.rstrip("\n")
            if not line:
                continue
            label, _, text = line.partition("\t")
            if i == 0 and label.strip().lower() == "label":
                continue
            label = label.strip().lower()
            if label not in ("ham", "spam"):
                raise ValueError(f"{path}:{i + 1}: label must be 'ham' or 'spam', got {label!r}")
            texts.append(text)
            labels.append(1 if label == "spam" else 0)
    if not texts:
        raise ValueError(f"{path}: no messages found")
    return texts, np.asarray(labels, dtype="int64")


def split_indices(n, test_fraction, seed):
    """A fixed-seed random split of range(n) into (train, test) index arrays."""
    order = np.random.RandomState(seed).permutation(n)
    n_test = max(1, int(round(n * test_fraction)))
    return order[n_test:], order[:n_test]


def load_conllu(path):
    """CoNLL-U -> list of (words, upos_tags) per sentence.

    Comment lines are skipped, and so are multiword tokens (ids like ``3-4``)
    and empty nodes (ids like ``8.1``). UPOS is the 4th column.
    """
    sentences, words, tags = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                if words:
                    sentences.append((words, tags))
                words, tags = [], []
                continue
            if line.startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) < 4 or "-" in cols[0] or "." in cols[0]:
                continue
            words.append(cols[1])
            tags.append(cols[3])
    if words:
        sentences.append((words, tags))
    if not sentences:
        raise ValueError(f"{path}: no sentences found")
    return sentences


def load_text(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if len(text) < 2:
        raise ValueError(f"{path}: needs at least 2 characters of text")
    return text


# --------------------------------------------------------------------------
# timing and reporting


class Stopwatch:
    """``with Stopwatch() as t: ...`` then ``t.seconds``."""

    def __enter__(self):
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._t0
        return False


def epoch_summary(times):
    """(first epoch, median of the later epochs or the only one) in seconds."""
    times = list(times)
    if not times:
        return float("nan"), float("nan")
    later = times[1:] or times
    return times[0], statistics.median(later)


def fit_timed(
    model,
    x,
    y,
    *,
    epochs,
    batch_size,
    verbose,
    label="fastrnn",
    validation_data=None,
    seed=None,
    callbacks=None,
):
    """Train a Keras-style model one epoch at a time, timing each ``fit`` call.

    Works for fastrnn and Keras models alike (both keep optimizer state across
    ``fit`` calls). Each call is ``fit(epochs=epoch + 1, initial_epoch=epoch)``,
    so ``callbacks`` such as ``LearningRateScheduler`` see the true epoch
    number. Returns (per-epoch seconds, merged history dict).
    """
    times, history = [], {}
    for epoch in range(epochs):
        # fastrnn's fit takes seed= (its shuffling ignores np.random.seed); Keras's does not
        extra = {} if seed is None else {"seed": seed + epoch}
        if verbose:
            print(f"[{label}] epoch {epoch + 1}/{epochs}", flush=True)
        with Stopwatch() as t:
            h = model.fit(
                x,
                y,
                batch_size=batch_size,
                epochs=epoch + 1,
                initial_epoch=epoch,
                shuffle=True,
                verbose=verbose,
                validation_data=validation_data,
                callbacks=callbacks,
                **extra,
            )
        times.append(t.seconds)
        for k, v in getattr(h, "history", {}).items():
            history.setdefault(k, []).extend(float(a) for a in v)
        shown = ", ".join(f"{k}={v[-1]:.4f}" for k, v in history.items())
        print(f"[{label}] epoch {epoch + 1}/{epochs}: {t.seconds:.1f} s  {shown}", flush=True)
    return times, history


def print_table(headers, rows):
    """A plain fixed-width table (also valid Markdown: a ``|`` in a cell is escaped)."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in r] for r in rows]
    cells = [[c.replace("|", "\\|") for c in r] for r in cells]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    print(line(cells[0]))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells[1:]:
        print(line(r))


def _fmt(c):
    if isinstance(c, float):
        if c != c:  # nan
            return "-"
        return f"{c:.4f}" if abs(c) < 10 else f"{c:.1f}"
    return str(c)


def result_row(name, times, metric, extras=(), note=""):
    first, median = epoch_summary(times)
    return [name, first, median, metric, *extras, note]


def compare_table(metric_name, rows, extra_names=()):
    print()
    print_table(
        ["framework", "first epoch s", "s/epoch (median)", metric_name, *extra_names, "note"], rows
    )


# --------------------------------------------------------------------------
# text normalisation for the tagger

_DIGITS = re.compile(r"\d")


def word_signature(word):
    """A coarse shape class for a rare or unknown word (Berkeley-parser style).

    Keeps what predicts the tag of a word never seen in training: capitals,
    digits, hyphens and a few English suffixes.
    """
    sig = "<unk"
    if word[:1].isupper():
        sig += "-cap"
    if any(ch.isdigit() for ch in word):
        sig += "-num"
    if "-" in word:
        sig += "-dash"
    if not any(ch.isalnum() for ch in word):
        sig += "-punct"
    lower = word.lower()
    for suffix in ("ing", "ed", "ly", "ion", "s", "al", "ive", "er", "est", "able", "ful", "ous"):
        if lower.endswith(suffix) and len(lower) > len(suffix) + 2:
            sig += "-" + suffix
            break
    return sig + ">"


def normalise_word(word):
    """Lower-case, digits to 0, spaces (rare in UD) to underscores."""
    return _DIGITS.sub("0", word.lower()).replace(" ", "_")


# --------------------------------------------------------------------------
# PyTorch helpers (imported lazily; only used with --compare torch/all)


def torch_keras_init(module):
    """Initialise a torch module the way Keras initialises the same layers.

    Embedding: uniform(-0.05, 0.05); input kernels: Glorot uniform; recurrent
    kernels: orthogonal per gate block; biases: zeros (LSTM forget gate: ones,
    as Keras's unit_forget_bias, split over PyTorch's two bias vectors); Linear:
    Glorot uniform, zero bias. So the peers start from comparable weights.
    """
    import torch
    from torch import nn

    for m in module.modules():
        if isinstance(m, nn.Embedding):
            nn.init.uniform_(m.weight, -0.05, 0.05)
        elif isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.RNN, nn.LSTM, nn.GRU)):
            gates = {nn.RNN: 1, nn.LSTM: 4, nn.GRU: 3}[type(m)]
            h = m.hidden_size
            for name, p in m.named_parameters():
                if name.startswith("weight_ih"):
                    # Keras draws the whole (input, G*units) kernel at once
                    bound = (6.0 / (p.shape[1] + p.shape[0])) ** 0.5
                    nn.init.uniform_(p, -bound, bound)
                elif name.startswith("weight_hh"):
                    with torch.no_grad():
                        for g in range(gates):
                            nn.init.orthogonal_(p[g * h : (g + 1) * h])
                elif name.startswith("bias"):
                    nn.init.zeros_(p)
                    if isinstance(m, nn.LSTM) and name.startswith("bias_ih"):
                        with torch.no_grad():
                            p[h : 2 * h] = 1.0  # PyTorch gate order i, f, g, o
    return module


def torch_batches(n, batch_size, shuffle, rng):
    order = rng.permutation(n) if shuffle else np.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def namespace_runners(build_model, train_and_report):
    """``run_comparison`` runners for an example whose model code names a namespace.

    ``build_model(k, args)`` builds and compiles the model for ``k``, the
    ``fastrnn`` or ``keras`` module; ``train_and_report(k, model, data, args,
    label)`` trains and evaluates it and returns what a runner returns. Each
    runner seeds its framework from ``--seed`` first (``set_random_seed``:
    weights and shuffling).
    """

    def run_fastrnn(data, args):
        import fastrnn

        fastrnn.utils.set_random_seed(args.seed)
        model = build_model(fastrnn, args)
        model.summary()
        return train_and_report(fastrnn, model, data, args, "fastrnn")

    def run_keras(data, args):
        keras = import_keras()
        seed_peer("keras", args.seed)
        model = build_model(keras, args)
        return train_and_report(keras, model, data, args, "keras")

    return {"fastrnn": run_fastrnn, "keras": run_keras}


def run_comparison(args, data, runners, metric_name):
    """Train fastrnn, then each requested peer, and print the side-by-side table.

    ``runners`` maps "fastrnn", "keras" and "torch" to functions
    ``(data, args) -> (epoch_seconds, metric)`` or
    ``(epoch_seconds, metric, extras)``, where ``extras`` is a dict of further
    results by column name (the same names for every framework), shown as
    more columns. A requested peer that is not installed, or that the example
    has no runner for, is reported as skipped. Returns a dict of results.
    """
    names = []
    rows, results = [], {}

    def record(name, outcome):
        times, value, *rest = outcome
        extras = rest[0] if rest else {}
        for key in extras:
            if key not in names:
                names.append(key)
        print(f"{name} {metric_name}: {value:.4f}")
        results[name] = {"test_accuracy": value, "epoch_seconds": times, "extras": extras}
        rows.append((name, times, value, extras, ""))

    record("fastrnn", runners["fastrnn"](data, args))
    for peer in requested_peers(args.compare):
        if peer not in runners:
            print(f"{peer}: this example has no {peer} version, skipped")
            rows.append((peer, [], float("nan"), {}, "no version of this example"))
        elif not peer_available(peer):
            print(f"{peer}: not installed here, skipped")
            rows.append((peer, [], float("nan"), {}, "not installed"))
        else:
            record(peer, runners[peer](data, args))
    table = [
        result_row(name, times, value, [extras.get(k, float("nan")) for k in names], note)
        for name, times, value, extras, note in rows
    ]
    compare_table(metric_name, table, names)
    return results
