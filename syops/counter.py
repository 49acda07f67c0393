"""SyopsCounter: forward hooks that count the synaptic operations of a model's calls.

Usable on its own around an existing evaluation loop::

    with SyopsCounter(model) as counter:
        for x, _ in loader:
            model(x)
            functional.reset_net(model)
    report = counter.report()

Every call of a counted layer belongs to a *call site*: the layer's k-th call in a forward.
The type probe tells, per site, whether its input can be spikes by architecture; a site that
can is counted as spikes only when every input it is given over the whole run is 0/1, so
the per-sample totals do not depend on batching or sample order. Per call, the hook computes
a few reductions on the device and keeps them there; ``flush`` reads them back once (one host
synchronisation per batch). On exit every hook is removed and the model's neuron states are
put back as they were.
"""

from __future__ import annotations

import math
import threading
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils._pytree import tree_leaves

from .energy import EnergyModel, energy_model
from .fold import folded_batchnorms
from .probe import one_sample, run_probe
from .report import (MULTI_LEVEL, SPIKE, SPIKE_CONVENTIONS, BatchTotals, LayerCounts,
                     NeuronCounts, Report, SiteCounts, join_levels)
from .rules import Rule, rule_for
from .snn import is_neuron, restore_states, save_states, time_steps
from .spikes import call_statistics, is_spike

MODES = ("exact", "rate")
CLASSIFICATIONS = ("probe", "observed")


class UncountedModulesError(ValueError):
    """Raised in strict mode when the model holds parameterised modules no rule counts."""


class SyopsWarning(UserWarning):
    """A figure rests on an assumption the user should check (printed on stderr by the CLI)."""


_ACTIVE: dict[int, object] = {}   # id(module) -> the counter hooked on it
_ACTIVE_LOCK = threading.Lock()


@dataclass
class _Site:
    """Mutable running totals of one call site (host numbers, exact)."""

    index: int
    ordinal: int                       # position in the counter's per-batch arrays
    fixed: bool = False
    declared_spike: bool = False
    counts: SiteCounts = None          # type: ignore[assignment]

    def __post_init__(self):
        self.counts = SiteCounts(self.index, fixed=self.fixed,
                                 declared_spike=self.declared_spike)


@dataclass
class _Tally:
    """One counted layer: its rule, what the probe learnt, and its sites."""

    name: str
    rule: Rule
    params: int
    binary_sites: dict[int, bool] | None = None   # probe: call index -> input can be spikes
    declared: str | None = None                   # signals={name: ...}
    folded: bool = False                          # a BatchNorm the probe found folding
    input_shape: tuple[int, ...] = ()
    sites: dict[int, _Site] = field(default_factory=dict)

    def counts(self, module: nn.Module) -> LayerCounts:
        return LayerCounts(self.name, type(module).__name__, self.params, self.input_shape,
                           self.rule.synaptic, tuple(s.counts for s in self.sites.values()))


@dataclass
class _NeuronTally:
    name: str
    neurons: int = 0
    calls: int = 0
    updates: int = 0
    spikes: int = 0


@dataclass
class _Pending:
    """One call whose classification waits for its device statistics."""

    site: _Site
    dense: int
    numel: int
    stats: Tensor   # float64 [pairs, pairs_nonzero, total, nonzero, low, high, fraction, min]


def _first_tensor(args: Any) -> Tensor | None:
    return next((t for t in tree_leaves(args) if isinstance(t, Tensor)), None)


def parameter_types(model: nn.Module, skip: set[nn.Module]) -> dict[nn.Module, str]:
    """Modules that own parameters but that no rule counts (neurons excepted)."""
    return {m: type(m).__name__ for m in model.modules()
            if m not in skip and not is_neuron(m)
            and any(True for _ in m.parameters(recurse=False))}


def not_counted_types(model: nn.Module, counted: set[nn.Module]) -> tuple[str, ...]:
    """Types of modules that own parameters but that no rule counts (neurons excepted)."""
    return tuple(sorted(set(parameter_types(model, counted).values())))


