"""The report of a count: the counter's tallies turned into a ``Report`` (per-sample
figures are computed by the report itself)."""

from __future__ import annotations

from typing import Any

from torch import nn
from torch.nn.parameter import is_lazy

from syops.engine.callsites import CallSites
from syops.engine.rules import layer_parameters
from syops.engine.tallies import LayerTally, NeuronTally
from syops.options import Options
from syops.report import BatchTotals, NeuronCounts, Report


class UncountedModulesError(ValueError):
    """Raised in strict mode when parameterised modules that no rule counts ran."""


def assemble_report(model: nn.Module, options: Options, layers: dict[nn.Module, LayerTally],
                    sites: CallSites, neurons: dict[nn.Module, NeuronTally], *,
                    ran: set[str], uncounted: set[str], samples: int, forwards: int,
                    energy: Any, classification: str, notes: list[str],
                    warnings: list[str], batches: tuple[BatchTotals, ...]) -> Report:
    """The report of the tallies so far, over ``samples`` samples."""
    for module, tally in layers.items():   # a lazy layer is initialised by now
        tally.params = layer_parameters(module)
    counted = [t.counts() for t in (*layers.values(), *sites.ops.values()) if t.sites]
    neuron_counts = [NeuronCounts(t.name, type(m).__name__, t.neurons, t.calls, t.updates,
                                  t.spikes, t.events, t.kind or "")
                     for m, t in neurons.items() if t.calls]
    modules = dict(model.named_modules())
    by_ops = {type(modules[scope]).__name__ for scope, _ in sites.ops if scope in modules}
    not_counted = ran - by_ops
    if options.strict and not_counted:
        raise UncountedModulesError(
            f"no counting rule for module types with parameters that ran: "
            f"{', '.join(sorted(not_counted))}; register a rule with syops.register_rule "
            "or run without strict")
    return Report(
        layer_counts=tuple(counted), samples=samples, forwards=forwards,
        params=sum(p.numel() for p in model.parameters() if not is_lazy(p)),
        mode=options.mode, fuse_bn=options.fuse_bn, energy_model=energy,
        not_counted=tuple(sorted(not_counted)),
        unused=tuple(sorted(uncounted - ran - by_ops)),
        classification=classification, notes=tuple(notes),
        model=type(model).__name__,   # the class; the CLI gives its own name
        neuron_counts=tuple(neuron_counts), spikes=options.spikes, warnings=tuple(warnings),
        batches=batches, options=options.to_dict())
