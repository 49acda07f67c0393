"""The rendering helpers behind the CLI: layer views, atomic files, strict JSON, tables."""

import json
import math

import cli_helpers
import pytest

from syops.report import LayerCounts, Report
from syops.reports.files import to_json, write_atomically
from syops.reports.layers import layers_by_depth, prefix, top_layers
from syops.reports.tables import markdown_table, number, summary_frame

tiny = cli_helpers.tiny  # the fixture


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


# --- tables on an 80-column terminal, --columns, LaTeX, figures ------------------------
def profiled_records(*args):
    from cli_helpers import json_records
    return json_records("compare", "sew7b", "fsnn7", "-T", "2", *args)


@pytest.fixture(scope="module")
def records():
    return profiled_records("--energy", "horowitz-memory")


def rendered_lines(renderables, width: int) -> list[str]:
    from syops.reports.text import plain_text
    return plain_text(renderables, width).splitlines()


@pytest.mark.parametrize("layers", [False, True])
def test_tables_fit_80_columns_without_breaking_a_number(records, layers):
    from syops.cli.output import frames, table_renderables

    lines = rendered_lines(table_renderables(records, layers, width=80), 80)
    assert max(map(len, lines)) <= 80
    text = "\n".join(lines)
    shown = [frame for _, frame in frames(records, layers)]
    for frame in shown:
        for column in frame.columns[1:]:
            if column in ("model", "name", "type", "signal"):
                continue
            for cell in map(str, frame[column]):
                # every number is on one line: whole, or its column was left out (and said)
                assert cell in text or f"{column}" in text.split("Left out")[-1], (column, cell)
    if layers:   # 10 layer columns cannot fit in 80: the rightmost go, and the note says so
        assert "Left out to fit 80 columns:" in text and "--columns" in text
    else:        # the totals turn: one row per quantity, one column per model
        assert any(line.startswith("│ DC (mJ)") for line in lines)


def test_columns_choose_what_every_table_shows(tiny):
    from cli_helpers import TINY_ARGS, invoke, one_error_line

    result = invoke("profile", tiny, *TINY_ARGS, "--format", "markdown",
                    "--columns", "MACs, dc,input rate")
    assert result.exit_code == 0, result.stderr
    tables = [line for line in result.stdout.splitlines() if line.startswith("| model")
              or line.startswith("| name")]
    assert tables == ["| model | MACs (G) | DC (mJ) | input rate (%) |",
                      "| name | MACs (M) | input rate (%) |"]
    bad = invoke("profile", tiny, *TINY_ARGS, "--columns", "macs,joules")
    assert bad.exit_code == 2   # before any work: the one line is the error
    assert "'--columns': no column 'joules'; choose from model, convention, params, t, " \
        "samples, macs" in one_error_line(bad)


def test_every_totals_column_can_be_chosen():
    from syops.reports.tables import column_keys, summary_frame

    records = profiled_records("--rate", "0.1", "--ann-baseline", "--convention", "syops")
    frame = summary_frame([{**r, "relative_energy": 1.0, "differences": []} for r in records])
    assert len(frame.columns) == 20   # with the QNN and spikes-per-synapse columns
    assert {c: c.split(" (")[0].lower().replace("ec @ 0.1", "ec @ rate") in column_keys()
            for c in frame.columns} == dict.fromkeys(frame.columns, True)


