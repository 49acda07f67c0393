"""Options shared by the commands, each group gathered into one small settings object.

``@counting_options`` turns ``--mode --no-fuse-bn --energy --rate --strict`` into one
``counting: Counting`` argument of the command, and so on for data, output and run options.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, replace
from typing import Any, Callable

import click
from click.core import ParameterSource

from syops.energy.conventions import CONVENTIONS, convention, convention_options
from syops.energy.presets import PRESETS, EnergyModel, energy_model
from syops.imports import parse_kwargs
from syops.reports.files import output_target
from syops.reports.plots import plot_format

from .diagnostics import NORMAL, QUIET, VERBOSE, Diagnostics
from .errors import reported_errors

MAX_T = 1024  # time steps: the paper's nets use T <= 16; conversion runs a few hundred
MAX_COUNT = 2 ** 62  # --samples and --max-batches (Python's index range is 2**63 - 1)
FORMATS = ("table", "json", "csv", "markdown", "latex", "html")


@dataclass(frozen=True)
class Counting:
    mode: str
    fuse_bn: bool
    energy: EnergyModel
    rate: float | None
    strict: bool
    energy_file: str | None = None  # the --energy TOML file, when one was given
    convention: str | None = None   # --convention: its options replace mode, BN and energy
    ann_baseline: bool = False      # --ann-baseline: the ReLU network and the break-even rate
    spikes: str = "binary"          # --spikes: which inputs are spikes (binary or events)
    latency: float | None = None    # --latency SECONDS per inference: a chip's static term
    fps: float | None = None        # --fps: inferences per second, the same from a rate

    def engine_options(self, family: str | None = None) -> dict:
        """count_syops's counting and energy options: the convention's (for a model of
        ``family``, e.g. "sew") when one is named, else the flags'."""
        if self.convention:
            return convention_options(self.convention, family)
        return {"mode": self.mode, "fuse_bn": self.fuse_bn, "energy": self.energy,
                "spikes": self.spikes}

    def under(self, name: str) -> Counting:
        """These settings under the convention ``name`` (its mode, BN rule and energy)."""
        named = convention(name)
        return replace(self, mode=named.mode, fuse_bn=named.fuse_bn, spikes=named.spikes,
                       energy=energy_model(named.energy), energy_file=None, convention=name)


@dataclass(frozen=True)
class DataOptions:
    dataset: str | None
    data_root: str | None
    samples: int | None
    batch_size: int
    max_batches: int | None
    skip_bad: bool
    time_steps: int | None
    workers: int
    time_first: bool = False


@dataclass(frozen=True)
class Output:
    fmt: str
    output: str | None
    plot: str | None
    depth: int | None = None
    top: int | None = None
    log_energy: bool = False
    columns: tuple[str, ...] = ()   # --columns: the table columns to show
    caption: str | None = None      # --caption and --label of a LaTeX table
    label: str | None = None


@dataclass(frozen=True)
class Loading:
    arch: str | None
    trust_pickle: bool
    arch_args: dict | None = None
    dt: float | None = None   # --dt: seconds per time step of a NIR graph's neurons


@dataclass(frozen=True)
class LongRun:
    """``--save-every N`` batches to ``--save-to``; ``--resume FILE``."""

    save_every: int | None
    save_to: str | None
    resume: str | None

    @property
    def partial_path(self) -> str | None:
        """Where partial reports go: --save-to, else the --resume file, else a default."""
        if self.save_every is None:
            return None
        return self.save_to or self.resume or DEFAULT_PARTIAL


DEFAULT_PARTIAL = "syops-partial.json"


def _longrun(save_every, save_to, resume) -> LongRun:
    if save_to and save_every is None:
        raise click.UsageError("--save-to names where --save-every writes; give --save-every N")
    return LongRun(save_every, save_to, resume)


