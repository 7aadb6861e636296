# cython: language_level=3
"""Small row-major linear algebra for the Cython kernels.

``mm`` computes ``C = beta * C + op(A) @ op(B)`` on row-major matrices with
explicit leading dimensions (row strides), so a kernel can multiply column
blocks of the weights and strided time slices of ``(B, T, .)`` buffers
without copying. Small products run as plain loops (no BLAS call overhead);
larger ones call ``sgemm``/``dgemm`` from ``scipy.linalg.cython_blas``.
"""
from libc.math cimport exp, tanh
from scipy.linalg.cython_blas cimport dgemm, sgemm

ctypedef fused floating:
    float
    double

# Activation codes, as in fastrnn.activations.
cdef enum:
    LINEAR = 0
    TANH = 1
    SIGMOID = 2
    RELU = 3

# Products with at most SMALL_PRODUCT multiply-adds run as loops, not BLAS.
# Up to SERIAL_PRODUCT they run as several BLAS calls of about SERIAL_BLOCK
# each (at least 8 rows or columns), which OpenBLAS keeps on one thread:
# measured on a busy 2-core machine, one threaded call in a call of a few
# milliseconds (worker wake-up, then workers spinning while the time loop
# runs) made the whole call 5-10x slower. Bigger products, and those that
# do not split well, are one BLAS call, threaded as BLAS decides.
cdef enum:
    SMALL_PRODUCT = 32768
    SERIAL_BLOCK = 131072
    SERIAL_PRODUCT = 134217728


# C += A @ B and C += A^T @ B in register-blocked loops (_smallgemm.h): the
# products of the batch slices, which run on several threads at once and
# must not call a (possibly threaded) BLAS. Each element is summed in the
# same order whatever rows or columns share the call, so results do not
# depend on the slicing.
cdef extern from "_smallgemm.h" nogil:
    void sgemm_acc "fastrnn_sgemm_acc"(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                                       const float* a, Py_ssize_t lda, const float* b,
                                       Py_ssize_t ldb, float* c, Py_ssize_t ldc)
    void dgemm_acc "fastrnn_dgemm_acc"(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                                       const double* a, Py_ssize_t lda, const double* b,
                                       Py_ssize_t ldb, double* c, Py_ssize_t ldc)
    void sgemm_tn_acc "fastrnn_sgemm_tn_acc"(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                                             const float* a, Py_ssize_t lda,
                                             const float* b, Py_ssize_t ldb, float* c,
                                             Py_ssize_t ldc)
    void dgemm_tn_acc "fastrnn_dgemm_tn_acc"(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                                             const double* a, Py_ssize_t lda,
                                             const double* b, Py_ssize_t ldb, double* c,
                                             Py_ssize_t ldc)
    # B packed once for many products (weights that serve a whole time loop)
    enum:
        PACK_MIN_STRIDE "FASTRNN_GEMM_PACK_MIN_STRIDE"
        STREAM_ROWS "FASTRNN_GEMM_STREAM_ROWS"
    void spack_b "fastrnn_spack_b"(Py_ssize_t k, Py_ssize_t n, const float* b, Py_ssize_t ldb,
                                   float* out)
    void dpack_b "fastrnn_dpack_b"(Py_ssize_t k, Py_ssize_t n, const double* b,
                                   Py_ssize_t ldb, double* out)
    void sgemm_packed_acc "fastrnn_sgemm_packed_acc"(Py_ssize_t m, Py_ssize_t n,
                                                     Py_ssize_t k, const float* a,
                                                     Py_ssize_t lda, const float* bp,
                                                     float* c, Py_ssize_t ldc)
    void dgemm_packed_acc "fastrnn_dgemm_packed_acc"(Py_ssize_t m, Py_ssize_t n,
                                                     Py_ssize_t k, const double* a,
                                                     Py_ssize_t lda, const double* bp,
                                                     double* c, Py_ssize_t ldc)


# float32 tanh and sigmoid: a rational approximation (max abs error 1e-7),
# in C so the array loops vectorize (see _fastmath.h). float64 keeps libm:
# the tests ask for 1e-10 there.
cdef extern from "_fastmath.h" nogil:
    float tanh_f32 "fastrnn_tanh_f32"(float x)
    void tanh_f32_array "fastrnn_tanh_f32_array"(const float* a, float* out, Py_ssize_t n)
    void sigmoid_f32_array "fastrnn_sigmoid_f32_array"(const float* a, float* out,
                                                       Py_ssize_t n)


