"""Date translator: a character-level LSTM encoder-decoder with Luong attention.

Human-written dates in many formats ("3 May 1979", "05/03/79", "Thursday,
May 3 1979", "3rd of May, 1979", "03.05.1979", "MAY 3 1979", ...) are
translated into ISO 8601 ("1979-05-03"), one character at a time. Each format
fixes its day-month order (slashes are US month/day, dots European
day.month) and two-digit years are only used for 1950-2049, so every input
names exactly one date.

The data is generated, not read: ``--training-size`` + ``--held-out``
distinct days of 1900-2099, each written in a format drawn at random, with
Python's ``random`` seeded from ``--seed``, so fastrnn and Keras train on the
very same examples. The held-out days never occur in training (in any
format).

The model is Keras code with fastrnn imports (``build_model(k, ...)`` takes
the namespace, ``fastrnn`` or ``keras``):

- encoder: ``Input`` -> ``Embedding`` -> ``LSTM(return_sequences=True,
  return_state=True)``; no mask, the encoder learns its pre-padding, so the
  inference models see what the training model sees;
- decoder, trained with teacher forcing: ``Input`` (the target shifted right
  behind a start token) -> ``Embedding`` -> ``LSTM`` started from the
  encoder's ``[h, c]`` -> ``Attention()([decoder_seq, encoder_seq])`` ->
  ``Concatenate()([decoder_seq, context])`` -> ``Dense(softmax)``.

After training, an encoder model and a one-step decoder model are made of
the trained layers (as the keras.io seq2seq tutorial does) and the held-out
dates are decoded greedily, one character per step, each step fed the
previous step's choice. Reported: the share of held-out dates translated
exactly (the target is >= 99 %), per-character accuracy, accuracy per input
format, some examples, and a check that the step-by-step decoder fed the
true previous characters gives the training model's probabilities.

    python examples/date_translator.py
    python examples/date_translator.py --compare keras   # + the same model in Keras 3
"""

import collections
import datetime
import os
import random
import string
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (
    base_parser,
    fit_timed,
    namespace_runners,
    require_at_least_one,
    run_comparison,
    use_fastrnn_backend,
)

FIRST_DAY = datetime.date(1900, 1, 1)
LAST_DAY = datetime.date(2099, 12, 31)
#: Two-digit years are written only for these years ("79" is 1979, "49" is 2049).
TWO_DIGIT_YEARS = (1950, 2049)
TARGET = 0.99  # held-out exact-match accuracy the example is meant to reach

#: Characters the inputs are written in; id 0 is the padding.
INPUT_CHARS = " ,-./0123456789" + string.ascii_letters
#: Characters of the ISO output: the decoder's classes.
OUTPUT_CHARS = "0123456789-"
#: The decoder's input id before the first output character.
START = len(OUTPUT_CHARS)
OUTPUT_LEN = len("1979-05-03")

MONTHS = (
    "January February March April May June July August September October November December"
).split()
WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()


def ordinal(n):
    """1 -> "1st", 2 -> "2nd", 11 -> "11th", 23 -> "23rd"."""
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _month(d):
    return MONTHS[d.month - 1]


def _mon(d):
    return _month(d)[:3]


def _weekday(d):
    return WEEKDAYS[d.weekday()]


