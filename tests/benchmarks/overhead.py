"""Overhead benchmark: what does counting synaptic operations cost next to a plain forward?

Run from the repository root (the lead runs the full size on a quiet machine)::

    python tests/benchmarks/overhead.py --output overhead.md

Per model (``--models``) and batching (``--batch-sizes``: the same ``--images`` images, built
once with ``model_info(name).example_input``, fed as batches of that size), each method
processes every batch, one-time costs included (model copy, BN folding, type probe, hook
registration, harness set-up):

- ``plain``: no-grad eval forwards; ``functional.reset_net`` before every batch.
- ``syops-rate`` / ``syops-exact``: ``count_syops(model, batches, mode=...)`` (it resets the
  SpikingJelly states before every batch itself, calling every memory module's ``reset()``
  as ``reset_net`` does).
- ``sj-simple-energy``: SpikingJelly 2.0's ``estimate_simple_energy(model, x)`` per batch,
  after ``reset_net``.
- ``sj-synop-mac``: SpikingJelly's ``SynOpCounter`` + ``MACCounter`` under one
  ``DispatchCounterMode`` around the no-grad loop of ``reset_net`` + forward.
- ``neurobench``: NeuroBench 2.3's ``Benchmark`` harness with the ``SynapticOperations``
  workload metric, over a ``DataLoader`` of the same images and batches (see
  ``run_neurobench``).

Timing: one process, a warm-up round, then ``--repeats`` rounds in which the methods run
interleaved (A, B, C, A, B, C, ...); the table shows medians and their ratio to ``plain``,
and the fastest round of each method and its ratio to plain's fastest (``best``: the round
least disturbed by other load, which on a shared or virtual machine can move a median by 10
points).

Peak memory: each (model, batching, method) runs once more in a fresh subprocess (this script
with ``--memory-probe``). It builds the model and data, runs a warm-up plain forward, reads its
resident set size (RSS, the *baseline*), resets the kernel's RSS high-water mark (writing 5 to
``/proc/self/clear_refs``, so the warm-up's transient peak does not mask the method's), runs
the method once and reports ``extra = VmHWM - baseline`` (the high-water mark of
/proc/self/status; getrusage's ``ru_maxrss`` is not reset by clear_refs): the extra peak the method needs
beyond the loaded model and data. A method's *total peak* is baseline + extra; the memory
ratio is a method's total peak over plain's total peak (1.00: no more memory than plain
inference). Where the high-water mark cannot be reset, the output says so and no method can
show less than plain's transient peak. Freed memory the allocator keeps is reused unseen.

Count agreement (information): the counts each method reports are printed per workload, and
syops-exact is checked against sj-synop-mac. SpikingJelly classifies every call by its input
alone, so syops runs once more (untimed) with ``classify="observed"``; its ACs must equal
SpikingJelly's SynOps. SpikingJelly's MACCounter charges 1 MAC per BatchNorm element; syops
folds BN (0) or charges 2 per element unfolded, so the mean of a folded and an unfolded
syops run is what SpikingJelly must report when every BN follows a conv/linear.

``--scaling`` instead times ``count_syops`` (exact) on 8, 64 and 256 samples (sew18 unless
``--models`` is given; ``--image-size 112`` keeps 64 samples affordable), reports the time
per sample, and checks that batches of 1 and of 8 give identical per-sample counts.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from spikingjelly.activation_based import functional

from syops import count_syops
from syops.models import create_model, model_info

METHODS = ("plain", "syops-rate", "syops-exact", "sj-simple-energy", "sj-synop-mac", "neurobench")
OPTIONAL_MODULES = {
    "sj-simple-energy": "spikingjelly.activation_based.op_counter",
    "sj-synop-mac": "spikingjelly.activation_based.op_counter",
    "neurobench": "neurobench.benchmarks",
}
DEFAULT_MODELS = ("sew18", "dsnn18", "fsnn50")
SCALING_SAMPLES = (8, 64, 256)
SCALING_BATCH_SIZES = (1, 8)
MIB = 1024 * 1024


# --- workloads -----------------------------------------------------------------------------
@dataclass
class Workload:
    """One model and its images, split into batches of one size."""

    model_name: str
    batch_size: int
    model: torch.nn.Module
    images: torch.Tensor
    batches: list[torch.Tensor] = field(init=False)

    def __post_init__(self):
        self.batches = list(self.images.split(self.batch_size))


def model_overrides(image_size: int | None) -> dict:
    return {} if image_size is None else {"image_size": image_size}


DEVICE = torch.device("cpu")   # --device; timings synchronise with it


def build_model_and_images(name: str, images: int, image_size: int | None):
    """The eval-mode model (seeded init) and ``images`` example inputs, on ``DEVICE``."""
    overrides = model_overrides(image_size)
    torch.manual_seed(0)
    model = create_model(name, **overrides).eval().to(DEVICE)
    return model, model_info(name, **overrides).example_input(images, seed=0).to(DEVICE)


def synchronize() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)


# --- methods -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Counts:
    """Per-sample operation counts a method reports (for the agreement check)."""

    acs: float
    macs: float


def samples_in(batches: list[torch.Tensor]) -> int:
    return sum(len(x) for x in batches)


def run_plain(model, batches) -> None:
    with torch.no_grad():
        for x in batches:
            functional.reset_net(model)
            model(x)


def run_syops(mode: str) -> Callable:
    def run(model, batches) -> Counts:
        report = count_syops(model, batches, mode=mode)
        return Counts(report.acs, report.macs)
    return run


def run_sj_simple_energy(model, batches) -> Counts:
    """``estimate_simple_energy`` per batch; ACs are its spike-driven ``synop`` count."""
    from spikingjelly.activation_based.op_counter import estimate_simple_energy
    synops = macs = 0
    for x in batches:
        functional.reset_net(model)
        counts = estimate_simple_energy(model, x).counts
        synops, macs = synops + counts["synop"], macs + counts["mac"]
    samples = samples_in(batches)
    return Counts(synops / samples, macs / samples)


def run_sj_synop_mac(model, batches) -> Counts:
    from spikingjelly.activation_based.op_counter import (
        DispatchCounterMode,
        MACCounter,
        SynOpCounter,
    )
    synops, macs = SynOpCounter(), MACCounter()
    with torch.no_grad(), DispatchCounterMode([synops, macs]):
        for x in batches:
            functional.reset_net(model)
            model(x)
    samples = samples_in(batches)
    return Counts(synops.get_total() / samples, macs.get_total() / samples)


def run_neurobench(model, batches) -> Counts:
    """NeuroBench's own harness: ``Benchmark(TorchModel, DataLoader, [], [], [[], [metric]])``.

    The harness is used as documented except for two things: its ``TorchModel`` is subclassed
    so that SpikingJelly states are reset before every batch (the harness never resets them),
    and ``run`` is called under ``torch.no_grad()`` (the harness leaves autograd on, which
    would charge graph building to NeuroBench rather than to counting). The DataLoader serves
    the same images in the same batches; its collation is part of the harness's cost. The
    hooks are removed afterwards, since ``Benchmark`` only removes them when it is collected.
    """
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.workload import SynapticOperations
    from neurobench.models import TorchModel
    from torch.utils.data import DataLoader, TensorDataset

    class ResettingTorchModel(TorchModel):
        def __call__(self, batch):
            functional.reset_net(self.net)
            return self.net(batch)

    images = torch.cat(batches)
    loader = DataLoader(TensorDataset(images, torch.zeros(len(images), dtype=torch.long)),
                        batch_size=len(batches[0]), shuffle=False)
    wrapped = ResettingTorchModel(model)
    benchmark = Benchmark(wrapped, loader, [], [], [[], [SynapticOperations]])
    try:
        with torch.no_grad():
            results = benchmark.run(quiet=True)
    finally:
        wrapped.cleanup_hooks()
    ops = results["SynapticOperations"]
    return Counts(ops["Effective_ACs"], ops["Effective_MACs"])


RUNNERS: dict[str, Callable] = {
    "plain": run_plain,
    "syops-rate": run_syops("rate"),
    "syops-exact": run_syops("exact"),
    "sj-simple-energy": run_sj_simple_energy,
    "sj-synop-mac": run_sj_synop_mac,
    "neurobench": run_neurobench,
}


def is_available(method: str) -> bool:
    """Imports the method's optional library (so imports never land inside a measurement)."""
    module = OPTIONAL_MODULES.get(method)
    if module is None:
        return True
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def hook_count(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def run_method(method: str, model, batches) -> tuple[float, Counts | None]:
    """Seconds the method takes over all batches, and the counts it reports."""
    gc.collect()
    synchronize()
    start = time.perf_counter()
    counts = RUNNERS[method](model, batches)
    synchronize()
    elapsed = time.perf_counter() - start
    if hook_count(model):
        raise RuntimeError(f"{method} left hooks on the model")
    return elapsed, counts


# --- timing --------------------------------------------------------------------------------
@dataclass
class Result:
    method: str
    seconds: float          # median over the rounds
    counts: Counts | None
    best: float = 0.0       # the fastest round
    memory: dict | None = None


def time_workload(workload: Workload, methods: list[str], repeats: int) -> list[Result]:
    """A warm-up round, then ``repeats`` interleaved rounds; the median and the fastest
    round per method."""
    counts = {m: run_method(m, workload.model, workload.batches)[1] for m in methods}
    times = {m: [] for m in methods}
    for _ in range(repeats):
        for method in methods:
            times[method].append(run_method(method, workload.model, workload.batches)[0])
    return [Result(m, statistics.median(times[m]), counts[m], best=min(times[m]))
            for m in methods]


# --- memory --------------------------------------------------------------------------------
def current_rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    """The RSS high-water mark, VmHWM: unlike getrusage's ru_maxrss, clear_refs resets it."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def reset_peak_rss() -> bool:
    """Reset the RSS high-water mark (VmHWM) to the current RSS (Linux 4.0+)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def memory_probe(name: str, batch_size: int, method: str, args) -> dict:
    """Baseline RSS after model, data and a warm-up plain forward; the method's extra peak."""
    if not is_available(method):
        raise SystemExit(f"{method} is not importable")
    model, images = build_model_and_images(name, args.images, args.image_size)
    workload = Workload(name, batch_size, model, images)
    run_plain(model, workload.batches)
    gc.collect()
    baseline = current_rss_bytes()
    peak_reset = reset_peak_rss()
    RUNNERS[method](model, workload.batches)
    extra = max(peak_rss_bytes() - baseline, 0)
    return {"baseline_mib": baseline / MIB, "extra_mib": extra / MIB, "peak_reset": peak_reset}


def probe_command(name: str, batch_size: int, method: str, args) -> list[str]:
    command = [sys.executable, os.path.abspath(__file__), "--memory-probe", name,
               str(batch_size), method, "--images", str(args.images)]
    if args.image_size is not None:
        command += ["--image-size", str(args.image_size)]
    if args.threads is not None:
        command += ["--threads", str(args.threads)]
    return command


def measure_memory(name: str, batch_size: int, method: str, args) -> dict:
    done = subprocess.run(probe_command(name, batch_size, method, args),
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"memory probe {name} {batch_size} {method} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def total_peak(memory: dict) -> float:
    return memory["baseline_mib"] + memory["extra_mib"]


# --- output --------------------------------------------------------------------------------
class Output:
    """Prints as it goes and keeps the text for ``--output``."""

    def __init__(self):
        self.parts: list[str] = []

    def __call__(self, text: str = "") -> None:
        print(text, flush=True)
        self.parts.append(text)

    def save(self, path: str) -> None:
        with open(path, "w") as file:
            file.write("\n".join(self.parts) + "\n")


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    def line(cells):
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), rule, *map(line, rows)])


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for row in cpuinfo:
                if row.startswith("model name"):
                    return row.split(":", 1)[1].strip()
    except OSError:  # no /proc: fall back to what platform knows
        return platform.processor() or "unknown"
    return platform.processor() or "unknown"


