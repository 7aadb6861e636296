"""Embedding updates by every optimizer and clipping, shared by
tests/test_embedding_updates.py and its Keras golden generator."""

import numpy as np

#: Three batches of ids (rows seen several times) and their upstream gradients.
BATCHES = [np.array([[1, 1, 1, 1, 2]]), np.array([[2, 3, 3, 0, 1]]), np.array([[4, 4, 1, 1, 1]])]
UPSTREAM = [np.random.default_rng(i).standard_normal((1, 5, 2)).astype("float32") for i in range(3)]

#: name -> function of an optimizers module (keras.optimizers or fastrnn.optimizers).
OPTIMIZERS = {
    "adam": lambda o: o.Adam(0.1),
    "adam_clipvalue": lambda o: o.Adam(0.1, clipvalue=0.5),
    "adam_global_clipnorm": lambda o: o.Adam(0.05, global_clipnorm=0.7),
    "rmsprop": lambda o: o.RMSprop(0.05),
    "rmsprop_clipnorm": lambda o: o.RMSprop(0.05, clipnorm=0.7),
    "rmsprop_centered_momentum": lambda o: o.RMSprop(0.1, centered=True, momentum=0.5),
    "rmsprop_global_clipnorm": lambda o: o.RMSprop(0.05, global_clipnorm=0.7),
    "sgd_clipnorm": lambda o: o.SGD(0.1, clipnorm=0.5),
    "sgd_momentum": lambda o: o.SGD(0.1, momentum=0.9),
}
