"""Lemaire et al. 2022's energy model (as LEAT-EDGE/qualia-plugin-snn codes it), term by term
on a tiny network: Conv2d(1 -> 2, 3x3, stride 2, padding 1) -> IF -> Linear(8 -> 3, bias),
T = 2 steps, one sample, every weight 1.

Input ones (4 x 4): step 0 at (0,0), (0,2), (2,0), (2,2), step 1 at (0,0), (3,3). Each 3x3
stride-2 window holds one of step 0's ones, so both channels' 4 outputs are 1 and all 8 IF
neurons fire (threshold 1, reset to 0); at step 1 outputs (0,0) and (1,1) fire in both
channels: 4 spikes. So theta_in(conv) = 6 input spikes (rate 6 / 32), theta_out(conv) = 12,
and the linear layer gets 12 spikes of 16 values (rate 0.75), no neuron after it.

Default settings: 16-bit memory, so 32-bit operations (add 0.1, mul 3.1 pJ) and SRAM accesses
of 1.09e-5 x values x 16 + 13.2 pJ; FIFOs of 1000 values.
"""

import numpy as np
import pytest
import torch
from spikingjelly.activation_based import neuron
from torch import nn

from syops import count_syops
from syops.energy.conventions import CONVENTIONS
from syops.energy.lemaire import (
    Activity,
    Costs,
    Geometry,
    Settings,
    geometry,
    hybrid_terms,
    lemaire_energy,
    op_pj,
    ram_pj,
    snn_terms,
)

pytestmark = pytest.mark.filterwarnings("ignore")
ADD, MUL = 0.1, 3.1


def ram(values):
    return 1.09e-5 * values * 16 + 13.2


class Tiny(nn.Module):
    """Single-step layers run once per step: the report sees every step's input."""

    def __init__(self, act: nn.Module):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, stride=2, padding=1, bias=False)
        self.act = act
        self.fc = nn.Linear(8, 3)
        with torch.no_grad():
            self.conv.weight.fill_(1.0)
            self.fc.weight.fill_(1.0)
            self.fc.bias.zero_()

    def forward(self, x):                      # x: [B, T, 1, 4, 4]
        return sum(self.fc(self.act(self.conv(x[:, t])).flatten(1)) for t in range(x.shape[1]))


def spikes_in(level=1.0):
    x = torch.zeros(1, 2, 1, 4, 4)
    for t, r, c in ((0, 0, 0), (0, 0, 2), (0, 2, 0), (0, 2, 2), (1, 0, 0), (1, 3, 3)):
        x[0, t, 0, r, c] = level
    return x


def priced(act, x):
    model = Tiny(act)
    report = count_syops(model, x)
    return report, lemaire_energy(report, model, T=2)


def by_name(result):
    return {row["name"]: row for row in result["layers"]}


def check(row, expected):
    for term, pj in expected.items():
        assert row[term] == pytest.approx(pj), term
    assert row["total"] == pytest.approx(sum(expected.values()))


def test_snn_terms_of_the_conv_and_the_linear_layer():
    report, result = priced(neuron.IFNode(), spikes_in())
    assert [n.spikes for n in report.neuron_counts] == [12]       # 8 + 4, as derived above
    rows = by_name(result)
    assert rows["conv"]["kind"] == rows["fc"]["kind"] == "snn"
    # conv: N_in 16, N_out 8, C_out 2, K 9, ceil(3/2)^2 = 4, 18 weights, no bias
    check(rows["conv"], {
        "mem_pot": 2 * (6 * 2 * 9 + 8 * 2) * ram(8),   # Eq. 9 + 14: theta x C_out x K + N_out x T
        "mem_weights": 6 * 2 * 9 * ram(18),            # Eq. 7
        "mem_bias": 0,
        "mem_io": (6 + 12) * ram(1000),                # theta_in read, theta_out written (FIFO)
        "ops": (6 * 4 * 2 + 2 * 8 + 12) * ADD,         # Eq. 1.4 + reset, no leak (IF)
        "addr": 6 * 2 * (MUL + ADD) + 6 * 9 * ADD})    # Eq. 16
    # fc: N_in 8, N_out 3, 24 weights, 3 biases; theta_in 12, theta_out 0 (no neuron after)
    check(rows["fc"], {
        "mem_pot": 2 * (12 * 3 + 3 * 2) * ram(3),
        "mem_weights": 12 * 3 * ram(24),
        "mem_bias": 3 * 2 * ram(3),                    # N_out x T bias reads
        "mem_io": 12 * ram(1000),
        "ops": (12 * 3 + 2 * 3) * ADD,                 # corrected Eq. 2.4: theta x N_out (not x N_in)
        "addr": 0.75 * 2 * 3 * ADD})                   # the code: input rate x T x N_out
    total_pj = rows["conv"]["total"] + rows["fc"]["total"]
    assert result["energy_mj"]["total"] == pytest.approx(total_pj / 1e9)
    assert result["skipped"] == []


def test_hybrid_terms_of_a_multi_level_input():
    # The same input at level 2: multi-level, so the conv is priced as one step of MACs at
    # the input's non-zero rate; syops does not count a multi-level input's zeros: rate 1.
    report, result = priced(neuron.IFNode(), spikes_in(2.0))
    assert [n.spikes for n in report.neuron_counts] == [12]
    conv = by_name(result)["conv"]
    assert conv["kind"] == "hybrid"
    check(conv, {
        "mem_pot": 2 * (1 * 2 * 16 * 2 * 9 + 8 * 2) * ram(8),   # theta = rate x T x N_in = 32
        "mem_weights": 16 * 2 * 9 * ram(18),                     # rate x N_in = 16 values read
        "mem_bias": 0,
        "mem_io": (16 + 12) * ram(1000),
        "ops": 8 * 9 * (MUL + ADD) + 8 * ADD + 12 * ADD,          # MACs, bias adds, resets
        "addr": 16 * 2 * (MUL + ADD) + 16 * 9 * ADD})


def test_fnn_terms_without_spiking_neurons():
    _, result = priced(nn.ReLU(), spikes_in())
    rows = by_name(result)
    assert rows["conv"]["kind"] == rows["fc"]["kind"] == "fnn"
    check(rows["conv"], {
        "mem_pot": 0, "mem_weights": 72 * ram(18), "mem_bias": 0,
        "mem_io": 72 * ram(16) + 8 * ram(8),           # Eq. 3 reads, Eq. 11 writes
        "ops": 72 * (MUL + ADD) + 8 * ADD,              # Eq. 1.1-1.2: 8 x 1 x 9 MACs
        "addr": (16 + 8 + 2 * 9) * ADD})
    check(rows["fc"], {
        "mem_pot": 0, "mem_weights": 24 * ram(24), "mem_bias": 3 * ram(3),
        "mem_io": 8 * ram(8) + 3 * ram(3), "ops": 24 * (MUL + ADD) + 3 * ADD,
        "addr": 24 * ADD})


def test_leak_costs_a_multiply_add_per_output_and_step():
    g = Geometry("fc", 8, 3, 8, 3, 1, 1, 24, 0)
    costs = Costs.of(Settings())
    plain, leaky = (snn_terms(g, Activity(0.75, 6.0, leak, 2), costs) for leak in (False, True))
    assert leaky["ops"] - plain["ops"] == pytest.approx(2 * 3 * (MUL + ADD))
    one, two = (hybrid_terms(g, Activity(1.0, 0.0, leak, 2), costs) for leak in (False, True))
    assert two["ops"] - one["ops"] == pytest.approx(3 * MUL)   # hybrid: one step, mul only


def test_bit_width_interpolation_and_sram():
    assert (op_pj("add", 8), op_pj("mul", 32), op_pj("mul", 16)) == (0.03, 3.1, 3.1)
    assert op_pj("mul", 16, "saturation") == 3.1 and op_pj("mul", 4, "saturation") == 0.2
    assert op_pj("add", 16, "linear") == pytest.approx(0.03 + 0.07 * 8 / 24)
    # quadratic through (0, 0), (8, 0.2), (32, 3.1), solved independently as the code does
    a, b, c = np.linalg.solve([[0, 0, 1], [64, 8, 1], [1024, 32, 1]], [0, 0.2, 3.1])
    assert op_pj("mul", 16, "quadratic") == pytest.approx(a * 256 + b * 16 + c)
    assert ram_pj(1000, 16) == pytest.approx(0.1744 + 13.2)
    assert ram_pj(1000, 16, "new") == 2.5                        # 10 pJ / (64 // 16)
    with pytest.raises(ValueError, match="mem_width"):
        Settings(mem_width=0)
    with pytest.raises(ValueError, match="ops"):
        Settings(ops="cubic")


def test_geometry_reads_a_folded_batchnorm_as_a_bias():
    from syops.engine.fold import fold_bn
    seq = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(2))
    assert geometry(seq[0], (1, 1, 4, 4)).bias == 0
    folded = geometry(fold_bn(seq)[0], (1, 1, 4, 4))
    assert (folded.bias, folded.n_out, folded.ceil_ks) == (2, 8, 4)
    assert geometry(nn.Conv1d(2, 4, 5, padding="same"), (1, 2, 10)).n_out == 40
    assert geometry(nn.ReLU(), (1, 4)) is None


def test_the_convention_is_registered():
    named = CONVENTIONS["lemaire2022"]
    assert named.pricing == "syops.energy.lemaire:lemaire_energy"
    assert named.options()["energy"] == "int32" and named.options()["fuse_bn"]
    model = Tiny(neuron.IFNode())
    report = count_syops(model, spikes_in(), convention="lemaire2022")
    assert report.energy_model.name == "int32"
    with pytest.raises(ValueError, match="T >= 1"):
        lemaire_energy(report, model, T=0)


def test_a_batchnorm_left_in_place_is_skipped_and_the_conv_keeps_its_neuron():
    bn = nn.BatchNorm2d(2, eps=0.0).eval()        # identity: mean 0, variance 1, no eps
    model = Tiny(nn.Sequential(bn, neuron.IFNode()))
    report = count_syops(model, spikes_in(), fuse_bn=False)
    result = lemaire_energy(report, model, T=2)
    assert result["skipped"] == ["act.0"]
    _, plain = priced(neuron.IFNode(), spikes_in())
    # the same spikes reach the same IF after the conv: every term as without the BN
    for term in ("mem_pot", "mem_io", "ops", "total"):
        assert by_name(result)["conv"][term] == pytest.approx(by_name(plain)["conv"][term])
