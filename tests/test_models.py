"""Reference models: registry, shapes and wiring, connect functions, FSNN/DSNN relation, MACs."""

import itertools

import pytest
import torch
from spikingjelly.activation_based import layer
from torch import nn

from syops import count_syops
from syops.fold import folded_batchnorms
from syops.models import ModelInfo, create_model, list_models, model_info
from syops.models.backbone import AccumulationStep, ResidualNet
from syops.models.connect import CONNECTS, SPIKE_PRESERVING, get_connect

SMALL = {"T": 2, "image_size": 32, "num_classes": 5}
"""Overrides that keep a forward cheap where the test is about shape or wiring."""


def small_model(name: str, seed: int = 0) -> tuple[nn.Module, ModelInfo]:
    overrides = dict(SMALL)
    if model_info(name).family == "resnet":
        del overrides["T"]
    torch.manual_seed(seed)
    return create_model(name, **overrides).eval(), model_info(name, **overrides)


def count_default(name: str, fuse_bn: bool = True, seed: int = 0):
    torch.manual_seed(seed)
    info = model_info(name)
    model = create_model(name)
    return count_syops(model, info.example_input(1, seed=seed), fuse_bn=fuse_bn, mode="exact")


# --- registry ---------------------------------------------------------------------------

EXPECTED_NAMES = (
    [f"{family}{depth}" for family in ("resnet", "spiking_resnet", "sew", "fsnn", "dsnn")
     for depth in (18, 34, 50, 101, 152)]
    + ["sew7b", "fsnn7", "dsnn7", "wide7b", "fsnn7w", "dsnn7w"]
)
TRANSFORMER_NAMES = ["spikformer_4_384", "fsnn_spikformer_4_384", "dsnn_spikformer_4_384",
                     "spikformer_8_384", "spikformer_8_512", "spikformer_8_768",
                     "spikingformer_8_512", "sdt_8_512", "sdt_8_768"]
"""Their forward shapes are tested in tests/test_transformers.py."""


def test_list_models_names_every_reference_model():
    assert sorted(list_models()) == sorted(EXPECTED_NAMES + TRANSFORMER_NAMES)


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_every_model_builds_and_runs_a_forward(name):
    model, info = small_model(name)
    x = info.example_input(batch_size=2)
    with torch.no_grad():
        y = model(x)
    if info.family == "dsnn":
        assert isinstance(y, tuple) and len(y) == 2
        assert all(logits.shape == (2, 5) for logits in y)
    else:
        assert isinstance(y, torch.Tensor) and y.shape == (2, 5)


@pytest.mark.parametrize("name, shape, T, dataset, classes, connect", [
    ("resnet18", (3, 224, 224), 1, "imagenet", 1000, None),
    ("spiking_resnet34", (3, 224, 224), 4, "imagenet", 1000, None),
    ("sew50", (3, 224, 224), 4, "imagenet", 1000, "ADD"),
    ("fsnn18", (3, 224, 224), 4, "imagenet", 1000, "IAND"),
    ("dsnn152", (3, 224, 224), 4, "imagenet", 1000, "IAND"),
    ("sew7b", (16, 2, 128, 128), 16, "dvs-gesture", 11, "ADD"),
    ("dsnn7", (16, 2, 128, 128), 16, "dvs-gesture", 11, "IAND"),
    ("wide7b", (16, 2, 128, 128), 16, "cifar10-dvs", 10, "ADD"),
    ("fsnn7w", (16, 2, 128, 128), 16, "cifar10-dvs", 10, "IAND"),
])
def test_model_info_defaults(name, shape, T, dataset, classes, connect):
    info = model_info(name)
    assert (info.input_shape, info.T, info.dataset, info.num_classes, info.connect) == \
        (shape, T, dataset, classes, connect)
    assert info.name == name and info.description


def test_model_info_applies_overrides():
    info = model_info("dsnn7", T=8, image_size=64, num_classes=3, connect="xor")
    assert (info.input_shape, info.T, info.num_classes, info.connect) == ((8, 2, 64, 64), 8, 3, "XOR")
    assert model_info("sew18", image_size=96).input_shape == (3, 96, 96)


