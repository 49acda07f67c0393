"""The result of a count: raw additive totals, and per-sample figures derived from them.

Everything stored is a sum over calls and samples, so two reports of the same model on
disjoint data merge (``a + b``) into the report of the union. Per-sample figures divide by
the number of samples fed to the model, never by T or by a layer's leading dimension.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import pandas as pd

from syops.energy.presets import (
    PRESETS,
    ROW_COLUMNS,
    EnergyModel,
    breakdown_mj,
    energy_model,
    energy_rows,
)
from syops.engine.sites import (  # noqa: F401
    EVENTS,
    MIXED,
    MULTI_LEVEL,
    SPIKE,
    SPIKE_CONVENTIONS,
    ProductSite,
    SiteCounts,
    join_levels,
)


@dataclass(frozen=True)
class LayerCounts:
    """Totals of one counted module (or functional op kind within a module) over its calls."""

    name: str
    type: str
    params: int
    input_shape: tuple[int, ...]   # of its last call
    synaptic: bool                 # False: a BatchNorm left in place (always MACs)
    sites: tuple[SiteCounts, ...] = ()

    @classmethod
    def from_totals(cls, name: str, type: str, *, params: int = 0,
                    input_shape: tuple[int, ...] = (), synaptic: bool = True,
                    spike_calls: int = 0, spike_syops: int = 0, acs: float = 0, ones: int = 0,
                    spike_elements: int = 0, mac_calls: int = 0, mac_syops: int = 0
                    ) -> LayerCounts:
        """Counts given as totals: one spike site and one multi-level site."""
        sites = []
        if spike_calls:
            sites.append(SiteCounts(0, spike_calls, spike_syops, acs_main=acs, acs_nonzero=acs,
                                    nonzero=ones, elements=spike_elements))
        if mac_calls or mac_syops:
            sites.append(SiteCounts(1, max(mac_calls, 1), mac_syops, fixed=True))
        return cls(name, type, params, input_shape, synaptic, tuple(sites))

    def __add__(self, other: LayerCounts) -> LayerCounts:
        """The same layer over both runs' data (sites matched by call index)."""
        sites = {s.index: s for s in self.sites}
        for site in other.sites:
            sites[site.index] = sites[site.index] + site if site.index in sites else site
        return replace(self, input_shape=other.input_shape,
                       sites=tuple(sorted(sites.values(), key=lambda s: s.index)))

    @classmethod
    def group(cls, name: str, members: list[LayerCounts]) -> LayerCounts:
        """Several layers' counts under one name (their sites kept apart)."""
        sites, offset = [], 0
        for member in members:
            sites += [replace(s, index=s.index + offset) for s in member.sites]
            offset += 1 + max((s.index for s in member.sites), default=0)
        return cls(name, "+".join(dict.fromkeys(m.type for m in members)),
                   sum(m.params for m in members), members[-1].input_shape,
                   any(m.synaptic for m in members), tuple(sites))

    def _spiking(self):
        return [s for s in self.sites if s.signal != MULTI_LEVEL]

    @property
    def calls(self) -> int:
        return sum(s.calls for s in self.sites)

    @property
    def spike_calls(self) -> int:
        """Calls whose input was counted as spikes (or event counts): ACs."""
        return sum(s.calls for s in self._spiking())

    @property
    def spike_syops(self) -> int:
        return sum(s.spike_syops for s in self.sites)

    @property
    def mac_syops(self) -> int:
        return sum(s.macs for s in self.sites)

    @property
    def acs(self) -> float:
        return sum(s.acs for s in self.sites)

    @property
    def ones(self) -> int:
        """Non-zero elements of the inputs counted as spikes."""
        return sum(s.nonzero for s in self._spiking())

    @property
    def spike_elements(self) -> int:
        return sum(s.elements for s in self._spiking())

    @property
    def signal(self) -> str:
        kinds = {s.signal for s in self.sites if s.calls}
        if kinds <= {MULTI_LEVEL}:
            return MULTI_LEVEL
        return kinds.pop() if len(kinds) == 1 else MIXED

    @property
    def firing_rate(self) -> float:
        return self.ones / self.spike_elements if self.spike_elements else math.nan


