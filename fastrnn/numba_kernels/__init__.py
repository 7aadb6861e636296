"""The Numba backend: the kernel contract of :mod:`fastrnn.reference`, compiled.

Importing this module fails with ImportError when Numba is not installed,
which makes the backend registry report it as unavailable. Compilation flags
live in :mod:`fastrnn.numba_kernels.config`; the sequence driver shared by the
three cells (threads, slicing, workspaces) in ``_dispatch.py``.
"""

import platform

import numba  # (ImportError here means: backend unavailable)

from .config import JIT_OPTIONS
from .gru import gru_backward, gru_forward
from .lstm import lstm_backward, lstm_forward
from .simple_rnn import simple_rnn_backward, simple_rnn_forward

__all__ = [
    "simple_rnn_forward",
    "simple_rnn_backward",
    "lstm_forward",
    "lstm_backward",
    "gru_forward",
    "gru_backward",
    "build_info",
]

#: The widest SIMD extension first: the first one the JIT target has names it.
_ISA_ORDER = (
    ("avx512f", ("avx512f",)),
    ("avx2+fma", ("avx2", "fma")),
    ("avx2", ("avx2",)),
    ("avx", ("avx",)),
    ("sse4.2", ("sse4.2",)),
    ("sse2", ("sse2",)),
    ("sve", ("sve",)),
    ("neon", ("neon",)),
    ("altivec", ("altivec",)),
)


def _target_features():
    """The CPU features Numba's JIT compiles for, as a set of names.

    ``NUMBA_CPU_FEATURES`` when set, else the host's (less AVX when
    ``NUMBA_ENABLE_AVX=0``), as Numba's code generator takes them.
    """
    flat = numba.config.CPU_FEATURES
    if flat is None:
        try:
            from numba.core.codegen import get_host_cpu_features

            flat = get_host_cpu_features()
        except (ImportError, RuntimeError):  # pragma: no cover - other Numba layouts
            import llvmlite.binding as llvm

            return {name for name, on in llvm.get_host_cpu_features().items() if on}
    return {item[1:] for item in flat.split(",") if item.startswith("+")}


def _flags():
    """JIT_OPTIONS as a short string, e.g. "cache, nogil, error_model=numpy, ..."."""
    parts = []
    for name, value in JIT_OPTIONS.items():
        if isinstance(value, bool):
            parts.append(name if value else f"no {name}")
        elif isinstance(value, (set, frozenset)):
            parts.append(f"{name}={'+'.join(sorted(value))}")
        else:
            parts.append(f"{name}={value}")
    return ", ".join(parts)


def build_info():
    """How this backend is compiled here, for ``fastrnn.show_config()``.

    Returns
    -------
    dict
        ``"isa"``: the widest SIMD extension the JIT targets on this CPU
        ("avx512f", "avx2+fma", "avx", "sse2", "neon", ...; the machine name
        when none is known); ``"cpu"``: LLVM's name of the target CPU;
        ``"compiler"``: the Numba, llvmlite and LLVM versions; ``"flags"``: the
        JIT options every kernel is compiled with.
    """
    import llvmlite
    import llvmlite.binding as llvm

    features = _target_features()
    isa = next(
        (name for name, needs in _ISA_ORDER if all(f in features for f in needs)),
        platform.machine() or "unknown",
    )
    return {
        "isa": isa,
        "cpu": numba.config.CPU_NAME or llvm.get_host_cpu_name(),
        "compiler": (
            f"Numba {numba.__version__}, llvmlite {llvmlite.__version__}, "
            f"LLVM {'.'.join(map(str, llvm.llvm_version_info))}"
        ),
        "flags": _flags(),
    }
