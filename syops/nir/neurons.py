"""NIR's neurons and other nodes with per-step behaviour, one time step per call on
``[B, ...]``.

The continuous-time equations of NIR are stepped by forward Euler with the time step ``dt``
(NIR files carry none), the input current held over the step:

    v <- (1 - dt/tau) v + (dt/tau) v_leak + (dt/tau) r I        (LIF, LI, CubaLIF, CubaLI)
    v <- v + dt r I                                              (IF, I)
    I_syn <- (1 - dt/tau_syn) I_syn + (dt/tau_syn) w_in S       (CubaLIF, CubaLI: before v)

A neuron spikes where v > v_threshold and then v = v_reset (0 when the file has none, as
the ``nir`` package reads files written before v_reset existed).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from .params import Params, array, buffer, same_shapes


class Stateful(nn.Module):
    """A node whose output depends on earlier time steps; ``reset`` forgets them."""

    def reset(self) -> None:
        self.v = None

    def state(self, x: Tensor) -> Tensor:
        return torch.zeros_like(x) if self.v is None else self.v

    def spike_at(self, params: Params, node: str, threshold: np.ndarray) -> None:
        """Keep the threshold and the reset voltage of a node that spikes (``fire``)."""
        self.register_buffer("threshold", buffer(threshold))
        self.register_buffer("v_reset", buffer(_reset(params, node, threshold)))


class Leaky(Stateful):
    """LI: a leaky integrator (its output is the membrane voltage)."""

    def __init__(self, node: str, params: Params, dt: float, threshold: bool = False):
        super().__init__()
        keys = ("tau", "r", "v_leak") + (("v_threshold",) if threshold else ())
        p = {k: array(params, k, node) for k in keys}
        same_shapes(node, p)
        if np.any(p["tau"] <= 0):
            raise ValueError(f"NIR node {node!r}: tau must be positive")
        k = dt / p["tau"]
        self.register_buffer("decay", buffer(1 - k))
        self.register_buffer("leak", buffer(k * p["v_leak"]))
        self.register_buffer("gain", buffer(k * p["r"]))
        if threshold:
            self.spike_at(params, node, p["v_threshold"])
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
    same_shapes(node, {"v_threshold": threshold, "v_reset": value})
    return value


class Integrator(Stateful):
    """I: a perfect integrator (its output is the voltage)."""

    def __init__(self, node: str, params: Params, dt: float, threshold: bool = False):
        super().__init__()
        r = array(params, "r", node)
        self.register_buffer("gain", buffer(dt * r))
        if threshold:
            p = {"r": r, "v_threshold": array(params, "v_threshold", node)}
            same_shapes(node, p)
            self.spike_at(params, node, p["v_threshold"])
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
        same_shapes(node, p)
        if np.any(p["tau_syn"] <= 0) or np.any(p["tau_mem"] <= 0):
            raise ValueError(f"NIR node {node!r}: tau_syn and tau_mem must be positive")
        w_in = array(params, "w_in", node) if "w_in" in params else np.ones(1)
        k_syn, k_mem = dt / p["tau_syn"], dt / p["tau_mem"]
        self.register_buffer("syn_decay", buffer(1 - k_syn))
        self.register_buffer("syn_gain", buffer(k_syn * w_in))
        self.register_buffer("decay", buffer(1 - k_mem))
        self.register_buffer("leak", buffer(k_mem * p["v_leak"]))
        self.register_buffer("gain", buffer(k_mem * p["r"]))
        if threshold:
            self.spike_at(params, node, p["v_threshold"])
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
        self.register_buffer("threshold", buffer(array(params, "threshold", node)))

    def forward(self, x: Tensor) -> Tensor:
        return (x > self.threshold).to(x.dtype)


class Scale(nn.Module):
    """Scale: an element-wise gain (a buffer: not a synapse, costs nothing)."""

    def __init__(self, node: str, params: Params, dt: float):
        super().__init__()
        self.register_buffer("scale", buffer(array(params, "scale", node)))

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
        self.v = kept = torch.cat([x.unsqueeze(0), history[:-1]])   # [age, B, ...]
        ages = self.steps.expand(x.shape).unsqueeze(0)
        return kept.gather(0, ages).squeeze(0)
