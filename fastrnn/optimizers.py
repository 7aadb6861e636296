"""Optimizers with Keras 3's update rules, updating weight arrays in place.

``optimizer.apply_gradients(grads, variables)`` (or a list of
``(grad, variable)`` pairs, as in Keras) updates each variable array in
place. The slot variables (momenta, moving averages) are created on the
first call, aligned by position with ``variables``; pass the same list, in
the same order, on every call (``Sequential.fit`` does).

Formulas (``g`` after clipping; ``t`` = ``iterations + 1``):

* SGD: ``m = momentum*m - lr*g``; ``w += m`` (nesterov: ``w += momentum*m - lr*g``);
  without momentum ``w -= lr*g``.
* Adam: ``m += (g - m)*(1 - beta_1)``; ``v += (g*g - v)*(1 - beta_2)``;
  ``alpha = lr*sqrt(1 - beta_2**t)/(1 - beta_1**t)``;
  ``w -= alpha*m/(sqrt(v) + epsilon)``.
* RMSprop: ``v = rho*v + (1 - rho)*g*g``; ``inc = lr*g/sqrt(v + epsilon)``
  (``centered=True``: ``a = rho*a + (1 - rho)*g``, ``inc = lr*g/sqrt(v - a*a + epsilon)``);
  with momentum ``m = momentum*m + inc; w -= m``, else ``w -= inc``.

Embedding gradients (``row_updates=True``, the default): an Embedding's
gradient carries one gradient per occurrence of each row
(``fastrnn._row_gradients``), and the optimizers treat it as Keras 3 on
TensorFlow treats its ``IndexedSlices``: Adam and RMSprop add the *squares
of the occurrences* (``sum_k g_k**2``, not ``(sum_k g_k)**2``) into the
second moment, so a row seen ``n`` times in a batch moves about ``sqrt(n)``
times as far as with the dense rule; clipping acts on the occurrences.
``global_clipnorm`` leaves the gradients dense, as in Keras (its norm counts
the occurrences). ``row_updates=False`` gives the dense rule (Keras on JAX
or PyTorch).

Clipping (Keras 3): ``clipnorm`` rescales each gradient whose own L2 norm
exceeds it; ``clipvalue`` clips each element to ``[-clipvalue, clipvalue]``;
``global_clipnorm`` rescales all gradients by their joint norm. At most one
of them may be set.

State for saving: ``get_state()`` returns a list of arrays (``iterations``
first, then every slot); ``set_state(list)`` restores it (call ``build(vars)``
first). ``get_config()`` / ``from_config()`` round-trip the hyper-parameters.
"""

import math

import numpy as np

from ._row_gradients import segment_sum

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "RMSprop",
    "get",
    "serialize",
    "deserialize",
    "OPTIMIZER_NAMES",
]


