"""Effective operations (``effective=True``, NeuroBench's convention): zero inputs and zero
weights skipped, for spike and multi-level inputs alike; hand-derived."""

from __future__ import annotations

import itertools

import torch
from torch import nn

from syops import count_syops


def test_linear_skips_zero_weights_and_zero_inputs():
    fc = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        fc.weight.copy_(torch.tensor([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]]))
    # non-zero weights per input feature: [1, 0, 2]; input non-zeros at features 0 and 2
    spikes = torch.tensor([[1.0, 1.0, 1.0]])
    assert count_syops(fc, spikes, effective=True).acs == 1 + 0 + 2
    levels = torch.tensor([[0.5, 0.0, 0.7]])
    report = count_syops(fc, levels, effective=True)
    assert (report.macs, report.acs) == (1 + 2, 0)
    assert count_syops(fc, levels).macs == 6        # dense without the option


def brute_force_effective(conv: nn.Conv2d, x: torch.Tensor) -> int:
    """Loop over outputs and taps: a pair counts when input and weight are both non-zero."""
    (kh, kw), (sh, sw), (ph, pw) = conv.kernel_size, conv.stride, conv.padding
    out_h, out_w = conv(x).shape[-2:]
    per_group_in = conv.in_channels // conv.groups
    per_group_out = conv.out_channels // conv.groups
    pairs = 0
    for b, o, i, j in itertools.product(range(x.shape[0]), range(conv.out_channels),
                                        range(out_h), range(out_w)):
        group = o // per_group_out
        for c, u, v in itertools.product(range(per_group_in), range(kh), range(kw)):
            r, s = i * sh - ph + u, j * sw - pw + v
            if 0 <= r < x.shape[2] and 0 <= s < x.shape[3]:
                pairs += bool(x[b, group * per_group_in + c, r, s] != 0) and bool(
                    conv.weight[o, c, u, v] != 0)
    return pairs


def test_conv_effective_pairs_match_a_brute_force():
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, bias=False)
    with torch.no_grad():
        conv.weight.mul_((torch.rand_like(conv.weight) < 0.5).float())   # half pruned
    for x in ((torch.rand(2, 4, 5, 5) < 0.3).float(), torch.rand(2, 4, 5, 5) * (
            torch.rand(2, 4, 5, 5) < 0.5)):
        report = count_syops(conv, x, effective=True, classify="observed")
        assert (report.acs + report.macs) * 2 == brute_force_effective(conv, x)


def test_effective_products_count_non_zero_pairs():
    class Product(nn.Module):
        def forward(self, a, b):
            return a @ b

    a = torch.tensor([[[0.5, 0.0], [0.0, 0.0]]])
    b = torch.tensor([[[0.0, 2.0], [1.0, 1.0]]])
    from syops import SyopsCounter
    model = Product()
    with torch.no_grad(), SyopsCounter(model, effective=True) as counter:
        model(a, b)
    # a's one non-zero (row 0, k 0) meets b's non-zeros in row 0: one (b[0, 1])
    assert counter.report().macs == 1
