"""The CLI's two failures: bad usage or input (exit 2) and internal errors (exit 1), and the
one place that turns library exceptions into them."""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Iterator

import click

DEBUG_HINT = "run again with --debug to see the traceback"
INTERRUPTED = "interrupted (Ctrl-C)"
MEMORY_HINT = "lower --batch-size or -T, or profile fewer samples"


class UsageError(click.ClickException):
    """Bad usage or bad input: one line on stderr, exit code 2."""

    exit_code = 2


class StdoutError(UsageError):
    """stdout could not be written (a full disk, a closed pipe): exit code 2."""

    def __init__(self, err: OSError):
        super().__init__(f"cannot write to stdout: {err.strerror or first_line(err)}")


class InternalError(click.ClickException):
    """A failure of syops itself: one line and a hint, exit code 1."""

    exit_code = 1


OUT_OF_MEMORY = re.compile(r"can't allocate memory|out of memory", re.I)
ASKED_BYTES = re.compile(r"allocate (\d+) bytes")
SHAPE_WORDS = re.compile(r"shape|size|dimension|expected|channels|mat1|mat2|input", re.I)


def looks_like_shape_error(exc: BaseException) -> bool:
    """Whether an exception raised by a model's forward says it rejected its input."""
    return isinstance(exc, (RuntimeError, ValueError, IndexError)) and \
        bool(SHAPE_WORDS.search(str(exc)))


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def out_of_memory(exc: BaseException) -> UsageError:
    """An allocation that failed: the input asked for too much (exit 2), with what to lower."""
    asked = ASKED_BYTES.search(str(exc))
    detail = f" (the run asked for {int(asked[1]) / 1e9:.1f} GB at once)" if asked else ""
    return UsageError(f"out of memory{detail}; {MEMORY_HINT}")


def as_click_error(exc: Exception) -> click.ClickException:
    """The CLI error for any exception: bad input -> UsageError, the rest -> InternalError."""
    if isinstance(exc, click.ClickException):
        return exc
    if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError)
                                         and OUT_OF_MEMORY.search(str(exc))):
        return out_of_memory(exc)
    if isinstance(exc, ValueError):  # models, energy, data (DataError) and engine input checks
        return UsageError(first_line(exc))
    if isinstance(exc, OSError) and exc.filename == "<stdout>":
        return StdoutError(exc)
    if isinstance(exc, OSError) and exc.filename is not None:
        return UsageError(f"{exc.filename}: {exc.strerror or first_line(exc)}")
    return InternalError(f"internal error ({type(exc).__name__}: {first_line(exc)}); "
                         f"{DEBUG_HINT}")


@contextmanager
def reported_errors(debug: bool = False) -> Iterator[None]:
    """Turn exceptions into one-line CLI errors; with ``debug``, let them through untouched."""
    try:
        yield
    except click.ClickException:
        raise
    except Exception as exc:
        if debug:
            raise
        raise as_click_error(exc) from None
