"""Counting rules: which module types cost synaptic operations, and how many.

A rule answers, for one call of a module on input ``x`` with output ``y``:
- ``dense(module, x, y)``: the dense operation count (a host int, from shapes alone);
- ``count_dims``: how many trailing input dims the exact count needs resolved (a conv's
  spatial dims; 0 when every input element meets the same number of weights);
- ``spike_pairs(module, ones, cache)``: from the ones of a spike input summed over all other
  dims (a float64 device tensor of shape ``x.shape[-count_dims:]``, a scalar when
  ``count_dims`` is 0), the exact number of (spike, weight) pairs the call applies, as a
  float64 device scalar;
- ``output_shape(module, x)``: the output shape, used by the type probe to skip the work;
- ``effective_pairs(module, x)``: (non-zero input, non-zero weight) pairs the call applies,
  a float64 device scalar (NeuroBench's effective operations; synaptic rules only);
- optionally ``at_call(module, x, y)``: the geometry the call really ran with, where the
  call's arguments change it (a ConvTranspose given ``output_size``); ``call_geometry``
  asks it, and the other methods are then given that geometry in place of the module.
Synaptic rules (conv, linear) are classified by their input: spikes cost ACs, anything
else MACs. Non-synaptic rules (BatchNorm left in place) always cost MACs.

Rules are looked up along the module's MRO, so subclasses (SpikingJelly's ``layer.Conv2d``,
a user's ``nn.Linear`` subclass) use their base class's rule. Add a type with ``register``.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Callable, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parameter import is_lazy
from torch.nn.utils import parametrize

from syops.engine.coverage import (
    conv_coverage,
    conv_output_length,
    conv_transpose_coverage,
    conv_transpose_output_length,
    resolve_padding,
)


class Rule(Protocol):
    synaptic: bool

    def dense(self, module: nn.Module, x: Tensor, y: Tensor) -> int: ...

    count_dims: int

    def spike_pairs(self, module: nn.Module, ones: Tensor, cache: dict) -> Tensor: ...

    def output_shape(self, module: nn.Module, x: Tensor) -> tuple[int, ...]: ...


_RULES: dict[type, Rule] = {}


def register(*types: type) -> Callable[[Rule], Rule]:
    """Register a rule instance for module types (decorator or call: ``register(T)(rule)``)."""
    def add(rule: Rule) -> Rule:
        for module_type in types:
            _RULES[module_type] = rule
        return rule
    return add


def rule_for(module: nn.Module) -> Rule | None:
    """The rule of the most specific registered base class of ``module``, if any."""
    for cls in type(module).__mro__:
        if cls in _RULES:
            return _RULES[cls]
    return None


def call_geometry(rule: Rule, module: nn.Module, x: Tensor, y: Tensor | None) -> object:
    """What ``rule``'s methods should read for one call of ``module`` (input ``x``, output
    ``y``): the module itself, unless the call's arguments changed its geometry."""
    at_call = getattr(rule, "at_call", None)
    return module if at_call is None or not isinstance(y, Tensor) else at_call(module, x, y)


def layer_parameters(module: nn.Module) -> int:
    """The parameters a layer holds: its own and those of its parametrizations (weight_norm
    moves ``weight`` into ``parametrizations.weight.original0/1``); a lazy parameter not yet
    initialised by a forward counts 0."""
    tensors = list(module.parameters(recurse=False))
    if parametrize.is_parametrized(module):
        tensors += list(module.parametrizations.parameters())
    return sum(0 if is_lazy(t) else t.numel() for t in tensors)


def is_parametrization(module: nn.Module) -> bool:
    """Whether ``module`` holds a parametrized layer's tensors (its parameters belong to that
    layer, which is counted or listed as itself)."""
    return isinstance(module, parametrize.ParametrizationList)


_GEOMETRY = ("kernel_size", "stride", "dilation", "padding", "padding_mode", "output_padding")
_CONV_ATTRIBUTES = ("in_channels", "out_channels", "groups", "weight", *_GEOMETRY)


