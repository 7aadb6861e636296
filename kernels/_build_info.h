/* What the extension's C code was compiled for and with, for build_info():
 *
 *   FASTRNN_ISA       the widest vector instruction set the compiler was
 *                     allowed to use, from its predefined macros: "avx512f",
 *                     "avx2+fma", "avx", "sse2", "neon" or "generic";
 *   FASTRNN_COMPILER  the compiler and its version;
 *   FASTRNN_FLAGS     the extra compile arguments setup.py passed, as the C
 *                     string it defines FASTRNN_BUILD_FLAGS to (empty when it
 *                     did not).
 */
#ifndef FASTRNN_BUILD_INFO_H
#define FASTRNN_BUILD_INFO_H

#define FASTRNN_STRINGIFY_(x) #x
#define FASTRNN_STRINGIFY(x) FASTRNN_STRINGIFY_(x)

#if defined(__AVX512F__)
#define FASTRNN_ISA "avx512f"
#elif defined(__AVX2__) && defined(__FMA__)
#define FASTRNN_ISA "avx2+fma"
#elif defined(__AVX__)
#define FASTRNN_ISA "avx"
#elif defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
#define FASTRNN_ISA "sse2"
#elif defined(__ARM_NEON) || defined(__ARM_NEON__)
#define FASTRNN_ISA "neon"
#else
#define FASTRNN_ISA "generic"
#endif

#if defined(__clang__)
#define FASTRNN_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define FASTRNN_COMPILER "gcc " __VERSION__
#elif defined(_MSC_VER)
#define FASTRNN_COMPILER "msvc " FASTRNN_STRINGIFY(_MSC_VER)
#else
#define FASTRNN_COMPILER "unknown"
#endif

#if defined(FASTRNN_BUILD_FLAGS)
#define FASTRNN_FLAGS FASTRNN_BUILD_FLAGS
#else
#define FASTRNN_FLAGS ""
#endif

#endif
