"""SyopsCounter: forward hooks that count the synaptic operations of a model's calls.

Usable on its own around an existing evaluation loop::

    with SyopsCounter(model) as counter:
        for x, _ in loader:
            model(x)
            functional.reset_net(model)
    report = counter.report()

The counter owns the state of a count (``tallies``) and the hooks' lifecycle. Every call of
a counted layer belongs to a *call site*: the layer's k-th call in a forward. Each call's
input is tested on its device against what it is counted as (``measure``), on every call;
the statistics are read back once per batch (``flush``). The type probe tells, per site,
whether its input is multi-level by architecture (then it costs MACs whatever one batch
holds). On exit every hook is removed and the model's neuron states are put back.
"""

from __future__ import annotations

import threading
import warnings
from typing import Any, Callable

import torch
from torch import Tensor, nn
from torch.utils._pytree import tree_leaves

from syops.energy.presets import energy_model
from syops.engine import layout
from syops.engine.checks import check_finite, parameter_types
from syops.engine.emits import emits, priced_as_spikes
from syops.engine.fold import folded_batchnorms
from syops.engine.interception import ScopedProducts
from syops.engine.measure import Measure
from syops.engine.neurons import neuron_call
from syops.engine.ops import Contraction, LayerCall, Product, module_products
from syops.engine.probe import one_sample, run_probe
from syops.engine.rules import rule_for
from syops.engine.sites import OperandCounts, ProductSite, SiteCounts
from syops.engine.snn import is_neuron, restore_states, save_states, time_steps
from syops.engine.tallies import Batches, LayerTally, NeuronTally, Pending, Site
from syops.options import Options
from syops.report import MULTI_LEVEL, SPIKE, NeuronCounts, Report


class UncountedModulesError(ValueError):
    """Raised in strict mode when parameterised modules that no rule counts ran."""


class SyopsWarning(UserWarning):
    """A figure rests on an assumption the user should check (printed on stderr by the CLI)."""


_ACTIVE: dict[int, object] = {}   # id(module) -> the counter hooked on it
_ACTIVE_LOCK = threading.Lock()


def _first_tensor(args: Any) -> Tensor | None:
    return next((t for t in tree_leaves(args) if isinstance(t, Tensor)), None)


