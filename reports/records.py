"""Records: one JSON-ready dict per profiled model, the stable output contract of the CLI.

A record is ``Report.to_dict()`` (the same schema in Python: per-sample counts, energy and
its breakdown, per-layer rows, ``schema_version``, ``T`` as the neurons saw it) with what
the report alone does not know filled in: the model's T when the command knows it, where
its weights came from, whether its data was a synthetic stand-in, the convention; and, on
request, EC at an assumed firing rate, the ANN baseline and the energy relative to the
first model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from syops.energy.baseline import ann_baseline
from syops.report import SCHEMA_VERSION, Report  # noqa: F401  (the contract's version)

from .layers import layer_view

RANDOM_INIT = "random init"


@dataclass(frozen=True)
class Profiled:
    """One profiled model: its report (with ``model`` and ``data`` set) and its context."""

    report: Report
    T: int | None  # the model's T; None: the T its neurons saw (Report.time_steps)
    weights: str = RANDOM_INIT  # "random init", or the file the weights came from
    synthetic_data: bool = True
    convention: str | None = None  # the named convention it was counted under, if any
    ann_baseline: bool = False     # add the ANN baseline and the break-even rates
    mapping: dict[str, Any] | None = None   # cores and fit on the energy preset's chip


def record(profiled: Profiled, *, rate: float | None = None, depth: int | None = None,
           top: int | None = None, latency: float | None = None,
           fps: float | None = None) -> dict[str, Any]:
    """The record of one model; ``depth``/``top`` shape its ``layers`` list, never its totals."""
    report = profiled.report
    out = report.to_dict()
    out.update(weights=profiled.weights, synthetic_data=profiled.synthetic_data,
               convention=profiled.convention)
    if profiled.T is not None:
        out["T"] = profiled.T
    if profiled.ann_baseline:
        out["ann_baseline"] = ann_baseline(report, profiled.T)
    if profiled.mapping is not None:
        out["mapping"] = profiled.mapping
    if latency is not None or fps is not None:  # a chip's static term over that time
        out["energy_breakdown_mj"] = report.energy_breakdown(latency=latency, fps=fps)
    if rate is not None:
        out["rate"] = rate
        out["ec_at_rate_mj"] = report.ec(rate)
    if depth is not None or top is not None:
        out["layers"] = layer_view(report, depth, top).to_dict()["layers"]
    return out


def with_relative_energy(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each record with ``relative_energy``: its DC over the first record's DC."""
    base = records[0]["dc_mj"] if records else None
    return [{**r, "relative_energy": r["dc_mj"] / base if base else None} for r in records]
