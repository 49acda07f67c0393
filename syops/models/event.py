"""7B nets for event cameras (SEW ResNet paper), on ``[B, T, 2, H, W]`` event frames.

Layout, given the widths of the seven blocks: conv1x1 2->w0-BN-PLIF, then for each width
w: (where w differs from the current width, a conv1x1-BN-PLIF transition to w), a block
of two conv3x3(w)-BN-PLIF joined to the block input by g, max-pool 2x2. Head: global
average pool per step (a no-op at 128 x 128, where the map is 1 x 1 by then), flatten,
mean over T, linear. The pools use ceil mode so reduced inputs (< 128) keep a 1 x 1 map;
at 128 x 128 this changes nothing.

Dual-stream counterparts (our choices, the paper gives no 7B DSNN):
- ``a`` starts as the stem spikes; after each block ``a = maxpool(a + out)``, i.e. the
  stream is pooled together with the spike path;
- at a width transition ``a = P(a) + out`` with P = conv1x1-BN-ReLU (stride 1), the same
  P rule as the ResNets;
- the classifier is shared by both streams.
"""

from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn

from syops.models.backbone import (
    AccumulationStep,
    ResidualBlock,
    ResidualNet,
    SpikingConv,
    TimeAveragedClassifier,
    accumulation_projection,
    conv_bn,
    max_pool,
    plif_neuron,
)
from syops.models.connect import get_connect

SEW7B_WIDTHS = (32,) * 7
"""sew7b (DVS Gesture)."""
WIDE7B_WIDTHS = (64,) * 4 + (128,) * 3
"""wide7b (CIFAR10-DVS)."""
EVENT_CHANNELS = 2
"""Two polarities."""


class EventStem(nn.Module):
    """``[B, T, 2, H, W]`` -> ``[T, B, 2, H, W]``, then conv1x1-BN-PLIF per step."""

    def __init__(self, out_channels: int):
        super().__init__()
        self.conv = conv_bn(EVENT_CHANNELS, out_channels, 1)
        self.neuron = plif_neuron()

    def forward(self, x: Tensor) -> Tensor:
        return self.neuron(self.conv(x.transpose(0, 1)))


def _block_pool() -> nn.Module:
    return max_pool(2, 2, ceil_mode=True)


def build_seven_block_net(
    widths: Sequence[int], *, num_classes: int, connect: str, accumulation: bool = False
) -> ResidualNet:
    """A 7B net with the given block widths; see the module docstring."""
    connect_fn = get_connect(connect)
    units: list[nn.Module] = []
    steps: list[AccumulationStep] = []
    width = widths[0]
    for block_width in widths:
        if block_width != width:
            units.append(SpikingConv(width, block_width, plif_neuron))
            steps.append(AccumulationStep(accumulation_projection(width, block_width, 1)))
            width = block_width
        layers = [(width, width, 3, 1)] * 2
        units.append(ResidualBlock(layers, plif_neuron, connect_fn, pool=_block_pool()))
        steps.append(AccumulationStep(pool=_block_pool()))
    classifier = TimeAveragedClassifier(width, num_classes)
    return ResidualNet(EventStem(widths[0]), units, classifier, steps if accumulation else None)


def sew_seven_block(widths: Sequence[int], num_classes: int, connect: str = "ADD") -> ResidualNet:
    """SEW 7B net (``sew7b``, ``wide7b``)."""
    return build_seven_block_net(widths, num_classes=num_classes, connect=connect)


def dsnn_seven_block(widths: Sequence[int], num_classes: int, connect: str = "IAND") -> ResidualNet:
    """Dual-stream 7B net (``dsnn7``, ``dsnn7w``)."""
    return build_seven_block_net(widths, num_classes=num_classes, connect=connect, accumulation=True)


def fsnn_seven_block(widths: Sequence[int], num_classes: int, connect: str = "IAND") -> ResidualNet:
    """Full-spike 7B net (``fsnn7``, ``fsnn7w``): the dual-stream net without its stream."""
    return dsnn_seven_block(widths, num_classes, connect).drop_accumulation()
