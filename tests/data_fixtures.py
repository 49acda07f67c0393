"""Writers of tiny data trees in the real on-disk formats, for tests (ours and the CLI's).

Everything here is written from scratch by the tests' own encoders, independent of the
readers in ``syops.data``, so a test that reads these files back checks both sides.

    from data_fixtures import write_gesture_tree   # tests/ is on sys.path under pytest
    tree = write_gesture_tree(tmp_path, layout="aedat", T=16)
    data = syops.data.get_dataset("dvs-gesture", tree.root, T=16)
"""

from __future__ import annotations

import resource
import signal
import struct
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image

SENSOR = 128
GESTURE_LAYOUTS = ("aedat", "events_np", "frames")
CIFAR10DVS_LAYOUTS = ("aedat", "events_np", "frames")


@dataclass
class EventArrays:
    """Events as the tests build them: t (us), x, y, p, in recording order."""

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    p: np.ndarray

    def shifted(self, dt: int) -> "EventArrays":
        return EventArrays(self.t + dt, self.x, self.y, self.p)


def make_events(count: int, seed: int, start_us: int = 0, step_us: int = 10) -> EventArrays:
    """``count`` random on-sensor events, one every ``step_us`` from ``start_us``."""
    rng = np.random.default_rng(seed)
    return EventArrays(t=start_us + step_us * np.arange(count, dtype=np.int64),
                       x=rng.integers(0, SENSOR, count), y=rng.integers(0, SENSOR, count),
                       p=rng.integers(0, 2, count))


def _stable_seed(*parts: object) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


