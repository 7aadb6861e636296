"""Fixtures and collection rules shared by every test module.

``tests/`` is on ``sys.path`` (``pythonpath`` in pyproject.toml), so test
modules import the shared helpers directly: ``from kernel_cases import ...``.
"""

import os
import tempfile

import numpy as np
import pytest

# The planner's choices go to a directory of this session, not the user's cache.
os.environ.setdefault("FASTRNN_CACHE_DIR", tempfile.mkdtemp(prefix="fastrnn-test-plans-"))

import fastrnn
from fastrnn import planner
from kernel_cases import tolerance  # noqa: F401 (importable from here too)

# "auto" is the prior in the suite, so that its results do not depend on
# timings; tests/test_planner.py measures.
planner.set_policy("static")

#: The backends that get a marker of their name (``pytest -m "not cython"``).
MARKED_BACKENDS = fastrnn.backends.COMPILED_BACKEND_NAMES


@pytest.fixture(params=fastrnn.available_backends())
def backend_name(request):
    """Every backend available here, one at a time."""
    return request.param


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def global_dtype(request):
    """Both floating dtypes the kernels support, one at a time."""
    return request.param


def pytest_collection_modifyitems(config, items):
    """Mark each test that runs a compiled backend with that backend's name."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None:
            continue
        name = callspec.params.get("backend_name")
        if name in MARKED_BACKENDS:
            item.add_marker(getattr(pytest.mark, name))