#: (name, writer, uses a two-digit year); the names show 1979-05-03 (a Thursday).
FORMATS = (
    ("3 May 1979", lambda d: f"{d.day} {_month(d)} {d.year}", False),
    ("05/03/79", lambda d: f"{d.month:02d}/{d.day:02d}/{d.year % 100:02d}", True),
    ("Thursday, May 3 1979", lambda d: f"{_weekday(d)}, {_month(d)} {d.day} {d.year}", False),
    ("1979-05-03", lambda d: d.isoformat(), False),
    ("May 3, 1979", lambda d: f"{_month(d)} {d.day}, {d.year}", False),
    ("3rd of May, 1979", lambda d: f"{ordinal(d.day)} of {_month(d)}, {d.year}", False),
    ("03.05.1979", lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}", False),
    ("MAY 3 1979", lambda d: f"{_month(d).upper()} {d.day} {d.year}", False),
    ("05/03/1979", lambda d: f"{d.month:02d}/{d.day:02d}/{d.year}", False),
    ("3 May 79", lambda d: f"{d.day} {_mon(d)} {d.year % 100:02d}", True),
    ("03-May-79", lambda d: f"{d.day:02d}-{_mon(d)}-{d.year % 100:02d}", True),
    ("19790503", lambda d: f"{d.year}{d.month:02d}{d.day:02d}", False),
    ("May 3rd, 1979", lambda d: f"{_month(d)} {ordinal(d.day)}, {d.year}", False),
    ("Thu 3 May 1979", lambda d: f"{_weekday(d)[:3]} {d.day} {_mon(d)} {d.year}", False),
    ("3.5.79", lambda d: f"{d.day}.{d.month}.{d.year % 100:02d}", True),
    ("1979/05/03", lambda d: f"{d.year}/{d.month:02d}/{d.day:02d}", False),
    ("3 may 1979", lambda d: f"{d.day} {_month(d).lower()} {d.year}", False),
    ("the 3rd of May 1979", lambda d: f"the {ordinal(d.day)} of {_month(d)} {d.year}", False),
    ("Thursday 3 May 1979", lambda d: f"{_weekday(d)} {d.day} {_month(d)} {d.year}", False),
    ("May 3 1979", lambda d: f"{_mon(d)} {d.day} {d.year}", False),
)


def parse_args(argv=None):
    p = base_parser(__doc__.splitlines()[0], default_data=None, default_epochs=10)
    p.add_argument(
        "--training-size",
        type=int,
        default=50000,
        help="training dates (default: %(default)s)",
    )
    p.add_argument(
        "--held-out",
        type=int,
        default=2000,
        help="held-out dates, none of them a training day (default: %(default)s)",
    )
    p.add_argument(
        "--embed-dim", type=int, default=32, help="both Embeddings' width (default: %(default)s)"
    )
    p.add_argument(
        "--units", type=int, default=64, help="units of both LSTMs (default: %(default)s)"
    )
    p.add_argument(
        "--bidirectional",
        action="store_true",
        help="Bidirectional encoder, --units / 2 per direction, [h_fw, h_bw] starting the decoder",
    )
    p.add_argument("--batch-size", type=int, default=64, help="(default: %(default)s)")
    p.add_argument(
        "--show",
        type=int,
        default=10,
        help="held-out translations to print, and up to half as many misses (default: %(default)s)",
    )
    args = p.parse_args(argv)
    require_at_least_one(
        p, args, "training_size", "held_out", "embed_dim", "units", "batch_size", "epochs"
    )
    days = (LAST_DAY - FIRST_DAY).days + 1
    if args.training_size + args.held_out > days:
        p.error(
            f"--training-size + --held-out must be at most {days} (the days of 1900-2099), "
            f"got {args.training_size} + {args.held_out}"
        )
    if args.bidirectional and args.units % 2:
        p.error(f"--bidirectional needs an even --units (half per direction), got {args.units}")
    return args


# ---------------------------------------------------------------------- data


def formats_for(day):
    """The formats that can write ``day`` unambiguously."""
    two_digit_ok = TWO_DIGIT_YEARS[0] <= day.year <= TWO_DIGIT_YEARS[1]
    return [f for f in FORMATS if two_digit_ok or not f[2]]


