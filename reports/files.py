"""Writing results: JSON and CSV text, and atomic file writes (all files or none)."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

import pandas as pd


def to_json(records: Any) -> str:
    """Strict JSON (no NaN: missing figures become null), indented, with a final newline."""
    return json.dumps(_finite(records), indent=2, allow_nan=False) + "\n"


def to_csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_atomically(contents: Mapping[str | Path, str | bytes]) -> None:
    """Write every ``path: content`` pair, or none of them.

    Each file goes to a temporary file in its own folder first; only when all are written
    are they moved into place with ``os.replace``. On any failure the temporary files are
    removed and no target is created.
    """
    staged: list[tuple[str, Path]] = []
    try:
        for path, content in contents.items():
            staged.append((_stage(Path(path), content), Path(path)))
        for temporary, path in staged:
            os.replace(temporary, path)
    except BaseException:
        for temporary, _ in staged:
            Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _stage(path: Path, content: str | bytes) -> str:
    """A temporary file beside ``path`` holding ``content``; its name."""
    data = content.encode() if isinstance(content, str) else content
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return temporary
