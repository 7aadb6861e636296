"""The recurrent-dropout cases of tests/test_recurrent_dropout.py and of the
Keras golden generator (tests/golden/make_keras_dropout_goldens.py).

Every array of a case comes from a fixed seed, so the goldens file holds only
what Keras computed.
"""

import numpy as np

BATCH, TIMESTEPS, FEATURES, UNITS = 4, 5, 3, 3
RATE_IN, RATE_REC = 0.3, 0.4

GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}

_LAYERS = [("SimpleRNN", None), ("LSTM", None), ("GRU", True), ("GRU", False)]
_RATES = {"input": (RATE_IN, 0.0), "recurrent": (0.0, RATE_REC), "both": (RATE_IN, RATE_REC)}


def _name(layer, reset_after):
    return layer if reset_after is None else f"{layer}_reset_after_{reset_after}"


#: name -> {layer, reset_after, dropout, recurrent_dropout, go_backwards, masked}
CASES = {
    f"{_name(layer, reset_after)}/{rates}{suffix}": {
        "layer": layer,
        "reset_after": reset_after,
        "dropout": _RATES[rates][0],
        "recurrent_dropout": _RATES[rates][1],
        "go_backwards": suffix == "_masked_backwards",
        "masked": suffix == "_masked_backwards",
    }
    for layer, reset_after in _LAYERS
    for rates in _RATES
    for suffix in ("", "_masked_backwards")
}


def mask_counts(layer, dropout, recurrent_dropout):
    """Keras 3's mask counts ``(M, R)``: one input mask for every gate, unless
    ``recurrent_dropout`` is on, which gives every gate its own masks."""
    gates = GATES[layer]
    inputs = (gates if recurrent_dropout else 1) if dropout else 0
    return inputs, gates if recurrent_dropout else 0


def _keep(rng, shape, rate):
    return (rng.random(shape) >= rate) / (1.0 - rate)


def case_arrays(name):
    """The float64 arrays of case ``name``: weights (Keras's order), x, mask,
    dropout masks in fastrnn's kernel layout, and a projection of the output."""
    case = CASES[name]
    rng = np.random.default_rng(_seed(name))
    gates = GATES[case["layer"]]
    kernel = rng.uniform(-0.6, 0.6, (FEATURES, gates * UNITS))
    recurrent = rng.uniform(-0.6, 0.6, (UNITS, gates * UNITS))
    bias_shape = (2, gates * UNITS) if case["reset_after"] else (gates * UNITS,)
    bias = rng.uniform(-0.3, 0.3, bias_shape)
    x = rng.standard_normal((BATCH, TIMESTEPS, FEATURES))
    mask = None
    if case["masked"]:
        mask = rng.random((BATCH, TIMESTEPS)) > 0.3
        mask[0] = False  # an all-masked row
    m, r = mask_counts(case["layer"], case["dropout"], case["recurrent_dropout"])
    return {
        "units": UNITS,
        "weights": [kernel, recurrent, bias],
        "x": x,
        "mask": mask,
        "dropout_mask": _keep(rng, (m, BATCH, FEATURES), RATE_IN),
        "recurrent_dropout_mask": _keep(rng, (r, BATCH, UNITS), RATE_REC),
        "projection": rng.standard_normal((BATCH, TIMESTEPS, UNITS)),
    }


def _seed(name):
    """A seed that does not depend on Python's string hashing."""
    return int.from_bytes(name.encode(), "little") % 2**32
