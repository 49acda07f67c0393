"""Reproduce published figures with the built-in reference models.

    python -m syops.reproduce table2        # Table 2 of Chen et al. 2023, side by side
    python -m syops.reproduce models [NAME ...]   # MACs, params and input of every model

Models have random weights and see a seeded synthetic input: MACs follow from the
architecture and must match the paper; ACs, firing rates and DC depend on trained firing
rates and do not.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Sequence

import torch
from rich.console import Console
from rich.table import Table

from syops import count_syops
from syops.models import create_model, list_models, model_info

SEED = 0
GIGA = 1e9

PUBLISHED_MACS_G = {  # Table 2 of the paper, per image, T = 4, 224 x 224
    "fsnn18": 0.12, "fsnn50": 0.12, "dsnn18": 0.20, "dsnn50": 1.37,
    "sew18": 2.75, "sew50": 5.14, "resnet18": 1.82,
}
PUBLISHED_DC_MJ = {"fsnn18": 2.07, "dsnn18": 2.44, "sew18": 13.11}
PAPER_FOLDS_BN = {"fsnn18": True, "fsnn50": True, "dsnn18": True, "dsnn50": True,
                  "sew18": False, "sew50": False, "resnet18": False}
"""How the paper counted BatchNorm: folded (free), or in place at 2 MACs per element."""
SHOWN_BOTH_WAYS = ("sew18", "sew50", "resnet18")
TITLES = {"fsnn18": "FSNN-18", "fsnn50": "FSNN-50", "dsnn18": "DSNN-18", "dsnn50": "DSNN-50",
          "sew18": "SEW-18", "sew50": "SEW-50", "resnet18": "ResNet-18 (ANN)"}

CONVENTIONS = """\
Conventions: per image at the models' defaults (224 x 224, T = 4, batch 1); exact ACs \
(the (non-zero spike, weight) pairs applied); MACs = dense conv/linear operations on \
non-spike inputs (images, SEW's ADD sums, the DSNN accumulation stream, time-averaged \
classifier inputs). BN 'folded' = merged into the preceding conv (free); 'in place' = 2 MACs \
per BN element. Energy: fp32, Horowitz 45 nm (AC 0.9 pJ, MAC 4.6 pJ), DC = 0.9 ACs + 4.6 MACs. \
Random init and a synthetic input (seed {seed}): ACs, DC and firing rates are not the paper's; \
MACs are a property of the architecture and do match. * marks the paper's BN convention."""

@dataclass(frozen=True)
class Row:
    """One counted configuration next to its published figures."""

    model: str
    fuse_bn: bool
    macs: float
    acs: float
    dc_mj: float
    params: int

    @property
    def paper_convention(self) -> bool:
        return PAPER_FOLDS_BN.get(self.model) == self.fuse_bn

    @property
    def published_macs(self) -> float | None:
        return PUBLISHED_MACS_G.get(self.model)

    @property
    def matches(self) -> bool | None:
        """Whether MACs equal the published figure to two decimals (paper's convention only)."""
        if self.published_macs is None or not self.paper_convention:
            return None
        return round(self.macs / GIGA, 2) == self.published_macs


def count_rows(name: str, fold_settings: Sequence[bool], **overrides) -> list[Row]:
    """Count ``name`` at its default input once per BN setting."""
    torch.manual_seed(SEED)
    info = model_info(name, **overrides)
    model = create_model(name, **overrides)
    data = info.example_input(batch_size=1, seed=SEED)
    rows = []
    for fuse_bn in fold_settings:
        report = count_syops(model, data, fuse_bn=fuse_bn, mode="exact")
        rows.append(Row(name, fuse_bn, report.macs, report.acs, report.energy(), report.params))
    return rows


def table2_rows() -> list[Row]:
    """Every Table 2 configuration, in the paper's convention (both ways for SEW and ANN)."""
    rows = []
    for name in PUBLISHED_MACS_G:
        settings = (True, False) if name in SHOWN_BOTH_WAYS else (PAPER_FOLDS_BN[name],)
        rows += count_rows(name, settings)
    return rows


def render_table2(rows: Sequence[Row], console: Console) -> None:
    table = Table(title="Table 2 (Chen et al. 2023): measured vs published, per image")
    for column in ("Model", "BN", "MACs (G)", "published", "match", "ACs (G)",
                   "DC (mJ)", "published DC", "Params (M)"):
        table.add_column(column, justify="left" if column in ("Model", "BN") else "right")
    for row in rows:
        mark = "*" if row.paper_convention else ""
        match = {True: "yes", False: "NO", None: ""}[row.matches]
        table.add_row(
            TITLES[row.model],
            ("folded" if row.fuse_bn else "in place") + mark,
            _giga(row),
            _optional(row.published_macs),
            match,
            f"{row.acs / GIGA:.2f}",
            f"{row.dc_mj:.2f}",
            _optional(PUBLISHED_DC_MJ.get(row.model)),
            f"{row.params / 1e6:.2f}",
        )
    console.print(table)
    console.print(CONVENTIONS.format(seed=SEED))
    console.print(bn_note(rows))


def bn_note(rows: Sequence[Row]) -> str:
    """Explain the rows shown both ways: folded vs published = BN in place."""
    by_setting = {(row.model, row.fuse_bn): row for row in rows}
    parts = [
        f"{TITLES[name]} {_giga(by_setting[name, True])} G folded vs {PUBLISHED_MACS_G[name]:.2f} "
        f"published = {_giga(by_setting[name, False])} G with BN in place"
        for name in SHOWN_BOTH_WAYS
        if (name, True) in by_setting and (name, False) in by_setting
    ]
    return ("The paper counted SEW with BatchNorm left in place at 2 MACs per element (as does "
            "the usual ResNet-18 figure), FSNN and DSNN with BN folded: " + "; ".join(parts) + ".")


def render_models(names: Sequence[str], console: Console) -> None:
    """MACs, params and default input of each model (BN folded, exact mode)."""
    table = Table(title="Reference models at their default input (BN folded, exact ACs)")
    for column in ("Model", "Description", "Input (per sample)", "MACs (G)", "Params (M)"):
        table.add_column(column, justify="right" if column in ("MACs (G)", "Params (M)") else "left")
    for name in names:
        info = model_info(name)
        (row,) = count_rows(name, (True,))
        shape = " x ".join(map(str, info.input_shape))
        table.add_row(name, info.description, shape, f"{row.macs / GIGA:.3f}",
                      f"{row.params / 1e6:.2f}")
    console.print(table)
    console.print("Event nets: MACs assume event-count frames (non-binary) at the input; "
                  f"the synthetic input is Poisson counts (seed {SEED}).")


def _giga(row: Row) -> str:
    return f"{row.macs / GIGA:.2f}"


def _optional(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m syops.reproduce", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("table2", help="Table 2 of the paper: MACs, ACs, DC, params")
    models = commands.add_parser("models", help="MACs, params and default input of every model")
    models.add_argument("names", nargs="*", help="model names (default: all)")
    args = parser.parse_args(argv)
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 120)
    if args.command == "table2":
        render_table2(table2_rows(), console)
        return 0
    try:
        names = [model_info(name).name for name in args.names] or list_models()
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    render_models(names, console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
