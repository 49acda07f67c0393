"""Per-layer plots of records: energy split into AC and MAC (stacked bars) and the input
firing rate of each layer, one pair of panels per model. Rendered off-screen (Agg)."""

from __future__ import annotations

import io
from typing import Any, Sequence

FORMATS = ("png", "svg")
AC_COLOUR, MAC_COLOUR, RATE_COLOUR = "#4c9be8", "#e8804c", "#5aa469"


def plot_format(path: str) -> str:
    """``png`` or ``svg`` from a file name; ValueError for anything else."""
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    if suffix not in FORMATS:
        raise ValueError(f"cannot plot to {path!r}: the file name must end in .png or .svg")
    return suffix


def layer_energies_uj(record: dict[str, Any]) -> tuple[list[float], list[float]]:
    """Per-layer AC and MAC energy in µJ per sample."""
    ac_pj, mac_pj = record["e_ac_pj"], record["e_mac_pj"]
    layers = record["layers"]
    return ([layer["acs"] * ac_pj / 1e6 for layer in layers],
            [layer["macs"] * mac_pj / 1e6 for layer in layers])


def _draw_model(energy_axes, rate_axes, record: dict[str, Any]) -> None:
    names = [layer["name"] for layer in record["layers"]]
    positions = range(len(names))
    ac, mac = layer_energies_uj(record)
    energy_axes.bar(positions, ac, color=AC_COLOUR, label="AC")
    energy_axes.bar(positions, mac, bottom=ac, color=MAC_COLOUR, label="MAC")
    energy_axes.set_ylabel("energy (µJ)")
    energy_axes.set_title(f"{record['model']}: DC {record['dc_mj']:.3g} mJ per sample "
                          f"({record['energy_preset']})", fontsize=10)
    energy_axes.legend(fontsize=8)
    rates = [100 * layer["firing_rate"] if layer["firing_rate"] is not None else float("nan")
             for layer in record["layers"]]
    rate_axes.bar(positions, rates, color=RATE_COLOUR)
    rate_axes.set_ylabel("input firing rate (%)")
    rate_axes.set_ylim(bottom=0, top=max([r for r in rates if r == r] + [1.0]) * 1.1)
    multi_level = [i for i, rate in enumerate(rates) if rate != rate]  # NaN: non-spike input
    rate_axes.plot(multi_level, [0] * len(multi_level), "x", color="grey", clip_on=False)
    rate_axes.set_xlabel("layer (x: non-spike input, no firing rate)", fontsize=8)
    energy_axes.set_xticks(list(positions), [])
    rate_axes.set_xticks(list(positions), names, rotation=90,
                         fontsize=max(4, min(8, 400 // max(len(names), 1))))
    for axes in (energy_axes, rate_axes):
        axes.set_xlim(-0.6, len(names) - 0.4)


def plot_records(records: Sequence[dict[str, Any]], fmt: str = "png") -> bytes:
    """The figure of every record, as ``png`` or ``svg`` bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # lazy: keeps startup fast
    from matplotlib.figure import Figure

    widest = max((len(r["layers"]) for r in records), default=1)
    figure = Figure(figsize=(min(4 + 0.18 * widest, 40), 6 * len(records)), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(2 * len(records), 1, squeeze=False)[:, 0]
    for index, record in enumerate(records):
        _draw_model(axes[2 * index], axes[2 * index + 1], record)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=100)
    return buffer.getvalue()
