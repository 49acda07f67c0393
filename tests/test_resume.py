"""Long runs: the Report round trip, partial reports saved every N batches, and --resume
giving the totals of one uninterrupted run; resuming a different run is refused."""

from __future__ import annotations

import json
import math
import os

import pytest
import torch
from cli_helpers import TINY_ARGS, invoke, json_records, one_error_line, tiny  # noqa: F401
from data_fixtures import time_limited
from test_distributed import SpikeNet, _batches, _data

from syops import count_syops, longrun
from syops.longrun import Checkpoints, Partial, check_resume, partial_text, read_partial
from syops.report import LayerCounts, Report, SiteCounts
from syops.stats import summarize

RUN = ["--samples", "7", "--batch-size", "2"]   # 4 batches: 2, 2, 2, 1 samples


# ----------------------------------------------------------------- the Report round trip
def test_report_round_trips_through_raw_and_json():
    report = count_syops(SpikeNet(), _batches(_data(5), 2))
    assert Report.from_raw(report.raw()) == report
    assert Report.from_raw(json.loads(json.dumps(report.raw()))) == report


def test_round_trip_keeps_a_nan_level_apart_from_none():
    sites = (SiteCounts(0, 1, 10, level=math.nan), SiteCounts(1, 1, 10, level=None))
    report = Report((LayerCounts("fc", "Linear", 0, (2, 3), True, sites),), samples=1,
                    forwards=1, params=0, mode="exact", fuse_bn=True)
    back = Report.from_raw(json.loads(partial_text(Partial({}, 1, report)))["report"])
    assert math.isnan(back.layer_counts[0].sites[0].level)
    assert back.layer_counts[0].sites[1].level is None
    assert back.layer_counts[0].input_shape == (2, 3)


def test_from_raw_refuses_unknown_fields():
    raw = count_syops(SpikeNet(), _data(2)).raw()
    with pytest.raises(ValueError, match="unknown Report fields: colour"):
        Report.from_raw({**raw, "colour": "red"})


# ----------------------------------------------------------------- Python: save and resume
def test_checkpoints_hold_exactly_the_first_items(tmp_path):
    data = _data(7)
    path = tmp_path / "part.json"
    save = Checkpoints(path, 2, fingerprint={"run": 1}, batch_size=2, items=7)
    full = count_syops(SpikeNet(), _batches(data, 2), on_batch=save)
    assert save.saved == 1   # after batch 2 of 4 (batch 4 is the end)
    partial = read_partial(path)
    assert partial.items_done == 4 and partial.fingerprint == {"run": 1}
    first = count_syops(SpikeNet(), _batches(data[:4], 2))
    assert partial.report == first
    rest = count_syops(SpikeNet(), _batches(data[4:], 2))
    resumed = partial.report + rest
    assert resumed.layer_counts == full.layer_counts and resumed.samples == 7
    assert resumed.batches == full.batches
    assert resumed.energy_stats() == full.energy_stats()


def test_a_resumed_run_saves_whole_run_totals(tmp_path):
    data = _data(9)
    start = Partial({"run": 1}, 4, count_syops(SpikeNet(), _batches(data[:4], 2)))
    save = Checkpoints(tmp_path / "p.json", 1, fingerprint={"run": 1}, batch_size=2, items=9,
                       start=start)
    count_syops(SpikeNet(), _batches(data[4:], 2), on_batch=save)
    assert save.saved == 2   # items 4-5 and 6-7; the last batch (item 8) is the end
    partial = read_partial(tmp_path / "p.json")
    assert partial.items_done == 8
    assert partial.report.layer_counts == count_syops(SpikeNet(), _batches(data[:8], 2)).layer_counts


def test_fingerprint_differences_are_named():
    partial = Partial(longrun.fingerprint(model="m", data={"T": 2, "name": "d"}), 4,
                      count_syops(SpikeNet(), _data(1)))
    check_resume(partial, longrun.fingerprint(model="m", data={"T": 2, "name": "d"}), "p.json")
    with pytest.raises(ValueError, match=r"p.json was saved by a different run \(data.T 4 here, "
                                         r"2 in the file\); --resume needs the same"):
        check_resume(partial, longrun.fingerprint(model="m", data={"T": 4, "name": "d"}),
                     "p.json")


