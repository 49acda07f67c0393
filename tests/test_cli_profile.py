"""syops profile: per-layer tables, layer views, progress, and an end-to-end run on a tiny
DVS128 Gesture tree in its real on-disk format."""

import pytest
import torch
from cli_helpers import TINY_ARGS, invoke, json_records, tiny  # noqa: F401 (fixture)
from data_fixtures import write_gesture_tree


def test_end_to_end_reference_dvs_model_on_a_gesture_tree(tmp_path):
    tree = write_gesture_tree(tmp_path / "DVS128Gesture", layout="aedat", T=2)
    record, = json_records("profile", "fsnn7", "-T", "2", "--data-root", tree.root)
    assert record["model"] == "fsnn7" and record["T"] == 2
    assert record["samples"] == len(tree.samples["test"])
    assert not record["synthetic_data"] and "synthetic" not in record["data"]
    assert str(tree.root) in record["data"]
    assert record["macs"] > 0 and record["dc_mj"] > 0
    assert {layer["name"] for layer in record["layers"]} >= {"classifier.fc"}


def test_profile_table_has_layers_totals_and_caption(tiny):
    result = invoke("profile", tiny, *TINY_ARGS)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "tiny.pt: per layer, per sample" in out and "Totals per sample" in out
    assert "conv.0" in out and "fc" in out
    assert out.count("Firing rates measured with") == 1
    # not a terminal: no progress bar; only the note that --dataset without --data-root is
    # the synthetic stand-in (issue 20)
    assert result.stderr.startswith("warning: no --data-root: dvs-gesture is a seeded "
                                    "synthetic stand-in") and result.stderr.count("\n") == 1


def test_profile_uses_every_sample_unless_limited(tiny):
    assert json_records("profile", tiny, *TINY_ARGS)[0]["samples"] == 8  # the stand-in's size
    limited = json_records("profile", tiny, *TINY_ARGS, "--batch-size", "3", "--max-batches", "2")
    assert limited[0]["samples"] == 6


def test_top_keeps_the_most_costly_layers_and_totals(tiny):
    full, = json_records("profile", tiny, *TINY_ARGS)
    top, = json_records("profile", tiny, *TINY_ARGS, "--top", "1")
    assert len(top["layers"]) == 1
    assert top["layers"][0]["energy_pj"] == max(row["energy_pj"] for row in full["layers"])
    assert top["dc_mj"] == full["dc_mj"]  # totals are the whole model's


def test_depth_aggregates_by_name_prefix(tiny):
    full, = json_records("profile", tiny, *TINY_ARGS, "--no-fuse-bn")
    assert [row["name"] for row in full["layers"]] == ["conv.0", "conv.1", "fc"]
    grouped, = json_records("profile", tiny, *TINY_ARGS, "--no-fuse-bn", "--depth", "1")
    assert [row["name"] for row in grouped["layers"]] == ["conv", "fc"]
    conv = grouped["layers"][0]
    assert conv["type"] == "Conv2d+BatchNorm2d"
    assert conv["macs"] == pytest.approx(full["layers"][0]["macs"] + full["layers"][1]["macs"])


def test_mode_energy_and_rate_reach_the_record(tiny, tmp_path):
    costs = tmp_path / "chip.toml"
    costs.write_text('name = "chip"\nac_pj = 0.5\nmac_pj = 2.0\n')
    record, = json_records("profile", tiny, *TINY_ARGS, "--mode", "rate", "--energy", costs,
                           "--rate", "0.5")
    assert (record["mode"], record["energy_preset"], record["e_mac_pj"]) == ("rate", "chip", 2.0)
    assert record["dc_mj"] == pytest.approx((0.5 * record["acs"] + 2.0 * record["macs"]) / 1e9)
    assert record["ec_at_rate_mj"] == pytest.approx(
        (record["ec_low_mj"] + record["ec_high_mj"]) / 2)


def test_reference_model_name_defaults_to_its_data_set():
    record, = json_records("profile", "sew7b", "-T", "2", "--samples", "1")
    assert record["data"].startswith("dvs-gesture (synthetic")
    assert record["weights"] == "random init"


def test_verbose_reports_data_and_written_files(tiny, tmp_path):
    output = tmp_path / "layers.csv"
    result = invoke("profile", tiny, *TINY_ARGS, "-v", "--format", "csv", "-o", output)
    assert result.exit_code == 0, result.stderr
    assert "data: dvs-gesture (synthetic" in result.stderr and f"wrote {output}" in result.stderr
    assert output.read_text().startswith("model,name,type")


def test_cuda_device_without_cuda_is_bad_usage(tiny):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = invoke("profile", tiny, *TINY_ARGS, "--device", "cuda")
    assert result.exit_code == 2 and "no CUDA device" in result.stderr
