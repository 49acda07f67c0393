"""Sending records out: to stdout or ``--output`` in the chosen format, plus ``--plot``.

Everything is rendered in memory first and files are written all-or-nothing, so a failing
run leaves no output file behind. Output paths follow ``syops.reports.files.output_target``
and may not name an input of the run (``check_outputs``).
"""

from __future__ import annotations

import math
import os
import re
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Mapping

import click
import pandas as pd
from rich.console import Console
from rich.text import Text

from syops.reports import tables
from syops.reports.captions import caption
from syops.reports.comparison import plot_comparison
from syops.reports.files import (
    STREAMS,
    finite,
    real_path,
    same_file,
    to_csv,
    to_json,
    write_atomically,
)
from syops.reports.html import frame_page, html_report
from syops.reports.plots import plot_format, plot_records
from syops.reports.text import plain_text

from .diagnostics import Diagnostics
from .errors import StdoutError, UsageError
from .options import Counting, DataOptions, Output

FILE_WIDTH = 200  # columns of a rich table written to a file or a pipe
LATEX_LABEL = "tab:syops"


def frames(records: list[dict[str, Any]], layers: bool, columns: Iterable[str] = (),
           totals_first: bool = False) -> list[tuple[str, pd.DataFrame]]:
    """(title, display frame) of each table: the per-layer ones (with ``layers``, one per
    record, in order), then the totals (first with ``totals_first``), each with the
    ``columns`` chosen."""
    per_layer = [(f"{r['model']}: per layer, per sample", tables.layer_frame(r))
                 for r in records] if layers else []
    totals = [("Totals per sample", tables.summary_frame(records))]
    found = [*totals, *per_layer] if totals_first else [*per_layer, *totals]
    return [(title, tables.choose_columns(frame, columns)) for title, frame in found]


def table_renderables(records: list[dict[str, Any]], layers: bool,
                      columns: Iterable[str] = (), width: int | None = None) -> list:
    """The per-layer tables (with ``layers``) and the totals table, each fitted to ``width``
    columns without breaking a number, then the caption."""
    out: list = []
    left_out: dict[str, Any] = {}
    for title, frame in frames(records, layers, columns):
        frame, dropped = tables.fitted(frame, width)
        out.append(tables.rich_table(frame, title))
        left_out |= dict.fromkeys(dropped)
    notes = [caption(records)]
    if left_out:
        notes.append(f"Left out to fit {width} columns: {', '.join(left_out)}; choose "
                     "columns with --columns, or widen the terminal.")
    return [*out, Text("\n".join(notes))]


def markdown(records: list[dict[str, Any]], layers: bool, columns: Iterable[str] = ()) -> str:
    parts = []
    for title, frame in frames(records, layers, columns, totals_first=True):
        heading = "" if title.startswith("Totals") else f"**{title}**:\n\n"
        parts.append(heading + tables.markdown_table(frame))
    return "\n".join(parts) + "\n" + caption(records).replace("\n", "\n\n") + "\n"


def latex(records: list[dict[str, Any]], layers: bool, out: Output) -> str:
    """Booktabs/siunitx tables, the totals first, each its own table environment with its
    own label, separated by a comment line; the conventions as comments above the totals."""
    label = out.label or LATEX_LABEL
    found = frames(records, layers, out.columns, totals_first=True)
    parts = []
    for index, (title, frame) in enumerate(found):
        totals = index == 0
        model = "" if totals else f"-{label_part(records[index - 1]['model'])}-layers"
        text = tables.latex_table(
            frame, (out.caption or "Synaptic operations and energy per sample.") if totals
            else f"{title}.", f"{label}{model}", caption(records) if totals else None)
        parts.append(f"% ---- table {index + 1} of {len(found)}: {title} ----\n{text}")
    header = "% syops tables: needs \\usepackage{booktabs} and \\usepackage{siunitx}\n"
    return header + "\n".join(parts)


def label_part(name: str) -> str:
    """A model name as a safe piece of a LaTeX label ("a.pth (sew18)" -> "a.pth-sew18")."""
    return re.sub(r"[^A-Za-z0-9.:]+", "-", name).strip("-")


def figures(records: list[dict[str, Any]], fmt: str, log: bool,
            comparison: bool) -> list[tuple[str, bytes]]:
    """(name, bytes) of the figures of a run: the comparison figure (compare), then the
    per-layer figure."""
    safe = finite(records, math.nan)   # inf would break the axis limits
    found = [("Energy per model, by term", plot_comparison(safe, fmt, log))] if comparison else []
    return found + [("Per layer", plot_records(safe, fmt, log))]


def rendered(records: list[dict[str, Any]], out: Output, layers: bool,
             comparison: bool = False) -> str:
    """The text of ``records`` in a machine format, or as plain-text tables."""
    if out.fmt == "json":
        return to_json(records)
    if out.fmt == "csv":
        return to_csv(tables.layers_csv_frame(records))
    if out.fmt == "markdown":
        return markdown(records, layers, out.columns)
    if out.fmt == "latex":
        return latex(records, layers, out)
    if out.fmt == "html":
        return html_report(records, figures(records, "svg", out.log_energy, comparison),
                           out.columns)
    return plain_text(table_renderables(records, layers, out.columns), FILE_WIDTH)


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
                 layers: bool, comparison: bool = False) -> None:
    """Write ``records`` to stdout or ``--output`` and the figure to ``--plot`` (with
    ``comparison``: the comparison figure, else the per-layer one), all files or none."""
    output = file_output(out)
    files: dict[str, str | bytes] = {}
    if out.plot:
        safe = finite(records, math.nan)   # inf would break the axis limits
        draw = plot_comparison if comparison else plot_records
        files[out.plot] = draw(safe, plot_format(out.plot), out.log_energy)
    if output:
        files[output] = rendered(records, out, layers, comparison)
    write_atomically(files)
    for path in files:
        if path not in STREAMS:
            diagnostics.info(f"wrote {path}")
    if output:
        return
    with stdout_errors():
        if out.fmt == "table":
            console = stdout_console()
            width = console.width if console.is_terminal else None
            for renderable in table_renderables(records, layers, out.columns, width):
                console.print(renderable)
        else:
            click.echo(rendered(records, out, layers, comparison), nl=False)


def emit_frame(frame: pd.DataFrame, data: list[dict[str, Any]], out: Output, title: str,
               note: str) -> None:
    """A plain listing (``syops models``) in any format: ``frame`` for people, ``data`` for JSON."""
    keys = [tables.column_key(c) for c in frame.columns]
    unknown = [c for c in out.columns if c.lower() not in keys]
    if unknown:
        raise UsageError(f"--columns: no column {unknown[0]!r}; choose from {', '.join(keys)}")
    frame = tables.choose_columns(frame, out.columns)
    if out.fmt == "json":
        text = to_json(data)
    elif out.fmt == "csv":
        text = to_csv(pd.DataFrame(data))
    elif out.fmt == "markdown":
        text = tables.markdown_table(frame) + "\n" + note + "\n"
    elif out.fmt == "latex":
        text = tables.latex_table(frame, out.caption or note, out.label)
    elif out.fmt == "html":
        text = frame_page(frame, title, note)
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