def _counting(mode, no_fuse_bn, energy, rate, strict, convention=None,
              ann_baseline=False, spikes="binary", latency=None, fps=None) -> Counting:
    model, energy_file = energy
    if latency is not None and fps is not None:
        raise click.UsageError("--latency and --fps both give the time per inference; "
                               "give one of them")
    counting = Counting(mode, not no_fuse_bn, model, rate, strict, energy_file,
                        ann_baseline=ann_baseline, spikes=spikes, latency=latency, fps=fps)
    if convention is None:
        return counting
    given = [f"--{name.replace('_', '-')}" for name in ("mode", "no_fuse_bn", "energy", "spikes")
             if _given(name)]
    if given:
        raise click.UsageError(f"--convention {convention} sets the AC mode, BatchNorm, "
                               f"input convention and energy; drop {', '.join(given)} or the convention")
    return counting.under(convention)


def convention_list(ctx, param, value: str | None) -> tuple[str, ...]:
    """``A,B,...`` as convention names, each known (``--conventions``)."""
    names = tuple(n.strip() for n in (value or "").split(",") if n.strip())
    unknown = [n for n in names if n not in CONVENTIONS]
    if unknown:
        raise click.BadParameter(f"unknown convention {unknown[0]!r}; use names from "
                                 f"{', '.join(CONVENTIONS)}", ctx, param)
    return names


def _given(name: str) -> bool:
    """Whether the option ``name`` was given on the command line (not a default)."""
    ctx = click.get_current_context(silent=True)
    return ctx is not None and ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE


def _output(fmt, table, output, plot=None, depth=None, top=None, log_energy=False,
            columns=(), caption=None, label=None) -> Output:
    if table and fmt not in (None, "table"):
        raise click.UsageError(f"--table and --format {fmt} contradict each other; give one")
    if log_energy and not plot:
        raise click.UsageError("--log-energy sets the energy axis of --plot; give --plot FILE too")
    return Output(fmt or "table", output, plot, depth, top, log_energy, columns, caption, label)


def _diagnostics(verbose, quiet, debug, device) -> tuple[Diagnostics, str, bool]:
    if verbose and quiet:
        raise click.UsageError("-v and -q contradict each other; give one")
    return Diagnostics(VERBOSE if verbose else QUIET if quiet else NORMAL), device, debug


def _grouped(name: str, build: Callable, *options: Callable) -> Callable:
    """A decorator adding ``options`` and passing ``build(**their values)`` as ``name``."""
    params = list(inspect.signature(build).parameters)

    def decorate(command: Callable) -> Callable:
        @functools.wraps(command)
        def wrapper(*args, **kwargs):
            values = {p: kwargs.pop(p) for p in params if p in kwargs}
            return command(*args, **{name: build(**values)}, **kwargs)

        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper
    return decorate


def _callback(convert: Callable[[str], Any]) -> Callable:
    """A click callback: ``convert(value)`` (None passes through); a ValueError or OSError
    is the option's one-line error."""
    def check(ctx, param, value: str | None) -> Any:
        if value is None:
            return None
        try:
            return convert(value)
        except FileNotFoundError:
            raise click.BadParameter(f"the folder of {value} does not exist", ctx,
                                     param) from None
        except OSError as exc:
            raise click.BadParameter(f"{value}: {exc.strerror}", ctx, param) from None
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx, param) from None
    return check


def _output_path(value: str) -> str:
    """Fail before the work, not after it, on an output path that cannot be written
    (the rules of syops.reports.files.output_target)."""
    output_target(value)
    return value


def _plot_file(value: str) -> str:
    plot_format(value)
    return _output_path(value)


_energy = _callback(lambda value: (energy_model(value), None if value in PRESETS else value))
"""The energy model and, when it came from a file, that file's path."""
_plot_path = _callback(_plot_file)
_arch_args = _callback(parse_kwargs)
_writable = _callback(_output_path)


def _columns(ctx, param, value: str | None) -> tuple[str, ...]:
    """``A,B,...`` as table column names, each one some table has (``--columns``)."""
    from syops.reports.tables import column_keys, unknown_columns
    names = tuple(c.strip() for c in (value or "").split(",") if c.strip())
    if ctx.command.name != "models" and unknown_columns(names):   # listings: emit_frame
        raise click.BadParameter(f"no column {unknown_columns(names)[0]!r}; choose from "
                                 f"{', '.join(column_keys())}", ctx, param)
    return names


