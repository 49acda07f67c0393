"""NIR node types as torch modules, one table row per type.

Synapses become plain ``nn.Linear`` / ``nn.Conv1d`` / ``nn.Conv2d`` (counted by syops's
rules); neurons become the small modules below, run one time step per call on ``[B, ...]``.
The continuous-time equations of NIR are stepped by forward Euler with the time step ``dt``
(NIR files carry none), the input current held over the step:

    v <- (1 - dt/tau) v + (dt/tau) v_leak + (dt/tau) r I        (LIF, LI, CubaLIF, CubaLI)
    v <- v + dt r I                                              (IF, I)
    I_syn <- (1 - dt/tau_syn) I_syn + (dt/tau_syn) w_in S       (CubaLIF, CubaLI: before v)

A neuron spikes where v > v_threshold and then v = v_reset (0 when the file has none, as
the ``nir`` package reads files written before v_reset existed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from syops.engine.snn import register_neuron

Params = Mapping[str, object]


def array(params: Params, key: str, node: str) -> np.ndarray:
    """The parameter ``key`` of ``node`` as a float64 array."""
    if key not in params:
        raise ValueError(f"NIR node {node!r} has no {key!r}")
    value = np.asarray(params[key], dtype=np.float64)
    if not np.all(np.isfinite(value)):
        raise ValueError(f"NIR node {node!r}: {key} holds NaN or infinity")
    return value


def ints(params: Params, key: str, node: str, size: int, default=None) -> tuple[int, ...]:
    """An int parameter (scalar or one per spatial dim) as a tuple of ``size`` ints."""
    if key not in params and default is not None:
        return (default,) * size
    value = np.atleast_1d(array(params, key, node)).astype(np.int64).tolist()
    if len(value) == 1:
        value = value * size
    if len(value) != size or not all(0 <= v <= MAX_INT for v in value):
        raise ValueError(f"NIR node {node!r}: {key} must be {size} integers in "
                         f"[0, {MAX_INT}], got {value}")
    return tuple(value)


MAX_INT = 1 << 16
"""Largest kernel size, stride, padding, dilation or group count accepted."""


def _buffer(values: np.ndarray) -> Tensor:
    return torch.from_numpy(np.array(values, dtype=np.float32))


def _same_shapes(node: str, arrays: Mapping[str, np.ndarray]) -> None:
    shapes = {k: v.shape for k, v in arrays.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"NIR node {node!r}: parameters of different shapes {shapes}; "
                         "they must all have the neuron layer's shape")


class Stateful(nn.Module):
    """A node whose output depends on earlier time steps; ``reset`` forgets them."""

    def reset(self) -> None:
        self.v = None

    def state(self, x: Tensor) -> Tensor:
        return torch.zeros_like(x) if self.v is None else self.v


class Leaky(Stateful):
    """LI: a leaky integrator (its output is the membrane voltage)."""

    def __init__(self, node: str, params: Params, dt: float, threshold: bool = False):
        super().__init__()
        keys = ("tau", "r", "v_leak") + (("v_threshold",) if threshold else ())
        p = {k: array(params, k, node) for k in keys}
        _same_shapes(node, p)
        if np.any(p["tau"] <= 0):
            raise ValueError(f"NIR node {node!r}: tau must be positive")
        k = dt / p["tau"]
        self.register_buffer("decay", _buffer(1 - k))
        self.register_buffer("leak", _buffer(k * p["v_leak"]))
        self.register_buffer("gain", _buffer(k * p["r"]))
        if threshold:
            self.register_buffer("threshold", _buffer(p["v_threshold"]))
            self.register_buffer("v_reset", _buffer(_reset(params, node, p["v_threshold"])))
        self.reset()

    def integrate(self, x: Tensor) -> Tensor:
        self.v = self.decay * self.state(x) + self.leak + self.gain * x
        return self.v

    def forward(self, x: Tensor) -> Tensor:
        return self.integrate(x)


class LIF(Leaky):
    def __init__(self, node: str, params: Params, dt: float):
        super().__init__(node, params, dt, threshold=True)

    def forward(self, x: Tensor) -> Tensor:
        return fire(self, self.integrate(x))


def fire(neuron: nn.Module, v: Tensor) -> Tensor:
    """Spikes where ``v`` exceeds the threshold; the membrane there goes to v_reset."""
    spikes = v > neuron.threshold
    neuron.v = torch.where(spikes, neuron.v_reset, v)
    return spikes.to(v.dtype)


def _reset(params: Params, node: str, threshold: np.ndarray) -> np.ndarray:
    if "v_reset" not in params:
        return np.zeros_like(threshold)
    value = array(params, "v_reset", node)
    _same_shapes(node, {"v_threshold": threshold, "v_reset": value})
    return value


class Integrator(Stateful):
    """I: a perfect integrator (its output is the voltage)."""

    def __init__(self, node: str, params: Params, dt: float, threshold: bool = False):
        super().__init__()
        r = array(params, "r", node)
        self.register_buffer("gain", _buffer(dt * r))
        if threshold:
            p = {"r": r, "v_threshold": array(params, "v_threshold", node)}
            _same_shapes(node, p)
            self.register_buffer("threshold", _buffer(p["v_threshold"]))
            self.register_buffer("v_reset", _buffer(_reset(params, node, p["v_threshold"])))
        self.reset()

    def integrate(self, x: Tensor) -> Tensor:
        self.v = self.state(x) + self.gain * x
        return self.v

    def forward(self, x: Tensor) -> Tensor:
        return self.integrate(x)


class IF(Integrator):
    def __init__(self, node: str, params: Params, dt: float):
        super().__init__(node, params, dt, threshold=True)

    def forward(self, x: Tensor) -> Tensor:
        return fire(self, self.integrate(x))


class CubaLI(Stateful):
    """CubaLI: a synaptic current feeding a leaky integrator (output: the voltage)."""

    def __init__(self, node: str, params: Params, dt: float, threshold: bool = False):
        super().__init__()
        keys = ("tau_syn", "tau_mem", "r", "v_leak") + (("v_threshold",) if threshold else ())
        p = {k: array(params, k, node) for k in keys}
        _same_shapes(node, p)
        if np.any(p["tau_syn"] <= 0) or np.any(p["tau_mem"] <= 0):
            raise ValueError(f"NIR node {node!r}: tau_syn and tau_mem must be positive")
        w_in = array(params, "w_in", node) if "w_in" in params else np.ones(1)
        k_syn, k_mem = dt / p["tau_syn"], dt / p["tau_mem"]
        self.register_buffer("syn_decay", _buffer(1 - k_syn))
        self.register_buffer("syn_gain", _buffer(k_syn * w_in))
        self.register_buffer("decay", _buffer(1 - k_mem))
        self.register_buffer("leak", _buffer(k_mem * p["v_leak"]))
        self.register_buffer("gain", _buffer(k_mem * p["r"]))
        if threshold:
            self.register_buffer("threshold", _buffer(p["v_threshold"]))
            self.register_buffer("v_reset", _buffer(_reset(params, node, p["v_threshold"])))
        self.reset()

    def reset(self) -> None:
        self.v = self.current = None

    def integrate(self, x: Tensor) -> Tensor:
        current = torch.zeros_like(x) if self.current is None else self.current
        self.current = self.syn_decay * current + self.syn_gain * x
        self.v = self.decay * self.state(x) + self.leak + self.gain * self.current
        return self.v

    def forward(self, x: Tensor) -> Tensor:
        return self.integrate(x)


class CubaLIF(CubaLI):
    def __init__(self, node: str, params: Params, dt: float):
        super().__init__(node, params, dt, threshold=True)

    def forward(self, x: Tensor) -> Tensor:
        return fire(self, self.integrate(x))


class Threshold(nn.Module):
    """Threshold: a spike wherever the input exceeds the threshold (no state)."""

    def __init__(self, node: str, params: Params, dt: float):
        super().__init__()
        self.register_buffer("threshold", _buffer(array(params, "threshold", node)))

    def forward(self, x: Tensor) -> Tensor:
        return (x > self.threshold).to(x.dtype)


class Scale(nn.Module):
    """Scale: an element-wise gain (a buffer: not a synapse, costs nothing)."""

    def __init__(self, node: str, params: Params, dt: float):
        super().__init__()
        self.register_buffer("scale", _buffer(array(params, "scale", node)))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale


class Delay(Stateful):
    """Delay: each element's input ``round(delay / dt)`` time steps ago (zeros before)."""

    MAX_STEPS = 4096

    def __init__(self, node: str, params: Params, dt: float):
        super().__init__()
        steps = np.rint(array(params, "delay", node) / dt)
        if np.any(steps < 0) or np.any(steps > self.MAX_STEPS):
            raise ValueError(f"NIR node {node!r}: delays must be 0 to {self.MAX_STEPS} time "
                             f"steps of dt={dt:g}, got {steps.min():g} to {steps.max():g}")
        self.register_buffer("steps", torch.as_tensor(steps, dtype=torch.int64))
        self.depth = int(steps.max(initial=0)) + 1
        self.reset()

    def forward(self, x: Tensor) -> Tensor:
        history = torch.zeros((self.depth, *x.shape), dtype=x.dtype, device=x.device) \
            if self.v is None else self.v
        self.v = torch.cat([x.unsqueeze(0), history[:-1]])   # [age, B, ...]
        ages = self.steps.expand(x.shape).unsqueeze(0)
        return self.v.gather(0, ages).squeeze(0)


def _linear(node: str, params: Params, dt: float, bias: bool = True) -> nn.Linear:
    weight = array(params, "weight", node)
    if weight.ndim != 2:
        raise ValueError(f"NIR node {node!r}: weight must be 2-D [out, in], got shape "
                         f"{list(weight.shape)}")
    module = nn.Linear(weight.shape[1], weight.shape[0], bias=bias)
    with torch.no_grad():
        module.weight.copy_(_buffer(weight))
        if bias:
            module.bias.copy_(_vector(params, "bias", node, weight.shape[0]))
    return module


def _vector(params: Params, key: str, node: str, size: int) -> Tensor:
    value = array(params, key, node)
    if value.size not in (1, size):
        raise ValueError(f"NIR node {node!r}: {key} has {value.size} values for {size} outputs")
    return _buffer(np.broadcast_to(value.reshape(-1), (size,)))


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
        module.weight.copy_(_buffer(weight))
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


def check_dt(dt: float) -> float:
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not math.isfinite(dt) \
            or dt <= 0:
        raise ValueError(f"dt must be a positive number of seconds, got {dt!r}")
    return float(dt)
