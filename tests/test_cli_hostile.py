"""Hostile command lines (issue 13), each run as a real ``python -m syops`` process under a
time limit and an address-space limit: the documented exit code, one ``Error:`` line on
stderr and no traceback, no file left behind, and every victim (inputs, FIFOs, links,
files standing in for devices) unchanged.

Victims are real inputs the run would succeed on (a loadable state dict, a valid data tree,
a valid energy file), so that a missing check shows as a destroyed victim, not as a
different error. The real /dev/null is never touched: devices are a FIFO, a socket and
(as root) a character device made in the test's own folder, plus /dev/stdout by name.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import tracemalloc
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest
import torch
from cli_helpers import json_records
from data_fixtures import write_gesture_tree

from syops.cli.diagnostics import QUIET, Diagnostics
from syops.cli.options import Output
from syops.cli.output import emit_records
from syops.data import get_dataset
from syops.energy import MAX_PJ, EnergyModel
from syops.models import create_model
from syops.reports.files import finite, output_target, to_csv, write_atomically
from syops.reports.tables import number

MEMORY_LIMIT = 2 << 30  # bytes of address space per run; a plain profile needs under 1 GiB
TIMEOUT = 240  # seconds per run (a loaded 2-core CI machine takes ~20 s for a profile)
PROFILE = ["profile", "fsnn7", "-T", "2", "--samples", "1", "--format", "json", "-q"]
LISTING = ["models", "fsnn7", "--format", "csv"]
CSV_HEADER = "name,family,input_shape"
ENERGY_LINES = b"ac_pj = 0.9\nmac_pj = 4.6\n"
SNAPSHOT_BYTES = 64 << 20  # larger files are compared by size and modification time


@dataclass(frozen=True)
class Case:
    """One command line. ``{d}`` in ``args`` is the case's own folder, made by ``setup``;
    ``changed`` files may change (the outputs), everything else in the folder may not."""

    args: list[str]
    code: int = 2
    message: str = ""                       # in the one stderr line (when code != 0)
    setup: Callable[[Path], None] = lambda d: None
    changed: tuple[str, ...] = ()
    stdout: str = "pipe"                    # pipe | full (/dev/full) | closed (reader gone)
    check: Callable[[Path, subprocess.CompletedProcess], None] | None = None
    needs_root: bool = False
    extra_stderr: tuple[str, ...] = ()      # engine warnings allowed before the error line


# --- setups -----------------------------------------------------------------------------

def model_file(d: Path, name: str = "victim.pt") -> None:
    torch.save(create_model("fsnn7").state_dict(), d / name)


def energy_file(text: bytes, name: str = "costs.toml") -> Callable[[Path], None]:
    return lambda d: (d / name).write_bytes(text)


def symlink(name: str, target: str, first: Callable[[Path], None] = lambda d: None):
    def setup(d: Path) -> None:
        first(d)
        (d / name).symlink_to(target)
    return setup


def several(*setups: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        for one in setups:
            one(d)
    return setup


def unix_socket(d: Path) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(d / "out.sock"))  # the socket file outlives the closed socket


def char_device(d: Path) -> None:
    os.mknod(d / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a /dev/null of our own


def regular_with_mode(d: Path) -> None:
    (d / "out.csv").write_text("old\n")
    os.chmod(d / "out.csv", 0o640)


def gesture_tree(d: Path) -> None:
    write_gesture_tree(d / "gesture", layout="frames", T=2)


# --- checks of successful runs ----------------------------------------------------------

def wrote_csv(name: str):
    def check(d: Path, done) -> None:
        assert (d / name).read_text().startswith(CSV_HEADER)
    return check


def csv_on(stream: str):
    def check(d: Path, done) -> None:
        assert getattr(done, stream).startswith(CSV_HEADER)
        assert os.path.islink("/dev/stdout") and os.path.islink("/dev/stderr")
    return check


def mode_kept(d: Path, done) -> None:
    assert (d / "out.csv").read_text().startswith(CSV_HEADER)
    assert stat.S_IMODE((d / "out.csv").stat().st_mode) == 0o640


def one_sample(d: Path, done) -> None:
    assert '"samples": 1' in done.stdout

USER_CODE = """
import argparse, sys, torch
from torch import nn


