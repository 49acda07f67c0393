"""Chip descriptions (syops/energy/chips/*.toml), static energy and the mapping estimate."""

import pytest
import torch
from cli_helpers import TINY_ARGS, invoke, json_records, tiny  # noqa: F401
from spikingjelly.activation_based import layer, neuron
from torch import nn

from syops import count_syops
from syops.energy.chip import BOUNDARIES, SCOPES, chip, chips, parse_chip
from syops.energy.mapping import Geometry, estimate, map_layers, padded_memory
from syops.energy.presets import PRESETS, energy_model
from syops.energy.silicon import pilotnet

EVERY_CHIP = {"loihi", "loihi-sanafe", "loihi2", "speck", "xylo", "truenorth", "spinnaker",
              "spinnaker2"}


def test_every_chip_ships_and_every_figure_has_its_source_and_boundary():
    assert set(chips()) == EVERY_CHIP
    for description in chips().values():
        for section in description.figures.values():
            for figure in section.values():
                assert figure.source in description.sources
                assert figure.boundary in BOUNDARIES and figure.scope in SCOPES


def test_chip_presets_price_as_before_and_unpriced_chips_say_why():
    assert (PRESETS["loihi"].ac_pj, PRESETS["loihi"].neuron_pj, PRESETS["loihi"].spike_write_pj) \
        == (23.6, 52.0, 1.7)
    # SANA-FE: a spike out (69.3 pJ) and its message (111 pJ) per spike emitted
    assert PRESETS["loihi-sanafe"].spike_write_pj == pytest.approx(180.3)
    assert PRESETS["truenorth"].neuron_pj == 0.0 and PRESETS["spinnaker2"].ac_pj == 450.0
    for name in ("speck", "xylo"):
        with pytest.raises(ValueError, match="no published energy per synaptic event"):
            energy_model(name)


def test_extends_inherits_and_replaces():
    sanafe = chip("loihi-sanafe")
    assert sanafe.value("capacity", "fan_in") == 4096                  # from loihi
    assert sanafe.value("static", "chip_w") == 0.029                   # from loihi
    assert sanafe.figure("energy", "synaptic_pj").boundary == "calibrated"  # its own
    loihi2 = chip("loihi2")
    assert loihi2.figure("energy", "synaptic_pj").boundary == "borrowed"
    assert loihi2.value("capacity", "fan_in") is None                  # not published
    assert loihi2.synaptic_pj("Conv2d") == 24.0 and loihi2.synaptic_pj("Linear") == 35.5


@pytest.mark.parametrize("table, message", [
    ({"title": "x"}, "needs a name"),
    ({"name": "x", "colour": 1}, "unknown keys"),
    ({"name": "x", "energy": {"ac": {"value": 1}}}, "unknown figure"),
    ({"name": "x", "energy": {"synaptic_pj": 3}}, "must be a table"),
    ({"name": "x", "energy": {"synaptic_pj": {"value": 1, "source": "nowhere"}}}, "cites"),
    ({"name": "x", "sources": {"a": "A"}, "energy": {"synaptic_pj": {
        "value": 1, "source": "a", "boundary": "guessed", "scope": "dynamic"}}}, "boundary"),
    ({"name": "x", "sources": {"a": "A"}, "energy": {"synaptic_pj": {
        "value": -1, "source": "a", "boundary": "measured", "scope": "dynamic"}}}, "non-negative"),
    ({"name": "x", "flags": {"fast": True}}, "unknown flags"),
])
def test_bad_chip_tables(table, message):
    with pytest.raises(ValueError, match=message):
        parse_chip(table)


def test_static_energy_and_latency_by_hand():
    loihi2 = chip("loihi2")
    # 0.232078 W for 1 / 408.91 s = 0.56755 mJ
    static, note = loihi2.static_mj(loihi2.latency_s(16, fps=408.91))
    assert static == pytest.approx(0.232078 / 408.91 * 1e3) and "0.232078 W" in note
    assert loihi2.static_mj(None) == (None, "loihi2: no latency known (give --latency "
                                            "SECONDS or --fps)")
    assert chip("truenorth").latency_s(4) == pytest.approx(0.004)  # 1 ms tick x 4 steps
    assert chip("truenorth").static_mj(0.004)[0] is None           # inside the 26 pJ
    assert chip("xylo").static_mj(0.01, chips=2)[0] == pytest.approx(0.000219 * 2 * 0.01 * 1e3)