def reference_frames(events: EventArrays, T: int) -> np.ndarray:
    """SpikingJelly's split_by='number' integration, written as its documentation states it:
    frame j sums events j*(N//T) .. (j+1)*(N//T) - 1, the last frame runs to N - 1."""
    n = len(events.t)
    frames = np.zeros((T, 2, SENSOR, SENSOR))
    for j in range(T):
        lo = (n // T) * j
        hi = n if j == T - 1 else (n // T) * (j + 1)
        for i in range(lo, hi):
            frames[j, int(events.p[i] != 0), events.y[i], events.x[i]] += 1
    return frames


# ---------------------------------------------------------------- AEDAT 3.1 (DVS128 Gesture)
AEDAT31_HEADER = (b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n"
                  b"#Start-Time: 2017-01-01 00:00:00 (TZ+0000)\r\n#!END-HEADER\r\n")


def aedat31_packet(event_type: int, words: Sequence[Tuple[int, int]], overflow: int = 0) -> bytes:
    """One AEDAT 3.1 packet of 8-byte events (uint32 data, int32 timestamp)."""
    header = struct.pack("<hhiiiiii", event_type, 1, 8, 4, overflow, len(words), len(words),
                         len(words))
    return header + b"".join(struct.pack("<Ii", data, ts) for data, ts in words)


def polarity_word(x: int, y: int, p: int, valid: int = 1) -> int:
    return (int(x) << 17) | (int(y) << 2) | (int(p) << 1) | valid


def aedat31_bytes(events: EventArrays, packet_size: int = 7) -> bytes:
    """An AEDAT 3.1 recording of ``events`` in polarity packets of ``packet_size`` events,
    with a special-event packet (type 0) between them that readers must skip. Timestamps of
    2**31 us and beyond go into each packet's eventTSOverflow."""
    body = [AEDAT31_HEADER, aedat31_packet(0, [(0x1234, 0)])]
    for start in range(0, len(events.t), packet_size):
        stop = start + packet_size
        overflow = int(events.t[start]) >> 31
        assert all(int(t) >> 31 == overflow for t in events.t[start:stop]), "split packets"
        words = [(polarity_word(x, y, p), int(t) - (overflow << 31)) for t, x, y, p in
                 zip(events.t[start:stop], events.x[start:stop], events.y[start:stop],
                     events.p[start:stop])]
        body.append(aedat31_packet(1, words, overflow))
    return b"".join(body)


# ---------------------------------------------------------------- AEDAT 2.0 (CIFAR10-DVS)
AEDAT20_HEADER = b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n"


def cifar10dvs_bytes(events: EventArrays) -> bytes:
    """A CIFAR10-DVS recording whose readout (SpikingJelly's convention: x = 127 - row,
    y = 127 - column, p = 1 - polarity bit) gives ``events`` back."""
    row, column, polarity = 127 - events.x, 127 - events.y, 1 - events.p
    address = (row.astype(np.uint32) << 8) | (column.astype(np.uint32) << 1) | polarity
    records = np.empty(len(address), dtype=[("address", ">u4"), ("timestamp", ">u4")])
    records["address"], records["timestamp"] = address, events.t
    return AEDAT20_HEADER + records.tobytes()


# ---------------------------------------------------------------- SpikingJelly caches
def save_events_npz(path: Path, events: EventArrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, t=events.t, x=events.x, y=events.y, p=events.p)


def save_frames_npz(path: Path, events: EventArrays, T: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, frames=reference_frames(events, T))


@dataclass
class DataTree:
    """A written tree: its root and the events of each split's samples as (label, events)."""

    root: Path
    samples: Dict[str, List[Tuple[int, EventArrays]]] = field(default_factory=dict)


# ---------------------------------------------------------------- DVS128 Gesture
GESTURE_RECORDINGS = {"train": ("user01_fluorescent", (0, 4, 10)), "test": ("user24_led", (2, 7))}


def write_gesture_tree(root: Path, layout: str = "aedat", T: int = 16,
                       events_per_sample: int = 40) -> DataTree:
    """A tiny DVS128 Gesture tree: one recording per split (train: classes 1, 5, 11; test:
    classes 3, 8), one labelled window per class, ``events_per_sample`` events each.

    layout "aedat" writes the recordings, labels CSVs and trials lists; "events_np" and
    "frames" write SpikingJelly's caches of the same samples (frames for this T).
    """
    if layout not in GESTURE_LAYOUTS:
        raise ValueError(f"layout must be one of {GESTURE_LAYOUTS}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    tree = DataTree(root)
    for split, (stem, labels) in GESTURE_RECORDINGS.items():
        windows = []
        recording = []
        for index, label in enumerate(labels):
            start = 1_000_000 * (index + 1)
            events = make_events(events_per_sample, seed=_stable_seed(stem, label),
                                 start_us=start)
            recording.append(events)
            windows.append((label, start, start + 10 * events_per_sample))
            tree.samples.setdefault(split, []).append((label, events))
        if layout == "aedat":
            # Some events between the windows, outside every labelled window.
            gap = make_events(5, seed=7, start_us=500_000)
            everything = [gap] + recording
            joined = EventArrays(*(np.concatenate([getattr(e, k) for e in everything])
                                   for k in ("t", "x", "y", "p")))
            (root / f"{stem}.aedat").write_bytes(aedat31_bytes(joined))
            rows = "".join(f"{label + 1},{start},{end}\n" for label, start, end in windows)
            (root / f"{stem}_labels.csv").write_text("class,startTime_usec,endTime_usec\n" + rows)
            (root / f"trials_to_{split}.txt").write_text(f"{stem}.aedat\n")
        else:
            for label, events in tree.samples[split]:
                folder = (root / "events_np" if layout == "events_np"
                          else root / f"frames_number_{T}_split_by_number") / split / str(label)
                if layout == "events_np":
                    save_events_npz(folder / f"{stem}_0.npz", events)
                else:
                    save_frames_npz(folder / f"{stem}_0.npz", events, T)
    return tree


# ---------------------------------------------------------------- CIFAR10-DVS
def write_cifar10dvs_tree(root: Path, layout: str = "aedat", T: int = 16,
                          classes: Sequence[str] = ("airplane", "cat"), per_class: int = 10,
                          events_per_sample: int = 30) -> DataTree:
    """A tiny CIFAR10-DVS tree with ``per_class`` recordings per class, named as published
    (``cifar10_<class>_<i>``); ``tree.samples`` is keyed by class name, in index order."""
    if layout not in CIFAR10DVS_LAYOUTS:
        raise ValueError(f"layout must be one of {CIFAR10DVS_LAYOUTS}")
    root = Path(root)
    tree = DataTree(root)
    for name in classes:
        for index in range(per_class):
            events = make_events(events_per_sample, seed=_stable_seed(name, index))
            tree.samples.setdefault(name, []).append((index, events))
            stem = f"cifar10_{name}_{index}"
            if layout == "aedat":
                path = root / name / f"{stem}.aedat"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(cifar10dvs_bytes(events))
            elif layout == "events_np":
                save_events_npz(root / "events_np" / name / f"{stem}.npz", events)
            else:
                save_frames_npz(root / f"frames_number_{T}_split_by_number" / name / f"{stem}.npz",
                                events, T)
    return tree


# ---------------------------------------------------------------- image folders
def write_image_folder(root: Path, images: Dict[str, Sequence[Tuple[int, int, Tuple[int, int, int]]]]
                       = None) -> Path:
    """``root/<class>/img<i>.png`` of solid colours: {class: [(width, height, rgb), ...]}."""
    images = images or {"n01440764": [(300, 256, (255, 0, 0)), (256, 320, (0, 128, 255))],
                        "n01443537": [(256, 256, (10, 20, 30))]}
    root = Path(root)
    for name, specs in images.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for index, (width, height, colour) in enumerate(specs):
            Image.new("RGB", (width, height), colour).save(root / name / f"img{index}.png")
    return root


# ---------------------------------------------------------------- resource guards for readers
@contextmanager
def address_space_limited(extra: int):
    """Cap this process's address space at its current size + ``extra`` bytes (Linux), so a
    reader that tries to allocate more raises MemoryError instead of succeeding."""
    size_kb = next(int(line.split()[1]) for line in open("/proc/self/status")
                   if line.startswith("VmSize:"))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (size_kb * 1024 + extra, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


class TookTooLong(Exception):
    """A guarded read ran past its time limit (a hang, for a test)."""


@contextmanager
def time_limited(seconds: float):
    """Raise TookTooLong in the main thread once ``seconds`` of wall time have passed."""
    def expire(signum, frame):
        raise TookTooLong(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
