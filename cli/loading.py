"""Loading the model to profile: a reference model by name (random init), a user's model
class (``--arch FILE.py:NAME`` / ``pkg.module:NAME``), or a file.

Files, safest first:
- a state_dict, or a training checkpoint holding one (under ``model``, ``state_dict``,
  ``model_state_dict`` or ``net``), loaded strictly into the reference arch from ``--arch``
  or from the checkpoint's ``args``, in our key names or an official code base's
  (``syops.models.checkpoints``), or into the user's class; read with
  ``torch.load(weights_only=True)``, only ``argparse.Namespace`` allowed beside tensors;
- a TorchScript archive: its weights, loaded the same way (a ScriptModule takes no hooks);
- a pickled whole ``nn.Module``: only with ``--trust-pickle``, since unpickling runs code,
  and even then only the globals a model needs (``cli.pickles``: an allow-list).

Only regular files are read (never a device or a FIFO), and none larger than the memory.
The jobs live in their own modules: ``references`` (names), ``torchscript``, ``pickles``,
``checkpoint_files`` (state_dicts and training args); this one ties them together.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from syops.imports import call_object, is_object_spec, load_object
from syops.models import ModelInfo, checkpoints
from syops.reports.records import RANDOM_INIT

from .checkpoint_files import (
    checkpoint_arch,
    checkpoint_args,
    find_state_dict,
    load_fitting,
    strip_wrapper_prefix,
)
from .errors import UsageError
from .pickles import ANY_FILE, unpickle
from .references import arch_info, build, build_plain_shortcut, canonical_arch
from .torchscript import is_torchscript, torchscript_state

__all__ = ["LoadedModel", "announce", "arch_info", "build", "canonical_arch", "load_model"]

FILE_SUFFIXES = (".pt", ".pth", ".ckpt", ".tar", ".bin", ".pkl", ".jit", ".ts")
MAX_FILE_BYTES = 16 << 30
"""Model files above this (or above the machine's memory) are refused before reading."""


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to profile and what is known about it."""

    module: nn.Module
    name: str
    weights: str                     # RANDOM_INIT, or the file the weights came from
    info: ModelInfo | None = None    # the reference arch, when known
    notes: tuple[str, ...] = ()      # what loading did (for -v)
    warnings: tuple[str, ...] = ()   # what the user should know (stderr, unless -q)


# ------------------------------------------------------------------ reference names
def reference_model(name: str, T: int | None = None) -> LoadedModel:
    info = arch_info(name, T=T)
    return LoadedModel(build(info), info.name, RANDOM_INIT, info)


# ------------------------------------------------------------------ entry point
def load_model(spec: str, *, arch: str | None = None, trust_pickle: bool = False,
               T: int | None = None, arch_args: Mapping[str, Any] | None = None,
               dt: float | None = None) -> LoadedModel:
    """A file when ``spec`` exists on disk, a user class for ``FILE.py:NAME``, else a
    reference model name."""
    path = Path(spec).expanduser()
    if path.suffix.lower() == ".nir":
        return nir_model(path, dt)
    if dt is not None:
        raise UsageError("--dt applies to NIR graphs (MODEL.nir)")
    if arch_args and not (arch and is_object_spec(arch)) and not is_object_spec(spec):
        raise UsageError("--arch-args applies to --arch FILE.py:NAME or pkg.module:NAME")
    if path.exists() or path.is_symlink():
        return load_file(path, arch=arch, trust_pickle=trust_pickle, T=T, arch_args=arch_args)
    if is_object_spec(spec) and arch is None:
        return user_model(spec, arch_args)
    if path.suffix.lower() in FILE_SUFFIXES or "/" in spec:
        raise UsageError(f"{spec}: no such file")
    if arch is not None and canonical_arch(arch) != canonical_arch(spec):
        raise UsageError(f"--arch applies to model files; {spec!r} is not a file")
    return reference_model(spec, T=T)


def nir_model(path: Path, dt: float | None) -> LoadedModel:
    """A NIR graph (``syops.nir``) run at ``dt``; a file it cannot run is one ValueError."""
    from syops import nir
    module = nir.load(path, dt=nir.DEFAULT_DT if dt is None else dt)
    return LoadedModel(module, f"{path.stem} (dt {module.dt:g} s)", str(path), None, (
        f"NIR graph run at dt = {module.dt:g} s; it takes [T, B, ...] (--time-first for "
        "[N, T, ...] data)",))


def user_model(spec: str, arch_args: Mapping[str, Any] | None,
               weights: str = RANDOM_INIT) -> LoadedModel:
    """The user's class or factory ``spec`` called with ``arch_args``."""
    module = call_object(load_object(spec), spec, arch_args)
    if not isinstance(module, nn.Module):
        raise UsageError(f"{spec} gave a {type(module).__name__}, not a torch nn.Module")
    empty = next((name for name, p in module.named_parameters() if p.numel() == 0), None)
    if empty is not None:
        shape = list(module.get_parameter(empty).shape)
        raise UsageError(f"{spec} built a model whose parameter {empty} is empty {shape}; "
                         f"check --arch-args (a size of 0?)")
    return LoadedModel(module, spec.rpartition(":")[2], weights, None, (f"built {spec}",))


def load_file(path: Path, *, arch: str | None, trust_pickle: bool, T: int | None,
              arch_args: Mapping[str, Any] | None = None) -> LoadedModel:
    check_model_file(path)
    if is_torchscript(path):
        state = torchscript_state(path, arch)
        return _weights_into(state, {}, path, arch, T, arch_args, "TorchScript weights")
    content = unpickle(path, trust_pickle)
    if isinstance(content, nn.Module):
        return _described(content, path, arch, T, ("pickled nn.Module (trusted)",))
    if isinstance(content, Mapping):
        return _from_checkpoint(content, path, arch, T, arch_args)
    raise UsageError(f"{path}: holds a {type(content).__name__}, not a model; expected {ANY_FILE}")


def memory_bytes() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return MAX_FILE_BYTES


def check_model_file(path: Path) -> None:
    """Refuse anything but a readable regular file of a sane size, before reading it."""
    try:
        info = path.stat()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{path}: is a folder, not a model file")
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{path}: is not a regular file (a device, FIFO or socket); give a "
                         f"model file")
    limit = min(MAX_FILE_BYTES, memory_bytes())
    if info.st_size == 0:
        raise UsageError(f"{path}: is empty; expected {ANY_FILE}")
    if info.st_size > limit:
        raise UsageError(f"{path}: is {info.st_size / 2**30:.1f} GiB, more than this machine "
                         f"can load ({limit / 2**30:.1f} GiB)")
    if not os.access(path, os.R_OK):
        raise UsageError(f"{path}: cannot read (permission denied)")