class Net(nn.Module):
    def __init__(self, channels=4):
        super().__init__()
        self.fc = nn.Linear(channels, 2)

    def forward(self, x):
        return self.fc(x)


class Exits(Net):
    def __init__(self):
        sys.exit(0)


class Parses(Net):
    \"\"\"A training script's model: parses sys.argv (syops's own must not reach it).\"\"\"

    def __init__(self):
        parser = argparse.ArgumentParser()
        parser.add_argument("--lr", type=float, default=0.1)
        self.lr = parser.parse_args().lr
        super().__init__()


class Items(torch.utils.data.Dataset):
    def __init__(self, size=4, bad=None, value=float("nan")):
        self.size, self.bad, self.value = size, bad, value

    def __len__(self):
        return self.size

    def __getitem__(self, i):
        if i == self.bad and self.value == "raise":
            raise KeyError(f"no item {i}")
        if i == self.bad and self.value == "exit":
            sys.exit(3)
        return torch.full((4,), self.value if i == self.bad else 1.0), 0


def raising():
    return Items(bad=3, value="raise")


def exiting():
    return Items(bad=0, value="exit")


def huge():
    return Items(size=10 ** 12)


def nan():
    return Items(bad=2)


def forever():
    while True:
        yield torch.ones(1, 4)


def meta():
    return [torch.ones(2, 4, device="meta")]


def sparse():
    return [torch.ones(2, 4).to_sparse()]


def empty():
    return [torch.ones(0, 4)]


def no_input_key():
    return [{"features": torch.ones(2, 4)}]
