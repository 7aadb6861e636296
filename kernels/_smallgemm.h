/* Register-blocked matrix products for the batch slices of the Cython kernels.
 *
 * Row-major, with row strides lda, ldb, ldc:
 *
 *     fastrnn_sgemm_acc    / fastrnn_dgemm_acc:     C[m, n] += A[m, k] @ B[k, n]
 *     fastrnn_sgemm_tn_acc / fastrnn_dgemm_tn_acc:  C[m, n] += A[k, m]^T @ B[k, n]
 *     fastrnn_sgemm_packed_acc / ..._dgemm_...:     C[m, n] += A[m, k] @ B[k, n],
 *         B packed by fastrnn_spack_b / fastrnn_dpack_b (see "Packed B" below)
 *
 * in plain C that the compiler vectorizes: tiles of up to 8 rows (6
 * without AVX-512) by a panel of columns (two vector registers per row: 32
 * floats with AVX-512, 16 with AVX/AVX2, 8 without; narrower panels for the
 * last columns),
 * accumulated in registers over a block of k, with B's panel kept in L1.
 * Why not BLAS: on the small-m products of a batch slice (m = 8..64 rows)
 * SciPy's OpenBLAS is slower than these loops, BLAS calls inside the slice
 * threads would have to stay below OpenBLAS's threading threshold anyway,
 * and how BLAS blocks a product (hence how it rounds) is not ours to fix.
 *
 * Every element is summed the same way whatever tile or panel it falls in:
 * start from C, add A[i, p] * B[p, j] for p = 0, 1, ..., k-1 in order, each
 * a fused multiply-add where the CPU has FMA, else a product then a sum (a k
 * block ends with a store and the next starts with a load, which is exact;
 * the k blocks depend on k only). So an element of C does not depend on
 * which other rows or columns are in the same call: the results of a
 * batch-sliced time loop do not depend on the slicing.
 *
 * A, B and C must not overlap (restrict).
 */
#ifndef FASTRNN_SMALLGEMM_H
#define FASTRNN_SMALLGEMM_H

#include <math.h>
#include <stddef.h>

#include "_restrict.h"

#if defined(__AVX512F__)
#define FASTRNN_GEMM_VEC_BYTES 64
#elif defined(__AVX__)
#define FASTRNN_GEMM_VEC_BYTES 32
#else
#define FASTRNN_GEMM_VEC_BYTES 16
#endif

/* acc + v * b, fused where the CPU has FMA. Explicit, because a compiler
 * allowed to contract (GCC's default) fuses some of these and not others
 * (vector loops vs remainders), which would make an element's rounding
 * depend on the tile it falls in. */
#if defined(__FMA__) || defined(__FMA4__) || defined(__ARM_FEATURE_FMA)
#define FASTRNN_MADD_float(acc, v, b) fmaf((v), (b), (acc))
#define FASTRNN_MADD_double(acc, v, b) fma((v), (b), (acc))
#else
#define FASTRNN_MADD_float(acc, v, b) ((acc) + (v) * (b))
#define FASTRNN_MADD_double(acc, v, b) ((acc) + (v) * (b))
#endif

/* GCC unrolls a one-vector-wide j loop completely before vectorizing it,
 * then vectorizes the unrolled copy badly (at a small fraction of the
 * loop's speed); keep it a loop. */
#if defined(__GNUC__) && !defined(__clang__)
#define FASTRNN_NO_UNROLL _Pragma("GCC unroll 1")
#else
#define FASTRNN_NO_UNROLL
#endif

/* Elements of type T in one vector register. */
#define FASTRNN_GEMM_VEC(T) ((ptrdiff_t) (FASTRNN_GEMM_VEC_BYTES / sizeof(T)))

/* Rows of B per k block: a full-width panel of B (KB x 2 vectors) is 16 KB. */
#define FASTRNN_GEMM_KB (16384 / (2 * FASTRNN_GEMM_VEC_BYTES))

