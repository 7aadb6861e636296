# What every cell's time loop shares: the input projection, the weights packed
# for it, the masked outputs and their gradients, and the backward's input and
# weight gradients. Included by _cython_kernels.pyx.

cdef inline Py_ssize_t time_index(Py_ssize_t s, Py_ssize_t timesteps,
                                  bint go_backwards) noexcept nogil:
    """Input position read at processing step ``s``."""
    return timesteps - 1 - s if go_backwards else s


cdef inline Py_ssize_t computed_end(const unsigned char* mask, Py_ssize_t t, Py_ssize_t b0,
                                    Py_ssize_t b1, Py_ssize_t timesteps) noexcept nogil:
    """One past the last row of [b0, b1) whose position ``t`` is valid (b0 if none).

    A step computes rows [b0, computed_end) and carries the states of the
    rows after them, which are all masked there: a batch sorted by length,
    as a ``PackedSequence`` is, has the valid rows of every step first, so
    its steps cost what its valid rows do. Rows before it that are masked
    are computed and then discarded, as everywhere."""
    while b1 > b0 and not mask[(b1 - 1) * timesteps + t]:
        b1 -= 1
    return b1


cdef inline bint valid_span(const unsigned char* mask, Py_ssize_t b, Py_ssize_t timesteps,
                            Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil:
    """The first and one past the last valid position of row ``b`` into ``lo``,
    ``hi``; False if the row has none."""
    cdef const unsigned char* row = mask + b * timesteps
    cdef Py_ssize_t first = 0, end = timesteps
    while first < end and not row[first]:
        first += 1
    while end > first and not row[end - 1]:
        end -= 1
    lo[0], hi[0] = first, end
    return end > first


cdef void* scratch(Py_ssize_t n, size_t itemsize, bint zero) noexcept nogil:
    """A scratch buffer of ``n`` items (at least one), zeroed if asked; NULL if out of memory."""
    if n < 1:
        n = 1
    if zero:
        return calloc(n, itemsize)
    return malloc(n * itemsize)


# --------------------------------------------------------------------------
# Dropout: the operands of the products under their masks
# --------------------------------------------------------------------------
# Keras's dropout masks multiply an operand of a product before it: the
# input x_t (M masks, the kernel's columns in M equal groups, group k reading
# x * dropout_mask[k]) and the previous state h_{t-1} (R = G masks, gate k's
# columns of W_h reading h_{t-1} * recurrent_dropout_mask[k]). A call without
# them (M = R = 0) runs the products exactly as before: one group, read from
# x and h_{t-1} themselves.

cdef inline Py_ssize_t input_groups(const Job* jb) noexcept nogil:
    """The column groups of the input projection: M, or 1 without dropout."""
    return jb.n_dropout if jb.n_dropout > 1 else 1


cdef inline const floating* input_source(floating* dtype_tag, const Job* jb,
                                         Py_ssize_t k) noexcept nogil:
    """What column group k of the input projection reads, (B, T, D): x, or
    x * dropout_mask[k] (``jb.x_masked``)."""
    if jb.n_dropout == 0:
        return <const floating*> jb.x
    return <const floating*> jb.x_masked + k * jb.batch * jb.timesteps * jb.features


cdef void mask_inputs(floating* dtype_tag, Job* jb) noexcept nogil:
    """``x_masked[k, b, t] = x[b, t] * dropout_mask[k, b]`` for every k < M."""
    cdef Py_ssize_t k, b, t, j, features = jb.features, timesteps = jb.timesteps
    cdef const floating* x = <const floating*> jb.x
    cdef const floating* m
    cdef const floating* xr
    cdef floating* out
    for k in range(jb.n_dropout):
        for b in range(jb.batch):
            m = <const floating*> jb.dropout_mask + (k * jb.batch + b) * features
            for t in range(timesteps):
                xr = x + (b * timesteps + t) * features
                out = <floating*> jb.x_masked + ((k * jb.batch + b) * timesteps + t) * features
                for j in range(features):
                    out[j] = xr[j] * m[j]


cdef inline const floating* state_source(floating* dtype_tag, const Job* jb,
                                         Py_ssize_t gate) noexcept nogil:
    """What the weight gradient of W_h's gate block reads as the previous
    states, (B*T, H) batch-major: ``h_prev_all``, or ``h_prev_all * r_gate``
    (``jb.h_prev_masked``)."""
    if jb.n_recurrent_dropout == 0:
        return <const floating*> jb.h_prev_all
    return <const floating*> jb.h_prev_masked + gate * jb.batch * jb.timesteps * jb.units


cdef void mask_states(const Job* jb, floating* dtype_tag, Py_ssize_t b0,
                      Py_ssize_t b1) noexcept nogil:
    """Rows [b0, b1) of ``h_prev_masked[g] = h_prev_all * recurrent_dropout_mask[g]``
    (each row b*T + t under mask row b), once the slice's ``h_prev_all`` is in."""
    cdef Py_ssize_t g, b, t, j, units = jb.units, timesteps = jb.timesteps
    cdef const floating* h = <const floating*> jb.h_prev_all
    cdef const floating* r
    cdef floating* out
    for g in range(jb.n_recurrent_dropout):
        for b in range(b0, b1):
            r = <const floating*> jb.recurrent_dropout_mask + (g * jb.batch + b) * units
            for t in range(timesteps):
                out = (<floating*> jb.h_prev_masked
                       + ((g * jb.batch + b) * timesteps + t) * units)
                for j in range(units):
                    out[j] = h[(b * timesteps + t) * units + j] * r[j]


cdef void recurrent_product(const Job* jb, Py_ssize_t b0, Py_ssize_t b1, const floating* a,
                            Py_ssize_t col0, Py_ssize_t n, floating* c, Py_ssize_t ldc,
                            floating* a_masked) noexcept nogil:
    """``c[b0:b1, :n] += a[b0:b1] @ W_h[:, col0:col0 + n]``, ``a`` (rows, H) and
    ``c`` pointing at row b0; under recurrent dropout gate g's columns read
    ``a * recurrent_dropout_mask[g]`` (``a_masked``: rows x H scratch). ``col0``
    and ``n`` are whole gate blocks."""
    cdef Py_ssize_t units = jb.units, rows = b1 - b0, g, i
    cdef const floating* r
    if jb.n_recurrent_dropout == 0:
        times_weights(rows, n, units, a, units, jb.recurrent_kernel, jb.recurrent_packed,
                      jb.width, col0, c, ldc)
        return
    for g in range(col0 // units, (col0 + n) // units):
        r = <const floating*> jb.recurrent_dropout_mask + (g * jb.batch + b0) * units
        for i in range(rows * units):
            a_masked[i] = a[i] * r[i]
        times_weights(rows, units, units, a_masked, units, jb.recurrent_kernel,
                      jb.recurrent_packed, jb.width, g * units, c + g * units - col0, ldc)


cdef void recurrent_grad(const Job* jb, Py_ssize_t b0, Py_ssize_t b1, const floating* a,
                         Py_ssize_t lda, Py_ssize_t col0, Py_ssize_t k, floating* c,
                         floating* part) noexcept nogil:
    """``c[b0:b1] += a[:, :k] @ W_h[:, col0:col0 + k].T``: the gradient reaching the
    operand of ``recurrent_product`` from ``a``, that of its result (row stride
    ``lda``; ``a`` and ``c`` pointing at row b0); under recurrent dropout gate
    g's part times ``recurrent_dropout_mask[g]`` (``part``: rows x H scratch)."""
    cdef Py_ssize_t units = jb.units, rows = b1 - b0, g, i
    cdef const floating* r
    if jb.n_recurrent_dropout == 0:
        times_wt(jb, rows, k, a, lda, col0, c)
        return
    for g in range(col0 // units, (col0 + k) // units):
        memset(part, 0, rows * units * sizeof(floating))
        times_wt(jb, rows, units, a + g * units - col0, lda, g * units, part)
        r = <const floating*> jb.recurrent_dropout_mask + (g * jb.batch + b0) * units
        for i in range(rows * units):
            c[i] += part[i] * r[i]


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
    then has nothing to do (``jb.projected``). Each row projects only its
    valid span (``valid_span``); the positions outside it hold the bias.
    Nothing with several slices: they project step by step, while the rows
    are hot in cache.
    ``dtype_tag`` only picks the specialisation."""
    cdef Py_ssize_t b, i, k, lo, hi, timesteps = jb.timesteps, width = jb.width
    cdef Py_ssize_t step = jb.batch * width        # dest's stride between steps
    cdef Py_ssize_t groups = input_groups(jb), n = jb.width // groups
    cdef floating* c
    if jb.slices != 1:
        return
    if jb.go_backwards:     # row t of x goes to step s = T - 1 - t
        step = -step
    for b in range(jb.batch):
        c = dest + b * width + (0 if step > 0 else (timesteps - 1) * jb.batch * width)
        for i in range(timesteps):
            memcpy(c + i * step, jb.bias, width * sizeof(floating))
        # positions outside the row's valid span keep the bias: their steps are
        # masked, so whatever a step computes from them is discarded
        if not valid_span(jb.mask, b, timesteps, &lo, &hi):
            continue
        for k in range(groups):
            times_weights(hi - lo, n, jb.features,
                          input_source(dtype_tag, jb, k) + (b * timesteps + lo) * jb.features,
                          jb.features, jb.kernel, jb.kernel_packed, width, k * n,
                          c + lo * step + k * n, step)
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


cdef void pack_column_blocks(Py_ssize_t k, Py_ssize_t n, const floating* b, Py_ssize_t ldb,
                             Py_ssize_t block, floating* out) noexcept nogil:
    """``pack_b`` of B[k, n]'s column blocks [0, block), [block, 2 block), ... each
    on its own (at ``out + c0 * k``), so that a product may start at any of them."""
    cdef Py_ssize_t c0 = 0
    while c0 < n:
        pack_b(k, min(block, n - c0), b + c0, ldb, out + c0 * k)
        c0 += block


cdef void pack_row_blocks(Py_ssize_t k, Py_ssize_t n, const floating* b, Py_ssize_t ldb,
                          Py_ssize_t block, floating* out) noexcept nogil:
    """``pack_b`` of B[k, n]'s row blocks [0, block), [block, 2 block), ... each on
    its own (at ``out + r0 * n``), so that a product may read any of them alone."""
    cdef Py_ssize_t r0 = 0
    while r0 < k:
        pack_b(min(block, k - r0), n, b + r0 * ldb, ldb, out + r0 * n)
        r0 += block


cdef void pack_into(Job* jb, floating* w, floating* wx) noexcept nogil:
    """The packing of ``pack_weights``, into ``w`` (units x G*H) and ``wx`` (features
    x G*H): W_x in the projection's column groups, W_h whole, in the GRU's two
    blocks (``jb.recurrent_split``), or under recurrent dropout per gate."""
    cdef Py_ssize_t units = jb.units, width = jb.width, split = jb.recurrent_split
    pack_column_blocks(jb.features, width, <const floating*> jb.kernel, width,
                       width // input_groups(jb), wx)
    if jb.n_recurrent_dropout:
        split = units
    elif not split:
        split = width
    pack_column_blocks(units, width, <const floating*> jb.recurrent_kernel, width, split, w)
    jb.kernel_packed, jb.recurrent_packed = wx, w


cdef void input_rows(const Job* jb, Py_ssize_t t, Py_ssize_t b0, Py_ssize_t b1,
                     floating* dest) noexcept nogil:
    """``dest[b] = x[b, t] @ W_x + b_x`` for b in [b0, b1) (row stride ``jb.width``),
    one step at a time (the slices), unless ``project_up_front`` already put it
    there (``jb.projected``: calls on the calling thread alone)."""
    cdef Py_ssize_t b, k, timesteps = jb.timesteps, features = jb.features, width = jb.width
    cdef Py_ssize_t groups = input_groups(jb), n = width // groups
    if jb.projected:
        return
    for b in range(b0, b1):
        memcpy(dest + b * width, jb.bias, width * sizeof(floating))
    for k in range(groups):
        times_weights(b1 - b0, n, features,
                      input_source(dest, jb, k) + (b0 * timesteps + t) * features,
                      timesteps * features, jb.kernel, jb.kernel_packed, width, k * n,
                      dest + b0 * width + k * n, width)


cdef void clear_masked_rows(const unsigned char* mask, Py_ssize_t t, Py_ssize_t b0,
                            Py_ssize_t b1, Py_ssize_t timesteps, floating* rows,
                            Py_ssize_t width) noexcept nogil:
    """Zero row b of ``rows`` (row stride ``width``) for each b in [b0, b1) masked
    at position ``t``: what the gate buffers hold at a masked step (the
    contract's; a step computes none of its rows after ``computed_end``)."""
    cdef Py_ssize_t b
    for b in range(b0, b1):
        if not mask[b * timesteps + t]:
            memset(rows + b * width, 0, width * sizeof(floating))


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
    [split, G*H) when ``jb.wt_split``, as one block per gate under recurrent
    dropout) and ``kernel_t`` (W_x.T, in the input projection's column groups,
    see ``input_grad_rows``) for the products
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
    if jb.n_recurrent_dropout:
        split = units       # per gate (recurrent_grad)
    elif not split:
        split = width
    pack_row_blocks(width, units, wt, units, split, wt_packed)
    pack_row_blocks(width, jb.features, kt, jb.features, width // input_groups(jb), kt_packed)
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


cdef inline void times_kernel_t(const Job* jb, Py_ssize_t rows, Py_ssize_t k,
                                const floating* a, Py_ssize_t row0, floating* c) noexcept nogil:
    """``c[rows, D] += a[rows, k] @ W_x[:, row0:row0 + k].T`` (row stride of ``a``:
    G*H), from ``jb.kernel_t = W_x.T`` (packed: ``row0`` starts one of its
    blocks and ``k`` is that block's rows)."""
    cdef Py_ssize_t features = jb.features
    cdef const floating* kt = <const floating*> jb.kernel_t + row0 * features
    if jb.transposed_packed:
        mm_packed_acc(rows, features, k, a, jb.width, kt, c, features)
    else:
        mm_acc(rows, features, k, a, jb.width, kt, features, c, features)


cdef void kernel_t_over_valid(const Job* jb, Py_ssize_t b0, Py_ssize_t b1, Py_ssize_t k,
                              const floating* a, Py_ssize_t row0, floating* c) noexcept nogil:
    """``times_kernel_t`` over the batch-major rows [b0*T, b1*T) of ``a`` and ``c``
    (pointing at row b0*T) that lie in their batch row's valid span: the
    rows outside it have zero gradients, so ``c`` keeps its zeros there. One
    product per run of contiguous rows (a whole unmasked slice is one run)."""
    cdef Py_ssize_t timesteps = jb.timesteps, b, lo, hi, start = 0, end = 0
    cdef Py_ssize_t width = jb.width, features = jb.features
    for b in range(b0, b1):
        if not valid_span(jb.mask, b, timesteps, &lo, &hi):
            continue
        lo += (b - b0) * timesteps
        hi += (b - b0) * timesteps
        if end > start and lo == end:
            end = hi
            continue
        if end > start:
            times_kernel_t(jb, end - start, k, a + start * width, row0, c + start * features)
        start, end = lo, hi
    if end > start:
        times_kernel_t(jb, end - start, k, a + start * width, row0, c + start * features)


cdef int input_grad_rows(const Job* jb, floating* dtype_tag, Py_ssize_t b0,
                         Py_ssize_t b1) noexcept nogil:
    """Rows [b0, b1) of ``dx = dz @ W_x^T``, once the slice's ``dz`` is complete;
    under dropout ``dx = sum_k (dz_k @ W_x[:, k]^T) * dropout_mask[k]`` over the
    projection's column groups k. Only the rows in valid spans are multiplied
    (``kernel_t_over_valid``). -1 if out of memory."""
    cdef Py_ssize_t rows = (b1 - b0) * jb.timesteps, features = jb.features
    cdef Py_ssize_t groups = input_groups(jb), n = jb.width // groups, k, b, i, j
    cdef const floating* dz = <const floating*> jb.dz + b0 * jb.timesteps * jb.width
    cdef floating* dx = <floating*> jb.dx + b0 * jb.timesteps * features
    cdef floating* part
    cdef floating* target
    cdef floating* row
    cdef const floating* m
    if rows * features == 0:
        return 0
    memset(dx, 0, rows * features * sizeof(floating))
    if jb.n_dropout == 0:
        kernel_t_over_valid(jb, b0, b1, jb.width, dz, 0, dx)
        return 0
    part = dx
    if groups > 1:
        part = <floating*> scratch(rows * features, sizeof(floating), False)
        if part == NULL:
            return -1
    for k in range(groups):
        if groups > 1:
            memset(part, 0, rows * features * sizeof(floating))
        kernel_t_over_valid(jb, b0, b1, n, dz + k * n, k * n, part)
        for b in range(b0, b1):
            m = <const floating*> jb.dropout_mask + (k * jb.batch + b) * features
            for i in range(jb.timesteps):
                row = part + ((b - b0) * jb.timesteps + i) * features
                target = dx + ((b - b0) * jb.timesteps + i) * features
                if groups > 1:
                    for j in range(features):
                        target[j] += row[j] * m[j]
                else:
                    for j in range(features):
                        target[j] = row[j] * m[j]
    if groups > 1:
        free(part)
    return 0


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
    # the inputs and previous states these columns read (their gate's, under dropout)
    cdef const floating* x = input_source(buf, jb, c0 // (width // input_groups(jb)))
    cdef const floating* h_prev_all = state_source(buf, jb, c0 // units)
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
            tn_columns(units, a1 - a0, rows, state_source(buf, jb, 2), units, aux, ld_aux,
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
    cdef Py_ssize_t rows = jb.batch * jb.timesteps, cc, end
    cdef Py_ssize_t group = min(<Py_ssize_t> COLUMN_GROUP, c1 - c0)
    # under dropout a block's columns read one gate's masked operands
    cdef Py_ssize_t gate_cut = (
        jb.units if jb.n_dropout > 1 or jb.n_recurrent_dropout else jb.width)
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
        end = min(cc + group, c1, (cc // gate_cut + 1) * gate_cut)
        weight_grads_block(jb, dz, cc, end, buf, aux_buf)
        cc = end
    free(buf)
    free(aux_buf)
