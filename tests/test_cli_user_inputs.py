"""What researchers already have: official checkpoints as their training scripts write them,
their own model classes (``--arch FILE.py:NAME``) and their own data (``--dataset FILE``)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import invoke, json_records, one_error_line
from test_checkpoints import ResNetN, SewAuthorsResNet, randomised

from syops.data import get_dataset

REPO = Path(__file__).resolve().parents[1]

TINY_NET = textwrap.dedent('''
    """A training script: the guard keeps main() from running when syops imports it."""
    import torch
    from torch import nn


    class Tiny(nn.Module):
        """[T, B, features] spikes -> mean over T of a bias-free linear layer."""

        def __init__(self, features: int, classes: int = 5):
            super().__init__()
            self.fc = nn.Linear(features, classes, bias=False)

        def forward(self, x):
            return self.fc(x).mean(0)


    def make_tiny():
        return Tiny(features=4)


    def main():
        raise SystemExit("training would start here")


    if __name__ == "__main__":
        main()
    ''')

CSNN_NET = textwrap.dedent('''
    """SpikingJelly's conv_fashion_mnist CSNN, taking frames [T, N, 1, 28, 28]."""
    import torch.nn as nn
    from spikingjelly.activation_based import functional, layer, neuron, surrogate


    class CSNN(nn.Module):
        def __init__(self, T: int, channels: int, use_cupy=False):
            super().__init__()
            self.T = T
            self.conv_fc = nn.Sequential(
                layer.Conv2d(1, channels, kernel_size=3, padding=1, bias=False),
                layer.BatchNorm2d(channels),
                neuron.IFNode(surrogate_function=surrogate.ATan()),
                layer.MaxPool2d(2, 2),
                layer.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False),
                layer.BatchNorm2d(channels),
                neuron.IFNode(surrogate_function=surrogate.ATan()),
                layer.MaxPool2d(2, 2),
                layer.Flatten(),
                layer.Linear(channels * 7 * 7, channels * 4 * 4, bias=False),
                neuron.IFNode(surrogate_function=surrogate.ATan()),
                layer.Linear(channels * 4 * 4, 10, bias=False),
                neuron.IFNode(surrogate_function=surrogate.ATan()),
            )
            functional.set_step_mode(self, step_mode="m")

        def forward(self, x_seq):
            return self.conv_fc(x_seq).mean(0)


    if __name__ == "__main__":
        raise SystemExit("training would start here")
    ''')

# Two samples of T = 3 steps of 4 binary features: 5 ones and 3 ones.
SPIKES = np.array([[[1, 0, 1, 0], [0, 1, 0, 0], [1, 1, 0, 0]],
                   [[0, 0, 0, 1], [0, 0, 0, 0], [1, 0, 1, 0]]], dtype=np.float32)
ACS_PER_SAMPLE = (5 + 3) * 5 / 2   # each input one drives 5 output neurons


@pytest.fixture
def tiny_net(tmp_path):
    path = tmp_path / "tiny_net.py"
    path.write_text(TINY_NET)
    return path


def tiny_checkpoint(tmp_path: Path, net_file: Path) -> Path:
    sys.path.insert(0, str(net_file.parent))
    try:
        import importlib
        module = importlib.import_module(net_file.stem)
        state = module.Tiny(features=4).state_dict()
    finally:
        sys.path.remove(str(net_file.parent))
        sys.modules.pop(net_file.stem, None)
    path = tmp_path / "checkpoint_max.pth"
    torch.save({"net": state, "optimizer": {"state": {}, "param_groups": []}, "epoch": 9,
                "max_test_acc": 0.5}, path)
    return path


# ------------------------------------------------------------------ the three cases
def sew_train_py_checkpoint(path: Path) -> None:
    """What the SEW authors' imagenet/train.py writes, from a DDP model (module. prefix)."""
    model = randomised(SewAuthorsResNet((2, 2, 2, 2), False))
    wrapped = torch.nn.DataParallel(model)  # same 'module.' names as DistributedDataParallel
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=320)
    args = argparse.Namespace(  # the archived args.txt of the SEW-ResNet-18 run
        T=4, adam=False, amp=True, batch_size=32, cache_dataset=True, connect_f="add",
        cos_lr_T=320, data_path="/raid/wfang/imagenet/", device="cuda", dist_backend="nccl",
        dist_url="env://", distributed=True, epochs=320, gpu=0, lr=0.1, lr_gamma=0.1,
        lr_step_size=30, model="spiking_resnet18", momentum=0.9, output_dir="./logs10",
        print_freq=4096, rank=0, resume="", start_epoch=0, sync_bn=False, tb=True,
        test_only=False, use_conv_if=True, val_ratio=0, weight_decay=0, workers=16,
        world_size=8, zero_init_residual=False)
    torch.save({"model": wrapped.state_dict(), "optimizer": optimizer.state_dict(),
                "lr_scheduler": scheduler.state_dict(), "epoch": 319, "args": args,
                "max_test_acc1": 67.04, "test_acc5_at_max_test_acc1": 87.2}, path)


def test_sew_imagenet_train_py_checkpoint_profiles_as_sew18(tmp_path):
    """``syops profile checkpoint_max.pth --dataset imagenet``, no --arch; -T 1 overrides the
    args' T = 4 only to keep the test fast (test_checkpoints covers T from the args)."""
    path = tmp_path / "checkpoint_max.pth"
    sew_train_py_checkpoint(path)
    result = invoke("profile", path, "--dataset", "imagenet", "-T", "1", "--format", "json",
                    "-v")
    assert result.exit_code == 0, result.stderr
    record, = json.loads(result.stdout)
    reference, = json_records("profile", "sew18", "--dataset", "imagenet", "-T", "1")
    assert record["model"] == "checkpoint_max.pth (sew18)" and record["T"] == 1
    assert "-T 1 overrides the checkpoint's T=4" in result.stderr
    assert record["macs"] == reference["macs"] and record["params"] == reference["params"]
    assert record["acs"] != reference["acs"]  # trained weights, not the random init
    assert "spiking_resnet18 with a connect function is sew18" in result.stderr
    assert "key layout: SEW ResNet authors'" in result.stderr


def test_sew_dvs_checkpoint_profiles_with_arch_sew7b(tmp_path):
    path = tmp_path / "checkpoint_max.pth"
    model = randomised(ResNetN((32,) * 7, 11))
    torch.save({"model": model.state_dict(), "epoch": 191, "max_test_acc": 0.97,
                "args": argparse.Namespace(model="DVSGNetSEW32", connect_f="add", T=16,
                                           T_train=12, device="cuda:2", lr=0.001)}, path)
    record, = json_records("profile", path, "--arch", "sew7b", "-T", "2", "--samples", "1")
    assert record["model"] == "checkpoint_max.pth (sew7b)" and record["T"] == 2
    reference, = json_records("profile", "sew7b", "-T", "2", "--samples", "1")
    assert record["macs"] == reference["macs"]


def test_spikingjelly_example_checkpoint_with_its_class_and_frames(tmp_path):
    (tmp_path / "nets.py").write_text(CSNN_NET)
    sys.path.insert(0, str(tmp_path))
    try:
        import nets
        state = nets.CSNN(T=4, channels=8).state_dict()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("nets", None)
    torch.save({"net": state, "optimizer": {}, "lr_scheduler": {}, "epoch": 63,
                "max_test_acc": 0.92}, tmp_path / "checkpoint_max.pth")
    frames = (np.random.default_rng(0).random((4, 4, 1, 28, 28)) < 0.3).astype(np.float32)
    np.savez(tmp_path / "frames.npz", frames=frames, labels=np.array([0, 1, 2, 3]))
    command = [sys.executable, "-m", "syops", "profile", "checkpoint_max.pth",
               "--arch", "nets.py:CSNN", "--arch-args", '{"T": 4, "channels": 8}',
               "--dataset", "frames.npz", "--time-first", "--batch-size", "2", "--format", "json"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    record, = json.loads(done.stdout)
    assert record["model"] == "checkpoint_max.pth (CSNN)" and record["samples"] == 4
    assert record["T"] == 4
    # the first conv sees the binary frames: ACs = ones x 8 channels x 9 taps (minus borders)
    conv = next(layer for layer in record["layers"] if layer["name"] == "conv_fc.0")
    assert conv["signal"] == "spike" and conv["acs"] > 0


# ------------------------------------------------------------------ user classes, exact counts
def test_user_class_and_npy_time_first_give_hand_derived_counts(tmp_path, tiny_net):
    checkpoint = tiny_checkpoint(tmp_path, tiny_net)
    np.save(tmp_path / "spikes.npy", SPIKES)
    record, = json_records("profile", checkpoint, "--arch", f"{tiny_net}:Tiny",
                           "--arch-args", '{"features": 4}', "--dataset", tmp_path / "spikes.npy",
                           "--time-first", "--batch-size", "2")
    assert record["samples"] == 2 and record["T"] == 3
    assert record["acs"] == ACS_PER_SAMPLE and record["macs"] == 0
    assert record["syops"] == 3 * 4 * 5  # dense: T x in x out per sample


def test_factory_and_package_module_specs(tmp_path, tiny_net, monkeypatch):
    checkpoint = tiny_checkpoint(tmp_path, tiny_net)
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text(TINY_NET)
    (package / "data.py").write_text(textwrap.dedent('''
        import torch
        SPIKES = torch.tensor(%s)

        def loader():
            return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(SPIKES), batch_size=1)

        def batches():
            yield SPIKES[:1], torch.tensor([3])
            yield {"x": SPIKES[1:], "y": torch.tensor([4])}
        ''' % SPIKES.tolist()))
    monkeypatch.chdir(tmp_path)
    for data in ("mypkg.data:loader", "mypkg.data:batches"):
        record, = json_records("profile", checkpoint, "--arch", "mypkg.models:make_tiny",
                               "--dataset", data, "--time-first")
        assert record["acs"] == ACS_PER_SAMPLE and record["samples"] == 2, data
    dataset = get_dataset("mypkg.data:batches")
    assert [label for _, label in dataset] == [3, 4]


@pytest.mark.parametrize("content", ["dict", "pair", "tensor", "npz"])
def test_tensor_files(tmp_path, content):
    x, y = torch.from_numpy(SPIKES), torch.tensor([1, 2])
    path = tmp_path / ("data.npz" if content == "npz" else "data.pt")
    if content == "npz":
        np.savez(path, inputs=SPIKES, targets=y.numpy())
    else:
        torch.save({"dict": {"frames": x, "labels": y}, "pair": (x, y), "tensor": x}[content], path)
    dataset = get_dataset(str(path))
    items = [dataset[i] for i in range(len(dataset))]
    assert torch.equal(torch.stack([item[0] for item in items]), x)
    assert [item[1] for item in items] == ([-1, -1] if content == "tensor" else [1, 2])
    assert dataset.info.sample_shape == (3, 4)


def test_bad_user_data_is_one_clean_line_naming_the_file(tmp_path, tiny_net, monkeypatch):
    checkpoint = tiny_checkpoint(tmp_path, tiny_net)
    run = ("profile", checkpoint, "--arch", f"{tiny_net}:Tiny", "--arch-args",
           '{"features": 4}', "--time-first", "--dataset")
    np.savez(tmp_path / "strings.npz", x=np.array(["a", "b"]))
    huge = tmp_path / "huge.npy"  # a header declaring 10^12 floats over 16 bytes of data
    with open(huge, "wb") as stream:
        np.lib.format.write_array_header_1_0(stream, {"descr": "<f4", "fortran_order": False,
                                                      "shape": (1000000, 1000000)})
        stream.write(b"\0" * 16)
    np.savez(tmp_path / "nameless.npz", a=SPIKES, b=SPIKES)
    torch.save({"x": torch.from_numpy(SPIKES), "y": torch.tensor([1, 2, 3])}, tmp_path / "y.pt")
    (tmp_path / "evil.pt").write_bytes(b"not a torch file")
    cases = {"strings.npz": "strings.npz", "huge.npy": "declares [1000000, 1000000]",
             "nameless.npz": "name the inputs x, inputs, data, frames",
             "y.pt": "expected [2] integers", "evil.pt": "weights_only=True",
             "missing.npz": "no such file"}
    for name, message in cases.items():
        result = invoke(*run, tmp_path / name)
        assert result.exit_code == 2, (name, result.stderr)
        line = one_error_line(result)
        assert name in line and message in line, line
    monkeypatch.setattr("syops.data.user.MAX_BYTES", 64)
    torch.save(torch.zeros(100), tmp_path / "big.pt")
    assert "declares" in one_error_line(invoke(*run, tmp_path / "big.pt"))


def test_bad_arch_specs(tmp_path, tiny_net):
    checkpoint = tiny_checkpoint(tmp_path, tiny_net)
    np.save(tmp_path / "spikes.npy", SPIKES)
    data = ("--dataset", tmp_path / "spikes.npy", "--time-first")
    cases = [
        (("--arch", f"{tiny_net}:Tiny"), "missing 1 required positional argument"),
        (("--arch", f"{tiny_net}:Tiny", "--arch-args", "[1]"), "must be a JSON object"),
        (("--arch", f"{tiny_net}:Tiny", "--arch-args", "{bad"), "not valid JSON"),
        (("--arch", f"{tiny_net}:Tiny", "--arch-args", '{"features": 6}'),
         "fc.weight has shape [5, 4] in the file, [5, 6]"),
        (("--arch", f"{tiny_net}:Tinny"), "did you mean Tiny"),
        (("--arch", f"{tmp_path}/none.py:Tiny"), "no such Python file"),
    ]
    for options, message in cases:
        result = invoke("profile", checkpoint, *options, *data)
        assert result.exit_code == 2, (options, result.stderr)
        assert message in one_error_line(result), options
    assert "--arch-args" in one_error_line(invoke("profile", checkpoint, *cases[0][0], *data))


def test_time_first_is_refused_for_reference_models():
    result = invoke("profile", "fsnn7", "--time-first")
    assert result.exit_code == 2 and "--time-first is for your own models" in one_error_line(result)


def test_data_root_does_not_apply_to_user_data(tmp_path, tiny_net):
    np.save(tmp_path / "spikes.npy", SPIKES)
    result = invoke("profile", f"{tiny_net}:make_tiny", "--dataset", tmp_path / "spikes.npy",
                    "--data-root", tmp_path, "--time-first")
    assert result.exit_code == 2 and "--data-root applies to named data sets" in \
        one_error_line(result)
    record, = json_records("profile", f"{tiny_net}:make_tiny", "--dataset",
                           tmp_path / "spikes.npy", "--time-first")
    assert record["weights"] == "random init" and record["acs"] == ACS_PER_SAMPLE
