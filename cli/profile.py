"""``syops profile``: one model on a data set, layer by layer."""

from __future__ import annotations

import click

from syops.reports.records import record

from .loading import announce, load_model
from .options import (Counting, DataOptions, Loading, Output, counting_options, data_options,
                      layer_output_options, loading_options, run_options)
from .output import check_run_outputs, emit_records
from .running import open_dataset, profile


@click.command("profile")
@click.argument("model", metavar="MODEL")
@counting_options
@data_options
@loading_options
@layer_output_options
@run_options
def profile_command(model: str, counting: Counting, data: DataOptions, loading: Loading,
                    out: Output, diagnostics, device) -> None:
    """Profile MODEL on a data set: per-layer table and totals, per sample.

    MODEL is a model file (a state_dict, checkpoint or TorchScript file with --arch, or a
    checkpoint whose training args name the arch; a pickled nn.Module with --trust-pickle),
    or a reference model name (random init). The data set defaults to the arch's; without
    --data-root its synthetic stand-in is used.

    \b
    Examples:
      syops profile sew7b --data-root ~/data/DVS128Gesture --max-batches 10
      syops profile checkpoint_max.pth --arch sew18 --data-root ~/data/imagenet/val
      syops profile traced.ts --arch sew7b -T 16 --top 10 --plot layers.png
      syops profile fsnn18 --depth 1 --format json --output fsnn18.json
    """
    check_run_outputs(out, [model], data, counting)
    loaded = load_model(model, arch=loading.arch, trust_pickle=loading.trust_pickle,
                        T=data.time_steps, arch_args=loading.arch_args)
    announce(loaded, diagnostics, data.time_first)
    dataset = open_dataset(loaded, data)
    diagnostics.info(f"data: {dataset.describe()}")
    profiled = profile(loaded, dataset, counting, data, samples=data.samples, device=device,
                       diagnostics=diagnostics)
    emit_records([record(profiled, rate=counting.rate, depth=out.depth, top=out.top)], out,
                 diagnostics, layers=True)
