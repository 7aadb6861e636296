"""The systems the benchmark compares: fastrnn's backends and the peers.

Each system turns a (cell, shape, mode) into a zero-argument callable that
does one complete call (setup, weight creation and tracing happen before);
the runner times the callables. Peers (PyTorch, TensorFlow/Keras, JAX) are
imported only when available and never required. ``fastrnn.torch`` (torch's
modules on fastrnn's kernels) is measured beside PyTorch when it loads.
"""

import numpy as np

import fastrnn
from fastrnn.layers import GRU, LSTM, SimpleRNN
from fastrnn.ops import CELLS as CELL_SPECS

from . import grid
from .grid import SHAPES, STEP_SHAPE
from .threads import THREADS

PEER_NAMES = ("torch", "keras", "jax", "onnxruntime")
LABELS = {"torch": "torch", "keras": "tf/keras", "jax": "jax", "onnxruntime": "onnxruntime"}
PIP_HINT = {
    "torch": "pip install torch==2.13.0",
    "keras": "pip install tensorflow-cpu",
    "jax": "pip install jax",
    "onnxruntime": "pip install onnx onnxruntime",
}


class SkipSystem(Exception):
    """Raised when a system cannot run here; the message says why."""


def _shape(shape):
    return SHAPES[shape] if isinstance(shape, str) else shape


def make_input(shape, seed=0):
    s = _shape(shape)
    rng = np.random.default_rng(seed)
    return rng.standard_normal((s["batch"], s["timesteps"], s["input_dim"])).astype(np.float32)


def keras_weights(cell, input_dim, units, seed=0):
    """Weights in the Keras layout (kernel, recurrent_kernel, bias), float32.

    Glorot-uniform kernel, orthogonal recurrent kernel, zero bias (the LSTM's
    forget-gate block at one; GRU's bias has an input row and a recurrent row).
    """
    gates = CELL_SPECS[cell].gates
    rng = np.random.default_rng(seed)
    lim = np.sqrt(6.0 / (input_dim + gates * units))
    kernel = rng.uniform(-lim, lim, (input_dim, gates * units)).astype(np.float32)
    q, _ = np.linalg.qr(rng.standard_normal((gates * units, units)))
    recurrent = np.ascontiguousarray(q.T[:units, : gates * units]).astype(np.float32)
    if cell == "gru":
        bias = np.zeros((2, gates * units), np.float32)
    else:
        bias = np.zeros(gates * units, np.float32)
        if cell == "lstm":
            bias[units : 2 * units] = 1.0
    return kernel, recurrent, bias


# --------------------------------------------------------------------- fastrnn
_LAYERS = {"simple_rnn": SimpleRNN, "lstm": LSTM, "gru": GRU}


class FastrnnSystem:
    """One fastrnn backend, driven through the public layers."""

    kind = "fastrnn"

    def __init__(self, backend):
        self.name = backend
        self.label = backend
        self.threads = {"fastrnn": fastrnn.get_num_threads()}

    def make(self, cell, shape, mode, x):
        s = _shape(shape)
        layer = _LAYERS[cell](s["units"], return_sequences=True, backend=self.name)
        if mode == "forward":
            layer(x)
            return lambda: layer(x)
        ones = np.ones_like(np.asarray(layer(x, training=True)))

        def train():
            layer(x, training=True)
            return layer.backward(ones)

        return train

    def make_step(self):
        """One LSTM step through ``layer.step(x_t, states)``."""
        s = STEP_SHAPE
        layer = LSTM(s["units"], return_sequences=True, backend=self.name)
        layer(np.zeros((s["batch"], 1, s["input_dim"]), np.float32))  # build the weights
        x_t = (
            np.random.default_rng(1)
            .standard_normal((s["batch"], s["input_dim"]))
            .astype(np.float32)
        )
        states = [np.zeros((s["batch"], s["units"]), np.float32) for _ in range(2)]
        return lambda: layer.step(x_t, states)


