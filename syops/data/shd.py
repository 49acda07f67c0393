"""Spiking Heidelberg Digits (SHD): spoken digits 0-9 in English and German (20 classes),
as spikes of 700 cochlear units, in the HDF5 files ``shd_train.h5`` and ``shd_test.h5``.

Each file holds ``spikes/times`` (one float array of spike times in seconds per sample),
``spikes/units`` (the matching unit indices 0..699) and ``labels``; it is read with h5py
(``pip install h5py``), one sample at a time. Frames [T, 700] count each unit's spikes per
frame, as SpikingJelly's SHD frames: ``split_by="time"`` (default) cuts [first, last spike
time] into T bins of equal duration (the last bin also takes spikes at the end time),
``split_by="number"`` into T runs of equal spike count (``syops.data.frames``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, List, Optional, Tuple

import numpy as np

from syops.data.dataset import DatasetInfo, Sample, SampleDataset, SkipLog, assemble
from syops.data.errors import DataError, broken_file
from syops.data.frames import frame_of_each_event
from syops.data.records import labelled_records, regular_file_size

NAME = "shd"
NUM_CLASSES = 20
UNITS = 700
SPLIT_RULES = ("time", "number")
MAX_SAMPLES = 1_000_000  # declared sample count limit (SHD has 8156 train, 2264 test)
FILE_FOLDERS = (".", "events_h5", "extract")  # the root, SpikingJelly's raw and extract folders
KEYS = ("spikes/times", "spikes/units", "labels")
INSTALL_HINT = "pip install h5py"
_H5_ERRORS = (OSError, ValueError, KeyError, TypeError, RuntimeError, IndexError)


def sample_shape(T: int) -> Tuple[int, int]:
    return (T, UNITS)


def build_shd(name: str, root: Path, T: int, split: str, skip_bad: bool,
              split_by: str = "time") -> SampleDataset:
    """The SHD ``split`` from ``shd_<split>.h5`` under ``root``, integrated to T frames."""
    if split_by not in SPLIT_RULES:
        raise DataError(f"split_by must be one of {', '.join(SPLIT_RULES)}, not {split_by!r}")
    path = find_shd_file(root, split)
    h5py_module()  # a missing h5py is not a broken file to skip
    skips = SkipLog(skip_bad)
    samples = skips.attempt(str(path), lambda: index_shd(path, skips)) or []
    info = DatasetInfo(name=NAME, num_classes=NUM_CLASSES, sample_shape=sample_shape(T), T=T,
                       synthetic=False, source=str(root), split=split,
                       layout=f"HDF5 {path.name}, integrated to T={T} split by {split_by}")
    return assemble(info, samples, SHDReader(str(path), T, split_by), skips)


def find_shd_file(root: Path, split: str) -> Path:
    """``shd_<split>.h5`` in the root or SpikingJelly's folders; DataError saying what to do."""
    name = f"shd_{split}.h5"
    for folder in (root / relative for relative in FILE_FOLDERS):
        if (folder / name).exists():
            return folder / name
        packed = [folder / f"{name}{suffix}" for suffix in (".gz", ".zip")]
        for archive in (path for path in packed if path.exists()):
            raise DataError(f"found {archive} but not {name}: decompress it first (gunzip or "
                            f"unzip), then pass the same root")
    raise DataError(f"no SHD {split} file found in {root}; expected {name} there or in "
                    f"{' or '.join(FILE_FOLDERS[1:])}/")


def h5py_module() -> Any:
    """The h5py module; a one-line DataError saying how to install it when it is missing."""
    try:
        import h5py
    except ImportError:
        raise DataError(f"reading SHD's HDF5 files needs h5py: {INSTALL_HINT}") from None
    return h5py


def open_h5(path: Path) -> Any:
    h5py = h5py_module()
    regular_file_size(path)
    try:
        return h5py.File(path, "r")
    except _H5_ERRORS as err:
        raise broken_file(path, f"not a readable HDF5 file ({_short(err)})") from err


def index_shd(path: Path, skips: SkipLog) -> List[Sample]:
    """One sample per label of the file, after checking its layout and declared sizes."""
    with open_h5(path) as h5:
        try:
            labels = spike_datasets(h5, path)[2]
            values = np.asarray(labels[()], dtype=np.int64)
        except DataError:
            raise
        except _H5_ERRORS as err:
            raise broken_file(path, f"damaged HDF5 file ({_short(err)})") from err
    return labelled_records(path, values, NUM_CLASSES, skips)


def spike_datasets(h5: Any, path: Path) -> Tuple[Any, Any, Any]:
    """spikes/times, spikes/units and labels, checked: 1-D, equal lengths, ragged numbers."""
    h5py = h5py_module()
    for name in ("spikes", *KEYS):  # an external link or storage could name a FIFO or device
        link = h5.get(name, getlink=True)
        if isinstance(link, h5py.ExternalLink):
            raise broken_file(path, f"{name} is an external link to {link.filename}; SHD files "
                              f"hold their own data")
    found = [key for key in KEYS if isinstance(h5.get(key), h5py.Dataset)]
    if len(found) != len(KEYS):
        missing = ", ".join(key for key in KEYS if key not in found)
        raise broken_file(path, f"lacks the SHD dataset(s) {missing}")
    times, units, labels = (h5[key] for key in KEYS)
    for key in KEYS:
        if h5[key].external or h5[key].is_virtual:
            raise broken_file(path, f"{key} keeps its data outside the file (external or "
                              f"virtual storage); SHD files hold their own data")
    lengths = {key: h5[key].shape for key in KEYS}
    if any(len(shape) != 1 for shape in lengths.values()) or \
            len({shape[0] for shape in lengths.values()}) != 1:
        shown = ", ".join(f"{key} {list(shape)}" for key, shape in lengths.items())
        raise broken_file(path, f"needs 1-D datasets of one length ({shown})")
    if labels.shape[0] > MAX_SAMPLES:
        raise broken_file(path, f"declares {labels.shape[0]} samples, more than the limit of "
                          f"{MAX_SAMPLES}")
    for key, dataset, kinds in (("spikes/times", times, "fiu"), ("spikes/units", units, "iu")):
        base = h5py.check_vlen_dtype(dataset.dtype)
        if base is None or base.kind not in kinds:
            kind = "an integer" if kinds == "iu" else "a number"
            raise broken_file(path, f"{key} holds {base or dataset.dtype}, expected {kind} "
                              f"array per sample (variable-length)")
    if labels.dtype.kind not in "iu":
        raise broken_file(path, f"labels are {labels.dtype}, expected integers")
    return times, units, labels


