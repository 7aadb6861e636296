"""Build the optional Cython extension ``fastrnn._cython_kernels``.

All metadata lives in pyproject.toml; this file only adds the extension.
The extension is optional: when Cython, SciPy's BLAS declarations or a C
compiler are missing, or compiling fails, the build prints a warning and
installs fastrnn without it (the NumPy and Numba backends still work).

Environment variables:

* ``FASTRNN_PUREPYTHON=1``: do not even try to build the extension.
* ``FASTRNN_STRICT_BUILD=1``: a failure to build the extension is an error
  (what CI uses, so a broken build cannot pass silently).

See docs/building.md.
"""
import os
import tempfile
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
        except Exception as exc:  # noqa: BLE001 - any failure is optional unless strict
            if STRICT:
                raise
            _warn(f"not building the Cython backend ({type(exc).__name__}: {exc}); "
                  "fastrnn will use its NumPy/Numba backends. Set FASTRNN_STRICT_BUILD=1 "
                  "to make this an error.")

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
            # tanh/sigmoid loops (kernels/_fastmath.h); fastrnn never traps on FP.
            ext.extra_compile_args = ["-O3", "-fno-trapping-math"] + self._native_flags()
        super().build_extension(ext)

    def _native_flags(self):
        """``-march=native`` unless FASTRNN_PORTABLE_BUILD=1 or the compiler refuses it.

        The extension is built on the machine that runs it (``pip install``
        from source), so it may use that CPU's vector units (AVX2/AVX-512 and
        FMA), as Numba's JIT does; without it GCC emits SSE2 only and the
        small-product loops run at a quarter of their speed. Set
        FASTRNN_PORTABLE_BUILD=1 when building a wheel for other machines.
        """
        if os.environ.get("FASTRNN_PORTABLE_BUILD", "") not in ("", "0"):
            return []
        flag = "-march=native"
        with tempfile.TemporaryDirectory() as tmp:
            probe = os.path.join(tmp, "probe.c")
            with open(probe, "w") as f:
                f.write("int main(void) { return 0; }\n")
            try:
                self.compiler.compile([probe], output_dir=tmp, extra_postargs=[flag])
            except Exception:  # noqa: BLE001 - an unknown flag only costs speed
                return []
        return [flag]


def extensions():
    if PURE_PYTHON:
        return []
    return [
        Extension(
            "fastrnn._cython_kernels",
            sources=[os.path.join(KERNELS, "_cython_kernels.pyx")],
            depends=[os.path.join(KERNELS, name)
                     for name in ("_linalg.pxd", "_fastmath.h", "_gates.h", "_restrict.h",
                                  "_smallgemm.h")],
            include_dirs=[KERNELS],
            optional=not STRICT,
        )
    ]


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
