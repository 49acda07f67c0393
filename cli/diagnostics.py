"""Diagnostics on stderr (data stays on stdout): messages by verbosity, progress bars, and
silencing third-party log lines that are not diagnostics of the user's run."""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import Progress

from syops.scale.longrun import progress_columns, sample_rate

QUIET, NORMAL, VERBOSE = -1, 0, 1
NOISY_LOGGERS = ("torch._library.triton",)  # "Triton not available" on SpikingJelly's import


def silence_third_party_logs() -> None:
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


@dataclass
class Diagnostics:
    """Where messages for the user go: stderr, filtered by verbosity."""

    verbosity: int = NORMAL
    console: Console = field(default_factory=lambda: Console(stderr=True, highlight=False))

    def info(self, message: str) -> None:
        """Shown with -v."""
        if self.verbosity >= VERBOSE:
            self.console.print(message, markup=False, soft_wrap=True)

    def warn(self, message: str) -> None:
        """Shown unless -q."""
        if self.verbosity >= NORMAL:
            self.console.print(f"warning: {message}", markup=False, style="yellow", soft_wrap=True)

    @property
    def shows_progress(self) -> bool:
        return self.verbosity >= NORMAL and self.console.is_terminal

    @contextmanager
    def progress(self, description: str,
                 total: int | None = None) -> Iterator[Callable[..., None]]:
        """A ``(done, total, samples=None)`` callback driving a bar (transient): batches
        done, samples/s, elapsed time and ETA; a no-op when quiet."""
        if not self.shows_progress:
            yield lambda done, total, samples=None: None
            return
        start = time.monotonic()
        with Progress(*progress_columns(), console=self.console, transient=True) as bar:
            task = bar.add_task(description, total=total, rate="")

            def step(done: int, total: int | None, samples: int | None = None) -> None:
                bar.update(task, completed=done, total=total,
                           rate=sample_rate(samples, time.monotonic() - start))
            yield step
