"""The overhead benchmark script still runs: a tiny configuration, tables with ratio columns."""

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent / "benchmarks" / "overhead.py"
METHODS = ("plain", "syops-rate", "syops-exact")


@pytest.fixture(scope="module")
def overhead():
    spec = importlib.util.spec_from_file_location("overhead_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def table_rows(text: str, first_cell: str) -> list[list[str]]:
    """Cells of the markdown rows whose first cell is ``first_cell``."""
    rows = [[cell.strip() for cell in line.strip("|").split("|")]
            for line in text.splitlines() if line.startswith("|")]
    return [row for row in rows if row[0] == first_cell]


def test_tiny_run_prints_timing_tables_with_ratios(overhead, tmp_path, capsys):
    output = tmp_path / "overhead.md"
    argv = ["--models", "sew18", "--image-size", "32", "--images", "2", "--repeats", "1",
            "--batch-sizes", "1", "2", "--no-memory", "--methods", *METHODS,
            "--output", str(output)]
    assert overhead.main(argv) == 0
    printed = capsys.readouterr().out

    headers = table_rows(printed, "method")
    assert ["method", "median s", "ratio to plain", "best s", "best ratio", "peak memory MiB",
            "memory ratio"] in headers
    for method in METHODS:
        timings = [row for row in table_rows(printed, method) if len(row) == 7]
        assert len(timings) == 2, method  # one per batching
        for _, seconds, ratio, best, best_ratio, memory, memory_ratio in timings:
            assert float(seconds) >= float(best) > 0 and float(ratio) > 0
            assert float(best_ratio) > 0
            assert memory == memory_ratio == "-"  # --no-memory
    assert all(row[2] == row[4] == "1.00" for row in table_rows(printed, "plain")
               if len(row) == 7)
    assert [row[:2] for row in table_rows(printed, "sew18")] == [["sew18", "1"], ["sew18", "2"]]
    assert "--image-size 32" in printed  # the exact command line
    assert output.read_text().strip() == printed.strip()


def test_where_time_goes_prints_timings_and_the_syops_profile(capsys):
    spec = importlib.util.spec_from_file_location(
        "where_time_goes", SCRIPT.parent / "where_time_goes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["dsnn18", "--images", "1", "--batch-size", "1", "--top", "5"])
    printed = capsys.readouterr().out
    assert printed.startswith("plain ") and "count_syops" in printed.splitlines()[0]
    assert "syops/profile.py" in printed   # the syops part of the profile