def tiny_report(model, steps=2, shape=(100,)):
    torch.manual_seed(0)
    return count_syops(model, torch.rand(steps, 1, *shape), batch_dim=1, mode="rate")


def test_energy_breakdown_gains_static():
    model = nn.Sequential(layer.Linear(100, 30, step_mode="m"), neuron.IFNode(step_mode="m"))
    report = tiny_report(model)
    plain = report.energy_breakdown("loihi")
    assert plain["static"] is None and "no latency" in plain["static_note"]
    # Loihi idle 0.029 W for 10 ms = 0.29 mJ, by latency or by fps
    assert report.energy_breakdown("loihi", latency=0.01)["static"] == pytest.approx(0.29)
    assert report.energy_breakdown("loihi", fps=100)["static"] == pytest.approx(0.29)
    assert report.energy_breakdown("fp32", latency=0.01)["static"] is None
    assert report.energy_breakdown("truenorth")["static_note"] == \
        "truenorth: no published static power"


def mlp(*sizes):
    modules = []
    for a, b in zip(sizes, sizes[1:]):
        modules += [layer.Linear(a, b, step_mode="m"), neuron.IFNode(step_mode="m")]
    return nn.Sequential(*modules)


def test_mapping_of_a_dense_net_by_hand():
    model = mlp(100, 300, 10)
    report = tiny_report(model)
    loihi = estimate(model, report, chip("loihi"))
    # 300 neurons < 1024 per core, 30,000 synapses < 131,072: one core each layer
    assert [(m.neurons, m.fan_in, m.cores) for m in loihi.layers] == [(300, 100, 1), (10, 300, 1)]
    assert (loihi.cores, loihi.chips, loihi.fits) == (2, 1, True)
    truenorth = estimate(model, report, chip("truenorth"))
    # 300 neurons / 256 per core -> 2 cores; 300 x 100 synapses / 65,536 -> 1; then 1 core
    assert [m.cores for m in truenorth.layers] == [2, 1] and truenorth.cores == 3
    assert not truenorth.fits
    assert truenorth.breaks == ("0: fan-out 300 > 256", "2: fan-in 300 > 256")


def test_mapping_of_a_conv_shares_kernels_only_where_the_chip_does():
    model = nn.Sequential(layer.Conv2d(2, 8, 3, padding=1, step_mode="m"),
                          neuron.IFNode(step_mode="m"))
    report = tiny_report(model, shape=(2, 16, 16))
    loihi, loihi2 = (estimate(model, report, chip(n)) for n in ("loihi", "loihi2"))
    # 8 x 16 x 16 = 2048 neurons, fan-in 2 x 9 = 18
    assert (loihi.layers[0].neurons, loihi.layers[0].fan_in) == (2048, 18)
    # Loihi stores 2048 x 18 synapses (0.28 core) but holds 1024 neurons a core: 2 cores
    assert (loihi.layers[0].synapses, loihi.cores) == (36864, 2)
    # Loihi 2 stores the 8 x 2 x 9 kernel; 2048 neurons < 8192: 1 core
    assert (loihi2.layers[0].synapses, loihi2.cores) == (144, 1)


def geometry(name, cin, cout, kernel, hw):
    return Geometry(name, "Conv2d", cout * hw[0] * hw[1], cin * kernel, cout * kernel,
                    cin * cout * kernel, cout, kernel, hw)


