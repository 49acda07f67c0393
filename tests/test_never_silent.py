"""Issue 17, root cause 1: every input of every counted call is verified against what it is
counted as, on every call, and neurons are data (what each kind emits).

Each case is a minimal reproduction of a count that used to be wrong with no warning; the
expected figures are derived by hand in the comments, or by a brute force over what each
layer really received (recorded by hooks on a copy of the model).
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from spikingjelly.activation_based import layer, neuron, surrogate
from torch import nn

import syops
from syops.engine.counter import SyopsCounter


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def per_layer(report) -> dict[str, tuple[float, float]]:
    """{layer name: (ACs, MACs)} per sample."""
    return {c.name: (c.acs / report.samples, c.mac_syops / report.samples)
            for c in report.layer_counts}


def same(a: dict, b: dict) -> bool:
    """Two {name: (ACs, MACs)} tables agree (to float rounding)."""
    return a.keys() == b.keys() and all(x == pytest.approx(y) for k in a
                                        for x, y in zip(a[k], b[k]))


def brute_force(model: nn.Module, batches, spikes: str = "binary") -> dict[str, tuple]:
    """What each Linear/Conv of ``model`` really receives, counted by brute force: a layer
    whose every input over the run is 0/1 (under ``spikes="ternary"``: -1/0/1) costs one
    AC per (non-zero input, weight) pair, else every dense pair is a MAC. Per sample."""
    model = copy.deepcopy(model).eval()
    seen: dict[str, list] = {}
    for name, m in model.named_modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            m.register_forward_hook(lambda mod, a, y, name=name: seen.setdefault(
                name, []).append((mod, a[0].detach().clone(), y)))
    samples = 0
    with torch.no_grad():
        for x in batches:
            samples += x.shape[0]
            model(x)
    out = {}
    for name, calls in seen.items():
        values = torch.cat([x.flatten() for _, x, _ in calls])
        low = -1 if spikes == "ternary" else 0
        spiking = bool(((values == 0) | (values == 1) | (values == low)).all())
        acs = macs = 0
        for mod, x, y in calls:
            if isinstance(mod, nn.Linear):
                pairs = (x != 0).sum() * mod.out_features
                dense = x.numel() * mod.out_features
            else:
                ones = torch.ones_like(mod.weight)
                pairs = torch.nn.functional.conv2d((x != 0).float(), ones, None, mod.stride,
                                                   mod.padding, mod.dilation, mod.groups).sum()
                dense = y.numel() * mod.weight[0].numel()
            acs, macs = (acs + int(pairs), macs) if spiking else (acs, macs + dense)
        out[name] = (acs / samples, macs / samples)
    return out


# --- W1: Sinabs' IAF emits several spikes per step -------------------------------------
def sinabs_net() -> nn.Module:
    sl = pytest.importorskip("sinabs.layers")
    first, last = nn.Linear(4, 3, bias=False), nn.Linear(3, 2, bias=False)
    nn.init.constant_(first.weight, 0.5)
    nn.init.constant_(last.weight, 1.0)
    return nn.Sequential(first, sl.IAF(), last)


def test_w1_multi_spike_neuron_costs_macs_in_any_order():
    quiet = torch.zeros(1, 5, 4)
    quiet[..., 0] = 1
    loud = torch.ones(1, 5, 4)
    reports = [syops.count_syops(sinabs_net(), order) for order in ([quiet, loud],
                                                                     [loud, quiet])]
    # the last layer: 5 steps x 3 inputs x 2 outputs = 30 dense MACs per sample, always:
    # Sinabs' MultiSpike IAF emits counts (the loud sample gets 2 spikes per step)
    for report in reports:
        assert per_layer(report)["2"] == (0.0, 30.0)
        # the first layer is fed 0/1 data: quiet 5 x 1 x 3 = 15 pairs, loud 5 x 4 x 3 = 60
        assert per_layer(report)["0"] == (37.5, 0.0)
        (iaf,) = report.neuron_counts
        assert iaf.kind == "integer" and 0 <= iaf.firing_rate <= 1


# --- W2: inference_mode does not change a count ----------------------------------------
@pytest.mark.parametrize("grad_mode", [torch.no_grad, torch.inference_mode, torch.enable_grad])
def test_w2_grad_mode_and_order_do_not_change_the_count(grad_mode):
    one, two = torch.ones(1, 1, 1, 1, 1), 2 * torch.ones(1, 1, 1, 1, 1)
    for order in ([one, two], [two, one]):
        model = nn.Sequential(layer.Conv2d(1, 2, 1, step_mode="m"),
                              neuron.IFNode(step_mode="m"))
        with grad_mode():
            report = syops.count_syops(model, order, batch_dim=1)
        # a 1x1 conv, 1 -> 2 channels, one pixel: 2 MACs per sample (the 2.0 input makes
        # the site multi-level for the whole run)
        assert (report.acs, report.macs) == (0.0, 2.0)


# --- W3/W4: what a neuron emits decides how the next layer is counted -------------------
def head(emitter: nn.Module, inputs: int) -> nn.Module:
    return nn.Sequential(emitter, nn.Linear(inputs, 2, bias=False))


X4 = torch.tensor([[0.3, 1.0, 2.6, 9.0]])


@pytest.mark.parametrize("emitter, spikes, expected", [
    # ILIFNode emits [0, 1, 3, 4]: binary convention, 4 x 2 dense MACs; events, |k| ACs
    # (0 + 1 + 3 + 4) x 2 = 16
    (lambda: neuron.ILIFNode(), "binary", (0.0, 8.0)),
    (lambda: neuron.ILIFNode(), "events", (16.0, 0.0)),
    # TernaryIFNode emits [0, 1, -1, 1]: binary, 8 MACs; ternary (NeuroBench) and events,
    # 3 non-zero inputs x 2 = 6 ACs
    (lambda: neuron.TernaryIFNode(), "binary", (0.0, 8.0)),
    (lambda: neuron.TernaryIFNode(), "ternary", (6.0, 0.0)),
    (lambda: neuron.TernaryIFNode(), "events", (6.0, 0.0)),
    # LIAFNode emits analog values: MACs under every convention
    (lambda: neuron.LIAFNode(act=nn.Identity(), threshold_related=False), "binary", (0.0, 8.0)),
    (lambda: neuron.LIAFNode(act=nn.Identity(), threshold_related=False), "events", (0.0, 8.0)),
])
def test_w3_spikingjelly_non_binary_neurons(emitter, spikes, expected):
    report = syops.count_syops(head(emitter(), 4), X4, spikes=spikes)
    assert per_layer(report)["1"] == expected


def test_w3_neuron_kinds_are_data():
    from syops.engine.emits import emits
    assert emits(neuron.ILIFNode()) == "integer"
    assert emits(neuron.TernaryLIFNode()) == "ternary"
    assert emits(neuron.IFNode()) == "binary"
    multi = surrogate.MultiLevelSpikeCount(max_spike_count=4)
    assert emits(neuron.IFNode(surrogate_function=multi)) == "integer"
    assert emits(nn.ReLU()) is None


@pytest.mark.parametrize("factor, spikes, expected", [
    # outputs [0, f, f] for inputs [0.3, 1.5, 2.6] (beta 0.5, threshold 1): Linear(3, 2)
    (0.5, "binary", (0.0, 6.0)),    # graded: 3 x 2 dense MACs
    (2.0, "binary", (0.0, 6.0)),
    (0.5, "events", (4.0, 0.0)),    # one scaled level: 2 non-zero x 2 weights = 4 ACs
    (1.0, "binary", (4.0, 0.0)),    # plain spikes: 2 ones x 2 weights
])
def test_w4_snntorch_graded_spikes(factor, spikes, expected):
    snn = pytest.importorskip("snntorch")

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lif = snn.Leaky(beta=0.5, graded_spikes_factor=factor)
            self.fc = nn.Linear(3, 2, bias=False)

        def forward(self, x):
            spk, _ = self.lif(x, torch.zeros_like(x))
            return self.fc(spk)

    report = syops.count_syops(Net(), torch.tensor([[0.3, 1.5, 2.6]]), spikes=spikes)
    assert per_layer(report)["fc"] == expected
    (lif,) = report.neuron_counts
    assert lif.firing_rate == pytest.approx(2 / 3)       # 2 of 3 updates emit: never > 1
    assert lif.events_per_update == pytest.approx(2 * factor / 3)
    assert lif.kind == ("binary" if factor == 1.0 else "graded")


# --- W5: what each layer really receives: user hooks, train-mode dropout ------------------
def conv_net() -> nn.Module:
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), neuron.IFNode(),
                          nn.Conv2d(4, 4, 3, padding=1), neuron.IFNode(),
                          nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    with torch.no_grad():   # positive weights: every layer sees spikes
        for m in (model[0], model[2]):
            m.weight.abs_()
    return model


def data(samples: int = 4) -> torch.Tensor:
    torch.manual_seed(7)
    return (torch.rand(samples, 2, 6, 6) < 0.4).float() * 3.0


def test_w5_a_forward_hook_that_rescales_spikes_is_counted_as_it_runs():
    model, x = conv_net(), data()
    model[1].register_forward_hook(lambda m, a, y: 0.5 * y)
    expected = brute_force(model, [x])
    got = per_layer(syops.count_syops(model, [x]))
    assert same(got, expected), (got, expected)
    assert got["2"][0] == 0 and got["2"][1] > 0   # 0.5-scaled spikes are not spikes


def test_w5_a_pre_hook_that_doubles_an_input():
    model, x = conv_net(), data()
    model[5].register_forward_pre_hook(lambda m, a: (2 * a[0],))
    expected = brute_force(model, [x])
    got = per_layer(syops.count_syops(model, [x]))
    assert same(got, expected), (got, expected)
    assert got["5"][0] == 0


def test_w5_train_mode_dropout_under_syops_counter():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), neuron.IFNode(), nn.Dropout(0.5),
                          nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).train()
    x = data()
    seen = []
    model[4].register_forward_pre_hook(lambda m, a: seen.append(a[0].clone()))
    with SyopsCounter(model) as counter:
        model(x)
    report = counter.report()
    # dropout scales the kept spikes by 2: the linear layer receives {0, 2}: dense MACs
    assert set(seen[-1].unique().tolist()) <= {0.0, 2.0}
    assert per_layer(report)["4"] == (0.0, 4 * 6 * 6 * 3)


# --- W6: the events convention's scaled spikes -------------------------------------------
@pytest.mark.parametrize("scale", [0.5, -0.5])
def test_w6_data_fed_scaled_spikes_under_events(scale):
    torch.manual_seed(1)
    spikes = (torch.rand(3, 5) < 0.5).float()
    model = nn.Sequential(nn.Linear(5, 4, bias=False))
    report = syops.count_syops(model, scale * spikes, spikes="events")
    # one non-zero level: one AC per (non-zero input, weight): nonzero x 4 outputs
    assert report.acs * report.samples == pytest.approx(float(spikes.sum()) * 4)
    assert report.macs == 0


def test_w6_products_of_event_counts_and_scaled_spikes():
    torch.manual_seed(2)
    counts = torch.randint(0, 3, (1, 4, 6)).float()          # integer event counts
    scaled = 0.5 * (torch.rand(1, 6, 5) < 0.5).float()         # one scaled level

    class Product(nn.Module):
        def forward(self, x):
            return x @ scaled
    report = syops.count_syops(Product(), counts, spikes="events", classify="observed")
    # |k| x (non-zero of the other): sum over the shared index j of
    # (sum_i |a_ij|) x (number of non-zero b_jn)
    expected = float((counts.abs().sum(1) * (scaled != 0).sum(-1)).sum())
    assert report.acs == pytest.approx(expected)
    report = syops.count_syops(Product(), counts, spikes="events")
    assert report.acs == pytest.approx(expected)


# --- W7: rate mode products per sample ------------------------------------------------------
def test_w7_rate_mode_both_spiking_operands_per_sample():
    firing, silent = torch.ones(1, 4, 8), torch.zeros(1, 4, 8)

    class Attention(nn.Module):
        def forward(self, q):
            return q @ q.transpose(-2, -1)
    one = syops.count_syops(Attention(), [firing, silent], mode="rate", classify="observed")
    two = syops.count_syops(Attention(), [torch.cat([firing, silent])], mode="rate",
                            classify="observed")
    # q @ q.T: 4 x 8 x 4 = 128 dense per sample; the firing sample: rates 1 x 1, the
    # silent 0 x 0: 128 ACs over 2 samples = 64 per sample, whatever the batching
    assert one.acs == two.acs == 64.0


# --- W9: a time loop outside the model ---------------------------------------------------------
def test_w9_snntorch_time_loop_under_syops_counter_is_noted():
    snn = pytest.importorskip("snntorch")
    model = nn.Sequential(nn.Linear(3, 2), snn.Leaky(beta=0.5, init_hidden=True))
    with SyopsCounter(model) as counter:
        for _ in range(4):
            model(torch.ones(1, 3))
    assert any("report(samples=N)" in note for note in counter.report().notes)


# --- W16: NeuroBench's ternary inputs ----------------------------------------------------------
def test_w16_neurobench_convention_prices_ternary_inputs_as_acs():
    from syops.energy.conventions import CONVENTIONS
    assert CONVENTIONS["neurobench"].spikes == "ternary"
    ternary = torch.tensor([[1.0, -1.0, 0.0, 1.0]])
    model = nn.Sequential(nn.Linear(4, 3, bias=False))
    report = syops.count_syops(model, ternary, convention="neurobench")
    assert (report.acs, report.macs) == (9.0, 0.0)   # 3 non-zero inputs x 3 weights
    report = syops.count_syops(model, ternary)
    assert (report.acs, report.macs) == (0.0, 12.0)  # binary convention: dense MACs


# --- batching, order, grad mode: identical per-sample figures ------------------------------
def test_per_sample_figures_do_not_depend_on_batching_order_or_grad_mode():
    x = data(6)
    reference = per_layer(syops.count_syops(conv_net(), [x]))
    assert same(reference, brute_force(conv_net(), [x]))
    for batches in ([x[:1], x[1:3], x[3:]], [x[5:], x[:5]], list(x.split(1))[::-1]):
        for mode in (torch.no_grad, torch.inference_mode):
            with mode():
                got = per_layer(syops.count_syops(conv_net(), batches))
            assert same(got, reference)


def test_options_are_one_object_shown_whole():
    report = syops.count_syops(conv_net(), data(2), spikes="events", mode="rate")
    assert report.options["spikes"] == "events" and report.options["mode"] == "rate"
    assert set(report.options) >= {"mode", "fuse_bn", "bn_macs", "spikes", "effective",
                                   "classify", "signals", "batch_dim", "time_first", "energy"}
    assert report.to_dict()["options"] == report.options


# --- layout mistakes and averaged spikes are said, where they happen -------------------------
def dvs_net() -> nn.Module:
    """A newcomer's multi-step net: Conv-BN-LIF-MaxPool x2, Linear, mean over T."""
    from spikingjelly.activation_based import functional

    class DVSNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Sequential(
                layer.Conv2d(2, 4, 3, padding=1), layer.BatchNorm2d(4), neuron.LIFNode(),
                layer.MaxPool2d(2), layer.Conv2d(4, 4, 3, padding=1), layer.BatchNorm2d(4),
                neuron.LIFNode(), layer.MaxPool2d(2))
            self.fc = nn.Sequential(layer.Flatten(), layer.Linear(4 * 4 * 4, 3))
            functional.set_step_mode(self, "m")

        def forward(self, x):
            return self.fc(self.conv(x)).mean(0)
    return DVSNet()


