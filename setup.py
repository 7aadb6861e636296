"""Build the optional Cython extension ``fastrnn._cython_kernels``.

All metadata lives in pyproject.toml; this file only adds the extension,
built from ``kernels/_cython_kernels.pyx`` (which includes the other
``kernels/*.pxi``, cimports ``kernels/_linalg.pxd`` and includes the C
headers ``kernels/*.h``). The extension is optional: when Cython or a C
compiler is missing, or compiling fails, the build prints a warning and
installs fastrnn without it (the NumPy and Numba backends still work).

Environment variables:

* ``FASTRNN_PUREPYTHON=1``: do not even try to build the extension.
* ``FASTRNN_STRICT_BUILD=1``: a failure to build the extension is an error
  (what CI uses, so a broken build cannot pass silently).

The build uses no ``-march``: the products, activations and step gradients
are compiled for every instruction-set level (baseline, AVX2 + FMA,
AVX-512F) into the one extension, and the widest the CPU runs is chosen at
import (``kernels/_simd.h``), so ``pip install .`` and a wheel built on any
x86-64 machine run the same code. ``-ffp-contract=off`` keeps the compiler
from fusing a multiply and an add where the source does not, so the bits do
not depend on the compiler either.

The extra compile arguments used are recorded in the extension
(``fastrnn._cython_kernels.build_info()["flags"]``). See docs/building.md.
"""

import glob
import json
import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

PURE_PYTHON = bool(os.environ.get("FASTRNN_PUREPYTHON"))
STRICT = bool(os.environ.get("FASTRNN_STRICT_BUILD"))
KERNELS = "kernels"


def _warn(message):
    print(f"WARNING (fastrnn): {message}", file=sys.stderr)


class OptionalBuildExt(build_ext):
    """``build_ext`` that cythonizes lazily and treats failures as optional.

    Cythonizing here (not at import of setup.py) means a missing Cython is
    just another build failure: ignored with a warning, or an error under
    FASTRNN_STRICT_BUILD.
    """

    def run(self):
        try:
            super().run()
        except Exception as exc:  # any failure is optional unless strict
            if STRICT:
                raise
            _warn(
                f"not building the Cython backend ({type(exc).__name__}: {exc}); "
                "fastrnn will use its NumPy/Numba backends. Set FASTRNN_STRICT_BUILD=1 "
                "to make this an error."
            )

    def build_extension(self, ext):
        from Cython.Build import cythonize

        (compiled,) = cythonize(
            [ext],
            include_path=[KERNELS],
            compiler_directives={"language_level": 3},
            quiet=True,
        )
        ext.sources = compiled.sources  # the generated .c; keep setuptools' own Extension
        if self.compiler.compiler_type == "msvc":
            ext.extra_compile_args = ["/O2"]
        else:
            # -fno-trapping-math lets GCC/Clang vectorize the clamped float32
            # loops of the baseline (kernels/_fastmath.h); fastrnn never traps on FP.
            ext.extra_compile_args = ["-O3", "-fno-trapping-math", "-ffp-contract=off"]
        # build_info() reports them (kernels/_build_info.h): a C string literal.
        flags = json.dumps(" ".join(ext.extra_compile_args))
        ext.define_macros = [*ext.define_macros, ("FASTRNN_BUILD_FLAGS", flags)]
        super().build_extension(ext)


def extensions():
    if PURE_PYTHON:
        return []
    return [
        Extension(
            "fastrnn._cython_kernels",
            sources=[os.path.join(KERNELS, "_cython_kernels.pyx")],
            # the included .pxi files, the cimported .pxd and the C headers
            depends=sorted(
                path
                for pattern in ("*.pxi", "*.pxd", "*.h")
                for path in glob.glob(os.path.join(KERNELS, pattern))
            ),
            include_dirs=[KERNELS],
            optional=not STRICT,
        )
    ]


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
