"""``keras.preprocessing.text``'s layout: :class:`Tokenizer` and
:func:`text_to_word_sequence` (defined in :mod:`fastrnn.preprocessing`)."""

from . import Tokenizer, text_to_word_sequence

__all__ = ["Tokenizer", "text_to_word_sequence"]
