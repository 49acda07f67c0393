"""Energy models as data: presets, TOML files, and each energy term by hand on count records."""

import math
from types import SimpleNamespace

import pytest

from syops import PRESETS
from syops.energy import (
    EnergyModel,
    breakdown_mj,
    energy_model,
    energy_rows,
    layer_terms_pj,
    load_energy_file,
    neuron_terms_pj,
    to_toml,
)
from syops.memory import Traffic, access_costs_pj, neuron_traffic, sram_access_pj, synaptic_traffic

KB = 1024


def layer(name="fc", acs=30, mac_syops=10, ones=6, params=100, calls=3, spike_calls=2):
    """A LayerCounts-like record (raw totals): 2 spike-input calls, 1 multi-level call."""
    return SimpleNamespace(name=name, type="Linear", acs=acs, mac_syops=mac_syops, ones=ones,
                           params=params, calls=calls, spike_calls=spike_calls)


def neurons(name="lif", n=4, updates=24, spikes=6):
    """A NeuronCounts-like record (raw totals)."""
    return SimpleNamespace(name=name, type="LIFNode", neurons=n, calls=2, updates=updates,
                           spikes=spikes)


def test_every_preset_resolves_by_its_lower_case_name():
    assert {"fp32", "fp16", "int32", "int8", "horowitz-memory", "loihi", "truenorth",
            "spinnaker", "spinnaker2"} <= set(PRESETS)
    for name, model in PRESETS.items():
        assert name == name.lower() == model.name
        assert energy_model(name) is model


def test_horowitz_presets_are_synaptic_only_and_chips_are_not():
    for name in ("fp32", "fp16", "int32", "int8", "truenorth"):
        assert not PRESETS[name].has_extra_terms, name
    for name in ("horowitz-memory", "loihi", "spinnaker", "spinnaker2"):
        assert PRESETS[name].has_extra_terms, name
    loihi = PRESETS["loihi"]
    assert (loihi.ac_pj, loihi.mac_pj, loihi.neuron_pj, loihi.spike_write_pj) == (
        23.6, 23.6, 52.0, 1.7)
    assert PRESETS["horowitz-memory"].neuron_pj == 5.5  # 3.7 + 0.9 + 0.9


@pytest.mark.parametrize("size, pj", [
    (0, 10.0), (4 * KB, 10.0), (8 * KB, 10.0), (20 * KB, 15.0), (32 * KB, 20.0),
    (528 * KB, 60.0), (1024 * KB, 100.0), (4096 * KB, 100.0)])
def test_sram_energy_by_size(size, pj):
    assert sram_access_pj(size) == pj


def test_traffic_counts_by_hand():
    # spike calls: one read per AC (30) or per input spike (6); the multi-level call reads
    # each of the 100 weights once
    assert synaptic_traffic(layer()) == Traffic(weight_reads=130)
    assert synaptic_traffic(layer(), "per-spike") == Traffic(weight_reads=106)
    assert synaptic_traffic(layer(calls=5)) == Traffic(weight_reads=330)  # 3 multi-level calls
    assert neuron_traffic(neurons()) == Traffic(0, 24, 24, 6)
    assert Traffic(1, 2, 3, 4) + Traffic(10, 20, 30, 40) == Traffic(11, 22, 33, 44)
    with pytest.raises(ValueError, match="weight_reads must be one of per-op, per-spike"):
        synaptic_traffic(layer(), "per-row")


def test_layer_terms_fixed_costs():
    model = EnergyModel("m", ac_pj=1, mac_pj=2, weight_read_pj=3)
    # synaptic 30 x 1 + 10 x 2 = 50; memory 130 weight reads x 3 = 390
    assert layer_terms_pj(model, layer()) == {"synaptic": 50, "neuron": 0.0, "memory": 390,
                                              "total": 440}
    per_spike = EnergyModel("m", ac_pj=1, mac_pj=2, weight_read_pj=3, weight_reads="per-spike")
    assert layer_terms_pj(per_spike, layer())["memory"] == 318  # 106 reads x 3
    dram = EnergyModel("m", ac_pj=1, mac_pj=2, weight_read_pj=3, weights="dram", dram_pj=1000)
    assert layer_terms_pj(dram, layer())["memory"] == 130_000   # DRAM replaces the SRAM read


def test_neuron_terms_fixed_costs():
    model = EnergyModel("m", ac_pj=1, mac_pj=2, neuron_pj=5, potential_pj=2, spike_write_pj=1)
    # 24 updates x 5 = 120; memory: 24 reads + 24 writes at 2, 6 spikes at 1 = 102
    assert neuron_terms_pj(model, neurons()) == {"synaptic": 0.0, "neuron": 120, "memory": 102,
                                                 "total": 222}


def test_memory_costs_by_size():
    model = PRESETS["horowitz-memory"]
    # 5120 weights x 4 bytes = 20 KB -> 15 pJ; 8192 neurons: potentials 32 KB -> 20 pJ,
    # spikes 1 KB (one bit each) -> 10 pJ (the 8 KB figure, smaller memories not cheaper)
    assert access_costs_pj(model, weights=5120) == Traffic(15.0, 10.0, 10.0, 10.0)
    assert access_costs_pj(model, neurons=8192) == Traffic(10.0, 20.0, 20.0, 10.0)
    assert layer_terms_pj(model, layer(params=5120))["memory"] == (30 + 5120) * 15.0
    terms = neuron_terms_pj(model, neurons(n=8192, updates=24, spikes=6))
    assert terms["neuron"] == 24 * 5.5
    assert terms["memory"] == 48 * 20.0 + 6 * 10.0


def test_loihi_breakdown_by_hand():
    loihi = PRESETS["loihi"]
    counts = [layer(acs=10, mac_syops=2, params=7)]
    neuron = [neurons(updates=8, spikes=3)]
    # per sample over 2 samples: synaptic 12 x 23.6 = 283.2 pJ, neuron 8 x 52 = 416 pJ,
    # memory 3 spikes x 1.7 = 5.1 pJ (the synaptic op includes its weight fetch)
    got = breakdown_mj(loihi, counts, neuron, samples=2)
    expected = {"synaptic": 283.2 / 2, "neuron": 416 / 2, "memory": 5.1 / 2}
    for term, pj in expected.items():
        assert got[term] == pytest.approx(pj * 1e-9)
    assert got["total"] == pytest.approx(704.3 / 2 * 1e-9)


def test_horowitz_total_is_exactly_the_dc():
    counts = [layer(acs=7, mac_syops=3), layer("out", acs=0.5, mac_syops=11)]
    for name in ("fp32", "fp16", "int32", "int8"):
        model = PRESETS[name]
        got = breakdown_mj(model, counts, [neurons()], samples=3)
        dc = model.mj(7.5 / 3, 14 / 3)
        assert got == {"synaptic": dc, "neuron": 0.0, "memory": 0.0, "total": dc}


def test_energy_rows_per_layer_and_per_sample():
    model = EnergyModel("m", ac_pj=1, mac_pj=2, neuron_pj=5, weight_read_pj=3, potential_pj=2,
                        spike_write_pj=1)
    rows = energy_rows(model, [layer()], [neurons()], samples=2)
    assert [(r["name"], r["kind"]) for r in rows] == [("fc", "synaptic"), ("lif", "neuron")]
    assert rows[0] == {"name": "fc", "type": "Linear", "kind": "synaptic", "synaptic_pj": 25.0,
                       "neuron_pj": 0.0, "memory_pj": 195.0, "total_pj": 220.0}
    assert rows[1] == {"name": "lif", "type": "LIFNode", "kind": "neuron", "synaptic_pj": 0.0,
                       "neuron_pj": 60.0, "memory_pj": 51.0, "total_pj": 111.0}
    totals = breakdown_mj(model, [layer()], [neurons()], samples=2)
    assert sum(r["total_pj"] for r in rows) * 1e-9 == pytest.approx(totals["total"])


def test_no_samples_gives_nan():
    assert all(math.isnan(v) for v in breakdown_mj(PRESETS["fp32"], [layer()], [], 0).values())


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_toml_round_trip(tmp_path, name):
    path = tmp_path / f"{name}.toml"
    path.write_text(to_toml(PRESETS[name]))
    assert load_energy_file(path) == PRESETS[name]


def test_old_toml_with_only_ac_and_mac_still_works(tmp_path):
    path = tmp_path / "chip.toml"
    path.write_text("ac_pj = 0.5\nmac_pj = 2\n")
    model = load_energy_file(path)
    assert model == EnergyModel("chip", 0.5, 2)
    assert (model.neuron_pj, model.weights, model.has_extra_terms) == (0.0, "on-chip", False)


def test_toml_with_memory_terms(tmp_path):
    path = tmp_path / "edge.toml"
    path.write_text('name = "edge"\nac_pj = 0.1\nmac_pj = 3.2\nneuron_pj = 1\n'
                    'weight_read_pj = 5\nweights = "dram"\ndram_pj = 640\n')
    model = energy_model(str(path))
    assert (model.name, model.neuron_pj, model.weight_read_pj, model.weights, model.dram_pj) == (
        "edge", 1, 5, "dram", 640)
    assert layer_terms_pj(model, layer())["memory"] == 130 * 640


