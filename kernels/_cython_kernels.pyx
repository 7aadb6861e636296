# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""The Cython backend: the kernel contract of :mod:`fastrnn.reference`, compiled.

The six public functions take and fill exactly what the reference kernels
do (see ``fastrnn/reference/__init__.py``). Each one checks the dtype once,
turns its arrays into typed memoryviews and runs a ``nogil`` implementation
specialised for float32 or float64. The math follows the reference modules
line by line; what differs is only how the work is arranged:

* forward: the input projection ``x @ W_x + b`` is one GEMM over all
  timesteps into a ``(B, T, G*H)`` scratch buffer; each step then adds
  ``h_{s-1} @ W_h`` (a loop for tiny sizes, BLAS otherwise) and applies the
  gates elementwise;
* backward: the time loop only carries ``dh`` (and ``dc``) and records the
  pre-activation gradients of each step in a ``(B, T, G*H)`` buffer; the
  weight, bias and input gradients are then bulk GEMMs over all timesteps.

Scratch buffers are allocated once per call, never per step.

Every non-empty batch runs the *row code* (``*_rows`` functions,
``slice_rows``; see ``slice_count`` for the rule),
which works on any range of batch rows: the recurrence couples time steps,
never batch rows. Its products are the register-blocked loops of
``_smallgemm.h``, never BLAS, in which each row (and each column of the
weight gradients) is computed the same way whatever else shares the call.
Calls with enough work run it as a fixed number of disjoint batch slices
on up to ``get_num_threads()`` Python threads (``fastrnn/_slices.py``; the
slices run without the GIL, and no BLAS call inside them can oversubscribe
the cores). Row code, per slice: the forward projects one step at a time
(no ``(B, T, G*H)`` buffer, whose allocation page-faults on every call at
these sizes; a call run whole on the calling thread projects all steps up
front with the same loops, which gives the same bits); the backward's time
loop also fills the slice's rows of ``dx``. Then the weight and bias
gradients, which sum over every row, are computed whole per column, in
column blocks on the threads. So results
depend on the shapes only, never on the slicing or the thread count.
"""
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy, memset

import os

import numpy as np

from fastrnn import _slices

from _linalg cimport (SIGMOID, SMALL_PRODUCT, TANH, activate_array, derivative, floating,
                      mm, mm_acc, mm_packed_acc, mm_tn_acc, pack_b, packs)

__all__ = [
    "simple_rnn_forward",
    "simple_rnn_backward",
    "lstm_forward",
    "lstm_backward",
    "gru_forward",
    "gru_backward",
]

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)


# --------------------------------------------------------------------------
# Batch slices: when, how many, on how many threads
# --------------------------------------------------------------------------

# Which code runs a call is decided from its shapes alone:
#
# * batch < ROWS_MIN_BATCH (an empty batch): the backward's serial code
#   (BLAS or plain loops by product size), which fills the zero gradients;
#   a forward of an empty batch has nothing to compute. The serial code
#   used to run every batch under 16 rows, until the row code beat it on
#   all of them: measured (float32, LSTM forward/train, ms, row code vs
#   serial) 0.075/0.22 vs 0.107/0.36 for the benchmark's "small"
#   (1x100x32x64), 2.2/7.0 vs 5.3/14.6 at 15x100x100x128, 5.3/24.5 vs
#   39.6/80.5 at 1x100x512x512.
# * otherwise the row code of the slices: register-blocked products
#   (_smallgemm.h) in which every batch row, and every column of the
#   weight gradients, is computed the same way whatever else shares the
#   call. It runs on the calling thread, or, when batch >= SLICE_MIN_BATCH
#   and the work, timesteps * batch * G*H * (H + D) multiply-adds (the
#   recurrent products and the input projection), is at least
#   SLICE_MIN_WORK, as batch slices on threads: at most n, a power of two
#   with 2 <= n <= SLICE_MAX and at least SLICE_ROWS rows per slice, and at
#   most ``get_num_threads()`` (one slice per thread; see ``run_slices``).
#   Below SLICE_MIN_WORK the thread hand-off (tens of microseconds) costs
#   more than it saves.
#
# Measured on the 2-core AVX-512 machine (float32, ms, kernel calls): batch
# 32, 50 steps, 100 inputs, 128 units, LSTM forward/backward 6.3/6.7 serial,
# 2.4/5.3 row code on one thread, 1.3/2.7 on two; batch 16, 10 steps, 8
# inputs, 16 units (below SLICE_MIN_WORK): 0.022/0.058 serial, 0.016/0.026
# row code on the calling thread. The results depend on which code runs
# (serial or row code), never on n or on the thread count.
cdef enum:
    ROWS_MIN_BATCH = 1
    SLICE_MIN_BATCH = 16
    SLICE_ROWS = 16
    SLICE_MAX = 8
    SLICE_MIN_WORK = 4194304


cdef inline Py_ssize_t slice_count(Py_ssize_t batch, Py_ssize_t timesteps,
                                   Py_ssize_t features, Py_ssize_t units,
                                   Py_ssize_t width) noexcept nogil:
    """How a call of these shapes runs: 0, the serial code; 1, the row code on
    the calling thread; n >= 2, the row code as up to n batch slices on threads."""
    cdef Py_ssize_t n = 2
    if batch < ROWS_MIN_BATCH:
        return 0
    if (batch < SLICE_MIN_BATCH
            or timesteps * batch * width * (units + features) < SLICE_MIN_WORK):
        return 1
    while n < SLICE_MAX and 2 * n * SLICE_ROWS <= batch:
        n *= 2
    return n


def _slice_count(batch, timesteps, features, units, width):
    """How a call of these shapes runs (for tests): 0, the serial code; 1, the
    row code on the calling thread; n >= 2, up to n batch slices on threads."""
    return slice_count(batch, timesteps, features, units, width)


def _initial_threads():
    value = os.environ.get("FASTRNN_NUM_THREADS", "")
    if value.strip():
        try:
            return max(1, int(value))
        except ValueError:
            raise ValueError(
                f"FASTRNN_NUM_THREADS must be an integer, got {value!r}") from None
    return _slices.available_cpus()


cdef int _num_threads = _initial_threads()


def get_num_threads():
    """Threads a sliced call may use (the calling thread included)."""
    return _num_threads


def set_num_threads(n):
    """Let sliced calls use up to ``n`` threads (default: the CPUs available,
    or ``FASTRNN_NUM_THREADS``). Results do not depend on it."""
    global _num_threads
    n = int(n)
    if n < 1:
        raise ValueError(f"the thread count must be at least 1, got {n}")
    _num_threads = n


# What a slice computes: every pointer and option of one kernel call. The
# arrays are the full (not sliced) ones; a slice [b0, b1) touches only its
# rows of each. Unused fields stay NULL / 0.
cdef struct Job:
    Py_ssize_t batch, timesteps, features, units, width
    int activation, recurrent_activation
    bint reset_after, go_backwards, zero_output_for_mask
    const unsigned char* mask      # (B, T)
    const void* x                  # (B, T, D)
    const void* kernel             # (D, G*H)
    const void* recurrent_kernel   # (H, G*H)
    const void* kernel_packed      # forward: kernel packed (pack_weights), or NULL
    const void* recurrent_packed   # forward: recurrent_kernel packed, or NULL
    Py_ssize_t recurrent_split     # its columns packed as [0, split), [split, G*H)
    const void* bias               # (G*H,); GRU (2, G*H)
    const void* wt                 # recurrent_kernel.T (G*H, H), or NULL
    const void* kernel_t           # backward slices: kernel.T (G*H, D)
    const void* d_outputs          # (B, T, H)
    void* outputs                  # (B, T, H)
    void* h_states                 # (T+1, B, H)
    void* c_states                 # (T+1, B, H)
    void* gates                    # (T, B, G*H)
    void* recurrent_candidate      # (T, B, H)
    bint projected                 # forward: x @ W_x + b of every step already in place
    void* u                        # GRU forward: (B, G*H) per-step scratch
    void* dh                       # backward: d_h0 (B, H), the carried gradient
    void* dc                       # d_c0
    void* dz                       # (B*T, G*H) pre-activation gradients
    void* aux                      # GRU backward: (B*T, H)
    void* d_prev_output            # (B, H), zeroed
    void* d_h_new                  # (B, H)
    void* d_rh                     # GRU backward (B, H)
    void* h_prev_all               # backward: (B*T, H) previous states, batch-major
    void* dx                       # backward slices: (B, T, D), filled by the slices
    void* d_kernel                 # backward slices: the weight gradients, filled by
    void* d_recurrent_kernel       # column blocks after the slices
    void* d_bias


cdef enum:
    SIMPLE_RNN_FORWARD = 0
    SIMPLE_RNN_BACKWARD = 1
    LSTM_FORWARD = 2
    LSTM_BACKWARD = 3
    GRU_FORWARD = 4
    GRU_BACKWARD = 5
    WEIGHT_GRADS = 6     # columns of the backward's weight gradients (any cell)

# The weight gradients are split between threads in blocks of this many
# columns (a multiple of the products' widest panel).
cdef enum:
    COLUMN_BLOCK = 32


cdef int slice_rows(const Job* jb, int kind, floating* dtype_tag, Py_ssize_t b0,
                    Py_ssize_t b1) noexcept nogil:
    """Run batch rows [b0, b1) of a sliced call (``dtype_tag`` only picks the
    specialisation); -1 if out of memory.

    Backward slices also fill their rows of ``dx = dz @ W_x^T`` (rows of dz
    map to rows of dx one to one); the weight gradients, which sum over
    every row, are left to the caller.
    """
    cdef int status
    cdef Py_ssize_t rows = (b1 - b0) * jb.timesteps, features = jb.features
    cdef floating* dx
    if kind == WEIGHT_GRADS:
        weight_grads(jb, <const floating*> jb.dz, b0 * COLUMN_BLOCK,
                     min(b1 * COLUMN_BLOCK, jb.width))
        return 0
    if kind == SIMPLE_RNN_FORWARD:
        return simple_rnn_forward_rows(jb, <floating*> jb.h_states, b0, b1)
    if kind == LSTM_FORWARD:
        return lstm_forward_rows(jb, <floating*> jb.h_states, b0, b1)
    if kind == GRU_FORWARD:
        return gru_forward_rows(jb, <floating*> jb.h_states, b0, b1)
    if kind == SIMPLE_RNN_BACKWARD:
        status = simple_rnn_backward_rows(jb, <floating*> jb.dz, b0, b1, True)
    elif kind == LSTM_BACKWARD:
        status = lstm_backward_rows(jb, <floating*> jb.dz, b0, b1, True)
    else:
        status = gru_backward_rows(jb, <floating*> jb.dz, b0, b1, True)
    if status == 0 and rows * features:
        dx = <floating*> jb.dx + b0 * jb.timesteps * features
        memset(dx, 0, rows * features * sizeof(floating))
        mm_acc(True, rows, features, jb.width,
               <const floating*> jb.dz + b0 * jb.timesteps * jb.width, jb.width,
               <const floating*> jb.kernel_t, features, dx, features)
    return status


cdef class _Slices:
    """``slices(b0, b1)`` runs rows [b0, b1) of one sliced call without the GIL."""
    cdef Job job
    cdef int kind
    cdef bint f32

    def __call__(self, Py_ssize_t b0, Py_ssize_t b1):
        cdef int status
        with nogil:
            if self.f32:
                status = slice_rows(&self.job, self.kind, <float*> NULL, b0, b1)
            else:
                status = slice_rows(&self.job, self.kind, <double*> NULL, b0, b1)
        if status < 0:
            raise MemoryError()


cdef int run_slices(const Job* jb, int kind, bint f32, Py_ssize_t n) except -1:
    """Run the row code of a call: as min(n, ``get_num_threads()``) batch slices,
    one per thread, or, when n is 1 or one thread is allowed, as one slice of
    the whole batch on the calling thread (the same results: rows do not
    depend on their slice). One slice per thread, not n: a thread's rows in
    one time loop share each step's pass over the weights (measured, LSTM
    64x100x256x512 float32 on 2 threads, train: 247 ms as 4 slices of 16
    rows, 219 ms as 2 of 32). With ``kind == WEIGHT_GRADS`` (after the
    backward's slices) the columns of the weight gradients instead, in
    blocks of COLUMN_BLOCK, one contiguous run of blocks per thread."""
    cdef _Slices slices
    cdef Py_ssize_t blocks = (jb.width + COLUMN_BLOCK - 1) // COLUMN_BLOCK
    cdef Py_ssize_t threads = min(n, _num_threads)
    cdef int status
    if kind == WEIGHT_GRADS:
        threads = min(threads, blocks)
    if threads <= 1:
        with nogil:
            if f32:
                status = slice_rows(jb, kind, <float*> NULL, 0,
                                    blocks if kind == WEIGHT_GRADS else jb.batch)
            else:
                status = slice_rows(jb, kind, <double*> NULL, 0,
                                    blocks if kind == WEIGHT_GRADS else jb.batch)
        if status < 0:
            raise MemoryError()
        return 0
    slices = _Slices.__new__(_Slices)
    slices.job = jb[0]
    slices.kind = kind
    slices.f32 = f32
    if kind == WEIGHT_GRADS:
        _slices.run_fixed_slices(threads, blocks, slices, threads)
    else:
        _slices.run_fixed_slices(threads, jb.batch, slices, threads)
    return 0


# --------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------

cdef inline Py_ssize_t time_index(Py_ssize_t s, Py_ssize_t timesteps,
                                  bint go_backwards) noexcept nogil:
    """Input position read at processing step ``s``."""
    return timesteps - 1 - s if go_backwards else s


cdef void* scratch(Py_ssize_t n, size_t itemsize, bint zero) noexcept nogil:
    """A scratch buffer of ``n`` items (at least one), zeroed if asked; NULL if out of memory."""
    if n < 1:
        n = 1
    if zero:
        return calloc(n, itemsize)
    return malloc(n * itemsize)


cdef inline void times_weights(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const floating* a,
                               Py_ssize_t lda, const void* w, const void* w_packed,
                               Py_ssize_t ldw, Py_ssize_t col0, floating* c,
                               Py_ssize_t ldc) noexcept nogil:
    """``c[m, n] += a[m, k] @ w[:, col0:col0 + n]`` (``w`` of row stride ``ldw``) by the
    loops of ``_smallgemm.h``; from ``w_packed``, w's packed copy, when there is
    one (``col0`` then starts a block packed on its own: see ``pack_weights``).
    Same bits either way."""
    if w_packed != NULL:
        mm_packed_acc(m, n, k, a, lda, <const floating*> w_packed + col0 * k, c, ldc)
    else:
        mm_acc(True, m, n, k, a, lda, <const floating*> w + col0, ldw, c, ldc)


cdef void project_up_front(floating* dtype_tag, Job* jb, Py_ssize_t n,
                           floating* dest) noexcept nogil:
    """The input projection of a row-code forward on the calling thread (n == 1),
    done up front for all timesteps, straight into the time loop's buffer:
    ``dest[s, b] = x[b, t(s)] @ W_x + b_x``, dest time-major (T, B, G*H) (the
    gates; SimpleRNN: h_states[1:]). One product of T rows per batch row
    instead of one of ``batch`` rows per step (at batch 1, a vector product
    per step), with the same loops, so the same bits; ``input_rows`` then has
    nothing to do (``jb.projected``). Nothing when n != 1: the slices project
    step by step, while the rows are hot in cache. ``dtype_tag`` only picks
    the specialisation."""
    cdef Py_ssize_t b, i, timesteps = jb.timesteps, width = jb.width
    cdef Py_ssize_t step = jb.batch * width        # dest's stride between steps
    cdef floating* c
    if n != 1:
        return
    if jb.go_backwards:     # row t of x goes to step s = T - 1 - t
        step = -step
    for b in range(jb.batch):
        c = dest + b * width + (0 if step > 0 else (timesteps - 1) * jb.batch * width)
        for i in range(timesteps):
            memcpy(c + i * step, jb.bias, width * sizeof(floating))
        times_weights(timesteps, width, jb.features,
                      <const floating*> jb.x + b * timesteps * jb.features, jb.features,
                      jb.kernel, jb.kernel_packed, width, 0, c, step)
    jb.projected = True


cdef enum:
    WEIGHT_ALIGN = 64     # a cache line, and one AVX-512 vector


cdef void* aligned_scratch(size_t nbytes, void** raw) noexcept nogil:
    """``nbytes`` starting on a cache line; ``raw[0]`` is what to free; NULL if out
    of memory."""
    raw[0] = malloc(nbytes + WEIGHT_ALIGN)
    if raw[0] == NULL:
        return NULL
    return <void*> ((<size_t> raw[0] + WEIGHT_ALIGN - 1) // WEIGHT_ALIGN * WEIGHT_ALIGN)


cdef bint _packing = True     # tests switch it off to compare (_set_packing)


def _set_packing(enabled):
    """Let forwards pack their weights (default), or never (for tests: the
    results must be the same bits either way)."""
    global _packing
    _packing = bool(enabled)


cdef inline bint packs_weights(floating* dtype_tag, Py_ssize_t batch, Py_ssize_t n,
                               Py_ssize_t width) noexcept nogil:
    """Whether a forward run as ``n`` slices (``slice_count``) packs its weights."""
    return _packing and packs(dtype_tag, batch if n == 1 else SLICE_ROWS, width)


def _packs_weights(dtype, batch, timesteps, features, units, width):
    """Whether a forward of these shapes packs its weights (for tests)."""
    cdef Py_ssize_t b = batch, w = width
    cdef Py_ssize_t n = slice_count(b, timesteps, features, units, w)
    if np.dtype(dtype) == _F32:
        return n > 0 and packs_weights(<float*> NULL, b, n, w)
    return n > 0 and packs_weights(<double*> NULL, b, n, w)


cdef void pack_weights(Job* jb, floating* dtype_tag, Py_ssize_t n, void** raw) noexcept nogil:
    """Prepare a forward's weights for its time loop: pack W_x and W_h
    (``jb.kernel_packed``, ``jb.recurrent_packed``; W_h's columns as two blocks
    when ``jb.recurrent_split``) when its products gain from it (``packs``: the
    weights' row stride is 4 KB or more), else copy a W_h that does not start
    on a cache line to one that does (NumPy aligns arrays to 16 bytes only,
    and then every vector load of the per-step product straddles two cache
    lines; measured, LSTM 1x100x32x64 float32: 91-94 us vs 68-71 us aligned.
    The layers allocate their weights aligned, ``fastrnn/layers/base.py``, so
    that copy is only made for other callers' arrays). ``raw[0]`` and ``raw[1]``
    get what to free. Neither copy is needed for the results: without the
    memory for them the call runs on the weights as given."""
    cdef Py_ssize_t units = jb.units, width = jb.width
    cdef size_t nbytes = units * width * sizeof(floating)
    cdef floating* w
    cdef floating* wx
    if packs_weights(dtype_tag, jb.batch, n, width):
        w = <floating*> aligned_scratch(nbytes, &raw[0])
        wx = <floating*> aligned_scratch(jb.features * width * sizeof(floating), &raw[1])
        if w != NULL and wx != NULL:
            pack_into(jb, w, wx)
            return
        free(raw[0])
        free(raw[1])
        raw[0] = raw[1] = NULL
    if nbytes and (<size_t> jb.recurrent_kernel) % WEIGHT_ALIGN:
        w = <floating*> aligned_scratch(nbytes, &raw[0])
        if w != NULL:
            memcpy(w, jb.recurrent_kernel, nbytes)
            jb.recurrent_kernel = w


cdef void pack_into(Job* jb, floating* w, floating* wx) noexcept nogil:
    """The packing of ``pack_weights``, into ``w`` (units x G*H) and ``wx`` (features x G*H)."""
    cdef Py_ssize_t units = jb.units, width = jb.width, split = jb.recurrent_split
    pack_b(jb.features, width, <const floating*> jb.kernel, width, wx)
    if split:
        pack_b(units, split, <const floating*> jb.recurrent_kernel, width, w)
        pack_b(units, width - split, <const floating*> jb.recurrent_kernel + split, width,
               w + split * units)
    else:
        pack_b(units, width, <const floating*> jb.recurrent_kernel, width, w)
    jb.kernel_packed, jb.recurrent_packed = wx, w


cdef int run_forward_rows(Job* jb, int kind, floating* projection, Py_ssize_t n) except -1:
    """The row code of a forward call (``n`` from ``slice_count``, at least 1):
    on the calling thread alone (n == 1) with the inputs projected up front
    into ``projection`` (``project_up_front``), else as batch slices on
    threads (``run_slices``); the weights packed or aligned first
    (``pack_weights``)."""
    cdef void* raw[2]
    cdef const void* given = jb.recurrent_kernel
    raw[0] = raw[1] = NULL
    try:
        with nogil:
            pack_weights(jb, projection, n, raw)
            project_up_front(projection, jb, n, projection)
        run_slices(jb, kind, floating is float, n)
    finally:
        free(raw[0])
        free(raw[1])
        jb.kernel_packed = jb.recurrent_packed = NULL
        jb.projected = False
        jb.recurrent_kernel = given
    return 0


cdef void input_rows(const Job* jb, Py_ssize_t t, Py_ssize_t b0, Py_ssize_t b1,
                     floating* dest) noexcept nogil:
    """``dest[b] = x[b, t] @ W_x + b_x`` for b in [b0, b1) (row stride ``jb.width``),
    one step at a time (the slices), unless ``project_up_front`` already put it
    there (``jb.projected``: calls on the calling thread alone)."""
    cdef Py_ssize_t b, timesteps = jb.timesteps, features = jb.features, width = jb.width
    if jb.projected:
        return
    for b in range(b0, b1):
        memcpy(dest + b * width, jb.bias, width * sizeof(floating))
    times_weights(b1 - b0, width, features,
                  <const floating*> jb.x + (b0 * timesteps + t) * features,
                  timesteps * features, jb.kernel, jb.kernel_packed, width, 0,
                  dest + b0 * width, width)


cdef void masked_outputs(const unsigned char* mask, Py_ssize_t s, Py_ssize_t t,
                         Py_ssize_t b0, Py_ssize_t b1, Py_ssize_t timesteps,
                         Py_ssize_t units, bint zero_output_for_mask, const floating* h_new,
                         floating* outputs) noexcept nogil:
    """``outputs[b0:b1, s]``: the new state where valid, else the previous output or 0."""
    cdef Py_ssize_t b, j
    cdef floating* out
    for b in range(b0, b1):
        out = outputs + (b * timesteps + s) * units
        if mask[b * timesteps + t]:
            memcpy(out, h_new + b * units, units * sizeof(floating))
        elif zero_output_for_mask or s == 0:
            for j in range(units):
                out[j] = 0
        else:
            memcpy(out, out - units, units * sizeof(floating))


cdef void output_grad(const unsigned char* mask, Py_ssize_t s, Py_ssize_t t,
                      Py_ssize_t b0, Py_ssize_t b1, Py_ssize_t timesteps, Py_ssize_t units,
                      bint zero_output_for_mask, const floating* d_outputs,
                      floating* d_prev_output, floating* d_h_new) noexcept nogil:
    """Split ``d_outputs[b0:b1, s] + d_prev_output`` between this step and the previous output.

    ``d_h_new`` gets the part flowing into the freshly computed state of
    valid rows (zeros elsewhere); ``d_prev_output`` the part flowing into the
    previous output, repeated where the step was masked.
    """
    cdef Py_ssize_t b, j
    cdef const floating* d_out
    for b in range(b0, b1):
        d_out = d_outputs + (b * timesteps + s) * units
        if mask[b * timesteps + t]:
            for j in range(units):
                d_h_new[b * units + j] = d_out[j] + d_prev_output[b * units + j]
                d_prev_output[b * units + j] = 0
        else:
            for j in range(units):
                d_h_new[b * units + j] = 0
                if zero_output_for_mask:
                    d_prev_output[b * units + j] = 0
                else:
                    d_prev_output[b * units + j] += d_out[j]


cdef void column_sums(const floating* a, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t lda,
                      floating* out) noexcept nogil:
    """``out[j] = sum_i a[i, j]`` over a row-major block with row stride ``lda``."""
    cdef Py_ssize_t i, j
    for j in range(cols):
        out[j] = 0
    for i in range(rows):
        for j in range(cols):
            out[j] += a[i * lda + j]


cdef void gather_states(const floating* h_states, Py_ssize_t b0, Py_ssize_t b1,
                        Py_ssize_t batch, Py_ssize_t timesteps, Py_ssize_t units,
                        bint go_backwards, floating* out) noexcept nogil:
    """``out[b, t] = h_states[s, b]`` for b in [b0, b1): the previous state of each
    step, batch-major by t."""
    cdef Py_ssize_t s, t, b
    for s in range(timesteps):
        t = time_index(s, timesteps, go_backwards)
        for b in range(b0, b1):
            memcpy(out + (b * timesteps + t) * units, h_states + (s * batch + b) * units,
                   units * sizeof(floating))


cdef floating* transposed(const floating* w, Py_ssize_t rows, Py_ssize_t cols,
                          Py_ssize_t batch, bint always) noexcept nogil:
    """``w.T`` (cols, rows) as a new buffer if asked (``always``) or if the per-step
    product is small, else NULL (also NULL if out of memory: check when ``always``).

    The backward step multiplies by ``W_h.T``; for the small products that
    run as plain loops (and for the slices' register-blocked loops, which
    need it), a transposed copy made once per call turns the strided dot
    products into contiguous row updates that vectorize.
    """
    cdef Py_ssize_t i, j, i0, j0, i1, j1
    cdef floating* out
    if not always and batch * rows * cols > SMALL_PRODUCT:
        return NULL
    out = <floating*> scratch(rows * cols, sizeof(floating), False)
    if out == NULL:
        return NULL
    # In 32 x 32 blocks, so that both sides of a block stay in L1 (the plain
    # double loop wrote one element per cache line: 2.5 % of an LSTM
    # 32x50x100x128 float32 train call).
    for i0 in range(0, rows, 32):
        i1 = min(i0 + 32, rows)
        for j0 in range(0, cols, 32):
            j1 = min(j0 + 32, cols)
            for i in range(i0, i1):
                for j in range(j0, j1):
                    out[j * rows + i] = w[i * cols + j]
    return out


cdef inline void times_wt(bint hand, Py_ssize_t m, Py_ssize_t units, Py_ssize_t k,
                          const floating* a, Py_ssize_t lda, const floating* w,
                          Py_ssize_t ldw, const floating* wt, Py_ssize_t col0,
                          floating* c) noexcept nogil:
    """``c[m, units] += a[m, k] @ w[:, col0:col0 + k].T``, via ``wt = w.T`` if given
    (``hand``, the slices' loops, needs it)."""
    if wt != NULL:
        mm_acc(hand, m, units, k, a, lda, wt + col0 * units, units, c, units)
    else:
        mm(False, True, m, units, k, a, lda, w + col0, ldw, <floating> 1, c, units)


cdef void tn_columns(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const floating* a,
                     Py_ssize_t lda, const floating* b, Py_ssize_t ldb, floating* c,
                     Py_ssize_t ldc) noexcept nogil:
    """``C[m, n] = A.T @ B`` (A stored (k, m)) by the slices' loops."""
    cdef Py_ssize_t i
    for i in range(m):
        memset(c + i * ldc, 0, n * sizeof(floating))
    mm_tn_acc(m, n, k, a, lda, b, ldb, c, ldc)


cdef const floating* columns_of(const floating* a, Py_ssize_t rows, Py_ssize_t lda,
                                Py_ssize_t c0, Py_ssize_t c1, floating* buf,
                                Py_ssize_t* ld) noexcept nogil:
    """Columns [c0, c1) of ``a`` (rows x lda): in place (``ld[0] = lda``), or, when
    ``buf`` is given, copied into it contiguously (``ld[0] = c1 - c0``)."""
    cdef Py_ssize_t i, n = c1 - c0
    if buf == NULL:
        ld[0] = lda
        return a + c0
    for i in range(rows):
        memcpy(buf + i * n, a + i * lda + c0, n * sizeof(floating))
    ld[0] = n
    return buf


cdef void weight_grads_block(const Job* jb, const floating* dz, Py_ssize_t c0,
                             Py_ssize_t c1, floating* buf, floating* aux_buf) noexcept nogil:
    """Columns [c0, c1) (at most COLUMN_BLOCK) of d_kernel, d_recurrent_kernel
    and d_bias, reading dz's (and aux's) columns from contiguous copies when
    ``buf`` (and ``aux_buf``) are given: see ``weight_grads``."""
    cdef Py_ssize_t rows = jb.batch * jb.timesteps, features = jb.features
    cdef Py_ssize_t units = jb.units, width = jb.width, a0, a1, ld, ld_aux
    cdef const floating* x = <const floating*> jb.x
    cdef const floating* h_prev_all = <const floating*> jb.h_prev_all
    cdef const floating* d = columns_of(dz, rows, width, c0, c1, buf, &ld)
    cdef const floating* aux
    cdef floating* d_kernel = <floating*> jb.d_kernel
    cdef floating* d_recurrent_kernel = <floating*> jb.d_recurrent_kernel
    cdef floating* d_bias = <floating*> jb.d_bias
    # d points at dz[:, c0] (row stride ld): dz[:, j] is d[:, j - c0]
    tn_columns(features, c1 - c0, rows, x, features, d, ld, d_kernel + c0, width)
    column_sums(d, rows, c1 - c0, ld, d_bias + c0)
    if jb.aux == NULL:      # SimpleRNN, LSTM: W_h's columns are those of dz
        tn_columns(units, c1 - c0, rows, h_prev_all, units, d, ld,
                   d_recurrent_kernel + c0, width)
        return
    # GRU: columns before 2H (z, r) from d_in; the candidate's from aux.
    # d_bias row 1 follows d_in, except the candidate's recurrent bias
    # with reset_after (aux, the gradient of h_prev @ U_h + b_h there).
    a0, a1 = c0, min(c1, 2 * units)
    if a1 > a0:
        tn_columns(units, a1 - a0, rows, h_prev_all, units, d + a0 - c0, ld,
                   d_recurrent_kernel + a0, width)
        column_sums(d + a0 - c0, rows, a1 - a0, ld, d_bias + width + a0)
    a0, a1 = max(c0, 2 * units), c1
    if a1 > a0:
        if jb.reset_after:
            aux = columns_of(<const floating*> jb.aux, rows, units, a0 - 2 * units,
                             a1 - 2 * units, aux_buf, &ld_aux)
            tn_columns(units, a1 - a0, rows, h_prev_all, units, aux, ld_aux,
                       d_recurrent_kernel + a0, width)
            column_sums(aux, rows, a1 - a0, ld_aux, d_bias + width + a0)
        else:
            tn_columns(units, a1 - a0, rows, <const floating*> jb.aux, units, d + a0 - c0,
                       ld, d_recurrent_kernel + a0, width)
            column_sums(d + a0 - c0, rows, a1 - a0, ld, d_bias + width + a0)


cdef void weight_grads(const Job* jb, const floating* dz, Py_ssize_t c0,
                       Py_ssize_t c1) noexcept nogil:
    """Columns [c0, c1) of d_kernel, d_recurrent_kernel and d_bias, from a sliced
    backward's ``dz`` (GRU: ``d_in`` and ``aux``): the same sums as the serial
    bulk GEMMs, each column computed whole (so the column blocks, hence the
    thread count, do not change the results).

    Block by block of COLUMN_BLOCK columns. The products read a block's
    columns of dz (B*T rows) as B; when dz's rows are 4 KB or more apart
    (``packs``: LSTM of 256+ units), each block is first copied to a
    contiguous buffer (see "Packed B" in ``_smallgemm.h``; measured, float32,
    one core, d_recurrent_kernel's 512 x 32 block over 6,400 rows of 2,048:
    132 GFLOP/s in place, 230 with the copy). Same sums either way."""
    cdef Py_ssize_t rows = jb.batch * jb.timesteps, cc
    cdef floating* buf = NULL
    cdef floating* aux_buf = NULL
    if c1 <= c0:
        return
    # Without the memory for the copies, the products read dz in place.
    if _packing and packs(<floating*> NULL, COLUMN_BLOCK, jb.width):
        buf = <floating*> scratch(rows * COLUMN_BLOCK, sizeof(floating), False)
        if buf != NULL and jb.aux != NULL and packs(<floating*> NULL, COLUMN_BLOCK, jb.units):
            aux_buf = <floating*> scratch(rows * COLUMN_BLOCK, sizeof(floating), False)
    cc = c0
    while cc < c1:
        weight_grads_block(jb, dz, cc, min(cc + COLUMN_BLOCK, c1), buf, aux_buf)
        cc += COLUMN_BLOCK
    free(buf)
    free(aux_buf)


# --------------------------------------------------------------------------
# SimpleRNN
# --------------------------------------------------------------------------

cdef int simple_rnn_forward_rows(const Job* jb, floating* h_states, Py_ssize_t b0,
                                 Py_ssize_t b1) noexcept nogil:
    """The time loop over batch rows [b0, b1) (input projection: see ``input_rows``)."""
    cdef Py_ssize_t batch = jb.batch, timesteps = jb.timesteps, units = jb.units
    cdef Py_ssize_t s, t, b, j
    cdef const unsigned char* mask = jb.mask
    cdef floating* outputs = <floating*> jb.outputs
    cdef floating* h_prev
    cdef floating* h_new
    for s in range(timesteps):
        t = time_index(s, timesteps, jb.go_backwards)
        h_prev = h_states + s * batch * units
        h_new = h_prev + batch * units
        input_rows(jb, t, b0, b1, h_new)
        times_weights(b1 - b0, units, units, h_prev + b0 * units, units, jb.recurrent_kernel,
                      jb.recurrent_packed, units, 0, h_new + b0 * units, units)
        for b in range(b0, b1):
            if mask[b * timesteps + t]:
                activate_array(jb.activation, h_new + b * units, h_new + b * units, units)
        masked_outputs(mask, s, t, b0, b1, timesteps, units, jb.zero_output_for_mask,
                       h_new, outputs)
        for b in range(b0, b1):
            if not mask[b * timesteps + t]:
                memcpy(h_new + b * units, h_prev + b * units, units * sizeof(floating))
    return 0


cdef int _simple_rnn_forward(
        const floating[:, :, ::1] x, const unsigned char[:, ::1] mask,
        const floating[:, ::1] h0, const floating[:, ::1] kernel,
        const floating[:, ::1] recurrent_kernel, const floating[::1] bias,
        int activation, bint go_backwards, bint zero_output_for_mask,
        floating[:, :, ::1] outputs, floating[:, :, ::1] h_states) except -1:
    cdef Py_ssize_t batch = x.shape[0], timesteps = x.shape[1], features = x.shape[2]
    cdef Py_ssize_t units = h0.shape[1], bh = batch * units
    cdef Py_ssize_t n = slice_count(batch, timesteps, features, units, units)
    cdef Job jb
    memset(&jb, 0, sizeof(Job))
    jb.batch, jb.timesteps, jb.features, jb.units, jb.width = (
        batch, timesteps, features, units, units)
    jb.activation, jb.go_backwards = activation, go_backwards
    jb.zero_output_for_mask = zero_output_for_mask
    jb.mask, jb.x, jb.kernel = &mask[0, 0], &x[0, 0, 0], &kernel[0, 0]
    jb.recurrent_kernel, jb.bias = &recurrent_kernel[0, 0], &bias[0]
    jb.outputs, jb.h_states = &outputs[0, 0, 0], &h_states[0, 0, 0]
    with nogil:
        if bh:
            memcpy(&h_states[0, 0, 0], &h0[0, 0], bh * sizeof(floating))
        if batch == 0 or timesteps == 0:
            return 0
    run_forward_rows(&jb, SIMPLE_RNN_FORWARD, &h_states[0, 0, 0] + bh, n)
    return 0


cdef int simple_rnn_backward_rows(const Job* jb, floating* da, Py_ssize_t b0,
                                  Py_ssize_t b1, bint hand) noexcept nogil:
    """BPTT over batch rows [b0, b1): their rows of ``da`` (B*T, H), ``h_prev_all``
    and ``dh`` (left holding d_h0)."""
    cdef Py_ssize_t batch = jb.batch, timesteps = jb.timesteps, units = jb.units
    cdef Py_ssize_t s, t, b, j
    cdef int activation = jb.activation
    cdef const unsigned char* mask = jb.mask
    cdef const floating* h_states = <const floating*> jb.h_states
    cdef floating* dh = <floating*> jb.dh
    cdef floating* d_prev_output = <floating*> jb.d_prev_output
    cdef floating* d_h_new = <floating*> jb.d_h_new
    cdef floating* da_t
    cdef const floating* h_new
    for s in range(timesteps - 1, -1, -1):
        t = time_index(s, timesteps, jb.go_backwards)
        h_new = h_states + (s + 1) * batch * units
        output_grad(mask, s, t, b0, b1, timesteps, units, jb.zero_output_for_mask,
                    <const floating*> jb.d_outputs, d_prev_output, d_h_new)
        for b in range(b0, b1):
            da_t = da + (b * timesteps + t) * units
            if mask[b * timesteps + t]:
                for j in range(units):
                    da_t[j] = ((d_h_new[b * units + j] + dh[b * units + j])
                               * derivative(activation, h_new[b * units + j]))
                    dh[b * units + j] = 0
            else:
                for j in range(units):
                    da_t[j] = 0
        # dh_{s-1} = da @ W_h^T (+ dh itself on masked rows, kept above)
        times_wt(hand, b1 - b0, units, units, da + (b0 * timesteps + t) * units,
                 timesteps * units, <const floating*> jb.recurrent_kernel, units,
                 <const floating*> jb.wt, 0, dh + b0 * units)
    gather_states(h_states, b0, b1, batch, timesteps, units, jb.go_backwards,
                  <floating*> jb.h_prev_all)
    return 0


cdef int _simple_rnn_backward(
        const floating[:, :, ::1] x, const unsigned char[:, ::1] mask,
        const floating[:, ::1] kernel, const floating[:, ::1] recurrent_kernel,
        int activation, bint go_backwards, bint zero_output_for_mask,
        const floating[:, :, ::1] h_states, const floating[:, :, ::1] d_outputs,
        const floating[:, ::1] d_h_last, floating[:, :, ::1] dx, floating[:, ::1] d_h0,
        floating[:, ::1] d_kernel, floating[:, ::1] d_recurrent_kernel,
        floating[::1] d_bias) except -1:
    cdef Py_ssize_t batch = x.shape[0], timesteps = x.shape[1], features = x.shape[2]
    cdef Py_ssize_t units = d_h_last.shape[1]
    cdef Py_ssize_t rows = batch * timesteps, bh = batch * units
    cdef Py_ssize_t n = slice_count(batch, timesteps, features, units, units)
    cdef floating* dh = &d_h0[0, 0] if bh else NULL
    cdef floating* da = NULL
    cdef floating* d_prev_output = NULL
    cdef floating* d_h_new = NULL
    cdef floating* h_prev_all = NULL
    cdef floating* wt = transposed(&recurrent_kernel[0, 0], units, units, batch, n > 0)
    cdef floating* kt = transposed(&kernel[0, 0], features, units, batch, True) if n else NULL
    cdef Job jb
    with nogil:
        if bh:
            memcpy(dh, &d_h_last[0, 0], bh * sizeof(floating))
        da = <floating*> scratch(rows * units, sizeof(floating), False)
        d_prev_output = <floating*> scratch(bh, sizeof(floating), True)
        d_h_new = <floating*> scratch(bh, sizeof(floating), False)
        h_prev_all = <floating*> scratch(rows * units, sizeof(floating), False)
        if (da == NULL or d_prev_output == NULL or d_h_new == NULL or h_prev_all == NULL
                or (n and (wt == NULL or kt == NULL))):
            free(da); free(d_prev_output); free(d_h_new); free(h_prev_all); free(wt); free(kt)
            with gil:
                raise MemoryError()
    memset(&jb, 0, sizeof(Job))
    jb.batch, jb.timesteps, jb.features, jb.units, jb.width = (
        batch, timesteps, features, units, units)
    jb.activation, jb.go_backwards = activation, go_backwards
    jb.zero_output_for_mask = zero_output_for_mask
    jb.mask, jb.recurrent_kernel, jb.wt = &mask[0, 0], &recurrent_kernel[0, 0], wt
    jb.h_states, jb.d_outputs = &h_states[0, 0, 0], &d_outputs[0, 0, 0]
    jb.dh, jb.dz, jb.d_prev_output, jb.d_h_new = dh, da, d_prev_output, d_h_new
    jb.h_prev_all = h_prev_all
    jb.kernel_t, jb.dx = kt, (&dx[0, 0, 0] if n else NULL)
    try:
        if n:
            jb.x, jb.d_kernel = &x[0, 0, 0], &d_kernel[0, 0]
            jb.d_recurrent_kernel, jb.d_bias = &d_recurrent_kernel[0, 0], &d_bias[0]
            run_slices(&jb, SIMPLE_RNN_BACKWARD, floating is float, n)
            run_slices(&jb, WEIGHT_GRADS, floating is float, n)
            return 0
        with nogil:
            simple_rnn_backward_rows(&jb, da, 0, batch, False)
            mm(False, True, rows, features, units, da, units, &kernel[0, 0], units,
               <floating> 0, &dx[0, 0, 0] if rows else NULL, features)
            mm(True, False, features, units, rows, &x[0, 0, 0] if rows else NULL, features,
               da, units, <floating> 0, &d_kernel[0, 0], units)
            mm(True, False, units, units, rows, h_prev_all, units, da, units, <floating> 0,
               &d_recurrent_kernel[0, 0], units)
            column_sums(da, rows, units, units, &d_bias[0])
    finally:
        free(da); free(d_prev_output); free(d_h_new); free(h_prev_all); free(wt); free(kt)
    return 0


# --------------------------------------------------------------------------
# LSTM
# --------------------------------------------------------------------------

cdef int lstm_forward_rows(const Job* jb, floating* h_states, Py_ssize_t b0,
                           Py_ssize_t b1) noexcept nogil:
    """The time loop over batch rows [b0, b1) (input projection: see ``input_rows``)."""
    cdef Py_ssize_t batch = jb.batch, timesteps = jb.timesteps, units = jb.units
    cdef Py_ssize_t width = jb.width, bh = batch * units
    cdef Py_ssize_t s, t, b, j
    cdef int activation = jb.activation, recurrent_activation = jb.recurrent_activation
    cdef const unsigned char* mask = jb.mask
    cdef floating* c_states = <floating*> jb.c_states
    cdef floating* z
    cdef floating* h_prev
    cdef floating* h_new
    cdef floating* c_prev
    cdef floating* c_new
    cdef floating* zb
    cdef floating* cb
    cdef floating* hb
    cdef const floating* cp
    for s in range(timesteps):
        t = time_index(s, timesteps, jb.go_backwards)
        h_prev, h_new = h_states + s * bh, h_states + (s + 1) * bh
        c_prev, c_new = c_states + s * bh, c_states + (s + 1) * bh
        z = <floating*> jb.gates + s * batch * width
        input_rows(jb, t, b0, b1, z)
        times_weights(b1 - b0, width, units, h_prev + b0 * units, units, jb.recurrent_kernel,
                      jb.recurrent_packed, width, 0, z + b0 * width, width)
        for b in range(b0, b1):
            zb = z + b * width
            cb, hb, cp = c_new + b * units, h_new + b * units, c_prev + b * units
            activate_array(recurrent_activation, zb, zb, 2 * units)            # i, f
            activate_array(activation, zb + 2 * units, zb + 2 * units, units)  # g
            activate_array(recurrent_activation, zb + 3 * units, zb + 3 * units, units)  # o
            for j in range(units):
                cb[j] = zb[units + j] * cp[j] + zb[j] * zb[2 * units + j]
            activate_array(activation, cb, hb, units)
            for j in range(units):
                hb[j] = zb[3 * units + j] * hb[j]
        masked_outputs(mask, s, t, b0, b1, timesteps, units, jb.zero_output_for_mask,
                       h_new, <floating*> jb.outputs)
        for b in range(b0, b1):
            if not mask[b * timesteps + t]:
                memcpy(h_new + b * units, h_prev + b * units, units * sizeof(floating))
                memcpy(c_new + b * units, c_prev + b * units, units * sizeof(floating))
    return 0


cdef int _lstm_forward(
        const floating[:, :, ::1] x, const unsigned char[:, ::1] mask,
        const floating[:, ::1] h0, const floating[:, ::1] c0, const floating[:, ::1] kernel,
        const floating[:, ::1] recurrent_kernel, const floating[::1] bias,
        int activation, int recurrent_activation, bint go_backwards,
        bint zero_output_for_mask, floating[:, :, ::1] outputs,
        floating[:, :, ::1] h_states, floating[:, :, ::1] c_states,
        floating[:, :, ::1] gates) except -1:
    cdef Py_ssize_t batch = x.shape[0], timesteps = x.shape[1], features = x.shape[2]
    cdef Py_ssize_t units = h0.shape[1], width = 4 * units, bh = batch * units
    cdef Py_ssize_t n = slice_count(batch, timesteps, features, units, width)
    cdef Job jb
    memset(&jb, 0, sizeof(Job))
    jb.batch, jb.timesteps, jb.features, jb.units, jb.width = (
        batch, timesteps, features, units, width)
    jb.activation, jb.recurrent_activation = activation, recurrent_activation
    jb.go_backwards, jb.zero_output_for_mask = go_backwards, zero_output_for_mask
    jb.mask, jb.x, jb.kernel = &mask[0, 0], &x[0, 0, 0], &kernel[0, 0]
    jb.recurrent_kernel, jb.bias = &recurrent_kernel[0, 0], &bias[0]
    jb.outputs, jb.h_states = &outputs[0, 0, 0], &h_states[0, 0, 0]
    jb.c_states, jb.gates = &c_states[0, 0, 0], &gates[0, 0, 0]
    with nogil:
        if bh:
            memcpy(&h_states[0, 0, 0], &h0[0, 0], bh * sizeof(floating))
            memcpy(&c_states[0, 0, 0], &c0[0, 0], bh * sizeof(floating))
        if batch == 0 or timesteps == 0:
            return 0
    run_forward_rows(&jb, LSTM_FORWARD, &gates[0, 0, 0], n)
    return 0


cdef extern from "_gates.h" nogil:
    void lstm_step_grads_tanh_sigmoid_f32 "fastrnn_lstm_step_grads_tanh_sigmoid_f32"(
        Py_ssize_t units, const float* gates, const float* act_c, const float* c_prev,
        const float* d_h_new, float* dh, float* dc, float* dz)
    void lstm_step_grads_tanh_sigmoid_f64 "fastrnn_lstm_step_grads_tanh_sigmoid_f64"(
        Py_ssize_t units, const double* gates, const double* act_c, const double* c_prev,
        const double* d_h_new, double* dh, double* dc, double* dz)
    void gru_step_grads_tanh_sigmoid_f32 "fastrnn_gru_step_grads_tanh_sigmoid_f32"(
        Py_ssize_t units, const float* gates, const float* u, const float* h_prev,
        const float* d_h_new, float* dh, float* dz, float* aux)
    void gru_step_grads_tanh_sigmoid_f64 "fastrnn_gru_step_grads_tanh_sigmoid_f64"(
        Py_ssize_t units, const double* gates, const double* u, const double* h_prev,
        const double* d_h_new, double* dh, double* dz, double* aux)


cdef inline void lstm_step_grads(Py_ssize_t units, int activation, int recurrent_activation,
                                 const floating* gates, const floating* act_c,
                                 const floating* c_prev, const floating* d_h_new,
                                 floating* dh, floating* dc, floating* dz) noexcept nogil:
    """One row of one backward step: the gate pre-activation gradients ``dz`` (4H)
    from the row's gates [i, f, g, o], ``act_c = act(c_t)``, ``c_prev`` and the
    gradients reaching h_t (``d_h_new + dh``) and c_t (``dc``); leaves
    ``dc = dc_{t-1}`` (the part through the forget gate) and ``dh = 0``."""
    cdef Py_ssize_t j
    cdef floating i, f, g, o, dhn, dcn
    if activation == TANH and recurrent_activation == SIGMOID:
        # Keras's default, in C (kernels/_gates.h), where it vectorizes.
        if floating is float:
            lstm_step_grads_tanh_sigmoid_f32(units, gates, act_c, c_prev, d_h_new, dh, dc, dz)
        else:
            lstm_step_grads_tanh_sigmoid_f64(units, gates, act_c, c_prev, d_h_new, dh, dc, dz)
        return
    for j in range(units):
        i = gates[j]
        f = gates[units + j]
        g = gates[2 * units + j]
        o = gates[3 * units + j]
        dhn = d_h_new[j] + dh[j]
        dcn = dc[j] + dhn * o * derivative(activation, act_c[j])
        dz[j] = dcn * g * derivative(recurrent_activation, i)
        dz[units + j] = dcn * c_prev[j] * derivative(recurrent_activation, f)
        dz[2 * units + j] = dcn * i * derivative(activation, g)
        dz[3 * units + j] = dhn * act_c[j] * derivative(recurrent_activation, o)
        dc[j] = dcn * f
        dh[j] = 0


cdef int lstm_backward_rows(const Job* jb, floating* dz, Py_ssize_t b0, Py_ssize_t b1,
                            bint hand) noexcept nogil:
    """BPTT over batch rows [b0, b1): their rows of ``dz`` (B*T, 4H), ``h_prev_all``,
    ``dh`` and ``dc`` (left holding d_h0, d_c0); -1 if out of memory."""
    cdef Py_ssize_t batch = jb.batch, timesteps = jb.timesteps, units = jb.units
    cdef Py_ssize_t width = jb.width, bh = batch * units
    cdef Py_ssize_t s, t, b, j
    cdef int activation = jb.activation, recurrent_activation = jb.recurrent_activation
    cdef const unsigned char* mask = jb.mask
    cdef const floating* c_states = <const floating*> jb.c_states
    cdef floating* dh = <floating*> jb.dh
    cdef floating* dc = <floating*> jb.dc
    cdef floating* d_h_new = <floating*> jb.d_h_new
    cdef floating* act_row = <floating*> scratch(units, sizeof(floating), False)
    cdef floating* dz_t
    cdef const floating* g_s
    cdef const floating* c_prev
    cdef const floating* c_new
    if act_row == NULL:
        return -1
    for s in range(timesteps - 1, -1, -1):
        t = time_index(s, timesteps, jb.go_backwards)
        c_prev, c_new = c_states + s * bh, c_states + (s + 1) * bh
        g_s = <const floating*> jb.gates + s * batch * width
        output_grad(mask, s, t, b0, b1, timesteps, units, jb.zero_output_for_mask,
                    <const floating*> jb.d_outputs, <floating*> jb.d_prev_output, d_h_new)
        for b in range(b0, b1):
            dz_t = dz + (b * timesteps + t) * width
            if not mask[b * timesteps + t]:
                for j in range(width):
                    dz_t[j] = 0
                continue
            activate_array(activation, c_new + b * units, act_row, units)
            lstm_step_grads(units, activation, recurrent_activation, g_s + b * width, act_row,
                            c_prev + b * units, d_h_new + b * units, dh + b * units,
                            dc + b * units, dz_t)
        times_wt(hand, b1 - b0, units, width, dz + (b0 * timesteps + t) * width,
                 timesteps * width, <const floating*> jb.recurrent_kernel, width,
                 <const floating*> jb.wt, 0, dh + b0 * units)
    gather_states(<const floating*> jb.h_states, b0, b1, batch, timesteps, units,
                  jb.go_backwards, <floating*> jb.h_prev_all)
    free(act_row)
    return 0


cdef int _lstm_backward(
        const floating[:, :, ::1] x, const unsigned char[:, ::1] mask,
        const floating[:, ::1] kernel, const floating[:, ::1] recurrent_kernel,
        int activation, int recurrent_activation, bint go_backwards,
        bint zero_output_for_mask, const floating[:, :, ::1] h_states,
        const floating[:, :, ::1] c_states, const floating[:, :, ::1] gates,
        const floating[:, :, ::1] d_outputs, const floating[:, ::1] d_h_last,
        const floating[:, ::1] d_c_last, floating[:, :, ::1] dx, floating[:, ::1] d_h0,
        floating[:, ::1] d_c0, floating[:, ::1] d_kernel,
        floating[:, ::1] d_recurrent_kernel, floating[::1] d_bias) except -1:
    cdef Py_ssize_t batch = x.shape[0], timesteps = x.shape[1], features = x.shape[2]
    cdef Py_ssize_t units = d_h_last.shape[1], width = 4 * units
    cdef Py_ssize_t rows = batch * timesteps, bh = batch * units
    cdef Py_ssize_t n = slice_count(batch, timesteps, features, units, width)
    cdef floating* dh = &d_h0[0, 0] if bh else NULL
    cdef floating* dc = &d_c0[0, 0] if bh else NULL
    cdef floating* dz = NULL
    cdef floating* d_prev_output = NULL
    cdef floating* d_h_new = NULL
    cdef floating* h_prev_all = NULL
    cdef floating* wt = transposed(&recurrent_kernel[0, 0], units, width, batch, n > 0)
    cdef floating* kt = transposed(&kernel[0, 0], features, width, batch, True) if n else NULL
    cdef int status = 0
    cdef Job jb
    with nogil:
        if bh:
            memcpy(dh, &d_h_last[0, 0], bh * sizeof(floating))
            memcpy(dc, &d_c_last[0, 0], bh * sizeof(floating))
        dz = <floating*> scratch(rows * width, sizeof(floating), False)
        d_prev_output = <floating*> scratch(bh, sizeof(floating), True)
        d_h_new = <floating*> scratch(bh, sizeof(floating), False)
        h_prev_all = <floating*> scratch(rows * units, sizeof(floating), False)
        if (dz == NULL or d_prev_output == NULL or d_h_new == NULL or h_prev_all == NULL
                or (n and (wt == NULL or kt == NULL))):
            free(dz); free(d_prev_output); free(d_h_new); free(h_prev_all); free(wt); free(kt)
            with gil:
                raise MemoryError()
    memset(&jb, 0, sizeof(Job))
    jb.batch, jb.timesteps, jb.features, jb.units, jb.width = (
        batch, timesteps, features, units, width)
    jb.activation, jb.recurrent_activation = activation, recurrent_activation
    jb.go_backwards, jb.zero_output_for_mask = go_backwards, zero_output_for_mask
    jb.mask, jb.recurrent_kernel, jb.wt = &mask[0, 0], &recurrent_kernel[0, 0], wt
    jb.h_states, jb.c_states, jb.gates = &h_states[0, 0, 0], &c_states[0, 0, 0], &gates[0, 0, 0]
    jb.d_outputs, jb.dh, jb.dc, jb.dz = &d_outputs[0, 0, 0], dh, dc, dz
    jb.d_prev_output, jb.d_h_new, jb.h_prev_all = d_prev_output, d_h_new, h_prev_all
    jb.kernel_t, jb.dx = kt, (&dx[0, 0, 0] if n else NULL)
    try:
        if n:
            jb.x, jb.d_kernel = &x[0, 0, 0], &d_kernel[0, 0]
            jb.d_recurrent_kernel, jb.d_bias = &d_recurrent_kernel[0, 0], &d_bias[0]
            run_slices(&jb, LSTM_BACKWARD, floating is float, n)
            run_slices(&jb, WEIGHT_GRADS, floating is float, n)
            return 0
        with nogil:
            status = lstm_backward_rows(&jb, dz, 0, batch, False)
            if status == 0:
                mm(False, True, rows, features, width, dz, width, &kernel[0, 0], width,
                   <floating> 0, &dx[0, 0, 0] if rows else NULL, features)
                mm(True, False, features, width, rows, &x[0, 0, 0] if rows else NULL,
                   features, dz, width, <floating> 0, &d_kernel[0, 0], width)
                mm(True, False, units, width, rows, h_prev_all, units, dz, width,
                   <floating> 0, &d_recurrent_kernel[0, 0], width)
                column_sums(dz, rows, width, width, &d_bias[0])
        if status:
            raise MemoryError()
    finally:
        free(dz); free(d_prev_output); free(d_h_new); free(h_prev_all); free(wt); free(kt)
    return 0


# --------------------------------------------------------------------------
# GRU
# --------------------------------------------------------------------------

cdef int gru_forward_rows(const Job* jb, floating* h_states, Py_ssize_t b0,
                          Py_ssize_t b1) noexcept nogil:
    """The time loop over batch rows [b0, b1) (input projection: see ``input_rows``)."""
    cdef Py_ssize_t batch = jb.batch, timesteps = jb.timesteps, units = jb.units
    cdef Py_ssize_t width = jb.width, bh = batch * units, rows = b1 - b0
    cdef Py_ssize_t s, t, b, j
    cdef int activation = jb.activation, recurrent_activation = jb.recurrent_activation
    cdef const unsigned char* mask = jb.mask
    cdef const floating* recurrent_kernel = <const floating*> jb.recurrent_kernel
    cdef const floating* b_rec = <const floating*> jb.bias + width
    # u (B, 3H): h_prev @ W_h + b_rec, or (B, H) r * h_prev
    cdef floating* u = <floating*> jb.u
    cdef floating* g
    cdef floating* h_prev
    cdef floating* h_new
    cdef floating* u_h
    cdef floating* gb
    cdef floating* ub
    cdef floating zg, hh
    for s in range(timesteps):
        t = time_index(s, timesteps, jb.go_backwards)
        h_prev, h_new = h_states + s * bh, h_states + (s + 1) * bh
        g = <floating*> jb.gates + s * batch * width
        u_h = <floating*> jb.recurrent_candidate + s * bh
        # x_t @ W_x + b_x goes into the gate rows (projected up front, or
        # here); the steps below add to it in place.
        input_rows(jb, t, b0, b1, g)
        if jb.reset_after:
            for b in range(b0, b1):
                memcpy(u + b * width, b_rec, width * sizeof(floating))
            times_weights(rows, width, units, h_prev + b0 * units, units, recurrent_kernel,
                          jb.recurrent_packed, width, 0, u + b0 * width, width)
            for b in range(b0, b1):
                gb, ub = g + b * width, u + b * width
                for j in range(2 * units):
                    gb[j] = gb[j] + ub[j]
                activate_array(recurrent_activation, gb, gb, 2 * units)       # z, r
                for j in range(units):
                    u_h[b * units + j] = ub[2 * units + j]
                    gb[2 * units + j] = gb[2 * units + j] + gb[units + j] * ub[2 * units + j]
                activate_array(activation, gb + 2 * units, gb + 2 * units, units)  # hh
        else:
            for b in range(b0, b1):
                gb = g + b * width
                for j in range(2 * units):
                    gb[j] = gb[j] + b_rec[j]
            times_weights(rows, 2 * units, units, h_prev + b0 * units, units, recurrent_kernel,
                          jb.recurrent_packed, width, 0, g + b0 * width, width)
            for b in range(b0, b1):
                activate_array(recurrent_activation, g + b * width, g + b * width, 2 * units)
                for j in range(units):
                    u[b * units + j] = g[b * width + units + j] * h_prev[b * units + j]
                    u_h[b * units + j] = b_rec[2 * units + j]
            times_weights(rows, units, units, u + b0 * units, units, recurrent_kernel,
                          jb.recurrent_packed, width, 2 * units, u_h + b0 * units, units)
            for b in range(b0, b1):
                gb = g + b * width
                for j in range(units):
                    gb[2 * units + j] = gb[2 * units + j] + u_h[b * units + j]
                activate_array(activation, gb + 2 * units, gb + 2 * units, units)  # hh
        for b in range(b0, b1):
            for j in range(units):
                zg = g[b * width + j]
                hh = g[b * width + 2 * units + j]
                h_new[b * units + j] = zg * h_prev[b * units + j] + (1 - zg) * hh
        masked_outputs(mask, s, t, b0, b1, timesteps, units, jb.zero_output_for_mask,
                       h_new, <floating*> jb.outputs)
        for b in range(b0, b1):
            if not mask[b * timesteps + t]:
                memcpy(h_new + b * units, h_prev + b * units, units * sizeof(floating))
    return 0


cdef int _gru_forward(
        const floating[:, :, ::1] x, const unsigned char[:, ::1] mask,
        const floating[:, ::1] h0, const floating[:, ::1] kernel,
        const floating[:, ::1] recurrent_kernel, const floating[:, ::1] bias,
        int activation, int recurrent_activation, bint reset_after, bint go_backwards,
        bint zero_output_for_mask, floating[:, :, ::1] outputs,
        floating[:, :, ::1] h_states, floating[:, :, ::1] gates,
        floating[:, :, ::1] recurrent_candidate) except -1:
    cdef Py_ssize_t batch = x.shape[0], timesteps = x.shape[1], features = x.shape[2]
    cdef Py_ssize_t units = h0.shape[1], width = 3 * units, bh = batch * units
    cdef Py_ssize_t n = slice_count(batch, timesteps, features, units, width)
    cdef floating* u = NULL
    cdef Job jb
    memset(&jb, 0, sizeof(Job))
    jb.batch, jb.timesteps, jb.features, jb.units, jb.width = (
        batch, timesteps, features, units, width)
    jb.activation, jb.recurrent_activation = activation, recurrent_activation
    jb.reset_after, jb.go_backwards = reset_after, go_backwards
    jb.recurrent_split = 0 if reset_after else 2 * units     # see gru_forward_rows
    jb.zero_output_for_mask = zero_output_for_mask
    jb.mask, jb.x, jb.kernel = &mask[0, 0], &x[0, 0, 0], &kernel[0, 0]
    jb.recurrent_kernel, jb.bias = &recurrent_kernel[0, 0], &bias[0, 0]
    jb.outputs, jb.h_states, jb.gates = &outputs[0, 0, 0], &h_states[0, 0, 0], &gates[0, 0, 0]
    jb.recurrent_candidate = &recurrent_candidate[0, 0, 0]
    with nogil:
        if bh:
            memcpy(&h_states[0, 0, 0], &h0[0, 0], bh * sizeof(floating))
        if batch == 0 or timesteps == 0:
            return 0
        u = <floating*> scratch(batch * width, sizeof(floating), False)
        if u == NULL:
            with gil:
                raise MemoryError()
        jb.u = u
    try:
        run_forward_rows(&jb, GRU_FORWARD, &gates[0, 0, 0], n)
    finally:
        free(u)
    return 0


cdef inline void gru_step_grads(Py_ssize_t units, int activation, int recurrent_activation,
                                bint reset_after, const floating* gates, const floating* u,
                                const floating* h_prev, const floating* d_h_new,
                                floating* dh, floating* dz, floating* aux) noexcept nogil:
    """Pass 1 of one row of one backward step: from the row's gates [z, r, hh],
    ``u`` (reset_after: h_prev @ U_h + b_h), ``h_prev`` and the gradient reaching
    h_t (``d_h_new + dh``), the gradients of z and hh (and r with reset_after)
    into ``dz``, ``aux`` (reset_after: the gradient of u; else r * h_prev), and
    the direct part of dh_{t-1} into ``dh``."""
    cdef Py_ssize_t j
    cdef floating zg, r, hh, dhn, da_h
    if reset_after and activation == TANH and recurrent_activation == SIGMOID:
        # Keras's default, in C (kernels/_gates.h), where it vectorizes.
        if floating is float:
            gru_step_grads_tanh_sigmoid_f32(units, gates, u, h_prev, d_h_new, dh, dz, aux)
        else:
            gru_step_grads_tanh_sigmoid_f64(units, gates, u, h_prev, d_h_new, dh, dz, aux)
        return
    for j in range(units):
        zg = gates[j]
        r = gates[units + j]
        hh = gates[2 * units + j]
        dhn = d_h_new[j] + dh[j]
        da_h = dhn * (1 - zg) * derivative(activation, hh)
        dz[j] = dhn * (h_prev[j] - hh) * derivative(recurrent_activation, zg)
        dz[2 * units + j] = da_h
        if reset_after:
            aux[j] = da_h * r
            dz[units + j] = da_h * u[j] * derivative(recurrent_activation, r)
        else:
            aux[j] = r * h_prev[j]
        dh[j] = dhn * zg


cdef int gru_backward_rows(const Job* jb, floating* d_in, Py_ssize_t b0, Py_ssize_t b1,
                           bint hand) noexcept nogil:
    """BPTT over batch rows [b0, b1): their rows of ``d_in`` (B*T, 3H), ``aux``,
    ``h_prev_all`` and ``dh`` (left holding d_h0)."""
    cdef Py_ssize_t batch = jb.batch, timesteps = jb.timesteps, units = jb.units
    cdef Py_ssize_t width = jb.width, bh = batch * units, rows = b1 - b0
    cdef Py_ssize_t s, t, b, j
    cdef int activation = jb.activation, recurrent_activation = jb.recurrent_activation
    cdef bint reset_after = jb.reset_after
    cdef const unsigned char* mask = jb.mask
    cdef const floating* recurrent_kernel = <const floating*> jb.recurrent_kernel
    cdef const floating* wt = <const floating*> jb.wt
    cdef floating* dh = <floating*> jb.dh
    # aux[b, t]: reset_after: du_h, the gradient of u_h; else r * h_prev.
    cdef floating* aux = <floating*> jb.aux
    cdef floating* d_h_new = <floating*> jb.d_h_new
    cdef floating* d_rh = <floating*> jb.d_rh
    cdef floating* d_t
    cdef floating* aux_t
    cdef const floating* g_s
    cdef const floating* u_s
    cdef const floating* h_prev
    cdef floating r, dr
    for s in range(timesteps - 1, -1, -1):
        t = time_index(s, timesteps, jb.go_backwards)
        h_prev = <const floating*> jb.h_states + s * bh
        g_s = <const floating*> jb.gates + s * batch * width
        u_s = <const floating*> jb.recurrent_candidate + s * bh
        output_grad(mask, s, t, b0, b1, timesteps, units, jb.zero_output_for_mask,
                    <const floating*> jb.d_outputs, <floating*> jb.d_prev_output, d_h_new)
        # Pass 1: dz (stored raw in the z block), da_h, du_h, and dh_prev's direct part.
        for b in range(b0, b1):
            d_t = d_in + (b * timesteps + t) * width
            aux_t = aux + (b * timesteps + t) * units
            if not mask[b * timesteps + t]:
                for j in range(width):
                    d_t[j] = 0
                for j in range(units):
                    aux_t[j] = 0
                continue
            gru_step_grads(units, activation, recurrent_activation, reset_after,
                           g_s + b * width, u_s + b * units, h_prev + b * units,
                           d_h_new + b * units, dh + b * units, d_t, aux_t)
        if not reset_after:
            # d(r * h_prev) = da_h @ W_h[:, h]^T; then dr and the reset path into dh.
            for j in range(b0 * units, b1 * units):
                d_rh[j] = 0
            times_wt(hand, rows, units, units, d_in + (b0 * timesteps + t) * width + 2 * units,
                     timesteps * width, recurrent_kernel, width, wt, 2 * units,
                     d_rh + b0 * units)
            for b in range(b0, b1):
                if not mask[b * timesteps + t]:
                    continue
                d_t = d_in + (b * timesteps + t) * width
                for j in range(units):
                    r = g_s[b * width + units + j]
                    dr = d_rh[b * units + j] * h_prev[b * units + j]
                    d_t[units + j] = dr * derivative(recurrent_activation, r)
                    dh[b * units + j] += d_rh[b * units + j] * r
        else:
            times_wt(hand, rows, units, units, aux + (b0 * timesteps + t) * units,
                     timesteps * units, recurrent_kernel, width, wt, 2 * units, dh + b0 * units)
        # Masked rows carried dh unchanged above; d_in is zero there.
        times_wt(hand, rows, units, 2 * units, d_in + (b0 * timesteps + t) * width,
                 timesteps * width, recurrent_kernel, width, wt, 0, dh + b0 * units)
    gather_states(<const floating*> jb.h_states, b0, b1, batch, timesteps, units,
                  jb.go_backwards, <floating*> jb.h_prev_all)
    return 0


cdef int _gru_backward(
        const floating[:, :, ::1] x, const unsigned char[:, ::1] mask,
        const floating[:, ::1] kernel, const floating[:, ::1] recurrent_kernel,
        int activation, int recurrent_activation, bint reset_after, bint go_backwards,
        bint zero_output_for_mask, const floating[:, :, ::1] h_states,
        const floating[:, :, ::1] gates, const floating[:, :, ::1] recurrent_candidate,
        const floating[:, :, ::1] d_outputs, const floating[:, ::1] d_h_last,
        floating[:, :, ::1] dx, floating[:, ::1] d_h0, floating[:, ::1] d_kernel,
        floating[:, ::1] d_recurrent_kernel, floating[:, ::1] d_bias) except -1:
    cdef Py_ssize_t batch = x.shape[0], timesteps = x.shape[1], features = x.shape[2]
    cdef Py_ssize_t units = d_h_last.shape[1], width = 3 * units
    cdef Py_ssize_t rows = batch * timesteps, bh = batch * units
    cdef Py_ssize_t n = slice_count(batch, timesteps, features, units, width)
    cdef floating* dh = &d_h0[0, 0] if bh else NULL
    # d_in[b, t]: gradient of the step's x_t @ W_x + b_in, i.e. [da_z, da_r, da_h].
    cdef floating* d_in = NULL
    cdef floating* aux = NULL
    cdef floating* d_prev_output = NULL
    cdef floating* d_h_new = NULL
    cdef floating* d_rh = NULL
    cdef floating* h_prev_all = NULL
    cdef floating* wt = transposed(&recurrent_kernel[0, 0], units, width, batch, n > 0)
    cdef floating* kt = transposed(&kernel[0, 0], features, width, batch, True) if n else NULL
    cdef Job jb
    with nogil:
        if bh:
            memcpy(dh, &d_h_last[0, 0], bh * sizeof(floating))
        d_in = <floating*> scratch(rows * width, sizeof(floating), False)
        aux = <floating*> scratch(rows * units, sizeof(floating), False)
        d_prev_output = <floating*> scratch(bh, sizeof(floating), True)
        d_h_new = <floating*> scratch(bh, sizeof(floating), False)
        d_rh = <floating*> scratch(bh, sizeof(floating), False)
        h_prev_all = <floating*> scratch(rows * units, sizeof(floating), False)
        if (d_in == NULL or aux == NULL or d_prev_output == NULL or d_h_new == NULL
                or d_rh == NULL or h_prev_all == NULL or (n and (wt == NULL or kt == NULL))):
            free(d_in); free(aux); free(d_prev_output); free(d_h_new); free(d_rh)
            free(h_prev_all); free(wt); free(kt)
            with gil:
                raise MemoryError()
    memset(&jb, 0, sizeof(Job))
    jb.batch, jb.timesteps, jb.features, jb.units, jb.width = (
        batch, timesteps, features, units, width)
    jb.activation, jb.recurrent_activation = activation, recurrent_activation
    jb.reset_after, jb.go_backwards = reset_after, go_backwards
    jb.zero_output_for_mask = zero_output_for_mask
    jb.mask, jb.recurrent_kernel, jb.wt = &mask[0, 0], &recurrent_kernel[0, 0], wt
    jb.h_states, jb.gates = &h_states[0, 0, 0], &gates[0, 0, 0]
    jb.recurrent_candidate, jb.d_outputs = &recurrent_candidate[0, 0, 0], &d_outputs[0, 0, 0]
    jb.dh, jb.dz, jb.aux, jb.d_rh = dh, d_in, aux, d_rh
    jb.d_prev_output, jb.d_h_new, jb.h_prev_all = d_prev_output, d_h_new, h_prev_all
    jb.kernel_t, jb.dx = kt, (&dx[0, 0, 0] if n else NULL)
    try:
        if n:
            jb.x, jb.d_kernel = &x[0, 0, 0], &d_kernel[0, 0]
            jb.d_recurrent_kernel, jb.d_bias = &d_recurrent_kernel[0, 0], &d_bias[0, 0]
            run_slices(&jb, GRU_BACKWARD, floating is float, n)
            run_slices(&jb, WEIGHT_GRADS, floating is float, n)
            return 0
        with nogil:
            gru_backward_rows(&jb, d_in, 0, batch, False)
            mm(False, True, rows, features, width, d_in, width, &kernel[0, 0], width,
               <floating> 0, &dx[0, 0, 0] if rows else NULL, features)
            mm(True, False, features, width, rows, &x[0, 0, 0] if rows else NULL, features,
               d_in, width, <floating> 0, &d_kernel[0, 0], width)
            mm(True, False, units, 2 * units, rows, h_prev_all, units, d_in, width,
               <floating> 0, &d_recurrent_kernel[0, 0], width)
            column_sums(d_in, rows, width, width, &d_bias[0, 0])
            if reset_after:
                mm(True, False, units, units, rows, h_prev_all, units, aux, units,
                   <floating> 0, &d_recurrent_kernel[0, 2 * units], width)
                column_sums(d_in, rows, 2 * units, width, &d_bias[1, 0])
                column_sums(aux, rows, units, units, &d_bias[1, 2 * units])
            else:
                mm(True, False, units, units, rows, aux, units, d_in + 2 * units, width,
                   <floating> 0, &d_recurrent_kernel[0, 2 * units], width)
                column_sums(d_in, rows, width, width, &d_bias[1, 0])
    finally:
        free(d_in); free(aux); free(d_prev_output); free(d_h_new); free(d_rh)
        free(h_prev_all); free(wt); free(kt)
    return 0


# --------------------------------------------------------------------------
# The contract: Python entry points, dispatching on dtype
# --------------------------------------------------------------------------

cdef inline bint is_float32(x) except -1:
    dtype = x.dtype
    if dtype == _F32:
        return True
    if dtype == _F64:
        return False
    raise TypeError(f"fastrnn Cython kernels take float32 or float64 arrays, got {dtype}")


def _bytes(mask):
    """The bool mask as a uint8 view (typed memoryviews do not take numpy bool)."""
    return mask.view(np.uint8)


def simple_rnn_forward(x, mask, h0, kernel, recurrent_kernel, bias, activation,
                       go_backwards, zero_output_for_mask, outputs, h_states):
    """SimpleRNN forward; the contract of :func:`fastrnn.reference.simple_rnn_forward`."""
    if is_float32(x):
        _simple_rnn_forward[float](x, _bytes(mask), h0, kernel, recurrent_kernel, bias,
                                   activation, go_backwards, zero_output_for_mask, outputs,
                                   h_states)
    else:
        _simple_rnn_forward[double](x, _bytes(mask), h0, kernel, recurrent_kernel, bias,
                                    activation, go_backwards, zero_output_for_mask, outputs,
                                    h_states)


def simple_rnn_backward(x, mask, kernel, recurrent_kernel, activation, go_backwards,
                        zero_output_for_mask, h_states, d_outputs, d_h_last, dx, d_h0,
                        d_kernel, d_recurrent_kernel, d_bias):
    """SimpleRNN backward; the contract of :func:`fastrnn.reference.simple_rnn_backward`."""
    if is_float32(x):
        _simple_rnn_backward[float](x, _bytes(mask), kernel, recurrent_kernel, activation,
                                    go_backwards, zero_output_for_mask, h_states, d_outputs,
                                    d_h_last, dx, d_h0, d_kernel, d_recurrent_kernel, d_bias)
    else:
        _simple_rnn_backward[double](x, _bytes(mask), kernel, recurrent_kernel, activation,
                                     go_backwards, zero_output_for_mask, h_states, d_outputs,
                                     d_h_last, dx, d_h0, d_kernel, d_recurrent_kernel, d_bias)


def lstm_forward(x, mask, h0, c0, kernel, recurrent_kernel, bias, activation,
                 recurrent_activation, go_backwards, zero_output_for_mask, outputs,
                 h_states, c_states, gates):
    """LSTM forward; the contract of :func:`fastrnn.reference.lstm_forward`."""
    if is_float32(x):
        _lstm_forward[float](x, _bytes(mask), h0, c0, kernel, recurrent_kernel, bias,
                             activation, recurrent_activation, go_backwards,
                             zero_output_for_mask, outputs, h_states, c_states, gates)
    else:
        _lstm_forward[double](x, _bytes(mask), h0, c0, kernel, recurrent_kernel, bias,
                              activation, recurrent_activation, go_backwards,
                              zero_output_for_mask, outputs, h_states, c_states, gates)


def lstm_backward(x, mask, kernel, recurrent_kernel, activation, recurrent_activation,
                  go_backwards, zero_output_for_mask, h_states, c_states, gates, d_outputs,
                  d_h_last, d_c_last, dx, d_h0, d_c0, d_kernel, d_recurrent_kernel, d_bias):
    """LSTM backward; the contract of :func:`fastrnn.reference.lstm_backward`."""
    if is_float32(x):
        _lstm_backward[float](x, _bytes(mask), kernel, recurrent_kernel, activation,
                              recurrent_activation, go_backwards, zero_output_for_mask,
                              h_states, c_states, gates, d_outputs, d_h_last, d_c_last, dx,
                              d_h0, d_c0, d_kernel, d_recurrent_kernel, d_bias)
    else:
        _lstm_backward[double](x, _bytes(mask), kernel, recurrent_kernel, activation,
                               recurrent_activation, go_backwards, zero_output_for_mask,
                               h_states, c_states, gates, d_outputs, d_h_last, d_c_last, dx,
                               d_h0, d_c0, d_kernel, d_recurrent_kernel, d_bias)


def gru_forward(x, mask, h0, kernel, recurrent_kernel, bias, activation,
                recurrent_activation, reset_after, go_backwards, zero_output_for_mask,
                outputs, h_states, gates, recurrent_candidate):
    """GRU forward; the contract of :func:`fastrnn.reference.gru_forward`."""
    if is_float32(x):
        _gru_forward[float](x, _bytes(mask), h0, kernel, recurrent_kernel, bias, activation,
                            recurrent_activation, reset_after, go_backwards,
                            zero_output_for_mask, outputs, h_states, gates,
                            recurrent_candidate)
    else:
        _gru_forward[double](x, _bytes(mask), h0, kernel, recurrent_kernel, bias, activation,
                             recurrent_activation, reset_after, go_backwards,
                             zero_output_for_mask, outputs, h_states, gates,
                             recurrent_candidate)


def gru_backward(x, mask, kernel, recurrent_kernel, activation, recurrent_activation,
                 reset_after, go_backwards, zero_output_for_mask, h_states, gates,
                 recurrent_candidate, d_outputs, d_h_last, dx, d_h0, d_kernel,
                 d_recurrent_kernel, d_bias):
    """GRU backward; the contract of :func:`fastrnn.reference.gru_backward`."""
    if is_float32(x):
        _gru_backward[float](x, _bytes(mask), kernel, recurrent_kernel, activation,
                             recurrent_activation, reset_after, go_backwards,
                             zero_output_for_mask, h_states, gates, recurrent_candidate,
                             d_outputs, d_h_last, dx, d_h0, d_kernel, d_recurrent_kernel,
                             d_bias)
    else:
        _gru_backward[double](x, _bytes(mask), kernel, recurrent_kernel, activation,
                              recurrent_activation, reset_after, go_backwards,
                              zero_output_for_mask, h_states, gates, recurrent_candidate,
                              d_outputs, d_h_last, dx, d_h0, d_kernel, d_recurrent_kernel,
                              d_bias)
