# The sequence driver: one forward and one backward for every cell. A call's
# arrays become a Job (_Call, begin), the driver handles the empty cases,
# allocates the scratch buffers (one table), prepares the weights, and runs
# the cell's hooks (*_forward_rows, *_backward_rows) as batch slices, then
# the weight gradients. Included by _cython_kernels.pyx.

# --------------------------------------------------------------------------
# The cells' hooks
# --------------------------------------------------------------------------

cdef int forward_rows(const Job* jb, floating* dtype_tag, Py_ssize_t b0,
                      Py_ssize_t b1) noexcept nogil:
    """The forward time loop of the call's cell over batch rows [b0, b1)."""
    if jb.cell == LSTM:
        return lstm_forward_rows(jb, <floating*> jb.h_states, b0, b1)
    if jb.cell == GRU:
        return gru_forward_rows(jb, <floating*> jb.h_states, b0, b1)
    return simple_rnn_forward_rows(jb, <floating*> jb.h_states, b0, b1)


cdef int backward_rows(const Job* jb, floating* dtype_tag, Py_ssize_t b0,
                       Py_ssize_t b1) noexcept nogil:
    """The backward time loop of the call's cell over batch rows [b0, b1); -1 if
    out of memory."""
    if jb.cell == LSTM:
        return lstm_backward_rows(jb, <floating*> jb.dz, b0, b1)
    if jb.cell == GRU:
        return gru_backward_rows(jb, <floating*> jb.dz, b0, b1)
    return simple_rnn_backward_rows(jb, <floating*> jb.dz, b0, b1)


cdef inline floating* projection_target(floating* dtype_tag, const Job* jb) noexcept nogil:
    """Where the forward's input projection goes, time-major (T, B, G*H): the
    gates, or (SimpleRNN, whose time loop adds the recurrent product to it in
    place) h_states[1:]."""
    if jb.cell == SIMPLE_RNN:
        return <floating*> jb.h_states + jb.batch * jb.units
    return <floating*> jb.gates


# --------------------------------------------------------------------------
# Scratch buffers
# --------------------------------------------------------------------------

cdef int allocate_scratch(Job* jb, bint backward) noexcept nogil:
    """Allocate the scratch buffers of a forward or backward call; -1 if out of
    memory (``free_scratch`` frees whatever was allocated, either way).

    B batch, T timesteps, D features, H units, W = G*H; "B*T" buffers are
    batch-major (row b * T + t):

    ==============  ========  =====  ========  ====================================
    buffer          call      cell   items     holds
    ==============  ========  =====  ========  ====================================
    x_masked        both      all    M x B*T   x * dropout_mask[k] (M > 0)
                                     x D
    h_prev_masked   backward  all    R x B*T   h_prev_all * recurrent_dropout_mask[g]
                                     x H       (R > 0)
    u               forward   GRU    B x W     the step's recurrent product
    dz              backward  all    B*T x W   the pre-activation gradients
    h_prev_all      backward  all    B*T x H   each step's previous state
    d_prev_output   backward  all    B x H     (zeroed) what reaches the previous
                                               output
    d_h_new         backward  all    B x H     what reaches the step's new state
    aux             backward  GRU    B*T x H   reset_after: the gradient of u;
                                               else r * h_prev
    d_rh            backward  GRU    B x H     the gradient of r * h_prev
    wt              backward  all    W x H     recurrent_kernel.T
    kernel_t        backward  all    W x D     kernel.T
    ==============  ========  =====  ========  ====================================

    Each buffer has at least one item, so NULL only means out of memory.
    """
    cdef size_t item = jb.itemsize
    cdef Py_ssize_t rows = jb.batch * jb.timesteps, bh = jb.batch * jb.units
    cdef Py_ssize_t width = jb.width
    cdef bint gru = jb.cell == GRU
    if jb.n_dropout:
        jb.x_masked = scratch(jb.n_dropout * rows * jb.features, item, False)
        if jb.x_masked == NULL:
            return -1
    if backward and jb.n_recurrent_dropout:
        jb.h_prev_masked = scratch(jb.n_recurrent_dropout * rows * jb.units, item, False)
        if jb.h_prev_masked == NULL:
            return -1
    if not backward:
        if gru:
            jb.u = scratch(jb.batch * width, item, False)
            if jb.u == NULL:
                return -1
        return 0
    jb.dz = scratch(rows * width, item, False)
    jb.h_prev_all = scratch(rows * jb.units, item, False)
    jb.d_prev_output = scratch(bh, item, True)
    jb.d_h_new = scratch(bh, item, False)
    jb.wt = scratch(width * jb.units, item, False)
    jb.kernel_t = scratch(width * jb.features, item, False)
    if gru:
        jb.aux = scratch(rows * jb.units, item, False)
        jb.d_rh = scratch(bh, item, False)
    if (jb.dz == NULL or jb.h_prev_all == NULL or jb.d_prev_output == NULL
            or jb.d_h_new == NULL or jb.wt == NULL or jb.kernel_t == NULL
            or (gru and (jb.aux == NULL or jb.d_rh == NULL))):
        return -1
    return 0


