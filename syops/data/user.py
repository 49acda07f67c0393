"""The user's own data behind ``--dataset``: a tensor file, or a factory in their code.

- ``FILE.npy``: the inputs ``[N, ...]``; ``FILE.npz`` or ``FILE.pt``: inputs under ``x``,
  ``inputs``, ``data`` or ``frames`` (or the only array), labels (optional, ``[N]``
  integers) under ``y``, ``labels`` or ``targets``; a ``.pt`` may also hold one tensor or an
  ``(inputs, labels)`` pair. ``.pt`` is read with ``torch.load(weights_only=True)``; every
  file's declared array sizes are checked before anything is allocated.
- ``FILE.py:NAME`` / ``pkg.module:NAME``: a Dataset, a DataLoader or an iterable of
  batches, or a function returning one (called without arguments). Batches (tensors,
  ``(x, y)`` pairs or dicts) are split into samples and re-batched with ``--batch-size``.

Items are ``(float32 tensor, int label)``, label -1 where the data has none.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from numpy.lib import format as npy
from torch.utils.data import DataLoader

from syops.data.dataset import DatasetInfo, Sample, SampleDataset
from syops.data.errors import DataError
from syops.data.npz import read_npz_arrays
from syops.imports import ImportSpecError, is_object_spec, load_object

TENSOR_SUFFIXES = (".npy", ".npz", ".pt", ".pth")
INPUT_KEYS = ("x", "inputs", "data", "frames")
LABEL_KEYS = ("y", "labels", "targets")
NUMBER_KINDS = "biuf"
MAX_BYTES = 1 << 30
"""Arrays above 1 GiB (as declared) are refused: give a .npy, which is memory-mapped."""
MAX_NPY_BYTES = 64 << 30
NO_LABEL = -1


def is_user_data(name: Optional[str]) -> bool:
    """Whether a ``--dataset`` value names a tensor file or ``FILE.py:NAME``."""
    if not name:
        return False
    return Path(name).suffix.lower() in TENSOR_SUFFIXES or is_object_spec(name)


def open_user_data(name: str, *, time_first: bool = False,
                   limit: Optional[int] = None) -> SampleDataset:
    """The data set of a tensor file or factory; ``limit`` bounds how many samples an
    iterable of batches is read for. With ``time_first`` the samples are ``[T, ...]``."""
    if is_object_spec(name) and Path(name).suffix.lower() not in TENSOR_SUFFIXES:
        return _from_factory(name, time_first, limit)
    path = Path(name).expanduser()
    if not path.is_file():
        raise DataError("no such file (a --dataset ending in .npy, .npz or .pt is read as a "
                        "tensor file)", path)
    inputs, labels = TENSOR_READERS[path.suffix.lower()](path)
    return _tensor_dataset(path, inputs, labels, time_first)


# ------------------------------------------------------------------ tensor files
def _checked_inputs(path: Path, inputs: Any, labels: Any) -> Tuple[Any, Optional[np.ndarray]]:
    if isinstance(inputs, torch.Tensor):
        inputs = inputs.detach()
    shape = tuple(inputs.shape)
    kind = inputs.dtype.kind if isinstance(inputs, np.ndarray) else (
        "b" if inputs.dtype == torch.bool else "f" if inputs.is_floating_point() else "i")
    if kind not in NUMBER_KINDS or (isinstance(inputs, torch.Tensor) and inputs.is_complex()):
        raise DataError(f"the inputs are {inputs.dtype}, not numbers", path)
    if len(shape) < 2 or shape[0] == 0:
        raise DataError(f"the inputs have shape {list(shape)}; expected [N, ...] with N >= 1 "
                        f"samples", path)
    if labels is None:
        return inputs, None
    labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    if labels.shape != (shape[0],) or labels.dtype.kind not in "biuf" or \
            (labels.dtype.kind == "f" and not np.all(np.mod(labels, 1) == 0)):
        raise DataError(f"the labels have shape {list(labels.shape)} ({labels.dtype}); expected "
                        f"[{shape[0]}] integers, one per sample", path)
    return inputs, labels.astype(np.int64)


def _pick(path: Path, names: Sequence[str]) -> Tuple[str, Optional[str]]:
    """(inputs name, labels name or None) among the arrays of a file."""
    inputs = next((n for n in INPUT_KEYS if n in names), None)
    labels = next((n for n in LABEL_KEYS if n in names), None)
    others = [n for n in names if n != labels]
    if inputs is None and len(others) == 1:
        inputs = others[0]
    if inputs is None:
        raise DataError(f"holds {', '.join(names) or 'no arrays'}; name the inputs "
                        f"{', '.join(INPUT_KEYS)} (labels: {', '.join(LABEL_KEYS)})", path)
    return inputs, labels


def _read_npz(path: Path) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n[:-4] if n.endswith(".npy") else n for n in archive.namelist()]
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"not a readable .npz archive ({exc})", path) from None
    inputs, labels = _pick(path, names)
    arrays = read_npz_arrays(path, [inputs] + ([labels] if labels else []))
    return arrays[inputs], arrays.get(labels) if labels else None


def _read_npy(path: Path) -> Tuple[np.ndarray, None]:
    try:
        with open(path, "rb") as stream:
            version = npy.read_magic(stream)
            shape, _, dtype = (npy.read_array_header_1_0 if version == (1, 0)
                               else npy.read_array_header_2_0)(stream)
            offset = stream.tell()
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"not a readable .npy file ({exc})", path) from None
    if dtype.kind not in NUMBER_KINDS or dtype.hasobject:
        raise DataError(f"the inputs are {dtype}, not numbers", path)
    declared = math.prod(shape) * dtype.itemsize
    if declared > path.stat().st_size - offset or declared > MAX_NPY_BYTES:
        raise DataError(f"declares {list(shape)} {dtype} ({declared:,} bytes) but holds "
                        f"{path.stat().st_size - offset:,}", path)
    return np.load(path, mmap_mode="r", allow_pickle=False), None


def _read_pt(path: Path) -> Tuple[Any, Any]:
    _check_pt_sizes(path)
    try:
        content = torch.load(path, map_location="cpu", weights_only=True,
                             mmap=zipfile.is_zipfile(path))
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
        inputs, labels = _pick(path, list(tensors))
        return tensors[inputs], tensors[labels] if labels else None
    raise DataError(f"holds a {type(content).__name__}; expected a tensor [N, ...], an "
                    f"(inputs, labels) pair or a dict of tensors", path)


def _check_pt_sizes(path: Path) -> None:
    """A zip-format .pt declares each storage's size: refuse more than the bound."""
    if not zipfile.is_zipfile(path):
        if path.stat().st_size > MAX_BYTES:
            raise DataError(f"is larger than {MAX_BYTES >> 30} GiB; save it as .npy", path)
        return
    with zipfile.ZipFile(path) as archive:
        declared = sum(info.file_size for info in archive.infolist())
    if declared > MAX_BYTES:
        raise DataError(f"declares {declared:,} bytes of tensors, more than the "
                        f"{MAX_BYTES >> 30} GiB a .pt may hold here; save the inputs as .npy",
                        path)


