"""syops.stats on known figures, checked against numpy and hand formulas; Report.energy_stats
from per-batch totals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from syops.energy import PRESETS
from syops.report import BatchTotals, LayerCounts, Report
from syops.stats import BATCH_MEANS, PER_SAMPLE, summarize, t_two_sided, weighted_percentiles

FIGURES = np.array([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])   # mean 5, sample sd sqrt(32/7)


@pytest.mark.parametrize("df, table", [(1, 12.7062), (2, 4.3027), (4, 2.7764), (7, 2.3646),
                                       (10, 2.2281), (30, 2.0423), (120, 1.9799),
                                       (100000, 1.9600)])
def test_t_quantiles_match_the_printed_table(df, table):
    assert t_two_sided(df) == pytest.approx(table, abs=1e-4)


def test_t_quantile_at_other_levels():
    assert t_two_sided(1, 0.5) == pytest.approx(1.0)           # Cauchy: P(|T| <= 1) = 1/2
    assert t_two_sided(2, 0.9) == pytest.approx(2.919986, abs=1e-6)
    with pytest.raises(ValueError, match="degrees of freedom"):
        t_two_sided(0)


def test_per_sample_figures_give_a_t_interval():
    s = summarize(FIGURES, np.ones(8, int))
    assert s.basis == PER_SAMPLE and s.figures == s.samples == 8
    assert s.mean == pytest.approx(np.mean(FIGURES)) == pytest.approx(5.0)
    sd = np.std(FIGURES, ddof=1)
    assert sd == pytest.approx(math.sqrt(32 / 7))
    half = 2.364624 * sd / math.sqrt(8)                      # t(0.975, 7) from the table
    assert (s.ci_low, s.ci_high) == pytest.approx((5 - half, 5 + half), abs=1e-5)
    assert [s.p5, s.p50, s.p95] == pytest.approx(list(np.percentile(FIGURES, [5, 50, 95])))
    assert [s.p5, s.p50, s.p95] == pytest.approx([2.7, 4.5, 8.3])   # by hand, linear method
    # +/- 1 % of 5 at 95 %: n = 1.96^2 (32/7) / 0.05^2 = 7024.4 -> 7025 samples
    assert s.samples_for_1pct == math.ceil((1.959964 * sd / 0.05) ** 2) == 7025


def test_batch_means_weighted_by_samples():
    # batches of 3, 1 and 4 samples of FIGURES, in order
    weights = np.array([3, 1, 4])
    means = np.array([FIGURES[:3].mean(), FIGURES[3], FIGURES[4:].mean()])   # 10/3, 4, 6.5
    s = summarize(means, weights)
    assert s.basis == BATCH_MEANS and s.figures == 3 and s.samples == 8
    assert s.mean == pytest.approx(5.0)                      # the overall per-sample mean
    # SE^2 = n/(n-1) sum w^2 (m - mean)^2 / (sum w)^2 = 1.5 (9 (5/3)^2 + 1 + 16 * 2.25) / 64
    se = math.sqrt(1.5 * (25 + 1 + 36) / 64)
    half = 4.302653 * se                                     # t(0.975, 2)
    assert (s.ci_low, s.ci_high) == pytest.approx((5 - half, 5 + half), abs=1e-5)
    expanded = np.repeat(means, weights)
    assert [s.p5, s.p50, s.p95] == pytest.approx(list(np.percentile(expanded, [5, 50, 95])))
    assert s.samples_for_1pct == math.ceil(8 * (1.959964 * se / 0.05) ** 2)


def test_unit_weights_reduce_to_the_usual_standard_error():
    rng = np.random.default_rng(3)
    x = rng.normal(10, 2, 50)
    s = summarize(x, np.ones(50, int))
    half = t_two_sided(49) * np.std(x, ddof=1) / math.sqrt(50)
    assert s.ci_high - s.mean == pytest.approx(half)


def test_weighted_percentiles_equal_repeated_values():
    assert list(weighted_percentiles([1.0, 3.0], [1, 3], [0, 50, 100])) == [1.0, 3.0, 3.0]
    assert weighted_percentiles([1.0, 2.0, 3.0], [1, 1, 1], [25])[0] == 1.5


def test_one_figure_has_no_interval():
    s = summarize([4.0], [1])
    assert s.mean == 4.0 and math.isnan(s.ci_low) and math.isnan(s.ci_high)
    assert s.samples_for_1pct is None and s.p50 == 4.0


def test_constant_figures_need_one_sample():
    s = summarize([3.0, 3.0, 3.0], [1, 1, 1])
    assert (s.ci_low, s.ci_high) == (3.0, 3.0) and s.samples_for_1pct == 1


@pytest.mark.parametrize("values, weights", [([], []), ([1.0], [0]), ([1.0, 2.0], [1])])
def test_bad_input_is_refused(values, weights):
    with pytest.raises(ValueError, match="one figure and a positive sample count"):
        summarize(values, weights)


def _report(batches: list[BatchTotals]) -> Report:
    layer = LayerCounts.from_totals("fc", "Linear", spike_calls=len(batches),
                                    acs=sum(b.acs for b in batches),
                                    mac_calls=len(batches), mac_syops=sum(b.macs for b in batches))
    return Report((layer,), samples=sum(b.samples for b in batches), forwards=len(batches),
                  params=0, mode="exact", fuse_bn=True, energy_model=PRESETS["fp32"],
                  batches=tuple(batches))


def test_report_energy_stats_per_sample():
    # fp32: AC 0.9 pJ, MAC 4.6 pJ; samples of 10^9 ACs + 10^9 MACs = 5.5 mJ, etc.
    batches = [BatchTotals(1, 1e9, 10**9), BatchTotals(1, 2e9, 10**9), BatchTotals(1, 0, 2 * 10**9)]
    report = _report(batches)
    figures = np.array([5.5, 6.4, 9.2])
    stats = report.energy_stats()
    assert stats.basis == PER_SAMPLE
    assert stats.mean == pytest.approx(report.energy()) == pytest.approx(figures.mean())
    assert stats.p50 == pytest.approx(6.4)
    assert stats.ci_high - stats.mean == pytest.approx(
        4.302653 * np.std(figures, ddof=1) / math.sqrt(3), abs=1e-5)
    assert report.energy_stats("int8").mean == pytest.approx(report.energy("int8"))
    out = report.to_dict()["energy_stats"]
    assert out["basis"] == PER_SAMPLE and out["mean_mj"] == pytest.approx(figures.mean())
    assert set(out) >= {"ci95_low_mj", "ci95_high_mj", "p5_mj", "p50_mj", "p95_mj",
                        "samples_for_1pct", "figures", "samples"}


def test_report_energy_stats_on_batches_match_the_report_total():
    batches = [BatchTotals(2, 3e9, 10**9), BatchTotals(1, 1e9, 0)]   # 7.3 mJ over 2 samples, 0.9 mJ
    report = _report(batches)
    stats = report.energy_stats()
    assert stats.basis == BATCH_MEANS and stats.samples == 3
    assert stats.mean == pytest.approx(report.energy()) == pytest.approx((2.7 + 4.6 + 0.9) / 3)


def test_merged_reports_pool_their_batches():
    a = _report([BatchTotals(1, 1e9, 10**9)])
    b = _report([BatchTotals(1, 2e9, 10**9), BatchTotals(1, 0, 2 * 10**9)])
    assert a.energy_stats().samples_for_1pct is None
    merged = (a + b).energy_stats()
    assert merged == _report(a.batches + b.batches).energy_stats()


def test_report_without_batches_has_no_stats():
    report = _report([BatchTotals(1, 1e9, 10**9)])
    from dataclasses import replace
    bare = replace(report, batches=())
    assert bare.energy_stats() is None and bare.to_dict()["energy_stats"] is None


def test_table_footer_states_interval_basis_spread_and_samples_needed():
    from syops.reports.tables import energy_spread
    stats = summarize([4.5, 5.0, 5.5], [1, 1, 1]).to_dict("mj")
    # half-width t(0.975, 2) * 0.5 / sqrt(3) = 1.2422 of 5.0: 24.84 %
    one = summarize([5.0], [1]).to_dict("mj")
    line = energy_spread([{"model": "a", "energy_stats": stats},
                          {"model": "b", "energy_stats": one}, {"model": "c"}])
    assert line == ("DC per sample: a 5.000 mJ ± 24.84 % (95 % CI, t on per-sample figures, "
                    "3 samples), p5/p50/p95 4.550/5.000/5.450 mJ; ± 1 % needs 385 samples.")
    assert energy_spread([{"model": "b", "energy_stats": one}]) == ""
