"""Neuron accounting: updates, spikes and events of every neuron layer's calls.

A neuron's firing rate is the fraction of its updates that emit a non-zero value (so it stays
in [0, 1] for any neuron kind); its events per update is the summed magnitude of what it
emitted per update, which exceeds 1 for neurons that emit several spikes per step (Sinabs'
MultiSpike, SpikingJelly's ILIFNode) or graded spikes.
"""

from __future__ import annotations

from typing import Callable

from torch import Tensor, nn

from syops.engine.snn import time_steps
from syops.engine.tallies import NeuronTally, Pending

SPIKES_EVENTS = [1, 6]   # non-zero count and summed magnitudes in spikes.flat_statistics


def neuron_call(tally: NeuronTally, module: nn.Module, x: Tensor, y: Tensor, samples: int,
                pending: list[Pending], statistics: Callable[[Tensor], Tensor]) -> int:
    """Account one call of a neuron layer (input ``x``, emitted ``y``) over ``samples``
    samples; queue its spike and event sums (from ``statistics(y)``, the flat statistics the
    layers it feeds share). Returns the updates it made."""
    steps = time_steps(module, x)
    tally.calls += 1
    tally.updates += x.numel()
    tally.neurons = x.numel() // max(steps * max(samples, 1), 1)
    if y.numel():
        pending.append(Pending(lambda row: _record(tally, row), statistics(y)[SPIKES_EVENTS]))
    return x.numel()


def _record(tally: NeuronTally, row: list[float]) -> None:
    tally.spikes += int(row[0])
    tally.events += row[1]
