"""Profiling across processes: shards, reductions and shared errors on a real 2-process gloo
group (torch.multiprocessing), count_syops under a process group, DDP-wrapped models, and
the CLI under torchrun giving the JSON totals of one process."""

from __future__ import annotations

import functools
import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from cli_helpers import TINY_ARGS, json_records, tiny  # noqa: F401  (fixture)
from torch import nn

from syops import count_syops
from syops.distributed import (
    Launch,
    RankError,
    common_batches,
    exchange,
    launch_from_env,
    rank_device,
    reduce_report,
    shard_indices,
    unwrap,
)
from syops.longrun import Checkpoints, read_partial
from syops.report import BatchTotals, LayerCounts, Report

ROOT = Path(__file__).resolve().parents[1]
WORLD = 2


# ----------------------------------------------------------------- pure functions
@pytest.mark.parametrize("n, world", [(0, 2), (1, 2), (5, 2), (7, 3), (9, 3), (10, 4), (3, 8)])
def test_shards_cover_every_item_once(n, world):
    shards = [list(shard_indices(n, r, world)) for r in range(world)]
    assert sorted(sum(shards, [])) == list(range(n))
    assert all(len(shards[0]) - len(s) in (0, 1) for s in shards)


def test_shard_order_is_distributed_samplers_without_padding():
    assert list(shard_indices(5, 0, 2)) == [0, 2, 4]
    assert list(shard_indices(5, 1, 2)) == [1, 3]
    with pytest.raises(ValueError, match="outside a world of 2"):
        shard_indices(5, 2, 2)


@pytest.mark.parametrize("n, world, batch, expected", [(5, 2, 1, 2), (5, 2, 2, 1), (8, 2, 2, 2),
                                                       (7, 3, 1, 2), (1, 2, 1, 0)])
def test_common_batches_cover_a_prefix(n, world, batch, expected):
    k = common_batches(n, world, batch)
    assert k == expected
    covered = sorted(i for r in range(world) for i in list(shard_indices(n, r, world))[:k * batch])
    assert covered == list(range(k * batch * world))


def test_launch_from_torchrun_environment():
    assert launch_from_env({}) is None
    env = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}
    assert launch_from_env(env) == Launch(1, 2, 1)
    assert rank_device("cuda", Launch(1, 2, 1)) == "cuda:1"
    assert rank_device("cpu", Launch(1, 2, 1)) == "cpu"
    with pytest.raises(ValueError, match="LOCAL_RANK not set"):
        launch_from_env({"RANK": "0", "WORLD_SIZE": "2"})
    with pytest.raises(ValueError, match="outside WORLD_SIZE"):
        launch_from_env({"RANK": "2", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})
    with pytest.raises(ValueError, match="must be integers"):
        launch_from_env({"RANK": "a", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})


def test_unwrap_reaches_the_module_inside_data_parallel():
    inner = nn.Linear(2, 2)
    assert unwrap(inner) is inner
    assert unwrap(nn.DataParallel(nn.DataParallel(inner))) is inner


def test_without_a_process_group_everything_is_local():
    report = _report(3, acs=7)
    assert reduce_report(report) is report
    assert exchange(5) == [5]
    with pytest.raises(KeyError):
        exchange(error=KeyError("x"))


