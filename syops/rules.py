"""Counting rules: which module types cost synaptic operations, and how many.

A rule answers, for one call of a module on input ``x`` with output ``y``:
- ``dense(module, x, y)``: the dense operation count (a host int, from shapes alone);
- ``count_dims``: how many trailing input dims the exact count needs resolved (a conv's
  spatial dims; 0 when every input element meets the same number of weights);
- ``spike_pairs(module, ones, cache)``: from the ones of a spike input summed over all other
  dims (a float64 device tensor of shape ``x.shape[-count_dims:]``, a scalar when
  ``count_dims`` is 0), the exact number of (spike, weight) pairs the call applies, as a
  float64 device scalar;
- ``output_shape(module, x)``: the output shape, used by the type probe to skip the work.
Synaptic rules (conv, linear) are classified by their input: spikes cost ACs, anything
else MACs. Non-synaptic rules (BatchNorm left in place) always cost MACs.

Rules are looked up along the module's MRO, so subclasses (SpikingJelly's ``layer.Conv2d``,
a user's ``nn.Linear`` subclass) use their base class's rule. Add a type with ``register``.
"""

from __future__ import annotations

import math
from typing import Callable, Protocol

import torch
from torch import Tensor, nn

from .coverage import conv_coverage, conv_output_length, resolve_padding


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
        key = (id(module), tuple(ones.shape), ones.device)
        covs = cache.get(key)
        if covs is None:
            covs = cache[key] = [
                torch.as_tensor(conv_coverage(n, k, s, d, left, right, module.padding_mode),
                                dtype=torch.float64, device=ones.device)
                for n, k, s, d, (left, right) in zip(ones.shape, module.kernel_size, module.stride,
                                                     module.dilation, self._pads(module))]
        weighted = ones
        for cov in reversed(covs):
            weighted = weighted @ cov
        return weighted * (module.out_channels // module.groups)

    def output_shape(self, module, x):
        spatial = [conv_output_length(n, k, s, d, left, right)
                   for n, k, s, d, (left, right) in zip(x.shape[-self.dims:], module.kernel_size,
                                                        module.stride, module.dilation,
                                                        self._pads(module))]
        return (*x.shape[:-self.dims - 1], module.out_channels, *spatial)


class ConvTransposeRule:
    """ConvTranspose1d/2d/3d, counted on the input side: every input meets C_out/groups x K weights."""

    synaptic = True

    def __init__(self, dims: int):
        self.dims = dims

    @staticmethod
    def _fan_out(module) -> int:
        return module.out_channels // module.groups * math.prod(module.kernel_size)

    def dense(self, module, x, y):
        return x.numel() * self._fan_out(module)

    count_dims = 0

    def spike_pairs(self, module, ones, cache):
        return ones * self._fan_out(module)

    def output_shape(self, module, x):
        spatial = [(n - 1) * s - 2 * p + d * (k - 1) + op + 1
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

    def output_shape(self, module, x):
        return (*x.shape[:-1], module.out_features)


class BatchNormRule:
    """BatchNorm left in place (not folded): 2 MACs (scale and shift) per output element."""

    synaptic = False

    def dense(self, module, x, y):
        return 2 * y.numel()

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
