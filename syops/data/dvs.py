"""What the two DVS data sets share: sensor size, readers that give frames, and
SpikingJelly's cache folders (``events_np`` and ``frames_number_<T>_split_by_number``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, List, NamedTuple, Optional, Tuple

import numpy as np

from syops.data.dataset import Reader, Sample
from syops.data.errors import DataError
from syops.data.events import Events, check_on_sensor, read_events_npz, require_events
from syops.data.frames import events_to_frames, read_frames_npz

SENSOR_SIZE = 128
DEFAULT_T = 16
EVENTS_FOLDER = "events_np"
_FRAMES_FOLDER = re.compile(r"frames_number_(\d+)_split_by_number")


def frames_shape(T: int) -> Tuple[int, int, int, int]:
    return (T, 2, SENSOR_SIZE, SENSOR_SIZE)


def frames_folder_name(T: int) -> str:
    return f"frames_number_{T}_split_by_number"


def integrate_on_sensor(events: Events, T: int, path: Path, what: str = "file") -> np.ndarray:
    """T event-count frames of a 128 x 128 recording; DataError if there are no events or one
    is off the sensor (``what`` names the part of ``path`` the events came from)."""
    require_events(events, path, what)
    check_on_sensor(events, SENSOR_SIZE, SENSOR_SIZE, path, what)
    return events_to_frames(events, T, SENSOR_SIZE, SENSOR_SIZE)


@dataclass(frozen=True)
class CachedFramesReader:
    """Reads SpikingJelly's integrated frames as they are."""

    T: int

    def __call__(self, sample: Sample) -> np.ndarray:
        return read_frames_npz(Path(sample.path), frames_shape(self.T))


@dataclass(frozen=True)
class EventFileReader:
    """Reads one file of events per sample and integrates it into T frames."""

    read_events: Callable[[Path], Events]
    T: int

    def __call__(self, sample: Sample) -> np.ndarray:
        path = Path(sample.path)
        return integrate_on_sensor(self.read_events(path), self.T, path)


class CacheFolder(NamedTuple):
    folder: Path
    reader: Reader
    layout: str


def find_cache(root: Path, T: int) -> Optional[CacheFolder]:
    """SpikingJelly's frames for this T, else its events_np folder, in ``root`` or ``root`` itself."""
    frames = _sub_folder_or_itself(root, frames_folder_name(T))
    if frames is not None:
        return CacheFolder(frames, CachedFramesReader(T), f"SpikingJelly {frames.name}")
    events = _sub_folder_or_itself(root, EVENTS_FOLDER)
    if events is not None:
        return CacheFolder(events, EventFileReader(read_events_npz, T),
                           f"SpikingJelly {EVENTS_FOLDER}, integrated to T={T}")
    return None


def _sub_folder_or_itself(root: Path, name: str) -> Optional[Path]:
    if (root / name).is_dir():
        return root / name
    return root if root.name == name else None


def cached_frame_counts(root: Path) -> List[int]:
    """The T of every ``frames_number_<T>_split_by_number`` folder in ``root``."""
    if not root.is_dir():
        return []
    found = (_FRAMES_FOLDER.fullmatch(entry.name) for entry in root.iterdir() if entry.is_dir())
    return sorted(int(match.group(1)) for match in found if match)


def index_class_folders(folder: Path, label_of: Callable[[Path], Optional[int]],
                        suffix: str) -> List[Sample]:
    """One sample per ``folder/<class>/*<suffix>``, classes and files in name order.

    ``label_of`` maps a sub-folder to its label, None to pass over it, or raises DataError.
    """
    samples: list[Any] = []
    for class_folder in sorted(entry for entry in folder.iterdir() if entry.is_dir()):
        label = label_of(class_folder)
        if label is None:
            continue
        files = sorted(class_folder.glob(f"*{suffix}"), key=lambda path: path.name)
        samples.extend(Sample(str(path), label) for path in files if path.is_file())
    return samples


def require_folder(folder: Path, what: str) -> Path:
    """``folder``, or a DataError saying it is missing."""
    if not folder.is_dir():
        raise DataError(f"{folder} does not exist; expected {what}")
    return folder


def no_layout_error(name: str, root: Path, T: int, accepted: str) -> DataError:
    """The error for a root in which no known layout of data set ``name`` was found."""
    other_T = cached_frame_counts(root)
    if other_T:
        found = ", ".join(f"T={count}" for count in other_T)
        return DataError(f"{root} holds SpikingJelly frames for {found} only, not T={T}: pass "
                         f"one of those T, or add events_np/ or the raw recordings")
    return DataError(f"no {name} data found in {root}; expected {accepted}")
