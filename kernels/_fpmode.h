/* Flush-to-zero for the kernels' own work.
 *
 * A gradient that decays over a long sequence underflows into subnormal
 * numbers, which x86 CPUs add and multiply tens of times slower than normal
 * ones. Every slice of a kernel call (and the preparation before it) runs
 * with flush-to-zero (FTZ: subnormal results become 0) and
 * denormals-are-zero (DAZ: subnormal inputs read as 0) set, and puts the
 * caller's mode back when it ends, as the Numba kernels do
 * (fastrnn/numba_kernels/_fpmode.py) and as TensorFlow does for its ops.
 * The mode is per thread, so each slice sets its own.
 *
 * x86: the MXCSR bits 15 (FTZ) and 6 (DAZ). AArch64: FPCR.FZ (bit 24),
 * which does both. Elsewhere: nothing changes.
 */
#ifndef FASTRNN_FPMODE_H
#define FASTRNN_FPMODE_H

#if defined(__x86_64__) || defined(_M_X64) || defined(__SSE2__)
#include <xmmintrin.h>

static inline unsigned long fastrnn_denormals_flush(void) {
    unsigned int saved = _mm_getcsr();
    _mm_setcsr(saved | 0x8040u);
    return saved;
}

static inline void fastrnn_denormals_restore(unsigned long saved) {
    _mm_setcsr((unsigned int)saved);
}

#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))

static inline unsigned long fastrnn_denormals_flush(void) {
    unsigned long saved;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(saved));
    __asm__ __volatile__("msr fpcr, %0" : : "r"(saved | (1ul << 24)));
    return saved;
}

static inline void fastrnn_denormals_restore(unsigned long saved) {
    __asm__ __volatile__("msr fpcr, %0" : : "r"(saved));
}

#else

static inline unsigned long fastrnn_denormals_flush(void) { return 0; }
static inline void fastrnn_denormals_restore(unsigned long saved) { (void)saved; }

#endif
#endif
