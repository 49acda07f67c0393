"""``syops compare``: several models side by side in one table, one JSON and one figure:
the user's models (on the data given) beside reference models (on that data where its
samples fit them, else on their own data set)."""

from __future__ import annotations

import os
from dataclasses import replace

import click

from syops.data import SampleDataset
from syops.energy.conventions import differences
from syops.imports import is_object_spec
from syops.reports.records import record, with_relative_energy

from .errors import UsageError
from .loading import LoadedModel, announce, canonical_arch, load_model
from .options import (
    Counting,
    DataOptions,
    Loading,
    Output,
    convention_list,
    counting_options,
    data_options,
    loading_options,
    output_options,
    run_options,
)
from .output import check_run_outputs, emit_records
from .running import open_dataset, profile

DEFAULT_SAMPLES = 1


@click.command("compare")
@click.argument("names", nargs=-1, required=True, metavar="NAME [NAME ...]")
@click.option("--conventions", callback=convention_list, metavar="A,B,...",
              help="Profile one model under each named convention (see --convention), one "
                   "row each, with what each does differently from the first.")
@counting_options
@data_options
@loading_options
@output_options
@run_options
def compare_command(names: tuple[str, ...], conventions: tuple[str, ...], counting: Counting,
                    data: DataOptions, loading: Loading, out: Output, diagnostics,
                    device) -> None:
    """Profile each model and compare them: one row per model, one figure (--plot).

    NAME is a reference model (random init; see syops models), a model file (with --arch
    for a state_dict, or FILE=ARCH for an arch of its own) or FILE.py:NAME. Your models see
    the data given with --dataset / --data-root (1 sample unless --samples); reference
    models see it too where its samples have the shape they take, else the synthetic
    stand-in of their own data set. The last column is each model's energy (DC) relative
    to the first.

    \b
    Examples:
      syops compare fsnn50 sew50 --table
      syops compare sew18 fsnn18 dsnn18 --mode rate --energy int8 --rate 0.1
      syops compare sew7b fsnn7 --data-root ~/data/DVS128Gesture --samples 32 --format json
      syops compare fsnn7 trained.pth --arch fsnn7 --plot compare.png
      syops compare sew18 --conventions syops,syops-counter,sj-opcounter
      syops compare ckpt.pth sew18 fsnn18 --arch mynet.py:Net --dataset mine.npz --format latex
    """
    if conventions and (len(names) != 1 or counting.convention):
        raise UsageError("--conventions shows one model under several conventions; give one "
                         "NAME and no --convention")
    pairs = [own_arch(name) for name in names]   # FILE=ARCH: that file's own --arch
    names = tuple(name for name, _ in pairs)
    check_run_outputs(out, names, data, counting)
    mine = [name for name in names if not is_reference(name)]
    if loading.arch and not mine:
        raise UsageError(f"--arch applies to model files; none of {', '.join(names)} is one")
    if data.time_first and not mine:
        raise UsageError("--time-first is for your own models; reference models know their "
                         "input layout")
    samples = data.samples or DEFAULT_SAMPLES
    records = []
    for name, own in pairs:
        arch = replace(loading, arch=own or loading.arch)
        loaded, dataset = load_with_data(name, name in mine, arch, data, diagnostics)
        family = loaded.info.family if loaded.info else None
        settings = [counting.under(c) for c in conventions] or [counting]
        for each in settings:
            own = data if name in mine else replace(data, time_first=False)
            profiled = profile(loaded, dataset, each, own, samples=samples, device=device,
                               diagnostics=diagnostics)
            records.append(record(profiled, rate=counting.rate, latency=counting.latency,
                                  fps=counting.fps))
            if conventions:
                records[-1]["differences"] = differences(each.engine_options(family),
                                                         settings[0].engine_options(family))
    emit_records(with_relative_energy(records), out, diagnostics, layers=False, comparison=True)


def own_arch(name: str) -> tuple[str, str | None]:
    """``FILE=ARCH`` (FILE exists) as (FILE, ARCH); any other NAME as (NAME, None)."""
    path, _, arch = name.partition("=")
    if arch and os.path.exists(os.path.expanduser(path)):
        return path, arch
    return name, None


def is_reference(name: str) -> bool:
    """Whether NAME is a reference model (no file of that name, not FILE.py:NAME)."""
    return (not os.path.exists(os.path.expanduser(name)) and not is_object_spec(name)
            and canonical_arch(name) is not None)


def load_with_data(name: str, mine: bool, loading: Loading, data: DataOptions,
                   diagnostics) -> tuple[LoadedModel, SampleDataset]:
    """The model NAME and the data it runs on (see the command's help)."""
    if mine:
        loaded = load_model(name, arch=loading.arch, trust_pickle=loading.trust_pickle,
                            T=data.time_steps, arch_args=loading.arch_args, dt=loading.dt)
        announce(loaded, diagnostics, data.time_first)
        dataset = open_dataset(loaded, data)
    else:
        loaded = load_model(name, T=data.time_steps)
        announce(loaded, diagnostics)
        dataset = reference_data(loaded, data, diagnostics)
    diagnostics.info(f"{loaded.name}: {dataset.describe()}")
    return loaded, dataset


def reference_data(loaded: LoadedModel, data: DataOptions, diagnostics) -> SampleDataset:
    """The data given, when its samples fit the reference model; else its own data set."""
    if not data.dataset and not data.data_root:
        return open_dataset(loaded, data)
    given = open_dataset(loaded, replace(data, time_first=False))
    if tuple(given.info.sample_shape) == tuple(loaded.info.input_shape):
        return given
    own = open_dataset(loaded, replace(data, dataset=None, data_root=None, time_first=False))
    shape = ", ".join(map(str, given.info.sample_shape))
    takes = ", ".join(map(str, loaded.info.input_shape))
    diagnostics.warn(f"{loaded.name} takes samples of [{takes}], the data given has "
                     f"[{shape}]: {loaded.name} runs on {own.describe()}")
    return own