def _described(module: nn.Module, path: Path, arch: str | None, T: int | None,
               notes: tuple[str, ...]) -> LoadedModel:
    info = arch_info(arch, T=T) if arch and not is_object_spec(arch) else None
    return LoadedModel(module, path.name, str(path), info, notes)


def _from_checkpoint(content: Mapping, path: Path, arch: str | None, T: int | None,
                     arch_args: Mapping[str, Any] | None) -> LoadedModel:
    state, key = find_state_dict(content, path)
    if isinstance(state, nn.Module):  # a trusted pickle of {"model": module, ...}
        return _described(state, path, arch, T, (f"nn.Module under {key!r}",))
    what = f"state_dict{f' under {key!r}' if key else ''}"
    return _weights_into(state, checkpoint_args(content), path, arch, T, arch_args, what)


def _weights_into(state: Mapping[str, torch.Tensor], args: Mapping[str, Any], path: Path,
                  arch: str | None, T: int | None, arch_args: Mapping[str, Any] | None,
                  what: str) -> LoadedModel:
    """Weights into the user's class (``--arch FILE.py:NAME``) or a reference arch."""
    state, stripped = strip_wrapper_prefix(state)
    notes = (what,) + ((f"stripped the {stripped!r} prefix",) if stripped else ())
    if arch is not None and is_object_spec(arch):
        loaded = user_model(arch, arch_args, weights=str(path))
        load_fitting(loaded.module, state, arch, path)
        return LoadedModel(loaded.module, f"{path.name} ({loaded.name})", str(path), None,
                           notes + loaded.notes)
    info, arch_notes, warned = checkpoint_arch(path, arch, args, T)
    hint = "" if arch else (f"; the checkpoint's args name model={info.name!r}, which may be "
                            f"its training script's default rather than the model trained: "
                            f"pass --arch NAME (see syops models) or --arch FILE.py:CLASS")
    module, fit_notes = _into_reference(state, path, info, hint)
    return LoadedModel(module, f"{path.name} ({info.name})", str(path), info,
                       notes + (f"arch {info.name} ({info.description})",) + arch_notes
                       + fit_notes, warned)


def _into_reference(state: Mapping[str, torch.Tensor], path: Path, info: ModelInfo,
                    hint: str = "") -> tuple[nn.Module, tuple[str, ...]]:
    """The reference model of ``info`` with ``state`` loaded strictly, in whichever known
    key layout it uses."""
    built: dict[bool, nn.Module] = {}

    def model_for(layout: checkpoints.Layout) -> nn.Module:
        plain = layout.plain_shortcut and info.family == "spiking_resnet"
        if plain not in built:
            built[plain] = build_plain_shortcut(info) if plain else build(info)
        return built[plain]

    fit = checkpoints.best_fit(state, model_for)
    if not fit.ok:
        raise UsageError(f"{path}: the state_dict does not fit {info.name}: "
                         f"{checkpoints.mismatch(fit)}{hint}")
    module = model_for(fit.layout)
    module.load_state_dict(fit.state)
    notes = checkpoints.describe_fit(fit)
    if module is built.get(True):
        notes.append("Spiking ResNet with the official conv1x1-BN shortcut (no IF on it)")
    return module, tuple(notes)


def announce(loaded: LoadedModel, diagnostics: Any, time_first: bool = False) -> None:
    """Notes (with -v) and warnings about a loaded model on stderr; --time-first only for
    models whose input layout syops does not know."""
    for note in loaded.notes:
        diagnostics.info(f"{loaded.name}: {note}")
    for warning in loaded.warnings:
        diagnostics.warn(warning)
    if not time_first and loaded.weights.endswith(".nir"):   # [N, T, ...] data, always
        raise UsageError(f"{loaded.name} is a NIR graph: it takes [T, B, ...]; pass "
                         "--time-first (the data is [N, T, ...])")
    if time_first and loaded.info is not None:
        raise UsageError(f"--time-first is for your own models: {loaded.info.name} knows its "
                         f"input layout ({loaded.info.name} takes "
                         f"[B, {', '.join(map(str, loaded.info.input_shape))}])")
