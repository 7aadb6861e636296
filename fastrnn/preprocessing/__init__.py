"""Text preprocessing with Keras semantics: ``Tokenizer`` and ``pad_sequences``.

``Tokenizer`` follows ``keras.preprocessing.text.Tokenizer``: words are
indexed from 1 by decreasing frequency (ties keep first-seen order), index 0
is reserved for padding; with ``oov_token`` the OOV token gets index 1;
``num_words`` keeps only indices ``< num_words`` when converting texts
(``word_index`` itself keeps every word, as in Keras).

``pad_sequences`` follows ``keras.utils.pad_sequences``: ``padding`` and
``truncating`` are ``"pre"`` (default) or ``"post"``; ``maxlen=None`` pads to
the longest sequence.
"""

from collections import OrderedDict, defaultdict

import numpy as np

from .._validation import check_int

__all__ = ["Tokenizer", "text_to_word_sequence", "pad_sequences", "to_categorical"]

DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


def text_to_word_sequence(text, filters=DEFAULT_FILTERS, lower=True, split=" "):
    """Split a text into words: lowercase, replace filter characters by ``split``, split."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}: {text!r}")
    if lower:
        text = text.lower()
    if filters:
        text = text.translate(str.maketrans({c: split for c in filters}))
    return [w for w in text.split(split) if w]


def _check_texts(texts, argument):
    if isinstance(texts, str):
        raise TypeError(f"{argument} must be a list of texts, got a single str; wrap it in a list")
    try:
        texts = list(texts)
    except TypeError:
        raise TypeError(f"{argument} must be a list of texts, got {type(texts).__name__}") from None
    for i, t in enumerate(texts):
        if not isinstance(t, str) and not (
            isinstance(t, (list, tuple)) and all(isinstance(w, str) for w in t)
        ):
            raise TypeError(
                f"{argument}[{i}] must be a str (or a list of str tokens), got "
                f"{type(t).__name__}: {t!r}"
            )
    return texts


class Tokenizer:
    """Vectorise texts into sequences of word indices (Keras semantics).

    Parameters
    ----------
    num_words : int or None
        Keep only the ``num_words - 1`` most frequent words when converting.
    filters : str
        Characters removed from the texts (Keras's default punctuation set).
    lower : bool
    split : str
        Word separator.
    char_level : bool
        Index characters instead of words.
    oov_token : str or None
        Token replacing out-of-vocabulary words (index 1) when set.
    """

    def __init__(
        self,
        num_words=None,
        filters=DEFAULT_FILTERS,
        lower=True,
        split=" ",
        char_level=False,
        oov_token=None,
        document_count=0,
    ):
        if num_words is not None and (
            isinstance(num_words, bool)
            or not isinstance(num_words, (int, np.integer))
            or num_words < 1
        ):
            raise ValueError(f"num_words must be a positive integer or None, got {num_words!r}")
        if not isinstance(filters, str):
            raise TypeError(f"filters must be a str of characters to remove, got {filters!r}")
        if not isinstance(split, str) or not split:
            raise ValueError(f"split must be a non-empty str, got {split!r}")
        if oov_token is not None and not isinstance(oov_token, str):
            raise TypeError(f"oov_token must be a str or None, got {oov_token!r}")
        self.num_words = None if num_words is None else int(num_words)
        self.filters = filters
        self.lower = bool(lower)
        self.split = split
        self.char_level = bool(char_level)
        self.oov_token = oov_token
        self.document_count = document_count
        self.word_counts = OrderedDict()
        self.word_docs = defaultdict(int)
        self.word_index = {}
        self.index_word = {}
        self.index_docs = defaultdict(int)

    def _tokens(self, text):
        if self.char_level or isinstance(text, (list, tuple)):
            if self.lower:
                text = (
                    [t.lower() for t in text] if isinstance(text, (list, tuple)) else text.lower()
                )
            return list(text)
        return text_to_word_sequence(text, self.filters, self.lower, self.split)

    def fit_on_texts(self, texts):
        """Update the vocabulary from a list of texts (strings or lists of tokens)."""
        texts = _check_texts(texts, "texts")
        for text in texts:
            self.document_count += 1
            seq = self._tokens(text)
            for w in seq:
                self.word_counts[w] = self.word_counts.get(w, 0) + 1
            for w in set(seq):
                self.word_docs[w] += 1
        wcounts = list(self.word_counts.items())
        wcounts.sort(key=lambda item: item[1], reverse=True)  # stable: ties keep first-seen order
        sorted_voc = [] if self.oov_token is None else [self.oov_token]
        sorted_voc.extend(w for w, _ in wcounts)
        self.word_index = dict(zip(sorted_voc, range(1, len(sorted_voc) + 1)))
        self.index_word = {i: w for w, i in self.word_index.items()}
        self.index_docs = defaultdict(int)
        for w, c in self.word_docs.items():
            if w in self.word_index:
                self.index_docs[self.word_index[w]] = c

    def texts_to_sequences(self, texts):
        """A list of lists of word indices, one per text."""
        return list(self.texts_to_sequences_generator(texts))

    def texts_to_sequences_generator(self, texts):
        texts = _check_texts(texts, "texts")
        num_words = self.num_words
        oov_index = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        for text in texts:
            vect = []
            for w in self._tokens(text):
                i = self.word_index.get(w)
                if i is not None:
                    if num_words and i >= num_words:
                        if oov_index is not None:
                            vect.append(oov_index)
                    else:
                        vect.append(i)
                elif self.oov_token is not None:
                    vect.append(oov_index)
            yield vect

    def sequences_to_texts(self, sequences):
        """Back from index sequences to space-joined texts (unknown indices dropped or OOV)."""
        oov_index = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        out = []
        for seq in sequences:
            words = []
            for i in seq:
                i = int(i)
                w = self.index_word.get(i)
                if w is not None and not (self.num_words and i >= self.num_words):
                    words.append(w)
                elif oov_index is not None:
                    words.append(self.index_word[oov_index])
            out.append(("" if self.char_level else " ").join(words))
        return out

    def get_config(self):
        return {
            "num_words": self.num_words,
            "filters": self.filters,
            "lower": self.lower,
            "split": self.split,
            "char_level": self.char_level,
            "oov_token": self.oov_token,
            "document_count": self.document_count,
        }


def pad_sequences(
    sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0
):
    """Pad (and truncate) sequences to a common length; returns ``(n, maxlen)`` array.

    Keras semantics: ``padding="pre"`` pads at the start, ``"post"`` at the
    end; ``truncating="pre"`` drops values from the start of sequences longer
    than ``maxlen``, ``"post"`` from the end. Empty sequences become all
    ``value``.
    """
    if padding not in ("pre", "post"):
        raise ValueError(f'padding must be "pre" or "post", got {padding!r}')
    if truncating not in ("pre", "post"):
        raise ValueError(f'truncating must be "pre" or "post", got {truncating!r}')
    maxlen = check_int(maxlen, "maxlen", 0, allow_none=True)
    if isinstance(sequences, (str, bytes)) or not hasattr(sequences, "__len__"):
        raise ValueError(
            f"sequences must be a list of sequences (lists of numbers), got "
            f"{type(sequences).__name__}"
        )
    lengths = []
    sample_shape = ()
    found_shape = False
    for i, s in enumerate(sequences):
        if isinstance(s, (str, bytes)) or not hasattr(s, "__len__"):
            raise ValueError(
                f"sequences[{i}] must be a sequence (list or array), got {type(s).__name__}: {s!r}"
            )
        lengths.append(len(s))
        if not found_shape and len(s):
            sample_shape = np.asarray(s).shape[1:]
            found_shape = True
    num_samples = len(lengths)
    if maxlen is None:
        maxlen = max(lengths) if lengths else 0
    try:
        np_dtype = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"dtype must be a NumPy dtype, got {dtype!r}") from None
    is_str = np.issubdtype(np_dtype, np.str_) or np_dtype == np.dtype(object)
    if isinstance(value, str) and not is_str:
        raise ValueError(
            f"value is a str ({value!r}) but dtype is {dtype!r}; use dtype=object or a "
            f"str dtype, or a numeric value"
        )
    x = np.full((num_samples, maxlen) + tuple(sample_shape), value, dtype=np_dtype)
    if maxlen == 0:
        return x
    for idx, s in enumerate(sequences):
        if not len(s):
            continue
        trunc = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        try:
            trunc = np.asarray(trunc, dtype=np_dtype)
        except (ValueError, TypeError) as exc:
            raise ValueError(
                f"sequences[{idx}] could not be converted to dtype {dtype!r}: {exc}"
            ) from None
        if trunc.shape[1:] != tuple(sample_shape):
            raise ValueError(
                f"Shape of sample {trunc.shape[1:]} of sequence at position {idx} is "
                f"different from expected shape {tuple(sample_shape)}"
            )
        if padding == "post":
            x[idx, : len(trunc)] = trunc
        else:
            x[idx, -len(trunc) :] = trunc
    return x


def to_categorical(x, num_classes=None, dtype="float32"):
    """One-hot encode integer class labels (``keras.utils.to_categorical``).

    A trailing axis of size 1 is dropped first, so ``(n, 1)`` labels give
    ``(n, num_classes)``; ``num_classes`` defaults to ``max(x) + 1``.
    """
    arr = np.asarray(x)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"x must be an array of integer class labels, got dtype {arr.dtype}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError("x must hold integer class labels; got non-integer values")
    y = arr.astype(np.int64)
    shape = y.shape
    if shape and shape[-1] == 1 and len(shape) > 1:
        shape = shape[:-1]
    y = y.reshape(-1)
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    elif (
        isinstance(num_classes, bool)
        or not isinstance(num_classes, (int, np.integer))
        or num_classes < 1
    ):
        raise ValueError(f"num_classes must be a positive integer or None, got {num_classes!r}")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        bad = int(y.min()) if y.min() < 0 else int(y.max())
        raise ValueError(f"x must hold class indices in [0, {num_classes}), got {bad}")
    out = np.zeros((y.size, int(num_classes)), dtype=dtype)
    out[np.arange(y.size), y] = 1
    return out.reshape(shape + (int(num_classes),))


def __getattr__(name):
    """``fastrnn.preprocessing.text`` and ``.sequence`` (Keras's layout), on first use."""
    if name in ("text", "sequence"):
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