cdef inline floating activate(int code, floating a) noexcept nogil:
    cdef floating e
    if code == TANH:
        if floating is float:
            return tanh_f32(a)
        else:
            return tanh(a)
    if code == SIGMOID:
        if floating is float:
            return 0.5 + 0.5 * tanh_f32(0.5 * a)
        else:
            # Split by sign so exp never overflows, as the reference does.
            e = exp(-a if a >= 0 else a)
            return 1 / (1 + e) if a >= 0 else e / (1 + e)
    if code == RELU:
        return a if a > 0 else 0
    return a


cdef inline void activate_array(int code, const floating* a, floating* out,
                                Py_ssize_t n) noexcept nogil:
    """``out[:n] = act(a[:n])`` (``out`` may be ``a``): one branch, then a plain loop."""
    cdef Py_ssize_t j
    if floating is float:
        if code == TANH:
            tanh_f32_array(a, out, n)
            return
        if code == SIGMOID:
            sigmoid_f32_array(a, out, n)
            return
    if code == TANH:
        for j in range(n):
            out[j] = activate(TANH, a[j])
    elif code == SIGMOID:
        for j in range(n):
            out[j] = activate(SIGMOID, a[j])
    elif code == RELU:
        for j in range(n):
            out[j] = a[j] if a[j] > 0 else 0
    elif out != a:
        for j in range(n):
            out[j] = a[j]


cdef inline floating derivative(int code, floating y) noexcept nogil:
    """d act(a) / da in terms of the output ``y = act(a)``."""
    if code == TANH:
        return 1 - y * y
    if code == SIGMOID:
        return y * (1 - y)
    if code == RELU:
        return 1 if y > 0 else 0
    return 1


cdef inline void gemm(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                      const floating* a, Py_ssize_t lda, const floating* b, Py_ssize_t ldb,
                      floating beta, floating* c, Py_ssize_t ldc) noexcept nogil:
    """One BLAS call for the row-major product of ``mm`` (sizes all positive)."""
    # Column-major BLAS sees each row-major matrix transposed:
    # C.T = op(B).T @ op(A).T, so swap the operands.
    cdef char ta = b'T' if trans_b else b'N'
    cdef char tb = b'T' if trans_a else b'N'
    cdef int im = <int> n, in_ = <int> m, ik = <int> k
    cdef int ilda = <int> ldb, ildb = <int> lda, ildc = <int> ldc
    cdef floating one = 1
    if floating is float:
        sgemm(&ta, &tb, &im, &in_, &ik, &one, <float*> b, &ilda, <float*> a, &ildb,
              &beta, c, &ildc)
    else:
        dgemm(&ta, &tb, &im, &in_, &ik, &one, <double*> b, &ilda, <double*> a, &ildb,
              &beta, c, &ildc)


