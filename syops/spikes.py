"""Telling binary spikes from multi-level signals, in three fast reductions and no sync.

An input counts as spikes when every value lies in [0, 1] and the values sum to their
non-zero count: then every non-zero value is 1. The sums run in float32 (float64 inputs in
float64) over all but the last dims, where they are exact for spikes (each partial sum is an
integer below 2**24); their total is taken in float64. A value closer to 1 than the float32
rounding of such a partial sum (about 1e-4 for a partial of 2,000 elements) can pass for a 1;
any other value in (0, 1), however small, makes the input multi-level.
"""

from __future__ import annotations

import torch
from torch import Tensor


def spike_statistics(x: Tensor, count_dims: int = 0) -> tuple[Tensor, Tensor]:
    """``(sums, stats)`` of one input, on its device.

    ``sums``: float64, ``x`` summed over all but its last ``max(count_dims, 1)`` dims (when
    ``x`` is spikes, the ones per position). ``stats``: float64 ``[nnz, min, max]``.
    """
    if x.dtype == torch.bool:
        x = x.view(torch.uint8)
    accumulate = torch.float64 if x.dtype == torch.float64 else torch.float32
    lead = tuple(range(x.dim() - max(count_dims, 1)))
    sums = (x.sum(dim=lead, dtype=accumulate) if lead else x.to(accumulate)).double()
    low, high = torch.aminmax(x)
    return sums, torch.stack((torch.count_nonzero(x).double(), low.double(), high.double()))


def is_spike(total: float, nnz: float, low: float, high: float) -> bool:
    """The test on the statistics read back from the device."""
    return low >= 0 and high <= 1 and total == nnz


def is_binary(x: Tensor) -> bool:
    """True when every element of ``x`` is 0 or 1 (synchronises; for one-off checks)."""
    if x.numel() == 0:
        return True
    sums, (nnz, low, high) = spike_statistics(x)
    return is_spike(float(sums.sum()), float(nnz), float(low), float(high))