def _coverages(rule: object, module: nn.Module, shape: tuple[int, ...], device, cache: dict,
               build: Callable[[], list]) -> list[Tensor]:
    """The per-dim coverage vectors of ``module`` for input dims ``shape`` (cached)."""
    key = (id(rule), *(str(getattr(module, a, None)) for a in _GEOMETRY),
           shape, device)
    covs = cache.get(key)
    if covs is None:
        covs = cache[key] = [torch.as_tensor(c, dtype=torch.float64, device=device)
                             for c in build()]
    return covs


def _nonzero_map(x: Tensor, kept: int) -> Tensor:
    """Non-zero counts of ``x`` per position of its last ``kept`` dims, as one float64
    sample ``[1, *x.shape[-kept:]]``."""
    lead = tuple(range(x.dim() - kept))
    summed = (x != 0).sum(dim=lead) if lead else (x != 0)
    return summed.double().unsqueeze(0)


_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def _conv_effective(module, x: Tensor, dims: int) -> Tensor:
    """Effective pairs of a conv: the non-zero map convolved with the per-group count of
    non-zero weights of each (input channel, tap), summed."""
    counts = _nonzero_map(x, dims + 1)
    mask = (module.weight != 0).double()
    groups = module.groups
    kernel = mask.view(groups, -1, *mask.shape[1:]).sum(1)      # [g, C_in/g, *k]
    padding = module.padding
    if getattr(module, "padding_mode", "zeros") != "zeros":
        counts = F.pad(counts, module._reversed_padding_repeated_twice, mode=module.padding_mode)
        padding = 0
    out = _CONV[dims](counts, kernel, stride=module.stride, padding=padding,
                      dilation=module.dilation, groups=groups)
    return out.sum()


def _conv_transpose_effective(module, x: Tensor, dims: int) -> Tensor:
    counts = _nonzero_map(x, dims + 1)
    mask = (module.weight != 0).double()                         # [C_in, C_out/g, *k]
    kernel = mask.sum(1, keepdim=True)                           # [C_in, 1, *k]
    out = _CONV_T[dims](counts, kernel, stride=module.stride, padding=module.padding,
                        output_padding=module.output_padding, groups=module.groups,
                        dilation=module.dilation)
    return out.sum()


def _weighted(ones: Tensor, covs: list[Tensor]) -> Tensor:
    """sum over positions of ones x coverage (the coverage is an outer product of vectors)."""
    for cov in reversed(covs):
        ones = ones @ cov
    return ones


