"""The type probe: which layer inputs are multi-level by architecture.

With random weights, spiking neurons are often silent, so a SEW "ADD" output or a
time-averaged classifier input can come out all 0/1 and pass for spikes. The probe runs the
model once on a skeleton copy in which every spiking neuron emits random spikes (rate 0.5)
and every counted layer returns random non-binary values of its output shape without doing
its work. A layer whose input is not binary there is multi-level whatever its weights; a
layer whose input is binary there carries spikes when its input is binary on real data.
The probe costs the model's cheap parts (norms, neurons, pooling) on one sample; the random
values are drawn once and served as shifted slices, and BatchNorms that fold into a counted
layer are skipped (they only rescale its random output).

The data enters the skeleton requiring gradients, and nothing else does (the skeleton's
parameters are frozen, and neurons and skipped layers return fresh values): a layer input
that requires gradients depends on the data through uncounted operations alone (a layer fed
by the data set), any other binary input is spikes by architecture.

The same pass finds BatchNorms that a forward applies to a conv/linear output outside any
``nn.Sequential`` (``out = self.bn1(self.conv1(x))``): a BatchNorm whose input is the very
tensor a counted layer just returned folds into that layer.
"""

from __future__ import annotations

import copy
import math
import weakref
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils._pytree import tree_leaves, tree_map

from syops.engine.fold import can_fold, folded_batchnorms
from syops.engine.interception import ScopedProducts
from syops.engine.ops import LayerCall, Product
from syops.engine.rules import Rule
from syops.engine.snn import detached_states, is_neuron, reset_states, returns_states, with_spikes
from syops.engine.spikes import binary_statistics, is_spike


