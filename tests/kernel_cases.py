"""Random kernel-level cases shared by the equivalence and gradient tests.

A case is every argument of one recurrent kernel call. ``loss(case, record)``
is a fixed random linear function of all forward results, so its gradient
exercises ``d_outputs`` and every ``d_final_states`` at once.
"""

from dataclasses import dataclass, field

import numpy as np

from fastrnn import activations, ops

CELL_NAMES = ("simple_rnn", "lstm", "gru")

#: Every cell with its variants: ``(cell, make_case keyword arguments)``.
CELL_VARIANTS = [
    ("simple_rnn", {}),
    ("lstm", {}),
    ("gru", {"reset_after": True}),
    ("gru", {"reset_after": False}),
]

#: Per dtype: (tolerance on outputs and states, tolerance on gradients).
_TOLERANCES = {np.dtype(np.float64): (1e-10, 1e-10), np.dtype(np.float32): (1e-5, 1e-4)}


def tolerance(dtype, kind="outputs", expected=None):
    """``(rtol, atol)`` for comparing a backend's results with the reference's.

    Parameters
    ----------
    dtype : numpy dtype
        float32 or float64.
    kind : {"outputs", "gradients"}
        ``"outputs"`` (outputs, states, recorded gates): ``rtol = atol =``
        1e-10 in float64, 1e-5 in float32. ``"gradients"``: ``rtol = 0`` and
        ``atol =`` 1e-10 (float64) or 1e-4 (float32) times the largest
        magnitude in ``expected`` (at least 1), a tolerance relative to the
        array as a whole: an entry near zero carries the rounding of the
        large entries it was summed from.
    expected : array_like, optional
        The reference's gradient (``kind="gradients"`` only).

    Returns
    -------
    rtol, atol : float
    """
    output_tol, gradient_tol = _TOLERANCES[np.dtype(dtype)]
    if kind == "outputs":
        return output_tol, output_tol
    if kind == "gradients":
        if expected is not None and not np.all(np.isfinite(expected)):
            raise ValueError("tolerance: the expected gradient is not finite; nothing to compare")
        scale = 1.0 if expected is None else float(np.max(np.abs(expected), initial=0.0))
        return 0.0, gradient_tol * max(scale, 1.0)
    raise ValueError(f"kind must be 'outputs' or 'gradients', got {kind!r}")


@dataclass
class Case:
    cell: str
    x: np.ndarray
    mask: np.ndarray
    states: list
    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    bias: np.ndarray
    options: dict
    d_outputs: np.ndarray
    d_states: list = field(default_factory=list)
    dropout_mask: np.ndarray | None = None
    recurrent_dropout_mask: np.ndarray | None = None

    @property
    def params(self):
        """The arrays a gradient check perturbs, by name."""
        named = {
            "x": self.x,
            "kernel": self.kernel,
            "recurrent_kernel": self.recurrent_kernel,
            "bias": self.bias,
        }
        for i, s in enumerate(self.states):
            named[f"state{i}"] = s
        return named


def as_float64(case):
    """The same case in float64 (the same values, exactly): to tell how far a
    float32 result is from the exact one."""

    def up(a):
        return a.astype(np.float64)

    return Case(
        cell=case.cell,
        x=up(case.x),
        mask=case.mask,
        states=[up(s) for s in case.states],
        kernel=up(case.kernel),
        recurrent_kernel=up(case.recurrent_kernel),
        bias=up(case.bias),
        options=dict(case.options),
        d_outputs=up(case.d_outputs),
        d_states=[up(d) for d in case.d_states],
        dropout_mask=None if case.dropout_mask is None else up(case.dropout_mask),
        recurrent_dropout_mask=(
            None if case.recurrent_dropout_mask is None else up(case.recurrent_dropout_mask)
        ),
    )


#: The dropout variants of :func:`make_case`: (input masks M, recurrent masks R)
#: as counts, "G" for the cell's gate count. Keras draws "input" (dropout
#: only), "recurrent" (recurrent_dropout only) and "both"; "input_per_gate"
#: is valid for the kernels too.
DROPOUT_VARIANTS = {
    "none": (0, 0),
    "input": (1, 0),
    "recurrent": (0, "G"),
    "both": ("G", "G"),
    "input_per_gate": ("G", 0),
}


def dropout_masks(cell, dropout, batch, features, units, dtype, rng, rate=0.3):
    """Keras-like masks (entries 0 or 1 / (1 - rate)) of a :data:`DROPOUT_VARIANTS`
    variant: ``(dropout_mask, recurrent_dropout_mask)``, None where absent."""
    gates = ops.CELLS[cell].gates
    counts = [gates if n == "G" else n for n in DROPOUT_VARIANTS[dropout]]
    masks = []
    for count, size in zip(counts, (features, units)):
        if count == 0:
            masks.append(None)
            continue
        keep = rng.random((count, batch, size)) >= rate
        masks.append((keep / (1 - rate)).astype(dtype))
    return tuple(masks)


