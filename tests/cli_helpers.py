"""Small models and runners for the CLI tests (tests/ is on sys.path under pytest)."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from syops import register_neuron
from syops.cli.main import cli

EVENT_ARGS = ["--dataset", "dvs-gesture", "-T", "2"]
TINY_ARGS = [*EVENT_ARGS, "--trust-pickle"]  # for the pickled tiny model of the fixture


@register_neuron
class Fire(nn.Module):
    """A threshold neuron of the tests' own, declared to syops with ``register_neuron``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x > 0).float()


class TinyEventNet(nn.Module):
    """[B, T, 2, 128, 128] event frames -> 11 logits: a strided conv (multi-level input,
    MACs), a threshold neuron (spikes), a linear layer on the spikes (ACs). Cheap to count."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(2, 4, kernel_size=8, stride=8, bias=False),
                                  nn.BatchNorm2d(4))
        self.fire = Fire()
        self.fc = nn.Linear(4 * 16 * 16, 11)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, steps = x.shape[0], x.shape[1]
        spikes = self.fire(self.conv(x.flatten(0, 1)))
        return self.fc(spikes.flatten(1)).reshape(batch, steps, -1).mean(1)


def tiny_model() -> TinyEventNet:
    torch.manual_seed(0)
    return TinyEventNet().eval()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A pickled TinyEventNet file (it loads with --trust-pickle, in TINY_ARGS)."""
    path = tmp_path_factory.mktemp("models") / "tiny.pt"
    torch.save(tiny_model(), path)
    return path


def invoke(*args: str):
    """Run ``syops ARGS`` in-process; stdout and stderr are kept apart."""
    return CliRunner().invoke(cli, [str(a) for a in args])


def json_records(*args: str) -> list[dict]:
    result = invoke(*args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def one_error_line(result) -> str:
    """The single stderr line of a failed run (and no traceback)."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]
