"""Energy presets, DC and EC, merging, and the JSON form of a report."""

import json
import math

import cli_helpers
import pytest
import torch
from cli_helpers import TINY_ARGS, json_records
from torch import nn

from syops import PRESETS, EnergyModel, count_syops
from syops.energy import energy_model, load_energy_file

tiny = cli_helpers.tiny  # the fixture


def test_horowitz_presets():
    # MAC = multiply + add, Horowitz 2014 at 45 nm
    horowitz = ("fp32", "fp16", "int32", "int8")  # the other presets: tests/test_energy.py
    assert {n: (PRESETS[n].ac_pj, PRESETS[n].mac_pj) for n in horowitz} == {
        "fp32": (0.9, 4.6), "fp16": (0.4, 1.5), "int32": (0.1, 3.2), "int8": (0.03, 0.23)}


def two_layer_report(**kwargs):
    """Linear(4->3) on spikes, then Linear(3->2) on its real-valued output."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    x = torch.tensor([[1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 0.0]])
    return count_syops(model, x, **kwargs)


def test_dc_and_ec_by_hand():
    report = two_layer_report()
    # layer 0: spikes; 2 + 3 = 5 ones x 3 weights = 15 ACs over 2 samples -> 7.5 per sample;
    #   dense 8 x 3 = 24 -> 12 per sample. layer 1: 2 x 3 x 2 = 12 MACs -> 6 per sample.
    assert (report.acs, report.macs, report.syops) == (7.5, 6, 18)
    assert report.input_firing_rate == 5 / 8
    assert report.energy() == pytest.approx((7.5 * 0.9 + 6 * 4.6) * 1e-9)
    assert report.energy("int8") == pytest.approx((7.5 * 0.03 + 6 * 0.23) * 1e-9)
    low, high = report.ec()
    assert low == pytest.approx(6 * 4.6e-9)                 # every spike input silent
    assert high == pytest.approx((12 * 0.9 + 6 * 4.6) * 1e-9)  # every spike input firing
    assert report.ec(rate=0.25) == pytest.approx((3 * 0.9 + 6 * 4.6) * 1e-9)
    custom = EnergyModel("mine", ac_pj=1.0, mac_pj=2.0)
    assert report.energy(custom) == pytest.approx(19.5e-9)
    with pytest.raises(ValueError, match="between 0 and 1"):
        report.ec(rate=1.5)


def test_energy_file(tmp_path):
    good = tmp_path / "chip.toml"
    good.write_text('name = "chip"\nac_pj = 0.5\nmac_pj = 2\n')
    assert load_energy_file(good) == EnergyModel("chip", 0.5, 2)
    assert energy_model(str(good)).mac_pj == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("ac_pj = 0.5\nmac_pj = 2\nadd_pj = 1\n")
    with pytest.raises(ValueError, match="unknown keys \\['add_pj'\\]"):
        load_energy_file(bad)
    bad.write_text("ac_pj = -0.5\nmac_pj = 2\n")
    with pytest.raises(ValueError, match="non-negative"):
        load_energy_file(bad)
    with pytest.raises(ValueError, match="unknown energy preset 'fp64'"):
        energy_model("fp64")


def test_reports_of_disjoint_data_merge_into_the_report_of_the_union():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Flatten(), nn.Linear(32, 2))
    data = [(torch.rand(2, 1, 4, 4) > 0.5).float() for _ in range(4)]
    data[1][0, 0, 0, 0] = 0.5  # one multi-level input makes the conv multi-level in the union
    for mode in ("exact", "rate"):
        whole = count_syops(model, data, mode=mode, classify="observed")
        parts = (count_syops(model, data[:1], mode=mode, classify="observed")
                 + count_syops(model, data[1:], mode=mode, classify="observed"))
        assert parts.samples == whole.samples == 8
        # every total agrees; only the per-batch spread keeps each part's classification
        assert {**parts.raw(), "batches": ()} == {**whole.raw(), "batches": ()}
        assert len(parts.batches) == len(whole.batches) == 4
        assert whole.layers.set_index("name").loc["0", "signal"] == "multi-level"
    with pytest.raises(ValueError, match="different mode"):
        count_syops(model, data[:1]) + count_syops(model, data[:1], mode="rate")


def test_json_round_trip():
    report = two_layer_report()
    payload = json.loads(report.to_json())
    assert payload["macs"] == 6 and payload["acs"] == 7.5 and payload["samples"] == 2
    assert payload["mode"] == "exact" and payload["fuse_bn"] is True
    assert payload["energy_preset"] == "fp32"
    assert payload["dc_mj"] == pytest.approx(report.energy())
    second = payload["layers"][1]
    assert second["signal"] == "multi-level" and second["firing_rate"] is None
    assert second["input_shape"] == [2, 3]
    assert set(payload["layers"][0]) >= {"name", "type", "calls", "signal", "syops", "acs",
                                         "macs", "firing_rate", "energy_pj"}
    assert math.isclose(payload["layers"][0]["energy_pj"], 7.5 * 0.9)


class Fire(nn.Module):
    """A threshold neuron (declared to syops below): spikes where its input is positive."""

    def forward(self, x):
        return (x > 0).float()


def neuron_report():
    """Linear(2->2) with weights [[1, 0], [0, -1]] on the input [1, 1], then Fire."""
    from syops import register_neuron
    register_neuron(Fire)
    linear = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
    return count_syops(nn.Sequential(linear, Fire()), torch.ones(1, 2))


def test_firing_rate_is_the_neuron_rate_papers_cite():
    report = neuron_report()
    # the linear layer gives [1, -1]: Fire spikes once in 2 updates; the input is all ones
    assert report.firing_rate == report.neuron_firing_rate == 0.5
    assert report.input_firing_rate == 1.0
    payload = report.to_dict()
    assert (payload["neuron_firing_rate"], payload["input_firing_rate"]) == (0.5, 1.0)
    # the old key keeps its old meaning (the input rate) for one schema version
    assert payload["firing_rate"] == 1.0 and "firing_rate" in payload["deprecated_keys"]


def test_python_and_cli_json_share_one_schema(tiny):
    from syops.report import SCHEMA_VERSION

    cli, = json_records("profile", tiny, *TINY_ARGS)
    python = json.loads(neuron_report().to_json())
    assert python["schema_version"] == cli["schema_version"] == SCHEMA_VERSION == 3
    assert set(cli) - set(python) == {"world_size"}  # how many processes counted
    assert set(python) - set(cli) == set()
    assert python["model"] == "Sequential" and python["T"] == 1
    assert (python["weights"], python["synthetic_data"], python["convention"]) == (None,) * 3
    assert cli["model"] == tiny.name and cli["T"] == 2


@pytest.mark.parametrize("steps", [1, 3])
def test_T_is_what_the_neurons_saw(steps):
    from spikingjelly.activation_based import layer, neuron

    multi = nn.Sequential(layer.Linear(4, 3, step_mode="m"), neuron.IFNode(step_mode="m"))
    x = torch.ones(steps, 2, 4)                       # [T, B, 4]
    assert count_syops(multi, x, batch_dim=1).time_steps == steps

    single = nn.Sequential(nn.Linear(4, 3), neuron.IFNode())

    class Loop(nn.Module):          # a single-step net run once per time step
        def __init__(self):
            super().__init__()
            self.net = single

        def forward(self, x):       # x: [B, T, 4]
            return torch.stack([self.net(x[:, t]) for t in range(x.shape[1])], 1)

    assert count_syops(Loop(), torch.ones(2, steps, 4)).time_steps == steps
    assert count_syops(nn.Linear(4, 3), torch.ones(2, 4)).time_steps is None


def test_print_shows_the_totals_table():
    report = neuron_report()
    text = str(report)
    assert "Sequential: 1 sample(s), T = 1" in text
    # per sample: 2 inputs x 2 weights = 4 dense SyOPs, all ACs (the input is spikes)
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip()
            for line in text.splitlines() if line.count("│") == 3}
    assert rows["ACs (G)"] == "0.00000000400" and rows["neuron rate (%)"] == "50.00"
    assert rows["input rate (%)"] == "100.00"
    assert "Counting: AC mode exact" in text and "LayerCounts(" not in text
    assert repr(report).startswith("<Report Sequential: 1 sample(s), ACs 4, MACs 0")
