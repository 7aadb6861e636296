"""Training for Sequential models: compile, fit, evaluate, predict, save.

(Placeholder: the training issue fills this module.)
"""


class TrainingMixin:
    """Methods Sequential gets for training; see the module docstring."""
