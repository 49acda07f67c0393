"""syops: synaptic-operation energy profiler for spiking neural networks.

    from syops import count_syops
    report = count_syops(model, loader)
    print(report.acs, report.macs, report.energy())
"""

from .counter import SyopsCounter, UncountedModulesError
from .energy import PRESETS, EnergyModel
from .fold import fold_bn
from .profile import count_syops
from .report import LayerCounts, Report
from .rules import register as register_rule
from .snn import register_neuron

__version__ = "0.1.0"

__all__ = ["count_syops", "SyopsCounter", "Report", "LayerCounts", "EnergyModel", "PRESETS",
           "fold_bn", "register_rule", "register_neuron", "UncountedModulesError", "__version__"]
