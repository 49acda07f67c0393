"""What every figure shares: file formats, resolution, colours, the energy terms of a record,
titles that wrap instead of being cut, and the mark of a zero on a log axis."""

from __future__ import annotations

import io
import textwrap
from typing import Any

FORMATS = ("png", "svg", "pdf")
DPI = 300
AC_COLOUR, MAC_COLOUR, RATE_COLOUR = "#4c9be8", "#e8804c", "#5aa469"
MEMORY_COLOUR, NEURON_COLOUR, STATIC_COLOUR = "#9b7fc9", "#c9a13b", "#8c8c8c"
ZERO_COLOUR = "#444444"
# the energy terms of a comparison, bottom of the stack first, and their colours
TERMS = (("MACs", MAC_COLOUR), ("ACs", AC_COLOUR), ("neuron", NEURON_COLOUR),
         ("memory", MEMORY_COLOUR), ("static", STATIC_COLOUR))


def plot_format(path: str) -> str:
    """``png``, ``svg`` or ``pdf`` from a file name; ValueError for anything else."""
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    if suffix not in FORMATS:
        raise ValueError(f"cannot plot to {path!r}: the file name must end in "
                         f"{', '.join('.' + f for f in FORMATS[:-1])} or .{FORMATS[-1]}")
    return suffix


def energy_terms_mj(record: dict[str, Any]) -> dict[str, float]:
    """A record's DC split into MACs, ACs, neuron updates, memory traffic and static power,
    mJ per sample (terms its energy model lacks are 0); they add up to ``dc_mj``."""
    parts = record.get("energy_breakdown_mj") or {}
    return {"MACs": (record["macs"] or 0) * record["e_mac_pj"] / 1e9,
            "ACs": (record["acs"] or 0) * record["e_ac_pj"] / 1e9,
            **{term: parts.get(term) or 0.0 for term in ("neuron", "memory", "static")}}


def new_figure(width: float, height: float):
    """An off-screen (Agg) figure whose layout keeps every label inside it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # lazy: keeps startup fast
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def title(axes, text: str, width_in: float, fontsize: float = 9) -> None:
    """A title wrapped to the axes' figure width (never cut at the edge)."""
    axes.set_title(textwrap.fill(text, max(20, int(width_in * 110 / fontsize))),
                   fontsize=fontsize)


def mark_zeros(axes, positions: list[float], at: float, horizontal: bool = False) -> None:
    """Hollow circles where a bar is exactly zero, at the axis floor (``at``): on a log
    axis a zero bar cannot be drawn and would look like one below the axis."""
    if not positions:
        return
    xy = ([at] * len(positions), positions) if horizontal else (positions, [at] * len(positions))
    axes.plot(*xy, "o", markerfacecolor="none", markeredgecolor=ZERO_COLOUR, markersize=4,
              linestyle="none", clip_on=False, zorder=5, label="zero")


def saved(figure, fmt: str) -> bytes:
    """The figure as ``fmt`` bytes at ``DPI`` (PNG; SVG and PDF stay vector)."""
    buffer = io.BytesIO()
    metadata = {"Software": None} if fmt == "png" else {}
    figure.savefig(buffer, format=fmt, dpi=DPI, metadata=metadata)
    return buffer.getvalue()
