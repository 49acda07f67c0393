"""Reproduce published figures with the built-in reference models.

    python -m syops.reproduce table2        # Table 2 of Chen et al. 2023, side by side
    python -m syops.reproduce table4 [--small]   # Table 4 (Spikformer) and ImageNet transformers
    python -m syops.reproduce models [NAME ...]   # MACs, params and input of every model
    python -m syops.reproduce silicon [--format table|json] [--files DIR]   # vs chips

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


@dataclass(frozen=True)
class Published:
    """A published energy figure of a reference model, and the convention behind it."""

    model: str
    title: str
    source: str
    dc_mj: float
    convention: str
    """Key of GAP_NOTES: how the source counted, where it differs from syops."""


GAP_NOTES = {
    "same as ours": "the AAP paper counts as syops does: the image conv and the residual sums "
                    "cost MACs, spikes cost ACs at their firing rate.",
    "sums as ACs, conv x1": "the Spikformer paper's formula: E_MAC x the first conv's FLOPs "
                            "counted once (as in an ANN) + E_AC x rate x T x FLOPs of every "
                            "other layer, the ADD sums (spike counts) taken for spikes; syops runs "
                            "the image conv on each of the T copies and costs the sums as MACs.",
    "sums as ACs": "the Spikingformer authors' syops-counter: MACs only for layers whose input "
                   "is 100 % non-zero (image conv, head), the ADD sums count as ACs at their "
                   "non-zero rate, self-attention as T h N d^2 (fr_q + min(fr_k, fr_v)) ACs.",
    "same MACs": "that counter on Spikingformer-8-512 gives 0.347 G MACs (image conv on the T "
                 "copies + head), as syops does (syops leaves out the head's 1,000 bias adds); "
                 "the gap is in the ACs, which follow trained firing rates.",
    "conv x1": "the SDT paper's formula counts the first conv once (ANN FLOPs) and the rest "
               "as ACs at rate x T; syops runs it on each of the T copies (T x its MACs).",
}
TABLE4 = (  # Chen et al. 2023 (AAP), Table 4: Spikformer-4-384 on CIFAR-100, T = 4
    Published("spikformer_4_384", "Spikformer ADD", "AAP Table 4", 5.27, "same as ours"),
    Published("fsnn_spikformer_4_384", "Spikformer IAND", "AAP Table 4", 0.82, "same as ours"),
    Published("dsnn_spikformer_4_384", "Spikformer IAND+DST", "AAP Table 4", 0.84, "same as ours"),
)
IMAGENET_TRANSFORMERS = (  # T = 4, 224 x 224
    Published("spikformer_8_768", "Spikformer-8-768", "Spikformer paper", 21.48,
              "sums as ACs, conv x1"),
    Published("spikformer_8_768", "Spikformer-8-768", "Spikingformer recount", 32.07, "sums as ACs"),
    Published("spikingformer_8_512", "Spikingformer-8-512", "Spikingformer log", 7.46, "same MACs"),
    Published("sdt_8_512", "SDT-8-512", "SDT paper", 4.50, "conv x1"),
    Published("sdt_8_768", "SDT-8-768", "SDT paper", 6.09, "conv x1"),
)
SMALL_IMAGE_SIZE = {"cifar100": 16, "imagenet": 32}
"""``--small``: reduced inputs so that the table runs in seconds (CI); figures then do not
compare with the published ones."""


@dataclass(frozen=True)
class EnergyRow:
    """One model counted at its input, beside one published energy."""

    published: Published
    macs: float
    spike_syops: float
    """AC-eligible dense operations: dense SyOPs of the calls whose input was spikes."""
    ec: tuple[float, float]
    """EC range in mJ: every spike input silent, every spike input firing."""

    @property
    def implied_rate(self) -> float | None:
        """The uniform input firing rate at which our DC equals the published one; None
        where no rate in [0, 1] reaches it."""
        low, high = self.ec
        if high <= low:
            return None
        rate = (self.published.dc_mj - low) / (high - low)
        return rate if 0 <= rate <= 1 else None


def energy_rows(entries: Sequence[Published], small: bool = False) -> list[EnergyRow]:
    """Count each distinct model once (BN folded, rate-free figures) and pair it with its
    published energies."""
    reports = {}
    for name in dict.fromkeys(entry.model for entry in entries):
        overrides = {"image_size": SMALL_IMAGE_SIZE[model_info(name).dataset]} if small else {}
        torch.manual_seed(SEED)
        info = model_info(name, **overrides)
        data = info.example_input(batch_size=1, seed=SEED)
        reports[name] = count_syops(create_model(name, **overrides), data, mode="exact")
    return [EnergyRow(entry, reports[entry.model].macs, reports[entry.model].spike_syops,
                      reports[entry.model].ec()) for entry in entries]


def render_energy_table(title: str, rows: Sequence[EnergyRow], console: Console) -> None:
    table = Table(title=title)
    for column in ("Model", "Source", "MACs (G)", "AC-elig. (G)", "EC range (mJ)",
                   "published DC", "implied rate", "gap by convention"):
        justify = "left" if column in ("Model", "Source", "gap by convention") else "right"
        table.add_column(column, justify=justify, overflow="fold")
    for row in rows:
        rate = row.implied_rate
        low, high = row.ec
        table.add_row(row.published.title, row.published.source, f"{row.macs / GIGA:.3f}",
                      f"{row.spike_syops / GIGA:.2f}", f"{low:.2f} - {high:.2f}",
                      f"{row.published.dc_mj:.2f}", "none" if rate is None else f"{rate:.1%}",
                      row.published.convention)
    console.print(table)


TABLE4_NOTES = (
    "Per image, T = 4, BN folded; MACs: dense operations on non-spike inputs (the image conv "
    "on each of the T copies, the ADD residual sums, the time-averaged head inputs, the DSNN "
    "accumulation stream); AC-eligible: dense operations on spike inputs (ACs at rate 1). EC "
    "range: every spike input silent .. firing (fp32, AC 0.9 pJ, MAC 4.6 pJ). Implied rate: "
    "the uniform input firing rate at which our DC (MACs + rate x AC-eligible) equals the "
    "published DC; 'none': the published figure lies outside our EC range. AC-eligible "
    "operations include the attention products (matmuls of spikes, counted as functional "
    "ops); SDT's element-wise masks and sums are not synaptic products.")
SMALL_NOTE = ("--small: reduced inputs (CIFAR-100 {cifar100} x {cifar100}, ImageNet {imagenet} x "
              "{imagenet}); the figures do not compare with the published ones. Full size: "
              "python -m syops.reproduce table4")


def render_table4(console: Console, small: bool = False) -> None:
    """Table 4 of the AAP paper, then the ImageNet spiking transformers."""
    render_energy_table("Table 4 (Chen et al. 2023): Spikformer-4-384 on CIFAR-100",
                        energy_rows(TABLE4, small), console)
    render_energy_table("ImageNet spiking transformers against their published energies",
                        energy_rows(IMAGENET_TRANSFORMERS, small), console)
    console.print(TABLE4_NOTES)
    for label, note in GAP_NOTES.items():
        console.print(f"'{label}': {note}")
    if small:
        console.print(SMALL_NOTE.format(**SMALL_IMAGE_SIZE))


def _giga(row: Row) -> str:
    return f"{row.macs / GIGA:.2f}"


def _optional(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m syops.reproduce", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("table2", help="Table 2 of the paper: MACs, ACs, DC, params")
    table4 = commands.add_parser("table4", help="Table 4 (Spikformer) and ImageNet transformers")
    table4.add_argument("--small", action="store_true",
                        help="reduced inputs, for a quick run (figures not comparable)")
    models = commands.add_parser("models", help="MACs, params and default input of every model")
    models.add_argument("names", nargs="*", help="model names (default: all)")
    silicon = commands.add_parser("silicon", help="predicted vs measured energy on chips")
    silicon.add_argument("--format", choices=("table", "json"), default="table")
    silicon.add_argument("--files", metavar="DIR", help="folder with the published network "
                         "files (netx network.net, inference_weights.pkl)")
    args = parser.parse_args(argv)
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 120)
    if args.command == "silicon":
        from syops.energy.silicon import run
        return run(args.format, args.files, console)
    if args.command == "table2":
        render_table2(table2_rows(), console)
        return 0
    if args.command == "table4":
        render_table4(console, small=args.small)
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
