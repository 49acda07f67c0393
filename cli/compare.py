"""``syops compare``: several models side by side, each on its default input."""

from __future__ import annotations

import click

from syops.energy.conventions import differences
from syops.reports.records import record, with_relative_energy

from .loading import announce, load_model
from .errors import UsageError
from .options import (Counting, DataOptions, Loading, Output, convention_list, counting_options,
                      data_options, loading_options, output_options, run_options)
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
    """Profile each model on its default input and compare them, one row per model.

    NAME is a reference model (random init; see syops models) or a model file. Each model
    sees the synthetic stand-in of its data set (1 sample unless --samples), or the data
    set given with --dataset/--data-root. The last column is each model's energy (DC)
    relative to the first.

    \b
    Examples:
      syops compare fsnn50 sew50 --table
      syops compare sew18 fsnn18 dsnn18 --mode rate --energy int8 --rate 0.1
      syops compare sew7b fsnn7 --data-root ~/data/DVS128Gesture --samples 32 --format json
      syops compare fsnn7 trained.pth --arch fsnn7 --plot compare.png
      syops compare sew18 --conventions syops,syops-counter,sj-opcounter
    """
    if conventions and (len(names) != 1 or counting.convention):
        raise UsageError("--conventions shows one model under several conventions; give one "
                         "NAME and no --convention")
    check_run_outputs(out, names, data, counting)
    samples = data.samples or DEFAULT_SAMPLES
    records = []
    for name in names:
        loaded = load_model(name, arch=loading.arch, trust_pickle=loading.trust_pickle,
                            T=data.time_steps, arch_args=loading.arch_args, dt=loading.dt)
        announce(loaded, diagnostics, data.time_first)
        dataset = open_dataset(loaded, data)
        diagnostics.info(f"{loaded.name}: {dataset.describe()}")
        family = loaded.info.family if loaded.info else None
        settings = [counting.under(c) for c in conventions] or [counting]
        for each in settings:
            profiled = profile(loaded, dataset, each, data, samples=samples, device=device,
                               diagnostics=diagnostics)
            records.append(record(profiled, rate=counting.rate))
            if conventions:
                records[-1]["differences"] = differences(each.engine_options(family),
                                                         settings[0].engine_options(family))
    emit_records(with_relative_energy(records), out, diagnostics, layers=False)
