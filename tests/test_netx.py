"""lava-dl netx networks and numpy-only pickles, read from small files in those formats."""

import os
import pickle

import numpy as np
import pytest
import torch
from netx_writer import CUBA, conv, dense, flatten, input_layer, write_arrays, write_netx
from torch import nn

from syops import count_syops
from syops.models.netx import CubaNode, read_netx
from syops.models.numpy_pickle import load_arrays


def tiny_netx(path):
    # input 2 x 6 x 6 neurons; conv 2 -> 4, 3 x 3, out 4 x 4 x 4; flatten 64; dense 64 -> 3
    write_netx(path, [input_layer([2, 6, 6]), conv(2, 4, [4, 4]), flatten(64), dense(64, 3)],
               t_sample=4)


def test_a_netx_file_becomes_a_module_syops_counts(tmp_path):
    tiny_netx(tmp_path / "network.net")
    network = read_netx(tmp_path / "network.net")
    assert (network.input_shape, network.steps, network.neuron_types) == \
        ((2, 6, 6), 4, ("LOIHI", "LOIHI", "LOIHI"))
    report = count_syops(network.module, torch.rand(4, 1, 2, 6, 6), batch_dim=1)
    # dense SyOPs per step: conv 64 outputs x 18 fan-in = 1152, dense 64 x 3 = 192; T = 4
    assert report.spike_syops + report.macs == 4 * (1152 + 192)
    # neuron updates: (72 input + 64 conv + 3 dense) neurons x 4 steps
    assert report.neuron_updates == 4 * (72 + 64 + 3)
    assert [c.type for c in report.layer_counts] == ["Conv2d", "Linear"]


def test_weights_and_geometry_are_the_files(tmp_path):
    layers = [input_layer([3, 9, 9]), conv(3, 5, [4, 5], stride=(2, 1), padding=(0, 0))]
    write_netx(tmp_path / "n.net", layers)
    module = read_netx(tmp_path / "n.net").module
    conv2d = module[2]
    assert (conv2d.stride, conv2d.padding, conv2d.in_channels) == ((2, 1), (0, 0), 3)
    np.testing.assert_array_equal(conv2d.weight.detach().numpy(), layers[1]["weight"])
    out = module(torch.rand(2, 1, 3, 9, 9))
    assert out.shape == (2, 1, 5, 4, 7)  # H (9 - 3) / 2 + 1 = 4, W 9 - 3 + 1 = 7


def test_sdnn_neurons_are_graded_relus_and_a_one_output_dense_is_reshaped(tmp_path):
    sdnn = {"type": b"SDNN", "vThMant": 6, "activation": b"relu"}
    write_netx(tmp_path / "n.net", [conv(3, 4, [2, 2], neuron=sdnn), flatten(16),
                                    dense(16, 1, neuron=sdnn)])
    network = read_netx(tmp_path / "n.net")
    assert network.neuron_types == ("SDNN", "SDNN") and network.steps is None
    assert network.input_shape == (3,)  # input layer skipped: the first conv's channels
    assert isinstance(network.module[1], nn.ReLU)
    assert network.module[3].weight.shape == (1, 16)


def test_cuba_neuron_by_hand():
    node = CubaNode(threshold=10.0, current_decay=0.5, voltage_decay=0.0)
    spikes = node(torch.full((4, 1), 4.0)).reshape(-1).tolist()
    # i: 4, 6, 7, 7.5; v: 4, 10 (spike, reset), 7, 14.5 (spike)
    assert spikes == [0.0, 1.0, 0.0, 1.0]


@pytest.mark.parametrize("layers, message", [
    ([{"type": [b"pool"], "shape": np.array([1, 2, 2])}], "type 'pool'"),
    ([dense(4, 2, neuron={**CUBA, "type": b"RF"})], "neuron type 'RF'"),
])
def test_unsupported_layers_say_so(tmp_path, layers, message):
    write_netx(tmp_path / "n.net", layers)
    with pytest.raises(ValueError, match=message):
        read_netx(tmp_path / "n.net")


def test_files_that_are_not_netx(tmp_path):
    (tmp_path / "text.net").write_text("not hdf5")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        read_netx(tmp_path / "text.net")
    import h5py
    with h5py.File(tmp_path / "empty.net", "w") as file:
        file["x"] = 1
    with pytest.raises(ValueError, match="no 'layer' group"):
        read_netx(tmp_path / "empty.net")
    with pytest.raises(ValueError, match="does not exist"):
        read_netx(tmp_path / "missing.net")


def test_numpy_pickles_load_and_nothing_else_runs(tmp_path):
    arrays = {"a/weights": np.arange(6, dtype=np.float32).reshape(2, 3),
              "a/biases": np.ones(3, np.float32)}
    write_arrays(tmp_path / "w.pkl", arrays)
    loaded = load_arrays(tmp_path / "w.pkl")
    assert loaded.keys() == arrays.keys()
    for key in arrays:
        np.testing.assert_array_equal(loaded[key], arrays[key])
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"x": os.getcwd}, protocol=2))
    with pytest.raises(ValueError, match="refused global"):
        load_arrays(tmp_path / "evil.pkl")
    write_arrays(tmp_path / "list.pkl", [np.zeros(2)])
    with pytest.raises(ValueError, match="dict of name -> numpy array"):
        load_arrays(tmp_path / "list.pkl")
    (tmp_path / "junk.pkl").write_bytes(b"\x80\x02junk")
    with pytest.raises(ValueError, match="not a pickle of numpy arrays"):
        load_arrays(tmp_path / "junk.pkl")
