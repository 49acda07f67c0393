"""Energy models as data, and energies from counts.

An energy model (a preset) is a frozen record of figures in pJ: per synaptic operation
(AC, MAC), per neuron state update, and per memory access (weight read, membrane-potential
read or write, spike written; or Horowitz's SRAM energy by memory size; weights on chip or
in DRAM). docs/energy.md gives the source of every figure and every assumption.
An AC is one add; a MAC is one multiply plus one add. 1 G operations x 1 pJ = 1 mJ.
"""

from __future__ import annotations

import errno
import math
import os
import stat
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Iterable

import tomllib

from syops.energy.chip import Chip, chips
from syops.energy.memory import WEIGHT_HOMES, WEIGHT_READS, neuron_memory_pj, synaptic_memory_pj

PJ_PER_MJ = 1e9
COSTS = ("ac_pj", "mac_pj", "neuron_pj", "weight_read_pj", "potential_pj", "spike_write_pj",
         "dram_pj")
CHOICES = {"weights": WEIGHT_HOMES, "weight_reads": WEIGHT_READS}
MEMORY_COSTS = ("weight_read_pj", "potential_pj", "spike_write_pj")

# (add, multiply) in pJ, Horowitz 2014, 45 nm.
_HOROWITZ = {"fp32": (0.9, 3.7), "fp16": (0.4, 1.1), "int32": (0.1, 3.1), "int8": (0.03, 0.2)}
DRAM_PJ = 1300.0  # Horowitz 2014: 1.3-2.6 nJ per 64-bit DRAM access; the low end


@dataclass(frozen=True)
class EnergyModel:
    """Energy per operation and per memory access, in pJ (see docs/energy.md)."""

    name: str
    ac_pj: float
    mac_pj: float
    neuron_pj: float = 0.0          # one neuron state update (one neuron, one step)
    weight_read_pj: float = 0.0     # one weight read from on-chip memory
    potential_pj: float = 0.0       # one membrane-potential read, and again one write
    spike_write_pj: float = 0.0     # one spike (or activation) written
    sram_by_size: bool = False      # memory costs from Horowitz's SRAM curve by memory size
    weights: str = "on-chip"        # or "dram": every weight read costs dram_pj
    dram_pj: float = DRAM_PJ
    weight_reads: str = "per-op"    # or "per-spike": one weight-row read per input spike
    word_bytes: int = 4             # bytes per weight or potential (memory sizes)

    def __post_init__(self):
        for key in COSTS:
            _check_cost(key, getattr(self, key))
        for key, allowed in CHOICES.items():
            if getattr(self, key) not in allowed:
                raise ValueError(f"energy option {key} must be one of {', '.join(allowed)}, "
                                 f"got {getattr(self, key)!r}")
        if not isinstance(self.sram_by_size, bool):
            raise ValueError(f"energy option sram_by_size must be true or false, "
                             f"got {self.sram_by_size!r}")
        if isinstance(self.word_bytes, bool) or self.word_bytes not in range(1, 9):
            raise ValueError(f"energy option word_bytes must be a whole number from 1 to 8, "
                             f"got {self.word_bytes!r}")

    @property
    def has_memory(self) -> bool:
        return (self.sram_by_size or self.weights == "dram"
                or any(getattr(self, key) for key in MEMORY_COSTS))

    @property
    def has_extra_terms(self) -> bool:
        """Whether the model charges more than synaptic operations."""
        return bool(self.neuron_pj) or self.has_memory

    def mj(self, acs: float, macs: float) -> float:
        """Energy in mJ of ``acs`` accumulates and ``macs`` multiply-accumulates."""
        return (self.ac_pj * acs + self.mac_pj * macs) / PJ_PER_MJ

    def describe(self) -> str:
        """The figures in words, e.g. 'AC 23.6 pJ, MAC 23.6 pJ, neuron update 52 pJ'."""
        parts = [f"AC {self.ac_pj:g} pJ", f"MAC {self.mac_pj:g} pJ"]
        if self.neuron_pj:
            parts.append(f"neuron update {self.neuron_pj:g} pJ")
        if self.sram_by_size:
            parts.append("memory: Horowitz SRAM by size")
        else:
            parts += [f"{label} {getattr(self, key):g} pJ" for key, label in
                      zip(MEMORY_COSTS, ("weight read", "potential read/write", "spike write"))
                      if getattr(self, key)]
        if self.weights == "dram":
            parts.append(f"weights in DRAM {self.dram_pj:g} pJ per read")
        return ", ".join(parts)


