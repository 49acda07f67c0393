"""Loading model files safely: checkpoints with training args, DataParallel prefixes,
TorchScript, pickles only on request, and clear errors for files that do not fit."""

import argparse

import pytest
import torch

from cli_helpers import invoke, json_records, one_error_line, tiny_model
from syops.cli.loading import canonical_arch, load_model
from syops.models import create_model


def prefixed(state: dict, prefix: str = "module.") -> dict:
    return {prefix + key: value for key, value in state.items()}


@pytest.mark.parametrize("spelling, name", [
    ("sew_resnet18", "sew18"), ("SEW_ResNet50", "sew50"), ("sewresnet34", "sew34"),
    ("spiking_resnet34", "spiking_resnet34"), ("fsnn_resnet18", "fsnn18"),
    ("resnet18", "resnet18"), ("SEW7B", "sew7b"), ("vgg11", None)])
def test_common_arch_spellings(spelling, name):
    assert canonical_arch(spelling) == name


def test_checkpoint_with_args_gives_arch_T_and_connect(tmp_path):
    trained = create_model("sew18", T=2, connect="IAND")
    path = tmp_path / "checkpoint_max.pth"
    torch.save({"model": prefixed(trained.state_dict()), "epoch": 7, "max_test_acc": 0.61,
                "args": argparse.Namespace(model="sew_resnet18", T=2, connect_f="IAND",
                                           lr=0.1)}, path)
    loaded = load_model(str(path))
    assert (loaded.info.name, loaded.info.T, loaded.info.connect) == ("sew18", 2, "IAND")
    assert "stripped the 'module.' prefix" in loaded.notes
    for key, value in trained.state_dict().items():
        assert torch.equal(loaded.module.state_dict()[key], value)


def test_profile_a_checkpoint_without_arch(tmp_path):
    path = tmp_path / "ckpt.pth"
    torch.save({"net": prefixed(create_model("fsnn7", T=2, connect="AND").state_dict()),
                "args": argparse.Namespace(model="fsnn7", T=2, cnf="AND")}, path)
    result = invoke("profile", path, "--samples", "1", "-v", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert "stripped the 'module.' prefix" in result.stderr and "connect AND" in result.stderr
    assert '"model": "ckpt.pth (fsnn7)"' in result.stdout and '"T": 2' in result.stdout
    assert f'"weights": "{path}"' in result.stdout


def test_state_dict_with_arch_and_module_prefix(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(prefixed(create_model("sew7b").state_dict()), path)
    record, = json_records("profile", path, "--arch", "sew7b", "-T", "2", "--samples", "1")
    assert record["model"] == "weights.pt (sew7b)" and record["T"] == 2


def test_state_dict_without_arch_asks_for_it(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(tiny_model().state_dict(), path)
    result = invoke("profile", path)
    assert result.exit_code == 2 and "pass --arch NAME" in one_error_line(result)


def test_state_dict_that_does_not_fit_names_keys(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(tiny_model().state_dict(), path)
    line = one_error_line(invoke("profile", path, "--arch", "sew7b"))
    assert "does not fit sew7b" in line
    assert "missing keys: stem.conv.0.weight" in line and "unexpected keys: conv.0.weight" in line


def test_state_dict_with_a_wrong_shape_names_the_key(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(create_model("sew7b", num_classes=5).state_dict(), path)
    result = invoke("profile", path, "--arch", "sew7b")
    assert result.exit_code == 2
    assert "classifier.fc.weight has shape [5, 32] in the file" in one_error_line(result)


def test_pickled_module_is_refused_without_trust_pickle(tmp_path):
    path = tmp_path / "whole.pt"
    torch.save(tiny_model(), path)
    result = invoke("profile", path, "--dataset", "dvs-gesture")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "unpickling can run arbitrary code" in line and "--trust-pickle" in line
    assert invoke("profile", path, "--dataset", "dvs-gesture", "-T", "2", "--samples", "1",
                  "--trust-pickle").exit_code == 0


def test_torchscript_needs_its_arch(tmp_path):
    model = create_model("fsnn7", T=2).eval()
    path = tmp_path / "traced.ts"
    torch.jit.save(torch.jit.trace(model, torch.rand(1, 2, 2, 128, 128), check_trace=False), path)
    result = invoke("profile", path)
    assert result.exit_code == 2 and "TorchScript module takes no hooks" in one_error_line(result)
    record, = json_records("profile", path, "--arch", "fsnn7", "-T", "2", "--samples", "1")
    assert record["model"] == "traced.ts (fsnn7)"


@pytest.mark.parametrize("content, message", [
    (b"not a model at all", "not a model file"),
    (None, "is a folder"),
])
def test_files_that_are_not_models(tmp_path, content, message):
    path = tmp_path / "model.pt"
    path.mkdir() if content is None else path.write_bytes(content)
    result = invoke("profile", path, "--arch", "sew7b")
    assert result.exit_code == 2 and message in one_error_line(result)


def test_dict_without_a_state_dict(tmp_path):
    path = tmp_path / "stats.pt"
    torch.save({"epoch": 3, "accuracy": 0.5}, path)
    line = one_error_line(invoke("profile", path, "--arch", "sew7b"))
    assert "without a state_dict (keys: epoch, accuracy)" in line


def test_missing_file_and_unknown_names(tmp_path):
    assert "no such file" in one_error_line(invoke("profile", tmp_path / "nope.pth"))
    result = invoke("profile", "fsnn51")
    assert result.exit_code == 2 and "did you mean fsnn50" in one_error_line(result)
    path = tmp_path / "weights.pt"
    torch.save(tiny_model().state_dict(), path)
    result = invoke("profile", path, "--arch", "sew7c")
    assert result.exit_code == 2 and "sew7b" in one_error_line(result)


def test_compare_a_weights_file_with_its_reference(tmp_path):
    path = tmp_path / "trained.pt"
    torch.save(create_model("fsnn7", T=2).state_dict(), path)
    records = json_records("compare", "fsnn7", path, "--arch", "fsnn7", "-T", "2")
    assert [r["model"] for r in records] == ["fsnn7", "trained.pt (fsnn7)"]
    assert records[1]["macs"] == records[0]["macs"]
    assert "--arch applies to model files" in one_error_line(
        invoke("compare", "sew7b", path, "--arch", "fsnn7"))