cdef void free_scratch(Job* jb) noexcept nogil:
    """Free the scratch buffers and the weights' copies (free(NULL) is a no-op)."""
    free(jb.x_masked)
    free(jb.h_prev_masked)
    jb.x_masked = jb.h_prev_masked = NULL
    free(jb.u)
    free(jb.dz)
    free(jb.h_prev_all)
    free(jb.d_prev_output)
    free(jb.d_h_new)
    free(jb.wt)
    free(jb.kernel_t)
    free(jb.aux)
    free(jb.d_rh)
    free(jb.weight_copies[0])
    free(jb.weight_copies[1])
    jb.u = jb.dz = jb.h_prev_all = jb.d_prev_output = jb.d_h_new = NULL
    jb.wt = jb.kernel_t = jb.aux = jb.d_rh = NULL
    jb.weight_copies[0] = jb.weight_copies[1] = NULL


# --------------------------------------------------------------------------
# The driver
# --------------------------------------------------------------------------

cdef void prepare_forward(floating* dtype_tag, Job* jb) noexcept nogil:
    """The masked inputs under dropout (``mask_inputs``), the weights packed or
    aligned (``pack_weights``), then, on the calling thread alone, the input
    projection of every step (``project_up_front``)."""
    mask_inputs(dtype_tag, jb)
    pack_weights(dtype_tag, jb)
    project_up_front(dtype_tag, jb, projection_target(dtype_tag, jb))


cdef void prepare_backward(floating* dtype_tag, Job* jb) noexcept nogil:
    """The masked inputs under dropout (``mask_inputs``), the transposed weights
    the backward's products read (``transpose_into``), then packed
    (``pack_transposed``)."""
    mask_inputs(dtype_tag, jb)
    transpose_into(<const floating*> jb.recurrent_kernel, jb.units, jb.width,
                   <floating*> jb.wt)
    transpose_into(<const floating*> jb.kernel, jb.features, jb.width,
                   <floating*> jb.kernel_t)
    # The GRU's step products read W_h.T's rows [0, 2H) and [2H, 3H) apart.
    jb.wt_split = 2 * jb.units if jb.cell == GRU else 0
    pack_transposed(dtype_tag, jb)


cdef int forward(Job* jb) except -1:
    """Run a forward call: the initial states into ``h_states[0]`` (LSTM:
    ``c_states[0]``) and, unless the batch or the sequence is empty, the time
    loop of ``jb.cell`` as ``slice_count`` batch slices."""
    cdef size_t state_bytes = jb.batch * jb.units * jb.itemsize
    cdef unsigned long saved
    if state_bytes:
        memcpy(jb.h_states, jb.h0, state_bytes)
        if jb.cell == LSTM:
            memcpy(jb.c_states, jb.c0, state_bytes)
    if jb.batch == 0 or jb.timesteps == 0:
        return 0
    jb.slices = slice_count(jb)
    try:
        if allocate_scratch(jb, False) < 0:
            raise MemoryError()
        with nogil:
            saved = denormals_flush()
            if jb.f32:
                prepare_forward(<float*> NULL, jb)
            else:
                prepare_forward(<double*> NULL, jb)
            denormals_restore(saved)
        run_slices(jb, FORWARD)
    finally:
        free_scratch(jb)
    return 0