MAX_PJ = 1e6  # 1 uJ per operation or access: far above any preset (SpiNNaker 26,000 pJ)
MAX_FILE_BYTES = 64 * 1024  # an energy TOML is a few lines


def _check_cost(key: str, value: Any) -> None:
    """Costs are finite, non-negative and at most MAX_PJ (so energies cannot overflow)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or not 0 <= value <= MAX_PJ:
        raise ValueError(f"energy cost {key} must be a non-negative number of pJ, at most "
                         f"{MAX_PJ:,.0f}, got {value!r}")


def _chip(chip: Chip) -> EnergyModel:
    """A neuromorphic chip's preset: one synaptic event per AC, and per MAC; a neuron update
    at the chip's (inactive) figure; a spike out and its message per spike emitted."""
    synaptic = chip.value("energy", "synaptic_pj")
    spike = chip.value("energy", "spike_pj", 0.0) + chip.value("energy", "message_pj", 0.0)
    return EnergyModel(chip.name, ac_pj=synaptic, mac_pj=synaptic,
                       neuron_pj=chip.value("energy", "neuron_pj", 0.0),
                       spike_write_pj=round(spike, 6))


PRESETS: dict[str, EnergyModel] = {
    **{name: EnergyModel(name, ac_pj=add, mac_pj=round(add + mul, 6))
       for name, (add, mul) in _HOROWITZ.items()},
    # Lemaire et al. 2022's terms at fp32: leak multiply + input add + threshold compare.
    "horowitz-memory": EnergyModel("horowitz-memory", ac_pj=0.9, mac_pj=4.6, neuron_pj=5.5,
                                   sram_by_size=True),
    # Chips whose per-synaptic-event energy is published (syops/energy/chips/*.toml).
    **{name: _chip(chip) for name, chip in chips().items() if chip.priced},
}
UNPRICED_CHIPS = tuple(name for name, chip in chips().items() if not chip.priced)

FIELDS = tuple(f.name for f in fields(EnergyModel))


def load_energy_file(path: str | Path) -> EnergyModel:
    """An energy model from a TOML file: ``ac_pj``, ``mac_pj`` and optionally ``name`` and
    any other EnergyModel field (docs/energy.md)."""
    path = Path(path)
    try:
        table = tomllib.loads(_energy_text(path))
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"energy file {path} is not valid TOML: {err}") from None
    except RecursionError:
        raise ValueError(f"energy file {path} nests arrays or tables too deeply; it should "
                         "hold a few lines of TOML") from None
    unknown = sorted(set(table) - set(FIELDS))
    if unknown:
        raise ValueError(f"energy file {path} has unknown keys {unknown}; "
                         f"expected ac_pj, mac_pj and optionally {', '.join(FIELDS[3:])} or name")
    missing = [k for k in ("ac_pj", "mac_pj") if k not in table]
    if missing:
        raise ValueError(f"energy file {path} lacks {missing}; give both ac_pj and mac_pj in pJ")
    return EnergyModel(**{"name": str(table.get("name", path.stem)),
                          **{k: v for k, v in table.items() if k != "name"}})


