"""TorchScript archives: recognised by their layout, their weights read (a ScriptModule takes
no forward hooks, so its weights are counted in the eager model ``--arch`` names)."""

from __future__ import annotations

import importlib
import re
import warnings
import zipfile
from pathlib import Path

import torch

from .errors import UsageError, first_line

MAX_CODE_BYTES = 64 << 20
"""The TorchScript code read to find the custom ops it calls (a zip bomb stops here)."""


def is_torchscript(path: Path) -> bool:
    """A TorchScript archive is a zip holding ``code/`` and ``constants.pkl``."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/constants.pkl") for name in archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def register_custom_ops(path: Path) -> None:
    """Import the SpikingJelly packages that define the custom ops (``sj_plif::forward``...)
    the archive calls: SpikingJelly registers them on first use, so a fresh process lacks
    them and ``torch.jit.load`` fails."""
    with zipfile.ZipFile(path) as archive:
        sources = [info for info in archive.infolist() if info.filename.endswith(".py")]
        if sum(info.file_size for info in sources) > MAX_CODE_BYTES:
            raise UsageError(f"{path}: its TorchScript code declares more than "
                             f"{MAX_CODE_BYTES >> 20} MiB; not a model archive")
        code = " ".join(archive.read(info).decode("utf-8", "replace") for info in sources)
    for namespace in sorted(set(re.findall(r"\bops\.sj_(\w+)\.", code))):
        for candidate in (namespace, f"{namespace}_"):
            try:
                importlib.import_module(f"spikingjelly._ops.{candidate}")
                break
            except ImportError:
                continue


def torchscript_state(path: Path, arch: str | None) -> dict[str, torch.Tensor]:
    """The weights of a TorchScript archive (a ScriptModule takes no forward hooks, so it
    is counted in the eager model ``--arch`` names)."""
    if arch is None:
        raise UsageError(f"{path}: a TorchScript module takes no hooks, so its layers cannot be "
                         f"counted; pass --arch NAME (a reference model, or FILE.py:CLASS) to "
                         f"count its weights in that model, or profile the eager model's "
                         f"state_dict")
    try:
        register_custom_ops(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return dict(torch.jit.load(str(path), map_location="cpu").state_dict())
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(f"{path}: not a loadable TorchScript archive ({first_line(exc)})") \
            from None
