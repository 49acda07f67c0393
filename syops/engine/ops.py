"""Operator rules: the synaptic products a functional call performs, from its arguments.

Each rule turns one call's ``(args, kwargs)`` into a list of ``Product``s:
- a *contraction* ``A x B`` written as two einsum index strings (``"lk"``, ``"kn"``), each
  operand a tensor (its values classify it) or ``None`` with a shape (a fused intermediate,
  such as SDPA's softmax weights: multi-level by construction). Matmul broadcasting is
  resolved into the index strings, so every product is a plain two-operand contraction whose
  dense count is the product of all index sizes;
- a *layer* call: a functional conv / linear, counted with the module rules of
  ``syops.rules`` on a stand-in that carries the layer's geometry.
A weight operand is marked ``fixed``: it never carries spikes.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from syops.engine.rules import Rule, rule_for


@dataclass(frozen=True)
class Contraction:
    a: Tensor | None
    b: Tensor | None
    a_index: str
    b_index: str
    sizes: dict[str, int]
    a_fixed: bool = False
    b_fixed: bool = False

    @property
    def dense(self) -> int:
        return math.prod(self.sizes.values())


@dataclass(frozen=True)
class LayerCall:
    rule: Rule
    geometry: object   # a stand-in module with the attributes the rule reads
    x: Tensor
    output_shape: tuple[int, ...]


Product = Contraction | LayerCall
OpRule = Callable[[tuple, dict], list[Product]]
_OPS: dict[Callable, tuple[str, OpRule]] = {}


def register_op(*functions: Callable, name: str) -> Callable[[OpRule], OpRule]:
    """Register the product rule of functional ops (decorator)."""
    def add(rule: OpRule) -> OpRule:
        for function in functions:
            _OPS[function] = (name, rule)
        return rule
    return add


def op_rule(function: Callable) -> tuple[str, OpRule] | None:
    return _OPS.get(function)


ModuleRule = Callable[[nn.Module, tuple, dict, object], list[Product]]
_MODULES: dict[type, tuple[str, ModuleRule]] = {}


def register_module_products(*types: type, name: str | None = None
                             ) -> Callable[[ModuleRule], ModuleRule]:
    """Register the products one call of a module type performs, for layers whose weights
    meet several inputs (recurrent layers): ``rule(module, args, kwargs, output)`` returns
    the call's products. ``name`` is the type shown in reports (default: the class name)."""
    def add(rule: ModuleRule) -> ModuleRule:
        for module_type in types:
            _MODULES[module_type] = (name or module_type.__name__, rule)
        return rule
    return add


def module_products(module: nn.Module) -> tuple[str, ModuleRule] | None:
    """The product rule of the most specific registered base class of ``module``, if any."""
    for cls in type(module).__mro__:
        if cls in _MODULES:
            return _MODULES[cls]
    return None


def is_product(function: Callable) -> bool:
    return function in _OPS


# --- contractions -----------------------------------------------------------------------
def _shape(t: Tensor | None, shape) -> tuple[int, ...]:
    return tuple(t.shape) if t is not None else tuple(shape)


def matmul_contraction(a: Tensor | None, b: Tensor | None, a_shape=None, b_shape=None, *,
                       a_fixed: bool = False, b_fixed: bool = False) -> Contraction:
    """``a @ b`` with torch.matmul's 1-d and broadcasting rules, as index strings."""
    sa, sb = _shape(a, a_shape), _shape(b, b_shape)
    if len(sa) == 1:
        a, sa = (a.unsqueeze(0) if a is not None else None), (1, *sa)
    if len(sb) == 1:
        b, sb = (b.unsqueeze(-1) if b is not None else None), (*sb, 1)
    batch = torch.broadcast_shapes(sa[:-2], sb[:-2])
    letters = iter(string.ascii_letters)
    batch_letters = [next(letters) for _ in batch]
    m, k, n = next(letters), next(letters), next(letters)
    sizes = {**dict(zip(batch_letters, batch)), m: sa[-2], k: sa[-1], n: sb[-1]}
    a, a_batch = _squeezed(a, sa, batch, batch_letters)
    b, b_batch = _squeezed(b, sb, batch, batch_letters)
    return Contraction(a, b, a_batch + m + k, b_batch + k + n, sizes, a_fixed, b_fixed)


def _squeezed(t: Tensor | None, shape, batch, letters) -> tuple[Tensor | None, str]:
    """Drop the batch dims an operand broadcasts over (it does not vary along them)."""
    own = len(shape) - 2
    keep, drop = "", []
    for i, (size, out, letter) in enumerate(zip(shape[:own], batch[len(batch) - own:],
                                                letters[len(batch) - own:])):
        if size == out:
            keep += letter
        else:
            drop.append(i)
    if t is not None and drop:
        t = t.squeeze(drop) if len(drop) > 1 else t.squeeze(drop[0])
    return t, keep