def test_latex_caption_label_and_one_environment_per_table(tiny):
    from cli_helpers import TINY_ARGS, invoke

    result = invoke("profile", tiny, *TINY_ARGS, "--format", "latex", "--caption",
                    "Energy of my_net", "--label", "tab:mine", "--columns", "macs,acs,dc")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert text.startswith("% syops tables: needs \\usepackage{booktabs} and "
                           "\\usepackage{siunitx}")
    totals, layers = text.split("% ---- table 2 of 2: ")
    assert "% ---- table 1 of 2: Totals per sample ----" in totals
    assert r"\caption{Energy of my\_net}" in totals and r"\label{tab:mine}" in totals
    assert r"\begin{tabular}{lSSS}" in totals and r"{MACs (G)} & {ACs (G)} & {DC (mJ)}" in totals
    assert f"\\label{{tab:mine-{tiny.name}-layers}}" in layers
    assert r"\begin{tabular}{lSS}" in layers   # name, MACs (M), ACs (M)
    assert text.count(r"\begin{table}") == text.count(r"\end{table}") == 2
    assert "% Counting: AC mode exact" in totals   # the conventions, as comments
    numbers = [c.strip(" \\") for line in text.splitlines() if "&" in line
               and not line.startswith(("name", "model")) for c in line.split("&")[1:]]
    assert numbers and all("," not in n for n in numbers)   # siunitx: no thousands commas


def test_comparison_terms_add_up_to_the_dc(records):
    from syops.reports.figures import energy_terms_mj

    for record in records:
        terms = energy_terms_mj(record)
        assert terms["neuron"] > 0 and terms["memory"] > 0   # horowitz-memory charges both
        assert sum(terms.values()) == pytest.approx(record["dc_mj"], rel=1e-12)


def test_figures_share_their_scales_and_mark_zeros(records):
    from syops.reports.comparison import comparison_figure
    from syops.reports.plots import layer_figure

    figure = comparison_figure(records)
    energy, rates = figure.axes[:2]
    assert [t.get_text() for t in energy.get_yticklabels()] == ["sew7b", "fsnn7"]
    assert energy.get_shared_y_axes().joined(energy, rates)
    layered = layer_figure(records, log_energy=True)
    panels = [a for a in layered.axes if a.get_ylabel().startswith("energy")]
    assert len(panels) == 2 and panels[0].get_ylim() == panels[1].get_ylim()
    rates = [a for a in layered.axes if "rate" in a.get_ylabel()]
    assert len({a.get_ylim() for a in rates}) == 1
    # sew7b at random init: layers fed by silent neurons cost exactly zero, marked as such
    zero_layers = sum(1 for layer in records[0]["layers"]
                      if layer["acs"] == 0 and layer["macs"] == 0)
    marks = [line for line in panels[0].get_lines() if line.get_label() == "zero"]
    assert zero_layers and len(marks[0].get_xdata()) == zero_layers


@pytest.mark.parametrize("fmt, magic", [("png", b"\x89PNG"), ("svg", b"<?xml"),
                                        ("pdf", b"%PDF")])
def test_figures_in_every_format_at_300_dpi(records, fmt, magic):
    import io

    from PIL import Image

    from syops.reports.comparison import plot_comparison
    from syops.reports.plots import plot_records

    for draw in (plot_comparison, plot_records):
        data = draw(records, fmt)
        assert data.startswith(magic)
        if fmt == "png":
            image = Image.open(io.BytesIO(data))
            assert [round(d) for d in image.info["dpi"]] == [300, 300]


def test_compare_plots_the_comparison_and_profile_the_layers(tmp_path):
    from cli_helpers import invoke

    for command, name in (("compare", "energy by term"), ("profile", "per layer")):
        svg = tmp_path / f"{command}.svg"
        models = ["sew7b", "fsnn7"] if command == "compare" else ["fsnn7"]
        result = invoke(command, *models, "-T", "2", "--plot", svg)
        assert result.exit_code == 0, result.stderr
        text = svg.read_text()
        if command == "compare":   # matplotlib writes each text as a comment in SVG
            assert "<!-- DC, mJ per sample -->" in text
        else:
            assert "<!-- input rate (%) -->" in text


def test_columns_of_the_model_listing():
    from cli_helpers import invoke, one_error_line

    result = invoke("models", "--format", "markdown", "--columns", "input,T")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[:3] == ["| name | input | T |", "| --- | --- | ---: |",
                                              "| resnet18 | 3x224x224 | 1 |"]
    bad = invoke("models", "--columns", "inptu")
    assert bad.exit_code == 2 and "no column 'inptu'; choose from name, input" in \
        one_error_line(bad)