def _check_positive(name, value, allow_zero=False, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}: {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        expected = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {expected}, got {value!r}")
    return value


def _check_unit(name, value):
    value = _check_positive(name, value, allow_zero=True)
    if not value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return value


class Optimizer:
    """Base class: clipping, iteration counter, slots and (de)serialisation."""

    name = "optimizer"
    _slot_names = ()

    def __init__(
        self,
        learning_rate,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name=None,
        row_updates=True,
    ):
        self.learning_rate = _check_positive("learning_rate", learning_rate, allow_zero=True)
        if not isinstance(row_updates, (bool, np.bool_)):
            raise TypeError(f"row_updates must be True or False, got {row_updates!r}")
        self.row_updates = bool(row_updates)
        self.clipnorm = _check_positive("clipnorm", clipnorm, allow_none=True)
        self.clipvalue = _check_positive("clipvalue", clipvalue, allow_none=True)
        self.global_clipnorm = _check_positive("global_clipnorm", global_clipnorm, allow_none=True)
        if sum(v is not None for v in (self.clipnorm, self.clipvalue, self.global_clipnorm)) > 1:
            raise ValueError(
                "Only one of clipnorm, clipvalue and global_clipnorm can be set, got "
                f"clipnorm={clipnorm!r}, clipvalue={clipvalue!r}, "
                f"global_clipnorm={global_clipnorm!r}"
            )
        if name is not None:
            self.name = str(name)
        self.iterations = 0
        self._slots = None  # list (per variable) of dict slot_name -> array
        self._shapes = None

    # --- building and state --------------------------------------------
    @property
    def built(self):
        return self._slots is not None

    def build(self, variables):
        """Create zeroed slots for ``variables`` (a list of arrays)."""
        self._shapes = [tuple(np.shape(v)) for v in variables]
        self._slots = [
            {s: np.zeros(np.shape(v), dtype=np.asarray(v).dtype) for s in self._slot_names}
            for v in variables
        ]

    def get_state(self):
        """``[iterations, *slots]`` as arrays (slots variable by variable, in slot-name order)."""
        out = [np.array(self.iterations, dtype=np.int64)]
        for slots in self._slots or []:
            out.extend(slots[s].copy() for s in self._slot_names)
        return out

    def set_state(self, state):
        """Restore what ``get_state`` returned; the optimizer must be built (``build(vars)``)."""
        state = list(state)
        if not state:
            raise ValueError(
                "optimizer state must start with the iteration count, got an empty list"
            )
        expected = 1 + (len(self._slots) * len(self._slot_names) if self._slots is not None else 0)
        iterations = np.asarray(state[0])
        if iterations.shape != () or iterations.dtype.kind not in "iu" or iterations < 0:
            raise ValueError(
                "optimizer state must start with the iteration count, a non-negative integer "
                f"scalar; got {iterations.dtype} array of shape {iterations.shape}"
                + (f" holding {iterations}" if iterations.shape == () else "")
            )
        if len(state) == 1:
            self.iterations = int(iterations)
            return
        if self._slots is None:
            raise ValueError("build(variables) the optimizer before restoring slot state")
        if len(state) != expected:
            raise ValueError(f"optimizer state has {len(state)} arrays, expected {expected}")
        k = 1
        new = []
        for slots in self._slots:
            d = {}
            for s in self._slot_names:
                arr = np.asarray(state[k])
                if arr.dtype.kind not in "iuf":
                    raise ValueError(
                        f"optimizer state array {k} must be numeric, got dtype {arr.dtype}"
                    )
                if arr.shape != slots[s].shape:
                    raise ValueError(
                        f"optimizer state array {k} has shape {arr.shape}, "
                        f"expected {slots[s].shape}"
                    )
                d[s] = arr.astype(slots[s].dtype, copy=True)
                k += 1
            new.append(d)
        self._slots = new
        self.iterations = int(iterations)

    def get_config(self):
        return {
            "name": self.name,
            "learning_rate": self.learning_rate,
            "clipnorm": self.clipnorm,
            "clipvalue": self.clipvalue,
            "global_clipnorm": self.global_clipnorm,
            "row_updates": self.row_updates,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("class_name", None)
        return cls(**config)

    # --- clipping --------------------------------------------------------
    @staticmethod
    def _sum_of_squares(item):
        dense, occurrences = item
        values = dense if occurrences is None else occurrences[1]
        return float(np.sum(np.square(values, dtype=np.float64)))

    @staticmethod
    def _scaled(item, numerator, denominator):
        """``item`` times ``numerator / denominator``, computed as Keras does."""
        dense, occurrences = item
        if occurrences is None:
            return [(dense * numerator) / denominator, None]
        indices, values = occurrences
        values = (values * numerator) / denominator
        return [segment_sum(indices, values, dense.shape[0]), (indices, values)]

    def _clip(self, items):
        """Clip ``[dense, occurrences]`` gradients; a gradient with occurrences is
        clipped occurrence by occurrence (its norm is theirs), as TensorFlow clips
        an ``IndexedSlices``."""
        if self.clipnorm is not None:
            out = []
            for item in items:
                norm = math.sqrt(self._sum_of_squares(item))
                dt = item[0].dtype.type
                out.append(
                    self._scaled(item, dt(self.clipnorm), dt(max(norm, self.clipnorm)))
                    if norm > 0
                    else item
                )
            return out
        if self.clipvalue is not None:
            out = []
            for dense, occurrences in items:
                if occurrences is None:
                    out.append([np.clip(dense, -self.clipvalue, self.clipvalue), None])
                else:
                    indices, values = occurrences
                    values = np.clip(values, -self.clipvalue, self.clipvalue)
                    out.append([segment_sum(indices, values, dense.shape[0]), (indices, values)])
            return out
        if self.global_clipnorm is not None:
            # Keras scales every gradient, dense: an IndexedSlices times a
            # tensor is a dense tensor, so the occurrences do not survive.
            total = math.sqrt(sum(self._sum_of_squares(item) for item in items))
            if total > self.global_clipnorm:
                scale = self.global_clipnorm / total
                return [[dense * dense.dtype.type(scale), None] for dense, _ in items]
            return [[dense, None] for dense, _ in items]
        return items

    # --- applying --------------------------------------------------------
    def apply_gradients(self, grads_and_vars, variables=None):
        """Update ``variables`` in place. Accepts ``(grads, variables)`` or a list of pairs."""
        if variables is None:
            pairs = list(grads_and_vars)
            grads = [p[0] for p in pairs]
            variables = [p[1] for p in pairs]
        else:
            grads = list(grads_and_vars)
            variables = list(variables)
        if len(grads) != len(variables):
            raise ValueError(
                f"apply_gradients got {len(grads)} gradients for {len(variables)} variables"
            )
        for i, (g, v) in enumerate(zip(grads, variables)):
            if not isinstance(v, np.ndarray):
                raise TypeError(
                    f"variables[{i}] must be a NumPy array (updated in place), "
                    f"got {type(v).__name__}"
                )
            if g is None:
                continue
            kind = np.asarray(g).dtype.kind
            if kind not in "biuf":
                raise TypeError(
                    f"gradient {i} must be numeric, got an array of dtype {np.asarray(g).dtype}"
                )
            if np.shape(g) != v.shape:
                raise ValueError(
                    f"gradient {i} has shape {np.shape(g)}, variable {i} has shape {v.shape}"
                )
        if self._slots is None:
            self.build(variables)
        elif [v.shape for v in variables] != self._shapes:
            raise ValueError(
                "apply_gradients got variables of shapes "
                f"{[v.shape for v in variables]}, but the optimizer was built for {self._shapes}"
            )
        idx = [i for i, g in enumerate(grads) if g is not None]
        items = []
        for i in idx:
            dt = variables[i].dtype
            occurrences = getattr(grads[i], "occurrences", None) if self.row_updates else None
            if occurrences is not None:
                occurrences = (occurrences[0], np.asarray(occurrences[1], dtype=dt))
            items.append([np.asarray(grads[i], dtype=dt), occurrences])
        for i, (g, occurrences) in zip(idx, self._clip(items)):
            squares = None
            if occurrences is not None:
                indices, values = occurrences
                squares = segment_sum(indices, np.square(values), g.shape[0])
            self._update(
                variables[i], g.astype(variables[i].dtype, copy=False), self._slots[i], squares
            )
        self.iterations += 1

    def _update(self, var, grad, slots, squares=None):  # pragma: no cover - abstract
        """Update ``var`` in place; ``squares``, when given, replaces ``grad**2``
        (the per-occurrence squares of an Embedding gradient)."""
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    name = "SGD"

    def __init__(
        self,
        learning_rate=0.01,
        momentum=0.0,
        nesterov=False,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name=None,
        row_updates=True,
    ):
        super().__init__(learning_rate, clipnorm, clipvalue, global_clipnorm, name, row_updates)
        self.momentum = _check_unit("momentum", momentum)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"nesterov must be a bool, got {nesterov!r}")
        self.nesterov = bool(nesterov)
        self._slot_names = ("momentum",) if self.momentum != 0 else ()

    def get_config(self):
        c = super().get_config()
        c.update(momentum=self.momentum, nesterov=self.nesterov)
        return c

    def _update(self, var, g, slots, squares=None):
        lr = var.dtype.type(self.learning_rate)
        if self.momentum != 0:
            mom = var.dtype.type(self.momentum)
            m = slots["momentum"]
            m *= mom
            m -= lr * g
            if self.nesterov:
                var += mom * m - lr * g
            else:
                var += m
        else:
            var -= lr * g


class Adam(Optimizer):
    name = "adam"
    _slot_names = ("momentum", "velocity")

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name=None,
        row_updates=True,
    ):
        super().__init__(learning_rate, clipnorm, clipvalue, global_clipnorm, name, row_updates)
        self.beta_1 = _check_unit("beta_1", beta_1)
        self.beta_2 = _check_unit("beta_2", beta_2)
        self.epsilon = _check_positive("epsilon", epsilon, allow_zero=True)

    def get_config(self):
        c = super().get_config()
        c.update(beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon)
        return c

    def _update(self, var, g, slots, squares=None):
        t = self.iterations + 1
        dt = var.dtype.type
        b1p = dt(self.beta_1) ** dt(t)
        b2p = dt(self.beta_2) ** dt(t)
        alpha = dt(self.learning_rate) * np.sqrt(dt(1) - b2p) / (dt(1) - b1p)
        m, v = slots["momentum"], slots["velocity"]
        m += (g - m) * dt(1 - self.beta_1)
        v += ((np.square(g) if squares is None else squares) - v) * dt(1 - self.beta_2)
        var -= (alpha * m) / (np.sqrt(v) + dt(self.epsilon))


