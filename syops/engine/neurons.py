"""Neuron accounting: updates, spikes and events of every neuron layer's calls.

A neuron's firing rate is the fraction of its updates that emit a non-zero value (so it stays
in [0, 1] for any neuron kind); its events per update is the summed magnitude of what it
emitted per update, which exceeds 1 for neurons that emit several spikes per step (Sinabs'
MultiSpike, SpikingJelly's ILIFNode) or graded spikes.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from syops.engine.snn import time_steps
from syops.engine.spikes import _summed
from syops.engine.tallies import NeuronTally, Pending


def neuron_call(tally: NeuronTally, module: nn.Module, x: Tensor, y: Tensor, samples: int,
                pending: list[Pending]) -> int:
    """Account one call of a neuron layer (input ``x``, emitted ``y``) over ``samples``
    samples; queue its spike and event sums. Returns the updates it made."""
    steps = time_steps(module, x)
    tally.calls += 1
    tally.updates += x.numel()
    tally.neurons = x.numel() // max(steps * max(samples, 1), 1)
    if y.numel():
        pending.append(Pending(lambda row: _record(tally, row), emitted(y)))
    return x.numel()


def emitted(y: Tensor) -> Tensor:
    """[non-zero values, summed magnitudes] of a neuron's output, on its device."""
    if y.dtype == torch.bool:
        y = y.view(torch.uint8)
    magnitude = y if y.dtype == torch.uint8 else y.abs()
    # float32 in slices (spikes.py): exact for 0/1 spikes; events per update is a figure shown
    # beside the firing rate, where float32's rounding of large multi-spike sums is harmless
    return torch.stack((_summed(y != 0, 0, torch.float32),
                        _summed(magnitude, 0, torch.float32)))


def _record(tally: NeuronTally, row: list[float]) -> None:
    tally.spikes += int(row[0])
    tally.events += row[1]
