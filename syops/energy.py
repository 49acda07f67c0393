"""Energy per operation (Horowitz, ISSCC 2014, 45 nm) and conversion of counts to mJ.

An AC is one add; a MAC is one multiply plus one add. 1 G operations x 1 pJ = 1 mJ.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

PJ_PER_MJ = 1e9

# (add, multiply) in pJ, Horowitz 2014, 45 nm.
_HOROWITZ = {"fp32": (0.9, 3.7), "fp16": (0.4, 1.1), "int32": (0.1, 3.1), "int8": (0.03, 0.2)}


@dataclass(frozen=True)
class EnergyModel:
    """Energy of one accumulate (AC) and one multiply-accumulate (MAC), in pJ."""

    name: str
    ac_pj: float
    mac_pj: float

    def __post_init__(self):
        for key in ("ac_pj", "mac_pj"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value < 0:
                raise ValueError(f"energy cost {key} must be a non-negative number of pJ, got {value!r}")

    def mj(self, acs: float, macs: float) -> float:
        """Energy in mJ of ``acs`` accumulates and ``macs`` multiply-accumulates."""
        return (self.ac_pj * acs + self.mac_pj * macs) / PJ_PER_MJ


PRESETS: dict[str, EnergyModel] = {
    name: EnergyModel(name, ac_pj=add, mac_pj=round(add + mul, 6))
    for name, (add, mul) in _HOROWITZ.items()}


def load_energy_file(path: str | Path) -> EnergyModel:
    """An energy model from a TOML file with keys ``ac_pj``, ``mac_pj`` and optional ``name``."""
    path = Path(path)
    try:
        table = tomllib.loads(path.read_text())
    except OSError as err:
        raise ValueError(f"cannot read energy file {path}: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"energy file {path} is not valid TOML: {err}") from None
    unknown = sorted(set(table) - {"name", "ac_pj", "mac_pj"})
    if unknown:
        raise ValueError(f"energy file {path} has unknown keys {unknown}; "
                         "expected ac_pj, mac_pj and optionally name")
    missing = [k for k in ("ac_pj", "mac_pj") if k not in table]
    if missing:
        raise ValueError(f"energy file {path} lacks {missing}; give both ac_pj and mac_pj in pJ")
    return EnergyModel(str(table.get("name", path.stem)), table["ac_pj"], table["mac_pj"])


def energy_model(spec: str | Path | EnergyModel) -> EnergyModel:
    """Resolve a preset name (fp32, fp16, int32, int8), a TOML file or an EnergyModel."""
    if isinstance(spec, EnergyModel):
        return spec
    if isinstance(spec, str) and spec in PRESETS:
        return PRESETS[spec]
    if isinstance(spec, Path) or str(spec).endswith(".toml"):
        return load_energy_file(spec)
    raise ValueError(f"unknown energy preset {spec!r}; use one of {', '.join(PRESETS)} "
                     "or a TOML file with ac_pj and mac_pj")
