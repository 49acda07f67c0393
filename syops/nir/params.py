"""Reading NIR node parameters: float arrays, integer tuples, tensors, with clear errors."""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import torch
from torch import Tensor

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


def buffer(values: np.ndarray) -> Tensor:
    return torch.from_numpy(np.array(values, dtype=np.float32))


def same_shapes(node: str, arrays: Mapping[str, np.ndarray]) -> None:
    shapes = {k: v.shape for k, v in arrays.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"NIR node {node!r}: parameters of different shapes {shapes}; "
                         "they must all have the neuron layer's shape")


def check_dt(dt: float) -> float:
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not math.isfinite(dt) \
            or dt <= 0:
        raise ValueError(f"dt must be a positive number of seconds, got {dt!r}")
    return float(dt)
