"""The one exception the data package raises for bad names, roots and files."""

from __future__ import annotations

import re
from os import PathLike
from pathlib import Path
from typing import Optional, Tuple, Union

SKIP_HINT = "pass skip_bad=True (--skip-bad) to skip broken files"
# What torch's DataLoader makes of an exception raised in a worker: it rebuilds the exception
# from one string, "Caught DataError in DataLoader worker process N.\nOriginal Traceback ...",
# whose last line is the original "<module>.DataError: <message>".
_WORKER_WRAPPER = re.compile(r"\ACaught \w+ in DataLoader worker process \d+\.\n")
_ORIGINAL_LINE = re.compile(r"^\S*DataError: (.*)$", re.M)


class DataError(ValueError):
    """A data set cannot be built or read; the message says what is wrong and what to do.

    ``path`` is the offending file or folder (None when the problem is not a file),
    ``reason`` the message without the path. Raised in a DataLoader worker, it reaches the
    main process with its original message (not torch's "Caught DataError in ..." text).
    """

    def __init__(self, reason: str, path: Optional[Union[str, PathLike]] = None):
        if path is None and _WORKER_WRAPPER.match(str(reason)):
            reason, path = _original_message(str(reason))
        self.reason = reason
        self.path = None if path is None else str(path)
        super().__init__(reason if path is None else f"{path}: {reason}")


def _original_message(wrapped: str) -> Tuple[str, Optional[str]]:
    """(reason, path) of the DataError a worker raised, from torch's wrapped traceback text."""
    found = _ORIGINAL_LINE.findall(wrapped)
    message = found[-1] if found else wrapped.splitlines()[0]
    path, separator, reason = message.partition(": ")
    if separator and Path(path).exists():
        return reason, path
    return message, None


def broken_file(path: Union[str, PathLike], problem: str) -> DataError:
    """A DataError for a file that exists but cannot be read as its format says."""
    return DataError(f"{problem}; replace the file or {SKIP_HINT}", path)
