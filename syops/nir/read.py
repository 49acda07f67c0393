"""Reading a NIR file (HDF5) into plain dicts, within stated bounds.

The ``nir`` package reads one version's layout (1.0.4 cannot read files that 1.0.8 writes,
which add ``v_reset`` and ``CubaLI``) and reads every dataset whole, whatever its declared
size. Here the file's structure is walked first with h5py: declared sizes are summed
before anything is read, links out of the file and external or virtual storage are refused,
and only then are the arrays read. The result has the shape of ``nir``'s ``to_dict()``:
``{"type": "NIRGraph", "nodes": {name: {"type": ..., param: array}}, "edges": [...]}``, so
an in-memory ``nir.NIRGraph`` (``graph_dict``) and a file give the same thing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

MAX_ELEMENTS = 1 << 28
"""Most array elements (weights and parameters together) a file may declare: 2**28, about
1 GiB as float32. A file declaring more is refused before any array is read."""
MAX_OBJECTS = 100_000
"""Most HDF5 groups and datasets a file may hold."""
MAX_DEPTH = 16
"""Deepest nesting of groups (graphs within graphs)."""


def read_file(path: str | Path) -> dict[str, Any]:
    """The graph of the NIR file ``path`` as plain dicts; ValueError for anything that is
    not a complete, bounded NIR file."""
    import h5py
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such NIR file")
    try:
        with h5py.File(path, "r") as f:
            if "node" not in f or not isinstance(f.get("node", getlink=True), h5py.HardLink):
                raise ValueError(f"{path}: not a NIR file (no 'node' group)")
            _check(f["node"], path)
            graph = _read(f["node"])
            version = _text(f["version"][()]) if "version" in f else "unknown"
    except OSError as exc:
        raise ValueError(f"{path}: not a readable NIR (HDF5) file: it may be truncated or "
                         f"damaged ({_first_line(exc)})") from None
    graph.setdefault("metadata", {})
    graph["nir_version"] = version
    return graph


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _check(root, path: Path) -> None:
    """Declared sizes, object count, nesting and storage, before any array is read."""
    import h5py
    totals = {"elements": 0, "objects": 0}

    def visit(group, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise ValueError(f"{path}: graphs nested deeper than {MAX_DEPTH} levels")
        for key in group:
            link = group.get(key, getlink=True)
            if not isinstance(link, h5py.HardLink):
                raise ValueError(f"{path}: {group.name}/{key} is a link ({type(link).__name__})"
                                 "; a NIR file holds its data itself")
            totals["objects"] += 1
            if totals["objects"] > MAX_OBJECTS:
                raise ValueError(f"{path}: more than {MAX_OBJECTS} HDF5 objects")
            item = group[key]
            if isinstance(item, h5py.Group):
                visit(item, depth + 1)
                continue
            if item.is_virtual or item.external:
                raise ValueError(f"{path}: {item.name} is stored outside the file")
            totals["elements"] += int(item.size or 0)
            if totals["elements"] > MAX_ELEMENTS:
                raise ValueError(f"{path}: declares more than {MAX_ELEMENTS} array elements "
                                 f"({item.name} has shape {list(item.shape or ())}); syops "
                                 "reads NIR files up to that size")

    visit(root, 0)


def _read(group) -> dict[str, Any]:
    import h5py
    out: dict[str, Any] = {}
    for key in group:
        item = group[key]
        out[key] = _read(item) if isinstance(item, h5py.Group) else _value(item[()])
    return out


def _value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf8", errors="replace")
    if isinstance(value, np.ndarray) and value.dtype.kind in "OS":
        return np.vectorize(_text, otypes=[object])(value) if value.size else value
    return value


def _text(value: Any) -> str:
    return value.decode("utf8", errors="replace") if isinstance(value, bytes) else str(value)


def graph_dict(graph: Any) -> dict[str, Any]:
    """An in-memory ``nir.NIRGraph`` (any 1.0.x) as the plain dicts ``read_file`` gives."""
    if isinstance(graph, dict):
        return graph
    if not hasattr(graph, "to_dict"):
        raise ValueError(f"expected a NIR graph (nir.NIRGraph), a NIR file or its dict; got "
                         f"{type(graph).__name__}")
    return _plain(graph.to_dict())


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "detach"):   # torch tensors some exporters leave in the graph
        return value.detach().cpu().numpy()
    return value
