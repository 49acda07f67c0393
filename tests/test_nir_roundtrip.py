"""Round trips: a small snnTorch, Norse and Sinabs network, each exported with that library's
own NIR export (scripts/make_nir_fixtures.py wrote tests/fixtures/nir/), profiled from its
NIR file, gives the same per-layer ACs, MACs, neuron updates and spikes as the original
torch model on the same input and time step (to the integer). The figures are counted on
both sides here, by syops, from two independent simulations: the library's own neurons and
syops's NIR neurons."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

import syops.nir
from syops import count_syops

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "nir"
_spec = importlib.util.spec_from_file_location("make_nir_fixtures",
                                               ROOT / "scripts" / "make_nir_fixtures.py")
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)


def original(library: str) -> torch.nn.Module:
    net = fixtures.NETS[library]()
    state = torch.load(FIXTURES / f"{library}_state.pt")
    missing, unexpected = net.load_state_dict(state, strict=False)
    assert not unexpected and not {k for k in missing if "weight" in k or "bias" in k}
    return fixtures.OverTime(library, net)


def figures(report) -> dict:
    """Per layer (in order) ACs, MACs; per neuron layer updates and spikes (per sample x
    samples: integers)."""
    n = report.samples
    return {"layers": [(row.type if row.type != "Linear" else "Linear", round(row.acs * n, 6),
                        round(row.macs * n, 6)) for row in report.layers.itertuples()],
            "neurons": [(row.neurons, round(row.updates * n, 6),
                         round(row.output_firing_rate * row.updates * n, 6))
                        for row in report.neurons.itertuples()]}


@pytest.mark.parametrize("library", ["snntorch", "norse", "sinabs"])
def test_round_trip_matches_the_original(library):
    pytest.importorskip(library)
    x = torch.load(FIXTURES / f"{library}_input.pt")          # [N, T, ...] spikes
    dt = json.loads((FIXTURES / "versions.json").read_text())[library]["dt"]
    assert dt == fixtures.DT[library]
    mine = count_syops(syops.nir.load(FIXTURES / f"{library}.nir", dt=dt), x, time_first=True)
    theirs = count_syops(original(library), x, time_first=True)
    assert figures(mine) == figures(theirs)
    assert mine.samples == theirs.samples == fixtures.SAMPLES
    # every neuron layer spikes, so the dynamics are compared, not silence
    assert all(spikes > 0 for _, _, spikes in figures(mine)["neurons"][:-1])
    assert mine.acs == theirs.acs and mine.macs == theirs.macs
    assert mine.neuron_updates == theirs.neuron_updates
    assert mine.neuron_firing_rate == theirs.neuron_firing_rate
    assert any(f"dt = {dt:g} s" in note for note in mine.notes)


@pytest.mark.parametrize("library", ["snntorch", "norse", "sinabs"])
def test_recorded_spikes_give_the_run_figures(library):
    """count_recorded on the graph's own recording equals running it."""
    x = torch.load(FIXTURES / f"{library}_input.pt")
    dt = fixtures.DT[library]
    model = syops.nir.load(FIXTURES / f"{library}.nir", dt=dt)
    recording = model.record(x.transpose(0, 1))
    spiking = {n: t for n, t in recording.items()
               if n == model.plan.input or model.kinds[n] in ("LIF", "IF", "CubaLIF")}
    replayed = syops.nir.count_recorded(FIXTURES / f"{library}.nir", spiking)
    ran = count_syops(model, x, time_first=True)
    assert figures(replayed) == figures(ran)
    assert list(replayed.neurons.type) == list(ran.neurons.type)


def test_fixture_versions_are_recorded():
    versions = json.loads((FIXTURES / "versions.json").read_text())
    assert versions["snntorch"]["nir"] >= "1.0.6"         # its export writes v_reset
    assert versions["sinabs"]["nir"] <= "1.0.4"           # sinabs pins nir<=1.0.4
    for library in ("snntorch", "norse", "sinabs"):
        assert versions[library]["torch"].startswith("2.13.0")
