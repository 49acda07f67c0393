"""A report as people read it in a terminal or a notebook: ``print(report)`` shows its
totals, one quantity per row (like torchinfo's summary), and the conventions behind them."""

from __future__ import annotations

import io
from typing import Any, Iterable

from rich.console import Console

from . import tables
from .captions import conventions

WIDTH = 100  # columns of text rendered for a file, a pipe or print(report)


def plain_text(renderables: Iterable, width: int = WIDTH) -> str:
    """Rich renderables as plain text (no colour, no terminal codes)."""
    console = Console(file=io.StringIO(), width=width, color_system=None,
                      force_terminal=False)
    for renderable in renderables:
        console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined] # the StringIO above


def totals_table(record: dict[str, Any]):
    """The totals of one record, one quantity per row."""
    frame = tables.transposed(tables.summary_frame([record]))
    name = record["model"] or "model"
    return tables.rich_table(frame.rename(columns={"": "per sample", name: name}),
                             f"{name}: {record['samples']} sample(s), T = "
                             f"{record['T'] if record['T'] is not None else tables.MISSING}")


def report_text(record: dict[str, Any]) -> str:
    """The totals table of a ``Report.to_dict()`` and its counting conventions."""
    return plain_text([totals_table(record), conventions(record)]).rstrip() + "\n"
