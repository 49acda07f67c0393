"""Issue 17, root cause 2: the type probe runs every model whose plain forward runs (it runs
the real modules), a probe failure never changes BatchNorm folding nor the MAC count, and it
tracks the data inside ``torch.inference_mode()``. Counts are derived by hand."""

from __future__ import annotations

import threading
import warnings

import pytest
import torch
import torch.nn.functional as F
from spikingjelly.activation_based import layer, neuron
from torch import nn

from syops import count_syops
from syops.engine.probe import run_probe
from syops.engine.rules import rule_for

snn = pytest.importorskip("snntorch")


def counted(model: nn.Module, data, **options):
    """count_syops with every warning an error: the probe must run and say nothing."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = count_syops(model, data, **options)
    assert report.classification == "probe" and not report.warnings
    assert all("forward" not in vars(m) for m in model.modules())   # the model untouched
    assert all(p.requires_grad for p in model.parameters())
    return report


def probe(model: nn.Module, *args, batch_dim: int | None = None):
    layers = {m: (name, rule_for(m)) for name, m in model.named_modules()
              if rule_for(m) is not None and rule_for(m).synaptic}
    return run_probe(model, layers, args, {}, batch_dim=batch_dim)


def images(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) + 0.1


# --- snnTorch tutorial style: states initialised in forward ------------------------------
class Tutorial(nn.Module):
    """conv-BN-Leaky-linear with the time loop in forward and ``mem = lif.init_leaky()``."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.lif = snn.Leaky(beta=0.9)
        self.fc = nn.Linear(64, 2, bias=False)

    def forward(self, x):                       # [T, B, 1, 4, 4]
        mem = self.lif.init_leaky()
        out = []
        for step in x:
            spk, mem = self.lif(self.bn(self.conv(step)), mem)
            out.append(self.fc(spk.flatten(1)))
        return torch.stack(out)


def test_snntorch_init_leaky_in_forward_folds_the_batchnorm():
    model = Tutorial().eval()
    spikes = []
    model.lif.register_forward_hook(lambda m, a, out: spikes.append(float(out[0].sum())))
    report = counted(model, images(3, 2, 1, 4, 4), batch_dim=1)
    rows = report.layers.set_index("name")
    # conv on images, T = 3 steps: 4 x 4 outputs x 4 channels x 9 = 576 MACs a step; the BN
    # folds into it (no row, no MACs); the linear takes spikes: 2 weights per spike.
    assert "bn" not in rows.index and report.macs == 3 * 576
    assert rows.loc["fc", "acs"] * 2 == 2 * sum(spikes)        # per sample x 2 samples


