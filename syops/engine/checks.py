"""Checks on a model before it is counted: weights that would make spikes meaningless, and
the parameterised modules that no rule counts."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.parameter import is_lazy

from syops.engine.rules import is_parametrization
from syops.engine.snn import is_neuron


def parameter_types(model: nn.Module, skip: set[nn.Module]) -> dict[nn.Module, str]:
    """Modules that own parameters but that no rule counts (neurons, and parametrization
    containers, whose layer is counted or listed as itself, excepted)."""
    return {m: type(m).__name__ for m in model.modules()
            if m not in skip and not is_neuron(m) and not is_parametrization(m)
            and any(True for _ in m.parameters(recurse=False))}


def not_counted_types(model: nn.Module, counted: set[nn.Module]) -> tuple[str, ...]:
    """Types of modules that own parameters but that no rule counts (neurons excepted)."""
    return tuple(sorted(set(parameter_types(model, counted).values())))


def check_finite(model: nn.Module) -> None:
    """Refuse NaN or infinite weights (one synchronisation: NaN and inf survive a float64
    sum; only then is the culprit looked for)."""
    tensors = [(n, t) for n, t in model.state_dict().items()
               if t.is_floating_point() and not _uninitialized(t)]
    if not tensors:
        return
    device = tensors[0][1].device
    total = torch.stack([t.sum(dtype=torch.float32).to(device) for _, t in tensors]).sum()
    if math.isfinite(float(total)):  # an overflow only costs the per-tensor look below
        return
    for name, tensor in tensors:
        if not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"the model's {name} holds NaN or infinite values; its outputs "
                             "(and so the spike counts) would be meaningless: fix the weights")


def _uninitialized(t: torch.Tensor) -> bool:
    """A lazy module's parameter before its first forward (it has no values yet)."""
    return is_lazy(t)
