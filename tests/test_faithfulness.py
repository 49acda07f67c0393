"""Issue 9: right per-sample numbers on the models users bring (each case hand-derived)."""

from __future__ import annotations

import itertools
import threading
import warnings

import pytest
import torch
from spikingjelly.activation_based import functional, layer, neuron
from torch import nn

from syops import SyopsCounter, count_syops
from syops.counter import SyopsWarning


def event_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(layer.Conv2d(2, 8, 3, padding=1, step_mode="m"),
                         neuron.IFNode(step_mode="m")).eval()


def event_counts() -> torch.Tensor:
    """8 samples [B, T=4, 2, 16, 16] of Poisson(0.2) event counts, 3 of them clamped to 0/1."""
    torch.manual_seed(1)
    frames = torch.poisson(torch.full((8, 4, 2, 16, 16), 0.2))
    frames[[1, 4, 6]] = frames[[1, 4, 6]].clamp(max=1)
    assert frames.max() > 1
    return frames


# --- 1. batch size and sample order ---------------------------------------------------
def test_totals_do_not_depend_on_batch_size_or_order():
    model, frames = event_net(), event_counts()
    # the input conv is fed event counts: multi-level for the whole run, dense MACs for every
    # sample: T=4 x 8 out channels x 16 x 16 positions x 2 in channels x 9 taps
    dense = 4 * 8 * 16 * 16 * 2 * 9
    assert dense == 147_456
    figures = set()
    for batch, order in itertools.product((1, 2, 5, 8), (range(8), [6, 0, 4, 1, 7, 3, 2, 5])):
        data = frames[list(order)]
        loader = [data[i:i + batch] for i in range(0, 8, batch)]
        report = count_syops(model, loader, time_first=True)
        figures.add((report.macs, report.acs, report.samples, report.layers.signal[0]))
    assert figures == {(dense, 0, 8, "multi-level")}


def test_data_that_is_all_binary_counts_as_spikes():
    model, frames = event_net(), event_counts().clamp(max=1)
    report = count_syops(model, [frames[:3], frames[3:]], time_first=True)
    # every input is 0/1: ACs are the exact (spike, weight) pairs; no MACs
    assert report.macs == 0 and report.layers.signal[0] == "spike"
    assert report.acs == count_syops(model, frames, time_first=True).acs > 0


# --- 2. time-first data ----------------------------------------------------------------
def test_time_first_counts_samples_from_the_data():
    model, frames = event_net(), event_counts()
    by_flag = count_syops(model, [frames], time_first=True)
    by_dim = count_syops(model, [frames.transpose(0, 1)], batch_dim=1)
    assert by_flag.samples == by_dim.samples == 8
    assert by_flag.macs == by_dim.macs == 147_456
    # neurons: 8 channels x 16 x 16 per step; 4 steps per sample
    assert by_flag.neurons.neurons[0] == 8 * 16 * 16
    assert by_flag.neuron_updates == 4 * 8 * 16 * 16


def test_an_ambiguous_batch_dim_is_a_warning_that_names_it():
    model = event_net()
    frames = event_counts()[:4].transpose(0, 1)  # [T=4, B=4, ...]: dim 0 is T, not B
    with pytest.warns(SyopsWarning, match="batch_dim"):
        with torch.no_grad(), SyopsCounter(model) as counter:
            model(frames)
    assert any("batch_dim" in w for w in counter.report().warnings)


def test_a_single_step_loop_is_noted():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), neuron.IFNode()).eval()
    with torch.no_grad(), SyopsCounter(model) as counter:
        for t in range(3):
            model(torch.ones(2, 4))
        functional.reset_net(model)
    assert any("report(samples=N)" in n for n in counter.report().notes)
    # with the true number of samples, 3 calls of 2 samples x 4 x 3 spikes = 72 ACs over 2
    assert counter.report(samples=2).acs == 36


# --- 3. the audit's findings --------------------------------------------------------------
def brute_force_transpose_pairs(conv: nn.ConvTranspose2d, x: torch.Tensor) -> int:
    """Pairs (non-zero input, weight) whose output position lies inside the output."""
    out_h, out_w = conv(x).shape[-2:]
    (s_h, s_w), (p_h, p_w), (k_h, k_w) = conv.stride, conv.padding, conv.kernel_size
    pairs = 0
    for b, c, i, j in (x != 0).nonzero().tolist():
        for u, v in itertools.product(range(k_h), range(k_w)):
            if 0 <= i * s_h - p_h + u < out_h and 0 <= j * s_w - p_w + v < out_w:
                pairs += conv.out_channels // conv.groups
    return pairs


