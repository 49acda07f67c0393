"""Exact per-layer counts on single layers, every figure derived by hand in the comments."""

import math

import pytest
import torch
from torch import nn

from syops import count_syops


def one_layer(layer, x, **kwargs):
    """The single row of a one-layer model's report, per sample."""
    report = count_syops(layer, x, **kwargs)
    assert len(report.layers) == 1
    return report.layers.iloc[0], report


def spikes_at(shape, *positions):
    x = torch.zeros(shape)
    for position in positions:
        x[position] = 1
    return x


# 6x6 input, 3x3 kernel, padding 1, stride 1: 36 outputs x 9 taps = 324 dense SyOPs per output
# channel. Per dimension, input positions 0..5 are read by [2, 3, 3, 3, 3, 2] (output, tap)
# pairs (an edge row has one neighbour outside), so a corner spike meets 2 x 2 = 4 weights,
# an inner spike 3 x 3 = 9.
def test_exact_and_rate_differ_and_are_both_right_on_6x6_padding_1():
    conv = nn.Conv2d(1, 4, 3, padding=1)
    x = spikes_at((1, 1, 6, 6), (0, 0, 0, 0), (0, 0, 2, 3))
    exact, _ = one_layer(conv, x)
    rate, _ = one_layer(conv, x, mode="rate")
    assert exact.syops == 4 * 324 == 1296
    # exact: (4 + 9) pairs per output channel x 4 output channels
    assert exact.acs == 4 * (4 + 9) == 52
    # rate: dense 1296 x firing rate 2/36
    assert rate.acs == pytest.approx(1296 * 2 / 36) == 72
    assert exact.macs == rate.macs == 0
    assert exact.signal == "spike" and exact.firing_rate == pytest.approx(2 / 36)


def test_all_ones_6x6_exact_leaves_out_padding():
    conv = nn.Conv2d(1, 1, 3, padding=1)
    row, _ = one_layer(conv, torch.ones(1, 1, 6, 6))
    # coverage sums to 2+3+3+3+3+2 = 16 per dimension: 16 x 16 = 256 pairs of the 324 dense.
    assert (row.acs, row.syops) == (256, 324)


def test_grouped_conv():
    conv = nn.Conv2d(4, 6, 3, padding=1, groups=2)
    x = spikes_at((1, 4, 6, 6), (0, 0, 0, 0), (0, 3, 2, 3))
    row, _ = one_layer(conv, x)
    # dense: 6 x 36 outputs x (4/2 in-channels x 9 taps) = 3888
    assert row.syops == 3888
    # each input channel feeds 6/2 = 3 output channels: (4 + 9) x 3
    assert row.acs == 39
    rate, _ = one_layer(conv, x, mode="rate")
    assert rate.acs == pytest.approx(3888 * 2 / 144)  # = 54


def test_depthwise_conv():
    conv = nn.Conv2d(3, 3, 3, padding=1, groups=3)
    x = spikes_at((1, 3, 6, 6), (0, 0, 0, 0), (0, 2, 5, 5), (0, 1, 3, 1))
    row, _ = one_layer(conv, x)
    # dense: 3 x 36 x (1 x 9) = 972; one output channel per input: 4 + 4 + 9
    assert (row.syops, row.acs) == (972, 17)


def test_stride_2():
    conv = nn.Conv2d(1, 1, 3, stride=2, padding=1)
    # 3 outputs per dim read padded-shifted positions {-1,0,1}, {1,2,3}, {3,4,5}:
    # coverage [1, 2, 1, 2, 1, 1]; spikes at (1, 1) -> 2 x 2 = 4 and (5, 0) -> 1 x 1 = 1
    x = spikes_at((1, 1, 6, 6), (0, 0, 1, 1), (0, 0, 5, 0))
    row, _ = one_layer(conv, x)
    assert (row.syops, row.acs) == (9 * 9, 5)
    assert one_layer(conv, torch.ones(1, 1, 6, 6))[0].acs == 8 * 8  # sum of coverage squared


def test_dilation_2():
    conv = nn.Conv2d(1, 1, 3, padding=2, dilation=2)
    # output o reads o-2, o, o+2: coverage [2, 2, 3, 3, 2, 2]; spikes at (0, 2) -> 2 x 3 = 6
    # and (3, 3) -> 3 x 3 = 9
    x = spikes_at((1, 1, 6, 6), (0, 0, 0, 2), (0, 0, 3, 3))
    row, _ = one_layer(conv, x)
    assert (row.syops, row.acs) == (36 * 9, 15)


