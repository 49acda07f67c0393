"""Outputs people paste into papers: LaTeX tables, CSV totals rows, JSON schema and energy
breakdown, the breakdown footer, log-energy plots, and every energy preset on the CLI."""

import csv
import io
from dataclasses import asdict

import cli_helpers
import pandas as pd
import pytest
from cli_helpers import TINY_ARGS, invoke, json_records, one_error_line

from syops import PRESETS
from syops.cli.profile import profile_command
from syops.reports.records import SCHEMA_VERSION
from syops.reports.tables import latex_escape, latex_table

tiny = cli_helpers.tiny  # the fixture


def test_latex_escapes_what_latex_treats_specially():
    assert latex_escape("units_0.body & 50% of $#{x}") == \
        r"units\_0.body \& 50\% of \$\#\{x\}"
    assert latex_escape("energy (µJ) — 1 – 2") == r"energy (\textmu{}J) --- 1 -- 2"
    assert latex_escape("|k| < 2") == r"\textbar{}k\textbar{} \textless{} 2"


def test_latex_table_is_booktabs_with_siunitx_columns():
    frame = pd.DataFrame([{"name": "layer_1", "ACs (M)": "1,234.50", "EC": "1 – 2"},
                          {"name": "x", "ACs (M)": "—", "EC": "—"}])
    assert latex_table(frame, "a_b", "tab:mine", "one\ntwo").splitlines() == [
        "% one", "% two",
        r"\begin{table}[htbp]", r"\centering", r"\begin{tabular}{lSl}", r"\toprule",
        r"name & {ACs (M)} & EC \\", r"\midrule", r"layer\_1 & 1234.50 & 1 -- 2 \\",
        r"x & {---} & --- \\", r"\bottomrule",
        r"\end{tabular}", r"\caption{a\_b}", r"\label{tab:mine}", r"\end{table}"]


def test_profile_as_latex(tiny):
    result = invoke("profile", tiny, *TINY_ARGS, "--format", "latex")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert text.count(r"\begin{table}") == 2 and text.count(r"\bottomrule") == 2
    assert r"neuron rate (\%)" in text and r"input rate (\%)" in text
    assert "preset fp32" in text
    assert "conv.0 & Conv2d & multi-level" in text
    assert "_" not in text.replace(r"\_", "")  # every underscore escaped


def csv_rows(*args):
    result = invoke(*args, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_csv_closes_each_model_with_its_totals(tiny):
    rows = csv_rows("compare", tiny, tiny, *TINY_ARGS)
    record, = json_records("profile", tiny, *TINY_ARGS)
    layers = [r for r in csv_rows("profile", tiny, *TINY_ARGS)]
    *per_layer, total = layers
    assert [r["name"] for r in per_layer] == ["conv.0", "fc"] and total["name"] == "total"
    for key in ("acs", "macs", "syops"):
        assert float(total[key]) == pytest.approx(sum(float(r[key]) for r in per_layer))
        assert float(total[key]) == pytest.approx(record[key])
    assert float(total["energy_pj"]) == pytest.approx(record["dc_mj"] * 1e9)
    assert int(total["params"]) == record["params"]
    assert [r["name"] for r in rows if r["name"] == "total"] == ["total", "total"]


def test_json_schema_version_and_breakdown(tiny):
    record, = json_records("profile", tiny, *TINY_ARGS, "--energy", "loihi")
    assert record["schema_version"] == SCHEMA_VERSION == 3
    assert record["energy_model"] == asdict(PRESETS["loihi"])
    parts = record["energy_breakdown_mj"]
    assert set(parts) == {"synaptic", "neuron", "memory", "total", "static", "static_note"}
    assert parts["static"] is None and "no latency" in parts["static_note"]  # Loihi: no step time
    # one synaptic event per AC and per MAC at 23.6 pJ; its threshold (a neuron of
    # 4 x 16 x 16 outputs, T = 2) updates 2048 times per sample at 52 pJ; 1.7 pJ per spike
    assert parts["synaptic"] == pytest.approx((record["acs"] + record["macs"]) * 23.6e-9)
    assert record["neuron_updates"] == 2048
    assert parts["neuron"] == pytest.approx(2048 * 52e-9)
    spikes = record["neuron_updates"] * record["neuron_firing_rate"]
    assert parts["memory"] == pytest.approx(spikes * 1.7e-9)
    assert record["dc_mj"] == parts["total"]
    assert [(r["name"], r["kind"]) for r in record["energy_layers"]] == [
        ("conv.0", "synaptic"), ("fc", "synaptic"), ("fire", "neuron")]


def test_footer_shows_the_breakdown_only_for_presets_beyond_the_synapse(tiny):
    plain = invoke("profile", tiny, *TINY_ARGS)
    assert plain.exit_code == 0 and "DC breakdown" not in plain.stdout
    chip = invoke("profile", tiny, *TINY_ARGS, "--energy", "horowitz-memory")
    assert chip.exit_code == 0, chip.stderr
    assert "DC breakdown: tiny.pt: synaptic" in " ".join(chip.stdout.split())
    assert "memory: Horowitz SRAM by size" in " ".join(chip.stdout.split())


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_name_is_an_energy_option(preset):
    # parsed, not run (full runs with presets are in the JSON and footer tests)
    energy = profile_command.make_context("profile", ["sew7b", "--energy", preset]).params["energy"]
    assert PRESETS[preset] in (energy if isinstance(energy, tuple) else (energy,))


def test_log_energy_plot(tiny, tmp_path):
    plot = tmp_path / "layers.png"
    result = invoke("profile", tiny, *TINY_ARGS, "--plot", plot, "--log-energy")
    assert result.exit_code == 0, result.stderr
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_log_energy_needs_a_plot(tiny):
    result = invoke("profile", tiny, *TINY_ARGS, "--log-energy")
    assert result.exit_code == 2
    assert "--log-energy sets the energy axis of --plot" in one_error_line(result)


def test_html_output_follows_the_output_path_rules(tiny, tmp_path):
    before = tiny.read_bytes()
    onto_model = invoke("profile", tiny, *TINY_ARGS, "--format", "html", "--output", tiny)
    assert onto_model.exit_code == 2 and tiny.read_bytes() == before
    assert "Traceback" not in onto_model.stderr
    folder = invoke("profile", tiny, *TINY_ARGS, "--format", "html", "--output", tmp_path)
    assert folder.exit_code == 2 and "is a directory" in one_error_line(folder)
    page = tmp_path / "report.html"
    result = invoke("profile", tiny, *TINY_ARGS, "--format", "html", "--output", page)
    assert result.exit_code == 0, result.stderr
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]   # no temporaries
    # to stdout when no --output is given, the same page
    assert invoke("profile", tiny, *TINY_ARGS, "--format", "html").stdout.startswith(
        "<!DOCTYPE html>")
