"""Data made by the user's code: ``--dataset FILE.py:NAME`` or ``pkg.module:NAME``.

NAME is a Dataset, a DataLoader or an iterable of batches, or a function returning one
(called without arguments). Everything the user's code does runs guarded: an exception or a
``sys.exit`` in the import, the call, ``len``, an item or a batch is a DataError naming the
spec, the item and the exception. Items and batches are tensors, ``(x, y, ...)`` or dicts with
an input key; inputs must be dense, real, finite, on a real device and non-empty.

A map-style Dataset is indexed lazily (a ``__len__`` of 10^12 costs nothing) and read item by
item while counting. An iterable has no index: its batches are read up front, at most
``--samples`` samples, else ``DEFAULT_SAMPLES`` (said on stderr), and at most
``syops.data.user.MAX_BYTES`` of inputs.
"""

from __future__ import annotations

import itertools
from typing import Any, Iterable, Iterator, List, Mapping, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader

from syops.data import user
from syops.data.dataset import DatasetInfo, IndexedSamples, SampleDataset, Skipped
from syops.data.errors import DataError
from syops.imports import ImportSpecError, load_object, spec_folders, summary, user_code

DEFAULT_SAMPLES = 10_000
"""Samples read from an iterable of batches when --samples does not say."""
BATCH_OVERHEAD = 1024  # bytes per batch kept (tensor and list objects), counted in the bound


def from_factory(spec: str, time_first: bool, limit: Optional[int],
                 skip_bad: bool = False) -> SampleDataset:
    try:
        made = load_object(spec)
        if callable(made) and not isinstance(made, (torch.utils.data.Dataset, DataLoader)):
            with user_code(f"{spec}()", spec_folders(spec)):
                made = made()
    except ImportSpecError as exc:
        raise DataError(str(exc)) from None
    except Exception as exc:
        raise DataError(f"calling it failed ({summary(exc)})", spec) from None
    if isinstance(made, DataLoader) and _is_map_style(made.dataset):
        made = made.dataset
    if _is_map_style(made):
        return _map_dataset(spec, made, time_first, skip_bad)
    if isinstance(made, Iterable):
        return _batches_dataset(spec, made, time_first, limit, skip_bad)
    raise DataError(f"gave a {type(made).__name__}; expected a Dataset, a DataLoader or an "
                    f"iterable of batches", spec)


def _is_map_style(value: Any) -> bool:
    return hasattr(value, "__getitem__") and hasattr(value, "__len__") and \
        not isinstance(value, (torch.Tensor, np.ndarray, list, tuple, Mapping))


def guarded(spec: str, what: str, call: Any) -> Any:
    """``call()`` of the user's code; any exception or exit is a DataError naming ``what``."""
    try:
        with user_code(f"{spec}: {what}"):
            return call()
    except ImportSpecError as exc:
        raise DataError(str(exc)) from None
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{what} raised {summary(exc)}", spec) from None


def split_item(item: Any, where: str) -> Tuple[torch.Tensor, Any]:
    """(inputs, label or None) of one item or batch: a tensor, (x, y, ...) or a dict with
    one of the input keys."""
    if isinstance(item, Mapping):
        inputs, labels = user.pick(where, [k for k in item], only_one=False)
        return _tensor(item[inputs], where), item.get(labels) if labels else None
    if isinstance(item, (tuple, list)) and item:
        return _tensor(item[0], where), item[1] if len(item) > 1 else None
    return _tensor(item, where), None