def test_same_padding_even_kernel_puts_the_extra_pad_on_the_right():
    conv = nn.Conv1d(1, 1, 4, padding="same")
    # total pad 3: left 1, right 2. Output o reads o-1..o+2 of 5 inputs:
    # coverage [2, 3, 4, 3, 2] (position 0 read by o=0,1; position 2 by o=0..3; ...)
    x = spikes_at((1, 1, 5), (0, 0, 0), (0, 0, 2))
    row, _ = one_layer(conv, x)
    assert (row.syops, row.acs) == (5 * 4, 2 + 4)


def test_circular_padding_counts_the_wrapped_copies():
    conv = nn.Conv1d(1, 1, 3, padding=1, padding_mode="circular")
    # every position is read 3 times once the wrapped copies count: a spike at 0 -> 3
    row, _ = one_layer(conv, spikes_at((1, 1, 6), (0, 0, 0)))
    assert row.acs == 3


def test_conv_transpose_counts_on_the_input_side():
    deconv = nn.ConvTranspose2d(2, 3, 3, stride=2)
    x = spikes_at((1, 2, 4, 4), (0, 0, 0, 0), (0, 0, 1, 2), (0, 1, 3, 3), (0, 1, 0, 3), (0, 0, 2, 2))
    row, _ = one_layer(deconv, x)
    # every input element meets 3 output channels x 9 taps = 27 weights:
    # dense 32 inputs x 27 = 864; exact 5 spikes x 27 = 135
    assert (row.syops, row.acs) == (864, 135)


def test_linear_on_time_first_input_divides_by_the_batch_not_by_T():
    fc = nn.Linear(5, 4)
    x = torch.zeros(3, 2, 5)  # [T=3, B=2, F=5]
    x.view(-1)[[0, 4, 7, 11, 12, 20, 29]] = 1  # 7 spikes
    row, report = one_layer(fc, x, batch_dim=1)
    assert report.samples == 2
    # dense: 30 input elements x 4 outputs = 120 in all, 60 per sample;
    # exact: 7 spikes x 4 = 28 in all, 14 per sample (rate gives the same for a linear layer)
    assert (row.syops, row.acs) == (60, 14)
    assert one_layer(fc, x, batch_dim=1, mode="rate")[0].acs == pytest.approx(14)


class CastingLinear(nn.Linear):
    """A Linear subclass that accepts bool spikes (matched through isinstance)."""

    def forward(self, x):
        return super().forward(x.float())


def test_bool_spike_input_is_spikes():
    fc = CastingLinear(4, 3)
    x = torch.tensor([[True, False, True, True]])
    row, _ = one_layer(fc, x)
    assert (row.signal, row.syops, row.acs, row.macs) == ("spike", 12, 9, 0)


def test_all_zero_input_is_spikes_at_rate_zero():
    row, report = one_layer(nn.Conv2d(2, 2, 3, padding=1), torch.zeros(1, 2, 6, 6))
    assert (row.signal, row.acs, row.macs, row.firing_rate) == ("spike", 0, 0, 0)
    assert report.energy() == 0


def test_half_input_is_multi_level_and_costs_dense_macs():
    x = torch.zeros(1, 1, 6, 6)
    x[0, 0, 0, 0] = 0.5
    row, report = one_layer(nn.Conv2d(1, 2, 3, padding=1), x)
    assert (row.signal, row.acs, row.macs) == ("multi-level", 0, 648)
    assert math.isnan(row.firing_rate)
    assert report.energy() == pytest.approx(648 * 4.6e-9)


def test_a_layer_called_several_times_adds_up_its_calls():
    fc = nn.Linear(3, 2)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = fc

        def forward(self, x):
            return self.fc(x) + self.fc(torch.ones_like(x))

    report = count_syops(Twice(), torch.tensor([[1.0, 0.0, 0.0]]))
    row = report.layers.iloc[0]
    # calls: 1 spike + 3 spikes = 4 spikes x 2 weights = 8 ACs; 2 calls per forward
    assert (row.calls, row.syops, row.acs) == (2, 12, 8)


def test_a_call_site_is_classified_for_the_whole_run():
    fc = nn.Linear(2, 1)
    loader = [torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5, 0.0]])]
    row = count_syops(fc, loader, classify="observed").layers.iloc[0]
    # one input of the site is not 0/1, so both calls cost MACs: 2 x 2 MACs over 2 samples
    assert (row.signal, row.acs, row.macs) == ("multi-level", 0, 2)