@dataclass(frozen=True)
class NeuronCounts:
    """Totals of one spiking-neuron module over its calls."""

    name: str
    type: str
    neurons: int      # neurons per sample and time step (of its last call)
    calls: int = 0
    updates: int = 0  # state updates: neurons x time steps x samples, over all calls
    spikes: int = 0   # non-zero outputs (spikes emitted)
    events: float = 0.0   # summed magnitudes of the outputs (several spikes per step count)
    kind: str = ""    # what it emits: binary, ternary, integer, graded, analog (engine.emits)

    def __add__(self, other: NeuronCounts) -> NeuronCounts:
        return replace(self, calls=self.calls + other.calls,
                       updates=self.updates + other.updates, spikes=self.spikes + other.spikes,
                       events=self.events + other.events)

    @property
    def firing_rate(self) -> float:
        """The fraction of updates that emit a non-zero value (in [0, 1])."""
        return self.spikes / self.updates if self.updates else math.nan

    @property
    def events_per_update(self) -> float:
        """Summed output magnitude per update: above 1 for neurons that emit several spikes
        per step or graded spikes; equal to the firing rate for 0/1 spikes."""
        return self.events / self.updates if self.updates else math.nan


@dataclass(frozen=True)
class BatchTotals:
    """Raw totals of one batch, for the spread of per-sample figures."""

    samples: int
    acs: float
    macs: int
    updates: int = 0


# The record's contract (``Report.to_dict`` and the CLI's JSON). 2: energy_model,
# energy_breakdown_mj, energy_layers, total CSV rows. 3: schema_version, T, weights,
# synthetic_data and convention in every record; neuron_firing_rate is the rate to cite;
# firing_rate (the input rate) kept for this version only, see DEPRECATED_KEYS.
SCHEMA_VERSION = 3
DEPRECATED_KEYS = {"firing_rate": "the input firing rate, same as input_firing_rate; "
                                  "removed in schema 4 (cite neuron_firing_rate)"}


