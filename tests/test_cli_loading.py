"""Loading model files safely: checkpoints with training args, DataParallel prefixes,
TorchScript, pickles only on request, and clear errors for files that do not fit."""

import argparse
import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

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
    # a reference model beside the file: the reference on its own, --arch for the file
    mixed = json_records("compare", "sew7b", path, "--arch", "fsnn7", "-T", "2")
    assert [r["model"] for r in mixed] == ["sew7b", "trained.pt (fsnn7)"]
    assert "--arch applies to model files" in one_error_line(
        invoke("compare", "sew7b", "fsnn7", "--arch", "fsnn7"))


# ------------------------------------------------------------------ hostile files (issue 13)
def test_devices_fifos_empty_and_oversized_files_are_refused_before_reading(tmp_path,
                                                                           monkeypatch):
    fifo = tmp_path / "model.pt"
    os.mkfifo(fifo)
    for path in ("/dev/zero", fifo):
        result = invoke("profile", path, "--arch", "fsnn7")
        assert result.exit_code == 2 and "not a regular file" in one_error_line(result)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    assert "is empty" in one_error_line(invoke("profile", empty, "--arch", "fsnn7"))
    big = tmp_path / "big.pt"
    torch.save(create_model("fsnn7").state_dict(), big)
    monkeypatch.setattr("syops.cli.loading.MAX_FILE_BYTES", 1000)
    line = one_error_line(invoke("profile", big, "--arch", "fsnn7"))
    assert "more than this machine can load" in line


def test_torchscript_loads_in_a_fresh_process(tmp_path):
    """SpikingJelly registers sj_plif::forward on first use: a new process must too."""
    path = tmp_path / "traced.ts"
    model = create_model("fsnn7", T=2).eval()
    torch.jit.save(torch.jit.trace(model, torch.rand(1, 2, 2, 64, 64), check_trace=False), path)
    done = subprocess.run([sys.executable, "-m", "syops", "profile", str(path), "--arch", "fsnn7",
                           "-T", "2", "--samples", "1", "--format", "json"],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["model"] == "traced.ts (fsnn7)"


def test_corrupt_torchscript_like_zip_is_exit_2(tmp_path):
    path = tmp_path / "traced.ts"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("traced/constants.pkl", b"\x80\x02garbage")
        archive.writestr("traced/code/__torch__.py", "def forward(self):\n    return ops.sj_nope.x\n")
    result = invoke("profile", path, "--arch", "fsnn7")
    assert result.exit_code == 2
    assert "not a loadable TorchScript archive" in one_error_line(result)


class Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_that_calls_os_system_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"model": Evil(marker)}, path)
    raw = tmp_path / "evil.pkl"
    raw.write_bytes(pickle.dumps(Evil(marker)))
    line = one_error_line(invoke("profile", path, "--arch", "fsnn7"))
    assert "posix.system" in line and "--trust-pickle" in line and "weights_only" not in line
    for file in (path, raw):
        line = one_error_line(invoke("profile", file, "--arch", "fsnn7", "--trust-pickle"))
        assert "refused even with --trust-pickle" in line and "system" in line, line
    assert not marker.exists()


# ------------------------------------------------------------------ checkpoint args (issue 11)
def test_connect_f_makes_a_spiking_resnet_name_a_sew_net(tmp_path):
    path = tmp_path / "ckpt.pth"
    torch.save({"model": create_model("sew18", T=1).state_dict(),
                "args": argparse.Namespace(model="spiking_resnet18", connect_f="add", T=1,
                                           world_size=8, amp=True)}, path)
    loaded = load_model(str(path))
    assert (loaded.info.name, loaded.info.connect, loaded.info.T) == ("sew18", "ADD", 1)
    assert loaded.warnings == ()
    forced = load_model(str(path), arch="spiking_resnet18")
    assert forced.info.name == "spiking_resnet18"
    assert "connect_f='add' (a SEW net) does not apply to spiking_resnet18" in forced.warnings[0]
    torch.save({"model": create_model("sew18", T=1).state_dict(),
                "args": argparse.Namespace(model="sew_resnet34", T=1)}, path)
    with pytest.raises(Exception, match="does not fit sew34"):
        load_model(str(path))  # the args say sew34: sew18's weights do not fit it
    assert "--arch sew18 overrides the checkpoint's model='sew_resnet34'" in \
        load_model(str(path), arch="sew18").warnings[0]


def test_unknown_and_unhonourable_checkpoint_args(tmp_path):
    path = tmp_path / "ckpt.pth"
    torch.save({"net": create_model("fsnn7").state_dict(),
                "args": argparse.Namespace(model="fsnn7", T=2, widen_factor=2, lr=0.1)}, path)
    result = invoke("profile", path, "--samples", "1", "--format", "json")
    assert result.exit_code == 0
    assert "checkpoint args not known to syops, ignored: widen_factor" in result.stderr
    torch.save({"net": create_model("sew7b").state_dict(),
                "args": argparse.Namespace(model="sew7b", connect_f="OR")}, path)
    line = one_error_line(invoke("profile", path))
    assert "args cannot be honoured" in line and "'OR'" in line
