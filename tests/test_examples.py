"""Smoke tests for the examples in examples/: each script's main() runs end to end.

Every test writes a tiny synthetic data file in the right format to tmp_path
and trains a tiny model for one short epoch on the NumPy reference backend
(no JIT compilation, no torch/tensorflow, no /work/shared data).
"""

import datetime
import importlib.util
import math
import os
import random
import re

import numpy as np
import pytest

import fastrnn

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def load_example(name):
    spec = importlib.util.spec_from_file_location(
        f"example_{name}", os.path.join(EXAMPLES, f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _restore_backend():
    with fastrnn.use_backend(fastrnn.get_backend()):
        yield


def test_spam_classifier_runs(tmp_path, capsys):
    rng = random.Random(0)
    ham = ["ok see you later", "call me when home", "lunch at noon", "thanks for that"]
    spam = ["WIN a FREE prize now", "claim your cash reward txt 80082", "free entry urgent call"]
    lines = ["Label\tSMS"]
    for i in range(48):
        if i % 4 == 0:
            lines.append("spam\t" + rng.choice(spam) + f" {i}")
        else:
            lines.append("ham\t" + rng.choice(ham) + f" {i}")
    path = tmp_path / "sms.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    results = load_example("spam_classifier").main(
        [
            "--data",
            str(path),
            "--epochs",
            "1",
            "--backend",
            "numpy",
            "--verbose",
            "0",
            "--embed-dim",
            "4",
            "--units",
            "4",
            "--maxlen",
            "8",
            "--batch-size",
            "8",
        ]
    )
    out = capsys.readouterr().out
    assert "fastrnn test accuracy:" in out
    acc = results["fastrnn"]["test_accuracy"]
    assert 0.0 <= acc <= 1.0
    assert len(results["fastrnn"]["epoch_seconds"]) == 1


def test_char_lm_runs(tmp_path, capsys):
    text = (
        "ROMEO:\nBut soft, what light through yonder window breaks?\n"
        "JULIET:\nO Romeo, Romeo, wherefore art thou Romeo?\n\n"
    ) * 12
    path = tmp_path / "tiny.txt"
    path.write_text(text, encoding="utf-8")

    results = load_example("char_lm").main(
        [
            "--data",
            str(path),
            "--epochs",
            "1",
            "--backend",
            "numpy",
            "--minutes",
            "0.2",
            "--seq-len",
            "16",
            "--batch-size",
            "8",
            "--embed-dim",
            "4",
            "--units",
            "8",
            "--chunk-batches",
            "2",
            "--sample-len",
            "20",
            "--eval-every",
            "1000",
        ]
    )
    out = capsys.readouterr().out
    assert "fastrnn validation cross-entropy:" in out
    assert "--- sample" in out
    val = results["fastrnn"]["val_loss"]
    assert math.isfinite(val) and val > 0
    assert results["fastrnn"]["batches"] > 0


CONLLU_SENTENCES = [
    [("The", "DET"), ("dog", "NOUN"), ("barks", "VERB"), (".", "PUNCT")],
    [("A", "DET"), ("cat", "NOUN"), ("sleeps", "VERB"), ("quietly", "ADV"), (".", "PUNCT")],
    [("John", "PROPN"), ("saw", "VERB"), ("2", "NUM"), ("birds", "NOUN"), ("!", "PUNCT")],
    [("She", "PRON"), ("is", "AUX"), ("very", "ADV"), ("happy", "ADJ")],
]


def write_conllu(path, n, seed):
    rng = random.Random(seed)
    blocks = []
    for s in range(n):
        sent = rng.choice(CONLLU_SENTENCES)
        rows = [f"# sent_id = s{s}", "# text = " + " ".join(w for w, _ in sent)]
        if s % 5 == 0:  # a multiword token line and an empty node: both must be skipped
            rows.append("1-2\tdon't\t_\t_\t_\t_\t_\t_\t_\t_")
        for i, (w, t) in enumerate(sent, 1):
            rows.append(f"{i}\t{w}\t{w.lower()}\t{t}\t_\t_\t0\tdep\t_\t_")
        if s % 7 == 0:
            rows.append(f"{len(sent)}.1\tgone\tgo\tVERB\t_\t_\t_\t_\t_\t_")
        blocks.append("\n".join(rows))
    path.write_text("\n\n".join(blocks) + "\n\n", encoding="utf-8")


def test_pos_tagger_runs(tmp_path, capsys):
    write_conllu(tmp_path / "en_ewt-ud-dev.conllu", 30, 0)
    write_conllu(tmp_path / "en_ewt-ud-test.conllu", 12, 1)

    results = load_example("pos_tagger").main(
        [
            "--data",
            str(tmp_path),
            "--epochs",
            "1",
            "--backend",
            "numpy",
            "--verbose",
            "0",
            "--embed-dim",
            "4",
            "--units",
            "4",
            "--batch-size",
            "8",
        ]
    )
    out = capsys.readouterr().out
    assert "fastrnn test token accuracy:" in out
    acc = results["fastrnn"]["test_accuracy"]
    assert 0.0 <= acc <= 1.0


def test_conllu_reader_skips_comments_multiword_and_empty_nodes(tmp_path):
    common = load_example("_common")
    write_conllu(tmp_path / "x.conllu", 10, 0)
    sentences = common.load_conllu(str(tmp_path / "x.conllu"))
    assert len(sentences) == 10
    for words, tags in sentences:
        assert len(words) == len(tags)
        assert "don't" not in words and "gone" not in words
        assert all(t.isupper() for t in tags)


def test_addition_seq2seq_runs(capsys):
    argv = "--training-size 200 --digits 2 --epochs 2 --hold-epochs 1 --units 8".split()
    argv += "--backend numpy --verbose 0 --show 3".split()
    results = load_example("addition_seq2seq").main(argv)
    out = capsys.readouterr().out
    assert "fastrnn val per-char accuracy:" in out
    assert out.count(" → ") == 3
    assert "exact match" in out and "learning_rate=0.0042" in out  # 6e-3 * 0.7 in epoch 2
    fastrnn_results = results["fastrnn"]
    assert 0.0 <= fastrnn_results["test_accuracy"] <= 1.0
    assert 0.0 <= fastrnn_results["extras"]["exact match"] <= fastrnn_results["test_accuracy"]
    assert len(fastrnn_results["epoch_seconds"]) == 2


def test_addition_learning_rate_is_held_then_decayed():
    example = load_example("addition_seq2seq")
    args = example.parse_args(
        ["--learning-rate", "0.01", "--hold-epochs", "2", "--lr-decay", "0.5"]
    )
    rates = [example.learning_rate(epoch, args) for epoch in range(5)]
    assert rates == pytest.approx([0.01, 0.01, 0.005, 0.0025, 0.00125], rel=1e-12)
    keras_io = example.parse_args(["--lr-decay", "1", "--learning-rate", "1e-3"])
    assert {example.learning_rate(epoch, keras_io) for epoch in range(30)} == {1e-3}


def test_addition_data_is_distinct_padded_reversed_and_one_hot(capsys):
    example = load_example("addition_seq2seq")
    pairs = example.make_questions(300, 2, random.Random(0))
    assert len({(min(a, b), max(a, b)) for a, b in pairs}) == 300
    assert all(0 <= a < 100 and 0 <= b < 100 for a, b in pairs)
    assert pairs == example.make_questions(300, 2, random.Random(0))  # same data for every peer

    data = example.prepare(example.parse_args(["--training-size", "50"]))
    assert data["x_train"].shape == (45, 7, 12) and data["y_val"].shape == (5, 4, 12)
    assert data["x_train"].dtype == bool and (data["x_val"].sum(axis=-1) == 1).all()
    table = data["table"]
    assert table.chars == sorted("0123456789+ ")  # the keras.io CharacterTable's columns
    for x, y, question, answer in zip(
        data["x_val"], data["y_val"], data["val_questions"], data["val_answers"]
    ):
        assert len(question) == 7 and len(answer) == 4
        assert table.decode(x.argmax(axis=-1)) == question[::-1]  # reversed, as keras.io
        a, b = map(int, question.split("+"))
        assert table.decode(y.argmax(axis=-1)) == answer == str(a + b).ljust(4)
    capsys.readouterr()


@pytest.mark.parametrize("encoder", ["lstm", "bidirectional"])
def test_date_translator_runs(encoder, capsys):
    argv = "--training-size 160 --held-out 40 --epochs 1 --backend numpy --verbose 0".split()
    argv += "--embed-dim 4 --units 8 --batch-size 32 --show 3".split()
    results = load_example("date_translator").main(
        argv + (["--bidirectional"] if encoder == "bidirectional" else [])
    )
    out = capsys.readouterr().out
    assert "fastrnn held-out exact match:" in out
    assert out.count(" → ") >= 3
    fastrnn_results = results["fastrnn"]
    assert 0.0 <= fastrnn_results["test_accuracy"] <= fastrnn_results["extras"]["per-char accuracy"]
    # the inference models (encoder model + one-step decoder model made of the
    # trained layers) fed the true previous characters give the training model's output
    assert float(fastrnn_results["extras"]["step check max dp"]) < 1e-5
    assert len(fastrnn_results["epoch_seconds"]) == 1


def test_date_data_names_one_date_per_input_and_keeps_held_out_days_apart(capsys):
    example = load_example("date_translator")
    written = {}
    for year in (1900, 1949, 1950, 1979, 2000, 2049, 2050, 2079, 2099):
        day = datetime.date(year, 1, 1)
        while day.year == year:
            for _, write, _ in example.formats_for(day):
                text = write(day)
                assert written.setdefault(text, day) == day, text  # no input names two days
                assert set(text) <= set(example.INPUT_CHARS)
            day += datetime.timedelta(days=1)
    may_3 = datetime.date(1979, 5, 3)
    assert {write(may_3) for _, write, _ in example.FORMATS} == {
        name for name, _, _ in example.FORMATS
    }
    assert len(example.formats_for(datetime.date(2050, 1, 1))) < len(example.FORMATS)

    args = example.parse_args(["--training-size", "300", "--held-out", "50"])
    data = example.prepare(args)
    again = example.prepare(args)  # the same data for every framework
    np.testing.assert_array_equal(data["x_train"][0], again["x_train"][0])
    x_train, decoder_in = data["x_train"]
    assert x_train.shape[0] == 300 and data["x_test"].shape[0] == 50
    assert x_train.dtype == np.int32 and decoder_in.shape == data["y_train"].shape == (300, 10)
    assert (decoder_in[:, 0] == example.START).all()
    np.testing.assert_array_equal(decoder_in[:, 1:], data["y_train"][:, :-1])  # teacher forcing
    assert (x_train[:, -1] > 0).all()  # pre-padded: every input ends at the last step
    train_days = set(example.decode_outputs(data["y_train"]))
    test_days = example.decode_outputs(data["y_test"])
    assert len(train_days) == 300 and not train_days & set(test_days)
    for text, iso in zip(data["texts_test"], test_days):
        assert written.get(text, datetime.date.fromisoformat(iso)).isoformat() == iso
    capsys.readouterr()


def test_date_formats_cover_the_leap_day_and_name_it_only():
    example = load_example("date_translator")
    leap_day = datetime.date(2000, 2, 29)
    texts = {write(leap_day) for _, write, _ in example.formats_for(leap_day)}
    assert len(texts) == len(example.FORMATS)  # 2000 takes the two-digit-year formats too
    assert {"29 Feb 00", "02/29/00", "29.2.00", "20000229", "Tuesday, February 29 2000"} <= texts


@pytest.mark.parametrize(
    ("name", "argv", "message"),
    [
        ("addition_seq2seq", ["--training-size", "5"], "--training-size must be between 10"),
        ("addition_seq2seq", ["--digits", "1", "--training-size", "56"], "and 55"),
        ("addition_seq2seq", ["--digits", "0"], "--digits must be at least 1, got 0"),
        ("addition_seq2seq", ["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
        ("addition_seq2seq", ["--hold-epochs", "-1"], "--hold-epochs must be at least 0"),
        ("addition_seq2seq", ["--lr-decay", "1.5"], "--lr-decay in (0, 1]"),
        ("date_translator", ["--held-out", "0"], "--held-out must be at least 1, got 0"),
        ("date_translator", ["--training-size", "73000"], "got 73000 + 2000"),
        ("date_translator", ["--bidirectional", "--units", "7"], "even --units"),
    ],
)
def test_generated_data_examples_reject_bad_arguments(name, argv, message, capsys):
    with pytest.raises(SystemExit):
        load_example(name).parse_args(argv)
    assert message in capsys.readouterr().err


def test_run_comparison_adds_extra_columns_and_reports_missing_peers(monkeypatch, capsys):
    common = load_example("_common")
    monkeypatch.setattr(common, "peer_available", lambda name: name == "keras")
    runners = {
        "fastrnn": lambda data, args: ([2.0, 1.0, 1.5], 0.75, {"exact match": 0.5}),
        "keras": lambda data, args: ([3.0, 2.0], 0.7, {"exact match": 0.25}),
    }
    args = common.base_parser("test", default_data=None, default_epochs=1).parse_args(
        ["--compare", "all"]
    )
    assert not hasattr(args, "data")
    results = common.run_comparison(args, None, runners, "accuracy")
    out = capsys.readouterr().out
    assert results["fastrnn"] == {
        "test_accuracy": 0.75,
        "epoch_seconds": [2.0, 1.0, 1.5],
        "extras": {"exact match": 0.5},
    }
    assert set(results) == {"fastrnn", "keras"}
    assert "torch: this example has no torch version, skipped" in out
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| ")]
    header, *body = [[cell.strip() for cell in row] for row in rows]
    assert header[3:] == ["accuracy", "exact match", "note"]
    assert body[0][:5] == ["fastrnn", "2.0000", "1.2500", "0.7500", "0.5000"]
    assert body[1][4] == "0.2500" and body[2] == [
        "torch",
        "-",
        "-",
        "-",
        "-",
        "no version of this example",
    ]


def test_print_table_escapes_pipes_so_it_stays_markdown(capsys):
    load_example("_common").print_table(["max |dp|", "s"], [["1e-07 | 2e-07", 1.5]])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert all(len(re.split(r"(?<!\\)\|", line)) == 4 for line in lines)  # 2 cells each
    assert "max \\|dp\\|" in lines[0]


def test_fit_timed_passes_the_true_epoch_to_callbacks():
    common = load_example("_common")
    seen = []

    class Recorder(fastrnn.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(epoch)

    model = fastrnn.Sequential([fastrnn.Input(shape=(3,)), fastrnn.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x = np.zeros((8, 3), dtype="float32")
    times, history = common.fit_timed(
        model, x, x[:, :1], epochs=3, batch_size=4, verbose=0, callbacks=[Recorder()]
    )
    assert seen == [0, 1, 2] and len(times) == 3 and len(history["loss"]) == 3


TINY_TWIN_RUNS = {
    "addition_seq2seq": "--training-size 200 --digits 2 --units 8 --show 1",
    "date_translator": "--training-size 160 --held-out 40 --embed-dim 4 --units 8 --show 1",
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TINY_TWIN_RUNS))
def test_generated_data_examples_build_their_keras_twin(name, capsys):
    pytest.importorskip("tensorflow")
    pytest.importorskip("keras")
    argv = TINY_TWIN_RUNS[name].split()
    argv += "--epochs 1 --batch-size 32 --backend numpy --verbose 0 --compare keras".split()
    results = load_example(name).main(argv)
    out = capsys.readouterr().out
    assert set(results) == {"fastrnn", "keras"}
    assert results["keras"]["extras"].keys() == results["fastrnn"]["extras"].keys()
    assert 0.0 <= results["keras"]["test_accuracy"] <= 1.0
    assert "| keras " in out
    if name == "date_translator":  # Keras's inference models reproduce its training model too
        assert float(results["keras"]["extras"]["step check max dp"]) < 1e-5
