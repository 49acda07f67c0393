"""Data sets whose samples are records of a few large files (MNIST, CIFAR, SHD): file checks
before reading, and labels checked record by record (skip_bad drops a bad record only)."""

from __future__ import annotations

from pathlib import Path
from typing import List

import numpy as np

from syops.data.dataset import Sample, SkipLog
from syops.data.errors import broken_file


def regular_file_size(path: Path) -> int:
    """The size of a regular file; DataError for a FIFO, device or folder (never read those)."""
    if not path.is_file():
        raise broken_file(path, "is not a regular file")
    return path.stat().st_size


def labelled_records(path: Path, labels: np.ndarray, num_classes: int,
                     skips: SkipLog) -> List[Sample]:
    """One sample per record of ``path`` (key = record index) whose label is a class; a record
    with another label is a DataError naming the file, or under skip_bad a skipped record."""
    samples = []
    for index, label in enumerate(labels.tolist()):
        if 0 <= label < num_classes:
            samples.append(Sample(str(path), label, index))
        else:
            skips.attempt(str(path), lambda: _bad_label(path, index, label, num_classes))
    return samples


def _bad_label(path: Path, index: int, label: int, num_classes: int) -> None:
    raise broken_file(path, f"record {index} has label {label}, outside 0..{num_classes - 1}")