@register_op(torch.matmul, Tensor.matmul, Tensor.__matmul__, torch.mm, Tensor.mm, torch.bmm,
             Tensor.bmm, name="matmul")
def _matmul(args, kwargs):
    a, b = args[0], args[1] if len(args) > 1 else kwargs.get("other", kwargs.get("mat2"))
    return [matmul_contraction(a, b)]


@register_op(Tensor.__rmatmul__, name="matmul")
def _rmatmul(args, kwargs):
    return [matmul_contraction(args[1], args[0])]


@register_op(torch.addmm, torch.baddbmm, Tensor.addmm, Tensor.baddbmm, name="matmul")
def _add_matmul(args, kwargs):
    a = args[1] if len(args) > 1 else kwargs.get("mat1", kwargs.get("batch1"))
    b = args[2] if len(args) > 2 else kwargs.get("mat2", kwargs.get("batch2"))
    return [matmul_contraction(a, b)]


@register_op(torch.einsum, name="einsum")
def _einsum(args, kwargs):
    equation, *operands = args
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = list(operands[0])
    if len(operands) != 2:
        return []   # one operand (a sum) or three and more (not a synaptic product)
    inputs = equation.replace(" ", "").split("->")[0].split(",")
    a, b = operands
    spare = "".join(c for c in string.ascii_letters if c not in equation)
    a_index, b_index = (_expand_ellipsis(i, t.dim(), spare) for i, t in zip(inputs, (a, b)))
    sizes: dict[str, int] = {}
    for index, t in ((a_index, a), (b_index, b)):
        for letter, size in zip(index, t.shape):
            sizes[letter] = max(sizes.get(letter, 1), size)
    a, a_index = _drop_broadcast(a, a_index, sizes)
    b, b_index = _drop_broadcast(b, b_index, sizes)
    return [Contraction(a, b, a_index, b_index, sizes)]


def _expand_ellipsis(index: str, dims: int, spare: str) -> str:
    """Letters from ``spare`` for the dims an ellipsis covers (aligned from the right)."""
    if "..." not in index:
        return index
    covered = dims - (len(index) - 3)
    return index.replace("...", spare[len(spare) - covered:] if covered else "")


def _drop_broadcast(t: Tensor, index: str, sizes: dict[str, int]) -> tuple[Tensor, str]:
    drop = [i for i, letter in enumerate(index) if t.shape[i] == 1 and sizes[letter] > 1]
    for i in reversed(drop):
        t = t.squeeze(i)
    return t, "".join(letter for i, letter in enumerate(index) if i not in drop)


_SDPA = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")


@register_op(F.scaled_dot_product_attention, name="sdpa")
def _sdpa(args, kwargs):
    given = {**dict(zip(_SDPA, args)), **kwargs}
    q, k, v = given["query"], given["key"], given["value"]
    if given.get("enable_gqa") and k.dim() > 2 and k.shape[-3] != q.shape[-3]:
        # grouped-query attention: each key/value head serves a group of query heads
        group = q.shape[-3] // k.shape[-3]
        k, v = k.repeat_interleave(group, -3), v.repeat_interleave(group, -3)
    scores = matmul_contraction(q, k.transpose(-2, -1))
    batch = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2])
    weights_shape = (*batch, q.shape[-2], k.shape[-2])   # the softmax weights, [..., L, S]
    return [scores, matmul_contraction(None, v, a_shape=weights_shape)]


# --- functional layers --------------------------------------------------------------------
def _conv_geometry(weight: Tensor, transpose: bool, stride, padding, dilation, groups,
                   output_padding=0) -> SimpleNamespace:
    dims = weight.dim() - 2

    def per_dim(value):
        return tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims
    if transpose:
        in_channels, out_channels = weight.shape[0], weight.shape[1] * groups
    else:
        in_channels, out_channels = weight.shape[1] * groups, weight.shape[0]
    return SimpleNamespace(in_channels=in_channels, out_channels=out_channels,
                           kernel_size=tuple(weight.shape[2:]), stride=per_dim(stride),
                           padding=padding if isinstance(padding, str) else per_dim(padding),
                           dilation=per_dim(dilation), groups=groups, padding_mode="zeros",
                           output_padding=per_dim(output_padding), weight=weight)


_PROTOTYPES = {fn: proto for fn, proto in (
    (F.conv1d, nn.Conv1d(1, 1, 1)), (F.conv2d, nn.Conv2d(1, 1, 1)), (F.conv3d, nn.Conv3d(1, 1, 1)),
    (F.conv_transpose1d, nn.ConvTranspose1d(1, 1, 1)),
    (F.conv_transpose2d, nn.ConvTranspose2d(1, 1, 1)),
    (F.conv_transpose3d, nn.ConvTranspose3d(1, 1, 1)))}


