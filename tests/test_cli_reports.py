"""The rendering helpers behind the CLI: layer views, atomic files, strict JSON, tables."""

import json
import math

import pytest

from syops.report import LayerCounts, Report
from syops.reports.files import to_json, write_atomically
from syops.reports.layers import layers_by_depth, prefix, top_layers
from syops.reports.tables import markdown_table, number, summary_frame


def counts(name, type_="Conv2d", macs=0, ones=0, elements=0):
    return LayerCounts.from_totals(name, type_, params=1, input_shape=(1,),
                                   spike_calls=1 if elements else 0, spike_syops=elements,
                                   mac_calls=0 if elements else 1, mac_syops=macs, acs=ones,
                                   ones=ones, spike_elements=elements)


REPORT = Report((counts("a.0.conv", macs=10), counts("a.1.conv", ones=1, elements=4),
                 counts("b", "Linear", ones=3, elements=4)),
                samples=1, forwards=1, params=3, mode="exact", fuse_bn=True)


def test_prefix_and_depth_views_keep_exact_rates():
    assert prefix("layer1.0.conv1", 2) == "layer1.0" and prefix("fc", 3) == "fc"
    grouped = layers_by_depth(REPORT, 1)
    a, b = grouped.layer_counts
    assert (a.name, a.mac_syops, a.firing_rate, a.params) == ("a", 10, 0.25, 2)
    assert b.name == "b" and b.type == "Linear"


def test_top_layers_ranks_by_energy():
    assert [c.name for c in top_layers(REPORT, 2).layer_counts] == ["a.0.conv", "b"]


def test_strict_json_turns_nan_into_null():
    assert json.loads(to_json([{"rate": math.nan, "x": [math.inf]}])) == [{"rate": None,
                                                                           "x": [None]}]


def test_atomic_write_all_or_nothing(tmp_path):
    write_atomically({tmp_path / "a.txt": "A", tmp_path / "b.bin": b"B"})
    assert (tmp_path / "a.txt").read_text() == "A" and (tmp_path / "b.bin").read_bytes() == b"B"
    with pytest.raises(FileNotFoundError):
        write_atomically({tmp_path / "c.txt": "C", tmp_path / "missing" / "d.txt": "D"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin"]


def test_numbers_keep_small_figures_visible():
    assert number(0.000435) == "0.000435" and number(5.0528) == "5.053"
    assert number(None) == "—" and number(math.nan) == "—"


def test_markdown_table_aligns_numbers_right():
    record = {"model": "m", "params": 1, "T": 4, "samples": 1, "macs": 1e9, "acs": 0.0,
              "syops": 1e9, "firing_rate": None, "dc_mj": 4.6, "ec_low_mj": 4.6,
              "ec_high_mj": 4.6}
    lines = markdown_table(summary_frame([record])).splitlines()
    assert lines[1].startswith("| --- | ---: |")
    # neuron rate (no neurons) and input rate (no spike inputs) are both undefined
    assert lines[2] == "| m | 0.00 | 4 | 1 | 1.000 | 0.000 | 1.000 | — | — | 4.600 | 4.600 – 4.600 |"
