"""What is in this build of fastrnn: :func:`show_config` and :func:`machine_line`.

Nothing here runs at ``import fastrnn``: the backends (Numba, the Cython
extension), NumPy and threadpoolctl are imported when a function of this
module is called.
"""

from __future__ import annotations

import json
import os
import platform
import sys

from . import backends

__all__ = ["ENVIRONMENT_VARIABLES", "cpu_model", "machine_line", "show_config"]

#: The environment variables fastrnn reads (``docs/building.md`` has the table).
ENVIRONMENT_VARIABLES = (
    "FASTRNN_BACKEND",
    "FASTRNN_NUM_THREADS",
    "FASTRNN_LOOP_BLAS_THREADS",
    "FASTRNN_PUREPYTHON",
    "FASTRNN_STRICT_BUILD",
    "FASTRNN_ISA",
    "FASTRNN_AUTO",
    "FASTRNN_CACHE_DIR",
    "FASTRNN_BENCH_FULL",
    "FASTRNN_BENCH_PEERS",
    "OPENBLAS_THREAD_TIMEOUT",
    "NUMBA_CACHE_DIR",
)

#: The backends in the order ``show_config`` lists them; the last two are compiled.
BACKENDS = backends.BACKEND_NAMES
COMPILED_BACKENDS = backends.COMPILED_BACKEND_NAMES

_MODES = ("stdout", "dicts")

#: NumPy's names of the x86 and ARM vector-instruction features.
_SIMD_PREFIXES = ("SSE", "SSSE", "AVX", "FMA", "F16C", "XOP", "NEON", "ASIMD", "SVE")

_UNKNOWN = "unknown"


def cpu_model() -> str:
    """The CPU's model name: ``/proc/cpuinfo`` on Linux, ``platform.processor()`` elsewhere."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                # x86 names the model "model name"; some ARM kernels say "Hardware" or "Model"
                if key.strip() in ("model name", "Hardware", "Model") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or _UNKNOWN


def _numpy_multiarray():
    """NumPy's ``_multiarray_umath``, which holds its run-time CPU feature detection."""
    try:
        from numpy._core import _multiarray_umath  # NumPy >= 2
    except ImportError:
        from numpy.core import _multiarray_umath  # NumPy 1.x
    return _multiarray_umath


def cpu_vendor() -> str:
    """The CPU's vendor (``/proc/cpuinfo``'s "vendor_id" on Linux, else "unknown")."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("vendor_id", "CPU implementer") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return _UNKNOWN


#: NumPy's feature names where the usual (Linux /proc/cpuinfo) spelling differs.
_FEATURE_NAMES = {"SSE41": "sse4_1", "SSE42": "sse4_2", "FMA3": "fma"}


def cpu_features() -> list[str]:
    """The vector-instruction features of this CPU, as NumPy detects them at run
    time, in the usual lowercase spelling: e.g. ``["sse2", "avx2", "fma", "avx512f"]``."""
    features = getattr(_numpy_multiarray(), "__cpu_features__", {})
    return [
        _FEATURE_NAMES.get(name, name.lower())
        for name, present in features.items()
        if present and name.startswith(_SIMD_PREFIXES)
    ]


def _cpu() -> dict:
    from .config import available_cpus

    return {
        "model": cpu_model(),
        "vendor": cpu_vendor(),
        "features": cpu_features(),
        "cpus_available": available_cpus(),
        "cpu_count": os.cpu_count(),
    }


def isa_level(target: str) -> str:
    """The ISA level of a compiled backend's target ("avx512f", "avx2+fma", ...):
    "avx512", "avx2" or "baseline" (anything narrower, or another architecture)."""
    target = target.lower()
    if target == _UNKNOWN:
        return _UNKNOWN
    if target.startswith("avx512"):
        return "avx512"
    if target.startswith("avx2"):
        return "avx2"
    return "baseline"


def _numpy_backend(blas: list) -> dict:
    """The reference backend: NumPy's own SIMD dispatch, compiler and BLAS threads."""
    import numpy

    umath = _numpy_multiarray()
    features = getattr(umath, "__cpu_features__", {})
    baseline = list(getattr(umath, "__cpu_baseline__", []))
    dispatched = [name for name in getattr(umath, "__cpu_dispatch__", []) if features.get(name)]
    isa = " ".join(dispatched[-1:] or baseline[-1:]) or _UNKNOWN
    compiler = _UNKNOWN
    try:
        c = numpy.show_config(mode="dicts")["Compilers"]["c"]
        compiler = f"{c['name']} {c['version']}"
    except Exception:  # NumPy < 1.25 has no "dicts" mode
        pass
    numpy_blas = [b for b in blas if "numpy" in (b.get("filepath") or "")] or blas
    return {
        "available": True,
        "module": "fastrnn.reference",
        "version": numpy.__version__,
        "isa": isa,
        "numpy_simd": {"baseline": baseline, "dispatched": dispatched},
        "compiler": compiler,
        "flags": _UNKNOWN,
        "threads": numpy_blas[0]["num_threads"] if numpy_blas else None,
        "threads_from": "NumPy's BLAS (the reference runs on one thread otherwise)",
    }


