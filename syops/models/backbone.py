"""Building blocks shared by every reference network.

All spiking layers run in SpikingJelly's multi-step mode on ``[T, B, ...]`` tensors.
Every convolution is followed by its BatchNorm inside one ``SeqToANNContainer`` (or
``nn.Sequential``) so that the counting engine can fold the pair.

:class:`ResidualNet` is the one network class: a stem, a chain of units and a
time-averaging classifier, plus an optional accumulation stream. With the stream it is a
DSNN; :meth:`ResidualNet.drop_accumulation` turns it into the matching FSNN; nets built
without one are SEW / Spiking / ANN ResNets and the 7B nets.
"""

from __future__ import annotations

from typing import Callable, Sequence

from spikingjelly.activation_based import base, layer, neuron, surrogate
from torch import Tensor, nn

from syops.models.connect import ConnectFn

MakeNeuron = Callable[[], nn.Module]
ConvSpec = tuple[int, int, int, int]
"""(in_channels, out_channels, kernel_size, stride) of one conv-BN layer."""


def if_neuron() -> nn.Module:
    """Multi-step integrate-and-fire neuron (ImageNet family)."""
    return neuron.IFNode(surrogate_function=surrogate.ATan(), detach_reset=True, step_mode="m")


def plif_neuron() -> nn.Module:
    """Multi-step parametric LIF neuron (event-camera nets, as in SEW ResNet)."""
    return neuron.ParametricLIFNode(
        init_tau=2.0, surrogate_function=surrogate.ATan(), detach_reset=True, step_mode="m"
    )


def relu() -> nn.Module:
    """The ANN 'neuron'."""
    return nn.ReLU()