class _Bank:
    """Random values drawn once and served as slices at shifting offsets: drawing fresh
    random numbers for every neuron costs more than the rest of the probe together."""

    PERIOD = (1 << 18) + 7
    STEP = 7919 * 13  # successive calls start far apart

    def __init__(self, values: Tensor):
        self.values = values
        self.tiled: dict[torch.device, Tensor] = {}
        self.offset = 0

    def _source(self, device: torch.device, length: int) -> Tensor:
        """The values tiled to at least ``length`` elements on ``device`` (grown rarely)."""
        source = self.tiled.get(device)
        if source is None or source.numel() < length:
            tiles = -(-max(length, 2 * self.PERIOD) // self.PERIOD)
            source = self.tiled[device] = self.values.to(device).repeat(tiles)
        return source

    def take(self, shape: tuple[int, ...], like: Tensor) -> Tensor:
        n = math.prod(shape)
        source = self._source(like.device, self.offset + n)
        dtype = like.dtype if like.is_floating_point() else torch.float32
        out = source[self.offset:self.offset + n].view(shape).to(dtype, copy=True)
        self.offset = (self.offset + self.STEP) % self.PERIOD
        return out


class _RandomSpikes(nn.Module):
    """Stands in for a spiking neuron: random spikes (rate 0.5) shaped like its input. A
    neuron that may return ``(spikes, states...)`` (snnTorch, Norse) runs as a copy whose
    spikes are replaced, so the caller gets what the real neuron returns."""

    def __init__(self, bank: _Bank, neuron: nn.Module | None = None):
        super().__init__()
        self.__dict__["_bank"] = bank
        self.neuron = neuron

    def forward(self, x: Tensor, *args, **kwargs) -> Any:
        if self.neuron is None:
            return self._emitted(self._bank.take(tuple(x.shape), x))
        return with_spikes(self.neuron(x, *args, **kwargs),
                           lambda spikes: self._emitted(self._bank.take(tuple(spikes.shape),
                                                                        spikes)))

    def _emitted(self, spikes: Tensor) -> Tensor:
        """Note the spikes of this call, so a layer they feed directly is known."""
        result, name = self.__dict__.get("_result"), self.__dict__.get("_name")
        if result is not None:
            calls = result.neuron_calls.get(name, 0)
            result.neuron_calls[name] = calls + 1
            # a weak reference: a dead tensor's storage may be reused by another
            result.emitted[spikes.untyped_storage().data_ptr()] = (name, calls, spikes.numel(),
                                                                   weakref.ref(spikes))
        return spikes


@dataclass(frozen=True)
class _Later:
    index: int


@dataclass
class ProbeResult:
    """What the probe learnt about the model's architecture."""

    binary: dict[str, dict[int, bool]] = field(default_factory=dict)
    """counted layer name -> {call index in the forward: its input was binary}"""
    folds: set[nn.Module] = field(default_factory=set)     # BatchNorms fed by a layer's output
    fed: dict[tuple[str, int], tuple[str, int]] = field(default_factory=dict)
    """(counted layer name, call index) -> (neuron name, its call) whose spikes it takes as
    they are (the same storage and size)"""
    neuron_calls: dict[str, int] = field(default_factory=dict)
    data_fed: set[tuple[str, int]] = field(default_factory=set)
    """(counted layer name, call index) whose input depends on the data through uncounted
    operations alone (or every site, when the data could not be tracked)"""
    data_tracked: bool = True
    integers: bool = False   # also test layer inputs for integer values (events convention)
    pending: list[Tensor] = field(default_factory=list)
    integer: dict[tuple[str, int], Any] = field(default_factory=dict)
    """(counted layer name, call index) -> its input was integer-valued (sums of spikes)"""

    def later_binary(self, x: Tensor) -> _Later:
        """A placeholder for whether ``x`` is 0/1; ``resolve`` reads all tests back at once."""
        self.pending.append(binary_statistics(x, self.integers))
        return _Later(len(self.pending) - 1)

    def resolve(self) -> None:
        """Replace every placeholder verdict by its test's result (one synchronisation)."""
        if not self.pending:
            return
        rows = torch.stack(self.pending).tolist()

        def value(v):
            return is_spike(*rows[v.index][:4]) if isinstance(v, _Later) else v
        self.integer = {site: rows[later.index][4] == 0 for site, later in self.integer.items()}
        for table in (self.binary, self.ops):
            for sites in table.values():
                for index, verdict in sites.items():
                    sites[index] = (tuple(map(value, verdict)) if isinstance(verdict, tuple)
                                    else value(verdict))
        self.pending.clear()
    emitted: dict[int, tuple] = field(default_factory=dict)   # storage -> (name, call, size, ref)
    ops: dict[tuple[str, str], dict[int, tuple[bool, ...]]] = field(default_factory=dict)
    """(scope module name, op name) -> {product index in the forward: operands binary}"""
    op_errors: dict[tuple[str, str], str] = field(default_factory=dict)
    last: tuple[Tensor, nn.Module] | None = None           # the latest counted layer's output


class _Skipped(nn.Module):
    """Stands in for a counted layer: notes whether its input is binary at each call,
    returns random non-binary values of the layer's output shape, and does none of its
    work. Code that reads the layer's attributes (``out_proj.weight``) reads the real ones."""

    def __init__(self, name: str, rule: Rule, layer: nn.Module, result: ProbeResult,
                 bank: _Bank):
        super().__init__()
        # Plain attributes (not submodules), so the real layer is neither copied nor called.
        self.__dict__.update(_name=name, _rule=rule, _layer=layer, _result=result, _bank=bank)

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.__dict__["_layer"], name)

    def forward(self, *args, **kwargs) -> Tensor:
        x = args[0] if args else next(v for v in kwargs.values() if isinstance(v, Tensor))
        sites = self._result.binary.setdefault(self._name, {})
        index = len(sites)
        sites[index] = self._result.later_binary(x)
        self._result.integer[(self._name, index)] = sites[index]
        if x.requires_grad or not self._result.data_tracked:
            self._result.data_fed.add((self._name, index))
        source = self._result.emitted.get(x.untyped_storage().data_ptr())
        if source is not None and source[2] == x.numel() and source[3]() is not None:
            self._result.fed[(self._name, index)] = source[:2]
        out = self._bank.take(self._rule.output_shape(self._layer, x), x)
        self._result.last = (out, self._layer)
        return out


class _WatchedNorm(nn.Module):
    """Stands in for a BatchNorm outside a Sequential: notes whether it is fed a counted
    layer's output directly, then normalises as the original does."""

    def __init__(self, bn: nn.Module, result: ProbeResult):
        super().__init__()
        norm = copy.deepcopy(bn).eval().requires_grad_(False)
        _clear_hooks(norm)
        self.__dict__.update(_bn=bn, _norm=norm, _result=result)

    def forward(self, x: Tensor, *args, **kwargs) -> Tensor:
        last = self._result.last
        if last is not None and x is last[0] and can_fold(last[1], self._bn):
            self._result.folds.add(self._bn)
        return self._norm(x, *args, **kwargs)


def _clear_hooks(model: nn.Module) -> None:
    """Drop every hook from a copy, so the probe triggers neither ours nor the user's."""
    for module in model.modules():
        for name in ("_forward_hooks", "_forward_pre_hooks", "_forward_hooks_with_kwargs",
                     "_forward_pre_hooks_with_kwargs", "_forward_hooks_always_called",
                     "_backward_hooks", "_backward_pre_hooks"):
            getattr(module, name, {}).clear()


