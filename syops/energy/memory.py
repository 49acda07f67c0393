"""Memory traffic as an analytical model: accesses counted from the SyOP and neuron counts.

The model follows the memory terms of Lemaire et al. 2022 ("An analytical estimation of
spiking neural networks energy efficiency") and Dampfhoffer et al. 2023 ("Are SNNs really
more energy-efficient than ANNs?"); docs/energy.md states every assumption:

- a counted (synaptic) layer's spike-input calls read one weight per AC (an event-driven
  core fetches the synapse of each event), or with ``weight_reads="per-spike"`` one weight
  row per input spike; its calls with multi-level input (MACs) read each of its weights once
  per call and sample (a conventional dataflow reuses a fetched weight across the call's
  positions, not across samples, so per-sample figures do not depend on the batch size);
- a neuron layer reads and writes its membrane potential once per state update;
- a neuron layer writes one value per spike it emits.

Each access costs the preset's figure, or with ``sram_by_size`` Horowitz's SRAM energy for
a memory the size of the layer's weights (or states, or spikes); weights held in DRAM cost
the preset's DRAM figure per read. Counts are raw totals; energies here are in pJ.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

KIB = 1024
# Energy of one 64-bit SRAM access by memory size, Horowitz ISSCC 2014 (45 nm): (bytes, pJ).
SRAM_PJ = ((8 * KIB, 10.0), (32 * KIB, 20.0), (1024 * KIB, 100.0))
WEIGHT_READS = ("per-op", "per-spike")
WEIGHT_HOMES = ("on-chip", "dram")


@dataclass(frozen=True)
class Traffic:
    """Memory accesses (raw totals, not per sample)."""

    weight_reads: float = 0
    potential_reads: float = 0
    potential_writes: float = 0
    spike_writes: float = 0

    def __add__(self, other: Traffic) -> Traffic:
        return Traffic(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


def sram_access_pj(size_bytes: float) -> float:
    """Energy of one access to an SRAM of ``size_bytes``: Horowitz's 8 KB / 32 KB / 1 MB
    figures, linear between them, clamped to the smallest and largest outside them."""
    (lo_size, lo_pj), *_ = SRAM_PJ
    if size_bytes <= lo_size:
        return lo_pj
    for (x0, y0), (x1, y1) in zip(SRAM_PJ, SRAM_PJ[1:]):
        if size_bytes <= x1:
            return y0 + (y1 - y0) * (size_bytes - x0) / (x1 - x0)
    return SRAM_PJ[-1][1]


def synaptic_traffic(counts: Any, weight_reads: str = "per-op",
                     samples_per_call: float = 1.0) -> Traffic:
    """Weight reads of one counted layer (a LayerCounts: ``acs``, ``ones``, ``params``,
    ``calls``, ``spike_calls``), its calls having held ``samples_per_call`` samples each."""
    if weight_reads not in WEIGHT_READS:
        raise ValueError(f"weight_reads must be one of {', '.join(WEIGHT_READS)}, "
                         f"got {weight_reads!r}")
    spike_reads = counts.acs if weight_reads == "per-op" else counts.ones
    mac_calls = counts.calls - counts.spike_calls
    return Traffic(weight_reads=spike_reads + counts.params * mac_calls * samples_per_call)


def neuron_traffic(counts: Any) -> Traffic:
    """State and spike traffic of one neuron layer (a NeuronCounts: ``updates``, ``spikes``)."""
    return Traffic(potential_reads=counts.updates, potential_writes=counts.updates,
                   spike_writes=counts.spikes)


def access_costs_pj(model: Any, *, weights: int = 0, neurons: int = 0) -> Traffic:
    """pJ per access of each kind, for a layer with ``weights`` parameters or ``neurons``
    neurons (memory sizes matter only with ``model.sram_by_size``)."""
    if model.sram_by_size:
        weight_pj = sram_access_pj(weights * model.word_bytes)
        potential_pj = sram_access_pj(neurons * model.word_bytes)
        spike_pj = sram_access_pj(neurons / 8)  # one bit per neuron
    else:
        weight_pj, potential_pj, spike_pj = (model.weight_read_pj, model.potential_pj,
                                             model.spike_write_pj)
    if model.weights == "dram":
        weight_pj = model.dram_pj
    return Traffic(weight_pj, potential_pj, potential_pj, spike_pj)


def traffic_pj(traffic: Traffic, costs: Traffic) -> float:
    """Energy of ``traffic`` at ``costs`` pJ per access of each kind."""
    return sum(getattr(traffic, f.name) * getattr(costs, f.name) for f in fields(traffic))


def synaptic_memory_pj(model: Any, counts: Any, samples_per_call: float = 1.0) -> float:
    """Memory energy (pJ, raw total) of one counted layer under ``model``."""
    return traffic_pj(synaptic_traffic(counts, model.weight_reads, samples_per_call),
                      access_costs_pj(model, weights=counts.params))


def neuron_memory_pj(model: Any, counts: Any) -> float:
    """Memory energy (pJ, raw total) of one neuron layer under ``model``."""
    return traffic_pj(neuron_traffic(counts), access_costs_pj(model, neurons=counts.neurons))