def test_a_layer_called_on_spikes_and_on_levels_is_mixed():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 1)

        def forward(self, x):
            return self.fc(x) + self.fc(x * 0.5)

    row = count_syops(Shared(), torch.tensor([[1.0, 1.0]])).layers.iloc[0]
    # call 0: spikes, 2 ones x 1 weight = 2 ACs; call 1: 0.5s, 2 MACs
    assert (row.signal, row.acs, row.macs, row.calls) == ("mixed", 2, 2, 2)


def test_batchnorm_not_after_a_conv_costs_two_macs_per_element():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(2))
    report = count_syops(model, torch.ones(1, 1, 4, 4))
    bn = report.layers.set_index("name").loc["2"]
    assert (bn.type, bn.macs, bn.acs) == ("BatchNorm2d", 2 * 2 * 16, 0)


def test_folded_batchnorm_is_free_and_unfolded_costs_two_macs_per_element():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2))
    x = torch.ones(1, 1, 4, 4)
    assert list(count_syops(model, x).layers.name) == ["0"]
    unfolded = count_syops(model, x, fuse_bn=False)
    assert unfolded.layers.set_index("name").loc["1"].macs == 64
    assert unfolded.macs == 64  # the conv input is spikes: its cost is ACs


def test_declared_signals_override_the_probe():
    fc = nn.Linear(2, 1)
    x = torch.tensor([[1.0, 1.0]])
    row = count_syops(fc, x, signals={"": "multi-level"}).layers.iloc[0]
    assert (row.signal, row.macs, row.acs) == ("multi-level", 2, 0)


def test_max_batches_and_empty_data():
    fc = nn.Linear(2, 1)
    batches = [torch.ones(1, 2)] * 5
    assert count_syops(fc, batches, max_batches=2).samples == 2
    with pytest.raises(ValueError, match="empty"):
        count_syops(fc, [])


def test_dict_and_tuple_batches():
    fc = nn.Linear(2, 1)
    x = torch.ones(3, 2)
    for batch in ({"input": x, "label": 0}, (x, torch.zeros(3))):
        assert count_syops(fc, [batch]).samples == 3
    with pytest.raises(TypeError, match="keys"):
        count_syops(fc, [{"foo": x}])


@pytest.mark.parametrize("values, spikes", [
    ([0.0, 1.0, 1.0, 0.0], True),
    ([-0.0, 1.0], True),                # negative zero is a zero
    ([1.5, 0.5], False),                # sums to its non-zero count, but out of [0, 1]
    ([2.0, -2.0, 1.0], False),
    ([1.0, 1.0, 0.25, 0.75], False),    # in [0, 1], sums to 3 with 4 non-zeros
    ([1.0, 1.0 - 2 ** -12], False),     # close to 1, beyond float32 rounding of the sum
    ([1.0, 1e-30], False),              # a tiny non-zero is not a spike
    ([3.0], False),                     # an event count
])
def test_spike_test(values, spikes):
    from syops.spikes import is_binary

    assert is_binary(torch.tensor(values)) is spikes
    assert is_binary(torch.tensor(values, dtype=torch.float64)) is spikes


@pytest.mark.parametrize("shape, count_dims", [
    ((5, 3, 4), 0), ((5, 3, 4), 1), ((5, 3, 4), 2), ((1, 40, 2), 1), ((2, 9, 3), 1),
    ((1, 1, 50), 0), ((3,), 0), ((0, 4), 1)])
@pytest.mark.parametrize("transposed", [False, True])
def test_spike_sums_in_float32_slices_equal_float64_sums(monkeypatch, shape, count_dims,
                                                         transposed):
    """With the exactness bound lowered to 7 elements per position, every sum runs in
    several float32 slices (rows, or flattened rows) and still equals the float64 sum."""
    import syops.spikes as spikes

    monkeypatch.setattr(spikes, "EXACT_FLOAT32", 7)
    x = (torch.rand(shape, generator=torch.Generator().manual_seed(3)) < 0.5).float()
    x = x.transpose(0, -1) if transposed and x.dim() > 1 else x
    lead = tuple(range(x.dim() - count_dims))
    got = spikes.spike_sums(x, count_dims)
    assert got.dtype == torch.float64
    assert torch.equal(got, x.double().sum(dim=lead))
