"""Seeded synthetic stand-ins, for when the real data is not on the machine.

Each item is drawn from ``numpy.random.default_rng([seed, index])``, so it depends only on
the seed and its index (not on the order of access or on the worker reading it). Label =
index mod the number of classes. Numbers measured on these are not the model's real
firing rates: reports must say "synthetic" (``info.describe()`` does).

- DVS frames [T, 2, 128, 128]: a blob of activity (a hand, roughly) drifting across the
  sensor over the T frames plus sparse background noise; each pixel and polarity is active
  with probability up to about 30 % inside the blob, so about 2-5 % of pixels are active per
  frame, and an active pixel counts 1 + Poisson(0.8) events.
- Images [3, 224, 224]: smooth random colour fields plus a little noise, in [0, 1] before
  the ImageNet normalisation, like a real normalised photograph's value range.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Tuple

import numpy as np
from PIL import Image

from syops.data.dataset import DatasetInfo, IndexedSamples, Reader, Sample, SampleDataset
from syops.data.errors import DataError
from syops.data.images import normalise

DEFAULT_SIZE = 8
DEFAULT_SEED = 0


def build_synthetic(name: str, num_classes: int, sample_shape: Tuple[int, ...], T, reader: Reader,
                    split: str, seed: int, size: int) -> SampleDataset:
    """``size`` synthetic items of ``sample_shape`` made by ``reader``."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise DataError(f"size must be a positive number of items, not {size!r}")
    info = DatasetInfo(name=name, num_classes=num_classes, sample_shape=sample_shape, T=T,
                       synthetic=True, source=f"synthetic (seed {seed})", split=split,
                       layout="synthetic", seed=seed)
    return SyntheticDataset(info, IndexedSamples("", size, _ClassCycle(num_classes)), reader)


@dataclass(frozen=True)
class _ClassCycle:
    """Synthetic labels: item i is of class i mod ``num_classes``."""

    num_classes: int

    def __getitem__(self, index: int) -> int:
        return index % self.num_classes


class SyntheticDataset(SampleDataset):
    """A SampleDataset over a lazy ``IndexedSamples`` index (not copied into a list)."""

    def __init__(self, info: DatasetInfo, samples: IndexedSamples, reader: Reader):
        super().__init__(info, (), reader)
        self.samples = samples
        self.info = replace(self.info, num_samples=len(samples))


def _rng(seed: int, sample: Sample) -> np.random.Generator:
    return np.random.default_rng([seed, sample.key])


@dataclass(frozen=True)
class SyntheticEventFrames:
    """Sparse event-count frames float32 [T, 2, size, size] (see the module docstring)."""

    T: int
    seed: int = DEFAULT_SEED
    size: int = 128
    blob_sigma: float = 14.0
    blob_peak: float = 0.3
    background: float = 0.003
    extra_events: float = 0.8

    def __call__(self, sample: Sample) -> np.ndarray:
        rng = _rng(self.seed, sample)
        probability = self._activity_map(rng)[:, None]  # [T, 1, size, size]
        active = rng.random((self.T, 2, self.size, self.size)) < probability
        counts = 1 + rng.poisson(self.extra_events, active.shape)
        return (active * counts).astype(np.float32)

    def _activity_map(self, rng: np.random.Generator) -> np.ndarray:
        """[T, size, size] probability that a pixel fires in each frame."""
        start = rng.uniform(0.25, 0.75, 2) * self.size
        velocity = rng.uniform(-1.5, 1.5, 2)
        centres = start + velocity * np.arange(self.T)[:, None]  # [T, (row, column)]
        grid = np.arange(self.size, dtype=np.float64)
        row_term = (grid[None, :] - centres[:, 0:1]) ** 2
        column_term = (grid[None, :] - centres[:, 1:2]) ** 2
        squared = row_term[:, :, None] + column_term[:, None, :]
        return self.background + self.blob_peak * np.exp(-squared / (2 * self.blob_sigma ** 2))


@dataclass(frozen=True)
class SyntheticImages:
    """Normalised image-like float32 [3, size, size] arrays."""

    seed: int = DEFAULT_SEED
    size: int = 224
    coarse: int = 6
    noise: float = 0.03

    def __call__(self, sample: Sample) -> np.ndarray:
        rng = _rng(self.seed, sample)
        coarse = rng.integers(0, 256, (self.coarse, self.coarse, 3), dtype=np.uint8)
        smooth = Image.fromarray(coarse).resize((self.size, self.size), Image.Resampling.BILINEAR)
        pixels = np.asarray(smooth, dtype=np.float32) / 255.0
        pixels = pixels + rng.normal(0.0, self.noise, pixels.shape).astype(np.float32)
        return normalise(np.clip(pixels, 0.0, 1.0))
