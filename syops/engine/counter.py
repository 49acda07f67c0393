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
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils._pytree import tree_leaves

from syops.energy.presets import EnergyModel, energy_model
from syops.engine.fold import folded_batchnorms
from syops.engine.interception import ScopedProducts
from syops.engine.ops import Contraction, LayerCall, Product, module_products
from syops.engine.probe import one_sample, run_probe
from syops.report import (MULTI_LEVEL, SPIKE, SPIKE_CONVENTIONS, BatchTotals, LayerCounts,
                     NeuronCounts, Report)
from syops.engine.rules import Rule, rule_for
from syops.engine.sites import OperandCounts, ProductSite, SiteCounts, join_levels
from syops.engine.snn import (emits_binary, is_neuron, restore_states, save_states, time_axis,
                  time_steps)
from syops.engine.spikes import call_statistics, is_spike, spike_sums

MODES = ("exact", "rate")
CLASSIFICATIONS = ("probe", "observed")


class UncountedModulesError(ValueError):
    """Raised in strict mode when parameterised modules that no rule counts ran."""


class SyopsWarning(UserWarning):
    """A figure rests on an assumption the user should check (printed on stderr by the CLI)."""


_ACTIVE: dict[int, object] = {}   # id(module) -> the counter hooked on it
_ACTIVE_LOCK = threading.Lock()


@dataclass
class _Site:
    """Mutable holder of one call site's counts (a SiteCounts or a ProductSite)."""

    ordinal: int                       # row in the counter's per-batch tables
    counts: SiteCounts | ProductSite
    by_architecture: bool = False      # spikes by architecture (the probe): after one
    verified: bool = False             # batch of 0/1 inputs, only their sums are needed

    @property
    def fixed(self) -> bool:
        return getattr(self.counts, "fixed", False)


@dataclass
class _Tally:
    """One counted layer (or one op kind in one module): its rule, what the probe learnt,
    and its sites."""

    name: str
    rule: Rule | None
    params: int
    type_name: str = ""
    synaptic: bool = True
    verdicts: dict[int, Any] | None = None        # probe: call index -> inputs binary
    architecture: set[int] = field(default_factory=set)  # call indices spiking by architecture
    declared: str | None = None                   # signals={name: ...}
    folded: bool = False                          # a BatchNorm the probe found folding
    input_shape: tuple[int, ...] = ()
    sites: dict[int, _Site] = field(default_factory=dict)

    def counts(self) -> LayerCounts:
        return LayerCounts(self.name, self.type_name, self.params, self.input_shape,
                           self.synaptic, tuple(s.counts for s in self.sites.values()))


@dataclass
class _NeuronTally:
    name: str
    neurons: int = 0
    calls: int = 0
    updates: int = 0
    spikes: int = 0
    feeds: list[_Site] | None = None   # sites that take every call's spikes as they are

    def total_spikes(self) -> int:
        if self.feeds is None:
            return self.spikes
        return self.spikes + sum(site.counts.nonzero for site in self.feeds)


@dataclass
class _Pending:
    """One call whose classification waits for its device statistics."""

    record: Callable[[list[float]], None]
    stats: Tensor   # float64, 1-d


BATCH_COLUMNS = ("dense", "c1", "c2", "c3")


def _new_batch() -> dict:
    return {"samples": 0, "updates": 0, **{column: {} for column in BATCH_COLUMNS}}


def nonzero_operands(product: Contraction) -> Contraction:
    """The contraction of the operands' non-zero indicators (a fused intermediate given by
    its shape counts as all non-zero)."""
    def indicator(t: Tensor | None, index: str, device) -> Tensor:
        if t is None:
            return torch.ones([product.sizes[c] for c in index], device=device)
        return (t != 0).double()
    device = next(t.device for t in (product.a, product.b) if t is not None)
    return replace(product, a=indicator(product.a, product.a_index, device),
                   b=indicator(product.b, product.b_index, device))


