"""A NIR graph as a torch module that syops counts like any other model.

``NIRModule`` takes ``[T, B, ...]`` (time first, like SpikingJelly's multi-step models) and
runs the graph one time step at a time, nodes in ``Plan.order``: each node gets the sum of
its sources' outputs of this step (of the previous step across an edge that closes a
cycle; nothing before the first step). Every node is a child module named after it, so the
report's layers carry the NIR node names (``outer:inner`` for nested graphs).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn

from .graph import Plan, kind, plan
from .neurons import Stateful
from .nodes import NODE_TYPES, node_type
from .params import check_dt
from .read import MAX_ELEMENTS

DEFAULT_DT = 1e-4
"""Seconds per time step when none is given: the step snnTorch's NIR export assumes."""


def module_name(node: str) -> str:
    return node.replace(".", ":")


class NIRModule(nn.Module):
    """A NIR graph, run over ``[T, B, ...]``; returns the Output node's ``[T, B, ...]`` (a
    tuple for several Output nodes). ``syops_notes`` names the time step in reports."""

    def __init__(self, graph_plan: Plan, dt: float):
        super().__init__()
        self.plan, self.dt = graph_plan, check_dt(dt)
        self.kinds = {n: kind(graph_plan.nodes[n]) for n in graph_plan.order}
        self.keys = {n: module_name(n) for n in graph_plan.order}
        for name in graph_plan.order:
            if hasattr(nn.Module, self.keys[name]) or self.keys[name] in vars(self):
                self.keys[name] = f"node_{self.keys[name]}"
            module = node_type(self.kinds[name], name).build(
                name, graph_plan.nodes[name], self.dt)
            self.add_module(self.keys[name], module)
        self.syops_notes = (f"NIR graph run with dt = {self.dt:g} s per time step (NIR files "
                            "carry no time step; set it with --dt / dt=)",)
        self.recording: dict[str, list[Tensor]] | None = None
        self.shapes: dict[str, tuple[int, ...]] = {}   # each node's output per sample

    def node(self, name: str) -> nn.Module:
        return getattr(self, self.keys[name])

    def reset(self) -> None:
        for module in self.modules():
            if isinstance(module, Stateful) or hasattr(module, "rewind"):
                (module.reset if isinstance(module, Stateful) else module.rewind)()

    def forward(self, x: Tensor):
        if x.dim() < 2 + len(self.plan.input_shape):
            raise ValueError(f"a NIR graph takes [T, B, {', '.join(map(str, self.plan.input_shape))}]"
                             f" (time first); got shape {list(x.shape)}")
        self.reset()
        outputs: dict[str, list[Tensor]] = {n: [] for n in self.plan.outputs}
        previous: dict[str, Tensor] = {}
        for t in range(x.shape[0]):
            values = self.step(x[t], previous)
            previous = values
            for name in self.plan.outputs:
                outputs[name].append(values[name])
        stacked = tuple(torch.stack(outputs[n]) for n in self.plan.outputs)
        return stacked[0] if len(stacked) == 1 else stacked

    def step(self, x: Tensor, previous: dict[str, Tensor]) -> dict[str, Tensor]:
        """Every node's output at one time step, given the last step's outputs."""
        values: dict[str, Tensor] = {}
        for name in self.plan.order:
            if name == self.plan.input:
                total = x
            else:
                inputs = [(previous if late else values).get(source)
                          for source, late in self.plan.sources[name]]
                inputs = [v for v in inputs if v is not None]
                if not inputs:   # fed only across a cycle, before its first step
                    continue
                total = inputs[0] if len(inputs) == 1 else torch.stack(inputs).sum(0)
            try:
                values[name] = self.node(name)(total)
            except RuntimeError as exc:
                raise RuntimeError(f"NIR node {name!r} ({self.kinds[name]}) on input "
                                   f"{list(total.shape)}: {exc}") from exc
            if self.recording is not None:
                self.recording.setdefault(name, []).append(values[name])
        return values

    def record(self, x: Tensor) -> dict[str, Tensor]:
        """Run on ``[T, B, ...]`` and return every node's outputs as ``[B, T, ...]`` (the
        layout of NIR's recorded data); for ``count_recorded``."""
        self.recording = {}
        try:
            with torch.no_grad():
                self(x)
            return {n: torch.stack(v, 1) for n, v in self.recording.items()}
        finally:
            self.recording = None


def build(graph: dict, dt: float = DEFAULT_DT) -> NIRModule:
    """The module of a checked graph (plain dicts). A dry run of one sample on the meta
    device (shapes only, nothing allocated) catches shapes that do not fit, naming the
    node, and activations above ``MAX_ELEMENTS`` per sample and step."""
    module = NIRModule(plan(graph), dt)
    shape = module.plan.input_shape
    if math.prod(shape) > MAX_ELEMENTS:
        raise ValueError(f"NIR Input node {module.plan.input!r} declares shape {list(shape)}, "
                         f"more than {MAX_ELEMENTS} elements per time step")
    dry = copy.deepcopy(module).to("meta")
    dry.recording = {}
    try:
        dry(torch.zeros(1, 1, *shape, device="meta"))
    except RuntimeError as exc:
        raise ValueError(f"the NIR graph does not run on its declared input {list(shape)}: "
                         f"{str(exc).splitlines()[0]}") from None
    for name, values in dry.recording.items():
        if values[0].numel() > MAX_ELEMENTS:
            raise ValueError(f"NIR node {name!r} outputs {list(values[0].shape[1:])} per "
                             f"sample, more than {MAX_ELEMENTS} elements")
    module.shapes = {name: tuple(values[0].shape[1:]) for name, values in dry.recording.items()}
    return module


__all__ = ["DEFAULT_DT", "NIRModule", "build", "NODE_TYPES"]