@pytest.mark.parametrize("content, message", [("{", "not a partial report"),
                                              ('{"format": "other"}', "not a syops-partial/1")])
def test_unreadable_partial_files_are_refused(tmp_path, content, message):
    path = tmp_path / "p.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        read_partial(path)
    with pytest.raises(ValueError, match="cannot read"):
        read_partial(tmp_path / "missing.json")


# ----------------------------------------------------------------- the CLI
def interrupt(at: int):
    """A Checkpoints.__call__ that stops the run (Ctrl-C) right after its save at batch ``at``."""
    original = Checkpoints.__call__

    def call(checkpoints, done, counter):
        original(checkpoints, done, counter)
        if done == at:
            raise KeyboardInterrupt
    return call


def _totals(record: dict) -> dict:
    return {k: record[k] for k in ("samples", "macs", "acs", "syops", "dc_mj", "layers",
                                   "energy_stats")}


def test_interrupted_then_resumed_equals_one_run(tmp_path, tiny, monkeypatch):
    [full] = json_records("profile", tiny, *TINY_ARGS, *RUN)
    part, out = tmp_path / "part.json", tmp_path / "out.json"
    with monkeypatch.context() as patch:
        patch.setattr(Checkpoints, "__call__", interrupt(at=2))
        stopped = invoke("profile", tiny, *TINY_ARGS, *RUN, "--save-every", "1",
                         "--save-to", part, "-o", out)
    assert stopped.exit_code != 0 and not out.exists()
    assert read_partial(part).items_done == 4 and read_partial(part).report.samples == 4
    [resumed] = json_records("profile", tiny, *TINY_ARGS, *RUN, "--resume", part)
    assert _totals(resumed) == _totals(full)
    assert resumed["energy_stats"]["figures"] == 4


def test_resume_with_saving_goes_on_in_the_same_file(tmp_path, tiny, monkeypatch):
    [full] = json_records("profile", tiny, *TINY_ARGS, *RUN)
    part = tmp_path / "part.json"
    with monkeypatch.context() as patch:
        patch.setattr(Checkpoints, "__call__", interrupt(at=1))
        invoke("profile", tiny, *TINY_ARGS, *RUN, "--save-every", "1", "--save-to", part)
        assert read_partial(part).items_done == 2
        invoke("profile", tiny, *TINY_ARGS, *RUN, "--save-every", "1", "--resume", part)
    assert read_partial(part).items_done == 4           # 2 saved before + 1 batch more
    [resumed] = json_records("profile", tiny, *TINY_ARGS, *RUN, "--resume", part)
    assert _totals(resumed) == _totals(full)


def test_a_finished_partial_resumes_without_counting(tmp_path, tiny):
    part = tmp_path / "part.json"
    args = ["profile", tiny, *TINY_ARGS, "--samples", "4", "--batch-size", "2"]
    [full] = json_records(*args, "--save-every", "2", "--save-to", part)
    assert read_partial(part).items_done == 4
    [again] = json_records(*args, "--resume", part)
    assert _totals(again) == _totals(full)


@pytest.mark.parametrize("change, named", [(["-T", "4"], "data.T 4 here, 2 in the file"),
                                           (["--mode", "rate"], "--mode: options.mode 'rate'"),
                                           (["--batch-size", "1"], "--batch-size: options.batch")])
def test_resuming_a_different_run_is_refused(tmp_path, tiny, change, named):
    part = tmp_path / "part.json"
    json_records("profile", tiny, *TINY_ARGS, *RUN, "--save-every", "2", "--save-to", part)
    args = [*TINY_ARGS, *RUN, *change]
    result = invoke("profile", tiny, *args, "--resume", part)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "was saved by a different run" in line and named in line


def test_resuming_other_weights_is_refused(tmp_path, tiny):
    part, other = tmp_path / "part.json", tmp_path / "other.pt"
    json_records("profile", tiny, *TINY_ARGS, *RUN, "--save-every", "2", "--save-to", part)
    model = torch.load(tiny, weights_only=False)
    with torch.no_grad():
        model.fc.weight.add_(1)
    torch.save(model, other)
    result = invoke("profile", other, *TINY_ARGS, *RUN, "--resume", part)
    assert result.exit_code == 2 and "weights 'sha256:" in one_error_line(result)


