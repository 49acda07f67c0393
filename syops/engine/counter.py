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
from syops.engine.assemble import UncountedModulesError, assemble_report  # noqa: F401 (re-exported)
from syops.engine.callsites import CallSites
from syops.engine.checks import check_finite, parameter_types
from syops.engine.classify import layer_verdicts
from syops.engine.emits import emits
from syops.engine.fold import folded_batchnorms
from syops.engine.interception import ScopedProducts
from syops.engine.measure import Measure
from syops.engine.neurons import neuron_call
from syops.engine.ops import module_products
from syops.engine.probe import run_probe
from syops.engine.rules import layer_parameters, rule_for
from syops.engine.snn import is_neuron, restore_states, save_states, time_steps
from syops.engine.tallies import Batches, LayerTally, NeuronTally, Pending
from syops.options import Options
from syops.report import Report


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
        self._pending: list[Pending] = []
        self._batches = Batches()
        self._sites = CallSites(self.options, Measure(self.options, self._batches,
                                                      self._pending), self._warn)
        self._handles: list = []
        self._saved_states: list = []
        self._ran: set[str] = set()
        self._probed = False
        self._probed_layers: set[str] = set()   # counted layers the probe saw called
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
            params = layer_parameters(module)
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
        self._sites.new_forward()
        self._input_dims = inputs.dim()
        self._forward_samples = inputs.shape[batch_dim]
        if not self.samples_from_caller:
            self.add_samples(self._forward_samples)
        self.forwards += 1

    def _layer_hook(self, tally: LayerTally):
        def on_call(module, args, kwargs, output):
            x = args[0] if args else _first_tensor(kwargs)
            if isinstance(x, Tensor) and not tally.folded:
                self._sites.layer_call(tally, module, x, _first_tensor(output))
        return on_call

    def _neuron_hook(self, tally: NeuronTally):
        def on_call(module, args, kwargs, output):
            x, y = _first_tensor((args, kwargs)), _first_tensor(output)
            if x is None or y is None:
                return
            steps = time_steps(module, x)
            self._batches.updates += neuron_call(tally, module, x, y, self._forward_samples,
                                                 self._pending, self._sites.measure.statistics)
            if self.options.check_layout:
                self._warn(layout.ambiguous_samples(module, x, steps, self._input_dims,
                                                    self._forward_samples,
                                                    self.options.model_batch_dim))
            if not self.samples_from_caller:
                self.note(layout.single_step_loop(module, steps, self.forwards))
        return on_call

    def _products_hook(self, name: str, op: str, rule: Callable):
        def on_call(module, args, kwargs, output):
            tally = self._sites.op_tally(name, op)
            tally.params = sum(p.numel() for p in module.parameters(recurse=False))
            self._sites.products(name, op, lambda a, k: rule(module, a, k, output), args,
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
            found = run_probe(self.model, layers, args, kwargs, batch_dim=options.model_batch_dim,
                              integers=options.spikes == "events")
        except Exception as err:  # the model would not run on the skeleton: observe instead
            self.classification = "observed"
            self._warn(f"the type probe could not run this model ({type(err).__name__}: {err});"
                       " every layer input is classified from the values it receives, and "
                       "BatchNorms applied in forward() are not folded (use nn.Sequential or "
                       "syops.fold_bn(model) before counting)")
            self._watch_products({self.model: ""})
            return
        if found.failure is not None:   # folds found on the real values; verdicts not
            self.classification = "observed"
            self._warn(f"the type probe could not run this model on random values "
                       f"({found.failure}); every layer input is classified from the values "
                       "it receives")
        if not self._neurons and any(any(s.values()) for s in found.binary.values()):
            self._warn("no spiking neuron recognised in the model, yet some layer inputs are "
                       "0/1: whether they are spikes rests on the observed values alone; "
                       "declare your neuron class with syops.register_neuron")
        self._probed_layers = set(found.binary)
        kinds = {t.name: t.kind for t in self._neurons.values()}
        for module, tally in self._layers.items():
            tally.folded = options.fuse_bn and module in found.folds
            if options.classify == "probe":
                tally.verdicts = layer_verdicts(tally.name, found, kinds, options.spikes)
        for (scope, op), verdicts in found.ops.items():
            # the probe tests operands for 0/1 only: under the events and ternary
            # conventions, an operand's values decide (scaled spikes, event counts)
            self._sites.op_tally(scope, op).verdicts = (
                verdicts if options.classify == "probe" and options.spikes == "binary"
                else None)
        for (scope, op), error in found.op_errors.items():
            self._warn(f"{op} in {scope or 'the model'} not counted ({error})")
        modules = dict(self.model.named_modules())
        self._watch_products({modules[scope]: scope for scope, _ in found.ops})

    def _watch_products(self, scopes: dict[nn.Module, str]) -> None:
        """Count the functional products run inside ``scopes`` (none of their counted
        layers' own)."""
        whole = {*self._layers, *self._products}
        scopes = {m: n for m, n in scopes.items() if m not in whole}  # counted whole
        if not scopes:
            return
        inside = {m for scope in scopes for m in scope.modules()}
        suspend = [m for m in whole if m in inside]
        watcher = ScopedProducts(self._sites.products)
        self._handles += watcher.attach(scopes, suspend)
        if self.model in scopes:  # attached from inside the model's own pre-hook: enter now
            watcher.enter(scopes[self.model])

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
        self._batches.close(len(self._sites.sites))

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
        bypassed = sorted(t.name for t in self._layers.values()
                          if t.name in self._probed_layers and not t.sites and not t.folded)
        if bypassed:
            self._warn(f"{'layers' if len(bypassed) > 1 else 'layer'} {', '.join(bypassed)} "
                       "ran without module hooks (called as layer.forward(x)?) and are not "
                       "counted; call the module itself (layer(x)) so that syops sees it")
        return assemble_report(
            self.model, self.options, self._layers, self._sites, self._neurons,
            ran=self._ran, uncounted=set(self._uncounted.values()), samples=total,
            forwards=self.forwards, energy=self.energy_model,
            classification=self.classification, notes=self.notes, warnings=self.warnings,
            batches=(self._batches.totals([s.counts for s in self._sites.sites])
                     if samples is None else ()))
