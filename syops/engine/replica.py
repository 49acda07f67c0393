"""A copy of a model to run the type probe on: the real modules, without hooks.

Made module by module rather than with ``copy.deepcopy(model)``: a library's own
``__deepcopy__`` may rebuild a module from its constructor arguments and then share (or fail
on) its submodules (Sinabs' recurrent layers), and deepcopy refuses tensors with autograd
history and lazy modules' uninitialised parameters.
"""

from __future__ import annotations

import copy
from typing import Any, Iterable

from torch import Tensor, nn
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.parameter import is_lazy

from syops.engine.snn import detached_states


def hookless_copy(model: nn.Module, layers: Iterable[nn.Module]) -> nn.Module:
    """A deep copy of ``model`` without hooks (a lazy module keeps the one that initialises
    it). The weights of ``layers`` are shared, frozen (a forward only reads them; the probe
    replaces those layers' outputs anyway). States left with autograd
    history are copied detached (deepcopy refuses them); an attribute that cannot be copied
    at all (a lock, an open file) is shared with the model."""
    weights = _frozen_weights(layers)
    try:
        skeleton = _module_copy(model, weights)
    except Exception:  # something in the model cannot be copied; retry sharing it
        skeleton = _module_copy(model, {**weights, **_uncopyable(model)})
    _clear_hooks(skeleton)
    return skeleton


def _shells(model: nn.Module) -> dict[int, Any]:
    """A deepcopy memo: every module of ``model`` -> an empty instance of its class, and
    states with autograd history -> detached copies."""
    memo: dict[int, Any] = detached_states(model)
    for module in model.modules():
        memo[id(module)] = object.__new__(type(module))
        for tensor in (*module._parameters.values(), *module._buffers.values()):
            if tensor is not None and is_lazy(tensor):   # deepcopy refuses them
                memo[id(tensor)] = type(tensor)(  # type: ignore[call-arg] # stubs lack them
                    requires_grad=False, device=tensor.device, dtype=tensor.dtype)
    return memo


def _frozen_weights(layers: Iterable[nn.Module]) -> dict[int, Tensor]:
    """A deepcopy memo: the layers' own parameters and buffers -> frozen views of them."""
    shared: dict[int, Tensor] = {}
    for layer in layers:
        for tensor in (*layer._parameters.values(), *layer._buffers.values()):
            if tensor is not None and not is_lazy(tensor):
                view = tensor.detach()
                shared[id(tensor)] = (nn.Parameter(view, requires_grad=False)
                                      if isinstance(tensor, nn.Parameter) else view)
    return shared


def _module_copy(model: nn.Module, shared: dict[int, Any]) -> nn.Module:
    memo = {**_shells(model), **shared}
    for module in model.modules():
        memo[id(module)].__dict__.update(copy.deepcopy(vars(module), memo))
    return memo[id(model)]


def _uncopyable(model: nn.Module) -> dict[int, Any]:
    """The module attributes (not parameters, buffers or submodules) deepcopy refuses."""
    shared = {}
    for module in model.modules():
        for key, value in vars(module).items():
            if key in ("_parameters", "_buffers", "_modules") or isinstance(value, Tensor):
                continue
            try:
                copy.deepcopy(value, _shells(model))
            except Exception:
                shared[id(value)] = value
    return shared


def _clear_hooks(model: nn.Module) -> None:
    """Drop every hook from a copy, so the probe triggers neither ours nor the user's; a
    lazy module keeps the hook that initialises it."""
    for module in model.modules():
        lazy = getattr(module, "_initialize_hook", None)
        kept = {k: v for k, v in module._forward_pre_hooks.items()
                if isinstance(module, LazyModuleMixin) and lazy is not None and k == lazy.id}
        for name in ("_forward_hooks", "_forward_pre_hooks", "_forward_hooks_with_kwargs",
                     "_forward_pre_hooks_with_kwargs", "_forward_hooks_always_called",
                     "_backward_hooks", "_backward_pre_hooks"):
            getattr(module, name, {}).clear()
        module._forward_pre_hooks.update(kept)
        if kept:
            module._forward_pre_hooks_with_kwargs[lazy.id] = True
