"""Loading models from hostile or unusual files (issues 20, 24): the --trust-pickle allow-list,
state_dicts that fit no layout of a transformer, a checkpoint naming its parser's default
model, and ``--arch FILE.py:NAME`` inside a repository's package."""

from __future__ import annotations

import argparse
import code
import pathlib
import sys
import textwrap
import timeit

import pytest
import torch
from cli_helpers import invoke, json_records, one_error_line
from torch import nn

from syops.cli.loading import load_model
from syops.cli.pickles import allowed
from syops.models import create_model


class Gadget:
    """Pickles as a call of ``function(*args)``: what a malicious model file does."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def gadgets(marker: pathlib.Path) -> dict:
    return {
        "timeit.timeit": Gadget(timeit.timeit, f"open({str(marker)!r}, 'w')", "pass", None, 1),
        "pathlib.Path.write_text": Gadget(pathlib.Path.write_text, marker, "pwned"),
        "code.InteractiveInterpreter.runsource": Gadget(
            code.InteractiveInterpreter.runsource, code.InteractiveInterpreter(),
            f"open({str(marker)!r}, 'w')"),
        "torch.load": Gadget(torch.load, str(marker)),
    }


@pytest.mark.parametrize("name", ["timeit.timeit", "pathlib.Path.write_text",
                                  "code.InteractiveInterpreter.runsource", "torch.load"])
def test_trust_pickle_refuses_every_function_a_model_does_not_need(tmp_path, name):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    torch.save({"model": gadgets(marker)[name]}, path, pickle_protocol=4)  # qualified names
    result = invoke("profile", path, "--arch", "fsnn7", "--trust-pickle", "-T", "2")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "refused even with --trust-pickle" in line and name.split(".")[-1] in line, line
    assert not marker.exists()


def test_the_allow_list_takes_what_models_pickle():
    from spikingjelly.activation_based import neuron
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), neuron.IFNode())
    import io
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    path = pathlib.Path(sys.modules[__name__].__file__).with_name("_pickled_model.pt")
    try:
        path.write_bytes(buffer.getvalue())
        loaded = load_model(str(path), trust_pickle=True)
    finally:
        path.unlink()
    assert isinstance(loaded.module[2], neuron.IFNode)
    assert allowed(torch.float32, "torch") and allowed(torch._utils._rebuild_tensor_v2, "torch")
    assert allowed(argparse.Namespace, "argparse") and allowed(nn.Linear, "torch.nn")
    assert not allowed(torch.save, "torch") and not allowed(eval, "builtins")
    assert not allowed(pathlib.Path, "pathlib") and not allowed(print, "builtins")


@pytest.mark.parametrize("arch", ["spikformer_4_384", "sdt_8_512", "spikingformer_8_512"])
def test_a_state_dict_in_no_known_layout_does_not_fit_a_transformer(tmp_path, arch):
    path = tmp_path / "official.pth"
    torch.save({"patch_embed.proj_conv.weight": torch.zeros(48, 3, 3, 3)}, path)
    result = invoke("profile", path, "--arch", arch, "-q")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert f"does not fit {arch}: missing keys" in line and "internal error" not in line


def test_a_parser_default_model_name_gets_a_hint_to_pass_arch(tmp_path):
    path = tmp_path / "checkpoint.pth"
    torch.save({"model": create_model("spikformer_4_384").state_dict(),
                "args": argparse.Namespace(model="resnet101")}, path)
    line = one_error_line(invoke("profile", path, "-q"))
    assert "does not fit resnet101" in line
    assert "may be its training script's default" in line and "pass --arch NAME" in line


REPO_MODULE = '''
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.fc = nn.Linear(features, features, bias=False)

    def forward(self, x):
        return (self.fc(x) > 0).float()
'''
REPO_MODEL = '''
from module import *  # the repository's root package, as the Spike-Driven Transformer does


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block(4)
        self.head = nn.Linear(4, 3, bias=False)

    def forward(self, x):
        return self.head(self.block(x))
'''


def test_arch_file_inside_a_package_imports_from_its_repository_root(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / "module").mkdir(parents=True)
    (repo / "model").mkdir()
    (repo / "module" / "__init__.py").write_text(textwrap.dedent(REPO_MODULE))
    (repo / "model" / "__init__.py").write_text("")
    (repo / "model" / "net.py").write_text(textwrap.dedent(REPO_MODEL))
    torch.save(torch.ones(3, 4), tmp_path / "x.pt")
    elsewhere = tmp_path / "work"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    path_before = list(sys.path)
    try:
        record, = json_records("profile", repo / "model" / "net.py:Net", "--dataset",
                               tmp_path / "x.pt")
    finally:
        for name in [n for n in sys.modules if n == "module" or n.startswith("model")]:
            del sys.modules[name]
    assert sys.path == path_before      # the repository's folders were on it only to import
    # binary inputs: block.fc costs 4 inputs x 4 outputs = 16 ACs per sample, the head 3 per
    # spike of the block (at most 4): 16..28 ACs, no MACs
    assert record["samples"] == 3 and record["macs"] == 0 and 16 <= record["acs"] <= 28
