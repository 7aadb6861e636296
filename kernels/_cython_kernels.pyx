# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""The Cython backend: the kernel contract of :mod:`fastrnn.reference`, compiled.

The six public functions take and fill exactly what the reference kernels
do (see ``fastrnn/reference/__init__.py``). Each one takes its arrays'
buffers (checking dtype, dimensions and C-contiguity once), describes the
call in a ``Job`` and hands it to the one sequence driver, ``forward`` or
``backward`` (``_driver.pxi``), which runs the cell's hooks in ``nogil``
code specialised for float32 or float64. The math follows the reference
modules line by line; what differs is how the work is arranged:

* the time loop runs over a range of batch rows (``*_forward_rows``,
  ``*_backward_rows`` in ``_simple_rnn.pxi``, ``_lstm.pxi``, ``_gru.pxi``):
  the recurrence couples time steps, never batch rows;
* its products are register-blocked loops, never BLAS, in which each row
  (and each column of the weight gradients) is computed the same way
  whatever else shares the call: intrinsics for AVX-512F or AVX2 + FMA, or
  the plain C of ``_smallgemm.h``, the widest level the CPU runs, chosen at
  import (``_simd.h``; ``FASTRNN_ISA`` asks for a narrower one);
* a call with enough work runs as ``slice_count`` disjoint batch slices,
  one per thread, by the rule of ``fastrnn.config`` (read once per call;
  ``_runtime.pxi``); the threads are ``fastrnn/_slices.py``'s pool, and
  each slice runs without the GIL. A smaller call runs on the calling
  thread alone;
* dropout: the masks multiply the products' operands first, the input
  projection's per column group (``x_masked``, made once per call) and the
  recurrent product's per gate, each step (``recurrent_product``,
  ``recurrent_grad``, ``_loop.pxi``); without masks the products run as
  they do without dropout;
* forward: the weights are packed for the products whenever the time loop
  reuses them (``pack_weights``); on the calling thread alone the input
  projection ``x @ W_x + b`` of all steps is done up front, straight into
  the gates (``project_up_front``), else each slice projects step by step;
* backward: the time loop carries ``dh`` (and ``dc``), records the
  pre-activation gradients of each step (``dz``) and fills its rows of
  ``dx``; then the weight and bias gradients, which sum over every row, are
  computed whole per column, in column blocks on the threads
  (``weight_grads``, ``_loop.pxi``).

