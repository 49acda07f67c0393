"""The type probe: which layer inputs are multi-level by architecture.

With random weights, spiking neurons are often silent, so a SEW "ADD" output or a
time-averaged classifier input can come out all 0/1 and pass for spikes. The probe runs the
model once, on one sample, on a deep copy whose modules are the real ones (every attribute
and method a forward may touch is there) with only their forwards wrapped: every spiking
neuron's spikes are replaced by random spikes (rate 0.5) and every counted layer's output by
random non-binary values of its shape. A layer whose input is not binary there is
multi-level whatever its weights; a layer whose input is binary there carries spikes when its
input is binary on real data. A counted layer called plainly (one tensor, a forward of
PyTorch's own) is not run: the rule gives its output shape. The random values are drawn once
and served as shifted slices, and BatchNorms that fold into a counted layer pass their input
on (they only rescale its random output).

The data enters the copy requiring gradients (outside any ``inference_mode``), and nothing
else does (the copy's parameters are frozen, and neurons and counted layers return fresh
values): a layer input that requires gradients depends on the data through uncounted
operations alone (a layer fed by the data set), any other binary input is spikes by
architecture.

The same pass finds BatchNorms that a forward applies to a conv/linear output outside any
``nn.Sequential`` (``out = self.bn1(self.conv1(x))``): a BatchNorm whose input is the very
tensor a counted layer just returned folds into that layer. Where the model cannot run on
random values (a forward that branches on them), the copy runs once more on the real values
to find the folds alone, and the result says the probe failed (``failure``).
"""

from __future__ import annotations

import itertools
import math
import re
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor, nn
from torch.nn.parameter import is_lazy
from torch.utils._pytree import tree_leaves, tree_map

from syops.engine.fold import can_fold, folded_batchnorms
from syops.engine.interception import ScopedProducts
from syops.engine.ops import LayerCall, Product, module_products
from syops.engine.replica import hookless_copy
from syops.engine.rules import Rule
from syops.engine.snn import _resolve, is_neuron, reset_states, returns_states
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
        """Values of ``shape`` on ``like``'s device, in its dtype when it is floating."""
        n = math.prod(shape)
        source = self._source(like.device, self.offset + n)
        dtype = like.dtype if like.is_floating_point() else torch.float32
        out = source[self.offset:self.offset + n].view(shape).to(dtype, copy=True)
        self.offset = (self.offset + self.STEP) % self.PERIOD
        return out


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
    emitted: dict[int, tuple] = field(default_factory=dict)   # storage -> (name, call, size, ref)
    ops: dict[tuple[str, str], dict[int, tuple[bool, ...]]] = field(default_factory=dict)
    """(scope module name, op name) -> {product index in the forward: operands binary}"""
    op_errors: dict[tuple[str, str], str] = field(default_factory=dict)
    last: tuple[Tensor, nn.Module] | None = None           # the latest counted layer's output
    failure: str | None = None
    """why the model would not run on random values: then only ``folds`` and the sites seen
    are known (every verdict is "may be spikes", every site data-fed: classify by values)"""

    def later_binary(self, x: Tensor) -> _Later | bool:
        """A placeholder for whether ``x`` is 0/1; ``resolve`` reads all tests back at once."""
        if self.failure is not None:
            return True
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

    def note_input(self, name: str, x: Tensor) -> None:
        """Note one call of counted layer ``name`` on input ``x``."""
        sites = self.binary.setdefault(name, {})
        index = len(sites)
        sites[index] = self.later_binary(x)
        if self.failure is not None or x.requires_grad or not self.data_tracked:
            self.data_fed.add((name, index))
        if self.failure is not None:
            return
        self.integer[(name, index)] = sites[index]
        source = self.emitted.get(x.untyped_storage().data_ptr())
        if source is not None and source[2] == x.numel() and source[3]() is not None:
            self.fed[(name, index)] = source[:2]

    def note_spikes(self, name: str, spikes: Tensor) -> Tensor:
        """Note the spikes of one call of neuron ``name``, so a layer they feed directly is
        known (a weak reference: a dead tensor's storage may be reused by another)."""
        calls = self.neuron_calls.get(name, 0)
        self.neuron_calls[name] = calls + 1
        self.emitted[spikes.untyped_storage().data_ptr()] = (name, calls, spikes.numel(),
                                                             weakref.ref(spikes))
        return spikes


# --- the forwards of the copy's modules: the real forward, wrapped -----------------------
Forward = Callable[..., Any]
_PLAIN = ("Linear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
          "ConvTranspose3d")
_SJ_LAYER = "spikingjelly.activation_based.layer"