def _argument(args, kwargs, position: int, name: str, default):
    return args[position] if len(args) > position else kwargs.get(name, default)


def _conv_op(function: Callable, transpose: bool) -> OpRule:
    rule = rule_for(_PROTOTYPES[function])

    def products(args, kwargs):
        x, weight = args[0], _argument(args, kwargs, 1, "weight", None)
        stride = _argument(args, kwargs, 3, "stride", 1)
        padding = _argument(args, kwargs, 4, "padding", 0)
        if transpose:
            output_padding = _argument(args, kwargs, 5, "output_padding", 0)
            groups = _argument(args, kwargs, 6, "groups", 1)
            dilation = _argument(args, kwargs, 7, "dilation", 1)
        else:
            output_padding = 0
            dilation = _argument(args, kwargs, 5, "dilation", 1)
            groups = _argument(args, kwargs, 6, "groups", 1)
        geometry = _conv_geometry(weight, transpose, stride, padding, dilation, groups,
                                  output_padding)
        return [LayerCall(rule, geometry, x, rule.output_shape(geometry, x))]
    return products


for _function in (F.conv1d, F.conv2d, F.conv3d):
    register_op(_function, name=_function.__name__)(_conv_op(_function, transpose=False))
for _function in (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d):
    register_op(_function, name=_function.__name__)(_conv_op(_function, transpose=True))


@register_op(F.linear, name="linear")
def _linear(args, kwargs):
    x, weight = args[0], _argument(args, kwargs, 1, "weight", None)
    return [matmul_contraction(x, weight.t() if weight.dim() == 2 else weight, b_fixed=True)]


# --- attention ----------------------------------------------------------------------------
def attention_products(query: Tensor, key: Tensor, value: Tensor, num_heads: int,
                       batch_first: bool, in_weights: tuple[Tensor, Tensor, Tensor],
                       out_weight: Tensor, extra_keys: int = 0) -> list[Product]:
    """The products of multi-head attention: the three input projections (their inputs may
    be spikes), the per-head scores and weighted sums (projections and softmax weights are
    multi-level), and the output projection. ``extra_keys`` are keys (and values) appended
    after the projections (``add_bias_kv``'s bias, ``add_zero_attn``'s zeros)."""
    if not batch_first and query.dim() == 3:
        query, key, value = (t.transpose(0, 1) for t in (query, key, value))
    embed = out_weight.shape[0]
    lead_q = tuple(query.shape[:-1])
    keys = key.shape[-2] + extra_keys
    head = embed // num_heads
    projections = [matmul_contraction(t, w.t(), b_fixed=True)
                   for t, w in zip((query, key, value), in_weights)]
    batch = lead_q[:-1]
    scores = matmul_contraction(None, None, (*batch, num_heads, lead_q[-1], head),
                                (*batch, num_heads, head, keys))
    summed = matmul_contraction(None, None, (*batch, num_heads, lead_q[-1], keys),
                                (*batch, num_heads, keys, head))
    out = matmul_contraction(None, out_weight.t(), (*lead_q, embed), b_fixed=True)
    return [*projections, scores, summed, out]


def _split_in_proj(embed: int, packed: Tensor | None, q_w, k_w, v_w) -> tuple:
    if packed is not None:
        return packed[:embed], packed[embed:2 * embed], packed[2 * embed:]
    return q_w, k_w, v_w


@register_op(F.multi_head_attention_forward, name="multi_head_attention")
def _mha_functional(args, kwargs):
    names = ("query", "key", "value", "embed_dim_to_check", "num_heads", "in_proj_weight",
             "in_proj_bias", "bias_k", "bias_v", "add_zero_attn", "dropout_p",
             "out_proj_weight")
    given = {**dict(zip(names, args)), **kwargs}
    embed = given["embed_dim_to_check"]
    weights = _split_in_proj(embed, given.get("in_proj_weight"), given.get("q_proj_weight"),
                             given.get("k_proj_weight"), given.get("v_proj_weight"))
    extra = int(given.get("bias_k") is not None) + int(bool(given.get("add_zero_attn")))
    # the functional form takes [L, B, E] (sequence first)
    return attention_products(given["query"], given["key"], given["value"],
                              given["num_heads"], False, weights, given["out_proj_weight"],
                              extra)


if hasattr(torch, "_native_multi_head_attention"):
    @register_op(torch._native_multi_head_attention, name="multi_head_attention")
    def _mha_native(args, kwargs):
        query, key, value, embed, heads, qkv_weight = args[:6]
        out_weight = args[7]
        weights = _split_in_proj(embed, qkv_weight, None, None, None)
        return attention_products(query, key, value, heads, True, weights, out_weight)


from syops.engine import recurrent  # noqa: E402,F401  (registers the recurrent layers' rules)
