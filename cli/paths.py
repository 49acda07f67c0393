"""The one rule for every file a run writes: it may not be a file the run reads, nor another
output of the run.

``check_output_paths(outputs, inputs)`` is that rule; every command (and any new output, such
as an HTML report) calls it before the work starts. A path "is" an input when both name the
same file once symlinks are resolved, or share an inode (a hard link); a folder input
(``--data-root``) protects every file under it, and any file hard-linked to one of them.
``run_inputs`` lists the files a profiling run reads: the model file, the ``--arch`` source,
the ``--dataset`` file, the ``--data-root`` tree, the ``--energy`` file and ``--resume``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Iterable, Mapping

from syops.imports import SPEC, is_object_spec
from syops.reports.files import STREAMS, real_path, same_file

from .errors import UsageError

MAX_TREE_FILES = 1_000_000
"""Files of a --data-root compared by inode with a hard-linked output (at most)."""


def source_file(spec: str | None) -> str | None:
    """The file a model or data argument reads: the path itself, or FILE of FILE.py:NAME;
    None for names (reference models, data sets, pkg.module:NAME)."""
    if not spec:
        return None
    if is_object_spec(spec):
        where = SPEC.match(spec)["where"]
        return where if where.endswith(".py") else None
    return spec if os.path.lexists(os.path.expanduser(spec)) else None


def run_inputs(models: Iterable[str], *, arch: str | None = None, dataset: str | None = None,
               data_root: str | None = None, energy_file: str | None = None,
               resume: str | None = None) -> dict[str, str | None]:
    """What each input of a profiling run is (for messages) -> its path."""
    inputs = {f"the model file {m}": source_file(m) for m in models}
    return {**inputs, "the --arch source": source_file(arch),
            "the --dataset file": source_file(dataset), "--data-root": data_root,
            "the --energy file": energy_file, "the --resume file": resume}


def check_output_paths(outputs: Mapping[str, str | None],
                       inputs: Mapping[str, str | None],
                       may_share: Iterable[tuple[str, str]] = ()) -> None:
    """Refuse an output (option -> path; None and stdout/stderr skipped) that is an input
    (what -> path) or another output. ``may_share`` lists (output, input) pairs that may be
    one file (--save-to and --resume: a resumed run saves where it resumed from)."""
    shared = set(may_share)
    named = [(option, path) for option, path in outputs.items()
             if path and path not in STREAMS]
    for i, (option, path) in enumerate(named):
        for other, other_path in named[:i]:
            if same_file(path, other_path):
                raise UsageError(f"{other} and {option} name the same file {path}; give two "
                                 f"paths")
        for what, source in inputs.items():
            if source and (option, what) not in shared:
                _check_one(option, path, what, source)


def _check_one(option: str, path: str, what: str, source: str) -> None:
    if os.path.isdir(source):
        if real_path(path).is_relative_to(real_path(source)) or _linked_into(path, source):
            raise UsageError(f"{option} {path} lies inside {what} {source}; write the "
                             "results outside it")
    elif same_file(path, source):
        raise UsageError(f"{option} {path} is {what}; writing there would destroy it, give "
                         "another path")


def _linked_into(path: str, folder: str) -> bool:
    """Whether ``path`` is a hard link of a file under ``folder``."""
    try:
        status = os.stat(path)
    except OSError:
        return False
    if not stat.S_ISREG(status.st_mode) or status.st_nlink < 2:
        return False
    for count, found in enumerate(Path(folder).rglob("*")):
        if count >= MAX_TREE_FILES:
            return False
        try:
            other = found.lstat()
        except OSError:
            continue
        if (other.st_dev, other.st_ino) == (status.st_dev, status.st_ino):
            return True
    return False


def check_run_paths(models: Iterable[str], out, data, counting, loading, longrun) -> None:
    """``check_output_paths`` for a profiling run: -o, --plot and the partial reports
    (--save-to) against the model files, --arch, --dataset, --data-root, --energy and
    --resume."""
    output = None if STREAMS.get(out.output) == "stdout" else out.output
    outputs = {"--output": output, "--plot": out.plot, "--save-to": longrun.partial_path}
    inputs = run_inputs(models, arch=loading.arch, dataset=data.dataset,
                        data_root=data.data_root, energy_file=counting.energy_file,
                        resume=longrun.resume)
    check_output_paths(outputs, inputs, [("--save-to", "the --resume file")])
