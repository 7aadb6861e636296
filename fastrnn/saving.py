"""The fastrnn model file format: one NumPy ``.npz`` archive, read without pickle.

A model file is an uncompressed ``.npz`` archive, written to exactly the
path given (no suffix is added), holding

* ``__fastrnn__``: a JSON object, the *header*: the format name
  (``"fastrnn.model"``) and version, and whatever the writer puts beside
  them;
* any number of named numeric arrays.

This module knows the format, not the models: :func:`write_archive` and
:func:`read_archive` move a header and named arrays to and from a file.
What a model puts in them (architecture, weights, compile and optimizer
state) is decided by :mod:`fastrnn.models` (``Sequential.save`` and
``fastrnn.models.load_model``).

Reading uses ``allow_pickle=False``, and writing refuses object arrays, so
a model file never holds a pickle. A missing file raises
``FileNotFoundError``; anything that is not a complete fastrnn archive
raises :class:`ModelFileError` (a ``ValueError``) saying so, never a crash.

``save_model`` and ``load_model`` are also importable from here; they are
``fastrnn.models.save_model`` and ``fastrnn.models.load_model``.
"""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
import zipfile
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "ModelFileError",
    "write_archive",
    "read_archive",
    "save_model",  # noqa: F822 (module __getattr__ below)
    "load_model",  # noqa: F822
]

FORMAT_NAME = "fastrnn.model"
FORMAT_VERSION = 1
_HEADER = "__fastrnn__"
_RESERVED_KEYS = ("format", "version")


class ModelFileError(ValueError):
    """A file that is not a complete fastrnn model file (foreign, damaged or truncated)."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path!r} is not a fastrnn model file ({why})")


def _check_path(path: str | os.PathLike[str]) -> str:
    """``path`` as a str; TypeError naming ``path`` if it is neither a str nor os.PathLike."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}: {path!r}")
    return os.fspath(path)


