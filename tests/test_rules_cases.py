"""Issue 17, rule-level cases (W8, W12-W15): each against a hand derivation or a brute-force
count of the (non-zero input, weight) pairs the call really applies."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrizations

from syops import SyopsCounter, count_syops
from syops.engine.rules import call_geometry, layer_parameters, rule_for


def spikes(*shape: int, seed: int = 0, rate: float = 0.4) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=generator) < rate).float()


class OutputSize(nn.Module):
    """A decoder step: ``up(x, output_size=...)`` (a U-Net matching its skip's size)."""

    def __init__(self, up: nn.Module, size: list[int]):
        super().__init__()
        self.up, self.size = up, size

    def forward(self, x):
        return self.up(x, output_size=self.size)


def transpose_pairs(up: nn.ConvTranspose2d, x: torch.Tensor, size: list[int]) -> float:
    """Brute force: the real call on the 0/1 indicator of ``x`` with every weight 1 and no
    bias; each output element sums the (non-zero input, tap) pairs that land on it, once per
    output channel of the group."""
    ones = nn.ConvTranspose2d(up.in_channels, up.out_channels, up.kernel_size, up.stride,
                              up.padding, up.output_padding, up.groups, bias=False,
                              dilation=up.dilation)
    nn.init.ones_(ones.weight)
    with torch.no_grad():
        return float(ones((x != 0).float(), output_size=size).sum())


# --- W8: ConvTranspose called with output_size ----------------------------------------
W8 = dict(in_channels=3, out_channels=4, kernel_size=3, stride=2, padding=1)


def test_output_size_is_an_implicit_output_padding_dense():
    # Default output: (5 - 1) * 2 - 2 + 3 = 9 rows, (6 - 1) * 2 - 2 + 3 = 11 columns; the
    # call asks for 10 x 12, an output padding of 1 on both dims. Per dim, input i reaches
    # output 2i - 1 + j (j = 0..2) inside the output: rows 2 + 3 x 4 = 14 taps (13 without
    # the padding: the last row's tap 9 falls outside 9 rows), columns 2 + 3 x 5 = 17 (16).
    # All-ones input, per sample: 3 channels x 14 x 17 taps x 4 outputs = 2,856 ACs.
    up = nn.ConvTranspose2d(**W8)
    report = count_syops(OutputSize(up, [10, 12]), torch.ones(2, 3, 5, 6))
    assert (report.acs, report.macs) == (3 * 14 * 17 * 4, 0)
    images = count_syops(OutputSize(up, [10, 12]), torch.full((2, 3, 5, 6), 0.5))
    assert (images.acs, images.macs) == (0, 3 * 14 * 17 * 4)


def test_output_size_spike_pairs_equal_a_brute_force():
    up = nn.ConvTranspose2d(**W8)
    x = spikes(2, 3, 5, 6, seed=8)
    report = count_syops(OutputSize(up, [10, 12]), x)
    assert report.acs * 2 == transpose_pairs(up, x, [10, 12])   # per sample x 2 samples
    assert report.acs * 2 > transpose_pairs(up, x, [9, 11])     # the padding's taps count


def test_the_geometry_of_a_call_reads_its_output():
    up = nn.ConvTranspose2d(**W8)
    rule = rule_for(up)
    x = torch.ones(2, 3, 5, 6)
    assert call_geometry(rule, up, x, up(x)) is up                  # a plain call
    geometry = call_geometry(rule, up, x, up(x, output_size=[10, 12]))
    assert geometry.output_padding == (1, 1) and up.output_padding == (0, 0)
    assert rule.output_shape(geometry, x) == (2, 4, 10, 12)


# --- W12: MultiheadAttention with add_bias_kv / add_zero_attn ----------------------------
class Attention(nn.Module):
    def __init__(self, **options):
        super().__init__()
        self.attn = nn.MultiheadAttention(4, 2, batch_first=True, **options)

    def forward(self, x):
        return self.attn(x, x, x, need_weights=False)[0]


@pytest.mark.parametrize("options, keys", [({}, 5), ({"add_bias_kv": True}, 6),
                                           ({"add_zero_attn": True}, 6),
                                           ({"add_bias_kv": True, "add_zero_attn": True}, 7)])
def test_appended_keys_lengthen_the_attention_products(options, keys):
    # L = S = 5 tokens of E = 4, 2 heads of 2: q, k, v projections 3 x 5 x 4 x 4 = 240,
    # output projection 5 x 4 x 4 = 80 (appended keys come after the projections); scores
    # 2 heads x 5 x 2 x keys and weighted sums 2 x 5 x keys x 2: 20 x keys each.
    torch.manual_seed(0)
    report = count_syops(Attention(**options).eval(), torch.rand(1, 5, 4) + 0.1)
    assert (report.macs, report.acs) == (240 + 80 + 2 * 20 * keys, 0)
    assert not report.warnings


# --- W13: lazy modules -----------------------------------------------------------------
def test_lazy_modules_are_counted_once_their_forward_initialised_them():
    # conv 1 -> 4 channels, 3 x 3 on 5 x 5: 3 x 3 x 4 outputs x 9 = 324 MACs; linear
    # 36 -> 2: 72 MACs. Parameters: 4 x 9 + 4 and 36 x 2 + 2.
    model = nn.Sequential(nn.LazyConv2d(4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))
    report = count_syops(model, torch.rand(2, 1, 5, 5) + 0.1)
    assert (report.macs, report.acs) == (324 + 72, 0)
    assert report.params == 40 + 74
    assert list(report.layers.params) == [40, 74]


def test_a_lazy_batchnorm_after_a_lazy_conv_folds():
    model = nn.Sequential(nn.LazyConv2d(4, 3), nn.LazyBatchNorm2d(), nn.ReLU())
    report = count_syops(model.eval(), torch.rand(2, 1, 5, 5) + 0.1)
    assert report.macs == 324 and list(report.layers.name) == ["0"]


# --- W14: grouped-query SDPA -------------------------------------------------------------
class Sdpa(nn.Module):
    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v, enable_gqa=True)


