"""How many cores a counted model needs on a chip, whether it fits, and which layer breaks
a limit (a first estimate, not a compiler: docs/energy.md says what it leaves out).

Per counted conv or linear layer: its neurons per time step (dense SyOPs per sample /
fan-in / T), fan-in and fan-out per neuron, and the synapses it stores (the kernel where the
chip shares kernels, else every neuron's fan-in). A layer takes
ceil(max(neurons / neurons per core, synapses / synapses per core)) cores of its own, or,
on a chip that packs layers, a share of the one pool of neurons. On a chip of one layer per
core (Speck) each layer needs a core whose kernel and neuron memories hold it, with each
address field padded to a power of two.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from torch import nn

from syops.energy.chip import Chip


@dataclass(frozen=True)
class LayerMap:
    """One layer on the chip."""

    name: str
    type: str
    neurons: int
    fan_in: int
    fan_out: int
    synapses: int
    cores: float | None
    breaks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mapping:
    """The model on the chip: every layer, the cores and chips used, and what does not fit."""

    chip: str
    layers: tuple[LayerMap, ...]
    cores: int
    chips: int
    cores_per_chip: int | None
    fits: bool
    breaks: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Geometry:
    """A layer's shape: what the mapping needs of it."""

    name: str
    type: str
    neurons: int
    fan_in: int
    fan_out: int
    weights: int
    out_channels: int
    kernel: int
    out_hw: tuple[int, int]


