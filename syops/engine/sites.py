"""Call sites: the totals of one layer's (or one op's) k-th call in every forward.

A site's kind is decided once for the whole run from every input it was given, so totals
do not depend on batching or sample order. ``SiteCounts`` is a layer call (one input meets
weights); ``ProductSite`` a product of two operands (``A @ B``), either of which may spike.
Both answer the same questions: ``signal``, ``acs``, ``macs``, ``spike_syops``, ``nonzero``,
``elements``, and ``weights()`` (how a batch's columns [dense, c1, c2, c3] turn into ACs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

SPIKE, EVENTS, MULTI_LEVEL, MIXED = "spike", "events", "multi-level", "mixed"
SPIKE_CONVENTIONS = ("binary", "events", "ternary")


@dataclass(frozen=True)
class SiteCounts:
    """Totals of one call site of a layer (its k-th call in every forward) over the run.

    A site's kind is decided once for the whole run, from every input it was given: spikes
    when every input was 0/1, whatever the batching or the order of the samples.
    """

    index: int
    calls: int = 0
    dense: int = 0                 # dense SyOPs of all its calls
    fixed: bool = False            # multi-level by architecture or declaration: MACs
    declared_spike: bool = False   # declared a spike input: ACs for its non-zero inputs
    events: bool = False           # counted under the "events" input convention
    binary: bool = True            # every input was 0/1 (or bool)
    integer: bool = True           # every input was integer-valued
    level: float | None = None     # the one non-zero magnitude of all inputs; NaN if several
    acs_main: float = 0            # ACs if spikes / event counts (pairs weighted by |value|)
    acs_nonzero: float = 0         # ACs counting every non-zero input element once
    nonzero: int = 0               # non-zero input elements
    elements: int = 0              # input elements

    def __add__(self, other: SiteCounts) -> SiteCounts:
        """The same site over both runs' data."""
        sums = {k: getattr(self, k) + getattr(other, k)
                for k in ("calls", "dense", "acs_main", "acs_nonzero", "nonzero", "elements")}
        return replace(self, **sums, fixed=self.fixed or other.fixed,
                       binary=self.binary and other.binary,
                       integer=self.integer and other.integer,
                       level=join_levels(self.level, other.level))

    @property
    def signal(self) -> str:
        if self.fixed or self.calls == 0:
            return MULTI_LEVEL
        if self.declared_spike or self.binary:
            return SPIKE
        if self.events and self.integer:
            return EVENTS
        if self.events and self.level is not None and math.isfinite(self.level):
            return SPIKE  # scaled spikes {0, a}: the scale folds into the weights
        return MULTI_LEVEL

    def weights(self) -> tuple[float, float, float, float]:
        """How a batch's columns [dense, acs_main, acs_nonzero, -] become [MACs, ACs...]."""
        signal = self.signal
        if signal == MULTI_LEVEL:
            return (1.0, 0.0, 0.0, 0.0)
        if self.declared_spike or (signal == SPIKE and not self.binary):
            return (0.0, 0.0, 1.0, 0.0)
        return (0.0, 1.0, 0.0, 0.0)

    @property
    def acs(self) -> float:
        _, main, nonzero, _ = self.weights()
        return main * self.acs_main + nonzero * self.acs_nonzero

    @property
    def spike_syops(self) -> int:
        return 0 if self.signal == MULTI_LEVEL else self.dense

    @property
    def macs(self) -> int:
        return self.dense if self.signal == MULTI_LEVEL else 0


def join_levels(a: float | None, b: float | None) -> float | None:
    """The common non-zero magnitude of two sets of inputs (None: no non-zero seen)."""
    if a is None or b is None:
        return b if a is None else a
    return a if a == b else math.nan




@dataclass(frozen=True)
class OperandCounts:
    """What one operand of a product held over the run."""

    fixed: bool = False            # multi-level by architecture, or a weight
    events: bool = False
    binary: bool = True
    integer: bool = True
    level: float | None = None
    nonzero: int = 0
    elements: int = 0

    def __add__(self, other: OperandCounts) -> OperandCounts:
        return replace(self, fixed=self.fixed or other.fixed,
                       binary=self.binary and other.binary,
                       integer=self.integer and other.integer,
                       level=join_levels(self.level, other.level),
                       nonzero=self.nonzero + other.nonzero,
                       elements=self.elements + other.elements)

    @property
    def signal(self) -> str:
        if self.fixed:
            return MULTI_LEVEL
        if self.binary:
            return SPIKE
        if self.events and self.integer:
            return EVENTS
        if self.events and self.level is not None and math.isfinite(self.level):
            return SPIKE
        return MULTI_LEVEL

    @property
    def scale(self) -> float:
        """The level a scaled-spike operand's magnitudes are divided by (else 1)."""
        return self.level if self.signal == SPIKE and not self.binary else 1.0


@dataclass(frozen=True)
class ProductSite:
    """Totals of one product call site ``A x B``: ACs when one operand spikes (every
    non-zero element of it times the elements of the other it multiplies), the
    (non-zero, non-zero) pairs when both do, dense MACs when neither does."""

    index: int
    calls: int = 0
    dense: int = 0
    a: OperandCounts = field(default_factory=OperandCounts)
    b: OperandCounts = field(default_factory=OperandCounts)
    acs_a: float = 0               # ACs if only A spikes (|A| weighted)
    acs_b: float = 0               # ACs if only B spikes
    acs_both: float = 0            # ACs if both spike (pairs of non-zeros, |A||B| weighted)

    def __add__(self, other: ProductSite) -> ProductSite:
        return replace(self, calls=self.calls + other.calls, dense=self.dense + other.dense,
                       a=self.a + other.a, b=self.b + other.b,
                       acs_a=self.acs_a + other.acs_a, acs_b=self.acs_b + other.acs_b,
                       acs_both=self.acs_both + other.acs_both)

    def _spiking(self) -> tuple[bool, bool]:
        return self.a.signal != MULTI_LEVEL, self.b.signal != MULTI_LEVEL

    @property
    def signal(self) -> str:
        kinds = {o.signal for o in (self.a, self.b)} - {MULTI_LEVEL}
        if self.calls == 0 or not kinds:
            return MULTI_LEVEL
        return EVENTS if EVENTS in kinds else SPIKE

    def weights(self) -> tuple[float, float, float, float]:
        a, b = self._spiking()
        if a and b:
            return (0.0, 0.0, 0.0, 1 / (self.a.scale * self.b.scale))
        if a:
            return (0.0, 1 / self.a.scale, 0.0, 0.0)
        if b:
            return (0.0, 0.0, 1 / self.b.scale, 0.0)
        return (1.0, 0.0, 0.0, 0.0)

    @property
    def acs(self) -> float:
        _, wa, wb, wboth = self.weights()
        return wa * self.acs_a + wb * self.acs_b + wboth * self.acs_both

    @property
    def macs(self) -> int:
        return self.dense if self.signal == MULTI_LEVEL else 0

    @property
    def spike_syops(self) -> int:
        return 0 if self.signal == MULTI_LEVEL else self.dense

    @property
    def nonzero(self) -> int:
        return sum(o.nonzero for o, s in zip((self.a, self.b), self._spiking()) if s)

    @property
    def elements(self) -> int:
        return sum(o.elements for o, s in zip((self.a, self.b), self._spiking()) if s)
