"""Measuring one call: every input of every counted call is tested on its device against
what it is counted as, on every call.

A call's input statistics (``spikes.call_statistics``: its sum, non-zero count, range and,
under the events and ternary conventions, how far it is from integers and its smallest
magnitude) and its exact pair counts are reductions queued on the device; they are read back
once per batch (``Pending``) and only then classify the call: a site costs ACs only when
every input it got in the whole run is of a kind the input convention prices as spikes.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from syops.engine.ops import Contraction
from syops.engine.reuse import StatisticsCache
from syops.engine.rules import Rule
from syops.engine.sites import OperandCounts, join_levels
from syops.engine.spikes import call_statistics, flat_statistics
from syops.engine.tallies import Batches, Pending, Site
from syops.options import Options


def call_kind(total: float, nonzero: float, low: float, high: float, fraction: float,
              smallest: float, spikes: str) -> tuple[bool, bool, float | None]:
    """(spike, integer-valued, the one non-zero magnitude or NaN or None) of one input, from
    its statistics. Spikes are 0/1 (under "ternary" -1/0/1): every value in range and the
    magnitudes summing to the non-zero count."""
    floor = -1 if spikes == "ternary" else 0
    binary = low >= floor and high <= 1 and total == nonzero
    magnitude = max(abs(low), abs(high))
    if nonzero == 0:
        level = None
    elif binary:
        level = 1.0
    else:
        level = magnitude if spikes == "events" and smallest == magnitude else math.nan
    return binary, binary or (spikes == "events" and fraction == 0), level


def _signed(spikes: str) -> bool:
    """Whether statistics sum magnitudes (|x|): every convention but plain binary."""
    return spikes != "binary"


def both_pairs(product: Contraction, nonzero: bool = False) -> Tensor:
    """Pairs of non-zero elements of both operands that a contraction multiplies, weighted by
    their magnitudes (|A||B|: the pairs of ones for spikes, |k| for event counts; a scaled
    level's weight is divided out by its site), or counted once each (``nonzero``: effective
    operations): the operands summed over their own indices, then contracted over the shared
    ones. An operand given by its shape (a fused intermediate) is all non-zero."""
    shared = [c for c in product.a_index if c in product.b_index]
    device = next(t.device for t in (product.a, product.b) if t is not None)
    a = _summed_operand(product, product.a, product.a_index, shared, nonzero, device)
    b = _summed_operand(product, product.b, product.b_index, shared, nonzero, device)
    a_keep = "".join(c for c in product.a_index if c in shared)
    b_keep = "".join(c for c in product.b_index if c in shared)
    return torch.einsum(f"{a_keep},{b_keep}->", a, b)


def _summed_operand(product: Contraction, t: Tensor | None, index: str, shared: list[str],
                    nonzero: bool, device) -> Tensor:
    """An operand's magnitudes (or non-zero indicators) summed over its own indices."""
    keep = "".join(c for c in index if c in shared)
    if t is None:   # all non-zero: each kept position sums the product of the other sizes
        others = math.prod(product.sizes[c] for c in index if c not in shared)
        return torch.full([product.sizes[c] for c in keep], float(others),
                          dtype=torch.float64, device=device)
    values = (t != 0) if nonzero else t.abs()
    return torch.einsum(f"{index}->{keep}", values.double())