# ----------------------------------------------------------------- a real 2-rank group
class SpikeNet(nn.Module):
    """[B, 4] -> linear -> threshold (spikes) -> linear: MACs then ACs."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc1, self.fc2 = nn.Linear(4, 6), nn.Linear(6, 3)

    def forward(self, x):
        if x.shape[-1] != 4:
            raise RuntimeError(f"SpikeNet takes 4 features, got {x.shape[-1]}")
        return self.fc2((self.fc1(x) > 0).float())


def _data(n: int) -> torch.Tensor:
    return torch.randn(n, 4, generator=torch.Generator().manual_seed(1))


def _batches(items: torch.Tensor, size: int) -> list[torch.Tensor]:
    return list(items.split(size))


def _report(samples: int, acs: int) -> Report:
    layer = LayerCounts.from_totals("fc", "Linear", spike_calls=1, spike_syops=10 * samples,
                                    acs=acs, ones=acs, spike_elements=10 * samples)
    return Report((layer,), samples=samples, forwards=1, params=0, mode="exact", fuse_bn=True,
                  batches=(BatchTotals(samples, acs, 0),))


def _run(rank: int, world: int, store: str, out: str, jobs: dict) -> None:
    """Every job in turn on this rank of one gloo group (one start-up for all scenarios;
    the jobs that fail do so on every rank, so the group stays in step)."""
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    results = {}
    try:
        for name, job in jobs.items():
            try:
                results[name] = ("ok", job(rank, world))
            except Exception as exc:  # the tests inspect every rank's error
                results[name] = ("error", type(exc).__name__, str(exc),
                                 getattr(exc, "__notes__", []))
    finally:
        dist.destroy_process_group()
    Path(out, f"rank{rank}.pkl").write_bytes(pickle.dumps(results))
    # Skip interpreter finalisation: gloo's teardown while module dicts are cleared can
    # abort a process that has finished its work ("terminate called without an active
    # exception"; pytorch/pytorch#65237). Everything this rank had to do is on disk.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def run_ranks(jobs: dict, folder: Path, timeout: float = 90) -> list[dict]:
    """Each rank's ``{job: ("ok", value) or ("error", type, message, notes)}`` for
    ``job(rank, world)`` run on every rank of a fresh gloo group. Fails on a hang."""
    context = mp.start_processes(_run, args=(WORLD, str(folder / "store"), str(folder), jobs),
                                 nprocs=WORLD, join=False, start_method="spawn")
    deadline = time.monotonic() + timeout
    while not context.join(timeout=max(0.1, deadline - time.monotonic())):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"ranks still running after {timeout} s: a rank was left waiting")
    return [pickle.loads((folder / f"rank{r}.pkl").read_bytes()) for r in range(WORLD)]


def _reduce_job(rank, world):
    return reduce_report(_report(samples=rank + 1, acs=10 * (rank + 1)))


def _failing_job(rank, world):
    return exchange(rank, error=ValueError("bad shard") if rank == 1 else None)


class Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("no pickling")


def _unpicklable_job(rank, world):
    return exchange(rank, error=Unpicklable("odd failure") if rank == 0 else None)


def _count_job(rank, world):
    """Each rank counts its shard of 7 samples in batches of 2, the model wrapped in DDP."""
    model = SpikeNet()
    calls = []
    wrapped = nn.parallel.DistributedDataParallel(model)
    wrapped.register_forward_pre_hook(lambda *args: calls.append(1))
    shard = _data(7)[list(shard_indices(7, rank, world))]
    report = count_syops(wrapped, _batches(shard, 2))
    return report, len(calls)


def _count_error_job(rank, world):
    """Rank 1's second batch has the wrong width: the model raises there."""
    batches = _batches(_data(6), 2)
    if rank == 1:
        batches[1] = torch.zeros(2, 5)
    return count_syops(SpikeNet(), batches)


def _count_empty_job(rank, world):
    """One sample for two ranks: rank 1 has nothing to count."""
    shard = _data(1)[list(shard_indices(1, rank, world))]
    return count_syops(SpikeNet(), _batches(shard, 1))


def _all_empty_job(rank, world):
    return count_syops(SpikeNet(), [])


def _checkpoint_job(path, rank, world):
    """9 samples in batches of 2 on 2 ranks (shards of 5 and 4), saving after every batch
    that both ranks complete: after 1 batch (items 0-3) and 2 batches (items 0-7)."""
    save = Checkpoints(path, 1, fingerprint={"run": "9 samples"}, batch_size=2, items=9)
    shard = _data(9)[list(shard_indices(9, rank, world))]
    count_syops(SpikeNet(), _batches(shard, 2), on_batch=save)
    return save.saved


JOBS = {"reduce": _reduce_job, "failing": _failing_job, "unpicklable": _unpicklable_job,
        "count": _count_job, "count_error": _count_error_job, "count_empty": _count_empty_job,
        "all_empty": _all_empty_job, "after_errors": _reduce_job}


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """The results of JOBS on a 2-process gloo group, per job: one tuple per rank (and
    ``partial``: the file the checkpoint job saved)."""
    folder = tmp_path_factory.mktemp("ranks")
    jobs = {**JOBS, "checkpoints": functools.partial(_checkpoint_job, str(folder / "p.json"))}
    results = run_ranks(jobs, folder)
    return {"partial": folder / "p.json", **{name: [r[name] for r in results] for name in jobs}}


def test_reduce_sums_every_ranks_report(ranks):
    expected = _report(1, 10) + _report(2, 20)
    for name in ("reduce", "after_errors"):   # the group still works after shared errors
        for status, report in ranks[name]:
            assert status == "ok"
            assert report.raw() == expected.raw()
            assert report.samples == 3 and report.acs == 10