# ----------------------------------------------------------------------- torch
class TorchSystem:
    kind = "peer"
    name = "torch"
    label = LABELS["torch"]

    def __init__(self, threads=THREADS):
        try:
            import torch
        except ImportError as exc:
            raise SkipSystem(f"not installed ({exc}); {PIP_HINT['torch']}") from None
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:  # only settable once, before any parallel work
            pass
        self.torch = torch
        self.version = torch.__version__
        self.threads = {
            "intra_op": torch.get_num_threads(),
            "inter_op": torch.get_num_interop_threads(),
        }

    def module(self, cell, input_dim, units):
        """The batch-first ``torch.nn`` module of ``cell``, seeded (the same weights each time)."""
        nn = self.torch.nn
        self.torch.manual_seed(0)
        kind = {"simple_rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
        return kind(input_dim, units, batch_first=True)

    def make(self, cell, shape, mode, x):
        s = _shape(shape)
        model = self.module(cell, s["input_dim"], s["units"])
        return self._call(model, mode, self.torch.from_numpy(x))

    def make_packed(self, mode):
        """One call of the packed benchmark (:data:`~fastrnn.bench.grid.PACKED_SHAPE`):
        an LSTM over a ``PackedSequence`` of unsorted lengths, packed once;
        ``train`` also backpropagates the sum of the packed output to its data."""
        torch = self.torch
        from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

        s = grid.PACKED_SHAPE
        model = self.module("lstm", s["input_dim"], s["units"])
        lengths = torch.from_numpy(grid.packed_lengths(s))
        padded = torch.from_numpy(make_input(s))
        packed = pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
        _, batch_sizes, sorted_indices, unsorted_indices = packed

        def wrap(data):
            return PackedSequence(data, batch_sizes, sorted_indices, unsorted_indices)

        return self._call(model, mode, packed.data, wrap, lambda output: output.data)

    def _call(self, model, mode, x, wrap=None, data_of=None):
        """A zero-argument callable that runs ``model`` on ``wrap(x)`` (default
        ``x``): under ``torch.inference_mode()`` (``forward``), or a training
        step that backpropagates the sum of ``data_of(output)`` (default the
        output) to a copy of ``x`` requiring grad (``train``)."""
        torch = self.torch
        wrap = wrap or (lambda tensor: tensor)
        data_of = data_of or (lambda output: output)
        if mode == "forward":
            model.eval()
            given = wrap(x)

            def forward():
                with torch.inference_mode():
                    return model(given)[0]

            return forward
        leaf = x.clone().requires_grad_(True)
        given = wrap(leaf)

        def train():
            model.zero_grad(set_to_none=True)
            leaf.grad = None
            output, _ = model(given)
            data_of(output).sum().backward()
            return leaf.grad

        return train

    def make_step(self):
        torch = self.torch
        s = STEP_SHAPE
        torch.manual_seed(0)
        cell = torch.nn.LSTMCell(s["input_dim"], s["units"])
        x = torch.randn(s["batch"], s["input_dim"])
        h = torch.zeros(s["batch"], s["units"])
        c = torch.zeros(s["batch"], s["units"])

        def step():
            with torch.inference_mode():
                return cell(x, (h, c))

        return step


# --------------------------------------------------------------- fastrnn.torch
class FastrnnTorchSystem(TorchSystem):
    """``fastrnn.torch``'s RNN, LSTM and GRU: ``torch.nn``'s modules on fastrnn's
    kernels (the default backend, ``"auto"``), made from the same seeded
    ``torch.nn`` module by :func:`fastrnn.torch.convert` and driven exactly as
    :class:`TorchSystem` drives ``torch.nn``."""

    kind = "fastrnn.torch"
    name = "fastrnn.torch"
    label = "fastrnn.torch"

    def __init__(self, threads=THREADS):
        super().__init__(threads)
        import fastrnn.torch as ft

        self.convert = ft.convert
        self.version = f"fastrnn {fastrnn.__version__} on torch {self.torch.__version__}"
        self.threads = {**self.threads, "fastrnn": fastrnn.get_num_threads()}

    def module(self, cell, input_dim, units):
        return self.convert(super().module(cell, input_dim, units))

    def make_step(self):
        raise SkipSystem("no single-step module (torch.nn.LSTMCell has no twin)")


# ----------------------------------------------------------------- tf / keras
class KerasSystem:
    kind = "peer"
    name = "keras"
    label = LABELS["keras"]

    def __init__(self, threads=THREADS):
        import os

        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        try:
            import tensorflow as tf
        except ImportError as exc:
            raise SkipSystem(f"not installed ({exc}); {PIP_HINT['keras']}") from None
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # TF already initialized its runtime
            pass
        try:
            import keras
        except ImportError as exc:
            raise SkipSystem(f"keras not importable ({exc})") from None
        if keras.backend.backend() != "tensorflow":
            raise SkipSystem(
                f"Keras runs on {keras.backend.backend()!r}, not tensorflow "
                "(set KERAS_BACKEND=tensorflow)"
            )
        self.tf, self.keras = tf, keras
        self.threads = {
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        }
        self.version = f"tensorflow {tf.__version__}, keras {keras.__version__}"

    def make(self, cell, shape, mode, x):
        tf, keras = self.tf, self.keras
        s = _shape(shape)
        layer = {
            "simple_rnn": keras.layers.SimpleRNN,
            "lstm": keras.layers.LSTM,
            "gru": keras.layers.GRU,
        }[cell](s["units"], return_sequences=True)
        xt = tf.constant(x)
        layer(xt)  # build
        if mode == "forward":
            f = tf.function(lambda v: layer(v))
            return lambda: f(xt)

        @tf.function
        def grads(v):
            with tf.GradientTape() as tape:
                tape.watch(v)
                loss = tf.reduce_sum(layer(v, training=True))
            return tape.gradient(loss, [v] + list(layer.trainable_weights))

        return lambda: grads(xt)

    def make_step(self):
        tf, keras = self.tf, self.keras
        s = STEP_SHAPE
        cell = keras.layers.LSTMCell(s["units"])
        x = tf.constant(
            np.random.default_rng(1)
            .standard_normal((s["batch"], s["input_dim"]))
            .astype(np.float32)
        )
        states = [tf.zeros((s["batch"], s["units"])), tf.zeros((s["batch"], s["units"]))]
        cell(x, states)  # build
        f = tf.function(lambda v, h, c: cell(v, [h, c]))
        return lambda: f(x, *states)


# ------------------------------------------------------------------------- jax
def _jax_cells(jnp):
    sig = lambda a: 1.0 / (1.0 + jnp.exp(-a))  # noqa: E731

    def simple_rnn(params, carry, xp_t):
        (h,) = carry
        h = jnp.tanh(xp_t + h @ params[1])
        return (h,), h

    def lstm(params, carry, xp_t):
        h, c = carry
        z = xp_t + h @ params[1]
        i, f, g, o = jnp.split(z, 4, axis=-1)
        c = sig(f) * c + sig(i) * jnp.tanh(g)
        h = sig(o) * jnp.tanh(c)
        return (h, c), h

    def gru(params, carry, xp_t):
        (h,) = carry
        inner = h @ params[1] + params[2][1]
        xz, xr, xh = jnp.split(xp_t, 3, axis=-1)
        hz, hr, hh = jnp.split(inner, 3, axis=-1)
        z = sig(xz + hz)
        r = sig(xr + hr)
        cand = jnp.tanh(xh + r * hh)
        h = z * h + (1.0 - z) * cand
        return (h,), h

    return {"simple_rnn": simple_rnn, "lstm": lstm, "gru": gru}


class JaxSystem:
    kind = "peer"
    name = "jax"
    label = LABELS["jax"]

    def __init__(self, threads=THREADS):
        try:
            import jax
            import jax.numpy as jnp
        except ImportError as exc:
            raise SkipSystem(f"not installed ({exc}); {PIP_HINT['jax']}") from None
        self.jax, self.jnp = jax, jnp
        self.cells = _jax_cells(jnp)
        self.version = jax.__version__
        self.threads = {"note": "XLA CPU has no thread-count switch; uses the machine's cores"}

    def _run(self, cell):
        jax, jnp = self.jax, self.jnp
        step = self.cells[cell]
        n_states = len(CELL_SPECS[cell].state_names)

        def run(params, x):
            kernel, _, bias = params
            input_bias = bias[0] if cell == "gru" else bias
            xp = jnp.swapaxes(x, 0, 1) @ kernel + input_bias  # hoisted input projection
            batch, units = x.shape[0], params[1].shape[0]
            init = tuple(jnp.zeros((batch, units), x.dtype) for _ in range(n_states))
            _, ys = jax.lax.scan(lambda carry, xp_t: step(params, carry, xp_t), init, xp)
            return jnp.swapaxes(ys, 0, 1)

        return run

    def make(self, cell, shape, mode, x):
        jax, jnp = self.jax, self.jnp
        s = _shape(shape)
        params = tuple(jnp.asarray(w) for w in keras_weights(cell, s["input_dim"], s["units"]))
        xj = jnp.asarray(x)
        run = self._run(cell)
        if mode == "forward":
            f = jax.jit(run)
            return lambda: f(params, xj).block_until_ready()
        g = jax.jit(jax.grad(lambda p, v: run(p, v).sum(), argnums=(0, 1)))
        return lambda: jax.block_until_ready(g(params, xj))

    def make_step(self):
        jax, jnp = self.jax, self.jnp
        s = STEP_SHAPE
        kernel, recurrent, bias = (
            jnp.asarray(w) for w in keras_weights("lstm", s["input_dim"], s["units"])
        )
        lstm = self.cells["lstm"]
        f = jax.jit(lambda k, u, b, x, h, c: lstm((k, u, b), (h, c), x @ k + b)[0])
        x = jnp.asarray(
            np.random.default_rng(1)
            .standard_normal((s["batch"], s["input_dim"]))
            .astype(np.float32)
        )
        h = jnp.zeros((s["batch"], s["units"]), jnp.float32)
        c = jnp.zeros_like(h)
        return lambda: jax.block_until_ready(f(kernel, recurrent, bias, x, h, c))


# ----------------------------------------------------------------- onnxruntime
#: ONNX's gate order as blocks of Keras's: LSTM i, o, f, c from Keras's i, f, c, o;
#: GRU z, r, h and RNN are Keras's order.
_ONNX_GATE_BLOCKS = {"simple_rnn": (0,), "lstm": (0, 3, 1, 2), "gru": (0, 1, 2)}
_ONNX_OPS = {"simple_rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def onnx_weights(cell, kernel, recurrent, bias):
    """Keras-layout weights as the ONNX ``RNN``/``LSTM``/``GRU`` operators take
    them (one direction): W (1, G*H, D), R (1, G*H, H), B (1, 2*G*H)."""
    units = recurrent.shape[0]

    def reorder(matrix):  # (rows, G*H) Keras columns -> (G*H, rows) ONNX rows
        blocks = [matrix[:, g * units : (g + 1) * units] for g in _ONNX_GATE_BLOCKS[cell]]
        return np.concatenate(blocks, axis=1).T[None]

    if cell == "gru":  # reset_after: the input row, then the recurrent row
        b = np.concatenate([reorder(bias[:1])[0, :, 0], reorder(bias[1:])[0, :, 0]])
    else:
        b = np.concatenate([reorder(bias[None])[0, :, 0], np.zeros(bias.size, np.float32)])
    return (
        np.ascontiguousarray(reorder(kernel), np.float32),
        np.ascontiguousarray(reorder(recurrent), np.float32),
        np.ascontiguousarray(b[None], np.float32),
    )


class OnnxRuntimeSystem:
    """ONNX Runtime's CPU ``RNN``/``LSTM``/``GRU`` operators: inference only
    (``linear_before_reset=1`` for Keras's reset_after GRU); batch-major input
    and every output step, as fastrnn's layers here (the graph transposes to
    and from the operators' time-major layout)."""

    kind = "peer"
    name = "onnxruntime"
    label = LABELS["onnxruntime"]

    def __init__(self, threads=THREADS):
        try:
            import onnx
            import onnxruntime
        except ImportError as exc:
            raise SkipSystem(f"not installed ({exc}); {PIP_HINT['onnxruntime']}") from None
        self.onnx, self.ort = onnx, onnxruntime
        self.version = onnxruntime.__version__
        self.options = onnxruntime.SessionOptions()
        self.options.intra_op_num_threads = threads
        self.options.inter_op_num_threads = 1
        # Idle intra-op threads block instead of spinning: spinning ones kept
        # a core busy after each run, and whatever was timed next (another
        # system's sample) ran up to 1.5x slower; ONNX Runtime's own medians
        # are as fast or faster without it (docs/benchmarks.md, "Settle").
        self.options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.threads = {"intra_op": threads, "inter_op": 1}

    def session(self, cell, kernel, recurrent, bias):
        """An inference session of one layer with these Keras-layout weights."""
        from onnx import TensorProto, helper, numpy_helper

        units = recurrent.shape[0]
        w, r, b = onnx_weights(cell, kernel, recurrent, bias)
        attributes = {"hidden_size": units}
        if cell == "gru":
            attributes["linear_before_reset"] = 1
        # ONNX Runtime's CPU kernels take time-major input only (layout=0):
        # the graph transposes the batch-major input and output itself.
        nodes = [
            helper.make_node("Transpose", ["X"], ["X_t"], perm=[1, 0, 2]),
            helper.make_node(_ONNX_OPS[cell], ["X_t", "W", "R", "B"], ["Y_t"], **attributes),
            helper.make_node("Transpose", ["Y_t"], ["Y"], perm=[2, 0, 1, 3]),
        ]
        graph = helper.make_graph(
            nodes,
            "fastrnn_bench",
            [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, None, kernel.shape[0]])],
            [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, None, 1, units])],
            initializer=[
                numpy_helper.from_array(w, "W"),
                numpy_helper.from_array(r, "R"),
                numpy_helper.from_array(b, "B"),
            ],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
        model.ir_version = 8
        self.onnx.checker.check_model(model)
        return self.ort.InferenceSession(
            model.SerializeToString(), self.options, providers=["CPUExecutionProvider"]
        )

    def make(self, cell, shape, mode, x):
        if mode != "forward":
            raise SkipSystem("inference only")
        s = _shape(shape)
        sess = self.session(cell, *keras_weights(cell, s["input_dim"], s["units"]))
        feed = {"X": x}
        return lambda: sess.run(None, feed)

    def make_step(self):
        s = STEP_SHAPE
        sess = self.session("lstm", *keras_weights("lstm", s["input_dim"], s["units"]))
        x = np.random.default_rng(1).standard_normal((s["batch"], 1, s["input_dim"]))
        feed = {"X": x.astype(np.float32)}
        return lambda: sess.run(None, feed)


PEERS = {
    "torch": TorchSystem,
    "keras": KerasSystem,
    "jax": JaxSystem,
    "onnxruntime": OnnxRuntimeSystem,
}


def load_peers(names=PEER_NAMES, threads=THREADS):
    """Instantiate the importable peers; return (systems, {name: why skipped})."""
    systems, skipped = [], {}
    for name in names:
        try:
            systems.append(PEERS[name](threads))
        except SkipSystem as exc:
            skipped[name] = str(exc)
        except Exception as exc:  # a broken install must not end the benchmark
            skipped[name] = f"failed to initialize: {type(exc).__name__}: {exc}"
    return systems, skipped
