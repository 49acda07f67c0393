"""Statistics of a per-sample figure (energy per sample) from per-batch figures.

``summarize(values, weights)`` takes one figure per batch (the batch's mean per sample) and
the batch's sample count. When every batch holds one sample, the figures are per-sample and
the 95 % interval is Student's t on them; otherwise the figures are batch means and the
interval is the t-interval of a weighted mean of clusters (batches), with the batch count
less one as degrees of freedom. Pure functions on arrays; no SciPy.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

PER_SAMPLE, BATCH_MEANS = "per-sample figures", "batch means weighted by samples"
LEVEL = 0.95
TARGET = 0.01     # the relative half-width "samples needed" aims at (+/- 1 %)
Z95 = 1.959963984540054
FIGURES = ("mean", "ci_low", "ci_high", "p5", "p50", "p95")   # in the unit of the values


@dataclass(frozen=True)
class Summary:
    """Mean with its 95 % interval, spread and the samples a +/- 1 % interval needs."""

    basis: str          # PER_SAMPLE or BATCH_MEANS
    figures: int        # how many figures the interval is computed from (samples or batches)
    samples: int
    mean: float
    ci_low: float
    ci_high: float
    p5: float
    p50: float
    p95: float
    samples_for_1pct: int | None

    @property
    def half_width(self) -> float:
        return (self.ci_high - self.ci_low) / 2

    def to_dict(self, unit: str) -> dict:
        """JSON-ready, figures suffixed with ``unit`` (``mean_mj``, ``ci95_low_mj``, ...)."""
        plain = asdict(self)
        renamed = {"ci_low": "ci95_low", "ci_high": "ci95_high"}
        return {f"{renamed.get(k, k)}_{unit}" if k in FIGURES else k: v for k, v in plain.items()}


def t_two_sided(df: int, level: float = LEVEL) -> float:
    """The t quantile ``q`` with P(|T| <= q) = ``level`` for ``df`` degrees of freedom.

    Bisection on the exact finite-series CDF of Student's t for integer ``df``
    (Abramowitz and Stegun 26.7.3/26.7.4)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, got {df}")
    low, high = 0.0, 1.0
    while _t_central(high, df) < level:
        high *= 2
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if _t_central(middle, df) < level else (low, middle)
    return (low + high) / 2


def _t_central(t: float, df: int) -> float:
    """P(|T| <= t) for Student's t with integer ``df``."""
    theta = math.atan(t / math.sqrt(df))
    c2 = math.cos(theta) ** 2
    if df % 2:   # odd: 2/pi (theta + sin cos (1 + 2/3 c2 + 2*4/(3*5) c2^2 + ...))
        k = np.arange(1, (df - 1) // 2)
        series = 1 + np.cumprod(2 * k / (2 * k + 1) * c2).sum() if df > 1 else 0.0
        return 2 / math.pi * (theta + math.sin(theta) * math.cos(theta) * series)
    k = np.arange(1, df // 2)   # even: sin (1 + 1/2 c2 + 1*3/(2*4) c2^2 + ...)
    return math.sin(theta) * (1 + np.cumprod((2 * k - 1) / (2 * k) * c2).sum())


def weighted_percentiles(values, weights, q) -> np.ndarray:
    """Percentiles ``q`` of ``values`` with each repeated ``weights`` times (integers),
    numpy's default (linear) method; equals ``np.percentile`` for unit weights."""
    values, weights = np.asarray(values, float), np.asarray(weights)
    return np.percentile(np.repeat(values, weights.astype(np.int64)), q)


def mean_interval(values, weights) -> tuple[float, float, float]:
    """Weighted mean of ``values`` and its standard error and degrees of freedom.

    The standard error is that of a ratio of cluster totals (batches as clusters):
    ``sqrt(n / (n - 1) * sum(w^2 (x - mean)^2)) / sum(w)``, which for unit weights is the
    usual ``s / sqrt(n)``. NaN with fewer than two figures."""
    x, w = np.asarray(values, float), np.asarray(weights, float)
    n, total = len(x), w.sum()
    mean = float((w * x).sum() / total)
    if n < 2:
        return mean, math.nan, 0
    se = math.sqrt(n / (n - 1) * float((w ** 2 * (x - mean) ** 2).sum())) / total
    return mean, se, n - 1


def samples_needed(mean: float, se: float, samples: int, target: float = TARGET) -> int | None:
    """Samples for a 95 % half-width of ``target`` x mean, scaling the present standard
    error as 1 / sqrt(samples) (normal quantile: the count is large when it matters)."""
    if not (math.isfinite(se) and mean):
        return None
    return max(1, math.ceil(samples * (Z95 * se / (target * abs(mean))) ** 2))


def summarize(values, weights) -> Summary:
    """Statistics of a per-sample figure given per-batch means ``values`` over ``weights``
    samples each (all ones: per-sample figures)."""
    values, weights = np.asarray(values, float), np.asarray(weights, np.int64)
    if len(values) == 0 or len(values) != len(weights) or (weights < 1).any():
        raise ValueError("statistics need one figure and a positive sample count per batch")
    mean, se, df = mean_interval(values, weights)
    half = t_two_sided(df) * se if df else math.nan
    p5, p50, p95 = weighted_percentiles(values, weights, [5, 50, 95])
    samples = int(weights.sum())
    return Summary(PER_SAMPLE if (weights == 1).all() else BATCH_MEANS, len(values), samples,
                   mean, mean - half, mean + half, float(p5), float(p50), float(p95),
                   samples_needed(mean, se, samples))
