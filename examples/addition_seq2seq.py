"""Number addition, sequence to sequence: LSTM -> RepeatVector -> LSTM -> TimeDistributed(Dense).

The keras.io example "Sequence to sequence learning for performing number
addition" (https://keras.io/examples/nlp/addition_rnn/), with the imports
naming fastrnn. Questions such as ``"535+61"`` are padded with spaces to
``2 * DIGITS + 1`` characters and reversed (``" 16+535"``), answers
(``"596 "``) padded to ``DIGITS + 1``; every character is one-hot over
``"0123456789+ "``. The model reads the question with one LSTM, repeats its
last state once per answer character, and a second LSTM with a softmax
``Dense`` on every step writes the answer.

The data is generated, not read: ``--training-size`` distinct questions
(``a+b`` and ``b+a`` count as one), drawn with Python's ``random`` seeded
from ``--seed``, so fastrnn and Keras train on the very same examples; the
last 10 % are the validation set, never trained on. Reported: per-character
validation accuracy (Keras's ``accuracy`` metric, padding characters
included), the share of whole answers exactly right, the first epoch whose
validation accuracy reached 99 %, and a few decoded validation questions.

Training differs from keras.io in its schedule only: keras.io trains 30
epochs of batch 32 with Adam(1e-3); the defaults here are 14 epochs of batch
256 with Adam(6e-3, clipnorm=1.0), the rate held for 9 epochs and then
multiplied by 0.7 every epoch (``LearningRateScheduler``), so a few minutes
of training reach the same 99 % and stay there. ``--batch-size 32
--learning-rate 1e-3 --lr-decay 1 --clipnorm 0 --epochs 30`` is the keras.io
schedule.

    python examples/addition_seq2seq.py
    python examples/addition_seq2seq.py --compare keras   # + the same model in Keras 3
"""

import os
import random
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

CHARS = "0123456789+ "
TARGET = 0.99  # the per-character validation accuracy keras.io reports


def parse_args(argv=None):
    p = base_parser(__doc__.splitlines()[0], default_data=None, default_epochs=14)
    p.add_argument(
        "--training-size",
        type=int,
        default=50000,
        help="distinct questions generated, validation included (default: %(default)s)",
    )
    p.add_argument(
        "--digits",
        type=int,
        default=3,
        help="maximum digits of each number (default: %(default)s)",
    )
    p.add_argument(
        "--no-reverse",
        dest="reverse",
        action="store_false",
        help="feed the questions as written (keras.io reverses them by default)",
    )
    p.add_argument(
        "--units", type=int, default=128, help="units of both LSTMs (default: %(default)s)"
    )
    p.add_argument("--batch-size", type=int, default=256, help="(default: %(default)s)")
    p.add_argument(
        "--learning-rate", type=float, default=6e-3, help="Adam's first rate (default: %(default)s)"
    )
    p.add_argument(
        "--hold-epochs",
        type=int,
        default=9,
        help="epochs trained at --learning-rate before the decay starts (default: %(default)s)",
    )
    p.add_argument(
        "--lr-decay",
        type=float,
        default=0.7,
        help="factor applied to the rate after every epoch past --hold-epochs; "
        "1 keeps it (default: %(default)s)",
    )
    p.add_argument(
        "--clipnorm",
        type=float,
        default=1.0,
        help="Adam's per-variable gradient norm clip; 0 turns it off (default: %(default)s)",
    )
    p.add_argument(
        "--show",
        type=int,
        default=10,
        help="decoded validation questions to print at the end (default: %(default)s)",
    )
    args = p.parse_args(argv)
    require_at_least_one(p, args, "digits")
    questions = 10**args.digits * (10**args.digits + 1) // 2
    if not 10 <= args.training_size <= questions:
        p.error(
            f"--training-size must be between 10 and {questions} (the distinct questions "
            f"of numbers below {10**args.digits}), got {args.training_size}"
        )
    if args.hold_epochs < 0:
        p.error(f"--hold-epochs must be at least 0, got {args.hold_epochs}")
    require_at_least_one(p, args, "units", "batch_size", "epochs")
    if args.learning_rate <= 0 or not 0 < args.lr_decay <= 1 or args.clipnorm < 0:
        p.error(
            "--learning-rate must be > 0, --lr-decay in (0, 1] and --clipnorm >= 0; got "
            f"{args.learning_rate}, {args.lr_decay} and {args.clipnorm}"
        )
    return args


# ---------------------------------------------------------------------- data


class CharacterTable:
    """One-hot encoding of strings over a fixed character set, and back.

    The characters are sorted, as in the keras.io example, so the one-hot
    columns are the same there and here.
    """

    def __init__(self, chars):
        self.chars = sorted(set(chars))
        self.index = {c: i for i, c in enumerate(self.chars)}

    def encode(self, strings, length):
        """Strings of ``length`` characters -> one-hot.

        Parameters
        ----------
        strings : sequence of str, ``n`` of them, each ``length`` characters long
        length : int

        Returns
        -------
        ndarray of bool, shape ``(n, length, len(self.chars))``
        """
        out = np.zeros((len(strings), length, len(self.chars)), dtype=bool)
        for i, s in enumerate(strings):
            if len(s) != length:
                raise ValueError(f"strings[{i}] must be {length} characters long, got {s!r}")
            for t, c in enumerate(s):
                out[i, t, self.index[c]] = True
        return out

    def decode(self, indices):
        """Column indices (the argmax of one-hot rows), shape ``(length,)`` -> str."""
        return "".join(self.chars[int(i)] for i in indices)


