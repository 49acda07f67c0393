"""Chip descriptions as data: per-event energies, static power, core capacity and timing.

Each chip is a TOML file in ``syops/energy/chips/``; every figure carries its source and its
boundary (pre-silicon, measured, calibrated, borrowed; dynamic only or total). A file may
``extends`` another chip and replace some of its figures. docs/energy.md lists them all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import tomllib

SECTIONS = {
    "energy": ("synaptic_pj", "synaptic_conv_pj", "neuron_pj", "neuron_active_pj",
               "spike_pj", "message_pj", "hop_pj"),
    "static": ("chip_w", "core_w"),
    "capacity": ("cores", "neurons_per_core", "synapses_per_core", "fan_in", "fan_out",
                 "kernel_memory", "neuron_memory"),
    "timing": ("step_s",),
}
BOUNDARIES = ("pre-silicon", "measured", "calibrated", "borrowed", "datasheet", "unverified")
SCOPES = ("dynamic", "total", "idle", "capacity", "timing")
FLAGS = ("shared_kernels", "pack_layers", "one_layer_per_core", "address_padding")


@dataclass(frozen=True)
class Figure:
    """One published figure: its value (a number, or a list per core), where it comes from,
    what kind of figure it is (``boundary``) and what it covers (``scope``)."""

    value: Any
    source: str
    boundary: str
    scope: str
    note: str = ""


@dataclass(frozen=True)
class Chip:
    """A chip description; ``figures[section][key]`` is a Figure (absent: not published)."""

    name: str
    title: str
    figures: dict[str, dict[str, Figure]]
    sources: dict[str, str]
    flags: dict[str, bool] = field(default_factory=dict)

    def value(self, section: str, key: str, default: Any = None) -> Any:
        figure = self.figures.get(section, {}).get(key)
        return default if figure is None else figure.value

    def figure(self, section: str, key: str) -> Figure | None:
        return self.figures.get(section, {}).get(key)

    def flag(self, key: str) -> bool:
        return bool(self.flags.get(key, False))

    @property
    def priced(self) -> bool:
        """Whether a per-synaptic-event energy is published (the chip can price counts)."""
        return self.value("energy", "synaptic_pj") is not None

    def synaptic_pj(self, layer_type: str = "") -> float:
        """pJ per synaptic event; a convolution's own figure where the chip has one."""
        conv = self.value("energy", "synaptic_conv_pj")
        if conv is not None and layer_type.startswith("Conv"):
            return conv
        return self.value("energy", "synaptic_pj")

    def static_mj(self, latency_s: float | None, chips: int = 1,
                  cores: int | None = None) -> tuple[float | None, str]:
        """Static energy in mJ over ``latency_s`` and a note saying how it was priced (or why
        it is None): per core where published and ``cores`` is known, else per chip."""
        core_w, chip_w = self.value("static", "core_w"), self.value("static", "chip_w")
        if core_w is None and chip_w is None:
            return None, f"{self.name}: no published static power"
        if latency_s is None:
            return None, f"{self.name}: no latency known (give --latency SECONDS or --fps)"
        if core_w is not None and cores is not None:
            return core_w * cores * latency_s * 1e3, f"{core_w:g} W x {cores} cores x {latency_s:g} s"
        if chip_w is None:
            return None, f"{self.name}: static power is per core and the cores used are unknown"
        return chip_w * chips * latency_s * 1e3, f"{chip_w:g} W x {chips} chip(s) x {latency_s:g} s"

    def latency_s(self, steps: int | None, latency: float | None = None,
                  fps: float | None = None) -> float | None:
        """Seconds per inference: the user's latency or 1 / fps, else the chip's time per
        step x ``steps``; None when neither is known."""
        if latency is not None:
            return latency
        if fps is not None:
            return 1.0 / fps
        step = self.value("timing", "step_s")
        return step * steps if step is not None and steps else None


def _figure(chip: str, section: str, key: str, raw: Any, sources: dict[str, str]) -> Figure:
    if not isinstance(raw, dict) or "value" not in raw:
        raise ValueError(f"chip {chip}: {section}.{key} must be a table with value, source, "
                         "boundary and scope")
    figure = Figure(raw["value"], raw.get("source", ""), raw.get("boundary", ""),
                    raw.get("scope", ""), raw.get("note", ""))
    values = figure.value if isinstance(figure.value, list) else [figure.value]
    if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                             and math.isfinite(v) and v >= 0 for v in values):
        raise ValueError(f"chip {chip}: {section}.{key} must be a non-negative number "
                         f"(or a list of them), got {figure.value!r}")
    if figure.source not in sources:
        raise ValueError(f"chip {chip}: {section}.{key} cites {figure.source!r}, which is not "
                         f"in its [sources] ({', '.join(sources)})")
    if figure.boundary not in BOUNDARIES or figure.scope not in SCOPES:
        raise ValueError(f"chip {chip}: {section}.{key} needs a boundary in {BOUNDARIES} and "
                         f"a scope in {SCOPES}, got {figure.boundary!r}, {figure.scope!r}")
    return figure


def parse_chip(table: dict[str, Any], base: Chip | None = None) -> Chip:
    """A Chip from the TOML table of a chip file (``base``: the chip it extends)."""
    name = table.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("a chip file needs a name")
    unknown = sorted(set(table) - {"name", "title", "extends", "sources", "flags", *SECTIONS})
    if unknown:
        raise ValueError(f"chip {name}: unknown keys {unknown}")
    sources = {**(base.sources if base else {}), **table.get("sources", {})}
    figures = {s: dict(base.figures.get(s, {})) if base else {} for s in SECTIONS}
    for section, keys in SECTIONS.items():
        for key, raw in table.get(section, {}).items():
            if key not in keys:
                raise ValueError(f"chip {name}: unknown figure {section}.{key}; "
                                 f"expected one of {', '.join(keys)}")
            figures[section][key] = _figure(name, section, key, raw, sources)
    flags = {**(base.flags if base else {}), **table.get("flags", {})}
    if set(flags) - set(FLAGS):
        raise ValueError(f"chip {name}: unknown flags {sorted(set(flags) - set(FLAGS))}")
    return Chip(name, table.get("title", name), figures, sources, flags)


@cache
def chips() -> dict[str, Chip]:
    """Every chip shipped in syops/energy/chips, by name (files that extend another chip are
    read after it)."""
    folder = resources.files("syops.energy") / "chips"
    tables = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".toml"):
            table = tomllib.loads(entry.read_text(encoding="utf-8"))
            tables[table["name"]] = table
    done: dict[str, Chip] = {}

    def load(name: str) -> Chip:
        if name not in done:
            base = tables[name].get("extends")
            done[name] = parse_chip(tables[name], load(base) if base else None)
        return done[name]
    for name in sorted(tables):
        load(name)
    return done


def chip(name: str) -> Chip:
    """The chip called ``name``; a ValueError naming the chips otherwise."""
    try:
        return chips()[name]
    except KeyError:
        raise ValueError(f"unknown chip {name!r}; use one of {', '.join(sorted(chips()))}") \
            from None
