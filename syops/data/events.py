"""Event streams: the (t, x, y, p) arrays every DVS reader produces."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from syops.data.errors import broken_file
from syops.data.npz import read_npz_arrays

EVENT_KEYS = ("t", "x", "y", "p")


class Events(NamedTuple):
    """Events in recording order: timestamps (us), columns, rows, polarities (0 or 1)."""

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    p: np.ndarray

    @property
    def num_events(self) -> int:
        return int(self.t.size)

    def select(self, mask: np.ndarray) -> "Events":
        return Events(*(column[mask] for column in self))


def in_time_window(events: Events, start: int, end: int) -> Events:
    """The events with start <= t < end, in recording order (as SpikingJelly cuts samples)."""
    return events.select((events.t >= start) & (events.t < end))


def check_on_sensor(events: Events, height: int, width: int, path: Path) -> None:
    """Raise if any event lies outside a height x width sensor."""
    for name, column, size in (("x", events.x, width), ("y", events.y, height)):
        if column.size and (column.min() < 0 or column.max() >= size):
            raise broken_file(
                path, f"event {name} coordinates span {column.min()}..{column.max()}, "
                f"outside the {height}x{width} sensor")


def read_events_npz(path: Path) -> Events:
    """Read a SpikingJelly ``events_np`` file: arrays t, x, y, p of equal length."""
    arrays = read_npz_arrays(path, EVENT_KEYS)
    columns = [arrays[key].reshape(-1) for key in EVENT_KEYS]
    if len({column.size for column in columns}) != 1:
        raise broken_file(path, "arrays t, x, y, p differ in length")
    t, x, y, p = columns
    return Events(t.astype(np.int64), x.astype(np.int64), y.astype(np.int64),
                  (p != 0).astype(np.int64))
