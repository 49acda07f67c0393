"""The result of a count: raw additive totals, and per-sample figures derived from them.

Everything stored is a sum over calls and samples, so two reports of the same model on
disjoint data merge (``a + b``) into the report of the union. Per-sample figures divide by
the number of samples fed to the model, never by T or by a layer's leading dimension.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import pandas as pd

from .energy import PRESETS, EnergyModel, energy_model

SPIKE, MULTI_LEVEL, MIXED = "spike", "multi-level", "mixed"


@dataclass(frozen=True)
class LayerCounts:
    """Totals of one counted module over all its calls."""

    name: str
    type: str
    params: int
    input_shape: tuple[int, ...]   # of its last call
    synaptic: bool                 # False: a BatchNorm left in place (always MACs)
    calls: int = 0
    spike_calls: int = 0           # calls whose input was binary spikes
    spike_syops: int = 0           # dense SyOPs of those calls
    mac_syops: int = 0             # dense SyOPs of the other calls: the MACs
    acs: float = 0                 # accumulates of the spike calls (exact pairs or dense x rate)
    ones: int = 0                  # ones in the spike inputs
    spike_elements: int = 0        # elements of the spike inputs

    def __add__(self, other: LayerCounts) -> LayerCounts:
        summed = {k: getattr(self, k) + getattr(other, k)
                  for k in ("calls", "spike_calls", "spike_syops", "mac_syops", "acs", "ones",
                            "spike_elements")}
        return replace(self, input_shape=other.input_shape, **summed)

    @property
    def signal(self) -> str:
        if self.spike_calls == 0:
            return MULTI_LEVEL
        return SPIKE if self.spike_calls == self.calls else MIXED

    @property
    def firing_rate(self) -> float:
        return self.ones / self.spike_elements if self.spike_elements else math.nan


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
    not_counted: tuple[str, ...] = ()
    classification: str = "probe"
    model: str | None = None
    data: str | None = None
    notes: tuple[str, ...] = field(default=())

    # --- totals, per sample ---------------------------------------------------------
    def _per_sample(self, total: float) -> float:
        return total / self.samples if self.samples else math.nan

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
    def firing_rate(self) -> float:
        """Ones / elements over the inputs of every spike-input call."""
        elements = sum(c.spike_elements for c in self.layer_counts)
        return sum(c.ones for c in self.layer_counts) / elements if elements else math.nan

    # --- energy ---------------------------------------------------------------------
    def _energy(self, energy) -> EnergyModel:
        return self.energy_model if energy is None else energy_model(energy)

    def energy(self, energy: str | EnergyModel | None = None) -> float:
        """Dynamic consumption (DC): mJ per sample of the measured ACs and MACs."""
        return self._energy(energy).mj(self.acs, self.macs)

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

    # --- merging --------------------------------------------------------------------
    def __add__(self, other: Report) -> Report:
        """The report of both runs' data together (same model, same settings)."""
        for key in ("mode", "fuse_bn", "params", "energy_model"):
            if getattr(self, key) != getattr(other, key):
                raise ValueError(f"cannot merge reports with different {key}: "
                                 f"{getattr(self, key)!r} vs {getattr(other, key)!r}")
        merged = {c.name: c for c in self.layer_counts}
        for c in other.layer_counts:
            merged[c.name] = merged[c.name] + c if c.name in merged else c
        return replace(self, layer_counts=tuple(merged.values()),
                       samples=self.samples + other.samples,
                       forwards=self.forwards + other.forwards,
                       not_counted=tuple(sorted(set(self.not_counted) | set(other.not_counted))),
                       notes=tuple(dict.fromkeys(self.notes + other.notes)))

    # --- serialisation --------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Per-sample figures and settings, JSON-ready (NaN becomes None)."""
        low, high = self.ec()
        summary = {
            "model": self.model, "data": self.data, "params": self.params,
            "samples": self.samples, "mode": self.mode, "fuse_bn": self.fuse_bn,
            "classification": self.classification,
            "energy_preset": self.energy_model.name, "e_ac_pj": self.energy_model.ac_pj,
            "e_mac_pj": self.energy_model.mac_pj,
            "macs": self.macs, "acs": self.acs, "syops": self.syops,
            "firing_rate": self.firing_rate, "dc_mj": self.energy(),
            "ec_low_mj": low, "ec_high_mj": high,
            "not_counted": list(self.not_counted), "notes": list(self.notes),
            "layers": self.layers.assign(input_shape=lambda d: d.input_shape.map(list))
                                 .to_dict(orient="records"),
        }
        return _nan_to_none(summary)

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **{"indent": 2, **kwargs})

    def raw(self) -> dict[str, Any]:
        """Every stored total (not per sample), for exact checks and archiving."""
        return asdict(self)


def _nan_to_none(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return value
