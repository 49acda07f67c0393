"""Image folders (ImageNet's ``val/<wnid>/*.JPEG`` and any ``<class>/<image>`` tree).

Preprocessing is the usual ImageNet evaluation transform, done with Pillow and numpy:
resize the shorter side to 256 (bilinear), centre-crop 224 x 224, scale to [0, 1], subtract
the ImageNet mean and divide by its std per channel, giving float32 [3, 224, 224].
Class index = position of the class folder in sorted name order.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Tuple

import numpy as np
from PIL import Image

from syops.data.dataset import DatasetInfo, Sample, SampleDataset, SkipLog, assemble
from syops.data.errors import DataError, broken_file

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
# The sub-folder each split is looked for in before the root itself is taken as the class root.
SPLIT_FOLDERS = {"test": ("val", "test"), "train": ("train",)}
MAX_PIXELS = 1 << 26  # 67 M pixels (200 MB as RGB), decoded or resized; a 12000 x 5000 photo fits
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError,
                  Image.DecompressionBombWarning)


def build_image_folder(name: str, root: Path, split: str, skip_bad: bool,
                       resize: int = 256, crop: int = 224) -> SampleDataset:
    """The images of ``split`` under ``root``: ``root/<split folder>/<class>/*`` or ``root/<class>/*``."""
    class_root = find_class_root(root, split)
    if class_root is None:
        raise DataError(f"no image class folders found in {root}; expected <class>/<image> "
                        f"folders there or under {'/ or '.join(SPLIT_FOLDERS[split])}/ "
                        f"(images: {' '.join(IMAGE_SUFFIXES)})")
    classes = sorted(entry for entry in class_root.iterdir() if entry.is_dir())
    samples = [Sample(str(path), label) for label, folder in enumerate(classes)
               for path in sorted(_images_in(folder))]
    layout = "image folders" if class_root == root else f"image folders in {class_root.name}/"
    info = DatasetInfo(name=name, num_classes=len(classes), sample_shape=(3, crop, crop), T=None,
                       synthetic=False, source=str(root), split=split, layout=layout)
    return assemble(info, samples, ImageReader(resize, crop), SkipLog(skip_bad))


def find_class_root(root: Path, split: str) -> Optional[Path]:
    """The folder whose sub-folders are the classes, or None if there is none."""
    for folder in [root / name for name in SPLIT_FOLDERS[split]] + [root]:
        if folder.is_dir() and any(any(_images_in(sub)) for sub in folder.iterdir() if sub.is_dir()):
            return folder
    return None


def _images_in(folder: Path) -> Iterator[Path]:
    return (path for path in folder.iterdir()
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file())


@dataclass(frozen=True)
class ImageReader:
    """Decodes one image file into a normalised float32 [3, crop, crop] array."""

    resize: int = 256
    crop: int = 224

    def __call__(self, sample: Sample) -> np.ndarray:
        path = Path(sample.path)
        try:
            with warnings.catch_warnings():  # Pillow's bomb warning: an error, like ours
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(path)
            with image:
                check_pixels(image.size, self.resize, path)  # from the header, before decoding
                rgb = image.convert("RGB")
        except DataError:
            raise
        except _DECODE_ERRORS as err:
            raise broken_file(path, f"cannot decode image ({err})") from err
        cropped = centre_crop(resize_shorter_side(rgb, self.resize), self.crop)
        return normalise(np.asarray(cropped, dtype=np.float32) / 255.0)


def check_pixels(size: Tuple[int, int], resize: int, path: Path) -> None:
    """DataError if an image of ``size`` (width, height), or its resize to shorter side
    ``resize``, would exceed ``MAX_PIXELS``: a tiny file can declare huge or extreme sizes."""
    width, height = size
    if min(width, height) < 1:
        raise broken_file(path, f"image is {width} x {height} pixels")
    resized = resize * resize * max(width, height) // min(width, height)
    if width * height > MAX_PIXELS or resized > MAX_PIXELS:
        raise broken_file(path, f"image is {width} x {height} pixels; decoding it or resizing "
                          f"it to shorter side {resize} would take more than {MAX_PIXELS} pixels")


def resize_shorter_side(image: Image.Image, size: int) -> Image.Image:
    """Scale so the shorter side is ``size`` (longer side truncated to an int)."""
    width, height = image.size
    if width <= height:
        new_size: Tuple[int, int] = (size, int(size * height / width))
    else:
        new_size = (int(size * width / height), size)
    return image.resize(new_size, Image.Resampling.BILINEAR)


def centre_crop(image: Image.Image, size: int) -> Image.Image:
    width, height = image.size
    left, top = int(round((width - size) / 2.0)), int(round((height - size) / 2.0))
    return image.crop((left, top, left + size, top + size))


def normalise(pixels: np.ndarray) -> np.ndarray:
    """[H, W, 3] in [0, 1] -> ImageNet-normalised float32 [3, H, W]."""
    return np.ascontiguousarray(((pixels - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1))