def _plain(value):
    """``value`` in JSON's types: tuples become lists, other objects their ``str``."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return str(value)


def _compiled_backend(module) -> dict:
    """A compiled backend: what its ``build_info()`` says, and fastrnn's thread count."""
    from .config import get_num_threads

    entry = {
        "available": True,
        "module": module.__name__,
        "isa": _UNKNOWN,
        "compiler": _UNKNOWN,
        "flags": _UNKNOWN,
    }
    build_info = getattr(module, "build_info", None)
    if build_info is None:
        entry["build_info"] = f"{module.__name__} has no build_info()"
    else:
        try:
            entry.update({str(key): _plain(value) for key, value in build_info().items()})
        except Exception as exc:  # report it, keep the rest of the config
            entry["build_info"] = f"build_info() failed: {type(exc).__name__}: {exc}"
    # "isa" is the level (docs/building.md, the show_config table); "target"
    # the backend's own, finer name.
    if "dispatch" in entry:  # the Cython backend: chosen at import (kernels/_simd.h)
        entry["target"] = f"{entry['dispatch']} (dispatched; baseline C: {entry['isa']})"
        entry["isa"] = entry["dispatch"]
    else:
        entry["target"] = entry["isa"]
        entry["isa"] = isa_level(str(entry["isa"]))
    entry["threads"] = get_num_threads()
    return entry


def _backends(blas: list) -> dict:
    available = backends.available_backends()
    entries = {}
    for name in BACKENDS:
        if name not in available:
            entries[name] = {
                "available": False,
                "reason": backends.unavailable_reason(name) or _UNKNOWN,
                "how_to_get": backends.how_to_get(name),
            }
        elif name == "numpy":
            entries[name] = _numpy_backend(blas)
        else:
            entries[name] = _compiled_backend(backends.resolve_backend(name))
    return entries


def _backend_choice() -> dict:
    try:
        default = backends.get_backend()
    except ValueError as exc:  # an invalid FASTRNN_BACKEND
        default = f"error: {exc}"
    from . import planner

    try:
        policy = planner.get_policy()
    except ValueError as exc:  # an invalid FASTRNN_AUTO
        policy = f"error: {exc}"
    return {
        "default": default,
        "auto": backends.auto_choice(),
        "auto_policy": policy,
        "plans_file": planner.cache_path(),
    }


