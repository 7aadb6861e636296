"""Tokenizer and pad_sequences against Keras semantics (expected values worked out by hand)."""

import numpy as np
import pytest

from fastrnn.preprocessing import Tokenizer, pad_sequences, text_to_word_sequence

TEXTS = ["The cat sat on the mat.", "The dog ate my homework!", "Cat, dog; cat?"]


def test_text_to_word_sequence():
    assert text_to_word_sequence("Hello, World!  Foo\tbar") == ["hello", "world", "foo", "bar"]
    assert text_to_word_sequence("A-B", filters="", lower=False) == ["A-B"]


def test_word_index_by_frequency_ties_first_seen():
    tok = Tokenizer()
    tok.fit_on_texts(TEXTS)
    # counts: the 3, cat 3, sat 1, on 1, mat 1, dog 2, ate 1, my 1, homework 1
    assert list(tok.word_index.items())[:3] == [("the", 1), ("cat", 2), ("dog", 3)]
    assert tok.word_index["sat"] == 4 and tok.word_index["homework"] == 9
    assert tok.index_word[2] == "cat"
    assert tok.word_counts["cat"] == 3 and tok.document_count == 3
    assert tok.word_docs["cat"] == 2
    assert tok.texts_to_sequences(["the cat ate a fish"]) == [[1, 2, 7]]


def test_num_words_keeps_top_minus_one():
    tok = Tokenizer(num_words=3)
    tok.fit_on_texts(TEXTS)
    assert len(tok.word_index) == 9  # word_index keeps everything, like Keras
    assert tok.texts_to_sequences(["the cat dog sat"]) == [[1, 2]]


def test_oov_token():
    tok = Tokenizer(num_words=4, oov_token="<OOV>")
    tok.fit_on_texts(TEXTS)
    assert tok.word_index["<OOV>"] == 1 and tok.word_index["the"] == 2
    # 'dog' has index 4 >= num_words -> OOV; 'zebra' unknown -> OOV
    assert tok.texts_to_sequences(["the cat dog zebra"]) == [[2, 3, 1, 1]]
    assert tok.sequences_to_texts([[2, 3, 1]]) == ["the cat <OOV>"]


def test_char_level_and_lower():
    tok = Tokenizer(char_level=True)
    tok.fit_on_texts(["aAb"])
    assert tok.word_index == {"a": 1, "b": 2}
    tok = Tokenizer(lower=False)
    tok.fit_on_texts(["A a a"])
    assert tok.word_index == {"a": 1, "A": 2}


def test_tokenizer_bad_arguments():
    with pytest.raises(ValueError, match="num_words"):
        Tokenizer(num_words=0)
    with pytest.raises(TypeError, match="oov_token"):
        Tokenizer(oov_token=1)
    with pytest.raises(TypeError, match="single str"):
        Tokenizer().fit_on_texts("just one text")
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        Tokenizer().fit_on_texts(["ok", 3])


SEQS = [[1, 2, 3], [4, 5], [6, 7, 8, 9, 10]]


def test_pad_default_pre_to_longest():
    out = pad_sequences(SEQS)
    assert out.dtype == np.int32 and out.shape == (3, 5)
    np.testing.assert_array_equal(out, [[0, 0, 1, 2, 3], [0, 0, 0, 4, 5], [6, 7, 8, 9, 10]])


def test_pad_post_and_truncating():
    np.testing.assert_array_equal(pad_sequences(SEQS, maxlen=3), [[1, 2, 3], [0, 4, 5], [8, 9, 10]])
    np.testing.assert_array_equal(
        pad_sequences(SEQS, maxlen=3, truncating="post"), [[1, 2, 3], [0, 4, 5], [6, 7, 8]]
    )
    np.testing.assert_array_equal(
        pad_sequences(SEQS, maxlen=4, padding="post", truncating="post"),
        [[1, 2, 3, 0], [4, 5, 0, 0], [6, 7, 8, 9]],
    )
    np.testing.assert_array_equal(
        pad_sequences(SEQS, maxlen=4, padding="post", value=-1),
        [[1, 2, 3, -1], [4, 5, -1, -1], [7, 8, 9, 10]],
    )


def test_pad_empty_and_dtype():
    out = pad_sequences([[], [1.5]], dtype="float32")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0.0], [1.5]])
    assert pad_sequences([]).shape == (0, 0)
    assert pad_sequences(SEQS, maxlen=0).shape == (3, 0)
    multi = pad_sequences([[[1, 2]], [[3, 4], [5, 6]]])
    assert multi.shape == (2, 2, 2)
    np.testing.assert_array_equal(multi[0], [[0, 0], [1, 2]])


def test_pad_bad_arguments():
    with pytest.raises(ValueError, match="padding"):
        pad_sequences(SEQS, padding="middle")
    with pytest.raises(ValueError, match="truncating"):
        pad_sequences(SEQS, truncating="both")
    with pytest.raises(ValueError, match="maxlen"):
        pad_sequences(SEQS, maxlen=-1)
    with pytest.raises(TypeError, match="maxlen"):
        pad_sequences(SEQS, maxlen=2.5)
    with pytest.raises(ValueError, match=r"sequences\[1\]"):
        pad_sequences([[1], 5])
    with pytest.raises(ValueError, match="value"):
        pad_sequences(SEQS, value="x")


def test_tokenizer_to_model_input():
    tok = Tokenizer(num_words=50, oov_token="<unk>")
    tok.fit_on_texts(TEXTS)
    x = pad_sequences(tok.texts_to_sequences(TEXTS), maxlen=6)
    assert x.shape == (3, 6) and x.max() < 50 and x.min() >= 0


def test_to_categorical():
    from fastrnn.preprocessing import to_categorical

    np.testing.assert_array_equal(to_categorical([0, 2, 1]), np.eye(3)[[0, 2, 1]])
    out = to_categorical(np.array([[1], [0]]), num_classes=4)
    assert out.shape == (2, 4) and out.dtype == np.float32
    assert to_categorical(np.array([[0, 1], [1, 1]])).shape == (2, 2, 2)
    with pytest.raises(ValueError, match="got 3"):
        to_categorical([0, 3], num_classes=3)
    with pytest.raises(ValueError, match="num_classes"):
        to_categorical([0], num_classes=0)
