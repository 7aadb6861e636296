"""fastrnn.torch against torch.nn itself: outputs, final states and every gradient.

Each case builds a ``torch.nn`` module and its fastrnn twin with the same
weights, runs both on the same input and compares the output, ``h_n``
(``c_n``) and the gradients of a loss with random weights on every output
with respect to the input, the initial states and every parameter.
"""

import copy
import itertools
import pickle
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence  # noqa: E402

import fastrnn  # noqa: E402
import fastrnn.torch as ft  # noqa: E402
from fastrnn.torch import _stack  # noqa: E402

#: label -> (torch.nn class, fastrnn twin, extra constructor arguments)
KINDS = {
    "rnn_tanh": (nn.RNN, ft.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (nn.RNN, ft.RNN, {"nonlinearity": "relu"}),
    "lstm": (nn.LSTM, ft.LSTM, {}),
    "gru": (nn.GRU, ft.GRU, {}),
}
DTYPES = {"float32": torch.float32, "float64": torch.float64}
#: Relative to the largest magnitude compared (at least 1).
TOLERANCE = {torch.float32: 2e-5, torch.float64: 1e-9}

INPUT, UNITS, BATCH, STEPS = 4, 5, 3, 6


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """torch.nn's reference runs on one thread: at these shapes its OpenMP
    threads only wait for each other, and on a busy machine that wait is
    long (others' processes hold the cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_pair(kind, dtype, backend, input_size=INPUT, hidden_size=UNITS, **kwargs):
    """A torch.nn module and its twin with the same weights."""
    torch_class, twin_class, extra = KINDS[kind]
    kwargs = {**extra, **kwargs}
    reference = torch_class(input_size, hidden_size, dtype=dtype, **kwargs)
    twin = twin_class(input_size, hidden_size, dtype=dtype, **kwargs)
    twin.load_state_dict(reference.state_dict())
    twin.backend = backend
    return reference, twin


def assert_close(actual, expected, dtype, what):
    tol = TOLERANCE[dtype]
    scale = max(1.0, expected.abs().max().item()) if expected.numel() else 1.0
    err = (actual - expected).abs().max().item() if expected.numel() else 0.0
    assert err <= tol * scale, f"{what}: max error {err:.3g} > {tol:g} x {scale:.3g}"


def as_tuple(h):
    return tuple(h) if isinstance(h, tuple) else (h,)


def data_of(output):
    return output.data if isinstance(output, PackedSequence) else output


def run_and_loss(module, x, hx, weights):
    """Output, final states, and a loss with ``weights`` on every result."""
    output, h = module(x, hx)
    states = as_tuple(h)
    loss = (data_of(output) * weights[0]).sum()
    loss = loss + sum((s * w).sum() for s, w in zip(states, weights[1:]))
    return output, states, loss


def compare(reference, twin, x, hx, dtype, leaves):
    """Run both modules and compare everything; ``leaves`` are the input
    tensors (input, states) whose gradients are compared with the parameters'."""
    out_ref, states_ref, _ = run_and_loss(reference, x, hx, [1.0] * 3)
    rng = torch.Generator().manual_seed(7)
    weights = [torch.rand(data_of(out_ref).shape, generator=rng, dtype=dtype)]
    weights += [torch.rand(s.shape, generator=rng, dtype=dtype) for s in states_ref]

    results = []
    for module in (reference, twin):
        output, states, loss = run_and_loss(module, x, hx, weights)
        tensors = [*leaves, *module.parameters()]
        wrt = [t for t in tensors if t.requires_grad]
        found = iter(torch.autograd.grad(loss, wrt, retain_graph=True) if wrt else ())
        grads = [next(found) if t.requires_grad else None for t in tensors]
        results.append((output, states, grads))
    (out_r, st_r, g_r), (out_t, st_t, g_t) = results
    if isinstance(out_r, PackedSequence):
        assert isinstance(out_t, PackedSequence)
        for field in ("batch_sizes", "sorted_indices", "unsorted_indices"):
            a, b = getattr(out_t, field), getattr(out_r, field)
            assert (a is None and b is None) or torch.equal(a, b), field
        out_r, out_t = out_r.data, out_t.data
    assert out_t.shape == out_r.shape and out_t.dtype == out_r.dtype
    assert_close(out_t, out_r, dtype, "output")
    assert len(st_t) == len(st_r)
    for i, (a, b) in enumerate(zip(st_t, st_r)):
        assert a.shape == b.shape and a.dtype == b.dtype
        assert_close(a, b, dtype, f"final state {i}")
    names = [f"leaf {i}" for i in range(len(leaves))] + [n for n, _ in reference.named_parameters()]
    assert len(g_t) == len(g_r) == len(names)
    for name, a, b in zip(names, g_t, g_r):
        if b is None:
            assert a is None, name
            continue
        assert a.shape == b.shape, name
        assert_close(a, b, dtype, f"gradient of {name}")


def initial_states(kind, layers, directions, batch, dtype, generator, unbatched=False):
    """Random ``h_0`` (and ``c_0``) requiring grad: (list of leaves, the hx to pass)."""
    shape = (layers * directions, UNITS) if unbatched else (layers * directions, batch, UNITS)
    count = 2 if kind == "lstm" else 1
    states = [
        (torch.randn(shape, generator=generator, dtype=dtype) * 0.5).requires_grad_()
        for _ in range(count)
    ]
    return states, (tuple(states) if kind == "lstm" else states[0])


# (num_layers, bidirectional, batch_first, initial states, bias): every combination
CONFIGS = list(
    itertools.product((1, 2, 3), (False, True), (False, True), (False, True), (True, False))
)


@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("kind", list(KINDS))
def test_equal_to_torch_nn(kind, dtype_name, backend_name):
    dtype = DTYPES[dtype_name]
    gen = torch.Generator().manual_seed(0)
    for layers, bidirectional, batch_first, with_states, bias in CONFIGS:
        options = dict(num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
        reference, twin = make_pair(kind, dtype, backend_name, bias=bias, **options)
        shape = (BATCH, STEPS, INPUT) if batch_first else (STEPS, BATCH, INPUT)
        x = torch.randn(shape, generator=gen, dtype=dtype).requires_grad_()
        leaves, hx = [x], None
        if with_states:
            states, hx = initial_states(kind, layers, 1 + bidirectional, BATCH, dtype, gen)
            leaves += states
        compare(reference, twin, x, hx, dtype, leaves)


# (batch, steps, input_size, hidden_size)
EDGE_SHAPES = [(1, 1, 1, 1), (1, 7, 1, 2), (2, 1, 3, 1), (0, 3, 2, 2)]


@pytest.mark.parametrize("kind", list(KINDS))
def test_edge_shapes(kind, backend_name):
    """One step, one unit, one feature, an empty batch."""
    dtype = torch.float64
    gen = torch.Generator().manual_seed(10)
    for (batch, steps, features, units), bidirectional in itertools.product(
        EDGE_SHAPES, (False, True)
    ):
        reference, twin = make_pair(
            kind, dtype, backend_name, features, units, num_layers=2, bidirectional=bidirectional
        )
        x = torch.randn(steps, batch, features, generator=gen, dtype=dtype, requires_grad=True)
        compare(reference, twin, x, None, dtype, [x])


@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("kind", list(KINDS))
def test_packed_sequence_unsorted_lengths(kind, dtype_name, backend_name):
    dtype = DTYPES[dtype_name]
    gen = torch.Generator().manual_seed(1)
    lengths = torch.tensor([3, 6, 1, 6, 4])  # unsorted, with ties and a length of 1
    for layers, bidirectional, with_states, batch_first in itertools.product(
        (1, 2), (False, True), (False, True), (False, True)
    ):
        # batch_first, which a packed input ignores, as the data was packed
        options = dict(num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
        reference, twin = make_pair(kind, dtype, backend_name, **options)
        padded = torch.randn(len(lengths), 6, INPUT, generator=gen, dtype=dtype)
        padded.requires_grad_()
        source = padded if batch_first else padded.transpose(0, 1)
        packed = pack_padded_sequence(
            source, lengths, batch_first=batch_first, enforce_sorted=False
        )
        leaves, hx = [padded], None
        if with_states:
            states, hx = initial_states(kind, layers, 1 + bidirectional, len(lengths), dtype, gen)
            leaves += states
        compare(reference, twin, packed, hx, dtype, leaves)


@pytest.mark.parametrize("lengths", [[7, 5, 2], [4], [3, 3]], ids=["sorted", "one", "equal"])
def test_packed_sequence_sorted_single_and_equal_lengths(lengths, backend_name):
    gen = torch.Generator().manual_seed(2)
    reference, twin = make_pair("lstm", torch.float64, backend_name, bidirectional=True, bias=False)
    x = torch.randn(max(lengths), len(lengths), INPUT, generator=gen, dtype=torch.float64)
    x.requires_grad_()
    packed = pack_padded_sequence(x, torch.tensor(lengths))
    compare(reference, twin, packed, None, torch.float64, [x])


@pytest.mark.parametrize("kind", list(KINDS))
def test_unbatched_input(kind, backend_name):
    dtype = torch.float64
    gen = torch.Generator().manual_seed(3)
    for batch_first, with_states in itertools.product((False, True), (False, True)):
        reference, twin = make_pair(
            kind, dtype, backend_name, num_layers=2, bidirectional=True, batch_first=batch_first
        )
        x = torch.randn(STEPS, INPUT, generator=gen, dtype=dtype, requires_grad=True)
        leaves, hx = [x], None
        if with_states:
            states, hx = initial_states(kind, 2, 2, 1, dtype, gen, unbatched=True)
            leaves += states
        compare(reference, twin, x, hx, dtype, leaves)


def test_gradients_of_some_leaves_only(backend_name):
    """Only the tensors that require grad get one; a frozen module still
    passes the input's gradient through."""
    reference, twin = make_pair("gru", torch.float64, backend_name, num_layers=2)
    for module in (reference, twin):
        module.weight_hh_l1.requires_grad_(False)
    x = torch.randn(STEPS, BATCH, INPUT, dtype=torch.float64, requires_grad=True)
    compare(reference, twin, x, None, torch.float64, [x])
    for module in (reference, twin):
        module.requires_grad_(False)
    compare(reference, twin, x, None, torch.float64, [x])
    frozen_input = x.detach()
    output, _ = twin(frozen_input)
    assert not output.requires_grad


@pytest.mark.parametrize("kind", ["rnn_tanh", "lstm", "gru"])
def test_gradcheck(kind, backend_name):
    torch.manual_seed(4)
    _, twin = make_pair(
        kind, torch.float64, backend_name, input_size=2, hidden_size=3, num_layers=2,
        bidirectional=True,
    )  # fmt: skip
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    states, _ = initial_states(kind, 2, 2, 2, torch.float64, torch.Generator().manual_seed(5))
    states = [s[..., :3].detach().clone().requires_grad_() for s in states]
    params = list(twin.parameters())
    names = [n for n, _ in twin.named_parameters()]

    def call(x, *tensors):
        hx_tensors, weights = tensors[: len(states)], tensors[len(states) :]
        hx = tuple(hx_tensors) if kind == "lstm" else hx_tensors[0]
        # gradcheck perturbs the weights through .data, which their version
        # counters do not see: the kept kernel-layout copy is dropped first
        twin.flatten_parameters()
        output, h = torch.func.functional_call(twin, dict(zip(names, weights)), (x, hx))
        return (output, *as_tuple(h))

    # fast mode: the Jacobian against random vectors on both sides, a few
    # calls instead of two per parameter element
    assert torch.autograd.gradcheck(
        call, (x, *states, *params), eps=1e-6, atol=1e-7, fast_mode=True
    )

    lengths = torch.tensor([4, 2])

    def call_packed(x, *weights):
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        twin.flatten_parameters()
        output, h = torch.func.functional_call(twin, dict(zip(names, weights)), (packed,))
        return (output.data, *as_tuple(h))

    assert torch.autograd.gradcheck(call_packed, (x, *params), eps=1e-6, atol=1e-7, fast_mode=True)

    # the full Jacobian of the input and the states, element by element
    def call_inputs(x, *hx_tensors):
        hx = tuple(hx_tensors) if kind == "lstm" else hx_tensors[0]
        output, h = twin(x, hx)
        return (output, *as_tuple(h))

    assert torch.autograd.gradcheck(call_inputs, (x, *states), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("layout", ["time_major", "batch_first", "packed"])
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_dropout_draws_what_torch_draws(kind, layout, backend_name):
    """In training mode a seeded run drops the same units as torch.nn's."""
    dtype = torch.float64
    batch_first = layout == "batch_first"
    reference, twin = make_pair(
        kind,
        dtype,
        backend_name,
        num_layers=3,
        dropout=0.4,
        bidirectional=True,
        batch_first=batch_first,
    )
    gen = torch.Generator().manual_seed(6)
    shape = (BATCH, STEPS, INPUT) if batch_first else (STEPS, BATCH, INPUT)
    x = torch.randn(shape, generator=gen, dtype=dtype, requires_grad=True)
    packed = layout == "packed"
    source = pack_padded_sequence(x, torch.tensor([2, 6, 4]), enforce_sorted=False) if packed else x
    outputs = []
    for module in (reference, twin):
        torch.manual_seed(11)
        output, _ = module(source)
        data = data_of(output)
        loss = data.square().sum()
        grads = torch.autograd.grad(loss, [x, *module.parameters()], retain_graph=True)
        outputs.append((data, grads))
    assert_close(outputs[1][0], outputs[0][0], dtype, "output")
    for i, (a, b) in enumerate(zip(outputs[1][1], outputs[0][1])):
        assert_close(a, b, dtype, f"gradient {i}")
    # without gradients (still training): the same draws, and the next draw
    # of the generator is the same too, as both drew as many numbers
    results = []
    for module in (twin, reference):
        torch.manual_seed(11)
        with torch.no_grad():
            results.append((data_of(module(source)[0]), torch.rand(1)))
    assert_close(results[0][0], results[1][0], dtype, "output without gradients")
    assert torch.equal(results[0][1], results[1][1])
    # eval mode: no dropout, deterministic
    twin.eval()
    reference.eval()
    assert_close(data_of(twin(source)[0]), data_of(reference(source)[0]), dtype, "eval output")


def test_dropout_of_one_drops_everything_as_torch_does(backend_name):
    reference, twin = make_pair("gru", torch.float32, backend_name, num_layers=2, dropout=1.0)
    x = torch.randn(STEPS, BATCH, INPUT)
    torch.manual_seed(12)
    expected = reference(x)[0]
    torch.manual_seed(12)
    assert_close(twin(x)[0], expected, torch.float32, "output")


def test_no_grad_and_inference_mode_give_the_same(backend_name):
    reference, twin = make_pair("lstm", torch.float32, backend_name, num_layers=2)
    x = torch.randn(STEPS, BATCH, INPUT)
    with_grad, _ = twin(x)
    with torch.no_grad():
        no_grad, (h_n, _) = twin(x)
    with torch.inference_mode():
        inference, _ = twin(x)
        expected, (h_ref, _) = reference(x)
    assert not no_grad.requires_grad and with_grad.requires_grad
    assert torch.equal(no_grad, with_grad.detach()) and torch.equal(no_grad, inference)
    assert_close(inference, expected, torch.float32, "output")
    assert_close(h_n, h_ref, torch.float32, "h_n")


def test_a_module_made_in_inference_mode_runs():
    """Inference tensors keep no version counter: their weights are converted each call."""
    with torch.inference_mode():
        twin = ft.GRU(INPUT, UNITS)
        reference = nn.GRU(INPUT, UNITS)
        twin.load_state_dict(reference.state_dict())
        x = torch.randn(STEPS, BATCH, INPUT)
        assert_close(twin(x)[0], reference(x)[0], torch.float32, "output")
        for module in (twin, reference):
            module.weight_hh_l0.mul_(0.5)
        assert_close(twin(x)[0], reference(x)[0], torch.float32, "output after the update")


@pytest.mark.parametrize("kind", list(KINDS))
def test_constructor_parameters_and_state_dict(kind):
    torch_class, twin_class, extra = KINDS[kind]
    kwargs = dict(num_layers=2, bidirectional=True, batch_first=True, dropout=0.25, **extra)
    reference = torch_class(6, 8, **kwargs)
    twin = twin_class(6, 8, **kwargs)
    assert isinstance(twin, torch_class)
    assert [(n, p.shape) for n, p in twin.named_parameters()] == [
        (n, p.shape) for n, p in reference.named_parameters()
    ]
    assert repr(twin) == repr(reference).replace(torch_class.__name__, twin_class.__name__, 1)
    bound = 1 / np.sqrt(8)
    values = torch.cat([p.detach().flatten() for p in twin.parameters()])
    assert values.abs().max() <= bound and values.std() > bound / 3  # torch's uniform init
    # state dicts move both ways
    twin.load_state_dict(reference.state_dict())
    other = torch_class(6, 8, **kwargs)
    other.load_state_dict(twin.state_dict())
    for a, b in zip(other.parameters(), reference.parameters()):
        assert torch.equal(a, b)
    # positional arguments as torch.nn takes them
    if torch_class is nn.RNN:
        assert ft.RNN(3, 4, 2, "relu", False).nonlinearity == "relu"
    assert twin_class(3, 4, 2, **extra).num_layers == 2


def test_float64_module_and_default_dtype():
    twin = ft.GRU(3, 4).double()
    assert twin.weight_ih_l0.dtype == torch.float64
    output, h_n = twin(torch.randn(5, 2, 3, dtype=torch.float64))
    assert output.dtype == h_n.dtype == torch.float64
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        assert ft.LSTM(3, 4).weight_hh_l0.dtype == torch.float64
    finally:
        torch.set_default_dtype(default)
    # and back: float32 again after .float()
    assert twin.float()(torch.randn(5, 2, 3))[0].dtype == torch.float32


def test_copy_and_pickle_after_a_call(backend_name):
    _, twin = make_pair("lstm", torch.float32, backend_name, num_layers=2)
    x = torch.randn(STEPS, BATCH, INPUT)
    expected, _ = twin(x)
    for other in (copy.deepcopy(twin), pickle.loads(pickle.dumps(twin))):
        assert other.backend == backend_name
        assert torch.equal(other(x)[0], expected)


def test_weights_are_converted_once_until_a_parameter_changes(monkeypatch, backend_name):
    """The kernel-layout weights are kept while every parameter is the same
    tensor at the same version; each change autograd sees takes effect at the
    next call."""
    reference, twin = make_pair(
        "lstm", torch.float64, backend_name, num_layers=2, bidirectional=True
    )
    conversions = []
    convert = _stack.kernel_weights
    monkeypatch.setattr(_stack, "kernel_weights", lambda *a: conversions.append(1) or convert(*a))
    x = torch.randn(STEPS, BATCH, INPUT, dtype=torch.float64, requires_grad=True)
    for _ in range(3):
        twin(x)[0].sum().backward()
    with torch.no_grad():
        twin(x)
    assert len(conversions) == 4  # once for each layer and direction

    def sgd(module):
        optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
        optimizer.zero_grad()
        module(x)[0].sum().backward()
        optimizer.step()

    def no_grad_scale(module):
        with torch.no_grad():
            module.weight_ih_l1.mul_(0.5)

    def replace_data(module):
        module.bias_hh_l0.data = module.bias_hh_l0.data + 0.25

    def replace_parameter(module):
        module.weight_hh_l0 = nn.Parameter(module.weight_hh_l0.detach() * 0.5)

    state = nn.LSTM(INPUT, UNITS, 2, bidirectional=True, dtype=torch.float64).state_dict()
    for change in (
        sgd,
        no_grad_scale,
        replace_data,
        replace_parameter,
        lambda module: module.load_state_dict(state),
    ):
        before = len(conversions)
        for module in (reference, twin):
            change(module)
        assert_close(twin(x)[0], reference(x)[0], torch.float64, "output after the change")
        assert len(conversions) == before + 4


def test_changes_behind_autograd_take_effect_after_flatten_parameters(backend_name):
    """``.data`` and NumPy writes bypass the version counter; flatten_parameters()
    (torch's call after changing an RNN's weights) drops the kept copy."""
    reference, twin = make_pair("gru", torch.float64, backend_name)
    x = torch.randn(STEPS, BATCH, INPUT, dtype=torch.float64)
    twin(x)
    for change in (
        lambda p: p.data.mul_(0.5),
        lambda p: p.detach().numpy().__iadd__(0.1),
    ):
        for module in (reference, twin):
            for p in module.parameters():
                change(p)
        twin.flatten_parameters()
        assert_close(twin(x)[0], reference(x)[0], torch.float64, "output after the update")


def test_an_input_changed_before_the_backward_raises_as_torch_does(backend_name):
    """The kernels read a contiguous batch-first input where it is (no copy),
    so an in-place change before the backward is caught, as torch.nn catches it."""
    _, twin = make_pair("lstm", torch.float32, backend_name, batch_first=True)
    leaf = torch.randn(BATCH, STEPS, INPUT, requires_grad=True)
    x = leaf * 1.0
    output, _ = twin(x)
    x.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        output.sum().backward()


def test_backend_setting():
    twin = ft.LSTM(3, 4)
    assert twin.backend is None
    twin.backend = "numpy"
    assert twin.backend == "numpy"
    with pytest.raises(ValueError, match="numpy"):
        twin.backend = "tpu"
    # the global default applies to a module without its own setting
    twin.backend = None
    x = torch.randn(5, 2, 3)
    with fastrnn.use_backend("numpy"):
        expected, _ = twin(x)
    assert_close(twin(x)[0], expected, torch.float32, "output")


def test_torch_compile_runs_the_module_as_it_is():
    twin = ft.LSTM(3, 4)
    head = nn.Linear(4, 1)
    x = torch.randn(5, 2, 3, requires_grad=True)
    compiled = torch.compile(lambda v: head(twin(v)[0]).sum(), backend="eager")
    loss = compiled(x)
    (dx,) = torch.autograd.grad(loss, [x])
    expected = head(twin(x)[0]).sum()
    (dx_expected,) = torch.autograd.grad(expected, [x])
    assert_close(loss, expected, torch.float32, "loss")
    assert_close(dx, dx_expected, torch.float32, "input gradient")


# ------------------------------------------------------------------ convert
class TextModel(nn.Module):
    """Embedding -> bidirectional 2-layer LSTM -> Linear head on the last step."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(20, 6)
        self.encoder = nn.Sequential(nn.LSTM(6, 5, 2, batch_first=True, bidirectional=True))
        self.head = nn.Linear(10, 3)

    def forward(self, tokens):
        output, _ = self.encoder[0](self.embedding(tokens))
        return self.head(output[:, -1])


def test_convert_gives_the_same_outputs_and_trains_the_same(backend_name):
    torch.manual_seed(8)
    model = TextModel().double()
    converted = ft.convert(model, backend=backend_name)
    assert type(model.encoder[0]) is nn.LSTM  # the original is left alone
    assert type(converted.encoder[0]) is ft.LSTM
    assert converted.encoder[0].backend == backend_name
    assert type(converted.embedding) is nn.Embedding and type(converted.head) is nn.Linear
    tokens = torch.randint(0, 20, (4, 7))
    assert_close(converted(tokens), model(tokens), torch.float64, "model output")

    # a few Adam steps on each: the same losses, going down, and the same weights
    targets = torch.randint(0, 3, (4,))
    losses = []
    for net in (model, converted):
        optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
        history = []
        for _ in range(5):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(net(tokens), targets)
            loss.backward()
            optimizer.step()
            history.append(loss.item())
        losses.append(history)
    torch_losses, fastrnn_losses = losses
    assert fastrnn_losses[-1] < fastrnn_losses[0]
    np.testing.assert_allclose(fastrnn_losses, torch_losses, rtol=1e-9)
    for (name, a), (_, b) in zip(converted.named_parameters(), model.named_parameters()):
        assert_close(a, b, torch.float64, f"{name} after training")

    back = ft.to_torch(converted)
    assert type(back.encoder[0]) is nn.LSTM
    assert_close(back(tokens), converted(tokens), torch.float64, "converted back")


def test_convert_inplace_shares_the_parameters():
    model = TextModel()
    params = list(model.parameters())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    assert ft.convert(model, inplace=True) is model
    assert type(model.encoder[0]) is ft.LSTM
    assert all(a is b for a, b in zip(model.parameters(), params))
    loss = model(torch.randint(0, 20, (2, 5))).sum()
    loss.backward()
    before = model.encoder[0].weight_hh_l0.detach().clone()
    optimizer.step()  # the optimizer made before the swap trains the twin
    assert not torch.equal(model.encoder[0].weight_hh_l0, before)


def test_convert_a_recurrent_module_itself_and_its_modes():
    module = nn.GRU(3, 4, num_layers=2, dropout=0.5).eval()
    twin = ft.convert(module)
    assert type(twin) is ft.GRU and not twin.training and twin.dropout == 0.5
    assert type(ft.to_torch(twin)) is nn.GRU
    assert type(twin.to_torch()) is nn.GRU

    # a subclass of torch.nn.LSTM keeps its own forward: it is left alone
    class Custom(nn.LSTM):
        pass

    model = nn.Sequential(Custom(3, 4))
    assert type(ft.convert(model)[0]) is Custom


def test_convert_moves_the_forward_hooks():
    model = nn.Sequential(nn.GRU(3, 4))
    calls = []
    model[0].register_forward_pre_hook(lambda module, args: calls.append("pre"))
    model[0].register_forward_hook(lambda module, args, kwargs, out: calls.append("post"),
                                   with_kwargs=True)  # fmt: skip
    converted = ft.convert(model)
    converted(torch.randn(5, 2, 3))
    assert calls == ["pre", "post"]
    calls.clear()
    ft.to_torch(converted)(torch.randn(5, 2, 3))
    assert calls == ["pre", "post"]


def test_convert_does_not_move_the_generator():
    torch.manual_seed(9)
    ft.convert(TextModel())
    after = torch.rand(1)
    torch.manual_seed(9)
    TextModel()
    assert torch.equal(torch.rand(1), after)


# ------------------------------------------------------------------ bad input
def test_bad_input_names_the_argument_expected_and_given():
    lstm = ft.LSTM(4, 5, num_layers=2)
    x = torch.randn(6, 3, 4)
    h_0 = r"`hx\[0\] \(h_0\)` must have shape .*\(2, 3, 5\).*got \(1, 3, 5\)"
    with pytest.raises(ValueError, match=h_0):
        lstm(x, (torch.zeros(1, 3, 5), torch.zeros(2, 3, 5)))
    with pytest.raises(RuntimeError, match=r"hx\[1\] \(c_0\).*got \(2, 4, 5\)"):  # torch's type too
        lstm(x, (torch.zeros(2, 3, 5), torch.zeros(2, 4, 5)))
    with pytest.raises(ValueError, match=r"`hx` must be a tuple \(h_0, c_0\).*got Tensor"):
        lstm(x, torch.zeros(2, 3, 5))
    with pytest.raises(TypeError, match=r"`hx\[0\] \(h_0\)` must be a torch.Tensor; got ndarray"):
        lstm(x, (np.zeros((2, 3, 5), np.float32), torch.zeros(2, 3, 5)))
    with pytest.raises(ValueError, match=r"input_size = 4 .*got shape \(6, 3, 7\)"):
        lstm(torch.randn(6, 3, 7))
    with pytest.raises(ValueError, match=r"3-D .*got a 4-D tensor"):
        lstm(torch.randn(1, 6, 3, 4))
    with pytest.raises(ValueError, match=r"`input` must have the parameters' dtype torch.float32"):
        lstm(x.double())
    on_meta = r"`input` must be on the CPU; got a tensor on meta.*torch.nn.LSTM"
    with pytest.raises(ValueError, match=on_meta):
        lstm(torch.empty(6, 3, 4, device="meta"))
    with pytest.raises(TypeError, match="`input` must be a torch.Tensor; got ndarray"):
        lstm(np.zeros((6, 3, 4), np.float32))
    with pytest.raises(ValueError, match="at least one time step"):
        lstm(torch.randn(0, 3, 4))
    packed = pack_padded_sequence(torch.randn(6, 3, 4).double(), torch.tensor([6, 4, 2]))
    with pytest.raises(ValueError, match=r"`input.data` must have the parameters' dtype"):
        lstm(packed)
    gru = ft.GRU(4, 5)
    unbatched = r"`hx \(h_0\)` must have shape .*\(1, 5\) for this unbatched input; got \(1, 3, 5\)"
    with pytest.raises(ValueError, match=unbatched):
        gru(torch.randn(6, 4), torch.zeros(1, 3, 5))


def test_unsupported_arguments_name_the_torch_module_to_use():
    with pytest.raises(ValueError, match=r"`proj_size` must be 0.*got proj_size=2.*torch.nn.LSTM"):
        ft.LSTM(4, 5, proj_size=2)
    on_meta = r"`device` must be 'cpu' or None; got device='meta'.*torch.nn.GRU"
    with pytest.raises(ValueError, match=on_meta):
        ft.GRU(4, 5, device="meta")
    with pytest.raises(ValueError, match=r"got dtype=torch.float16.*torch.nn.RNN"):
        ft.RNN(4, 5, dtype=torch.float16)
    with pytest.raises(ValueError, match=r"proj_size=2.*torch.nn.LSTM"):
        ft.convert(nn.Sequential(nn.LSTM(4, 5, proj_size=2)))
    with pytest.raises(ValueError, match=r"module '0'.*torch.float16"):
        ft.convert(nn.Sequential(nn.LSTM(4, 5).half()))
    # parameters moved off the CPU, to another dtype or shape after construction
    lstm = ft.LSTM(4, 5).to("meta")
    with pytest.raises(ValueError, match=r"parameters must be on the CPU; they are on meta"):
        lstm(torch.randn(6, 3, 4))
    lstm = ft.LSTM(4, 5).half()
    half = r"all torch.float32 or all torch.float64; they are torch.float16.*torch.nn.LSTM"
    with pytest.raises(ValueError, match=half):
        lstm(torch.randn(6, 3, 4).half())
    lstm = ft.LSTM(4, 5)
    lstm.weight_hh_l0 = nn.Parameter(torch.zeros(20, 4))
    with pytest.raises(
        ValueError, match=r"`weight_hh_l0` must have shape \(20, 5\).*got \(20, 4\)"
    ):
        lstm(torch.randn(6, 3, 4))
    # torch.nn's own checks still run
    with pytest.raises(ValueError, match="nonlinearity"):
        ft.RNN(4, 5, nonlinearity="sigmoid")
    with pytest.raises(TypeError, match="`module` must be a torch.nn.Module; got object"):
        ft.convert(object())
    with pytest.raises(TypeError, match="takes a torch.nn.LSTM; got GRU"):
        ft.LSTM.from_torch(nn.GRU(4, 5))


def test_importing_fastrnn_does_not_import_torch():
    code = "import sys, fastrnn, fastrnn.layers, fastrnn.models; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
