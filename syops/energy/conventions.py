"""Named counting conventions: the options under which a published source counts and prices
operations, as data, so one run can be shown the way each source would report it.

A convention sets ``count_syops``'s counting and energy options (AC mode, BatchNorm cost,
input convention, effective operations, energy preset). The classification of inputs by
architecture stays on under every convention: a layer whose input is multi-level by
construction costs MACs whatever the values of one batch (the old tools' luck-dependent
classification is a bug, not a convention). docs/energy.md and docs/cli.md describe each.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from syops.options import Options

_DEFAULTS = {f.name: f.default for f in fields(Options)}


COUNTING = ("mode", "fuse_bn", "bn_macs", "spikes", "effective", "energy")


@dataclass(frozen=True)
class Convention:
    """How one source counts: a partial ``syops.options.Options`` (the fields the source
    sets; the others keep their defaults) and where it comes from."""

    name: str
    source: str
    sets: Mapping[str, Any] = field(default_factory=dict)
    unfolded_families: tuple[str, ...] = ()  # model families whose BN stays even so
    pricing: str | None = None          # "module:function" pricing a Report beyond the preset

    def __post_init__(self) -> None:
        Options(**self.sets)   # a convention's settings are valid options

    def __getattr__(self, key: str) -> Any:
        """A counting option as this convention sets it (else the default)."""
        if key in _DEFAULTS:
            return self.sets.get(key, _DEFAULTS[key])
        raise AttributeError(key)

    def options(self, family: str | None = None) -> dict[str, Any]:
        """``count_syops`` keyword arguments for a model of ``family`` (e.g. "sew"; None when
        unknown: the convention's general BN rule applies)."""
        options = {key: getattr(self, key) for key in COUNTING if key != "effective"}
        options["fuse_bn"] = self.fuse_bn and family not in self.unfolded_families
        if self.effective:
            options["effective"] = True
        return options


def _convention(name: str, source: str, *, unfolded_families: tuple[str, ...] = (),
                pricing: str | None = None, **sets: Any) -> Convention:
    return Convention(name, source, sets, unfolded_families, pricing)


CONVENTIONS: dict[str, Convention] = {c.name: c for c in (
    _convention("syops", "this tool's default: exact pairs, BN folded, binary spikes, fp32"),
    _convention("aap2023", "the seed paper: dense x rate, BN folded for FSNN/DSNN and 2 MACs "
               "per element in its SEW rows", mode="rate", unfolded_families=("sew",)),
    _convention("spikformer2023", "Spikformer (Zhou et al. 2023): image-facing layer MACs, every "
               "other op dense x input firing rate over all T steps, residual sums as events",
               mode="rate", spikes="events"),
    _convention("neurobench", "NeuroBench (Yik et al. 2025): effective operations, zero weights "
               "and zero inputs skipped, per sample; -1/0/1 inputs cost ACs",
               effective=True, spikes="ternary"),
    _convention("syops-counter", "the old syops-counter: BN 2 MACs per element, dense x rate",
               mode="rate", fuse_bn=False),
    _convention("sj-opcounter", "SpikingJelly 2.0 op_counter: BN 1 MAC per element, memory "
               "and neuron-state costs included", fuse_bn=False, bn_macs=1,
               energy="horowitz-memory"),
    _convention("lemaire2022", "Lemaire et al. 2022 as LEAT-EDGE/qualia-plugin-snn codes it: "
               "potentials, weights, biases, inputs/outputs, operations and addressing per "
               "layer (syops.energy.lemaire); int32 operations", energy="int32",
               pricing="syops.energy.lemaire:lemaire_energy"),
)}

_MEANING = {
    "mode": {"exact": "ACs = non-zero (input, weight) pairs",
             "rate": "ACs = dense x input firing rate"},
    "fuse_bn": {True: "BN folded", False: "BN left in place"},
    "spikes": {"binary": "only 0/1 inputs are spikes",
               "events": "integer inputs (residual sums) cost |k| ACs",
               "ternary": "-1/0/1 inputs are spikes"},
    "effective": {True: "zero weights skipped", False: "zero weights counted"},
}


def convention(name: str) -> Convention:
    """The convention called ``name``; ValueError naming the known ones otherwise."""
    try:
        return CONVENTIONS[name]
    except KeyError:
        raise ValueError(f"unknown convention {name!r}; use one of "
                         f"{', '.join(CONVENTIONS)}") from None


def convention_options(name: str, family: str | None = None) -> dict[str, Any]:
    """``count_syops`` keyword arguments of the convention ``name`` for a model ``family``."""
    return convention(name).options(family)


def describe(option: str, value: Any) -> str:
    """One option's setting in words (``bn_macs`` only matters with BN left in place)."""
    if option == "bn_macs":
        return f"BN {value} MAC{'s' if value != 1 else ''} per element"
    if option == "energy":
        return f"energy {value}"
    return _MEANING[option][value]


def differences(options: dict[str, Any], base: dict[str, Any]) -> list[str]:
    """What ``options`` does differently from ``base``, in words, e.g. ["BN left in place",
    "BN 2 MACs per element", "ACs = dense x input firing rate"]."""
    keys = [k for k in ("mode", "fuse_bn", "bn_macs", "spikes", "effective", "energy")
            if options.get(k, False) != base.get(k, False)]
    if "bn_macs" in keys and options.get("fuse_bn") and base.get("fuse_bn"):
        keys.remove("bn_macs")  # both fold BN: its per-element cost never applies
    if not options.get("fuse_bn") and "fuse_bn" in keys and "bn_macs" not in keys:
        keys.insert(keys.index("fuse_bn") + 1, "bn_macs")
    return [describe(k, options.get(k, False)) for k in keys]
