"""syops models and the top-level options."""

import json

from cli_helpers import invoke, one_error_line

from syops import __version__


def test_version_and_help():
    assert invoke("--version").stdout.strip() == f"syops, version {__version__}"
    result = invoke("--help")
    assert result.exit_code == 0
    assert "Examples:" in result.stdout and "syops compare fsnn50 sew50 --table" in result.stdout
    for command in ("models", "compare", "profile"):
        help_text = invoke(command, "--help").stdout
        assert "Examples:" in help_text and "--format" in help_text


def test_models_table_lists_every_reference_model():
    result = invoke("models")
    assert result.exit_code == 0, result.stderr
    for name in ("resnet18", "sew50", "fsnn152", "dsnn7w", "sew7b"):
        assert name in result.stdout
    assert "16x2x128x128" in result.stdout and "11.69" in result.stdout  # ResNet-18 params


def test_models_json_has_input_T_dataset_and_params():
    result = invoke("models", "sew7b", "fsnn18", "--format", "json")
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == ["sew7b", "fsnn18"]
    sew = rows[0]
    assert sew["input_shape"] == [16, 2, 128, 128] and sew["T"] == 16
    assert sew["dataset"] == "dvs-gesture" and sew["num_classes"] == 11
    assert isinstance(sew["params"], int) and sew["params"] > 100_000
    assert rows[1]["params"] == 11_689_512


def test_models_csv_and_markdown():
    csv = invoke("models", "sew7b", "--format", "csv").stdout.splitlines()
    assert csv[0].startswith("name,family,input_shape,T,dataset") and len(csv) == 2
    markdown = invoke("models", "sew7b", "--format", "markdown").stdout
    assert markdown.startswith("| name |") and "| sew7b |" in markdown


def test_unknown_model_name_suggests_the_closest():
    result = invoke("models", "sew5")
    assert result.exit_code == 2
    assert "unknown model 'sew5'" in one_error_line(result) and "sew50" in result.stderr


def test_unknown_command_and_option_are_one_line_usage_errors():
    assert invoke("profil").exit_code == 2
    result = invoke("models", "--colour")
    assert result.exit_code == 2
    assert "--colour" in one_error_line(result) and "syops models --help" in result.stderr


def test_models_macs_are_counted_on_request():
    records = json.loads(invoke("models", "fsnn7", "--macs", "--format", "json").stdout)
    # the 1x1 stem conv on 2-channel event frames (T=16 x 32 channels x 128 x 128 x 2
    # inputs) and the classifier on spikes averaged over T (32 features x 11 classes)
    assert records[0]["macs"] == 16 * 32 * 128 * 128 * 2 + 32 * 11
    assert "macs" not in json.loads(invoke("models", "fsnn7", "--format", "json").stdout)[0]
