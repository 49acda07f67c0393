"""syops: synaptic-operation energy profiler for spiking neural networks.

    from syops import count_syops
    report = count_syops(model, loader)
    print(report.acs, report.macs, report.energy())

Names are imported on first use (PEP 562), so ``import syops`` (and the command line's
start, which a Ctrl-C may interrupt) does not wait for torch.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

__version__ = "0.2.0"

# exported name -> (module, attribute)
_EXPORTS = {
    "count_syops": ("profile", "count_syops"),
    "SyopsCounter": ("engine.counter", "SyopsCounter"),
    "SyopsWarning": ("engine.counter", "SyopsWarning"),
    "UncountedModulesError": ("engine.assemble", "UncountedModulesError"),
    "Report": ("report", "Report"),
    "LayerCounts": ("report", "LayerCounts"),
    "EnergyModel": ("energy", "EnergyModel"),
    "PRESETS": ("energy", "PRESETS"),
    "fold_bn": ("engine.fold", "fold_bn"),
    "register_rule": ("engine.rules", "register"),
    "register_op": ("engine.ops", "register_op"),
    "register_neuron": ("engine.snn", "register_neuron"),
    "CONVENTIONS": ("energy.conventions", "CONVENTIONS"),
}

__all__ = [*_EXPORTS, "__version__"]

# Modules that moved into sub-packages in 0.3: ``import syops.counter`` keeps working.
MOVED = {
    "counter": "engine.counter", "probe": "engine.probe", "sites": "engine.sites",
    "spikes": "engine.spikes", "coverage": "engine.coverage", "fold": "engine.fold",
    "rules": "engine.rules", "ops": "engine.ops", "interception": "engine.interception",
    "snn": "engine.snn", "memory": "energy.memory", "conventions": "energy.conventions",
    "baseline": "energy.baseline", "distributed": "scale.distributed",
    "longrun": "scale.longrun", "stats": "scale.stats",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves ``syops.<old name>`` to the module at its new place (the same object)."""

    def find_spec(self, fullname, path, target=None):
        old = fullname.removeprefix(f"{__name__}.")
        if old in MOVED and old != fullname:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(f"{__name__}.{MOVED[spec.name.rsplit('.', 1)[1]]}")

    def exec_module(self, module) -> None:
        """Nothing to run: the module was executed at its new place."""


if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
    sys.meta_path.append(_MovedModules())


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'syops' has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    value = getattr(importlib.import_module(f".{module}", __name__), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
