"""The sentences printed once under a table: where the firing rates came from, and the
counting and energy conventions behind every number."""

from __future__ import annotations

from typing import Any, Iterable

from syops.energy.conventions import convention
from syops.energy.presets import EnergyModel

from .records import RANDOM_INIT
from .tables import energy_spread, number

MODE_MEANING = {"exact": "ACs = non-zero input x weight pairs applied",
                "rate": "ACs = dense SyOPs x input firing rate"}


def source(record: dict[str, Any]) -> str:
    """Which weights saw which data, e.g. 'random init, synthetic input: imagenet (...)'."""
    weights = record["weights"] if record["weights"] == RANDOM_INIT else f"weights from {record['weights']}"
    data = f"synthetic input: {record['data']}" if record["synthetic_data"] else f"data {record['data']}"
    return f"{weights}, {data}"


def provenance(records: Iterable[dict[str, Any]]) -> str:
    """One sentence on where the firing rates came from, naming models only where they differ."""
    records = list(records)
    sources = dict.fromkeys(source(r) for r in records)
    if len(sources) == 1:
        return f"Firing rates measured with {next(iter(sources))}."
    per_model = "; ".join(f"{r['model']}: {source(r)}" for r in records)
    return f"Firing rates measured with {per_model}."


SPIKES_MEANING = {"binary": "spikes: only 0/1 inputs",
                  "events": "spikes: integer inputs cost |k| ACs (events)"}


def conventions(record: dict[str, Any]) -> str:
    """Counting and energy conventions (shared by every record of one run), two lines."""
    mode = record["mode"]
    bn_macs = convention(record["convention"]).bn_macs if record.get("convention") else 2
    bn = ("BN folded into the preceding conv/linear" if record["fuse_bn"]
          else f"BN left in place at {bn_macs} MAC{'s' if bn_macs != 1 else ''} per element")
    spikes = SPIKES_MEANING[record.get("spikes", "binary")]
    return (f"Counting: AC mode {mode} ({MODE_MEANING.get(mode, mode)}); {spikes}; {bn}; "
            f"per sample.\n"
            f"Energy: preset {record['energy_preset']} ({figures(record)}); DC from the "
            f"measured counts; EC from every spike input silent to every spike input firing.")


def figures(record: dict[str, Any]) -> str:
    """The energy model's figures in words (AC and MAC only for records without them)."""
    if "energy_model" in record:
        return EnergyModel(**record["energy_model"]).describe()
    return f"AC {record['e_ac_pj']:g} pJ, MAC {record['e_mac_pj']:g} pJ"


def breakdown(records: list[dict[str, Any]]) -> str:
    """One line splitting each model's DC into synaptic, neuron and memory energy, when a
    preset charges more than synaptic operations; empty otherwise."""
    if not any("energy_model" in r and EnergyModel(**r["energy_model"]).has_extra_terms
               for r in records):
        return ""
    lines = []
    for r in records:
        parts = r["energy_breakdown_mj"]
        lines.append(f"{r['model']}: synaptic {number(parts['synaptic'])} + neuron "
                     f"{number(parts['neuron'])} + memory {number(parts['memory'])} = "
                     f"{number(parts['total'])} mJ per sample")
    return "DC breakdown: " + "; ".join(lines) + " (ECs count synaptic operations only)."


def caption(records: list[dict[str, Any]]) -> str:
    if not records:
        return ""
    return "\n".join(filter(None, [provenance(records), conventions(records[0]),
                                   named(records), breakdown(records), baseline(records),
                                   mapping(records), energy_spread(records)]))


def mapping(records: list[dict[str, Any]]) -> str:
    """Cores used and fit, for models priced on a chip (the mapping estimate)."""
    lines = []
    for r in records:
        found = r.get("mapping")
        if found:
            fit = "fits" if found["fits"] else "does not fit (" + "; ".join(found["breaks"][:3]) + (
                "; ..." if len(found["breaks"]) > 3 else "") + ")"
            lines.append(f"{r['model']}: {found['cores']} cores on {found['chips']} "
                         f"{found['chip']} chip(s), {fit}")
    return ("Mapping estimate: " + "; ".join(lines) + ".") if lines else ""


def baseline(records: list[dict[str, Any]]) -> str:
    """What the ANN columns mean, when they are there."""
    if not any("ann_baseline" in r for r in records):
        return ""
    return ("ANN: the same network with ReLU for every spiking neuron, T = 1, every layer's "
            "dense operations as MACs, priced with the same preset. Break-even: the uniform "
            "input firing rate below which the SNN's DC is lower, from its compute terms "
            "(synaptic + neuron) and from its total with memory; never: dearer even silent; "
            "any: cheaper even at rate 1. QNN: the ANN with ceil(log2(T + 1))-bit activations, "
            "the SNN's information (Yan et al. 2024). Spikes / synapse: spikes each synapse "
            "carries per inference, T x the input rate (Dampfhoffer et al. 2023 put the "
            "break-even at 0.15-1.38).")


def named(records: list[dict[str, Any]]) -> str:
    """Where each named convention comes from, when rows were counted under them (the
    Counting line above is then the first row's)."""
    names = dict.fromkeys(r["convention"] for r in records if r.get("convention"))
    if not names:
        return ""
    return "Conventions: " + "; ".join(f"{n}: {convention(n).source}" for n in names) + "."
