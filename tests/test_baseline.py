"""The ANN baseline and the break-even input firing rate, by hand on a tiny SNN."""

import pytest
from cli_helpers import TINY_ARGS, invoke, json_records, tiny  # noqa: F401
from test_energy import tiny_snn_report

from syops.baseline import ann_baseline, ann_energy, snn_at_rate

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


def test_ann_baseline_on_the_command_line(tiny):  # noqa: F811 (the fixture)
    record, = json_records("profile", tiny, *TINY_ARGS, "--ann-baseline",
                           "--energy", "horowitz-memory")
    ann = record["ann_baseline"]
    assert record["T"] == 2 and ann["macs"] == record["syops"] / 2  # one of two steps, dense
    assert set(ann["break_even_rate"]) == {"compute", "with_memory"}
    assert ann["energy_mj"]["neuron"] == 0 and ann["energy_mj"]["memory"] > 0
    # T = 2: the QNN carries ceil(log2 3) = 2-bit activations, on the ANN's MACs
    assert ann["qnn"]["bits"] == 2 and ann["qnn"]["macs"] == ann["macs"]
    assert set(ann["qnn"]["break_even_rate"]) == {"compute", "with_memory"}
    per_synapse = ann["spikes_per_synapse"]
    assert per_synapse["measured"] == pytest.approx(
        2 * record["acs"] / (record["syops"] - record["macs"]))  # spike inputs' synapses
    assert per_synapse["break_even"]["qnn"]["with_memory"] == pytest.approx(
        2 * ann["qnn"]["break_even_rate"]["with_memory"])
    table = invoke("compare", tiny, *TINY_ARGS, "--ann-baseline", "--format", "markdown")
    assert table.exit_code == 0, table.stderr
    text = " ".join(table.stdout.split())
    assert "break-even rate: compute / memory" in text and "ANN: the same network" in text
    assert "| QNN (mJ) | vs QNN: compute / memory | spikes / synapse |" in text
    assert "0.15-1.38" in text
    plain, = json_records("profile", tiny, *TINY_ARGS)
    assert "ann_baseline" not in plain


# --- the QNN at equal information (Yan et al. 2024) and spikes per synapse (Dampfhoffer) ---

def test_qnn_bits_are_ceil_log2_of_T_plus_1():
    import math

    from syops.energy.baseline import qnn_bits
    assert [qnn_bits(T) for T in (1, 2, 3, 4, 5, 7, 8, 16)] == [1, 2, 2, 3, 3, 3, 4, 5]
    assert all(qnn_bits(T) == math.ceil(math.log2(T + 1)) for T in range(1, 2000))
    with pytest.raises(ValueError, match="T >= 1"):
        qnn_bits(0)


def test_qnn_at_T_1_is_the_binary_network():
    from syops.energy.baseline import qnn_energy
    qnn = qnn_energy(tiny_snn_report(), T=1, energy="fp32")
    # 1-bit activations: a MAC is one add, 0.9 pJ; 18 of them. Fired at rate 1 the SNN does
    # the same 18 adds, so the compute break-even rate is exactly 1.
    assert (qnn["bits"], qnn["mac_pj"], qnn["macs"]) == (1, 0.9, 18)
    assert qnn["energy_mj"]["total"] == pytest.approx(18 * 0.9e-9)
    result = ann_baseline(tiny_snn_report(), T=1, energy="fp32")
    assert result["qnn"]["break_even_rate"]["compute"] == pytest.approx(1.0)


def test_qnn_compute_break_even_is_its_bits_in_spikes_per_synapse():
    result = ann_baseline(tiny_snn_report(), T=5, energy="fp32")
    # T = 5: 3-bit activations, a MAC = min(3 x 0.9, 4.6) = 2.7 pJ, on 18 / 5 = 3.6 MACs:
    # 9.72 pJ. The SNN fired at rate 1 spends 18 x 0.9 = 16.2 pJ: r = 9.72 / 16.2 = 0.6,
    # i.e. 0.6 x 5 = 3 spikes per synapse, the QNN's 3 bits.
    qnn = result["qnn"]
    assert (qnn["bits"], qnn["mac_pj"], qnn["macs"]) == (3, pytest.approx(2.7), pytest.approx(3.6))
    assert qnn["energy_mj"]["total"] == pytest.approx(9.72e-9)
    assert qnn["break_even_rate"]["compute"] == pytest.approx(0.6)
    per_synapse = result["spikes_per_synapse"]
    assert per_synapse["break_even"]["qnn"]["compute"] == pytest.approx(3.0)
    # the ANN: 3.6 MACs x 4.6 = 16.56 pJ against 16.2 r: r = 16.56 / 16.2, x 5 per synapse
    assert per_synapse["break_even"]["ann"]["compute"] == pytest.approx(5 * 16.56 / 16.2)
    assert per_synapse["dampfhoffer_range"] == [0.15, 1.38]


def test_qnn_mac_never_dearer_than_the_presets_mac():
    from syops.energy.baseline import qnn_energy
    # T = 16: 5 bits; 5 x 0.9 = 4.5 < 4.6. T = 32: 6 bits, 5.4 > 4.6: the full MAC.
    assert qnn_energy(tiny_snn_report(), T=16, energy="fp32")["mac_pj"] == pytest.approx(4.5)
    assert qnn_energy(tiny_snn_report(), T=32, energy="fp32")["mac_pj"] == 4.6


def test_qnn_with_memory_and_loihi():
    result = ann_baseline(tiny_snn_report(), T=1, energy="horowitz-memory")
    # QNN: 18 MACs x 0.9 = 16.2 pJ; 18 weights read once at 10 pJ (a memory under 8 KB);
    # 3 one-bit activations written at 10 pJ: 16.2 + 180 + 30 = 226.2 pJ.
    # SNN silent 76.5 pJ, + 226.2 pJ per unit rate (test above); compute: silent 16.5
    # (3 updates x 5.5), + 16.2 per unit rate: dearer than the QNN even silent.
    qnn = result["qnn"]
    assert qnn["energy_mj"]["total"] == pytest.approx(226.2e-9)
    assert qnn["break_even_rate"]["with_memory"] == pytest.approx((226.2 - 76.5) / 226.2)
    assert qnn["break_even_rate"]["compute"] == pytest.approx((16.2 - 16.5) / 16.2)  # < 0
    loihi = ann_baseline(tiny_snn_report(), T=1, energy="loihi")["qnn"]
    # Loihi: 18 x 23.6 = 424.8 pJ + 3 activations x 1.7 = 429.9; SNN 156 + 429.9 r
    assert loihi["energy_mj"]["total"] == pytest.approx(429.9e-9)
    assert loihi["break_even_rate"]["with_memory"] == pytest.approx((429.9 - 156) / 429.9)


def test_spikes_per_synapse_measured():
    from syops.energy.baseline import spikes_per_synapse
    report = tiny_snn_report()
    # 9 ACs per sample over 18 synapses (one step): 0.5 spikes per synapse per inference;
    # read as T = 4 steps, the 18 dense SyOPs are 4.5 synapses: 2 spikes each.
    assert spikes_per_synapse(report, 1) == 0.5
    assert spikes_per_synapse(report, 4) == 2.0
    result = ann_baseline(report, T=1)
    assert result["spikes_per_synapse"]["measured"] == 0.5
