"""The dataset object every name returns: an index of samples, read lazily, plus metadata."""

from __future__ import annotations

import dataclasses
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Tuple, TypeVar

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from syops.data.errors import DataError

T_ = TypeVar("T_")
GOOD_SAMPLES_NEEDED: ContextVar[Optional[int]] = ContextVar("good_samples_needed", default=None)
"""Under skip_bad, how many readable samples a build checks for (``limit`` of get_dataset:
the run's --samples), so a file declaring 10^6 samples costs what the run reads."""


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is, for reports: ``describe()`` gives the one-line label to print."""

    name: str
    num_classes: int
    sample_shape: Tuple[int, ...]
    T: Optional[int]
    synthetic: bool
    source: str  # the data root, or "synthetic (seed N)"
    split: str
    layout: str  # which on-disk layout was read, or "synthetic"
    num_samples: int = 0
    num_skipped: int = 0
    seed: Optional[int] = None  # synthetic stand-ins only

    def describe(self) -> str:
        """E.g. 'dvs-gesture (synthetic, seed 0)' or 'dvs-gesture (/data, 288 samples, test split)'."""
        if self.synthetic:
            return f"{self.name} (synthetic, seed {self.seed})"
        skipped = f", {self.num_skipped} bad file(s) skipped" if self.num_skipped else ""
        return f"{self.name} ({self.source}, {self.num_samples} samples, {self.split} split{skipped})"


@dataclass(frozen=True)
class Sample:
    """Where one item is read from: a file, its label, and a reader-specific key
    (a recording's time window, a synthetic item's index)."""

    path: str
    label: int
    key: Any = None


@dataclass(frozen=True)
class Skipped:
    """A file left out under skip_bad, and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


Reader = Callable[[Sample], np.ndarray]


@dataclass(frozen=True)
class IndexedSamples(Sequence):
    """The index of ``size`` items of one source, made on access: a source declaring 10^12
    items costs nothing until its items are read. ``labels`` (indexable) gives each label."""

    path: str
    size: int
    labels: Any = None

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.size))]
        if not -self.size <= index < self.size:
            raise IndexError(f"item {index} of {self.size}")
        index %= self.size
        label = -1 if self.labels is None else int(self.labels[index])
        return Sample(self.path, label, index)


class SkipLog:
    """Runs reads that may fail on a broken file: raises, or (skip_bad) records and goes on."""

    def __init__(self, skip_bad: bool):
        self.skip_bad = skip_bad
        self.skipped: List[Skipped] = []

    def attempt(self, path: str, read: Callable[[], T_]) -> Optional[T_]:
        """``read()``, or None when it raised DataError and bad files are skipped."""
        try:
            return read()
        except DataError as err:
            if not self.skip_bad:
                raise
            entry = Skipped(err.path or str(path), err.reason)
            if entry not in self.skipped:  # a whole broken file is listed once, not per sample
                self.skipped.append(entry)
            return None

    def readable(self, path: str, read: Callable[[], Any]) -> bool:
        """Whether ``read()`` succeeds; failures raise unless bad files are skipped."""
        def read_and_confirm() -> bool:
            read()
            return True

        return bool(self.attempt(path, read_and_confirm))


class SampleDataset(Dataset):
    """A map-style dataset of ``(float32 tensor, int label)`` items read lazily.

    Holds only the sample index and a picklable reader, so it works in a DataLoader with
    worker processes. ``info`` describes it; ``skipped`` lists files left out by skip_bad.
    """

    skip_bad_items = False
    """Whether an item that fails to read is returned as a Skipped (``collate_good`` drops
    it) instead of raising: user data, whose items are only read while counting."""
    warnings: Tuple[str, ...] = ()
    """What the user should know about the data (said on stderr)."""

    def __init__(self, info: DatasetInfo, samples: Sequence[Sample], reader: Reader,
                 skipped: Sequence[Skipped] = ()):
        self.samples = samples if isinstance(samples, IndexedSamples) else list(samples)
        self.reader = reader
        self.skipped = tuple(skipped)
        self.info = dataclasses.replace(info, num_samples=len(self.samples),
                                        num_skipped=len(self.skipped))

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Any:
        sample = self.samples[index]
        try:
            return torch.from_numpy(self.reader(sample)), sample.label
        except DataError as err:
            if not self.skip_bad_items:
                raise
            return Skipped(err.path or sample.path, err.reason.split(";")[0])

    def dropped(self, skipped: Sequence[Skipped]) -> None:
        """Record items left out while counting (``--skip-bad``)."""
        self.skipped += tuple(skipped)
        self.info = dataclasses.replace(self.info, num_skipped=len(self.skipped))

    def describe(self) -> str:
        return self.info.describe()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


def collate_good(items: Sequence[Any]) -> Tuple[Any, List[Skipped]]:
    """(the batch of the readable items, or None; the Skipped ones): a DataLoader
    ``collate_fn`` for datasets with ``skip_bad_items``."""
    good = [item for item in items if not isinstance(item, Skipped)]
    bad = [item for item in items if isinstance(item, Skipped)]
    return (default_collate(good) if good else None), bad


class GoodBatches:
    """The batches of a DataLoader using ``collate_good``: empty ones left out, the
    dropped items recorded on ``dataset``. ``len`` is the DataLoader's (an upper bound)."""

    def __init__(self, loader: Any, dataset: SampleDataset):
        self.loader, self.dataset = loader, dataset

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for batch, bad in self.loader:
            if bad:
                self.dataset.dropped(bad)
            if batch is not None:
                yield batch


def assemble(info: DatasetInfo, samples: Sequence[Sample], reader: Reader,
             skips: SkipLog) -> SampleDataset:
    """The dataset over ``samples``; with skip_bad, every sample is read once first and the
    files that fail are left out. Raises DataError when no sample is left."""
    if skips.skip_bad:
        samples = _readable_samples(samples, reader, skips)
    if not samples:
        raise _no_samples_error(info, skips.skipped)
    return SampleDataset(info, samples, reader, skips.skipped)


def _readable_samples(samples: Sequence[Sample], reader: Reader,
                      skips: SkipLog) -> List[Sample]:
    """The samples that read without error, at most ``GOOD_SAMPLES_NEEDED``; each bad one
    is left out on its own (a broken window of a recording does not take the recording's
    good windows with it)."""
    needed = GOOD_SAMPLES_NEEDED.get()
    good: List[Sample] = []
    for sample in samples:
        if needed is not None and len(good) >= needed:
            break
        if skips.readable(sample.path, lambda: reader(sample)):
            good.append(sample)
    return good


def _no_samples_error(info: DatasetInfo, skipped: Sequence[Skipped]) -> DataError:
    where = f"{info.source} ({info.layout})"
    if skipped:
        return DataError(f"all {info.split} samples of {info.name} in {where} were in broken "
                         f"files ({len(skipped)} skipped, first: {skipped[0]})")
    return DataError(f"{where} holds no {info.split} samples of {info.name}; check the data "
                     f"root and the split")
