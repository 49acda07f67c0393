"""Data set names, and ``get_dataset`` which turns a name (and a root, or none) into a dataset."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from syops.data import cifar, cifar10_dvs, gesture, idx, images, nmnist, shd
from syops.data.dataset import GOOD_SAMPLES_NEEDED, Reader, SampleDataset
from syops.data.dvs import DEFAULT_T, frames_shape
from syops.data.errors import DataError
from syops.data.synthetic import (
    DEFAULT_SEED,
    DEFAULT_SIZE,
    SyntheticEventFrames,
    SyntheticImages,
    build_synthetic,
)
from syops.data.user import is_user_data, open_user_data

SPLITS = ("train", "test")
SYNTHETIC_OPTIONS = ("seed", "size")
IMAGENET_CLASSES = 1000
IMAGE_SIZE = 224


@dataclass(frozen=True)
class DatasetSpec:
    """How one name is built: from a root (``build_real``) or as a synthetic stand-in."""

    name: str
    summary: str
    num_classes: int  # of the real data set (an image folder has as many as its folders)
    uses_T: bool
    build_real: Callable[..., SampleDataset]  # (name, root, T, split, skip_bad, **options)
    real_options: Tuple[str, ...]
    synthetic_reader: Callable[[Optional[int], int], Reader]  # (T, seed)
    sample_shape: Callable[[Optional[int]], Tuple[int, ...]]


def _build_gesture(name: str, root: Path, T: int, split: str, skip_bad: bool) -> SampleDataset:
    return gesture.build_gesture(root, T, split, skip_bad)


def _build_cifar10_dvs(name: str, root: Path, T: int, split: str, skip_bad: bool,
                       **options: Any) -> SampleDataset:
    return cifar10_dvs.build_cifar10_dvs(root, T, split, skip_bad, **options)


def _build_images(name: str, root: Path, T: None, split: str, skip_bad: bool) -> SampleDataset:
    return images.build_image_folder(name, root, split, skip_bad)


def _idx_spec(name: str, summary: str) -> DatasetSpec:
    return DatasetSpec(name, summary, idx.NUM_CLASSES, False, idx.build_idx_dataset, (),
                       lambda T, seed: idx.SyntheticDigits(seed), lambda T: idx.SAMPLE_SHAPE)


def _cifar_spec(name: str, summary: str) -> DatasetSpec:
    return DatasetSpec(name, summary, cifar.FORMATS[name].num_classes, False, cifar.build_cifar, (),
                       lambda T, seed: cifar.SyntheticCifar(name, seed),
                       lambda T: cifar.SAMPLE_SHAPE)


DATASETS: Dict[str, DatasetSpec] = {spec.name: spec for spec in (
    DatasetSpec("dvs-gesture", "DVS128 Gesture: 11 gestures, [T, 2, 128, 128] event counts",
                gesture.NUM_CLASSES, True, _build_gesture, (),
                lambda T, seed: SyntheticEventFrames(T, seed), frames_shape),
    DatasetSpec("cifar10-dvs", "CIFAR10-DVS: 10 classes, [T, 2, 128, 128] event counts",
                len(cifar10_dvs.CLASS_NAMES), True, _build_cifar10_dvs, ("train_ratio",),
                lambda T, seed: SyntheticEventFrames(T, seed), frames_shape),
    DatasetSpec("imagenet", "ImageNet or any <class>/<image> folder: [3, 224, 224] normalised",
                IMAGENET_CLASSES, False, _build_images, (),
                lambda T, seed: SyntheticImages(seed), lambda T: (3, IMAGE_SIZE, IMAGE_SIZE)),
    DatasetSpec("n-mnist", "N-MNIST: 10 digits, [T, 2, 34, 34] event counts",
                nmnist.NUM_CLASSES, True, nmnist.build_nmnist, (),
                lambda T, seed: SyntheticEventFrames(T, seed, size=nmnist.SENSOR_SIZE,
                                                     blob_sigma=4.0), nmnist.frames_shape),
    DatasetSpec("shd", "Spiking Heidelberg Digits: 20 classes, [T, 700] spike counts",
                shd.NUM_CLASSES, True, shd.build_shd, ("split_by",),
                lambda T, seed: shd.SyntheticSpeech(T, seed), shd.sample_shape),
    _idx_spec("mnist", "MNIST: 10 digits, [1, 28, 28] in [0, 1]"),
    _idx_spec("fashion-mnist", "Fashion-MNIST: 10 classes, [1, 28, 28] in [0, 1]"),
    _cifar_spec("cifar10", "CIFAR-10 (binary version): 10 classes, [3, 32, 32] normalised"),
    _cifar_spec("cifar100", "CIFAR-100 (binary version): 100 classes, [3, 32, 32] normalised"),
)}
ALIASES = {"dvs128-gesture": "dvs-gesture", "dvsgesture": "dvs-gesture", "gesture": "dvs-gesture",
           "cifar10dvs": "cifar10-dvs", "image-folder": "imagenet", "nmnist": "n-mnist",
           "heidelberg-digits": "shd", "fashionmnist": "fashion-mnist", "fmnist": "fashion-mnist",
           "cifar-10": "cifar10", "cifar-100": "cifar100"}


def list_datasets() -> List[str]:
    """The accepted data set names."""
    return list(DATASETS)


def dataset_summary(name: str) -> str:
    """One line on what a data set name gives."""
    return find_spec(name).summary


def get_dataset(name: str, root: Union[str, os.PathLike, None] = None, *, T: Optional[int] = None,
                split: str = "test", **options: Any) -> SampleDataset:
    """The data set ``name`` read from ``root``, or its synthetic stand-in when root is None.

    Items are ``(float32 tensor, int label)``: DVS sets give [T, 2, 128, 128] event counts
    (T defaults to 16; n-mnist [T, 2, 34, 34], shd [T, 700]), imagenet gives [3, 224, 224],
    mnist and fashion-mnist [1, 28, 28], cifar10 and cifar100 [3, 32, 32] (T does not apply
    to images). ``split`` is "train" or "test". Options: ``skip_bad`` (leave out broken files,
    listed in ``dataset.skipped``); synthetic only: ``seed`` (default 0), ``size`` (default 8
    items); cifar10-dvs from a root: ``train_ratio`` (default 0.9); shd from a root:
    ``split_by`` ("time", the default, or "number"); from a root with ``skip_bad``: ``limit``
    (the good samples to find; the rest are not checked). Raises DataError on any problem.
    """
    if is_user_data(name):  # a tensor file or FILE.py:NAME (syops.data.user)
        return open_user_data(str(name))
    spec = find_spec(name)
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    T = _checked_T(spec, T)
    skip_bad = bool(options.pop("skip_bad", False))
    if root is None:
        _check_options(spec, options, SYNTHETIC_OPTIONS, "without a data root")
        seed = _checked_int(options.get("seed", DEFAULT_SEED), "seed", minimum=0)
        size = _checked_int(options.get("size", DEFAULT_SIZE), "size", minimum=1)
        return build_synthetic(spec.name, spec.num_classes, spec.sample_shape(T), T,
                               spec.synthetic_reader(T, seed), split, seed, size)
    limit = options.pop("limit", None)
    _check_options(spec, options, spec.real_options, "with a data root")
    needed = GOOD_SAMPLES_NEEDED.set(limit and _checked_int(limit, "limit", minimum=1))
    try:
        return spec.build_real(spec.name, _checked_root(root), T, split, skip_bad, **options)
    finally:
        GOOD_SAMPLES_NEEDED.reset(needed)


def find_spec(name: str) -> DatasetSpec:
    """The spec of a name (case, '_' and '-' do not matter); DataError suggesting the closest."""
    key = str(name).strip().lower().replace("_", "-")
    key = ALIASES.get(key, key)
    if key in DATASETS:
        return DATASETS[key]
    close = difflib.get_close_matches(key, list(DATASETS) + list(ALIASES), n=1, cutoff=0.5)
    hint = f"did you mean {ALIASES.get(close[0], close[0])!r}? " if close else ""
    raise DataError(f"unknown data set {name!r}; {hint}known: {', '.join(DATASETS)}")


def _checked_T(spec: DatasetSpec, T: Optional[int]) -> Optional[int]:
    if not spec.uses_T:
        if T is not None:
            raise DataError(f"{spec.name} items are static images, so T does not apply (the "
                            f"model repeats each image over its time steps); leave T unset")
        return None
    return DEFAULT_T if T is None else _checked_int(T, "T", minimum=1)


def _checked_int(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise DataError(f"{what} must be an integer >= {minimum}, not {value!r}")
    return value


def _check_options(spec: DatasetSpec, options: Dict[str, Any], accepted: Tuple[str, ...],
                   context: str) -> None:
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        allowed = ", ".join(("skip_bad",) + accepted)
        raise DataError(f"option(s) {', '.join(unknown)} do not apply to {spec.name} {context}; "
                        f"accepted: {allowed}")


def _checked_root(root: Union[str, os.PathLike]) -> Path:
    path = Path(root).expanduser()
    if not path.exists():
        raise DataError(f"data root {path} does not exist; give an existing folder, or no root "
                        f"to use the synthetic stand-in")
    if not path.is_dir():
        raise DataError(f"data root {path} is a file; give the folder that holds the data set")
    return path
