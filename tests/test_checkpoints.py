"""Official checkpoint layouts load strictly into the reference models, with identical logits.

The official key names and shapes come from replicas of the official module structures
written here (the SEW authors' imagenet/sew_resnet.py, spiking_resnet.py and
dvsgesture|cifar10dvs/smodels.py, SpikingJelly's activation_based/model zoo, the AAP
authors' imagenet/dsnn.py): the same attribute names, nesting and forward, built with
SpikingJelly 2.0 modules. Each replica gets random weights and BN statistics, its
state_dict goes through the loader, and the reference model must compute the same logits.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch
from spikingjelly.activation_based import layer, neuron
from torch import nn

from syops.cli.loading import load_model
from syops.models import checkpoints, create_model

IMAGE = 32
T = 2


def if_node() -> nn.Module:
    return neuron.IFNode(detach_reset=True, step_mode="m")


def plif_node() -> nn.Module:
    return neuron.ParametricLIFNode(init_tau=2.0, detach_reset=True, step_mode="m")


def seq(*modules: nn.Module) -> nn.Module:
    return layer.SeqToANNContainer(*modules)


class OldSeqToANNContainer(nn.Module):
    """SpikingJelly 2021's container: its layers under ``.module``."""

    def __init__(self, *modules: nn.Module):
        super().__init__()
        self.module = nn.Sequential(*modules) if len(modules) > 1 else modules[0]

    def forward(self, x):
        y = self.module(x.flatten(0, 1))
        return y.reshape(x.shape[0], x.shape[1], *y.shape[1:])


def conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride, k // 2, bias=False)


def connect(cnf: str, out, identity):
    return {"ADD": lambda: out + identity, "AND": lambda: out * identity,
            "IAND": lambda: identity * (1.0 - out)}[cnf]()


# ------------------------------------------------------------------ SEW authors, ImageNet
class SewAuthorsBlock(nn.Module):
    """imagenet/sew_resnet.py BasicBlock / Bottleneck (and the AAP dsnn.py blocks with
    ``dual``: the accumulation ``pool`` beside ``downsample``)."""

    def __init__(self, cin, planes, stride, bottleneck, cnf, spiking, dual, container):
        super().__init__()
        width, cout = planes, planes * (4 if bottleneck else 1)
        specs = ([(cin, width, 1, 1), (width, width, 3, stride), (width, cout, 1, 1)]
                 if bottleneck else [(cin, planes, 3, stride), (planes, planes, 3, 1)])
        for index, (a, b, k, s) in enumerate(specs, 1):
            setattr(self, f"conv{index}", container(conv(a, b, k, s), nn.BatchNorm2d(b)))
            setattr(self, f"sn{index}", if_node())
        self.count, self.cnf, self.spiking = len(specs), cnf, spiking
        self.downsample = None
        if stride != 1 or cin != cout:
            projection = container(conv(cin, cout, 1, stride), nn.BatchNorm2d(cout))
            self.downsample = projection if spiking else nn.Sequential(projection, if_node())
            if dual:
                pxp = (nn.Sequential(nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
                                     conv(cin, cout, 1)) if stride != 1 else conv(cin, cout, 1))
                self.pool = container(pxp, nn.BatchNorm2d(cout), nn.ReLU())

    def forward(self, x):
        s, acc = (x if isinstance(x, list) else (x, None))
        out = s
        for index in range(1, self.count + 1):
            out = getattr(self, f"conv{index}")(out)
            if not (self.spiking and index == self.count):
                out = getattr(self, f"sn{index}")(out)
        identity = s if self.downsample is None else self.downsample(s)
        if self.spiking:
            return getattr(self, f"sn{self.count}")(out + identity)
        if acc is not None:
            acc = (self.pool(acc) if self.downsample is not None else acc) + out
            return [connect(self.cnf, out, identity), acc]
        return connect(self.cnf, out, identity)