So results depend on the shapes only, never on the slicing or the thread
count. Scratch buffers are allocated once per call, never per step. An
empty batch or sequence runs no time loop: the forward copies the initial
states, the backward the final states' gradients, and it zero-fills the
weight gradients.
"""
cimport cython
from cpython.object cimport PyObject
from cpython.buffer cimport (PyBUF_C_CONTIGUOUS, PyBUF_FORMAT, PyBUF_WRITABLE,
                             PyBuffer_Release, PyObject_GetBuffer)
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy, memset

import os

import numpy as np

from fastrnn import _slices
from fastrnn import activations as _activations
from fastrnn import config as _config

from _linalg cimport (LINEAR, RELU, SIGMOID, TANH, activate_array, derivative, floating,
                      mm_acc, mm_packed_acc, mm_tn_acc, pack_b, packs)

__all__ = [
    "simple_rnn_forward",
    "simple_rnn_backward",
    "lstm_forward",
    "lstm_backward",
    "gru_forward",
    "gru_backward",
]

if (LINEAR, TANH, SIGMOID, RELU) != (_activations.LINEAR, _activations.TANH,
                                     _activations.SIGMOID, _activations.RELU):
    raise RuntimeError(
        "fastrnn._cython_kernels was built with activation codes (LINEAR, TANH, SIGMOID, "
        f"RELU) = {(LINEAR, TANH, SIGMOID, RELU)}, but fastrnn.activations defines "
        f"{(_activations.LINEAR, _activations.TANH, _activations.SIGMOID, _activations.RELU)}"
        ": make kernels/_activations.h agree with it and rebuild the extension")


# --------------------------------------------------------------------------
# The instruction set the products, activations and step gradients run on
# --------------------------------------------------------------------------

cdef extern from "_simd.h" nogil:
    enum:
        ISA_LEVELS "FASTRNN_ISA_LEVELS"
    const char* isa_name "fastrnn_isa_name"(int isa)
    int isa_supported "fastrnn_isa_supported"(int isa)
    int isa_widest "fastrnn_isa_widest"()
    int isa_select "fastrnn_isa_select"(int isa)
    int isa_active "fastrnn_isa_active"
    int isa_emulate_avx512 "fastrnn_isa_emulate_avx512"()

#: The levels, narrowest first, as ``FASTRNN_ISA`` spells them.
ISA_NAMES = tuple(isa_name(i).decode() for i in range(ISA_LEVELS))


def isa_levels():
    """The instruction-set levels this CPU runs, narrowest first (a subset of
    ``("baseline", "avx2", "avx512")``)."""
    return tuple(name for i, name in enumerate(ISA_NAMES) if isa_supported(i))


def _set_isa(name):
    """Run the kernels on level ``name`` from now on (``FASTRNN_ISA`` does it at
    import); for tests and comparisons, while no kernel runs. Returns the
    level that was active. Raises ValueError for a level unknown or not
    supported here (the message names the ones that are)."""
    if name not in ISA_NAMES:
        raise ValueError(
            f"FASTRNN_ISA must be one of {list(ISA_NAMES)} (or unset for the widest the "
            f"CPU runs); got {name!r}")
    previous = ISA_NAMES[isa_active]
    if isa_select(ISA_NAMES.index(name)) != 0:
        raise ValueError(
            f"FASTRNN_ISA={name!r}: this CPU does not run it (it runs "
            f"{list(isa_levels())}); unset FASTRNN_ISA for the widest")
    return previous


def _emulate_avx512():
    """Run the AVX-512 kernels' template on plain C vectors inside the AVX2 code
    (tests only, slow: the 12-row tiles and 16-lane masks on a CPU without
    AVX-512; its bits must be the AVX2 level's). ``_set_isa`` leaves it.
    Raises ValueError on a CPU without AVX2."""
    if isa_emulate_avx512() != 0:
        raise ValueError("emulating the AVX-512 kernels needs AVX2 and FMA")


def _select_isa_at_import():
    """The widest level, or the one ``FASTRNN_ISA`` names (an ImportError if it is
    not valid here, so the backend reports why it is unavailable)."""
    asked = os.environ.get("FASTRNN_ISA", "").strip().lower()
    if not asked:
        isa_select(isa_widest())
        return
    try:
        _set_isa(asked)
    except ValueError as exc:
        raise ImportError(str(exc)) from None


_select_isa_at_import()

include "_runtime.pxi"
include "_loop.pxi"
include "_simple_rnn.pxi"
include "_lstm.pxi"
include "_gru.pxi"
include "_driver.pxi"


# --------------------------------------------------------------------------
# The contract
# --------------------------------------------------------------------------

def simple_rnn_forward(x, mask, dropout_mask, recurrent_dropout_mask, h0, kernel,
                       recurrent_kernel, bias, activation, go_backwards, zero_output_for_mask,
                       outputs, h_states):
    """SimpleRNN forward; the contract of :func:`fastrnn.reference.simple_rnn_forward`."""
    cdef _Call call = begin(SIMPLE_RNN, x, mask, dropout_mask, recurrent_dropout_mask, kernel,
                            recurrent_kernel, activation, LINEAR, False, go_backwards,
                            zero_output_for_mask)
    cdef Job* jb = &call.job
    jb.h0, jb.bias = call.take(h0, 2, INPUT), call.take(bias, 1, INPUT)
    jb.outputs, jb.h_states = call.take(outputs, 3, OUTPUT), call.take(h_states, 3, OUTPUT)
    forward(jb)


def simple_rnn_backward(x, mask, dropout_mask, recurrent_dropout_mask, kernel,
                        recurrent_kernel, activation, go_backwards, zero_output_for_mask,
                        h_states, d_outputs, d_h_last, dx, d_h0, d_kernel, d_recurrent_kernel,
                        d_bias):
    """SimpleRNN backward; the contract of :func:`fastrnn.reference.simple_rnn_backward`."""
    cdef _Call call = begin(SIMPLE_RNN, x, mask, dropout_mask, recurrent_dropout_mask, kernel,
                            recurrent_kernel, activation, LINEAR, False, go_backwards,
                            zero_output_for_mask)
    cdef Job* jb = &call.job
    jb.h_states = call.take(h_states, 3, INPUT)
    jb.d_outputs, jb.d_h_last = call.take(d_outputs, 3, INPUT), call.take(d_h_last, 2, INPUT)
    jb.dx, jb.dh = call.take(dx, 3, OUTPUT), call.take(d_h0, 2, OUTPUT)
    jb.d_kernel = call.take(d_kernel, 2, OUTPUT)
    jb.d_recurrent_kernel = call.take(d_recurrent_kernel, 2, OUTPUT)
    jb.d_bias = call.take(d_bias, 1, OUTPUT)
    backward(jb)


def lstm_forward(x, mask, dropout_mask, recurrent_dropout_mask, h0, c0, kernel,
                 recurrent_kernel, bias, activation, recurrent_activation, go_backwards,
                 zero_output_for_mask, outputs, h_states, c_states, gates):
    """LSTM forward; the contract of :func:`fastrnn.reference.lstm_forward`."""
    cdef _Call call = begin(LSTM, x, mask, dropout_mask, recurrent_dropout_mask, kernel,
                            recurrent_kernel, activation, recurrent_activation, False,
                            go_backwards, zero_output_for_mask)
    cdef Job* jb = &call.job
    jb.h0, jb.c0 = call.take(h0, 2, INPUT), call.take(c0, 2, INPUT)
    jb.bias = call.take(bias, 1, INPUT)
    jb.outputs, jb.h_states = call.take(outputs, 3, OUTPUT), call.take(h_states, 3, OUTPUT)
    jb.c_states, jb.gates = call.take(c_states, 3, OUTPUT), call.take(gates, 3, OUTPUT)
    forward(jb)


def lstm_backward(x, mask, dropout_mask, recurrent_dropout_mask, kernel, recurrent_kernel,
                  activation, recurrent_activation, go_backwards, zero_output_for_mask,
                  h_states, c_states, gates, d_outputs, d_h_last, d_c_last, dx, d_h0, d_c0,
                  d_kernel, d_recurrent_kernel, d_bias):
    """LSTM backward; the contract of :func:`fastrnn.reference.lstm_backward`."""
    cdef _Call call = begin(LSTM, x, mask, dropout_mask, recurrent_dropout_mask, kernel,
                            recurrent_kernel, activation, recurrent_activation, False,
                            go_backwards, zero_output_for_mask)
    cdef Job* jb = &call.job
    jb.h_states, jb.c_states = call.take(h_states, 3, INPUT), call.take(c_states, 3, INPUT)
    jb.gates, jb.d_outputs = call.take(gates, 3, INPUT), call.take(d_outputs, 3, INPUT)
    jb.d_h_last, jb.d_c_last = call.take(d_h_last, 2, INPUT), call.take(d_c_last, 2, INPUT)
    jb.dx = call.take(dx, 3, OUTPUT)
    jb.dh, jb.dc = call.take(d_h0, 2, OUTPUT), call.take(d_c0, 2, OUTPUT)
    jb.d_kernel = call.take(d_kernel, 2, OUTPUT)
    jb.d_recurrent_kernel = call.take(d_recurrent_kernel, 2, OUTPUT)
    jb.d_bias = call.take(d_bias, 1, OUTPUT)
    backward(jb)


def gru_forward(x, mask, dropout_mask, recurrent_dropout_mask, h0, kernel, recurrent_kernel,
                bias, activation, recurrent_activation, reset_after, go_backwards,
                zero_output_for_mask, outputs, h_states, gates, recurrent_candidate):
    """GRU forward; the contract of :func:`fastrnn.reference.gru_forward`."""
    cdef _Call call = begin(GRU, x, mask, dropout_mask, recurrent_dropout_mask, kernel,
                            recurrent_kernel, activation, recurrent_activation, reset_after,
                            go_backwards, zero_output_for_mask)
    cdef Job* jb = &call.job
    jb.h0, jb.bias = call.take(h0, 2, INPUT), call.take(bias, 2, INPUT)
    jb.outputs, jb.h_states = call.take(outputs, 3, OUTPUT), call.take(h_states, 3, OUTPUT)
    jb.gates = call.take(gates, 3, OUTPUT)
    jb.recurrent_candidate = call.take(recurrent_candidate, 3, OUTPUT)
    forward(jb)


def gru_backward(x, mask, dropout_mask, recurrent_dropout_mask, kernel, recurrent_kernel,
                 activation, recurrent_activation, reset_after, go_backwards,
                 zero_output_for_mask, h_states, gates, recurrent_candidate, d_outputs,
                 d_h_last, dx, d_h0, d_kernel, d_recurrent_kernel, d_bias):
    """GRU backward; the contract of :func:`fastrnn.reference.gru_backward`."""
    cdef _Call call = begin(GRU, x, mask, dropout_mask, recurrent_dropout_mask, kernel,
                            recurrent_kernel, activation, recurrent_activation, reset_after,
                            go_backwards, zero_output_for_mask)
    cdef Job* jb = &call.job
    jb.h_states, jb.gates = call.take(h_states, 3, INPUT), call.take(gates, 3, INPUT)
    jb.recurrent_candidate = call.take(recurrent_candidate, 3, INPUT)
    jb.d_outputs, jb.d_h_last = call.take(d_outputs, 3, INPUT), call.take(d_h_last, 2, INPUT)
    jb.dx, jb.dh = call.take(dx, 3, OUTPUT), call.take(d_h0, 2, OUTPUT)
    jb.d_kernel = call.take(d_kernel, 2, OUTPUT)
    jb.d_recurrent_kernel = call.take(d_recurrent_kernel, 2, OUTPUT)
    jb.d_bias = call.take(d_bias, 2, OUTPUT)
    backward(jb)


# --------------------------------------------------------------------------
# What the extension was built with
# --------------------------------------------------------------------------

cdef extern from "_build_info.h":
    const char* BUILD_ISA "FASTRNN_ISA"
    const char* BUILD_COMPILER "FASTRNN_COMPILER"
    const char* BUILD_FLAGS "FASTRNN_FLAGS"

cdef extern from *:
    int CYTHON_HEX_VERSION      # of the Cython that generated this module's C


cdef str cython_version():
    """``CYTHON_HEX_VERSION`` as Cython's version string, e.g. "3.0.11" or "3.1.0b1"."""
    cdef int v = CYTHON_HEX_VERSION
    level = {0xA: "a", 0xB: "b", 0xC: "rc"}.get((v >> 4) & 0xF, "")
    version = f"{(v >> 24) & 0xFF}.{(v >> 16) & 0xFF}.{(v >> 8) & 0xFF}"
    return version + (f"{level}{v & 0xF}" if level else "")


def build_info():
    """What this build of the extension was compiled for and with.

    Returns
    -------
    dict
        ``"dispatch"``: the level the kernels run on ("baseline", "avx2" or
        "avx512"), chosen at import; ``"isa_levels"``: the levels this CPU
        runs; ``"isa_forced"``: ``FASTRNN_ISA`` if set; ``"isa"``: what the
        compiler's flags alone allow the baseline C ("sse2" without
        ``-march``, "avx2+fma", "avx512f", "neon", ...); ``"compiler"``: its
        name and version; ``"flags"``: the extra compile arguments setup.py
        passed, one string; ``"cython"``: the version of the Cython that
        generated the C code.
    """
    return {
        "isa": BUILD_ISA.decode(),
        "compiler": BUILD_COMPILER.decode(),
        "flags": BUILD_FLAGS.decode(),
        "cython": cython_version(),
        "dispatch": ISA_NAMES[isa_active],
        "isa_levels": list(isa_levels()),
        "isa_forced": os.environ.get("FASTRNN_ISA", "").strip().lower() or None,
    }


# --------------------------------------------------------------------------
# Test hooks
# --------------------------------------------------------------------------

cdef Job shapes_job(batch, timesteps, features, units, width) except *:
    """A Job of these shapes with the settings in force (for the hooks below)."""
    cdef Job jb
    memset(&jb, 0, sizeof(Job))
    jb.batch, jb.timesteps, jb.features, jb.units, jb.width = (
        batch, timesteps, features, units, width)
    read_settings(&jb)
    jb.slices = slice_count(&jb) if batch and timesteps else 0
    return jb


def _slice_count(batch, timesteps, features, units, width):
    """How many batch slices a call of these shapes runs as under the settings in
    force (for tests): 0 for an empty batch or sequence (no time loop), 1 on the
    calling thread alone, n >= 2 on n threads."""
    return shapes_job(batch, timesteps, features, units, width).slices


def _set_packing(enabled):
    """Let forwards pack their weights and backwards copy dz's column blocks
    (default), or never (for tests: the results must be the same bits either
    way)."""
    global _packing
    _packing = bool(enabled)


def _packs_weights(dtype, batch, timesteps, features, units, width):
    """Whether a forward of these shapes packs its weights under the settings in
    force (for tests; ``dtype``, either float type, does not change it)."""
    cdef Job jb = shapes_job(batch, timesteps, features, units, width)
    if jb.slices == 0:
        return False
    return packs_weights(&jb)


cdef elementwise_f32(a, int code):
    """act(a) as the kernels compute it in float32 (``activate_array``): a new
    float32 array from ``a``, a 1-D C-contiguous float32 array."""
    cdef const float[::1] src = a
    cdef Py_ssize_t n = src.shape[0]
    out = np.empty(n, np.float32)
    cdef float[::1] dst = out
    if n:
        with nogil:
            activate_array(code, &src[0], &dst[0], n)
    return out


def _tanh_f32(a):
    """float32 tanh as the kernels compute it (for tests); see ``elementwise_f32``."""
    return elementwise_f32(a, TANH)


def _sigmoid_f32(a):
    """float32 sigmoid as the kernels compute it (for tests); see ``elementwise_f32``."""
    return elementwise_f32(a, SIGMOID)


cdef extern from "_simd.h" nogil:
    void lstm_gates_hook "fastrnn_k_lstm_gates_f32"(Py_ssize_t units, float* z,
                                                    const float* c_prev, float* c_new,
                                                    float* h_new)
    void gru_gates_hook "fastrnn_k_gru_gates_f32"(Py_ssize_t units, float* z, const float* u,
                                                  const float* h_prev, float* u_h,
                                                  float* h_new)


def _lstm_gates_f32(z, c_prev):
    """One row of the LSTM forward's fused float32 gate math (for tests): from the
    pre-activations ``z`` (4H) and ``c_prev`` (H), the activated gates, c_new, h_new."""
    cdef float[::1] zv = np.array(z, np.float32)
    cdef const float[::1] cp = np.ascontiguousarray(c_prev, np.float32)
    cdef Py_ssize_t units = cp.shape[0]
    if zv.shape[0] != 4 * units:
        raise ValueError(f"`z` must have 4 * {units} elements; got {zv.shape[0]}")
    c_new, h_new = np.empty(units, np.float32), np.empty(units, np.float32)
    cdef float[::1] cv = c_new
    cdef float[::1] hv = h_new
    if units:
        lstm_gates_hook(units, &zv[0], &cp[0], &cv[0], &hv[0])
    return np.asarray(zv), c_new, h_new


def _gru_gates_f32(z, u, h_prev):
    """One row of the GRU forward's fused float32 gate math with reset_after (for
    tests): the activated gates, u_h and h_new from ``z``, ``u`` (3H) and ``h_prev``."""
    cdef float[::1] zv = np.array(z, np.float32)
    cdef const float[::1] uv = np.ascontiguousarray(u, np.float32)
    cdef const float[::1] hp = np.ascontiguousarray(h_prev, np.float32)
    cdef Py_ssize_t units = hp.shape[0]
    if zv.shape[0] != 3 * units or uv.shape[0] != 3 * units:
        raise ValueError(f"`z` and `u` must have 3 * {units} elements")
    u_h, h_new = np.empty(units, np.float32), np.empty(units, np.float32)
    cdef float[::1] uh = u_h
    cdef float[::1] hv = h_new
    if units:
        gru_gates_hook(units, &zv[0], &uv[0], &hp[0], &uh[0], &hv[0])
    return np.asarray(zv), u_h, h_new
