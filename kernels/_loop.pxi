# What every cell's time loop shares: the input projection, the weights packed
# for it, the masked outputs and their gradients, and the backward's input and
# weight gradients. Included by _cython_kernels.pyx.

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


# --------------------------------------------------------------------------
# Forward: the input projection and the weights
# --------------------------------------------------------------------------

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
        mm_acc(m, n, k, a, lda, <const floating*> w + col0, ldw, c, ldc)


cdef void project_up_front(floating* dtype_tag, Job* jb, floating* dest) noexcept nogil:
    """The input projection of a forward run on the calling thread alone
    (``jb.slices == 1``), done up front for all timesteps, straight into the
    time loop's buffer: ``dest[s, b] = x[b, t(s)] @ W_x + b_x``, dest time-major
    (T, B, G*H) (the gates; SimpleRNN: h_states[1:]). One product of T rows per
    batch row instead of one of ``batch`` rows per step (at batch 1, a vector
    product per step), with the same loops, so the same bits; ``input_rows``
    then has nothing to do (``jb.projected``). Nothing with several slices:
    they project step by step, while the rows are hot in cache.
    ``dtype_tag`` only picks the specialisation."""
    cdef Py_ssize_t b, i, timesteps = jb.timesteps, width = jb.width
    cdef Py_ssize_t step = jb.batch * width        # dest's stride between steps
    cdef floating* c
    if jb.slices != 1:
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


cdef inline bint packs_weights(const Job* jb) noexcept nogil:
    """Whether a forward packs its weights: always, when its time loop reuses
    them (two steps or more). Packed panels are read contiguously, so no row
    stride aliases in L1 and a one-row product streams its panel; one step
    (``step``) would pay for a copy it uses once."""
    return _packing and jb.timesteps > 1


cdef void pack_weights(floating* dtype_tag, Job* jb) noexcept nogil:
    """Prepare a forward's weights for its time loop: pack W_x and W_h
    (``jb.kernel_packed``, ``jb.recurrent_packed``; W_h's columns as two blocks
    when ``jb.recurrent_split``) when ``packs_weights``, else copy a
    W_h that does not start on a cache line to one that does (NumPy aligns
    arrays to 16 bytes only, and then every vector load of the per-step
    product straddles two cache lines; the layers allocate their weights
    aligned, ``fastrnn/layers/base.py``, so that copy is only made for other
    callers' arrays). ``jb.weight_copies`` gets what to free. Neither copy is
    needed for the results: without the memory for them the call runs on the
    weights as given."""
    cdef Py_ssize_t units = jb.units, width = jb.width
    cdef size_t nbytes = units * width * sizeof(floating)
    cdef void** raw = jb.weight_copies
    cdef floating* w
    cdef floating* wx
    if packs_weights(jb):
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


# --------------------------------------------------------------------------
# Backward: the time loop's helpers
# --------------------------------------------------------------------------

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


cdef void transpose_into(const floating* w, Py_ssize_t rows, Py_ssize_t cols,
                         floating* out) noexcept nogil:
    """``out`` (cols, rows) = ``w.T``.

    The backward step multiplies by ``W_h.T`` and the input gradient by
    ``W_x.T``; a transposed copy made once per call turns the strided dot
    products into contiguous row updates that the register-blocked loops
    vectorize.
    """
    cdef Py_ssize_t i, j, i0, j0, i1, j1
    # In 32 x 32 blocks, so that both sides of a block stay in L1 (row by row,
    # one of them is written one element per cache line).
    for i0 in range(0, rows, 32):
        i1 = min(i0 + 32, rows)
        for j0 in range(0, cols, 32):
            j1 = min(j0 + 32, cols)
            for i in range(i0, i1):
                for j in range(j0, j1):
                    out[j * rows + i] = w[i * cols + j]


cdef void pack_transposed(floating* dtype_tag, Job* jb) noexcept nogil:
    """Pack the backward's ``wt`` (W_h.T; its rows as two blocks [0, split) and
    [split, G*H) when ``jb.wt_split``) and ``kernel_t`` (W_x.T) for the products
    (``pack_b``), as the forward packs its weights: their rows are read once per
    step (``times_wt``) or per slice (``input_grad_rows``), and rows 1-8 KB
    apart alias in L1. Sets ``jb.transposed_packed``; without the memory, or with
    packing off (``_set_packing``), the products read them row-major (same bits)."""
    cdef Py_ssize_t units = jb.units, width = jb.width, split = jb.wt_split
    cdef floating* wt = <floating*> jb.wt
    cdef floating* kt = <floating*> jb.kernel_t
    cdef floating* wt_packed
    cdef floating* kt_packed
    if not _packing:
        return
    wt_packed = <floating*> scratch(width * units, sizeof(floating), False)
    kt_packed = <floating*> scratch(width * jb.features, sizeof(floating), False)
    if wt_packed == NULL or kt_packed == NULL:
        free(wt_packed)
        free(kt_packed)
        return
    if split:
        pack_b(split, units, wt, units, wt_packed)
        pack_b(width - split, units, wt + split * units, units, wt_packed + split * units)
    else:
        pack_b(width, units, wt, units, wt_packed)
    pack_b(width, jb.features, kt, jb.features, kt_packed)
    free(jb.wt)
    free(jb.kernel_t)
    jb.wt, jb.kernel_t = wt_packed, kt_packed
    jb.transposed_packed = True


