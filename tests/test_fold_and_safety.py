"""BatchNorm folding equivalence, and the user's model left exactly as it was."""

import copy

import pytest
import torch
from torch import nn

from syops import SyopsCounter, UncountedModulesError, count_syops, fold_bn

sj = pytest.importorskip("spikingjelly.activation_based")
from spikingjelly.activation_based import base, layer, neuron  # noqa: E402


def trained_bn(bn: nn.modules.batchnorm._BatchNorm) -> None:
    """Give a BatchNorm non-trivial statistics and affine parameters."""
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        if bn.affine:
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)


def bn_zoo() -> nn.Module:
    """Every foldable pattern, plus a BN that must stay (it follows a ReLU)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Sequential(nn.Conv2d(8, 8, 3, groups=4, padding=1), nn.BatchNorm2d(8)),
        nn.ConvTranspose2d(8, 6, 2, stride=2, groups=2), nn.BatchNorm2d(6, affine=False),
        nn.ReLU(), nn.BatchNorm2d(6),
        nn.Flatten(), nn.Linear(6 * 8 * 8, 5), nn.BatchNorm1d(5),
    ).double()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            trained_bn(m)
    return model.eval()


def test_folded_copy_computes_the_same_outputs():
    model = bn_zoo()
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    folded = fold_bn(model)
    kinds = [type(m).__name__ for m in folded]
    assert kinds.count("BatchNorm2d") == 1 and "BatchNorm1d" not in kinds  # only the BN after ReLU stays
    assert isinstance(folded[3][1], nn.Identity)
    torch.testing.assert_close(folded(x), model(x), rtol=1e-5, atol=1e-8)


def test_folding_leaves_the_original_untouched_and_counts_agree():
    model = bn_zoo()
    before = copy.deepcopy(model.state_dict())
    folded = fold_bn(model)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])
    x = torch.randn(1, 3, 4, 4, dtype=torch.float64)
    # counting the original with BN folded (free) == counting the folded copy
    a, b = count_syops(model, x), count_syops(folded, x, fuse_bn=False)
    assert (a.acs, a.macs, a.syops) == (b.acs, b.macs, b.syops)
    # the remaining BN (after ReLU): 2 MACs x 6 x 8 x 8 elements
    assert a.layers.set_index("type").loc["BatchNorm2d"].macs == 768


def test_folding_spikingjelly_multistep_pairs():
    torch.manual_seed(0)
    model = nn.Sequential(
        layer.Conv2d(2, 4, 3, step_mode="m"), layer.BatchNorm2d(4, step_mode="m"),
        layer.SeqToANNContainer(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4))).double()
    trained_bn(model[1])
    trained_bn(model[2][1])
    model.eval()
    x = torch.randn(3, 2, 2, 5, 5, dtype=torch.float64)
    folded = fold_bn(model)
    assert isinstance(folded[1], nn.Identity) and isinstance(folded[2][1], nn.Identity)
    torch.testing.assert_close(folded(x), model(x), rtol=1e-5, atol=1e-8)


def snapshot(model: nn.Module) -> dict:
    """Everything the user could notice: hooks, attributes, flags, tensors, neuron states."""
    return {
        "attrs": {n: sorted(vars(m)) for n, m in model.named_modules()},
        "hooks": {n: [len(getattr(m, h)) for h in ("_forward_hooks", "_forward_pre_hooks",
                                                   "_forward_hooks_with_kwargs",
                                                   "_forward_pre_hooks_with_kwargs")]
                  for n, m in model.named_modules()},
        "training": {n: m.training for n, m in model.named_modules()},
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "memories": {n: {k: v.clone() if torch.is_tensor(v) else v for k, v in m._memories.items()}
                     for n, m in model.named_modules() if hasattr(m, "_memories")},
    }


def assert_same(a: dict, b: dict) -> None:
    assert a["attrs"] == b["attrs"] and a["hooks"] == b["hooks"] and a["training"] == b["training"]
    assert a["state"].keys() == b["state"].keys()
    assert all(torch.equal(a["state"][k], b["state"][k]) for k in a["state"])
    for name, memories in a["memories"].items():
        for key, value in memories.items():
            other = b["memories"][name][key]
            assert torch.equal(value, other) if torch.is_tensor(value) else value == other


def spiking_model() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(
        layer.SeqToANNContainer(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4)),
        neuron.IFNode(step_mode="m", v_threshold=0.2),
        layer.SeqToANNContainer(nn.Flatten(), nn.Linear(4 * 36, 3)))
    model.train()
    model[2].eval()  # mixed flags must come back as they were
    model(torch.rand(2, 1, 2, 6, 6))  # leave a membrane potential behind
    return model


def test_model_unchanged_after_counting():
    model = spiking_model()
    before = snapshot(model)
    count_syops(model, torch.rand(2, 3, 2, 6, 6), batch_dim=1, fuse_bn=False)
    assert_same(before, snapshot(model))


class InPlaceState(base.MemoryModule):
    """A stateful module that integrates into its memory in place (``v += x``)."""

    def __init__(self):
        super().__init__()
        self.register_memory("v", 0.0)

    def forward(self, x):
        if not torch.is_tensor(self.v):
            self.v = torch.zeros_like(x)
        self.v += x
        spike = (self.v >= 1).to(x)
        self.v -= spike
        return spike


def test_states_come_back_as_the_same_tensors_untouched_by_in_place_neurons():
    """count_syops keeps the model's own state tensors aside (it resets every state before
    each batch, so a neuron that writes its state in place writes into fresh ones)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), InPlaceState())
    model(torch.rand(2, 4))
    v = model[1].v
    kept = v.clone()
    report = count_syops(model, torch.rand(5, 4))
    assert model[1].v is v and torch.equal(v, kept)
    assert report.macs == 4 * 3


