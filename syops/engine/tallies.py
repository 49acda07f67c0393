"""The counter's state: one tally per counted layer (or op kind in a module), its call sites,
one tally per neuron layer, and the per-batch table of every site's columns.

Only ``SyopsCounter`` creates and owns these; measurement (``measure``) and neuron
accounting (``neurons``) update the objects they are handed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from torch import Tensor

from syops.engine.rules import Rule
from syops.engine.sites import ProductSite, SiteCounts
from syops.report import BatchTotals, LayerCounts

BATCH_COLUMNS = ("dense", "c1", "c2", "c3")


@dataclass
class Site:
    """Mutable holder of one call site's counts (a SiteCounts or a ProductSite)."""

    ordinal: int                       # row in the per-batch tables
    counts: SiteCounts | ProductSite


@dataclass
class LayerTally:
    """One counted layer (or one op kind in one module): its rule, what the probe learnt,
    and its sites."""

    name: str
    rule: Rule | None
    params: int
    type_name: str = ""
    synaptic: bool = True
    verdicts: dict[int, Any] | None = None   # probe: call index -> may carry spikes
    declared: str | None = None              # signals={name: ...}
    folded: bool = False                     # a BatchNorm the probe found folding
    input_shape: tuple[int, ...] = ()
    sites: dict[int, Site] = field(default_factory=dict)

    def counts(self) -> LayerCounts:
        return LayerCounts(self.name, self.type_name, self.params, self.input_shape,
                           self.synaptic, tuple(s.counts for s in self.sites.values()))

    def verdict(self, index: int) -> Any:
        return self.verdicts.get(index) if self.verdicts is not None else None


@dataclass
class NeuronTally:
    """One neuron layer: its size, calls, updates, and the non-zero values (spikes) and
    summed magnitudes (events) it emitted."""

    name: str
    kind: str | None = None
    neurons: int = 0
    calls: int = 0
    updates: int = 0
    spikes: int = 0
    events: float = 0.0


@dataclass
class Pending:
    """One call's device statistics, recorded once they are read back."""

    record: Callable[[list[float]], None]
    stats: Tensor   # float64, 1-d


class Batches:
    """Each batch's samples, neuron updates and per-site columns [dense, c1, c2, c3], kept
    apart so that totals are computed under the run's final classification of every site."""

    def __init__(self) -> None:
        self.closed: list[tuple[int, np.ndarray, int]] = []
        self._open()

    def _open(self) -> None:
        self.samples, self.updates = 0, 0
        self.columns: dict[str, dict[int, float]] = {c: {} for c in BATCH_COLUMNS}

    def add(self, column: str, ordinal: int, value: float) -> None:
        table = self.columns[column]
        table[ordinal] = table.get(ordinal, 0) + value

    def close(self, sites: int) -> None:
        if not self.samples and not self.columns["dense"]:
            return
        table = np.zeros((sites, len(BATCH_COLUMNS)))
        for column, key in enumerate(BATCH_COLUMNS):
            for ordinal, value in self.columns[key].items():
                table[ordinal, column] = value
        self.closed.append((self.samples, table, self.updates))
        self._open()

    def totals(self, sites: list) -> tuple[BatchTotals, ...]:
        """Each batch's totals under the final classification of ``sites``."""
        weights = np.array([s.weights() for s in sites]).reshape(-1, 4)
        rows = []
        for samples, table, updates in self.closed:
            mine = weights[:table.shape[0]]
            macs = (table[:, 0] * mine[:, 0]).sum()
            acs = (table[:, 1:] * mine[:, 1:]).sum()
            rows.append(BatchTotals(samples, float(acs), int(round(macs)), updates))
        return tuple(rows)