def make_questions(n, digits, rng):
    """``n`` distinct questions ``(a, b)``, each number of 1 to ``digits`` digits.

    Each number draws its length first, then its digits (so short numbers are
    as common as long ones, as in keras.io); ``a+b`` and ``b+a`` are one
    question.

    Parameters
    ----------
    n : int
        At most the ``10**digits * (10**digits + 1) // 2`` distinct questions.
    digits : int
    rng : random.Random
        The same state gives the same list.

    Returns
    -------
    list of (int, int), length ``n``
    """

    def number():
        return int("".join(rng.choice("0123456789") for _ in range(rng.randint(1, digits))))

    seen, pairs = set(), []
    while len(pairs) < n:
        a, b = number(), number()
        key = (min(a, b), max(a, b))
        if key in seen:
            continue
        seen.add(key)
        pairs.append((a, b))
    return pairs


def prepare(args):
    """Generate, pad, reverse and one-hot encode the questions; split off validation.

    Returns a dict: ``x_train``/``x_val`` bool ``(n, 2 * digits + 1, 12)``,
    ``y_train``/``y_val`` bool ``(n, digits + 1, 12)``, the validation
    questions and answers as padded strings (questions as written), and the
    ``CharacterTable``.
    """
    maxlen = 2 * args.digits + 1
    answer_len = args.digits + 1
    table = CharacterTable(CHARS)
    pairs = make_questions(args.training_size, args.digits, random.Random(args.seed))
    questions = [f"{a}+{b}".ljust(maxlen) for a, b in pairs]
    answers = [str(a + b).ljust(answer_len) for a, b in pairs]
    fed = [q[::-1] for q in questions] if args.reverse else questions
    x = table.encode(fed, maxlen)
    y = table.encode(answers, answer_len)
    split = len(x) - len(x) // 10  # the last 10 % are the validation set, as in keras.io
    print(
        f"{len(x)} questions of up to {args.digits} + {args.digits} digits "
        f"({'reversed' if args.reverse else 'as written'}): train {split}, "
        f"validation {len(x) - split}; x {x.shape[1:]}, y {y.shape[1:]}"
    )
    return dict(
        x_train=x[:split],
        y_train=y[:split],
        x_val=x[split:],
        y_val=y[split:],
        val_questions=questions[split:],
        val_answers=answers[split:],
        table=table,
    )


# ---------------------------------------------------------------------- model


def build_model(k, args):
    """The keras.io model, written as that example writes it, for the namespace ``k``.

    ``k`` is ``fastrnn`` or ``keras``: both have ``Sequential``, ``Input``,
    ``layers`` and ``optimizers``, so the same code builds both.
    """
    n_chars = len(set(CHARS))
    model = k.Sequential()
    model.add(k.Input(shape=(2 * args.digits + 1, n_chars)))
    model.add(k.layers.LSTM(args.units))
    model.add(k.layers.RepeatVector(args.digits + 1))
    model.add(k.layers.LSTM(args.units, return_sequences=True))
    model.add(k.layers.TimeDistributed(k.layers.Dense(n_chars, activation="softmax")))
    optimizer = k.optimizers.Adam(learning_rate=args.learning_rate, clipnorm=args.clipnorm or None)
    model.compile(loss="categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    return model


def evaluate_answers(model, data, args, label):
    """Per-character and exact-match validation accuracy; print a few decoded answers."""
    prob = model.predict(data["x_val"], batch_size=256, verbose=0)
    guess = np.asarray(prob).argmax(axis=-1)
    truth = data["y_val"].argmax(axis=-1)
    right = guess == truth
    per_char = float(right.mean())
    exact = float(right.all(axis=1).mean())
    print(f"[{label}] validation: per-character accuracy {per_char:.4f}, exact match {exact:.4f}")
    rng = random.Random(args.seed)
    for i in rng.sample(range(len(guess)), min(args.show, len(guess))):
        answer, expected = data["table"].decode(guess[i]), data["val_answers"][i]
        verdict = "✓" if answer == expected else f"✗ (expected {expected.strip()})"
        print(f"  {data['val_questions'][i]} → {answer.strip() or '(blank)'} {verdict}")
    return per_char, exact


def first_epoch_reaching(history, target):
    """1-based epoch whose ``val_accuracy`` first reaches ``target``, or NaN."""
    for epoch, acc in enumerate(history.get("val_accuracy", []), 1):
        if acc >= target:
            return epoch
    return float("nan")


def learning_rate(epoch, args):
    """The rate of 0-based ``epoch``: held for ``--hold-epochs``, then decayed per epoch."""
    return args.learning_rate * args.lr_decay ** max(0, epoch - args.hold_epochs + 1)


def train_and_report(k, model, data, args, label):
    """``fit`` epoch by epoch with validation, as keras.io does; then evaluate."""
    schedule = k.callbacks.LearningRateScheduler(lambda epoch: learning_rate(epoch, args))
    times, history = fit_timed(
        model,
        data["x_train"],
        data["y_train"],
        epochs=args.epochs,
        batch_size=args.batch_size,
        verbose=args.verbose,
        label=label,
        validation_data=(data["x_val"], data["y_val"]),
        callbacks=[schedule],
    )
    per_char, exact = evaluate_answers(model, data, args, label)
    reached = first_epoch_reaching(history, TARGET)
    return times, per_char, {"exact match": exact, f"first epoch >= {TARGET:.0%}": reached}


# ---------------------------------------------------------------------- main


def main(argv=None):
    args = parse_args(argv)
    use_fastrnn_backend(args.backend)
    data = prepare(args)
    runners = namespace_runners(build_model, train_and_report)
    return run_comparison(args, data, runners, "val per-char accuracy")


if __name__ == "__main__":
    main()
