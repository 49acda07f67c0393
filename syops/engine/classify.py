"""What the type probe's findings mean for each call site under an input convention."""

from __future__ import annotations

from syops.engine.emits import priced_as_spikes
from syops.engine.probe import ProbeResult


def layer_verdicts(name: str, found: ProbeResult, kinds: dict[str, str | None],
                   spikes: str) -> dict[int, bool] | None:
    """Per call index of layer ``name``: may its input carry spikes (its values then
    decide, call by call)? A layer fed a neuron kind that the input convention does not
    price as spikes never can."""
    verdicts = {}
    for index, binary in (found.binary.get(name) or {}).items():
        if spikes == "events":   # sums of spikes are event counts, not levels
            binary = binary or found.integer.get((name, index), False)
        if spikes != "binary" and (name, index) in found.data_fed:
            binary = True   # scaled or signed spikes in the data: its values decide
        feeder = found.fed.get((name, index))
        if feeder is not None and not priced_as_spikes(kinds.get(feeder[0]), spikes):
            binary = False
        verdicts[index] = binary
    return verdicts or None
