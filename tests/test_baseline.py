"""The ANN baseline and the break-even input firing rate, by hand on a tiny SNN."""

import pytest

from cli_helpers import TINY_ARGS, invoke, json_records, tiny  # noqa: F401
from syops.baseline import ann_baseline, ann_energy, snn_at_rate
from test_energy import tiny_snn_report

pytestmark = pytest.mark.filterwarnings("ignore")

# Linear(4->3) -> IFNode -> Linear(3->2), T = 1, two samples. Per sample: dense 12 + 6 = 18
# SyOPs, all on spike inputs; 3 neuron updates. The ANN: 18 MACs.


def test_ann_macs_and_energy():
    report = tiny_snn_report()
    ann = ann_energy(report, T=1, energy="fp32")
    assert ann["macs"] == 18
    assert ann["energy_mj"]["total"] == pytest.approx(18 * 4.6e-9)
    assert ann_energy(report, T=2, energy="fp32")["macs"] == 9   # one of two steps
    with pytest.raises(ValueError, match="T >= 1"):
        ann_energy(report, T=0)


def test_snn_energy_is_linear_in_the_rate():
    report = tiny_snn_report()
    assert snn_at_rate(report, 0.5, "fp32")["total"] == pytest.approx(0.5 * 18 * 0.9e-9)


def test_break_even_horowitz_fp32_the_snn_always_wins():
    result = ann_baseline(tiny_snn_report(), T=1, energy="fp32")
    # 4.6 x 18 = 0.9 x 18 x r  ->  r = 4.6 / 0.9 (above 1: cheaper at any rate)
    assert result["break_even_rate"]["compute"] == pytest.approx(4.6 / 0.9)
    assert result["break_even_rate"]["with_memory"] == pytest.approx(4.6 / 0.9)


def test_break_even_loihi():
    result = ann_baseline(tiny_snn_report(), T=1, energy="loihi")
    # ANN 23.6 x 18 = 424.8 pJ; SNN 156 (3 updates x 52) + 424.8 r, + 1.7 x 3 r with memory
    assert result["break_even_rate"]["compute"] == pytest.approx((424.8 - 156) / 424.8)
    assert result["break_even_rate"]["with_memory"] == pytest.approx((424.8 - 156) / 429.9)


def test_break_even_with_memory_reverses_the_verdict():
    result = ann_baseline(tiny_snn_report(), T=1, energy="horowitz-memory")
    # ANN: 82.8 pJ of MACs + 18 weights read once at 10 pJ = 262.8 pJ.
    # SNN silent: 3 updates x 5.5 + 6 potential accesses x 10 = 76.5 pJ;
    # per unit rate: 18 ACs x 0.9 + 18 weight reads x 10 + 3 spikes x 10 = 226.2 pJ.
    assert result["energy_mj"]["total"] == pytest.approx(262.8e-9)
    assert result["snn_silent_mj"] == pytest.approx(76.5e-9)
    assert result["snn_firing_mj"] == pytest.approx((76.5 + 226.2) * 1e-9)
    assert result["break_even_rate"]["compute"] == pytest.approx((82.8 - 16.5) / 16.2)  # > 1
    assert result["break_even_rate"]["with_memory"] == pytest.approx((262.8 - 76.5) / 226.2)


def test_the_baseline_is_what_the_relu_network_counts():
    import torch
    from torch import nn

    from syops import count_syops

    report = tiny_snn_report()
    relu = nn.Sequential(nn.Linear(4, 3, bias=False), nn.ReLU(), nn.Linear(3, 2, bias=False))
    x = torch.tensor([[1.0, 0, 1, 0], [1, 1, 0, 0]])
    counted = count_syops(relu, x, signals={"0": "multi-level", "2": "multi-level"})
    assert counted.macs == ann_energy(report, T=1)["macs"] == 18


def test_ann_baseline_on_the_command_line(tiny):
    record, = json_records("profile", tiny, *TINY_ARGS, "--ann-baseline",
                           "--energy", "horowitz-memory")
    ann = record["ann_baseline"]
    assert record["T"] == 2 and ann["macs"] == record["syops"] / 2  # one of two steps, dense
    assert set(ann["break_even_rate"]) == {"compute", "with_memory"}
    assert ann["energy_mj"]["neuron"] == 0 and ann["energy_mj"]["memory"] > 0
    table = invoke("compare", tiny, *TINY_ARGS, "--ann-baseline")
    assert table.exit_code == 0, table.stderr
    text = " ".join(table.stdout.split())
    assert "break-even rate: compute / memory" in text and "ANN: the same network" in text
    plain, = json_records("profile", tiny, *TINY_ARGS)
    assert "ann_baseline" not in plain
