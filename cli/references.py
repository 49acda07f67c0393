"""Reference models by name: spellings (``sew_resnet18`` -> ``sew18``), their ModelInfo with
overrides, and building them with a seeded random init (the same weights every run)."""

from __future__ import annotations

import difflib
import re
from typing import Any, Callable

import torch
from torch import nn

from syops.models import ModelInfo, create_model, list_models, model_info
from syops.models.backbone import if_neuron
from syops.models.imagenet import build_resnet

from .errors import UsageError

INIT_SEED = 0


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


def _seeded(make: Callable[[], nn.Module]) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED)
        return make()


def build(info: ModelInfo) -> nn.Module:
    """The reference model ``info`` describes, with a seeded random init (same every run)."""
    overrides = {"T": info.T, "connect": info.connect, "num_classes": info.num_classes}
    return _seeded(lambda: create_model(info.name, **_applicable(info.name, overrides)))


def build_plain_shortcut(info: ModelInfo) -> nn.Module:
    """A Spiking ResNet as SpikingJelly and the SEW authors build it: conv1x1-BN shortcut
    without a neuron (the reference model puts an IF on it)."""
    depth = int(re.sub(r"\D", "", info.name))
    return _seeded(lambda: build_resnet(depth, T=info.T, num_classes=info.num_classes,
                                        make_neuron=if_neuron, connect=None,
                                        shortcut_neuron=False))