TENSOR_READERS = {".npz": _read_npz, ".npy": _read_npy, ".pt": _read_pt, ".pth": _read_pt}


class ArrayReader:
    """Sample ``key`` of an array (numpy, memory-mapped or a tensor) as float32."""

    def __init__(self, array: Any):
        self.array = array

    def __call__(self, sample: Sample) -> np.ndarray:
        item = self.array[sample.key]
        if isinstance(item, torch.Tensor):
            item = item.numpy()
        return np.array(item, dtype=np.float32)


def _tensor_dataset(path: Path, inputs: Any, labels: Any, time_first: bool) -> SampleDataset:
    inputs, labels = _checked_inputs(path, inputs, labels)
    count = int(inputs.shape[0])
    names = [NO_LABEL] * count if labels is None else [int(v) for v in labels]
    samples = [Sample(str(path), label, index) for index, label in enumerate(names)]
    return SampleDataset(_info(path.name, str(path), tuple(inputs.shape[1:]), names,
                               time_first, f"tensor file ({path.suffix})"),
                         samples, ArrayReader(inputs))


def _info(name: str, source: str, shape: Tuple[int, ...], labels: Sequence[int],
          time_first: bool, layout: str) -> DatasetInfo:
    return DatasetInfo(name=name, num_classes=max(labels, default=NO_LABEL) + 1,
                       sample_shape=shape, T=shape[0] if time_first and shape else None,
                       synthetic=False, source=source, split="all", layout=layout)