class SewAuthorsResNet(nn.Module):
    """SEWResNet / SpikingResNet of the SEW authors' ImageNet code; DSNN of the AAP code."""

    def __init__(self, counts, bottleneck, cnf="ADD", spiking=False, dual=False,
                 container=seq, classes=1000):
        super().__init__()
        self.conv1, self.bn1, self.sn1 = conv(3, 64, 7, 2), nn.BatchNorm2d(64), if_node()
        self.maxpool = container(nn.MaxPool2d(3, 2, 1))
        cin = 64
        for stage, (planes, count) in enumerate(zip((64, 128, 256, 512), counts), 1):
            blocks = []
            for index in range(count):
                stride = 2 if stage > 1 and index == 0 else 1
                blocks.append(SewAuthorsBlock(cin, planes, stride, bottleneck, cnf, spiking, dual,
                                              container))
                cin = planes * (4 if bottleneck else 1)
            setattr(self, f"layer{stage}", nn.Sequential(*blocks))
        self.avgpool = container(nn.AdaptiveAvgPool2d(1))
        self.fc = nn.Linear(cin, classes)
        self.fc_acc = nn.Linear(cin, classes) if dual else None
        self.dual = dual

    def head(self, x):
        return self.fc(self.avgpool(x).flatten(2).mean(0))

    def forward(self, image):
        x = self.bn1(self.conv1(image)).unsqueeze(0).repeat(T, 1, 1, 1, 1)
        x = self.maxpool(self.sn1(x))
        x = [x, x] if self.dual else x
        for stage in range(1, 5):
            x = getattr(self, f"layer{stage}")(x)
        return (self.head(x[0]), self.head(x[1])) if self.dual else self.head(x)


# ------------------------------------------------------------------ SpikingJelly zoo
class ZooBlock(nn.Module):
    """activation_based/model sew_resnet.py / spiking_resnet.py blocks (torchvision names)."""

    def __init__(self, cin, planes, stride, bottleneck, cnf):
        super().__init__()
        cout = planes * (4 if bottleneck else 1)
        specs = ([(cin, planes, 1, 1), (planes, planes, 3, stride), (planes, cout, 1, 1)]
                 if bottleneck else [(cin, planes, 3, stride), (planes, planes, 3, 1)])
        for index, (a, b, k, s) in enumerate(specs, 1):
            setattr(self, f"conv{index}", layer.Conv2d(a, b, k, s, k // 2, bias=False,
                                                       step_mode="m"))
            setattr(self, f"bn{index}", layer.BatchNorm2d(b, step_mode="m"))
            setattr(self, f"sn{index}", if_node())
        self.count, self.cnf = len(specs), cnf
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                layer.Conv2d(cin, cout, 1, stride, bias=False, step_mode="m"),
                layer.BatchNorm2d(cout, step_mode="m"))
            if cnf:
                self.downsample_sn = if_node()

    def forward(self, x):
        out = x
        for index in range(1, self.count + 1):
            out = getattr(self, f"bn{index}")(getattr(self, f"conv{index}")(out))
            if self.cnf or index < self.count:
                out = getattr(self, f"sn{index}")(out)
        identity = x
        if self.downsample is not None:
            identity = self.downsample(x)
            if self.cnf:
                identity = self.downsample_sn(identity)
        if not self.cnf:
            return getattr(self, f"sn{self.count}")(out + identity)
        return connect(self.cnf, out, identity)


class ZooResNet(nn.Module):
    """SEWResNet (cnf given) or SpikingResNet of SpikingJelly's model zoo, multi-step."""

    def __init__(self, counts, bottleneck, cnf=None, classes=1000):
        super().__init__()
        self.conv1 = layer.Conv2d(3, 64, 7, 2, 3, bias=False, step_mode="m")
        self.bn1, self.sn1 = layer.BatchNorm2d(64, step_mode="m"), if_node()
        self.maxpool = layer.MaxPool2d(3, 2, 1, step_mode="m")
        cin = 64
        for stage, (planes, count) in enumerate(zip((64, 128, 256, 512), counts), 1):
            blocks = []
            for index in range(count):
                stride = 2 if stage > 1 and index == 0 else 1
                blocks.append(ZooBlock(cin, planes, stride, bottleneck, cnf))
                cin = planes * (4 if bottleneck else 1)
            setattr(self, f"layer{stage}", nn.Sequential(*blocks))
        self.avgpool = layer.AdaptiveAvgPool2d(1, step_mode="m")
        self.fc = layer.Linear(cin, classes, step_mode="m")

    def forward(self, image):
        x = image.unsqueeze(0).repeat(T, 1, 1, 1, 1)
        x = self.maxpool(self.sn1(self.bn1(self.conv1(x))))
        for stage in range(1, 5):
            x = getattr(self, f"layer{stage}")(x)
        return self.fc(self.avgpool(x).flatten(2)).mean(0)