counting_options = _grouped(
    "counting", _counting,
    click.option("--mode", type=click.Choice(["exact", "rate"]), default="exact",
                 show_default=True,
                 help="exact: ACs are the (non-zero input, weight) pairs applied; "
                      "rate: dense SyOPs x input firing rate (the paper's convention)."),
    click.option("--no-fuse-bn", is_flag=True,
                 help="Leave BatchNorm in place (2 MACs per element) instead of folding it."),
    click.option("--energy", default="fp32", show_default=True, callback=_energy,
                 metavar="|".join(PRESETS) + "|FILE.toml",
                 help="Energy model: a Horowitz 45 nm preset (synaptic only), horowitz-memory "
                      "(with neuron updates and memory traffic), a chip (loihi, truenorth, "
                      "spinnaker, spinnaker2), or a TOML file (docs/energy.md)."),
    click.option("--spikes", type=click.Choice(["binary", "events", "ternary"]),
                 default="binary", show_default=True,
                 help="binary: only 0/1 inputs are spikes (the paper's); events: integer inputs "
                      "(event counts, residual sums) cost |k| ACs per weight, inputs of one "
                      "non-zero level one AC per non-zero; ternary: -1/0/1 inputs are spikes "
                      "(NeuroBench)."),
    click.option("--rate", type=click.FloatRange(0, 1), default=None,
                 help="Also report EC at this assumed uniform firing rate (0..1)."),
    click.option("--strict", is_flag=True,
                 help="Fail on parameterised modules that no rule counts."),
    click.option("--convention", type=click.Choice(list(CONVENTIONS)), default=None,
                 help="Count and price as a published source does (sets --mode, BatchNorm and "
                      "--energy; see docs/energy.md)."),
    click.option("--ann-baseline", is_flag=True,
                 help="Also price the same network with ReLU for every spiking neuron, T = 1, "
                      "all MACs, and the input firing rate at which the SNN breaks even."),
    click.option("--latency", type=click.FloatRange(0, min_open=True), metavar="SECONDS",
                 help="Time per inference, for a chip preset's static energy (static power x "
                      "latency; docs/energy.md)."),
    click.option("--fps", type=click.FloatRange(0, min_open=True),
                 help="Inferences per second: the static energy over 1 / FPS seconds."),
)

data_options = _grouped(
    "data", DataOptions,
    click.option("--dataset", metavar="NAME|FILE",
                 help="A data set name (see docs/data.md; default: the model's), a tensor file "
                      "(.npy, .npz, .pt: inputs [N, ...], optional labels) or FILE.py:NAME / "
                      "pkg.module:NAME (a Dataset, DataLoader or iterable of batches)."),
    click.option("--data-root", type=click.Path(file_okay=False), metavar="DIR",
                 help="Where the data set lies; without it a seeded synthetic stand-in is used."),
    click.option("--samples", type=click.IntRange(1, MAX_COUNT), metavar="N",
                 help="Profile at most N samples."),
    click.option("--batch-size", type=click.IntRange(min=1), default=1, show_default=True),
    click.option("--max-batches", type=click.IntRange(1, MAX_COUNT), metavar="N",
                 help="Stop after N batches."),
    click.option("--skip-bad", is_flag=True, help="Skip unreadable data files instead of failing."),
    click.option("-T", "--time-steps", type=click.IntRange(1, MAX_T), metavar="T",
                 help="Time steps of the model and of event data (default: the model's)."),
    click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
                 help="DataLoader worker processes (at most the CPUs and the batches)."),
    click.option("--time-first", is_flag=True,
                 help="The data is [B, T, ...] and the model takes [T, B, ...] (user models)."),
)

