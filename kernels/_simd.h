/* The Cython kernels' products, float32 activations, fused float32 forward
 * gate math and step gradients, chosen at run time for the CPU's widest
 * instruction set.
 *
 * Three implementations are compiled into the one extension, whatever flags
 * the build uses (no -march needed):
 *
 *     FASTRNN_ISA_BASELINE  the plain C of _smallgemm.h, _fastmath.h and
 *                           _gates.h at the compiler's baseline (SSE2 on
 *                           x86-64; any CPU, any architecture);
 *     FASTRNN_ISA_AVX2      AVX2 + FMA intrinsics (_simd_isa.h);
 *     FASTRNN_ISA_AVX512    AVX-512F intrinsics (_simd_isa.h).
 *
 * The intrinsics ones are compiled inside target-pragma regions (GCC and
 * Clang on x86-64; other compilers and architectures get the baseline
 * only). fastrnn_isa_select() picks the widest the CPU supports, or a
 * narrower one asked for (FASTRNN_ISA, read by the extension at import);
 * the fastrnn_k_* wrappers call the chosen row of the table. The choice
 * changes only while no kernel runs (at import, or from a test hook).
 *
 * The AVX2 and AVX-512 products give the same bits as each other (and as
 * _smallgemm.h built with FMA); the baseline, without FMA, rounds each
 * product before its sum. The float32 tanh and sigmoid give the same bits
 * at every level.
 */
#ifndef FASTRNN_SIMD_H
#define FASTRNN_SIMD_H

#include <stddef.h>
#include <string.h>

#include "_fastmath.h"
#include "_gates.h"
#include "_restrict.h"
#include "_smallgemm.h"

#define FASTRNN_ISA_BASELINE 0
#define FASTRNN_ISA_AVX2 1
#define FASTRNN_ISA_AVX512 2
#define FASTRNN_ISA_LEVELS 3

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define FASTRNN_HAVE_X86_SIMD 1
#include <immintrin.h>
#else
#define FASTRNN_HAVE_X86_SIMD 0
#endif

typedef void (*fastrnn_sgemm_fn)(ptrdiff_t, ptrdiff_t, ptrdiff_t, const float*, ptrdiff_t,
                                 const float*, ptrdiff_t, float*, ptrdiff_t);
typedef void (*fastrnn_dgemm_fn)(ptrdiff_t, ptrdiff_t, ptrdiff_t, const double*, ptrdiff_t,
                                 const double*, ptrdiff_t, double*, ptrdiff_t);
typedef void (*fastrnn_spack_fn)(ptrdiff_t, ptrdiff_t, const float*, ptrdiff_t, float*);
typedef void (*fastrnn_dpack_fn)(ptrdiff_t, ptrdiff_t, const double*, ptrdiff_t, double*);
typedef void (*fastrnn_sgemm_packed_fn)(ptrdiff_t, ptrdiff_t, ptrdiff_t, const float*,
                                        ptrdiff_t, const float*, float*, ptrdiff_t);
typedef void (*fastrnn_dgemm_packed_fn)(ptrdiff_t, ptrdiff_t, ptrdiff_t, const double*,
                                        ptrdiff_t, const double*, double*, ptrdiff_t);
typedef void (*fastrnn_array_fn)(const float*, float*, ptrdiff_t);
typedef void (*fastrnn_lstm_gates_fn)(ptrdiff_t, float*, const float*, float*, float*);
typedef void (*fastrnn_gru_gates_fn)(ptrdiff_t, float*, const float*, const float*, float*,
                                     float*);
typedef void (*fastrnn_lstm_grads_f32_fn)(ptrdiff_t, int, int, const float*, const float*,
                                          const float*, const float*, float*, float*, float*);
typedef void (*fastrnn_lstm_grads_f64_fn)(ptrdiff_t, int, int, const double*, const double*,
                                          const double*, const double*, double*, double*,
                                          double*);
