"""python -m syops.reproduce: Table 2 side by side with the paper, and the models table."""

import contextlib
import io

import pytest

from syops import reproduce
from syops.reproduce import Row


def run_main(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = reproduce.main(list(argv))
    return code, out.getvalue()


def table_rows(output: str) -> list[list[str]]:
    """The cells of each body row of a rich table."""
    return [[cell.strip() for cell in line.strip("│ ").split("│")]
            for line in output.splitlines() if line.startswith("│")]


@pytest.fixture(scope="module")
def table2_output() -> str:
    code, output = run_main("table2")
    assert code == 0
    return output


# Model, BN, MACs (G), published, match
EXPECTED_TABLE2 = [
    ("FSNN-18", "folded*", "0.12", "0.12", "yes"),
    ("FSNN-50", "folded*", "0.12", "0.12", "yes"),
    ("DSNN-18", "folded*", "0.20", "0.20", "yes"),
    ("DSNN-50", "folded*", "1.37", "1.37", "yes"),
    ("SEW-18", "folded", "2.74", "2.75", ""),
    ("SEW-18", "in place*", "2.75", "2.75", "yes"),
    ("SEW-50", "folded", "5.05", "5.14", ""),
    ("SEW-50", "in place*", "5.14", "5.14", "yes"),
    ("ResNet-18 (ANN)", "folded", "1.81", "1.82", ""),
    ("ResNet-18 (ANN)", "in place*", "1.82", "1.82", "yes"),
]


@pytest.mark.slow
def test_table2_rows_match_the_published_macs(table2_output):
    rows = table_rows(table2_output)
    assert [tuple(row[:5]) for row in rows] == EXPECTED_TABLE2
    params = {row[0]: row[-1] for row in rows}
    assert params["SEW-18"] == params["ResNet-18 (ANN)"] == params["FSNN-18"] == "11.69"
    published_dc = {row[0]: row[7] for row in rows if row[7]}
    assert published_dc == {"FSNN-18": "2.07", "DSNN-18": "2.44", "SEW-18": "13.11"}


@pytest.mark.slow
def test_table2_states_its_conventions(table2_output):
    text = " ".join(table2_output.split())
    for phrase in ("exact ACs", "2 MACs per BN element", "fp32", "AC 0.9 pJ, MAC 4.6 pJ",
                   "Random init and a synthetic input",
                   "SEW-18 2.74 G folded vs 2.75 published = 2.75 G with BN in place",
                   "SEW-50 5.05 G folded vs 5.14 published = 5.14 G with BN in place"):
        assert phrase in text


def test_match_is_judged_only_in_the_papers_convention():
    folded = Row("sew18", True, macs=2.7389e9, acs=0, dc_mj=0, params=0)
    in_place = Row("sew18", False, macs=2.754e9, acs=0, dc_mj=0, params=0)
    wrong = Row("fsnn18", True, macs=0.2e9, acs=0, dc_mj=0, params=0)
    assert (folded.matches, in_place.matches, wrong.matches) == (None, True, False)


def test_models_command_lists_the_named_models():
    code, output = run_main("models", "resnet18", "FSNN18")
    rows = table_rows(output)
    assert [row[0] for row in rows] == ["resnet18", "fsnn18"]
    assert rows[0][2:] == ["3 x 224 x 224", "1.814", "11.69"]
    assert rows[1][3] == "0.119"


def test_models_command_rejects_unknown_names(capsys):
    code, _ = run_main("models", "sew19")
    assert code == 2
    assert "did you mean sew18" in capsys.readouterr().err