def _plain(module: nn.Module) -> bool:
    """Whether the module's forward is PyTorch's (or SpikingJelly's multi-step wrapper of it)
    for a layer whose output shape its rule gives."""
    forward = type(module).forward
    return any(forward is getattr(cls, "forward", None)
               for name in _PLAIN for cls in (getattr(nn, name), _resolve(f"{_SJ_LAYER}:{name}")))


def _input(args: tuple, kwargs: dict) -> Tensor | None:
    if args:
        return args[0] if isinstance(args[0], Tensor) else None
    return next((v for v in kwargs.values() if isinstance(v, Tensor)), None)


def _layer(inner: Forward, module: nn.Module, original: nn.Module, name: str, rule: Rule,
           result: ProbeResult, bank: _Bank) -> Forward:
    """A counted layer: its input noted, its output replaced by random levels (its work is
    skipped when the rule knows the output shape of a plain call)."""
    plain = _plain(module) and result.failure is None

    def forward(*args, **kwargs):
        x = _input(args, kwargs)
        if x is not None:
            result.note_input(name, x)
        if plain and len(args) == 1 and not kwargs and x is not None and x.is_floating_point():
            out = bank.take(tuple(rule.output_shape(module, x)), x)
        else:
            out = inner(*args, **kwargs)
            if isinstance(out, Tensor) and out.is_floating_point() and result.failure is None:
                out = bank.take(tuple(out.shape), out)
        result.last = (out, original)
        return out
    return forward


def _neuron(inner: Forward, name: str, result: ProbeResult, bank: _Bank,
            quick: bool) -> Forward:
    """A spiking neuron: runs, and its spikes (the output, or the first item of a tuple
    ``(spikes, states...)``) are replaced by random spikes of their shape and dtype. A
    ``quick`` neuron that returns spikes alone does not run: its spikes take its input's
    shape (most of the probe's time otherwise; a forward that needs its states after the
    call runs again with every neuron running)."""
    def forward(*args, **kwargs):
        x = _input(args, kwargs)
        if quick and x is not None and result.failure is None:
            return result.note_spikes(name, _spikes(bank, x))
        out = inner(*args, **kwargs)
        if result.failure is not None:
            return out
        if isinstance(out, Tensor):
            return result.note_spikes(name, _spikes(bank, out))
        if isinstance(out, tuple) and out and isinstance(out[0], Tensor):
            return (result.note_spikes(name, _spikes(bank, out[0])), *out[1:])
        return out
    return forward


def _spikes(bank: _Bank, like: Tensor) -> Tensor:
    spikes = bank.take(tuple(like.shape), like)
    return spikes if like.is_floating_point() else spikes.to(like.dtype)


def _passed_on(inner: Forward, result: ProbeResult) -> Forward:
    """A BatchNorm that folds into the layer before it in a Sequential: its input as it is."""
    def forward(*args, **kwargs):
        return inner(*args, **kwargs) if result.failure is not None else _input(args, kwargs)
    return forward


def _norm(inner: Forward, original: nn.Module, result: ProbeResult) -> Forward:
    """A BatchNorm elsewhere: it folds when fed the very output a counted layer returned."""
    def forward(*args, **kwargs):
        last = result.last
        if last is not None and _input(args, kwargs) is last[0] and can_fold(last[1], original):
            result.folds.add(original)
        return inner(*args, **kwargs)
    return forward


def _instrument(skeleton: nn.Module, model: nn.Module, layers: dict[nn.Module, tuple[str, Rule]],
                result: ProbeResult, seed: int, quick: bool) -> list[nn.Module]:
    """Wrap the forwards of the copy's layers, BatchNorms and neurons (instance attributes:
    a direct ``.forward`` call is wrapped too); returns the modules counted whole."""
    generator = torch.Generator().manual_seed(seed)
    uniform = torch.rand(_Bank.PERIOD, generator=generator)
    spikes, levels = _Bank((uniform < 0.5).float()), _Bank(uniform + 0.5)
    in_sequence = folded_batchnorms(model)
    whole = []
    for (name, original), (_, module) in zip(model.named_modules(), skeleton.named_modules()):
        inner = module.forward
        if original in layers:
            forward = _layer(inner, module, original, name, layers[original][1], result, levels)
            whole.append(module)
        elif original in in_sequence:
            forward = _passed_on(inner, result)
        elif isinstance(original, nn.modules.batchnorm._BatchNorm):
            forward = _norm(inner, original, result)
        elif is_neuron(original):
            # a neuron holding counted layers (a recurrent one) runs: they are probed
            skip = quick and not returns_states(original) and not any(
                m in layers for m in original.modules())
            forward = _neuron(inner, name, result, spikes, skip)
        else:
            if module_products(original) is not None:
                whole.append(module)
            continue
        module.forward = forward
    return whole


