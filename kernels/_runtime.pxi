# The runtime of a kernel call: what it computes (Job), the configuration it
# reads, how many batch slices it runs as, and the threads that run them.
# Included by _cython_kernels.pyx.

cdef enum Cell:
    SIMPLE_RNN = 0
    LSTM = 1
    GRU = 2

# What ``run_slices`` runs over a range [b0, b1): batch rows of the forward or
# backward time loop, or column blocks of the backward's weight gradients.
cdef enum Phase:
    FORWARD = 0
    BACKWARD = 1
    WEIGHT_GRADS = 2

# The weight gradients are split between threads in blocks of COLUMN_BLOCK
# columns (a multiple of the products' widest panel), and a thread computes
# its run of blocks COLUMN_GROUP columns at a time: each group reads all of
# X and H_prev once, so wider groups read them fewer times, while a k block
# of a group's dz columns (KB x 256 floats) still fits in L2.
cdef enum:
    COLUMN_BLOCK = 32
    COLUMN_GROUP = 256


# Everything one kernel call computes with: shapes, options, settings and
# pointers. Arrays are the full (not sliced) ones; a slice [b0, b1) touches
# only its rows of each. Unused fields stay NULL / 0.
cdef struct Job:
    int cell                       # SIMPLE_RNN, LSTM or GRU
    bint f32                       # float32 (else float64)
    size_t itemsize
    Py_ssize_t batch, timesteps, features, units, width    # width = G * units
    int activation, recurrent_activation
    bint reset_after, go_backwards, zero_output_for_mask
    # fastrnn.config.settings, read once per call (read_settings)
    Py_ssize_t num_threads, slice_min_batch, slice_min_rows, slice_min_work
    Py_ssize_t slices              # batch slices of the time loop (slice_count)
    # the contract's arrays
    const unsigned char* mask      # (B, T)
    PyObject* mask_array           # the mask itself (borrowed: the call holds it)
    const void* x                  # (B, T, D)
    # dropout: M input masks (B, D) for the kernel's M column groups (M = 0,
    # 1 or G), R recurrent masks (B, H), one per gate (R = 0 or G); NULL when 0
    const void* dropout_mask            # (M, B, D)
    const void* recurrent_dropout_mask  # (R, B, H)
    Py_ssize_t n_dropout, n_recurrent_dropout    # M and R
    const void* kernel             # (D, G*H)
    const void* recurrent_kernel   # (H, G*H); forward: maybe an aligned copy
    const void* bias               # (G*H,); GRU (2, G*H)
    const void* h0                 # forward: (B, H)
    const void* c0                 # LSTM forward: (B, H)
    const void* d_outputs          # backward: (B, T, H)
    const void* d_h_last           # backward: (B, H)
    const void* d_c_last           # LSTM backward: (B, H)
    void* outputs                  # (B, T, H)
    void* h_states                 # (T+1, B, H)
    void* c_states                 # (T+1, B, H)
    void* gates                    # (T, B, G*H)
    void* recurrent_candidate      # (T, B, H)
    void* dx                       # backward: (B, T, D), filled by the slices
    void* dh                       # d_h0 (B, H): the carried gradient
    void* dc                       # d_c0
    void* d_kernel                 # backward: the weight gradients, filled in
    void* d_recurrent_kernel       # column blocks after the slices
    void* d_bias
    # forward: the weights as the time loop reads them (pack_weights)
    const void* kernel_packed      # kernel packed, or NULL
    const void* recurrent_packed   # recurrent_kernel packed, or NULL
    Py_ssize_t recurrent_split     # its columns packed as [0, split), [split, G*H)
    void* weight_copies[2]         # what to free of the packed or aligned copies
    bint projected                 # x @ W_x + b of every step already in place
    # scratch buffers (allocate_scratch has the table)
    void* x_masked
    void* h_prev_masked
    void* u
    void* dz
    void* aux
    void* h_prev_all
    void* d_prev_output
    void* d_h_new
    void* d_rh
    void* wt                       # recurrent_kernel.T (G*H, H)
    void* kernel_t                 # kernel.T (G*H, D)
    bint transposed_packed         # wt, kernel_t packed (prepare_backward)
    Py_ssize_t wt_split            # wt's rows packed as [0, split), [split, G*H)


# --------------------------------------------------------------------------
# The configuration: fastrnn.config.settings, and the shared slicing rule
# --------------------------------------------------------------------------

_SETTINGS = ("num_threads", "slice_min_batch", "slice_min_rows", "slice_min_work")
if tuple(_config.KernelSettings._fields[:len(_SETTINGS)]) != _SETTINGS:
    raise RuntimeError(
        f"fastrnn._cython_kernels reads fastrnn.config.settings as {_SETTINGS}, but its "
        f"fields are {_config.KernelSettings._fields}: rebuild the extension")


