"""Per-layer plots of records, per model: energy split into AC, MAC and memory (stacked
bars, optionally on a log axis), the input firing rate of each counted layer, and the output
firing rate of each spiking-neuron layer. Every model's panel of one kind shares its scale
with the others, so the models compare at a glance."""

from __future__ import annotations

from typing import Any, Sequence

from .figures import (  # noqa: F401
    AC_COLOUR,
    FORMATS,
    MAC_COLOUR,
    MEMORY_COLOUR,
    NEURON_COLOUR,
    RATE_COLOUR,
    mark_zeros,
    new_figure,
    plot_format,
    saved,
    title,
)

PANEL_HEIGHT = 1.7  # inches per panel


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


def layer_totals_uj(record: dict[str, Any]) -> list[float]:
    ac, mac = layer_energies_uj(record)
    return [a + m + w for a, m, w in zip(ac, mac, layer_memory_uj(record))]


def energy_floor(records: Sequence[dict[str, Any]]) -> float:
    """The bottom of the shared log energy axis: half the smallest non-zero layer energy."""
    positive = [t for r in records for t in layer_totals_uj(r) if t > 0]
    return min(positive) / 2 if positive else 1e-6


def _draw_energy(axes, record: dict[str, Any], floor: float | None) -> None:
    """Stacked AC, MAC (and memory) bars; ``floor``: a log axis starting there."""
    positions = list(range(len(record["layers"])))
    ac, mac = layer_energies_uj(record)
    memory = layer_memory_uj(record)
    axes.bar(positions, ac, color=AC_COLOUR, label="AC")
    axes.bar(positions, mac, bottom=ac, color=MAC_COLOUR, label="MAC")
    if any(memory):
        axes.bar(positions, memory, bottom=[a + m for a, m in zip(ac, mac)],
                 color=MEMORY_COLOUR, label="memory")
    if floor is not None:
        axes.set_yscale("log", nonpositive="clip")
        axes.set_ylim(bottom=floor)
        mark_zeros(axes, [p for p, t in zip(positions, layer_totals_uj(record)) if t == 0],
                   floor)
    axes.set_ylabel("energy (µJ, log)" if floor is not None else "energy (µJ)", fontsize=8)
    axes.tick_params(axis="y", labelsize=7)


def _percent(rates: list[float | None]) -> list[float]:
    return [100 * rate if rate is not None else float("nan") for rate in rates]


def _rate_bars(axes, names: list[str], rates: list[float], colour: str, ylabel: str,
               xlabel: str) -> None:
    """Bars of firing rates in %, one per name, with the names as x labels."""
    positions = list(range(len(names)))
    axes.bar(positions, rates, color=colour)
    axes.set_ylabel(ylabel, fontsize=8)
    axes.tick_params(axis="y", labelsize=7)
    axes.set_xlabel(xlabel, fontsize=7)
    axes.set_xticks(positions, names, rotation=90,
                    fontsize=max(3, min(7, 400 // max(len(names), 1))))
    axes.set_xlim(-0.6, len(names) - 0.4)


def _draw_neurons(axes, record: dict[str, Any]) -> None:
    """Output firing rate (spikes / neuron updates) of each spiking-neuron layer."""
    neurons = record.get("neurons") or []
    _rate_bars(axes, [n["name"] for n in neurons],
               _percent([n["output_firing_rate"] for n in neurons]), NEURON_COLOUR,
               "output rate (%)", "spiking-neuron layer")


def _draw_model(energy_axes, rate_axes, record: dict[str, Any], floor: float | None,
                width: float) -> None:
    names = [layer["name"] for layer in record["layers"]]
    _draw_energy(energy_axes, record, floor)
    title(energy_axes, f"{record['model']}: DC {record['dc_mj']:.3g} mJ per sample "
                       f"({record['energy_preset']})", width)
    energy_axes.legend(fontsize=7)
    energy_axes.set_xticks(list(range(len(names))), [])
    energy_axes.set_xlim(-0.6, len(names) - 0.4)
    rates = _percent([layer["firing_rate"] for layer in record["layers"]])
    _rate_bars(rate_axes, names, rates, RATE_COLOUR, "input rate (%)",
               "layer (x: non-spike input, no firing rate)")
    multi_level = [i for i, rate in enumerate(rates) if rate != rate]  # NaN: non-spike input
    rate_axes.plot(multi_level, [0] * len(multi_level), "x", color="grey", clip_on=False)


def _share(axes_list: list, bottom: float = 0.0) -> None:
    """One y range for every axes of a kind: from ``bottom`` to the highest top."""
    if axes_list:
        top = max(a.get_ylim()[1] for a in axes_list)
        for axes in axes_list:
            axes.set_ylim(bottom=bottom, top=top)


def plot_records(records: Sequence[dict[str, Any]], fmt: str = "png",
                 log_energy: bool = False) -> bytes:
    """``layer_figure`` as ``png``/``svg``/``pdf`` bytes."""
    return saved(layer_figure(records, log_energy), fmt)


def layer_figure(records: Sequence[dict[str, Any]], log_energy: bool = False):
    """The per-layer figure of every record: two panels per model, a third with its neuron
    layers' output rates when it has spiking neurons; panels of one kind share their y
    scale."""
    panels = [2 + bool(r.get("neurons")) for r in records]
    widest = max((len(r["layers"]) for r in records), default=1)
    width = min(4 + 0.12 * widest, 16)
    figure = new_figure(width, PANEL_HEIGHT * sum(panels) + 0.6)
    axes = iter(figure.subplots(sum(panels), 1, squeeze=False)[:, 0])
    floor = energy_floor(records) if log_energy else None
    kinds: dict[str, list] = {"energy": [], "input": [], "neuron": []}
    for record, count in zip(records, panels):
        kinds["energy"].append(next(axes))
        kinds["input"].append(next(axes))
        _draw_model(kinds["energy"][-1], kinds["input"][-1], record, floor, width)
        if count == 3:
            kinds["neuron"].append(next(axes))
            _draw_neurons(kinds["neuron"][-1], record)
    _share(kinds["energy"], bottom=floor if log_energy else 0.0)
    _share(kinds["input"] + kinds["neuron"])
    return figure
