"""python -m syops.reproduce silicon: predicted vs measured energy per inference."""

import json

import numpy as np
import pytest
import torch
from netx_writer import conv, dense, flatten, input_layer, write_arrays, write_netx
from rich.console import Console
from spikingjelly.activation_based import layer
from torch import nn

from syops import count_syops
from syops.energy import silicon
from syops.energy.chip import chip
from syops.energy.mapping import estimate
from syops.models.netx import CubaNode
from syops.reproduce import main


def test_event_terms_by_hand():
    model = nn.Sequential(layer.Linear(10, 5, step_mode="m"), CubaNode(1.0, 1.0, 0.0))
    report = count_syops(model, torch.rand(2, 1, 10), batch_dim=1, mode="rate")
    description = chip("loihi-sanafe")
    fixed, per_rate = silicon.event_terms(report, estimate(model, report, description),
                                          description, 2)
    # 2 steps x 50 synapses at 35.5 pJ per unit rate; 10 updates at 51.2 pJ always, and per
    # unit rate 21.6 pJ more (active) plus 69.3 + 111 pJ per spike and its message
    assert fixed == pytest.approx({"synaptic": 0.0, "neuron": 512.0, "spike": 0.0})
    assert per_rate == pytest.approx({"synaptic": 3550.0, "neuron": 216.0, "spike": 1803.0})


@pytest.fixture(scope="module")
def rows():
    return silicon.records()


def test_default_rows_are_offline_rebuilt_and_add_up(rows):
    predicted = [r for r in rows if r["predicted_mj"] is not None]
    assert len({(r["network"], r["chip"]) for r in predicted}) >= 3
    for row in predicted:
        terms = row["terms_mj"]
        assert row["predicted_mj"] == pytest.approx(sum(v or 0.0 for v in terms.values()))
        assert row["residual_pct"] == pytest.approx(
            (row["predicted_mj"] - row["measured_mj"]) / row["measured_mj"] * 100)
        assert row["rebuilt"] and row["rebuilt_parts"] == ["architecture", "weights", "activity"]
    snn, sdnn = (next(r for r in rows if r["network"].startswith(n))
                 for n in ("PilotNet SNN", "PilotNet SDNN"))
    # static = 0.232078 W x 1 / 16.87 s; SDNN synapses: 14,550,054 dense SyOPs (hand sum of
    # the five convs and four dense layers) x 0.1 x 24 pJ (convs) or 35.5 pJ (dense)
    assert sdnn["terms_mj"]["static"] == pytest.approx(0.232078 / 16.87 * 1e3)
    convs = 2052864 + 5715360 + 2612736 + 2433024 + 1474560
    assert sdnn["terms_mj"]["synaptic"] == pytest.approx(
        0.1 * (convs * 24.0 + 261510 * 35.5) / 1e9)
    assert snn["terms_mj"]["synaptic"] == pytest.approx(16 * sdnn["terms_mj"]["synaptic"])
    assert (snn["cores_estimated"], snn["cores_published"]) == (21, 74)
    xylo = rows[-1]
    assert xylo["predicted_mj"] is None and xylo["measured_mj"] == 0.0066


def test_implied_rate_gives_back_the_measured_dynamic_energy(rows):
    snn = next(r for r in rows if r["network"].startswith("PilotNet SNN"))
    again = silicon.predict(silicon.MEASUREMENTS[2], None, rate=snn["implied_rate"])
    assert again["predicted_dynamic_mj"] == pytest.approx(snn["measured_dynamic_mj"])


def pilotnet_files(folder):
    shapes = [(24, 32, 99), (36, 15, 49), (48, 7, 24), (64, 4, 22), (64, 2, 20)]
    strides = [(2, 2), (2, 2), (2, 2), (2, 1), (1, 1)]
    paddings = [(0, 0), (0, 0), (0, 0), (1, 0), (0, 0)]
    layers = [input_layer([3, 66, 200])]
    channels = 3
    for (cout, h, w), stride, padding in zip(shapes, strides, paddings):
        layers.append(conv(channels, cout, [h, w], stride, padding))
        channels = cout
    layers += [flatten(2560), dense(2560, 100), dense(100, 50), dense(50, 10), dense(10, 1)]
    (folder / "pilotnet_snn").mkdir()
    write_netx(folder / "pilotnet_snn" / "network.net", layers, t_sample=16)
    rng = np.random.default_rng(0)
    write_arrays(folder / "inference_weights.pkl", {
        f"{name}/{part}": rng.normal(size=shape).astype(np.float32)
        for name, (fin, fout) in zip(("char_layer_0", "char_layer_1", "char_output"),
                                     [(390, 256), (256, 256), (256, 29)])
        for part, shape in (("weights", (fin, fout)), ("biases", (fout,)))})


def run(capsys, *args):
    code = main(["silicon", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_files_replace_the_rebuilt_networks(tmp_path, capsys, rows):
    pilotnet_files(tmp_path)
    code, out, err = run(capsys, "--format", "json", "--files", str(tmp_path))
    assert code == 0, err
    read = json.loads(out)
    for default, from_files in zip(rows, read):
        if from_files["network"].startswith(("PilotNet SNN", "KWS")):
            assert from_files["rebuilt_parts"] == ["activity"]
            assert str(tmp_path) in from_files["network_from"]
            # same architecture as the rebuilt one: the same prediction
            assert from_files["predicted_mj"] == pytest.approx(default["predicted_mj"])
        elif from_files["network"].startswith("PilotNet SDNN"):
            assert from_files["rebuilt_parts"] == ["architecture", "weights", "activity"]


def test_bad_files_give_one_line_and_exit_2(tmp_path, capsys):
    code, out, err = run(capsys, "--files", str(tmp_path / "nowhere"))
    assert code == 2 and out == "" and err.count("\n") == 1 and "is not a folder" in err
    (tmp_path / "pilotnet_snn").mkdir()
    (tmp_path / "pilotnet_snn" / "network.net").write_text("garbage")
    code, out, err = run(capsys, "--files", str(tmp_path))
    assert code == 2 and err.count("\n") == 1 and "not an HDF5 file" in err
    write_arrays(tmp_path / "inference_weights.pkl", {"char_layer_0/weights": np.zeros((3, 3))})
    (tmp_path / "pilotnet_snn" / "network.net").unlink()
    code, out, err = run(capsys, "--files", str(tmp_path))
    assert code == 2 and "should be an array of shape (390, 256)" in err


def test_table_output(rows):
    console = Console(width=200, record=True)
    silicon.render(rows, console)
    text = console.export_text()
    assert "Predicted vs measured" in text and "PilotNet SDNN" in text and "-16 %" in text