def one_sample(inputs: Any, batch_dim: int) -> Any:
    """The first sample of every tensor in ``inputs`` (sliced along ``batch_dim``)."""
    def first(t):
        if isinstance(t, Tensor) and t.dim() > batch_dim and t.shape[batch_dim] > 1:
            return t.narrow(batch_dim, 0, 1)
        return t
    return tree_map(first, inputs)


def run_probe(model: nn.Module, layers: dict[nn.Module, tuple[str, Rule]],
              args: tuple, kwargs: dict, seed: int = 0, integers: bool = False) -> ProbeResult:
    """Run the probe on ``model(*args, **kwargs)`` (one sample is enough), tracking which
    layer inputs depend on the data; where tracking breaks the forward (an in-place write to
    the input, say), run again without it."""
    try:
        with torch.enable_grad():
            return _probe(model, layers, *_tracked((args, kwargs)), seed, integers=integers)
    except RuntimeError:
        with torch.no_grad():
            result = _probe(model, layers, args, kwargs, seed, data_tracked=False,
                            integers=integers)
        return result


def _tracked(inputs: Any) -> tuple[tuple, dict]:
    """The inputs with every floating-point tensor requiring gradients (a non-leaf copy)."""
    def mark(t):
        if isinstance(t, Tensor) and t.is_floating_point():
            return t.detach().requires_grad_().clone()
        return t
    return tree_map(mark, inputs)


def _probe(model: nn.Module, layers: dict[nn.Module, tuple[str, Rule]], args: tuple,
           kwargs: dict, seed: int, data_tracked: bool = True,
           integers: bool = False) -> ProbeResult:
    generator = torch.Generator().manual_seed(seed)
    uniform = torch.rand(_Bank.PERIOD, generator=generator)
    spikes, levels = _Bank((uniform < 0.5).float()), _Bank(uniform + 0.5)
    result = ProbeResult(integers=integers, data_tracked=data_tracked and all(
        t.is_floating_point() for t in tree_leaves((args, kwargs)) if isinstance(t, Tensor)))
    memo: dict[int, Any] = detached_states(model)  # states left with autograd history
    memo.update({id(layer): _Skipped(name, rule, layer, result, levels)
                 for layer, (name, rule) in layers.items()})
    in_sequence = folded_batchnorms(model)
    memo.update({id(bn): nn.Identity() for bn in in_sequence})
    memo.update({id(m): _WatchedNorm(m, result) for m in model.modules()
                 if isinstance(m, nn.modules.batchnorm._BatchNorm) and m not in in_sequence})
    memo.update({id(m): _RandomSpikes(spikes, copy.deepcopy(m, dict(memo))
                                      if returns_states(m) else None)
                 for m in model.modules() if is_neuron(m) and id(m) not in memo})
    names = {id(m): name for name, m in model.named_modules()}
    for key, stand_in in memo.items():
        if isinstance(stand_in, _RandomSpikes):
            stand_in.__dict__.update(_result=result, _name=names.get(key))
    skeleton = copy.deepcopy(model, memo)
    _clear_hooks(skeleton)
    skeleton.eval().requires_grad_(False)
    reset_states(skeleton)
    scopes = ScopedProducts(lambda *op: _record_products(result, *op))
    handles = scopes.attach({m: name for name, m in skeleton.named_modules()}, ())
    try:
        skeleton(*args, **kwargs)
    finally:
        for handle in handles:
            handle.remove()
    result.last = None
    result.emitted.clear()
    result.resolve()
    return result


def operands_binary(result: ProbeResult, product: Product) -> tuple:
    """Whether each operand that may carry spikes holds only 0/1 (False for weights), as
    placeholders until ``result.resolve()``."""
    if isinstance(product, LayerCall):
        return (result.later_binary(product.x),)
    return tuple(t is not None and not fixed and result.later_binary(t)
                 for t, fixed in ((product.a, product.a_fixed), (product.b, product.b_fixed)))


def _record_products(result: ProbeResult, scope: str, op: str, rule, args, kwargs) -> None:
    key = (scope, op)
    try:
        products = rule(args, kwargs)
    except Exception as err:  # an op call our rule does not understand: said, never dropped
        result.op_errors.setdefault(key, f"{type(err).__name__}: {err}")
        return
    sites = result.ops.setdefault(key, {})
    for product in products:
        sites[len(sites)] = operands_binary(result, product)