def write_archive(
    path: str | os.PathLike[str], header: Mapping[str, Any], arrays: Mapping[str, ArrayLike]
) -> None:
    """Write a fastrnn archive: the JSON ``header`` and the named ``arrays``.

    The file appears under ``path`` only when it is complete: it is written
    to a temporary file in the same directory, then renamed.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write, exactly this name (no suffix is added).
    header : mapping of str to JSON-able values
        Stored beside the format name and version; it must not use the keys
        ``"format"`` and ``"version"``.
    arrays : mapping of str to array_like
        Numeric or boolean arrays of any shape, stored under their names.

    Raises
    ------
    TypeError
        If ``path`` is not a str or os.PathLike.
    ValueError
        If the header is not JSON-serialisable or uses a reserved key, or an
        array is named ``"__fastrnn__"`` or holds Python objects.
    FileNotFoundError
        If the directory of ``path`` does not exist.
    """
    path = _check_path(path)
    reserved = [key for key in _RESERVED_KEYS if key in header]
    if reserved:
        raise ValueError(f"write_archive: the header keys {reserved} are reserved for the format")
    try:
        header_json = json.dumps({"format": FORMAT_NAME, "version": FORMAT_VERSION, **header})
    except TypeError as exc:
        raise ValueError(f"write_archive: the header is not JSON-serialisable: {exc}") from None
    members = {_HEADER: np.array(header_json)}
    for name, value in arrays.items():
        if name == _HEADER:
            raise ValueError(
                f"write_archive: the array name {_HEADER!r} is reserved for the header"
            )
        array = np.asarray(value)
        if array.dtype == object:
            raise ValueError(
                f"write_archive: array {name!r} holds Python objects, which would need pickle"
            )
        members[name] = array

    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"Cannot write {path!r}: directory does not exist: {directory!r}")
    # A temporary file next to the target, then a rename: a crash never leaves
    # a half-written file under the real name.
    fd, tmp = tempfile.mkstemp(prefix=".fastrnn-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **members)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _open_regular_file(path: str):
    """``path`` opened for reading, refused with ModelFileError unless a regular file.

    The file is opened without blocking and checked on the open descriptor,
    so a FIFO with no writer, a device such as ``/dev/zero`` or a directory
    is refused at once instead of read forever.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except IsADirectoryError:
        raise ModelFileError(path, "it is a directory") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ModelFileError(path, "it is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise ModelFileError(path, "not a regular file (a device, FIFO or socket)")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _check_members(path: str, archive: zipfile.ZipFile, file_size: int) -> None:
    """Refuse an archive whose members would need more memory than the file holds.

    Each member must be stored uncompressed (fastrnn writes no other kind),
    and the array it declares in its ``.npy`` header must take exactly the
    bytes the member holds. So reading allocates no more than the file's
    size, whatever shapes a crafted header claims.
    """
    for info in archive.infolist():
        if info.compress_type != zipfile.ZIP_STORED:
            raise ModelFileError(path, f"member {info.filename!r} is compressed")
        if info.file_size > file_size:
            raise ModelFileError(path, f"member {info.filename!r} is larger than the file")
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(member)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(member)
            else:
                raise ModelFileError(path, f"member {info.filename!r}: .npy version {version}")
            header_size = member.tell()
        if dtype.hasobject:
            raise ModelFileError(path, f"member {info.filename!r} would need pickle")
        declared = math.prod(shape) * dtype.itemsize
        if declared != info.file_size - header_size:
            raise ModelFileError(
                path,
                f"member {info.filename!r} declares shape {shape} of {dtype} "
                f"({declared} bytes) but holds {info.file_size - header_size} bytes",
            )


def read_archive(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a fastrnn archive written by :func:`write_archive` (any version up to this one).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    header : dict
        The JSON header, ``"format"`` and ``"version"`` included.
    arrays : dict of str to numpy.ndarray
        Every array of the archive but the header, by name, read into memory.

    Raises
    ------
    TypeError
        If ``path`` is not a str or os.PathLike.
    FileNotFoundError
        If there is no file at ``path``.
    ModelFileError
        If the file is not a complete fastrnn archive: a directory, a device,
        FIFO or socket, another kind of file, another ``.npz``, a compressed,
        damaged or truncated archive, a member whose declared array does not
        match its size, or one that would need pickle. Nothing larger than
        the file is allocated before the archive is checked.
    ValueError
        If the archive was written by a newer fastrnn (a higher format version).
    """
    path = _check_path(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such model file: {path!r}")
    with _open_regular_file(path) as f:
        file_size = os.fstat(f.fileno()).st_size
        if f.read(2) != b"PK":
            raise ModelFileError(path, "not a model archive")
        f.seek(0)
        try:
            with zipfile.ZipFile(f) as archive:
                _check_members(path, archive, file_size)
            f.seek(0)
            with np.load(f, allow_pickle=False) as npz:
                if _HEADER not in npz.files:
                    raise ModelFileError(path, "no fastrnn header")
                header = json.loads(str(npz[_HEADER][()]))
                if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
                    raise ModelFileError(path, "unknown format")
                arrays = {name: npz[name] for name in npz.files if name != _HEADER}
        except ModelFileError:
            raise
        except Exception as exc:  # zipfile, zlib, json, numpy format errors: all mean "not ours"
            why = f"damaged or truncated: {type(exc).__name__}: {exc}"
            raise ModelFileError(path, why) from None
    version = header.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFileError(path, f"format version {version!r} is not a positive integer")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path!r} was written by a newer fastrnn (format version {version}); "
            f"this version reads up to {FORMAT_VERSION}"
        )
    return header, arrays


def __getattr__(name: str) -> Any:
    """``save_model`` and ``load_model``: the model side's, looked up on first use.

    They live with the model (:mod:`fastrnn.models`), which imports this
    module; this module never needs the models to read or write a file.
    """
    if name in ("save_model", "load_model"):
        from . import models

        return getattr(models, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