cdef int backward(Job* jb) except -1:
    """Run a backward call: ``d_h0 = d_h_last`` (LSTM: ``d_c0 = d_c_last``), the
    gradients carried back through the time loop of ``jb.cell`` as
    ``slice_count`` batch slices (which also fill ``dx``), then the weight
    gradients. An empty batch or sequence has zero weight gradients and an
    empty ``dx``, as in the reference."""
    cdef size_t state_bytes = jb.batch * jb.units * jb.itemsize
    cdef Py_ssize_t bias_rows = 2 if jb.cell == GRU else 1
    cdef unsigned long saved
    if state_bytes:
        memcpy(jb.dh, jb.d_h_last, state_bytes)
        if jb.cell == LSTM:
            memcpy(jb.dc, jb.d_c_last, state_bytes)
    if jb.batch == 0 or jb.timesteps == 0:
        memset(jb.d_kernel, 0, jb.features * jb.width * jb.itemsize)
        memset(jb.d_recurrent_kernel, 0, jb.units * jb.width * jb.itemsize)
        memset(jb.d_bias, 0, bias_rows * jb.width * jb.itemsize)
        return 0
    jb.slices = slice_count(jb)
    try:
        if allocate_scratch(jb, True) < 0:
            raise MemoryError()
        with nogil:
            saved = denormals_flush()
            if jb.f32:
                prepare_backward(<float*> NULL, jb)
            else:
                prepare_backward(<double*> NULL, jb)
            denormals_restore(saved)
        run_slices(jb, BACKWARD)
        run_slices(jb, WEIGHT_GRADS)
    finally:
        free_scratch(jb)
    return 0


# --------------------------------------------------------------------------
# A call's arrays
# --------------------------------------------------------------------------

cdef enum:
    MAX_ARRAYS = 18     # the most arrays a contract function takes (lstm_backward)

# What ``_Call.take`` accepts: an input of the call's dtype (read-only is
# fine), an output of the call's dtype (writable), the mask (bool), or the
# call's first array, x, whose dtype (float32 or float64) is the call's.
cdef enum Access:
    INPUT = 0
    OUTPUT = 1
    MASK = 2
    FIRST = 3


@cython.final
cdef class _Call:
    """One kernel call: its Job, and the buffers of its arrays, held (so that
    their memory stays put) until the call returns and this object goes away."""
    cdef Job job
    cdef int held
    cdef Py_buffer views[MAX_ARRAYS]

    def __dealloc__(self):
        while self.held > 0:
            self.held -= 1
            PyBuffer_Release(&self.views[self.held])

    cdef char* take(self, a, int ndim, int access, Py_ssize_t* shape=NULL) except? NULL:
        """The data of array ``a``; its shape into ``shape`` if given. TypeError if
        x is neither float32 nor float64; ValueError unless ``a`` is C-contiguous,
        has ``ndim`` dimensions and the call's dtype (the mask: bool), and is
        writable where it is an output."""
        cdef Py_buffer* view = &self.views[self.held]
        cdef int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT
        cdef char code
        cdef bint dtype_ok
        if self.held == MAX_ARRAYS:
            raise RuntimeError("too many arrays for one kernel call")
        if access == OUTPUT:
            flags |= PyBUF_WRITABLE
        PyObject_GetBuffer(a, view, flags)
        self.held += 1
        # a one-character struct format: "f" float32, "d" float64, "?" bool
        code = 0
        if view.format != NULL and view.format[0] != 0 and view.format[1] == 0:
            code = view.format[0]
        if access == FIRST:
            if code != c'f' and code != c'd':
                raise TypeError("fastrnn Cython kernels take float32 or float64 arrays, "
                                f"got {getattr(a, 'dtype', type(a).__name__)}")
            self.job.f32 = code == c'f'
            self.job.itemsize = sizeof(float) if self.job.f32 else sizeof(double)
        if access == MASK:
            dtype_ok = code == c'?' or code == c'B'
        else:
            dtype_ok = code == (c'f' if self.job.f32 else c'd')
        if not dtype_ok or view.ndim != ndim:
            raise ValueError(
                f"fastrnn Cython kernels: expected a {ndim}-D "
                f"{'bool' if access == MASK else 'float32' if self.job.f32 else 'float64'} "
                f"array, got {getattr(a, 'dtype', type(a).__name__)} with {view.ndim} "
                "dimensions")
        if shape != NULL:
            memcpy(shape, view.shape, ndim * sizeof(Py_ssize_t))
        return <char*> view.buf


