"""syops: synaptic-operation energy profiler for spiking neural networks.

    from syops import count_syops
    report = count_syops(model, loader)
    print(report.acs, report.macs, report.energy())

Names are imported on first use (PEP 562), so ``import syops`` (and the command line's
start, which a Ctrl-C may interrupt) does not wait for torch.
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"

# exported name -> (module, attribute)
_EXPORTS = {
    "count_syops": ("profile", "count_syops"),
    "SyopsCounter": ("counter", "SyopsCounter"),
    "SyopsWarning": ("counter", "SyopsWarning"),
    "UncountedModulesError": ("counter", "UncountedModulesError"),
    "Report": ("report", "Report"),
    "LayerCounts": ("report", "LayerCounts"),
    "EnergyModel": ("energy", "EnergyModel"),
    "PRESETS": ("energy", "PRESETS"),
    "fold_bn": ("fold", "fold_bn"),
    "register_rule": ("rules", "register"),
    "register_op": ("ops", "register_op"),
    "register_neuron": ("snn", "register_neuron"),
    "CONVENTIONS": ("conventions", "CONVENTIONS"),
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'syops' has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    value = getattr(importlib.import_module(f".{module}", __name__), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