# ------------------------------------------------------------------ SEW authors, DVS
class OldPLIF(nn.Module):
    """The C++ MultiStepParametricLIFNode of SpikingJelly 2021: ``w`` of shape [1]."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        node = plif_node()
        with torch.no_grad():
            node.w.copy_(self.w[0])
        return node(x)


def dvs_conv(cin, cout, k, container=seq, plif=plif_node):
    return nn.Sequential(container(conv(cin, cout, k), nn.BatchNorm2d(cout)), plif())


class SEWBlock(nn.Module):
    def __init__(self, channels, cnf, container, plif):
        super().__init__()
        self.conv = nn.Sequential(dvs_conv(channels, channels, 3, container, plif),
                                  dvs_conv(channels, channels, 3, container, plif))
        self.cnf = cnf

    def forward(self, x):
        return connect(self.cnf, self.conv(x), x)


class ResNetN(nn.Module):
    """dvsgesture/smodels.py (7 x 32) and cifar10dvs/smodels.py (4 x 64, 3 x 128)."""

    def __init__(self, widths, classes, cnf="ADD", container=seq, plif=plif_node):
        super().__init__()
        modules, cin = [], 2
        for width in widths:
            if cin != width:
                modules.append(dvs_conv(cin, width, 1, container, plif))
            cin = width
            modules += [SEWBlock(width, cnf, container, plif), container(nn.MaxPool2d(2, 2))]
        modules.append(nn.Flatten(2))
        self.conv = nn.Sequential(*modules)
        self.out = nn.Linear(cin, classes)

    def forward(self, x):
        return self.out(self.conv(x.permute(1, 0, 2, 3, 4)).mean(0))


# ------------------------------------------------------------------ helpers
def randomised(model: nn.Module, seed: int = 1) -> nn.Module:
    """Random weights, BN statistics and PLIF time constants, in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            noise = torch.randn(tensor.shape, generator=generator)
            if name.endswith("num_batches_tracked"):
                continue
            if name.endswith("running_var"):
                tensor.copy_(noise.abs() + 0.5)
            elif name.endswith(".w"):
                tensor.copy_(noise * 0.5)
            elif tensor.dim() == 1 and name.endswith("weight"):  # BN scale
                tensor.copy_(noise * 0.2 + 1.0)
            elif tensor.dim() <= 1:  # biases, BN means
                tensor.copy_(noise * 0.1)
            else:
                tensor.copy_(noise * 1.5 * (2.0 / tensor[0].numel()) ** 0.5)
    return model.eval()


def save(tmp_path: Path, state: dict, **checkpoint) -> Path:
    path = tmp_path / "checkpoint.pth"
    torch.save({"model": state, **checkpoint} if checkpoint else state, path)
    return path


def images(batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 3, IMAGE, IMAGE, generator=torch.Generator().manual_seed(5)) * 2


def events(batch: int = 2, size: int = 128) -> torch.Tensor:
    shape = (batch, T, 2, size, size)
    return torch.poisson(torch.full(shape, 0.5), generator=torch.Generator().manual_seed(5))


