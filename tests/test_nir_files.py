"""Bad NIR files: one ValueError with one clear message in Python, one stderr line and exit 2
in the CLI, nothing read beyond the stated bound; and the CLI on a good one."""

from __future__ import annotations

import json
import re
import tracemalloc

import h5py
import nir
import numpy as np
import pytest
import torch
from cli_helpers import invoke, one_error_line

import syops.nir
from syops.nir.read import MAX_ELEMENTS

F = np.float32
FIXTURES = "tests/fixtures/nir"


def small(path, weight=np.eye(2, dtype=F), edges=None) -> str:
    nodes = {"in": nir.Input(input_type={"input": np.array([2])}),
             "fc": nir.Affine(weight=weight, bias=np.zeros(weight.shape[0], F)),
             "if": nir.IF(r=np.ones(2, F), v_threshold=np.ones(2, F)),
             "out": nir.Output(output_type={"output": np.array([2])})}
    edges = edges or [("in", "fc"), ("fc", "if"), ("if", "out")]
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=edges))
    return str(path)


def truncated(tmp_path) -> str:
    path = small(tmp_path / "whole.nir")
    data = open(path, "rb").read()
    cut = tmp_path / "cut.nir"
    cut.write_bytes(data[: len(data) // 2])
    return str(cut)


def wrong_shapes(tmp_path) -> str:
    return small(tmp_path / "shapes.nir", weight=np.ones((2, 3), F))   # 3 inputs, fed 2


def missing_node(tmp_path) -> str:
    return small(tmp_path / "missing.nir", edges=[("in", "fc"), ("fc", "if"), ("if", "out"),
                                                  ("if", "ghost")])


def stateless_cycle(tmp_path) -> str:
    path = tmp_path / "cycle.nir"
    nodes = {"in": nir.Input(input_type={"input": np.array([2])}),
             "a": nir.Linear(weight=np.eye(2, dtype=F)),
             "b": nir.Linear(weight=np.eye(2, dtype=F)),
             "out": nir.Output(output_type={"output": np.array([2])})}
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=[("in", "a"), ("a", "b"), ("b", "a"),
                                                     ("b", "out")]))
    return str(path)


def huge(tmp_path) -> str:
    """A Linear declaring 10^6 x 10^6 = 10^12 weights: HDF5 allocates storage late, so
    the file stays a few kB."""
    path = small(tmp_path / "huge.nir")
    with h5py.File(path, "a") as f:
        node = f["node/nodes/fc"]
        del node["weight"]
        node.create_dataset("weight", shape=(10**6, 10**6), dtype=F)
    return str(path)


def unknown_type(tmp_path) -> str:
    path = small(tmp_path / "unknown.nir")
    with h5py.File(path, "a") as f:
        del f["node/nodes/if/type"]
        f["node/nodes/if"].create_dataset("type", data="Conv3d")
    return str(path)


BAD = {
    truncated: "not a readable NIR (HDF5) file",
    wrong_shapes: "NIR node 'fc' (Affine)",
    missing_node: "no node named 'ghost'",
    stateless_cycle: "cycle through a -> b has no neuron",
    huge: f"declares more than {MAX_ELEMENTS} array elements",
    unknown_type: "'Conv3d', which syops cannot run",
}


@pytest.mark.parametrize("make", list(BAD), ids=[f.__name__ for f in BAD])
def test_bad_file_is_one_value_error(tmp_path, make):
    path = make(tmp_path)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=re.escape(BAD[make])) as caught:
            syops.nir.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "\n" not in str(caught.value)
    assert peak < 64 << 20          # nothing near the declared size was allocated


@pytest.mark.parametrize("make", list(BAD), ids=[f.__name__ for f in BAD])
def test_bad_file_is_one_line_and_exit_2(tmp_path, make):
    path = make(tmp_path)
    np.save(tmp_path / "x.npy", np.zeros((1, 2, 2), F))
    result = invoke("profile", path, "--dataset", tmp_path / "x.npy", "--time-first")
    assert result.exit_code == 2
    assert BAD[make] in one_error_line(result)


def test_not_hdf5_and_external_link(tmp_path):
    text = tmp_path / "text.nir"
    text.write_text("not a graph")
    with pytest.raises(ValueError, match="not a readable NIR"):
        syops.nir.load(text)
    path = small(tmp_path / "linked.nir")
    with h5py.File(path, "a") as f:
        del f["node/nodes/fc/weight"]
        f["node/nodes/fc/weight"] = h5py.ExternalLink("/etc/other.h5", "/w")
    with pytest.raises(ValueError, match="is a link"):
        syops.nir.load(path)


def test_dt_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="dt must be a positive"):
        syops.nir.load(small(tmp_path / "ok.nir"), dt=0)
    result = invoke("profile", small(tmp_path / "ok.nir"), "--dt", "-1")
    assert result.exit_code == 2


def test_dt_is_for_nir_files_only():
    result = invoke("profile", "sew7b", "--dt", "1e-3")
    assert result.exit_code == 2
    assert "--dt applies to NIR graphs" in one_error_line(result)


def test_cli_profiles_a_nir_file_on_loihi2(tmp_path):
    """snnTorch's export, its input saved as [N, T, 12]; --time-first feeds [T, N, 12].
    The figures equal count_syops on the same file in Python; the JSON names dt."""
    x = torch.load(f"{FIXTURES}/snntorch_input.pt")
    np.save(tmp_path / "x.npy", x.numpy())
    result = invoke("profile", f"{FIXTURES}/snntorch.nir", "--dataset", tmp_path / "x.npy",
                    "--time-first", "--batch-size", "3", "--energy", "loihi2",
                    "--format", "json")
    assert result.exit_code == 0, result.stderr
    (record,) = json.loads(result.stdout)
    from syops import count_syops
    report = count_syops(syops.nir.load(f"{FIXTURES}/snntorch.nir"), x, time_first=True)
    assert record["acs"] == pytest.approx(report.acs, rel=1e-12)
    assert record["neuron_updates"] == report.neuron_updates
    assert record["energy_preset"] == "loihi2"
    assert any("dt = 0.0001 s" in note for note in record["notes"])
    other = invoke("profile", f"{FIXTURES}/snntorch.nir", "--dataset", tmp_path / "x.npy",
                   "--time-first", "--batch-size", "3", "--dt", "1e-3", "--format", "json")
    assert any("dt = 0.001 s" in note for note in json.loads(other.stdout)[0]["notes"])


def test_cli_asks_for_time_first(tmp_path):
    """CLI data is [N, T, ...]; a NIR graph runs [T, B, ...]: without --time-first every
    count would treat samples as time steps, so the run stops with one line."""
    np.save(tmp_path / "x.npy", np.zeros((1, 2, 2), F))
    result = invoke("profile", small(tmp_path / "ok.nir"), "--dataset", tmp_path / "x.npy")
    assert result.exit_code == 2
    assert "pass --time-first" in one_error_line(result)