def _tensor(value: Any, where: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        if value.is_meta:
            raise DataError("gave inputs on the meta device (no values); give real tensors",
                            where)
        if value.layout != torch.strided:
            raise DataError(f"gave {value.layout} inputs; give dense tensors (.to_dense())",
                            where)
    try:
        tensor = torch.as_tensor(value).detach().cpu()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise DataError(f"gave inputs that are not a tensor ({exc})", where) from None
    if tensor.is_complex() or tensor.dtype not in _REAL:
        raise DataError(f"gave {tensor.dtype} inputs, not real numbers", where)
    if tensor.numel() == 0:
        raise DataError(f"gave empty inputs of shape {list(tensor.shape)}", where)
    return tensor.float()


_REAL = (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
         torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _label(value: Any, where: str) -> int:
    if value is None:
        return user.NO_LABEL
    try:
        return int(torch.as_tensor(value).reshape(-1)[0])
    except (TypeError, ValueError, RuntimeError, IndexError) as exc:
        raise DataError(f"gave a label that is not an integer ({exc})", where) from None


class UserItems(SampleDataset):
    """The user's map-style Dataset, read item by item (each with its own label)."""

    def __init__(self, spec: str, dataset: Any, info: DatasetInfo, size: int):
        super().__init__(info, IndexedSamples(spec, size), None)
        self.dataset, self.spec = dataset, spec

    def __getitem__(self, index: int) -> Any:
        key = self.samples[index].key
        try:
            return read_item(self.spec, self.dataset, key)
        except DataError as err:
            if not self.skip_bad_items:
                raise
            return Skipped(self.spec, err.reason.split(";")[0])


def read_item(spec: str, dataset: Any, key: int) -> Tuple[torch.Tensor, int]:
    """Item ``key`` of the user's Dataset: finite float32 inputs and a label."""
    raw = guarded(spec, f"item {key}", lambda: dataset[key])
    inputs, label = split_item(raw, spec)
    values = user.finite_float32(inputs.numpy(), spec, key)
    return torch.from_numpy(values), _label(label, spec)


def _map_dataset(spec: str, dataset: Any, time_first: bool, skip_bad: bool) -> SampleDataset:
    size = guarded(spec, "len()", lambda: len(dataset))
    if size == 0:
        raise DataError("gave an empty dataset", spec)
    first, _ = read_item(spec, dataset, 0)
    user.check_time_first(tuple(first.shape), time_first, spec)
    info = user.info(spec, spec, tuple(first.shape), 0, time_first, "user Dataset")
    items = UserItems(spec, dataset, info, size)
    items.skip_bad_items = skip_bad
    return items


_END = object()


def _batches(spec: str, batches: Iterable) -> Iterator[Any]:
    iterator = guarded(spec, "iter()", lambda: iter(batches))
    for number in itertools.count():
        batch = guarded(spec, f"batch {number}", lambda: next(iterator, _END))
        if batch is _END:
            return
        yield batch


def _labels_of(y: Any, count: int, spec: str) -> List[int]:
    if y is None:
        return [user.NO_LABEL] * count
    try:
        values = [int(v) for v in torch.as_tensor(y).reshape(-1)[:count]]
    except (TypeError, ValueError, RuntimeError) as exc:
        raise DataError(f"gave labels that are not integers ({exc})", spec) from None
    return values + [user.NO_LABEL] * (count - len(values))


def _batches_dataset(spec: str, batches: Iterable, time_first: bool, limit: Optional[int],
                     skip_bad: bool) -> SampleDataset:
    """An iterable of batches, read (up to ``limit`` samples) and split into samples."""
    cap = limit or DEFAULT_SAMPLES
    inputs: List[torch.Tensor] = []
    labels: List[int] = []
    skipped: List[Skipped] = []
    size = 0
    more = False
    for number, batch in enumerate(_batches(spec, batches)):
        if len(labels) + len(skipped) >= cap:  # skipped ones count: NaN forever still ends
            more = True
            break
        x, y = split_item(batch, spec)
        if x.dim() < 2:
            raise DataError(f"gave a batch of shape {list(x.shape)}; expected [B, ...]", spec)
        keep = torch.isfinite(x.flatten(1)).all(1)
        if not keep.all():
            if not skip_bad:
                raise DataError(f"batch {number} holds NaN or inf; fix the data, or pass "
                                f"--skip-bad to leave such samples out", spec)
            skipped += [Skipped(f"{spec} batch {number}", "NaN or inf")] * int((~keep).sum())
        ys = [label for label, good in zip(_labels_of(y, len(x), spec), keep.tolist()) if good]
        x = x[keep][:cap - len(labels)]
        inputs.append(x)
        labels += ys[:len(x)]
        size += x.numel() * 4 + BATCH_OVERHEAD
        if size > user.MAX_BYTES:
            raise DataError(f"yields more than {user.MAX_BYTES >> 30} GiB of batches; pass "
                            f"--samples N, or return a Dataset", spec)
    if not inputs or not labels:
        raise DataError("gave no batches" if not inputs and not skipped else
                        "gave no sample without NaN or inf", spec)
    try:
        stacked = torch.cat(inputs)
    except RuntimeError as exc:
        raise DataError(f"gave batches of different sample shapes ({exc})", spec) from None
    user.check_time_first(tuple(stacked.shape[1:]), time_first, spec)
    classes = max(labels) + 1
    dataset = SampleDataset(user.info(spec, spec, tuple(stacked.shape[1:]), classes,
                                      time_first, "user batches"),
                            IndexedSamples(spec, len(labels), labels),
                            user.ArrayReader(stacked, spec), skipped)
    if more and limit is None:
        dataset.warnings = (f"{spec} has no length (an iterable of batches): profiling its "
                            f"first {len(labels):,} samples; pass --samples N to choose",)
    return dataset