def machine_lines(argv: list[str]) -> list[str]:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    command = shlex.join(["python", os.path.relpath(__file__), *argv])
    return [
        f"- CPU: {cpu_model()}; {os.cpu_count()} logical cores ({cores} usable)",
        f"- Python {platform.python_version()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads",
        f"- command: `{command}`",
    ]


def memory_cells(result: Result, plain: Result) -> list[str]:
    if result.memory is None or plain.memory is None:
        return ["-", "-"]
    return [f"{total_peak(result.memory):.0f} (+{result.memory['extra_mib']:.0f})",
            f"{total_peak(result.memory) / total_peak(plain.memory):.2f}"]


def timing_table(results: list[Result]) -> str:
    plain = next(r for r in results if r.method == "plain")
    rows = [[r.method, f"{r.seconds:.3f}", f"{r.seconds / plain.seconds:.2f}",
             f"{r.best:.3f}", f"{r.best / plain.best:.2f}", *memory_cells(r, plain)]
            for r in results]
    return markdown_table(["method", "median s", "ratio to plain", "best s", "best ratio",
                           "peak memory MiB", "memory ratio"], rows)


def counts_table(results: list[Result]) -> str:
    rows = [[r.method, f"{r.counts.acs / 1e9:.4f}", f"{r.counts.macs / 1e9:.4f}"]
            for r in results if r.counts is not None]
    return markdown_table(["method", "ACs per sample (G)", "MACs per sample (G)"], rows)


