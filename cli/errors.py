"""The CLI's two failures: bad usage or input (exit 2) and internal errors (exit 1), and the
one place that turns library exceptions into them."""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Iterator

import click

from syops.data import DataError

DEBUG_HINT = "run again with --debug to see the traceback"


class UsageError(click.ClickException):
    """Bad usage or bad input: one line on stderr, exit code 2."""

    exit_code = 2


class InternalError(click.ClickException):
    """A failure of syops itself: one line and a hint, exit code 1."""

    exit_code = 1


SHAPE_WORDS = re.compile(r"shape|size|dimension|expected|channels|mat1|mat2|input", re.I)


def looks_like_shape_error(exc: BaseException) -> bool:
    """Whether an exception raised by a model's forward says it rejected its input."""
    return isinstance(exc, (RuntimeError, ValueError, IndexError)) and \
        bool(SHAPE_WORDS.search(str(exc)))


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def as_click_error(exc: Exception) -> click.ClickException:
    """The CLI error for any exception: bad input -> UsageError, the rest -> InternalError."""
    if isinstance(exc, click.ClickException):
        return exc
    if isinstance(exc, (DataError, ValueError)):  # models, energy, data and engine input checks
        return UsageError(first_line(exc))
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
