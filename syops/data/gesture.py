"""DVS128 Gesture: 11 classes of hand gestures, 128 x 128 events, 2 polarities.

Read from SpikingJelly's caches (``frames_number_<T>_split_by_number/<split>/<0..10>/*.npz``
or ``events_np/<split>/<0..10>/*.npz``) or from the original recordings: ``trials_to_<split>.txt``
lists ``userNN_<lighting>.aedat`` files, each with ``userNN_<lighting>_labels.csv`` giving
(class 1..11, start us, end us); each labelled window [start, end) is one sample of label
class - 1, as SpikingJelly cuts them.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple, Union

import numpy as np

from syops.data.aedat import read_aedat31_polarity
from syops.data.dataset import DatasetInfo, Sample, SampleDataset, SkipLog, assemble
from syops.data.dvs import (
    find_cache,
    frames_shape,
    index_class_folders,
    integrate_on_sensor,
    no_layout_error,
    require_folder,
)
from syops.data.errors import DataError, broken_file
from syops.data.events import Events, in_time_window

NAME = "dvs-gesture"
NUM_CLASSES = 11
LABELS_HEADER = "class,startTime_usec,endTime_usec"
MAX_TEXT_BYTES = 1 << 20
# Where the recordings may sit: the root itself, the archive's folder, SpikingJelly's extract/.
RECORDING_FOLDERS = (".", "DvsGesture", "extract/DvsGesture")
ACCEPTED_LAYOUTS = (
    "frames_number_<T>_split_by_number/{train,test}/<0..10>/*.npz or "
    "events_np/{train,test}/<0..10>/*.npz (SpikingJelly caches), or the DvsGesture recordings "
    "(userNN_<lighting>.aedat with userNN_<lighting>_labels.csv and trials_to_{train,test}.txt)")

Window = Tuple[int, int, int]  # label, start us, end us


def build_gesture(root: Path, T: int, split: str, skip_bad: bool) -> SampleDataset:
    """The DVS128 Gesture ``split`` under ``root`` in whichever layout it holds."""
    skips = SkipLog(skip_bad)
    cache = find_cache(root, T)
    if cache is not None:
        split_folder = require_folder(cache.folder / split, "one folder per class 0..10 there")
        samples = index_class_folders(split_folder, gesture_class_label, ".npz")
        reader, layout = cache.reader, cache.layout
    else:
        recordings = find_recordings_folder(root, split)
        if recordings is None:
            raise no_layout_error(NAME, root, T, ACCEPTED_LAYOUTS)
        samples = index_recording_windows(recordings, split, skips)
        reader, layout = RecordingWindowReader(T), f"AEDAT 3.1 recordings, integrated to T={T}"
    info = DatasetInfo(name=NAME, num_classes=NUM_CLASSES, sample_shape=frames_shape(T), T=T,
                       synthetic=False, source=str(root), split=split, layout=layout)
    return assemble(info, samples, reader, skips)


def gesture_class_label(folder: Path) -> int:
    """Label of a cache class folder, named 0..10."""
    if folder.name.isdigit() and int(folder.name) < NUM_CLASSES:
        return int(folder.name)
    raise DataError(f"unexpected class folder {folder.name!r} in {folder.parent}; "
                    f"DVS Gesture caches name their class folders 0..10")


def find_recordings_folder(root: Path, split: str) -> Optional[Path]:
    """The first candidate folder holding ``trials_to_<split>.txt``."""
    for relative in RECORDING_FOLDERS:
        if (root / relative / f"trials_to_{split}.txt").is_file():
            return root / relative
    return None


def index_recording_windows(folder: Path, split: str, skips: SkipLog) -> List[Sample]:
    """One sample per labelled window of each recording listed for ``split``."""
    samples: List[Sample] = []
    for recording in read_trials_list(folder / f"trials_to_{split}.txt"):
        windows = skips.attempt(str(recording), lambda: _windows_of_recording(recording))
        samples.extend(Sample(str(recording), label, (start, end))
                       for label, start, end in windows or ())
    return samples


def _windows_of_recording(recording: Path) -> List[Window]:
    if not recording.is_file():
        problem = "is not a regular file" if recording.exists() else "is missing"
        raise broken_file(recording, f"recording listed in the trials list {problem}")
    return read_label_windows(recording.with_name(f"{recording.stem}_labels.csv"))


def read_trials_list(path: Path) -> List[Path]:
    """The recordings a ``trials_to_<split>.txt`` names (one per line; blank lines ignored)."""
    names = [line.strip() for line in _text_lines(path)]
    return [path.parent / f"{Path(name).stem}.aedat" for name in names if name]


def _text_lines(path: Path) -> List[str]:
    """The lines of a labels or trials file (a regular file of at most ``MAX_TEXT_BYTES``);
    a UTF-8 byte order mark, as spreadsheets write, is dropped."""
    if not path.is_file():
        raise broken_file(path, "is not a regular file")
    if path.stat().st_size > MAX_TEXT_BYTES:
        raise broken_file(path, f"is {path.stat().st_size} bytes; labels and trials lists are "
                          f"small text files (at most {MAX_TEXT_BYTES} bytes)")
    return path.read_text(encoding="utf-8-sig", errors="replace").splitlines()


def read_label_windows(path: Path) -> List[Window]:
    """(label 0..10, start us, end us) of each row of a ``*_labels.csv`` file."""
    if not path.exists():
        raise broken_file(path, "labels file is missing")
    lines = _text_lines(path)
    if not lines or lines[0].strip().replace(" ", "") != LABELS_HEADER:
        first = lines[0][:60] if lines else ""
        raise broken_file(path, f"first line is {first!r}, expected {LABELS_HEADER!r}")
    windows = [_parse_label_row(path, number, line)
               for number, line in enumerate(lines[1:], start=2) if line.strip()]
    if not windows:
        raise broken_file(path, "lists no labelled windows")
    return windows


def _parse_label_row(path: Path, number: int, line: str) -> Window:
    fields = line.split(",")
    try:
        gesture, start, end = (int(field) for field in fields)
    except ValueError:
        raise broken_file(path, f"line {number} is {line.strip()!r}, expected three integers "
                          f"class,start,end") from None
    if not 1 <= gesture <= NUM_CLASSES:
        raise broken_file(path, f"line {number}: unknown class {gesture} (classes are 1..11)")
    if not 0 <= start < end:
        raise broken_file(path, f"line {number}: bad time window {start}..{end} us "
                          f"(need 0 <= start < end)")
    return gesture - 1, start, end


class RecordingWindowReader:
    """Frames of one labelled window of an AEDAT 3.1 recording.

    Consecutive samples usually share a recording, so the last one parsed (or the DataError
    it raised) is kept, one per process: it is dropped when the reader is pickled into
    DataLoader workers. A window's own problem (no events, an event off the sensor) fails
    that window only, not its siblings.
    """

    def __init__(self, T: int):
        self.T = T
        self._recording: Optional[Tuple[str, Union[Events, DataError]]] = None

    def __call__(self, sample: Sample) -> np.ndarray:
        start, end = sample.key
        recording = self._events_of(sample.path)
        window = in_time_window(recording, start, end)
        what = f"window {start}..{end} us (class {sample.label + 1})"
        if window.num_events == 0:
            raise broken_file(sample.path, f"{what} holds no events; {_span(recording)}")
        return integrate_on_sensor(window, self.T, Path(sample.path), what)

    def _events_of(self, path: str) -> Events:
        if self._recording is None or self._recording[0] != path:
            self._recording = None  # release the previous recording before reading the next
            try:
                self._recording = (path, read_aedat31_polarity(Path(path)))
            except DataError as err:
                self._recording = (path, err)
        if isinstance(self._recording[1], DataError):
            raise self._recording[1]
        return self._recording[1]

    def __getstate__(self) -> dict:
        return {"T": self.T, "_recording": None}


def _span(events: Events) -> str:
    if events.num_events == 0:
        return "the recording holds no valid polarity events"
    return f"the recording's events span {events.t.min()}..{events.t.max()} us"