def _energy_text(path: Path) -> str:
    """The text of an energy file: a regular file (a FIFO or device would block or never
    end) of at most MAX_FILE_BYTES, in UTF-8. Errors name the file."""
    try:
        with open(path, "rb", opener=_open_regular) as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise ValueError(f"cannot read energy file {path}: {err.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"energy file {path} is larger than {MAX_FILE_BYTES // 1024} KiB; "
                         "it should hold a few lines of TOML")
    try:
        return data.decode("utf-8").removeprefix("\ufeff")  # the BOM Windows editors write
    except UnicodeDecodeError as err:
        raise ValueError(f"energy file {path} is not UTF-8 text (byte {err.start})") from None


def _open_regular(path: str, flags: int) -> int:
    """Open without blocking (a FIFO would wait for a writer) and refuse non-regular files."""
    fd = os.open(path, flags | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", path)
    return fd


def to_toml(model: EnergyModel) -> str:
    """The TOML text of ``model`` (every field), readable by ``load_energy_file``."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        return f'"{v}"' if isinstance(v, str) else repr(v)
    return "".join(f"{f} = {value(getattr(model, f))}\n" for f in FIELDS)


def energy_model(spec: str | Path | EnergyModel) -> EnergyModel:
    """Resolve a preset name (see ``PRESETS``), a TOML file or an EnergyModel."""
    if isinstance(spec, EnergyModel):
        return spec
    if isinstance(spec, str) and spec in PRESETS:
        return PRESETS[spec]
    if isinstance(spec, Path) or str(spec).endswith(".toml"):
        return load_energy_file(spec)
    if spec in UNPRICED_CHIPS:
        raise ValueError(f"chip {spec!r} has no published energy per synaptic event, so it "
                         "cannot price counts; give one in a TOML file (ac_pj, mac_pj) or use "
                         "its static power and capacity (syops.energy.chip, docs/energy.md)")
    raise ValueError(f"unknown energy preset {spec!r}; use one of {', '.join(PRESETS)} "
                     "or a TOML file with ac_pj and mac_pj")


# --- energies from counts (raw totals in, pJ or mJ per sample out) --------------------
TERMS = ("synaptic", "neuron", "memory", "total")
ROW_COLUMNS = ("name", "type", "kind", *(f"{t}_pj" for t in TERMS))


def layer_terms_pj(model: EnergyModel, counts: Any,
                   samples_per_call: float = 1.0) -> dict[str, float]:
    """Synaptic and memory pJ (raw totals) of one counted layer (a LayerCounts) whose calls
    held ``samples_per_call`` samples each (the batch: weight reads are per sample)."""
    synaptic = model.ac_pj * counts.acs + model.mac_pj * counts.mac_syops
    memory = synaptic_memory_pj(model, counts, samples_per_call)
    return {"synaptic": synaptic, "neuron": 0.0, "memory": memory,
            "total": synaptic + memory}


def neuron_terms_pj(model: EnergyModel, counts: Any) -> dict[str, float]:
    """Neuron-update and memory pJ (raw totals) of one neuron layer (a NeuronCounts)."""
    neuron = model.neuron_pj * counts.updates
    memory = neuron_memory_pj(model, counts)
    return {"synaptic": 0.0, "neuron": neuron, "memory": memory, "total": neuron + memory}


def energy_rows(model: EnergyModel, layers: Iterable[Any], neurons: Iterable[Any],
                samples: int, forwards: int | None = None) -> list[dict[str, Any]]:
    """One row per counted layer, then per neuron layer: each term in pJ per sample
    (``forwards``: the batches the samples came in; None: one sample per batch)."""
    per_call = samples / forwards if forwards else 1.0

    def row(counts, kind, terms):
        per_sample = {f"{t}_pj": v / samples if samples else math.nan for t, v in terms.items()}
        return {"name": counts.name, "type": counts.type, "kind": kind, **per_sample}
    return ([row(c, "synaptic", layer_terms_pj(model, c, per_call)) for c in layers]
            + [row(c, "neuron", neuron_terms_pj(model, c)) for c in neurons])


def breakdown_mj(model: EnergyModel, layers: Iterable[Any], neurons: Iterable[Any],
                 samples: int, forwards: int | None = None) -> dict[str, float]:
    """``synaptic``, ``neuron``, ``memory`` and ``total`` in mJ per sample (``forwards`` as
    in ``energy_rows``). The synaptic term is ``model.mj`` of the per-sample ACs and MACs,
    as the DC has always been."""
    layers, neurons = tuple(layers), tuple(neurons)
    if not samples:
        return dict.fromkeys(TERMS, math.nan)
    synaptic = model.mj(sum(c.acs for c in layers) / samples,
                        sum(c.mac_syops for c in layers) / samples)
    neuron = sum(model.neuron_pj * c.updates for c in neurons) / samples / PJ_PER_MJ
    per_call = samples / forwards if forwards else 1.0
    memory = (sum(synaptic_memory_pj(model, c, per_call) for c in layers)
              + sum(neuron_memory_pj(model, c) for c in neurons)) / samples / PJ_PER_MJ
    return {"synaptic": synaptic, "neuron": neuron, "memory": memory,
            "total": synaptic + neuron + memory}


def static_terms(model: EnergyModel, steps: int | None = None, latency: float | None = None,
                 fps: float | None = None) -> dict[str, Any]:
    """``static`` (mJ per inference, or None) and ``static_note`` (how it was priced, or why
    not): the chip's static power x the latency (``latency`` seconds, else 1 / ``fps``, else
    the chip's time per step x ``steps``), on one chip. Never an error."""
    description = chips().get(model.name)
    if description is None:
        return {"static": None, "static_note": f"{model.name}: not a chip, no static power"}
    seconds = description.latency_s(steps, latency, fps)
    static, note = description.static_mj(seconds)
    return {"static": static, "static_note": note}
