/* The Cython kernels' products, float32 activations, fused float32 forward
 * gate math and step gradients for one instruction set: the products and the
 * activations written with its intrinsics, the backward step gradients as
 * the plain loops of _gates.h compiled for it.
 *
 * No include guard: _simd.h includes this file once per instruction set,
 * inside a region that compiles every function in it for that set (a target
 * pragma), after defining
 *
 *     FR_ISA                  the name suffix (avx2, avx512);
 *     FR_WIDE                 1 for 32 vector registers (AVX-512), else 0;
 *     FR_ACT512               1 for float32 activations 16 at a time in
 *                             AVX-512F intrinsics, else 0 (8 at a time, AVX2);
 *     for T in float, double:
 *       FR_V_T, FR_L_T        the vector type and its number of elements;
 *       FR_M_T, FR_MASK_T(n)  a lane mask and the mask of the first n lanes;
 *       FR_LOAD_T(p), FR_STORE_T(p, v), FR_LOADM_T(p, m), FR_STOREM_T(p, m, v)
 *                             unaligned loads and stores, all or masked lanes
 *                             (masked lanes are neither read nor written);
 *       FR_SET1_T(x), FR_FMA_T(a, b, c) = a * b + c (fused);
 *
 * and undefines them at its end.
 *
 * Products (the contract of _smallgemm.h, which is the baseline's code):
 *
 *     C[m, n] += A[m, k] @ B[k, n]     B row-major, or packed by pack_b
 *     C[m, n] += A[k, m]^T @ B[k, n]
 *
 * in tiles of ROWS rows by a panel of 2 vectors, 1 vector or a masked
 * vector of columns (the last n mod L): A broadcast one element at a time,
 * B's panel row loaded once per p for all the tile's rows, the accumulators
 * in registers across a block of k. Tiles of up to 12 rows with 32 vector
 * registers (24 accumulators), 6 with 16, the rows of a panel split into
 * tiles of as equal heights as can be (FR_PANEL).
 *
 * Every element of C is summed as in _smallgemm.h's FMA builds: start from
 * C, add A[i, p] * B[p, j] for p = 0, 1, ..., k-1 in order, one fused
 * multiply-add each (a k block ends with a store and the next starts with a
 * load, which is exact). So the tile or panel an element falls in, hence
 * how a call is cut into batch slices, does not change its bits, and the
 * AVX2 and AVX-512 products give the same bits.
 *
 * Packed B: the panels of the column loop (2L, then at most one of L, then
 * one of the last n mod L columns), each panel's k rows contiguous, panel
 * by panel from column 0: B[p, j] of the panel starting at j0 of width w
 * is at out[j0 * k + p * w + (j - j0)]. k * n elements in all.
 */

#define FR_CAT2_(a, b) a##_##b
#define FR_CAT2(a, b) FR_CAT2_(a, b)
#define FR_NAME(x) FR_CAT2(x, FR_ISA)
/* M(args) with the args macro-expanded first (FR_NAME(...) before M pastes to it). */
#define FR_INST(M, ...) M(__VA_ARGS__)

/* Rows of B per k block: a panel of 2 vectors over KB rows is 16 KB. */
#define FR_KB(T) (16384 / (2 * FR_L_##T * (ptrdiff_t) sizeof(T)))

#if defined(__clang__)
#define FR_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define FR_UNROLL _Pragma("GCC unroll 16")
#else
#define FR_UNROLL
#endif

/* A[r, p] of the tile whose first row is ``a``: no-trans (NN) or transposed (TN). */
#define FR_A_NN(a, lda, r, p) (a)[(r) * (lda) + (p)]
#define FR_A_TN(a, lda, r, p) (a)[(p) * (lda) + (r)]

/* One ROWS x (NV vectors) tile over p in [p0, p1); MASKED (with NV = 1): only
 * the lanes of ``mask``. ``b`` points at the panel's column 0, rows ldb apart. */
