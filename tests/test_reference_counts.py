"""Cross-checks of the exact counts against independent counters.

1. A brute-force reference that loops over output positions and kernel taps.
2. The definition in DESIGN 2: conv(nonzero(x), all-ones kernel) summed over outputs.
3. SpikingJelly 2.0's op_counter (SynOpCounter / MACCounter), on nets without BatchNorm.
"""

import itertools
import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from syops import count_syops


def brute_force_pairs(conv: nn.Conv2d, x: torch.Tensor) -> int:
    """(non-zero input, weight) pairs a Conv2d applies, one output position at a time."""
    if conv.padding_mode != "zeros":
        pad = [p for p in reversed(conv.padding) for _ in (0, 1)]
        x = F.pad(x, pad, mode=conv.padding_mode)
        pad_h = pad_w = 0
    else:
        pad_h, pad_w = conv.padding
    n, c_in, h, w = x.shape
    (kh, kw), (sh, sw), (dh, dw) = conv.kernel_size, conv.stride, conv.dilation
    out_h = (h + 2 * pad_h - dh * (kh - 1) - 1) // sh + 1
    out_w = (w + 2 * pad_w - dw * (kw - 1) - 1) // sw + 1
    per_group_in = c_in // conv.groups
    per_group_out = conv.out_channels // conv.groups
    nonzero = (x != 0).tolist()
    pairs = 0
    for b, o, i, j in itertools.product(range(n), range(conv.out_channels), range(out_h), range(out_w)):
        group = o // per_group_out
        for c in range(group * per_group_in, (group + 1) * per_group_in):
            for a, bb in itertools.product(range(kh), range(kw)):
                r, s = i * sh - pad_h + a * dh, j * sw - pad_w + bb * dw
                if 0 <= r < h and 0 <= s < w and nonzero[b][c][r][s]:
                    pairs += 1
    return pairs


def ones_kernel_pairs(conv: nn.Conv2d, x: torch.Tensor) -> int:
    """DESIGN 2's definition: conv of the non-zero map with an all-ones kernel, summed."""
    ones = torch.ones_like(conv.weight, dtype=torch.float64)
    y = F.conv2d(F.pad((x != 0).double(), [p for p in reversed(conv.padding) for _ in (0, 1)],
                       mode="constant" if conv.padding_mode == "zeros" else conv.padding_mode),
                 ones, stride=conv.stride, dilation=conv.dilation, groups=conv.groups)
    return int(y.sum())


def random_conv(rng: random.Random) -> nn.Conv2d:
    groups = rng.choice([1, 2])
    return nn.Conv2d(2 * groups, 2 * rng.randint(1, 2), rng.choice([1, 2, 3]),
                     stride=rng.choice([1, 2]), padding=rng.choice([0, 1, 2]),
                     dilation=rng.choice([1, 2]), groups=groups,
                     padding_mode=rng.choice(["zeros", "zeros", "reflect", "replicate", "circular"]))


@pytest.mark.parametrize("seed", range(12))
def test_exact_matches_brute_force_on_random_convs(seed):
    rng = random.Random(seed)
    torch.manual_seed(seed)
    conv = random_conv(rng)
    size = rng.randint(5, 8)
    x = (torch.rand(2, conv.in_channels, size, size + 1) < rng.random()).float()
    row = count_syops(conv, x).layers.iloc[0]
    expected = brute_force_pairs(conv, x)
    assert row.acs * 2 == expected == ones_kernel_pairs(conv, x)


def spiking_conv_net(seed: int) -> nn.Sequential:
    """A random small multi-step spiking conv net without BatchNorm."""
    from spikingjelly.activation_based import layer, neuron

    rng = random.Random(seed)
    torch.manual_seed(seed)
    width = rng.choice([4, 6])
    net = nn.Sequential(
        layer.Conv2d(2, width, 3, padding=1, step_mode="m"),
        neuron.IFNode(v_threshold=0.2, step_mode="m"),
        layer.Conv2d(width, width, 3, stride=rng.choice([1, 2]), padding=rng.choice([0, 1]),
                     groups=rng.choice([1, 2]), step_mode="m"),
        neuron.IFNode(v_threshold=0.2, step_mode="m"),
        layer.Conv2d(width, width, 1, step_mode="m"),
        neuron.IFNode(v_threshold=0.05, step_mode="m"),
        layer.Flatten(step_mode="m"),
    )
    with torch.no_grad():
        net.append(layer.Linear(net(torch.zeros(1, 1, 2, 8, 8)).shape[-1], 3, step_mode="m"))
    return net


def spiking_input(seed: int) -> torch.Tensor:
    torch.manual_seed(100 + seed)
    return (torch.rand(3, 2, 2, 8, 8) < 0.3).float()  # [T, B, C, H, W], binary


@pytest.mark.parametrize("seed", range(4))
def test_exact_matches_brute_force_on_random_spiking_nets(seed):
    from spikingjelly.activation_based import functional

    net = spiking_conv_net(seed)
    x = spiking_input(seed)
    report = count_syops(net, x, batch_dim=1)
    inputs = {}
    hooks = [m.register_forward_hook(lambda m, a, o, n=n: inputs.__setitem__(n, a[0].clone()))
             for n, m in net.named_children()]
    functional.reset_net(net)
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    for row in report.layers.itertuples():
        layer_input = inputs[row.name]
        module = net.get_submodule(row.name)
        if isinstance(module, nn.Conv2d):
            expected = brute_force_pairs(module, layer_input.flatten(0, 1))
        else:
            expected = int((layer_input != 0).sum()) * module.out_features
        assert row.signal == "spike"
        assert row.acs * 2 == expected  # 2 samples


sj_op_counter = pytest.importorskip("spikingjelly.activation_based.op_counter")


@pytest.mark.parametrize("seed", range(4))
def test_spikingjelly_op_counter_agrees_on_nets_without_bn(seed):
    from spikingjelly.activation_based import functional

    net = spiking_conv_net(seed)
    x = spiking_input(seed)
    x[0, 0, 0, 0, 0] = 2.0  # an event count: the first layer's input is not spikes
    synops, macs = sj_op_counter.SynOpCounter(), sj_op_counter.MACCounter()
    functional.reset_net(net)
    with torch.no_grad(), sj_op_counter.DispatchCounterMode([synops, macs]):
        net(x)
    functional.reset_net(net)
    report = count_syops(net, x, batch_dim=1, classify="observed")
    assert report.acs * 2 == synops.get_total()
    assert report.macs * 2 == macs.get_total()
    assert report.macs > 0 and report.acs > 0
