"""The standard benchmark grid (see docs/benchmarks.md): shapes, cells, modes, FLOPs."""

SHAPES = {
    "tiny": dict(batch=1, timesteps=10, input_dim=4, units=8),
    "small": dict(batch=1, timesteps=100, input_dim=32, units=64),
    "medium": dict(batch=32, timesteps=50, input_dim=100, units=128),
    "large": dict(batch=64, timesteps=100, input_dim=256, units=512),
}
DEFAULT_SHAPES = ("tiny", "small", "medium")
FULL_SHAPES = ("tiny", "small", "medium", "large")

CELLS = ("simple_rnn", "lstm", "gru")
CELL_LABELS = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}
MODES = ("forward", "train")

#: The single-step benchmark: one LSTM step, batch 1, input 32, units 64.
STEP_SHAPE = dict(batch=1, input_dim=32, units=64)

#: The packed variable-length benchmark (fastrnn.torch against torch.nn): an
#: LSTM over a PackedSequence of ``batch`` sequences whose lengths spread
#: evenly over ``min_length``..``timesteps`` (:func:`packed_lengths`).
PACKED_SHAPE = dict(batch=32, timesteps=100, input_dim=64, units=128, min_length=10)

_CELL_ALIASES = {
    "simple_rnn": "simple_rnn",
    "simplernn": "simple_rnn",
    "rnn": "simple_rnn",
    "simple": "simple_rnn",
    "lstm": "lstm",
    "gru": "gru",
}


def parse_cell(name):
    """Canonical cell name for a user-given one (``SimpleRNN``, ``rnn``, ``lstm`` ...)."""
    key = name.strip().lower().replace("-", "_")
    if key not in _CELL_ALIASES:
        raise ValueError(
            f"Unknown cell {name!r} in `--cells`; expected some of {['simple_rnn', 'lstm', 'gru']}"
        )
    return _CELL_ALIASES[key]


def forward_flops(cell, shape):
    """Forward FLOPs of the GEMMs: ``2*T*B*(D+H)*G*H``, G the cell's gate count."""
    # imported here: fastrnn.ops imports NumPy, which must come after the bench's
    # thread-count variables are set (fastrnn.bench.threads)
    from fastrnn.ops import CELLS as CELL_SPECS

    s = SHAPES[shape] if isinstance(shape, str) else shape
    gates = CELL_SPECS[cell].gates
    return 2 * s["timesteps"] * s["batch"] * (s["input_dim"] + s["units"]) * gates * s["units"]


def mode_flops(cell, shape, mode):
    """FLOPs of one call in ``mode``; ``train`` counts as 3x forward."""
    return forward_flops(cell, shape) * (3 if mode == "train" else 1)


def packed_lengths(shape=None, seed=0):
    """The sequence lengths of the packed benchmark, in a shuffled (unsorted) order.

    Parameters
    ----------
    shape : dict, optional
        ``batch``, ``timesteps`` and ``min_length``; default :data:`PACKED_SHAPE`.
    seed : int

    Returns
    -------
    ndarray of int64, shape (batch,)
        Evenly spread over ``min_length``..``timesteps`` (both included).
    """
    import numpy as np

    s = PACKED_SHAPE if shape is None else shape
    lengths = np.linspace(s["min_length"], s["timesteps"], s["batch"]).round().astype(np.int64)
    np.random.default_rng(seed).shuffle(lengths)
    return lengths
