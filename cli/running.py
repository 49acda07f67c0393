"""Profiling one loaded model: open its data set, feed it to count_syops, and wrap the report
with what the command knows (model name, data description, T, weights)."""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from dataclasses import fields, replace
from typing import Iterator, Sequence

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Subset

from syops import count_syops, distributed, longrun
from syops.data import SampleDataset, get_dataset, list_datasets
from syops.data.dataset import GoodBatches, collate_good
from syops.data.registry import find_spec
from syops.data.user import is_user_data, open_user_data
from syops.energy.chip import chips
from syops.energy.mapping import estimate
from syops.reports.records import RANDOM_INIT, Profiled

from .diagnostics import Diagnostics
from .errors import UsageError, first_line, looks_like_shape_error
from .loading import LoadedModel
from .options import Counting, DataOptions, LongRun


def dataset_name(loaded: LoadedModel, data: DataOptions) -> str:
    """``--dataset``, else the data set of the model's reference arch."""
    if data.dataset:
        return data.dataset
    if loaded.info is not None:
        return loaded.info.dataset
    raise UsageError(f"{loaded.name}: give --dataset ({', '.join(list_datasets())}); the file "
                     f"names no reference arch to take it from")


def open_dataset(loaded: LoadedModel, data: DataOptions) -> SampleDataset:
    """The data set to profile on: the user's (a tensor file or FILE.py:NAME), from
    ``--data-root``, or the synthetic stand-in."""
    if is_user_data(data.dataset):
        if data.data_root is not None:
            raise UsageError(f"--data-root applies to named data sets; {data.dataset} is read "
                             f"as it is")
        return open_user_data(data.dataset, time_first=data.time_first, limit=data.samples,
                              skip_bad=data.skip_bad)
    spec = find_spec(dataset_name(loaded, data))
    T = None
    if spec.uses_T:
        T = data.time_steps or (loaded.info.T if loaded.info else None)
    options = {"skip_bad": True} if data.skip_bad else {}
    if data.samples:
        options["size" if data.data_root is None else "limit"] = data.samples
    dataset = get_dataset(spec.name, data.data_root, T=T, **options)
    check_event_shape(loaded, dataset)
    if data.dataset and dataset.info.synthetic:
        dataset.warnings = (f"no --data-root: {spec.name} is a seeded synthetic stand-in, not "
                            f"the real data; pass --data-root DIR (where {spec.name} lies, "
                            f"see docs/data.md) to profile on it",)
    return dataset


def check_event_shape(loaded: LoadedModel, dataset: SampleDataset) -> None:
    """A reference model takes event frames of one size: refuse a named event data set of
    another (a convolutional net would run, and count a network nobody trained)."""
    info, shape = loaded.info, dataset.info.sample_shape
    if info is None or dataset.info.T is None or info.T == 1:
        return
    if tuple(shape[1:]) != tuple(info.input_shape[1:]):
        raise UsageError(f"{info.name} takes frames [T, {', '.join(map(str, info.input_shape[1:]))}]"
                         f" ({info.dataset}), but {dataset.info.name} gives [T, "
                         f"{', '.join(map(str, shape[1:]))}]; profile a model made for "
                         f"{dataset.info.name} (see syops models), or yours with --arch "
                         f"FILE.py:NAME")


def item_count(dataset: SampleDataset, data: DataOptions, samples: int | None) -> int:
    """How many items (the first ones) the run counts: ``samples`` and --max-batches applied."""
    limits = (len(dataset), samples, data.max_batches and data.max_batches * data.batch_size)
    return min(limit for limit in limits if limit is not None)


def worker_count(requested: int, batches: int) -> int:
    """--workers, at most the CPUs this process may use and the batches to read (a worker
    is a process holding a copy of the data set)."""
    return max(0, min(requested, len(os.sched_getaffinity(0)), batches))


def loader(dataset: SampleDataset, data: DataOptions, indices: Sequence[int]) -> GoodBatches:
    """Batches of the items ``indices``, in that order (items a user's data set fails to
    read, under --skip-bad, left out and recorded on ``dataset``)."""
    workers = worker_count(data.workers, math.ceil(len(indices) / data.batch_size))
    return GoodBatches(DataLoader(Subset(dataset, indices), batch_size=data.batch_size,
                                  num_workers=workers, collate_fn=collate_good), dataset)


@contextmanager
def process_group(device: str) -> Iterator[str]:
    """Under torchrun (RANK/WORLD_SIZE/LOCAL_RANK set): this rank's process group (gloo on
    CPU, NCCL on CUDA) and device (``cuda:LOCAL_RANK``); else just ``device``."""
    launch = distributed.launch_from_env()
    if launch is None:
        yield device
        return
    check_device(device)
    device = distributed.rank_device(device, launch)
    started = distributed.init_from_env(device, launch)
    try:
        yield device
    finally:
        if started:
            dist.destroy_process_group()


def run_fingerprint(loaded: LoadedModel, dataset: SampleDataset, counting: Counting,
                    data: DataOptions, items: int) -> dict:
    """What a partial report must match to be resumed: model, weights, data, options."""
    weights = loaded.weights
    if weights != RANDOM_INIT:
        weights = f"sha256:{longrun.file_digest(weights)}"
    info = dataset.info
    options = {f.name: getattr(counting, f.name) for f in fields(counting)
               if f.name not in ("rate", "latency", "fps")}  # pricing only: counts unchanged
    options |= {f.name: getattr(data, f.name) for f in fields(data)
                if f.name not in ("samples", "max_batches", "workers", "data_root")}
    return longrun.fingerprint(
        model=loaded.name, arch=loaded.info.name if loaded.info else None, weights=weights,
        data={"name": info.name, "source": info.source, "split": info.split,
              "layout": info.layout, "T": info.T, "sample_shape": info.sample_shape,
              "of": None if info.synthetic else info.num_samples},
        options=options)


