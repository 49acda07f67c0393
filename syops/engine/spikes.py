"""Telling binary spikes from multi-level signals, in a few fast reductions and no sync.

An input counts as spikes when every value lies in [0, 1] and the values sum to their
non-zero count: then every non-zero value is 1. The sums run in float32, in slices of at
most 2**24 elements per position, so every partial sum of values in [0, 1] is exact; the
slices are added in float64. (A float64 reduction costs some 30 times a float32 one on a
CPU; float64 inputs, and every input under the "events" convention, whose integers may
exceed 1, are summed in float64.) Where every element meets the same number of weights
(``count_dims`` 0) only the total is kept, in one flat reduction. A value closer to 1 than the
float32 rounding of such a partial sum (about 1e-4 for a partial of 2,000 elements) can pass
for a 1; any other value in (0, 1), however small, makes the input multi-level.

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


def _accumulator(x: Tensor, events: bool = False) -> torch.dtype:
    """float32 (exact, in slices, for values in [0, 1]) unless the values may be larger
    integers ("events") or need float64's precision."""
    return torch.float64 if events or x.dtype == torch.float64 else torch.float32


def _summed(x: Tensor, count_dims: int, dtype: torch.dtype) -> Tensor:
    """``x`` summed over all but its last ``count_dims`` dims (all of them: a scalar), as
    float64; a float32 sum runs in slices of at most 2**24 elements per position."""
    lead = tuple(range(x.dim() - count_dims))
    if not lead:
        return x.to(torch.float64)
    if dtype == torch.float64:
        return x.sum(dim=lead, dtype=torch.float64)
    if x.numel() <= EXACT_FLOAT32:   # no position can gather more (the common case)
        return x.sum(dim=lead, dtype=dtype).double()
    slices = _slices(x, count_dims)
    lead = tuple(range(slices[0].dim() - count_dims))
    return torch.stack([part.sum(dim=lead, dtype=dtype) for part in slices]).double().sum(0)


def _slices(x: Tensor, count_dims: int) -> tuple[Tensor, ...]:
    """``x`` cut along its first dim (its lead dims flattened when one row is already too
    large) into parts of at most EXACT_FLOAT32 elements per position."""
    per_row = x.numel() // max(x.shape[0] * _positions(x, count_dims), 1)
    if x.shape[0] * per_row <= EXACT_FLOAT32:
        return (x,)
    if per_row > EXACT_FLOAT32:
        x = x.flatten(0, x.dim() - count_dims - 1)
        per_row = 1
    return x.split(EXACT_FLOAT32 // per_row)


def _positions(x: Tensor, count_dims: int) -> int:
    positions = 1
    for size in (x.shape[x.dim() - count_dims:] if count_dims else ()):
        positions *= size
    return positions


def call_statistics(x: Tensor, count_dims: int = 0, *, nonzero_sums: bool = False,
                    events: bool = False) -> CallStatistics:
    """The statistics of one input, on its device (see ``CallStatistics``)."""
    if x.dtype == torch.bool:
        x = x.view(torch.uint8)
    dtype = _accumulator(x, events)
    low, high = torch.aminmax(x)
    signed = x.is_floating_point() or x.dtype in (torch.int8, torch.int16, torch.int32,
                                                   torch.int64)
    magnitude = x.abs() if events and signed else x
    sums = _summed(magnitude, count_dims, dtype)
    nonzero = x != 0   # summed in float32 slices: faster than count_nonzero on a CPU
    nz_sums = _summed(nonzero, count_dims, torch.float32) if nonzero_sums else None
    nnz = nz_sums.sum() if nonzero_sums else _summed(nonzero, 0, torch.float32)
    zero = torch.zeros((), dtype=torch.float64, device=x.device)
    if events and x.is_floating_point():
        fraction = (x - x.round()).abs().amax().double()
        smallest = torch.where(nonzero, magnitude, torch.inf).amin().double()
    else:
        fraction = zero
        smallest = (torch.where(nonzero, magnitude, torch.iinfo(magnitude.dtype).max).amin()
                    .double() if events else zero)
    stats = torch.stack((sums.sum(), nnz, low.double(),
                         high.double(), fraction, smallest))
    return CallStatistics(sums, nz_sums, stats)


def spike_sums(x: Tensor, count_dims: int = 0) -> Tensor:
    """The ones of a known spike input per position of its last ``count_dims`` dims."""
    if x.dtype == torch.bool:
        x = x.view(torch.uint8)
    return _summed(x, count_dims, _accumulator(x))


def spike_statistics(x: Tensor, count_dims: int = 0) -> tuple[Tensor, Tensor]:
    """``(sums, [nnz, min, max])`` of one input, on its device (the binary test's figures)."""
    sums, _, stats = call_statistics(x, count_dims)
    return sums, stats[1:4]


def is_spike(total: float, nnz: float, low: float, high: float) -> bool:
    """The binary test on the statistics read back from the device."""
    return low >= 0 and high <= 1 and total == nnz


def binary_statistics(x: Tensor, integers: bool = False) -> Tensor:
    """``[total, ones, low, high, fraction]`` of ``x`` on its device: ``is_spike``'s figures
    and, when asked (the events convention), 0 if its values are integers or of one non-zero
    magnitude, else their largest distance from an integer (else 0). For a float
    input ``ones`` sums ``ceil(x)``: its non-zero count wherever the values lie in [0, 1],
    the only case ``is_spike`` compares it (and cheaper than counting non-zeros)."""
    if x.numel() == 0:
        return torch.zeros(5, dtype=torch.float64, device=x.device)
    if not x.is_floating_point():
        return torch.cat((call_statistics(x).stats[:4], x.new_zeros(1, dtype=torch.float64)))
    dtype = _accumulator(x)
    low, high = torch.aminmax(x)
    fraction = (_events_distance(x) if integers
                else torch.zeros((), dtype=torch.float64, device=x.device))
    return torch.stack((_summed(x, 0, dtype), _summed(x.ceil(), 0, dtype), low.double(),
                        high.double(), fraction))


def _events_distance(x: Tensor) -> Tensor:
    """0 when ``x`` can be priced as events (integer counts, or one non-zero magnitude:
    scaled spikes), else how far it is from integers."""
    fraction = (x - x.round()).abs().amax().double()
    magnitude = x.abs()
    smallest = torch.where(x != 0, magnitude, magnitude.amax()).amin()
    spread = (magnitude.amax() - smallest).double()
    return torch.minimum(fraction, spread)


def is_binary(x: Tensor) -> bool:
    """True when every element of ``x`` is 0 or 1 (synchronises; for one-off checks)."""
    if x.numel() == 0:
        return True
    _, _, stats = call_statistics(x)
    total, nnz, low, high = stats[:4].tolist()
    return is_spike(total, nnz, low, high)
