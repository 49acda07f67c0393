"""Telling binary spikes from multi-level signals, in a few fast reductions and no sync.

An input counts as spikes when every value lies in [0, 1] and the values sum to their
non-zero count: then every non-zero value is 1. The sums run in float32 (float64 inputs, and
sums over more than 2**24 elements per position, in float64), where they are exact for
spikes; their total is taken in float64. Where every element meets the same number of
weights (``count_dims`` 0) only the total is kept, in one flat reduction. A value closer to 1 than the float32 rounding of
such a partial sum (about 1e-4 for a partial of 2,000 elements) can pass for a 1; any other
value in (0, 1), however small, makes the input multi-level.

Under the "events" input convention two more figures are kept: the largest distance of a
value from an integer, and the smallest non-zero magnitude (with the largest magnitude, it
tells inputs whose non-zero values are all one level ``a``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

EXACT_FLOAT32 = 1 << 24   # float32 sums of 0/1 are exact up to this many terms


class CallStatistics(NamedTuple):
    sums: Tensor                 # |x| (x when non-negative) summed over all but count dims
    nonzero_sums: Tensor | None  # (x != 0) summed likewise, when asked
    stats: Tensor                # float64 [total, nonzero, low, high, fraction, min_magnitude]


def _accumulator(x: Tensor, count_dims: int) -> torch.dtype:
    positions = 1
    for size in (x.shape[x.dim() - count_dims:] if count_dims else ()):
        positions *= size
    per_position = x.numel() // max(positions, 1)
    if x.dtype == torch.float64 or per_position > EXACT_FLOAT32:
        return torch.float64
    return torch.float32


def _summed(x: Tensor, count_dims: int, dtype: torch.dtype) -> Tensor:
    """``x`` summed over all but its last ``count_dims`` dims (all of them: a scalar)."""
    if not count_dims:
        return x.sum(dtype=dtype).double()   # one flat reduction (the fastest)
    lead = tuple(range(x.dim() - count_dims))
    return (x.sum(dim=lead, dtype=dtype) if lead else x.to(dtype)).double()


def call_statistics(x: Tensor, count_dims: int = 0, *, nonzero_sums: bool = False,
                    events: bool = False) -> CallStatistics:
    """The statistics of one input, on its device (see ``CallStatistics``)."""
    if x.dtype == torch.bool:
        x = x.view(torch.uint8)
    dtype = _accumulator(x, count_dims)
    low, high = torch.aminmax(x)
    signed = x.is_floating_point() or x.dtype in (torch.int8, torch.int16, torch.int32,
                                                   torch.int64)
    magnitude = x.abs() if events and signed else x
    sums = _summed(magnitude, count_dims, dtype)
    nonzero = x != 0 if (nonzero_sums or events) else None
    nz_sums = _summed(nonzero, count_dims, dtype) if nonzero_sums else None
    zero = torch.zeros((), dtype=torch.float64, device=x.device)
    if events and x.is_floating_point():
        fraction = (x - x.round()).abs().amax().double()
        smallest = torch.where(nonzero, magnitude, torch.inf).amin().double()
    else:
        fraction = zero
        smallest = (torch.where(nonzero, magnitude, torch.iinfo(magnitude.dtype).max).amin()
                    .double() if events else zero)
    stats = torch.stack((sums.sum(), torch.count_nonzero(x).double(), low.double(),
                         high.double(), fraction, smallest))
    return CallStatistics(sums, nz_sums, stats)


def spike_sums(x: Tensor, count_dims: int = 0) -> Tensor:
    """The ones of a known spike input per position of its last ``count_dims`` dims."""
    if x.dtype == torch.bool:
        x = x.view(torch.uint8)
    return _summed(x, count_dims, _accumulator(x, count_dims))


def spike_statistics(x: Tensor, count_dims: int = 0) -> tuple[Tensor, Tensor]:
    """``(sums, [nnz, min, max])`` of one input, on its device (the binary test's figures)."""
    sums, _, stats = call_statistics(x, count_dims)
    return sums, stats[1:4]


def is_spike(total: float, nnz: float, low: float, high: float) -> bool:
    """The binary test on the statistics read back from the device."""
    return low >= 0 and high <= 1 and total == nnz


def binary_statistics(x: Tensor, integers: bool = False) -> Tensor:
    """``[total, nonzero, low, high, fraction]`` of ``x`` on its device: ``is_spike``'s
    figures and, when asked, the largest distance of a value from an integer (else 0)."""
    if x.numel() == 0:
        return torch.zeros(5, dtype=torch.float64, device=x.device)
    stats = call_statistics(x).stats[:4]
    fraction = ((x - x.round()).abs().amax().double().reshape(1)
                if integers and x.is_floating_point() else stats.new_zeros(1))
    return torch.cat((stats, fraction))


def is_binary(x: Tensor) -> bool:
    """True when every element of ``x`` is 0 or 1 (synchronises; for one-off checks)."""
    if x.numel() == 0:
        return True
    _, _, stats = call_statistics(x)
    total, nnz, low, high = stats[:4].tolist()
    return is_spike(total, nnz, low, high)