class ConvRule:
    """Conv1d/2d/3d, any stride, padding (incl. "same" and non-zero modes), dilation, groups."""

    synaptic = True

    def __init__(self, dims: int):
        self.dims = self.count_dims = dims

    def _pads(self, module: nn.Conv2d) -> list[tuple[int, int]]:
        padding = module.padding
        per_dim = [padding] * self.dims if isinstance(padding, str) else padding
        return [resolve_padding(p, k, d)
                for p, k, d in zip(per_dim, module.kernel_size, module.dilation)]

    def dense(self, module, x, y):
        per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
        return y.numel() * per_output

    def spike_pairs(self, module, ones, cache):
        covs = _coverages(self, module, tuple(ones.shape), ones.device, cache, lambda: [
            conv_coverage(n, k, s, d, left, right, module.padding_mode)
            for n, k, s, d, (left, right) in zip(ones.shape, module.kernel_size, module.stride,
                                                 module.dilation, self._pads(module))])
        return _weighted(ones, covs) * (module.out_channels // module.groups)

    def effective_pairs(self, module, x):
        return _conv_effective(module, x, self.dims)

    def output_shape(self, module, x):
        spatial = [conv_output_length(n, k, s, d, left, right)
                   for n, k, s, d, (left, right) in zip(x.shape[-self.dims:], module.kernel_size,
                                                        module.stride, module.dilation,
                                                        self._pads(module))]
        return (*x.shape[:-self.dims - 1], module.out_channels, *spatial)


class ConvTransposeRule:
    """ConvTranspose1d/2d/3d, counted on the input side: every input meets C_out/groups
    weights per kernel tap whose output position lies inside the output (padding crops the
    full result, output_padding extends it)."""

    synaptic = True

    def __init__(self, dims: int):
        self.dims = self.count_dims = dims

    def _coverage(self, module, spatial: tuple[int, ...]) -> list:
        return [conv_transpose_coverage(n, k, s, d, p, op)
                for n, k, s, d, p, op in zip(spatial, module.kernel_size, module.stride,
                                             module.dilation, module.padding,
                                             module.output_padding)]

    def at_call(self, module, x, y):
        """A call given ``output_size`` pads the output by more than ``output_padding``: the
        padding it used is read from the output's size."""
        default = self.output_shape(module, x)[-self.dims:]
        spatial = tuple(y.shape[-self.dims:])
        if spatial == tuple(default):
            return module
        extra = tuple(op + n - d for op, n, d in zip(module.output_padding, spatial, default))
        geometry = SimpleNamespace(**{a: getattr(module, a) for a in _CONV_ATTRIBUTES})
        geometry.output_padding = extra
        return geometry

    def dense(self, module, x, y):
        if isinstance(y, Tensor):
            module = self.at_call(module, x, y)
        spatial = tuple(x.shape[-self.dims:])
        taps = math.prod(int(c.sum()) for c in self._coverage(module, spatial))
        rows = x.numel() // max(math.prod(spatial), 1)
        return rows * taps * (module.out_channels // module.groups)

    def spike_pairs(self, module, ones, cache):
        covs = _coverages(self, module, tuple(ones.shape), ones.device, cache,
                          lambda: self._coverage(module, tuple(ones.shape)))
        return _weighted(ones, covs) * (module.out_channels // module.groups)

    def effective_pairs(self, module, x):
        return _conv_transpose_effective(module, x, self.dims)

    def output_shape(self, module, x):
        spatial = [conv_transpose_output_length(n, k, s, d, p, op)
                   for n, s, p, d, k, op in zip(x.shape[-self.dims:], module.stride, module.padding,
                                                module.dilation, module.kernel_size,
                                                module.output_padding)]
        return (*x.shape[:-self.dims - 1], module.out_channels, *spatial)


class LinearRule:
    """Linear on any number of leading dims: every input feature meets out_features weights."""

    synaptic = True

    def dense(self, module, x, y):
        return x.numel() * module.out_features

    count_dims = 0

    def spike_pairs(self, module, ones, cache):
        return ones * module.out_features

    def effective_pairs(self, module, x):
        return _nonzero_map(x, 1)[0] @ (module.weight != 0).sum(0).double()

    def output_shape(self, module, x):
        return (*x.shape[:-1], module.out_features)


class BatchNormRule:
    """BatchNorm left in place (not folded): MACs per output element (2, scale and shift,
    unless the counter is told otherwise: its ``bn_macs``). A non-synaptic rule's ``dense``
    is the number of elements it processes."""

    synaptic = False

    def dense(self, module, x, y):
        return y.numel()

    count_dims = 0

    def spike_pairs(self, module, ones, cache):
        raise TypeError("BatchNorm is not synaptic; its cost does not depend on the input")

    def output_shape(self, module, x):
        return tuple(x.shape)


register(nn.Conv1d)(ConvRule(1))
register(nn.Conv2d)(ConvRule(2))
register(nn.Conv3d)(ConvRule(3))
register(nn.ConvTranspose1d)(ConvTransposeRule(1))
register(nn.ConvTranspose2d)(ConvTransposeRule(2))
register(nn.ConvTranspose3d)(ConvTransposeRule(3))
register(nn.Linear)(LinearRule())
register(nn.modules.batchnorm._BatchNorm)(BatchNormRule())