def test_speck_padded_memories_and_the_layer_that_fits_no_core():
    small = geometry("small", 2, 8, 9, (16, 16))
    # kernel: 2 x 2^(ceil log2 9 + ceil log2 8) = 2 x 2^7; neurons: 8 x 2^(4 + 4)
    assert padded_memory(small) == (256, 2048)
    wide = geometry("wide", 1, 4, 9, (128, 128))     # neurons 4 x 2^14 = 65,536: cores 0-2
    big = geometry("big", 1, 8, 9, (128, 128))       # 131,072 words: no core holds it
    mapping = map_layers(chip("speck"), [small, wide, big])
    assert [m.breaks for m in mapping.layers[:2]] == [(), ()]
    assert mapping.breaks == ("big: kernel memory 128 and neuron memory 131072 fit no free core",)
    crowded = map_layers(chip("speck"), [wide] * 4)  # only three cores hold 64 Ki neurons
    assert len(crowded.breaks) == 1 and not crowded.fits


def test_xylo_packs_layers_into_its_one_core():
    model = mlp(16, 500, 600)
    mapping = estimate(model, tiny_report(model, shape=(16,)), chip("xylo"))
    # 500 + 600 neurons = 1.1 cores of 1000; the 16 inputs project to 500 > 64 each
    assert mapping.cores == 2 and not mapping.fits
    assert mapping.breaks == ("0: fan-out 500 > 64", "2: fan-out 600 > 64",
                              "needs 2 cores; 1 chip(s) hold 1")


def test_pilotnet_on_loihi2_by_hand():
    model = pilotnet(graded=False)
    report = count_syops(model, torch.rand(1, 1, 3, 66, 200), batch_dim=1, mode="rate")
    mapping = estimate(model, report, chip("loihi2"))
    # conv1 99 x 32 x 24 = 76,032 neurons / 8192 -> 10 cores; conv2 49 x 15 x 36 = 26,460
    # -> 4; every other layer 1 (the 2560 x 100 dense: 256,000 synapses < 937,500)
    assert [m.neurons for m in mapping.layers] == [76032, 26460, 8064, 5632, 2560, 100, 50,
                                                   10, 1]
    assert [m.cores for m in mapping.layers] == [10, 4, 1, 1, 1, 1, 1, 1, 1]
    assert mapping.cores == 21 and mapping.fits


def test_cli_latency_and_fps_price_the_static_term(tiny):  # noqa: F811
    record, = json_records("profile", tiny, *TINY_ARGS, "--energy", "loihi2", "--fps", "200")
    parts = record["energy_breakdown_mj"]
    # 0.232078 W for 1 / 200 s = 1.16039 mJ; the dynamic total is unchanged
    assert parts["static"] == pytest.approx(0.232078 / 200 * 1e3)
    assert parts["total"] == record["dc_mj"]
    record, = json_records("profile", tiny, *TINY_ARGS, "--energy", "loihi", "--latency", "0.01")
    assert record["energy_breakdown_mj"]["static"] == pytest.approx(0.29)  # 29 mW x 10 ms
    both = invoke("profile", tiny, *TINY_ARGS, "--latency", "0.01", "--fps", "10")
    assert both.exit_code == 2 and "give one of them" in both.output


def test_profile_on_a_chip_preset_shows_cores_and_fit():
    """The record and the caption carry the mapping estimate of the model on the chip, the
    same as syops.energy.mapping.estimate gives from Python."""
    from cli_helpers import invoke, json_records

    from syops import count_syops
    from syops.energy.chip import chip
    from syops.energy.mapping import estimate
    from syops.models import create_model, model_info

    record, = json_records("profile", "fsnn7", "--energy", "loihi2", "--samples", "1")
    info = model_info("fsnn7")
    model = create_model("fsnn7")
    report = count_syops(model, info.example_input(1), energy="loihi2")
    expected = estimate(model, report, chip("loihi2"))
    assert record["mapping"]["cores"] == expected.cores
    assert record["mapping"]["fits"] == expected.fits
    assert record["mapping"]["breaks"] == list(expected.breaks)
    table = invoke("profile", "fsnn7", "--energy", "loihi2", "--samples", "1")
    assert f"Mapping estimate: fsnn7: {expected.cores} cores" in table.stdout
    assert "mapping" not in json_records("profile", "fsnn7", "--samples", "1")[0]