def test_conv_transpose_counts_only_pairs_inside_the_output():
    torch.manual_seed(3)
    conv = nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1)
    x = (torch.rand(1, 4, 6, 6) < 0.3).float()
    report = count_syops(conv, x, classify="observed")
    assert report.acs == brute_force_transpose_pairs(conv, x)
    # by hand, 1-D: kernel 3, stride 1, padding 1, length 2 -> output length 2; each input
    # reaches 2 output positions (one tap falls off the cropped edge): 2 x 2 x 5 channels
    conv1d = nn.ConvTranspose1d(1, 5, 3, padding=1)
    assert count_syops(conv1d, torch.ones(1, 1, 2), classify="observed").acs == 20
    # output_padding extends the output: stride 2, output_padding 1 -> the last tap lands
    extended = nn.ConvTranspose1d(1, 1, 3, stride=2, padding=1, output_padding=1)
    assert count_syops(extended, torch.ones(1, 1, 2), classify="observed").acs == 5


class AttentionThenSew(nn.Module):
    """A SEW ADD (silent spikes summed: 0/1 by luck), a BatchNorm applied in forward(), and a
    MultiheadAttention whose functional forward reads ``out_proj.weight``."""

    def __init__(self):
        super().__init__()
        self.conv = layer.Conv2d(1, 4, 3, padding=1, bias=False, step_mode="m")
        self.bn = layer.BatchNorm2d(4, step_mode="m")
        self.sn = neuron.IFNode(v_threshold=100.0, step_mode="m")  # silent on real data
        self.attn = nn.MultiheadAttention(4, 1, batch_first=True)
        self.fc = layer.Linear(4, 2, step_mode="m")

    def forward(self, x):                         # [T, B, 1, 4, 4]
        s = self.sn(self.bn(self.conv(x)))
        summed = s + s                             # SEW ADD: multi-level by architecture
        tokens = summed.flatten(3).transpose(-1, -2).flatten(0, 1)   # [T*B, 16, 4]
        attended, _ = self.attn(tokens, tokens, tokens, need_weights=False)
        return self.fc(attended.mean(1))


def test_the_probe_survives_modules_that_read_a_counted_layers_parameters():
    model = AttentionThenSew().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error", SyopsWarning)    # a probe failure would raise here
        report = count_syops(model, torch.rand(2, 1, 1, 4, 4), batch_dim=1)
    assert report.classification == "probe" and not report.warnings
    rows = report.layers.set_index("name")
    assert "bn" not in rows.index                   # folded: the probe saw bn(conv(x))
    assert rows.loc["fc", "signal"] == "multi-level"


def test_keyword_calls_are_counted():
    class Keyword(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            return self.fc(input=x)

    report = count_syops(Keyword(), torch.tensor([[1.0, 0.0, 1.0]]))
    assert (report.acs, report.macs) == (4, 0)       # 2 ones x 2 outputs


def test_spike_inputs_above_float32_exactness_stay_spikes():
    fc = nn.Linear(1, 1, bias=False)
    rows = (1 << 24) + 3                                # partial sums beyond 2**24
    report = count_syops(fc, torch.ones(1, rows, 1))
    assert report.layers.signal[0] == "spike" and report.acs == rows and report.macs == 0


def test_a_declared_spike_layer_costs_acs_for_its_non_zero_inputs():
    fc = nn.Linear(4, 3)
    scaled = torch.tensor([[0.5, 0.0, 0.5, 0.0]])     # ann2snn's scaled spikes
    exact = count_syops(fc, scaled, signals={"": "spike"})
    assert (exact.acs, exact.macs) == (2 * 3, 0)
    rate = count_syops(fc, scaled, signals={"": "spike"}, mode="rate")
    assert (rate.acs, rate.macs) == (12 * 0.5, 0)   # dense 12 x half the inputs non-zero
    undeclared = count_syops(fc, scaled)
    assert (undeclared.acs, undeclared.macs) == (0, 12)


def test_batch_dim_is_validated():
    fc = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="non-negative"):
        count_syops(fc, torch.ones(1, 2), batch_dim=-1)
    with pytest.raises(ValueError, match="batch_dim=7"):
        with SyopsCounter(fc, batch_dim=7):
            fc(torch.ones(1, 2))


def test_one_model_cannot_be_counted_twice_at_once():
    fc = nn.Linear(2, 2)
    with SyopsCounter(fc):
        with pytest.raises(RuntimeError, match="already being counted"):
            with SyopsCounter(fc):
                fc(torch.ones(1, 2))
        errors = []
        thread = threading.Thread(target=lambda: _count_into(errors, fc))
        thread.start()
        thread.join()
        assert errors == ["already being counted"]
    assert not fc._forward_hooks and not fc._forward_pre_hooks
    with SyopsCounter(fc) as counter:              # free again afterwards
        fc(torch.ones(3, 2))
    assert counter.report().samples == 3


def _count_into(errors: list, model: nn.Module) -> None:
    try:
        with SyopsCounter(model):
            errors.append("counted")
    except RuntimeError as err:
        errors.append("already being counted" if "already being counted" in str(err) else str(err))


def test_zero_samples_are_an_error():
    fc = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="no samples"):
        count_syops(fc, torch.ones(0, 2))
    with SyopsCounter(fc) as counter:
        fc(torch.ones(1, 2))
    with pytest.raises(ValueError, match="positive"):
        counter.report(samples=0)


def test_non_finite_weights_are_refused():
    fc = nn.Linear(2, 2)
    with torch.no_grad():
        fc.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="weight holds NaN"):
        count_syops(fc, torch.ones(1, 2))


