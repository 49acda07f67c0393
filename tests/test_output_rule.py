"""One rule for every output (issue 24): ``-o``, ``--plot`` and ``--save-to`` may not name a
file the run reads (model, --arch source, --dataset file, --data-root tree, --energy,
--resume), directly, through a symlink or through a hard link, nor another output. Each case
runs the real command in-process; the check comes before any work, and the victim must be
byte for byte unchanged."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import invoke, one_error_line

from syops.cli.errors import UsageError
from syops.cli.paths import check_output_paths, run_inputs
from syops.models import create_model

NET = "import torch\nclass Net(torch.nn.Module):\n    pass\n"
INPUTS = {  # input -> (victim file, options naming it, what the message calls it)
    "model": ("victim.pt", [], "the model file"),
    "arch": ("net.py", ["--arch", "{d}/net.py:Net"], "the --arch source"),
    "dataset": ("data.npy", ["--dataset", "{d}/data.npy"], "the --dataset file"),
    "data-root": ("root/sample.npz", ["--data-root", "{d}/root"], "inside --data-root"),
    "energy": ("costs.toml", ["--energy", "{d}/costs.toml"], "the --energy file"),
    "resume": ("partial.json", ["--resume", "{d}/partial.json"], "the --resume file"),
}
OUTPUTS = {"-o": ["-o"], "--plot": ["--plot"], "--save-to": ["--save-every", "1", "--save-to"]}
WAYS = ("direct", "symlink", "hardlink")


def victims(d: Path) -> None:
    torch.save(create_model("fsnn7").state_dict(), d / "victim.pt")
    (d / "net.py").write_text(NET)
    np.save(d / "data.npy", np.zeros((2, 4), np.float32))
    (d / "root").mkdir()
    np.savez(d / "root" / "sample.npz", frames=np.zeros((2, 2)))
    (d / "costs.toml").write_text("ac_pj = 0.9\nmac_pj = 4.6\n")
    (d / "partial.json").write_text(json.dumps({"format": "syops-partial/1"}))


def output_path(d: Path, victim: str, output: str, way: str) -> str:
    """The output argument naming ``victim`` the ``way`` asked (a .png name for --plot)."""
    if way == "direct" and output != "--plot":
        return str(d / victim)
    name = d / f"out{'.png' if output == '--plot' else '.json'}"
    if way == "hardlink":
        os.link(d / victim, name)
    else:
        name.symlink_to(d / victim)
    return str(name)


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("source", INPUTS)
def test_no_output_names_an_input(tmp_path, source, output, way):
    if (source, output) == ("resume", "--save-to"):
        pytest.skip("a resumed run saves where it resumed from (the next test)")
    victims(tmp_path)
    victim, options, what = INPUTS[source]
    before = (tmp_path / victim).read_bytes()
    target = output_path(tmp_path, victim, output, way)
    options = [o.replace("{d}", str(tmp_path)) for o in options]
    result = invoke("profile", tmp_path / "victim.pt", "--arch", "fsnn7", *options,
                    *OUTPUTS[output], target, "-q")
    assert result.exit_code == 2, result.stderr
    line = one_error_line(result)
    assert what in line and output.lstrip("-") in line, line
    assert (tmp_path / victim).read_bytes() == before


@pytest.mark.parametrize("first,second", [("-o", "--plot"), ("-o", "--save-to"),
                                          ("--plot", "--save-to")])
@pytest.mark.parametrize("way", ("direct", "symlink"))
def test_no_output_names_another_output(tmp_path, first, second, way):
    path = tmp_path / "out.png"
    other = path
    if way == "symlink":
        other = tmp_path / "link.png"
        other.symlink_to(path)
    result = invoke("profile", "fsnn7", "-T", "2", *OUTPUTS[first], path, *OUTPUTS[second],
                    other, "-q")
    assert result.exit_code == 2
    assert "name the same file" in one_error_line(result)
    assert not path.exists()


def test_save_to_may_be_the_resume_file_and_names_are_not_inputs(tmp_path):
    partial = str(tmp_path / "partial.json")
    check_output_paths({"--save-to": partial}, run_inputs(["fsnn7"], resume=partial,
                                                          dataset="dvs-gesture"),
                       [("--save-to", "the --resume file")])
    with pytest.raises(UsageError, match="the --resume file"):
        check_output_paths({"--output": partial}, run_inputs(["fsnn7"], resume=partial))
    assert run_inputs(["fsnn7"], arch="pkg.module:Net")["the --arch source"] is None
