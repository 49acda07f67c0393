"""Names of the reference models, their default inputs, and the factory.

``model_info(name, **overrides)`` resolves a name and its overrides (``T``,
``num_classes``, ``connect``, ``image_size``) into a :class:`ModelInfo`;
``create_model`` builds the network from it. Weights are random (no download).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import torch
from torch import Tensor, nn

from syops.models import event, imagenet, transformers
from syops.models.connect import SPIKE_PRESERVING

EVENT_RATE = 0.2
"""Mean events per pixel, polarity and frame of the synthetic event input."""


@dataclass(frozen=True)
class Dataset:
    """A data set's defaults, as named by ``syops.data``."""

    name: str
    num_classes: int
    T: int
    image_size: int
    events: bool
    """True: ``[T, 2, H, W]`` event-count frames; False: ``[3, H, W]`` static images."""


IMAGENET = Dataset("imagenet", 1000, T=4, image_size=224, events=False)
CIFAR100 = Dataset("cifar100", 100, T=4, image_size=32, events=False)
DVS_GESTURE = Dataset("dvs-gesture", 11, T=16, image_size=128, events=True)
CIFAR10_DVS = Dataset("cifar10-dvs", 10, T=16, image_size=128, events=True)
EVENT_DATASETS = frozenset(data.name for data in (DVS_GESTURE, CIFAR10_DVS))


@dataclass(frozen=True)
class ModelInfo:
    """What a reference model is and what it expects as one sample."""

    name: str
    family: str
    input_shape: tuple[int, ...]
    """Per sample, no batch dimension."""
    T: int
    """Time steps; 1 for the ANN."""
    dataset: str
    num_classes: int
    connect: str | None
    """Connect function name; None where the family has none (ANN, Spiking ResNet)."""
    description: str

    def example_input(self, batch_size: int = 1, seed: int = 0) -> Tensor:
        """A random batch of the right shape: Poisson event counts, or normal-noise images."""
        generator = torch.Generator().manual_seed(seed)
        shape = (batch_size, *self.input_shape)
        if self.dataset in EVENT_DATASETS:
            return torch.poisson(torch.full(shape, EVENT_RATE), generator=generator)
        return torch.randn(shape, generator=generator)


@dataclass(frozen=True)
class Entry:
    """How to build one named model."""

    family: str
    title: str
    dataset: Dataset
    build: Callable[[ModelInfo], nn.Module]
    connects: tuple[str, ...] = ()
    """Allowed connect functions, the default first; empty: the family has none."""
    has_time: bool = True


SEW_CONNECTS = ("ADD", "AND", "IAND")
DUAL_STREAM_CONNECTS = ("IAND",) + tuple(c for c in SPIKE_PRESERVING if c != "IAND")


def _resnet_entries() -> dict[str, Entry]:
    families = (
        ("resnet", "ANN ResNet", _build_ann, (), False),
        ("spiking_resnet", "Spiking ResNet", _build_spiking, (), True),
        ("sew", "SEW ResNet", partial(_build_connected, imagenet.sew_resnet), SEW_CONNECTS, True),
        ("fsnn", "FSNN ResNet", partial(_build_connected, imagenet.fsnn_resnet), DUAL_STREAM_CONNECTS, True),
        ("dsnn", "DSNN ResNet", partial(_build_connected, imagenet.dsnn_resnet), DUAL_STREAM_CONNECTS, True),
    )
    return {
        f"{family}{depth}": Entry(
            family, f"{title}-{depth}", IMAGENET, partial(build, depth), connects, has_time
        )
        for family, title, build, connects, has_time in families
        for depth in imagenet.DEPTHS
    }


def _seven_block_entries() -> dict[str, Entry]:
    nets = (  # SEW name, dual-stream suffix, title, block widths, data set
        ("sew7b", "7", "7B-Net", event.SEW7B_WIDTHS, DVS_GESTURE),
        ("wide7b", "7w", "Wide-7B-Net", event.WIDE7B_WIDTHS, CIFAR10_DVS),
    )
    families = (
        ("sew", event.sew_seven_block, SEW_CONNECTS),
        ("fsnn", event.fsnn_seven_block, DUAL_STREAM_CONNECTS),
        ("dsnn", event.dsnn_seven_block, DUAL_STREAM_CONNECTS),
    )
    return {
        sew_name if family == "sew" else f"{family}{suffix}": Entry(
            family, f"{family.upper()} {title}", data, partial(_build_event, build, widths), connects
        )
        for sew_name, suffix, title, widths, data in nets
        for family, build, connects in families
    }


def _build_ann(depth: int, info: ModelInfo) -> nn.Module:
    return imagenet.ann_resnet(depth, info.num_classes)


def _build_spiking(depth: int, info: ModelInfo) -> nn.Module:
    return imagenet.spiking_resnet(depth, info.T, info.num_classes)


def _build_connected(builder: Callable[..., nn.Module], depth: int, info: ModelInfo) -> nn.Module:
    """SEW, FSNN and DSNN ResNets."""
    return builder(depth, info.T, info.num_classes, info.connect)


def _build_event(builder: Callable[..., nn.Module], widths, info: ModelInfo) -> nn.Module:
    """Event nets take T from their input, so it is not a build argument."""
    return builder(widths, info.num_classes, info.connect)