def make_dates(n, rng):
    """``n`` distinct days of 1900-2099, each written in a format drawn for it.

    Parameters
    ----------
    n : int
        How many days, at most the 73,049 days of 1900-2099.
    rng : random.Random
        The same state gives the same lists.

    Returns
    -------
    days : list of datetime.date, length ``n``
    texts : list of str, length ``n``
        Each day as its format writes it.
    format_names : list of str, length ``n``
        The name of each text's format (the format applied to 1979-05-03).
    """
    total = (LAST_DAY - FIRST_DAY).days + 1
    days, texts, names = [], [], []
    for offset in rng.sample(range(total), n):
        day = FIRST_DAY + datetime.timedelta(days=offset)
        name, write, _ = rng.choice(formats_for(day))
        days.append(day)
        texts.append(write(day))
        names.append(name)
    return days, texts, names


def encode_inputs(texts, length):
    """Input strings -> character ids, pre-padded with 0.

    Parameters
    ----------
    texts : sequence of str, ``n`` of them
        Written in ``INPUT_CHARS``, each at most ``length`` characters.
    length : int

    Returns
    -------
    ndarray of int32, shape ``(n, length)``
        ``INPUT_CHARS.index(c) + 1`` per character, right-aligned.
    """
    index = {c: i + 1 for i, c in enumerate(INPUT_CHARS)}
    x = np.zeros((len(texts), length), dtype=np.int32)
    for row, text in enumerate(texts):
        if len(text) > length:
            raise ValueError(
                f"texts[{row}] must be at most {length} characters, got {text!r} ({len(text)})"
            )
        unknown = sorted(set(text) - set(index))
        if unknown:
            raise ValueError(
                f"texts[{row}] must be written in INPUT_CHARS, got {unknown} in {text!r}"
            )
        x[row, length - len(text) :] = [index[c] for c in text]
    return x


def encode_outputs(days):
    """Days -> the decoder's inputs and targets (teacher forcing).

    Parameters
    ----------
    days : sequence of datetime.date, ``n`` of them

    Returns
    -------
    decoder_in : ndarray of int32, shape ``(n, OUTPUT_LEN)``
        The targets shifted right by one step behind ``START``.
    targets : ndarray of int32, shape ``(n, OUTPUT_LEN)``
        ``OUTPUT_CHARS.index(c)`` of each character of ``day.isoformat()``.
    """
    index = {c: i for i, c in enumerate(OUTPUT_CHARS)}
    y = np.array([[index[c] for c in day.isoformat()] for day in days], dtype=np.int32)
    decoder_in = np.concatenate([np.full((len(y), 1), START, dtype=np.int32), y[:, :-1]], axis=1)
    return decoder_in, y


def decode_outputs(ids):
    """Output ids, shape ``(n, steps)`` -> ``n`` strings over ``OUTPUT_CHARS``."""
    return ["".join(OUTPUT_CHARS[int(i)] for i in row) for row in ids]


def prepare(args):
    """Generate the training and held-out dates and encode them.

    Returns a dict: ``x_train``, the list ``[encoder ids (n, 28), decoder
    inputs (n, 10)]`` the training model takes; ``y_train`` ``(n, 10)``;
    ``x_test``, ``decoder_in_test``, ``y_test`` likewise for the held-out
    days; ``texts_test`` and ``formats_test``, their input strings and
    format names.
    """
    days, texts, names = make_dates(args.training_size + args.held_out, random.Random(args.seed))
    length = max(len(t) for t in texts)
    x = encode_inputs(texts, length)
    decoder_in, y = encode_outputs(days)
    n = args.training_size
    print(
        f"{len(FORMATS)} formats, e.g. {', '.join(repr(f[0]) for f in FORMATS[:4])}; "
        f"train {n} dates, held-out {args.held_out} (other days); inputs up to "
        f"{length} characters of {len(INPUT_CHARS)}, outputs {OUTPUT_LEN} of {len(OUTPUT_CHARS)}"
    )
    return dict(
        x_train=[x[:n], decoder_in[:n]],
        y_train=y[:n],
        x_test=x[n:],
        decoder_in_test=decoder_in[n:],
        y_test=y[n:],
        texts_test=texts[n:],
        formats_test=names[n:],
    )


