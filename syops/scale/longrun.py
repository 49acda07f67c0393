"""Long runs: partial reports saved every N batches, and resuming from one.

A partial file holds the report of the first ``items_done`` items of the data (items in
data-set order; a run across R ranks saves only after batches every rank has completed, when
the ranks together have counted exactly a prefix of the items), and a fingerprint of what
produced it: model, weights, data and counting options. Resuming checks the fingerprint,
counts the items after the prefix, and adds the saved report: the totals equal one
uninterrupted run. Files are written atomically (never half-written).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from syops.report import Report
from syops.scale import distributed

FORMAT = "syops-partial/1"
MAX_PARTIAL_BYTES = 256 << 20
"""Partial reports above this are refused (a 1,000-layer report is a few MB)."""


@dataclass(frozen=True)
class Partial:
    """The report of the first ``items_done`` items of a run with ``fingerprint``."""

    fingerprint: dict[str, Any]
    items_done: int
    report: Report


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(**parts: Any) -> dict[str, Any]:
    """``parts`` as plain JSON values (tuples become lists), for comparing with a file's."""
    return json.loads(json.dumps(parts, sort_keys=True, default=str))


def partial_text(partial: Partial) -> str:
    """The file content of ``partial`` (JSON; NaN kept as NaN so levels round-trip)."""
    return json.dumps({"format": FORMAT, "fingerprint": partial.fingerprint,
                       "items_done": partial.items_done, "report": partial.report.raw()},
                      indent=1) + "\n"


def read_partial(path: str | Path) -> Partial:
    """The partial report saved in ``path``; a ValueError naming the file when it is not one
    (only a regular file of at most ``MAX_PARTIAL_BYTES`` is read: never a FIFO or device)."""
    try:
        content = json.loads(read_regular(path, MAX_PARTIAL_BYTES))
        if not isinstance(content, dict) or content.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} file")
        items = content["items_done"]
        if isinstance(items, bool) or not isinstance(items, int) or items < 1:
            raise ValueError(f"items_done is {items!r}, not a count of samples")
        return Partial(content["fingerprint"], items, Report.from_raw(content["report"]))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the partial report "
                         f"({exc.strerror or exc})") from None
    except RecursionError:
        raise ValueError(f"{path}: not a partial report saved by --save-every (its JSON nests "
                         f"too deeply)") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not a partial report saved by --save-every ({exc})") from None


def read_regular(path: str | Path, limit: int) -> str:
    """The UTF-8 text of a regular file of at most ``limit`` bytes (opened without blocking,
    so a FIFO is refused, not waited on)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a FIFO or device?)")
        data = file.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"larger than {limit >> 20} MiB")
    return data.decode("utf-8")


def check_items(partial: Partial, items: int, path: str | Path, exact: bool = True) -> None:
    """Refuse a partial report of more items than the run counts, or (``exact``: no item
    may have been skipped) whose report counted another number of samples than it says."""
    if partial.items_done > items:
        raise ValueError(f"{path} holds {partial.items_done} items counted, more than the "
                         f"{items} this run counts; give --samples (or --max-batches) for at "
                         f"least {partial.items_done}")
    if partial.report.samples > partial.items_done or \
            (exact and partial.report.samples != partial.items_done):
        raise ValueError(f"{path} says items_done {partial.items_done} but its report counted "
                         f"{partial.report.samples} samples (edited by hand?); save it again")


def differences(saved: Any, current: Any, prefix: str = "") -> list[str]:
    """``key: here vs in the file`` for every leaf that differs between two fingerprints."""
    if isinstance(saved, dict) and isinstance(current, dict):
        return [d for key in sorted(set(saved) | set(current))
                for d in differences(saved.get(key), current.get(key), f"{prefix}{key}.")]
    if saved == current:
        return []
    return [f"{prefix.rstrip('.')} {current!r} here, {saved!r} in the file"]


def check_resume(partial: Partial, current: dict[str, Any], path: str | Path,
                 options: dict[str, str] | None = None) -> None:
    """Refuse to resume ``partial`` in a run that differs from the one that saved it;
    ``options`` names the command-line option of a fingerprint key (``options.mode``: --mode)."""
    found = differences(partial.fingerprint, current)
    named: dict[str, str] = {}
    for difference in found:  # one entry per option, named as the user gave it
        key = difference.split(" ")[0]
        option = (options or {}).get(key)
        named.setdefault(option or key, f"{option}: {difference}" if option else difference)
    found = list(named.values())
    if found:
        raise ValueError(f"{path} was saved by a different run ({'; '.join(found[:3])}); "
                         f"--resume needs the same model, weights, data and options")


class Checkpoints:
    """An ``on_batch(done, counter)`` callback saving the partial report every ``every``
    batches, as long as every rank has completed that many full batches of ``batch_size``.

    ``start`` is the partial the run resumed from (or None). Under torch.distributed every
    rank calls it (the save is a collective) and rank 0 writes the file."""

    def __init__(self, path: str | Path, every: int, *, fingerprint: dict[str, Any],
                 batch_size: int, items: int, start: Partial | None = None,
                 write: Callable[[dict], None] | None = None):
        if every < 1:
            raise ValueError(f"--save-every must be at least 1, got {every}")
        self.path, self.every, self.fingerprint = Path(path), every, fingerprint
        self.start = start
        self.first = start.items_done if start else 0
        self.world = distributed.world_size()
        self.batch_size = batch_size
        self.last = distributed.common_batches(items - self.first, self.world, batch_size)
        self.write = write or _write_atomically
        self.saved = 0   # partial files written by this run

    def __call__(self, done: int, counter) -> None:
        if done % self.every or done > self.last:
            return
        report = distributed.reduce_report(counter.report())
        if self.start is not None:
            report = self.start.report + report
        items = self.first + done * self.batch_size * self.world
        if distributed.rank() == 0:
            self.write({self.path: partial_text(Partial(self.fingerprint, items, report))})
        self.saved += 1


def progress_columns() -> tuple:
    """Rich progress-bar columns: description, bar, batches done/total, samples/s (the
    task's ``rate`` field, see ``sample_rate``), elapsed time and time remaining."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    return (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn())


def sample_rate(samples: int | None, seconds: float) -> str:
    """E.g. '12.5 samples/s' (empty before the first batch or without a sample count)."""
    return f"{samples / seconds:,.1f} samples/s" if samples and seconds > 0 else ""


def _write_atomically(contents: dict) -> None:
    from syops.reports.files import write_atomically
    write_atomically(contents)