@pytest.mark.parametrize("text, message", [
    ('weights = "cloud"', "weights must be one of on-chip, dram"),
    ('weight_reads = "per-row"', "weight_reads must be one of per-op, per-spike"),
    ("sram_by_size = 1", "sram_by_size must be true or false"),
    ("word_bytes = 0", "word_bytes must be a whole number from 1 to 8"),
    ("neuron_pj = -1", "neuron_pj must be a non-negative number"),
    ("potential_pj = nan", "potential_pj must be a non-negative number"),
    ("spike_pj = 1", "unknown keys ['spike_pj']"),
])
def test_bad_toml_values(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(f"ac_pj = 1\nmac_pj = 2\n{text}\n")
    with pytest.raises(ValueError, match=message.replace("[", "\\[").replace("]", "\\]")):
        load_energy_file(path)


def tiny_snn_report():
    """Linear(4->3) -> IFNode -> Linear(3->2), hand-set weights, two samples.
    h = [1, 0, 2] and [1, 0.5, 0] -> spikes [1, 0, 1] and [1, 0, 0] (threshold 1)."""
    import torch
    from spikingjelly.activation_based import neuron
    from torch import nn

    from syops import count_syops

    model = nn.Sequential(nn.Linear(4, 3, bias=False), neuron.IFNode(),
                          nn.Linear(3, 2, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 0.5, 0, 0], [0, 0, 2, 0]]))
        model[2].weight.fill_(1.0)
    return count_syops(model, torch.tensor([[1.0, 0, 1, 0], [1, 1, 0, 0]]))


@pytest.mark.filterwarnings("ignore")
def test_every_term_on_a_tiny_snn():
    report = tiny_snn_report()
    # ACs: 4 input ones x 3 + 3 spikes x 2 = 18 -> 9 per sample; 6 updates, 3 spikes
    assert (report.acs, report.macs, report.neuron_updates) == (9, 0, 3)
    loihi = report.energy_breakdown("loihi")
    expected = {"synaptic": 9 * 23.6, "neuron": 3 * 52.0, "memory": 1.5 * 1.7}
    for term, pj in expected.items():
        assert loihi[term] == pytest.approx(pj * 1e-9)
    assert report.energy("loihi") == loihi["total"]
    # horowitz-memory: 18 weight reads, 6 + 6 potential accesses, 3 spikes, all memories
    # under 8 KB (10 pJ): (180 + 120 + 30) / 2 = 165 pJ per sample
    memory = report.energy_breakdown("horowitz-memory")
    assert memory["synaptic"] == pytest.approx(9 * 0.9e-9)
    assert memory["neuron"] == pytest.approx(3 * 5.5e-9)
    assert memory["memory"] == pytest.approx(165e-9)
    assert memory["total"] == pytest.approx(189.6e-9)
    layers = report.energy_layers("horowitz-memory")
    assert list(layers["kind"]) == ["synaptic", "synaptic", "neuron"]
    assert list(layers["memory_pj"]) == pytest.approx([60.0, 30.0, 75.0])
    assert layers["total_pj"].sum() * 1e-9 == pytest.approx(memory["total"])
    assert report.energy() == report.energy("fp32") == report.energy_breakdown()["total"] \
        == PRESETS["fp32"].mj(9, 0)


def test_multi_level_weight_reads_are_per_sample_of_each_call():
    model = EnergyModel("m", ac_pj=1, mac_pj=2, weight_read_pj=3)
    # a batch of 4 samples in the multi-level call: 30 + 100 weights x 1 call x 4 samples
    assert layer_terms_pj(model, layer(), samples_per_call=4)["memory"] == 3 * 430


@pytest.mark.filterwarnings("ignore")
def test_memory_per_sample_does_not_depend_on_the_batch():
    import torch
    from torch import nn

    from syops import count_syops

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.BatchNorm2d(2)).eval()
    x = torch.rand(4, 1, 4, 4) + 0.5
    one_batch = count_syops(model, x, fuse_bn=False)
    singles = count_syops(model, [x[i:i + 1] for i in range(4)], fuse_bn=False)
    # per sample: the conv's 18 and the BN's 4 weights read once each, 10 pJ per read
    for report in (one_batch, singles):
        assert report.energy_breakdown("horowitz-memory")["memory"] == pytest.approx(220e-9)
