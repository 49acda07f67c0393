"""NIR node types as torch modules, one table row per type.

Synapses become plain ``nn.Linear`` / ``nn.Conv1d`` / ``nn.Conv2d`` (counted by syops's
rules); spiking nodes become neurons to syops (``neurons.py``); the rest cost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn

from syops.engine.snn import register_neuron

from .neurons import IF, LIF, CubaLI, CubaLIF, Delay, Integrator, Leaky, Scale, Threshold
from .params import Params, array, buffer, ints


def _linear(node: str, params: Params, dt: float, bias: bool = True) -> nn.Linear:
    weight = array(params, "weight", node)
    if weight.ndim != 2:
        raise ValueError(f"NIR node {node!r}: weight must be 2-D [out, in], got shape "
                         f"{list(weight.shape)}")
    module = nn.Linear(weight.shape[1], weight.shape[0], bias=bias)
    with torch.no_grad():
        module.weight.copy_(buffer(weight))
        if bias:
            module.bias.copy_(_vector(params, "bias", node, weight.shape[0]))
    return module


def _vector(params: Params, key: str, node: str, size: int) -> Tensor:
    value = array(params, key, node)
    if value.size not in (1, size):
        raise ValueError(f"NIR node {node!r}: {key} has {value.size} values for {size} outputs")
    return buffer(np.broadcast_to(value.reshape(-1), (size,)))


def _conv(node: str, params: Params, dt: float, dims: int) -> nn.Module:
    weight = array(params, "weight", node)
    if weight.ndim != dims + 2:
        raise ValueError(f"NIR node {node!r}: weight must be {dims + 2}-D, got shape "
                         f"{list(weight.shape)}")
    groups = ints(params, "groups", node, 1, default=1)[0] or 1
    padding = _padding(params, node, dims)
    layer = (nn.Conv1d, nn.Conv2d)[dims - 1]
    module = layer(weight.shape[1] * groups, weight.shape[0], weight.shape[2:],
                   stride=ints(params, "stride", node, dims, default=1),
                   padding=padding, dilation=ints(params, "dilation", node, dims, default=1),
                   groups=groups, bias=True)
    with torch.no_grad():
        module.weight.copy_(buffer(weight))
        module.bias.copy_(_vector(params, "bias", node, weight.shape[0]) if "bias" in params
                          else torch.zeros(weight.shape[0]))
    return module


def _padding(params: Params, node: str, dims: int):
    value = params.get("padding", 0)
    if isinstance(value, (bytes, np.bytes_)):
        value = value.decode()
    if isinstance(value, str):
        if value not in ("same", "valid"):
            raise ValueError(f"NIR node {node!r}: padding {value!r} is not 'same' or 'valid'")
        return value
    return ints(params, "padding", node, dims, default=0)


def _pool(node: str, params: Params, dt: float, summed: bool) -> nn.AvgPool2d:
    kernel = ints(params, "kernel_size", node, 2)
    if min(kernel) < 1:
        raise ValueError(f"NIR node {node!r}: kernel_size must be positive, got {kernel}")
    return nn.AvgPool2d(kernel, stride=ints(params, "stride", node, 2, default=None)
                        if "stride" in params else kernel,
                        padding=ints(params, "padding", node, 2, default=0),
                        divisor_override=1 if summed else None)


def _flatten(node: str, params: Params, dt: float) -> nn.Flatten:
    """NIR's dims leave out the batch; the module sees ``[B, ...]``."""
    start = int(params.get("start_dim", 0))
    end = int(params.get("end_dim", -1))
    return nn.Flatten(start + 1 if start >= 0 else start, end + 1 if end >= 0 else end)


@dataclass(frozen=True)
class NodeType:
    build: Callable[[str, Params, float], nn.Module]
    stateful: bool = False   # holds state between time steps (may close a cycle)
    spiking: bool = False    # emits 0/1 spikes (a neuron to syops)
    rule: str = "none"       # what syops counts (docs/libraries.md)


NODE_TYPES: dict[str, NodeType] = {
    "Input": NodeType(lambda *_: nn.Identity(), rule="the model input"),
    "Output": NodeType(lambda *_: nn.Identity(), rule="the model output"),
    "Affine": NodeType(_linear, rule="nn.Linear: AC/MAC"),
    "Linear": NodeType(lambda n, p, dt: _linear(n, p, dt, bias=False), rule="nn.Linear: AC/MAC"),
    "Conv1d": NodeType(lambda n, p, dt: _conv(n, p, dt, 1), rule="nn.Conv1d: AC/MAC"),
    "Conv2d": NodeType(lambda n, p, dt: _conv(n, p, dt, 2), rule="nn.Conv2d: AC/MAC"),
    "LIF": NodeType(LIF, stateful=True, spiking=True, rule="neuron"),
    "CubaLIF": NodeType(CubaLIF, stateful=True, spiking=True, rule="neuron"),
    "IF": NodeType(IF, stateful=True, spiking=True, rule="neuron"),
    "Threshold": NodeType(Threshold, spiking=True, rule="neuron (no state)"),
    "LI": NodeType(Leaky, stateful=True, rule="leaky integrator: free"),
    "CubaLI": NodeType(CubaLI, stateful=True, rule="leaky integrator: free"),
    "I": NodeType(Integrator, stateful=True, rule="integrator: free"),
    "Scale": NodeType(Scale, rule="element-wise gain: free"),
    "Flatten": NodeType(_flatten, rule="reshape: free"),
    "SumPool2d": NodeType(lambda n, p, dt: _pool(n, p, dt, True), rule="pooling: free"),
    "AvgPool2d": NodeType(lambda n, p, dt: _pool(n, p, dt, False), rule="pooling: free"),
    "Delay": NodeType(Delay, stateful=True, rule="delay: free"),
}

for _type in (LIF, CubaLIF, IF, Threshold):
    register_neuron(_type)


def node_type(kind: str, node: str) -> NodeType:
    """The table row of a NIR type name; one clear error for a type syops cannot run."""
    if kind not in NODE_TYPES:
        raise ValueError(f"NIR node {node!r} has type {kind!r}, which syops cannot run "
                         f"(it runs {', '.join(sorted(NODE_TYPES))})")
    return NODE_TYPES[kind]
