"""The one exception the data package raises for bad names, roots and files."""

from __future__ import annotations

from os import PathLike
from typing import Optional, Union

SKIP_HINT = "pass skip_bad=True (--skip-bad) to skip broken files"


class DataError(ValueError):
    """A data set cannot be built or read; the message says what is wrong and what to do.

    ``path`` is the offending file or folder (None when the problem is not a file),
    ``reason`` the message without the path.
    """

    def __init__(self, reason: str, path: Optional[Union[str, PathLike]] = None):
        self.reason = reason
        self.path = None if path is None else str(path)
        super().__init__(reason if path is None else f"{path}: {reason}")


def broken_file(path: Union[str, PathLike], problem: str) -> DataError:
    """A DataError for a file that exists but cannot be read as its format says."""
    return DataError(f"{problem}; replace the file or {SKIP_HINT}", path)
