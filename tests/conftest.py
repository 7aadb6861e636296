import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import fastrnn  # noqa: E402


@pytest.fixture(params=fastrnn.available_backends())
def backend_name(request):
    """Every backend available here, one at a time."""
    return request.param


def tolerance(dtype):
    """(rtol, atol) for comparing a backend's results with the reference."""
    return (1e-10, 1e-10) if np.dtype(dtype) == np.float64 else (1e-5, 1e-5)