/* A[r, p] of the tile whose first row is ``a``: no-trans (NN) or transposed (TN). */
#define FASTRNN_A_NN(a, lda, r, p) (a)[(r) * (lda) + (p)]
#define FASTRNN_A_TN(a, lda, r, p) (a)[(p) * (lda) + (r)]

/* One ROWS x NB tile of C over p in [p0, p1); ``a`` points at the tile's row 0. */
#define FASTRNN_GEMM_TILE(NAME, T, ROWS, NB, AT)                                         \
static inline void NAME(ptrdiff_t p0, ptrdiff_t p1,                                      \
                        const T* FASTRNN_RESTRICT a, ptrdiff_t lda,                      \
                        const T* FASTRNN_RESTRICT b, ptrdiff_t ldb,                      \
                        T* FASTRNN_RESTRICT c, ptrdiff_t ldc)                            \
{                                                                                        \
    T acc[ROWS][NB];                                                                     \
    ptrdiff_t r, p, j;                                                                   \
    for (r = 0; r < ROWS; r++)                                                           \
        for (j = 0; j < NB; j++)                                                         \
            acc[r][j] = c[r * ldc + j];                                                  \
    for (p = p0; p < p1; p++) {                                                          \
        const T* bp = b + p * ldb;                                                       \
        for (r = 0; r < ROWS; r++) {                                                     \
            T v = AT(a, lda, r, p);                                                      \
            FASTRNN_NO_UNROLL                                                            \
            for (j = 0; j < NB; j++)                                                     \
                acc[r][j] = FASTRNN_MADD_##T(acc[r][j], v, bp[j]);                       \
        }                                                                                \
    }                                                                                    \
    for (r = 0; r < ROWS; r++)                                                           \
        for (j = 0; j < NB; j++)                                                         \
            c[r * ldc + j] = acc[r][j];                                                  \
}

/* Whether to use 8-row tiles: 16 accumulators fit AVX-512's 32 vector
 * registers, not the 16 of AVX2 and SSE (6-row tiles there). */
#define FASTRNN_GEMM_TILE8 (FASTRNN_GEMM_VEC_BYTES == 64)

/* All m rows of one column panel of width NB: 8-row tiles (with AVX-512),
 * then 6-row tiles, then at most one each of 4, 2 and 1 rows. Eight rows
 * of two vectors are 16 accumulators of AVX-512's 32 registers: more
 * reuse of each loaded panel row than 6-row tiles give, both in the
 * forward's products and in the weight gradients' A^T @ B.
 * ``ASTEP`` is the distance between A's rows of C (lda for NN, 1 for TN). */
