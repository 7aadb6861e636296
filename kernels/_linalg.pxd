# cython: language_level=3
"""Row-major products and activations for the Cython kernels.

The products are the register-blocked loops of ``_smallgemm.h`` (never
BLAS), on row-major matrices with explicit leading dimensions (row
strides), so a kernel can multiply column blocks of the weights and strided
time slices of ``(B, T, .)`` buffers without copying. Each element of a
product is summed in the same order whatever rows or columns share the
call, so results do not depend on how a call is cut into batch slices.
"""
from libc.math cimport exp, tanh

ctypedef fused floating:
    float
    double

# Activation codes (_activations.h): those of fastrnn.activations, which the
# extension checks at import; and d act / da from the output y = act(a).
cdef extern from "_activations.h" nogil:
    enum:
        LINEAR "FASTRNN_LINEAR"
        TANH "FASTRNN_TANH"
        SIGMOID "FASTRNN_SIGMOID"
        RELU "FASTRNN_RELU"
    float derivative_f32 "fastrnn_derivative_float"(int code, float y)
    double derivative_f64 "fastrnn_derivative_double"(int code, double y)


# C += A @ B and C += A^T @ B in register-blocked loops (_smallgemm.h).
cdef extern from "_simd.h" nogil:
    void sgemm_acc "fastrnn_k_sgemm_acc"(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                                         const float* a, Py_ssize_t lda, const float* b,
                                         Py_ssize_t ldb, float* c, Py_ssize_t ldc)
    void dgemm_acc "fastrnn_k_dgemm_acc"(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                                         const double* a, Py_ssize_t lda, const double* b,
                                         Py_ssize_t ldb, double* c, Py_ssize_t ldc)
    void sgemm_tn_acc "fastrnn_k_sgemm_tn_acc"(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                                               const float* a, Py_ssize_t lda,
                                               const float* b, Py_ssize_t ldb, float* c,
                                               Py_ssize_t ldc)
    void dgemm_tn_acc "fastrnn_k_dgemm_tn_acc"(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                                               const double* a, Py_ssize_t lda,
                                               const double* b, Py_ssize_t ldb, double* c,
                                               Py_ssize_t ldc)
    # B packed once for many products (weights that serve a whole time loop)
    enum:
        PACK_MIN_STRIDE "FASTRNN_GEMM_PACK_MIN_STRIDE"
        STREAM_ROWS "FASTRNN_GEMM_STREAM_ROWS"
    void spack_b "fastrnn_k_spack_b"(Py_ssize_t k, Py_ssize_t n, const float* b, Py_ssize_t ldb,
                                     float* out)
    void dpack_b "fastrnn_k_dpack_b"(Py_ssize_t k, Py_ssize_t n, const double* b,
                                     Py_ssize_t ldb, double* out)
    void sgemm_packed_acc "fastrnn_k_sgemm_packed_acc"(Py_ssize_t m, Py_ssize_t n,
                                                       Py_ssize_t k, const float* a,
                                                       Py_ssize_t lda, const float* bp,
                                                       float* c, Py_ssize_t ldc)
    void dgemm_packed_acc "fastrnn_k_dgemm_packed_acc"(Py_ssize_t m, Py_ssize_t n,
                                                       Py_ssize_t k, const double* a,
                                                       Py_ssize_t lda, const double* bp,
                                                       double* c, Py_ssize_t ldc)


# float32 tanh and sigmoid: the rational approximation of _fastmath.h (its
# error bound is stated there), in C so that the array loops vectorize.
# float64 keeps libm: the tests ask for 1e-10 there.
cdef extern from "_simd.h" nogil:
    float tanh_f32 "fastrnn_tanh_f32"(float x)
    void tanh_f32_array "fastrnn_k_tanh_f32_array"(const float* a, float* out, Py_ssize_t n)
    void sigmoid_f32_array "fastrnn_k_sigmoid_f32_array"(const float* a, float* out,
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
    """d act(a) / da in terms of the output ``y = act(a)`` (``_activations.h``)."""
    if floating is float:
        return derivative_f32(code, y)
    else:
        return derivative_f64(code, y)


cdef inline void mm_acc(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const floating* a,
                        Py_ssize_t lda, const floating* b, Py_ssize_t ldb, floating* c,
                        Py_ssize_t ldc) noexcept nogil:
    """``C[m, n] += A[m, k] @ B[k, n]`` (A, B and C must not overlap)."""
    if floating is float:
        sgemm_acc(m, n, k, a, lda, b, ldb, c, ldc)
    else:
        dgemm_acc(m, n, k, a, lda, b, ldb, c, ldc)


cdef inline void mm_tn_acc(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const floating* a,
                           Py_ssize_t lda, const floating* b, Py_ssize_t ldb, floating* c,
                           Py_ssize_t ldc) noexcept nogil:
    """``C[m, n] += A.T @ B`` with A stored (k, m)."""
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
    ``mm_acc``, term for term."""
    if floating is float:
        sgemm_packed_acc(m, n, k, a, lda, bp, c, ldc)
    else:
        dgemm_packed_acc(m, n, k, a, lda, bp, c, ldc)