def test_save_to_needs_save_every(tmp_path, tiny):
    result = invoke("profile", tiny, *TINY_ARGS, "--save-to", tmp_path / "p.json")
    assert result.exit_code == 2 and "--save-every" in one_error_line(result)


def test_statistics_of_the_cli_equal_numpy_on_the_per_sample_figures(tiny):
    """Batch size 1: the interval is on per-sample figures, recomputed here from layers."""
    [record] = json_records("profile", tiny, *TINY_ARGS, "--samples", "5")
    stats = record["energy_stats"]
    assert stats["basis"] == "per-sample figures" and stats["figures"] == 5
    assert stats["mean_mj"] == pytest.approx(record["dc_mj"])
    per_sample = [json_records("profile", tiny, *TINY_ARGS, "--samples", str(n))[0]["dc_mj"] * n
                  for n in range(1, 6)]
    figures = [b - a for a, b in zip([0] + per_sample, per_sample)]
    expected = summarize(figures, [1] * 5)
    assert stats["p50_mj"] == pytest.approx(expected.p50)
    assert stats["ci95_high_mj"] == pytest.approx(expected.ci_high)


def test_progress_bar_shows_samples_per_second_and_time_left():
    import io
    import re

    from rich.console import Console

    from syops.cli.diagnostics import Diagnostics
    buffer = io.StringIO()
    diagnostics = Diagnostics(console=Console(file=buffer, force_terminal=True, width=150))
    with diagnostics.progress("profiling x", 4) as step:
        for done in range(1, 5):
            step(done, 4, 2 * done)
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buffer.getvalue())
    assert re.search(r"4/4 [\d,.]+ samples/s \d:\d\d:\d\d \d:\d\d:\d\d", shown), shown
    assert "-:--:--" in shown   # the time left, unknown before the first batch


# ----------------------------------------------------------------- hostile partial files (issue 24)
def test_a_run_limited_by_max_batches_continues_to_more_samples(tmp_path, tiny):
    """2 of 4 samples done (--max-batches 2), then resumed for all 4: one run's totals."""
    part = tmp_path / "part.json"
    args = ["profile", tiny, *TINY_ARGS, "--samples"]
    json_records(*args, "4", "--max-batches", "2", "--save-every", "1", "--save-to", part)
    assert read_partial(part).items_done == 2
    [resumed] = json_records(*args, "4", "--resume", part)
    [full] = json_records(*args, "4")
    assert _totals(resumed) == _totals(full)
    fewer = invoke(*args, "1", "--resume", part)
    assert fewer.exit_code == 2
    assert "holds 2 items counted, more than the 1 this run counts" in one_error_line(fewer)


def test_tampered_items_done_is_refused(tmp_path, tiny):
    part = tmp_path / "part.json"
    json_records("profile", tiny, *TINY_ARGS, *RUN, "--save-every", "2", "--save-to", part)
    content = json.loads(part.read_text())
    assert content["items_done"] == 4   # saved after batch 2 (batches of 2, 2, 2, 1)
    for items, message in ((2, "items_done 2 but its report counted 4 samples"),
                           (0, "items_done is 0"), ("7", "items_done is '7'")):
        part.write_text(json.dumps({**content, "items_done": items}))
        result = invoke("profile", tiny, *TINY_ARGS, *RUN, "--resume", part)
        assert result.exit_code == 2 and message in one_error_line(result), result.stderr


@pytest.mark.parametrize("kind", ["fifo", "dev-zero-link", "huge", "deep"])
def test_resume_reads_only_small_regular_json_files(tmp_path, kind, monkeypatch):
    path = tmp_path / "p.json"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero-link":
        path.symlink_to("/dev/zero")
    elif kind == "huge":
        monkeypatch.setattr(longrun, "MAX_PARTIAL_BYTES", 1 << 20)
        path.write_text(" " * ((1 << 20) + 1))
    else:
        path.write_text("[" * 100_000 + "]" * 100_000)
    message = {"fifo": "not a regular file", "dev-zero-link": "not a regular file",
               "huge": "larger than 1 MiB", "deep": "nests too deeply"}[kind]
    with time_limited(10), pytest.raises(ValueError, match=message):
        read_partial(path)
