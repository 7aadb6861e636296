/* FASTRNN_RESTRICT: C's `restrict` (a promise that the arrays a function
 * takes do not overlap, which lets the compiler vectorize its loops), as
 * each compiler spells it. Shared by _smallgemm.h and _gates.h. */
#ifndef FASTRNN_RESTRICT_H
#define FASTRNN_RESTRICT_H

#if defined(_MSC_VER)
#define FASTRNN_RESTRICT __restrict
#else
#define FASTRNN_RESTRICT __restrict__
#endif

#endif