loading_options = _grouped(
    "loading", Loading,
    click.option("--arch", metavar="NAME|FILE.py:NAME",
                 help="Model a state_dict or checkpoint belongs to: a reference model (see "
                      "syops models), or your class or factory as FILE.py:NAME or "
                      "pkg.module:NAME."),
    click.option("--arch-args", metavar="JSON", callback=_arch_args,
                 help='Keyword arguments of --arch FILE.py:NAME, e.g. \'{"channels": 16}\'.'),
    click.option("--trust-pickle", is_flag=True,
                 help="Allow loading a pickled whole nn.Module (unpickling can run code)."),
    click.option("--dt", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
                 help="Time step that discretises a NIR graph's neurons (MODEL.nir; default "
                      "1e-4, snnTorch's export step; docs/libraries.md)."),
)

longrun_options = _grouped(
    "longrun", _longrun,
    click.option("--save-every", type=click.IntRange(min=1), metavar="N",
                 help=f"Save the partial report every N batches (atomically) to --save-to, "
                      f"else the --resume file, else {DEFAULT_PARTIAL}."),
    click.option("--save-to", type=click.Path(dir_okay=False), callback=_writable,
                 metavar="FILE", help="Where --save-every writes."),
    click.option("--resume", type=click.Path(dir_okay=False), metavar="FILE",
                 help="Continue the run saved in FILE by --save-every (same model, weights, "
                      "data and options): the totals equal one uninterrupted run."),
)


FORMAT_OPTIONS = (
    click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
                 help="Output format (default: table)."),
    click.option("--table", is_flag=True, help="Same as --format table."),
    click.option("-o", "--output", type=click.Path(dir_okay=False), callback=_writable,
                 metavar="FILE",
                 help="Write the output to FILE instead of stdout: a new or regular file, "
                      "replaced atomically; - for stdout."),
    click.option("--columns", metavar="A,B,...", callback=_columns,
                 help="Table columns to show, by name without the unit (e.g. "
                      "model,T,MACs,ACs,DC); the naming column always stays."),
    click.option("--caption", metavar="TEXT", help="Caption of the LaTeX table (totals)."),
    click.option("--label", metavar="KEY",
                 help="\\label of the LaTeX table (default tab:syops; per-layer tables add "
                      "-MODEL-layers)."),
)
PLOT_OPTION = click.option(
    "--plot", type=click.Path(dir_okay=False), callback=_plot_path, metavar="FILE.png|svg|pdf",
    help="Plot per-layer AC/MAC energy, input firing rate and each neuron layer's output "
         "firing rate to FILE (compare: energy per model by term), at 300 dpi.")
LOG_ENERGY_OPTION = click.option("--log-energy", is_flag=True,
                                 help="Log scale for the energy axis of --plot.")

listing_output_options = _grouped("out", _output, *FORMAT_OPTIONS)
output_options = _grouped("out", _output, *FORMAT_OPTIONS, PLOT_OPTION, LOG_ENERGY_OPTION)
layer_output_options = _grouped(
    "out", _output, *FORMAT_OPTIONS, PLOT_OPTION, LOG_ENERGY_OPTION,
    click.option("--depth", type=click.IntRange(min=1), metavar="D",
                 help="Aggregate layers by the first D parts of their names."),
    click.option("--top", type=click.IntRange(min=1), metavar="K",
                 help="Show only the K layers that spend the most energy."),
)


def run_options(command: Callable) -> Callable:
    """``--device -v -q --debug``; the command runs with errors turned into one-line messages."""
    @functools.wraps(command)
    def wrapper(*args, verbose, quiet, debug, device, **kwargs):
        diagnostics, device, debug = _diagnostics(verbose, quiet, debug, device)
        with reported_errors(debug):
            return command(*args, diagnostics=diagnostics, device=device, **kwargs)

    options = (
        click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu",
                     show_default=True),
        click.option("-v", "--verbose", is_flag=True, help="More diagnostics on stderr."),
        click.option("-q", "--quiet", is_flag=True, help="No progress bar, no warnings."),
        click.option("--debug", is_flag=True, help="Show the traceback of any failure."),
    )
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper
