"""Hand counts on NIR graphs written with ``nir`` itself (and, for types newer than the
installed nir, with h5py in NIR's layout). Derivations in the comments; dt = 1 unless said,
so an IF with r = 1 adds its input: v <- v + I."""

from __future__ import annotations

import h5py
import nir
import numpy as np
import pytest
import torch

import syops.nir
from syops import count_syops

F = np.float32


def graph(nodes: dict, edges: list, path) -> str:
    """Write ``nodes`` and ``edges`` as a NIR file with nir's own writer."""
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=edges))
    return str(path)


def inp(*shape) -> nir.Input:
    return nir.Input(input_type={"input": np.array(shape)})


def out(*shape) -> nir.Output:
    return nir.Output(output_type={"output": np.array(shape)})


def if_node(threshold: float, *shape) -> nir.IF:
    return nir.IF(r=np.ones(shape, F), v_threshold=np.full(shape, threshold, F))


def count(path, x: torch.Tensor, dt: float = 1.0):
    """Counts on ``x`` given as [T, B, ...]: (report, per-layer {name: (acs, macs)} per
    sample, per-neuron {name: (updates, spikes)} per sample)."""
    report = count_syops(syops.nir.load(path, dt=dt), x, batch_dim=1)
    layers = {r.name: (r.acs, r.macs) for r in report.layers.itertuples()}
    neurons = {r.name: (r.updates, r.output_firing_rate * r.updates)
               for r in report.neurons.itertuples()}
    return report, layers, neurons


def test_conv_with_padding_and_stride(tmp_path):
    """Input [1, 4, 4] -> Conv2d 1->2, 3x3 ones, stride 2, padding 1 -> IF (threshold 5)
    -> Flatten -> Linear 8->1 (ones) -> IF.

    Output position i covers input rows 2i-1 .. 2i+1: 2 valid rows for i = 0, 3 for i = 1
    (same for columns). t0, all 16 inputs on: the valid (input, weight) pairs are
    (2 + 3) x (2 + 3) = 25 per output channel, 50 ACs; t1, one spike at (0, 0): only output
    (0, 0) covers it, 1 pair per channel, 2 ACs. Conv: 52 ACs, input rate 17 / 32.
    Conv outputs at t0 (window sums) 4, 6, 6, 9 per channel: threshold 5 fires 3 per
    channel (6 spikes); at t1 output (0, 0) is 1, v = 4 + 1 = 5, not above 5: no spike.
    IF: 8 neurons x 2 steps = 16 updates, 6 spikes. Linear: 6 spikes x 1 output = 6 ACs.
    Dense conv SyOPs: 8 outputs x 9 weights x 2 steps = 144."""
    weight = np.ones((2, 1, 3, 3), F)
    path = graph({
        "in": inp(1, 4, 4),
        "conv": nir.Conv2d(input_shape=(4, 4), weight=weight, stride=2, padding=1,
                           dilation=1, groups=1, bias=np.zeros(2, F)),
        "if1": if_node(5.0, 2, 2, 2),
        "flat": nir.Flatten(input_type={"input": np.array([2, 2, 2])}, start_dim=0),
        "fc": nir.Linear(weight=np.ones((1, 8), F)),
        "if2": if_node(100.0, 1),
        "out": out(1),
    }, [("in", "conv"), ("conv", "if1"), ("if1", "flat"), ("flat", "fc"), ("fc", "if2"),
        ("if2", "out")], tmp_path / "conv.nir")
    x = torch.zeros(2, 1, 1, 4, 4)
    x[0] = 1
    x[1, 0, 0, 0, 0] = 1
    report, layers, neurons = count(path, x)
    assert layers == {"conv": (52, 0), "fc": (6, 0)}
    assert report.layers.set_index("name").loc["conv", "firing_rate"] == 17 / 32
    assert report.layers.set_index("name").loc["conv", "syops"] == 144
    assert neurons["if1"] == (16, 6)


def test_recurrent_affine(tmp_path):
    """Input [2] -> Affine (identity) -> IF (threshold 0.5) -> Affine w_rec (swap the two
    neurons) -> back into the IF: a cycle, closed by the edge w_rec -> if, which carries
    the previous step's output.

    x = [1, 0], then zeros, over 3 steps. t0: IF gets [1, 0] -> spikes [1, 0] (reset to
    0); w_rec sends [0, 1]. t1: IF gets [0, 1] -> spikes [0, 1]; w_rec sends [1, 0].
    t2: spikes [1, 0]. Spikes 3 of 6 updates. ACs: w_in 1 spike x 2 outputs = 2;
    w_rec 1 spike x 2 outputs at each of 3 steps = 6 (it runs on every step's spikes)."""
    path = graph({
        "in": inp(2),
        "w_in": nir.Affine(weight=np.eye(2, dtype=F), bias=np.zeros(2, F)),
        "if": if_node(0.5, 2),
        "w_rec": nir.Affine(weight=np.array([[0, 1], [1, 0]], F), bias=np.zeros(2, F)),
        "out": out(2),
    }, [("in", "w_in"), ("w_in", "if"), ("if", "w_rec"), ("w_rec", "if"), ("if", "out")],
        tmp_path / "rec.nir")
    x = torch.zeros(3, 1, 2)
    x[0, 0, 0] = 1
    model = syops.nir.load(path, dt=1.0)
    assert model(x)[:, 0].tolist() == [[1, 0], [0, 1], [1, 0]]
    report, layers, neurons = count(path, x)
    assert layers == {"w_in": (2, 0), "w_rec": (6, 0)}
    assert neurons == {"if": (6, 3)}


def test_sumpool_makes_counts(tmp_path):
    """Input [1, 4, 4] -> SumPool2d 2x2 stride 2 -> Flatten -> Linear 4->3 (0.25) -> IF.

    The pool of spikes is a count (0..4), so the linear costs dense MACs: 4 x 3 = 12 per
    step, 24 over 2 steps, no ACs. t0 all inputs on: pooled 4 each, linear outputs
    4 x 4 x 0.25 = 4 > 3.5: all 3 neurons fire (reset to 0); t1 the top two rows on: pooled
    [2, 2, 0, 0], linear outputs 1: none fires. 6 updates, 3 spikes. (An all-zero step
    would cost nothing: zeros are spikes, and none is applied.)"""
    path = graph({
        "in": inp(1, 4, 4),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                              padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([1, 2, 2])}, start_dim=0),
        "fc": nir.Linear(weight=np.full((3, 4), 0.25, F)),
        "if": if_node(3.5, 3),
        "out": out(3),
    }, [("in", "pool"), ("pool", "flat"), ("flat", "fc"), ("fc", "if"), ("if", "out")],
        tmp_path / "pool.nir")
    x = torch.zeros(2, 1, 1, 4, 4)
    x[0] = 1
    x[1, :, :, :2] = 1
    report, layers, neurons = count(path, x)
    assert layers == {"fc": (0, 24)}
    assert neurons == {"if": (6, 3)}


def test_delay(tmp_path):
    """Input [2] -> Delay (1 and 2 steps at dt = 1) -> Linear 2->2 (ones) -> IF (0.5).

    x = [1, 1] at t0, then zeros (4 steps): the delay emits [0, 0], [1, 0], [0, 1],
    [0, 0]. Linear: 1 spike x 2 outputs at t1 and at t2 = 4 ACs. IF: both fire at t1 and
    t2: 4 spikes of 8 updates. At dt = 0.5 the same delays are 2 and 4 steps."""
    path = graph({
        "in": inp(2),
        "delay": nir.Delay(delay=np.array([1.0, 2.0], F)),
        "fc": nir.Linear(weight=np.ones((2, 2), F)),
        "if": if_node(0.5, 2),
        "out": out(2),
    }, [("in", "delay"), ("delay", "fc"), ("fc", "if"), ("if", "out")], tmp_path / "d.nir")
    x = torch.zeros(4, 1, 2)
    x[0] = 1
    model = syops.nir.load(path, dt=1.0)
    assert model.node("delay").steps.tolist() == [1, 2]
    assert syops.nir.load(path, dt=0.5).node("delay").steps.tolist() == [2, 4]
    report, layers, neurons = count(path, x)
    assert layers == {"fc": (4, 0)}
    assert neurons == {"if": (8, 4)}


def test_lif_discretisation_follows_dt(tmp_path):
    """LIF tau = 2 ms, r = 1, threshold 0.6, constant input 1. At dt = 1 ms (dt/tau = 0.5):
    v = 0.5, 0.75 (spike, reset to 0), 0.5, 0.75 (spike): spikes at t1 and t3. At
    dt = 0.1 ms (dt/tau = 0.05): v after 4 steps = 1 - 0.95^4 = 0.185: no spike."""
    path = graph({
        "in": inp(1),
        "lif": nir.LIF(tau=np.array([2e-3]), r=np.ones(1), v_leak=np.zeros(1),
                       v_threshold=np.array([0.6])),
        "out": out(1),
    }, [("in", "lif"), ("lif", "out")], tmp_path / "lif.nir")
    x = torch.ones(4, 1, 1)
    assert syops.nir.load(path, dt=1e-3)(x).flatten().tolist() == [0, 1, 0, 1]
    assert syops.nir.load(path, dt=1e-4)(x).flatten().tolist() == [0, 0, 0, 0]


def test_cuba_lif_and_every_other_type(tmp_path):
    """CubaLIF, tau_syn = tau_mem = 2 dt, w_in = r = 1, threshold 0.6, input 1:
    I = 0.5, 0.75, 0.875; v = 0.5 * 0 + 0.5 * 0.5 = 0.25, then 0.125 + 0.375 = 0.5, then
    0.25 + 0.4375 = 0.6875 > 0.6: spike at t2 only. Beside it: LI, I, Threshold, Scale,
    AvgPool2d, Conv1d run; LI, I and CubaLI are integrators, not neurons; Threshold is."""
    ones = np.ones(1, F)
    path = graph({
        "in": inp(1),
        "cuba": nir.CubaLIF(tau_syn=2 * ones, tau_mem=2 * ones, r=ones, v_leak=0 * ones,
                            v_threshold=0.6 * ones, w_in=ones),
        "li": nir.LI(tau=2 * ones, r=ones, v_leak=0 * ones),
        "int": nir.I(r=ones),
        "scale": nir.Scale(scale=np.array([2.0], F)),
        "thr": nir.Threshold(threshold=np.array([0.1], F)),
        "out": out(1),
    }, [("in", "cuba"), ("cuba", "li"), ("li", "int"), ("int", "scale"), ("scale", "thr"),
        ("thr", "out")], tmp_path / "types.nir")
    model = syops.nir.load(path, dt=1.0)
    model.recording = {}
    model(torch.ones(3, 1, 1))
    assert [v.item() for v in model.recording["cuba"]] == [0, 0, 1]
    report = count_syops(model, torch.ones(3, 2, 1), batch_dim=1)
    assert sorted(report.neurons.type) == ["CubaLIF", "Threshold"]


def test_conv1d_and_avgpool(tmp_path):
    """Conv1d 1->1, kernel 3 ones, padding 1 on [1, 5] all on: pairs 2 + 3 + 3 + 3 + 2 = 13
    ACs. AvgPool2d 2x2 of a [1, 2, 2] input of ones averages to 1."""
    conv = graph({
        "in": inp(1, 5),
        "conv": nir.Conv1d(input_shape=5, weight=np.ones((1, 1, 3), F), stride=1, padding=1,
                           dilation=1, groups=1, bias=np.zeros(1, F)),
        "if": if_node(10.0, 1, 5), "out": out(1, 5),
    }, [("in", "conv"), ("conv", "if"), ("if", "out")], tmp_path / "c1.nir")
    _, layers, _ = count(conv, torch.ones(1, 1, 1, 5))
    assert layers == {"conv": (13, 0)}
    pool = graph({
        "in": inp(1, 2, 2),
        "pool": nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                              padding=np.array([0, 0])),
        "out": out(1, 1, 1),
    }, [("in", "pool"), ("pool", "out")], tmp_path / "avg.nir")
    assert syops.nir.load(pool)(torch.ones(1, 1, 1, 2, 2)).item() == 1


def write_h5(path, nodes: dict, edges: list, version: str = "1.0.8") -> str:
    """A NIR file in NIR's HDF5 layout, for node types the installed nir lacks."""
    with h5py.File(path, "w") as f:
        f.create_dataset("version", data=version)
        root = f.create_group("node")
        root.create_dataset("type", data="NIRGraph")
        root.create_dataset("edges", data=np.array(edges, dtype=object),
                            dtype=h5py.string_dtype())
        group = root.create_group("nodes")
        for name, params in nodes.items():
            node = group.create_group(name)
            for key, value in params.items():
                node.create_dataset(key, data=value)
    return str(path)


def test_cuba_li_and_v_reset_from_a_1_0_8_file(tmp_path):
    """nir 1.0.8 layout: CubaLI (absent from 1.0.4) and a LIF with v_reset = -1.
    LIF tau = 2 dt, threshold 0.4, input 1: v = 0.5 (spike, v = -1), then -0.5 + 0.5 = 0,
    then 0.5 (spike). CubaLI as CubaLIF without threshold: v = 0.25, 0.5, 0.6875."""
    one = np.ones(1)
    path = write_h5(tmp_path / "new.nir", {
        "in": {"type": "Input", "shape": np.array([1])},
        "lif": {"type": "LIF", "tau": 2 * one, "r": one, "v_leak": 0 * one,
                "v_threshold": 0.4 * one, "v_reset": -one},
        "cuba": {"type": "CubaLI", "tau_syn": 2 * one, "tau_mem": 2 * one, "r": one,
                 "v_leak": 0 * one, "w_in": one},
        "out": {"type": "Output", "shape": np.array([1])},
        "out2": {"type": "Output", "shape": np.array([1])},
    }, [("in", "lif"), ("lif", "out"), ("in", "cuba"), ("cuba", "out2")])
    spikes, voltage = syops.nir.load(path, dt=1.0)(torch.ones(3, 1, 1))
    assert spikes.flatten().tolist() == [1, 0, 1]
    assert voltage.flatten().tolist() == [0.25, 0.5, 0.6875]


def test_recorded_nir_data_layout(tmp_path):
    """count_recorded takes NIR's NIRGraphData (duck-typed: nodes -> observables ->
    TimeGriddedData with data [N, T, neurons]) and equals the run."""
    path = graph({
        "in": inp(2),
        "w_in": nir.Affine(weight=np.eye(2, dtype=F), bias=np.zeros(2, F)),
        "if": if_node(0.5, 2),
        "w_rec": nir.Affine(weight=np.array([[0, 1], [1, 0]], F), bias=np.zeros(2, F)),
        "out": out(2),
    }, [("in", "w_in"), ("w_in", "if"), ("if", "w_rec"), ("w_rec", "if"), ("if", "out")],
        tmp_path / "rec.nir")
    x = (torch.rand(5, 3, 2, generator=torch.Generator().manual_seed(0)) < 0.4).float()
    model = syops.nir.load(path, dt=1.0)
    recording = model.record(x)

    class Grid:
        def __init__(self, data):
            self.data, self.dt = data.numpy().astype(bool), 1.0

    class Node:
        def __init__(self, data):
            self.observables = {"spikes": Grid(data)}

    class Data:
        nodes = {"in": Node(recording["in"]), "if": Node(recording["if"])}

    replayed = syops.nir.count_recorded(path, Data())
    ran = count_syops(model, x, batch_dim=1)
    assert replayed.layers[["name", "acs", "macs"]].equals(ran.layers[["name", "acs", "macs"]])
    assert replayed.neurons[["name", "type", "updates", "output_firing_rate"]].equals(
        ran.neurons[["name", "type", "updates", "output_firing_rate"]])
    with pytest.raises(ValueError, match="Input node 'in'"):
        syops.nir.count_recorded(path, {"if": recording["if"]})
    with pytest.raises(ValueError, match="expected \\[N, T, 2\\]"):
        syops.nir.count_recorded(path, {"in": recording["in"], "if": recording["in"][:, :2]})


def test_nested_recurrent_graph_in_memory():
    """snnTorch exports RLeaky as a nested graph (input -> lif <-> w_rec, lif -> output);
    an in-memory nir.NIRGraph holding one counts like the flat recurrent graph above:
    w_in 2 ACs, w_rec 6 ACs, 3 spikes of 6 updates."""
    inner = nir.NIRGraph(nodes={
        "input": inp(2), "lif": if_node(0.5, 2),
        "w_rec": nir.Affine(weight=np.array([[0, 1], [1, 0]], F), bias=np.zeros(2, F)),
        "output": out(2),
    }, edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])
    outer = nir.NIRGraph(nodes={
        "in": inp(2), "w_in": nir.Linear(weight=np.eye(2, dtype=F)), "rec": inner,
        "out": out(2)}, edges=[("in", "w_in"), ("w_in", "rec"), ("rec", "out")])
    x = torch.zeros(3, 1, 2)
    x[0, 0, 0] = 1
    model = syops.nir.load(outer, dt=1.0)
    report = count_syops(model, x, batch_dim=1)
    assert {r.name: r.acs for r in report.layers.itertuples()} == {"w_in": 2, "rec:w_rec": 6}
    assert report.neurons.loc[0, "name"] == "rec:lif"
    assert report.neurons.loc[0, "updates"] * report.neurons.loc[0, "output_firing_rate"] == 3


def test_unreachable_node_and_several_inputs(tmp_path):
    nodes = {"in": inp(2), "fc": nir.Linear(weight=np.eye(2, dtype=F)),
             "lost": nir.Linear(weight=np.eye(2, dtype=F)), "out": out(2)}
    path = graph(nodes, [("in", "fc"), ("fc", "out"), ("lost", "out")], tmp_path / "u.nir")
    with pytest.raises(ValueError, match="'lost' is not reachable from the input 'in'"):
        syops.nir.load(path)
    nodes["in2"] = inp(2)
    path = graph(nodes, [("in", "fc"), ("fc", "out"), ("in2", "lost"), ("lost", "out")],
                 tmp_path / "two.nir")
    with pytest.raises(ValueError, match="2 Input nodes"):
        syops.nir.load(path)