def warned(run) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run()
    return [str(w.message) for w in caught if w.category is syops.SyopsWarning]


def test_samples_first_data_fed_to_a_time_first_model_is_warned_with_the_flag():
    frames = (torch.rand(4, 8, 2, 16, 16) < 0.2).float()   # [N, T, ...] data
    messages = warned(lambda: syops.count_syops(dvs_net(), frames.split(2)))
    assert any("--time-first" in m and "time steps" in m for m in messages), messages
    assert not warned(lambda: syops.count_syops(dvs_net(), frames.split(2), time_first=True))


def test_a_model_that_repeats_an_image_over_t_is_not_warned():
    class Repeat(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = layer.Conv2d(3, 4, 3, step_mode="m")
            self.sn = neuron.IFNode(step_mode="m")

        def forward(self, image):   # [B, C, H, W] -> [T = 4, B, ...]
            return self.sn(self.conv(image.unsqueeze(0).repeat(4, 1, 1, 1, 1)))
    assert not warned(lambda: syops.count_syops(Repeat(), torch.rand(4, 3, 8, 8)))


def test_average_pooling_of_spikes_is_warned_where_it_happens():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), neuron.IFNode(), nn.AvgPool2d(2),
                          nn.Flatten(), nn.Linear(2 * 2 * 2, 3))
    messages = warned(lambda: syops.count_syops(model, 3 * torch.rand(2, 1, 4, 4)))
    assert any(m.startswith("2 (AvgPool2d) averages spikes") and "--spikes events" in m
               for m in messages), messages
    summed = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), neuron.IFNode(), nn.MaxPool2d(2))
    assert not warned(lambda: syops.count_syops(summed, 3 * torch.rand(2, 1, 4, 4)))


