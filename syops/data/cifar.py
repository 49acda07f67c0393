"""CIFAR-10 and CIFAR-100, from their binary version (the Python-pickle version is refused).

CIFAR-10 (``cifar-10-batches-bin/``): ``data_batch_1.bin`` .. ``data_batch_5.bin`` (train)
and ``test_batch.bin``, each a run of 3073-byte records: 1 label byte, then 3072 pixel bytes
(1024 red, 1024 green, 1024 blue, rows of 32). CIFAR-100 (``cifar-100-binary/``):
``train.bin`` and ``test.bin`` with 3074-byte records: coarse label, fine label, pixels; the
label used is the fine one (100 classes; the coarse byte is not read). Items are float32
[3, 32, 32], pixel / 255 normalised per channel with the mean and std SpikingJelly's CIFAR examples use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Tuple

import numpy as np
from PIL import Image

from syops.data.dataset import DatasetInfo, Sample, SampleDataset, SkipLog, assemble
from syops.data.errors import DataError, broken_file
from syops.data.records import labelled_records, regular_file_size

SIDE = 32
PIXEL_BYTES = 3 * SIDE * SIDE
SAMPLE_SHAPE = (3, SIDE, SIDE)
BINARY_PAGE = "https://www.cs.toronto.edu/~kriz/cifar.html"
MAX_RECORDS = 60_000
"""Records a batch file may hold (CIFAR-10's hold 10,000, CIFAR-100's train.bin 50,000):
a larger file is refused before its labels are read."""


@dataclass(frozen=True)
class CifarFormat:
    """How one CIFAR variant is laid out and normalised."""

    name: str
    num_classes: int
    folder: str  # of the binary archive
    files: Tuple[Tuple[str, ...], Tuple[str, ...]]  # train files, test files
    label_bytes: int  # bytes before the pixels; the label is the last of them
    pickle_folder: str  # the Python-pickle version's archive folder
    pickle_files: Tuple[str, ...]  # and the files in it
    mean: Tuple[float, float, float]
    std: Tuple[float, float, float]

    @property
    def record_bytes(self) -> int:
        return self.label_bytes + PIXEL_BYTES


FORMATS = {spec.name: spec for spec in (
    CifarFormat("cifar10", 10, "cifar-10-batches-bin",
                (tuple(f"data_batch_{i}.bin" for i in range(1, 6)), ("test_batch.bin",)), 1,
                "cifar-10-batches-py", ("data_batch_1", "test_batch", "batches.meta"),
                (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    CifarFormat("cifar100", 100, "cifar-100-binary", (("train.bin",), ("test.bin",)), 2,
                "cifar-100-python", ("train", "test", "meta"),
                (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
)}


def build_cifar(name: str, root: Path, T: None, split: str, skip_bad: bool) -> SampleDataset:
    """CIFAR-10 or CIFAR-100 (``name``) ``split`` from the binary batches under ``root``."""
    spec = FORMATS[name]
    folder = find_binary_folder(spec, root, split)
    skips = SkipLog(skip_bad)
    samples: List[Sample] = []
    names = spec.files[split == "test"]
    for path in (folder / file_name for file_name in names):
        samples.extend(skips.attempt(str(path), lambda: index_batch(spec, path, skips)) or [])
    info = DatasetInfo(name=name, num_classes=spec.num_classes, sample_shape=SAMPLE_SHAPE,
                       T=None, synthetic=False, source=str(root), split=split,
                       layout=f"binary version ({', '.join(names)})")
    return assemble(info, samples, CifarReader(spec.name), skips)


def find_binary_folder(spec: CifarFormat, root: Path, split: str) -> Path:
    """The folder holding the split's batch files; DataError (with a hint) otherwise."""
    names = spec.files[split == "test"]
    for folder in (root, root / spec.folder):
        if all((folder / name).exists() for name in names):
            return folder
    for folder in (root, root / spec.pickle_folder):
        if any((folder / name).is_file() for name in spec.pickle_files):
            raise DataError(f"{folder} holds the Python-pickle version of {spec.name}, which "
                            f"syops does not unpickle (unsafe); download the binary version "
                            f"from {BINARY_PAGE}")
    raise DataError(f"no {spec.name} binary batches found in {root}; expected "
                    f"{', '.join(names)} there or in {spec.folder}/")


def index_batch(spec: CifarFormat, path: Path, skips: SkipLog) -> List[Sample]:
    """One sample per record of a batch file, checking its size and labels."""
    size = regular_file_size(path)
    if size > MAX_RECORDS * spec.record_bytes:
        raise broken_file(path, f"is {size:,} bytes, more than {MAX_RECORDS:,} records (real "
                          f"batch files hold 10,000 or 50,000)")
    if size == 0 or size % spec.record_bytes:
        raise broken_file(path, f"is {size} bytes, not a positive multiple of the "
                          f"{spec.record_bytes}-byte {spec.name} record (truncated, or the "
                          f"other CIFAR?)")
    records = np.memmap(path, dtype=np.uint8, mode="r").reshape(-1, spec.record_bytes)
    labels = np.array(records[:, spec.label_bytes - 1], dtype=np.int64)
    return labelled_records(path, labels, spec.num_classes, skips)


@dataclass(frozen=True)
class CifarReader:
    """One record of a batch file, as a normalised float32 [3, 32, 32] array."""

    name: str

    def __call__(self, sample: Sample) -> np.ndarray:
        spec = FORMATS[self.name]
        with open(sample.path, "rb") as stream:
            stream.seek(sample.key * spec.record_bytes + spec.label_bytes)
            data = stream.read(PIXEL_BYTES)
        if len(data) != PIXEL_BYTES:
            raise broken_file(sample.path, f"record {sample.key} is cut short (file truncated "
                              f"since indexed?)")
        return normalise(np.frombuffer(data, dtype=np.uint8).reshape(SAMPLE_SHAPE), spec)


def normalise(pixels: np.ndarray, spec: CifarFormat) -> np.ndarray:
    """uint8 [3, H, W] -> float32 (pixel / 255 - mean) / std per channel."""
    mean = np.array(spec.mean, dtype=np.float32)[:, None, None]
    std = np.array(spec.std, dtype=np.float32)[:, None, None]
    return ((pixels.astype(np.float32) / 255.0 - mean) / std).astype(np.float32)


@dataclass(frozen=True)
class SyntheticCifar:
    """Normalised image-like float32 [3, 32, 32]: smooth random colour fields plus a little
    noise, in [0, 1] before the data set's normalisation."""

    name: str
    seed: int = 0
    coarse: int = 4
    noise: float = 0.03

    def __call__(self, sample: Sample) -> np.ndarray:
        rng = np.random.default_rng([self.seed, sample.key])
        coarse = rng.integers(0, 256, (self.coarse, self.coarse, 3), dtype=np.uint8)
        smooth = np.asarray(Image.fromarray(coarse).resize((SIDE, SIDE), Image.Resampling.BILINEAR),
                            dtype=np.float32) / 255.0
        noisy = np.clip(smooth + rng.normal(0.0, self.noise, smooth.shape), 0.0, 1.0)
        pixels = np.round(noisy.transpose(2, 0, 1) * 255.0).astype(np.uint8)
        return normalise(pixels, FORMATS[self.name])