class RMSprop(Optimizer):
    name = "rmsprop"

    def __init__(
        self,
        learning_rate=0.001,
        rho=0.9,
        momentum=0.0,
        epsilon=1e-7,
        centered=False,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name=None,
        row_updates=True,
    ):
        super().__init__(learning_rate, clipnorm, clipvalue, global_clipnorm, name, row_updates)
        self.rho = _check_unit("rho", rho)
        self.momentum = _check_unit("momentum", momentum)
        self.epsilon = _check_positive("epsilon", epsilon, allow_zero=True)
        if not isinstance(centered, (bool, np.bool_)):
            raise TypeError(f"centered must be a bool, got {centered!r}")
        self.centered = bool(centered)
        self._slot_names = (
            ("velocity",)
            + (("momentum",) if self.momentum > 0 else ())
            + (("average_gradient",) if self.centered else ())
        )

    def get_config(self):
        c = super().get_config()
        c.update(rho=self.rho, momentum=self.momentum, epsilon=self.epsilon, centered=self.centered)
        return c

    def _update(self, var, g, slots, squares=None):
        dt = var.dtype.type
        v = slots["velocity"]
        v *= dt(self.rho)
        v += dt(1 - self.rho) * (np.square(g) if squares is None else squares)
        if self.centered:
            a = slots["average_gradient"]
            a *= dt(self.rho)
            a += dt(1 - self.rho) * g
            denominator = v - np.square(a) + dt(self.epsilon)
        else:
            denominator = v + dt(self.epsilon)
        increment = dt(self.learning_rate) * g / np.sqrt(denominator)
        if self.momentum > 0:
            m = slots["momentum"]
            m *= dt(self.momentum)
            m += increment
            var -= m
        else:
            var -= increment


_BY_NAME = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop}
#: Names accepted by ``compile(optimizer=...)``.
OPTIMIZER_NAMES = tuple(_BY_NAME)


def get(identifier):
    """An optimizer from a name, a config dict, or an optimizer (returned as is)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(
                f"Unknown optimizer: optimizer={identifier!r}. Valid names: "
                f"{', '.join(OPTIMIZER_NAMES)} (or a fastrnn.optimizers.Optimizer instance)"
            )
        return cls()
    raise TypeError(
        f"optimizer must be a name ({', '.join(OPTIMIZER_NAMES)}) or a "
        "fastrnn.optimizers.Optimizer "
        f"instance, got {type(identifier).__name__}: {identifier!r}"
    )


def serialize(optimizer):
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config):
    if not isinstance(config, dict) or "class_name" not in config or "config" not in config:
        raise ValueError(
            f"optimizer config must be a dict with 'class_name' and 'config', got {config!r}"
        )
    classes = {c.__name__: c for c in _BY_NAME.values()}
    cls = classes.get(config["class_name"])
    if cls is None:
        raise ValueError(
            f"Unknown optimizer class {config['class_name']!r}; valid: {', '.join(classes)}"
        )
    return cls.from_config(config["config"])
