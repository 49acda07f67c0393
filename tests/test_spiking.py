"""SpikingJelly networks: time steps, per-sample figures, and the type probe."""

import pytest
import torch
from torch import nn

from syops import count_syops

sj = pytest.importorskip("spikingjelly.activation_based")
from spikingjelly.activation_based import layer, neuron  # noqa: E402

T = 4


def multi_step_layers() -> nn.Sequential:
    """SpikingJelly's own multi-step layers: hooks see [T, B, ...] inputs."""
    return nn.Sequential(
        layer.Conv2d(2, 4, 3, padding=1, step_mode="m"), layer.BatchNorm2d(4, step_mode="m"),
        neuron.IFNode(v_threshold=0.3, step_mode="m"),
        layer.Flatten(step_mode="m"), layer.Linear(4 * 36, 3, step_mode="m"))


def seq_to_ann_layers(twin: nn.Sequential) -> nn.Sequential:
    """The same network with plain layers in SeqToANNContainer: hooks see [T*B, ...]."""
    conv, bn = nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4)
    conv.load_state_dict(twin[0].state_dict())
    bn.load_state_dict(twin[1].state_dict())
    fc = nn.Linear(4 * 36, 3)
    fc.load_state_dict(twin[4].state_dict())
    return nn.Sequential(layer.SeqToANNContainer(conv, bn),
                         neuron.IFNode(v_threshold=0.3, step_mode="m"),
                         layer.SeqToANNContainer(nn.Flatten(), fc))


def time_first_spikes(batch: int, seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    return (torch.rand(T, batch, 2, 6, 6) < 0.4).float()


def totals(report):
    return report.acs, report.macs, report.syops, report.firing_rate


def test_multi_step_layers_and_seq_to_ann_count_the_same_per_sample():
    torch.manual_seed(0)
    a = multi_step_layers()
    b = seq_to_ann_layers(a)
    x = time_first_spikes(3)
    ra, rb = count_syops(a, x, batch_dim=1), count_syops(b, x, batch_dim=1)
    assert ra.samples == rb.samples == 3
    assert totals(ra) == totals(rb)
    # conv: T x 36 outputs x 4 channels x (2 x 9) = 10368 dense per sample
    assert ra.layers.iloc[0].syops == T * 36 * 4 * 18 == 10368
    assert list(ra.layers.input_shape) == [(T, 3, 2, 6, 6), (T, 3, 144)]
    assert list(rb.layers.input_shape) == [(T * 3, 2, 6, 6), (T * 3, 144)]


class BatchFirst(nn.Module):
    """Takes [B, T, ...] and feeds the multi-step body [T, B, ...] (as the 7B nets do)."""

    def __init__(self):
        super().__init__()
        self.body = multi_step_layers()

    def forward(self, x):
        return self.body(x.transpose(0, 1)).mean(0)


def test_batches_of_1_and_of_3_give_identical_per_sample_counts():
    torch.manual_seed(0)
    model = BatchFirst()
    images = time_first_spikes(3, seed=1).transpose(0, 1).contiguous()  # [B=3, T, ...]
    together = count_syops(model, [images])
    one_by_one = count_syops(model, [images[i:i + 1] for i in range(3)])
    assert together.samples == one_by_one.samples == 3
    assert totals(together) == totals(one_by_one)
    assert together.layers.acs.tolist() == one_by_one.layers.acs.tolist()


class SilentSewBlock(nn.Module):
    """conv-BN-IF, then SEW's ADD connect: out + identity is a sum of spikes."""

    def __init__(self):
        super().__init__()
        self.stem = layer.SeqToANNContainer(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4))
        self.sn0 = neuron.IFNode(step_mode="m")
        self.conv = layer.SeqToANNContainer(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4))
        self.sn1 = neuron.IFNode(step_mode="m")
        self.after_add = layer.SeqToANNContainer(nn.Conv2d(4, 4, 1))
        self.fc = nn.Linear(4 * 36, 3)
        for m in self.modules():  # conv weights so negative that every neuron stays silent
            if isinstance(m, nn.Conv2d):
                nn.init.constant_(m.weight, -1.0)
                nn.init.constant_(m.bias, -1.0)

    def forward(self, x):
        s = self.sn0(self.stem(x))
        added = self.sn1(self.conv(s)) + s  # ADD: multi-level by architecture
        return self.after_add(added), self.fc(added.flatten(2).mean(0))


def test_add_output_of_a_silent_sew_block_is_still_multi_level():
    model = SilentSewBlock()
    x = time_first_spikes(2)
    probed = count_syops(model, x, batch_dim=1).layers.set_index("name")
    observed = count_syops(model, x, batch_dim=1, classify="observed").layers.set_index("name")
    # silent neurons: the ADD output and the classifier input are all zeros...
    assert observed.loc["after_add.0", "signal"] == "spike"
    assert observed.loc["fc", "signal"] == "spike"
    # ...but the architecture makes them multi-level: dense MACs
    assert probed.loc["after_add.0", "signal"] == "multi-level"
    assert probed.loc["after_add.0", "macs"] == T * 36 * 4 * 4  # = 2304 per sample
    assert probed.loc["fc", "signal"] == "multi-level"
    assert probed.loc["fc", "macs"] == 144 * 3
    # the conv after the neuron does take spikes
    assert probed.loc["conv.0", "signal"] == "spike"


class MeanOverTimeHead(nn.Module):
    """Spikes averaged over T feed the classifier (the reference models' head)."""

    def __init__(self):
        super().__init__()
        self.stem = layer.SeqToANNContainer(nn.Conv2d(2, 4, 3, padding=1))
        self.sn = neuron.IFNode(v_threshold=1e9, step_mode="m")  # never fires
        self.fc = nn.Linear(4 * 36, 3)

    def forward(self, x):
        return self.fc(self.sn(self.stem(x)).flatten(2).mean(0))


def test_time_averaged_classifier_input_is_multi_level_unless_T_is_1():
    model = MeanOverTimeHead()
    x = time_first_spikes(2)
    assert count_syops(model, x, batch_dim=1).layers.iloc[1].signal == "multi-level"
    # with one time step the mean of spikes is itself binary
    assert count_syops(model, x[:1], batch_dim=1).layers.iloc[1].signal == "spike"