def summary_table(all_results: dict[tuple[str, int], list[Result]], methods: list[str]) -> str:
    """Time ratio (and memory ratio, when measured) to plain, per workload and method."""
    rows = []
    for (name, batch_size), results in all_results.items():
        plain = next(r for r in results if r.method == "plain")
        cells = []
        for result in results:
            cell = (f"{result.seconds / plain.seconds:.2f}x "
                    f"(best {result.best / plain.best:.2f}x)")
            if result.memory and plain.memory:
                cell += f" / {total_peak(result.memory) / total_peak(plain.memory):.2f}x"
            cells.append(cell)
        rows.append([name, str(batch_size), *cells])
    return markdown_table(["model", "batch", *methods], rows)


MEMORY_FOOTER = (
    "Peak memory: a fresh process per method builds the model and data and runs a warm-up "
    "plain forward; its RSS then is the baseline. Shown: total peak = baseline + extra in "
    "MiB, extra (VmHWM during the method - baseline) in parentheses; memory ratio = "
    "total peak / plain's total peak.")
NO_PEAK_RESET = (
    "The RSS high-water mark could not be reset here: every extra includes plain's own "
    "transient peak, so no method shows less than plain.")
COUNTS_FOOTER = (
    "Counts: syops folds BatchNorm (no BN MACs) and by default classifies a layer input by "
    "architecture (a SEW ADD sum is multi-level even when it happens to be binary); "
    "SpikingJelly classifies each call by its input and charges 1 MAC per BN element; "
    "NeuroBench's MACs skip zero inputs. The agreement check recounts syops with "
    "classify='observed' to compare like with like.")


