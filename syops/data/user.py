"""The user's own data behind ``--dataset``: a tensor file, or a factory in their code.

- ``FILE.npy``: the inputs ``[N, ...]``; ``FILE.npz`` or ``FILE.pt``: inputs under ``x``,
  ``inputs``, ``data`` or ``frames`` (or the only array), labels (optional, ``[N]``
  integers) under ``y``, ``labels`` or ``targets``; a ``.pt`` may also hold one tensor or an
  ``(inputs, labels)`` pair. ``.pt`` is read with ``torch.load(weights_only=True)`` in the
  zip format only (a legacy file allocates what it declares before reading).
- ``FILE.py:NAME`` / ``pkg.module:NAME``: see ``syops.data.user_code``.

Memory is bounded by what the run reads, not by what a file declares: a ``.npy`` is read a
row at a time (never mapped whole), an ``.npz`` member only for its first ``limit`` rows,
and every read is at most ``MAX_BYTES``. Items are ``(float32 tensor, int label)``, label
-1 where the data has none; an item holding NaN or inf is refused (``--skip-bad`` drops it).
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from numpy.lib import format as npy

from syops.data.dataset import DatasetInfo, IndexedSamples, Sample, SampleDataset
from syops.data.errors import DataError
from syops.data.npz import _READ_ERRORS as READ_ERRORS
from syops.imports import is_object_spec

TENSOR_SUFFIXES = (".npy", ".npz", ".pt", ".pth")
INPUT_KEYS = ("x", "inputs", "data", "frames")
LABEL_KEYS = ("y", "labels", "targets")
NUMBER_KINDS = "biuf"
MAX_BYTES = 1 << 30
"""The most bytes read from one user file (as declared): more is refused before reading."""
NO_LABEL = -1
_HEADERS = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}


def is_user_data(name: Optional[str]) -> bool:
    """Whether a ``--dataset`` value names a tensor file or ``FILE.py:NAME``."""
    if not name:
        return False
    return Path(name).suffix.lower() in TENSOR_SUFFIXES or is_object_spec(name)


def open_user_data(name: str, *, time_first: bool = False, limit: Optional[int] = None,
                   skip_bad: bool = False) -> SampleDataset:
    """The data set of a tensor file or factory; ``limit`` bounds how many samples are read
    (the rest are never touched). With ``time_first`` the samples are ``[T, ...]``."""
    if is_object_spec(name) and Path(name).suffix.lower() not in TENSOR_SUFFIXES:
        from syops.data.user_code import from_factory
        return from_factory(name, time_first, limit, skip_bad)
    path = Path(name).expanduser()
    if not path.is_file():
        raise DataError("no such file (a --dataset ending in .npy, .npz or .pt is read as a "
                        "tensor file)", path)
    inputs, labels = TENSOR_READERS[path.suffix.lower()](path, limit)
    dataset = tensor_dataset(path, inputs, labels, time_first)
    dataset.skip_bad_items = skip_bad
    return dataset


# ------------------------------------------------------------------ checks
def check_time_first(shape: Sequence[int], time_first: bool, where: Any) -> None:
    """``--time-first`` needs samples ``[T, ...]`` with a feature part: a [T] sample has none."""
    if time_first and len(shape) < 2:
        raise DataError(f"--time-first reads each sample as [T, ...], but the samples have "
                        f"shape {list(shape)}; drop --time-first", where)


def finite_float32(values: Any, where: Any, item: Any) -> np.ndarray:
    """``values`` as float32, refused when NaN or inf (also float64 beyond float32's range)."""
    with np.errstate(over="ignore", invalid="ignore"):
        array = np.array(values, dtype=np.float32)  # a copy: torch wants writable arrays
    if not np.isfinite(array).all():
        raise DataError(f"item {item} holds NaN or inf; fix the data, or pass --skip-bad to "
                        f"leave such items out", where)
    return array


def _labels(path: Path, labels: Any, count: int) -> Optional[np.ndarray]:
    if labels is None:
        return None
    labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    if labels.shape != (count,) or labels.dtype.kind not in "biuf" or \
            (labels.dtype.kind == "f" and not np.all(np.mod(labels, 1) == 0)):
        raise DataError(f"the labels have shape {list(labels.shape)} ({labels.dtype}); expected "
                        f"[{count}] integers, one per sample", path)
    return labels.astype(np.int64)


def _checked_kind(path: Path, dtype: Any, is_complex: bool = False) -> None:
    kind = dtype.kind if isinstance(dtype, np.dtype) else (
        "b" if dtype == torch.bool else "f" if dtype.is_floating_point else "i")
    if kind not in NUMBER_KINDS or is_complex or getattr(dtype, "hasobject", False):
        raise DataError(f"the inputs are {dtype}, not numbers", path)


def _checked_shape(path: Path, shape: Tuple[int, ...]) -> None:
    if len(shape) < 2 or shape[0] == 0 or 0 in shape:
        raise DataError(f"the inputs have shape {list(shape)}; expected [N, ...] with N >= 1 "
                        f"samples of at least one value", path)


def pick(where: Any, names: Sequence[str], only_one: bool = True) -> Tuple[str, Optional[str]]:
    """(inputs name, labels name or None) among the arrays of a file or keys of a batch;
    with ``only_one`` a single unnamed array is the inputs."""
    inputs = next((n for n in INPUT_KEYS if n in names), None)
    labels = next((n for n in LABEL_KEYS if n in names), None)
    others = [n for n in names if n != labels]
    if inputs is None and only_one and len(others) == 1:
        inputs = others[0]
    if inputs is None:
        raise DataError(f"holds {', '.join(map(str, names)) or 'no arrays'}; name the inputs "
                        f"{', '.join(INPUT_KEYS)} (labels: {', '.join(LABEL_KEYS)})", where)
    return inputs, labels


# ------------------------------------------------------------------ .npy and .npz
@dataclass(frozen=True)
class Declared:
    """An array's .npy header: its shape, dtype and where its data starts."""

    shape: Tuple[int, ...]
    dtype: np.dtype
    fortran: bool
    offset: int

    @property
    def row_bytes(self) -> int:
        return math.prod(self.shape[1:]) * self.dtype.itemsize


def read_header(stream: Any, path: Path, name: str = "the inputs") -> Declared:
    try:
        version = npy.read_magic(stream)
        if version not in _HEADERS:
            raise ValueError(f".npy format {version}")
        shape, fortran, dtype = _HEADERS[version](stream)
    except READ_ERRORS as exc:
        raise DataError(f"not a readable .npy array ({exc})", path) from None
    _checked_kind(path, dtype)
    if fortran and len(shape) > 1:
        raise DataError(f"{name} are stored in Fortran order; save a C-ordered array "
                        f"(np.ascontiguousarray)", path)
    return Declared(tuple(shape), dtype, fortran, stream.tell())


def _rows_wanted(path: Path, declared: Declared, limit: Optional[int]) -> int:
    rows = declared.shape[0] if not declared.shape or limit is None else \
        min(declared.shape[0], limit)
    if declared.shape and rows * declared.row_bytes > MAX_BYTES:
        raise DataError(f"declares {list(declared.shape)} {declared.dtype}; reading "
                        f"{rows:,} samples would take more than {MAX_BYTES >> 30} GiB: pass "
                        f"--samples N (fewer), or save the inputs as .npy (read a row at a "
                        f"time)", path)
    return rows


@dataclass(frozen=True)
class NpyRows:
    """Row ``key`` of a .npy file, read from disk on each access (O(row) memory)."""

    path: str
    declared: Declared

    def __call__(self, sample: Sample) -> np.ndarray:
        size = self.declared.row_bytes
        with open(self.path, "rb") as stream:
            stream.seek(self.declared.offset + sample.key * size)
            data = stream.read(size)
        if len(data) != size:
            raise DataError(f"item {sample.key} is cut short (file truncated?)", self.path)
        row = np.frombuffer(data, self.declared.dtype).reshape(self.declared.shape[1:])
        return finite_float32(row, self.path, sample.key)


def read_npy(path: Path, limit: Optional[int]) -> Tuple[Any, None]:
    with open(path, "rb") as stream:
        declared = read_header(stream, path)
    _checked_shape(path, declared.shape)
    held = path.stat().st_size - declared.offset
    if declared.shape[0] * declared.row_bytes > held:
        raise DataError(f"declares {list(declared.shape)} {declared.dtype} "
                        f"({declared.shape[0] * declared.row_bytes:,} bytes) but holds "
                        f"{held:,}", path)
    return NpyRows(str(path), declared), None


def _npz_prefix(archive: zipfile.ZipFile, member: str, path: Path, limit: Optional[int],
                name: str) -> np.ndarray:
    """The first ``limit`` rows of an .npz member, read without its other rows."""
    with archive.open(member) as stream:
        declared = read_header(stream, path, name)
        rows = _rows_wanted(path, declared, limit)
        size = rows * declared.row_bytes
        data = stream.read(size)
    if len(data) != size:
        raise DataError(f"{name} declare {list(declared.shape)} but the archive holds "
                        f"fewer bytes (damaged or truncated)", path)
    return np.frombuffer(data, declared.dtype).reshape((rows, *declared.shape[1:]))


def read_npz(path: Path, limit: Optional[int]) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    try:
        with zipfile.ZipFile(path) as archive:
            members = {n[:-4] if n.endswith(".npy") else n: n for n in archive.namelist()}
            inputs, labels = pick(path, list(members))
            x = _npz_prefix(archive, members[inputs], path, limit, "the inputs")
            _checked_shape(path, x.shape)
            y = _npz_prefix(archive, members[labels], path, len(x), "the labels") \
                if labels else None
            return x, y
    except DataError:
        raise
    except READ_ERRORS as exc:
        raise DataError(f"not a readable .npz archive ({exc})", path) from None


# ------------------------------------------------------------------ .pt
def read_pt(path: Path, limit: Optional[int]) -> Tuple[Any, Any]:
    _check_pt_sizes(path)
    try:
        content = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # torch raises many types for bad files
        reason = str(exc).strip().splitlines()
        raise DataError(f"not a tensor file torch.load(weights_only=True) can read "
                        f"({reason[-1] if reason else type(exc).__name__})", path) from None
    if isinstance(content, torch.Tensor):
        return content, None
    if isinstance(content, (tuple, list)) and len(content) == 2 and \
            all(isinstance(c, torch.Tensor) for c in content):
        return content[0], content[1]
    if isinstance(content, Mapping):
        tensors = {str(k): v for k, v in content.items() if isinstance(v, torch.Tensor)}
        inputs, labels = pick(path, list(tensors))
        return tensors[inputs], tensors[labels] if labels else None
    raise DataError(f"holds a {type(content).__name__}; expected a tensor [N, ...], an "
                    f"(inputs, labels) pair or a dict of tensors", path)


def _check_pt_sizes(path: Path) -> None:
    """A zip-format .pt declares each storage's size: refuse more than the bound. A legacy
    (pre-1.6) file is refused: torch allocates what it declares before reading it."""
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as stream:
            if stream.read(1) != b"\x80":  # not a pickle either
                raise DataError("not a tensor file torch.load(weights_only=True) can read "
                                "(neither torch's zip format nor a pickle)", path)
        raise DataError("is in torch's legacy format (it allocates what it declares before "
                        "reading); load it and save it again with torch.save (the zip format, "
                        "the default since torch 1.6), or save the inputs as .npy", path)
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except READ_ERRORS as exc:
        raise DataError(f"not a readable torch zip archive ({exc})", path) from None
    if declared > MAX_BYTES:
        raise DataError(f"declares {declared:,} bytes of tensors, more than the "
                        f"{MAX_BYTES >> 30} GiB a .pt may hold here; save the inputs as .npy",
                        path)


TENSOR_READERS = {".npz": read_npz, ".npy": read_npy, ".pt": read_pt, ".pth": read_pt}


# ------------------------------------------------------------------ the data set
@dataclass(frozen=True)
class ArrayReader:
    """Sample ``key`` of an in-memory array (numpy, or a memory-mapped tensor) as float32."""

    array: Any
    path: str

    def __call__(self, sample: Sample) -> np.ndarray:
        item = self.array[sample.key]
        if isinstance(item, torch.Tensor):
            item = item.numpy()
        return finite_float32(item, self.path, sample.key)


def tensor_dataset(path: Path, inputs: Any, labels: Any, time_first: bool) -> SampleDataset:
    if isinstance(inputs, NpyRows):
        shape, reader = inputs.declared.shape, inputs
        _checked_shape(path, shape)
    else:
        if isinstance(inputs, torch.Tensor):
            inputs = inputs.detach()
            _checked_kind(path, inputs.dtype, inputs.is_complex())
        else:
            _checked_kind(path, inputs.dtype)
        shape, reader = tuple(inputs.shape), ArrayReader(inputs, str(path))
        _checked_shape(path, shape)
    check_time_first(shape[1:], time_first, path)
    names = _labels(path, labels, shape[0])
    samples = IndexedSamples(str(path), int(shape[0]), names)
    classes = int(names.max()) + 1 if names is not None else 0
    return SampleDataset(info(path.name, str(path), tuple(shape[1:]), classes, time_first,
                              f"tensor file ({path.suffix})"), samples, reader)


def info(name: str, source: str, shape: Tuple[int, ...], num_classes: int,
         time_first: bool, layout: str) -> DatasetInfo:
    return DatasetInfo(name=name, num_classes=num_classes, sample_shape=shape,
                       T=shape[0] if time_first and shape else None, synthetic=False,
                       source=source, split="all", layout=layout)