def make_case(
    cell,
    batch=3,
    timesteps=5,
    features=4,
    units=6,
    dtype=np.float64,
    seed=0,
    mask="none",
    go_backwards=False,
    zero_output_for_mask=False,
    activation="tanh",
    recurrent_activation="sigmoid",
    reset_after=True,
    scale=0.5,
    dropout="none",
):
    """Build a random case.

    mask : {"none", "random", "leading", "all_masked_row", "trailing", "sorted_lengths",
            "shuffled_lengths", "pre_padded"}
        ``sorted_lengths``: post-padded rows of lengths T down to 0, longest
        first (a ``PackedSequence``'s batch: the valid rows of every step
        come first); ``shuffled_lengths``: the same rows in a random order;
        ``pre_padded``: the sorted lengths' masks reversed in time.
    dropout : a key of :data:`DROPOUT_VARIANTS`
    """
    rng = np.random.default_rng(seed)
    spec = ops.CELLS[cell]
    g = spec.gates

    def rand(*shape):
        return (scale * rng.standard_normal(shape)).astype(dtype)

    x = rand(batch, timesteps, features)
    m = np.ones((batch, timesteps), dtype=bool)
    if mask == "random":
        m = rng.random((batch, timesteps)) > 0.3
    elif mask == "leading" and timesteps > 1:
        m[:, : timesteps // 2] = False
    elif mask == "trailing" and timesteps > 1:
        m[:, timesteps // 2 :] = False
    elif mask == "all_masked_row":
        m = rng.random((batch, timesteps)) > 0.3
        m[0] = False
    elif mask in ("sorted_lengths", "shuffled_lengths", "pre_padded"):
        lengths = np.linspace(timesteps, 0, batch).round().astype(int) if batch > 1 else [1]
        m = np.arange(timesteps)[None, :] < np.asarray(lengths)[:, None]
        if mask == "shuffled_lengths":
            m = m[rng.permutation(batch)]
        elif mask == "pre_padded":
            m = np.ascontiguousarray(m[:, ::-1])
    states = [rand(batch, units) for _ in spec.state_names]
    if cell == "gru":
        bias = rand(2, g * units)
        if not reset_after:
            bias[1] = 0
    else:
        bias = rand(g * units)
    options = dict(
        activation=activations.get_code(activation),
        go_backwards=go_backwards,
        zero_output_for_mask=zero_output_for_mask,
    )
    if cell != "simple_rnn":
        options["recurrent_activation"] = activations.get_code(recurrent_activation)
    if cell == "gru":
        options["reset_after"] = reset_after
    case = Case(
        cell=cell,
        x=x,
        mask=m,
        states=states,
        kernel=rand(features, g * units),
        recurrent_kernel=rand(units, g * units),
        bias=bias,
        options=options,
        d_outputs=rand(batch, timesteps, units),
        d_states=[rand(batch, units) for _ in spec.state_names],
    )
    if dropout != "none":
        # drawn after everything else, so the other arrays are those of the
        # same case without dropout
        case.dropout_mask, case.recurrent_dropout_mask = dropout_masks(
            cell, dropout, batch, features, units, dtype, rng
        )
    return case


def forward(backend, case):
    return ops.recurrent_forward(
        backend,
        case.cell,
        case.x,
        case.mask,
        case.states,
        case.kernel,
        case.recurrent_kernel,
        case.bias,
        **case.options,
        dropout_mask=case.dropout_mask,
        recurrent_dropout_mask=case.recurrent_dropout_mask,
    )


def backward(case, record):
    return ops.recurrent_backward(record, case.d_outputs, case.d_states)


def loss(case, record):
    """A random linear functional of outputs and final states."""
    total = np.sum(case.d_outputs * record.outputs)
    for d, s in zip(case.d_states, record.final_states):
        total += np.sum(d * s)
    return float(total)


def results(backend, case):
    """Every array a forward and backward of ``case`` on ``backend`` give, by name
    (copies), for bit-for-bit comparisons."""
    record = forward(backend, case)
    dx, d_states, d_weights = backward(case, record)
    named = {
        "outputs": record.outputs,
        "h_states": record.h_states,
        "dx": dx,
        "d_kernel": d_weights[0],
        "d_recurrent_kernel": d_weights[1],
        "d_bias": d_weights[2],
    }
    for name in ("c_states", "gates", "recurrent_candidate"):
        if getattr(record, name, None) is not None:
            named[name] = getattr(record, name)
    for i, d in enumerate(d_states):
        named[f"d_state{i}"] = d
    return {name: np.array(value, copy=True) for name, value in named.items()}
