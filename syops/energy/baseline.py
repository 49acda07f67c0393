"""The ANN baseline of a spiking network, and the input firing rate at which both cost the same.

The baseline is the same network with every spiking neuron replaced by ReLU, run for one
time step (T = 1) with every input multi-level: each counted layer costs the dense
operations of one of the SNN's T steps as MACs (dense SyOPs / T), its neurons cost nothing,
and a layer the SNN called c times per forward is called ceil(c / T) times (once per step
becomes once; a multi-step call stays one call). Under a preset with memory terms each of
its weights is read once per call and sample.

The SNN's energy at a uniform input firing rate r (the EC convention: every spike input
fires at r, so ACs = r x dense, and every neuron emits r spikes per update) is linear in r;
the break-even rate is where it meets the baseline's, for the compute terms (synaptic +
neuron) and for the total with memory. Below it the SNN is cheaper. A rate at or below 0
means the SNN costs more even when silent; at or above 1, it is cheaper even at rate 1.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

from syops.energy.presets import EnergyModel, breakdown_mj, energy_model


def _layer_at_rate(counts: Any, rate: float) -> SimpleNamespace:
    return SimpleNamespace(name=counts.name, type=counts.type, params=counts.params,
                           calls=counts.calls, spike_calls=counts.spike_calls,
                           acs=rate * counts.spike_syops, ones=rate * counts.spike_elements,
                           mac_syops=counts.mac_syops)


def _neuron_at_rate(counts: Any, rate: float) -> SimpleNamespace:
    return SimpleNamespace(name=counts.name, type=counts.type, neurons=counts.neurons,
                           updates=counts.updates, spikes=rate * counts.updates)


def snn_at_rate(report: Any, rate: float, energy: str | EnergyModel | None = None) -> dict:
    """The SNN's energy breakdown (mJ per sample) at a uniform input firing ``rate``."""
    model = report.energy_model if energy is None else energy_model(energy)
    return breakdown_mj(model, [_layer_at_rate(c, rate) for c in report.layer_counts],
                        [_neuron_at_rate(n, rate) for n in report.neuron_counts],
                        report.samples, report.forwards)


def _ann_layer(counts: Any, T: int, forwards: int) -> SimpleNamespace:
    calls = math.ceil(counts.calls / forwards / T) * forwards
    return SimpleNamespace(name=counts.name, type=counts.type, params=counts.params,
                           calls=calls, spike_calls=0, acs=0, ones=0,
                           mac_syops=(counts.spike_syops + counts.mac_syops) / T)


def ann_energy(report: Any, T: int, energy: str | EnergyModel | None = None) -> dict:
    """The ANN baseline's MACs and energy breakdown (mJ), per sample."""
    if not isinstance(T, int) or isinstance(T, bool) or T < 1:
        raise ValueError(f"the ANN baseline needs the SNN's time steps T >= 1, got {T!r}")
    model = report.energy_model if energy is None else energy_model(energy)
    layers = [_ann_layer(c, T, report.forwards) for c in report.layer_counts]
    return {"macs": sum(c.mac_syops for c in layers) / report.samples,
            "energy_mj": breakdown_mj(model, layers, [], report.samples, report.forwards)}


def _crossing(ann: float, silent: float, firing: float) -> float | None:
    slope = firing - silent
    return (ann - silent) / slope if slope else None


def ann_baseline(report: Any, T: int, energy: str | EnergyModel | None = None) -> dict:
    """The baseline, the SNN when silent and firing, and the break-even input firing rates:
    ``compute`` (synaptic + neuron terms) and ``with_memory`` (the totals)."""
    ann = ann_energy(report, T, energy)
    silent, firing = snn_at_rate(report, 0.0, energy), snn_at_rate(report, 1.0, energy)

    def compute(parts):
        return parts["synaptic"] + parts["neuron"]
    return {**ann, "snn_silent_mj": silent["total"], "snn_firing_mj": firing["total"],
            "break_even_rate": {
                "compute": _crossing(compute(ann["energy_mj"]), compute(silent), compute(firing)),
                "with_memory": _crossing(ann["energy_mj"]["total"], silent["total"],
                                         firing["total"])}}