typedef void (*fastrnn_gru_grads_f32_fn)(ptrdiff_t, int, int, int, const float*, const float*,
                                         const float*, const float*, float*, float*, float*);
typedef void (*fastrnn_gru_grads_f64_fn)(ptrdiff_t, int, int, int, const double*,
                                         const double*, const double*, const double*, double*,
                                         double*, double*);

/* One instruction set's implementations (the contracts: _smallgemm.h,
 * _fastmath.h, _gates.h). */
typedef struct {
    fastrnn_sgemm_fn sgemm_acc;
    fastrnn_dgemm_fn dgemm_acc;
    fastrnn_sgemm_fn sgemm_tn_acc;
    fastrnn_dgemm_fn dgemm_tn_acc;
    fastrnn_spack_fn spack_b;
    fastrnn_dpack_fn dpack_b;
    fastrnn_sgemm_packed_fn sgemm_packed_acc;
    fastrnn_dgemm_packed_fn dgemm_packed_acc;
    fastrnn_array_fn tanh_f32_array;
    fastrnn_array_fn sigmoid_f32_array;
    fastrnn_lstm_gates_fn lstm_gates_f32;
    fastrnn_gru_gates_fn gru_gates_f32;
    fastrnn_lstm_grads_f32_fn lstm_grads_tanh_sigmoid_f32;
    fastrnn_lstm_grads_f64_fn lstm_grads_tanh_sigmoid_f64;
    fastrnn_lstm_grads_f32_fn lstm_grads_f32;
    fastrnn_lstm_grads_f64_fn lstm_grads_f64;
    fastrnn_gru_grads_f32_fn gru_grads_tanh_sigmoid_f32;
    fastrnn_gru_grads_f64_fn gru_grads_tanh_sigmoid_f64;
    fastrnn_gru_grads_f32_fn gru_grads_f32;
    fastrnn_gru_grads_f64_fn gru_grads_f64;
} fastrnn_isa_kernels;

static const fastrnn_isa_kernels fastrnn_kernels_baseline = {
    fastrnn_sgemm_acc, fastrnn_dgemm_acc, fastrnn_sgemm_tn_acc, fastrnn_dgemm_tn_acc,
    fastrnn_spack_b, fastrnn_dpack_b, fastrnn_sgemm_packed_acc, fastrnn_dgemm_packed_acc,
    fastrnn_tanh_f32_array, fastrnn_sigmoid_f32_array,
    fastrnn_lstm_gates_f32, fastrnn_gru_gates_f32,
    fastrnn_lstm_step_grads_tanh_sigmoid_f32, fastrnn_lstm_step_grads_tanh_sigmoid_f64,
    fastrnn_lstm_step_grads_f32, fastrnn_lstm_step_grads_f64,
    fastrnn_gru_step_grads_tanh_sigmoid_f32, fastrnn_gru_step_grads_tanh_sigmoid_f64,
    fastrnn_gru_step_grads_f32, fastrnn_gru_step_grads_f64,
};

#if FASTRNN_HAVE_X86_SIMD

/* Compile what follows, up to FR_TARGET_END, for AVX2 + FMA or AVX-512F. */
#if defined(__clang__)
#define FR_TARGET_AVX2                                                                   \
    _Pragma("clang attribute push(__attribute__((target(\"avx2,fma\"))), apply_to = function)")
#define FR_TARGET_AVX512                                                                 \
    _Pragma("clang attribute push(__attribute__((target(\"avx512f,avx2,fma\"))), \
apply_to = function)")
#define FR_TARGET_END _Pragma("clang attribute pop")
#else
#define FR_TARGET_AVX2 _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma\")")
#define FR_TARGET_AVX512                                                                 \
    _Pragma("GCC push_options") _Pragma("GCC target(\"avx512f,avx2,fma\")")
#define FR_TARGET_END _Pragma("GCC pop_options")
#endif

