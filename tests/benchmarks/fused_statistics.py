"""What would a fused statistics kernel save? ``flat_statistics`` against one torch.compile'd
reduction (sum, non-zero count, range, summed magnitudes) on a spike tensor of fsnn50's
size (batch 8, T = 4, 64 x 56 x 56), on this machine's CPU.

Run from the repository root::

    python tests/benchmarks/fused_statistics.py

It prints the first compilation's time (the fixed cost a user would pay, a cold cache),
each path's time per call, and both paths' figures (they must agree). Not used by syops:
compiling needs a C++ compiler at run time (issue 21's closing note).
"""

from __future__ import annotations

import time

import torch

from syops.engine.spikes import flat_statistics


def fused(values: torch.Tensor) -> torch.Tensor:
    signs = values.sign()
    return torch.stack((values.sum(), (signs * signs).sum(), values.amin(), values.amax(),
                        (values * signs).sum()))


def per_call_ms(run, calls: int = 10) -> float:
    run()
    start = time.perf_counter()
    for _ in range(calls):
        run()
    return (time.perf_counter() - start) / calls * 1000


def main() -> None:
    compiled = torch.compile(fused, dynamic=True)
    x = (torch.rand(32 * 64 * 56 * 56, generator=torch.Generator().manual_seed(0)) < 0.1).float()
    start = time.perf_counter()
    compiled(x)
    print(f"first compilation: {time.perf_counter() - start:.1f} s")
    print(f"elements: {x.numel()}")
    print(f"flat_statistics: {per_call_ms(lambda: flat_statistics(x)):.2f} ms per call")
    print(f"compiled fused reduction: {per_call_ms(lambda: compiled(x)):.2f} ms per call")
    print("figures (sum, non-zero, low, high, magnitudes):",
          flat_statistics(x)[[0, 1, 2, 3, 6]].tolist(), compiled(x).tolist())


if __name__ == "__main__":
    main()
