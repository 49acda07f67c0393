"""Profiling one loaded model: open its data set, feed it to count_syops, and wrap the report
with what the command knows (model name, data description, T, weights)."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch.utils.data import DataLoader, Subset

from syops import count_syops
from syops.data import SampleDataset, get_dataset, list_datasets
from syops.data.registry import find_spec
from syops.data.user import is_user_data, open_user_data
from syops.reports.records import Profiled

from .diagnostics import Diagnostics
from .errors import UsageError, first_line, looks_like_shape_error
from .loading import LoadedModel
from .options import Counting, DataOptions


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
        return open_user_data(data.dataset, time_first=data.time_first, limit=data.samples)
    spec = find_spec(dataset_name(loaded, data))
    T = None
        if data.data_root is not None:
            raise UsageError(f"--data-root applies to named data sets; {data.dataset} is read "
                             f"as it is")
    if spec.uses_T:
        T = data.time_steps or (loaded.info.T if loaded.info else None)
    options = {"skip_bad": True} if data.skip_bad else {}
    if data.data_root is None and data.samples:
        options["size"] = data.samples
    return get_dataset(spec.name, data.data_root, T=T, **options)


def loader(dataset: SampleDataset, data: DataOptions, samples: int | None) -> DataLoader:
    """Batches of the first ``samples`` items (all when None)."""
    subset = dataset if samples is None else Subset(dataset, range(min(samples, len(dataset))))
    return DataLoader(subset, batch_size=data.batch_size, num_workers=data.workers)


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
            *, samples: int | None, device: str, diagnostics: Diagnostics) -> Profiled:
    """Count ``loaded`` on ``dataset`` and return the report with its context."""
    model = loaded.module.to(check_device(device))
    batches = loader(dataset, data, samples)
    total = len(batches) if data.max_batches is None else min(len(batches), data.max_batches)
    with diagnostics.progress(f"profiling {loaded.name}", total) as step:
        try:
            report = count_syops(model, batches, **counting.engine_options(
                                     loaded.info.family if loaded.info else None),
                                 strict=counting.strict,
                                 max_batches=data.max_batches, progress=step,
                                 time_first=data.time_first)
        except (RuntimeError, IndexError) as exc:
            if not looks_like_shape_error(exc):
                raise
            raise input_rejected(loaded, dataset, data.batch_size, exc) from None
    if report.not_counted:
        diagnostics.warn(f"{loaded.name}: not counted (zero cost): {', '.join(report.not_counted)}")
    if dataset.skipped:
        diagnostics.warn(f"skipped {len(dataset.skipped)} bad file(s), first: {dataset.skipped[0]}")
    report = replace(report, model=loaded.name, data=dataset.describe())
    T = loaded.info.T if loaded.info else dataset.info.T
    return Profiled(report, T, loaded.weights, dataset.info.synthetic, counting.convention,
                    counting.ann_baseline)