def _check_finite(model: nn.Module) -> None:
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"the model's {name} holds NaN or infinite values; its outputs "
                             "(and so the spike counts) would be meaningless: fix the weights")


class SyopsCounter:
    """Counts AC and MAC operations of every call of ``model`` while active."""

    def __init__(self, model: nn.Module, *, mode: str = "exact", fuse_bn: bool = True,
                 energy: str | EnergyModel = "fp32", strict: bool = False,
                 classify: str = "probe", signals: Mapping[str, str] | None = None,
                 batch_dim: int = 0, spikes: str = "binary", bn_macs: int = 2):
        if isinstance(model, torch.jit.ScriptModule):
            raise TypeError("a TorchScript module cannot be hooked; count the Python model "
                            "it was scripted from (load the weights into it)")
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; use 'exact' or 'rate'")
        if classify not in CLASSIFICATIONS:
            raise ValueError(f"unknown classify {classify!r}; use 'probe' or 'observed'")
        if spikes not in SPIKE_CONVENTIONS:
            raise ValueError(f"unknown spikes convention {spikes!r}; use 'binary' or 'events'")
        if isinstance(batch_dim, bool) or not isinstance(batch_dim, int) or batch_dim < 0:
            raise ValueError(f"batch_dim must be a non-negative int, got {batch_dim!r}")
        if bn_macs not in (1, 2):
            raise ValueError(f"bn_macs must be 1 or 2 MACs per element, got {bn_macs!r}")
        bad = {k: v for k, v in (signals or {}).items() if v not in (SPIKE, MULTI_LEVEL)}
        if bad:
            raise ValueError(f"signals must be {SPIKE!r} or {MULTI_LEVEL!r}, got {bad}")
        _check_finite(model)
        self.model, self.mode, self.fuse_bn, self.strict = model, mode, fuse_bn, strict
        self.energy_model = energy_model(energy)
        self.classify, self.signals, self.batch_dim = classify, dict(signals or {}), batch_dim
        self.spikes, self.bn_macs = spikes, bn_macs
        self._layers = self._find_layers()
        unknown = set(self.signals) - {t.name for t in self._layers.values()}
        if unknown:
            raise ValueError(f"signals name layers that are not counted: {sorted(unknown)}")
        self._uncounted = parameter_types(model, set(self._layers) | self._free_bns)
        if strict and self._uncounted:
            raise UncountedModulesError(
                "no counting rule for module types with parameters: "
                f"{', '.join(sorted(set(self._uncounted.values())))}; "
                "register a rule with syops.rules.register or run without strict")
        self._neurons = {m: _NeuronTally(name) for name, m in model.named_modules()
                         if is_neuron(m)}
        self._handles: list = []
        self._pending: list[_Pending] = []
        self._neuron_pending: list[tuple[_NeuronTally, Tensor]] = []
        self._cache: dict = {}
        self._saved_states: dict = {}
        self._probed = False
        self._calls: dict[nn.Module, int] = {}      # calls of each layer in this forward
        self._ran: set[str] = set()
        self._sites: list[_Site] = []
        self._batch = {"samples": 0, "dense": {}, "acs": {}, "nonzero": {}, "updates": 0}
        self._batches: list[tuple[int, np.ndarray, int]] = []
        self._forward_samples = 0
        self.count_samples = True
        self.samples = 0
        self.forwards = 0
        self.notes: list[str] = []
        self.warnings: list[str] = []

    # --- set-up ---------------------------------------------------------------------
    def _find_layers(self) -> dict[nn.Module, _Tally]:
        self._free_bns = folded_batchnorms(self.model) if self.fuse_bn else set()
        layers = {}
        for name, module in self.model.named_modules():
            rule = rule_for(module)
            if rule is None or module in self._free_bns:
                continue
            params = sum(p.numel() for p in module.parameters(recurse=False))
            layers[module] = _Tally(name, rule, params, declared=self.signals.get(name))
        return layers

    def __enter__(self) -> SyopsCounter:
        self._claim()
        self._saved_states = save_states(self.model)
        try:
            self._handles.append(self.model.register_forward_pre_hook(
                self._make_root_hook(), with_kwargs=True))
            for module, tally in self._layers.items():
                self._handles.append(module.register_forward_hook(
                    self._make_layer_hook(tally), with_kwargs=True))
            for module, tally in self._neurons.items():
                self._handles.append(module.register_forward_hook(
                    self._make_neuron_hook(tally), with_kwargs=True))
            for module, type_name in self._uncounted.items():
                self._handles.append(module.register_forward_hook(
                    self._make_ran_hook(type_name)))
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
            self._neuron_pending.clear()
            self._detach()

    def _claim(self) -> None:
        with _ACTIVE_LOCK:
            if any(id(m) in _ACTIVE for m in self.model.modules()):
                raise RuntimeError("this model is already being counted by another SyopsCounter "
                                   "(another thread, or a nested counter); count it once at a "
                                   "time, or count a copy (copy.deepcopy(model))")
            for m in self.model.modules():
                _ACTIVE[id(m)] = self

    def _release(self) -> None:
        with _ACTIVE_LOCK:
            for m in self.model.modules():
                if _ACTIVE.get(id(m)) is self:
                    del _ACTIVE[id(m)]

    def _detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        restore_states(self._saved_states)
        self._saved_states = {}
        self._release()

    # --- hooks (closures, not bound methods: the probe deep-copies the model) --------
    def _make_root_hook(self):
        def on_forward(module, args, kwargs):
            inputs = _first_tensor((args, kwargs))
            if inputs is None:
                raise TypeError("the model was called without a tensor input; syops needs one "
                                "to count samples")
            if inputs.dim() <= self.batch_dim:
                raise ValueError(f"batch_dim={self.batch_dim} but the model input has "
                                 f"{inputs.dim()} dims (shape {tuple(inputs.shape)}); give the "
                                 "dimension that indexes the samples")
            if not self._probed:
                self._run_probe(args, kwargs)
            elif self.count_samples and self.forwards:
                self.flush()   # a forward is a batch when the caller runs the loop
            self._calls.clear()
            self._forward_samples = inputs.shape[self.batch_dim]
            if self.count_samples:
                self.samples += self._forward_samples
                self._batch["samples"] += self._forward_samples
            self.forwards += 1
        return on_forward

    def _make_layer_hook(self, tally: _Tally):
        def on_call(module, args, kwargs, output):
            x = args[0] if args else _first_tensor(kwargs)
            if isinstance(x, Tensor):
                self._count_call(module, tally, x, output)
        return on_call

    def _make_neuron_hook(self, tally: _NeuronTally):
        def on_call(module, args, kwargs, output):
            x, y = _first_tensor((args, kwargs)), _first_tensor(output)
            if x is None or y is None:
                return
            steps = time_steps(module, x)
            self._check_layout(module, x, steps)
            tally.calls += 1
            tally.updates += x.numel()
            self._batch["updates"] += x.numel()
            tally.neurons = x.numel() // max(steps * max(self._forward_samples, 1), 1)
            self._neuron_pending.append((tally, torch.count_nonzero(y)))
        return on_call

    def _make_ran_hook(self, type_name: str):
        def on_call(module, args, output):
            self._ran.add(type_name)
        return on_call

    def _check_layout(self, module: nn.Module, x: Tensor, steps: int) -> None:
        """Note where the sample count may be T or a multiple of the samples."""
        if steps > 1 and x.dim() > 1 and x.shape[0] == self._forward_samples:
            self._warn(f"the model input's dim {self.batch_dim} (batch_dim) has size "
                       f"{self._forward_samples}, the number of time steps its multi-step "
                       "neurons see: if that dim is T, pass batch_dim=1 (the input is [T, B, ...])"
                       " or time_first=True, else the per-sample figures are wrong")
        elif steps == 1 and getattr(module, "step_mode", None) == "s" and self.count_samples \
                and self.forwards > 1:
            self._note("single-step neurons: if the model is called once per time step, every "
                       "call counted its input's batch_dim as samples; pass report(samples=N) "
                       "with the true number of samples")

    def _warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
            warnings.warn(message, SyopsWarning, stacklevel=3)

    def _note(self, message: str) -> None:
        if message not in self.notes:
            self.notes.append(message)

    # --- the type probe ---------------------------------------------------------------
    def _run_probe(self, args: tuple, kwargs: dict) -> None:
        self._probed = True
        layers = {m: (t.name, t.rule) for m, t in self._layers.items() if t.rule.synaptic}
        try:
            found = run_probe(self.model, layers, *one_sample((args, kwargs), self.batch_dim))
        except Exception as err:  # the model would not run on the skeleton: observe instead
            self.classify = "observed"
            self._warn(f"type probe failed ({type(err).__name__}: {err}); signals classified "
                       "from the observed inputs alone, and BatchNorms applied in forward() "
                       "are not folded")
            return
        if not self._neurons and any(any(s.values()) for s in found.binary.values()):
            self._warn("no spiking neuron recognised in the model, yet some layer inputs are "
                       "0/1: whether they are spikes rests on the observed values alone; "
                       "declare your neuron class with syops.register_neuron")
        for module, tally in self._layers.items():
            tally.folded = self.fuse_bn and module in found.folds
            if self.classify == "probe":
                tally.binary_sites = found.binary.get(tally.name)

    # --- counting ---------------------------------------------------------------------
    def _site(self, module: nn.Module, tally: _Tally) -> _Site:
        index = self._calls.get(module, 0)
        self._calls[module] = index + 1
        site = tally.sites.get(index)
        if site is None:
            fixed = (not tally.rule.synaptic or tally.declared == MULTI_LEVEL
                     or (tally.declared is None and tally.binary_sites is not None
                         and tally.binary_sites.get(index) is False))
            site = tally.sites[index] = _Site(index, len(self._sites), fixed,
                                              tally.declared == SPIKE)
            self._sites.append(site)
        return site

    def _dense(self, tally: _Tally, module: nn.Module, x: Tensor, output: Any) -> int:
        y = _first_tensor(output)
        dense = tally.rule.dense(module, x, y)
        return dense if tally.rule.synaptic else dense * self.bn_macs

    def _count_call(self, module: nn.Module, tally: _Tally, x: Tensor, output: Any) -> None:
        if tally.folded:
            return
        site = self._site(module, tally)
        dense = self._dense(tally, module, x, output)
        tally.input_shape = tuple(x.shape)
        site.counts = replace(site.counts, calls=site.counts.calls + 1,
                              dense=site.counts.dense + dense)
        self._add(self._batch["dense"], site.ordinal, dense)
        if site.fixed or x.numel() == 0:
            return
        rule, declared = tally.rule, tally.declared == SPIKE
        events = self.spikes == "events"
        sums, nz_sums, stats = call_statistics(x, rule.count_dims,
                                               nonzero_sums=declared or events, events=events)
        if self.mode == "exact":
            pairs = rule.spike_pairs(module, sums if rule.count_dims else stats[0], self._cache)
            nz_pairs = (rule.spike_pairs(module, nz_sums if rule.count_dims else nz_sums.sum(),
                                         self._cache) if nz_sums is not None else pairs)
        else:
            pairs = nz_pairs = stats[0]
        self._pending.append(_Pending(site, dense, x.numel(),
                                      torch.cat((torch.stack((pairs, nz_pairs)), stats))))

    @staticmethod
    def _add(table: dict, key: int, value: float) -> None:
        table[key] = table.get(key, 0) + value

    def flush(self) -> None:
        """Read the device statistics of the calls so far (one synchronisation) and close
        the current batch."""
        if self._pending:
            rows = torch.stack([p.stats for p in self._pending]).tolist()
            for pending, row in zip(self._pending, rows):
                self._record(pending, *row)
            self._pending.clear()
        if self._neuron_pending:
            spikes = torch.stack([s for _, s in self._neuron_pending]).tolist()
            for (tally, _), count in zip(self._neuron_pending, spikes):
                tally.spikes += int(count)
            self._neuron_pending.clear()
        self._close_batch()

    def _record(self, pending: _Pending, pairs: float, nz_pairs: float, total: float,
                nonzero: float, low: float, high: float, fraction: float,
                smallest: float) -> None:
        site, counts = pending.site, pending.site.counts
        binary = is_spike(total, nonzero, low, high)
        events = self.spikes == "events"
        magnitude = max(abs(low), abs(high))
        if nonzero == 0:
            level = None
        elif binary:
            level = 1.0
        else:
            level = magnitude if events and smallest == magnitude else math.nan
        if self.mode == "exact":
            acs, acs_nz = pairs, nz_pairs
        else:
            acs = pending.dense * total / pending.numel
            acs_nz = pending.dense * nonzero / pending.numel
        site.counts = replace(
            counts, events=events, binary=counts.binary and binary,
            integer=counts.integer and (binary or (events and fraction == 0)),
            level=join_levels(counts.level, level),
            acs_main=counts.acs_main + acs, acs_nonzero=counts.acs_nonzero + acs_nz,
            nonzero=counts.nonzero + int(nonzero), elements=counts.elements + pending.numel)
        self._add(self._batch["acs"], site.ordinal, acs)
        self._add(self._batch["nonzero"], site.ordinal, acs_nz)

    def _close_batch(self) -> None:
        batch = self._batch
        if not batch["samples"] and not batch["dense"]:
            return
        table = np.zeros((len(self._sites), 3))
        for column, key in enumerate(("dense", "acs", "nonzero")):
            for ordinal, value in batch[key].items():
                table[ordinal, column] = value
        self._batches.append((batch["samples"], table, batch["updates"]))
        self._batch = {"samples": 0, "dense": {}, "acs": {}, "nonzero": {}, "updates": 0}

    def add_samples(self, samples: int) -> None:
        """Count ``samples`` for the current batch (when the caller knows them, e.g. from
        the data as the loader yields it, rather than from the model input)."""
        self.samples += samples
        self._batch["samples"] += samples

    # --- result -----------------------------------------------------------------------
    def _batch_totals(self, sites: list[SiteCounts]) -> tuple[BatchTotals, ...]:
        """Each batch's totals under the run's final classification of every site."""
        spike = np.array([s.signal != MULTI_LEVEL for s in sites], dtype=bool)
        nonzero = np.array([s.signal == SPIKE and (s.declared_spike or not s.binary)
                            for s in sites], dtype=bool)
        rows = []
        for samples, table, updates in self._batches:
            n = table.shape[0]
            acs = np.where(nonzero[:n], table[:, 2], table[:, 1])[spike[:n]].sum()
            macs = table[~spike[:n], 0].sum()
            rows.append(BatchTotals(samples, float(acs), int(round(macs)), updates))
        return tuple(rows)

    def report(self, samples: int | None = None) -> Report:
        """The counts so far. ``samples`` overrides the samples seen by the model (for
        single-step models called once per time step)."""
        self.flush()
        if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int)
                                    or samples < 1):
            raise ValueError(f"samples must be a positive int, got {samples!r}")
        total = self.samples if samples is None else samples
        if total < 1:
            raise ValueError("no samples were counted (the model never ran on a non-empty "
                             "batch); count some data, or pass report(samples=N)")
        counted = [t.counts(m) for m, t in self._layers.items() if t.sites]
        sites = [s.counts for s in self._sites]
        neurons = [NeuronCounts(t.name, type(m).__name__, t.neurons, t.calls, t.updates, t.spikes)
                   for m, t in self._neurons.items() if t.calls]
        types = set(self._uncounted.values())
        return Report(
            layer_counts=tuple(counted), samples=total, forwards=self.forwards,
            params=sum(p.numel() for p in self.model.parameters()),
            mode=self.mode, fuse_bn=self.fuse_bn, energy_model=self.energy_model,
            not_counted=tuple(sorted(self._ran)), unused=tuple(sorted(types - self._ran)),
            classification=self.classify, notes=tuple(self.notes),
            neuron_counts=tuple(neurons), spikes=self.spikes, warnings=tuple(self.warnings),
            batches=self._batch_totals(sites) if samples is None else ())
