"""ResNet families on ImageNet-style ``[B, 3, H, W]`` images.

One layout (torchvision's ResNet v1.5: stages of 64, 128, 256, 512 planes, strides
1, 2, 2, 2, stride on the 3x3 of a bottleneck) serves five families:

- ``ann_resnet``: the ANN reference; ReLU, shortcut conv1x1-BN without activation, run
  as a single time step (T = 1), so its parameters and MACs equal torchvision's.
- ``spiking_resnet``: IF neurons, ``out = IF(BN(conv(...)) + identity)``.
- ``sew_resnet``: IF neurons, ``g(out, identity)`` with g = ADD by default.
- ``dsnn_resnet``: SEW layout with a spike-preserving g (IAND by default) plus the
  accumulation stream; returns ``(spike_logits, accumulation_logits)``.
- ``fsnn_resnet``: a DSNN whose accumulation stream was dropped.

In every spiking family a shape-changing shortcut is conv1x1 (stride s)-BN-IF, so the
shortcut carries spikes.
"""

from __future__ import annotations

from typing import Iterator

from torch import Tensor, nn

from syops.models.backbone import (
    AccumulationStep,
    ConvSpec,
    MakeNeuron,
    ResidualBlock,
    ResidualNet,
    TimeAveragedClassifier,
    accumulation_projection,
    if_neuron,
    max_pool,
    relu,
    shape_change,
)
from syops.models.connect import get_connect

DEPTHS = (18, 34, 50, 101, 152)
STAGE_PLANES = (64, 128, 256, 512)
STAGE_STRIDES = (1, 2, 2, 2)
BLOCKS_PER_STAGE = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
BOTTLENECK_EXPANSION = 4
STEM_CHANNELS = 64


class StaticImageStem(nn.Module):
    """conv7x7/2-BN applied once to the static image, repeated T times, neuron, max-pool 3x3/2."""

    def __init__(self, T: int, make_neuron: MakeNeuron):
        super().__init__()
        self.T = T
        self.conv = nn.Sequential(
            nn.Conv2d(3, STEM_CHANNELS, 7, 2, 3, bias=False), nn.BatchNorm2d(STEM_CHANNELS)
        )
        self.neuron = make_neuron()
        self.pool = max_pool(3, 2, 1)

    def forward(self, x: Tensor) -> Tensor:
        steps = self.conv(x).unsqueeze(0).repeat(self.T, 1, 1, 1, 1)
        return self.pool(self.neuron(steps))

    def extra_repr(self) -> str:
        return f"T={self.T}"


def block_layers(kind: str, in_channels: int, planes: int, stride: int) -> list[ConvSpec]:
    """The conv layers of one basic block or bottleneck."""
    if kind == "basic":
        return [(in_channels, planes, 3, stride), (planes, planes, 3, 1)]
    width = planes * BOTTLENECK_EXPANSION
    return [(in_channels, planes, 1, 1), (planes, planes, 3, stride), (planes, width, 1, 1)]


def resnet_blocks(depth: int) -> Iterator[list[ConvSpec]]:
    """The conv layers of every block of a ResNet-``depth``, in order."""
    if depth not in BLOCKS_PER_STAGE:
        raise ValueError(f"ResNet depth must be one of {DEPTHS}, not {depth}")
    kind, counts = BLOCKS_PER_STAGE[depth]
    in_channels = STEM_CHANNELS
    for planes, stride, count in zip(STAGE_PLANES, STAGE_STRIDES, counts):
        for index in range(count):
            layers = block_layers(kind, in_channels, planes, stride if index == 0 else 1)
            yield layers
            in_channels = layers[-1][1]


def build_resnet(
    depth: int,
    *,
    T: int,
    num_classes: int,
    make_neuron: MakeNeuron,
    connect: str | None,
    shortcut_neuron: bool = True,
    accumulation: bool = False,
) -> ResidualNet:
    """Any of the ResNet families; see the module docstring."""
    blocks = list(resnet_blocks(depth))
    connect_fn = get_connect(connect) if connect is not None else None
    units = [ResidualBlock(layers, make_neuron, connect_fn, shortcut_neuron) for layers in blocks]
    steps = [_accumulation_step(layers) for layers in blocks] if accumulation else None
    classifier = TimeAveragedClassifier(blocks[-1][-1][1], num_classes)
    return ResidualNet(StaticImageStem(T, make_neuron), units, classifier, steps)


def _accumulation_step(layers: list[ConvSpec]) -> AccumulationStep:
    change = shape_change(layers)
    return AccumulationStep(accumulation_projection(*change) if change else None)


def ann_resnet(depth: int, num_classes: int = 1000) -> ResidualNet:
    """ANN ResNet (torchvision layout, ReLU); takes ``[B, 3, H, W]``, returns logits."""
    return build_resnet(
        depth, T=1, num_classes=num_classes, make_neuron=relu, connect=None, shortcut_neuron=False
    )


def spiking_resnet(depth: int, T: int = 4, num_classes: int = 1000) -> ResidualNet:
    """Spiking ResNet: IF neurons, shortcut added before the block's last neuron."""
    return build_resnet(depth, T=T, num_classes=num_classes, make_neuron=if_neuron, connect=None)


def sew_resnet(depth: int, T: int = 4, num_classes: int = 1000, connect: str = "ADD") -> ResidualNet:
    """SEW ResNet: IF neurons, ``g(out, identity)``."""
    return build_resnet(depth, T=T, num_classes=num_classes, make_neuron=if_neuron, connect=connect)


def dsnn_resnet(depth: int, T: int = 4, num_classes: int = 1000, connect: str = "IAND") -> ResidualNet:
    """Dual-stream SNN: spike path with ``g`` plus the accumulation stream."""
    return build_resnet(
        depth, T=T, num_classes=num_classes, make_neuron=if_neuron, connect=connect, accumulation=True
    )


def fsnn_resnet(depth: int, T: int = 4, num_classes: int = 1000, connect: str = "IAND") -> ResidualNet:
    """Full-spike SNN: the DSNN with its accumulation stream removed for inference."""
    return dsnn_resnet(depth, T, num_classes, connect).drop_accumulation()
