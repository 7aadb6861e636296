"""Flush-to-zero for the Numba kernels' own work (x86-64; elsewhere a no-op).

A gradient that decays over a long sequence underflows into subnormal
numbers, which x86 CPUs add and multiply tens of times slower than normal
ones. Each kernel's time loop and weight gradients therefore run with the
SSE control register's flush-to-zero (FTZ, bit 15: subnormal results become
0) and denormals-are-zero (DAZ, bit 6: subnormal inputs read as 0) set, and
put the caller's register back when they end, as the Cython kernels do
(``kernels/_simd.h``, ``fastrnn_denormals_flush``) and as TensorFlow does for
its ops. The register is per thread, so every slice sets its own.

``flush_denormals()`` returns the register as it was; pass that to
``restore_denormals``. They compile to one ``stmxcsr`` / ``ldmxcsr`` each.
"""

import platform

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .config import JIT_OPTIONS

__all__ = ["FLUSH_BITS", "flush_denormals", "restore_denormals"]

#: FTZ (bit 15) | DAZ (bit 6) of MXCSR.
FLUSH_BITS = 0x8040

_X86_64 = platform.machine().lower() in ("x86_64", "amd64")


def _call_on_slot(builder, name, slot):
    byte_pointer = ir.IntType(8).as_pointer()
    function_type = ir.FunctionType(ir.VoidType(), [byte_pointer])
    function = cgutils.get_or_insert_function(builder.module, function_type, name)
    builder.call(function, [builder.bitcast(slot, byte_pointer)])


@intrinsic
def _read_mxcsr(typingctx):
    def codegen(context, builder, signature, args):
        slot = cgutils.alloca_once(builder, ir.IntType(32))
        _call_on_slot(builder, "llvm.x86.sse.stmxcsr", slot)
        return builder.load(slot)

    return types.uint32(), codegen


@intrinsic
def _write_mxcsr(typingctx, value):
    def codegen(context, builder, signature, args):
        slot = cgutils.alloca_once(builder, ir.IntType(32))
        builder.store(args[0], slot)
        _call_on_slot(builder, "llvm.x86.sse.ldmxcsr", slot)
        return context.get_dummy_value()

    return types.void(types.uint32), codegen


if _X86_64:

    @njit(inline="always", **JIT_OPTIONS)
    def flush_denormals():
        saved = _read_mxcsr()
        _write_mxcsr(saved | types.uint32(FLUSH_BITS))
        return saved

    @njit(inline="always", **JIT_OPTIONS)
    def restore_denormals(saved):
        _write_mxcsr(saved)

else:

    @njit(inline="always", **JIT_OPTIONS)
    def flush_denormals():
        return types.uint32(0)

    @njit(inline="always", **JIT_OPTIONS)
    def restore_denormals(saved):
        pass