def test_an_error_on_one_rank_is_raised_on_every_rank(ranks):
    results = ranks["failing"]
    assert [r[:3] for r in results] == [("error", "ValueError", "bad shard")] * 2
    assert "raised on rank 1" in results[0][3]


def test_an_unpicklable_error_reaches_the_other_ranks_as_its_message(ranks):
    results = ranks["unpicklable"]
    assert results[0][:3] == ("error", "Unpicklable", "odd failure")
    assert results[1][:3] == ("error", RankError.__name__, "Unpicklable: odd failure")


def test_count_syops_reduces_across_ranks_through_ddp_module(ranks):
    single = count_syops(SpikeNet(), _batches(_data(7), 2))
    for status, (report, ddp_forwards) in ranks["count"]:
        assert status == "ok" and ddp_forwards == 0   # DDP's own forward never ran
        assert report.samples == single.samples == 7
        assert report.forwards == 4                   # 2 + 2 batches (shards of 4 and 3)
        assert report.layer_counts == single.layer_counts
        assert report.acs == single.acs and report.macs == single.macs
        assert sorted(b.samples for b in report.batches) == [1, 2, 2, 2]


def test_count_syops_error_on_one_rank_ends_every_rank(ranks):
    for result in ranks["count_error"]:
        assert result[:2] == ("error", "RuntimeError")
        assert "SpikeNet takes 4 features, got 5" in result[2]


def test_a_rank_with_an_empty_shard_adds_nothing(ranks):
    single = count_syops(SpikeNet(), _data(1))
    for status, report in ranks["count_empty"]:
        assert status == "ok"
        assert report.samples == 1 and report.layer_counts == single.layer_counts
    for result in ranks["all_empty"]:
        assert result[:3] == ("error", "ValueError", "no samples to count: the data is empty")


def test_ranks_save_partial_reports_of_a_prefix_together(ranks):
    assert ranks["checkpoints"] == [("ok", 2)] * 2
    partial = read_partial(ranks["partial"])
    assert partial.items_done == 8 and partial.fingerprint == {"run": "9 samples"}
    single = count_syops(SpikeNet(), _batches(_data(9)[:8], 2))
    assert partial.report.layer_counts == single.layer_counts
    assert partial.report.samples == 8


# ----------------------------------------------------------------- the CLI under torchrun
def _cli_env() -> dict:
    path = os.pathsep.join([str(ROOT / "tests"), str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


def test_torchrun_profile_equals_one_process(tiny):
    """5 samples in batches of 2 over 2 ranks: shards [0, 2, 4] and [1, 3], an uneven last."""
    args = ["profile", str(tiny), *TINY_ARGS, "--samples", "5", "--batch-size", "2"]
    [single] = json_records(*args)
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc_per_node", "2", "-m", "syops", *args, "--format", "json",
                          "-q"], env=_cli_env(), capture_output=True, text=True, timeout=120)
    assert two.returncode == 0, two.stderr
    [multi] = json.loads(two.stdout)   # one JSON document: rank 0 alone prints
    assert single["world_size"] == 1 and multi["world_size"] == 2
    assert multi["samples"] == single["samples"] == 5
    for key in ("macs", "acs", "syops", "dc_mj", "ec_low_mj", "ec_high_mj"):
        assert multi[key] == single[key], key
    # every per-layer figure; input_shape is the shape of a layer's last call (here
    # rank 1's batch [1, 3] against the single run's last batch [4])
    assert [{**layer, "input_shape": None} for layer in multi["layers"]] == \
        [{**layer, "input_shape": None} for layer in single["layers"]]
    assert multi["energy_stats"]["samples"] == 5
    assert multi["energy_stats"]["figures"] == 3     # batches [0, 2] [4] and [1, 3]


class FailsOnRankOne(nn.Module):
    """A linear model whose forward fails in the process torchrun numbered 1."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2 * 128 * 128, 3)

    def forward(self, x):
        if os.environ.get("RANK") == "1":
            raise ValueError("rank 1 cannot read its input")
        return self.fc(x.flatten(2)).mean(1)


def test_torchrun_error_on_one_rank_ends_both_with_it(tmp_path):
    model = tmp_path / "fails.pt"
    torch.save(FailsOnRankOne(), model)
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc_per_node", "2", "-m", "syops", "profile", str(model),
                          *TINY_ARGS, "--samples", "4", "-q", "-o", str(tmp_path / "out.json")],
                         env=_cli_env(), capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and not (tmp_path / "out.json").exists()
    errors = [line for line in run.stderr.splitlines() if line.startswith("Error:")]
    assert errors == ["Error: rank 1 cannot read its input"] * 2, run.stderr
