"""Options: every choice that changes a count, as one frozen object.

Built once (from ``count_syops``'s keyword arguments, a named convention or a resume file),
validated once, passed whole to the counter, and printed whole in every report. A convention
is a partial options object: the fields it sets replace the defaults.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from syops.engine.sites import SPIKE_CONVENTIONS

MODES = ("exact", "rate")
CLASSIFICATIONS = ("probe", "observed")
SIGNAL_KINDS = ("spike", "multi-level")


@dataclass(frozen=True)
class Options:
    """How a run counts and prices (docs/counting.md explains each)."""

    mode: str = "exact"            # "exact" (non-zero input, weight) pairs; "rate": dense x rate
    fuse_bn: bool = True           # BatchNorm after a conv/linear folds into it (free)
    bn_macs: int = 2               # MACs per element of a BatchNorm left in place
    spikes: str = "binary"         # inputs that cost ACs: "binary" 0/1; "events" integers |k|;
                                   # "ternary" -1/0/1 (NeuroBench)
    effective: bool = False        # every call costs its (non-zero input, non-zero weight) pairs
    classify: str = "probe"        # "probe": multi-level by architecture costs MACs always
    signals: tuple[tuple[str, str], ...] = ()   # (layer name, "spike" | "multi-level")
    batch_dim: int = 0             # the model input's sample dimension
    time_first: bool = False       # batches are [B, T, ...], fed to the model as [T, B, ...]
    strict: bool = False           # refuse parameterised modules that no rule counts
    check_layout: bool = True      # warn where samples may be time steps (off for models whose
                                   # input layout is known: the reference models)
    energy: Any = "fp32"           # an energy preset's name, a TOML path or an EnergyModel

    def __post_init__(self) -> None:
        _check_choice("mode", self.mode, MODES)
        _check_choice("classify", self.classify, CLASSIFICATIONS)
        _check_choice("spikes", self.spikes, SPIKE_CONVENTIONS)
        for name in ("fuse_bn", "effective", "time_first", "strict", "check_layout"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if isinstance(self.batch_dim, bool) or not isinstance(self.batch_dim, int) \
                or self.batch_dim < 0:
            raise ValueError(f"batch_dim must be a non-negative int, got {self.batch_dim!r}")
        if self.time_first and self.batch_dim != 0:
            raise ValueError("time_first=True feeds [B, T, ...] batches as [T, B, ...]; "
                             "leave batch_dim at 0")
        if self.effective and self.mode != "exact":
            raise ValueError("effective operations are exact pairs; use mode='exact'")
        if self.bn_macs not in (1, 2) or isinstance(self.bn_macs, bool):
            raise ValueError(f"bn_macs must be 1 or 2 MACs per element, got {self.bn_macs!r}")
        bad = {k: v for k, v in self.signals if v not in SIGNAL_KINDS}
        if bad:
            raise ValueError(f"signals must be 'spike' or 'multi-level', got {bad}")

    @classmethod
    def build(cls, convention: str | None = None, **given: Any) -> Options:
        """Options from keyword arguments; a named convention's fields replace the defaults
        and the arguments it sets (docs/energy.md lists the conventions)."""
        unknown = set(given) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown option(s): {', '.join(sorted(unknown))}")
        if isinstance(given.get("signals"), Mapping):
            given["signals"] = tuple(sorted(given["signals"].items()))
        elif given.get("signals") is None:
            given.pop("signals", None)
        if convention is not None:
            from syops.energy.conventions import convention_options
            given.update(convention_options(convention))
        return cls(**given)

    @property
    def model_batch_dim(self) -> int:
        """The sample dimension of what the model receives (1 when batches are time-first)."""
        return 1 if self.time_first else self.batch_dim

    def declared(self, layer: str) -> str | None:
        return dict(self.signals).get(layer)

    def to_dict(self) -> dict[str, Any]:
        """Every option, JSON-ready (an EnergyModel by its name)."""
        out = asdict(self)
        out["signals"] = dict(self.signals)
        energy = self.energy
        out["energy"] = getattr(energy, "name", None) or str(energy)
        return out


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; use one of {', '.join(choices)}")
