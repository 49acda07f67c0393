"""Loading the model to profile: a reference model by name (random init), or a file.

Files, safest first:
- a TorchScript archive with ``--arch``: its weights are counted in that reference model (a
  ScriptModule takes no forward hooks, so it cannot be counted as it is);
- a state_dict, or a training checkpoint holding one (under ``model``, ``state_dict``,
  ``model_state_dict`` or ``net``), with the reference arch from ``--arch`` or from the
  checkpoint's ``args`` (``args.model`` such as "sew_resnet18", ``args.T``,
  ``args.connect_f``/``args.cnf``); read with ``torch.load(weights_only=True)``, only
  ``argparse.Namespace`` allowed beside tensors and containers;
- a pickled whole ``nn.Module``: only with ``--trust-pickle``, since unpickling runs code.
"""

from __future__ import annotations

import argparse
import difflib
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from syops.models import ModelInfo, create_model, list_models, model_info
from syops.reports.records import RANDOM_INIT

from .errors import UsageError, first_line

STATE_KEYS = ("model", "state_dict", "model_state_dict", "net")
ARGS_KEYS = ("args", "config", "hparams")
ARCH_FIELDS = ("model", "arch", "model_name", "net")
T_FIELDS = ("T", "time_steps", "timesteps")
CONNECT_FIELDS = ("connect_f", "cnf", "connect")
WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DataParallel/DDP, torch.compile
INIT_SEED = 0
FILE_SUFFIXES = (".pt", ".pth", ".ckpt", ".tar", ".bin", ".pkl", ".jit")
ANY_FILE = ("a state_dict, checkpoint or TorchScript file (with --arch), or (with "
            "--trust-pickle) a pickled nn.Module")


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to profile and what is known about it."""

    module: nn.Module
    name: str
    weights: str                     # RANDOM_INIT, or the file the weights came from
    info: ModelInfo | None = None    # the reference arch, when known
    notes: tuple[str, ...] = ()      # what loading did (for -v)


# ------------------------------------------------------------------ reference names
def canonical_arch(name: str) -> str | None:
    """The reference model a spelling names (``sew_resnet18`` -> ``sew18``), or None."""
    key = str(name).strip().lower().replace("-", "_")
    known = set(list_models())
    candidates = (key, key.replace("_resnet", ""), key.replace("resnet", ""),
                  key.replace("_", ""), re.sub(r"[_]?resnet[_]?", "", key))
    return next((c for c in candidates if c in known), None)


def arch_info(name: str, **overrides: Any) -> ModelInfo:
    """``model_info`` of a spelling; unknown names raise with the closest suggestions."""
    key = canonical_arch(name)
    if key is None:
        close = difflib.get_close_matches(str(name).lower(), list_models(), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UsageError(f"unknown model {name!r}{hint} (see 'syops models')")
    return model_info(key, **_applicable(key, overrides))


def _applicable(name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """Drop None overrides, and T for nets without time steps (the ANN ResNets)."""
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if "T" in overrides and model_info(name).T == 1:
        overrides.pop("T")
    return overrides


def build(info: ModelInfo) -> nn.Module:
    """The reference model ``info`` describes, with a seeded random init (same every run)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED)
        return create_model(info.name, **_applicable(info.name, {"T": info.T,
                                                                  "connect": info.connect}))


def reference_model(name: str, T: int | None = None) -> LoadedModel:
    info = arch_info(name, T=T)
    return LoadedModel(build(info), info.name, RANDOM_INIT, info)


# ------------------------------------------------------------------ entry point
def load_model(spec: str, *, arch: str | None = None, trust_pickle: bool = False,
               T: int | None = None) -> LoadedModel:
    """A file when ``spec`` exists on disk, else a reference model name."""
    path = Path(spec).expanduser()
    if path.exists():
        return load_file(path, arch=arch, trust_pickle=trust_pickle, T=T)
    if path.suffix.lower() in FILE_SUFFIXES or "/" in spec:
        raise UsageError(f"{spec}: no such file")
    if arch is not None and canonical_arch(arch) != canonical_arch(spec):
        raise UsageError(f"--arch applies to model files; {spec!r} is not a file")
    return reference_model(spec, T=T)


def load_file(path: Path, *, arch: str | None, trust_pickle: bool,
              T: int | None) -> LoadedModel:
    _check_readable(path)
    if is_torchscript(path):
        return _from_torchscript(path, arch, T)
    content = _unpickle(path, trust_pickle)
    if isinstance(content, nn.Module):
        return _described(content, path, arch, T, ("pickled nn.Module (trusted)",))
    if isinstance(content, Mapping):
        return _from_checkpoint(content, path, arch, T)
    raise UsageError(f"{path}: holds a {type(content).__name__}, not a model; expected {ANY_FILE}")


def _check_readable(path: Path) -> None:
    if path.is_dir():
        raise UsageError(f"{path}: is a folder, not a model file")
    try:
        path.open("rb").close()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from None


