"""The comparison figure: one bar per model on one shared energy axis, stacked by term (MACs,
ACs, neuron updates, memory, static), each bar labelled with its DC, beside the neuron firing
rate of each model on a shared rate axis."""

from __future__ import annotations

from typing import Any, Sequence

from .figures import RATE_COLOUR, TERMS, energy_terms_mj, mark_zeros, new_figure, saved, title

WIDTH = 7.5  # inches: a two-column paper figure at full width


def _labels(records: Sequence[dict[str, Any]]) -> list[str]:
    """Model names, with the convention when one model appears under several."""
    return [r["model"] + (f" ({r['convention']})" if r.get("convention") else "")
            for r in records]


def _draw_energy(axes, records: Sequence[dict[str, Any]], log: bool) -> None:
    terms = [energy_terms_mj(r) for r in records]
    rows = list(range(len(records)))
    totals = [sum(t.values()) for t in terms]
    floor = min([v for t in terms for v in t.values() if v > 0] or [1e-9]) / 2
    left = [0.0] * len(records)
    for term, colour in TERMS:
        widths = [t[term] for t in terms]
        if any(widths):
            axes.barh(rows, widths, left=left, color=colour, label=term)
            left = [a + b for a, b in zip(left, widths)]
    for row, total in zip(rows, totals):
        at = max(left[row], floor) if log else left[row]
        axes.annotate(f" {total:.3g} mJ", (at, row), va="center", fontsize=7)
    if log:
        axes.set_xscale("log", nonpositive="clip")
        axes.set_xlim(left=floor)
        mark_zeros(axes, [r for r, total in zip(rows, totals) if total == 0], floor,
                   horizontal=True)
    axes.set_xlim(right=max(left + [floor]) * (4 if log else 1.25))
    axes.set_yticks(rows, _labels(records), fontsize=8)
    axes.invert_yaxis()   # the first model on top, as in the table
    axes.set_xlabel("DC, mJ per sample" + (" (log)" if log else ""), fontsize=8)
    axes.tick_params(axis="x", labelsize=7)


def _draw_rates(axes, records: Sequence[dict[str, Any]]) -> None:
    rows = list(range(len(records)))
    rates = [100 * (r.get("neuron_firing_rate") or 0.0) for r in records]
    axes.barh(rows, rates, color=RATE_COLOUR)
    for row, record, rate in zip(rows, records, rates):
        text = "no neurons" if record.get("neuron_firing_rate") is None else f" {rate:.2g} %"
        axes.annotate(text, (rate, row), va="center", fontsize=7)
    axes.set_xlim(0, max(rates + [1.0]) * 1.4)
    axes.set_xlabel("neuron firing rate (%)", fontsize=8)
    axes.tick_params(axis="x", labelsize=7)


def plot_comparison(records: Sequence[dict[str, Any]], fmt: str = "png",
                    log_energy: bool = False) -> bytes:
    """``comparison_figure`` as ``png``/``svg``/``pdf`` bytes."""
    return saved(comparison_figure(records, log_energy), fmt)


def comparison_figure(records: Sequence[dict[str, Any]], log_energy: bool = False):
    """The comparison figure of ``records``: energy by term beside the neuron rate."""
    height = 1.5 + 0.32 * len(records)
    figure = new_figure(WIDTH, height)
    energy, rates = figure.subplots(1, 2, sharey=True, width_ratios=(3, 1))
    _draw_energy(energy, records, log_energy)
    _draw_rates(rates, records)
    handles, labels = energy.get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=7,
                  frameon=False)
    presets = ", ".join(dict.fromkeys(r["energy_preset"] for r in records))
    title(energy, f"Energy per sample by term ({presets}; {records[0]['mode']} ACs)",
          WIDTH * 0.75)
    return figure