def test_model_info_is_frozen():
    with pytest.raises(AttributeError):
        model_info("sew18").T = 8


def test_example_input_events_are_integer_counts_and_images_are_noise():
    events = model_info("sew7b", T=2).example_input(batch_size=2, seed=1)
    assert events.shape == (2, 2, 2, 128, 128)
    assert (events >= 0).all() and torch.equal(events, events.round())
    assert events.max() > 1, "event counts should not look like spikes"
    images = model_info("resnet18").example_input(batch_size=2)
    assert images.shape == (2, 3, 224, 224) and (images < 0).any()
    assert torch.equal(images, model_info("resnet18").example_input(batch_size=2))
    assert not torch.equal(images, model_info("resnet18").example_input(batch_size=2, seed=1))


@pytest.mark.parametrize("call, fragment", [
    (lambda: model_info("sew19"), "did you mean sew18"),
    (lambda: create_model("dsn18"), "dsnn18"),
    (lambda: model_info("fsnn18", conect="OR"), "did you mean connect"),
    (lambda: model_info("fsnn18", connect="ADD"), "IAND, AND, OR, XOR"),
    (lambda: model_info("sew18", connect="XOR"), "ADD, AND, IAND"),
    (lambda: model_info("resnet18", T=4), "no option 'T'"),
    (lambda: model_info("spiking_resnet18", connect="ADD"), "no option 'connect'"),
    (lambda: model_info("dsnn18", T=0), "positive integer"),
    (lambda: model_info("sew7b", num_classes=2.5), "positive integer"),
    (lambda: model_info("sew7b", image_size=True), "positive integer"),
])
def test_bad_names_and_overrides_raise_one_line_value_errors(call, fragment):
    with pytest.raises(ValueError) as error:
        call()
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_connect_override_reaches_the_blocks():
    model = create_model("fsnn18", connect="XOR")
    assert {block.connect for block in model.units} == {get_connect("XOR")}


# --- connect functions --------------------------------------------------------------------

TRUTH_TABLES = {  # g(out, identity) over (0,0), (0,1), (1,0), (1,1)
    "ADD": [0, 1, 1, 2],
    "AND": [0, 0, 0, 1],
    "IAND": [0, 1, 0, 0],
    "OR": [0, 1, 1, 1],
    "XOR": [0, 1, 1, 0],
}


@pytest.mark.parametrize("name", CONNECTS)
def test_connect_truth_tables(name):
    pairs = torch.tensor(list(itertools.product((0.0, 1.0), repeat=2)))
    assert get_connect(name)(pairs[:, 0], pairs[:, 1]).tolist() == TRUTH_TABLES[name]


def test_only_add_leaves_spikes():
    binary = {name for name, table in TRUTH_TABLES.items() if set(table) <= {0, 1}}
    assert binary == set(SPIKE_PRESERVING)


# --- architecture -------------------------------------------------------------------------

def foldable_everywhere(model: nn.Module) -> bool:
    batchnorms = {m for m in model.modules() if isinstance(m, nn.BatchNorm2d)}
    return batchnorms == folded_batchnorms(model)


@pytest.mark.parametrize("name", ["resnet18", "spiking_resnet50", "sew18", "dsnn50", "dsnn7w"])
def test_every_batchnorm_follows_its_conv_in_one_container(name):
    assert foldable_everywhere(small_model(name)[0])


def test_fsnn_is_dsnn_without_the_accumulation_stream():
    dsnn, info = small_model("dsnn18")
    fsnn = create_model("fsnn18", **SMALL).eval()
    assert isinstance(fsnn, ResidualNet) and not fsnn.has_accumulation
    assert not any(isinstance(m, AccumulationStep) for m in fsnn.modules())
    assert not any(isinstance(m, nn.Conv2d) and m.groups > 1 for m in fsnn.modules())
    # FSNN's weights are a subset of DSNN's; loading them gives DSNN's spike logits.
    dsnn_state = dsnn.state_dict()
    fsnn_keys = set(fsnn.state_dict())
    assert fsnn_keys < set(dsnn_state)
    assert all(key.startswith("accumulation.") for key in set(dsnn_state) - fsnn_keys)
    fsnn.load_state_dict({key: dsnn_state[key] for key in fsnn_keys})
    x = info.example_input(batch_size=2)
    with torch.no_grad():
        spike_logits, accumulation_logits = dsnn(x)
        assert torch.equal(fsnn(x), spike_logits)
        assert not torch.equal(accumulation_logits, spike_logits)


