"""syops compare: one row per model, JSON contract, every format, plots and output files."""

import json

import cli_helpers
import pytest
from cli_helpers import TINY_ARGS, invoke, json_records, one_error_line

tiny = cli_helpers.tiny  # the fixture

SUMMARY_TYPES = {"model": str, "params": int, "T": int, "samples": int, "data": str,
                 "mode": str, "fuse_bn": bool, "energy_preset": str, "macs": (int, float),
                 "acs": (int, float), "syops": (int, float), "firing_rate": (int, float),
                 "dc_mj": float, "ec_low_mj": float, "ec_high_mj": float, "layers": list,
                 "weights": str, "synthetic_data": bool, "relative_energy": float}
LAYER_TYPES = {"name": str, "type": str, "calls": (int, float), "signal": str,
               "syops": (int, float), "acs": (int, float), "macs": (int, float),
               "firing_rate": (int, float, type(None)), "energy_pj": (int, float)}


@pytest.fixture(scope="module")
def reference_records():
    return json_records("compare", "sew7b", "fsnn7", "-T", "2", "--rate", "0.25")



def test_json_contract_keys_and_types(reference_records):
    assert [r["model"] for r in reference_records] == ["sew7b", "fsnn7"]
    for record in reference_records:
        for key, kind in SUMMARY_TYPES.items():
            assert isinstance(record[key], kind), (key, record[key])
        assert record["layers"]
        for layer in record["layers"]:
            for key, kind in LAYER_TYPES.items():
                assert isinstance(layer[key], kind), (key, layer[key])


def test_compare_defaults_to_one_synthetic_sample_random_init(reference_records):
    sew, fsnn = reference_records
    assert sew["samples"] == fsnn["samples"] == 1
    assert sew["T"] == 2 and "synthetic" in sew["data"] and sew["synthetic_data"]
    assert sew["weights"] == "random init"
    assert (sew["mode"], sew["fuse_bn"], sew["energy_preset"]) == ("exact", True, "fp32")


def test_energy_relative_to_the_first_and_ec_at_rate(reference_records):
    sew, fsnn = reference_records
    assert sew["relative_energy"] == 1.0
    assert fsnn["relative_energy"] == pytest.approx(fsnn["dc_mj"] / sew["dc_mj"])
    assert fsnn["relative_energy"] < 0.2  # SEW's ADD makes its blocks dense MACs
    for record in reference_records:
        assert record["rate"] == 0.25
        assert record["ec_low_mj"] <= record["ec_at_rate_mj"] <= record["ec_high_mj"]
        assert record["ec_low_mj"] <= record["dc_mj"] <= record["ec_high_mj"]


def test_counts_are_per_sample(tiny):
    one, = json_records("compare", tiny, *TINY_ARGS)
    three, = json_records("compare", tiny, *TINY_ARGS, "--samples", "3", "--batch-size", "2")
    assert three["samples"] == 3
    assert three["syops"] == pytest.approx(one["syops"])  # dense counts do not depend on data


def test_table_states_provenance_and_conventions_once(tiny):
    result = invoke("compare", tiny, tiny, *TINY_ARGS, "--table", "--energy", "int8")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.count("Firing rates measured with") == 1
    assert "AC mode exact" in out and "BN folded" in out
    assert "Energy: preset int8 (AC 0.03 pJ, MAC 0.23 pJ)" in out
    assert "DC vs first" in out and "1.00x" in out
    # stderr holds nothing but the notice that the data is a synthetic stand-in
    assert all("synthetic stand-in" in line for line in result.stderr.splitlines())


def test_provenance_names_random_init_synthetic_input():
    result = invoke("compare", "fsnn7", "-T", "2")
    assert "random init, synthetic input" in result.stdout


def test_markdown_is_a_github_table(tiny):
    out = invoke("compare", tiny, *TINY_ARGS, "--format", "markdown", "--mode", "rate",
                 "--no-fuse-bn").stdout
    lines = out.splitlines()
    assert lines[0].startswith("| model | params (M) | T |")
    assert set(lines[1].replace("|", "").split()) <= {"---", "---:"}
    assert "AC mode rate" in out and "BN left in place" in out


def test_csv_has_one_row_per_layer_per_model(tiny):
    out = invoke("compare", tiny, tiny, *TINY_ARGS, "--format", "csv").stdout
    header, *rows = out.strip().splitlines()
    assert header.startswith("model,name,type,calls")
    # conv and fc, and the model's total row, twice (BN folded into the conv)
    assert [row.split(",")[1] for row in rows] == ["conv.0", "fc", "total"] * 2