"""
USER_NET = ["profile", "{d}/net.py:Net", "--format", "json", "-q", "--dataset"]


def user_code(d: Path) -> None:
    (d / "net.py").write_text(USER_CODE)


def npy_declaring(name: str, shape: tuple, rows: int = 0) -> Callable[[Path], None]:
    """A .npy whose header declares ``shape`` (float32) over ``rows`` real rows of ones, the
    rest a hole (sparse) when ``rows`` is 0."""
    def setup(d: Path) -> None:
        user_code(d)
        with open(d / name, "wb") as stream:
            np.lib.format.write_array_header_1_0(stream, {"descr": "<f4", "fortran_order": False,
                                                          "shape": shape})
            if rows:
                stream.write(np.ones((rows, *shape[1:]), np.float32).tobytes())
            else:
                stream.truncate(stream.tell() + math.prod(shape) * 4)
    return setup


def npz_declaring_2_30(d: Path) -> None:
    """An .npz whose inputs declare 2^30 samples (4 GiB) over 8 stored rows."""
    user_code(d)
    with zipfile.ZipFile(d / "big.npz", "w") as archive, archive.open("x.npy", "w") as stream:
        np.lib.format.write_array_header_1_0(stream, {"descr": "<f4", "fortran_order": False,
                                                      "shape": (2 ** 30, 4)})
        stream.write(np.ones((8, 4), np.float32).tobytes())


def tensor_file(name: str, values: np.ndarray) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        user_code(d)
        if name.endswith(".npy"):
            np.save(d / name, values)
        elif name.endswith(".npz"):
            np.savez(d / name, x=values)
        else:
            torch.save(torch.from_numpy(values), d / name,
                       _use_new_zipfile_serialization=not name.startswith("legacy"))
    return setup


NAN_ROWS = np.ones((4, 4), np.float32) * np.array([1, 1, np.nan, 1], np.float32)[:, None]


def samples_are(count: int, stderr: str = ""):
    def check(d: Path, done) -> None:
        assert json.loads(done.stdout)[0]["samples"] == count
        assert stderr.replace("{d}", str(d)) in done.stderr, done.stderr
    return check



CASES = {
    # --output: only new paths and regular files; a symlink's target is written.
    "symlink-target-written": Case(
        [*LISTING, "-o", "{d}/link.csv"], 0,
        setup=symlink("link.csv", "target.csv", energy_file(b"old\n", "target.csv")),
        changed=("target.csv",), check=wrote_csv("target.csv")),
    "dangling-symlink-creates-target": Case(
        [*LISTING, "-o", "{d}/link.csv"], 0, setup=symlink("link.csv", "new.csv"),
        changed=("new.csv",), check=wrote_csv("new.csv")),
    "fifo": Case([*LISTING, "-o", "{d}/fifo"], message="fifo is a FIFO (named pipe)",
                 setup=lambda d: os.mkfifo(d / "fifo")),
    "directory": Case([*LISTING, "-o", "{d}/out"], message="is a directory",
                      setup=lambda d: (d / "out").mkdir()),
    "socket": Case([*LISTING, "-o", "{d}/out.sock"], message="is a socket", setup=unix_socket),
    "character-device": Case([*LISTING, "-o", "{d}/null"], message="is a character device",
                             setup=char_device, needs_root=True),
    "symlink-to-own-stdout": Case(  # resolves to the pipe the run writes to: a FIFO
        [*LISTING, "-o", "{d}/out"], message="is a FIFO",
        setup=symlink("out", "/proc/self/fd/1")),
    "dev-stdout-written-through": Case([*LISTING, "-o", "/dev/stdout"], 0,
                                       check=csv_on("stdout")),
    "dash-is-stdout": Case([*LISTING, "-o", "-"], 0, check=csv_on("stdout")),
    "dev-stderr-written-through": Case([*LISTING, "-o", "/dev/stderr"], 0,
                                       check=csv_on("stderr")),
    "missing-folder": Case([*LISTING, "-o", "{d}/no/such/out.csv"], message="does not exist"),
    "replaced-file-keeps-its-mode": Case([*LISTING, "-o", "{d}/out.csv"], 0,
                                         setup=regular_with_mode, changed=("out.csv",),
                                         check=mode_kept),
    # --output or --plot onto an input, or onto each other.
    "output-is-the-model": Case(
        ["profile", "{d}/victim.pt", "--arch", "fsnn7", *PROFILE[2:], "-o", "{d}/victim.pt"],
        message="is the model file", setup=model_file),
    "output-hard-links-the-model": Case(
        ["profile", "{d}/victim.pt", "--arch", "fsnn7", *PROFILE[2:], "-o", "{d}/hard.pt"],
        message="is the model file",
        setup=lambda d: (model_file(d), os.link(d / "victim.pt", d / "hard.pt"))),
    "output-symlinks-the-model": Case(
        ["profile", "{d}/victim.pt", "--arch", "fsnn7", *PROFILE[2:], "-o", "{d}/soft.pt"],
        message="is the model file", setup=symlink("soft.pt", "victim.pt", model_file)),
    "compare-output-is-a-model": Case(
        ["compare", "fsnn7", "{d}/victim.pt", "--arch", "fsnn7", "-T", "2", "-q",
         "-o", "{d}/victim.pt"], message="is the model file", setup=model_file),
    "output-inside-data-root": Case(
        [*PROFILE, "--data-root", "{d}/gesture", "-o", "{d}/gesture/out.json"],
        message="inside --data-root", setup=gesture_tree),
    "output-is-the-energy-file": Case(
        [*PROFILE, "--energy", "{d}/costs.toml", "-o", "{d}/costs.toml"],
        message="is the --energy file", setup=energy_file(b"ac_pj = 0.9\nmac_pj = 4.6\n")),
    "plot-is-the-output": Case([*PROFILE, "--plot", "{d}/p.png", "-o", "{d}/p.png"],
                               message="--output and --plot name the same file"),
    "plot-is-the-output-through-a-link": Case(
        [*PROFILE, "--plot", "{d}/p.png", "-o", "{d}/q.png"],
        message="--output and --plot name the same file",
        setup=symlink("q.png", "p.png", energy_file(b"png", "p.png"))),
    # --energy: bounded figures; regular, small, UTF-8 files; errors name the file.
    "energy-1e308": Case([*PROFILE, "--energy", "{d}/costs.toml"], message="at most 1,000,000",
                         setup=energy_file(b"ac_pj = 1e308\nmac_pj = 4.6\n")),
    "energy-not-utf8": Case([*PROFILE, "--energy", "{d}/costs.toml"],
                            message="costs.toml is not UTF-8",
                            setup=energy_file(b"ac_pj = 0.9\nmac_pj = 4.6\n# \xff\xfe\n")),
    "energy-fifo-does-not-hang": Case(
        [*PROFILE, "--energy", "{d}/costs.toml"], message="costs.toml: not a regular file",
        setup=lambda d: os.mkfifo(d / "costs.toml")),
    "energy-huge-file": Case([*PROFILE, "--energy", "{d}/costs.toml"], message="larger than",
                             setup=energy_file(b"# padding\n" * 10_000)),
    # User code (issue 24): it never ends syops, its errors are one line naming the call.
    "factory-calls-sys-exit": Case(["profile", "{d}/net.py:Exits", "-q"], setup=user_code,
                                   message="net.py:Exits() exited (SystemExit: 0)"),
    "argparse-training-script": Case(
        ["profile", "{d}/net.py:Parses", "--dataset", "{d}/net.py:huge", "--samples", "1",
         "--format", "json", "-q", "--batch-size", "1"], 0, setup=user_code,
        check=samples_are(1)),
    "dataset-item-raises": Case([*USER_NET, "{d}/net.py:raising"], setup=user_code,
                                message="net.py:raising: item 3 raised KeyError: 'no item 3'"),
    "dataset-item-exits": Case([*USER_NET, "{d}/net.py:exiting"], setup=user_code,
                               message="item 0 exited (SystemExit: 3)"),
    "dataset-len-1e12-samples-2": Case([*USER_NET, "{d}/net.py:huge", "--samples", "2"], 0,
                                       setup=user_code, check=samples_are(2)),
    "infinite-iterable-is-capped": Case(
        ["profile", "{d}/net.py:Net", "--format", "json", "--dataset", "{d}/net.py:forever",
         "--batch-size", "1000"], 0, setup=user_code,
        check=samples_are(10_000, "net.py:forever has no length")),
    "meta-batch": Case([*USER_NET, "{d}/net.py:meta"], setup=user_code, message="meta device"),
    "sparse-batch": Case([*USER_NET, "{d}/net.py:sparse"], setup=user_code,
                         message="sparse_coo inputs"),
    "empty-batch": Case([*USER_NET, "{d}/net.py:empty"], setup=user_code,
                        message="empty inputs of shape [0, 4]"),
    "dict-batch-without-input-key": Case([*USER_NET, "{d}/net.py:no_input_key"],
                                         setup=user_code, message="name the inputs x, inputs"),
    "nan-item-refused": Case([*USER_NET, "{d}/net.py:nan"], setup=user_code,
                             message="net.py:nan: item 2 holds NaN or inf"),
    "nan-item-skipped": Case(
        ["profile", "{d}/net.py:Net", "--format", "json", "--dataset", "{d}/net.py:nan",
         "--skip-bad"], 0, setup=user_code,
        check=samples_are(3, "skipped 1 bad file(s) or item(s), first: {d}/net.py:nan")),
    "arch-args-channels-0": Case(
        ["profile", "{d}/net.py:Net", "--arch-args", '{"channels": 0}', "--dataset",
         "{d}/net.py:huge", "--samples", "1"], setup=user_code,
        message="parameter fc.weight is empty [2, 0]"),
    # User tensor files: memory bounded by what is read; NaN and inf refused.
    "npz-declaring-2-30-samples": Case([*USER_NET, "{d}/big.npz", "--samples", "2"], 0,
                                       setup=npz_declaring_2_30, check=samples_are(2)),
    "npz-declaring-2-30-samples-all": Case([*USER_NET, "{d}/big.npz"], setup=npz_declaring_2_30,
                                           message="pass --samples N (fewer)"),
    "sparse-npy-2-31-samples": Case([*USER_NET, "{d}/sparse.npy", "--samples", "2"], 0,
                                    setup=npy_declaring("sparse.npy", (2 ** 31, 4)),
                                    check=samples_are(2)),
    "npy-8-gib-is-not-mapped": Case([*USER_NET, "{d}/eight.npy", "--samples", "2"], 0,
                                    setup=npy_declaring("eight.npy", (2 ** 29, 4)),
                                    check=samples_are(2)),
    "npy-nan": Case([*USER_NET, "{d}/x.npy"], setup=tensor_file("x.npy", NAN_ROWS),
                    message="x.npy: item 2 holds NaN or inf"),
    "npz-nan": Case([*USER_NET, "{d}/x.npz"], setup=tensor_file("x.npz", NAN_ROWS),
                    message="x.npz: item 2 holds NaN or inf"),
    "pt-nan": Case([*USER_NET, "{d}/x.pt"], setup=tensor_file("x.pt", NAN_ROWS),
                   message="x.pt: item 2 holds NaN or inf"),
    "pt-nan-skipped": Case([*USER_NET, "{d}/x.pt", "--skip-bad"], 0,
                           setup=tensor_file("x.pt", NAN_ROWS), check=samples_are(3)),
    "float64-1e300-becomes-inf": Case([*USER_NET, "{d}/x.npy"],
                                      setup=tensor_file("x.npy", np.full((2, 4), 1e300)),
                                      message="item 0 holds NaN or inf"),
    "legacy-pt-refused": Case([*USER_NET, "{d}/legacy.pt"],
                              setup=tensor_file("legacy.pt", np.ones((2, 4), np.float32)),
                              message="legacy format"),
    "time-first-on-1-d-samples": Case([*USER_NET, "{d}/x.npy", "--time-first"],
                                      setup=tensor_file("x.npy", np.ones((2, 4), np.float32)),
                                      message="drop --time-first"),
    "workers-1e20-capped": Case(
        ["profile", "fsnn7", "-T", "2", "--samples", "2", "--format", "json",
         "--workers", str(10 ** 20)], 0,
        check=samples_are(2, f"--workers {10 ** 20}: using ")),
    "samples-1e30": Case([*PROFILE[:5], str(10 ** 30)], message="1<=x<=4611686018427387904"),
    "energy-nested-arrays": Case([*PROFILE, "--energy", "{d}/costs.toml"],
                                 message="nests arrays or tables too deeply",
                                 setup=energy_file(b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n")),
    "energy-nested-tables": Case([*PROFILE, "--energy", "{d}/costs.toml"],
                                 message="nests arrays or tables too deeply",
                                 setup=energy_file(b"x = " + b"{a = " * 3000 + b"1" +
                                                   b"}" * 3000 + b"\n")),
    "energy-64-kib-plus-1": Case([*PROFILE, "--energy", "{d}/costs.toml"],
                                 message="larger than 64 KiB",
                                 setup=energy_file(ENERGY_LINES.ljust(64 << 10, b"#") + b"\n")),
    "energy-64-kib-accepted": Case([*PROFILE, "--energy", "{d}/costs.toml"], 0,
                                   setup=energy_file(ENERGY_LINES.ljust((64 << 10) - 1, b"#")
                                                     + b"\n")),
    "energy-with-a-utf8-bom": Case([*PROFILE, "--energy", "{d}/costs.toml"], 0,
                                   setup=energy_file(b"\xef\xbb\xbf" + ENERGY_LINES),
                                   check=one_sample),
    # Limits: exit 2 with what to change, never "internal error".
    "T-beyond-the-limit": Case([*PROFILE[:3], "20000"], message="1<=x<=1024"),
    "samples-1e8-is-lazy": Case(["profile", "fsnn7", "-T", "2", "--samples", "100000000",
                                 "--max-batches", "1", "--format", "json", "-q"], 0,
                                check=one_sample),
    "out-of-memory": Case(
        ["profile", "fsnn7", "-T", "256", "--batch-size", "2", "--samples", "2", "-q"],
        message="out of memory", extra_stderr=("SyopsWarning: type probe failed",
                                               "self._run_probe")),
    "stdout-on-a-full-disk": Case(LISTING, message="cannot write to stdout: No space left",
                                  stdout="full"),
    "stdout-reader-gone": Case(LISTING, message="cannot write to stdout: Broken pipe",
                               stdout="closed"),
}


def limited(args: list[str], python: str = "") -> list[str]:
    """``python PYTHON -m syops ARGS`` exec'd by a shell that first sets RLIMIT_AS
    (``ulimit -v``; a preexec_fn is not safe beside the threads that run the cases)."""
    return ["sh", "-c", f'ulimit -v {MEMORY_LIMIT >> 10} && exec "$0" {python} -m syops "$@"',
            sys.executable, *args]


def syops(args: list[str], stdout: str = "pipe", **popen) -> subprocess.CompletedProcess:
    """``python -m syops ARGS`` under the time and memory limits."""
    command = limited(args)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # cases run side by side on a few cores
    if stdout == "full":
        with open("/dev/full", "w") as full:
            return subprocess.run(command, stdout=full, stderr=subprocess.PIPE, text=True,
                                  timeout=TIMEOUT, env=env, **popen)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, **popen)
    if stdout == "closed":
        process.stdout.close()
        process.stdout = None
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
    return subprocess.CompletedProcess(command, process.returncode, out or "", err)


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under ``folder``: its kind, mode, link target or content."""
    entries = {}
    for path in sorted(folder.rglob("*")):
        status = path.lstat()
        if stat.S_ISLNK(status.st_mode):
            what = ("link", os.readlink(path))
        elif stat.S_ISREG(status.st_mode) and status.st_size > SNAPSHOT_BYTES:  # sparse giants
            what = ("file", stat.S_IMODE(status.st_mode), status.st_size, status.st_mtime_ns)
        elif stat.S_ISREG(status.st_mode):
            what = ("file", stat.S_IMODE(status.st_mode), path.read_bytes())
        else:
            what = (stat.S_IFMT(status.st_mode), stat.S_IMODE(status.st_mode))
        entries[str(path.relative_to(folder))] = what
    return entries