def test_drop_accumulation_turns_a_dsnn_into_an_fsnn_in_place():
    model, info = small_model("dsnn7")
    assert model.drop_accumulation() is model and not model.has_accumulation
    with torch.no_grad():
        assert model(info.example_input()).shape == (1, 5)


def test_accumulation_projection_only_where_the_shape_changes():
    model = create_model("dsnn50", **SMALL)
    projected = [step.projection for step in model.accumulation
                 if not isinstance(step.projection, nn.Identity)]
    assert len(projected) == 4  # first block of each stage (stage 1 widens 64 -> 256)
    depthwise = [m for p in projected for m in p.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert [m.stride for m in depthwise] == [(2, 2)] * 3


def test_event_nets_take_batch_first_frames():
    model, info = small_model("sew7b")
    x = info.example_input(batch_size=3)
    assert x.shape == (3, 2, 2, 32, 32)
    with torch.no_grad():
        assert model(x).shape == (3, 5)


def test_stem_runs_once_on_the_static_image():
    model, info = small_model("sew18")
    calls = []
    model.stem.conv[0].register_forward_hook(lambda m, i, o: calls.append(i[0].shape))
    with torch.no_grad():
        model(info.example_input(batch_size=2))
    assert calls == [torch.Size([2, 3, 32, 32])]


def test_neurons_are_multi_step_if_with_detached_reset():
    from spikingjelly.activation_based import neuron
    neurons = [m for m in small_model("sew18")[0].modules() if isinstance(m, neuron.BaseNode)]
    assert neurons and all(isinstance(m, neuron.IFNode) and m.step_mode == "m" and m.detach_reset
                           for m in neurons)
    plifs = [m for m in small_model("sew7b")[0].modules() if isinstance(m, neuron.BaseNode)]
    assert all(isinstance(m, neuron.ParametricLIFNode) for m in plifs)
    assert any(isinstance(m, layer.SeqToANNContainer) for m in small_model("sew7b")[0].modules())


def test_forward_is_repeatable_across_batch_sizes():
    """Neuron states are reset at each forward, so a new batch size works."""
    model, info = small_model("dsnn18")
    with torch.no_grad():
        first = model(info.example_input(batch_size=2))[0]
        model(info.example_input(batch_size=3))
        assert torch.equal(model(info.example_input(batch_size=2))[0], first)


# --- parameters and MACs ------------------------------------------------------------------

def test_ann_resnet18_has_torchvision_parameter_count_and_sew18_matches():
    assert sum(p.numel() for p in create_model("resnet18").parameters()) == 11_689_512
    assert sum(p.numel() for p in create_model("sew18").parameters()) == 11_689_512
    assert sum(p.numel() for p in create_model("resnet50").parameters()) == 25_557_032


# Hand derivations, per image, T = 4, 224 x 224 (stem conv 7x7: 112*112*64*3*49 =
# 118,013,952, counted once; classifier 512*1000 = 512,000 or 2048*1000 = 2,048,000).
# FSNN: everything else sees spikes.
#   FSNN-18 = 118,013,952 + 512,000 = 118,525,952
#   FSNN-50 = 118,013,952 + 2,048,000 = 120,061,952
# DSNN: + the classifier on the accumulation stream + 4 steps x the P convs of stages 2-4
# (depthwise 3x3/2 + conv1x1); stage 1's P of DSNN-50 sees the stem spikes (ACs).
#   DSNN-18 P = 28*28*64*9 + 28*28*128*64 + 14*14*128*9 + 14*14*256*128
#               + 7*7*256*9 + 7*7*512*256 = 20,057,856
#   DSNN-18 = 118,013,952 + 2*512,000 + 4*20,057,856 = 199,269,376
#   DSNN-50 P = 28*28*256*9 + 28*28*512*256 + 14*14*512*9 + 14*14*1024*512
#               + 7*7*1024*9 + 7*7*2048*1024 = 311,442,432
#   DSNN-50 = 118,013,952 + 2*2,048,000 + 4*311,442,432 = 1,367,879,680
# SEW (ADD): every conv whose input is a block output (a sum) costs MACs: the first conv of
# every block but the first, and the shortcut convs of stages 2-4.
#   SEW-18 per step = 56*56*64*64*9 + 3 * (s/2-conv 57,802,752 + shortcut 6,422,528
#                     + next block 115,605,504) = 655,097,856
#   SEW-18 = 118,013,952 + 512,000 + 4*655,097,856 = 2,738,917,376
#   SEW-50 per step = 2*56*56*64*256                              (stage 1: 102,760,448)
#     + 56*56*128*256 + 28*28*512*256 + 3*28*28*128*512           (stage 2: 359,661,568)
#     + 28*28*256*512 + 14*14*1024*512 + 5*14*14*256*1024         (stage 3: 462,422,016)
#     + 14*14*512*1024 + 7*7*2048*1024 + 2*7*7*512*2048           (stage 4: 308,281,344)
#     = 1,233,125,376
#   SEW-50 = 118,013,952 + 2,048,000 + 4*1,233,125,376 = 5,052,563,456
# BN in place adds 2 MACs per BN output element: stem 112*112*64 = 802,816 once, plus per
# step 1,680,896 (ResNet-18 layout) or 10,311,168 (ResNet-50 layout).
#   SEW-18 in place = 2,738,917,376 + 2*(802,816 + 4*1,680,896) = 2,753,970,176
#   SEW-50 in place = 5,052,563,456 + 2*(802,816 + 4*10,311,168) = 5,136,658,432
# ANN ResNet-18: convs 1,813,561,344 + fc 512,000 = 1,814,073,344 (1.81 G, torchvision's
# figure); with BN in place + 2*(802,816 + 1,680,896) = 1,819,040,768 (the usual 1.82 G).
MAC_CASES = [
    ("fsnn18", True, 118_525_952, 0.12),
    ("fsnn50", True, 120_061_952, 0.12),
    ("dsnn18", True, 199_269_376, 0.20),
    ("dsnn50", True, 1_367_879_680, 1.37),
    ("sew18", True, 2_738_917_376, 2.74),
    ("sew50", True, 5_052_563_456, 5.05),
    ("sew18", False, 2_753_970_176, 2.75),
    ("sew50", False, 5_136_658_432, 5.14),
    ("resnet18", True, 1_814_073_344, 1.81),
    ("resnet18", False, 1_819_040_768, 1.82),
]


@pytest.mark.slow
@pytest.mark.parametrize("name, fuse_bn, macs, giga", MAC_CASES,
                         ids=[f"{c[0]}-{'folded' if c[1] else 'bn'}" for c in MAC_CASES])
def test_full_size_macs(name, fuse_bn, macs, giga):
    report = count_default(name, fuse_bn)
    assert report.macs == macs
    assert round(report.macs / 1e9, 2) == giga


@pytest.mark.slow
def test_ann_resnet18_conv_macs_are_1_814_g():
    layers = count_default("resnet18").layers
    conv_macs = layers.loc[layers["type"] == "Conv2d", "macs"].sum()
    assert conv_macs == 1_813_561_344


@pytest.mark.parametrize("name", ["sew18", "dsnn18", "sew7b"])
def test_macs_do_not_depend_on_the_seed(name):
    counts = []
    for seed in (0, 1234):
        model, info = small_model(name, seed)
        torch.manual_seed(seed)
        counts.append(count_syops(model, info.example_input(seed=seed)).macs)
    assert counts[0] == counts[1] > 0