@dataclass(frozen=True)
class Agreement:
    """syops-exact counted as SpikingJelly counts, next to sj-synop-mac (per sample)."""

    syops: Counts
    spikingjelly: Counts

    def verdicts(self) -> tuple[str, str]:
        return (verdict(self.syops.acs, self.spikingjelly.acs),
                verdict(self.syops.macs, self.spikingjelly.macs))

    def lines(self) -> str:
        acs, macs = self.verdicts()
        return (f"- ACs: syops-exact (classify observed) {self.syops.acs / 1e9:.6f} G, "
                f"sj-synop-mac {self.spikingjelly.acs / 1e9:.6f} G: {acs}\n"
                f"- MACs: syops-exact (classify observed, 1 MAC per BN element) "
                f"{self.syops.macs / 1e9:.6f} G, sj-synop-mac "
                f"{self.spikingjelly.macs / 1e9:.6f} G: {macs}")


def verdict(value: float, reference: float) -> str:
    return "equal" if abs(value - reference) <= 1e-9 * max(abs(reference), 1) else "DIFFERENT"


def check_agreement(workload: Workload, results: list[Result]) -> Agreement | None:
    """Recount with syops as SpikingJelly counts (untimed); None without sj-synop-mac."""
    reference = next((r.counts for r in results if r.method == "sj-synop-mac"), None)
    if reference is None:
        return None
    model, batches = workload.model, workload.batches
    folded = count_syops(model, batches, mode="exact", classify="observed")
    unfolded = count_syops(model, batches, mode="exact", classify="observed", fuse_bn=False)
    bn_as_sj = (folded.macs + unfolded.macs) / 2  # conv/linear MACs + 1 per BN element
    return Agreement(Counts(folded.acs, bn_as_sj), reference)


# --- modes ---------------------------------------------------------------------------------
def selected_methods(requested: list[str], out: Output) -> list[str]:
    methods = ["plain"] + [m for m in requested if m != "plain"]
    missing = [m for m in methods if not is_available(m)]
    for method in missing:
        out(f"> {method}: not importable here, skipped")
    return [m for m in methods if m not in missing]


def profile_workload(workload: Workload, methods: list[str], args, out: Output):
    """Time (and probe the memory of) every method on one workload; print its tables."""
    results = time_workload(workload, methods, args.repeats)
    if not args.no_memory:
        for result in results:
            result.memory = measure_memory(workload.model_name, workload.batch_size,
                                           result.method, args)
    description = model_info(workload.model_name, **model_overrides(args.image_size)).description
    out(f"### {workload.model_name}, {len(workload.images)} images in "
        f"{len(workload.batches)} batch(es) of {workload.batch_size} ({description})\n")
    out(timing_table(results) + "\n")
    out(counts_table(results) + "\n")
    agreement = check_agreement(workload, results)
    if agreement:
        out(agreement.lines() + "\n")
    return results, agreement


