"""Predicted vs measured energy on silicon: ``python -m syops.reproduce silicon``.

One row per network-chip pair with a published measured energy per inference. Each network
is built as a torch module (from the published files under ``--files DIR`` where the user
has them, else rebuilt from the published architecture), counted by syops, and priced with
the chip's description (syops/energy/chips): dynamic = synaptic events x their energy +
neuron updates x theirs + spikes x (spike out + message), static = the chip's static power x
the measured time per inference. The inputs of these benchmarks are not public files here,
so the activity is rebuilt: every neuron fires with probability ``RATE`` per time step (an
assumption stated on every row, never fitted); ``implied_rate`` is the rate at which the
predicted dynamic energy would equal the measured one.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table
from spikingjelly.activation_based import layer
from torch import nn

from syops import count_syops
from syops.energy.chip import Chip, chip
from syops.energy.mapping import estimate
from syops.models.netx import CubaNode, Gain, read_netx
from syops.models.numpy_pickle import load_arrays

RATE = 0.1
"""Spikes (or graded messages) per neuron per time step where no rate is published."""
SEED = 0
REBUILT = ["architecture", "weights", "activity"]


@dataclass(frozen=True)
class Measurement:
    """A published measurement of one network on one chip (energies in mJ per inference)."""

    network: str
    builder: str | None     # what ``build`` makes (None: no architecture published)
    chip: str               # the chip description that prices it
    source: str
    total_mj: float | None
    dynamic_mj: float | None
    fps: float | None       # measured inferences per second (the latency of the static term)
    steps: int             # algorithmic time steps per inference
    cores: int | None       # cores the vendor's compiler used, where printed
    note: str = ""


BLOUW = ("Blouw et al. 2019 (arXiv:1812.01739) Table 1: idle 0.029 W, running 0.110 W, "
         "296 inferences/s")
PILOTNET = "lava-dl netx/{}/benchmark.ipynb (Loihi 2, printed outputs)"
MEASUREMENTS = (
    Measurement("KWS (Blouw)", "kws", "loihi", BLOUW, 0.110 / 296 * 1e3,
                0.081 / 296 * 1e3, 296.0, 10, None,
                "390-256-256-29; 10 steps per inference assumed (not published); Davies 2018 "
                "pre-silicon costs"),
    Measurement("KWS (Blouw)", "kws", "loihi-sanafe", BLOUW, 0.110 / 296 * 1e3,
                0.081 / 296 * 1e3, 296.0, 10, None,
                "390-256-256-29; 10 steps per inference assumed (not published); SANA-FE "
                "calibrated costs"),
    Measurement("PilotNet SNN", "pilotnet_snn", "loihi2", PILOTNET.format("pilotnet_snn"),
                1.661103, 1.093544, 408.91, 16, 74,
                "static power is this run's own idle reading (calibrated here, not predicted)"),
    Measurement("PilotNet SDNN", "pilotnet_sdnn", "loihi2", PILOTNET.format("pilotnet_sdnn"),
                16.343833, None, 16.87, 1, 61,
                "measured dynamic power below noise (-0.006 W); static from the SNN run"),
    Measurement("Aloha KWS", None, "xylo",
                "Bos & Muir 2024 (arXiv:2406.15112): 291 uW dynamic, 6.6 uJ per inference",
                None, 0.0066, None, 1, None,
                "no per-event energy published for Xylo: no prediction"),
)


# --- the networks ---------------------------------------------------------------------
PILOTNET_CONVS = (  # in, out, stride (H, W), padding (H, W); 3 x 3 kernels (lava-dl table)
    (3, 24, (2, 2), (0, 0)), (24, 36, (2, 2), (0, 0)), (36, 48, (2, 2), (0, 0)),
    (48, 64, (2, 1), (1, 0)), (64, 64, (1, 1), (0, 0)))
PILOTNET_DENSE = (2560, 100, 50, 10, 1)
PILOTNET_INPUT = (3, 66, 200)
KWS_SIZES = (390, 256, 256, 29)
KWS_KEYS = ("char_layer_0/weights", "char_layer_1/weights", "char_output/weights")


def _neuron(graded: bool) -> nn.Module:
    return nn.ReLU() if graded else CubaNode(1.0, 1.0, 0.0)


def pilotnet(graded: bool) -> nn.Sequential:
    """PilotNet as the lava-dl benchmark runs it (random weights): an input layer of
    neurons (LIF only), five 3 x 3 convs, a flatten and four dense layers, each followed by
    its neurons (SDNN: graded ReLU neurons)."""
    modules: list[nn.Module] = [] if graded else [Gain(1.0, 0.0), _neuron(False)]
    for cin, cout, stride, padding in PILOTNET_CONVS:
        modules += [layer.Conv2d(cin, cout, 3, stride=stride, padding=padding, step_mode="m"),
                    _neuron(graded)]
    modules.append(layer.Flatten(step_mode="m"))
    for fin, fout in zip(PILOTNET_DENSE, PILOTNET_DENSE[1:]):
        modules += [layer.Linear(fin, fout, step_mode="m"), _neuron(graded)]
    return nn.Sequential(*modules)


def kws(weights: dict[str, Any] | None = None) -> nn.Sequential:
    """The keyword spotter: 390 input neurons, two hidden layers of 256 spiking neurons and
    a 29-way linear readout; ``weights`` (abr/power_benchmarks' arrays, in x out) if given."""
    modules: list[nn.Module] = [CubaNode(1.0, 1.0, 0.0)]
    linears = [layer.Linear(a, b, step_mode="m") for a, b in zip(KWS_SIZES, KWS_SIZES[1:])]
    for index, linear in enumerate(linears):
        modules += [linear] + ([CubaNode(1.0, 1.0, 0.0)] if index < len(linears) - 1 else [])
    if weights is not None:
        for linear, key in zip(linears, KWS_KEYS):
            array = weights.get(key)
            expected = (linear.in_features, linear.out_features)
            if array is None or tuple(array.shape) != expected:
                raise ValueError(f"KWS weights: {key} should be an array of shape {expected}, "
                                 f"got {None if array is None else tuple(array.shape)}")
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(array.T.copy()))
    return nn.Sequential(*modules)


