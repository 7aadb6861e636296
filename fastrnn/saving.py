"""Saving and loading whole models. (Placeholder: the training issue fills it.)"""


def load_model(path):
    raise NotImplementedError("load_model is not implemented yet")