def both_pairs(product: Contraction, events: bool) -> Tensor:
    """Pairs of non-zero elements of both operands that a contraction multiplies (|values|
    weighted under events): the operands summed over their own indices, then contracted
    over the shared ones."""
    shared = [c for c in product.a_index if c in product.b_index]
    a, b = (t.abs() if events else t for t in (product.a, product.b))
    a_keep = "".join(c for c in product.a_index if c in shared)
    b_keep = "".join(c for c in product.b_index if c in shared)
    a = torch.einsum(f"{product.a_index}->{a_keep}", a.double())
    b = torch.einsum(f"{product.b_index}->{b_keep}", b.double())
    return torch.einsum(f"{a_keep},{b_keep}->", a, b)


def call_kind(total: float, nonzero: float, low: float, high: float, fraction: float,
              smallest: float, events: bool) -> tuple[bool, bool, float | None]:
    """(binary, integer-valued, the one non-zero magnitude or NaN or None) of one input."""
    binary = is_spike(total, nonzero, low, high)
    magnitude = max(abs(low), abs(high))
    if nonzero == 0:
        level = None
    elif binary:
        level = 1.0
    else:
        level = magnitude if events and smallest == magnitude else math.nan
    return binary, binary or (events and fraction == 0), level


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
    """Refuse NaN or infinite weights (one synchronisation: NaN and inf survive a float64
    sum; only then is the culprit looked for)."""
    tensors = [(n, t) for n, t in model.state_dict().items() if t.is_floating_point()]
    if not tensors:
        return
    device = tensors[0][1].device
    total = torch.stack([t.sum(dtype=torch.float32).to(device) for _, t in tensors]).sum()
    if math.isfinite(float(total)):  # an overflow only costs the per-tensor look below
        return
    for name, tensor in tensors:
        if not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"the model's {name} holds NaN or infinite values; its outputs "
                             "(and so the spike counts) would be meaningless: fix the weights")