RESUME_OPTIONS = {"model": "MODEL", "arch": "--arch", "weights": "the model file's weights",
                  "data.name": "--dataset", "data.source": "--data-root or --dataset",
                  "data.T": "-T", "data.of": "the data set's size", **{
                      f"options.{name}": f"--{name.replace('_', '-')}" for name in (
                          "mode", "energy", "spikes", "strict", "convention", "ann_baseline",
                          "batch_size", "skip_bad", "time_first", "dataset", "energy_file")},
                  "options.fuse_bn": "--no-fuse-bn", "options.time_steps": "-T"}
"""The option behind each fingerprint key, named when a resume is refused."""


def _resumed(longrun_options: LongRun, fingerprint: dict, items: int,
             skip_bad: bool) -> longrun.Partial | None:
    if longrun_options.resume is None:
        return None
    partial = longrun.read_partial(longrun_options.resume)
    longrun.check_resume(partial, fingerprint, longrun_options.resume, RESUME_OPTIONS)
    longrun.check_items(partial, items, longrun_options.resume, exact=not skip_bad)
    return partial


def check_device(device: str) -> torch.device:
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available on this machine")
    return torch.device(device)


def _shape(batch: int, shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, (batch, *shape))) + "]"


def input_rejected(loaded: LoadedModel, dataset: SampleDataset, batch: int,
                   exc: Exception) -> UsageError:
    expected = (f"; {loaded.info.name} expects {_shape(batch, loaded.info.input_shape)}"
                if loaded.info else "")
    return UsageError(f"{loaded.name} rejected input of shape "
                      f"{_shape(batch, dataset.info.sample_shape)} from {dataset.info.name} "
                      f"({first_line(exc)}){expected}")


def profile(loaded: LoadedModel, dataset: SampleDataset, counting: Counting, data: DataOptions,
            *, samples: int | None, device: str, diagnostics: Diagnostics,
            longrun_options: LongRun | None = None) -> Profiled:
    """Count ``loaded`` on ``dataset`` and return the report with its context. Under
    torch.distributed this rank counts its shard (the report is every rank's sum); a resumed
    run counts the items after its partial report and adds that report."""
    model = loaded.module.to(check_device(device))
    items = item_count(dataset, data, samples)
    plan = longrun_options or LongRun(None, None, None)
    fingerprint = (run_fingerprint(loaded, dataset, counting, data, items)
                   if plan.save_every or plan.resume else {})
    start = _resumed(plan, fingerprint, items, data.skip_bad)
    first = start.items_done if start else 0
    batches = loader(dataset, data, distributed.shard_indices(
        items, distributed.rank(), distributed.world_size(), start=first))
    if batches.loader.num_workers < data.workers:
        diagnostics.warn(f"--workers {data.workers}: using {batches.loader.num_workers} (at "
                         f"most the {len(os.sched_getaffinity(0))} CPUs this process may use "
                         f"and the {len(batches)} batches to read)")
    save = plan.save_every and longrun.Checkpoints(
        plan.partial_path, plan.save_every, fingerprint=fingerprint, batch_size=data.batch_size,
        items=items, start=start)
    report = start.report if start else None
    with diagnostics.progress(f"profiling {loaded.name}", len(batches)) as step:
        def on_batch(done: int, counter) -> None:
            step(done, len(batches), counter.samples)
            if save:
                save(done, counter)
        try:
            if first < items:
                counted = count_syops(model, batches, **counting.engine_options(
                                          loaded.info.family if loaded.info else None),
                                      strict=counting.strict, on_batch=on_batch,
                                      time_first=data.time_first,
                                      check_layout=loaded.info is None)
                report = counted if report is None else report + counted
        except (RuntimeError, IndexError) as exc:
            if not looks_like_shape_error(exc):
                raise
            raise input_rejected(loaded, dataset, data.batch_size, exc) from None
    if report.not_counted:
        diagnostics.warn(f"{loaded.name}: not counted (zero cost): {', '.join(report.not_counted)}")
    for warning in report.warnings:
        diagnostics.warn(f"{loaded.name}: {warning}")
    for warning in dataset.warnings:  # after the work: a failed run says one line
        diagnostics.warn(warning)
    if dataset.skipped:
        diagnostics.warn(f"skipped {len(dataset.skipped)} bad file(s) or item(s), first: "
                         f"{dataset.skipped[0]}")
    report = replace(report, model=loaded.name, data=dataset.describe())
    T = loaded.info.T if loaded.info else dataset.info.T
    return Profiled(report, T, loaded.weights, dataset.info.synthetic, counting.convention,
                    counting.ann_baseline, chip_mapping(model, report))


def chip_mapping(model, report) -> dict | None:
    """Cores used, fit and the layers that break a limit, when the energy preset is a chip."""
    chip = chips().get(report.energy_model.name)
    if chip is None:
        return None
    found = estimate(model, report, chip)
    return {"chip": found.chip, "cores": found.cores, "chips": found.chips,
            "cores_per_chip": found.cores_per_chip, "fits": found.fits,
            "breaks": list(found.breaks), "notes": list(found.notes)}