cdef int read_settings(Job* jb) except -1:
    """Copy the settings in force into ``jb`` (one read of ``fastrnn.config.settings``,
    so a call sees either the old settings or the new ones)."""
    settings = _config.settings
    jb.num_threads, jb.slice_min_batch = settings[0], settings[1]
    jb.slice_min_rows, jb.slice_min_work = settings[2], settings[3]
    return 0


cdef Py_ssize_t slice_count(const Job* jb) noexcept nogil:
    """How many batch slices a call's time loop runs as, one per thread: 1 (the
    calling thread alone) unless ``batch >= slice_min_batch`` and its work,
    ``timesteps * batch * G*H * (H + D)`` multiply-adds (the recurrent products
    and the input projection), is at least ``slice_min_work`` (a thread hand-off
    costs tens of microseconds); then ``max(1, min(num_threads, batch //
    slice_min_rows))``. The results do not depend on it (see ``run_slices``)."""
    cdef Py_ssize_t work = jb.timesteps * jb.batch * jb.width * (jb.units + jb.features)
    if jb.batch < jb.slice_min_batch or work < jb.slice_min_work:
        return 1
    return max(1, min(jb.num_threads, jb.batch // jb.slice_min_rows))


# --------------------------------------------------------------------------
# Running a phase as slices on threads
# --------------------------------------------------------------------------

cdef int slice_rows(const Job* jb, int phase, floating* dtype_tag, Py_ssize_t b0,
                    Py_ssize_t b1) noexcept nogil:
    """Run rows [b0, b1) of ``phase`` (WEIGHT_GRADS: column blocks [b0, b1));
    ``dtype_tag`` only picks the specialisation; -1 if out of memory.

    Backward slices also fill their rows of ``dx = dz @ W_x^T`` (rows of dz
    map to rows of dx one to one) and, under recurrent dropout, of the masked
    previous states (``mask_states``); the weight gradients, which sum over
    every row, are left to the WEIGHT_GRADS phase.
    """
    cdef int status
    if phase == WEIGHT_GRADS:
        weight_grads(jb, <const floating*> jb.dz, b0 * COLUMN_BLOCK,
                     min(b1 * COLUMN_BLOCK, jb.width))
        return 0
    if phase == FORWARD:
        return forward_rows(jb, dtype_tag, b0, b1)
    status = backward_rows(jb, dtype_tag, b0, b1)
    if status == 0:
        mask_states(jb, dtype_tag, b0, b1)
        status = input_grad_rows(jb, dtype_tag, b0, b1)
    return status


cdef extern from "_fpmode.h" nogil:
    unsigned long denormals_flush "fastrnn_denormals_flush"()
    void denormals_restore "fastrnn_denormals_restore"(unsigned long saved)


cdef int run_rows(const Job* jb, int phase, Py_ssize_t b0, Py_ssize_t b1) noexcept nogil:
    """``slice_rows`` in the call's dtype, with subnormal numbers flushed to
    zero on this thread while it runs (``_fpmode.h``)."""
    cdef unsigned long saved = denormals_flush()
    cdef int status
    if jb.f32:
        status = slice_rows(jb, phase, <float*> NULL, b0, b1)
    else:
        status = slice_rows(jb, phase, <double*> NULL, b0, b1)
    denormals_restore(saved)
    return status


cdef class _Slices:
    """``slices(b0, b1)`` runs range [b0, b1) of one phase of a call without the GIL."""
    cdef Job job
    cdef int phase

    def __call__(self, Py_ssize_t b0, Py_ssize_t b1):
        cdef int status
        with nogil:
            status = run_rows(&self.job, self.phase, b0, b1)
        if status < 0:
            raise MemoryError()


cdef int run_slices(const Job* jb, int phase) except -1:
    """Run ``phase`` of a call as ``jb.slices`` batch slices, one per thread
    (``fastrnn/_slices.py``), or, with one slice, on the calling thread alone.

    One slice per thread, not more: a thread's rows in one time loop share
    each step's pass over the weights. The time loops' slices are cut where
    their rows' work under the mask is even (``_slices.slice_bounds``): a
    step computes a slice's rows up to its last valid one. The results are
    the same for any slicing: every row (and every column of the weight
    gradients) is computed the same way whatever else shares its slice.
    WEIGHT_GRADS (after the backward's slices) splits the columns of the
    weight gradients instead, in blocks of COLUMN_BLOCK, one contiguous run
    of blocks per thread.
    """
    cdef _Slices slices
    cdef Py_ssize_t items = jb.batch, count = jb.slices
    cdef int status
    if phase == WEIGHT_GRADS:
        items = (jb.width + COLUMN_BLOCK - 1) // COLUMN_BLOCK
        count = min(count, items)
    if count <= 1:
        with nogil:
            status = run_rows(jb, phase, 0, items)
        if status < 0:
            raise MemoryError()
        return 0
    slices = _Slices.__new__(_Slices)
    slices.job = jb[0]
    slices.phase = phase
    # time loops: slices of even work under the mask (_slices.slice_bounds)
    _slices.run_fixed_slices(count, items, slices, count,
                             None if phase == WEIGHT_GRADS else <object> jb.mask_array)
    return 0