def _transformer_entries() -> dict[str, Entry]:
    """Spikformer on CIFAR-100 in three residual variants; ImageNet spiking transformers."""
    cifar = transformers.SPECS["4_384"]
    entries = {
        "spikformer_4_384": Entry("spikformer", "Spikformer-4-384", CIFAR100,
                                  partial(_build_spikformer, cifar, False), SEW_CONNECTS),
        "fsnn_spikformer_4_384": Entry("fsnn", "FSNN Spikformer-4-384", CIFAR100,
                                       partial(_build_spikformer, cifar, False), DUAL_STREAM_CONNECTS),
        "dsnn_spikformer_4_384": Entry("dsnn", "DSNN Spikformer-4-384", CIFAR100,
                                       partial(_build_spikformer, cifar, True), DUAL_STREAM_CONNECTS),
    }
    for size in ("8_384", "8_512", "8_768"):
        entries[f"spikformer_{size}"] = Entry(
            "spikformer", f"Spikformer-{size.replace('_', '-')}", IMAGENET,
            partial(_build_spikformer, transformers.SPECS[size], False), SEW_CONNECTS)
    entries["spikingformer_8_512"] = Entry("spikingformer", "Spikingformer-8-512", IMAGENET, partial(
        _build_transformer, transformers.spikingformer, transformers.SPECS["8_512"]))
    for size, spec in transformers.SDT_SPECS.items():
        entries[f"sdt_{size}"] = Entry("sdt", f"Spike-driven Transformer-{size.replace('_', '-')}",
                                       IMAGENET, partial(_build_transformer, transformers.sdt, spec))
    return entries


def _build_spikformer(spec: transformers.Spec, accumulate: bool, info: ModelInfo) -> nn.Module:
    return transformers.spikformer(spec, info.T, info.num_classes, info.connect, accumulate)


def _build_transformer(builder: Callable[..., nn.Module], spec: transformers.Spec,
                       info: ModelInfo) -> nn.Module:
    return builder(spec, info.T, info.num_classes)


REGISTRY: dict[str, Entry] = _resnet_entries() | _seven_block_entries() | _transformer_entries()


def list_models() -> list[str]:
    """Every model name, ImageNet ResNets first, then the event nets."""
    return list(REGISTRY)


def model_info(name: str, **overrides: Any) -> ModelInfo:
    """The resolved description of ``name`` with ``overrides`` applied.

    Overrides: ``T`` (spiking nets), ``num_classes``, ``image_size``, ``connect``
    (families with a connect function). Raises ValueError on anything else.
    """
    key, entry = _lookup(name)
    options = _options(entry)
    for option, value in overrides.items():
        if option not in options:
            raise ValueError(f"{key} has no option {option!r}{_suggest(option, options)} "
                             f"(options: {', '.join(options)})")
        _check_value(key, entry, option, value)
    data = entry.dataset
    T = overrides.get("T", data.T) if entry.has_time else 1
    size = overrides.get("image_size", data.image_size)
    connect = overrides.get("connect", entry.connects[0] if entry.connects else None)
    connect = connect.upper() if connect else None
    num_classes = overrides.get("num_classes", data.num_classes)
    frame = (event.EVENT_CHANNELS if data.events else 3, size, size)
    return ModelInfo(
        name=key,
        family=entry.family,
        input_shape=(T, *frame) if data.events else frame,
        T=T,
        dataset=data.name,
        num_classes=num_classes,
        connect=connect,
        description=_describe(entry, T, connect),
    )


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build the reference model ``name`` (random init) with ``overrides`` applied.

    Input: ``[B, 3, H, W]`` images for ImageNet nets, ``[B, T, 2, H, W]`` event frames for
    event nets. Output: logits ``[B, num_classes]``; DSNNs return
    ``(spike_logits, accumulation_logits)``.
    """
    info = model_info(name, **overrides)
    return REGISTRY[info.name].build(info)


def _lookup(name: str) -> tuple[str, Entry]:
    key = str(name).strip().lower()
    if key not in REGISTRY:
        raise ValueError(f"unknown model {name!r}{_suggest(key, REGISTRY)} "
                         "(see syops.models.list_models())")
    return key, REGISTRY[key]


def _options(entry: Entry) -> list[str]:
    options = ["num_classes", "image_size"]
    if entry.has_time:
        options.insert(0, "T")
    if entry.connects:
        options.append("connect")
    return options


def _check_value(key: str, entry: Entry, option: str, value: Any) -> None:
    if option == "connect":
        if not isinstance(value, str) or value.upper() not in entry.connects:
            raise ValueError(f"{key} takes connect in {', '.join(entry.connects)}, not {value!r}"
                             f"{_suggest(str(value).upper(), entry.connects)}")
    elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{key}: {option} must be a positive integer, not {value!r}")


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.5)
    return f"; did you mean {', '.join(close)}?" if close else ""


def _describe(entry: Entry, T: int, connect: str | None) -> str:
    parts = [entry.title, entry.dataset.name]
    if entry.has_time:
        parts.append(f"T={T}")
    if connect:
        parts.append(f"connect {connect}")
    return ", ".join(parts)

