"""Telling binary spikes from multi-level signals, in a few fast reductions and no sync.

An input counts as spikes when every value lies in [0, 1] and the values sum to their
non-zero count: then every non-zero value is 1. The sums run in float32, in slices of at
most 2**24 elements per position, so every partial sum of values in [0, 1] is exact; the
slices are added in float64. (A float64 reduction costs some 30 times a float32 one on a
CPU; float64 inputs, and every input under the "events" convention, whose integers may
exceed 1, are summed in float64.) Where every element meets the same number of weights
(``count_dims`` 0) only the total is kept, in one flat reduction. A value closer to 1 than the
float32 rounding of such a partial sum (about 1e-4 for a partial of 2,000 elements) can pass
for a 1; any other value in (0, 1), however small, makes the input multi-level. The non-zero
count is a dot product of the signs (``flat_statistics``), with no full-size temporary: on a
CPU the signs of one cache-sized slice at a time go to a small scratch buffer.

Under the "events" input convention two more figures are kept: the largest distance of a
value from an integer, and the smallest non-zero magnitude (with the largest magnitude, it
tells inputs whose non-zero values are all one level ``a``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

EXACT_FLOAT32 = 1 << 24   # float32 sums of 0/1 are exact up to this many terms
CPU_SLICE = 1 << 18       # elements measured at a time on a CPU: 1 MiB of float32, in cache


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


def flat_statistics(x: Tensor, events: bool = False) -> Tensor:
    """float64 ``[total, nonzero, low, high, fraction, smallest, magnitudes]`` of ``x`` on
    its device: its sum (of magnitudes under ``events``), non-zero count, range, (under
    ``events``) its largest distance from an integer and smallest non-zero magnitude (else
    0), and its summed magnitudes (a neuron's events).

    The non-zero count is ``sign(x) . sign(x)`` and the summed magnitudes ``x . sign(x)``:
    dot products, exact on slices of at most 2**24 elements for 0/1 (and -1/0/1) values,
    and cheaper than counting ``x != 0``. Outside ``events`` the magnitudes are accumulated
    in float32 (a figure shown, never a test); ``total`` keeps torch's summation (see the
    module's note on rounding)."""
    if x.numel() == 0:
        return torch.zeros(7, dtype=torch.float64, device=x.device)
    values = x.detach().reshape(-1)
    dtype = _accumulator(x, events)
    values = values if values.dtype == dtype else values.to(dtype)
    total, nonzero, low, high, magnitudes = _slice_counts(values)
    zero = torch.zeros((), dtype=torch.float64, device=x.device)
    fraction, smallest = zero, zero
    if events:
        total = magnitudes
        fraction = (values - values.round()).abs().amax().double()
        smallest = torch.where(values != 0, values.abs(), torch.inf).amin().double()
    return torch.stack((total, nonzero, low, high, fraction, smallest, magnitudes))


def _slice_counts(values: Tensor) -> tuple[Tensor, ...]:
    """float64 (sum, non-zero count, low, high, summed magnitudes) of a flat tensor, taken
    slice by slice: on a CPU in slices that stay in cache with their signs (written into one
    scratch buffer rather than a new tensor as large as the input), elsewhere in slices of
    2**24 elements."""
    size = CPU_SLICE if values.device.type == "cpu" else EXACT_FLOAT32
    scratch = torch.empty(min(size, values.numel()), dtype=values.dtype, device=values.device)
    rows = []
    for part in values.split(size):
        signs = torch.sign(part, out=scratch[:part.numel()])
        low, high = torch.aminmax(part)
        rows.append(torch.stack((part.sum(), torch.dot(signs, signs), low, high,
                                 torch.dot(part, signs))))
    table = (rows[0] if len(rows) == 1 else torch.stack(rows)).double().reshape(len(rows), 5)
    total, nonzero, _, _, magnitudes = table.sum(0)
    return total, nonzero, table[:, 2].min(), table[:, 3].max(), magnitudes


def call_statistics(x: Tensor, count_dims: int = 0, *, nonzero_sums: bool = False,
                    events: bool = False, flat: Tensor | None = None) -> CallStatistics:
    """The statistics of one input, on its device (see ``CallStatistics``); ``flat`` is its
    ``flat_statistics`` when already computed."""
    x = x.detach()
    if x.dtype == torch.bool:
        x = x.view(torch.uint8)
    stats = flat_statistics(x, events) if flat is None else flat
    if not count_dims:
        return CallStatistics(stats[0], stats[1] if nonzero_sums else None, stats)
    signed = x.is_floating_point() or x.dtype in (torch.int8, torch.int16, torch.int32,
                                                   torch.int64)
    sums = _summed(x.abs() if events and signed else x, count_dims, _accumulator(x, events))
    nz_sums = _summed(x != 0, count_dims, torch.float32) if nonzero_sums else None
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
