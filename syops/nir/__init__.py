"""NIR in: profile a graph in the Neuromorphic Intermediate Representation.

    import syops.nir
    model = syops.nir.load("model.nir", dt=1e-4)         # a torch module over [T, B, ...]
    report = count_syops(model, data, time_first=True)  # data [B, T, ...]
    report = syops.nir.count_recorded("model.nir", activity)  # spikes recorded elsewhere

docs/libraries.md lists which NIR node maps to which syops rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .build import DEFAULT_DT, NIRModule, build
from .read import graph_dict, read_file


def load(source: Any, dt: float = DEFAULT_DT) -> NIRModule:
    """A NIR file (path), an in-memory ``nir.NIRGraph`` or its dict as a module that takes
    ``[T, B, ...]``; ``dt`` (seconds per time step) discretises the neurons. ValueError with
    one clear message for a file or graph syops cannot run."""
    graph = read_file(source) if isinstance(source, (str, Path)) else graph_dict(source)
    return build(graph, dt)


def count_recorded(*args, **kwargs):
    from .recorded import count_recorded as count
    return count(*args, **kwargs)


count_recorded.__doc__ = "See ``syops.nir.recorded.count_recorded``."

__all__ = ["DEFAULT_DT", "NIRModule", "count_recorded", "load"]