/* The vector operations _simd_isa.h is written in, for AVX2 + FMA. */
#define FR_ISA avx2
#define FR_WIDE 0
#define FR_ACT512 0 /* the activations 8 float32 at a time (AVX2) */
#define FR_V_float __m256
#define FR_L_float ((ptrdiff_t) 8)
#define FR_M_float __m256i
#define FR_MASK_float(n) \
    _mm256_cmpgt_epi32(_mm256_set1_epi32((int) (n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define FR_LOAD_float(p) _mm256_loadu_ps(p)
#define FR_STORE_float(p, v) _mm256_storeu_ps((p), (v))
#define FR_LOADM_float(p, m) _mm256_maskload_ps((p), (m))
#define FR_STOREM_float(p, m, v) _mm256_maskstore_ps((p), (m), (v))
#define FR_SET1_float(x) _mm256_set1_ps(x)
#define FR_FMA_float(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define FR_V_double __m256d
#define FR_L_double ((ptrdiff_t) 4)
#define FR_M_double __m256i
#define FR_MASK_double(n) \
    _mm256_cmpgt_epi64(_mm256_set1_epi64x((long long) (n)), _mm256_setr_epi64x(0, 1, 2, 3))
#define FR_LOAD_double(p) _mm256_loadu_pd(p)
#define FR_STORE_double(p, v) _mm256_storeu_pd((p), (v))
#define FR_LOADM_double(p, m) _mm256_maskload_pd((p), (m))
#define FR_STOREM_double(p, m, v) _mm256_maskstore_pd((p), (m), (v))
#define FR_SET1_double(x) _mm256_set1_pd(x)
#define FR_FMA_double(a, b, c) _mm256_fmadd_pd((a), (b), (c))

FR_TARGET_AVX2
#include "_simd_isa.h"
FR_TARGET_END

/* The same for AVX-512F: masks are the k registers. */
#define FR_ISA avx512
#define FR_WIDE 1
#define FR_ACT512 1 /* and 16 at a time (AVX-512F) */
#define FR_V_float __m512
#define FR_L_float ((ptrdiff_t) 16)
#define FR_M_float __mmask16
#define FR_MASK_float(n) ((__mmask16) ((1u << (n)) - 1u))
#define FR_LOAD_float(p) _mm512_loadu_ps(p)
#define FR_STORE_float(p, v) _mm512_storeu_ps((p), (v))
#define FR_LOADM_float(p, m) _mm512_maskz_loadu_ps((m), (p))
#define FR_STOREM_float(p, m, v) _mm512_mask_storeu_ps((p), (m), (v))
#define FR_SET1_float(x) _mm512_set1_ps(x)
#define FR_FMA_float(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define FR_V_double __m512d
#define FR_L_double ((ptrdiff_t) 8)
#define FR_M_double __mmask8
#define FR_MASK_double(n) ((__mmask8) ((1u << (n)) - 1u))
#define FR_LOAD_double(p) _mm512_loadu_pd(p)
#define FR_STORE_double(p, v) _mm512_storeu_pd((p), (v))
#define FR_LOADM_double(p, m) _mm512_maskz_loadu_pd((m), (p))
#define FR_STOREM_double(p, m, v) _mm512_mask_storeu_pd((p), (m), (v))
#define FR_SET1_double(x) _mm512_set1_pd(x)
#define FR_FMA_double(a, b, c) _mm512_fmadd_pd((a), (b), (c))

FR_TARGET_AVX512
#include "_simd_isa.h"
FR_TARGET_END

/* For tests on machines without AVX-512: the AVX-512 template (32 registers,
 * tiles of up to 12 rows, 16 float lanes, bit masks) over plain C vectors of
 * 16 floats / 8 doubles, each lane an fmaf/fma (one rounding, as the FMA
 * instructions), inside the AVX2 region (the activations use AVX2). Slow,
 * never dispatched; fastrnn_isa_emulate_avx512() selects it, and its results
 * must be the AVX2 level's bits (tests/test_isa_dispatch.py). */
typedef struct { float v[16]; } fastrnn_emu_ps;
typedef struct { double v[8]; } fastrnn_emu_pd;
#define FASTRNN_EMU_OPS(V, T, L, FMA)                                                    \
    static inline V V##_load(const T* p) { V r; memcpy(r.v, p, sizeof r.v); return r; } \
    static inline void V##_store(T* p, V x) { memcpy(p, x.v, sizeof x.v); }              \
    static inline V V##_loadm(const T* p, unsigned m)                                    \
    {                                                                                    \
        V r;                                                                             \
        for (int i = 0; i < L; i++)                                                      \
            r.v[i] = (m >> i) & 1u ? p[i] : (T) 0;                                       \
        return r;                                                                        \
    }                                                                                    \
    static inline void V##_storem(T* p, unsigned m, V x)                                 \
    {                                                                                    \
        for (int i = 0; i < L; i++)                                                      \
            if ((m >> i) & 1u)                                                           \
                p[i] = x.v[i];                                                           \
    }                                                                                    \
    static inline V V##_set1(T x)                                                        \
    {                                                                                    \
        V r;                                                                             \
        for (int i = 0; i < L; i++)                                                      \
            r.v[i] = x;                                                                  \
        return r;                                                                        \
    }                                                                                    \
    static inline V V##_fma(V a, V b, V c)                                               \
    {                                                                                    \
        V r;                                                                             \
        for (int i = 0; i < L; i++)                                                      \
            r.v[i] = FMA(a.v[i], b.v[i], c.v[i]);                                        \
        return r;                                                                        \
    }
FASTRNN_EMU_OPS(fastrnn_emu_ps, float, 16, fmaf)
FASTRNN_EMU_OPS(fastrnn_emu_pd, double, 8, fma)

#define FR_ISA avx512emu
#define FR_WIDE 1
#define FR_ACT512 0
#define FR_V_float fastrnn_emu_ps
#define FR_L_float ((ptrdiff_t) 16)
#define FR_M_float unsigned
#define FR_MASK_float(n) ((1u << (n)) - 1u)
#define FR_LOAD_float(p) fastrnn_emu_ps_load(p)
#define FR_STORE_float(p, v) fastrnn_emu_ps_store((p), (v))
#define FR_LOADM_float(p, m) fastrnn_emu_ps_loadm((p), (m))
#define FR_STOREM_float(p, m, v) fastrnn_emu_ps_storem((p), (m), (v))
#define FR_SET1_float(x) fastrnn_emu_ps_set1(x)
#define FR_FMA_float(a, b, c) fastrnn_emu_ps_fma((a), (b), (c))
#define FR_V_double fastrnn_emu_pd
#define FR_L_double ((ptrdiff_t) 8)
#define FR_M_double unsigned
#define FR_MASK_double(n) ((1u << (n)) - 1u)
#define FR_LOAD_double(p) fastrnn_emu_pd_load(p)
#define FR_STORE_double(p, v) fastrnn_emu_pd_store((p), (v))
#define FR_LOADM_double(p, m) fastrnn_emu_pd_loadm((p), (m))
#define FR_STOREM_double(p, m, v) fastrnn_emu_pd_storem((p), (m), (v))
#define FR_SET1_double(x) fastrnn_emu_pd_set1(x)
#define FR_FMA_double(a, b, c) fastrnn_emu_pd_fma((a), (b), (c))

FR_TARGET_AVX2
#include "_simd_isa.h"
FR_TARGET_END

#endif /* FASTRNN_HAVE_X86_SIMD */

/* Level ``isa``'s name, as FASTRNN_ISA spells it. */
static const char* fastrnn_isa_name(int isa)
{
    static const char* const names[FASTRNN_ISA_LEVELS] = {"baseline", "avx2", "avx512"};
    return isa >= 0 && isa < FASTRNN_ISA_LEVELS ? names[isa] : "";
}

/* Whether this CPU (and its OS, which must save the wider registers) runs
 * level ``isa``, and this build has it. */
static int fastrnn_isa_supported(int isa)
{
    if (isa == FASTRNN_ISA_BASELINE)
        return 1;
#if FASTRNN_HAVE_X86_SIMD
    __builtin_cpu_init();
    if (isa == FASTRNN_ISA_AVX2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (isa == FASTRNN_ISA_AVX512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2")
               && __builtin_cpu_supports("fma");
#endif
    return 0;
}

/* The widest level this CPU runs. */
static int fastrnn_isa_widest(void)
{
    int isa = FASTRNN_ISA_LEVELS - 1;
    while (isa > FASTRNN_ISA_BASELINE && !fastrnn_isa_supported(isa))
        isa--;
    return isa;
}

static const fastrnn_isa_kernels* fastrnn_k = &fastrnn_kernels_baseline;
static int fastrnn_isa_active = FASTRNN_ISA_BASELINE;

/* Make level ``isa`` the one the wrappers below call: 0, or -1 (nothing
 * changed) when the CPU or the build lacks it. */
static int fastrnn_isa_select(int isa)
{
    if (isa < 0 || isa >= FASTRNN_ISA_LEVELS || !fastrnn_isa_supported(isa))
        return -1;
#if FASTRNN_HAVE_X86_SIMD
    if (isa == FASTRNN_ISA_AVX512)
        fastrnn_k = &fastrnn_kernels_avx512;
    else if (isa == FASTRNN_ISA_AVX2)
        fastrnn_k = &fastrnn_kernels_avx2;
    else
#endif
        fastrnn_k = &fastrnn_kernels_baseline;
    fastrnn_isa_active = isa;
    return 0;
}

/* Run the AVX-512 template emulated on AVX2 (see above; tests only): 0, or -1
 * when the CPU lacks AVX2 or this build has no x86 levels. fastrnn_isa_select
 * leaves it. */
static int fastrnn_isa_emulate_avx512(void)
{
#if FASTRNN_HAVE_X86_SIMD
    if (fastrnn_isa_supported(FASTRNN_ISA_AVX2)) {
        fastrnn_k = &fastrnn_kernels_avx512emu;
        return 0;
    }
#endif
    return -1;
}

/* The wrappers the Cython code calls (_linalg.pxd, _lstm.pxi, _gru.pxi). */
#define FASTRNN_FORWARD(RET, NAME, FIELD, PARAMS, ARGS) \
    static inline RET NAME PARAMS { fastrnn_k->FIELD ARGS; }

#define FASTRNN_FORWARD_GEMM(NAME, FIELD, T)                                             \
    FASTRNN_FORWARD(void, NAME, FIELD,                                                   \
                    (ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const T* a, ptrdiff_t lda,   \
                     const T* b, ptrdiff_t ldb, T* c, ptrdiff_t ldc),                    \
                    (m, n, k, a, lda, b, ldb, c, ldc))
#define FASTRNN_FORWARD_PACK(NAME, FIELD, T)                                             \
    FASTRNN_FORWARD(void, NAME, FIELD,                                                   \
                    (ptrdiff_t k, ptrdiff_t n, const T* b, ptrdiff_t ldb, T* out),       \
                    (k, n, b, ldb, out))
#define FASTRNN_FORWARD_GEMM_PACKED(NAME, FIELD, T)                                      \
    FASTRNN_FORWARD(void, NAME, FIELD,                                                   \
                    (ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const T* a, ptrdiff_t lda,   \
                     const T* bp, T* c, ptrdiff_t ldc),                                  \
                    (m, n, k, a, lda, bp, c, ldc))

FASTRNN_FORWARD_GEMM(fastrnn_k_sgemm_acc, sgemm_acc, float)
FASTRNN_FORWARD_GEMM(fastrnn_k_dgemm_acc, dgemm_acc, double)
FASTRNN_FORWARD_GEMM(fastrnn_k_sgemm_tn_acc, sgemm_tn_acc, float)
FASTRNN_FORWARD_GEMM(fastrnn_k_dgemm_tn_acc, dgemm_tn_acc, double)
FASTRNN_FORWARD_PACK(fastrnn_k_spack_b, spack_b, float)
FASTRNN_FORWARD_PACK(fastrnn_k_dpack_b, dpack_b, double)
FASTRNN_FORWARD_GEMM_PACKED(fastrnn_k_sgemm_packed_acc, sgemm_packed_acc, float)
FASTRNN_FORWARD_GEMM_PACKED(fastrnn_k_dgemm_packed_acc, dgemm_packed_acc, double)
FASTRNN_FORWARD(void, fastrnn_k_tanh_f32_array, tanh_f32_array,
                (const float* a, float* out, ptrdiff_t n), (a, out, n))
FASTRNN_FORWARD(void, fastrnn_k_sigmoid_f32_array, sigmoid_f32_array,
                (const float* a, float* out, ptrdiff_t n), (a, out, n))
FASTRNN_FORWARD(void, fastrnn_k_lstm_gates_f32, lstm_gates_f32,
                (ptrdiff_t units, float* z, const float* c_prev, float* c_new, float* h_new),
                (units, z, c_prev, c_new, h_new))
FASTRNN_FORWARD(void, fastrnn_k_gru_gates_f32, gru_gates_f32,
                (ptrdiff_t units, float* z, const float* u, const float* h_prev, float* u_h,
                 float* h_new),
                (units, z, u, h_prev, u_h, h_new))

#define FASTRNN_FORWARD_LSTM_GRADS(NAME, FIELD, T)                                       \
    FASTRNN_FORWARD(void, NAME, FIELD,                                                   \
                    (ptrdiff_t units, int act, int ract, const T* gates, const T* act_c, \
                     const T* c_prev, const T* d_h_new, T* dh, T* dc, T* dz),            \
                    (units, act, ract, gates, act_c, c_prev, d_h_new, dh, dc, dz))
#define FASTRNN_FORWARD_GRU_GRADS(NAME, FIELD, T)                                        \
    FASTRNN_FORWARD(void, NAME, FIELD,                                                   \
                    (ptrdiff_t units, int act, int ract, int reset_after, const T* gates, \
                     const T* u, const T* h_prev, const T* d_h_new, T* dh, T* dz,        \
                     T* aux),                                                            \
                    (units, act, ract, reset_after, gates, u, h_prev, d_h_new, dh, dz,   \
                     aux))

FASTRNN_FORWARD_LSTM_GRADS(fastrnn_k_lstm_grads_tanh_sigmoid_f32, lstm_grads_tanh_sigmoid_f32,
                           float)
FASTRNN_FORWARD_LSTM_GRADS(fastrnn_k_lstm_grads_tanh_sigmoid_f64, lstm_grads_tanh_sigmoid_f64,
                           double)
FASTRNN_FORWARD_LSTM_GRADS(fastrnn_k_lstm_grads_f32, lstm_grads_f32, float)
FASTRNN_FORWARD_LSTM_GRADS(fastrnn_k_lstm_grads_f64, lstm_grads_f64, double)
FASTRNN_FORWARD_GRU_GRADS(fastrnn_k_gru_grads_tanh_sigmoid_f32, gru_grads_tanh_sigmoid_f32,
                          float)
FASTRNN_FORWARD_GRU_GRADS(fastrnn_k_gru_grads_tanh_sigmoid_f64, gru_grads_tanh_sigmoid_f64,
                          double)
FASTRNN_FORWARD_GRU_GRADS(fastrnn_k_gru_grads_f32, gru_grads_f32, float)
FASTRNN_FORWARD_GRU_GRADS(fastrnn_k_gru_grads_f64, gru_grads_f64, double)

#endif
