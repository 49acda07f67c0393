"""Sending records out: to stdout or ``--output`` in the chosen format, plus ``--plot``.

Everything is rendered in memory first and files are written all-or-nothing, so a failing
run leaves no output file behind.
"""

from __future__ import annotations

import io
from typing import Any

import click
import pandas as pd
from rich.console import Console
from rich.text import Text

from syops.reports import tables
from syops.reports.captions import caption
from syops.reports.files import to_csv, to_json, write_atomically
from syops.reports.plots import plot_format, plot_records

from .diagnostics import Diagnostics
from .options import Output

FILE_WIDTH = 200  # columns of a rich table written to a file or a pipe


def table_renderables(records: list[dict[str, Any]], layers: bool) -> list:
    """The totals table and, with ``layers``, one per-layer table per model."""
    per_layer = [tables.rich_table(tables.layer_frame(r), f"{r['model']}: per layer, per sample")
                 for r in records] if layers else []
    totals = tables.rich_table(tables.summary_frame(records), "Totals per sample")
    return [*per_layer, totals, Text(caption(records))]


def markdown(records: list[dict[str, Any]], layers: bool) -> str:
    parts = [tables.markdown_table(tables.summary_frame(records))]
    if layers:
        parts += [f"**{r['model']}**, per layer:\n\n" + tables.markdown_table(tables.layer_frame(r))
                  for r in records]
    return "\n".join(parts) + "\n" + caption(records).replace("\n", "\n\n") + "\n"


def latex(records: list[dict[str, Any]], layers: bool) -> str:
    """Booktabs tables: the totals (captioned with the conventions), then per-layer ones."""
    parts = [tables.latex_table(tables.summary_frame(records), caption(records))]
    if layers:
        parts += [tables.latex_table(tables.layer_frame(r), f"{r['model']}: per layer, per sample")
                  for r in records]
    return "\n".join(parts)


def plain_text(renderables: list) -> str:
    console = Console(file=io.StringIO(), width=FILE_WIDTH, color_system=None,
                      force_terminal=False)
    for renderable in renderables:
        console.print(renderable)
    return console.file.getvalue()


def rendered(records: list[dict[str, Any]], fmt: str, layers: bool) -> str:
    """The text of ``records`` in a machine format, or as plain-text tables."""
    if fmt == "json":
        return to_json(records)
    if fmt == "csv":
        return to_csv(tables.layers_csv_frame(records))
    if fmt == "markdown":
        return markdown(records, layers)
    if fmt == "latex":
        return latex(records, layers)
    return plain_text(table_renderables(records, layers))


def stdout_console() -> Console:
    console = Console(highlight=False)
    return console if console.is_terminal else Console(width=FILE_WIDTH, highlight=False)


def emit_records(records: list[dict[str, Any]], out: Output, diagnostics: Diagnostics, *,
                 layers: bool) -> None:
    files: dict[str, str | bytes] = {}
    if out.plot:
        files[out.plot] = plot_records(records, plot_format(out.plot), out.log_energy)
    if out.output:
        files[out.output] = rendered(records, out.fmt, layers)
    write_atomically(files)
    for path in files:
        diagnostics.info(f"wrote {path}")
    if out.output:
        return
    if out.fmt == "table":
        console = stdout_console()
        for renderable in table_renderables(records, layers):
            console.print(renderable)
    else:
        click.echo(rendered(records, out.fmt, layers), nl=False)


def emit_frame(frame: pd.DataFrame, data: list[dict[str, Any]], out: Output, title: str,
               note: str) -> None:
    """A plain listing (``syops models``) in any format: ``frame`` for people, ``data`` for JSON."""
    if out.fmt == "json":
        text = to_json(data)
    elif out.fmt == "csv":
        text = to_csv(pd.DataFrame(data))
    elif out.fmt == "markdown":
        text = tables.markdown_table(frame) + "\n" + note + "\n"
    elif out.fmt == "latex":
        text = tables.latex_table(frame, note)
    else:
        table = tables.rich_table(frame, title, note)
        if not out.output:
            stdout_console().print(table)
            return
        text = plain_text([table])
    if out.output:
        write_atomically({out.output: text})
    else:
        click.echo(text, nl=False)
