"""CIFAR10-DVS: 10 classes of CIFAR-10 images recorded by a DVS128 camera, 1000 per class.

Read from SpikingJelly's caches (``frames_number_<T>_split_by_number`` or ``events_np``, with
class folders directly inside, or inside ``train``/``test`` as its TEBN split makes them) or
from the published recordings ``<class>/cifar10_<class>_<i>.aedat`` (AEDAT 2.0).

The data set has no official split. Unless the cache holds train/test folders, we split as
SpikingJelly's ``split_to_train_test_set(0.9, dataset, 10)`` does on its folders: within each
class, files in name order; the first ceil(0.9 n) are train, the rest test.
"""

from __future__ import annotations

import math
from itertools import groupby
from pathlib import Path
from typing import List, Optional

from syops.data.aedat import read_aedat20_cifar10dvs
from syops.data.dataset import DatasetInfo, Sample, SampleDataset, SkipLog, assemble
from syops.data.dvs import (
    EventFileReader,
    find_cache,
    frames_shape,
    index_class_folders,
    no_layout_error,
)
from syops.data.errors import DataError

NAME = "cifar10-dvs"
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck")
SPLIT_FOLDERS = ("train", "test")
RECORDING_FOLDERS = (".", "extract")  # the root itself, or SpikingJelly's extract/
DEFAULT_TRAIN_RATIO = 0.9
ACCEPTED_LAYOUTS = (
    "frames_number_<T>_split_by_number/[train|test/]<class>/*.npz or "
    "events_np/[train|test/]<class>/*.npz (SpikingJelly caches), or the recordings "
    "<class>/cifar10_<class>_<i>.aedat, with <class> one of " + ", ".join(CLASS_NAMES))


def build_cifar10_dvs(root: Path, T: int, split: str, skip_bad: bool,
                      train_ratio: float = DEFAULT_TRAIN_RATIO) -> SampleDataset:
    """The CIFAR10-DVS ``split`` under ``root`` in whichever layout it holds."""
    if not 0 < train_ratio < 1:
        raise DataError(f"train_ratio must lie strictly between 0 and 1, not {train_ratio}")
    ratio_rule = (f"first {train_ratio:.0%} of each class's files by name are train, "
                  f"the rest test")
    cache = find_cache(root, T)
    if cache is not None and (cache.folder / split).is_dir():
        samples = index_class_folders(cache.folder / split, cifar10_class_label, ".npz")
        reader, layout = cache.reader, f"{cache.layout}, its {split} folder"
    elif cache is not None:
        samples = split_by_ratio(index_class_folders(cache.folder, cifar10_class_label, ".npz"),
                                 split, train_ratio)
        reader, layout = cache.reader, f"{cache.layout}, {ratio_rule}"
    else:
        recordings = find_recordings_folder(root)
        if recordings is None:
            raise no_layout_error(NAME, root, T, ACCEPTED_LAYOUTS)
        samples = split_by_ratio(index_class_folders(recordings, _recording_class_label, ".aedat"),
                                 split, train_ratio)
        reader = EventFileReader(read_aedat20_cifar10dvs, T)
        layout = f"AEDAT 2.0 recordings, integrated to T={T}, {ratio_rule}"
    info = DatasetInfo(name=NAME, num_classes=len(CLASS_NAMES), sample_shape=frames_shape(T),
                       T=T, synthetic=False, source=str(root), split=split, layout=layout)
    return assemble(info, samples, reader, SkipLog(skip_bad))


def cifar10_class_label(folder: Path) -> Optional[int]:
    """Label of a cache class folder; None for a train/test folder beside the classes."""
    if folder.name in CLASS_NAMES:
        return CLASS_NAMES.index(folder.name)
    if folder.name in SPLIT_FOLDERS:
        return None
    raise DataError(f"unexpected class folder {folder.name!r} in {folder.parent}; expected "
                    f"CIFAR-10 class names ({', '.join(CLASS_NAMES)})")


def _recording_class_label(folder: Path) -> Optional[int]:
    return CLASS_NAMES.index(folder.name) if folder.name in CLASS_NAMES else None


def find_recordings_folder(root: Path) -> Optional[Path]:
    """The first candidate folder with a class folder holding .aedat recordings."""
    for relative in RECORDING_FOLDERS:
        folder = root / relative
        if any(any((folder / name).glob("*.aedat")) for name in CLASS_NAMES
               if (folder / name).is_dir()):
            return folder
    return None


def split_by_ratio(samples: List[Sample], split: str, train_ratio: float) -> List[Sample]:
    """Per label, in the given order: the first ceil(ratio n) samples for train, the rest test."""
    chosen = []
    for _, group in groupby(sorted(samples, key=lambda sample: sample.label),
                            key=lambda sample: sample.label):
        members = list(group)
        cut = math.ceil(len(members) * train_ratio)
        chosen.extend(members[:cut] if split == "train" else members[cut:])
    return chosen