# ---------------------------------------------------------------------- model


def build_model(k, args):
    """The training model, written as Keras code for the namespace ``k``.

    ``k`` is ``fastrnn`` or ``keras``: both have ``Input``, ``Model`` and
    ``layers``, so the same code builds both.
    """
    encoder_inputs = k.Input(shape=(None,), dtype="int32", name="date")
    x = k.layers.Embedding(len(INPUT_CHARS) + 1, args.embed_dim, name="encoder_embedding")(
        encoder_inputs
    )
    if args.bidirectional:
        encoder = k.layers.Bidirectional(
            k.layers.LSTM(args.units // 2, return_sequences=True, return_state=True),
            name="encoder_lstm",
        )
        encoder_seq, h_fw, c_fw, h_bw, c_bw = encoder(x)
        state_h = k.layers.Concatenate(name="encoder_h")([h_fw, h_bw])
        state_c = k.layers.Concatenate(name="encoder_c")([c_fw, c_bw])
    else:
        encoder_seq, state_h, state_c = k.layers.LSTM(
            args.units, return_sequences=True, return_state=True, name="encoder_lstm"
        )(x)

    decoder_inputs = k.Input(shape=(None,), dtype="int32", name="iso_so_far")
    y = k.layers.Embedding(len(OUTPUT_CHARS) + 1, args.embed_dim, name="decoder_embedding")(
        decoder_inputs
    )
    decoder_seq, _, _ = k.layers.LSTM(
        args.units, return_sequences=True, return_state=True, name="decoder_lstm"
    )(y, initial_state=[state_h, state_c])
    context = k.layers.Attention(name="attention")([decoder_seq, encoder_seq])
    joined = k.layers.Concatenate(name="concatenate")([decoder_seq, context])
    outputs = k.layers.Dense(len(OUTPUT_CHARS), activation="softmax", name="next_char")(joined)

    model = k.Model([encoder_inputs, decoder_inputs], outputs)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def inference_models(k, model, args):
    """An encoder model and a one-step decoder model made of ``model``'s trained layers.

    ``encoder_model(date) -> [encoder_seq, h, c]``;
    ``decoder_model([previous char, encoder_seq, h, c]) -> [probabilities, h, c]``,
    with new ``Input``s for the encoder sequence and the states.
    """
    encoder_inputs, decoder_inputs = model.input
    encoder_seq = model.get_layer("encoder_lstm").output[0]
    if args.bidirectional:
        state_h, state_c = model.get_layer("encoder_h").output, model.get_layer("encoder_c").output
    else:
        _, state_h, state_c = model.get_layer("encoder_lstm").output
    encoder_model = k.Model(encoder_inputs, [encoder_seq, state_h, state_c])

    seq_in = k.Input(shape=(None, args.units), name="encoder_seq")
    h_in = k.Input(shape=(args.units,), name="h")
    c_in = k.Input(shape=(args.units,), name="c")
    y = model.get_layer("decoder_embedding")(decoder_inputs)
    decoder_seq, h, c = model.get_layer("decoder_lstm")(y, initial_state=[h_in, c_in])
    context = model.get_layer("attention")([decoder_seq, seq_in])
    joined = model.get_layer("concatenate")([decoder_seq, context])
    probabilities = model.get_layer("next_char")(joined)
    decoder_model = k.Model([decoder_inputs, seq_in, h_in, c_in], [probabilities, h, c])
    return encoder_model, decoder_model


def decode_steps(encoder_model, decoder_model, x, teacher=None, batch_size=256):
    """Run the decoder one character per step, ``OUTPUT_LEN`` steps.

    Greedy: each step is fed the previous step's argmax. With ``teacher``
    (the training model's decoder inputs) each step is fed the true previous
    character instead, which must reproduce the training model's output.

    Parameters
    ----------
    encoder_model, decoder_model : Model
        From :func:`inference_models`.
    x : ndarray of int32, shape ``(n, length)``
        Encoded dates.
    teacher : ndarray of int32, shape ``(n, OUTPUT_LEN)``, optional
    batch_size : int

    Returns
    -------
    ids : ndarray of int32, shape ``(n, OUTPUT_LEN)``
        The argmax of every step.
    probabilities : ndarray, shape ``(n, OUTPUT_LEN, len(OUTPUT_CHARS))``
    """
    encoder_seq, h, c = encoder_model.predict(x, batch_size=batch_size, verbose=0)
    token = np.full((len(x), 1), START, dtype=np.int32)
    ids, probs = [], []
    for t in range(OUTPUT_LEN):
        if teacher is not None:
            token = teacher[:, t : t + 1]
        p, h, c = decoder_model.predict(
            [token, encoder_seq, h, c], batch_size=batch_size, verbose=0
        )
        p = np.asarray(p)[:, -1]
        probs.append(p)
        ids.append(p.argmax(axis=-1).astype(np.int32))
        token = ids[-1][:, None]
    return np.stack(ids, axis=1), np.stack(probs, axis=1)


def evaluate_translations(model, encoder_model, decoder_model, data, args, label):
    """Greedy-decode the held-out dates; print and return the accuracies."""
    x, y = data["x_test"], data["y_test"]
    check = slice(0, min(256, len(x)))
    _, stepped = decode_steps(
        encoder_model, decoder_model, x[check], teacher=data["decoder_in_test"][check]
    )
    whole = np.asarray(model.predict([x[check], data["decoder_in_test"][check]], verbose=0))
    gap = float(np.abs(stepped - whole).max())
    print(
        f"[{label}] step-by-step decoder fed the true previous characters vs the training "
        f"model: max |p difference| {gap:.2e}"
    )

    ids, _ = decode_steps(encoder_model, decoder_model, x)
    right = ids == y
    exact = right.all(axis=1)
    per_char = float(right.mean())
    print(
        f"[{label}] held-out greedy decoding: exact match {exact.mean():.4f} "
        f"({int(exact.sum())}/{len(exact)}), per-character accuracy {per_char:.4f}"
    )
    by_format = collections.defaultdict(list)
    for name, ok in zip(data["formats_test"], exact):
        by_format[name].append(ok)
    worst = sorted(by_format.items(), key=lambda kv: np.mean(kv[1]))[:5]
    print(
        f"[{label}] weakest formats: "
        + ", ".join(f"{name!r} {np.mean(oks):.3f} (n={len(oks)})" for name, oks in worst)
    )
    answers, truths = decode_outputs(ids), decode_outputs(y)
    rng = random.Random(args.seed)
    shown = rng.sample(range(len(x)), min(args.show, len(x)))
    misses = [i for i in np.flatnonzero(~exact) if i not in shown][: max(0, args.show // 2)]
    for i in [*shown, *misses]:
        verdict = "✓" if exact[i] else f"✗ (expected {truths[i]})"
        print(f"  {data['texts_test'][i]!r:>32} → {answers[i]} {verdict}")
    extras = {"per-char accuracy": per_char, "step check max dp": f"{gap:.1e}"}
    return float(exact.mean()), extras


def train_and_report(k, model, data, args, label):
    times, _ = fit_timed(
        model,
        data["x_train"],
        data["y_train"],
        epochs=args.epochs,
        batch_size=args.batch_size,
        verbose=args.verbose,
        label=label,
    )
    encoder_model, decoder_model = inference_models(k, model, args)
    exact, extras = evaluate_translations(model, encoder_model, decoder_model, data, args, label)
    return times, exact, extras


# ---------------------------------------------------------------------- main


def main(argv=None):
    args = parse_args(argv)
    use_fastrnn_backend(args.backend)
    data = prepare(args)
    runners = namespace_runners(build_model, train_and_report)
    return run_comparison(args, data, runners, "held-out exact match")


if __name__ == "__main__":
    main()
