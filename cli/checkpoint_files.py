"""What a checkpoint file holds: its state_dict (under which key), the training arguments
saved beside it, the reference arch they name, and loading a state_dict strictly."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from syops.models import ModelInfo, checkpoints, model_info

from .errors import UsageError
from .references import arch_info, canonical_arch

STATE_KEYS = ("model", "state_dict", "model_state_dict", "net")
ARGS_KEYS = ("args", "config", "hparams")
WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DataParallel/DDP, torch.compile
PROMOTED_BY_CONNECT = {"spiking_resnet": "sew"}
"""A connect function in the args makes a plain Spiking ResNet name a SEW net (the SEW
authors' archived runs say model='spiking_resnet18', connect_f='add')."""


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
            return {str(k): v for k, v in value.items()}
    return {}


def checkpoint_arch(path: Path, arch: str | None, args: Mapping[str, Any],
                    T: int | None) -> tuple[ModelInfo, tuple[str, ...], tuple[str, ...]]:
    """The reference arch (``--arch``, else the args' model) with the args' T, connect
    function and classes applied; -T overrides T. Returns (info, notes, warnings): an
    architecture argument that cannot be honoured is a warning (or an error), never dropped."""
    fields, unknown = checkpoints.read_training_args(args)
    notes: list[str] = []
    warned: list[str] = [f"{path}: checkpoint args not known to syops, ignored: "
                         f"{', '.join(unknown)} (if one changes the architecture, the counts "
                         f"do not describe the trained model)"] if unknown else []
    named, connect = fields.get("arch"), fields.get("connect")
    name = canonical_arch(arch) if arch else _named_arch(path, named)
    if name is None:
        name = arch_info(arch).name  # raises with suggestions
    family = model_info(name).family
    if arch and isinstance(named, str) and canonical_arch(named) not in (None, name):
        warned.append(f"{path}: --arch {name} overrides the checkpoint's model={named!r}")
    if connect and not arch and family in PROMOTED_BY_CONNECT:
        name = name.replace(family, PROMOTED_BY_CONNECT[family], 1)
        notes.append(f"args connect_f={connect!r}: {named} with a connect function is {name}")
    info = model_info(name)
    overrides: dict[str, Any] = {"T": T or fields.get("T"), "num_classes": fields.get("num_classes")}
    if T and fields.get("T") and T != fields["T"]:
        notes.append(f"-T {T} overrides the checkpoint's T={fields['T']}")
    if connect and info.connect:
        overrides["connect"] = str(connect).upper()
    elif connect:
        warned.append(f"{path}: the checkpoint's connect_f={connect!r} (a SEW net) does not apply "
                      f"to {name}, which has no connect function; drop --arch to follow the args")
    if fields.get("T") and info.T == 1 and not T:
        warned.append(f"{path}: the checkpoint's T={fields['T']} does not apply to {name} "
                      f"(an ANN, one time step)")
    try:
        return arch_info(name, **overrides), tuple(notes), tuple(warned)
    except ValueError as exc:
        raise UsageError(f"{path}: the checkpoint's args cannot be honoured: {exc}") from None


def _named_arch(path: Path, named: Any) -> str | None:
    name = canonical_arch(named) if isinstance(named, str) else None
    if name is None:
        found = f" (its args name {named!r}, not a reference model)" if named else ""
        raise UsageError(f"{path}: holds a state_dict but no arch{found}; pass --arch NAME "
                         f"(see syops models) or --arch FILE.py:CLASS")
    return name


def strip_wrapper_prefix(state: Mapping[str, torch.Tensor]) -> tuple[dict, str | None]:
    """Remove a prefix that every key carries (``module.`` of DataParallel/DDP...)."""
    for prefix in WRAPPER_PREFIXES:
        if all(key.startswith(prefix) for key in state):
            return {key[len(prefix):]: value for key, value in state.items()}, prefix
    return dict(state), None


def load_fitting(module: nn.Module, state: Mapping[str, torch.Tensor], arch: str,
                 path: Path) -> None:
    """Load ``state`` into ``module`` strictly; name the first missing, unexpected or
    misshapen keys."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = ([f"missing keys: {checkpoints.listed(missing)}"] if missing else []) + \
                ([f"unexpected keys: {checkpoints.listed(unexpected)}"] if unexpected else [])
        raise UsageError(f"{path}: the state_dict does not fit {arch}: {'; '.join(parts)}")
    for key, tensor in state.items():
        if tensor.shape != expected[key].shape:
            raise UsageError(f"{path}: the state_dict does not fit {arch}: {key} has shape "
                             f"{list(tensor.shape)} in the file, {list(expected[key].shape)} "
                             f"in {arch}")
    module.load_state_dict(state)
