"""Neurons of snnTorch, Norse and Sinabs: recognised, reset between batches, probed, counted.

Every library gets the same tiny net: Linear(4, 3) -> neurons -> Linear(3, 2) -> neurons, all
weights 1, no bias, over T = 3 steps and two samples of input spikes:
  A fires inputs 0, 1 at step 1 and inputs 2, 3 at step 3 (currents 2, 0, 2 per hidden neuron);
  E fires input 0 at step 1 (currents 1, 0, 0).
Integrate-and-fire neurons with threshold 1 (spike above it; Sinabs: 1.5, spike at or above)
fire A's three hidden neurons at steps 1 and 3 and never E's. Per sample:
  fc1: (4 + 1) input spikes x 3 outputs / 2 samples = 7.5 ACs,
  fc2: 6 hidden spikes x 2 outputs / 2 samples = 6 ACs.
E leaves every hidden membrane at 1: a second batch that did not start from reset states
would fire E's hidden neurons at step 1 and change the figures.
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from torch import nn

from syops import count_syops
from syops.snn import is_neuron

T = 3
PER_SAMPLE_ACS = {"fc1": 7.5, "fc2": 6.0}


def spikes_time_first() -> torch.Tensor:
    """The two samples A and E as [T, B, 4] spikes."""
    x = torch.zeros(T, 2, 4)
    x[0, 0, :2] = x[2, 0, 2:] = x[0, 1, 0] = 1
    return x


def ones_linear(inputs: int, outputs: int) -> nn.Linear:
    fc = nn.Linear(inputs, outputs, bias=False)
    nn.init.ones_(fc.weight)
    return fc


def returns_tuple(neuron: nn.Module) -> bool:
    """snnTorch neurons return spk alone only with init_hidden=True (and output=False);
    Norse cells always return (z, state)."""
    if hasattr(neuron, "init_hidden"):
        return not neuron.init_hidden or neuron.output
    return True


class StepLoop(nn.Module):
    """fc1 -> lif1 -> fc2 -> lif2 called once per time step on [T, B, 4]; the spikes are
    the tensor a neuron returns or its first item; with ``explicit_state`` its states go back in
    (snnTorch's ``mem``, ``syn, mem``..., all of ``spk, mem`` for its recurrent neurons;
    Norse's ``state``)."""

    def __init__(self, lif1: nn.Module, lif2: nn.Module, explicit_state: bool = False,
                 readout_mean: bool = False, spikes_are_state: bool = False):
        super().__init__()
        self.fc1, self.lif1 = ones_linear(4, 3), lif1
        self.fc2, self.lif2 = ones_linear(3, 2), lif2
        self.explicit_state, self.readout_mean = explicit_state, readout_mean
        self.state_from = 0 if spikes_are_state else 1
        self.tuples = {"lif1": returns_tuple(lif1), "lif2": returns_tuple(lif2)}

    def step(self, name: str, current: torch.Tensor, state):
        neuron = getattr(self, name)
        out = neuron(current, *state) if self.explicit_state and state else neuron(current)
        if isinstance(out, torch.Tensor) == self.tuples[name]:  # as user code unpacks
            raise TypeError(f"{name} returned a {type(out).__name__}")
        if isinstance(out, torch.Tensor):
            return out, state
        return out[0], out[self.state_from:] if self.explicit_state else state

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s1 = s2 = ()
        hidden, outputs = [], []
        for current in x:
            spikes, s1 = self.step("lif1", self.fc1(current), s1)
            hidden.append(spikes)
            if not self.readout_mean:
                out, s2 = self.step("lif2", self.fc2(spikes), s2)
                outputs.append(out)
        if self.readout_mean:  # the time-averaged hidden spikes are multi-level
            return self.fc2(torch.stack(hidden).mean(0))
        return torch.stack(outputs)


def snapshot(model: nn.Module) -> list:
    """Everything count_syops must leave as it was: per module its training flag, hooks,
    __dict__ keys, parameters, buffers and tensor attributes (the very objects and values)."""
    hook_dicts = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks")
    rows = []
    for name, module in model.named_modules():
        tensors = {**{f"p.{k}": v for k, v in module._parameters.items()},
                   **{f"b.{k}": v for k, v in module._buffers.items()},
                   **{f"a.{k}": v for k, v in vars(module).items()
                      if isinstance(v, torch.Tensor)}}
        rows.append((name, module.training, sorted(vars(module)),
                     [len(getattr(module, h)) for h in hook_dicts],
                     {k: (id(v), v.detach().clone() if v is not None else None)
                      for k, v in tensors.items()}))
    return rows


def assert_same(before: list, after: list) -> None:
    assert len(before) == len(after)
    for (name, *head, tensors), (_, *head_after, tensors_after) in zip(before, after):
        assert head == head_after, name
        assert tensors.keys() == tensors_after.keys(), name
        for key, (ident, value) in tensors.items():
            ident_after, value_after = tensors_after[key]
            assert ident == ident_after, f"{name}.{key} replaced"
            assert (value is None) == (value_after is None), f"{name}.{key}"
            if value is not None:
                assert value.shape == value_after.shape and torch.equal(value, value_after), \
                    f"{name}.{key} changed"


def brute_force_acs(model: nn.Module, x: torch.Tensor, batch_dim: int) -> dict[str, float]:
    """Per-sample ACs of every Linear/Conv in one run of a fresh model (zero states):
    non-zero inputs x the outputs each one reaches (out_features; a conv's real fan-out
    from a transposed conv of ones)."""
    found: dict[str, float] = {}

    def hook(name):
        def count(module, args, output):
            inp = args[0]
            if isinstance(module, nn.Linear):
                pairs = (inp != 0).sum().item() * module.out_features
            else:
                fan = nn.functional.conv_transpose2d(
                    torch.ones_like(output), torch.ones_like(module.weight),
                    stride=module.stride, padding=module.padding,
                    output_padding=_output_padding(module, inp, output))
                pairs = ((inp != 0) * fan).sum().item()
            found[name] = found.get(name, 0) + pairs
        return count

    handles = [module.register_forward_hook(hook(name))
               for name, module in model.named_modules()
               if isinstance(module, (nn.Linear, nn.Conv2d))]
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    return {k: v / x.shape[batch_dim] for k, v in found.items()}


def _output_padding(conv: nn.Conv2d, inp, out) -> tuple[int, int]:
    return tuple(i + 2 * p - ((o - 1) * s + k)
                 for i, o, p, s, k in zip(inp.shape[-2:], out.shape[-2:], conv.padding,
                                          conv.stride, conv.kernel_size))


def per_layer_acs(report) -> dict[str, float]:
    return dict(zip(report.layers.name, report.layers.acs))


def firing_rates(report) -> dict[str, float]:
    return dict(zip(report.neurons.name, report.neurons.output_firing_rate))


def assert_probed(report) -> None:
    assert report.classification == "probe"
    assert not any("probe" in note for note in report.notes), report.notes


def counted_after_training_step(model: nn.Module, x: torch.Tensor, batch_dim: int):
    """The brute-force ACs of a fresh run, then the report of count_syops after the model ran
    with autograd (states left as non-leaf tensors, which deepcopy refuses); the probe ran
    and the model is left exactly as it was."""
    expected = brute_force_acs(model, x, batch_dim)
    model(x)
    before = snapshot(model)
    report = count_syops(model, x, batch_dim=batch_dim)
    assert_same(before, snapshot(model))
    assert_probed(report)
    return report, expected


def check_library_net(model: nn.Module, x: torch.Tensor, batch_dim: int,
                      rates: dict[str, float], acs: dict[str, float] = PER_SAMPLE_ACS) -> None:
    """The shared checks: probe, hand-derived counts and rates, reset between batches,
    model unchanged after it ran with autograd (states with graph history)."""
    assert is_neuron(model.lif1) and is_neuron(model.lif2)
    one, expected = counted_after_training_step(model, x, batch_dim)
    before = snapshot(model)
    assert per_layer_acs(one) == acs == expected
    assert one.acs == sum(acs.values()) and one.macs == 0
    assert firing_rates(one) == pytest.approx(rates)
    two = count_syops(model, [x, x], batch_dim=batch_dim)
    assert two.samples == 4 and per_layer_acs(two) == acs
    assert firing_rates(two) == pytest.approx(rates)
    assert_same(before, snapshot(model))


def check_probe_sees_multi_level(model: nn.Module, x: torch.Tensor, batch_dim: int) -> None:
    """Silent neurons, time-averaged readout: on real data fc2's input is all zeros (binary);
    only random spikes from the probe's stand-in show it multi-level (2 x 3 MACs)."""
    report = count_syops(model, x, batch_dim=batch_dim)
    assert_probed(report)
    layers = report.layers.set_index("name")
    assert layers.loc["fc2", "signal"] != "spike"
    assert layers.loc["fc2", "macs"] == 6 and layers.loc["fc2", "acs"] == 0


# --- snnTorch ---------------------------------------------------------------------------

def _snntorch():
    return pytest.importorskip("snntorch", reason="snnTorch not installed (pip install snntorch)")


SNNTORCH_CONFIGS = {  # name: (neuron factory, explicit state)
    "leaky-init-hidden": (lambda snn: snn.Leaky(beta=1.0, init_hidden=True), False),
    "leaky-init-hidden-output": (
        lambda snn: snn.Leaky(beta=1.0, init_hidden=True, output=True), False),
    "leaky-explicit-mem": (lambda snn: snn.Leaky(beta=1.0), True),
    "leaky-mem-kept-inside": (lambda snn: snn.Leaky(beta=1.0), False),
}


@pytest.mark.parametrize("config", SNNTORCH_CONFIGS)
def test_snntorch_leaky_counts_rates_reset_and_model_unchanged(config):
    snn = _snntorch()
    factory, explicit = SNNTORCH_CONFIGS[config]
    instances = len(snn.SpikingNeuron.instances)
    model = StepLoop(factory(snn), factory(snn), explicit_state=explicit)
    # lif2 sees 3, 0, 3: subtract-reset leaves 2 then 4 above threshold, so it fires at
    # every step for A: 6 spikes of 2 x 3 x 2 updates.
    check_library_net(model, spikes_time_first(), 1, {"lif1": 6 / 18, "lif2": 6 / 12})
    assert len(snn.SpikingNeuron.instances) == instances + 2  # no neuron built by syops


@pytest.mark.parametrize("neuron", ["Leaky", "Synaptic", "Lapicque", "Alpha", "RLeaky",
                                    "RSynaptic"])
@pytest.mark.parametrize("init_hidden", [True, False])
def test_snntorch_neurons_probe_and_brute_force(neuron, init_hidden):
    """Each neuron type in both configurations: the probe's stand-in returns what the neuron
    returns (spk, or (spk, syn, mem)...), counts match a brute-force recount."""
    snn = _snntorch()
    kwargs = {"Leaky": dict(beta=0.9), "Lapicque": dict(beta=0.9),
              "Synaptic": dict(alpha=0.8, beta=0.9), "Alpha": dict(alpha=0.9, beta=0.8),
              "RLeaky": dict(beta=0.9), "RSynaptic": dict(alpha=0.8, beta=0.9)}[neuron]

    def make(features):
        recurrent = dict(linear_features=features) if neuron.startswith("R") else {}
        return getattr(snn, neuron)(threshold=0.5, init_hidden=init_hidden, **kwargs,
                                    **recurrent)
    torch.manual_seed(0)
    model = StepLoop(make(3), make(2), explicit_state=not init_hidden,
                     spikes_are_state=neuron.startswith("R"))
    x = (torch.rand(T, 2, 4) < 0.5).float()
    report, expected = counted_after_training_step(model, x, 1)
    assert per_layer_acs(report) == pytest.approx(expected)
    if neuron.startswith("R"):
        assert "lif1.recurrent" in expected  # the recurrent weights are counted too
    assert set(report.neurons.name) == {"lif1", "lif2"}


def test_snntorch_probe_substitutes_silent_neurons():
    snn = _snntorch()
    model = StepLoop(snn.Leaky(beta=1.0, threshold=100.0, init_hidden=True), nn.Identity(),
                     readout_mean=True)
    model(spikes_time_first())
    check_probe_sees_multi_level(model, spikes_time_first(), 1)


# --- Norse ------------------------------------------------------------------------------

def _norse():
    return pytest.importorskip("norse.torch", reason="Norse not installed (pip install norse)")


class SequenceNet(nn.Module):
    """Norse's sequence modules (SNN: LIF, IAF...) over the whole [T, B, ...] input."""

    def __init__(self, lif1: nn.Module, lif2: nn.Module):
        super().__init__()
        self.fc1, self.lif1 = ones_linear(4, 3), lif1
        self.fc2, self.lif2 = ones_linear(3, 2), lif2

    def forward(self, x):
        hidden, _ = self.lif1(self.fc1(x))
        out, _ = self.lif2(self.fc2(hidden))
        return out


@pytest.mark.parametrize("kind", ["cells", "sequence"])
def test_norse_iaf_counts_rates_and_model_unchanged(kind):
    norse = _norse()
    if kind == "cells":  # the state goes back in at every step, as Norse's examples do
        model = StepLoop(norse.IAFCell(), norse.IAFCell(), explicit_state=True)
    else:
        model = SequenceNet(norse.IAF(), norse.IAF())
    # lif2 sees 3, 0, 3 and resets to 0: fires at steps 1 and 3 for A, 4 of 12.
    check_library_net(model, spikes_time_first(), 1, {"lif1": 6 / 18, "lif2": 4 / 12})


@pytest.mark.parametrize("cell", ["LIFCell", "LIFBoxCell", "LIFRefracCell", "LSNNCell",
                                  "LIF", "LIFBoxCell-kept-state"])
def test_norse_modules_probe_and_brute_force(cell):
    """Cells return (z, state): the probe's stand-in returns the cell copy's state with
    random spikes, which the next step passes back in."""
    norse = _norse()
    name = cell.split("-")[0]
    torch.manual_seed(0)
    if name == "LIF":
        model = SequenceNet(norse.LIF(), norse.LIF())
    else:
        model = StepLoop(getattr(norse, name)(), getattr(norse, name)(),
                         explicit_state=not cell.endswith("kept-state"))
    x = (torch.rand(T, 2, 4) < 0.7).float() * 30
    report, expected = counted_after_training_step(model, x, 1)
    counted = per_layer_acs(report)
    assert counted["fc2"] == pytest.approx(expected["fc2"]) and report.neurons.shape[0] == 2
    assert counted["fc1"] == 0  # inputs of 30 are not spikes: MACs


def test_norse_leaky_integrators_and_recurrent_cells_are_not_neurons():
    norse = _norse()
    assert not is_neuron(norse.LICell()) and not is_neuron(norse.LI())
    assert not is_neuron(norse.LIFRecurrentCell(3, 4))  # holds weights: reported uncounted
    assert is_neuron(norse.LIFCell()) and is_neuron(norse.LIF())


def test_norse_probe_substitutes_silent_neurons():
    norse = _norse()
    from norse.torch.functional.iaf import IAFParameters
    model = StepLoop(norse.IAFCell(p=IAFParameters(v_th=torch.tensor(100.0))), nn.Identity(),
                     explicit_state=True, readout_mean=True)
    check_probe_sees_multi_level(model, spikes_time_first(), 1)


# --- Sinabs -----------------------------------------------------------------------------

def _sinabs():
    return pytest.importorskip("sinabs.layers", reason="Sinabs not installed (pip install sinabs)")


def sinabs_iaf(threshold: float = 1.5):
    sl = _sinabs()
    from sinabs.activation import SingleSpike
    return sl.IAF(spike_threshold=threshold, spike_fn=SingleSpike)


class BatchFirstNet(nn.Module):
    """Sinabs layers take [B, T, ...]."""

    def __init__(self, lif1, lif2, readout_mean: bool = False):
        super().__init__()
        self.fc1, self.lif1 = ones_linear(4, 3), lif1
        self.fc2, self.lif2 = ones_linear(3, 2), lif2
        self.readout_mean = readout_mean

    def forward(self, x):
        hidden = self.lif1(self.fc1(x))
        if self.readout_mean:
            return self.fc2(hidden.mean(1))
        return self.lif2(self.fc2(hidden))


def test_sinabs_iaf_counts_rates_reset_and_model_unchanged():
    model = BatchFirstNet(sinabs_iaf(), sinabs_iaf())
    # lif2 sees 3, 0, 3 with threshold 1.5 (subtract): 1.5 left fires again at step 2: 6 of 12.
    check_library_net(model, spikes_time_first().transpose(0, 1), 0,
                      {"lif1": 6 / 18, "lif2": 6 / 12})


def test_sinabs_recurrent_layer_is_reset_too():
    """IAFRecurrent has a child (rec_connect), so sinabs.reset_states would skip it; with
    zero recurrent weights it is the IAF above. Its rec_connect is applied to every step's
    spikes (for the next step), step 3's too: A's 6 x 3 outputs / 2 samples = 9 ACs."""
    sl = _sinabs()
    from sinabs.activation import SingleSpike
    recurrent = nn.Linear(3, 3, bias=False)
    nn.init.zeros_(recurrent.weight)
    lif1 = sl.IAFRecurrent(rec_connect=recurrent, spike_threshold=1.5, spike_fn=SingleSpike)
    check_library_net(BatchFirstNet(lif1, sinabs_iaf()), spikes_time_first().transpose(0, 1), 0,
                      {"lif1": 6 / 18, "lif2": 6 / 12},
                      {"fc1": 7.5, "lif1.rec_connect": 9.0, "fc2": 6.0})


def test_sinabs_without_a_reset_the_second_batch_would_differ():
    """The reset matters: the same net run twice by hand (no reset) fires E's hidden neurons."""
    model = BatchFirstNet(sinabs_iaf(), sinabs_iaf())
    x = spikes_time_first().transpose(0, 1)
    with torch.no_grad():
        first, second = model.lif1(model.fc1(x)), model.lif1(model.fc1(x))
    assert first[1].sum() == 0 and second[1].sum() == 3


def sinabs_conv_net(squeeze_by: str):
    """A conv net on [B*T, C, H, W] (Sinabs's Squeeze layers), fed [B, T, C, H, W]."""
    sl = _sinabs()
    from sinabs.activation import SingleSpike
    steps = {"num_timesteps": T} if squeeze_by == "time" else {"batch_size": 2}
    return nn.Sequential(
        sl.FlattenTime(), nn.Conv2d(1, 4, 3, padding=1, bias=False),
        sl.IAFSqueeze(spike_fn=SingleSpike, **steps), nn.Conv2d(4, 4, 3, stride=2, bias=False),
        sl.IAFSqueeze(spike_fn=SingleSpike, **steps), nn.Flatten(), nn.Linear(16, 3),
        sl.IAFSqueeze(spike_fn=SingleSpike, **steps))


def conv_spikes(seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    return (torch.rand(2, T, 1, 6, 6) < 0.3).float()


@pytest.mark.parametrize("squeeze_by", ["time", "batch"])
def test_sinabs_squeeze_conv_net_matches_brute_force_and_resets(squeeze_by):
    torch.manual_seed(1)
    model = sinabs_conv_net(squeeze_by)
    x = conv_spikes()
    one, expected = counted_after_training_step(model, x, 0)
    before = snapshot(model)
    two = count_syops(model, [x, x])
    assert_same(before, snapshot(model))
    assert one.samples == 2 and two.samples == 4
    assert per_layer_acs(one) == pytest.approx(expected)
    assert per_layer_acs(two) == per_layer_acs(one)
    assert one.acs > 0
    assert dict(zip(one.neurons.name, one.neurons.neurons)) == {"2": 144, "4": 16, "7": 3}


@pytest.mark.parametrize("net", ["conv-squeeze", "linear-batch-first"])
def test_sinabs_synops_agree_with_snn_analyzer(net):
    """Where conventions agree (single spikes into Conv2d/Linear, no average pooling in
    between), per-sample ACs equal SNNAnalyzer's per-layer synops: it sums
    spikes x connection map over time steps and averages over the batch."""
    import sinabs
    torch.manual_seed(2)
    if net == "conv-squeeze":
        model, x = sinabs_conv_net("time"), conv_spikes(3)
    else:
        model = BatchFirstNet(sinabs_iaf(0.5), sinabs_iaf(0.5))
        for fc in (model.fc1, model.fc2):
            nn.init.uniform_(fc.weight, 0, 1)
        x = (torch.rand(2, T, 4) < 0.5).float()
    report = count_syops(model, x)
    assert report.macs == 0  # every layer fed spikes: the convention sinabs counts
    twin = copy.deepcopy(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        analyzer = sinabs.SNNAnalyzer(twin)
    with torch.no_grad():
        twin(x)
    theirs = {name: float(stats["synops"])
              for name, stats in analyzer.get_layer_statistics()["parameter"].items()}
    assert per_layer_acs(report) == pytest.approx(theirs, rel=1e-6)
    assert report.acs == pytest.approx(float(analyzer.get_model_statistics()["synops"]))


@pytest.mark.parametrize("layer", ["LIF", "ALIF", "IAFRecurrent"])
def test_sinabs_other_layers_probe_and_brute_force(layer):
    sl = _sinabs()
    from sinabs.activation import SingleSpike
    kwargs = {"LIF": dict(tau_mem=5.0), "ALIF": dict(tau_mem=5.0, tau_adapt=5.0),
              "IAFRecurrent": dict(rec_connect=nn.Linear(3, 3, bias=False))}[layer]
    torch.manual_seed(0)
    model = BatchFirstNet(getattr(sl, layer)(spike_fn=SingleSpike, **kwargs), sinabs_iaf(0.5))
    x = (torch.rand(2, T, 4) < 0.6).float()
    report, expected = counted_after_training_step(model, x, 0)
    assert per_layer_acs(report) == pytest.approx(expected)
    # reset between batches, also IAFRecurrent (a module with children: sinabs.reset_states
    # would skip it)
    assert per_layer_acs(count_syops(model, [x, x])) == pytest.approx(expected)


def test_sinabs_exp_leak_is_not_a_neuron_but_its_states_are_kept():
    sl = _sinabs()
    leak = sl.ExpLeak(tau_mem=2.0)
    assert not is_neuron(leak) and is_neuron(sinabs_iaf())
    model = BatchFirstNet(sinabs_iaf(), leak)
    model(spikes_time_first().transpose(0, 1))
    before = snapshot(model)
    count_syops(model, spikes_time_first().transpose(0, 1))
    assert_same(before, snapshot(model))


def test_sinabs_probe_substitutes_silent_neurons():
    model = BatchFirstNet(sinabs_iaf(100.0), nn.Identity(), readout_mean=True)
    check_probe_sees_multi_level(model, spikes_time_first().transpose(0, 1), 0)


def test_sinabs_batch_first_layout_is_not_mistaken_for_time_first():
    """Sinabs layers see [B, T, ...]: their time steps are dim 1 (``snn.time_axis``), so a
    batch of B samples is not a sign that T was counted as samples."""
    from syops.snn import time_axis, time_steps
    layer = sinabs_iaf()
    x = spikes_time_first().transpose(0, 1)
    assert time_axis(layer) == 1 and time_steps(layer, x) == T
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        report = count_syops(BatchFirstNet(sinabs_iaf(), sinabs_iaf()), x)
    assert report.warnings == ()


def test_snntorch_states_put_back_when_the_forward_raises():
    snn = _snntorch()

    class Failing(StepLoop):
        def forward(self, x):
            super().forward(x)
            raise RuntimeError("boom")

    model = Failing(snn.Leaky(beta=1.0, init_hidden=True), snn.Leaky(beta=1.0, init_hidden=True))
    x = spikes_time_first()
    with pytest.raises(RuntimeError, match="boom"):
        model(x)  # states with autograd history
    before = snapshot(model)
    with pytest.raises(RuntimeError, match="boom"):
        count_syops(model, x, batch_dim=1)
    assert_same(before, snapshot(model))


def test_probe_copies_modules_that_keep_tensors_with_autograd_history():
    """Any module (not only neurons) may keep a tensor from its last forward; after a forward
    with autograd deepcopy refuses it, and the probe used to fail (a note, no probe)."""

    class Caching(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = ones_linear(4, 3)

        def forward(self, x):
            self.last = self.fc(x)
            return self.last

    model = Caching()
    x = spikes_time_first()[0]
    model(x)
    report = count_syops(model, x)
    assert_probed(report)
    assert per_layer_acs(report) == {"fc": 3 * 3 / 2}