def _short(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:120]


class SHDReader:
    """Frames [T, 700] of one sample. The file is opened once per process (reopened in a
    DataLoader worker, forked or spawned: HDF5 handles must not cross processes)."""

    def __init__(self, path: str, T: int, split_by: str = "time"):
        self.path, self.T, self.split_by = path, T, split_by
        self._h5: Optional[Tuple[int, Any]] = None  # (process id, open file)

    def __call__(self, sample: Sample) -> np.ndarray:
        times, units = self.spikes(sample.key)
        check_spikes(Path(self.path), sample.key, times, units)
        return spikes_to_frames(times, units.astype(np.int64), self.T, self.split_by)

    def spikes(self, index: int) -> Tuple[np.ndarray, np.ndarray]:
        path = Path(self.path)
        try:
            h5 = self._file()
            return np.asarray(h5[KEYS[0]][index]), np.asarray(h5[KEYS[1]][index])
        except DataError:
            raise
        except _H5_ERRORS as err:
            raise broken_file(path, f"sample {index} cannot be read ({_short(err)})") from err

    def _file(self) -> Any:
        if self._h5 is None or self._h5[0] != os.getpid():
            self._h5 = (os.getpid(), open_h5(Path(self.path)))
        return self._h5[1]

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_h5": None}


def check_spikes(path: Path, index: int, times: np.ndarray, units: np.ndarray) -> None:
    """Raise unless the sample has spikes, as many times as units, units 0..699 and finite
    non-negative times."""
    problem = None
    if times.ndim != 1 or units.ndim != 1 or times.size != units.size:
        problem = f"has {times.size} spike times but {units.size} units"
    elif times.size == 0:
        problem = "has no spikes"
    elif units.dtype.kind not in "iu" or units.min() < 0 or units.max() >= UNITS:
        problem = f"has units {units.min()}..{units.max()}, outside 0..{UNITS - 1}"
    elif times.dtype.kind not in "fiu" or not np.all(np.isfinite(times)) or times.min() < 0:
        problem = "has spike times that are not finite non-negative numbers"
    if problem:
        raise broken_file(path, f"sample {index} {problem}")


def spikes_to_frames(times: np.ndarray, units: np.ndarray, T: int, split_by: str) -> np.ndarray:
    """Spike counts float32 [T, 700] (see the module docstring for the two splits)."""
    if split_by == "number":
        flat = frame_of_each_event(times.size, T) * UNITS + units
        return np.bincount(flat, minlength=T * UNITS).astype(np.float32).reshape(T, UNITS)
    return np.stack([np.bincount(units[in_bin], minlength=UNITS)
                     for in_bin in time_bins(times, T)]).astype(np.float32)


def time_bins(times: np.ndarray, T: int) -> List[np.ndarray]:
    """Which spikes each of the T bins holds. With dt = (last - first spike time) / T, bin i
    holds lo_i <= t < lo_i + dt where lo_i = dt * i + first, and the last bin every t >= lo_i.
    Bounds are computed in the times' own precision, as SpikingJelly does; for time-sorted
    spikes the bins are exactly its ``split_by="time"`` segments (where it fails on an empty
    bin, the frame here is empty)."""
    first = times.min()
    dt = (times.max() - first) / T
    bins = []
    for i in range(T):
        low = dt * i + first
        in_bin = times >= low
        bins.append(in_bin if i == T - 1 else in_bin & (times < low + dt))
    return bins


class SyntheticSpeech:
    """Spike-count frames float32 [T, 700] like a spoken word: a few bands of active units
    (formants) drifting across the cochlea, louder in the middle of the T frames, Poisson
    counts; about 0.4 spikes per unit and frame on average."""

    def __init__(self, T: int, seed: int = 0, bands: int = 4, width: float = 40.0,
                 peak: float = 1.0, background: float = 0.02):
        self.T, self.seed, self.bands = T, seed, bands
        self.width, self.peak, self.background = width, peak, background

    def __call__(self, sample: Sample) -> np.ndarray:
        rng = np.random.default_rng([self.seed, sample.key])
        steps = np.arange(self.T)[:, None]
        centres = rng.uniform(50, UNITS - 50, self.bands) + rng.uniform(-3, 3, self.bands) * steps
        distance = np.arange(UNITS)[None, :, None] - centres[:, None, :]  # [T, 700, bands]
        bands = np.exp(-distance ** 2 / (2 * self.width ** 2)).sum(-1)
        loudness = np.sin(np.pi * (steps + 0.5) / self.T)
        rate = self.background + self.peak * bands * loudness
        return rng.poisson(rate).astype(np.float32)