class Measure:
    """Queues the device statistics of calls and records them into their sites."""

    def __init__(self, options: Options, batches: Batches, pending: list[Pending]):
        self.options, self.batches, self.pending = options, batches, pending
        self.cache: dict = {}
        self.seen = StatisticsCache()

    def statistics(self, x: Tensor) -> Tensor:
        """``x``'s flat statistics (``spikes.flat_statistics``), computed once per tensor."""
        return self.seen.get(x, lambda t: flat_statistics(t, _signed(self.options.spikes)))

    # --- layer calls --------------------------------------------------------------------
    def layer_call(self, site: Site, rule: Rule, module: Any, x: Tensor, dense: int) -> None:
        """Count one call of a layer (or functional layer) on input ``x``. Under effective
        operations the call's cost is its (non-zero input, non-zero weight) pairs."""
        options = self.options
        effective = options.effective and rule.synaptic and x.numel() > 0
        counts = site.counts
        site.counts = replace(counts, calls=counts.calls + 1,
                              dense=counts.dense + (0 if effective else dense))
        if not effective:
            self.batches.add("dense", site.ordinal, dense)
        if x.numel() == 0 or (counts.fixed and not effective):
            return
        signed = _signed(options.spikes)
        sums, nz_sums, stats = call_statistics(x, rule.count_dims, events=signed,
                                               nonzero_sums=counts.declared_spike or signed,
                                               flat=self.statistics(x))
        if effective:
            pairs = nz_pairs = rule.effective_pairs(module, x)  # type: ignore[attr-defined]
        elif options.mode == "exact":
            pairs = rule.spike_pairs(module, sums if rule.count_dims else stats[0], self.cache)
            nz_pairs = (rule.spike_pairs(module, nz_sums if rule.count_dims else nz_sums.sum(),
                                         self.cache) if nz_sums is not None else pairs)
        else:
            pairs = nz_pairs = stats[0]
        numel = x.numel()
        self.pending.append(Pending(
            lambda row: self._record_layer(site, None if effective else dense, numel, *row),
            torch.cat((torch.stack((pairs, nz_pairs)), stats[:6]))))

    def _record_layer(self, site: Site, dense: int | None, numel: int, pairs: float,
                      nz_pairs: float, total: float, nonzero: float, low: float, high: float,
                      fraction: float, smallest: float) -> None:
        counts = site.counts
        if dense is None:  # effective operations: the pairs are the call's cost
            dense = round(pairs)
            counts = replace(counts, dense=counts.dense + dense)
            self.batches.add("dense", site.ordinal, dense)
        if counts.fixed:
            site.counts = counts
            return
        binary, integer, level = call_kind(total, nonzero, low, high, fraction, smallest,
                                           self.options.spikes)
        if self.options.mode == "exact":
            acs, acs_nz = pairs, nz_pairs
        else:
            acs, acs_nz = dense * total / numel, dense * nonzero / numel
        site.counts = replace(
            counts, binary=counts.binary and binary, integer=counts.integer and integer,
            level=join_levels(counts.level, level),
            acs_main=counts.acs_main + acs, acs_nonzero=counts.acs_nonzero + acs_nz,
            nonzero=counts.nonzero + int(nonzero), elements=counts.elements + numel)
        self.batches.add("c1", site.ordinal, acs)
        self.batches.add("c2", site.ordinal, acs_nz)

    # --- products -------------------------------------------------------------------------
    def product(self, site: Site, product: Contraction) -> None:
        """Count one contraction ``A x B`` whose live operands may carry spikes."""
        counts, dense = site.counts, product.dense
        effective = self.options.effective and dense > 0
        site.counts = replace(counts, calls=counts.calls + 1,
                              dense=counts.dense + (0 if effective else dense))
        if not effective:
            self.batches.add("dense", site.ordinal, dense)
        a_live, b_live = not counts.a.fixed, not counts.b.fixed
        if not (a_live or b_live or effective) or dense == 0:
            return
        device = next(t.device for t in (product.a, product.b) if t is not None)
        zero = torch.zeros(6, dtype=torch.float64, device=device)
        a_stats = self.statistics(product.a)[:6] if a_live else zero
        b_stats = self.statistics(product.b)[:6] if b_live else zero
        if effective:
            both = both_pairs(product, nonzero=True)
        elif a_live and b_live and self.options.mode == "exact":
            both = both_pairs(product)
        elif a_live and b_live:
            both = _rate_pairs(product)
        else:
            both = zero[0]
        sizes = (product.a.numel() if a_live else 0, product.b.numel() if b_live else 0)
        self.pending.append(Pending(
            lambda row: self._record_product(site, None if effective else dense, sizes, row),
            torch.cat((both.reshape(1), a_stats, b_stats))))

    def _record_product(self, site: Site, dense: int | None, sizes: tuple[int, int],
                        row: list[float]) -> None:
        counts = site.counts
        if dense is None:  # effective operations: every one of the non-zero pairs
            dense = round(row[0])
            counts = replace(counts, dense=counts.dense + dense, acs_a=counts.acs_a + dense,
                             acs_b=counts.acs_b + dense, acs_both=counts.acs_both + dense)
            self.batches.add("dense", site.ordinal, dense)
            for column in ("c1", "c2", "c3"):
                self.batches.add(column, site.ordinal, dense)
            site.counts = replace(counts, a=self._operand(counts.a, row[1:7], sizes[0]),
                                  b=self._operand(counts.b, row[7:13], sizes[1]))
            return
        a_row, b_row = row[1:7], row[7:13]
        a, b = self._operand(counts.a, a_row, sizes[0]), self._operand(counts.b, b_row, sizes[1])
        means = [stats[0] / n if n else 0.0 for stats, n in ((a_row, sizes[0]), (b_row, sizes[1]))]
        acs_a, acs_b, acs_both = dense * means[0], dense * means[1], row[0]
        site.counts = replace(counts, a=a, b=b, acs_a=counts.acs_a + acs_a,
                              acs_b=counts.acs_b + acs_b, acs_both=counts.acs_both + acs_both)
        for column, value in (("c1", acs_a), ("c2", acs_b), ("c3", acs_both)):
            self.batches.add(column, site.ordinal, value)

    def _operand(self, operand: OperandCounts, stats: list[float], numel: int) -> OperandCounts:
        """An operand's counts with one more input (its statistics ``stats``)."""
        if operand.fixed or numel == 0:
            return operand
        total, nonzero, low, high, fraction, smallest = stats
        binary, integer, level = call_kind(total, nonzero, low, high, fraction, smallest,
                                           self.options.spikes)
        return operand + OperandCounts(binary=binary, integer=integer, level=level,
                                       nonzero=int(stats[1]), elements=numel)


def _rate_pairs(product: Contraction) -> Tensor:
    """The rate convention for two spiking operands: dense x rate(A) x rate(B), taken per
    independent product (per position of the leading indices both operands share: samples,
    time steps, heads) and summed, so that it does not depend on which samples share a
    batch. Rates weigh magnitudes (|k| for event counts)."""
    lead = 0
    while (lead < min(len(product.a_index), len(product.b_index)) - 1
           and product.a_index[lead] == product.b_index[lead]):
        lead += 1
    a, b = product.a.abs().double(), product.b.abs().double()
    groups = math.prod(a.shape[:lead])
    rate_a = a.reshape(groups, -1).mean(1)
    rate_b = b.reshape(groups, -1).mean(1)
    return (product.dense // groups) * (rate_a * rate_b).sum()