#define FR_TILE(NAME, T, ROWS, NV, MASKED, AT)                                           \
static inline void NAME(ptrdiff_t p0, ptrdiff_t p1, const T* FASTRNN_RESTRICT a,         \
                        ptrdiff_t lda, const T* FASTRNN_RESTRICT b, ptrdiff_t ldb,       \
                        T* FASTRNN_RESTRICT c, ptrdiff_t ldc, FR_M_##T mask)             \
{                                                                                        \
    FR_V_##T acc[ROWS][NV], bv[NV];                                                      \
    ptrdiff_t r, v, p;                                                                   \
    (void) mask;                                                                         \
    FR_UNROLL for (r = 0; r < ROWS; r++)                                                 \
        FR_UNROLL for (v = 0; v < NV; v++)                                               \
            acc[r][v] = MASKED ? FR_LOADM_##T(c + r * ldc, mask)                         \
                               : FR_LOAD_##T(c + r * ldc + v * FR_L_##T);                \
    for (p = p0; p < p1; p++) {                                                          \
        const T* bp = b + p * ldb;                                                       \
        FR_UNROLL for (v = 0; v < NV; v++)                                               \
            bv[v] = MASKED ? FR_LOADM_##T(bp, mask) : FR_LOAD_##T(bp + v * FR_L_##T);    \
        FR_UNROLL for (r = 0; r < ROWS; r++) {                                           \
            FR_V_##T av = FR_SET1_##T(AT(a, lda, r, p));                                 \
            FR_UNROLL for (v = 0; v < NV; v++)                                           \
                acc[r][v] = FR_FMA_##T(av, bv[v], acc[r][v]);                            \
        }                                                                                \
    }                                                                                    \
    FR_UNROLL for (r = 0; r < ROWS; r++)                                                 \
        FR_UNROLL for (v = 0; v < NV; v++) {                                             \
            if (MASKED)                                                                  \
                FR_STOREM_##T(c + r * ldc, mask, acc[r][v]);                             \
            else                                                                         \
                FR_STORE_##T(c + r * ldc + v * FR_L_##T, acc[r][v]);                     \
        }                                                                                \
}

/* All m rows of one panel, in ceil(m / FR_ROWS) tiles of as equal heights
 * as can be (32 rows with AVX2: 6, 6, 5, 5, 5, 5 rather than five 6s and a
 * 2): a tile of few rows has too few independent accumulators to keep the
 * FMA units busy. ASTEP is the distance between A's first elements of
 * consecutive rows of C. */
#define FR_ROWS (FR_WIDE ? 12 : 6)
#define FR_PANEL(NAME, T, NV, MASKED, AT, ASTEP)                                         \
FR_TILE(NAME##_12, T, 12, NV, MASKED, AT)                                                \
FR_TILE(NAME##_11, T, 11, NV, MASKED, AT)                                                \
FR_TILE(NAME##_10, T, 10, NV, MASKED, AT)                                                \
FR_TILE(NAME##_9, T, 9, NV, MASKED, AT)                                                  \
FR_TILE(NAME##_8, T, 8, NV, MASKED, AT)                                                  \
FR_TILE(NAME##_7, T, 7, NV, MASKED, AT)                                                  \
FR_TILE(NAME##_6, T, 6, NV, MASKED, AT)                                                  \
FR_TILE(NAME##_5, T, 5, NV, MASKED, AT)                                                  \
FR_TILE(NAME##_4, T, 4, NV, MASKED, AT)                                                  \
FR_TILE(NAME##_3, T, 3, NV, MASKED, AT)                                                  \
FR_TILE(NAME##_2, T, 2, NV, MASKED, AT)                                                  \
FR_TILE(NAME##_1, T, 1, NV, MASKED, AT)                                                  \
/* One tile of ``rows`` (1 to FR_ROWS) rows. */                                         \
static inline void NAME##_tile(ptrdiff_t rows, ptrdiff_t p0, ptrdiff_t p1, const T* a,   \
                               ptrdiff_t lda, const T* b, ptrdiff_t ldb, T* c,           \
                               ptrdiff_t ldc, FR_M_##T mask)                             \
{                                                                                        \
    switch (FR_WIDE ? rows : (rows > 6 ? 6 : rows)) {                                    \
    case 12: NAME##_12(p0, p1, a, lda, b, ldb, c, ldc, mask); break;                     \
    case 11: NAME##_11(p0, p1, a, lda, b, ldb, c, ldc, mask); break;                     \
    case 10: NAME##_10(p0, p1, a, lda, b, ldb, c, ldc, mask); break;                     \
    case 9: NAME##_9(p0, p1, a, lda, b, ldb, c, ldc, mask); break;                       \
    case 8: NAME##_8(p0, p1, a, lda, b, ldb, c, ldc, mask); break;                       \
    case 7: NAME##_7(p0, p1, a, lda, b, ldb, c, ldc, mask); break;                       \
    case 6: NAME##_6(p0, p1, a, lda, b, ldb, c, ldc, mask); break;                       \
    case 5: NAME##_5(p0, p1, a, lda, b, ldb, c, ldc, mask); break;                       \
    case 4: NAME##_4(p0, p1, a, lda, b, ldb, c, ldc, mask); break;                       \
    case 3: NAME##_3(p0, p1, a, lda, b, ldb, c, ldc, mask); break;                       \
    case 2: NAME##_2(p0, p1, a, lda, b, ldb, c, ldc, mask); break;                       \
    default: NAME##_1(p0, p1, a, lda, b, ldb, c, ldc, mask); break;                      \
    }                                                                                    \
}                                                                                        \
static inline void NAME(ptrdiff_t m, ptrdiff_t p0, ptrdiff_t p1, const T* a,             \
                        ptrdiff_t lda, const T* b, ptrdiff_t ldb, T* c, ptrdiff_t ldc,   \
                        FR_M_##T mask)                                                   \
{                                                                                        \
    const ptrdiff_t tiles = (m + FR_ROWS - 1) / FR_ROWS;                                 \
    ptrdiff_t i = 0, t, rows;                                                            \
    for (t = 0; t < tiles; t++, i += rows) {                                             \
        rows = FR_TILE_ROWS(m, tiles, t);                                                \
        NAME##_tile(rows, p0, p1, a + i * (ASTEP), lda, b, ldb, c + i * ldc, ldc, mask); \
    }                                                                                    \
}

/* Rows of tile t of the ``tiles`` a panel of m rows is split into: the first
 * m % tiles tiles take one row more. */
#define FR_TILE_ROWS(m, tiles, t) ((m) / (tiles) + ((t) < (m) % (tiles)))

/* Where the panel of B starting at column j (width w) lies, as "pointer, row
 * stride": in B itself, or in B packed (see the top). */
#define FR_B_ROWMAJOR(b, ldb, k, j, w) (b) + (j), (ldb)
#define FR_B_PACKED(b, ldb, k, j, w) (b) + (j) * (k), (w)

/* One row of C over four 2-vector panels (8 accumulators) for p in [p0, p1):
 * with a single row, a tile of one panel has only 2 independent FMA chains
 * and waits on their latency; four panels at once keep the FMA units busy.
 * Panel q starts at bq, rows ldq apart. */
#define FR_ROW1(NAME, T, AT)                                                             \
static inline void NAME(ptrdiff_t p0, ptrdiff_t p1, const T* FASTRNN_RESTRICT a,         \
                        ptrdiff_t lda, const T* b0, ptrdiff_t ld0, const T* b1,          \
                        ptrdiff_t ld1, const T* b2, ptrdiff_t ld2, const T* b3,          \
                        ptrdiff_t ld3, T* FASTRNN_RESTRICT c)                            \
{                                                                                        \
    const ptrdiff_t l = FR_L_##T;                                                        \
    FR_V_##T acc[8];                                                                     \
    ptrdiff_t v, p;                                                                      \
    FR_UNROLL for (v = 0; v < 8; v++)                                                    \
        acc[v] = FR_LOAD_##T(c + v * l);                                                 \
    for (p = p0; p < p1; p++) {                                                          \
        FR_V_##T av = FR_SET1_##T(AT(a, lda, 0, p));                                     \
        acc[0] = FR_FMA_##T(av, FR_LOAD_##T(b0 + p * ld0), acc[0]);                      \
        acc[1] = FR_FMA_##T(av, FR_LOAD_##T(b0 + p * ld0 + l), acc[1]);                  \
        acc[2] = FR_FMA_##T(av, FR_LOAD_##T(b1 + p * ld1), acc[2]);                      \
        acc[3] = FR_FMA_##T(av, FR_LOAD_##T(b1 + p * ld1 + l), acc[3]);                  \
        acc[4] = FR_FMA_##T(av, FR_LOAD_##T(b2 + p * ld2), acc[4]);                      \
        acc[5] = FR_FMA_##T(av, FR_LOAD_##T(b2 + p * ld2 + l), acc[5]);                  \
        acc[6] = FR_FMA_##T(av, FR_LOAD_##T(b3 + p * ld3), acc[6]);                      \
        acc[7] = FR_FMA_##T(av, FR_LOAD_##T(b3 + p * ld3 + l), acc[7]);                  \
    }                                                                                    \
    FR_UNROLL for (v = 0; v < 8; v++)                                                    \
        FR_STORE_##T(c + v * l, acc[v]);                                                 \
}

/* The whole product, k block by k block. Within a k block, one of two
 * orders, whichever rereads the smaller operand:
 *
 *   panels outer (m <= n, e.g. a step's h @ W_h): each panel of B (KB rows)
 *     stays in L1 across all row tiles, and A's few rows are read again per
 *     panel; a single row runs four panels at a time (FR_ROW1);
 *   row tiles outer (m > n, e.g. dz @ W_x^T over B*T rows; and always for
 *     C += A^T @ B, ROWS_OUTER = 1, whose A is read down its columns): a
 *     tile's rows of A stay in L1 across all panels, and the k block of B
 *     (KB x n) is read again per tile, from L2.
 *
 * The same sums, term for term, either way. */
#define FR_GEMM(NAME, T, AT, ASTEP, BP, ROWS_OUTER)                                      \
FR_ROW1(NAME##_r1, T, AT)                                                                \
FR_PANEL(NAME##_p2, T, 2, 0, AT, ASTEP)                                                  \
FR_PANEL(NAME##_p1, T, 1, 0, AT, ASTEP)                                                  \
FR_PANEL(NAME##_pm, T, 1, 1, AT, ASTEP)                                                  \
static void NAME##_rows_outer(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, ptrdiff_t p0,       \
                              ptrdiff_t p1, const T* a, ptrdiff_t lda, const T* b,       \
                              ptrdiff_t ldb, T* c, ptrdiff_t ldc)                        \
{                                                                                        \
    const ptrdiff_t vec = FR_L_##T, tiles = (m + FR_ROWS - 1) / FR_ROWS;                 \
    const FR_M_##T all = FR_MASK_##T(vec), tail = FR_MASK_##T(n % vec);                  \
    ptrdiff_t i, j, t, rows;                                                             \
    for (i = 0, t = 0; t < tiles; t++, i += rows) {                                      \
        const T* at = a + i * (ASTEP);                                                   \
        T* ct = c + i * ldc;                                                             \
        rows = FR_TILE_ROWS(m, tiles, t);                                                \
        for (j = 0; j + 2 * vec <= n; j += 2 * vec)                                      \
            NAME##_p2_tile(rows, p0, p1, at, lda, BP(b, ldb, k, j, 2 * vec), ct + j,     \
                           ldc, all);                                                    \
        if (j + vec <= n) {                                                              \
            NAME##_p1_tile(rows, p0, p1, at, lda, BP(b, ldb, k, j, vec), ct + j, ldc,    \
                           all);                                                         \
            j += vec;                                                                    \
        }                                                                                \
        if (j < n)                                                                       \
            NAME##_pm_tile(rows, p0, p1, at, lda, BP(b, ldb, k, j, n - j), ct + j, ldc,  \
                           tail);                                                        \
    }                                                                                    \
}                                                                                        \
static void NAME##_panels_outer(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, ptrdiff_t p0,     \
                                ptrdiff_t p1, const T* a, ptrdiff_t lda, const T* b,     \
                                ptrdiff_t ldb, T* c, ptrdiff_t ldc)                      \
{                                                                                        \
    const ptrdiff_t vec = FR_L_##T;                                                      \
    const FR_M_##T all = FR_MASK_##T(vec), tail = FR_MASK_##T(n % vec);                  \
    ptrdiff_t j = 0;                                                                     \
    if (m == 1)                                                                          \
        for (; j + 8 * vec <= n; j += 8 * vec)                                           \
            NAME##_r1(p0, p1, a, lda, BP(b, ldb, k, j, 2 * vec),                         \
                      BP(b, ldb, k, j + 2 * vec, 2 * vec),                               \
                      BP(b, ldb, k, j + 4 * vec, 2 * vec),                               \
                      BP(b, ldb, k, j + 6 * vec, 2 * vec), c + j);                       \
    for (; j + 2 * vec <= n; j += 2 * vec)                                               \
        NAME##_p2(m, p0, p1, a, lda, BP(b, ldb, k, j, 2 * vec), c + j, ldc, all);        \
    if (j + vec <= n) {                                                                  \
        NAME##_p1(m, p0, p1, a, lda, BP(b, ldb, k, j, vec), c + j, ldc, all);            \
        j += vec;                                                                        \
    }                                                                                    \
    if (j < n)                                                                           \
        NAME##_pm(m, p0, p1, a, lda, BP(b, ldb, k, j, n - j), c + j, ldc, tail);         \
}                                                                                        \
static void NAME(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const T* a, ptrdiff_t lda,       \
                 const T* b, ptrdiff_t ldb, T* c, ptrdiff_t ldc)                         \
{                                                                                        \
    ptrdiff_t p0, p1;                                                                    \
    if (m <= 0 || n <= 0 || k <= 0)                                                      \
        return;                                                                          \
    for (p0 = 0; p0 < k; p0 = p1) {                                                      \
        p1 = p0 + FR_KB(T) < k ? p0 + FR_KB(T) : k;                                      \
        if (ROWS_OUTER || m > n)                                                         \
            NAME##_rows_outer(m, n, k, p0, p1, a, lda, b, ldb, c, ldc);                  \
        else                                                                             \
            NAME##_panels_outer(m, n, k, p0, p1, a, lda, b, ldb, c, ldc);                \
    }                                                                                    \
}

/* C[m, n] += A[m, k] @ B[k, n] for m <= FASTRNN_GEMM_STREAM_ROWS and a large
 * row-major B (_smallgemm.h says when): B read row by row, contiguously.
 * Every element is summed in the same order as in the panels. */
#define FR_STREAM(NAME, T)                                                               \
static void NAME(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const T* FASTRNN_RESTRICT a,     \
                 ptrdiff_t lda, const T* FASTRNN_RESTRICT b, ptrdiff_t ldb,              \
                 T* FASTRNN_RESTRICT c, ptrdiff_t ldc)                                   \
{                                                                                        \
    const ptrdiff_t vec = FR_L_##T;                                                      \
    const FR_M_##T tail = FR_MASK_##T(n % vec);                                          \
    ptrdiff_t i, p, j;                                                                   \
    for (p = 0; p < k; p++) {                                                            \
        const T* bp = b + p * ldb;                                                       \
        for (i = 0; i < m; i++) {                                                        \
            FR_V_##T av = FR_SET1_##T(a[i * lda + p]);                                   \
            T* ci = c + i * ldc;                                                         \
            for (j = 0; j + vec <= n; j += vec)                                          \
                FR_STORE_##T(ci + j, FR_FMA_##T(av, FR_LOAD_##T(bp + j),                 \
                                                FR_LOAD_##T(ci + j)));                   \
            if (j < n)                                                                   \
                FR_STOREM_##T(ci + j, tail,                                              \
                              FR_FMA_##T(av, FR_LOADM_##T(bp + j, tail),                 \
                                         FR_LOADM_##T(ci + j, tail)));                   \
        }                                                                                \
    }                                                                                    \
}

#define FR_GEMM_NN(NAME, T)                                                              \
FR_STREAM(NAME##_stream, T)                                                              \
FR_GEMM(NAME##_panels, T, FR_A_NN, lda, FR_B_ROWMAJOR, 0)                                   \
static void NAME(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const T* a, ptrdiff_t lda,       \
                 const T* b, ptrdiff_t ldb, T* c, ptrdiff_t ldc)                         \
{                                                                                        \
    if (m <= 0 || n <= 0 || k <= 0)                                                      \
        return;                                                                          \
    if (FASTRNN_GEMM_STREAMS(T, m, n, k))                                                \
        NAME##_stream(m, n, k, a, lda, b, ldb, c, ldc);                                  \
    else                                                                                 \
        NAME##_panels(m, n, k, a, lda, b, ldb, c, ldc);                                  \
}

#define FR_PACK(NAME, T)                                                                 \
static void NAME(ptrdiff_t k, ptrdiff_t n, const T* FASTRNN_RESTRICT b, ptrdiff_t ldb,  \
                 T* FASTRNN_RESTRICT out)                                                \
{                                                                                        \
    const ptrdiff_t vec = FR_L_##T;                                                      \
    ptrdiff_t j, w, p;                                                                   \
    for (j = 0; j < n; j += w) {                                                         \
        w = n - j >= 2 * vec ? 2 * vec : (n - j >= vec ? vec : n - j);                   \
        for (p = 0; p < k; p++)                                                          \
            memcpy(out + j * k + p * w, b + p * ldb + j, (size_t) w * sizeof(T));        \
    }                                                                                    \
}

#define FR_GEMM_PACKED(NAME, T)                                                          \
FR_GEMM(NAME##_, T, FR_A_NN, lda, FR_B_PACKED, 0)                                           \
static void NAME(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const T* a, ptrdiff_t lda,       \
                 const T* bp, T* c, ptrdiff_t ldc)                                       \
{                                                                                        \
    NAME##_(m, n, k, a, lda, bp, 0, c, ldc);                                             \
}

FR_INST(FR_GEMM_NN, FR_NAME(fastrnn_sgemm_acc), float)
FR_INST(FR_GEMM_NN, FR_NAME(fastrnn_dgemm_acc), double)
FR_INST(FR_GEMM, FR_NAME(fastrnn_sgemm_tn_acc), float, FR_A_TN, 1, FR_B_ROWMAJOR, 1)
FR_INST(FR_GEMM, FR_NAME(fastrnn_dgemm_tn_acc), double, FR_A_TN, 1, FR_B_ROWMAJOR, 1)
FR_INST(FR_PACK, FR_NAME(fastrnn_spack_b), float)
FR_INST(FR_PACK, FR_NAME(fastrnn_dpack_b), double)
FR_INST(FR_GEMM_PACKED, FR_NAME(fastrnn_sgemm_packed_acc), float)
FR_INST(FR_GEMM_PACKED, FR_NAME(fastrnn_dgemm_packed_acc), double)

/* p = P(u) and q = Q(u) of fastrnn_tanh_f32 (Horner, a separate multiply
 * and add per step), in the vector operations MUL, ADD and SET1. */
#define FR_TANH_PQ(MUL, ADD, SET1, u, p, q)                                              \
    do {                                                                                 \
        p = ADD(MUL(SET1(1.5204140583e-08), u), SET1(2.1877638864e-05));                 \
        p = ADD(MUL(p, u), SET1(3.5706600931e-03));                                      \
        p = ADD(MUL(p, u), SET1(1.3443746157e-01));                                      \
        p = ADD(MUL(p, u), SET1(1.0));                                                   \
        q = ADD(MUL(SET1(8.5122442105e-07), u), SET1(3.4096874664e-04));                 \
        q = ADD(MUL(q, u), SET1(2.6160987804e-02));                                      \
        q = ADD(MUL(q, u), SET1(4.6777075934e-01));                                      \
        q = ADD(MUL(q, u), SET1(1.0));                                                   \
    } while (0)

/* Activations: the float32 tanh and sigmoid of _fastmath.h, 8 float32 at a
 * time (AVX2 instructions, which AVX-512 CPUs have too), each as
 * fastrnn_tanh_f32 computes it: widened to double, clamped to
 * [-8, 8], x * P(x^2) / Q(x^2) (exactly +-1 at +-8) with separate multiplies and adds (as the C,
 * which is compiled without contraction), rounded to float32 once. So every
 * instruction set gives fastrnn_tanh_f32's bits. The last n mod 8 elements
 * go through fastrnn_tanh_f32 itself. */
static inline __m256d FR_NAME(fastrnn_tanh_pd4)(__m256d x)
{
    /* min(8, x) and max(-8, x) in this operand order return x when x is NaN,
     * as the C's comparisons do. */
    __m256d u, p, q;
    x = _mm256_min_pd(_mm256_set1_pd(8.0), x);
    x = _mm256_max_pd(_mm256_set1_pd(-8.0), x);
    u = _mm256_mul_pd(x, x);
    FR_TANH_PQ(_mm256_mul_pd, _mm256_add_pd, _mm256_set1_pd, u, p, q);
    /* |x| = 8 after the clamp: exactly x / 8 = +-1, as the C selects. */
    __m256d saturated = _mm256_cmp_pd(
        _mm256_andnot_pd(_mm256_set1_pd(-0.0), x), _mm256_set1_pd(8.0), _CMP_EQ_OQ);
    return _mm256_blendv_pd(_mm256_div_pd(_mm256_mul_pd(x, p), q),
                            _mm256_mul_pd(x, _mm256_set1_pd(0.125)), saturated);
}

static inline __m256 FR_NAME(fastrnn_tanh_ps8)(__m256 x)
{
    __m128 lo = _mm256_cvtpd_ps(FR_NAME(fastrnn_tanh_pd4)(
        _mm256_cvtps_pd(_mm256_castps256_ps128(x))));
    __m128 hi = _mm256_cvtpd_ps(FR_NAME(fastrnn_tanh_pd4)(
        _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1))));
    return _mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1);
}

#if FR_ACT512
/* With AVX-512F (FR_ACT512): the same, 16 float32 at a time over two vectors
 * of 8 doubles, each lane computed by the same operations, hence with the
 * same bits; the loops below run it first, then 8 at a time, then the C. */
static inline __m512d FR_NAME(fastrnn_tanh_pd8)(__m512d x)
{
    __m512d u, p, q;
    x = _mm512_min_pd(_mm512_set1_pd(8.0), x);
    x = _mm512_max_pd(_mm512_set1_pd(-8.0), x);
    u = _mm512_mul_pd(x, x);
    FR_TANH_PQ(_mm512_mul_pd, _mm512_add_pd, _mm512_set1_pd, u, p, q);
    __mmask8 saturated =
        _mm512_cmp_pd_mask(_mm512_abs_pd(x), _mm512_set1_pd(8.0), _CMP_EQ_OQ);
    return _mm512_mask_blend_pd(saturated, _mm512_div_pd(_mm512_mul_pd(x, p), q),
                                _mm512_mul_pd(x, _mm512_set1_pd(0.125)));
}

static inline __m512 FR_NAME(fastrnn_tanh_ps16)(__m512 x)
{
    __m256 lo = _mm512_cvtpd_ps(FR_NAME(fastrnn_tanh_pd8)(
        _mm512_cvtps_pd(_mm512_castps512_ps256(x))));
    __m256 hi = _mm512_cvtpd_ps(FR_NAME(fastrnn_tanh_pd8)(_mm512_cvtps_pd(
        _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)))));
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(lo)),
                                               _mm256_castps_pd(hi), 1));
}

static inline __m512 FR_NAME(fastrnn_sigmoid_ps16)(__m512 x)
{
    const __m512 half = _mm512_set1_ps(0.5f);
    __m512 t = FR_NAME(fastrnn_tanh_ps16)(_mm512_mul_ps(half, x));
    return _mm512_add_ps(half, _mm512_mul_ps(half, t));
}
#endif

static void FR_NAME(fastrnn_tanh_f32_array)(const float* a, float* out, ptrdiff_t n)
{
    ptrdiff_t i = 0;
#if FR_ACT512
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(out + i, FR_NAME(fastrnn_tanh_ps16)(_mm512_loadu_ps(a + i)));
#endif
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, FR_NAME(fastrnn_tanh_ps8)(_mm256_loadu_ps(a + i)));
    for (; i < n; i++)
        out[i] = fastrnn_tanh_f32(a[i]);
}

static void FR_NAME(fastrnn_sigmoid_f32_array)(const float* a, float* out, ptrdiff_t n)
{
    /* 0.5 + 0.5 * tanh(0.5 * a), in float32, as fastrnn_sigmoid_f32_array. */
    const __m256 half = _mm256_set1_ps(0.5f);
    ptrdiff_t i = 0;
#if FR_ACT512
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(out + i, FR_NAME(fastrnn_sigmoid_ps16)(_mm512_loadu_ps(a + i)));
#endif
    for (; i + 8 <= n; i += 8) {
        __m256 t = FR_NAME(fastrnn_tanh_ps8)(_mm256_mul_ps(half, _mm256_loadu_ps(a + i)));
        _mm256_storeu_ps(out + i, _mm256_add_ps(half, _mm256_mul_ps(half, t)));
    }
    for (; i < n; i++)
        out[i] = 0.5f + 0.5f * fastrnn_tanh_f32(0.5f * a[i]);
}

/* The forward's fused gate math of _gates.h (fastrnn_lstm_gates_f32,
 * fastrnn_gru_gates_f32), 16 units at a time with FR_ACT512, then 8 at a
 * time, with its bits. */
static inline __m256 FR_NAME(fastrnn_sigmoid_ps8)(__m256 x)
{
    const __m256 half = _mm256_set1_ps(0.5f);
    __m256 t = FR_NAME(fastrnn_tanh_ps8)(_mm256_mul_ps(half, x));
    return _mm256_add_ps(half, _mm256_mul_ps(half, t));
}

/* One block of the fused gate math at unit j, in the vector type V with
 * the operations LOAD, STORE, MUL, ADD (SUB, SET1) and the activations SIG
 * and TANH: the 16-wide and the 8-wide loops below are the same code. */
#define FR_LSTM_GATES_BLOCK(V, LOAD, STORE, MUL, ADD, SIG, TANH)                         \
    {                                                                                    \
        V i = SIG(LOAD(z + j)), f = SIG(LOAD(z + units + j));                            \
        V g = TANH(LOAD(z + 2 * units + j)), o = SIG(LOAD(z + 3 * units + j));           \
        V c = ADD(MUL(f, LOAD(c_prev + j)), MUL(i, g));                                  \
        STORE(z + j, i);                                                                 \
        STORE(z + units + j, f);                                                         \
        STORE(z + 2 * units + j, g);                                                     \
        STORE(z + 3 * units + j, o);                                                     \
        STORE(c_new + j, c);                                                             \
        STORE(h_new + j, MUL(o, TANH(c)));                                               \
    }
#define FR_GRU_GATES_BLOCK(V, LOAD, STORE, MUL, ADD, SUB, SET1, SIG, TANH)               \
    {                                                                                    \
        V uh = LOAD(u + 2 * units + j);                                                  \
        V zg = SIG(ADD(LOAD(z + j), LOAD(u + j)));                                       \
        V r = SIG(ADD(LOAD(z + units + j), LOAD(u + units + j)));                        \
        V hh = TANH(ADD(LOAD(z + 2 * units + j), MUL(r, uh)));                           \
        STORE(z + j, zg);                                                                \
        STORE(z + units + j, r);                                                         \
        STORE(z + 2 * units + j, hh);                                                    \
        STORE(u_h + j, uh);                                                              \
        STORE(h_new + j, ADD(MUL(zg, LOAD(h_prev + j)), MUL(SUB(SET1(1.0f), zg), hh)));  \
    }

static void FR_NAME(fastrnn_lstm_gates_f32)(ptrdiff_t units, float* FASTRNN_RESTRICT z,
                                            const float* FASTRNN_RESTRICT c_prev,
                                            float* FASTRNN_RESTRICT c_new,
                                            float* FASTRNN_RESTRICT h_new)
{
    ptrdiff_t j = 0;
#if FR_ACT512
    for (; j + 16 <= units; j += 16)
        FR_LSTM_GATES_BLOCK(__m512, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_mul_ps,
                            _mm512_add_ps, FR_NAME(fastrnn_sigmoid_ps16),
                            FR_NAME(fastrnn_tanh_ps16))
#endif
    for (; j + 8 <= units; j += 8)
        FR_LSTM_GATES_BLOCK(__m256, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_mul_ps,
                            _mm256_add_ps, FR_NAME(fastrnn_sigmoid_ps8),
                            FR_NAME(fastrnn_tanh_ps8))
    fastrnn_lstm_gates_f32_from(j, units, z, c_prev, c_new, h_new);
}

static void FR_NAME(fastrnn_gru_gates_f32)(ptrdiff_t units, float* FASTRNN_RESTRICT z,
                                           const float* FASTRNN_RESTRICT u,
                                           const float* FASTRNN_RESTRICT h_prev,
                                           float* FASTRNN_RESTRICT u_h,
                                           float* FASTRNN_RESTRICT h_new)
{
    ptrdiff_t j = 0;
#if FR_ACT512
    for (; j + 16 <= units; j += 16)
        FR_GRU_GATES_BLOCK(__m512, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_mul_ps,
                           _mm512_add_ps, _mm512_sub_ps, _mm512_set1_ps,
                           FR_NAME(fastrnn_sigmoid_ps16), FR_NAME(fastrnn_tanh_ps16))
#endif
    for (; j + 8 <= units; j += 8)
        FR_GRU_GATES_BLOCK(__m256, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_mul_ps,
                           _mm256_add_ps, _mm256_sub_ps, _mm256_set1_ps,
                           FR_NAME(fastrnn_sigmoid_ps8), FR_NAME(fastrnn_tanh_ps8))
    fastrnn_gru_gates_f32_from(j, units, z, u, h_prev, u_h, h_new);
}

/* The step gradients of _gates.h, compiled for this instruction set (plain
 * elementwise loops over restrict arrays: the compiler vectorizes them). */
FASTRNN_LSTM_STEP_GRADS(FR_NAME(fastrnn_lstm_step_grads_tanh_sigmoid_f32), float,
                        FASTRNN_DTANH, FASTRNN_DSIGMOID)
FASTRNN_LSTM_STEP_GRADS(FR_NAME(fastrnn_lstm_step_grads_tanh_sigmoid_f64), double,
                        FASTRNN_DTANH, FASTRNN_DSIGMOID)
FASTRNN_LSTM_STEP_GRADS(FR_NAME(fastrnn_lstm_step_grads_f32), float, FASTRNN_DCODE,
                        FASTRNN_DCODE)
FASTRNN_LSTM_STEP_GRADS(FR_NAME(fastrnn_lstm_step_grads_f64), double, FASTRNN_DCODE,
                        FASTRNN_DCODE)
FASTRNN_GRU_STEP_GRADS(FR_NAME(fastrnn_gru_step_grads_tanh_sigmoid_f32), float,
                       FASTRNN_DTANH, FASTRNN_DSIGMOID, 1, FASTRNN_ONE_MINUS_T)
FASTRNN_GRU_STEP_GRADS(FR_NAME(fastrnn_gru_step_grads_tanh_sigmoid_f64), double,
                       FASTRNN_DTANH, FASTRNN_DSIGMOID, 1, FASTRNN_ONE_MINUS_T)
FASTRNN_GRU_STEP_GRADS(FR_NAME(fastrnn_gru_step_grads_f32), float, FASTRNN_DCODE,
                       FASTRNN_DCODE, reset_after, FASTRNN_ONE_MINUS_DOUBLE)
FASTRNN_GRU_STEP_GRADS(FR_NAME(fastrnn_gru_step_grads_f64), double, FASTRNN_DCODE,
                       FASTRNN_DCODE, reset_after, FASTRNN_ONE_MINUS_DOUBLE)

/* This instruction set's row of the dispatch table (_simd.h). */
static const fastrnn_isa_kernels FR_NAME(fastrnn_kernels) = {
    FR_NAME(fastrnn_sgemm_acc), FR_NAME(fastrnn_dgemm_acc),
    FR_NAME(fastrnn_sgemm_tn_acc), FR_NAME(fastrnn_dgemm_tn_acc),
    FR_NAME(fastrnn_spack_b), FR_NAME(fastrnn_dpack_b),
    FR_NAME(fastrnn_sgemm_packed_acc), FR_NAME(fastrnn_dgemm_packed_acc),
    FR_NAME(fastrnn_tanh_f32_array), FR_NAME(fastrnn_sigmoid_f32_array),
    FR_NAME(fastrnn_lstm_gates_f32), FR_NAME(fastrnn_gru_gates_f32),
    FR_NAME(fastrnn_lstm_step_grads_tanh_sigmoid_f32),
    FR_NAME(fastrnn_lstm_step_grads_tanh_sigmoid_f64),
    FR_NAME(fastrnn_lstm_step_grads_f32), FR_NAME(fastrnn_lstm_step_grads_f64),
    FR_NAME(fastrnn_gru_step_grads_tanh_sigmoid_f32),
    FR_NAME(fastrnn_gru_step_grads_tanh_sigmoid_f64),
    FR_NAME(fastrnn_gru_step_grads_f32), FR_NAME(fastrnn_gru_step_grads_f64),
};

#undef FR_CAT2_
#undef FR_CAT2
#undef FR_NAME
#undef FR_INST
#undef FR_KB
#undef FR_UNROLL
#undef FR_A_NN
#undef FR_A_TN
#undef FR_TILE
#undef FR_PANEL
#undef FR_ROWS
#undef FR_TILE_ROWS
#undef FR_B_ROWMAJOR
#undef FR_B_PACKED
#undef FR_ROW1
#undef FR_GEMM
#undef FR_STREAM
#undef FR_GEMM_NN
#undef FR_PACK
#undef FR_GEMM_PACKED
#undef FR_TANH_PQ
#undef FR_LSTM_GATES_BLOCK
#undef FR_GRU_GATES_BLOCK

/* The parameters _simd.h defined for this inclusion. */
#undef FR_ISA
#undef FR_WIDE
#undef FR_ACT512
#undef FR_V_float
#undef FR_L_float
#undef FR_M_float
#undef FR_MASK_float
#undef FR_LOAD_float
#undef FR_STORE_float
#undef FR_LOADM_float
#undef FR_STOREM_float
#undef FR_SET1_float
#undef FR_FMA_float
#undef FR_V_double
#undef FR_L_double
#undef FR_M_double
#undef FR_MASK_double
#undef FR_LOAD_double
#undef FR_STORE_double
#undef FR_LOADM_double
#undef FR_STOREM_double
#undef FR_SET1_double
#undef FR_FMA_double