def _first(files: Path | None, *names: str) -> Path | None:
    found = [files / name for name in names] if files else []
    return next((path for path in found if path.is_file()), None)


def build(key: str, files: Path | None) -> tuple[nn.Module, tuple[int, ...], list[str], str]:
    """The module, its per-step input shape, what was rebuilt, and where it came from."""
    if key == "kws":
        path = _first(files, "inference_weights.pkl", "data/inference_weights.pkl")
        if path is not None:
            return kws(load_arrays(path)), (KWS_SIZES[0],), ["activity"], str(path)
        return kws(), (KWS_SIZES[0],), REBUILT, "rebuilt from the paper's description"
    name = key  # pilotnet_snn / pilotnet_sdnn
    path = _first(files, f"{name}/network.net", f"{name}.net")
    if path is not None:
        network = read_netx(path)
        return network.module, network.input_shape, ["activity"], str(path)
    return pilotnet(key.endswith("sdnn")), PILOTNET_INPUT, REBUILT, \
        "rebuilt from the lava-dl per-layer table"


# --- the prediction -------------------------------------------------------------------
def event_terms(report: Any, mapping: Any, description: Chip, steps: int
                ) -> tuple[dict[str, float], dict[str, float]]:
    """pJ per inference of each dynamic term: (the part independent of the rate, the part
    per unit rate). Every synapse of a layer receives ``rate`` events per step; every neuron
    updates every step; ``rate`` of the updates emit a spike."""
    value = description.value
    synaptic = sum((c.spike_syops + c.mac_syops) / report.samples * description.synaptic_pj(c.type)
                   for c in report.layer_counts)
    updates = report.neuron_updates or sum(layer.neurons for layer in mapping.layers) * steps
    neuron = value("energy", "neuron_pj", 0.0)
    active = value("energy", "neuron_active_pj", neuron) - neuron
    spike = value("energy", "spike_pj", 0.0) + value("energy", "message_pj", 0.0)
    fixed = {"synaptic": 0.0, "neuron": updates * neuron, "spike": 0.0}
    per_rate = {"synaptic": synaptic, "neuron": updates * active, "spike": updates * spike}
    return fixed, per_rate


def predict(measurement: Measurement, files: Path | None, rate: float = RATE) -> dict:
    """The JSON record of one measurement: measured, predicted (each term), residuals."""
    record = {"network": measurement.network, "chip": measurement.chip,
              "source": measurement.source, "measured_mj": measurement.total_mj,
              "measured_kind": "total" if measurement.total_mj is not None else "dynamic",
              "measured_dynamic_mj": measurement.dynamic_mj, "rate": rate,
              "steps": measurement.steps, "fps": measurement.fps,
              "cores_published": measurement.cores, "note": measurement.note}
    if record["measured_mj"] is None:
        record["measured_mj"] = measurement.dynamic_mj
    description = chip(measurement.chip)
    if measurement.builder is None or not description.priced:
        return {**record, "predicted_mj": None, "predicted_dynamic_mj": None, "terms_mj": None,
                "static_note": f"{description.name}: no prediction", "residual_pct": None,
                "residual_dynamic_pct": None, "implied_rate": None, "cores_estimated": None,
                "fits": None, "rebuilt": True, "rebuilt_parts": REBUILT,
                "network_from": "no architecture published"}
    module, shape, rebuilt, origin = build(measurement.builder, files)
    torch.manual_seed(SEED)
    data = torch.rand(measurement.steps, 1, *shape)
    report = count_syops(module, data, batch_dim=1, mode="rate", fuse_bn=False)
    mapping = estimate(module, report, description)
    fixed, per_rate = event_terms(report, mapping, description, measurement.steps)
    terms = {k: (fixed[k] + rate * per_rate[k]) / 1e9 for k in fixed}
    latency = 1.0 / measurement.fps if measurement.fps else None
    static, static_note = description.static_mj(latency, chips=mapping.chips)
    dynamic = sum(terms.values())
    total = dynamic + (static or 0.0)
    return {**record, "predicted_mj": total, "predicted_dynamic_mj": dynamic,
            "terms_mj": {**terms, "static": static}, "static_note": static_note,
            "residual_pct": _residual(total if measurement.total_mj is not None else dynamic,
                                      record["measured_mj"]),
            "residual_dynamic_pct": _residual(dynamic, measurement.dynamic_mj),
            "implied_rate": _implied(fixed, per_rate, measurement.dynamic_mj),
            "cores_estimated": mapping.cores, "fits": mapping.fits,
            "rebuilt": True, "rebuilt_parts": rebuilt, "network_from": origin}


