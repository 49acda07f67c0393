"""Sending records out: to stdout or ``--output`` in the chosen format, plus ``--plot``.

Everything is rendered in memory first and files are written all-or-nothing, so a failing
run leaves no output file behind. Output paths follow ``syops.reports.files.output_target``
and may not name an input of the run (``check_outputs``).
"""

from __future__ import annotations

import io
import math
import os
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Mapping

import click
import pandas as pd
from rich.console import Console
from rich.text import Text

from syops.reports import tables
from syops.reports.captions import caption
from syops.reports.files import (STREAMS, finite, real_path, same_file, to_csv, to_json,
                                  write_atomically)
from syops.reports.plots import plot_format, plot_records

from .diagnostics import Diagnostics
from .errors import StdoutError, UsageError
from .options import Counting, DataOptions, Output

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


def file_output(out: Output) -> str | None:
    """``--output``, or None when it names stdout (``-``, ``/dev/stdout``)."""
    return None if STREAMS.get(out.output) == "stdout" else out.output


@contextmanager
def stdout_errors() -> Iterator[None]:
    """A failed write to stdout (a full disk, a closed pipe) is one error line, exit 2."""
    try:
        yield
    except OSError as err:
        raise StdoutError(err) from None


def check_outputs(out: Output, inputs: Mapping[str, str | None]) -> None:
    """Refuse ``--output``/``--plot`` paths that would overwrite an input of the run or
    each other. ``inputs``: what the input is (e.g. "the model file") -> its path; a folder
    input (``--data-root``) protects everything under it."""
    outputs = [(option, path) for option, path in (("--output", file_output(out)),
                                                   ("--plot", out.plot))
               if path and path not in STREAMS]
    if len(outputs) == 2 and same_file(outputs[0][1], outputs[1][1]):
        raise UsageError(f"--output and --plot name the same file {out.plot}; give two paths")
    for option, path in outputs:
        for what, source in inputs.items():
            if not source:
                continue
            if os.path.isdir(source) and real_path(path).is_relative_to(real_path(source)):
                raise UsageError(f"{option} {path} lies inside {what} {source}; write the "
                                 "results outside it")
            if same_file(path, source):
                raise UsageError(f"{option} {path} is {what}; writing there would destroy "
                                 "it, give another path")


def check_run_outputs(out: Output, models: Iterable[str], data: DataOptions,
                      counting: Counting) -> None:
    """``check_outputs`` against the inputs of a profiling run: model files (the names that
    exist on disk), ``--data-root`` and the ``--energy`` file."""
    inputs = {f"the model file {m}": m for m in models if os.path.exists(os.path.expanduser(m))}
    check_outputs(out, {**inputs, "--data-root": data.data_root,
                        "the --energy file": counting.energy_file})


def emit_records(records: list[dict[str, Any]], out: Output, diagnostics: Diagnostics, *,
                 layers: bool) -> None:
    output = file_output(out)
    files: dict[str, str | bytes] = {}
    if out.plot:
        files[out.plot] = plot_records(finite(records, math.nan), plot_format(out.plot),
                                       out.log_energy)  # inf would break the axis limits
    if output:
        files[output] = rendered(records, out.fmt, layers)
    write_atomically(files)
    for path in files:
        if path not in STREAMS:
            diagnostics.info(f"wrote {path}")
    if output:
        return
    with stdout_errors():
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
        if not file_output(out):
            with stdout_errors():
                stdout_console().print(table)
            return
        text = plain_text([table])
    if file_output(out):
        write_atomically({file_output(out): text})
    else:
        with stdout_errors():
            click.echo(text, nl=False)