#define FASTRNN_GEMM_PANEL(NAME, T, NB, AT, ASTEP)                                       \
FASTRNN_GEMM_TILE(NAME##_8, T, 8, NB, AT)                                                \
FASTRNN_GEMM_TILE(NAME##_6, T, 6, NB, AT)                                                \
FASTRNN_GEMM_TILE(NAME##_4, T, 4, NB, AT)                                                \
FASTRNN_GEMM_TILE(NAME##_2, T, 2, NB, AT)                                                \
FASTRNN_GEMM_TILE(NAME##_1, T, 1, NB, AT)                                                \
static inline void NAME(ptrdiff_t m, ptrdiff_t p0, ptrdiff_t p1,                         \
                        const T* a, ptrdiff_t lda, const T* b, ptrdiff_t ldb,            \
                        T* c, ptrdiff_t ldc)                                             \
{                                                                                        \
    ptrdiff_t i = 0;                                                                     \
    for (; FASTRNN_GEMM_TILE8 && i + 8 <= m; i += 8)                                     \
        NAME##_8(p0, p1, a + i * (ASTEP), lda, b, ldb, c + i * ldc, ldc);                \
    for (; i + 6 <= m; i += 6)                                                           \
        NAME##_6(p0, p1, a + i * (ASTEP), lda, b, ldb, c + i * ldc, ldc);                \
    if (i + 4 <= m) {                                                                    \
        NAME##_4(p0, p1, a + i * (ASTEP), lda, b, ldb, c + i * ldc, ldc);                \
        i += 4;                                                                          \
    }                                                                                    \
    if (i + 2 <= m) {                                                                    \
        NAME##_2(p0, p1, a + i * (ASTEP), lda, b, ldb, c + i * ldc, ldc);                \
        i += 2;                                                                          \
    }                                                                                    \
    if (i < m)                                                                           \
        NAME##_1(p0, p1, a + i * (ASTEP), lda, b, ldb, c + i * ldc, ldc);                \
}

/* Where the column panel of B that starts at column j (width NB) lies, as
 * "pointer, row stride": in B itself (row-major, stride ldb), or in B packed
 * by FASTRNN_PACK_B (the panel's k rows contiguous, NB apart, from j * k). */
#define FASTRNN_B_ROWMAJOR(b, ldb, k, j, NB) (b) + (j), (ldb)
#define FASTRNN_B_PACKED(b, ldb, k, j, NB) (b) + (j) * (k), (NB)

/* The whole product: column panels of 2 vectors, 1 vector, then (if narrower
 * than a vector) 8 and 4 elements, the last columns one by one; each over
 * every k block. BP (FASTRNN_B_ROWMAJOR or _PACKED) says where B's panels are. */
#define FASTRNN_GEMM_ACC(NAME, T, AT, ASTEP, BP)                                         \
FASTRNN_GEMM_PANEL(NAME##_p2v, T, 2 * FASTRNN_GEMM_VEC(T), AT, ASTEP)                    \
FASTRNN_GEMM_PANEL(NAME##_p1v, T, FASTRNN_GEMM_VEC(T), AT, ASTEP)                        \
FASTRNN_GEMM_PANEL(NAME##_p8, T, 8, AT, ASTEP)                                           \
FASTRNN_GEMM_PANEL(NAME##_p4, T, 4, AT, ASTEP)                                           \
FASTRNN_GEMM_PANEL(NAME##_p1, T, 1, AT, ASTEP)                                           \
static void NAME(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,                                  \
                 const T* a, ptrdiff_t lda, const T* b, ptrdiff_t ldb,                   \
                 T* c, ptrdiff_t ldc)                                                    \
{                                                                                        \
    const ptrdiff_t vec = FASTRNN_GEMM_VEC(T);                                           \
    ptrdiff_t j, p0, p1;                                                                 \
    if (m <= 0 || n <= 0 || k <= 0)                                                      \
        return;                                                                          \
    for (p0 = 0; p0 < k; p0 = p1) {                                                      \
        p1 = p0 + FASTRNN_GEMM_KB < k ? p0 + FASTRNN_GEMM_KB : k;                        \
        for (j = 0; j + 2 * vec <= n; j += 2 * vec)                                      \
            NAME##_p2v(m, p0, p1, a, lda, BP(b, ldb, k, j, 2 * vec), c + j, ldc);          \
        if (j + vec <= n) {                                                              \
            NAME##_p1v(m, p0, p1, a, lda, BP(b, ldb, k, j, vec), c + j, ldc);              \
            j += vec;                                                                    \
        }                                                                                \
        if (8 < vec && j + 8 <= n) {                                                     \
            NAME##_p8(m, p0, p1, a, lda, BP(b, ldb, k, j, 8), c + j, ldc);                 \
            j += 8;                                                                      \
        }                                                                                \
        if (4 < vec && j + 4 <= n) {                                                     \
            NAME##_p4(m, p0, p1, a, lda, BP(b, ldb, k, j, 4), c + j, ldc);                 \
            j += 4;                                                                      \
        }                                                                                \
        for (; j < n; j++)                                                               \
            NAME##_p1(m, p0, p1, a, lda, BP(b, ldb, k, j, 1), c + j, ldc);                 \
    }                                                                                    \
}

/* C[m, n] += A[m, k] @ B[k, n] for a few rows (m <= FASTRNN_GEMM_STREAM_ROWS)
 * and a large B (at least FASTRNN_GEMM_STREAM_BYTES): B is read row by
 * row, contiguously, each row used for all m rows of C. The panels above
 * read B's rows ldb apart; with one or two rows of A there is little
 * register reuse to pay for that, and once B outgrows the L2 cache every
 * row of a panel is a cache and TLB miss. With a B that fits in cache the
 * panels stay faster, even for one or two rows: hence both thresholds.
 * Every element is summed in the same order as in the panels. */
#define FASTRNN_GEMM_STREAM_ROWS 2
#define FASTRNN_GEMM_STREAM_BYTES (512 * 1024)
/* Whether C[m, n] += A[m, k] @ B[k, n] (row-major B of type T) streams B. */
#define FASTRNN_GEMM_STREAMS(T, m, n, k)                                                 \
    ((m) <= FASTRNN_GEMM_STREAM_ROWS                                                     \
     && (size_t) (k) * (size_t) (n) * sizeof(T) >= FASTRNN_GEMM_STREAM_BYTES)

#define FASTRNN_GEMM_STREAM(NAME, T)                                                     \
static void NAME(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,                                  \
                 const T* FASTRNN_RESTRICT a, ptrdiff_t lda,                             \
                 const T* FASTRNN_RESTRICT b, ptrdiff_t ldb,                             \
                 T* FASTRNN_RESTRICT c, ptrdiff_t ldc)                                   \
{                                                                                        \
    ptrdiff_t i, p, j;                                                                   \
    for (p = 0; p < k; p++) {                                                            \
        const T* FASTRNN_RESTRICT bp = b + p * ldb;                                      \
        for (i = 0; i < m; i++) {                                                        \
            T v = a[i * lda + p];                                                        \
            T* FASTRNN_RESTRICT ci = c + i * ldc;                                        \
            for (j = 0; j < n; j++)                                                      \
                ci[j] = FASTRNN_MADD_##T(ci[j], v, bp[j]);                               \
        }                                                                                \
    }                                                                                    \
}

FASTRNN_GEMM_STREAM(fastrnn_sgemm_stream, float)
FASTRNN_GEMM_STREAM(fastrnn_dgemm_stream, double)
FASTRNN_GEMM_ACC(fastrnn_sgemm_panels, float, FASTRNN_A_NN, lda, FASTRNN_B_ROWMAJOR)
FASTRNN_GEMM_ACC(fastrnn_dgemm_panels, double, FASTRNN_A_NN, lda, FASTRNN_B_ROWMAJOR)

#define FASTRNN_GEMM_NN(NAME, T, STREAM, PANELS)                                         \
static void NAME(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const T* a, ptrdiff_t lda,       \
                 const T* b, ptrdiff_t ldb, T* c, ptrdiff_t ldc)                         \
{                                                                                        \
    if (m <= 0 || n <= 0 || k <= 0)                                                      \
        return;                                                                          \
    if (FASTRNN_GEMM_STREAMS(T, m, n, k))                                                \
        STREAM(m, n, k, a, lda, b, ldb, c, ldc);                                         \
    else                                                                                 \
        PANELS(m, n, k, a, lda, b, ldb, c, ldc);                                         \
}

FASTRNN_GEMM_NN(fastrnn_sgemm_acc, float, fastrnn_sgemm_stream, fastrnn_sgemm_panels)
FASTRNN_GEMM_NN(fastrnn_dgemm_acc, double, fastrnn_dgemm_stream, fastrnn_dgemm_panels)
FASTRNN_GEMM_ACC(fastrnn_sgemm_tn_acc, float, FASTRNN_A_TN, 1, FASTRNN_B_ROWMAJOR)
FASTRNN_GEMM_ACC(fastrnn_dgemm_tn_acc, double, FASTRNN_A_TN, 1, FASTRNN_B_ROWMAJOR)

/* Packed B. The panels read B's rows ldb apart; when that stride is 4 KB or
 * more (float32 LSTM weights of 256+ units, GRU of 342+), each row of a
 * panel is on a page of its own, and strides that are multiples of 4 KB put
 * all of them in the same few L1 cache sets: every k block of a panel is
 * reloaded from L2 for every tile of rows. A weight matrix that serves a
 * whole time loop is worth copying once into the order the panels read it:
 * panel by panel, each panel's k rows contiguous. With one or two rows the
 * streamed product is better. So pack when B's row stride is at least
 * FASTRNN_GEMM_PACK_MIN_STRIDE bytes and the products have more than
 * FASTRNN_GEMM_STREAM_ROWS rows. The sums are those of the row-major
 * product, term for term: packing moves B, not the arithmetic.
 *
 * fastrnn_?pack_b(k, n, b, ldb, out): out (k * n elements) = B packed.
 * A packed block of columns [j0, j0 + n) of a wider B is a B of its own:
 * pack it separately to multiply by it alone. */
#define FASTRNN_GEMM_PACK_MIN_STRIDE 4096

/* The width of the panel of the product's column loop that starts where
 * ``left`` columns remain (the order of FASTRNN_GEMM_ACC: 2-vector panels,
 * then at most one each of 1 vector, 8 and 4 columns, then single columns). */
static inline ptrdiff_t fastrnn_panel_width(ptrdiff_t left, ptrdiff_t vec)
{
    if (left >= 2 * vec)
        return 2 * vec;
    if (left >= vec)
        return vec;
    if (8 < vec && left >= 8)
        return 8;
    if (4 < vec && left >= 4)
        return 4;
    return 1;
}

#define FASTRNN_PACK_B(NAME, T)                                                          \
static void NAME(ptrdiff_t k, ptrdiff_t n, const T* FASTRNN_RESTRICT b, ptrdiff_t ldb,  \
                 T* FASTRNN_RESTRICT out)                                                \
{                                                                                        \
    ptrdiff_t j, nb, p, jj;                                                              \
    for (j = 0; j < n; j += nb) {                                                        \
        nb = fastrnn_panel_width(n - j, FASTRNN_GEMM_VEC(T));                            \
        for (p = 0; p < k; p++)                                                          \
            for (jj = 0; jj < nb; jj++)                                                  \
                out[j * k + p * nb + jj] = b[p * ldb + j + jj];                          \
    }                                                                                    \
}

FASTRNN_PACK_B(fastrnn_spack_b, float)
FASTRNN_PACK_B(fastrnn_dpack_b, double)
FASTRNN_GEMM_ACC(fastrnn_sgemm_packed_acc_, float, FASTRNN_A_NN, lda, FASTRNN_B_PACKED)
FASTRNN_GEMM_ACC(fastrnn_dgemm_packed_acc_, double, FASTRNN_A_NN, lda, FASTRNN_B_PACKED)

/* C[m, n] += A[m, k] @ B[k, n] with B packed by fastrnn_?pack_b(k, n, ...). */
static inline void fastrnn_sgemm_packed_acc(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                                            const float* a, ptrdiff_t lda, const float* bp,
                                            float* c, ptrdiff_t ldc)
{
    fastrnn_sgemm_packed_acc_(m, n, k, a, lda, bp, 0, c, ldc);
}

static inline void fastrnn_dgemm_packed_acc(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                                            const double* a, ptrdiff_t lda, const double* bp,
                                            double* c, ptrdiff_t ldc)
{
    fastrnn_dgemm_packed_acc_(m, n, k, a, lda, bp, 0, c, ldc);
}

#endif
