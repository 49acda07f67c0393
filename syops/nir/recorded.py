"""Counting a NIR graph from activity recorded elsewhere (a simulator, a chip).

Every recorded node's module is swapped for a player that returns, at each time step, what
was recorded there; the graph's synapses then run under syops's counter on those spikes,
so each edge's operations come from the recorded spikes of its source node, and the report
is the same as running the graph on the same input when the recording came from that run.
Nodes left unrecorded run as usual (their neurons at ``dt``).
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from syops.engine.snn import register_neuron
from syops.report import Report

from .build import DEFAULT_DT, NIRModule, build
from .neurons import Stateful
from .nodes import NODE_TYPES
from .read import graph_dict, read_file


class Player(nn.Module):
    """Returns the recorded ``[T, B, ...]`` one step per call (the first B' samples when
    called on fewer, as syops's one-sample type probe does)."""

    def __init__(self, tape: Tensor):
        super().__init__()
        self.tape, self.step = tape, 0

    def rewind(self) -> None:
        self.step = 0

    def forward(self, x: Tensor) -> Tensor:
        if self.step >= self.tape.shape[0]:
            raise ValueError(f"the recording has {self.tape.shape[0]} time steps; the input "
                             "has more")
        out = self.tape[self.step, :x.shape[0]]
        self.step += 1
        return out.to(device=x.device, dtype=x.dtype)


@register_neuron
class RecordedSpikes(Player):
    """A recorded spiking node: a neuron to syops (updates, firing rate)."""


@functools.lru_cache(maxsize=None)
def player_type(kind: str) -> type:
    """A player named after the NIR type it stands for (the report's type column is the
    same as a run's); spiking types are neurons to syops."""
    return type(kind, (RecordedSpikes if NODE_TYPES[kind].spiking else Player,), {})


def activity_tensors(activity: Any, dt: float) -> dict[str, Tensor]:
    """Recorded activity as ``{node: [N, T, ...]}``: a dict of tensors or arrays, or NIR's
    ``NIRGraphData`` (its ``spikes`` observable, or the only one; event data on the grid
    of ``dt``); nested graphs' nodes as ``outer.inner``."""
    if hasattr(activity, "nodes"):
        return _from_nir_data(activity, dt)
    if not isinstance(activity, Mapping):
        raise ValueError(f"recorded activity must be a dict of node name -> [N, T, ...] "
                         f"tensor or NIR's NIRGraphData; got {type(activity).__name__}")
    return {str(k): torch.as_tensor(np.asarray(v) if not isinstance(v, Tensor) else v)
            for k, v in activity.items()}


def _from_nir_data(data: Any, dt: float, prefix: str = "") -> dict[str, Tensor]:
    out: dict[str, Tensor] = {}
    for name, node in data.nodes.items():
        if hasattr(node, "nodes"):
            out.update(_from_nir_data(node, dt, f"{prefix}{name}."))
            continue
        observables = node.observables
        key = "spikes" if "spikes" in observables else next(iter(observables), None)
        if key is None:
            continue
        grid = observables[key]
        if not hasattr(grid, "data"):
            grid = grid.to_time_gridded(dt)
        out[prefix + name] = torch.as_tensor(np.asarray(grid.data, dtype=np.float32))
    return out


def player_graph(graph: Any, activity: Mapping[str, Tensor], dt: float) -> tuple[NIRModule,
                                                                                   Tensor]:
    """The graph's module with every recorded node playing back, and the model input
    (the Input node's recording, ``[T, N, ...]``)."""
    model = graph if isinstance(graph, NIRModule) else build(
        read_file(graph) if isinstance(graph, (str, Path)) else graph_dict(graph), dt)
    model = copy.deepcopy(model)
    source = model.plan.input
    if source not in activity:
        raise ValueError(f"the recorded activity has no entry for the Input node {source!r} "
                         "(the spikes fed to the graph); syops needs it for the first synapses")
    unknown = sorted(set(activity) - set(model.keys))
    if unknown:
        raise ValueError(f"recorded activity for {unknown[0]!r}: the graph has no such node")
    first = activity[source]
    for name, tape in activity.items():
        expected = (*first.shape[:2], *model.shapes[name])
        if tuple(tape.shape[:2]) != expected[:2] or tape.numel() != np.prod(expected):
            raise ValueError(f"recorded activity of {name!r} has shape {list(tape.shape)}; "
                             f"expected [N, T, {', '.join(map(str, model.shapes[name]))}]")
        if name != source:
            tape = tape.reshape(expected).transpose(0, 1).float()
            setattr(model, model.keys[name], player_type(model.kinds[name])(tape))
    if not any(isinstance(m, Stateful) for m in model.modules()):
        model.syops_notes = ("counted from recorded activity: every stateful node played "
                             "back, none simulated",)
    x = first.reshape(*first.shape[:2], *model.shapes[source]).transpose(0, 1).float()
    return model, x


def count_recorded(graph: Any, activity: Any, *, dt: float = DEFAULT_DT,
                   **options: Any) -> Report:
    """syops's report of ``graph`` (a NIR file, ``nir.NIRGraph`` or ``syops.nir.load``'s
    module) from recorded activity, without running its neurons: ``activity`` maps node
    names to ``[N, T, ...]`` (samples, time steps, the node's output shape), as a dict or
    NIR's ``NIRGraphData``; it must hold the Input node. ``options`` go to ``count_syops``
    (mode, energy, ...)."""
    from syops.profile import count_syops
    model, x = player_graph(graph, activity_tensors(activity, dt), dt)
    return count_syops(model, x, batch_dim=1, **options)