class SyopsCounter:
    """Counts AC and MAC operations of every call of ``model`` while active.

    Options are ``count_syops``'s (``mode``, ``spikes``, ``batch_dim``...), as keywords or
    one ``options`` object. ``samples_from_caller``: the caller counts the samples
    (``add_samples``) instead of the model inputs' ``batch_dim``; ``resets_states``: the
    caller resets every neuron state before each forward (the states are then set aside
    without copies)."""

    def __init__(self, model: nn.Module, options: Options | None = None, *,
                 samples_from_caller: bool = False, resets_states: bool = False,
                 **option_values: Any):
        if isinstance(model, torch.jit.ScriptModule):
            raise TypeError("a TorchScript module cannot be hooked; count the Python model "
                            "it was scripted from (load the weights into it)")
        self.options = options if options is not None else Options.build(**option_values)
        check_finite(model)
        self.model = model
        self.energy_model = energy_model(self.options.energy)
        self.samples_from_caller, self.resets_states = samples_from_caller, resets_states
        self._free_bns = folded_batchnorms(model) if self.options.fuse_bn else set()
        self._layers = self._find_layers()
        unknown = {name for name, _ in self.options.signals} - {t.name for t in
                                                                self._layers.values()}
        if unknown:
            raise ValueError(f"signals name layers that are not counted: {sorted(unknown)}")
        self._products = {m: (name, *module_products(m)) for name, m in model.named_modules()
                          if m not in self._layers and module_products(m) is not None}
        self._uncounted = parameter_types(model, set(self._layers) | self._free_bns
                                          | set(self._products))
        self._neurons = {m: NeuronTally(name, emits(m)) for name, m in model.named_modules()
                         if is_neuron(m)}
        self._ops: dict[tuple[str, str], LayerTally] = {}
        self._sites: list[Site] = []
        self._pending: list[Pending] = []
        self._batches = Batches()
        self._measure = Measure(self.options, self._batches, self._pending)
        self._handles: list = []
        self._saved_states: list = []
        self._calls: dict[Any, int] = {}      # calls of each layer in this forward
        self._ran: set[str] = set()
        self._probed = False
        self._input_dims = 0
        self._forward_samples = 0
        self.classification = self.options.classify
        self.samples = 0
        self.forwards = 0
        self.notes: list[str] = list(getattr(model, "syops_notes", ()))  # e.g. a NIR dt
        self.warnings: list[str] = []

    @property
    def mode(self) -> str:
        return self.options.mode

    def _find_layers(self) -> dict[nn.Module, LayerTally]:
        layers = {}
        for name, module in self.model.named_modules():
            rule = rule_for(module)
            if rule is None or module in self._free_bns:
                continue
            params = sum(p.numel() for p in module.parameters(recurse=False))
            layers[module] = LayerTally(name, rule, params, type(module).__name__,
                                        rule.synaptic, declared=self.options.declared(name))
        return layers

    # --- lifecycle ----------------------------------------------------------------------
    def __enter__(self) -> SyopsCounter:
        self._claim()
        self._saved_states = save_states(self.model, copies=not self.resets_states)
        try:
            self._hook(self.model.register_forward_pre_hook(self._on_forward,
                                                            with_kwargs=True))
            for module, tally in self._layers.items():
                self._hook(module.register_forward_hook(self._layer_hook(tally),
                                                        with_kwargs=True))
            for module, tally in self._neurons.items():
                self._hook(module.register_forward_hook(self._neuron_hook(tally),
                                                        with_kwargs=True))
            for module, (name, op, rule) in self._products.items():
                self._hook(module.register_forward_hook(self._products_hook(name, op, rule),
                                                        with_kwargs=True))
            for module, type_name in self._uncounted.items():
                self._hook(module.register_forward_hook(self._ran_hook(type_name)))
            for name, module in self.model.named_modules():
                if layout.is_average_pool(module):
                    self._hook(module.register_forward_hook(
                        self._pool_hook(f"{name} ({type(module).__name__})")))
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

    def _hook(self, handle) -> None:
        self._handles.append(handle)

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
        self._saved_states = []
        self._release()

    # --- hooks (closures, not bound methods: the probe deep-copies the model) --------
    def _on_forward(self, module, args, kwargs):
        inputs = _first_tensor((args, kwargs))
        batch_dim = self.options.model_batch_dim
        if inputs is None:
            raise TypeError("the model was called without a tensor input; syops needs one "
                            "to count samples")
        if inputs.dim() <= batch_dim:
            raise ValueError(f"batch_dim={batch_dim} but the model input has "
                             f"{inputs.dim()} dims (shape {tuple(inputs.shape)}); give the "
                             "dimension that indexes the samples")
        if not self._probed:
            self._run_probe(args, kwargs)
        elif not self.samples_from_caller and self.forwards:
            self.flush()   # a forward is a batch when the caller runs the loop
        self._calls.clear()
        self._input_dims = inputs.dim()
        self._forward_samples = inputs.shape[batch_dim]
        if not self.samples_from_caller:
            self.add_samples(self._forward_samples)
        self.forwards += 1

    def _layer_hook(self, tally: LayerTally):
        def on_call(module, args, kwargs, output):
            x = args[0] if args else _first_tensor(kwargs)
            if isinstance(x, Tensor) and not tally.folded:
                tally.input_shape = tuple(x.shape)
                dense = tally.rule.dense(module, x, _first_tensor(output))
                if not tally.synaptic:
                    dense *= self.options.bn_macs
                self._measure.layer_call(self._layer_site(tally, module), tally.rule, module,
                                         x, dense)
        return on_call

    def _neuron_hook(self, tally: NeuronTally):
        def on_call(module, args, kwargs, output):
            x, y = _first_tensor((args, kwargs)), _first_tensor(output)
            if x is None or y is None:
                return
            steps = time_steps(module, x)
            self._batches.updates += neuron_call(tally, module, x, y, self._forward_samples,
                                                 self._pending)
            self._warn(layout.ambiguous_samples(module, x, steps, self._input_dims,
                                                self._forward_samples, self.options.model_batch_dim))
            if not self.samples_from_caller:
                self.note(layout.single_step_loop(module, steps, self.forwards))
        return on_call

    def _products_hook(self, name: str, op: str, rule: Callable):
        def on_call(module, args, kwargs, output):
            tally = self._op_tally(name, op)
            tally.params = sum(p.numel() for p in module.parameters(recurse=False))
            self._count_products(name, op, lambda a, k: rule(module, a, k, output), args,
                                 kwargs)
        return on_call

    def _pool_hook(self, name: str):
        def on_call(module, args, output):
            x, y = _first_tensor(args), _first_tensor(output)
            if x is None or y is None or not x.numel() or not x.is_floating_point():
                return
            stats = torch.stack((*torch.aminmax(x), (x != x.round()).any(),
                                 (y != y.round()).any())).double()
            self._pending.append(Pending(lambda row: self._warn(
                layout.averaged_spikes(name) if row[0] >= 0 and row[1] <= 1 and not row[2]
                and row[3] else None), stats))
        return on_call

    def _ran_hook(self, type_name: str):
        def on_call(module, args, output):
            self._ran.add(type_name)
        return on_call

    def _warn(self, message: str | None) -> None:
        if message and message not in self.warnings:
            self.warnings.append(message)
            warnings.warn(message, SyopsWarning, stacklevel=3)

    def note(self, message: str | None) -> None:
        """Add a note to the report (shown under its totals), once."""
        if message and message not in self.notes:
            self.notes.append(message)

    # --- the type probe ---------------------------------------------------------------
    def _run_probe(self, args: tuple, kwargs: dict) -> None:
        self._probed = True
        options = self.options
        layers = {m: (t.name, t.rule) for m, t in self._layers.items() if t.rule.synaptic}
        try:
            found = run_probe(self.model, layers, *one_sample((args, kwargs), options.model_batch_dim),
                              integers=options.spikes == "events")
        except Exception as err:  # the model would not run on the skeleton: observe instead
            self.classification = "observed"
            self._warn(f"the type probe could not run this model ({type(err).__name__}: {err});"
                       " every layer input is classified from the values it receives, and "
                       "BatchNorms applied in forward() are not folded (use nn.Sequential or "
                       "syops.fold_bn(model) before counting)")
            self._watch_products({self.model: ""})
            return
        if not self._neurons and any(any(s.values()) for s in found.binary.values()):
            self._warn("no spiking neuron recognised in the model, yet some layer inputs are "
                       "0/1: whether they are spikes rests on the observed values alone; "
                       "declare your neuron class with syops.register_neuron")
        kinds = {t.name: t.kind for t in self._neurons.values()}
        for module, tally in self._layers.items():
            tally.folded = options.fuse_bn and module in found.folds
            if options.classify == "probe":
                tally.verdicts = self._verdicts(tally.name, found, kinds)
        for (scope, op), verdicts in found.ops.items():
            # the probe tests operands for 0/1 only: under the events and ternary
            # conventions, an operand's values decide (scaled spikes, event counts)
            self._op_tally(scope, op).verdicts = (
                verdicts if options.classify == "probe" and options.spikes == "binary"
                else None)
        for (scope, op), error in found.op_errors.items():
            self._warn(f"{op} in {scope or 'the model'} not counted ({error})")
        modules = dict(self.model.named_modules())
        self._watch_products({modules[scope]: scope for scope, _ in found.ops})

    def _verdicts(self, name: str, found, kinds: dict[str, str | None]) -> dict | None:
        """Per call index of layer ``name``: may its input carry spikes (its values then
        decide, call by call)? A layer fed a neuron kind that the input convention does not
        price as spikes never can."""
        spikes = self.options.spikes
        verdicts = {}
        for index, binary in (found.binary.get(name) or {}).items():
            if spikes == "events":   # sums of spikes are event counts, not levels
                binary = binary or found.integer.get((name, index), False)
            if spikes != "binary" and (name, index) in found.data_fed:
                binary = True   # scaled or signed spikes in the data: its values decide
            feeder = found.fed.get((name, index))
            if feeder is not None and not priced_as_spikes(kinds.get(feeder[0]), spikes):
                binary = False
            verdicts[index] = binary
        return verdicts or None

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

    # --- call sites -------------------------------------------------------------------
    def _site(self, tally: LayerTally, key: Any, make: Callable[[int], Any]) -> Site:
        index = self._calls.get(key, 0)
        self._calls[key] = index + 1
        site = tally.sites.get(index)
        if site is None:
            site = tally.sites[index] = Site(len(self._sites), make(index))
            self._sites.append(site)
        return site

    def _layer_site(self, tally: LayerTally, key: Any) -> Site:
        def make(index: int) -> SiteCounts:
            verdict = tally.verdict(index)
            fixed = (not tally.synaptic or tally.declared == MULTI_LEVEL
                     or (tally.declared is None and verdict is not None and not all(
                         verdict if isinstance(verdict, tuple) else (verdict,))))
            return SiteCounts(index, fixed=fixed, declared_spike=tally.declared == SPIKE,
                              events=self.options.spikes == "events")
        return self._site(tally, key, make)

    def _op_tally(self, scope: str, op: str) -> LayerTally:
        tally = self._ops.get((scope, op))
        if tally is None:
            tally = self._ops[(scope, op)] = LayerTally(scope, None, 0, op)
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

    def _count_product(self, tally: LayerTally, product: Product) -> None:
        key = (tally.name, tally.type_name)
        if isinstance(product, LayerCall):
            tally.input_shape = tuple(product.x.shape)
            dense = product.rule.dense(product.geometry, product.x,
                                       torch.empty(product.output_shape, device="meta"))
            self._measure.layer_call(self._layer_site(tally, key), product.rule,
                                     product.geometry, product.x, dense)
            return
        live = self._live_operands(tally, product)
        events = self.options.spikes == "events"
        site = self._site(tally, key, lambda index: ProductSite(
            index, a=OperandCounts(fixed=not live[0], events=events),
            b=OperandCounts(fixed=not live[1], events=events)))
        tally.input_shape = tuple(product.a.shape) if product.a is not None else ()
        self._measure.product(site, product)

    def _live_operands(self, tally: LayerTally, product: Contraction) -> tuple[bool, bool]:
        """Which operands may carry spikes: tensors, not weights, binary in the probe."""
        verdict = tally.verdict(self._calls.get((tally.name, tally.type_name), 0))
        live = [t is not None and not fixed
                for t, fixed in ((product.a, product.a_fixed), (product.b, product.b_fixed))]
        if verdict is not None:
            live = [ok and bool(v) for ok, v in zip(live, verdict)]
        return live[0], live[1]

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
        self._batches.close(len(self._sites))

    def add_samples(self, samples: int) -> None:
        """Count ``samples`` for the current batch (when the caller knows them, e.g. from
        the data as the loader yields it, rather than from the model input)."""
        self.samples += samples
        self._batches.samples += samples

    # --- result -----------------------------------------------------------------------
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
        neurons = [NeuronCounts(t.name, type(m).__name__, t.neurons, t.calls, t.updates,
                                t.spikes, t.events, t.kind or "")
                   for m, t in self._neurons.items() if t.calls]
        modules = dict(self.model.named_modules())
        by_ops = {type(modules[scope]).__name__ for scope, _ in self._ops if scope in modules}
        ran = self._ran - by_ops
        if self.options.strict and ran:
            raise UncountedModulesError(
                f"no counting rule for module types with parameters that ran: "
                f"{', '.join(sorted(ran))}; register a rule with syops.register_rule "
                "or run without strict")
        types = set(self._uncounted.values())
        options = self.options
        return Report(
            layer_counts=tuple(counted), samples=total, forwards=self.forwards,
            params=sum(p.numel() for p in self.model.parameters()),
            mode=options.mode, fuse_bn=options.fuse_bn, energy_model=self.energy_model,
            not_counted=tuple(sorted(ran)), unused=tuple(sorted(types - self._ran - by_ops)),
            classification=self.classification, notes=tuple(self.notes),
            model=type(self.model).__name__,   # the class; the CLI gives its own name
            neuron_counts=tuple(neurons), spikes=options.spikes, warnings=tuple(self.warnings),
            batches=(self._batches.totals([s.counts for s in self._sites])
                     if samples is None else ()),
            options=options.to_dict())
