"""Issue 21: statistics are computed once per tensor and shared (a neuron's output and the
layer it feeds), and sharing never changes a figure: a tensor modified in place after it was
measured, a different tensor, or an inference tensor is measured again."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from spikingjelly.activation_based import functional, layer, neuron
from torch import nn

import syops
from syops.engine import reuse
from syops.engine.reuse import StatisticsCache, same_values
from syops.engine.spikes import flat_statistics
from syops.models import create_model, model_info


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def test_views_over_the_same_memory_hold_the_same_values():
    y = torch.rand(2, 3, 4)
    assert same_values(y, y)
    assert same_values(y.flatten(0, 1), y)
    assert same_values(y.transpose(0, 2), y)            # permuted, every element once
    assert same_values(y.view(6, 4), y.reshape(4, 6))   # two views of one base
    assert not same_values(y[:1], y)                    # part of it
    assert not same_values(y[:, :2].reshape(-1)[:8], y[:, :2])
    assert not same_values(y.clone(), y)                # equal values, other memory
    assert not same_values(y.expand(2, 2, 3, 4)[0], y.double())


def test_the_cache_measures_a_tensor_once_and_again_after_an_in_place_change():
    cache, calls = StatisticsCache(), []

    def compute(t):
        calls.append(t)
        return flat_statistics(t)

    y = (torch.rand(3, 5) < 0.5).float()
    first = cache.get(y, compute)
    assert cache.get(y.flatten(), compute) is first and len(calls) == 1
    y.mul_(2)
    again = cache.get(y.flatten(), compute)
    assert len(calls) == 2 and again[0] == 2 * first[0]
    with torch.inference_mode():
        z = torch.ones(4)
    cache.get(z, compute), cache.get(z, compute)
    assert len(calls) == 4   # no version counter: every call measured


def conv_net() -> nn.Module:
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), neuron.IFNode(),
                          nn.Conv2d(4, 4, 3, padding=1), neuron.IFNode(),
                          nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    with torch.no_grad():
        for m in (model[0], model[2]):
            m.weight.abs_()
    return model


def data() -> torch.Tensor:
    torch.manual_seed(7)
    return (torch.rand(4, 2, 6, 6) < 0.4).float() * 3.0


@pytest.mark.parametrize("grad_mode", [torch.no_grad, torch.inference_mode])
def test_a_pre_hook_doubling_a_neuron_output_in_place_is_seen(grad_mode):
    """The IF layer emits spikes; the next conv's pre-hook doubles them in place: the IF
    keeps its spike count, the conv gets {0, 2}: every dense pair is a MAC."""
    model, x = conv_net(), data()
    plain = syops.count_syops(model, [x])
    model[2].register_forward_pre_hook(lambda m, a: a[0].mul_(2.0))
    with grad_mode():
        doubled = syops.count_syops(model, [x])
    before = {n.name: n.spikes for n in plain.neuron_counts}
    after = {n.name: n.spikes for n in doubled.neuron_counts}
    assert before["1"] == after["1"] > 0   # what IF "1" emitted, before the doubling
    conv = {c.name: c for c in doubled.layer_counts}["2"]
    assert conv.acs == 0 and conv.mac_syops == 4 * (4 * 6 * 6) * (4 * 3 * 3)


def test_sharing_changes_no_figure(monkeypatch):
    """A reference model's whole report is the same with every tensor measured anew."""
    model = create_model("sew7b").eval()
    images = model_info("sew7b").example_input(3)
    shared = syops.count_syops(model, [images[:2], images[2:]]).to_dict()
    computed = []

    def always(self, x, compute):
        computed.append(x)
        return compute(x)

    monkeypatch.setattr(StatisticsCache, "get", always)
    functional.reset_net(model)
    anew = syops.count_syops(model, [images[:2], images[2:]]).to_dict()
    assert computed
    assert json.dumps(shared, sort_keys=True) == json.dumps(anew, sort_keys=True)


def test_a_neuron_output_feeding_a_conv_is_measured_once(monkeypatch):
    """Multi-step SpikingJelly: IF(x_seq) feeds SeqToANNContainer's flatten(0, 1) view."""
    torch.manual_seed(0)
    model = nn.Sequential(layer.SeqToANNContainer(nn.Conv2d(2, 4, 3)), neuron.IFNode(),
                          layer.SeqToANNContainer(nn.Conv2d(4, 4, 3)), neuron.IFNode())
    functional.set_step_mode(model, "m")
    measured = []
    original = reuse.StatisticsCache.get

    def counting(self, x, compute):
        return original(self, x, lambda t: measured.append(t.shape) or compute(t))

    monkeypatch.setattr(reuse.StatisticsCache, "get", counting)
    syops.count_syops(model, [(torch.rand(3, 2, 2, 8, 8) < 0.5).float()], time_first=True)
    # the data into the first conv, each IF's output (the second conv's input is the first)
    assert len(measured) == 3, measured
