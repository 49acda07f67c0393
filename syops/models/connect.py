"""Connect functions g(out, identity) that join a residual block's output and its shortcut.

``out`` is the block's last spike output, ``identity`` the shortcut. For spike inputs,
AND, IAND, OR and XOR give spikes again; ADD gives a sum of spikes (0, 1 or 2), which
is why the layer after a SEW-ADD block costs MACs rather than ACs.
"""

from __future__ import annotations

import difflib
from typing import Callable

from torch import Tensor

ConnectFn = Callable[[Tensor, Tensor], Tensor]


def add(out: Tensor, identity: Tensor) -> Tensor:
    return out + identity


def and_(out: Tensor, identity: Tensor) -> Tensor:
    return out * identity


def iand(out: Tensor, identity: Tensor) -> Tensor:
    return identity * (1 - out)


def or_(out: Tensor, identity: Tensor) -> Tensor:
    return out + identity - out * identity


def xor(out: Tensor, identity: Tensor) -> Tensor:
    return out + identity - 2 * out * identity


CONNECTS: dict[str, ConnectFn] = {"ADD": add, "AND": and_, "IAND": iand, "OR": or_, "XOR": xor}
"""Every connect function by its name."""

SPIKE_PRESERVING = ("AND", "IAND", "OR", "XOR")
"""Connect functions that map two spike tensors to a spike tensor."""


def get_connect(name: str) -> ConnectFn:
    """The connect function called ``name`` (case-insensitive)."""
    key = name.upper()
    if key not in CONNECTS:
        close = difflib.get_close_matches(key, CONNECTS, n=3, cutoff=0.3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown connect function {name!r}{hint} (choose from {', '.join(CONNECTS)})")
    return CONNECTS[key]
