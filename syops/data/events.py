"""Event streams: the (t, x, y, p) arrays every DVS reader produces."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from syops.data.errors import broken_file
from syops.data.npz import read_npz_arrays

EVENT_KEYS = ("t", "x", "y", "p")
INT_LIMIT = 2 ** 53  # event fields beyond this are not timestamps or pixels


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


def check_on_sensor(events: Events, height: int, width: int, path: Path,
                    what: str = "file") -> None:
    """Raise if any event lies outside a height x width sensor."""
    for name, column, size in (("x", events.x, width), ("y", events.y, height)):
        if column.size and (column.min() < 0 or column.max() >= size):
            raise broken_file(
                path, f"{what}: event {name} coordinates span {column.min()}..{column.max()}, "
                f"outside the {height}x{width} sensor")


def read_events_npz(path: Path) -> Events:
    """Read a SpikingJelly ``events_np`` file: arrays t, x, y, p of equal length, integer
    valued, polarities 0 or 1 (as SpikingJelly writes them)."""
    arrays = read_npz_arrays(path, EVENT_KEYS)
    columns = [arrays[key].reshape(-1) for key in EVENT_KEYS]
    if len({column.size for column in columns}) != 1:
        raise broken_file(path, "arrays t, x, y, p differ in length")
    t, x, y, p = (_integers(column, key, path) for column, key in zip(columns, EVENT_KEYS))
    if p.size and (p.min() < 0 or p.max() > 1):
        odd = np.unique(p[(p < 0) | (p > 1)])[:3].tolist()
        raise broken_file(path, f"polarities must be 0 or 1, found {odd}")
    return Events(t, x, y, p)


def _integers(column: np.ndarray, name: str, path: Path) -> np.ndarray:
    """``column`` as int64; DataError for NaN, inf, fractions or values beyond int64."""
    if column.dtype.kind == "f":
        finite = np.isfinite(column)
        if not finite.all():
            raise broken_file(path, f"array {name!r} holds NaN or infinite values")
        if column.size and (np.abs(column).max() > INT_LIMIT or (column != np.round(column)).any()):
            raise broken_file(path, f"array {name!r} holds values that are not integers "
                              f"(or beyond {INT_LIMIT})")
    elif column.dtype.kind == "u" and column.size and column.max() > INT_LIMIT:
        raise broken_file(path, f"array {name!r} holds values beyond {INT_LIMIT}")
    return column.astype(np.int64)


def require_events(events: Events, path: Path, what: str = "file") -> None:
    """Raise if there is no event to integrate (a sample of no events is no sample)."""
    if events.num_events == 0:
        raise broken_file(path, f"{what} holds no events")
