"""Views of a report's layers: names aggregated by prefix depth, or the K most costly.

A view is a Report whose ``layer_counts`` are regrouped; its per-layer figures (firing
rates included) stay exact because the raw totals are summed, not the rates. Its model
totals are those of the kept layers only, so take totals from the full report.
"""

from __future__ import annotations

from dataclasses import replace

from syops.report import LayerCounts, Report


def prefix(name: str, depth: int) -> str:
    """``layer1.0.conv1`` at depth 2 is ``layer1.0``; shorter names stay as they are."""
    return ".".join(name.split(".")[:depth])


def layers_by_depth(report: Report, depth: int) -> Report:
    """One row per distinct name prefix of ``depth`` parts, in order of first appearance."""
    groups: dict[str, list[LayerCounts]] = {}
    for counts in report.layer_counts:
        groups.setdefault(prefix(counts.name, depth), []).append(counts)
    return replace(report, layer_counts=tuple(_merged(name, members)
                                              for name, members in groups.items()))


def _merged(name: str, members: list[LayerCounts]) -> LayerCounts:
    if len(members) == 1:
        return replace(members[0], name=name)
    return LayerCounts.group(name, members)


def layer_energy_pj(report: Report, counts: LayerCounts) -> float:
    """Total (not per sample) energy of one layer under the report's energy model."""
    return report.energy_model.ac_pj * counts.acs + report.energy_model.mac_pj * counts.mac_syops


def top_layers(report: Report, k: int) -> Report:
    """The ``k`` layers that spend the most energy, most costly first."""
    ranked = sorted(report.layer_counts, key=lambda c: layer_energy_pj(report, c), reverse=True)
    return replace(report, layer_counts=tuple(ranked[:k]))


def layer_view(report: Report, depth: int | None = None, top: int | None = None) -> Report:
    """Aggregate by ``depth`` first (when given), then keep the ``top`` most costly."""
    if depth is not None:
        report = layers_by_depth(report, depth)
    if top is not None:
        report = top_layers(report, top)
    return report