def _residual(predicted: float, measured: float | None) -> float | None:
    return None if not measured else (predicted - measured) / measured * 100.0


def _implied(fixed: dict, per_rate: dict, measured: float | None) -> float | None:
    """The rate at which the predicted dynamic energy equals ``measured`` (None outside
    [0, 1] or without a measured dynamic figure)."""
    slope = sum(per_rate.values())
    if measured is None or not slope:
        return None
    rate = (measured * 1e9 - sum(fixed.values())) / slope
    return rate if 0.0 <= rate <= 1.0 else None


def records(files: Path | None = None, rate: float = RATE) -> list[dict]:
    """Every row, in MEASUREMENTS order."""
    return [predict(m, files, rate) for m in MEASUREMENTS]


# --- output ---------------------------------------------------------------------------
def _mj(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:+.0f} %"


def render(rows: list[dict], console: Console) -> None:
    table = Table(title="Predicted vs measured energy per inference on silicon (mJ)")
    for column in ("Network", "Chip", "meas.", "kind", "pred.", "syn.", "neuron", "spike",
                   "static", "resid.", "dyn. meas.", "dyn. pred.", "dyn. resid.", "rate*",
                   "cores", "rebuilt"):
        table.add_column(column, justify="left" if column in ("Network", "Chip", "kind",
                                                              "rebuilt") else "right",
                         overflow="fold")
    for row in rows:
        terms = row["terms_mj"] or {}
        implied = row["implied_rate"]
        table.add_row(
            row["network"], row["chip"], _mj(row["measured_mj"]), row["measured_kind"],
            _mj(row["predicted_mj"]), _mj(terms.get("synaptic")), _mj(terms.get("neuron")),
            _mj(terms.get("spike")), _mj(terms.get("static")), _pct(row["residual_pct"]),
            _mj(row["measured_dynamic_mj"]), _mj(row.get("predicted_dynamic_mj")),
            _pct(row["residual_dynamic_pct"]),
            "—" if implied is None else f"{implied:.1%}",
            f"{row['cores_estimated'] if row['cores_estimated'] is not None else '—'}/"
            f"{row['cores_published'] if row['cores_published'] is not None else '—'}",
            "all" if row["rebuilt_parts"] == REBUILT else ", ".join(row["rebuilt_parts"]))
    console.print(table)
    console.print("cores: estimated / used by the vendor's compiler. "
                  f"Activity rebuilt: every neuron fires (or sends a graded message) with "
                  f"probability {rows[0]['rate']:g} per time step, an assumption, not a fit; "
                  "rate* = the rate at which the predicted dynamic energy would equal the "
                  "measured one ('—': none in [0, 1]). Static = the chip's static power x the "
                  "measured time per inference. rebuilt 'all': architecture, weights and "
                  "activity rebuilt from the publications (--files DIR reads the published "
                  "networks).")
    for row in rows:
        console.print(f"{row['network']} on {row['chip']}: {row['note']}; {row['source']}; "
                      f"network: {row['network_from']}")


def run(output: str = "table", files: str | None = None, console: Console | None = None) -> int:
    """The ``silicon`` subcommand; 2 with one line on stderr for a bad --files DIR."""
    import sys
    folder = Path(files) if files else None
    if folder is not None and not folder.is_dir():
        print(f"error: --files {folder} is not a folder; give the folder that holds the "
              "published network files (docs/energy.md)", file=sys.stderr)
        return 2
    try:
        rows = records(folder)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if output == "json":
        print(json.dumps(rows, indent=2, default=lambda v: None if isinstance(v, float)
                         and math.isnan(v) else v))
        return 0
    console = console or Console()
    render(rows, console)
    return 0