def _blas() -> list:
    """The BLAS libraries loaded in this process, as threadpoolctl sees them."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    try:
        # fastrnn's kernels call two BLAS builds, NumPy's and SciPy's (np.dot inside
        # Numba); importing scipy.linalg loads the second one so that it is listed.
        import scipy.linalg  # noqa: F401
    except ImportError:
        pass
    keys = ("internal_api", "version", "num_threads", "filepath", "architecture")
    return [
        {key: pool.get(key) for key in keys}
        for pool in threadpool_info()
        if pool.get("user_api") == "blas"
    ]


def _config() -> dict:
    from . import __version__, config

    blas = _blas()
    return {
        "fastrnn": {"version": __version__, "path": os.path.dirname(os.path.abspath(__file__))},
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "platform": {
            "system": platform.system(),
            "release": platform.release(),
            "machine": platform.machine(),
            "platform": platform.platform(),
        },
        "cpu": _cpu(),
        "backends": _backends(blas),
        "backend_choice": _backend_choice(),
        "settings": config.get_settings()._asdict(),
        "blas": blas,
        "environment": {
            name: os.environ[name] for name in ENVIRONMENT_VARIABLES if name in os.environ
        },
    }


def _scalar(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(item) for item in value) + "]"
    if isinstance(value, dict):  # only an empty one reaches here
        return "{}"
    return json.dumps(value)


def _nested(value) -> bool:
    """Whether ``value`` prints as an indented block (a dict, or a list of dicts)."""
    if isinstance(value, dict):
        return bool(value)
    return isinstance(value, list) and any(isinstance(item, dict) for item in value)


def _lines(value, indent: int = 0):
    """``value`` (the config dict) as indented ``key: value`` lines, the way YAML writes it."""
    pad = "  " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            if _nested(item):
                yield f"{pad}{key}:"
                yield from _lines(item, indent + 1)
            else:
                yield f"{pad}{key}: {_scalar(item)}"
    else:
        for item in value:
            if isinstance(item, dict):
                first, *rest = _lines(item, indent + 1)
                yield pad + "- " + first.lstrip()
                yield from rest
            else:
                yield f"{pad}- {_scalar(item)}"


def show_config(mode: str = "stdout") -> dict | None:
    """Show what this fastrnn build runs on: backends, CPU, compilers, threads, BLAS.

    Modelled on :func:`numpy.show_config`. The information is a nested dict:

    ``fastrnn``
        version and install path.
    ``python``, ``platform``
        the interpreter and the operating system.
    ``cpu``
        the CPU model (``/proc/cpuinfo`` on Linux, ``platform.processor()``
        elsewhere), its ``vendor``, the x86/ARM vector features NumPy detects
        at run time (``features``, lowercase), and the CPUs this process may use.
    ``backends``
        for each of ``"numpy"``, ``"numba"`` and ``"cython"``: ``available``,
        and if not, ``reason`` (the import error) and ``how_to_get``; if it is,
        the instruction-set level it runs (``isa``: "baseline", "avx2" or
        "avx512" for the compiled ones; ``target`` their finer name), the ``compiler`` and ``flags``
        it was built with (from the backend's ``build_info()``; "unknown"
        when it has none) and its thread count (``threads``:
        :func:`fastrnn.get_num_threads` for the compiled backends, NumPy's
        BLAS threads for the reference).
    ``backend_choice``
        the default backend (``fastrnn.get_backend()``) and the backend
        ``"auto"`` resolves to.
    ``settings``
        the kernel settings in force (:func:`fastrnn.config.get_settings`).
    ``blas``
        the BLAS libraries loaded in the process, from threadpoolctl:
        ``internal_api``, ``version``, ``num_threads``, ``filepath``,
        ``architecture``.
    ``environment``
        the environment variables fastrnn reads that are set.

    Importing the backends to find out whether they are available is part
    of the call (Numba's import takes a fraction of a second).

    Parameters
    ----------
    mode : {"stdout", "dicts"}, optional
        ``"stdout"`` (the default) prints the information as indented
        ``key: value`` lines; ``"dicts"`` returns it as a dict.

    Returns
    -------
    dict or None
        The nested dict with ``mode="dicts"``; None with ``mode="stdout"``.

    Raises
    ------
    ValueError
        If ``mode`` is not one of ``"stdout"`` and ``"dicts"``.

    See Also
    --------
    numpy.show_config : the same for NumPy.

    Examples
    --------
    >>> import fastrnn
    >>> config = fastrnn.show_config(mode="dicts")
    >>> config["backends"]["numpy"]["available"]
    True
    >>> sorted(config["backends"])
    ['cython', 'numba', 'numpy']
    >>> fastrnn.show_config()  # doctest: +SKIP
    fastrnn:
      version: 0.1.0
      path: /path/to/site-packages/fastrnn
    ...
    """
    if mode not in _MODES:
        raise ValueError(f"`mode` must be one of {list(_MODES)}; got {mode!r}")
    config = _config()
    if mode == "dicts":
        return config
    print("\n".join(_lines(config)))
    return None


def machine_line(config: dict | None = None) -> str:
    """One line naming the CPU and, per compiled backend, its instruction set and compiler.

    The benchmark puts it at the head of every table it writes, e.g.
    ``machine: AMD EPYC; numba: ISA avx2+fma (znver2), compiler Numba 0.68.1, llvmlite
    0.50.0, LLVM 22.1.0; cython: ISA avx2+fma, compiler gcc 12.2.0``.

    Parameters
    ----------
    config : dict, optional
        What ``show_config(mode="dicts")`` returned; by default it is called.

    Returns
    -------
    str
    """
    if config is None:
        config = show_config(mode="dicts")
    parts = [config["cpu"]["model"]]
    for name in COMPILED_BACKENDS:
        entry = config["backends"][name]
        if not entry["available"]:
            parts.append(f"{name}: not available")
            continue
        isa = str(entry.get("target", entry.get("isa", _UNKNOWN)))
        if entry.get("cpu"):
            isa += f" ({entry['cpu']})"
        parts.append(f"{name}: ISA {isa}, compiler {entry.get('compiler', _UNKNOWN)}")
    return "machine: " + "; ".join(parts)
