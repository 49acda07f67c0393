"""Reading named arrays out of SpikingJelly's .npz cache files, safely.

Each array's .npy header (shape, dtype) is read and checked before anything is allocated:
only plain numbers (bool, int, uint, float) are accepted, the arrays asked for may declare
at most ``MAX_ARRAY_BYTES`` together, and a member cannot declare more bytes than the
archive says it holds, so a small compressed file cannot make the reader allocate gigabytes.
"""

from __future__ import annotations

import math
import struct
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import Dict, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from numpy.lib import format as npy

from syops.data.errors import DataError, broken_file

MAX_ARRAY_BYTES = 1 << 30  # 1 GiB: the arrays read from one file, as their headers declare
NUMBER_KINDS = "biuf"  # bool, signed, unsigned, float
_NPY_MAGIC = b"\x93NUMPY"
_HEADER_READERS = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}
# What a damaged archive or .npy header makes zipfile, zlib and numpy's header parser
# (tokenize, ast.literal_eval) raise. zipfile raises NotImplementedError for a member stored
# with a compression method it does not support.
_READ_ERRORS = (OSError, ValueError, EOFError, KeyError, RuntimeError, NotImplementedError,
                SyntaxError, RecursionError, tokenize.TokenError, zipfile.BadZipFile, zlib.error,
                struct.error)


class Declared(NamedTuple):
    """What a member's .npy header declares."""

    shape: Tuple[int, ...]
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def read_npz_arrays(path: Path, keys: Sequence[str],
                    shapes: Optional[Mapping[str, Tuple[int, ...]]] = None) -> Dict[str, np.ndarray]:
    """The arrays ``keys`` of the .npz archive at ``path``; DataError if unreadable, missing,
    not numeric, of another shape than ``shapes`` gives, or larger than the bound."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = _members(archive, keys, path)
            declared = {key: _declared(archive, members[key], path) for key in keys}
            _check_declared(declared, archive, members, shapes or {}, path)
            return {key: _read(archive, members[key]) for key in keys}
    except DataError:
        raise
    except _READ_ERRORS as err:
        raise broken_file(path, f"not a readable .npz archive ({_describe(err, path)})") from None


def _members(archive: zipfile.ZipFile, keys: Sequence[str], path: Path) -> Dict[str, str]:
    """The member name of each key (``key.npy``, or ``key`` itself as numpy also accepts)."""
    names = archive.namelist()
    members = {name[:-4] if name.endswith(".npy") else name: name for name in names}
    missing = [key for key in keys if key not in members]
    if missing:
        found = ", ".join(members) or "none"
        raise broken_file(path, f"lacks array(s) {', '.join(missing)} (has {found})")
    return members


def _declared(archive: zipfile.ZipFile, member: str, path: Path) -> Declared:
    with archive.open(member) as stream:
        version = npy.read_magic(stream)
        if version not in _HEADER_READERS:
            raise broken_file(path, f"array {member} is in .npy format {version}, not 1.0 or 2.0")
        shape, _, dtype = _HEADER_READERS[version](stream)
    if any(size < 0 for size in shape):
        raise broken_file(path, f"array {member} declares a negative shape {list(shape)}")
    return Declared(tuple(shape), dtype)


def _check_declared(declared: Mapping[str, Declared], archive: zipfile.ZipFile,
                    members: Mapping[str, str], shapes: Mapping[str, Tuple[int, ...]],
                    path: Path) -> None:
    for key, (shape, dtype) in declared.items():
        if dtype.kind not in NUMBER_KINDS or dtype.subdtype is not None:
            raise broken_file(path, f"array {key!r} holds {dtype} values, expected numbers")
        if key in shapes and tuple(shape) != tuple(shapes[key]):
            raise broken_file(path, f"{key} have shape {list(shape)}, expected {list(shapes[key])}")
        stored = archive.getinfo(members[key]).file_size
        if declared[key].nbytes > stored:
            raise broken_file(path, f"array {key!r} declares {declared[key].nbytes} bytes but its "
                              f"member holds {stored} (damaged or truncated)")
    total = sum(item.nbytes for item in declared.values())
    if total > MAX_ARRAY_BYTES:
        raise broken_file(path, f"arrays declare {total / 2**30:.1f} GiB, more than the "
                          f"{MAX_ARRAY_BYTES / 2**30:.0f} GiB a sample may take")


def _read(archive: zipfile.ZipFile, member: str) -> np.ndarray:
    with archive.open(member) as stream:
        return np.asarray(npy.read_array(stream, allow_pickle=False))


def _describe(err: BaseException, path: Path) -> str:
    if isinstance(err, zipfile.BadZipFile) and _starts_with(path, _NPY_MAGIC):
        return "it holds a single .npy array, not an .npz archive of named arrays"
    return f"{type(err).__name__}: {err}" if not str(err) else str(err)


def _starts_with(path: Path, prefix: bytes) -> bool:
    try:
        with open(path, "rb") as stream:
            return stream.read(len(prefix)) == prefix
    except OSError:
        return False
