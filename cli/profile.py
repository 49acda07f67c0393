"""``syops profile``: one model on a data set, layer by layer."""

from __future__ import annotations

import click

from syops import distributed
from syops.reports.records import record

from .diagnostics import QUIET, Diagnostics
from .loading import announce, load_model
from .options import (
    Counting,
    DataOptions,
    Loading,
    LongRun,
    Output,
    counting_options,
    data_options,
    layer_output_options,
    loading_options,
    longrun_options,
    run_options,
)
from .output import emit_records
from .paths import check_run_paths
from .running import open_dataset, process_group, profile


@click.command("profile")
@click.argument("model", metavar="MODEL")
@counting_options
@data_options
@loading_options
@layer_output_options
@longrun_options
@run_options
def profile_command(model: str, counting: Counting, data: DataOptions, loading: Loading,
                    out: Output, longrun: LongRun, diagnostics, device) -> None:
    """Profile MODEL on a data set: per-layer table and totals, per sample.

    MODEL is a model file (a state_dict, checkpoint or TorchScript file with --arch, or a
    checkpoint whose training args name the arch; a pickled nn.Module with --trust-pickle),
    or a reference model name (random init). The data set defaults to the arch's; without
    --data-root its synthetic stand-in is used. Under torchrun each process counts its
    shard of the data and rank 0 writes the totals (docs/scale.md).

    \b
    Examples:
      syops profile sew7b --data-root ~/data/DVS128Gesture --max-batches 10
      syops profile checkpoint_max.pth --arch sew18 --data-root ~/data/imagenet/val
      syops profile traced.ts --arch sew7b -T 16 --top 10 --plot layers.png
      syops profile fsnn18 --depth 1 --format json --output fsnn18.json
      syops profile ckpt.pth --arch sew50 --data-root ~/imagenet/val --save-every 500
      torchrun --nproc_per_node 8 -m syops profile ckpt.pth --arch sew50 --device cuda
    """
    check_run_paths([model], out, data, counting, loading, longrun)
    with process_group(device) as device:
        if distributed.rank():
            diagnostics = Diagnostics(QUIET)   # rank 0 speaks (and writes) for every rank
        loaded = load_model(model, arch=loading.arch, trust_pickle=loading.trust_pickle,
                            T=data.time_steps, arch_args=loading.arch_args, dt=loading.dt)
        announce(loaded, diagnostics, data.time_first)
        dataset = open_dataset(loaded, data)
        diagnostics.info(f"data: {dataset.describe()}")
        profiled = profile(loaded, dataset, counting, data, samples=data.samples, device=device,
                           diagnostics=diagnostics, longrun_options=longrun)
        if distributed.rank() == 0:
            summary = record(profiled, rate=counting.rate, depth=out.depth, top=out.top,
                             latency=counting.latency, fps=counting.fps)
            emit_records([{**summary, "world_size": distributed.world_size()}], out,
                         diagnostics, layers=True)
