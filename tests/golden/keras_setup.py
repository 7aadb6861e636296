"""What the golden generators share: Keras 3 on TensorFlow, quiet, and the
tests directory importable (for the cases the tests define).

    from keras_setup import HERE, keras, tf
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
import tensorflow as tf

#: This directory, where the goldens are written.
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

__all__ = ["HERE", "keras", "tf"]