cdef _Call begin(int cell, x, mask, dropout_mask, recurrent_dropout_mask, kernel,
                 recurrent_kernel, int activation, int recurrent_activation,
                 bint reset_after, bint go_backwards, bint zero_output_for_mask):
    """A call's Job with what every contract function takes, and the settings in
    force; the entry point adds the rest of its arrays (``_Call.take``)."""
    cdef _Call call = _Call.__new__(_Call)
    cdef Job* jb = &call.job
    cdef Py_ssize_t shape[3]
    cdef Py_ssize_t dropout_shape[3]
    cdef Py_ssize_t recurrent_shape[3]
    cdef const void* masks
    cdef const void* recurrent_masks
    jb.cell = cell
    jb.x = call.take(x, 3, FIRST, shape)
    jb.batch, jb.timesteps, jb.features = shape[0], shape[1], shape[2]
    jb.mask = <const unsigned char*> call.take(mask, 2, MASK)
    jb.mask_array = <PyObject*> mask
    masks = call.take(dropout_mask, 3, INPUT, dropout_shape)
    recurrent_masks = call.take(recurrent_dropout_mask, 3, INPUT, recurrent_shape)
    jb.kernel = call.take(kernel, 2, INPUT)
    jb.recurrent_kernel = call.take(recurrent_kernel, 2, INPUT, shape)
    jb.units, jb.width = shape[0], shape[1]     # H and G*H
    check_dropout_shapes(jb, dropout_shape, recurrent_shape)
    jb.n_dropout, jb.n_recurrent_dropout = dropout_shape[0], recurrent_shape[0]
    jb.dropout_mask = masks if jb.n_dropout else NULL
    jb.recurrent_dropout_mask = recurrent_masks if jb.n_recurrent_dropout else NULL
    jb.activation, jb.recurrent_activation = activation, recurrent_activation
    jb.reset_after, jb.go_backwards = reset_after, go_backwards
    jb.zero_output_for_mask = zero_output_for_mask
    # GRU without reset_after multiplies by W_h's candidate columns on their own.
    jb.recurrent_split = 2 * jb.units if cell == GRU and not reset_after else 0
    read_settings(jb)
    return call


cdef int check_dropout_shapes(const Job* jb, const Py_ssize_t* dropout_shape,
                              const Py_ssize_t* recurrent_shape) except -1:
    """ValueError unless the dropout masks are (M, B, D) with M = 0, 1 or G and
    (R, B, H) with R = 0 or G: the time loops read them by those shapes."""
    cdef Py_ssize_t gates = jb.width // jb.units if jb.units else 1
    cdef Py_ssize_t m = dropout_shape[0], r = recurrent_shape[0]
    if (m not in (0, 1, gates) or dropout_shape[1] != jb.batch
            or dropout_shape[2] != jb.features):
        raise ValueError(
            f"fastrnn Cython kernels: `dropout_mask` must have shape (M, {jb.batch}, "
            f"{jb.features}) with M in (0, 1, {gates}); got "
            f"{(dropout_shape[0], dropout_shape[1], dropout_shape[2])}")
    if (r not in (0, gates) or recurrent_shape[1] != jb.batch
            or recurrent_shape[2] != jb.units):
        raise ValueError(
            f"fastrnn Cython kernels: `recurrent_dropout_mask` must have shape (R, "
            f"{jb.batch}, {jb.units}) with R in (0, {gates}); got "
            f"{(recurrent_shape[0], recurrent_shape[1], recurrent_shape[2])}")
    return 0