def test_w10_a_layer_called_through_forward_is_named_in_a_warning():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.sn, self.fc2 = nn.Linear(4, 3), neuron.IFNode(), nn.Linear(3, 2)

        def forward(self, x):
            return self.fc2(self.sn(self.fc.forward(x)))   # bypasses fc's hooks
    messages = warned(lambda: syops.count_syops(Net(), torch.rand(2, 4)))
    assert any(m.startswith("layer fc ran without module hooks") for m in messages), messages


@pytest.mark.parametrize("scale", [0.5, 0.3])
def test_w6_neuron_output_through_a_scale_is_scaled_spikes_under_events(scale):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.sn, self.fc2 = nn.Linear(4, 6), neuron.IFNode(), nn.Linear(6, 3)

        def forward(self, x):
            return self.fc2(scale * self.sn(self.fc1(x)))
    torch.manual_seed(4)
    model, x = Net(), 4 * torch.rand(5, 4)
    seen = []
    model.fc2.register_forward_pre_hook(lambda m, a: seen.append(a[0].clone()))
    report = syops.count_syops(model, x, spikes="events")
    # one AC per (non-zero input, weight): the scale folds into the weights
    ones = float((seen[-1] != 0).sum())
    assert ones > 0
    assert per_layer(report)["fc2"] == pytest.approx((ones * 3 / 5, 0.0))
    # under the binary convention the scaled spikes are multi-level: 6 x 3 dense MACs
    assert per_layer(syops.count_syops(model, x))["fc2"] == (0.0, 18.0)


def test_reference_models_at_batch_t_are_not_warned_about_layout():
    from cli_helpers import invoke
    # sew7b takes [B, T, ...] frames: with a batch of 4 at T = 4 the shapes alone cannot tell
    # samples from steps, but the command line builds the layout of a reference model itself
    result = invoke("profile", "sew7b", "-T", "4", "--batch-size", "4", "--samples", "4",
                    "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert "time steps" not in result.stderr