cdef inline void times_wt(const Job* jb, Py_ssize_t m, Py_ssize_t k, const floating* a,
                          Py_ssize_t lda, Py_ssize_t col0, floating* c) noexcept nogil:
    """``c[m, units] += a[m, k] @ W_h[:, col0:col0 + k].T``, from ``jb.wt = W_h.T``
    (packed: ``col0`` is 0 or ``jb.wt_split`` and ``k`` its block's rows)."""
    cdef Py_ssize_t units = jb.units
    cdef const floating* wt = <const floating*> jb.wt + col0 * units
    if jb.transposed_packed:
        mm_packed_acc(m, units, k, a, lda, wt, c, units)
    else:
        mm_acc(m, units, k, a, lda, wt, units, c, units)


cdef void input_grad_rows(const Job* jb, floating* dtype_tag, Py_ssize_t b0,
                          Py_ssize_t b1) noexcept nogil:
    """Rows [b0, b1) of ``dx = dz @ W_x^T``, once the slice's ``dz`` is complete."""
    cdef Py_ssize_t rows = (b1 - b0) * jb.timesteps, features = jb.features
    cdef floating* dx = <floating*> jb.dx + b0 * jb.timesteps * features
    if rows * features == 0:
        return
    memset(dx, 0, rows * features * sizeof(floating))
    if jb.transposed_packed:
        mm_packed_acc(rows, features, jb.width,
                      <const floating*> jb.dz + b0 * jb.timesteps * jb.width, jb.width,
                      <const floating*> jb.kernel_t, dx, features)
    else:
        mm_acc(rows, features, jb.width,
               <const floating*> jb.dz + b0 * jb.timesteps * jb.width, jb.width,
               <const floating*> jb.kernel_t, features, dx, features)


# --------------------------------------------------------------------------
# Backward: the weight gradients, column block by column block
# --------------------------------------------------------------------------

cdef void column_sums(const floating* a, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t lda,
                      floating* out) noexcept nogil:
    """``out[j] = sum_i a[i, j]`` over a row-major block with row stride ``lda``."""
    cdef Py_ssize_t i, j
    for j in range(cols):
        out[j] = 0
    for i in range(rows):
        for j in range(cols):
            out[j] += a[i * lda + j]


cdef void tn_columns(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const floating* a,
                     Py_ssize_t lda, const floating* b, Py_ssize_t ldb, floating* c,
                     Py_ssize_t ldc) noexcept nogil:
    """``C[m, n] = A.T @ B`` (A stored (k, m))."""
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
    """Columns [c0, c1) (at most COLUMN_GROUP) of d_kernel, d_recurrent_kernel
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
    """Columns [c0, c1) of d_kernel, d_recurrent_kernel and d_bias from the
    backward's ``dz`` (GRU: ``d_in`` and ``aux``): ``X^T dz``, ``H_prev^T dz``
    and ``sum dz`` over all B*T rows, each column computed whole (so the column
    blocks, hence the thread count, do not change the results).

    Group by group of COLUMN_GROUP columns. The products read a group's
    columns of dz (B*T rows) as B; when dz's rows are 4 KB or more apart
    (``packs``: LSTM of 256+ units), each group is first copied to a
    contiguous buffer (see "Packed B" in ``_smallgemm.h``). Same sums either
    way."""
    cdef Py_ssize_t rows = jb.batch * jb.timesteps, cc
    cdef Py_ssize_t group = min(<Py_ssize_t> COLUMN_GROUP, c1 - c0)
    cdef floating* buf = NULL
    cdef floating* aux_buf = NULL
    if c1 <= c0:
        return
    # Without the memory for the copies, the products read dz in place.
    if _packing and packs(<floating*> NULL, COLUMN_BLOCK, jb.width):
        buf = <floating*> scratch(rows * group, sizeof(floating), False)
        if buf != NULL and jb.aux != NULL and packs(<floating*> NULL, COLUMN_BLOCK, jb.units):
            aux_buf = <floating*> scratch(rows * group, sizeof(floating), False)
    cc = c0
    while cc < c1:
        weight_grads_block(jb, dz, cc, min(cc + group, c1), buf, aux_buf)
        cc += group
    free(buf)
    free(aux_buf)