def run_sdpa(q, k, v):
    model = Sdpa()
    with warnings.catch_warnings(), SyopsCounter(model) as counter:
        warnings.simplefilter("error")
        model(q, k, v)
    return counter.report()


def test_grouped_query_attention_multi_level():
    # 4 query heads share 2 key/value heads: scores 4 x 5 x 3 x 5 = 300, weighted sums
    # 4 x 5 x 5 x 3 = 300.
    q, k, v = torch.rand(1, 4, 5, 3) + 0.1, torch.rand(1, 2, 5, 3), torch.rand(1, 2, 5, 3)
    report = run_sdpa(q, k, v)
    assert (report.macs, report.acs) == (600, 0)


def test_grouped_query_attention_spikes_equal_a_brute_force():
    q, k, v = spikes(1, 4, 5, 3, seed=1), spikes(1, 2, 5, 3, seed=2), spikes(1, 2, 5, 3, seed=3)
    report = run_sdpa(q, k, v)
    # brute force: query head h meets key/value head h // 2
    keys, values = k[:, [0, 0, 1, 1]], v[:, [0, 0, 1, 1]]
    scores = (q @ keys.transpose(-2, -1)).sum()           # (spike, spike) pairs
    weighted = values.sum() * 5                           # each value spike meets 5 query rows
    assert report.acs == scores + weighted and report.macs == 0


# --- W15: parametrized layers ------------------------------------------------------------
def test_a_weight_normed_layer_is_the_layer():
    # conv 1 -> 2 channels, 3 taps on 5: 2 x 3 outputs x 3 = 18 MACs; flattened 6 -> 4: 24.
    model = nn.Sequential(parametrizations.weight_norm(nn.Conv1d(1, 2, 3, bias=False)),
                          nn.Flatten(), parametrizations.weight_norm(nn.Linear(6, 4))).eval()
    report = count_syops(model, torch.rand(2, 1, 5) + 0.1, strict=True)
    assert (report.macs, report.acs) == (18 + 24, 0)
    assert report.not_counted == () and report.unused == ()
    # weight_norm keeps g (one per output) and v (the weight's shape); the bias stays
    assert list(report.layers.params) == [2 + 6, 4 + 24 + 4]
    assert layer_parameters(model[2]) == 32


def test_a_weight_normed_conv_folds_its_batchnorm():
    model = nn.Sequential(parametrizations.weight_norm(nn.Conv2d(1, 4, 3)),
                          nn.BatchNorm2d(4)).eval()
    report = count_syops(model, torch.rand(1, 1, 5, 5) + 0.1)
    assert report.macs == 324 and list(report.layers.name) == ["0"]