# ------------------------------------------------------------------ factories
def _from_factory(spec: str, time_first: bool, limit: Optional[int]) -> SampleDataset:
    try:
        made = load_object(spec)
        if callable(made) and not isinstance(made, (torch.utils.data.Dataset, DataLoader)):
            made = made()
    except ImportSpecError as exc:
        raise DataError(str(exc)) from None
    except Exception as exc:
        raise DataError(f"calling it failed ({type(exc).__name__}: {exc})", spec) from None
    if isinstance(made, DataLoader) and _is_map_style(made.dataset):
        made = made.dataset
    if _is_map_style(made):
        return _map_dataset(spec, made, time_first)
    if isinstance(made, Iterable):
        return _batches_dataset(spec, made, time_first, limit)
    raise DataError(f"gave a {type(made).__name__}; expected a Dataset, a DataLoader or an "
                    f"iterable of batches", spec)


def _is_map_style(value: Any) -> bool:
    return hasattr(value, "__getitem__") and hasattr(value, "__len__") and \
        not isinstance(value, (torch.Tensor, np.ndarray, list, tuple, Mapping))


def split_item(item: Any, where: str) -> Tuple[torch.Tensor, Any]:
    """(inputs, label or None) of one item or batch: a tensor, (x, y, ...) or a dict."""
    if isinstance(item, Mapping):
        inputs, labels = _pick(Path(where), [k for k in item])
        return _tensor(item[inputs], where), item.get(labels) if labels else None
    if isinstance(item, (tuple, list)) and item:
        return _tensor(item[0], where), item[1] if len(item) > 1 else None
    return _tensor(item, where), None


def _tensor(value: Any, where: str) -> torch.Tensor:
    try:
        tensor = torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise DataError(f"gave inputs that are not a tensor ({exc})", where) from None
    if tensor.is_complex():
        raise DataError(f"gave {tensor.dtype} inputs, not real numbers", where)
    return tensor.float()


def _label(value: Any) -> int:
    if value is None:
        return NO_LABEL
    return int(torch.as_tensor(value).reshape(-1)[0])


class ItemReader:
    """Item ``key`` of the user's map-style dataset, as float32 inputs."""

    def __init__(self, dataset: Any, where: str):
        self.dataset, self.where = dataset, where

    def __call__(self, sample: Sample) -> np.ndarray:
        return split_item(self.dataset[sample.key], self.where)[0].numpy()


class UserItems(SampleDataset):
    """A SampleDataset over the user's dataset, each item with its own label."""

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, int]:
        sample = self.samples[index]
        inputs, label = split_item(self.reader.dataset[sample.key], self.reader.where)
        return inputs, _label(label)


def _map_dataset(spec: str, dataset: Any, time_first: bool) -> SampleDataset:
    if len(dataset) == 0:
        raise DataError("gave an empty dataset", spec)
    first, _ = split_item(dataset[0], spec)
    samples = [Sample(spec, NO_LABEL, index) for index in range(len(dataset))]
    info = _info(spec, spec, tuple(first.shape), [NO_LABEL], time_first, "user Dataset")
    return UserItems(info, samples, ItemReader(dataset, spec))


def _batches_dataset(spec: str, batches: Iterable, time_first: bool,
                     limit: Optional[int]) -> SampleDataset:
    """An iterable of batches, read (up to ``limit`` samples) and split into samples."""
    inputs, labels, size = [], [], 0
    for batch in batches:
        x, y = split_item(batch, spec)
        if x.dim() < 2:
            raise DataError(f"gave a batch of shape {list(x.shape)}; expected [B, ...]", spec)
        inputs.append(x)
        labels += [NO_LABEL] * len(x) if y is None else [int(v) for v in torch.as_tensor(y)
                                                           .reshape(-1)[:len(x)]]
        size += x.numel() * 4
        if size > MAX_BYTES:
            raise DataError(f"yields more than {MAX_BYTES >> 30} GiB of batches; pass "
                            f"--samples N, or return a Dataset", spec)
        if limit is not None and sum(len(i) for i in inputs) >= limit:
            break
    if not inputs:
        raise DataError("gave no batches", spec)
    try:
        stacked = torch.cat(inputs)
    except RuntimeError as exc:
        raise DataError(f"gave batches of different sample shapes ({exc})", spec) from None
    samples = [Sample(spec, label, index) for index, label in enumerate(labels)]
    return SampleDataset(_info(spec, spec, tuple(stacked.shape[1:]), labels, time_first,
                               "user batches"), samples, ArrayReader(stacked))
