"""A census of bad input: every public entry point, many wrong values each.

Each case makes one bad call and expects a ``ValueError`` or ``TypeError``
(a subclass is fine) whose message names the argument, and, where there is
an object to spoil, that the object is unchanged afterwards: the same
weights, not half-built, a model's optimizer state and iterations as before.

A case is ``Bad(id, error, match, call, make, state)``: ``make()`` builds the
object(s) (None for constructor cases), ``call(obj)`` makes the bad call,
``state(obj)`` snapshots what must not change. A failing case reports every
problem at once: no exception ("accepted silently"), the wrong exception
class, a message that does not match, or a changed object.

Not counted as bad (Keras 3 accepts them): ``Dropout(rate=1)``,
``SGD(momentum=1.0)``, ``epochs=0``, ``verbose=3``, a 3-tuple
``validation_data``, callables as activations, ``0``/``1`` for booleans, NaN
in the data, non-boolean numeric masks, 2-D input to ``Masking``, a
``mask_value`` of NaN.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import fastrnn
from fastrnn import callbacks, initializers, losses, metrics, optimizers, preprocessing
from fastrnn.layers import (
    GRU,
    LSTM,
    Bidirectional,
    Dense,
    Dropout,
    Embedding,
    Masking,
    SimpleRNN,
)
from fastrnn.models import Sequential, load_model

NAN, INF, HUGE = float("nan"), float("inf"), 10**12
X = np.ones((2, 3, 4), np.float32)
RNG = np.random.default_rng(0)
X8 = RNG.normal(size=(8, 5, 4)).astype(np.float32)
Y8 = (RNG.random((8, 1)) > 0.5).astype(np.float32)
IDS8 = RNG.integers(1, 10, size=(8, 5))
CLASSES8 = RNG.integers(0, 4, size=(8,))
RECURRENT = (SimpleRNN, LSTM, GRU)


@dataclass
class Bad:
    id: str
    error: type[Exception] | tuple[type[Exception], ...]
    match: str
    call: Callable[[Any], object]
    make: Callable[[], Any] | None = None
    state: Callable[[Any], Any] | None = None


CASES: list[Bad] = []


def bad(id, error, match, call, make=None, state=None):
    CASES.append(Bad(id, error, match, call, make, state))


# ---------------------------------------------------------------- snapshots
def _same(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.shape == b.shape
            and a.dtype == b.dtype
            and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
        )
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


_LAYER_ATTRS = (
    "units",
    "activation",
    "recurrent_activation",
    "backend",
    "go_backwards",
    "reset_after",
    "stateful",
    "return_sequences",
    "input_dim",
    "merge_mode",
)


def layer_state(layer):
    state = {
        "built": layer.built,
        "weight_names": list(getattr(layer, "_weight_names", [])),
        "weights": layer.get_weights(),
        "attrs": {a: repr(getattr(layer, a, None)) for a in _LAYER_ATTRS},
    }
    if hasattr(layer, "_states"):
        state["states"] = layer.states
    for sub in ("forward_layer", "backward_layer"):
        if hasattr(layer, sub):
            state[sub] = layer_state(getattr(layer, sub))
    return state


def model_state(model):
    optimizer = getattr(model, "optimizer", None)
    return {
        "name": model.name,
        "layers": [id(layer) for layer in model.layers],
        "layer_states": [layer_state(layer) for layer in model.layers],
        "compiled": getattr(model, "compiled", False),
        "optimizer": id(optimizer),
        "loss": id(getattr(model, "loss", None)),
        "metrics": list(getattr(model, "_metric_ids", [])),
        "iterations": getattr(optimizer, "iterations", None),
        "optimizer_state": optimizer.get_state() if optimizer is not None else None,
    }


def optimizer_state(pair):
    opt, variables = pair
    return {
        "iterations": opt.iterations,
        "built": opt.built,
        "state": opt.get_state(),
        "variables": [v.copy() for v in variables],
        "config": repr(opt.get_config()),
    }


def global_state(_):
    return {"backend": fastrnn.get_backend(), "threads": fastrnn.get_num_threads()}


# ---------------------------------------------------------------- makers
def built(cls, units=3, features=4, **kw):
    def make():
        layer = cls(units, seed=0, **kw)
        layer(X[..., :features] if features <= 4 else np.ones((2, 3, features), np.float32))
        return layer

    return make


def fresh(cls, *args, **kw):
    return lambda: cls(*args, **kw)


def recurrent_model(optimizer="adam", loss="binary_crossentropy", metrics_=None):
    model = Sequential(
        [LSTM(3, input_shape=(5, 4), seed=0), Dense(1, activation="sigmoid", seed=0)]
    )
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics_)
    return model


def embedding_model():
    model = Sequential(
        [
            Embedding(10, 4, input_length=5, seed=0),
            GRU(3, seed=0),
            Dense(1, activation="sigmoid", seed=0),
        ]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


def sparse_model():
    model = Sequential(
        [SimpleRNN(3, input_shape=(5, 4), seed=0), Dense(4, activation="softmax", seed=0)]
    )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def uncompiled_model():
    return Sequential([LSTM(3, input_shape=(5, 4), seed=0), Dense(1, seed=0)])


def _recompiled(model, optimizer, loss):
    model.compile(optimizer=optimizer, loss=loss)
    return model


def fit(model, x=X8, y=Y8, **kw):
    kw.setdefault("verbose", 0)
    return model.fit(x, y, **kw)


def later(array, row, index, value):
    """A copy of ``array`` with one bad value in a row that a later batch holds."""
    out = np.array(array, dtype=np.float64 if isinstance(value, float) else array.dtype)
    out[(row, *index)] = value
    return out


# ========================================================= constructors
# Shared by SimpleRNN, LSTM and GRU: (id, kwargs, error, regex).
# Shared by the recurrent layers and Dense.
UNITS_ACTIVATION_CTOR = [
    ("units=0", dict(units=0), ValueError, r"`units`.*positive integer.*0"),
    ("units=-3", dict(units=-3), ValueError, r"`units`.*-3"),
    ("units=2.5", dict(units=2.5), TypeError, r"`units`.*2\.5"),
    ("units='4'", dict(units="4"), TypeError, r"`units`.*'4'"),
    ("units=True", dict(units=True), TypeError, r"`units`.*True"),
    ("units=None", dict(units=None), TypeError, r"`units`.*None"),
    ("units=nan", dict(units=NAN), TypeError, r"`units`.*nan"),
    ("units=inf", dict(units=INF), TypeError, r"`units`.*inf"),
    ("units=[3]", dict(units=[3]), TypeError, r"`units`.*\[3\]"),
    ("activation=banana", dict(activation="banana"), ValueError, r"`activation`.*banana"),
    ("activation=3", dict(activation=3), TypeError, r"`activation`.*3"),
    ("use_bias='yes'", dict(use_bias="yes"), TypeError, r"use_bias.*yes"),
    ("kernel_init=nope", dict(kernel_initializer="nope"), ValueError, "kernel_initializer.*nope"),
    ("kernel_init=3", dict(kernel_initializer=3), TypeError, "kernel_initializer.*3"),
]
RECURRENT_CTOR = UNITS_ACTIVATION_CTOR + [
    ("rec_init=nope", dict(recurrent_initializer="nope"), ValueError, "recurrent_initializer"),
    ("rec_init=[1]", dict(recurrent_initializer=[1]), TypeError, "recurrent_initializer"),
    ("bias_init=nope", dict(bias_initializer="nope"), ValueError, "bias_initializer.*nope"),
    ("return_sequences='yes'", dict(return_sequences="yes"), TypeError, "return_sequences"),
    ("return_state='no'", dict(return_state="no"), TypeError, "return_state"),
    ("go_backwards='False'", dict(go_backwards="False"), TypeError, "go_backwards"),
    ("stateful='true'", dict(stateful="true"), TypeError, "stateful"),
    ("zero_output_for_mask='y'", dict(zero_output_for_mask="y"), TypeError, "zero_output"),
    ("dtype=float16", dict(dtype="float16"), ValueError, r"`dtype`.*float32.*float16"),
    ("dtype=int32", dict(dtype="int32"), ValueError, r"`dtype`.*int32"),
    ("dtype=3", dict(dtype=3), (ValueError, TypeError), r"`dtype`.*3"),
    ("backend=tpu", dict(backend="tpu"), ValueError, r"backend.*'tpu'"),
    ("backend=3", dict(backend=3), TypeError, r"backend.*3"),
    ("seed='a'", dict(seed="a"), TypeError, r"`seed`.*'a'"),
    ("seed=1.5", dict(seed=1.5), TypeError, r"`seed`.*1\.5"),
    ("seed=True", dict(seed=True), TypeError, r"`seed`.*True"),
    ("seed=-1", dict(seed=-1), ValueError, r"seed.*-1"),
    ("name=3", dict(name=3), TypeError, r"`name`.*3"),
    ("name='a/b'", dict(name="a/b"), ValueError, r"name.*/"),
    ("input_shape=(5,2.5)", dict(input_shape=(5, 2.5)), TypeError, r"`input_shape\[1\]`.*2\.5"),
    ("input_shape=5", dict(input_shape=5), TypeError, r"`input_shape`.*5"),
    ("input_shape='5,4'", dict(input_shape="5,4"), TypeError, r"`input_shape`.*'5,4'"),
    ("input_shape=(5,0)", dict(input_shape=(5, 0)), ValueError, r"`input_shape\[1\]`.*0"),
    ("input_shape=(5,-1)", dict(input_shape=(5, -1)), ValueError, r"`input_shape\[1\]`.*-1"),
    ("input_shape=(5,nan)", dict(input_shape=(5, NAN)), TypeError, r"`input_shape\[1\]`.*nan"),
    ("input_shape=(5,True)", dict(input_shape=(5, True)), TypeError, r"`input_shape\[1\]`"),
    ("input_shape=(5,)", dict(input_shape=(5,)), ValueError, r"input.shape.*\(None, 5\)"),
    ("input_shape=(5,4,3)", dict(input_shape=(5, 4, 3)), ValueError, r"input.shape.*\(None, 5"),
    ("input_shape=huge", dict(input_shape=(5, HUGE)), ValueError, r"memory.*input shape"),
    ("batch_input_shape[2]=-1", dict(batch_input_shape=(None, 4, -1)), ValueError, r"\[2\]"),
    ("batch_input_shape[0]=0", dict(batch_input_shape=(0, 4, 3)), ValueError, r"\[0\]`.*0"),
    ("batch_input_shape='abc'", dict(batch_input_shape="abc"), TypeError, "batch_input_shape"),
    ("input_dim=0", dict(input_dim=0), ValueError, r"`input_dim`.*0"),
    ("input_dim='3'", dict(input_dim="3"), TypeError, r"`input_dim`.*'3'"),
    ("input_dim=2.5", dict(input_dim=2.5), TypeError, r"`input_dim`.*2\.5"),
    ("input_dim=True", dict(input_dim=True), TypeError, r"`input_dim`.*True"),
    ("input_length=0", dict(input_dim=3, input_length=0), ValueError, r"`input_length`.*0"),
    ("input_length=2.5", dict(input_dim=3, input_length=2.5), TypeError, r"`input_length`"),
]


def _recurrent_kwargs(kwargs):
    kwargs = dict(kwargs)
    return kwargs.pop("units", 3), kwargs


for _cls in RECURRENT:
    for _id, _kw, _err, _match in RECURRENT_CTOR:
        _units, _rest = _recurrent_kwargs(_kw)
        bad(
            f"ctor/{_cls.__name__}/{_id}",
            _err,
            _match,
            lambda _, c=_cls, u=_units, k=_rest: c(u, **k),
        )
    bad(
        f"call/{_cls.__name__}/units=huge",
        ValueError,
        rf"units={HUGE}.*memory|memory.*units={HUGE}",
        lambda layer: layer(X),
        make=fresh(_cls, HUGE),
        state=layer_state,
    )

for _cls in (LSTM, GRU):
    _n = _cls.__name__
    bad(
        f"ctor/{_n}/recurrent_activation=banana",
        ValueError,
        r"`recurrent_activation`.*banana",
        lambda _, c=_cls: c(3, recurrent_activation="banana"),
    )
    bad(
        f"ctor/{_n}/recurrent_activation=3",
        TypeError,
        r"`recurrent_activation`.*3",
        lambda _, c=_cls: c(3, recurrent_activation=3),
    )
bad(
    "ctor/LSTM/unit_forget_bias='yes'",
    TypeError,
    "unit_forget_bias",
    lambda _: LSTM(3, unit_forget_bias="yes"),
)
bad("ctor/GRU/reset_after='yes'", TypeError, "reset_after", lambda _: GRU(3, reset_after="yes"))
bad(
    "ctor/SimpleRNN/recurrent_activation",
    TypeError,
    "recurrent_activation",
    lambda _: SimpleRNN(3, recurrent_activation="sigmoid"),
)

# Dense
for _id, _kw, _err, _match in UNITS_ACTIVATION_CTOR + [
    ("bias_init=nope", dict(bias_initializer="nope"), ValueError, "bias_initializer"),
    ("input_shape=(2.5,)", dict(input_shape=(2.5,)), TypeError, r"`input_shape\[0\]`.*2\.5"),
    ("input_shape=(0,)", dict(input_shape=(0,)), ValueError, r"`input_shape\[0\]`.*0"),
    ("input_shape='4'", dict(input_shape="4"), TypeError, r"`input_shape`.*'4'"),
    ("input_dim=0", dict(input_dim=0), ValueError, r"input_dim.*0"),
    ("input_dim='3'", dict(input_dim="3"), TypeError, r"input_dim.*'3'"),
    ("input_dim=2.5", dict(input_dim=2.5), TypeError, r"input_dim.*2\.5"),
    ("batch_input_shape=(None,-1)", dict(batch_input_shape=(None, -1)), ValueError, r"\[1\]"),
    ("dtype=float16", dict(dtype="float16"), ValueError, r"`dtype`.*float16"),
    ("seed='a'", dict(seed="a"), TypeError, r"`seed`.*'a'"),
    ("seed=-1", dict(seed=-1), ValueError, r"seed.*-1"),
    ("name=3", dict(name=3), TypeError, r"`name`.*3"),
    ("name='a/b'", dict(name="a/b"), ValueError, r"name.*/"),
]:
    _units, _rest = _recurrent_kwargs(_kw)
    bad(f"ctor/Dense/{_id}", _err, _match, lambda _, u=_units, k=_rest: Dense(u, **k))
bad(
    "call/Dense/units=huge",
    ValueError,
    rf"units={HUGE}.*memory|memory.*units={HUGE}",
    lambda layer: layer(np.ones((1, 3), np.float32)),
    make=fresh(Dense, HUGE),
    state=layer_state,
)

# Embedding
for _id, _args, _kw, _err, _match in [
    ("input_dim=0", (0, 4), {}, ValueError, r"`input_dim`.*0"),
    ("input_dim=-1", (-1, 4), {}, ValueError, r"`input_dim`.*-1"),
    ("input_dim=2.5", (2.5, 4), {}, TypeError, r"`input_dim`.*2\.5"),
    ("input_dim='10'", ("10", 4), {}, TypeError, r"`input_dim`.*'10'"),
    ("input_dim=True", (True, 4), {}, TypeError, r"`input_dim`.*True"),
    ("input_dim=None", (None, 4), {}, TypeError, r"`input_dim`.*None"),
    ("input_dim=huge", (HUGE, 8), {}, ValueError, rf"input_dim={HUGE}.*output_dim=8"),
    ("output_dim=0", (10, 0), {}, ValueError, r"`output_dim`.*0"),
    ("output_dim=-2", (10, -2), {}, ValueError, r"`output_dim`.*-2"),
    ("output_dim=1.5", (10, 1.5), {}, TypeError, r"`output_dim`.*1\.5"),
    ("output_dim='4'", (10, "4"), {}, TypeError, r"`output_dim`.*'4'"),
    ("output_dim=None", (10, None), {}, TypeError, r"`output_dim`.*None"),
    ("output_dim=huge", (8, HUGE), {}, ValueError, rf"output_dim={HUGE}"),
    ("init=nope", (10, 4), dict(embeddings_initializer="nope"), ValueError, "embeddings_init"),
    ("init=3", (10, 4), dict(embeddings_initializer=3), TypeError, "embeddings_initializer"),
    ("mask_zero='yes'", (10, 4), dict(mask_zero="yes"), TypeError, "mask_zero"),
    ("input_length=0", (10, 4), dict(input_length=0), ValueError, r"`input_length`.*0"),
    ("input_length=-1", (10, 4), dict(input_length=-1), ValueError, r"`input_length`.*-1"),
    ("input_length=2.5", (10, 4), dict(input_length=2.5), TypeError, r"`input_length`.*2\.5"),
    ("input_length='a'", (10, 4), dict(input_length="a"), TypeError, r"`input_length`.*'a'"),
    ("dtype=int32", (10, 4), dict(dtype="int32"), ValueError, r"`dtype`.*int32"),
    ("seed='a'", (10, 4), dict(seed="a"), TypeError, r"`seed`.*'a'"),
    ("name=3", (10, 4), dict(name=3), TypeError, r"`name`.*3"),
    ("input_shape=(-1,)", (10, 4), dict(input_shape=(-1,)), ValueError, r"input_shape\[0\]"),
]:
    bad(f"ctor/Embedding/{_id}", _err, _match, lambda _, a=_args, k=_kw: Embedding(*a, **k))

# Masking
for _id, _kw, _err, _match in [
    ("mask_value='a'", dict(mask_value="a"), TypeError, r"mask_value.*'a'"),
    ("mask_value='0.5'", dict(mask_value="0.5"), TypeError, r"mask_value.*'0\.5'"),
    ("mask_value=None", dict(mask_value=None), TypeError, r"mask_value.*None"),
    ("mask_value=1j", dict(mask_value=1j), TypeError, r"mask_value.*1j"),
    ("mask_value=[1,2]", dict(mask_value=[1, 2]), TypeError, r"mask_value"),
    ("dtype=float16", dict(dtype="float16"), ValueError, r"`dtype`.*float16"),
    ("name=3", dict(name=3), TypeError, r"`name`.*3"),
    ("input_shape=(3,-1)", dict(input_shape=(3, -1)), ValueError, r"input_shape\[1\]"),
]:
    bad(f"ctor/Masking/{_id}", _err, _match, lambda _, k=_kw: Masking(**k))

# Dropout (rate=1 is accepted by Keras 3)
for _id, _kw, _err, _match in [
    ("rate=-0.1", dict(rate=-0.1), ValueError, r"`rate`.*-0\.1"),
    ("rate=1.5", dict(rate=1.5), ValueError, r"`rate`.*1\.5"),
    ("rate='0.5'", dict(rate="0.5"), TypeError, r"`rate`.*'0\.5'"),
    ("rate=None", dict(rate=None), TypeError, r"`rate`.*None"),
    ("rate=nan", dict(rate=NAN), ValueError, r"`rate`.*nan"),
    ("rate=inf", dict(rate=INF), ValueError, r"`rate`.*inf"),
    ("rate=True", dict(rate=True), TypeError, r"`rate`.*True"),
    ("seed='a'", dict(rate=0.5, seed="a"), TypeError, r"`seed`.*'a'"),
    ("seed=1.5", dict(rate=0.5, seed=1.5), TypeError, r"`seed`.*1\.5"),
    ("dtype=float16", dict(rate=0.5, dtype="float16"), ValueError, r"`dtype`.*float16"),
    ("name=3", dict(rate=0.5, name=3), TypeError, r"`name`.*3"),
]:
    bad(f"ctor/Dropout/{_id}", _err, _match, lambda _, k=_kw: Dropout(**k))

# Bidirectional
for _id, _fn, _err, _match in [
    ("layer=Dense", lambda: Bidirectional(Dense(2)), TypeError, r"`layer`.*Dense"),
    ("layer='lstm'", lambda: Bidirectional("lstm"), TypeError, r"`layer`.*str"),
    ("layer=None", lambda: Bidirectional(None), TypeError, r"`layer`.*None"),
    ("layer=LSTM class", lambda: Bidirectional(LSTM), TypeError, r"`layer`.*type"),
    ("merge_mode=max", lambda: Bidirectional(LSTM(2), merge_mode="max"), ValueError, "'max'"),
    (
        "merge_mode=3",
        lambda: Bidirectional(LSTM(2), merge_mode=3),
        (ValueError, TypeError),
        r"`merge_mode`.*3",
    ),
    (
        "backward_layer=Dense",
        lambda: Bidirectional(LSTM(2), backward_layer=Dense(2)),
        TypeError,
        r"`backward_layer`.*Dense",
    ),
    (
        "backward_layer same go_backwards",
        lambda: Bidirectional(LSTM(2), backward_layer=LSTM(2)),
        ValueError,
        r"`go_backwards`",
    ),
    (
        "backward_layer other return_sequences",
        lambda: Bidirectional(
            LSTM(2), backward_layer=LSTM(2, go_backwards=True, return_sequences=True)
        ),
        ValueError,
        r"`return_sequences`",
    ),
    (
        "input_shape=(3,-1)",
        lambda: Bidirectional(LSTM(2), input_shape=(3, -1)),
        ValueError,
        r"input_shape\[1\]",
    ),
    (
        "input_shape='a'",
        lambda: Bidirectional(LSTM(2), input_shape="a"),
        TypeError,
        r"`input_shape`.*'a'",
    ),
    ("name=3", lambda: Bidirectional(LSTM(2), name=3), TypeError, r"`name`.*3"),
]:
    bad(f"ctor/Bidirectional/{_id}", _err, _match, lambda _, f=_fn: f())

# Initializers (used by a layer: the error must come at once, or name the argument)
for _id, _init, _err, _match in [
    ("Constant('a')", lambda: initializers.Constant("a"), TypeError, r"value.*'a'"),
    ("GlorotUniform(seed='x')", lambda: initializers.GlorotUniform(seed="x"), TypeError, "seed"),
    ("Orthogonal(seed=1.5)", lambda: initializers.Orthogonal(seed=1.5), TypeError, "seed"),
    ("RandomUniform(seed=-1)", lambda: initializers.RandomUniform(seed=-1), ValueError, "seed"),
]:
    bad(
        f"initializer/{_id}",
        _err,
        _match,
        lambda _, f=_init: Dense(2, kernel_initializer=f())(np.ones((1, 3), np.float32)),
    )
bad(
    "initializer/get('nope')",
    ValueError,
    "nope",
    lambda _: initializers.get("nope"),
)
bad("initializer/get(3)", TypeError, "3", lambda _: initializers.get(3))
bad(
    "initializer/get({'class_name': 'Nope'})",
    (ValueError, TypeError),
    "Nope",
    lambda _: initializers.get({"class_name": "Nope", "config": {}}),
)

# Kernel options assigned after construction must be checked, and leave the layer as it was.
for _id, _attr, _value, _err, _match in [
    ("activation=banana", "activation", "banana", ValueError, r"`activation`.*banana"),
    ("backend=tpu", "backend", "tpu", ValueError, r"backend.*tpu"),
    ("go_backwards='yes'", "go_backwards", "yes", TypeError, "go_backwards"),
    ("kernel=wrong shape", "kernel", np.ones((5, 12)), ValueError, r"kernel.*\(4, 12\).*\(5, 12\)"),
    ("kernel=strings", "kernel", np.full((4, 12), "a"), TypeError, r"kernel.*numeric"),
]:
    bad(
        f"setattr/LSTM/{_id}",
        _err,
        _match,
        lambda layer, a=_attr, v=_value: setattr(layer, a, v),
        make=built(LSTM),
        state=layer_state,
    )
bad(
    "setattr/GRU/reset_after after build",
    ValueError,
    "reset_after",
    lambda layer: setattr(layer, "reset_after", False),
    make=built(GRU),
    state=layer_state,
)

# ========================================================= layer calls
for _cls in RECURRENT:
    _n = _cls.__name__
    for _id, _x, _err, _match in [
        ("2-D input", np.ones((3, 4)), ValueError, r"3-D.*\(3, 4\)"),
        ("4-D input", np.ones((2, 3, 4, 1)), ValueError, r"3-D.*\(2, 3, 4, 1\)"),
        ("1-D input", np.ones(4), ValueError, r"3-D.*\(4,\)"),
        ("scalar input", 3.0, ValueError, r"3-D.*\(\)"),
        ("string input", np.full((2, 3, 4), "a"), TypeError, r"inputs.*numeric.*<U"),
        ("zero timesteps", np.ones((2, 0, 4)), ValueError, r"timestep.*\(2, 0, 4\)"),
    ]:
        bad(
            f"call/{_n}/{_id}",
            _err,
            _match,
            lambda layer, x=_x: layer(x),
            make=fresh(_cls, 3, seed=0),
            state=layer_state,
        )
    bad(
        f"call/{_n}/features 5 after build with 4",
        ValueError,
        r"4 features.*\(2, 3, 5\)",
        lambda layer: layer(np.ones((2, 3, 5))),
        make=built(_cls),
        state=layer_state,
    )
    bad(
        f"call/{_n}/mask (2, 4)",
        ValueError,
        r"`mask`.*\(2, 3\).*\(2, 4\)",
        lambda layer: layer(X, mask=np.ones((2, 4), bool)),
        make=fresh(_cls, 3, seed=0),
        state=layer_state,
    )
    bad(
        f"call/{_n}/mask strings",
        TypeError,
        r"`mask`.*<U",
        lambda layer: layer(X, mask=np.full((2, 3), "a")),
        make=built(_cls),
        state=layer_state,
    )
    bad(
        f"call/{_n}/initial_state wrong shape, fresh layer",
        ValueError,
        r"`initial_state\[0\]`.*\(2, 3\).*\(2, 5\)",
        lambda layer: layer(X, initial_state=[np.zeros((2, 5))] * layer.state_size),
        make=fresh(_cls, 3, seed=0),
        state=layer_state,
    )
    bad(
        f"call/{_n}/initial_state strings",
        TypeError,
        r"`initial_state\[0\]`.*numeric",
        lambda layer: layer(X, initial_state=[np.full((2, 3), "a")] * layer.state_size),
        make=built(_cls),
        state=layer_state,
    )
    bad(
        f"call/{_n}/initial_state=5",
        ValueError,
        r"`initial_state.*\(2, 3\)",
        lambda layer: layer(X, initial_state=5),
        make=built(_cls),
        state=layer_state,
    )

for _id, _call, _err, _match in [
    ("ragged", lambda layer: layer([[[1.0, 2.0]], [[1.0]]]), ValueError, r"inputs.*rectangular"),
    ("None", lambda layer: layer(None), (ValueError, TypeError), r"inputs.*None"),
    ("complex", lambda layer: layer(X + 1j), TypeError, r"inputs.*complex"),
    ("mask 1-D", lambda layer: layer(X, mask=np.ones(2, bool)), ValueError, r"`mask`.*\(2,\)"),
    (
        "mask (2, 3, 1)",
        lambda layer: layer(X, mask=np.ones((2, 3, 1), bool)),
        ValueError,
        r"`mask`.*\(2, 3, 1\)",
    ),
    (
        "mask of None",
        lambda layer: layer(X, mask=[[None] * 3] * 2),
        TypeError,
        r"`mask`.*object",
    ),
    (
        "initial_state 1 for LSTM",
        lambda layer: layer(X, initial_state=[np.zeros((2, 3))]),
        ValueError,
        r"`initial_state`.*2 array.*got 1",
    ),
    (
        "initial_state 3 for LSTM",
        lambda layer: layer(X, initial_state=[np.zeros((2, 3))] * 3),
        ValueError,
        r"`initial_state`.*2 array.*got 3",
    ),
    (
        "initial_state c wrong shape",
        lambda layer: layer(X, initial_state=[np.zeros((2, 3)), np.zeros((3, 3))]),
        ValueError,
        r"`initial_state\[1\]`.*\(2, 3\).*\(3, 3\)",
    ),
    (
        "initial_state [None, None]",
        lambda layer: layer(X, initial_state=[None, None]),
        (ValueError, TypeError),
        r"`initial_state\[0\]`.*None",
    ),
]:
    bad(f"call/LSTM/{_id}", _err, _match, _call, make=built(LSTM), state=layer_state)

bad(
    "call/GRU/initial_state list of 2",
    ValueError,
    r"`initial_state`.*1 array.*got 2",
    lambda layer: layer(X, initial_state=[np.zeros((2, 3))] * 2),
    make=built(GRU),
    state=layer_state,
)
bad(
    "call/SimpleRNN/initial_state wrong batch",
    ValueError,
    r"`initial_state\[0\]`.*\(2, 3\).*\(4, 3\)",
    lambda layer: layer(X, initial_state=np.zeros((4, 3))),
    make=built(SimpleRNN),
    state=layer_state,
)


def _stateful_lstm():
    layer = LSTM(3, stateful=True, seed=0)
    layer(X)
    return layer


bad(
    "call/LSTM stateful/bad mask keeps states",
    ValueError,
    r"`mask`",
    lambda layer: layer(X, mask=np.ones((2, 9), bool)),
    make=_stateful_lstm,
    state=layer_state,
)
bad(
    "call/LSTM stateful/batch change",
    ValueError,
    r"batch size 2; got a batch of 3",
    lambda layer: layer(np.ones((3, 3, 4))),
    make=_stateful_lstm,
    state=layer_state,
)
bad(
    "reset_states/LSTM/wrong count",
    ValueError,
    r"\bstates\b.*2 array.*got 1",
    lambda layer: layer.reset_states([np.zeros((2, 3))]),
    make=_stateful_lstm,
    state=layer_state,
)
bad(
    "reset_states/LSTM/wrong shape",
    ValueError,
    r"\bstates\[1\]`.*\(2, 3\).*\(2, 4\)",
    lambda layer: layer.reset_states([np.zeros((2, 3)), np.zeros((2, 4))]),
    make=_stateful_lstm,
    state=layer_state,
)
bad(
    "reset_states/SimpleRNN unbuilt/states=5",
    ValueError,
    r"\bstates\b",
    lambda layer: layer.reset_states(5),
    make=fresh(SimpleRNN, 2, stateful=True),
    state=layer_state,
)

# build()
for _n, _make, _shape, _err, _match in [
    ("LSTM", fresh(LSTM, 2), None, TypeError, r"input_shape.*None"),
    ("LSTM", fresh(LSTM, 2), 5, TypeError, r"input_shape.*5"),
    ("LSTM", fresh(LSTM, 2), (None, 3, 2.5), TypeError, r"input_shape.*2\.5"),
    ("LSTM", fresh(LSTM, 2), (None, 3, "4"), TypeError, r"input_shape.*'4'"),
    ("LSTM", fresh(LSTM, 2), (None, 3, True), TypeError, r"input_shape.*True"),
    ("LSTM", fresh(LSTM, 2), (None, 3, 0), ValueError, r"input_shape.*0"),
    ("LSTM", fresh(LSTM, 2), (None, 3), ValueError, r"input shape.*\(None, 3\)"),
    ("GRU", fresh(GRU, 2), (None, 3, -1), ValueError, r"input_shape.*-1"),
    ("Dense", fresh(Dense, 2), None, TypeError, r"input_shape.*None"),
    ("Dense", fresh(Dense, 2), 5, TypeError, r"input_shape.*5"),
    ("Dense", fresh(Dense, 2), (None, 2.5), TypeError, r"input_shape.*2\.5"),
    ("Dense", fresh(Dense, 2), (None, "4"), TypeError, r"input_shape.*'4'"),
    ("Dense", fresh(Dense, 2), (None, 0), ValueError, r"input_shape.*0"),
    ("Bidirectional", lambda: Bidirectional(GRU(2)), (None, 3), ValueError, r"\(None, 3\)"),
]:
    bad(
        f"build/{_n}/{_shape!r}",
        _err,
        _match,
        lambda layer, s=_shape: layer.build(s),
        make=_make,
        state=layer_state,
    )

# Dense, Embedding, Masking, Dropout calls
for _id, _x, _err, _match in [
    ("1-D input", np.ones(3), ValueError, r"2-D.*3-D.*\(3,\)"),
    ("4-D input", np.ones((2, 3, 4, 5)), ValueError, r"2-D.*3-D.*\(2, 3, 4, 5\)"),
    ("features 5 after 4", np.ones((2, 5)), ValueError, r"4 input features.*\(2, 5\)"),
    ("string input", np.full((2, 4), "a"), TypeError, r"inputs.*numeric"),
    ("ragged", [[1.0, 2.0], [1.0]], ValueError, r"inputs.*rectangular"),
]:
    bad(
        f"call/Dense/{_id}",
        _err,
        _match,
        lambda layer, x=_x: layer(x),
        make=lambda: Dense(2, input_dim=4, seed=0),
        state=layer_state,
    )

for _id, _ids, _err, _match in [
    ("index 5 of 5", [[1, 5]], ValueError, r"index 5 is outside \[0, 5\)"),
    ("index -1", [[-1, 2]], ValueError, r"index -1 is outside"),
    ("index 1.5", [[1.5, 2]], ValueError, r"integer indices.*1\.5"),
    ("strings", [["a", "b"]], TypeError, r"integer indices.*<U"),
    ("nan", [[NAN, 1]], ValueError, r"integer.*nan"),
    ("inf", [[INF, 1]], ValueError, r"inf"),
    ("None", None, TypeError, r"integer indices.*object"),
    ("complex", np.array([[1 + 1j]]), TypeError, r"integer indices.*complex"),
    ("ragged", [[1, 2], [1]], ValueError, r"rectangular"),
]:
    bad(
        f"call/Embedding/{_id}",
        _err,
        _match,
        lambda layer, i=_ids: layer(i),
        make=lambda: Embedding(5, 2, seed=0),
        state=layer_state,
    )

bad(
    "call/Masking/strings",
    TypeError,
    r"inputs.*numeric",
    lambda layer: layer(np.full((2, 3, 4), "a")),
    make=Masking,
)
bad(
    "call/Dropout/strings",
    TypeError,
    r"inputs.*numeric",
    lambda layer: layer(np.full((2, 3), "a"), training=True),
    make=lambda: Dropout(0.5, seed=0),
)

# Bidirectional calls
for _id, _make, _call, _err, _match in [
    (
        "initial_state 1 of 4",
        lambda: Bidirectional(LSTM(3, seed=0)),
        lambda layer: layer(X, initial_state=[np.zeros((2, 3))]),
        ValueError,
        r"`initial_state`.*4 arrays",
    ),
    (
        "initial_state an array",
        lambda: Bidirectional(GRU(3, seed=0)),
        lambda layer: layer(X, initial_state=np.zeros((2, 3))),
        ValueError,
        r"`initial_state`.*2 arrays",
    ),
    (
        "backward half of initial_state wrong",
        lambda: Bidirectional(LSTM(3, seed=0)),
        lambda layer: layer(X, initial_state=[np.zeros((2, 3))] * 3 + [np.zeros((2, 7))]),
        ValueError,
        r"`initial_state\[3\]`.*\(2, 3\).*\(2, 7\)",
    ),
    (
        "mask (2, 4)",
        lambda: Bidirectional(GRU(3, seed=0)),
        lambda layer: layer(X, mask=np.ones((2, 4), bool)),
        ValueError,
        r"`mask`.*\(2, 4\)",
    ),
    (
        "2-D input",
        lambda: Bidirectional(GRU(3, seed=0)),
        lambda layer: layer(np.ones((3, 4))),
        ValueError,
        r"3-D.*\(3, 4\)",
    ),
    (
        "features 5 after 4",
        lambda: Bidirectional(SimpleRNN(3, seed=0), input_shape=(3, 4)),
        lambda layer: layer(np.ones((2, 3, 5))),
        ValueError,
        r"4 features.*\(2, 3, 5\)",
    ),
]:
    bad(f"call/Bidirectional/{_id}", _err, _match, _call, make=_make, state=layer_state)

# ========================================================= step()
_STEP_X = np.zeros((2, 4), np.float32)
for _id, _make, _call, _err, _match in [
    (
        "3-D inputs",
        built(LSTM),
        lambda layer: layer.step(X),
        ValueError,
        r"`inputs`.*2-D.*\(2, 3, 4\)",
    ),
    ("1-D inputs", built(LSTM), lambda layer: layer.step(np.zeros(4)), ValueError, r"2-D.*\(4,\)"),
    (
        "string inputs",
        built(LSTM),
        lambda layer: layer.step(np.full((2, 4), "a")),
        TypeError,
        r"`inputs`.*numeric",
    ),
    (
        "features 5 after 4",
        built(LSTM),
        lambda layer: layer.step(np.zeros((2, 5))),
        ValueError,
        r"\(batch, 4\).*\(2, 5\)",
    ),
    (
        "states 1 of 2",
        built(LSTM),
        lambda layer: layer.step(_STEP_X, [np.zeros((2, 3))]),
        ValueError,
        r"`states`.*2 array.*got 1",
    ),
    (
        "states[1] wrong shape",
        built(LSTM),
        lambda layer: layer.step(_STEP_X, [np.zeros((2, 3)), np.zeros((2, 4))]),
        ValueError,
        r"`states\[1\]`.*\(2, 3\).*\(2, 4\)",
    ),
    (
        "states wrong batch",
        built(LSTM),
        lambda layer: layer.step(_STEP_X, [np.zeros((5, 3))] * 2),
        ValueError,
        r"`states\[0\]`.*\(2, 3\).*\(5, 3\)",
    ),
    (
        "states strings",
        built(LSTM),
        lambda layer: layer.step(_STEP_X, [np.full((2, 3), "a")] * 2),
        TypeError,
        r"`states\[0\]`.*numeric",
    ),
    (
        "states=5",
        built(LSTM),
        lambda layer: layer.step(_STEP_X, 5),
        ValueError,
        r"`states`",
    ),
    (
        "bad states on a fresh layer",
        fresh(LSTM, 3, seed=0),
        lambda layer: layer.step(_STEP_X, [np.zeros((2, 3))]),
        ValueError,
        r"`states`.*2 array",
    ),
]:
    bad(f"step/LSTM/{_id}", _err, _match, _call, make=_make, state=layer_state)
bad(
    "step/GRU/states list of 2",
    ValueError,
    r"`states`.*1 array.*got 2",
    lambda layer: layer.step(_STEP_X, [np.zeros((2, 3))] * 2),
    make=built(GRU),
    state=layer_state,
)
bad(
    "step/SimpleRNN/ragged inputs",
    ValueError,
    r"`inputs`.*rectangular",
    lambda layer: layer.step([[1.0, 2.0, 3.0, 4.0], [1.0]]),
    make=built(SimpleRNN),
    state=layer_state,
)
bad(
    "step/SimpleRNN/string inputs on a fresh layer",
    TypeError,
    r"`inputs`.*numeric",
    lambda layer: layer.step(np.full((2, 4), "a")),
    make=fresh(SimpleRNN, 3, seed=0),
    state=layer_state,
)


# ========================================================= set_weights
def _wrong_last_shape(layer):
    weights = [w + 1 for w in layer.get_weights()]
    weights[-1] = np.ones((7, 7))
    return weights


def _strings_first(layer):
    weights = layer.get_weights()
    weights[0] = np.full(weights[0].shape, "a")
    return weights


def _none_last(layer):
    weights = [w + 1 for w in layer.get_weights()]
    weights[-1] = None
    return weights


def _complex_last(layer):
    weights = [w + 1 for w in layer.get_weights()]
    weights[-1] = weights[-1] + 1j
    return weights


def _ragged_last(layer):
    weights = [w + 1 for w in layer.get_weights()]
    weights[-1] = [[1.0, 2.0], [1.0]]
    return weights


SET_WEIGHTS_BAD = [
    ("one too few", lambda layer: layer.get_weights()[:-1], ValueError, r"expects \d+ weights"),
    (
        "one too many",
        lambda layer: [*layer.get_weights(), np.ones(2)],
        ValueError,
        r"expects \d+ weights",
    ),
    ("last wrong shape", _wrong_last_shape, ValueError, r"must have shape.*\(7, 7\)"),
    ("strings", _strings_first, TypeError, r"weight.*numeric"),
    ("None entry", _none_last, (ValueError, TypeError), r"weight.*None"),
    ("complex entry", _complex_last, TypeError, r"weight.*(real|complex)"),
    ("ragged entry", _ragged_last, ValueError, r"weight.*rectangular"),
    ("one ndarray", lambda layer: layer.get_weights()[0], TypeError, r"`weights`.*list"),
    ("int 5", lambda layer: 5, TypeError, r"`weights`.*list"),
]
_SET_WEIGHTS_LAYERS = [
    ("SimpleRNN", built(SimpleRNN)),
    ("LSTM", built(LSTM)),
    ("GRU", built(GRU)),
    ("GRU reset_after=False", built(GRU, reset_after=False)),
    ("Dense", lambda: Dense(3, input_dim=4, seed=0)),
    ("Embedding", lambda: Embedding(10, 3, seed=0)),
    ("Bidirectional", lambda: Bidirectional(LSTM(2, seed=0), input_shape=(3, 4))),
]
for _n, _make in _SET_WEIGHTS_LAYERS:
    for _id, _weights, _err, _match in SET_WEIGHTS_BAD:
        bad(
            f"set_weights/{_n}/{_id}",
            _err,
            _match,
            lambda layer, w=_weights: layer.set_weights(w(layer)),
            make=_make,
            state=layer_state,
        )
bad(
    "set_weights/LSTM/before build",
    ValueError,
    r"build",
    lambda layer: layer.set_weights([]),
    make=fresh(LSTM, 2),
    state=layer_state,
)
bad(
    "set_weights/GRU reset_after=False/bias (2, 9)",
    ValueError,
    r"`bias`.*\(9,\).*\(2, 9\)",
    lambda layer: layer.set_weights([*layer.get_weights()[:2], np.zeros((2, 9))]),
    make=built(GRU, reset_after=False),
    state=layer_state,
)
bad(
    "set_weights/LSTM/transposed kernel",
    ValueError,
    r"`kernel`.*\(4, 12\).*\(12, 4\)",
    lambda layer: layer.set_weights([layer.get_weights()[0].T, *layer.get_weights()[1:]]),
    make=built(LSTM),
    state=layer_state,
)

# ========================================================= Sequential
bad("Sequential/layers=5", TypeError, r"layers.*int", lambda _: Sequential(5))
bad("Sequential/layers='lstm'", TypeError, r"layers?.*str", lambda _: Sequential("lstm"))
bad("Sequential/name=3", TypeError, r"`?name`?.*3", lambda _: Sequential(name=3))
for _id, _value, _match in [
    ("None", None, r"fastrnn layer.*NoneType"),
    ("'dense'", "dense", r"fastrnn layer.*str"),
    ("3", 3, r"fastrnn layer.*int"),
    ("LSTM class", LSTM, r"fastrnn layer.*type"),
    ("ndarray", np.ones(3), r"fastrnn layer.*ndarray"),
]:
    bad(
        f"Sequential.add/{_id}",
        TypeError,
        _match,
        lambda model, v=_value: model.add(v),
        make=uncompiled_model,
        state=model_state,
    )
bad(
    "Sequential.add/same layer twice",
    ValueError,
    r"already in the model",
    lambda model: model.add(model.layers[0]),
    make=uncompiled_model,
    state=model_state,
)
bad(
    "Sequential.add/after return_state layer",
    ValueError,
    r"list of arrays.*last layer",
    lambda model: model.add(Dense(1)),
    make=lambda: Sequential([LSTM(3, return_state=True)]),
    state=model_state,
)
bad(
    "Sequential.add/after merge_mode=None",
    ValueError,
    r"list of arrays.*last layer",
    lambda model: model.add(Dense(1)),
    make=lambda: Sequential([Bidirectional(GRU(3), merge_mode=None)]),
    state=model_state,
)
bad(
    "Sequential.add/LSTM after a 2-D Dense",
    ValueError,
    r"input shape.*\(None, 3\)",
    lambda model: model.add(LSTM(2)),
    make=lambda: Sequential([Dense(3, input_dim=4)]),
    state=model_state,
)
for _id, _shape, _err, _match in [
    ("None", None, TypeError, r"input_shape.*None"),
    ("'abc'", "abc", TypeError, r"input_shape.*'abc'"),
    ("(None, 5)", (None, 5), ValueError, r"input shape.*\(None, 5\)"),
    ("(None, 5, -4)", (None, 5, -4), ValueError, r"input_shape.*-4"),
]:
    bad(
        f"Sequential.build/{_id}",
        _err,
        _match,
        lambda model, s=_shape: model.build(s),
        make=lambda: Sequential([LSTM(3, seed=0), Dense(1, seed=0)]),
        state=model_state,
    )
for _id, _call, _err, _match in [
    ("2-D input", lambda model: model(np.ones((5, 4))), ValueError, r"3-D.*\(5, 4\)"),
    ("features 3", lambda model: model(np.ones((2, 5, 3))), ValueError, r"4 features.*\(2, 5, 3\)"),
    ("strings", lambda model: model(np.full((2, 5, 4), "a")), TypeError, r"numeric"),
    (
        "mask (2, 4)",
        lambda model: model(np.ones((2, 5, 4)), mask=np.ones((2, 4), bool)),
        ValueError,
        r"`mask`.*\(2, 5\).*\(2, 4\)",
    ),
]:
    bad(f"Sequential.call/{_id}", _err, _match, _call, make=uncompiled_model, state=model_state)

# set_weights on the model
for _id, _weights, _err, _match in [
    ("one too few", lambda m: m.get_weights()[:-1], ValueError, r"expects 5 weights, got 4"),
    ("one too many", lambda m: [*m.get_weights(), np.ones(1)], ValueError, r"expects 5.*got 6"),
    ("last wrong shape", _wrong_last_shape, ValueError, r"weight.*\(1,\).*\(7, 7\)"),
    ("strings", _strings_first, TypeError, r"weights\[0\].*numeric"),
    ("None entry", _none_last, (ValueError, TypeError), r"weights\[4\].*None"),
    ("one ndarray", lambda m: m.get_weights()[0], TypeError, r"`?weights`?.*list"),
    ("int 5", lambda m: 5, TypeError, r"`?weights`?.*list"),
]:
    bad(
        f"Sequential.set_weights/{_id}",
        _err,
        _match,
        lambda model, w=_weights: model.set_weights(w(model)),
        make=uncompiled_model,
        state=model_state,
    )

# compile
for _id, _kw, _err, _match in [
    ("optimizer='nope'", dict(optimizer="nope"), ValueError, r"optimizer.*'nope'.*adam"),
    ("optimizer=3", dict(optimizer=3), TypeError, r"optimizer.*3"),
    ("optimizer=None", dict(optimizer=None), TypeError, r"optimizer.*None"),
    ("optimizer=Dense class", dict(optimizer=Dense), TypeError, r"optimizer.*Dense"),
    ("loss='nope'", dict(loss="nope"), ValueError, r"loss.*'nope'.*mse"),
    ("loss=3", dict(loss=3), TypeError, r"loss.*3"),
    ("metrics=['nope']", dict(metrics=["nope"]), ValueError, r"metric.*'nope'.*accuracy"),
    ("metrics=[3]", dict(metrics=[3]), TypeError, r"metric.*3"),
    ("metrics=5", dict(metrics=5), TypeError, r"metrics.*5"),
    ("metrics=dup", dict(metrics=["accuracy", "accuracy"]), ValueError, r"metrics.*unique"),
]:
    _full = {"optimizer": "sgd", "loss": "mse", **_kw}
    bad(
        f"compile/{_id}",
        _err,
        _match,
        lambda model, k=_full: model.compile(**k),
        make=lambda: recurrent_model(optimizer="adam", loss="binary_crossentropy"),
        state=model_state,
    )

# fit / evaluate before compile
bad(
    "fit/not compiled",
    ValueError,
    r"compile\(\)",
    lambda model: fit(model),
    make=uncompiled_model,
    state=model_state,
)
bad(
    "evaluate/not compiled",
    ValueError,
    r"compile\(\)",
    lambda model: model.evaluate(X8, Y8, verbose=0),
    make=uncompiled_model,
    state=model_state,
)

# fit: data
FIT_DATA = [
    ("x=None", dict(x=None), ValueError, r"\bx\b.*None"),
    ("y=None", dict(y=None), ValueError, r"\by\b.*None"),
    ("x strings", dict(x=np.full((8, 5, 4), "a")), TypeError, r"\bx\b.*numeric"),
    ("y strings", dict(y=np.full((8, 1), "a")), TypeError, r"\by\b.*numeric"),
    ("x ragged", dict(x=[[[1.0] * 4] * 5, [[1.0] * 4] * 4]), ValueError, r"\bx\b.*ragged"),
    ("x 2-D", dict(x=np.ones((8, 4))), ValueError, r"3-D.*\(\d+, 4\)"),
    ("x 3 features", dict(x=np.ones((8, 5, 3))), ValueError, r"4 features.*, 5, 3\)"),
    ("x 8 vs y 7", dict(y=Y8[:7]), ValueError, r"\bx\b.*\by\b.*8.*7"),
    ("y (8, 2) for 1 unit", dict(y=np.ones((8, 2))), ValueError, r"\by\b.*\(8, 2\).*\(8, 1\)"),
    ("x empty", dict(x=X8[:0], y=Y8[:0]), ValueError, r"\bx\b.*empty"),
    ("x scalar", dict(x=1.0, y=1.0), ValueError, r"\bx\b.*scalar"),
]
# fit: arguments (batch_size, epochs, ...)
FIT_ARGS = [
    ("batch_size=0", dict(batch_size=0), ValueError, r"batch_size.*0"),
    ("batch_size=-1", dict(batch_size=-1), ValueError, r"batch_size.*-1"),
    ("batch_size=2.5", dict(batch_size=2.5), TypeError, r"batch_size.*2\.5"),
    ("batch_size='a'", dict(batch_size="a"), TypeError, r"batch_size.*'a'"),
    ("batch_size=True", dict(batch_size=True), TypeError, r"batch_size.*True"),
    ("epochs=-1", dict(epochs=-1), ValueError, r"epochs.*-1"),
    ("epochs=2.5", dict(epochs=2.5), TypeError, r"epochs.*2\.5"),
    ("epochs='a'", dict(epochs="a"), TypeError, r"epochs.*'a'"),
    ("epochs=True", dict(epochs=True), TypeError, r"epochs.*True"),
    ("epochs=None", dict(epochs=None), TypeError, r"epochs.*None"),
    ("validation_split=-0.1", dict(validation_split=-0.1), ValueError, r"validation_split.*-0"),
    ("validation_split=1.0", dict(validation_split=1.0), ValueError, r"validation_split.*1\.0"),
    ("validation_split=1.5", dict(validation_split=1.5), ValueError, r"validation_split.*1\.5"),
    ("validation_split=nan", dict(validation_split=NAN), ValueError, r"validation_split.*nan"),
    ("validation_split='0.2'", dict(validation_split="0.2"), TypeError, r"validation_split"),
    ("validation_split=True", dict(validation_split=True), TypeError, r"validation_split"),
    (
        "validation_split=0.5 of 1 sample",
        dict(x=X8[:1], y=Y8[:1], validation_split=0.5),
        ValueError,
        r"validation_split=0\.5",
    ),
    ("validation_data=array", dict(validation_data=X8), ValueError, r"validation_data.*tuple"),
    ("validation_data=(x,)", dict(validation_data=(X8,)), ValueError, r"validation_data.*1"),
    ("validation_data='abc'", dict(validation_data="abc"), (ValueError, TypeError), "valid"),
    (
        "validation_data x 3 features",
        dict(validation_data=(np.ones((4, 5, 3)), Y8[:4])),
        ValueError,
        r"validation.*\(5, 3\).*\(5, 4\)",
    ),
    (
        "validation_data 4 x vs 3 y",
        dict(validation_data=(X8[:4], Y8[:3])),
        ValueError,
        r"validation_data.*4.*3",
    ),
    (
        "validation_data y (4, 2)",
        dict(validation_data=(X8[:4], np.ones((4, 2)))),
        ValueError,
        r"validation.*y.*\(2,\).*\(1,\)",
    ),
    (
        "validation_data x strings",
        dict(validation_data=(np.full((4, 5, 4), "a"), Y8[:4])),
        TypeError,
        r"validation_data x.*numeric",
    ),
    ("verbose='loud'", dict(verbose="loud"), ValueError, r"verbose.*'loud'"),
    ("verbose=-1", dict(verbose=-1), ValueError, r"verbose.*-1"),
    ("verbose=1.5", dict(verbose=1.5), (ValueError, TypeError), r"verbose.*1\.5"),
    ("verbose=[1]", dict(verbose=[1]), (ValueError, TypeError), r"verbose.*\[1\]"),
    ("callbacks='early'", dict(callbacks="early"), TypeError, r"callbacks.*str"),
    ("callbacks=5", dict(callbacks=5), TypeError, r"callbacks.*int"),
    ("callbacks=[object()]", dict(callbacks=[object()]), TypeError, r"callbacks\[0\]"),
    ("callbacks=[lambda]", dict(callbacks=[lambda logs: None]), TypeError, r"callbacks\[0\]"),
    (
        "callbacks=[EarlyStopping class]",
        dict(callbacks=[callbacks.EarlyStopping]),
        TypeError,
        r"callbacks\[0\].*type",
    ),
    ("shuffle='yes'", dict(shuffle="yes"), TypeError, r"shuffle.*'yes'"),
    ("initial_epoch=-1", dict(initial_epoch=-1), ValueError, r"initial_epoch.*-1"),
    ("initial_epoch='a'", dict(initial_epoch="a"), TypeError, r"initial_epoch.*'a'"),
    ("seed='a'", dict(seed="a"), TypeError, r"seed.*'a'"),
    ("sample_weight 7 for 8", dict(sample_weight=np.ones(7)), ValueError, r"sample_weight.*8.*7"),
    ("sample_weight strings", dict(sample_weight=np.full(8, "a")), TypeError, "sample_weight"),
    ("sample_weight nan", dict(sample_weight=np.full(8, NAN)), ValueError, "sample_weight.*NaN"),
    ("class_weight list", dict(class_weight=[1.0, 2.0]), TypeError, "class_weight.*dict"),
    (
        "class_weight and sample_weight",
        dict(class_weight={0: 1.0}, sample_weight=np.ones(8)),
        ValueError,
        "not both",
    ),
    ("steps_per_epoch=0", dict(steps_per_epoch=0), ValueError, "steps_per_epoch.*0"),
    ("steps_per_epoch=1.5", dict(steps_per_epoch=1.5), TypeError, r"steps_per_epoch.*1\.5"),
]
for _id, _kw, _err, _match in FIT_DATA + FIT_ARGS:
    bad(
        f"fit/{_id}",
        _err,
        _match,
        lambda model, k=_kw: fit(model, **k),
        make=recurrent_model,
        state=model_state,
    )

# fit: a bad value in a LATER batch (the first batches are fine): nothing may change
_IDS_LATE = later(IDS8, 6, (2,), 12)
bad(
    "fit/Embedding index 12 in a later batch",
    ValueError,
    r"index 12 is outside \[0, 10\)",
    lambda model: fit(model, _IDS_LATE, Y8, batch_size=2, shuffle=False),
    make=embedding_model,
    state=model_state,
)
bad(
    "fit/Embedding index -1 in a later batch",
    ValueError,
    r"index -1 is outside",
    lambda model: fit(model, later(IDS8, 7, (0,), -1), Y8, batch_size=2, shuffle=False),
    make=embedding_model,
    state=model_state,
)
bad(
    "fit/Embedding index 12 in validation_data",
    ValueError,
    r"index 12 is outside",
    lambda model: fit(model, IDS8, Y8, batch_size=4, validation_data=(_IDS_LATE, Y8)),
    make=embedding_model,
    state=model_state,
)
for _id, _y, _match in [
    ("label 4 of 4", later(CLASSES8, 6, (), 4), r"\[0, 4\).*got 4"),
    ("label -1", later(CLASSES8, 7, (), -1), r"\[0, 4\).*got -1"),
    ("label 1.5", later(CLASSES8, 6, (), 1.5), r"integer class indices"),
    ("label nan", later(CLASSES8, 6, (), NAN), r"integer class indices"),
]:
    bad(
        f"fit/sparse CE {_id} in a later batch",
        ValueError,
        rf"y \(labels\).*{_match}",
        lambda model, y=_y: fit(model, X8, y, batch_size=2, shuffle=False),
        make=sparse_model,
        state=model_state,
    )
    bad(
        f"evaluate/sparse CE {_id} in a later batch",
        ValueError,
        rf"y \(labels\).*{_match}",
        lambda model, y=_y: model.evaluate(X8, y, batch_size=2, verbose=0),
        make=sparse_model,
        state=model_state,
    )
bad(
    "fit/sparse CE label 4 in validation_data",
    ValueError,
    r"y \(labels\).*\[0, 4\).*got 4",
    lambda model: fit(
        model, X8, CLASSES8, batch_size=2, validation_data=(X8, later(CLASSES8, 5, (), 4))
    ),
    make=sparse_model,
    state=model_state,
)
bad(
    "fit/sparse CE one-hot labels",
    ValueError,
    r"y \(labels\).*\(8, 4\).*categorical_crossentropy",
    lambda model: fit(model, X8, np.eye(4)[CLASSES8]),
    make=sparse_model,
    state=model_state,
)
bad(
    "fit/categorical CE integer labels",
    ValueError,
    r"y \(labels\).*\(8,\).*sparse_categorical_crossentropy",
    lambda model: fit(model, X8, CLASSES8),
    make=lambda: _recompiled(sparse_model(), "sgd", "categorical_crossentropy"),
    state=model_state,
)

# evaluate and predict: the loop arguments they share, then their own
LOOP_ARGS = [
    ("batch_size=0", dict(batch_size=0), ValueError, r"batch_size.*0"),
    ("batch_size=-1", dict(batch_size=-1), ValueError, r"batch_size.*-1"),
    ("batch_size=2.5", dict(batch_size=2.5), TypeError, r"batch_size.*2\.5"),
    ("batch_size='a'", dict(batch_size="a"), TypeError, r"batch_size.*'a'"),
    ("verbose='loud'", dict(verbose="loud"), ValueError, r"verbose.*'loud'"),
    ("verbose=-1", dict(verbose=-1), ValueError, r"verbose.*-1"),
    ("callbacks=5", dict(callbacks=5), TypeError, r"callbacks.*int"),
    ("callbacks=[object()]", dict(callbacks=[object()]), TypeError, r"callbacks\[0\]"),
    ("callbacks=[lambda]", dict(callbacks=[lambda: None]), TypeError, r"callbacks\[0\]"),
    ("x None", dict(x=None), ValueError, r"\bx\b.*None"),
    ("x strings", dict(x=np.full((8, 5, 4), "a")), TypeError, r"\bx\b.*numeric"),
    ("x 2-D", dict(x=np.ones((8, 4))), ValueError, r"3-D.*\(\d+, 4\)"),
    ("x 3 features", dict(x=np.ones((8, 5, 3))), ValueError, r"4 features"),
    ("x scalar", dict(x=1.0), ValueError, r"\bx\b.*scalar"),
]
EVALUATE_ARGS = [
    ("x 8 vs y 7", dict(y=Y8[:7]), ValueError, r"\bx\b.*\by\b.*8.*7"),
    ("y (8, 2)", dict(y=np.ones((8, 2))), ValueError, r"\by\b.*\(8, 2\).*\(8, 1\)"),
    ("sample_weight 7 for 8", dict(sample_weight=np.ones(7)), ValueError, r"sample_weight.*8.*7"),
]
PREDICT_ARGS = [("x empty", dict(x=X8[:0]), ValueError, r"\bx\b.*empty")]
for _method, _data, _own in [
    ("evaluate", {"x": X8, "y": Y8}, EVALUATE_ARGS),
    ("predict", {"x": X8}, PREDICT_ARGS),
]:
    for _id, _kw, _err, _match in LOOP_ARGS + _own:
        _full = {**_data, "verbose": 0, **_kw}
        bad(
            f"{_method}/{_id}",
            _err,
            _match,
            lambda model, m=_method, k=_full: getattr(model, m)(**k),
            make=recurrent_model,
            state=model_state,
        )
    _late = (_IDS_LATE, Y8) if _method == "evaluate" else (_IDS_LATE,)
    bad(
        f"{_method}/Embedding index 12 in a later batch",
        ValueError,
        r"index 12 is outside",
        lambda model, m=_method, a=_late: getattr(model, m)(*a, batch_size=2, verbose=0),
        make=embedding_model,
        state=model_state,
    )


# saving
def _file_with(content: bytes) -> str:
    handle, path = tempfile.mkstemp(suffix=".fastrnn")
    with os.fdopen(handle, "wb") as f:
        f.write(content)
    return path


bad(
    "save/path=3",
    TypeError,
    r"path.*3",
    lambda model: model.save(3),
    make=recurrent_model,
    state=model_state,
)
bad("load_model/path=3", TypeError, r"path.*3", lambda _: load_model(3))


def _load_and_remove(path):
    try:
        load_model(path)
    finally:
        os.remove(path)


bad(
    "load_model/foreign file",
    ValueError,
    r"not a fastrnn model file",
    _load_and_remove,
    make=lambda: _file_with(b"this is not a model\n" * 10),
)
bad(
    "load_model/empty file",
    ValueError,
    r"not a fastrnn model file",
    _load_and_remove,
    make=lambda: _file_with(b""),
)

# ========================================================= optimizers
OPTIMIZER_CTOR = [
    ("SGD", dict(learning_rate=-0.1), ValueError, r"learning_rate.*-0\.1"),
    ("SGD", dict(learning_rate="0.1"), TypeError, r"learning_rate.*'0\.1'"),
    ("SGD", dict(learning_rate=None), TypeError, r"learning_rate.*None"),
    ("SGD", dict(learning_rate=NAN), ValueError, r"learning_rate.*nan"),
    ("SGD", dict(learning_rate=INF), ValueError, r"learning_rate.*inf"),
    ("SGD", dict(learning_rate=True), TypeError, r"learning_rate.*True"),
    ("SGD", dict(learning_rate=[0.1]), TypeError, r"learning_rate.*\[0\.1\]"),
    ("SGD", dict(momentum=-0.1), ValueError, r"momentum.*-0\.1"),
    ("SGD", dict(momentum=1.5), ValueError, r"momentum.*1\.5"),
    ("SGD", dict(momentum="0.9"), TypeError, r"momentum.*'0\.9'"),
    ("SGD", dict(momentum=NAN), ValueError, r"momentum.*nan"),
    ("SGD", dict(momentum=None), TypeError, r"momentum.*None"),
    ("SGD", dict(nesterov="yes"), TypeError, r"nesterov.*'yes'"),
    ("SGD", dict(clipnorm=-1.0), ValueError, r"clipnorm.*-1"),
    ("SGD", dict(clipnorm="a"), TypeError, r"clipnorm.*'a'"),
    ("SGD", dict(clipnorm=NAN), ValueError, r"clipnorm.*nan"),
    ("SGD", dict(clipvalue=-1.0), ValueError, r"clipvalue.*-1"),
    ("SGD", dict(clipvalue="a"), TypeError, r"clipvalue.*'a'"),
    ("SGD", dict(global_clipnorm=-1.0), ValueError, r"global_clipnorm.*-1"),
    ("SGD", dict(clipnorm=1.0, clipvalue=1.0), ValueError, r"clipnorm.*clipvalue"),
    ("Adam", dict(learning_rate=-1e-3), ValueError, r"learning_rate.*-0\.001"),
    ("Adam", dict(beta_1=-0.1), ValueError, r"beta_1.*-0\.1"),
    ("Adam", dict(beta_1=1.5), ValueError, r"beta_1.*1\.5"),
    ("Adam", dict(beta_1="a"), TypeError, r"beta_1.*'a'"),
    ("Adam", dict(beta_1=NAN), ValueError, r"beta_1.*nan"),
    ("Adam", dict(beta_2=1.5), ValueError, r"beta_2.*1\.5"),
    ("Adam", dict(beta_2=-1.0), ValueError, r"beta_2.*-1"),
    ("Adam", dict(epsilon=-1.0), ValueError, r"epsilon.*-1"),
    ("Adam", dict(epsilon="a"), TypeError, r"epsilon.*'a'"),
    ("Adam", dict(epsilon=NAN), ValueError, r"epsilon.*nan"),
    ("Adam", dict(clipvalue=0.0), ValueError, r"clipvalue.*0"),
    ("RMSprop", dict(learning_rate="a"), TypeError, r"learning_rate.*'a'"),
    ("RMSprop", dict(rho=1.5), ValueError, r"rho.*1\.5"),
    ("RMSprop", dict(rho=-0.1), ValueError, r"rho.*-0\.1"),
    ("RMSprop", dict(rho="a"), TypeError, r"rho.*'a'"),
    ("RMSprop", dict(momentum=-0.1), ValueError, r"momentum.*-0\.1"),
    ("RMSprop", dict(momentum=1.5), ValueError, r"momentum.*1\.5"),
    ("RMSprop", dict(epsilon=-1.0), ValueError, r"epsilon.*-1"),
    ("RMSprop", dict(centered="yes"), TypeError, r"centered.*'yes'"),
]
for _n, _kw, _err, _match in OPTIMIZER_CTOR:
    _key = ",".join(f"{k}={v!r}" for k, v in _kw.items())
    bad(
        f"optimizer/{_n}({_key})",
        _err,
        _match,
        lambda _, n=_n, k=_kw: getattr(optimizers, n)(**k),
    )
for _id, _ident, _err, _match in [
    ("get('nope')", "nope", ValueError, r"optimizer.*'nope'"),
    ("get(3)", 3, TypeError, r"optimizer.*3"),
    ("get(None)", None, TypeError, r"optimizer.*None"),
    ("get({'class_name': 'Nope'})", {"class_name": "Nope", "config": {}}, ValueError, "Nope"),
    ("get({'bad': 1})", {"bad": 1}, ValueError, r"optimizer config"),
    (
        "get(SGD config with bad lr)",
        {"class_name": "SGD", "config": {"learning_rate": -1.0}},
        ValueError,
        r"learning_rate.*-1",
    ),
    (
        "get(SGD config with unknown key)",
        {"class_name": "SGD", "config": {"lr_typo": 0.1}},
        (ValueError, TypeError),
        r"lr_typo",
    ),
]:
    bad(f"optimizer/{_id}", _err, _match, lambda _, i=_ident: optimizers.get(i))


def _adam_with_vars(steps=1):
    opt = optimizers.Adam()
    variables = [np.ones((2, 2), np.float32), np.ones(3, np.float32)]
    for _ in range(steps):
        opt.apply_gradients([np.ones((2, 2), np.float32), np.ones(3, np.float32)], variables)
    return opt, variables


for _id, _call, _err, _match in [
    (
        "1 gradient for 2 variables",
        lambda p: p[0].apply_gradients([np.ones((2, 2))], p[1]),
        ValueError,
        r"1 gradients for 2 variables",
    ),
    (
        "gradient wrong shape",
        lambda p: p[0].apply_gradients([np.ones((2, 2)), np.ones(4)], p[1]),
        ValueError,
        r"gradient 1.*\(4,\).*\(3,\)",
    ),
    (
        "gradient strings",
        lambda p: p[0].apply_gradients([np.ones((2, 2)), np.full(3, "a")], p[1]),
        TypeError,
        r"gradient 1.*numeric",
    ),
    (
        "variable a list",
        lambda p: p[0].apply_gradients([np.ones((2, 2)), np.ones(3)], [p[1][0], [1.0, 1, 1]]),
        TypeError,
        r"variables\[1\].*NumPy array",
    ),
    (
        "variables of other shapes",
        lambda p: p[0].apply_gradients([np.ones(5)], [np.ones(5)]),
        ValueError,
        r"built for",
    ),
    ("set_state([])", lambda p: p[0].set_state([]), ValueError, r"iteration count"),
    (
        "set_state(iterations 1.5)",
        lambda p: p[0].set_state([np.array(1.5)]),
        ValueError,
        r"iteration count.*float",
    ),
    (
        "set_state(iterations -1)",
        lambda p: p[0].set_state([np.array(-1)]),
        ValueError,
        r"non-negative.*-1",
    ),
    (
        "set_state(wrong count)",
        lambda p: p[0].set_state([np.array(1), np.zeros((2, 2))]),
        ValueError,
        r"2 arrays, expected 5",
    ),
    (
        "set_state(wrong slot shape)",
        lambda p: p[0].set_state([np.array(1)] + [np.zeros(7)] * 4),
        ValueError,
        r"array 1.*\(7,\).*\(2, 2\)",
    ),
    (
        "set_state(strings slot)",
        lambda p: p[0].set_state([np.array(1), np.full((2, 2), "a")] + [np.zeros(3)] * 3),
        (ValueError, TypeError),
        r"array 1.*numeric",
    ),
]:
    bad(
        f"optimizer/Adam.{_id}",
        _err,
        _match,
        _call,
        make=_adam_with_vars,
        state=optimizer_state,
    )
bad(
    "optimizer/Adam.apply_gradients on a fresh optimizer, strings",
    TypeError,
    r"gradient 1.*numeric",
    lambda p: p[0].apply_gradients([np.ones((2, 2)), np.full(3, "a")], p[1]),
    make=lambda: _adam_with_vars(steps=0),
    state=optimizer_state,
)

# ========================================================= losses and metrics
for _id, _call, _err, _match in [
    ("get('nope')", lambda: losses.get("nope"), ValueError, r"loss.*'nope'.*mse"),
    ("get(3)", lambda: losses.get(3), TypeError, r"loss.*3"),
    (
        "deserialize({'name': 'nope'})",
        lambda: losses.deserialize({"name": "nope"}),
        ValueError,
        "nope",
    ),
    ("deserialize('mse')", lambda: losses.deserialize("mse"), (ValueError, TypeError), "config"),
    (
        "BinaryCrossentropy(from_logits='yes')",
        lambda: losses.BinaryCrossentropy(from_logits="yes"),
        TypeError,
        r"from_logits.*'yes'",
    ),
    (
        "CategoricalCrossentropy(from_logits=None)",
        lambda: losses.CategoricalCrossentropy(from_logits=None),
        TypeError,
        r"from_logits.*None",
    ),
    (
        "mse y strings",
        lambda: losses.MeanSquaredError()(np.full((2, 1), "a"), np.ones((2, 1))),
        TypeError,
        r"y \(labels\).*numeric",
    ),
    (
        "mse y_pred strings",
        lambda: losses.MeanSquaredError()(np.ones((2, 1)), np.full((2, 1), "a")),
        TypeError,
        r"y_pred.*numeric",
    ),
    (
        "bce y shape (2, 3) for (2, 1)",
        lambda: losses.BinaryCrossentropy()(np.ones((2, 3)), np.ones((2, 1))),
        ValueError,
        r"y \(labels\).*\(2, 3\).*\(2, 1\)",
    ),
    (
        "sparse CE label 3 of 3",
        lambda: losses.SparseCategoricalCrossentropy()([0, 3], np.ones((2, 3)) / 3),
        ValueError,
        r"\[0, 3\).*got 3",
    ),
    (
        "sparse CE label 0.5",
        lambda: losses.SparseCategoricalCrossentropy()([0, 0.5], np.ones((2, 3)) / 3),
        ValueError,
        r"integer class indices",
    ),
    (
        "mask wrong shape",
        lambda: losses.MeanSquaredError()(
            np.ones((2, 3, 1)), np.ones((2, 3, 1)), mask=np.ones((2, 4), bool)
        ),
        ValueError,
        r"mask.*\(2, 3\).*\(2, 4\)",
    ),
    (
        "y_pred scalar",
        lambda: losses.MeanSquaredError()(1.0, 1.0),
        ValueError,
        r"y_pred.*scalar",
    ),
    ("metrics.get('nope')", lambda: metrics.get("nope"), ValueError, r"metric.*'nope'"),
    ("metrics.get(3)", lambda: metrics.get(3), TypeError, r"metric.*3"),
    (
        "metrics.get({'class_name': 'Nope'})",
        lambda: metrics.get({"class_name": "Nope"}),
        ValueError,
        r"Nope",
    ),
    (
        "BinaryAccuracy y (2, 3) for (2, 1)",
        lambda: metrics.BinaryAccuracy()(np.ones((2, 3)), np.ones((2, 1))),
        ValueError,
        r"y \(labels\).*\(2, 3\).*\(2, 1\)",
    ),
    (
        "SparseCategoricalAccuracy y (3,) for (2, 4)",
        lambda: metrics.SparseCategoricalAccuracy()(np.ones(3), np.ones((2, 4))),
        ValueError,
        r"y \(labels\).*\(3,\).*\(2, 4\)",
    ),
    (
        "CategoricalAccuracy y strings",
        lambda: metrics.CategoricalAccuracy()(np.full((2, 4), "a"), np.ones((2, 4))),
        TypeError,
        r"y \(labels\).*numeric",
    ),
    (
        "Metric mask wrong shape",
        lambda: metrics.BinaryAccuracy()(
            np.ones((2, 3, 1)), np.ones((2, 3, 1)), mask=np.ones((2, 4))
        ),
        ValueError,
        r"mask.*\(2, 3\).*\(2, 4\)",
    ),
]:
    bad(f"loss_metric/{_id}", _err, _match, lambda _, f=_call: f())

# ========================================================= callbacks
for _id, _kw, _err, _match in [
    ("patience=-1", dict(patience=-1), ValueError, r"patience.*-1"),
    ("patience=2.5", dict(patience=2.5), TypeError, r"patience.*2\.5"),
    ("patience='a'", dict(patience="a"), TypeError, r"patience.*'a'"),
    ("mode='up'", dict(mode="up"), ValueError, r"mode.*'up'"),
    ("monitor=3", dict(monitor=3), TypeError, r"monitor.*3"),
    ("min_delta='a'", dict(min_delta="a"), TypeError, r"min_delta.*'a'"),
    ("start_from_epoch=-1", dict(start_from_epoch=-1), ValueError, r"start_from_epoch.*-1"),
    ("start_from_epoch=1.5", dict(start_from_epoch=1.5), TypeError, r"start_from_epoch.*1\.5"),
]:
    bad(
        f"callback/EarlyStopping({_id})",
        _err,
        _match,
        lambda _, k=_kw: callbacks.EarlyStopping(**k),
    )

# ========================================================= preprocessing
for _id, _call, _err, _match in [
    ("pad maxlen=-1", lambda: preprocessing.pad_sequences([[1]], maxlen=-1), ValueError, "maxlen"),
    ("pad maxlen=2.5", lambda: preprocessing.pad_sequences([[1]], maxlen=2.5), TypeError, "maxlen"),
    (
        "pad padding='mid'",
        lambda: preprocessing.pad_sequences([[1]], padding="mid"),
        ValueError,
        "padding",
    ),
    (
        "pad truncating='x'",
        lambda: preprocessing.pad_sequences([[1]], truncating="x"),
        ValueError,
        "truncating",
    ),
    (
        "pad sequences=5",
        lambda: preprocessing.pad_sequences(5),
        (ValueError, TypeError),
        "sequences",
    ),
    (
        "pad dtype='nope'",
        lambda: preprocessing.pad_sequences([[1]], dtype="nope"),
        (ValueError, TypeError),
        "dtype",
    ),
    (
        "to_categorical num_classes=0",
        lambda: preprocessing.to_categorical([0], num_classes=0),
        ValueError,
        "num_classes",
    ),
    (
        "to_categorical label 3 of 2",
        lambda: preprocessing.to_categorical([3], num_classes=2),
        ValueError,
        r"\[0, 2\).*3",
    ),
    ("to_categorical strings", lambda: preprocessing.to_categorical(["a"]), TypeError, r"\bx\b"),
]:
    bad(f"preprocessing/{_id}", _err, _match, lambda _, f=_call: f())


# ========================================================= functional and subclassed models
def functional_model():
    tokens = fastrnn.Input(shape=(5,), name="tokens")
    extra = fastrnn.Input(shape=(4,), name="extra")
    h = fastrnn.layers.Concatenate()([GRU(3, seed=0)(Embedding(10, 4, seed=0)(tokens)), extra])
    model = fastrnn.Model(
        [tokens, extra], [Dense(1, seed=0, name="score")(h), Dense(2, seed=0, name="tag")(h)]
    )
    model.compile(optimizer="adam", loss=["mse", "mse"])
    return model


class _Doubling(fastrnn.Model):
    def __init__(self):
        super().__init__()
        self.first, self.second = Dense(3, seed=0), Dense(1, seed=0)

    def call(self, inputs, training=False):
        return self.second(self.first(inputs) * 2)


def doubling_model():
    model = _Doubling()
    model(X8[:, 0])
    model.compile(optimizer="sgd", loss="mse")
    return model


_A, _B = fastrnn.Input(shape=(3, 4)), fastrnn.Input(shape=(2, 4))
_XF = [IDS8, X8[:, 0]]
_YF = [Y8, np.ones((8, 2), np.float32)]
for _id, _call, _err, _match in [
    ("Input(shape='ab')", lambda: fastrnn.Input(shape="ab"), TypeError, r"shape"),
    ("Input(shape=(0,))", lambda: fastrnn.Input(shape=(0,)), ValueError, r"shape\[0\]"),
    ("Input(dtype='str')", lambda: fastrnn.Input(shape=(3,), dtype="str"), ValueError, r"dtype"),
    ("Input()", lambda: fastrnn.Input(), ValueError, r"shape"),
    ("Model()", lambda: fastrnn.Model(), TypeError, r"inputs.*outputs"),
    ("Model(inputs=array)", lambda: fastrnn.Model(np.ones(3), _A), TypeError, r"inputs"),
    ("Model(outputs=None)", lambda: fastrnn.Model(_A, None), TypeError, r"outputs"),
    (
        "Model(disconnected)",
        lambda: fastrnn.Model(_A, Dense(2)(_B)),
        ValueError,
        r"Graph disconnected.*inputs",
    ),
    (
        "Concatenate(mismatch)",
        lambda: fastrnn.layers.Concatenate()([_A, _B]),
        ValueError,
        r"concatenate.*\(None, 3, 4\).*\(None, 2, 4\)",
    ),
    ("Add(mismatch)", lambda: fastrnn.layers.Add()([_A, _B]), ValueError, r"add.*one shape"),
    (
        "LSTM(initial_state=wrong)",
        lambda: LSTM(3)(_A, initial_state=[_A]),
        ValueError,
        r"initial_state",
    ),
]:
    bad(f"functional/{_id}", _err, _match, lambda _, f=_call: f())

for _id, _call, _err, _match in [
    ("fit(x=one array)", lambda m: fit(m, IDS8, _YF), ValueError, r"has 2 inputs.*x"),
    ("fit(y=one array)", lambda m: fit(m, _XF, Y8), ValueError, r"2 outputs.*`y`"),
    ("fit(y=3 arrays)", lambda m: fit(m, _XF, _YF + [Y8]), ValueError, r"`y`.*list of 3"),
    ("fit(x=dict missing)", lambda m: fit(m, {"tokens": IDS8}, _YF), ValueError, r"missing"),
    ("fit(x=wrong shape)", lambda m: fit(m, [IDS8, X8], _YF), ValueError, r"x\[1\].*shape"),
    (
        "fit(y=short)",
        lambda m: fit(m, _XF, [Y8[:4], _YF[1]]),
        ValueError,
        r"y\[0\].*same number of samples",
    ),
    (
        "fit(class_weight)",
        lambda m: fit(m, _XF, _YF, class_weight={0: 1}),
        ValueError,
        "class_weight",
    ),
    ("fit(ids out of range)", lambda m: fit(m, [IDS8 + 10, _XF[1]], _YF), ValueError, r"x"),
    ("compile(loss=3 losses)", lambda m: m.compile(loss=["mse"] * 3), ValueError, r"loss.*2"),
    (
        "compile(loss_weights=-1)",
        lambda m: m.compile(loss="mse", loss_weights=[-1, 1]),
        ValueError,
        r"loss_weights",
    ),
    ("compile(loss=dict typo)", lambda m: m.compile(loss={"scor": "mse"}), ValueError, r"scor"),
    ("get_layer('nope')", lambda m: m.get_layer("nope"), ValueError, r"'nope'"),
    ("get_layer(index=99)", lambda m: m.get_layer(index=99), ValueError, r"index"),
    ("set_weights(short)", lambda m: m.set_weights(m.get_weights()[:-1]), ValueError, r"weights"),
]:
    bad(f"functional/{_id}", _err, _match, _call, make=functional_model, state=model_state)

bad(
    "subclassed/fit(NumPy between layers)",
    ValueError,
    r"dense.*cannot be differentiated",
    lambda m: fit(m, X8[:, 0], Y8),
    make=doubling_model,
    state=model_state,
)


# ========================================================= backends and threads
def _use_backend(name):
    with fastrnn.use_backend(name):
        pass


for _id, _call, _err, _match in [
    ("set_backend('gpu')", lambda: fastrnn.set_backend("gpu"), ValueError, r"'gpu'.*numpy"),
    ("set_backend(3)", lambda: fastrnn.set_backend(3), TypeError, r"backend.*3"),
    ("set_backend(None)", lambda: fastrnn.set_backend(None), TypeError, r"backend.*None"),
    ("use_backend('nope')", lambda: _use_backend("nope"), ValueError, r"'nope'"),
    ("set_num_threads(0)", lambda: fastrnn.set_num_threads(0), ValueError, r"threads.*0"),
    ("set_num_threads(-1)", lambda: fastrnn.set_num_threads(-1), ValueError, r"threads.*-1"),
    ("set_num_threads('a')", lambda: fastrnn.set_num_threads("a"), TypeError, r"threads.*'a'"),
    ("set_num_threads(2.5)", lambda: fastrnn.set_num_threads(2.5), TypeError, r"threads.*2\.5"),
]:
    bad(
        f"global/{_id}", _err, _match, lambda _, f=_call: f(), make=lambda: None, state=global_state
    )


# ========================================================= the test
def _ids():
    seen = set()
    for case in CASES:
        assert case.id not in seen, f"duplicate case id {case.id!r}"
        seen.add(case.id)
    return [case.id for case in CASES]


def run_case(case: Bad) -> list[str]:
    """Run one case; returns the problems found (empty when it is clean)."""
    problems = []
    obj = case.make() if case.make is not None else None
    before = case.state(obj) if case.state is not None else None
    try:
        case.call(obj)
    except Exception as exc:  # the census records whatever comes out
        text = f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, (ValueError, TypeError)):
            problems.append(f"not a ValueError/TypeError: {text}")
        elif not isinstance(exc, case.error):
            expected = getattr(case.error, "__name__", None) or "/".join(
                e.__name__ for e in case.error
            )
            problems.append(f"expected {expected}, got {text}")
        if not re.search(case.match, str(exc), re.DOTALL):
            problems.append(f"message does not match {case.match!r}: {text}")
    else:
        problems.append("accepted silently")
    if case.state is not None and not _same(before, case.state(obj)):
        problems.append("object changed")
    return problems


@pytest.fixture(autouse=True)
def _restore_globals():
    backend, threads = fastrnn.get_backend(), fastrnn.get_num_threads()
    yield
    fastrnn.set_backend(backend)
    fastrnn.set_num_threads(threads)


@pytest.mark.parametrize("case", CASES, ids=_ids())
def test_bad_input(case):
    problems = run_case(case)
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


def test_census_is_large_enough():
    assert len(CASES) >= 250 and len(set(_ids())) == len(CASES)