def geometry(module: nn.Module, name: str, type_: str, dense_per_step: float,
             input_shape: tuple[int, ...]) -> Geometry | None:
    """The Geometry of a conv or linear ``module`` (None for any other module)."""
    weight = getattr(module, "weight", None)
    if weight is None or weight.dim() < 2:
        return None
    fan_in, out_channels = int(weight[0].numel()), int(weight.shape[0])
    neurons = round(dense_per_step / fan_in) if fan_in else 0
    if isinstance(module, nn.Linear):
        return Geometry(name, type_, neurons, fan_in, out_channels, int(weight.numel()),
                        out_channels, 1, (1, 1))
    kernel = math.prod(weight.shape[2:])
    stride = math.prod(getattr(module, "stride", (1,)))
    groups = getattr(module, "groups", 1)
    fan_out = out_channels // groups * max(1, math.ceil(kernel / stride))
    out_hw = _out_hw(module, input_shape, neurons // out_channels if out_channels else 0)
    return Geometry(name, type_, neurons, fan_in, fan_out, int(weight.numel()), out_channels,
                    kernel, out_hw)


def _out_hw(module: nn.Module, input_shape: tuple[int, ...], per_channel: int) -> tuple[int, int]:
    """Output height and width of a 2-d conv from its input shape; (per_channel, 1) else."""
    if not isinstance(module, nn.Conv2d) or len(input_shape) < 2 \
            or isinstance(module.padding, str):
        return (max(per_channel, 1), 1)
    sizes = []
    for axis, size in enumerate(input_shape[-2:]):
        k, s, p = module.kernel_size[axis], module.stride[axis], module.padding[axis]
        sizes.append((size + 2 * p - module.dilation[axis] * (k - 1) - 1) // s + 1)
    return tuple(sizes)


def model_geometry(model: nn.Module, report: Any) -> tuple[list[Geometry], list[str]]:
    """The Geometry of every counted conv and linear layer of ``model`` (per time step as
    ``report.time_steps`` says), and a note for each counted layer that has none."""
    steps = report.time_steps or 1
    layers, notes = [], []
    for counts in report.layer_counts:
        try:
            module = model.get_submodule(counts.name)
        except AttributeError:
            module = None
        dense = (counts.spike_syops + counts.mac_syops) / report.samples / steps
        shape = geometry(module, counts.name, counts.type, dense, counts.input_shape) \
            if module is not None else None
        if shape is None:
            notes.append(f"{counts.name} ({counts.type}): not a conv or linear module, not mapped")
        else:
            layers.append(shape)
    return layers, notes


def padded_memory(layer: Geometry) -> tuple[int, int]:
    """Kernel and neuron memory words with every address field rounded up to a power of
    two: input channels x 2^(bits(kernel) + bits(out channels)), out channels x
    2^(bits(height) + bits(width))."""
    in_channels = layer.fan_in // max(layer.kernel, 1)
    kernel = in_channels * 2 ** (_bits(layer.kernel) + _bits(layer.out_channels))
    height, width = layer.out_hw
    return kernel, layer.out_channels * 2 ** (_bits(height) + _bits(width))


def _bits(n: int) -> int:
    return math.ceil(math.log2(n)) if n > 1 else 0


def _limits(chip: Chip, layer: Geometry) -> list[str]:
    breaks = []
    for key, value in (("fan_in", layer.fan_in), ("fan_out", layer.fan_out)):
        limit = chip.value("capacity", key)
        if limit is not None and value > limit:
            breaks.append(f"{layer.name}: {key.replace('_', '-')} {value} > {limit}")
    return breaks


def _cores(chip: Chip, layer: Geometry) -> float | None:
    synapses = _synapses(chip, layer)
    needs = [layer.neurons / per for per in [chip.value("capacity", "neurons_per_core")] if per]
    needs += [synapses / per for per in [chip.value("capacity", "synapses_per_core")] if per]
    return max(needs) if needs else None


def _synapses(chip: Chip, layer: Geometry) -> int:
    return layer.weights if chip.flag("shared_kernels") else layer.neurons * layer.fan_in


def _match(needs: list[tuple[int, int]], kernel_mem: list[int], neuron_mem: list[int]
           ) -> dict[int, int]:
    """Layer index -> core index, each layer on a core whose memories hold it (a maximum
    bipartite matching, augmenting paths)."""
    owner: dict[int, int] = {}

    def place(layer: int, seen: set[int]) -> bool:
        for core, (km, nm) in enumerate(zip(kernel_mem, neuron_mem)):
            if core in seen or needs[layer][0] > km or needs[layer][1] > nm:
                continue
            seen.add(core)
            if core not in owner or place(owner[core], seen):
                owner[core] = layer
                return True
        return False
    for layer in range(len(needs)):
        place(layer, set())
    return {layer: core for core, layer in owner.items()}


def map_layers(chip: Chip, layers: list[Geometry], chips: int = 1,
               notes: tuple[str, ...] = ()) -> Mapping:
    """The Mapping of ``layers`` on ``chips`` copies of ``chip``."""
    per_chip = chip.value("capacity", "cores")
    if chip.flag("one_layer_per_core"):
        return _one_per_core(chip, layers, chips, per_chip, notes)
    rows, breaks = [], []
    for layer in layers:
        layer_breaks = _limits(chip, layer)
        cores = _cores(chip, layer)
        if cores is not None and not chip.flag("pack_layers"):
            cores = math.ceil(cores)
        breaks += layer_breaks
        rows.append(LayerMap(layer.name, layer.type, layer.neurons, layer.fan_in,
                             layer.fan_out, _synapses(chip, layer), cores,
                             tuple(layer_breaks)))
    used = [r.cores for r in rows if r.cores is not None]
    total = math.ceil(sum(used) - 1e-9) if used else 0
    if per_chip is not None and total > per_chip * chips:
        breaks.append(f"needs {total} cores; {chips} chip(s) hold {per_chip * chips}")
    needed = math.ceil(total / per_chip) if per_chip else 1
    return Mapping(chip.name, tuple(rows), total, max(needed, 1), per_chip, not breaks,
                   tuple(breaks), notes)


def _one_per_core(chip: Chip, layers: list[Geometry], chips: int, per_chip: int | None,
                  notes: tuple[str, ...]) -> Mapping:
    kernel_mem = list(chip.value("capacity", "kernel_memory", [])) * chips
    neuron_mem = list(chip.value("capacity", "neuron_memory", [])) * chips
    needs = [padded_memory(layer) if chip.flag("address_padding")
             else (layer.weights, layer.neurons) for layer in layers]
    placed = _match(needs, kernel_mem, neuron_mem)
    rows, breaks = [], []
    for index, layer in enumerate(layers):
        layer_breaks = _limits(chip, layer)
        if index not in placed:
            layer_breaks.append(f"{layer.name}: kernel memory {needs[index][0]} and neuron "
                                f"memory {needs[index][1]} fit no free core")
        breaks += layer_breaks
        rows.append(LayerMap(layer.name, layer.type, layer.neurons, layer.fan_in,
                             layer.fan_out, needs[index][0], 1, tuple(layer_breaks)))
    needed = math.ceil(len(layers) / per_chip) if per_chip else 1
    return Mapping(chip.name, tuple(rows), len(layers), max(needed, 1), per_chip, not breaks,
                   tuple(breaks), notes)


def estimate(model: nn.Module, report: Any, chip: Chip, chips: int = 1) -> Mapping:
    """The Mapping of a counted ``model`` (its ``report``) on ``chips`` of ``chip``."""
    layers, notes = model_geometry(model, report)
    return map_layers(chip, layers, chips, tuple(notes))
