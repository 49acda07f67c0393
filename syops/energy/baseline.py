"""The baselines of a spiking network, and the firing rates at which the SNN costs the same.

Three views of one counted SNN (docs/energy.md, "Baselines and the critics' conventions"):

- **ANN**: the same network with ReLU for every spiking neuron, run for one time step with
  every input multi-level: each counted layer costs the dense operations of one of the SNN's
  T steps as MACs (dense SyOPs / T), its neurons cost nothing, and a layer the SNN called c
  times per forward is called ceil(c / T) times. Under a memory preset each of its weights is
  read once per call and sample.
- **QNN at equal information** (Yan et al. 2024, arXiv:2409.08290): a neuron that may fire
  in each of T steps sends one of T + 1 spike counts, which ceil(log2(T + 1)) bits carry. The
  QNN is the ANN with activations of that many bits: a MAC of a b-bit activation is b
  shifted adds of the weight, so it costs min(b x AC, MAC) of the preset, and every neuron
  writes one b-bit activation per inference (one access, the counterpart of a spike write).
- **Spikes per synapse per inference** (Dampfhoffer et al. 2023): the spikes each synapse
  carries in one inference, T x the input firing rate; their break-even range is
  DAMPFHOFFER_RANGE.

The SNN's energy at a uniform input firing rate r (the EC convention: every spike input fires
at r, so ACs = r x dense, and every neuron emits r spikes per update) is linear in r; a
break-even rate is where it meets a baseline's, for the compute terms (synaptic + neuron) and
for the total with memory. Below it the SNN is cheaper. A rate at or below 0 means the SNN
costs more even when silent; at or above 1, it is cheaper even at rate 1.
"""

from __future__ import annotations

import math
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

from syops.energy.presets import EnergyModel, breakdown_mj, energy_model

# Dampfhoffer et al. 2023 (IEEE TETCI 7(3)): the SNN is cheaper than the ANN below 0.15 to
# 1.38 spikes per synapse per inference, depending on the hardware (as issue 18 quotes it).
DAMPFHOFFER_RANGE = (0.15, 1.38)


def _check_T(T: Any) -> None:
    if not isinstance(T, int) or isinstance(T, bool) or T < 1:
        raise ValueError(f"the ANN baseline needs the SNN's time steps T >= 1, got {T!r}")


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
    _check_T(T)
    model = report.energy_model if energy is None else energy_model(energy)
    layers = [_ann_layer(c, T, report.forwards) for c in report.layer_counts]
    return {"macs": sum(c.mac_syops for c in layers) / report.samples,
            "energy_mj": breakdown_mj(model, layers, [], report.samples, report.forwards)}


def qnn_bits(T: int) -> int:
    """Activation bits of the QNN at equal information: ceil(log2(T + 1))."""
    _check_T(T)
    return T.bit_length()  # the bits of T itself: ceil(log2(T + 1)), exact


def qnn_model(model: EnergyModel, bits: int) -> EnergyModel:
    """``model`` for a QNN with ``bits``-bit activations: a MAC is at most ``bits`` adds."""
    return replace(model, name=f"{model.name} qnn{bits}", neuron_pj=0.0,
                   mac_pj=min(bits * model.ac_pj, model.mac_pj))


def _activations(counts: Any, T: int, bits: int) -> SimpleNamespace:
    # One b-bit activation written per neuron and inference (updates / T), no potential;
    # its memory holds b bits per neuron (``neurons`` x bits one-bit cells, for SRAM size).
    return SimpleNamespace(name=counts.name, type=counts.type, neurons=counts.neurons * bits,
                           updates=0, spikes=counts.updates / T)


def qnn_energy(report: Any, T: int, energy: str | EnergyModel | None = None) -> dict:
    """The QNN baseline at equal information: its activation bits, MAC cost (pJ), MACs and
    energy breakdown (mJ), per sample."""
    bits = qnn_bits(T)
    model = qnn_model(report.energy_model if energy is None else energy_model(energy), bits)
    layers = [_ann_layer(c, T, report.forwards) for c in report.layer_counts]
    neurons = [_activations(n, T, bits) for n in report.neuron_counts]
    return {"bits": bits, "mac_pj": model.mac_pj,
            "macs": sum(c.mac_syops for c in layers) / report.samples,
            "energy_mj": breakdown_mj(model, layers, neurons, report.samples, report.forwards)}


def spikes_per_synapse(report: Any, T: int) -> float | None:
    """Spikes each synapse carries per inference: ACs over the synapses of one time step
    (dense SyOPs of the spike inputs / T); None without spike inputs."""
    _check_T(T)
    return report.acs / (report.spike_syops / T) if report.spike_syops else None


def _crossing(ann: float, silent: float, firing: float) -> float | None:
    slope = firing - silent
    return (ann - silent) / slope if slope else None


def _compute(parts: dict) -> float:
    return parts["synaptic"] + parts["neuron"]


def break_even(baseline: dict, silent: dict, firing: dict) -> dict:
    """The input firing rates at which the SNN costs what ``baseline`` does (breakdowns in
    mJ): ``compute`` (synaptic + neuron terms) and ``with_memory`` (the totals)."""
    return {"compute": _crossing(_compute(baseline), _compute(silent), _compute(firing)),
            "with_memory": _crossing(baseline["total"], silent["total"], firing["total"])}


def _per_synapse(rates: dict, T: int) -> dict:
    return {k: None if r is None else r * T for k, r in rates.items()}


def ann_baseline(report: Any, T: int, energy: str | EnergyModel | None = None) -> dict:
    """Both baselines beside the SNN: the ANN's figures and break-even input firing rates
    (``break_even_rate``), the SNN silent and firing, the QNN at equal information (``qnn``)
    and every break-even in spikes per synapse per inference (``spikes_per_synapse``)."""
    ann, qnn = ann_energy(report, T, energy), qnn_energy(report, T, energy)
    silent, firing = snn_at_rate(report, 0.0, energy), snn_at_rate(report, 1.0, energy)
    rates = {"ann": break_even(ann["energy_mj"], silent, firing),
             "qnn": break_even(qnn["energy_mj"], silent, firing)}
    return {**ann, "snn_silent_mj": silent["total"], "snn_firing_mj": firing["total"],
            "break_even_rate": rates["ann"], "qnn": {**qnn, "break_even_rate": rates["qnn"]},
            "spikes_per_synapse": {
                "measured": spikes_per_synapse(report, T),
                "break_even": {k: _per_synapse(v, T) for k, v in rates.items()},
                "dampfhoffer_range": list(DAMPFHOFFER_RANGE)}}
