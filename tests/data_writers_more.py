"""Writers of tiny N-MNIST, SHD, MNIST and CIFAR files in their real on-disk formats, and a
tiny model for any input shape, for tests (tests/ is on sys.path under pytest).

The encoders here are written from the formats' descriptions, independent of the readers in
``syops.data``, so reading these files back checks both sides.

    from data_writers_more import write_nmnist_sample
    write_nmnist_sample(root / "Test" / "3" / "00001.bin", [(x, y, p, t), ...])
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import Iterable, Sequence, Tuple

import numpy as np
import torch
from torch import nn


def _parent(path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------- N-MNIST (ATIS .bin)
def nmnist_bytes(events: Iterable[Tuple[int, int, int, int]]) -> bytes:
    """40-bit events (x, y, polarity, timestamp us): x byte, y byte, then 24 bits big-endian
    with the polarity in the top bit and the 23-bit timestamp below it."""
    out = bytearray()
    for x, y, p, t in events:
        assert 0 <= t < 2 ** 23 and p in (0, 1)
        word = (p << 23) | t
        out += bytes([x, y, word >> 16, (word >> 8) & 0xFF, word & 0xFF])
    return bytes(out)


def write_nmnist_sample(path: Path, events: Sequence[Tuple[int, int, int, int]]) -> Path:
    path = _parent(path)
    path.write_bytes(nmnist_bytes(events))
    return path


# ---------------------------------------------------------------- SHD (HDF5)
def write_shd_file(path: Path, samples: Sequence[Tuple[Sequence[float], Sequence[int], int]],
                   times_dtype=np.float32, units_dtype=np.uint16) -> Path:
    """An SHD-layout HDF5 file: spikes/times and spikes/units as variable-length arrays (one
    per sample), labels, and the extra/ group of the published files."""
    import h5py

    path = _parent(path)
    with h5py.File(path, "w") as h5:
        times = h5.create_dataset("spikes/times", (len(samples),),
                                  dtype=h5py.vlen_dtype(np.dtype(times_dtype)))
        units = h5.create_dataset("spikes/units", (len(samples),),
                                  dtype=h5py.vlen_dtype(np.dtype(units_dtype)))
        for index, (sample_times, sample_units, _) in enumerate(samples):
            times[index] = np.asarray(sample_times, dtype=times_dtype)
            units[index] = np.asarray(sample_units, dtype=units_dtype)
        h5.create_dataset("labels", data=np.array([label for _, _, label in samples],
                                                  dtype=np.uint16))
        h5.create_dataset("extra/speaker", data=np.zeros(len(samples), dtype=np.uint16))
    return path


# ---------------------------------------------------------------- MNIST (idx-ubyte)
def idx_bytes(values: np.ndarray) -> bytes:
    """An idx-ubyte file: 0x0000, type 0x08 (unsigned byte), the number of dimensions, each
    dimension as a big-endian uint32, then the values in row-major order."""
    values = np.asarray(values, dtype=np.uint8)
    header = bytes([0, 0, 0x08, values.ndim]) + struct.pack(f">{values.ndim}I", *values.shape)
    return header + values.tobytes()


def write_idx(path: Path, values: np.ndarray, gz: bool = False) -> Path:
    path = _parent(Path(f"{path}.gz") if gz else path)
    data = idx_bytes(values)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_mnist_split(folder: Path, split: str, images: np.ndarray, labels: Sequence[int],
                      gz: bool = False) -> Tuple[Path, Path]:
    """``<prefix>-images-idx3-ubyte`` and ``<prefix>-labels-idx1-ubyte`` (prefix train or
    t10k) of ``images`` [N, 28, 28] uint8 and their labels."""
    prefix = {"train": "train", "test": "t10k"}[split]
    return (write_idx(Path(folder) / f"{prefix}-images-idx3-ubyte", images, gz),
            write_idx(Path(folder) / f"{prefix}-labels-idx1-ubyte", np.array(labels), gz))


# ---------------------------------------------------------------- CIFAR (binary version)
def cifar_record(labels: Sequence[int], image: np.ndarray) -> bytes:
    """One record: the label byte(s) (CIFAR-100: coarse, fine), then 1024 red, 1024 green and
    1024 blue bytes, each channel in rows of 32."""
    image = np.asarray(image, dtype=np.uint8)
    assert image.shape == (3, 32, 32)
    return bytes(labels) + image.tobytes()


def write_cifar_batch(path: Path, records: Sequence[Tuple[Sequence[int], np.ndarray]]) -> Path:
    path = _parent(path)
    path.write_bytes(b"".join(cifar_record(labels, image) for labels, image in records))
    return path


def solid_image(red: int, green: int, blue: int) -> np.ndarray:
    image = np.zeros((3, 32, 32), dtype=np.uint8)
    image[0], image[1], image[2] = red, green, blue
    return image


# ---------------------------------------------------------------- fuzzing
def damaged_copies(good: bytes, trials: int, seed: int = 0, most_bytes: int = 8):
    """``trials`` seeded damaged copies of ``good``: every fourth truncated at a random
    length, the others with 1 to ``most_bytes`` - 1 random bytes overwritten."""
    rng = np.random.default_rng(seed)
    for trial in range(trials):
        damaged = bytearray(good)
        if trial % 4 == 0:
            damaged = damaged[: rng.integers(0, len(damaged))]
        else:
            for _ in range(rng.integers(1, most_bytes)):
                damaged[rng.integers(0, len(damaged))] = rng.integers(0, 256)
        yield trial, bytes(damaged)


# ---------------------------------------------------------------- a model for any shape
class TinyFlatNet(nn.Module):
    """[B, *sample] -> ``classes`` logits: a linear layer on the flattened input (MACs on
    multi-level input), a threshold (spikes), a linear layer on the spikes (ACs). With
    ``steps``, the input is [B, T, ...]: each step is counted and the logits are averaged."""

    def __init__(self, features: int, classes: int, steps: bool, hidden: int = 8):
        super().__init__()
        self.steps = steps
        self.fc1 = nn.Linear(features, hidden, bias=False)
        self.fc2 = nn.Linear(hidden, classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(2) if self.steps else x.flatten(1)
        spikes = (self.fc1(flat) > 0).float()
        logits = self.fc2(spikes)
        return logits.mean(1) if self.steps else logits


def save_tiny_model(path: Path, sample_shape: Sequence[int], classes: int, steps: bool) -> Path:
    """A pickled TinyFlatNet for samples of ``sample_shape`` (without T); load with
    --trust-pickle."""
    torch.manual_seed(0)
    model = TinyFlatNet(int(np.prod(sample_shape)), classes, steps).eval()
    torch.save(model, _parent(path))
    return path
