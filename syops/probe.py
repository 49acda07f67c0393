"""The type probe: which layer inputs are multi-level by architecture.

With random weights, spiking neurons are often silent, so a SEW "ADD" output or a
time-averaged classifier input can come out all 0/1 and pass for spikes. The probe runs the
model once on a skeleton copy in which every spiking neuron emits random spikes (rate 0.5)
and every counted layer returns random non-binary values of its output shape without doing
its work. A layer whose input is not binary there is multi-level whatever its weights; a
layer whose input is binary there carries spikes when its input is binary on real data.
The probe costs the model's cheap parts (norms, neurons, pooling) on one sample.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils._pytree import tree_map

from .rules import Rule
from .snn import is_neuron, reset_states
from .spikes import is_binary


class _RandomSpikes(nn.Module):
    """Stands in for a spiking neuron: Bernoulli(0.5) spikes shaped like its input."""

    def forward(self, x: Tensor, *args, **kwargs) -> Tensor:
        return torch.empty_like(x).bernoulli_(0.5)


class _Skipped(nn.Module):
    """Stands in for a counted layer: notes whether its input is binary, returns random
    non-binary values of the layer's output shape, and does none of its work."""

    def __init__(self, name: str, rule: Rule, layer: nn.Module, seen: dict[str, bool]):
        super().__init__()
        # Plain attributes (not submodules), so the real layer is neither copied nor called.
        self.__dict__.update(_name=name, _rule=rule, _layer=layer, _seen=seen)

    def forward(self, x: Tensor, *args, **kwargs) -> Tensor:
        self._seen[self._name] = self._seen.get(self._name, True) and is_binary(x)
        dtype = x.dtype if x.is_floating_point() else torch.float32
        shape = self._rule.output_shape(self._layer, x)
        return torch.empty(shape, dtype=dtype, device=x.device).uniform_(0.5, 1.5)


def _clear_hooks(model: nn.Module) -> None:
    """Drop every hook from a copy, so the probe triggers neither ours nor the user's."""
    for module in model.modules():
        for name in ("_forward_hooks", "_forward_pre_hooks", "_forward_hooks_with_kwargs",
                     "_forward_pre_hooks_with_kwargs", "_forward_hooks_always_called",
                     "_backward_hooks", "_backward_pre_hooks"):
            getattr(module, name, {}).clear()


def one_sample(inputs: Any, batch_dim: int) -> Any:
    """The first sample of every tensor in ``inputs`` (sliced along ``batch_dim``)."""
    def first(t):
        if isinstance(t, Tensor) and t.dim() > batch_dim and t.shape[batch_dim] > 1:
            return t.narrow(batch_dim, 0, 1)
        return t
    return tree_map(first, inputs)


@torch.no_grad()
def probe_binary_inputs(model: nn.Module, layers: dict[nn.Module, tuple[str, Rule]],
                        args: tuple, kwargs: dict, seed: int = 0) -> dict[str, bool]:
    """Run the probe; for each counted layer reached, whether all its inputs were binary."""
    seen: dict[str, bool] = {}
    memo: dict[int, Any] = {id(layer): _Skipped(name, rule, layer, seen)
                            for layer, (name, rule) in layers.items()}
    memo.update({id(m): _RandomSpikes() for m in model.modules()
                 if is_neuron(m) and id(m) not in memo})
    skeleton = copy.deepcopy(model, memo)
    _clear_hooks(skeleton)
    skeleton.eval()
    reset_states(skeleton)
    devices = [t.device for t in model.parameters() if t.is_cuda][:1]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        skeleton(*args, **kwargs)
    return seen