class RecurrentTutorial(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(2)
        self.lif = snn.RLeaky(beta=0.9, linear_features=32)
        self.fc = nn.Linear(32, 2, bias=False)

    def forward(self, x):                       # [T, B, 1, 4, 4]
        spk, mem = self.lif.init_rleaky()
        out = []
        for step in x:
            spk, mem = self.lif(self.bn(self.conv(step)).flatten(1), spk, mem)
            out.append(self.fc(spk))
        return torch.stack(out)


def test_snntorch_init_rleaky_in_forward_folds_the_batchnorm():
    report = counted(RecurrentTutorial().eval(), images(3, 2, 1, 4, 4), batch_dim=1)
    rows = report.layers.set_index("name")
    # conv: 4 x 4 x 2 channels x 9 = 288 MACs a step, 3 steps; the recurrent linear and the
    # classifier take spikes (ACs only)
    assert "bn" not in rows.index and report.macs == 3 * 288
    assert set(rows.signal) == {"multi-level", "spike"}
    assert rows.loc["lif.recurrent", "signal"] == rows.loc["fc", "signal"] == "spike"


# --- a forward that reads a neuron's attribute -----------------------------------------
class ReadsThreshold(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = layer.Conv2d(1, 4, 3, padding=1, bias=False, step_mode="m")
        self.sn = neuron.IFNode(v_threshold=100.0, step_mode="m")   # silent on real data
        self.fc = layer.Linear(64, 2, bias=False, step_mode="m")

    def forward(self, x):                       # [T, B, 1, 4, 4]
        if self.sn.v_threshold <= 0:
            raise ValueError("the threshold must be positive")
        s = self.sn(self.conv(x))
        return self.fc((s + s).flatten(2))      # SEW ADD: multi-level by architecture


def test_a_sum_of_spikes_stays_multi_level_when_forward_reads_the_neuron():
    report = counted(ReadsThreshold().eval(), images(3, 2, 1, 4, 4), batch_dim=1)
    rows = report.layers.set_index("name")
    # conv 3 x 576 MACs on images; the silent neuron's ADD sum is all zeros on this data,
    # yet multi-level by architecture: the linear costs 3 steps x 64 x 2 = 384 MACs
    assert rows.loc["fc", "signal"] == "multi-level"
    assert (report.macs, report.acs) == (3 * 576 + 384, 0)


class ReadsMembrane(nn.Module):
    """Reads the neuron's membrane after the call (a float until the neuron has run)."""

    def __init__(self):
        super().__init__()
        self.conv = layer.Conv2d(1, 4, 3, padding=1, bias=False, step_mode="m")
        self.sn = neuron.IFNode(step_mode="m")
        self.fc = layer.Linear(64, 2, bias=False, step_mode="m")

    def forward(self, x):                       # [T, B, 1, 4, 4]
        s = self.sn(self.conv(x))
        return self.fc(s.flatten(2)) + self.sn.v.flatten(1).mean()


def test_a_forward_that_reads_a_neurons_state_after_the_call():
    report = counted(ReadsMembrane().eval(), images(3, 2, 1, 4, 4), batch_dim=1)
    rows = report.layers.set_index("name")
    assert report.macs == 3 * 576 and rows.loc["fc", "signal"] == "spike"


# --- Meta-SpikeFormer's BN-and-pad layer ---------------------------------------------------
class PadWithBatchNorm(nn.Module):
    """A replica of Meta-SpikeFormer's ``BNAndPadLayer`` from its description: a BatchNorm,
    then a border of ``pad`` pixels filled with what the BatchNorm makes of a zero input
    (``bias - running_mean * weight / sqrt(running_var + eps)``), read from ``bn``'s
    attributes, so the unpadded conv after it sees a folded conv's zero padding."""

    def __init__(self, pad: int, features: int):
        super().__init__()
        self.bn, self.pad = nn.BatchNorm2d(features), pad

    def forward(self, x):
        out, bn, pad = self.bn(x), self.bn, self.pad
        if pad == 0:
            return out
        scale = 1 / torch.sqrt(bn.running_var + bn.eps)
        if bn.affine:
            scale = bn.weight * scale
        fill = (bn.bias if bn.affine else 0) - bn.running_mean * scale
        out = F.pad(out, [pad] * 4)
        border = torch.ones_like(out, dtype=torch.bool)
        border[..., pad:-pad, pad:-pad] = False
        return torch.where(border, fill.view(1, -1, 1, 1), out)


class RepConv(nn.Module):
    """conv 1x1, BN-and-pad, then depthwise 3x3 (no padding), conv 1x1 and BN."""

    def __init__(self, channels: int, out_channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 1, bias=False), PadWithBatchNorm(1, channels),
            nn.Sequential(nn.Conv2d(channels, channels, 3, groups=channels, bias=False),
                          nn.Conv2d(channels, out_channels, 1, bias=False),
                          nn.BatchNorm2d(out_channels)))

    def forward(self, x):
        return self.body(x)


def test_meta_spikeformer_bn_and_pad_folds_its_batchnorm():
    torch.manual_seed(0)
    model = nn.Sequential(neuron.IFNode(), RepConv(4, 4)).eval()
    x = torch.where(torch.rand(2, 4, 4, 4) < 0.3, 1.5, 0.5)   # IF fires where 1.5 (>= 1)
    report = counted(model, x)
    rows = report.layers.set_index("name")
    # every BatchNorm folds (none has a row); the first 1x1 conv takes spikes: each meets
    # 4 weights. Depthwise 3x3 on the padded 6 x 6: 4 x 4 outputs x 4 channels x 9 = 576
    # MACs; the last 1x1: 16 x 4 x 4 = 256 MACs.
    assert list(rows.index) == ["1.body.0", "1.body.2.0", "1.body.2.1"]
    assert report.macs == 576 + 256
    assert report.acs * 2 == 4 * int((x == 1.5).sum())


# --- a U-Net decoder: ConvTranspose2d(x, output_size=...) -------------------------------
class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.down = nn.Conv2d(1, 2, 3, stride=2, padding=1, bias=False)
        self.up = nn.ConvTranspose2d(2, 1, 3, stride=2, padding=1, bias=False)
        self.out = nn.Conv2d(2, 1, 3, padding=1, bias=False)

    def forward(self, x):                       # [B, 1, 5, 6]
        skip = x
        u = self.up(self.down(x), output_size=skip.shape[-2:])
        return self.out(torch.cat([u, skip], 1))


def test_a_unet_decoder_matching_its_skip_size():
    report = counted(Decoder().eval(), images(2, 1, 5, 6))
    # down: 3 x 3 outputs x 2 channels x 9 = 162. up, on the input side: the default output
    # is 5 x 5; output_size 5 x 6 pads one column. Input i reaches output 2i - 1 + j
    # (j = 0..2): rows 2 + 3 + 2 = 7 taps inside 5, columns 2 + 3 + 3 = 8 inside 6;
    # 2 channels x 7 x 8 x 1 = 112. out: 5 x 6 x 1 x (2 x 9) = 540.
    rows = report.layers.set_index("name")
    assert (rows.loc["down", "macs"], rows.loc["up", "macs"], rows.loc["out", "macs"]) == \
        (162, 112, 540)


# --- a forward that fails on random values -------------------------------------------------
class Picky(nn.Module):
    """Refuses activations above 0.1 (its weights keep real ones below), after a BN applied
    in forward: the probe's random values fail it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.sn = neuron.IFNode(v_threshold=0.01)
        self.fc = nn.Linear(64, 2, bias=False)
        nn.init.constant_(self.conv.weight, 0.001)

    def forward(self, x):                       # [B, 1, 4, 4], values below 1
        h = self.conv(x)
        if h.abs().max() > 0.1:
            raise ValueError("activations out of range")
        return self.fc(self.sn(self.bn(h)).flatten(1))


def test_a_probe_failure_keeps_the_folds():
    model = Picky().eval()
    x = images(2, 1, 4, 4) * 0.5
    found = probe(model, x)
    assert found.failure == "ValueError: activations out of range"
    assert found.folds == {model.bn}
    with pytest.warns(UserWarning, match="activations out of range"):
        report = count_syops(model, x)
    rows = report.layers.set_index("name")
    assert report.classification == "observed"
    assert "bn" not in rows.index and report.macs == 576     # conv 16 x 4 x 9, BN folded


# --- inference_mode, batch sizes fixed in the model, uncopyable attributes -----------------
def test_the_data_is_tracked_inside_inference_mode():
    model = nn.Sequential(layer.Conv2d(1, 2, 1, step_mode="m"), neuron.IFNode(step_mode="m"))
    one, two = torch.ones(1, 1, 1, 1, 1), torch.full((1, 1, 1, 1, 1), 2.0)
    with torch.inference_mode():
        assert ("0", 0) in probe(model, one).data_fed
    for batches in ([one, two], [two, one]):
        with torch.no_grad():
            plain = count_syops(model, batches, batch_dim=1)
        with torch.inference_mode():
            inference = count_syops(model, batches, batch_dim=1)
        # conv 1 -> 2 channels, 1 x 1: 2 MACs a sample (2.0 is no spike: the site is
        # multi-level for the run)
        assert (plain.macs, plain.acs) == (inference.macs, inference.acs) == (2, 0)


class FixedBatch(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 2)
        self.lock = threading.Lock()            # cannot be copied: shared with the copy

    def forward(self, x):                       # [2, 3]: the batch size is part of the model
        with self.lock:
            return self.fc(x.reshape(1, 6))


def test_the_probe_runs_the_whole_batch_where_one_sample_does_not_run():
    model = FixedBatch()
    found = probe(model, images(2, 3), batch_dim=0)
    assert found.failure is None and found.binary == {"fc": {0: False}}
    report = counted(model, images(2, 3))
    assert report.macs * 2 == 12                # one call of 6 x 2 for the 2 samples


def test_a_sinabs_neuron_that_copies_itself_badly_is_not_wrapped_in_the_model():
    """Sinabs' IAFRecurrent.__deepcopy__ rebuilds the layer around the very same recurrent
    module (and fails on it): the probe copies module by module instead."""
    sl = pytest.importorskip("sinabs.layers")
    recurrent = nn.Linear(3, 3, bias=False)
    model = nn.Sequential(nn.Linear(2, 3, bias=False),
                          sl.IAFRecurrent(rec_connect=recurrent)).eval()
    found = probe(model, images(1, 4, 2))
    assert found.failure is None and set(found.binary) == {"0", "1.rec_connect"}
    assert all("forward" not in vars(m) for m in model.modules())


class Hungry(nn.Module):
    calls: list[int] = []                       # on the class: the probe's copy shares it

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        self.calls.append(len(x))
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate")


def test_the_probe_does_not_retry_when_memory_runs_out():
    model = Hungry()
    with pytest.raises(RuntimeError, match="can't allocate memory"):
        probe(model, images(4, 3), batch_dim=0)
    assert model.calls == [1]                   # one sample, once: no larger retry