# --- 4. honest headline figures --------------------------------------------------------
def test_neuron_output_firing_rates_are_reported():
    fc = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        fc.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
    model = nn.Sequential(fc, neuron.IFNode(v_threshold=0.5, step_mode="m")).eval()
    report = count_syops(model, torch.ones(3, 1, 2), batch_dim=1)   # T=3, B=1
    # neuron 0 gets 1 each step and fires every step; neuron 1 gets 0: 3 spikes / 6 updates
    row = report.neurons.iloc[0]
    assert (row["name"], row.neurons, row.updates, row.output_firing_rate) == ("1", 2, 6, 0.5)
    assert report.neuron_firing_rate == 0.5 and report.neuron_updates == 6
    assert report.to_dict()["neurons"][0]["output_firing_rate"] == 0.5


def test_modules_that_never_ran_are_reported_apart():
    class Unused(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)
            self.norm = nn.LayerNorm(2)      # never called
            self.scale = nn.PReLU()          # called, no rule

        def forward(self, x):
            return self.scale(self.fc(x))

    report = count_syops(Unused(), torch.ones(1, 2))
    assert report.not_counted == ("PReLU",) and report.unused == ("LayerNorm",)


def test_spikes_by_architecture_take_the_fast_path_with_the_same_counts():
    torch.manual_seed(4)
    model = nn.Sequential(layer.Conv2d(2, 4, 3, padding=1, step_mode="m"),
                          neuron.IFNode(v_threshold=0.3, step_mode="m"),
                          layer.Conv2d(4, 3, 3, padding=1, step_mode="m"),
                          neuron.IFNode(step_mode="m")).eval()
    frames = torch.rand(6, 3, 2, 8, 8)                       # [B, T, ...], multi-level
    seen = []
    handle = model[1].register_forward_hook(lambda m, a, out: seen.append(int(out.sum())))
    fast = count_syops(model, list(frames.split(2)), time_first=True)
    handle.remove()
    slow = count_syops(model, list(frames.split(2)), time_first=True, classify="observed")
    columns = ["name", "signal", "syops", "acs", "macs", "firing_rate"]
    assert fast.layers[columns].equals(slow.layers[columns])
    assert fast.layers.acs[1] > 0
    # the first neuron's spikes come from the second conv's inputs: what it emitted
    first = fast.neurons.set_index("name").loc["1"]
    assert len(seen) == 3                                   # the probe runs on a copy
    assert first.output_firing_rate == sum(seen) / (6 * 3 * 4 * 8 * 8)
    assert first.output_firing_rate == slow.neurons.set_index("name").loc["1"].output_firing_rate


def test_official_sew_dvs_replica_totals_do_not_depend_on_batching():
    """The SEW authors' DVS net (smodels.py, replicated in test_checkpoints: its own
    containers and PLIF neurons, its own time-first permute) on event counts where some
    samples hold only 0/1: per-sample totals are identical for any batching and order."""
    from test_checkpoints import ResNetN, randomised
    torch.manual_seed(6)
    model = randomised(ResNetN((8, 8, 8), 11)).eval()
    frames = torch.poisson(torch.full((10, 3, 2, 8, 8), 0.4))    # [B, T, 2, H, W]
    frames[[0, 3, 7]] = frames[[0, 3, 7]].clamp(max=1)
    figures = set()
    for batch, order in itertools.product((1, 2, 5), (range(10), [9, 3, 0, 7, 1, 5, 2, 8, 6, 4])):
        data = frames[list(order)]
        report = count_syops(model, [data[i:i + batch] for i in range(0, 10, batch)])
        figures.add((report.samples, report.macs, round(report.acs, 6),
                     round(report.neuron_firing_rate, 12)))
    with torch.inference_mode():   # grad mode does not change a figure
        report = count_syops(model, [frames[i:i + 2] for i in range(0, 10, 2)])
    figures.add((report.samples, report.macs, round(report.acs, 6),
                 round(report.neuron_firing_rate, 12)))
    # a user's forward hooks that return a copy of each output: counted as they run, the same
    handles = [m.register_forward_hook(lambda m, a, y: y.clone() if torch.is_tensor(y) else None)
               for m in model.modules()]
    report = count_syops(model, [frames[i:i + 5] for i in range(0, 10, 5)])
    for handle in handles:
        handle.remove()
    figures.add((report.samples, report.macs, round(report.acs, 6),
                 round(report.neuron_firing_rate, 12)))
    assert len(figures) == 1
    samples, macs, _, _ = figures.pop()
    # MACs by hand (T = 3): the 1x1 stem on event counts (8 out x 8 x 8 x 2 in), the first
    # 3x3 conv of blocks 2 and 3 fed pooled SEW ADD sums (8 out x 4 x 4 and 2 x 2, x 8 in x 9),
    # the classifier on the time-averaged sums (8 x 11); every other conv takes spikes
    assert samples == 10
    assert macs == 3 * (8 * 64 * 2 + 8 * 16 * 8 * 9 + 8 * 4 * 8 * 9) + 8 * 11
