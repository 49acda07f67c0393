"""Bad input: one line on stderr, exit 2, no traceback, no output file. Internal failures:
exit 1 and a hint at --debug."""

import pytest
from cli_helpers import TINY_ARGS, invoke, one_error_line, tiny  # noqa: F401 (fixture)
from data_fixtures import write_gesture_tree

import syops.cli.running


def bad_usage(*args) -> str:
    result = invoke(*args)
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert result.stdout == ""
    return one_error_line(result)


def test_unknown_data_set_suggests_the_closest(tiny):
    line = bad_usage("profile", tiny, "--trust-pickle", "--dataset", "dvs-gestur")
    assert "unknown data set 'dvs-gestur'" in line and "dvs-gesture" in line


def test_data_root_that_does_not_exist_or_holds_nothing(tmp_path):
    assert "does not exist" in bad_usage("profile", "sew7b", "--data-root", tmp_path / "nope")
    assert "no dvs-gesture data found" in bad_usage("profile", "sew7b", "--data-root", tmp_path)


def test_empty_split(tmp_path):
    tree = write_gesture_tree(tmp_path / "gesture", layout="frames", T=2)
    for sample in (tree.root / "frames_number_2_split_by_number" / "test").rglob("*.npz"):
        sample.unlink()
    line = bad_usage("profile", "fsnn7", "-T", "2", "--data-root", tree.root)
    assert "no test samples" in line


def test_input_shape_the_model_rejects():
    line = bad_usage("profile", "sew7b", "-T", "2", "--dataset", "imagenet")
    assert "rejected input of shape [1, 3, 224, 224]" in line
    assert "sew7b expects [1, 2, 2, 128, 128]" in line


@pytest.mark.parametrize("toml, message", [
    ("ac_pj = 0.9\nmac_pj = 4.6\nadd_pj = 1\n", "unknown keys ['add_pj']"),
    ("ac_pj = -0.9\nmac_pj = 4.6\n", "non-negative"),
    ("ac_pj = 0.9\n", "lacks ['mac_pj']"),
])
def test_bad_energy_files(tiny, tmp_path, toml, message):
    path = tmp_path / "costs.toml"
    path.write_text(toml)
    line = bad_usage("profile", tiny, *TINY_ARGS, "--energy", path)
    assert "--energy" in line and message in line


def test_unknown_energy_preset(tiny):
    assert "unknown energy preset 'fp64'" in bad_usage("profile", tiny, "--energy", "fp64")


@pytest.mark.parametrize("rate", ["1.5", "-0.1"])
def test_rate_outside_0_1(tiny, rate):
    assert "--rate" in bad_usage("profile", tiny, "--rate", rate)


@pytest.mark.parametrize("args, message", [
    (["--table", "--format", "json"], "contradict"),
    (["-v", "-q"], "contradict"),
    (["--plot", "layers.jpg"], ".png, .svg or .pdf"),
    (["--output", "no/such/folder/out.json"], "does not exist"),
    (["--samples", "0"], "--samples"),
])
def test_contradictory_or_impossible_options(tiny, args, message):
    assert message in bad_usage("profile", tiny, *TINY_ARGS, *args)


def test_compare_needs_a_name():
    assert "Missing argument" in bad_usage("compare")


def test_failed_run_leaves_no_output_file(tmp_path):
    output, plot = tmp_path / "out.json", tmp_path / "plot.png"
    bad_usage("profile", "sew7b", "--data-root", tmp_path / "nope", "--format", "json",
              "--output", output, "--plot", plot)
    assert list(tmp_path.iterdir()) == []


def test_failure_while_writing_leaves_neither_file_nor_temporaries(tiny, tmp_path, monkeypatch):
    output = tmp_path / "out.json"
    output.write_text("previous result")
    monkeypatch.setattr("syops.cli.output.plot_records", lambda *a: 1 / 0)
    result = invoke("profile", tiny, *TINY_ARGS, "--format", "json", "--output", output,
                    "--plot", tmp_path / "plot.png")
    assert result.exit_code == 1
    assert output.read_text() == "previous result"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_internal_failure_exits_1_with_a_hint_and_debug_shows_it(tiny, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(syops.cli.running, "count_syops", broken)
    result = invoke("profile", tiny, *TINY_ARGS)
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "internal error (ZeroDivisionError: boom)" in line and "--debug" in line
    debug = invoke("profile", tiny, *TINY_ARGS, "--debug")
    assert debug.exit_code == 1 and isinstance(debug.exception, ZeroDivisionError)