def is_torchscript(path: Path) -> bool:
    """A TorchScript archive is a zip holding ``code/`` and ``constants.pkl``."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("/constants.pkl") for name in archive.namelist())


def _unpickle(path: Path, trust_pickle: bool) -> Any:
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        refused = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        if refused is None:
            raise UsageError(f"{path}: not a model file ({first_line(exc)}); expected "
                             f"{ANY_FILE}") from None
        if not trust_pickle:
            raise UsageError(
                f"{path}: holds pickled Python objects ({refused.group(1)}) and unpickling can "
                f"run arbitrary code; if you trust the file pass --trust-pickle, or save "
                f"model.state_dict() and pass --arch NAME") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"{path}: cannot unpickle it ({first_line(exc)}); the model's code must "
                         f"be importable: run from its project or set PYTHONPATH") from None


def _described(module: nn.Module, path: Path, arch: str | None, T: int | None,
               notes: tuple[str, ...]) -> LoadedModel:
    info = arch_info(arch, T=T) if arch else None
    return LoadedModel(module, path.name, str(path), info, notes)


# ------------------------------------------------------------------ checkpoints
def _from_checkpoint(content: Mapping, path: Path, arch: str | None,
                     T: int | None) -> LoadedModel:
    state, key = find_state_dict(content, path)
    if isinstance(state, nn.Module):  # a trusted pickle of {"model": module, ...}
        return _described(state, path, arch, T, (f"nn.Module under {key!r}",))
    info = _checkpoint_arch(path, arch, checkpoint_args(content), T)
    return _into_arch(state, path, info, f"state_dict{f' under {key!r}' if key else ''}")


def _from_torchscript(path: Path, arch: str | None, T: int | None) -> LoadedModel:
    """The weights of a TorchScript archive in their reference arch: a ScriptModule takes no
    forward hooks, so it cannot be counted layer by layer as it is."""
    if arch is None:
        raise UsageError(f"{path}: a TorchScript module takes no hooks, so its layers cannot be "
                         f"counted; pass --arch NAME to count its weights in that reference "
                         f"model, or profile the eager model's state_dict")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.load(str(path), map_location="cpu")
    return _into_arch(scripted.state_dict(), path, arch_info(arch, T=T), "TorchScript weights")


def _into_arch(state: Mapping[str, torch.Tensor], path: Path, info: ModelInfo,
               what: str) -> LoadedModel:
    """The reference model ``info`` with the weights of ``state``."""
    state, stripped = strip_wrapper_prefix(state)
    module = build(info)
    load_fitting(module, state, info.name, path)
    notes = (what, f"arch {info.name} ({info.description})")
    if stripped:
        notes += (f"stripped the {stripped!r} prefix",)
    return LoadedModel(module, f"{path.name} ({info.name})", str(path), info, notes)


def is_state_dict(content: Any) -> bool:
    return isinstance(content, Mapping) and bool(content) and \
        all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in content.items())


def find_state_dict(content: Mapping, path: Path) -> tuple[Any, str | None]:
    """The state_dict (or trusted module) in a file, and the key it was under."""
    if is_state_dict(content):
        return content, None
    for key in STATE_KEYS:
        value = content.get(key)
        if is_state_dict(value) or isinstance(value, nn.Module):
            return value, key
    keys = ", ".join(map(str, list(content)[:8]))
    raise UsageError(f"{path}: a dict without a state_dict (keys: {keys}); expected tensors, or a "
                     f"checkpoint with one of {', '.join(STATE_KEYS)}")


def checkpoint_args(content: Mapping) -> dict[str, Any]:
    """The training arguments a checkpoint saved (argparse.Namespace or dict), or {}."""
    for key in ARGS_KEYS:
        value = content.get(key)
        if isinstance(value, argparse.Namespace):
            return vars(value)
        if isinstance(value, Mapping):
            return dict(value)
    return {}


def _first(args: Mapping[str, Any], fields: tuple[str, ...]) -> Any:
    return next((args[f] for f in fields if args.get(f) is not None), None)


def _checkpoint_arch(path: Path, arch: str | None, args: Mapping[str, Any],
                     T: int | None) -> ModelInfo:
    """The arch from --arch, else from the checkpoint's args; T and connect from the args
    unless -T overrides T."""
    named = _first(args, ARCH_FIELDS)
    name = arch or (canonical_arch(named) if isinstance(named, str) else None)
    if name is None:
        found = f" (its args name {named!r}, not a reference model)" if named else ""
        raise UsageError(f"{path}: holds a state_dict but no arch{found}; pass --arch NAME "
                         f"(see syops models)")
    connect = _first(args, CONNECT_FIELDS)
    info = arch_info(name)
    return arch_info(name, T=T or _first(args, T_FIELDS),
                     connect=str(connect).upper() if connect and info.connect else None)


def strip_wrapper_prefix(state: Mapping[str, torch.Tensor]) -> tuple[dict, str | None]:
    """Remove a prefix that every key carries (``module.`` of DataParallel/DDP...)."""
    for prefix in WRAPPER_PREFIXES:
        if all(key.startswith(prefix) for key in state):
            return {key[len(prefix):]: value for key, value in state.items()}, prefix
    return dict(state), None


def _listed(keys: list[str]) -> str:
    more = f" (+{len(keys) - 3} more)" if len(keys) > 3 else ""
    return ", ".join(keys[:3]) + more


def load_fitting(module: nn.Module, state: Mapping[str, torch.Tensor], arch: str,
                 path: Path) -> None:
    """Load ``state`` into ``module``; name the first missing, unexpected or misshapen keys."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = ([f"missing keys: {_listed(missing)}"] if missing else []) + \
                ([f"unexpected keys: {_listed(unexpected)}"] if unexpected else [])
        raise UsageError(f"{path}: the state_dict does not fit {arch}: {'; '.join(parts)}")
    for key, tensor in state.items():
        if tensor.shape != expected[key].shape:
            raise UsageError(f"{path}: the state_dict does not fit {arch}: {key} has shape "
                             f"{list(tensor.shape)} in the file, {list(expected[key].shape)} "
                             f"in {arch}")
    module.load_state_dict(state)
