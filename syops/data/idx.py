"""MNIST and Fashion-MNIST: 28 x 28 grey images of 10 classes in the idx-ubyte files.

Files ``train-images-idx3-ubyte`` / ``train-labels-idx1-ubyte`` and ``t10k-...`` (or with
``.idx3-ubyte``, and each optionally gzipped ``.gz``), in the root, in ``raw/`` or in
torchvision's ``MNIST/raw`` / ``FashionMNIST/raw``. An idx file is a big-endian header
(two zero bytes, type byte 0x08 = unsigned byte, number of dimensions, one uint32 per
dimension) followed by the values. Items are float32 [1, 28, 28] in [0, 1] (pixel / 255), as
SpikingJelly's examples feed them (``ToTensor()``): the model does its own spike encoding.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
from PIL import Image

from syops.data.dataset import DatasetInfo, Sample, SampleDataset, SkipLog, assemble
from syops.data.errors import DataError, broken_file
from syops.data.records import labelled_records, regular_file_size

NUM_CLASSES = 10
SIDE = 28
SAMPLE_SHAPE = (1, SIDE, SIDE)
UNSIGNED_BYTE = 0x08
IMAGES_HEADER = 16  # magic and three dimensions
IMAGE_DIMS = (None, SIDE, SIDE)
MAX_DATA_BYTES = 2 ** 30  # declared payload limit (MNIST's training images are 47 MB)
FILE_PREFIX = {"train": "train", "test": "t10k"}
TORCHVISION_FOLDER = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
_GZIP_ERRORS = (OSError, EOFError, zlib.error)


def build_idx_dataset(name: str, root: Path, T: None, split: str,
                      skip_bad: bool) -> SampleDataset:
    """MNIST or Fashion-MNIST (``name``) ``split`` from the idx files under ``root``."""
    images, labels = find_idx_files(name, root, split)
    skips = SkipLog(skip_bad)
    indexed = skips.attempt(str(images), lambda: _index(images, labels, skips))
    samples, preloaded = indexed or ([], None)
    info = DatasetInfo(name=name, num_classes=NUM_CLASSES, sample_shape=SAMPLE_SHAPE, T=None,
                       synthetic=False, source=str(root), split=split,
                       layout=f"idx-ubyte files {images.name} and {labels.name}")
    return assemble(info, samples, IdxImageReader(str(images), preloaded), skips)


def _index(images: Path, labels: Path, skips: SkipLog):
    """The samples, and the decoded images when gzipped (read in full to check them once)."""
    count = read_idx_header(images, IMAGE_DIMS)[0][0]
    values = read_idx_values(labels, (None,))
    if len(values) != count:
        raise broken_file(labels, f"holds {len(values)} labels but {images.name} holds "
                          f"{count} images")
    preloaded = read_idx_values(images, IMAGE_DIMS) if images.suffix == ".gz" else None
    return labelled_records(images, values, NUM_CLASSES, skips), preloaded


def find_idx_files(name: str, root: Path, split: str) -> Tuple[Path, Path]:
    """The images and labels files of ``split``; DataError listing what was looked for."""
    folders = [root, root / "raw", root / TORCHVISION_FOLDER[name] / "raw"]
    prefix = FILE_PREFIX[split]
    found = [_first_existing(folders, prefix, kind) for kind in ("images-idx3", "labels-idx1")]
    if None in found:
        raise DataError(f"no {name} {split} files found in {root}; expected "
                        f"{prefix}-images-idx3-ubyte and {prefix}-labels-idx1-ubyte (or .gz) "
                        f"there, in raw/ or in {TORCHVISION_FOLDER[name]}/raw/")
    return found[0], found[1]


def _first_existing(folders, prefix: str, kind: str) -> Optional[Path]:
    stem, dims = kind.split("-")
    names = [f"{prefix}-{stem}-{dims}-ubyte", f"{prefix}-{stem}.{dims}-ubyte"]
    for folder in folders:
        for candidate in (folder / f"{name}{gz}" for name in names for gz in ("", ".gz")):
            if candidate.exists():
                return candidate
    return None


def read_idx_header(path: Path, dims: Tuple[Optional[int], ...]) -> Tuple[Tuple[int, ...], int]:
    """(dimensions, header bytes) of an idx-ubyte file, checked against ``dims`` (None: any)
    and against the bytes the file holds, before any value is read."""
    head = _read_prefix(path, 4 + 4 * len(dims))
    if len(head) < 4 or head[:2] != b"\0\0" or head[2] != UNSIGNED_BYTE:
        raise broken_file(path, f"not an idx-ubyte file (magic {head[:4].hex() or 'empty'}, "
                          f"expected 0000{UNSIGNED_BYTE:02x}{len(dims):02x})")
    if head[3] != len(dims) or len(head) < 4 + 4 * len(dims):
        raise broken_file(path, f"has {head[3]} dimensions, expected {len(dims)}")
    shape = struct.unpack(f">{len(dims)}I", head[4:])
    if any(want is not None and got != want for got, want in zip(shape, dims)):
        shown = " x ".join("N" if want is None else str(want) for want in dims)
        raise broken_file(path, f"declares dimensions {' x '.join(map(str, shape))}, "
                          f"expected {shown}")
    _check_payload(path, len(head), int(np.prod(shape, dtype=np.int64)))
    return shape, len(head)


def _check_payload(path: Path, header: int, declared: int) -> None:
    if declared > MAX_DATA_BYTES:
        raise broken_file(path, f"declares {declared} bytes of values, more than the limit of "
                          f"{MAX_DATA_BYTES}")
    if path.suffix == ".gz":
        stored = _gzip_stored_size(path)
        matches = stored == (header + declared) % 2 ** 32
        holds = f"decompresses to {stored} bytes (mod 2^32)"
    else:
        stored = regular_file_size(path)
        matches = stored == header + declared
        holds = f"is {stored} bytes"
    if not matches:
        raise broken_file(path, f"declares {declared} bytes of values after its {header}-byte "
                          f"header but {holds} (truncated or not an idx file?)")


def _gzip_stored_size(path: Path) -> int:
    """The uncompressed size a gzip file records in its last 4 bytes (modulo 2^32)."""
    size = regular_file_size(path)
    if size < 18:
        raise broken_file(path, f"is {size} bytes, too short for a gzip file")
    with open(path, "rb") as stream:
        stream.seek(size - 4)
        return struct.unpack("<I", stream.read(4))[0]


def _read_prefix(path: Path, count: int) -> bytes:
    regular_file_size(path)
    try:
        with _open(path) as stream:
            return stream.read(count)
    except _GZIP_ERRORS as err:
        raise broken_file(path, f"cannot be decompressed ({err})") from err


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx_values(path: Path, dims: Tuple[Optional[int], ...]) -> np.ndarray:
    """All values of an idx-ubyte file (its header checked first), as uint8 of its shape."""
    shape, header = read_idx_header(path, dims)
    expected = int(np.prod(shape, dtype=np.int64))
    try:
        with _open(path) as stream:
            stream.seek(header)
            data = stream.read(expected + 1)
    except _GZIP_ERRORS as err:
        raise broken_file(path, f"cannot be decompressed ({err})") from err
    if len(data) != expected:
        raise broken_file(path, f"holds {len(data)} bytes of values, its header declares "
                          f"{expected}")
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


@dataclass
class IdxImageReader:
    """One [1, 28, 28] image of an idx3 file. Uncompressed files are read one image at a time;
    a gzipped file is decompressed once per process (kept, dropped when pickled)."""

    path: str
    _images: Optional[np.ndarray] = field(default=None, repr=False, compare=False)

    def __call__(self, sample: Sample) -> np.ndarray:
        image = self._image(Path(self.path), sample.key)
        return (image.astype(np.float32) / 255.0).reshape(SAMPLE_SHAPE)

    def _image(self, path: Path, index: int) -> np.ndarray:
        if path.suffix == ".gz":
            if self._images is None:
                self._images = read_idx_values(path, IMAGE_DIMS)
            return self._images[index]
        size = SIDE * SIDE
        with open(path, "rb") as stream:
            stream.seek(IMAGES_HEADER + index * size)
            data = stream.read(size)
        if len(data) != size:
            raise broken_file(path, f"image {index} is cut short (file truncated since indexed?)")
        return np.frombuffer(data, dtype=np.uint8)

    def __getstate__(self) -> dict:
        return {"path": self.path, "_images": None}


@dataclass(frozen=True)
class SyntheticDigits:
    """Digit-like float32 [1, 28, 28] images in [0, 1]: a smooth random field, thresholded so
    about a fifth of the pixels are ink (as in MNIST), with soft edges."""

    seed: int = 0
    coarse: int = 5

    def __call__(self, sample: Sample) -> np.ndarray:
        rng = np.random.default_rng([self.seed, sample.key])
        coarse = rng.integers(0, 256, (self.coarse, self.coarse), dtype=np.uint8)
        smooth = np.asarray(Image.fromarray(coarse).resize((SIDE, SIDE), Image.Resampling.BILINEAR),
                            dtype=np.float32) / 255.0
        ink = np.clip((smooth - np.quantile(smooth, 0.8)) * 8.0, 0.0, 1.0)
        return ink.astype(np.float32).reshape(SAMPLE_SHAPE)