def conv_bn(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Module:
    """Per-step conv (no bias, 'same' padding) directly followed by its BatchNorm."""
    return layer.SeqToANNContainer(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
    )


def max_pool(kernel_size: int, stride: int, padding: int = 0, ceil_mode: bool = False) -> nn.Module:
    """Per-step max-pool."""
    return layer.SeqToANNContainer(nn.MaxPool2d(kernel_size, stride, padding, ceil_mode=ceil_mode))


def shape_change(layers: Sequence[ConvSpec]) -> tuple[int, int, int] | None:
    """``(in_channels, out_channels, stride)`` of a block that changes shape, else None."""
    in_channels, out_channels = layers[0][0], layers[-1][1]
    stride = max(spec[3] for spec in layers)
    if in_channels == out_channels and stride == 1:
        return None
    return in_channels, out_channels, stride


def accumulation_projection(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """The DSNN's P: reshapes the accumulation stream where the spike path changes shape.

    Depthwise conv3x3 (stride s) then conv1x1 to the new width when s != 1, a single
    conv1x1 when s == 1; then BN and ReLU. Applied per step.
    """
    convs: list[nn.Module] = []
    if stride != 1:
        convs.append(
            nn.Conv2d(in_channels, in_channels, 3, stride, 1, groups=in_channels, bias=False)
        )
    convs.append(nn.Conv2d(in_channels, out_channels, 1, bias=False))
    return layer.SeqToANNContainer(*convs, nn.BatchNorm2d(out_channels), nn.ReLU())


class ResidualBlock(nn.Module):
    """conv-BN-neuron layers with a shortcut; ``forward(s)`` returns ``(merged, out)``.

    ``out`` is the last spike output. With a connect function g, ``merged = g(out,
    identity)``; without one (Spiking ResNet, ANN) the shortcut is added before the last
    neuron and ``merged = out``. An optional pool follows the merge.
    """

    def __init__(
        self,
        layers: Sequence[ConvSpec],
        make_neuron: MakeNeuron,
        connect: ConnectFn | None,
        shortcut_neuron: bool = True,
        pool: nn.Module | None = None,
    ):
        super().__init__()
        body: list[nn.Module] = []
        for spec in layers:
            body += [conv_bn(*spec), make_neuron()]
        self.body = nn.Sequential(*body[:-1])
        self.neuron = body[-1]
        self.shortcut = self._shortcut(layers, make_neuron, shortcut_neuron)
        self.connect = connect
        self.pool = pool if pool is not None else nn.Identity()

    @staticmethod
    def _shortcut(layers: Sequence[ConvSpec], make_neuron: MakeNeuron, with_neuron: bool) -> nn.Module:
        change = shape_change(layers)
        if change is None:
            return nn.Identity()
        in_channels, out_channels, stride = change
        projection = conv_bn(in_channels, out_channels, 1, stride)
        return nn.Sequential(projection, make_neuron()) if with_neuron else projection

    def forward(self, s: Tensor) -> tuple[Tensor, Tensor]:
        x, identity = self.body(s), self.shortcut(s)
        if self.connect is None:
            out = self.neuron(x + identity)
            return self.pool(out), out
        out = self.neuron(x)
        return self.pool(self.connect(out, identity)), out

    def extra_repr(self) -> str:
        return f"connect={getattr(self.connect, '__name__', None)}"


class SpikingConv(nn.Module):
    """A conv-BN-neuron layer used as a unit between blocks; returns ``(out, out)``."""

    def __init__(self, in_channels: int, out_channels: int, make_neuron: MakeNeuron):
        super().__init__()
        self.conv = conv_bn(in_channels, out_channels, 1)
        self.neuron = make_neuron()

    def forward(self, s: Tensor) -> tuple[Tensor, Tensor]:
        out = self.neuron(self.conv(s))
        return out, out


class AccumulationStep(nn.Module):
    """One update of the DSNN accumulation stream: ``a_next = pool(P(a) + out)``."""

    def __init__(self, projection: nn.Module | None = None, pool: nn.Module | None = None):
        super().__init__()
        self.projection = projection if projection is not None else nn.Identity()
        self.pool = pool if pool is not None else nn.Identity()

    def forward(self, a: Tensor, out: Tensor) -> Tensor:
        return self.pool(self.projection(a) + out)


class TimeAveragedClassifier(nn.Module):
    """Global average pool per step, flatten, mean over T, linear."""

    def __init__(self, in_features: int, num_classes: int):
        super().__init__()
        self.pool = layer.SeqToANNContainer(nn.AdaptiveAvgPool2d(1))
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(x).flatten(2).mean(0))


class ResidualNet(nn.Module):
    """stem -> units -> classifier, with an optional accumulation stream (DSNN).

    Each unit maps the spike stream ``s`` to ``(s_next, out)``. With ``accumulation``
    (one :class:`AccumulationStep` per unit) the net also carries ``a``, starting as the
    stem output, updated as ``a = step(a, out)``; the shared classifier then runs on both
    streams and the net returns ``(spike_logits, accumulation_logits)``. Every forward
    starts with all neurons at rest.
    """

    def __init__(
        self,
        stem: nn.Module,
        units: Sequence[nn.Module],
        classifier: nn.Module,
        accumulation: Sequence[AccumulationStep] | None = None,
    ):
        super().__init__()
        if accumulation is not None and len(accumulation) != len(units):
            raise ValueError("need one accumulation step per unit")
        self.stem = stem
        self.units = nn.ModuleList(units)
        self.classifier = classifier
        self.accumulation = nn.ModuleList(accumulation) if accumulation is not None else None

    @property
    def has_accumulation(self) -> bool:
        return self.accumulation is not None

    def drop_accumulation(self) -> "ResidualNet":
        """Remove the accumulation pathway (DSNN -> FSNN), in place; returns self."""
        self.accumulation = None
        return self

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        self._reset_neurons()
        s = a = self.stem(x)
        for index, unit in enumerate(self.units):
            s, out = unit(s)
            if self.accumulation is not None:
                a = self.accumulation[index](a, out)
        logits = self.classifier(s)
        if self.accumulation is None:
            return logits
        return logits, self.classifier(a)

    def _reset_neurons(self) -> None:
        for module in self.modules():
            if isinstance(module, base.MemoryModule):
                module.reset()