def print_summary(all_results, agreements, methods: list[str], args, out: Output) -> None:
    out("### Summary: time ratio to plain" + ("" if args.no_memory else " / memory ratio"))
    out()
    out(summary_table(all_results, methods) + "\n")
    for (name, batch_size), agreement in agreements.items():
        acs, macs = agreement.verdicts()
        out(f"- {name}, batch {batch_size}: syops-exact vs sj-synop-mac: ACs {acs}, MACs {macs}")
    if agreements:
        out()
    if not args.no_memory:
        out(MEMORY_FOOTER)
        if not all(r.memory["peak_reset"] for rs in all_results.values() for r in rs):
            out(NO_PEAK_RESET)
    out(COUNTS_FOOTER)


def run_benchmark(args, out: Output) -> None:
    methods = selected_methods(args.methods, out)
    out(f"Methods: {', '.join(methods)}; {args.images} images, medians of {args.repeats} "
        f"interleaved rounds after a warm-up.\n")
    all_results: dict[tuple[str, int], list[Result]] = {}
    agreements: dict[tuple[str, int], Agreement] = {}
    for name in args.models:
        model, images = build_model_and_images(name, args.images, args.image_size)
        for batch_size in args.batch_sizes:
            workload = Workload(name, batch_size, model, images)
            results, agreement = profile_workload(workload, methods, args, out)
            all_results[name, batch_size] = results
            if agreement:
                agreements[name, batch_size] = agreement
    print_summary(all_results, agreements, methods, args, out)


def run_scaling(args, out: Output) -> None:
    """count_syops time per sample for 1, 8, 64 samples; batches of 1 and 8 must agree."""
    for name in args.models:
        model, images = build_model_and_images(name, max(SCALING_SAMPLES), args.image_size)
        count_syops(model, images[:1])  # warm-up
        rows, counts = [], {}
        for samples in SCALING_SAMPLES:
            for batch_size in SCALING_BATCH_SIZES:
                if batch_size > samples:
                    continue
                batches = list(images[:samples].split(batch_size))
                times = [run_method("syops-exact", model, batches)[0] for _ in range(args.repeats)]
                seconds = statistics.median(times)
                counts[samples, batch_size] = run_method("syops-exact", model, batches)[1]
                rows.append([str(samples), str(batch_size), f"{seconds:.3f}",
                             f"{seconds / samples:.4f}",
                             f"{counts[samples, batch_size].acs:.0f}",
                             f"{counts[samples, batch_size].macs:.0f}"])
        out(f"### Scaling: {name}, count_syops mode exact, medians of {args.repeats}\n")
        out(markdown_table(["samples", "batch", "median s", "s per sample", "ACs per sample",
                            "MACs per sample"], rows) + "\n")
        for samples in SCALING_SAMPLES:
            equal = counts[samples, 1] == counts[samples, 8]
            out(f"- {samples} samples: batches of 1 and of 8 give "
                f"{'identical' if equal else 'DIFFERENT'} per-sample counts")
        out()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=None,
                        help=f"default: {' '.join(DEFAULT_MODELS)} (sew18 with --scaling)")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--image-size", type=int, default=None,
                        help="input size override (model_info's image_size)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--device", default="cpu",
                        help="cpu or cuda (timings synchronise; use --no-memory on cuda)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory probes")
    parser.add_argument("--scaling", action="store_true")
    parser.add_argument("--output", metavar="FILE.md", help="also write the tables here")
    parser.add_argument("--memory-probe", nargs=3, metavar=("MODEL", "BATCH", "METHOD"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.models is None:
        args.models = ["sew18"] if args.scaling else list(DEFAULT_MODELS)
    if min(args.images, args.repeats, *args.batch_sizes) < 1:
        parser.error("--images, --repeats and --batch-sizes must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    global DEVICE
    DEVICE = torch.device(args.device)
    if args.memory_probe:
        name, batch_size, method = args.memory_probe
        print(json.dumps(memory_probe(name, int(batch_size), method, args)))
        return 0
    out = Output()
    out("## syops overhead benchmark\n")
    out("\n".join(machine_lines(argv)) + "\n")
    (run_scaling if args.scaling else run_benchmark)(args, out)
    if args.output:
        out.save(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
