"""Issue 10: functional products (matmul, bmm, einsum, F.linear, F.conv*, SDPA, attention),
counted where they run, with hand-derived integers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from spikingjelly.activation_based import neuron
from torch import nn

from syops import SyopsCounter, count_syops


class Product(nn.Module):
    """Runs ``fn(a, b)`` on its two inputs."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *inputs):
        return self.fn(*inputs)


def run(fn, *inputs, **options):
    model = Product(fn).eval()
    with torch.no_grad(), SyopsCounter(model, classify="observed", **options) as counter:
        model(*inputs)
    return counter.report()


# one sample each (a leading batch dim of 1)
SPIKES_A = torch.tensor([[[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]])        # 2 x 3, 4 ones
SPIKES_B = torch.tensor([[[1.0, 1.0], [0.0, 1.0], [1.0, 0.0]]])       # 3 x 2, 4 ones
LEVELS_A = torch.full((1, 2, 3), 0.5)
LEVELS_B = torch.full((1, 3, 2), 0.25)


def test_neither_operand_spiking_costs_dense_macs():
    report = run(torch.matmul, LEVELS_A, LEVELS_B)
    assert (report.macs, report.acs) == (2 * 3 * 2, 0)
    row = report.layers.iloc[0]
    assert (row["name"], row.type) == ("", "matmul")


def test_one_spiking_operand_costs_its_ones_times_what_each_meets():
    # each of A's 4 ones multiplies the 2 elements of its row of B
    assert (run(torch.matmul, SPIKES_A, LEVELS_B).acs, run(torch.matmul, SPIKES_A,
                                                           LEVELS_B).macs) == (8, 0)
    # each of B's 4 ones multiplies the 2 elements of its column of A
    assert run(lambda a, b: a @ b, LEVELS_A, SPIKES_B).acs == 8


def test_both_operands_spiking_count_pairs_of_ones():
    # column sums of A [1, 1, 2] x row sums of B [2, 1, 1] = 2 + 1 + 2
    report = run(torch.matmul, SPIKES_A, SPIKES_B)
    assert (report.acs, report.macs) == (5, 0)
    brute = ((SPIKES_A != 0).float() @ (SPIKES_B != 0).float()).sum()
    assert report.acs == brute
    rate = run(torch.matmul, SPIKES_A, SPIKES_B, mode="rate")
    assert rate.acs == pytest.approx(12 * (4 / 6) * (4 / 6))


def test_batched_and_broadcast_products():
    torch.manual_seed(0)
    q = (torch.rand(2, 3, 5, 4) < 0.4).float()      # [B, heads, tokens, dim]
    k = (torch.rand(2, 3, 5, 4) < 0.4).float()
    report = run(lambda a, b: a @ b.transpose(-2, -1), q, k)
    brute = ((q != 0).float() @ (k != 0).float().transpose(-2, -1)).sum()
    assert report.samples == 2                     # figures are per sample
    assert report.acs * 2 == brute and report.syops * 2 == 2 * 3 * 5 * 4 * 5
    # a [5, 4] matrix broadcast over the batch: each of its ones meets 6 rows of 5
    w = (torch.rand(4, 5) < 0.5).float()
    levels = torch.rand(2, 3, 5, 4) + 0.1
    assert run(torch.matmul, levels, w).acs * 2 == w.sum() * 5 * 6
    assert run(torch.bmm, q.flatten(0, 1), k.flatten(0, 1).transpose(1, 2)).acs * 6 == brute


def test_einsum_two_operands():
    torch.manual_seed(1)
    a = (torch.rand(2, 5, 4) < 0.5).float()
    b = (torch.rand(2, 6, 4) < 0.5).float()
    report = run(lambda x, y: torch.einsum("bld,bsd->bls", x, y), a, b)
    brute = ((a != 0).float() @ (b != 0).float().transpose(1, 2)).sum()
    assert report.acs * 2 == brute and report.layers.type[0] == "einsum"
    ellipsis = run(lambda x, y: torch.einsum("...ld,...sd->...ls", x, y), a, b)
    assert ellipsis.acs * 2 == brute


def test_events_convention_weights_by_the_count():
    counts = torch.tensor([[[2.0, 0.0, -1.0]]])    # 3 events (|2| + |-1|), each meets 2
    assert run(torch.matmul, counts, LEVELS_B, spikes="events").acs == 3 * 2
    binary = run(torch.matmul, counts, LEVELS_B)
    assert (binary.acs, binary.macs) == (0, 6)
    # 0..3 counts on both sides: sum over k of |a| column sums x |b| row sums
    a = torch.tensor([[[3.0, 0.0], [1.0, 2.0]]])
    b = torch.tensor([[[1.0, 0.0], [2.0, 3.0]]])
    assert run(torch.matmul, a, b, spikes="events").acs == (3 + 1) * 1 + 2 * (2 + 3)


def test_scaled_spikes_cost_one_ac_per_non_zero_under_events():
    scaled = SPIKES_A * 0.3                           # {0, 0.3}: the scale folds into weights
    report = run(torch.matmul, scaled, LEVELS_B, spikes="events")
    assert report.acs == pytest.approx(8)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(4, 2, batch_first=True)
        self.sn = neuron.IFNode(v_threshold=0.5)

    def forward(self, x):
        out, _ = self.attn(x, x, x, need_weights=False)
        return self.sn(out)


def test_multihead_attention_is_counted_and_attributed():
    torch.manual_seed(0)
    x = (torch.rand(1, 5, 4) < 0.5).float()
    report = count_syops(Attention().eval(), x)
    rows = report.layers
    assert set(rows.type) == {"multi_head_attention"} and set(rows.name) == {"attn"}
    ones = int(x.sum())
    # q, k, v projections on spikes: every one meets 4 weights, three times
    assert report.acs == 3 * ones * 4
    # scores 2 heads x 5 x 2 x 5, weighted sums 2 x 5 x 5 x 2, output projection 5 x 4 x 4
    assert report.macs == 100 + 100 + 80
    assert "MultiheadAttention" not in report.not_counted + report.unused


def test_sdpa_counts_its_two_products():
    torch.manual_seed(2)
    q, k, v = ((torch.rand(1, 2, 5, 3) < 0.5).float() for _ in range(3))
    report = run(F.scaled_dot_product_attention, q, k, v)
    scores = ((q != 0).float() @ (k != 0).float().transpose(-2, -1)).sum()
    # weights (softmax, multi-level) x v: every one of v meets the 5 query rows
    assert report.acs == scores + v.sum() * 5
    assert report.macs == 0 and report.syops == 2 * (2 * 5 * 3 * 5)


class FunctionalLayers(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(3, 2, 3, 3))
        self.conv = nn.Conv2d(2, 3, 3, padding=1)       # a module: counted once, by its rule
        self.fc_weight = nn.Parameter(torch.randn(4, 3 * 4 * 4))

    def forward(self, x):
        y = F.conv2d(x, self.weight, padding=1) + self.conv(x)
        return F.linear((y > 0).float().flatten(1), self.fc_weight)


def test_functional_conv_and_linear_are_counted_like_their_modules():
    torch.manual_seed(3)
    model = FunctionalLayers().eval()
    x = (torch.rand(1, 2, 4, 4) < 0.5).float()
    report = count_syops(model, x, classify="observed")
    rows = report.layers.set_index(["name", "type"])
    module_conv = rows.loc[("conv", "Conv2d")]
    functional_conv = rows.loc[("", "conv2d")]
    assert functional_conv.acs == module_conv.acs and functional_conv.syops == module_conv.syops
    spikes = (F.conv2d(x, model.weight, padding=1) + model.conv(x) > 0).float()
    assert rows.loc[("", "linear")].acs == spikes.sum() * 4
    assert len(rows) == 3                          # the Conv2d's own F.conv2d not again


def test_models_without_products_install_no_interception():
    model = nn.Sequential(nn.Linear(3, 2), neuron.IFNode())
    report = count_syops(model, torch.ones(1, 3))
    assert list(report.layers.type) == ["Linear"]
    assert not torch.overrides._get_current_function_mode_stack()


class SummedSpikes(nn.Module):
    """A SEW-style ADD: two neurons' spikes summed, then a linear layer."""

    def __init__(self):
        super().__init__()
        self.a, self.b = neuron.IFNode(v_threshold=0.5), neuron.IFNode(v_threshold=0.5)
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(self.a(x[:, 0]) + self.b(x[:, 1]))


def test_sums_of_spikes_are_events_under_the_events_convention():
    x = torch.tensor([[[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]])   # spikes [1,1,0] + [1,0,0]
    events = count_syops(SummedSpikes().eval(), x, spikes="events")
    # the sum [2, 1, 0]: 3 events, each meets 2 weights
    assert (events.acs, events.macs, events.layers.signal[0]) == (6, 0, "events")
    binary = count_syops(SummedSpikes().eval(), x)
    assert (binary.acs, binary.macs) == (0, 6)
