"""Seeing functional products (``q @ k.T``, ``F.linear``...) that no module rule counts.

A ``TorchFunctionMode`` sees every torch call, so it costs a little on each; it is switched on
only around the forwards of the modules the type probe saw running products (hooks on those
modules enter and leave it), and held off inside counted layers there (their own
``F.conv2d`` is counted by their module rule). Each product is attributed to the innermost
scope module running when it was called.
"""

from __future__ import annotations

from typing import Callable, Iterable

from torch import nn
from torch.overrides import TorchFunctionMode

from syops.engine.ops import op_rule

OnOp = Callable[[str, str, Callable, tuple, dict], None]  # (scope, op name, rule, args, kwargs)


class _ProductMode(TorchFunctionMode):
    def __init__(self, scopes: ScopedProducts):
        super().__init__()
        self.scopes = scopes

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        scopes = self.scopes
        if not scopes.suspended and scopes.stack:
            entry = op_rule(func)
            if entry is not None:
                name, rule = entry
                scopes.on_op(scopes.stack[-1], name, rule, args, kwargs)
        return func(*args, **kwargs)


class ScopedProducts:
    """Calls ``on_op`` for every product run inside the given scope modules."""

    def __init__(self, on_op: OnOp):
        self.on_op = on_op
        self.stack: list[str] = []
        self.suspended = 0
        self._mode = _ProductMode(self)

    def attach(self, scopes: dict[nn.Module, str], suspend: Iterable[nn.Module]) -> list:
        """Hooks that switch counting on around ``scopes`` and off inside ``suspend``; the
        caller removes the returned handles. Post-hooks run even when a forward raises."""
        handles = []
        for module, name in scopes.items():
            handles.append(module.register_forward_pre_hook(self._enter(name)))
            handles.append(module.register_forward_hook(self._leave, always_call=True))
        for module in suspend:
            handles.append(module.register_forward_pre_hook(self._suspend))
            handles.append(module.register_forward_hook(self._resume, always_call=True))
        return handles

    def enter(self, name: str) -> None:
        """Switch counting on for scope ``name`` (the matching post-hook switches it off)."""
        if not self.stack:
            self._mode.__enter__()
        self.stack.append(name)

    def _enter(self, name: str):
        return lambda module, args: self.enter(name)

    def _leave(self, module, args, output):
        self.stack.pop()
        if not self.stack:
            self._mode.__exit__(None, None, None)

    def _suspend(self, module, args):
        self.suspended += 1

    def _resume(self, module, args, output):
        self.suspended -= 1