def assert_same_logits(official: nn.Module, loaded: nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        expected, got = official(x), loaded.eval()(x)
    expected = expected if isinstance(expected, tuple) else (expected,)
    got = got if isinstance(got, tuple) else (got,)
    for want, have in zip(expected, got, strict=True):
        assert torch.allclose(want, have, atol=1e-4, rtol=1e-4), (want - have).abs().max()
    assert expected[0].std() > 0  # the comparison says something: logits vary


# ------------------------------------------------------------------ ImageNet families
CLASSES = 10
RESNET_CASES = [  # (our arch, args, replica, layout name): each block kind in each layout
    ("sew18", dict(T=T), lambda: SewAuthorsResNet((2, 2, 2, 2), False, classes=CLASSES),
     "sew-authors"),
    ("spiking_resnet18", dict(T=T),
     lambda: SewAuthorsResNet((2, 2, 2, 2), False, spiking=True, classes=CLASSES), "sew-authors"),
    ("dsnn18", dict(T=T, connect_f="IAND"),
     lambda: SewAuthorsResNet((2, 2, 2, 2), False, cnf="IAND", dual=True, classes=CLASSES),
     "sew-authors"),
    ("dsnn50", dict(T=T, connect_f="IAND"),
     lambda: SewAuthorsResNet((3, 4, 6, 3), True, cnf="IAND", dual=True, classes=CLASSES),
     "sew-authors"),
    ("sew18", dict(T=T), lambda: ZooResNet((2, 2, 2, 2), False, cnf="ADD", classes=CLASSES),
     "spikingjelly-zoo"),
    ("sew50", dict(T=T, connect_f="AND"),
     lambda: ZooResNet((3, 4, 6, 3), True, cnf="AND", classes=CLASSES), "spikingjelly-zoo"),
    ("spiking_resnet18", dict(T=T), lambda: ZooResNet((2, 2, 2, 2), False, classes=CLASSES),
     "spikingjelly-zoo"),
]


@pytest.mark.parametrize("arch, args, replica, layout", RESNET_CASES,
                         ids=[f"{c[0]}-{c[3]}" for c in RESNET_CASES])
def test_official_resnet_layouts_load_with_identical_logits(tmp_path, arch, args, replica, layout):
    official = randomised(replica())
    path = save(tmp_path, official.state_dict(),
                args=argparse.Namespace(model=arch, num_classes=CLASSES, **args))
    loaded = load_model(str(path))
    assert loaded.info.name == arch and loaded.info.num_classes == CLASSES
    assert any(layout in note or checkpoints_source(layout) in note for note in loaded.notes)
    assert_same_logits(official, loaded.module, images())


def checkpoints_source(name: str) -> str:
    return next(layout.source for layout in checkpoints.LAYOUTS if layout.name == name)


def test_sew_authors_names_are_the_documented_ones():
    names = set(SewAuthorsResNet((2, 2, 2, 2), False).state_dict())
    assert {"conv1.weight", "bn1.running_var", "layer1.0.conv1.0.weight",
            "layer1.0.conv1.1.bias", "layer2.0.downsample.0.0.weight", "fc.bias"} <= names
    mapped = set(checkpoints.official_names(create_model("sew18"),
                                            checkpoints.SEW_AUTHORS).values())
    assert mapped == names


def test_zoo_names_are_the_documented_ones():
    names = set(ZooResNet((2, 2, 2, 2), False, cnf="ADD").state_dict())
    assert {"layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer2.0.downsample.0.weight",
            "layer2.0.downsample.1.running_mean"} <= names
    assert set(checkpoints.official_names(create_model("sew18"),
                                          checkpoints.SPIKINGJELLY_ZOO).values()) == names


def test_old_spikingjelly_container_names_load(tmp_path):
    official = randomised(SewAuthorsResNet((2, 2, 2, 2), False, container=OldSeqToANNContainer,
                                           classes=CLASSES))
    assert "layer1.0.conv1.module.0.weight" in official.state_dict()
    path = save(tmp_path, official.state_dict(),
                args=argparse.Namespace(model="sew_resnet18", T=T, num_classes=CLASSES))
    loaded = load_model(str(path))
    assert any("'.module.' names" in note for note in loaded.notes)
    assert_same_logits(official, loaded.module, images())


def test_dsnn_checkpoint_loads_into_fsnn_without_its_pathway(tmp_path):
    official = randomised(SewAuthorsResNet((2, 2, 2, 2), False, cnf="IAND", dual=True,
                                           classes=CLASSES))
    path = save(tmp_path, official.state_dict(), args=argparse.Namespace(
        model="dsnn18", T=T, connect_f="IAND", num_classes=CLASSES))
    loaded = load_model(str(path), arch="fsnn18")
    # 3 projections (conv, conv, BN of 5 tensors = 7 each) + fc_acc (2) are left out
    assert any("left out 23 tensor(s)" in note for note in loaded.notes), loaded.notes
    with torch.no_grad():
        spike_logits, _ = official(images())
        assert torch.allclose(loaded.module.eval()(images()), spike_logits, atol=1e-4)


def test_ann_loads_torchvision_names(tmp_path):
    """torchvision's resnet18 names are the zoo's: conv1/bn1/layerN.M.convK/bnK/downsample."""
    reference = create_model("resnet18")
    names = checkpoints.official_names(reference, checkpoints.SPIKINGJELLY_ZOO)
    state = {names[k]: v for k, v in randomised(reference).state_dict().items()}
    assert "layer2.0.downsample.1.running_var" in state and "layer4.1.bn2.weight" in state
    loaded = load_model(str(save(tmp_path, state)), arch="resnet18")
    with torch.no_grad():
        assert torch.equal(loaded.module.eval()(images()), reference.eval()(images()))


# ------------------------------------------------------------------ 7B nets
def test_sew_dvs_gesture_checkpoint_has_107_tensors_and_identical_logits(tmp_path):
    official = randomised(ResNetN((32,) * 7, 11))
    state = official.state_dict()
    assert len(state) == 107 and "conv.0.0.0.weight" in state and "conv.13.conv.1.1.w" in state
    path = save(tmp_path, state, args=argparse.Namespace(model="DVSGNetSEW32", connect_f="add",
                                                          T=16, T_train=12))
    loaded = load_model(str(path), arch="sew7b", T=T)
    assert loaded.info.name == "sew7b" and loaded.info.connect == "ADD"
    assert_same_logits(official, loaded.module, events())


def test_sew_cifar10_dvs_checkpoint_with_old_plif_and_containers(tmp_path):
    official = randomised(ResNetN((64,) * 4 + (128,) * 3, 10, container=OldSeqToANNContainer,
                                  plif=OldPLIF))
    state = official.state_dict()
    assert state["conv.9.1.w"].shape == (1,) and "conv.9.0.module.0.weight" in state
    path = save(tmp_path, state, args=argparse.Namespace(model="SEWResNet", cnf="ADD", T=16))
    loaded = load_model(str(path), arch="wide7b")
    assert_same_logits(official, loaded.module, events())


def test_dual_stream_seven_block_nets_keep_their_pathway_names(tmp_path):
    """No official 7B DSNN exists: the SEW DVS names plus our accumulation.N names."""
    dsnn = randomised(create_model("dsnn7"))
    names = checkpoints.official_names(dsnn, checkpoints.SEW_DVS)
    state = {names[k]: v for k, v in dsnn.state_dict().items()}
    assert "accumulation.0.projection.0.weight" not in state  # 7 x 32: no width change
    assert "conv.1.conv.0.0.0.weight" in state
    loaded = load_model(str(save(tmp_path, state)), arch="dsnn7")
    assert_same_logits(dsnn, loaded.module, events(size=64))
    fsnn = load_model(str(save(tmp_path, state)), arch="fsnn7")
    assert not any("left out" in note for note in fsnn.notes)  # the 7 x 32 pathway has no tensors

    wide = randomised(create_model("dsnn7w"))
    names = checkpoints.official_names(wide, checkpoints.SEW_DVS)
    state = {names[k]: v for k, v in wide.state_dict().items()}
    assert "accumulation.4.projection.0.weight" in state and "conv.9.0.0.weight" in state
    fsnn = load_model(str(save(tmp_path, state)), arch="fsnn7w")
    assert any("left out 6 tensor(s)" in note for note in fsnn.notes)
    with torch.no_grad():
        assert torch.allclose(fsnn.module.eval()(events(size=64)), wide(events(size=64))[0], atol=1e-5)


def test_a_layout_mismatch_names_the_closest_layout(tmp_path):
    state = ResNetN((32,) * 7, 11).state_dict()
    state.pop("conv.13.conv.1.1.w")
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(Exception) as raised:
        load_model(str(save(tmp_path, state)), arch="sew7b")
    message = str(raised.value.message)
    assert "missing keys: conv.13.conv.1.1.w" in message
    assert "unexpected keys: extra.weight" in message and "closest layout: sew-dvs" in message


def test_training_args_are_read_fully():
    fields, unknown = checkpoints.read_training_args(
        {"model": "spiking_resnet18", "connect_f": "add", "T": 4, "lr": 0.1, "device": "cuda",
         "amp": True, "world_size": 8, "widen": 2})
    assert fields == {"arch": "spiking_resnet18", "T": 4, "connect": "add"}
    assert unknown == ["widen"]