@dataclass(frozen=True)
class Report:
    """Synaptic operations of a model on some data. Counts are per sample."""

    layer_counts: tuple[LayerCounts, ...]
    samples: int
    forwards: int
    params: int
    mode: str
    fuse_bn: bool
    energy_model: EnergyModel = PRESETS["fp32"]
    not_counted: tuple[str, ...] = ()    # types with parameters that ran and no rule counts
    classification: str = "probe"
    model: str | None = None
    data: str | None = None
    notes: tuple[str, ...] = field(default=())
    neuron_counts: tuple[NeuronCounts, ...] = ()
    unused: tuple[str, ...] = ()         # types with parameters that never ran
    spikes: str = "binary"               # the input convention (SPIKE_CONVENTIONS)
    warnings: tuple[str, ...] = ()       # notes the user must see (stderr in the CLI)
    batches: tuple[BatchTotals, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)   # every option of the run

    def __post_init__(self):
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) \
                or self.samples < 1:
            raise ValueError(f"a report needs at least one sample, got samples={self.samples!r}; "
                             "count some data (or pass report(samples=N) with N >= 1)")

    # --- totals, per sample ---------------------------------------------------------
    def _per_sample(self, total: float) -> float:
        return total / self.samples

    @property
    def acs(self) -> float:
        return self._per_sample(sum(c.acs for c in self.layer_counts))

    @property
    def macs(self) -> float:
        return self._per_sample(sum(c.mac_syops for c in self.layer_counts))

    @property
    def syops(self) -> float:
        """Dense operations of every counted layer (spike and non-spike inputs alike)."""
        return self._per_sample(sum(c.spike_syops + c.mac_syops for c in self.layer_counts))

    @property
    def spike_syops(self) -> float:
        """Dense SyOPs of the calls whose input was spikes (the ACs at rate 1)."""
        return self._per_sample(sum(c.spike_syops for c in self.layer_counts))

    @property
    def input_firing_rate(self) -> float:
        """Non-zero / elements over the inputs of every call counted as spikes."""
        elements = sum(c.spike_elements for c in self.layer_counts)
        return sum(c.ones for c in self.layer_counts) / elements if elements else math.nan

    @property
    def neuron_firing_rate(self) -> float:
        """Spikes / neuron updates over every spiking neuron (what papers call the rate)."""
        updates = sum(n.updates for n in self.neuron_counts)
        return sum(n.spikes for n in self.neuron_counts) / updates if updates else math.nan

    @property
    def firing_rate(self) -> float:
        """The rate papers cite: spikes / neuron updates (``neuron_firing_rate``). The input
        rate of the layers counted as spikes is ``input_firing_rate``."""
        return self.neuron_firing_rate

    @property
    def time_steps(self) -> int | None:
        """T as the neurons saw it: each neuron layer's updates per sample over its size,
        the value most layers share (the smallest on a tie); None without neuron layers."""
        seen = [n.updates / (n.neurons * self.samples) for n in self.neuron_counts if n.neurons]
        whole = Counter(round(t) for t in seen if t >= 1 and t == round(t))
        if not whole:
            return None
        most = max(whole.values())
        return min(t for t, count in whole.items() if count == most)

    @property
    def neuron_updates(self) -> float:
        """Neuron state updates per sample (neurons x time steps)."""
        return self._per_sample(sum(n.updates for n in self.neuron_counts))

    # --- energy ---------------------------------------------------------------------
    def _energy(self, energy) -> EnergyModel:
        return self.energy_model if energy is None else energy_model(energy)

    def energy(self, energy: str | EnergyModel | None = None) -> float:
        """Dynamic consumption (DC): mJ per sample, the total of ``energy_breakdown`` (for
        the Horowitz presets the measured ACs and MACs alone)."""
        return self.energy_breakdown(energy)["total"]

    def energy_breakdown(self, energy: str | EnergyModel | None = None,
                         latency: float | None = None, fps: float | None = None) -> dict:
        """``synaptic``, ``neuron``, ``memory`` and ``total`` (dynamic) in mJ per sample, and
        ``static`` (a chip's static power x latency, or None) with ``static_note``
        (docs/energy.md states the model of each term)."""
        from syops.energy.presets import static_terms
        model = self._energy(energy)
        return {**breakdown_mj(model, self.layer_counts, self.neuron_counts, self.samples,
                               self.forwards),
                **static_terms(model, self.time_steps, latency, fps)}

    def energy_layers(self, energy: str | EnergyModel | None = None) -> pd.DataFrame:
        """Each energy term in pJ per sample: one row per counted layer, then one per
        neuron layer (``kind`` says which)."""
        rows = energy_rows(self._energy(energy), self.layer_counts, self.neuron_counts,
                           self.samples, self.forwards)
        return pd.DataFrame(rows, columns=list(ROW_COLUMNS))

    def ec(self, rate: float | None = None, energy: str | EnergyModel | None = None):
        """Estimated consumption in mJ per sample: ``(low, high)`` from every spike input
        silent to every spike input firing, or the figure at a uniform firing ``rate``.
        Spike inputs cost dense x rate ACs here (the rate convention, whatever the mode)."""
        model = self._energy(energy)
        if rate is None:
            return model.mj(0, self.macs), model.mj(self.spike_syops, self.macs)
        if not 0 <= rate <= 1:
            raise ValueError(f"firing rate must be between 0 and 1, got {rate}")
        return model.mj(rate * self.spike_syops, self.macs)

    def energy_stats(self, energy: str | EnergyModel | None = None):
        """Per-sample DC (mJ) from the per-batch totals: mean with its 95 % interval, p5 /
        p50 / p95 and the samples a +/- 1 % interval needs (a ``syops.stats.Summary``);
        None without batch totals. Each batch's synaptic and neuron energy is its own; the
        memory term is the run's per-sample figure (its spread is not tracked), so the mean
        is the DC."""
        from syops.scale.stats import summarize
        if not self.batches:
            return None
        model = self._energy(energy)
        memory = self.energy_breakdown(model)["memory"] if model.has_memory else 0.0
        return summarize([(model.mj(b.acs, b.macs) + model.neuron_pj * b.updates / 1e9)
                          / b.samples + memory for b in self.batches],
                         [b.samples for b in self.batches])

    # --- tables ---------------------------------------------------------------------
    @property
    def layers(self) -> pd.DataFrame:
        """One row per counted layer, figures per sample."""
        rows = [{
            "name": c.name, "type": c.type,
            "calls": c.calls / self.forwards if self.forwards else math.nan,
            "input_shape": c.input_shape, "signal": c.signal,
            "syops": self._per_sample(c.spike_syops + c.mac_syops),
            "acs": self._per_sample(c.acs), "macs": self._per_sample(c.mac_syops),
            "firing_rate": c.firing_rate, "params": c.params,
            "energy_pj": self._per_sample(self.energy_model.ac_pj * c.acs
                                          + self.energy_model.mac_pj * c.mac_syops),
        } for c in self.layer_counts]
        return pd.DataFrame(rows, columns=["name", "type", "calls", "input_shape", "signal",
                                           "syops", "acs", "macs", "firing_rate", "params",
                                           "energy_pj"])

    @property
    def neurons(self) -> pd.DataFrame:
        """One row per spiking-neuron module: its size, updates per sample, output rate."""
        rows = [{"name": n.name, "type": n.type, "neurons": n.neurons,
                 "updates": self._per_sample(n.updates), "output_firing_rate": n.firing_rate,
                 "events_per_update": n.events_per_update, "emits": n.kind}
                for n in self.neuron_counts]
        return pd.DataFrame(rows, columns=["name", "type", "neurons", "updates",
                                           "output_firing_rate", "events_per_update",
                                           "emits"])

    # --- merging --------------------------------------------------------------------
    def __add__(self, other: Report) -> Report:
        """The report of both runs' data together (same model, same settings)."""
        for key in ("mode", "fuse_bn", "params", "energy_model", "spikes"):
            if getattr(self, key) != getattr(other, key):
                raise ValueError(f"cannot merge reports with different {key}: "
                                 f"{getattr(self, key)!r} vs {getattr(other, key)!r}")
        return replace(self, layer_counts=_merged(self.layer_counts, other.layer_counts),
                       neuron_counts=_merged(self.neuron_counts, other.neuron_counts),
                       samples=self.samples + other.samples,
                       forwards=self.forwards + other.forwards,
                       not_counted=tuple(sorted(set(self.not_counted) | set(other.not_counted))),
                       unused=tuple(sorted((set(self.unused) | set(other.unused))
                                           - set(self.not_counted) - set(other.not_counted))),
                       notes=tuple(dict.fromkeys(self.notes + other.notes)),
                       warnings=tuple(dict.fromkeys(self.warnings + other.warnings)),
                       batches=self.batches + other.batches)

    # --- serialisation --------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Per-sample figures and settings, JSON-ready (NaN becomes None): the record of
        ``SCHEMA_VERSION``, the CLI's JSON included. Keys only the CLI knows (``weights``,
        ``synthetic_data``, ``convention``) are None here."""
        low, high = self.ec()
        summary = {
            "schema_version": SCHEMA_VERSION, "model": self.model, "T": self.time_steps,
            "weights": None, "synthetic_data": None, "convention": None,
            "data": self.data, "params": self.params,
            "samples": self.samples, "mode": self.mode, "fuse_bn": self.fuse_bn,
            "classification": self.classification, "spikes": self.spikes,
            "options": dict(self.options),
            "energy_preset": self.energy_model.name, "e_ac_pj": self.energy_model.ac_pj,
            "e_mac_pj": self.energy_model.mac_pj,
            "macs": self.macs, "acs": self.acs, "syops": self.syops,
            "neuron_firing_rate": self.neuron_firing_rate,
            "input_firing_rate": self.input_firing_rate,
            "firing_rate": self.input_firing_rate,   # deprecated alias: DEPRECATED_KEYS
            "deprecated_keys": dict(DEPRECATED_KEYS),
            "neuron_updates": self.neuron_updates, "dc_mj": self.energy(),
            "ec_low_mj": low, "ec_high_mj": high,
            "energy_stats": (stats := self.energy_stats()) and stats.to_dict("mj"),
            "not_counted": list(self.not_counted), "unused": list(self.unused),
            "notes": list(self.notes), "warnings": list(self.warnings),
            "layers": self.layers.assign(input_shape=lambda d: d.input_shape.map(list))
                                 .to_dict(orient="records"),
            "neurons": self.neurons.to_dict(orient="records"),
            "energy_model": asdict(self.energy_model),
            "energy_breakdown_mj": self.energy_breakdown(),
            "energy_layers": self.energy_layers().to_dict(orient="records"),
        }
        return _nan_to_none(summary)

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **{"indent": 2, **kwargs})

    def __str__(self) -> str:
        """The totals table (and the conventions behind it), as ``print(report)`` shows it."""
        from syops.reports.text import report_text  # lazy: rendering is not counting
        return report_text(self.to_dict())

    def __repr__(self) -> str:
        return (f"<Report {self.model or 'model'}: {self.samples} sample(s), "
                f"ACs {self.acs:.4g}, MACs {self.macs:.4g}, DC {self.energy():.4g} mJ "
                f"per sample ({self.energy_model.name})>")

    def raw(self) -> dict[str, Any]:
        """Every stored total (not per sample), for exact checks and archiving."""
        return asdict(self)

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> Report:
        """The report ``raw()`` came from (also after a JSON round trip of it)."""
        from syops.plain import from_plain
        return from_plain(cls, raw)


def _merged(mine: tuple, theirs: tuple) -> tuple:
    """Counts of two runs matched by name (order of first appearance)."""
    merged = {c.name: c for c in mine}
    for c in theirs:
        merged[c.name] = merged[c.name] + c if c.name in merged else c
    return tuple(merged.values())


def _nan_to_none(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return value
