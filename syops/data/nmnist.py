"""N-MNIST: the 10 MNIST digits recorded by an ATIS camera making three saccades, 34 x 34.

Read from SpikingJelly's caches (``frames_number_<T>_split_by_number/<split>/<digit>/*.npz``,
``events_np/<split>/<digit>/*.npz``) or from the published recordings ``Train/<digit>/*.bin``
and ``Test/<digit>/*.bin`` (in the root or in SpikingJelly's ``extract/``). Each recording is
a list of 40-bit events, 5 bytes each: byte 0 x, byte 1 y, then 24 big-endian bits: bit 23
polarity (1 = ON), bits 22-0 the timestamp in microseconds, as SpikingJelly's
``load_ATIS_bin`` decodes them. Events become T frames [T, 2, 34, 34] split by event number
(see ``syops.data.frames``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple, Optional, Tuple

import numpy as np

from syops.data.dataset import DatasetInfo, Reader, Sample, SampleDataset, SkipLog, assemble
from syops.data.dvs import EVENTS_FOLDER, frames_folder_name, index_class_folders, no_layout_error
from syops.data.errors import DataError, broken_file
from syops.data.events import Events, check_on_sensor, read_events_npz
from syops.data.frames import events_to_frames, read_frames_npz
from syops.data.records import regular_file_size

NAME = "n-mnist"
NUM_CLASSES = 10
SENSOR_SIZE = 34
EVENT_BYTES = 5
MAX_FILE_BYTES = 64 * 2 ** 20  # 13 million events; real recordings hold a few thousand
SPLIT_FOLDERS = {"train": "Train", "test": "Test"}
RECORDING_FOLDERS = (".", "extract")
ACCEPTED_LAYOUTS = ("frames_number_<T>_split_by_number/{train,test}/<0..9>/*.npz or "
                    "events_np/{train,test}/<0..9>/*.npz (SpikingJelly caches), or the "
                    "recordings Train/<0..9>/*.bin and Test/<0..9>/*.bin (in the root or in "
                    "extract/)")


def frames_shape(T: int) -> Tuple[int, int, int, int]:
    return (T, 2, SENSOR_SIZE, SENSOR_SIZE)


def build_nmnist(name: str, root: Path, T: int, split: str, skip_bad: bool) -> SampleDataset:
    """The N-MNIST ``split`` under ``root``, in the first layout found (``name`` is n-mnist)."""
    source = find_source(root, T, split)
    if source is None:
        raise no_layout_error(NAME, root, T, ACCEPTED_LAYOUTS)
    samples = index_class_folders(source.folder, digit_label, source.suffix)
    info = DatasetInfo(name=NAME, num_classes=NUM_CLASSES, sample_shape=frames_shape(T), T=T,
                       synthetic=False, source=str(root), split=split, layout=source.layout)
    return assemble(info, samples, source.reader, SkipLog(skip_bad))


class Source(NamedTuple):
    folder: Path  # holding the class folders
    suffix: str
    reader: Reader
    layout: str


def find_source(root: Path, T: int, split: str) -> Optional[Source]:
    """SpikingJelly's frames for this T, else its events, else the recordings."""
    frames = root / frames_folder_name(T) / split
    if frames.is_dir():
        return Source(frames, ".npz", CachedFramesReader(T), f"SpikingJelly {frames.parent.name}")
    events = root / EVENTS_FOLDER / split
    if events.is_dir():
        return Source(events, ".npz", EventsReader(read_events_npz, T),
                      f"SpikingJelly {EVENTS_FOLDER}, integrated to T={T}")
    for folder in (root / relative / SPLIT_FOLDERS[split] for relative in RECORDING_FOLDERS):
        if folder.is_dir():
            return Source(folder, ".bin", EventsReader(read_nmnist_bin, T),
                          f"ATIS .bin recordings in {folder.name}/, integrated to T={T}")
    return None


def digit_label(folder: Path) -> int:
    if folder.name.isdigit() and int(folder.name) < NUM_CLASSES:
        return int(folder.name)
    raise DataError(f"unexpected class folder {folder.name!r} in {folder.parent}; N-MNIST "
                    f"names its class folders 0..9")


def read_nmnist_bin(path: Path) -> Events:
    """The events of one N-MNIST recording, in file order; DataError if it is malformed."""
    regular_file_size(path)
    with open(path, "rb") as stream:
        data = stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise broken_file(path, f"is more than the {MAX_FILE_BYTES} bytes an N-MNIST "
                          f"recording may hold")
    if not data or len(data) % EVENT_BYTES:
        raise broken_file(path, f"is {len(data)} bytes, not a positive multiple of "
                          f"{EVENT_BYTES} (5-byte events; file truncated?)")
    raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, EVENT_BYTES).astype(np.int64)
    time_and_polarity = (raw[:, 2] << 16) | (raw[:, 3] << 8) | raw[:, 4]
    return Events(t=time_and_polarity & 0x7FFFFF, x=raw[:, 0], y=raw[:, 1],
                  p=time_and_polarity >> 23)


@dataclass(frozen=True)
class EventsReader:
    """Frames [T, 2, 34, 34] of one file of events (picklable: DataLoader workers work)."""

    read_events: Callable[[Path], Events]
    T: int

    def __call__(self, sample: Sample) -> np.ndarray:
        path = Path(sample.path)
        events = self.read_events(path)
        if events.num_events == 0:
            raise broken_file(path, "holds no events")
        check_on_sensor(events, SENSOR_SIZE, SENSOR_SIZE, path)
        return events_to_frames(events, self.T, SENSOR_SIZE, SENSOR_SIZE)


@dataclass(frozen=True)
class CachedFramesReader:
    """SpikingJelly's integrated frames [T, 2, 34, 34], as they are."""

    T: int

    def __call__(self, sample: Sample) -> np.ndarray:
        return read_frames_npz(Path(sample.path), frames_shape(self.T))