class Boom(RuntimeError):
    """The error a user's forward raises in the test below."""


def test_model_unchanged_after_its_forward_raises():
    model = spiking_model()
    before = snapshot(model)

    def explode(module, args, output):
        raise Boom("forward failed")

    handle = model[1].register_forward_hook(explode)
    before_hooked = snapshot(model)
    with pytest.raises(Boom):
        count_syops(model, torch.rand(2, 3, 2, 6, 6), batch_dim=1)
    assert_same(before_hooked, snapshot(model))
    handle.remove()
    assert_same(before, snapshot(model))


def test_context_manager_counts_an_existing_eval_loop():
    from spikingjelly.activation_based import functional

    model = spiking_model().eval()
    batches = [torch.rand(2, 3, 2, 6, 6) for _ in range(2)]
    with torch.no_grad(), SyopsCounter(model, batch_dim=1) as counter:
        for x in batches:
            model(x)
            functional.reset_net(model)
    mine = counter.report()
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert mine.samples == 6
    theirs = count_syops(model, batches, batch_dim=1)
    assert (mine.acs, mine.macs, mine.syops) == (theirs.acs, theirs.macs, theirs.syops)


class Custom(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(3))

    def forward(self, x):
        return x * self.scale


def test_uncounted_modules_are_listed_and_strict_fails():
    model = nn.Sequential(nn.Linear(3, 3), Custom(), nn.LayerNorm(3))
    report = count_syops(model, torch.ones(1, 3))
    assert report.not_counted == ("Custom", "LayerNorm")
    with pytest.raises(UncountedModulesError, match="that ran: Custom, LayerNorm"):
        count_syops(model, torch.ones(1, 3), strict=True)
    assert not any(m._forward_hooks for m in model.modules())
    # a module that never runs is not counted, and strict lets it be
    idle = Idle()
    assert count_syops(idle, torch.ones(1, 3), strict=True).unused == ("LayerNorm",)


class Idle(nn.Module):
    """Builds a LayerNorm its forward never calls (as the official Spikformer code does)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.norm = nn.LayerNorm(3)

    def forward(self, x):
        return self.fc(x)


class AttributeBlock(nn.Module):
    """BatchNorms applied in forward(), outside any Sequential (torchvision / SpikingJelly
    model-zoo style); bn_after_relu does not follow a conv and must stay."""

    def __init__(self):
        super().__init__()
        self.conv1 = layer.Conv2d(2, 4, 3, padding=1, step_mode="m")
        self.bn1 = layer.BatchNorm2d(4, step_mode="m")
        self.sn1 = neuron.IFNode(step_mode="m")
        self.conv2 = layer.Conv2d(4, 4, 3, padding=1, step_mode="m")
        self.bn_after_relu = layer.BatchNorm2d(4, step_mode="m")

    def forward(self, x):
        out = self.sn1(self.bn1(self.conv1(x)))
        return self.bn_after_relu(torch.relu(self.conv2(out)))


def test_batchnorm_applied_to_a_conv_output_in_forward_folds():
    model = AttributeBlock().eval()
    x = torch.rand(2, 1, 2, 6, 6)  # [T, B, C, H, W]
    folded = count_syops(model, x, batch_dim=1).layers.set_index("name")
    assert "bn1" not in folded.index
    # the BN after ReLU stays: 2 MACs x T=2 x 4 channels x 36 positions
    assert folded.loc["bn_after_relu", "macs"] == 2 * 2 * 4 * 36
    unfolded = count_syops(model, x, batch_dim=1, fuse_bn=False).layers.set_index("name")
    assert unfolded.loc["bn1", "macs"] == 576
    # folding does not depend on how inputs are classified
    observed = count_syops(model, x, batch_dim=1, classify="observed").layers.set_index("name")
    assert "bn1" not in observed.index


def test_torchscript_gets_a_clear_error():
    scripted = torch.jit.script(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="TorchScript"):
        count_syops(scripted, torch.ones(1, 2))