class SyopsCounter:
    """Counts AC and MAC operations of every call of ``model`` while active."""

    def __init__(self, model: nn.Module, *, mode: str = "exact", fuse_bn: bool = True,
                 energy: str | EnergyModel = "fp32", strict: bool = False,
                 classify: str = "probe", signals: Mapping[str, str] | None = None,
                 batch_dim: int = 0, spikes: str = "binary", bn_macs: int = 2,
                 effective: bool = False):
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
        if effective and mode != "exact":
            raise ValueError("effective operations are exact pairs; use mode='exact'")
        if bn_macs not in (1, 2):
            raise ValueError(f"bn_macs must be 1 or 2 MACs per element, got {bn_macs!r}")
        bad = {k: v for k, v in (signals or {}).items() if v not in (SPIKE, MULTI_LEVEL)}
        if bad:
            raise ValueError(f"signals must be {SPIKE!r} or {MULTI_LEVEL!r}, got {bad}")
        _check_finite(model)
        self.model, self.mode, self.fuse_bn, self.strict = model, mode, fuse_bn, strict
        self.energy_model = energy_model(energy)
        self.classify, self.signals, self.batch_dim = classify, dict(signals or {}), batch_dim
        self.spikes, self.bn_macs, self.effective = spikes, bn_macs, effective
        self._layers = self._find_layers()
        unknown = set(self.signals) - {t.name for t in self._layers.values()}
        if unknown:
            raise ValueError(f"signals name layers that are not counted: {sorted(unknown)}")
        self._products = {m: (name, *module_products(m)) for name, m in model.named_modules()
                          if m not in self._layers and module_products(m) is not None}
        self._uncounted = parameter_types(model, set(self._layers) | self._free_bns
                                          | set(self._products))
        self._neurons = {m: _NeuronTally(name) for name, m in model.named_modules()
                         if is_neuron(m)}
        self._binary_neurons = bool(self._neurons) and all(map(emits_binary, self._neurons))
        self._handles: list = []
        self._pending: list[_Pending] = []
        self._neuron_pending: list[tuple[_NeuronTally, Tensor]] = []
        self._cache: dict = {}
        self._saved_states: dict = {}
        self._probed = False
        self._calls: dict[nn.Module, int] = {}      # calls of each layer in this forward
        self._ran: set[str] = set()
        self._sites: list[_Site] = []
        self._batch = _new_batch()
        self._ops: dict[tuple[str, str], _Tally] = {}
        self._feeding: dict[str, dict[int, tuple[_Tally, int]]] = {}
        self._batches: list[tuple[int, np.ndarray, int]] = []
        self._forward_samples = 0
        self.count_samples = True
        self.resets_states = False   # the caller resets every state before each forward
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
            layers[module] = _Tally(name, rule, params, type(module).__name__, rule.synaptic,
                                    declared=self.signals.get(name))
        return layers

    def __enter__(self) -> SyopsCounter:
        self._claim()
        self._saved_states = save_states(self.model, copies=not self.resets_states)
        try:
            self._handles.append(self.model.register_forward_pre_hook(
                self._make_root_hook(), with_kwargs=True))
            for module, tally in self._layers.items():
                self._handles.append(module.register_forward_hook(
                    self._make_layer_hook(tally), with_kwargs=True))
            for module, tally in self._neurons.items():
                self._handles.append(module.register_forward_hook(
                    self._make_neuron_hook(tally), with_kwargs=True))
            for module, (name, op, rule) in self._products.items():
                self._handles.append(module.register_forward_hook(
                    self._make_products_hook(name, op, rule), with_kwargs=True))
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
            if tally.feeds is None:   # the sum of its outputs: its spikes when they are 0/1
                self._neuron_pending.append((tally, spike_sums(y).sum()))
        return on_call

    def _make_products_hook(self, name: str, op: str, rule: Callable):
        def on_call(module, args, kwargs, output):
            tally = self._op_tally(name, op)
            tally.params = sum(p.numel() for p in module.parameters(recurse=False))
            self._count_products(name, op, lambda a, k: rule(module, a, k, output), args,
                                 kwargs)
        return on_call

    def _make_ran_hook(self, type_name: str):
        def on_call(module, args, output):
            self._ran.add(type_name)
        return on_call

    def _check_layout(self, module: nn.Module, x: Tensor, steps: int) -> None:
        """Note where the sample count may be T or a multiple of the samples."""
        axis = time_axis(module)
        if steps > 1 and axis is not None and x.dim() > axis \
                and x.shape[axis] == self._forward_samples:
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
            found = run_probe(self.model, layers, *one_sample((args, kwargs), self.batch_dim),
                              integers=self.spikes == "events")
        except Exception as err:  # the model would not run on the skeleton: observe instead
            self.classify = "observed"
            self._warn(f"type probe failed ({type(err).__name__}: {err}); signals classified "
                       "from the observed inputs alone, and BatchNorms applied in forward() "
                       "are not folded")
            self._watch_products({self.model: ""})
            return
        if not self._neurons and any(any(s.values()) for s in found.binary.values()):
            self._warn("no spiking neuron recognised in the model, yet some layer inputs are "
                       "0/1: whether they are spikes rests on the observed values alone; "
                       "declare your neuron class with syops.register_neuron")
        for module, tally in self._layers.items():
            tally.folded = self.fuse_bn and module in found.folds
            if self.classify == "probe":
                tally.verdicts = found.binary.get(tally.name)
                if self.spikes == "events":  # sums of spikes are event counts, not levels
                    tally.verdicts = {i: v or found.integer.get((tally.name, i), False)
                                      for i, v in (tally.verdicts or {}).items()} or None
                tally.architecture = {i for i, binary in (tally.verdicts or {}).items()
                                      if binary and (tally.name, i) not in found.data_fed}
        if self.classify == "probe":
            self._link_neurons(found)
        for (scope, op), verdicts in found.ops.items():
            self._op_tally(scope, op).verdicts = verdicts if self.classify == "probe" else None
        for (scope, op), error in found.op_errors.items():
            self._warn(f"{op} in {scope or 'the model'} not counted ({error})")
        modules = dict(self.model.named_modules())
        self._watch_products({modules[scope]: scope for scope, _ in found.ops})

    def _link_neurons(self, found) -> None:
        """Neurons whose every call feeds a counted layer its spikes as they are take their
        spike counts from those layers' input statistics (no count of their own)."""
        by_name = {t.name: t for t in self._layers.values() if t.declared is None}
        neurons = {t.name: t for t in self._neurons.values()}
        feeds: dict[str, dict[int, tuple[_Tally, int]]] = {}
        for (layer, index), (neuron, call) in found.fed.items():
            if layer in by_name and index in by_name[layer].architecture:
                feeds.setdefault(neuron, {}).setdefault(call, (by_name[layer], index))
        for name, calls in feeds.items():
            tally = neurons.get(name)
            if tally is not None and len(calls) == found.neuron_calls.get(name):
                tally.feeds = []
                self._feeding[name] = calls

    def _watch_products(self, scopes: dict[nn.Module, str]) -> None:
        """Count the functional products run inside ``scopes`` (none of their counted
        layers' own)."""
        whole = {*self._layers, *self._products}
        scopes = {m: n for m, n in scopes.items() if m not in whole}  # counted whole
        if not scopes:
            return
        inside = {m for scope in scopes for m in scope.modules()}
        suspend = [m for m in whole if m in inside]
        watcher = ScopedProducts(self._count_products)
        self._handles += watcher.attach(scopes, suspend)
        if self.model in scopes:  # attached from inside the model's own pre-hook: enter now
            watcher.enter(scopes[self.model])

    # --- counting layers ------------------------------------------------------------
    def _site(self, tally: _Tally, key: Any, make: Callable[[int], Any]) -> _Site:
        index = self._calls.get(key, 0)
        self._calls[key] = index + 1
        site = tally.sites.get(index)
        if site is None:
            site = tally.sites[index] = _Site(len(self._sites), make(index))
            self._sites.append(site)
        return site

    def _layer_site(self, tally: _Tally, key: Any) -> _Site:
        def make(index: int) -> SiteCounts:
            verdict = tally.verdicts.get(index) if tally.verdicts is not None else None
            fixed = (not tally.synaptic or tally.declared == MULTI_LEVEL
                     or (tally.declared is None and verdict is not None and not all(
                         verdict if isinstance(verdict, tuple) else (verdict,))))
            return SiteCounts(index, fixed=fixed, declared_spike=tally.declared == SPIKE,
                              events=self.spikes == "events")
        fresh = self._calls.get(key, 0) not in tally.sites
        site = self._site(tally, key, make)
        if fresh:
            self._new_layer_site(tally, site)
        return site

    def _new_layer_site(self, tally: _Tally, site: _Site) -> None:
        site.by_architecture = (site.counts.index in tally.architecture
                                and self.spikes == "binary" and not self.effective)
        # fed by neurons that emit 0/1 by construction: 0/1 without a test (else after one)
        site.verified = site.by_architecture and self._binary_neurons
        for neuron, calls in self._feeding.items():
            if (tally, site.counts.index) in calls.values():
                next(t for t in self._neurons.values() if t.name == neuron).feeds.append(site)

    def _dense(self, tally: _Tally, module: nn.Module, x: Tensor, output: Any) -> int:
        y = _first_tensor(output)
        dense = tally.rule.dense(module, x, y)
        return dense if tally.synaptic else dense * self.bn_macs

    def _count_call(self, module: nn.Module, tally: _Tally, x: Tensor, output: Any) -> None:
        if tally.folded:
            return
        tally.input_shape = tuple(x.shape)
        self._measure(self._layer_site(tally, module), tally.rule, module, x,
                      self._dense(tally, module, x, output))

    def _measure(self, site: _Site, rule: Rule, module: Any, x: Tensor, dense: int) -> None:
        """Count one call of a layer (or functional layer) on input ``x``. Under effective
        operations the call's cost is its (non-zero input, non-zero weight) pairs, read
        back with its statistics."""
        effective = self.effective and rule.synaptic and x.numel() > 0
        counts = site.counts
        site.counts = replace(counts, calls=counts.calls + 1,
                              dense=counts.dense + (0 if effective else dense))
        if not effective:
            self._add(self._batch["dense"], site.ordinal, dense)
        if x.numel() == 0 or (site.fixed and not effective):
            return
        if site.verified:
            self._measure_spikes(site, rule, module, x, dense)
            return
        events = self.spikes == "events"
        sums, nz_sums, stats = call_statistics(x, rule.count_dims, events=events,
                                               nonzero_sums=counts.declared_spike or events)
        if effective:
            pairs = nz_pairs = rule.effective_pairs(module, x)
        elif self.mode == "exact":
            pairs = rule.spike_pairs(module, sums if rule.count_dims else stats[0], self._cache)
            nz_pairs = (rule.spike_pairs(module, nz_sums if rule.count_dims else nz_sums.sum(),
                                         self._cache) if nz_sums is not None else pairs)
        else:
            pairs = nz_pairs = stats[0]
        numel = x.numel()
        self._pending.append(_Pending(
            lambda row: self._record_layer(site, None if effective else dense, numel, *row),
            torch.cat((torch.stack((pairs, nz_pairs)), stats))))

    def _measure_spikes(self, site: _Site, rule: Rule, module: Any, x: Tensor,
                        dense: int) -> None:
        """A call of a site fed spikes by architecture, already seen binary: the sums of its
        input are all it needs (its ones)."""
        sums = spike_sums(x, rule.count_dims)
        total = sums.sum()
        pairs = (rule.spike_pairs(module, sums if rule.count_dims else total, self._cache)
                 if self.mode == "exact" else total)
        numel = x.numel()
        self._pending.append(_Pending(
            lambda row: self._record_layer(site, dense, numel, row[0], row[0], row[1], row[1],
                                           0.0, 1.0 if row[1] else 0.0, 0.0, 0.0),
            torch.stack((pairs, total))))

    def _record_layer(self, site: _Site, dense: int | None, numel: int, pairs: float,
                      nz_pairs: float, total: float, nonzero: float, low: float, high: float,
                      fraction: float, smallest: float) -> None:
        counts = site.counts
        if dense is None:  # effective operations: the pairs are the call's cost
            dense = round(pairs)
            counts = replace(counts, dense=counts.dense + dense)
            self._add(self._batch["dense"], site.ordinal, dense)
        if site.fixed:
            site.counts = counts
            return
        binary, integer, level = call_kind(total, nonzero, low, high, fraction, smallest,
                                           self.spikes == "events")
        if self.mode == "exact":
            acs, acs_nz = pairs, nz_pairs
        else:
            acs, acs_nz = dense * total / numel, dense * nonzero / numel
        site.verified = site.by_architecture and binary and counts.binary
        site.counts = replace(
            counts, binary=counts.binary and binary, integer=counts.integer and integer,
            level=join_levels(counts.level, level),
            acs_main=counts.acs_main + acs, acs_nonzero=counts.acs_nonzero + acs_nz,
            nonzero=counts.nonzero + int(nonzero), elements=counts.elements + numel)
        self._add(self._batch["c1"], site.ordinal, acs)
        self._add(self._batch["c2"], site.ordinal, acs_nz)

    # --- counting functional products --------------------------------------------------
    def _op_tally(self, scope: str, op: str) -> _Tally:
        key = (scope, op)
        tally = self._ops.get(key)
        if tally is None:
            tally = self._ops[key] = _Tally(scope, None, 0, op)
        return tally

    def _count_products(self, scope: str, op: str, rule: Callable, args: tuple,
                        kwargs: dict) -> None:
        try:
            products = rule(args, kwargs)
        except Exception as err:  # never break the user's forward; say what was not counted
            self._warn(f"{op} in {scope or 'the model'} not counted "
                       f"({type(err).__name__}: {err})")
            return
        tally = self._op_tally(scope, op)
        for product in products:
            self._count_product(tally, product)

    def _count_product(self, tally: _Tally, product: Product) -> None:
        key = (tally.name, tally.type_name)
        if isinstance(product, LayerCall):
            tally.input_shape = tuple(product.x.shape)
            dense = product.rule.dense(product.geometry, product.x,
                                       torch.empty(product.output_shape, device="meta"))
            self._measure(self._layer_site(tally, key), product.rule, product.geometry,
                          product.x, dense)
            return
        live = self._live_operands(tally, product)
        site = self._site(tally, key, lambda index: ProductSite(
            index, a=OperandCounts(fixed=not live[0], events=self.spikes == "events"),
            b=OperandCounts(fixed=not live[1], events=self.spikes == "events")))
        tally.input_shape = tuple(product.a.shape) if product.a is not None else ()
        self._measure_product(site, product)

    def _live_operands(self, tally: _Tally, product: Contraction) -> tuple[bool, bool]:
        """Which operands may carry spikes: tensors, not weights, binary in the probe."""
        index = self._calls.get((tally.name, tally.type_name), 0)
        verdict = tally.verdicts.get(index) if tally.verdicts is not None else None
        live = [t is not None and not fixed
                for t, fixed in ((product.a, product.a_fixed), (product.b, product.b_fixed))]
        if verdict is not None:
            live = [ok and bool(v) for ok, v in zip(live, verdict)]
        return live[0], live[1]

    def _measure_product(self, site: _Site, product: Contraction) -> None:
        counts, dense = site.counts, product.dense
        effective = self.effective and dense > 0
        site.counts = replace(counts, calls=counts.calls + 1,
                              dense=counts.dense + (0 if effective else dense))
        if not effective:
            self._add(self._batch["dense"], site.ordinal, dense)
        a_live, b_live = not counts.a.fixed, not counts.b.fixed
        if not (a_live or b_live or effective) or dense == 0:
            return
        events = self.spikes == "events"
        device = next(t.device for t in (product.a, product.b) if t is not None)
        zero = torch.zeros(6, dtype=torch.float64, device=device)
        a_stats = call_statistics(product.a, events=events).stats if a_live else zero
        b_stats = call_statistics(product.b, events=events).stats if b_live else zero
        if effective:
            both = both_pairs(nonzero_operands(product), False)
        elif a_live and b_live and self.mode == "exact":
            both = both_pairs(product, events)
        else:
            both = zero[0]
        numels = (product.a.numel() if a_live else 0, product.b.numel() if b_live else 0)
        self._pending.append(_Pending(
            lambda row: self._record_product(site, None if effective else dense, numels, row),
            torch.cat((both.reshape(1), a_stats, b_stats))))

    def _record_product(self, site: _Site, dense: int | None, numels: tuple[int, int],
                        row: list[float]) -> None:
        counts, events = site.counts, self.spikes == "events"
        if dense is None:  # effective operations: every one of the non-zero pairs
            dense = round(row[0])
            counts = replace(counts, dense=counts.dense + dense, acs_a=counts.acs_a + dense,
                             acs_b=counts.acs_b + dense, acs_both=counts.acs_both + dense)
            self._add(self._batch["dense"], site.ordinal, dense)
            for column in ("c1", "c2", "c3"):
                self._add(self._batch[column], site.ordinal, dense)
            site.counts = replace(counts, a=self._operand(counts.a, row[1:7], numels[0]),
                                  b=self._operand(counts.b, row[7:13], numels[1]))
            return
        operands = [self._operand(counts.a, row[1:7], numels[0]),
                    self._operand(counts.b, row[7:13], numels[1])]
        means = [stats[0] / numel if numel else 0.0
                 for stats, numel in ((row[1:7], numels[0]), (row[7:13], numels[1]))]
        acs_a, acs_b = dense * means[0], dense * means[1]
        acs_both = row[0] if self.mode == "exact" else dense * means[0] * means[1]
        site.counts = replace(counts, a=operands[0], b=operands[1],
                              acs_a=counts.acs_a + acs_a, acs_b=counts.acs_b + acs_b,
                              acs_both=counts.acs_both + acs_both)
        for column, value in (("c1", acs_a), ("c2", acs_b), ("c3", acs_both)):
            self._add(self._batch[column], site.ordinal, value)

    def _operand(self, operand: OperandCounts, stats: list[float], numel: int) -> OperandCounts:
        """An operand's counts with one more input (its statistics ``stats``)."""
        if operand.fixed or numel == 0:
            return operand
        binary, integer, level = call_kind(*stats, self.spikes == "events")
        return operand + OperandCounts(binary=binary, integer=integer, level=level,
                                       nonzero=int(stats[1]), elements=numel)

    @staticmethod
    def _add(table: dict, key: int, value: float) -> None:
        table[key] = table.get(key, 0) + value

    # --- reading back -------------------------------------------------------------------
    def flush(self) -> None:
        """Read the device statistics of the calls so far (one synchronisation) and close
        the current batch."""
        if self._pending:
            flat = torch.cat([p.stats for p in self._pending]).tolist()
            offset = 0
            for pending in self._pending:
                size = pending.stats.numel()
                pending.record(flat[offset:offset + size])
                offset += size
            self._pending.clear()
        if self._neuron_pending:
            spikes = torch.stack([s for _, s in self._neuron_pending]).tolist()
            for (tally, _), count in zip(self._neuron_pending, spikes):
                tally.spikes += int(count)
            self._neuron_pending.clear()
        self._close_batch()

    def _close_batch(self) -> None:
        batch = self._batch
        if not batch["samples"] and not batch["dense"]:
            return
        table = np.zeros((len(self._sites), 4))
        for column, key in enumerate(BATCH_COLUMNS):
            for ordinal, value in batch[key].items():
                table[ordinal, column] = value
        self._batches.append((batch["samples"], table, batch["updates"]))
        self._batch = _new_batch()

    def add_samples(self, samples: int) -> None:
        """Count ``samples`` for the current batch (when the caller knows them, e.g. from
        the data as the loader yields it, rather than from the model input)."""
        self.samples += samples
        self._batch["samples"] += samples

    # --- result -----------------------------------------------------------------------
    def _batch_totals(self, sites: list) -> tuple[BatchTotals, ...]:
        """Each batch's totals under the run's final classification of every site."""
        weights = np.array([s.weights() for s in sites]).reshape(-1, 4)
        rows = []
        for samples, table, updates in self._batches:
            mine = weights[:table.shape[0]]
            macs = (table[:, 0] * mine[:, 0]).sum()
            acs = (table[:, 1:] * mine[:, 1:]).sum()
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
        counted = [t.counts() for t in (*self._layers.values(), *self._ops.values())
                   if t.sites]
        sites = [s.counts for s in self._sites]
        neurons = [NeuronCounts(t.name, type(m).__name__, t.neurons, t.calls, t.updates,
                                t.total_spikes())
                   for m, t in self._neurons.items() if t.calls]
        types = set(self._uncounted.values())
        modules = dict(self.model.named_modules())
        by_ops = {type(modules[scope]).__name__ for scope, _ in self._ops if scope in modules}
        ran = self._ran - by_ops
        if self.strict and ran:
            raise UncountedModulesError(
                f"no counting rule for module types with parameters that ran: "
                f"{', '.join(sorted(ran))}; register a rule with syops.register_rule "
                "or run without strict")
        return Report(
            layer_counts=tuple(counted), samples=total, forwards=self.forwards,
            params=sum(p.numel() for p in self.model.parameters()),
            mode=self.mode, fuse_bn=self.fuse_bn, energy_model=self.energy_model,
            not_counted=tuple(sorted(ran)), unused=tuple(sorted(types - self._ran - by_ops)),
            classification=self.classify, notes=tuple(self.notes),
            model=type(self.model).__name__,   # the class; the CLI gives its own name
            neuron_counts=tuple(neurons), spikes=self.spikes, warnings=tuple(self.warnings),
            batches=self._batch_totals(sites) if samples is None else ())