cdef inline void mm(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                    const floating* a, Py_ssize_t lda, const floating* b, Py_ssize_t ldb,
                    floating beta, floating* c, Py_ssize_t ldc) noexcept nogil:
    """Row-major ``C[m, n] = beta * C + op(A)[m, k] @ op(B)[k, n]``.

    ``beta`` is 0 (overwrite; C is never read) or 1 (accumulate).
    ``op(A)`` is ``A`` stored (m, k), or with ``trans_a`` ``A.T`` with A
    stored (k, m); likewise ``op(B)``.
    """
    cdef Py_ssize_t i, j, p, block
    cdef floating s, aip
    if m <= 0 or n <= 0:
        return
    if k > 0 and m * n * k > SMALL_PRODUCT:
        # Blocks small enough to stay single-threaded: column blocks of op(B)
        # and C when A is small (each call packs its own slice of B), else
        # row blocks of op(A) and C when B is small, else one call.
        if m * n * k > SERIAL_PRODUCT or (8 * m * k > SERIAL_BLOCK
                                          and 8 * n * k > SERIAL_BLOCK):
            gemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc)
        elif 8 * m * k <= SERIAL_BLOCK:
            block = SERIAL_BLOCK // (m * k)
            j = 0
            while j < n:
                gemm(trans_a, trans_b, m, block if j + block <= n else n - j, k, a, lda,
                     b + (j * ldb if trans_b else j), ldb, beta, c + j, ldc)
                j += block
        else:
            block = SERIAL_BLOCK // (n * k)
            i = 0
            while i < m:
                gemm(trans_a, trans_b, block if i + block <= m else m - i, n, k,
                     a + (i if trans_a else i * lda), lda, b, ldb, beta, c + i * ldc, ldc)
                i += block
        return
    if beta == 0:
        for i in range(m):
            for j in range(n):
                c[i * ldc + j] = 0
    if k <= 0:
        return
    if not trans_a and not trans_b:
        for i in range(m):
            for p in range(k):
                aip = a[i * lda + p]
                for j in range(n):
                    c[i * ldc + j] += aip * b[p * ldb + j]
    elif not trans_a and trans_b:
        for i in range(m):
            for j in range(n):
                s = 0
                for p in range(k):
                    s = s + a[i * lda + p] * b[j * ldb + p]
                c[i * ldc + j] += s
    elif trans_a and not trans_b:
        for p in range(k):
            for i in range(m):
                aip = a[p * lda + i]
                for j in range(n):
                    c[i * ldc + j] += aip * b[p * ldb + j]
    else:
        for i in range(m):
            for j in range(n):
                s = 0
                for p in range(k):
                    s = s + a[p * lda + i] * b[j * ldb + p]
                c[i * ldc + j] += s


cdef inline void mm_acc(bint hand, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                        const floating* a, Py_ssize_t lda, const floating* b, Py_ssize_t ldb,
                        floating* c, Py_ssize_t ldc) noexcept nogil:
    """``C[m, n] += A[m, k] @ B[k, n]``: ``mm`` (loops or BLAS by size), or with
    ``hand`` the register-blocked loops of ``_smallgemm.h``, which never call
    BLAS (what the slice threads use). A, B and C must not overlap."""
    if not hand:
        mm(False, False, m, n, k, a, lda, b, ldb, <floating> 1, c, ldc)
    elif floating is float:
        sgemm_acc(m, n, k, a, lda, b, ldb, c, ldc)
    else:
        dgemm_acc(m, n, k, a, lda, b, ldb, c, ldc)


cdef inline void mm_tn_acc(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const floating* a,
                           Py_ssize_t lda, const floating* b, Py_ssize_t ldb, floating* c,
                           Py_ssize_t ldc) noexcept nogil:
    """``C[m, n] += A.T @ B`` with A stored (k, m): the loops of ``_smallgemm.h``."""
    if floating is float:
        sgemm_tn_acc(m, n, k, a, lda, b, ldb, c, ldc)
    else:
        dgemm_tn_acc(m, n, k, a, lda, b, ldb, c, ldc)


cdef inline bint packs(floating* dtype_tag, Py_ssize_t m, Py_ssize_t ldb) noexcept nogil:
    """Whether products of ``m`` rows by a B of row stride ``ldb`` gain from packing
    B (``_smallgemm.h``, "Packed B"); ``dtype_tag`` only picks the item size."""
    return m > STREAM_ROWS and ldb * sizeof(floating) >= PACK_MIN_STRIDE


cdef inline void pack_b(Py_ssize_t k, Py_ssize_t n, const floating* b, Py_ssize_t ldb,
                        floating* out) noexcept nogil:
    """``out`` (k * n items) = B[k, n] (row stride ``ldb``) in the order the
    register-blocked products read it (for ``mm_packed_acc``)."""
    if floating is float:
        spack_b(k, n, b, ldb, out)
    else:
        dpack_b(k, n, b, ldb, out)


cdef inline void mm_packed_acc(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const floating* a,
                               Py_ssize_t lda, const floating* bp, floating* c,
                               Py_ssize_t ldc) noexcept nogil:
    """``C[m, n] += A[m, k] @ B[k, n]`` with B packed by ``pack_b``: the same sums as
    ``mm_acc(True, ...)``, term for term."""
    if floating is float:
        sgemm_packed_acc(m, n, k, a, lda, bp, c, ldc)
    else:
        dgemm_packed_acc(m, n, k, a, lda, bp, c, ldc)
