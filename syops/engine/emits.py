"""What a spiking neuron emits, as data: 0/1 spikes, ternary -1/0/1, bounded integers (spike
counts), graded (scaled) spikes or analog values.

What a neuron emits decides how a layer it feeds is counted under each input convention: a
layer fed a kind that the convention does not price as spikes costs MACs whatever values one
batch happens to hold (``SPIKE_KINDS``). Rows name classes as ``"module.path:Name"`` and are
looked at only once the library is imported (as ``syops.engine.snn.LIBRARIES``). An
instance attribute can change the kind (snnTorch's ``graded_spikes_factor``, Sinabs'
``spike_fn``, a SpikingJelly surrogate that counts several spikes per step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from syops.engine.snn import _resolve, emits_binary, is_neuron

BINARY, TERNARY, INTEGER, GRADED, ANALOG = "binary", "ternary", "integer", "graded", "analog"
KINDS = (BINARY, TERNARY, INTEGER, GRADED, ANALOG)

# Under each input convention, the kinds a layer input may hold and still cost ACs.
SPIKE_KINDS = {
    "binary": (BINARY,),
    "ternary": (BINARY, TERNARY),              # NeuroBench: |x| in {0, 1} costs ACs
    "events": (BINARY, TERNARY, INTEGER, GRADED),  # |k| ACs; one scaled level: one AC
}


@dataclass(frozen=True)
class Emits:
    """A neuron class (and its subclasses) and what it emits; ``when`` reads an instance
    and returns the kind it emits instead (None: the row's ``kind``)."""

    cls: str
    kind: str
    when: Callable[[nn.Module], str | None] | None = None


def _graded(module: nn.Module) -> str | None:
    factor = getattr(module, "graded_spikes_factor", 1.0)
    try:
        return None if float(factor) == 1.0 else GRADED
    except (TypeError, ValueError, RuntimeError):   # a learnable per-neuron factor
        return GRADED


def _sinabs_spike_fn(module: nn.Module) -> str | None:
    name = getattr(getattr(module, "spike_fn", None), "__name__", "")
    return BINARY if name == "SingleSpike" else None


def _multi_level_surrogate(module: nn.Module) -> str | None:
    name = type(getattr(module, "surrogate_function", None)).__name__
    return INTEGER if name == "MultiLevelSpikeCount" else None


SJ = "spikingjelly.activation_based.neuron"
EMITS: tuple[Emits, ...] = (
    Emits(f"{SJ}:ILIFNode", INTEGER),            # integer spike counts (0..D per step)
    Emits(f"{SJ}:TernaryIFNode", TERNARY),
    Emits(f"{SJ}:TernaryLIFNode", TERNARY),
    Emits(f"{SJ}:LIAFNode", ANALOG),             # analog output (activation of the potential)
    Emits(f"{SJ}:BaseNode", BINARY, _multi_level_surrogate),
    Emits("snntorch:SpikingNeuron", BINARY, _graded),
    Emits("sinabs.layers:StatefulLayer", INTEGER, _sinabs_spike_fn),   # MultiSpike default
)


def emits(module: nn.Module) -> str | None:
    """What ``module`` emits (one of ``KINDS``), None when it is not a neuron."""
    if not is_neuron(module):
        return None
    for row in EMITS:
        cls = _resolve(row.cls)
        if cls is not None and isinstance(module, cls):
            return (row.when(module) if row.when is not None else None) or row.kind
    return BINARY if emits_binary(module) else INTEGER


def priced_as_spikes(kind: str | None, spikes: str) -> bool:
    """Whether a layer input of neuron kind ``kind`` may cost ACs under convention
    ``spikes`` (its values still decide, call by call)."""
    return kind is None or kind in SPIKE_KINDS[spikes]