def runnable(case: Case) -> bool:
    return not case.needs_root or os.geteuid() == 0


def selected(request) -> list[str]:
    """The cases of this session's test_hostile_command_line items (all, unless -k)."""
    return [item.callspec.params["name"] for item in request.session.items
            if getattr(item, "originalname", "") == "test_hostile_command_line"]


@pytest.fixture(scope="module")
def results(request, tmp_path_factory):
    """The selected cases run at once (three at a time): name -> (folder, before, result)."""
    prepared = {}
    for name in selected(request):
        case = CASES[name]
        if runnable(case):
            folder = tmp_path_factory.mktemp(name)
            case.setup(folder)
            prepared[name] = (folder, snapshot(folder))

    def run(name: str):
        folder, _ = prepared[name]
        args = [a.replace("{d}", str(folder)) for a in CASES[name].args]
        return syops(args, CASES[name].stdout, cwd=folder)

    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(run, name) for name in prepared}
        return {name: (*prepared[name], future.result()) for name, future in futures.items()}


@pytest.mark.parametrize("name", CASES)
def test_hostile_command_line(results, name):
    case = CASES[name]
    if not runnable(case):
        pytest.skip("making a character device needs root")
    folder, before, done = results[name]
    assert done.returncode == case.code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    if case.code:
        lines = [line for line in done.stderr.strip().splitlines()
                 if not any(allowed in line for allowed in case.extra_stderr)]
        assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
        assert case.message in lines[0], lines[0]
        assert "internal error" not in lines[0]
    after = snapshot(folder)
    left = set(after) - set(before) - set(case.changed)
    assert not left, f"files left behind: {sorted(left)}"
    for entry, what in before.items():
        if entry not in case.changed:
            assert after.get(entry) == what, f"{entry} changed"
    if case.check:
        case.check(folder, done)