# --- running it --------------------------------------------------------------------------
def one_sample(inputs: Any, batch_dim: int) -> Any:
    """The first sample of every tensor in ``inputs`` (sliced along ``batch_dim``)."""
    def first(t):
        if isinstance(t, Tensor) and t.dim() > batch_dim and t.shape[batch_dim] > 1:
            return t.narrow(batch_dim, 0, 1)
        return t
    return tree_map(first, inputs)


def run_probe(model: nn.Module, layers: dict[nn.Module, tuple[str, Rule]],
              args: tuple, kwargs: dict, seed: int = 0, integers: bool = False,
              batch_dim: int | None = None) -> ProbeResult:
    """Run the probe on ``model(*args, **kwargs)``: on one sample (sliced along
    ``batch_dim`` when it is given; else the inputs are taken as they are), and on the whole
    batch where one sample does not run (a batch size fixed in the model). It tracks which
    layer inputs depend on the data; where tracking breaks the forward (an in-place write to
    the input, say), it runs again without it; where random values break it, it runs on the
    real values for the folds alone (``failure`` says why). Raises when the copy's plain
    forward fails too, and at once when memory runs out (no retry can need less). Works the
    same inside ``torch.inference_mode()``."""
    attempts = [(args, kwargs)]
    if batch_dim is not None:
        attempts.insert(0, one_sample((args, kwargs), batch_dim))
    with torch.inference_mode(False):
        for inputs, quick in itertools.product(attempts, (True, False)):
            try:
                return _replaced(model, layers, inputs, seed, integers, quick)
            except Exception as err:  # noqa: BLE001 - said in the result, never hidden
                if out_of_memory(err):
                    raise
                failure = f"{type(err).__name__}: {err}"
        for inputs in attempts:
            try:
                with torch.no_grad():
                    return _probe(model, layers, inputs, seed, integers, failure=failure)
            except Exception:
                if inputs is attempts[-1]:
                    raise
    raise AssertionError("unreachable: the last attempt returns or raises")


def out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` says memory ran out (PyTorch's CPU allocator raises a RuntimeError)."""
    return isinstance(err, (MemoryError, torch.OutOfMemoryError)) or (
        isinstance(err, RuntimeError) and _NO_MEMORY.search(str(err)) is not None)


_NO_MEMORY = re.compile(r"can't allocate memory|out of memory", re.I)


def _replaced(model: nn.Module, layers: dict[nn.Module, tuple[str, Rule]], inputs: tuple,
              seed: int, integers: bool, quick: bool) -> ProbeResult:
    """The probe proper: with data tracking, or without where tracking breaks the forward.
    Tracking needs only ``requires_grad``: no backward runs, so autograd keeps none of the
    tensors it would save for one (the probe's memory stays that of a plain forward)."""
    try:
        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(_drop, _dropped):
            return _probe(model, layers, _tracked(inputs), seed, integers, quick=quick)
    except RuntimeError as err:
        if out_of_memory(err):
            raise
        with torch.no_grad():
            return _probe(model, layers, inputs, seed, integers, tracked=False, quick=quick)


def _drop(tensor: Tensor) -> None:
    """Autograd's pack hook in the probe: keep nothing for a backward that never runs."""
    return None


def _dropped(_: None) -> Tensor:
    raise RuntimeError("the type probe keeps no tensors for a backward pass")


def _tracked(inputs: Any) -> tuple[tuple, dict]:
    """The inputs with every floating-point tensor requiring gradients (a non-leaf copy, and
    an ordinary tensor even when the input was made under ``inference_mode``)."""
    def mark(t):
        if isinstance(t, Tensor) and t.is_floating_point():
            return t.detach().clone().requires_grad_().clone()
        return t
    return tree_map(mark, inputs)


def _probe(model: nn.Module, layers: dict[nn.Module, tuple[str, Rule]], inputs: tuple,
           seed: int, integers: bool, tracked: bool = True, failure: str | None = None,
           quick: bool = False) -> ProbeResult:
    args, kwargs = inputs
    result = ProbeResult(integers=integers, failure=failure, data_tracked=tracked and all(
        t.is_floating_point() for t in tree_leaves((args, kwargs)) if isinstance(t, Tensor)))
    # PyTorch's own forwards only read the weights: those are shared, not copied
    skeleton = hookless_copy(model, filter(_plain, layers)).eval()
    for parameter in skeleton.parameters():
        if not is_lazy(parameter):   # a lazy one is made frozen (_shells)
            parameter.requires_grad_(False)
    reset_states(skeleton)
    whole = _instrument(skeleton, model, layers, result, seed, quick)
    scopes = ScopedProducts(lambda *op: _record_products(result, *op))
    handles = scopes.attach({m: name for name, m in skeleton.named_modules()}, whole)
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
