"""SyopsCounter: forward hooks that count the synaptic operations of a model's calls.

Usable on its own around an existing evaluation loop::

    with SyopsCounter(model) as counter:
        for x, _ in loader:
            model(x)
            functional.reset_net(model)
    report = counter.report()

Per call, the hook computes a few reductions on the device and keeps them there; ``flush``
reads them back once (one host synchronisation per batch). On exit every hook is removed
and the model's SpikingJelly states are put back as they were.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import Tensor, nn
from torch.utils._pytree import tree_leaves

from .energy import EnergyModel, energy_model
from .fold import folded_batchnorms
from .probe import one_sample, run_probe
from .report import MULTI_LEVEL, SPIKE, LayerCounts, Report
from .rules import Rule, rule_for
from .snn import is_neuron, restore_states, save_states
from .spikes import is_spike, spike_statistics

MODES = ("exact", "rate")
CLASSIFICATIONS = ("probe", "observed")


class UncountedModulesError(ValueError):
    """Raised in strict mode when the model holds parameterised modules no rule counts."""


@dataclass
class _Tally:
    """Mutable running totals of one layer (host ints, exact)."""

    name: str
    rule: Rule
    params: int
    fixed_signal: str | None = None   # MULTI_LEVEL when the architecture says so
    folded: bool = False              # a BatchNorm the probe found folding into a layer
    input_shape: tuple[int, ...] = ()
    calls: int = 0
    spike_calls: int = 0
    spike_syops: int = 0
    mac_syops: int = 0
    acs: float = 0
    ones: int = 0
    spike_elements: int = 0

    def counts(self, module: nn.Module) -> LayerCounts:
        return LayerCounts(self.name, type(module).__name__, self.params, self.input_shape,
                           self.rule.synaptic, self.calls, self.spike_calls, self.spike_syops,
                           self.mac_syops, self.acs, self.ones, self.spike_elements)


@dataclass
class _Pending:
    """One call whose classification waits for its device statistics."""

    tally: _Tally
    dense: int
    numel: int
    stats: Tensor                      # float64 [exact pairs or ones, ones, nnz, min, max]


def _first_tensor(args: Any) -> Tensor | None:
    return next((t for t in tree_leaves(args) if isinstance(t, Tensor)), None)


def not_counted_types(model: nn.Module, counted: set[nn.Module]) -> tuple[str, ...]:
    """Types of modules that own parameters but that no rule counts (neurons excepted)."""
    return tuple(sorted({type(m).__name__ for m in model.modules()
                         if m not in counted and not is_neuron(m)
                         and any(True for _ in m.parameters(recurse=False))}))


class SyopsCounter:
    """Counts AC and MAC operations of every call of ``model`` while active."""

    def __init__(self, model: nn.Module, *, mode: str = "exact", fuse_bn: bool = True,
                 energy: str | EnergyModel = "fp32", strict: bool = False,
                 classify: str = "probe", signals: Mapping[str, str] | None = None,
                 batch_dim: int = 0):
        if isinstance(model, torch.jit.ScriptModule):
            raise TypeError("a TorchScript module cannot be hooked; count the Python model "
                            "it was scripted from (load the weights into it)")
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; use 'exact' or 'rate'")
        if classify not in CLASSIFICATIONS:
            raise ValueError(f"unknown classify {classify!r}; use 'probe' or 'observed'")
        bad = {k: v for k, v in (signals or {}).items() if v not in (SPIKE, MULTI_LEVEL)}
        if bad:
            raise ValueError(f"signals must be {SPIKE!r} or {MULTI_LEVEL!r}, got {bad}")
        self.model, self.mode, self.fuse_bn, self.strict = model, mode, fuse_bn, strict
        self.energy_model = energy_model(energy)
        self.classify, self.signals, self.batch_dim = classify, dict(signals or {}), batch_dim
        self._layers = self._find_layers()
        unknown = set(self.signals) - {t.name for t in self._layers.values()}
        if unknown:
            raise ValueError(f"signals name layers that are not counted: {sorted(unknown)}")
        self.not_counted = not_counted_types(model, set(self._layers) | self._free_bns)
        if strict and self.not_counted:
            raise UncountedModulesError(
                f"no counting rule for module types with parameters: {', '.join(self.not_counted)}; "
                "register a rule with syops.rules.register or run without strict")
        self._handles: list = []
        self._pending: list[_Pending] = []
        self._cache: dict = {}
        self._saved_states: dict = {}
        self._probed = False
        self.samples = 0
        self.forwards = 0
        self.notes: list[str] = []

    # --- set-up ---------------------------------------------------------------------
    def _find_layers(self) -> dict[nn.Module, _Tally]:
        self._free_bns = folded_batchnorms(self.model) if self.fuse_bn else set()
        layers = {}
        for name, module in self.model.named_modules():
            rule = rule_for(module)
            if rule is None or module in self._free_bns:
                continue
            params = sum(p.numel() for p in module.parameters(recurse=False))
            layers[module] = _Tally(name, rule, params,
                                    fixed_signal=None if rule.synaptic else MULTI_LEVEL)
        return layers

    def __enter__(self) -> SyopsCounter:
        self._saved_states = save_states(self.model)
        try:
            self._handles.append(self.model.register_forward_pre_hook(
                self._make_root_hook(), with_kwargs=True))
            for module, tally in self._layers.items():
                self._handles.append(module.register_forward_hook(self._make_layer_hook(tally)))
        except BaseException:
            self._detach()
            raise
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        try:
            if exc_type is None:
                self.flush()
        finally:
            self._pending.clear()
            self._detach()

    def _detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        restore_states(self._saved_states)
        self._saved_states = {}

    # --- hooks (closures, not bound methods: the probe deep-copies the model) --------
    def _make_root_hook(self):
        def on_forward(module, args, kwargs):
            inputs = _first_tensor((args, kwargs))
            if inputs is None:
                raise TypeError("the model was called without a tensor input; syops needs one "
                                "to count samples")
            if not self._probed:
                self._run_probe(args, kwargs)
            self.samples += inputs.shape[self.batch_dim] if inputs.dim() > self.batch_dim else 1
            self.forwards += 1
        return on_forward

    def _make_layer_hook(self, tally: _Tally):
        def on_call(module, args, output):
            self._count_call(module, tally, args[0], output)
        return on_call

    def _run_probe(self, args: tuple, kwargs: dict) -> None:
        self._probed = True
        if self.classify != "probe":
            self._apply_declared()
            return
        layers = {m: (t.name, t.rule) for m, t in self._layers.items() if t.rule.synaptic}
        try:
            found = run_probe(self.model, layers, *one_sample((args, kwargs), self.batch_dim))
        except Exception as err:  # the model would not run on the skeleton: observe instead
            self.classify = "observed"
            self.notes.append(f"type probe failed ({type(err).__name__}: {err}); "
                              "signals classified from the observed inputs alone")
        else:
            for module, tally in self._layers.items():
                if found.binary.get(tally.name) is False:
                    tally.fixed_signal = MULTI_LEVEL
                tally.folded = self.fuse_bn and module in found.folds
        self._apply_declared()

    def _apply_declared(self) -> None:
        for tally in self._layers.values():
            if tally.name in self.signals and tally.rule.synaptic:
                tally.fixed_signal = None if self.signals[tally.name] == SPIKE else MULTI_LEVEL

    # --- counting ---------------------------------------------------------------------
    def _count_call(self, module: nn.Module, tally: _Tally, x: Tensor, output: Tensor) -> None:
        if tally.folded:
            return
        dense = tally.rule.dense(module, x, output)
        tally.calls += 1
        tally.input_shape = tuple(x.shape)
        if tally.fixed_signal == MULTI_LEVEL:
            tally.mac_syops += dense
            return
        if x.numel() == 0:
            return
        rule = tally.rule
        sums, stats = spike_statistics(x, rule.count_dims)
        total = sums.sum()
        if self.mode == "exact":
            pairs = rule.spike_pairs(module, sums if rule.count_dims else total, self._cache)
        else:
            pairs = total
        self._pending.append(_Pending(tally, dense, x.numel(),
                                      torch.cat((torch.stack((pairs, total)), stats))))

    def flush(self) -> None:
        """Read the device statistics of the calls so far (one synchronisation)."""
        if not self._pending:
            return
        rows = torch.stack([p.stats for p in self._pending]).tolist()
        for pending, row in zip(self._pending, rows):
            self._classify(pending, *row)
        self._pending.clear()

    def _classify(self, pending: _Pending, pairs: float, ones: float, nnz: float,
                  low: float, high: float) -> None:
        tally = pending.tally
        if not is_spike(ones, nnz, low, high):
            tally.mac_syops += pending.dense
            return
        tally.spike_calls += 1
        tally.spike_syops += pending.dense
        tally.acs += int(pairs) if self.mode == "exact" else pending.dense * ones / pending.numel
        tally.ones += int(ones)
        tally.spike_elements += pending.numel

    # --- result -----------------------------------------------------------------------
    def report(self, samples: int | None = None) -> Report:
        """The counts so far. ``samples`` overrides the samples seen by the model (for
        single-step models called once per time step)."""
        self.flush()
        counted = [t.counts(m) for m, t in self._layers.items() if t.calls]
        return Report(
            layer_counts=tuple(counted), samples=self.samples if samples is None else samples,
            forwards=self.forwards, params=sum(p.numel() for p in self.model.parameters()),
            mode=self.mode, fuse_bn=self.fuse_bn, energy_model=self.energy_model,
            not_counted=self.not_counted, classification=self.classify,
            notes=tuple(self.notes))
