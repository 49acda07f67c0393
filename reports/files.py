"""Writing results: JSON and CSV text, and safe output files (all files or none).

Output-path rules (docs/cli.md, "Output paths"):

- ``-``, ``/dev/stdout`` and ``/dev/stderr`` are the process's own streams: written through.
- Any other path is resolved first (a symlink's target is written, never the link itself)
  and must be a new file in an existing folder or an existing regular file. Directories,
  FIFOs, sockets and device files are refused with a ``ValueError``.
- Regular files are written atomically: a temporary file in the target's folder, given the
  mode (and, where allowed, the owner) of the file it replaces, then ``os.replace``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

STREAMS = {"-": "stdout", "/dev/stdout": "stdout", "/dev/stderr": "stderr"}

# What a path is when it is not a regular file, for the error message.
NOT_REGULAR = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
               (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"))


def to_json(records: Any) -> str:
    """Strict JSON (no NaN or inf: such figures become null), indented, with a final newline."""
    return json.dumps(finite(records), indent=2, allow_nan=False) + "\n"


def to_csv(frame: pd.DataFrame) -> str:
    """CSV text; a NaN or infinite figure is an empty cell, like a missing one."""
    return frame.replace([math.inf, -math.inf], math.nan).to_csv(index=False)


def finite(value: Any, missing: Any = None) -> Any:
    """``value`` (nested dicts and lists) with every NaN or infinite float made ``missing``."""
    if isinstance(value, float) and not math.isfinite(value):
        return missing
    if isinstance(value, dict):
        return {k: finite(v, missing) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v, missing) for v in value]
    return value


@dataclass(frozen=True)
class Target:
    """Where one output goes: a stream (``stdout``/``stderr``) or a regular file's real path."""

    given: str
    stream: str | None = None
    path: Path | None = None


def output_target(given: str | Path) -> Target:
    """The target of output path ``given`` under the rules above.

    Raises ValueError for a path that is not a regular file, FileNotFoundError when its
    folder does not exist and PermissionError when the file is not writable.
    """
    given = str(given)
    if given in STREAMS:
        return Target(given, stream=STREAMS[given])
    path = real_path(given)
    try:
        mode = os.stat(os.path.expanduser(given)).st_mode  # follows links, /proc's magic ones too
    except FileNotFoundError:
        if not path.parent.is_dir():
            raise FileNotFoundError(2, f"the folder {path.parent} does not exist", given) from None
        return Target(given, path=path)
    except OSError as err:
        raise ValueError(f"{given}: {err.strerror}") from None
    for test, kind in NOT_REGULAR:
        if test(mode):
            raise ValueError(f"{given} is {kind}, not a regular file; give a file path, "
                             "or - for stdout")
    if not os.access(path, os.W_OK):
        raise PermissionError(13, "the file is not writable", given)
    return Target(given, path=path)


def real_path(path: str | Path) -> Path:
    """``path`` with ``~`` expanded and every symlink resolved."""
    return Path(os.path.realpath(os.path.expanduser(path)))


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file: equal once resolved, or the same inode."""
    a, b = real_path(a), real_path(b)
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def write_atomically(contents: Mapping[str | Path, str | bytes]) -> None:
    """Write every ``path: content`` pair, or none of the files.

    Every path is checked with ``output_target``; files are staged as temporary files in
    their own folders and moved into place only when all are written (on any failure the
    temporary files are removed and no target changes). Streams are written last.
    """
    targets = [(output_target(path), content) for path, content in contents.items()]
    _refuse_repeats([target for target, _ in targets])
    files = [(t, c) for t, c in targets if t.path is not None]
    staged: list[tuple[str, Path]] = []
    try:
        for target, content in files:
            staged.append((_stage(target, content), target.path))
        for temporary, path in staged:
            os.replace(temporary, path)
    except BaseException:
        for temporary, _ in staged:
            Path(temporary).unlink(missing_ok=True)
        raise
    for target, content in targets:
        if target.stream is not None:
            write_stream(target.stream, content)


def write_stream(name: str, content: str | bytes) -> None:
    """Write ``content`` through to ``stdout`` or ``stderr``; OSError names the stream."""
    stream = getattr(sys, name)
    try:
        if isinstance(content, bytes):
            stream.flush()
            stream.buffer.write(content)
        else:
            stream.write(content)
        stream.flush()
    except OSError as err:
        raise OSError(err.errno, err.strerror, f"<{name}>") from None


def _refuse_repeats(targets: list[Target]) -> None:
    for index, target in enumerate(targets):
        for earlier in targets[:index]:
            if (target.stream and target.stream == earlier.stream) or \
                    (target.path and earlier.path and same_file(target.path, earlier.path)):
                raise ValueError(f"{earlier.given} and {target.given} are the same file; "
                                 "give each output its own path")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _stage(target: Target, content: str | bytes) -> str:
    """A temporary file beside ``target.path`` holding ``content``, with the mode (and owner)
    of the file it will replace; its name. OSError names the given output path."""
    data = content.encode() if isinstance(content, str) else content
    path = target.path
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                             suffix=".tmp")
    except OSError as err:
        raise OSError(err.errno, err.strerror, target.given) from None
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        _copy_permissions(path, temporary)
    except BaseException as err:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise OSError(err.errno, err.strerror, target.given) from None
        raise
    return temporary


def _copy_permissions(original: Path, temporary: str) -> None:
    """``temporary`` gets the mode of ``original`` (0666 less the umask for a new file) and,
    when we may change it, its owner and group."""
    try:
        status = original.stat()
    except FileNotFoundError:
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        return
    if (status.st_uid, status.st_gid) != (os.geteuid(), os.getegid()):
        with contextlib.suppress(PermissionError):  # not root: the file becomes ours
            os.chown(temporary, status.st_uid, status.st_gid)
    os.chmod(temporary, stat.S_IMODE(status.st_mode))
