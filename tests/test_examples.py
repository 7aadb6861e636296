"""Smoke tests for the examples in examples/: each script's main() runs end to end.

Every test writes a tiny synthetic data file in the right format to tmp_path
and trains a tiny model for one short epoch on the NumPy reference backend
(no JIT compilation, no torch/tensorflow, no /work/shared data).
"""

import importlib.util
import math
import os
import random

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
