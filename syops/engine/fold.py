"""BatchNorm folding: a BN that directly follows a conv or linear layer merges into it.

Found where the order is certain: consecutive children of an ``nn.Sequential`` (this covers
SpikingJelly's ``SeqToANNContainer``, a Sequential subclass). A BN without running
statistics normalises with batch statistics and cannot be folded.
"""

from __future__ import annotations

import copy
from typing import Iterator, NamedTuple

import torch
from torch import nn
from torch.nn.parameter import is_lazy

FOLDS_INTO = (nn.modules.conv._ConvNd, nn.Linear)


class FoldPair(NamedTuple):
    container: nn.Sequential
    layer_key: str
    bn_key: str


def _out_channels(layer: nn.Module) -> int:
    return layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels


def can_fold(layer: nn.Module, bn: nn.Module) -> bool:
    """Whether ``bn``, applied to ``layer``'s output, merges into ``layer`` (a lazy BatchNorm
    not yet run takes its features from that output: it will match)."""
    return (isinstance(layer, FOLDS_INTO)
            and isinstance(bn, nn.modules.batchnorm._BatchNorm)
            and bn.running_mean is not None and bn.running_var is not None
            and (bn.num_features == _out_channels(layer) or is_lazy(bn.running_mean)))


def fold_pairs(model: nn.Module) -> Iterator[FoldPair]:
    """Every (conv/linear, BatchNorm) pair of ``model`` that folds."""
    for container in model.modules():
        if not isinstance(container, nn.Sequential):
            continue
        items = list(container._modules.items())
        for (layer_key, layer), (bn_key, bn) in zip(items, items[1:]):
            if can_fold(layer, bn):
                yield FoldPair(container, layer_key, bn_key)


def folded_batchnorms(model: nn.Module) -> set[nn.Module]:
    """The BatchNorm modules that folding would remove (they cost nothing when folded)."""
    return {pair.container._modules[pair.bn_key] for pair in fold_pairs(model)}


@torch.no_grad()
def _fold_into(layer: nn.Module, bn: nn.modules.batchnorm._BatchNorm) -> None:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps) if bn.affine else \
        1 / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias if bn.affine else torch.zeros_like(bn.running_mean)
    weight = layer.weight
    if isinstance(layer, nn.modules.conv._ConvTransposeNd):
        # weight is [C_in, C_out / groups, *k]; output channel g * (C_out/groups) + j.
        groups = layer.groups
        grouped = weight.view(groups, weight.shape[0] // groups, weight.shape[1], *weight.shape[2:])
        grouped.mul_(scale.view(groups, 1, -1, *[1] * (weight.dim() - 2)).to(weight.dtype))
    else:
        weight.mul_(scale.view(-1, *[1] * (weight.dim() - 1)).to(weight.dtype))
    bias = layer.bias if layer.bias is not None else torch.zeros_like(bn.running_mean)
    new_bias = (bias - bn.running_mean) * scale + shift
    layer.bias = nn.Parameter(new_bias.to(weight.dtype), requires_grad=weight.requires_grad)


def fold_bn(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` in which every foldable BatchNorm is merged into the conv or
    linear layer before it and replaced by ``nn.Identity``. ``model`` is not changed."""
    folded = copy.deepcopy(model)
    for pair in list(fold_pairs(folded)):
        bn = pair.container._modules[pair.bn_key]
        _fold_into(pair.container._modules[pair.layer_key], bn)
        pair.container._modules[pair.bn_key] = nn.Identity()
    return folded