def interrupt(after: Callable[[subprocess.Popen], None], args: list[str], python: str = ""):
    """Start ``syops ARGS``, call ``after`` (it waits for the moment), then send SIGINT."""
    process = subprocess.Popen(limited(args, python), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        after(process)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
    return process.returncode, err


def test_ctrl_c_while_profiling_is_one_line_and_130():
    def once_profiling(process):
        for line in process.stderr:  # -v says "data: ..." just before the counting starts
            if line.startswith("data:"):
                break
        time.sleep(0.5)

    code, err = interrupt(once_profiling, ["profile", "fsnn7", "-T", "16", "--samples", "64",
                                           "-v"])
    assert code == 130 and "Traceback" not in err, err
    assert err.strip().splitlines() == ["Error: interrupted (Ctrl-C)"]


def test_ctrl_c_during_the_import_of_torch_is_one_line_and_130():
    def inside_torch(process):
        for line in process.stderr:  # -X importtime: a line per module as it finishes
            if "torch._" in line:
                break

    code, err = interrupt(inside_torch, ["models", "fsnn7"], python="-X importtime")
    lines = [line for line in err.splitlines() if line and not line.startswith("import time:")]
    assert code == 130 and lines == ["Error: interrupted (Ctrl-C)"], err[-2000:]


# --- the rules in-process: output targets, atomic replacement, renderers, limits ----------

def test_output_targets(tmp_path):
    assert output_target("-").stream == "stdout" and output_target("/dev/stderr").stream == "stderr"
    (tmp_path / "real.json").write_text("x")
    (tmp_path / "link.json").symlink_to("real.json")
    assert output_target(tmp_path / "link.json").path == tmp_path / "real.json"
    assert output_target(tmp_path / "new.json").path == tmp_path / "new.json"
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(ValueError, match="is a FIFO"):
        output_target(tmp_path / "fifo")
    with pytest.raises(ValueError, match="is a directory"):
        output_target(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        output_target(tmp_path / "no" / "such.json")
    (tmp_path / "loop").symlink_to("loop")
    with pytest.raises(ValueError, match="symbolic links"):
        output_target(tmp_path / "loop")


def test_atomic_replacement_keeps_mode_links_and_refuses_twins(tmp_path):
    old = tmp_path / "old.txt"
    old.write_text("old")
    os.chmod(old, 0o604)
    os.link(old, tmp_path / "twin.txt")
    (tmp_path / "link.txt").symlink_to("old.txt")
    write_atomically({tmp_path / "link.txt": "new"})
    assert old.read_text() == "new" and stat.S_IMODE(old.stat().st_mode) == 0o604
    assert (tmp_path / "link.txt").is_symlink()
    assert (tmp_path / "twin.txt").read_text() == "old"  # the other name keeps its content
    with pytest.raises(ValueError, match="same file"):
        write_atomically({tmp_path / "a.txt": "A", tmp_path / "link.txt": "B",
                          tmp_path / "old.txt": "C"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.txt", "old.txt", "twin.txt"]
    assert old.read_text() == "new"


def test_a_fifo_appearing_after_the_check_is_refused_at_write_time(tmp_path):
    os.mkfifo(tmp_path / "out.json")
    with pytest.raises(ValueError, match="FIFO"):
        write_atomically({tmp_path / "a.json": "A", tmp_path / "out.json": "B"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
    assert stat.S_ISFIFO((tmp_path / "out.json").stat().st_mode)


def test_non_finite_figures_render_everywhere(tmp_path):
    record = json_records("profile", "fsnn7", "-T", "2", "--samples", "1")[0]
    layer = record["layers"][0]
    poisoned = {**record, "dc_mj": math.inf, "ec_high_mj": math.nan, "firing_rate": math.inf,
                "layers": [{**layer, "acs": math.inf, "macs": math.nan, "firing_rate": math.inf,
                            "energy_pj": -math.inf}, *record["layers"][1:]]}
    for fmt in ("table", "json", "csv", "markdown", "latex"):
        out = Output(fmt, str(tmp_path / f"out.{fmt}"), str(tmp_path / f"{fmt}.png"))
        emit_records([poisoned], out, Diagnostics(QUIET), layers=True)
        assert (tmp_path / f"{fmt}.png").read_bytes().startswith(b"\x89PNG")
    assert json.loads((tmp_path / "out.json").read_text())[0]["dc_mj"] is None
    assert "inf" not in (tmp_path / "out.csv").read_text()
    assert "inf" in (tmp_path / "out.table").read_text()
    assert finite({"a": [math.inf, 1.0]}, 0.0) == {"a": [0.0, 1.0]}


def test_numbers_and_csv_cells_of_non_finite_figures():
    assert number(math.inf) == "inf" and number(-math.inf, 1e6) == "-inf"
    frame = pd.DataFrame({"x": [math.inf, 1.5, -math.inf], "n": [1, 2, 3]})
    assert to_csv(frame) == "x,n\n,1\n1.5,2\n,3\n"


def test_energy_costs_are_bounded():
    assert EnergyModel("edge", ac_pj=MAX_PJ, mac_pj=0).ac_pj == 1e6
    with pytest.raises(ValueError, match="at most 1,000,000"):
        EnergyModel("huge", ac_pj=1e308, mac_pj=1.0)


def test_a_synthetic_set_of_1e8_items_is_built_lazily():
    tracemalloc.start()
    dataset = get_dataset("dvs-gesture", None, T=2, size=10 ** 8)
    built = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert built < 10 << 20, built  # 10^8 Sample objects would take about 10 GB
    assert len(dataset) == 10 ** 8 and dataset.info.num_samples == 10 ** 8
    assert dataset.samples[-1].key == 10 ** 8 - 1 and dataset.samples[-1].label == 10 ** 8 % 11 - 1
    assert dataset[12][1] == 1 and tuple(dataset[12][0].shape) == (2, 2, 128, 128)
    with pytest.raises(IndexError):
        dataset.samples[10 ** 8]
