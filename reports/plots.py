"""Per-layer plots of records, per model: energy split into AC, MAC and memory (stacked
bars, optionally on a log axis), the input firing rate of each counted layer, and the output
firing rate of each spiking-neuron layer. Rendered off-screen (Agg)."""

from __future__ import annotations

import io
from typing import Any, Sequence

FORMATS = ("png", "svg")
AC_COLOUR, MAC_COLOUR, RATE_COLOUR = "#4c9be8", "#e8804c", "#5aa469"
MEMORY_COLOUR, NEURON_COLOUR = "#9b7fc9", "#c9a13b"


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


def layer_memory_uj(record: dict[str, Any]) -> list[float]:
    """Per-layer memory energy in µJ per sample (zeros for records without the breakdown)."""
    memory = {row["name"]: row["memory_pj"] or 0.0 for row in record.get("energy_layers", [])
              if row["kind"] == "synaptic"}
    return [memory.get(layer["name"], 0.0) / 1e6 for layer in record["layers"]]


def _draw_energy(axes, record: dict[str, Any], log: bool) -> None:
    positions = range(len(record["layers"]))
    ac, mac = layer_energies_uj(record)
    memory = layer_memory_uj(record)
    axes.bar(positions, ac, color=AC_COLOUR, label="AC")
    axes.bar(positions, mac, bottom=ac, color=MAC_COLOUR, label="MAC")
    if any(memory):
        axes.bar(positions, memory, bottom=[a + m for a, m in zip(ac, mac)],
                 color=MEMORY_COLOUR, label="memory")
    if log:
        totals = [a + m + w for a, m, w in zip(ac, mac, memory) if a + m + w > 0]
        axes.set_yscale("log", nonpositive="clip")
        if totals:
            axes.set_ylim(bottom=min(totals) / 2)
    axes.set_ylabel("energy (µJ, log)" if log else "energy (µJ)")


def _percent(rates: list[float | None]) -> list[float]:
    return [100 * rate if rate is not None else float("nan") for rate in rates]


def _rate_bars(axes, names: list[str], rates: list[float], colour: str, ylabel: str,
               xlabel: str) -> None:
    """Bars of firing rates in %, one per name, with the names as x labels."""
    positions = list(range(len(names)))
    axes.bar(positions, rates, color=colour)
    axes.set_ylabel(ylabel)
    axes.set_ylim(bottom=0, top=max([r for r in rates if r == r] + [1.0]) * 1.1)
    axes.set_xlabel(xlabel, fontsize=8)
    axes.set_xticks(positions, names, rotation=90,
                    fontsize=max(4, min(8, 400 // max(len(names), 1))))
    axes.set_xlim(-0.6, len(names) - 0.4)


def _draw_neurons(axes, record: dict[str, Any]) -> None:
    """Output firing rate (spikes / neuron updates) of each spiking-neuron layer."""
    neurons = record.get("neurons") or []
    _rate_bars(axes, [n["name"] for n in neurons],
               _percent([n["output_firing_rate"] for n in neurons]), NEURON_COLOUR,
               "output firing rate (%)", "spiking-neuron layer")


def _draw_model(energy_axes, rate_axes, record: dict[str, Any], log: bool = False) -> None:
    names = [layer["name"] for layer in record["layers"]]
    _draw_energy(energy_axes, record, log)
    energy_axes.set_title(f"{record['model']}: DC {record['dc_mj']:.3g} mJ per sample "
                          f"({record['energy_preset']})", fontsize=10)
    energy_axes.legend(fontsize=8)
    energy_axes.set_xticks(list(range(len(names))), [])
    energy_axes.set_xlim(-0.6, len(names) - 0.4)
    rates = _percent([layer["firing_rate"] for layer in record["layers"]])
    _rate_bars(rate_axes, names, rates, RATE_COLOUR, "input firing rate (%)",
               "layer (x: non-spike input, no firing rate)")
    multi_level = [i for i, rate in enumerate(rates) if rate != rate]  # NaN: non-spike input
    rate_axes.plot(multi_level, [0] * len(multi_level), "x", color="grey", clip_on=False)


def plot_records(records: Sequence[dict[str, Any]], fmt: str = "png",
                 log_energy: bool = False) -> bytes:
    """The figure of every record, as ``png`` or ``svg`` bytes: two panels per model, and a
    third with its neuron layers' output firing rates when it has spiking neurons."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # lazy: keeps startup fast
    from matplotlib.figure import Figure

    panels = [2 + bool(r.get("neurons")) for r in records]
    widest = max((len(r["layers"]) for r in records), default=1)
    figure = Figure(figsize=(min(4 + 0.18 * widest, 40), 3 * sum(panels)), layout="constrained")
    FigureCanvasAgg(figure)
    axes = iter(figure.subplots(sum(panels), 1, squeeze=False)[:, 0])
    for record, count in zip(records, panels):
        _draw_model(next(axes), next(axes), record, log_energy)
        if count == 3:
            _draw_neurons(next(axes), record)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=100)
    return buffer.getvalue()
