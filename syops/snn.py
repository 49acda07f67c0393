"""What syops needs to know about spiking-network libraries: neurons and state.

SpikingJelly is optional here; without it no module is a neuron or stateful unless a user
registers its own types with ``register_neuron``.
"""

from __future__ import annotations

import copy

from torch import Tensor, nn

try:  # SpikingJelly's core works on CPU; its model zoo and datasets are never imported.
    from spikingjelly.activation_based.base import MemoryModule
    from spikingjelly.activation_based.neuron import BaseNode
except ImportError:  # pragma: no cover - exercised only without SpikingJelly
    MemoryModule = BaseNode = None

_NEURON_TYPES: list[type] = [BaseNode] if BaseNode is not None else []


def register_neuron(module_type: type) -> type:
    """Declare a module type a spiking neuron: it emits binary spikes and costs no SyOPs."""
    if module_type not in _NEURON_TYPES:
        _NEURON_TYPES.append(module_type)
    return module_type


def is_neuron(module: nn.Module) -> bool:
    return isinstance(module, tuple(_NEURON_TYPES))


def _stateful(model: nn.Module) -> list[nn.Module]:
    if MemoryModule is None:
        return []
    return [m for m in model.modules() if isinstance(m, MemoryModule)]


def reset_states(model: nn.Module) -> None:
    """Reset every SpikingJelly memory (membrane potentials...), as ``functional.reset_net``
    does, but without caching anything on the model."""
    for module in _stateful(model):
        module.reset()


def save_states(model: nn.Module) -> dict[nn.Module, dict]:
    """A copy of every SpikingJelly memory, to put back with ``restore_states``."""
    return {m: {k: v.clone() if isinstance(v, Tensor) else copy.deepcopy(v)
                for k, v in m._memories.items()}
            for m in _stateful(model)}


def restore_states(saved: dict[nn.Module, dict]) -> None:
    for module, memories in saved.items():
        module._memories.clear()
        module._memories.update(memories)
