"""``syops models``: the reference models, their default input, T, data set and size."""

from __future__ import annotations

from functools import lru_cache

import click
import pandas as pd
import torch

from syops import count_syops
from syops.models import list_models, model_info
from syops.reports.tables import number

from .loading import arch_info, build
from .options import Output, listing_output_options, run_options
from .output import emit_frame

NOTE = "Random init (no weights are downloaded); params counted on the meta device."


@lru_cache(maxsize=None)
def parameter_count(name: str) -> int:
    """Parameters of a reference model, built on the meta device (no memory, no init)."""
    with torch.device("meta"):
        return sum(p.numel() for p in build(model_info(name)).parameters())


def mac_count(name: str) -> float:
    """MACs per sample of a reference model: counted on one synthetic sample with random
    weights (BN folded; which inputs are multi-level is the architecture's, so MACs are)."""
    info = model_info(name)
    torch.manual_seed(0)
    return count_syops(build(info), info.example_input(1)).macs


def model_rows(names: list[str], macs: bool = False) -> list[dict]:
    rows = []
    for name in names:
        info = arch_info(name)
        rows.append({"name": info.name, "family": info.family,
                     "input_shape": list(info.input_shape), "T": info.T,
                     "dataset": info.dataset, "num_classes": info.num_classes,
                     "connect": info.connect, "params": parameter_count(info.name),
                     **({"macs": mac_count(info.name)} if macs else {}),
                     "description": info.description})
    return rows


def display_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{
        "name": r["name"], "input": "x".join(map(str, r["input_shape"])), "T": str(r["T"]),
        "data set": r["dataset"], "classes": str(r["num_classes"]),
        "connect": r["connect"] or "—", "params (M)": number(r["params"], 1e6, 2, significant=0),
        **({"MACs (G)": number(r["macs"], 1e9, 3, significant=0)} if "macs" in r else {}),
        "description": r["description"]} for r in rows])


@click.command("models")
@click.argument("names", nargs=-1, metavar="[NAME ...]")
@click.option("--macs", is_flag=True,
              help="Also count each model's MACs per sample (one synthetic sample each: "
                   "seconds per ImageNet model).")
@listing_output_options
@run_options
def models_command(names: tuple[str, ...], macs: bool, out: Output, diagnostics,
                   device) -> None:
    """List the reference models (all, or the NAMEs given).

    \b
    Examples:
      syops models
      syops models fsnn18 sew7b --format json
      syops models spikformer_4_384 fsnn_spikformer_4_384 --macs
    """
    rows = model_rows(list(names) or list_models(), macs)
    emit_frame(display_frame(rows), rows, out, "Reference models", NOTE)
