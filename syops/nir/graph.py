"""A NIR graph's nodes and edges checked and put in execution order.

Nested graphs are flattened (``outer.inner`` names). A graph has one Input node and at
least one Output node; every node is reachable from the input. A cycle runs in discrete
time: the edge that closes it (a back edge of a depth-first walk from the input) carries
its source's output of the previous time step, as snnTorch's and Norse's recurrent layers
do. A cycle without any node that keeps state (a neuron, an integrator or a Delay) has no
such reading and is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np

from .nodes import node_type


@dataclass(frozen=True)
class Plan:
    nodes: dict[str, dict[str, Any]]          # name -> {"type": ..., parameters}
    order: tuple[str, ...]                     # every node, each after its same-step sources
    sources: dict[str, tuple[tuple[str, bool], ...]]   # node -> ((source, previous step?), ...)
    input: str
    outputs: tuple[str, ...]
    input_shape: tuple[int, ...]


def kind(node: dict[str, Any]) -> str:
    value = node.get("type")
    return value.decode() if isinstance(value, bytes) else str(value)


def flatten(graph: dict[str, Any], prefix: str = "") -> tuple[dict, list]:
    """The graph's nodes and edges with nested graphs spliced in; edges into a nested graph
    go to its Input nodes, edges out of it leave from its Output nodes."""
    if not isinstance(graph.get("nodes"), dict):
        raise ValueError("not a NIR graph: it has no nodes")
    nodes: dict[str, dict] = {}
    edges: list[tuple[str, str]] = []
    ends: dict[str, tuple[list[str], list[str]]] = {}
    for name, node in graph["nodes"].items():
        if not isinstance(node, dict):
            raise ValueError(f"NIR node {prefix + name!r} is not a node")
        if kind(node) == "NIRGraph":
            inner, inner_edges = flatten(node, f"{prefix}{name}.")
            nodes.update(inner)
            edges += inner_edges
            ends[name] = ([f"{prefix}{name}.{k}" for k, n in node["nodes"].items()
                           if kind(n) == "Input"],
                          [f"{prefix}{name}.{k}" for k, n in node["nodes"].items()
                           if kind(n) == "Output"])
        else:
            nodes[prefix + name] = node
    for a, b in _edges(graph):
        for end in (a, b):
            if end not in graph["nodes"]:
                raise ValueError(f"NIR edge {prefix + a} -> {prefix + b}: there is no node "
                                 f"named {prefix + end!r}")
        sources = ends[a][1] if a in ends else [prefix + a]
        targets = ends[b][0] if b in ends else [prefix + b]
        edges += [(s, t) for s in sources for t in targets]
    return nodes, edges


def _edges(graph: dict[str, Any]) -> list[tuple[str, str]]:
    raw = graph.get("edges", [])
    pairs: Any = np.asarray(raw, dtype=object).reshape(-1, 2) if len(raw) else []
    return [(_name(a), _name(b)) for a, b in pairs]


def _name(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def plan(graph: dict[str, Any]) -> Plan:
    """Check ``graph`` (plain dicts, ``read.read_file``) and order its nodes."""
    nodes, edges = flatten(graph)
    top = graph["nodes"]
    inputs = [n for n in top if kind(top[n]) == "Input"]
    outputs = tuple(n for n in top if kind(top[n]) == "Output")
    if len(inputs) != 1:
        raise ValueError(f"a NIR graph with {len(inputs)} Input nodes: syops feeds a graph "
                         "one input")
    if not outputs:
        raise ValueError("the NIR graph has no Output node")
    for name, node in nodes.items():
        node_type(kind(node), name)
    net = nx.DiGraph()
    net.add_nodes_from(nodes)
    net.add_edges_from(edges)
    (source,) = inputs
    unreachable = [n for n in nodes if n != source and not nx.has_path(net, source, n)]
    if unreachable:
        raise ValueError(f"NIR node {unreachable[0]!r} is not reachable from the input "
                         f"{source!r}")
    _check_cycles(net, nodes)
    back = _back_edges(net, source)
    index = {n: i for i, n in enumerate(nodes)}
    order = tuple(nx.lexicographical_topological_sort(
        nx.restricted_view(net, [], list(back)), key=index.get))
    sources = {n: tuple((s, (s, n) in back) for s in net.predecessors(n)) for n in nodes}
    return Plan(nodes, order, sources, source, outputs, _shape(nodes[source], source))


def _check_cycles(net: nx.DiGraph, nodes: dict[str, dict]) -> None:
    for component in nx.strongly_connected_components(net):
        member = next(iter(component))
        if len(component) == 1 and not net.has_edge(member, member):
            continue
        if not any(node_type(kind(nodes[n]), n).stateful for n in component):
            cycle = " -> ".join(sorted(component))
            raise ValueError(f"NIR cycle through {cycle} has no neuron, integrator or Delay: "
                             "it has no value at any time step")


def _back_edges(net: nx.DiGraph, source: str) -> set[tuple[str, str]]:
    """Edges to a node still open on the depth-first stack (they close a cycle)."""
    back, open_nodes = set(), set()
    for u, v, label in nx.dfs_labeled_edges(net, source):
        if label == "forward":
            open_nodes.add(v)
        elif label == "reverse":
            open_nodes.discard(v)
        elif label == "nontree" and v in open_nodes:
            back.add((u, v))
    return back


def _shape(node: dict[str, Any], name: str) -> tuple[int, ...]:
    shape = node.get("shape")
    if shape is None and isinstance(node.get("input_type"), dict):
        shape = node["input_type"].get("input")
    if shape is None:
        raise ValueError(f"NIR Input node {name!r} declares no shape")
    shape = np.atleast_1d(np.asarray(shape)).astype(np.int64)
    if shape.ndim != 1 or np.any(shape < 1):
        raise ValueError(f"NIR Input node {name!r} has shape {shape.tolist()}")
    return tuple(shape.tolist())