def test_output_file_and_png_plot(tiny, tmp_path):
    output, plot = tmp_path / "out.json", tmp_path / "plot.png"
    result = invoke("compare", tiny, *TINY_ARGS, "--format", "json", "--output", output,
                    "--plot", plot)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert json.loads(output.read_text())[0]["model"] == "tiny.pt"
    data = plot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "plot.png"]  # no temp files


def test_svg_plot(tiny, tmp_path):
    plot = tmp_path / "plot.svg"
    assert invoke("compare", tiny, *TINY_ARGS, "-q", "--plot", plot).exit_code == 0
    assert b"<svg" in plot.read_bytes()[:1000]


MYNET = """
from torch import nn
from spikingjelly.activation_based import layer, neuron


class Net(nn.Module):
    \"\"\"[T, B, 2, 128, 128] events -> 11 logits: conv 8x8/8 (4 channels), IF, linear.\"\"\"

    def __init__(self):
        super().__init__()
        self.conv = layer.Conv2d(2, 4, 8, stride=8, bias=False, step_mode="m")
        self.sn = neuron.IFNode(step_mode="m")
        self.fc = layer.Linear(4 * 16 * 16, 11, step_mode="m")

    def forward(self, x):
        return self.fc(self.sn(self.conv(x)).flatten(2)).mean(0)
"""


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """The issue's command: the user's model on their [B, T, ...] data beside reference
    models; sew7b's samples fit the data at -T 2, resnet18's (3 x 224 x 224) do not."""
    import numpy as np

    folder = tmp_path_factory.mktemp("mine")
    (folder / "mynet.py").write_text(MYNET)
    rng = np.random.default_rng(0)
    np.savez(folder / "mine.npz", x=(rng.random((3, 2, 2, 128, 128)) < 0.1).astype("float32"))
    args = ["compare", f"{folder / 'mynet.py'}:Net", "sew7b", "resnet18",
            "--dataset", folder / "mine.npz", "--time-first", "-T", "2", "--samples", "3"]
    result = invoke(*args, "--format", "json", "--plot", folder / "compare.png")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout), result.stderr, folder, args


def test_compare_mixes_the_users_model_and_reference_models(mixed):
    records, stderr, folder, _ = mixed
    mine, sew, resnet = records
    assert [r["model"] for r in records] == ["Net", "sew7b", "resnet18"]
    # the user's model and sew7b ran on the user's data; resnet18 on its own stand-in
    assert not mine["synthetic_data"] and not sew["synthetic_data"] and resnet["synthetic_data"]
    assert "mine.npz" in mine["data"] and "mine.npz" in sew["data"]
    assert "imagenet" in resnet["data"]
    assert "resnet18 takes samples of [3, 224, 224], the data given has [2, 2, 128, 128]" \
        in stderr
    assert mine["samples"] == sew["samples"] == resnet["samples"] == 3
    # T of the user's model is what its neurons saw: the data's 2 steps; the ANN has none
    assert (mine["T"], sew["T"]) == (2, 2)
    # dense counts by hand: conv 4 x 16 x 16 outputs x 2 x 8 x 8 weights, fc 1024 x 11, per step
    assert mine["syops"] == 2 * (4 * 16 * 16 * 2 * 8 * 8 + 4 * 16 * 16 * 11)
    assert (folder / "compare.png").read_bytes().startswith(b"\x89PNG")


def test_reference_models_count_the_same_dense_operations_on_the_users_data(mixed):
    records, *_ = mixed
    alone, = json_records("compare", "sew7b", "-T", "2")
    assert records[1]["syops"] == alone["syops"]   # dense SyOPs do not depend on the data


def test_mixed_compare_as_one_latex_table(mixed):
    *_, args = mixed
    result = invoke(*args, "--format", "latex")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count(r"\begin{table}") == 1
    rows = [line for line in result.stdout.splitlines() if line.endswith(r"\\")][1:]
    assert [row.split(" & ")[0] for row in rows] == ["Net", "sew7b", "resnet18"]


def test_arch_and_time_first_need_a_model_of_the_users():
    for option in (["--arch", "fsnn7"], ["--time-first"]):
        result = invoke("compare", "sew7b", "fsnn7", "-T", "2", *option)
        assert result.exit_code == 2
        assert option[0] in one_error_line(result)


def test_each_model_file_can_name_its_own_arch(mixed, tmp_path):
    import torch

    from syops.models import create_model

    *_, folder, _ = mixed
    torch.save(create_model("fsnn7", T=2).state_dict(), tmp_path / "fsnn7.pth")
    records = json_records("compare", f"{tmp_path / 'fsnn7.pth'}=fsnn7", "sew7b",
                           "--dataset", folder / "mine.npz", "-T", "2")
    assert [r["model"] for r in records] == ["fsnn7.pth (fsnn7)", "sew7b"]
    assert records[0]["weights"].endswith("fsnn7.pth") and not records[0]["synthetic_data"]
