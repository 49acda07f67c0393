"""Telling binary spikes from multi-level signals, with three reductions and no sync.

An input counts as spikes when every value lies in [0, 1] and the values sum to their
non-zero count: then every non-zero value is exactly 1. Sums accumulate in float64, so a
value would have to lie within about 2**-29 of 1 to pass for a spike (float32 inputs).
"""

from __future__ import annotations

import torch
from torch import Tensor


def spike_statistics(x: Tensor, count_dims: int = 0) -> tuple[Tensor, Tensor]:
    """``(sums, stats)`` of one input, on its device.

    ``sums``: float64, ``x`` summed over all but its last ``count_dims`` dims (when ``x`` is
    spikes, the ones per position). ``stats``: float64 ``[nnz, min, max]``.
    """
    if x.dtype == torch.bool:
        x = x.view(torch.uint8)
    lead = tuple(range(x.dim() - count_dims))
    sums = x.sum(dim=lead, dtype=torch.float64) if lead else x.double()
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
    return is_spike(float(sums), float(nnz), float(low), float(high))
