"""Event-count frames: integrating events into T frames, and reading cached frames.

The split is SpikingJelly's ``split_by="number"`` rule: with N events and T frames,
frame i holds events [i * (N // T), (i + 1) * (N // T)) and the last frame runs to N,
so it also takes the N % T left-over events. (When N < T every frame is empty but the
last.) A pixel's value is the number of its events in the frame; channel 0 counts
polarity 0 (OFF), channel 1 polarity 1 (ON).
"""

from __future__ import annotations

from pathlib import Path
from typing import Tuple

import numpy as np

from syops.data.errors import broken_file
from syops.data.events import Events
from syops.data.npz import read_npz_arrays


def frame_bounds(num_events: int, T: int) -> Tuple[np.ndarray, np.ndarray]:
    """Start (inclusive) and stop (exclusive) event index of each of the T frames."""
    step = num_events // T
    starts = np.arange(T, dtype=np.int64) * step
    stops = starts + step
    stops[-1] = num_events
    return starts, stops


def frame_of_each_event(num_events: int, T: int) -> np.ndarray:
    """The frame index each event falls in, under the rule of :func:`frame_bounds`."""
    starts, stops = frame_bounds(num_events, T)
    return np.repeat(np.arange(T, dtype=np.int64), stops - starts)


def events_to_frames(events: Events, T: int, height: int, width: int) -> np.ndarray:
    """Event counts as float32 [T, 2, height, width]; events must lie on the sensor."""
    frame = frame_of_each_event(events.num_events, T)
    flat = ((frame * 2 + events.p) * height + events.y) * width + events.x
    counts = np.bincount(flat, minlength=T * 2 * height * width)
    return counts.astype(np.float32).reshape(T, 2, height, width)


def read_frames_npz(path: Path, shape: Tuple[int, int, int, int]) -> np.ndarray:
    """Read a SpikingJelly frames file (array ``frames``) as float32 of the given shape.

    Frames are event counts: NaN, infinite (or beyond float32) and negative values are a
    DataError, not numbers to profile with, and so are frames of no events at all.
    """
    frames = read_npz_arrays(path, ("frames",), shapes={"frames": shape})["frames"]
    with np.errstate(over="ignore", invalid="ignore"):
        counts = frames.astype(np.float32)
    finite = np.isfinite(counts)
    if not finite.all():
        raise broken_file(path, f"frames hold {int(counts.size - finite.sum())} NaN or infinite "
                          f"value(s); event counts must be finite")
    if counts.size and counts.min() < 0:
        raise broken_file(path, f"frames hold negative values (min {counts.min():g}); event "
                          f"counts cannot be negative")
    if not counts.any():
        raise broken_file(path, "frames hold no events (all zero)")
    return counts
