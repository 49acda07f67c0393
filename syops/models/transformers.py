"""Spiking transformers: Spikformer, its full-spike (FSNN) and dual-stream (DSNN) variants,
Spikingformer and the Spike-driven Transformer (v1), as their authors' code builds them.

Sources (read, not copied): ZK-Zhou/spikformer ``cifar10/model.py`` (CIFAR, 4-384) and
``imagenet/model.py`` (ImageNet, 8-D), zhouchenlin2096/Spikingformer ``imagenet/model.py``,
BICLab/Spike-Driven-Transformer ``module/sps.py`` and ``module/ms_conv.py``.

Every net repeats the static image T times and applies its first conv to each copy (as the
official code does), so that conv costs T x its MACs. Inside, the stream is ``[T, B, C, H, W]``;
token-wise layers (q, k, v, proj, MLP) run as ``Conv1d(kernel 1) + BatchNorm1d`` on
``[T, B, C, N]`` in one ``SeqToANNContainer``: the exact equivalent of the CIFAR code's
``bn(linear(x).transpose(-1, -2))``, and foldable by ``syops.fold``. Attention products are
written as each code writes them, as functional ops (``@``, ``*``, ``sum``).

One net class, :class:`SpikingTransformer`: stem, a chain of residual units ``s = g(unit(s),
s)``, and a head; with ``accumulate`` it also carries ``a = a + unit(s)`` (DSNN) and returns
``(spike_logits, accumulation_logits)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from spikingjelly.activation_based import base, layer, neuron, surrogate
from torch import Tensor, nn

from syops.models.connect import ConnectFn, add, get_connect

SCALE = 0.125
"""Attention scale of Spikformer and Spikingformer (fixed, not 1/sqrt(d))."""
ATTENTION_THRESHOLD = 0.5
"""Firing threshold of the neuron after the attention products (attn_lif, talking_heads_lif)."""
MLP_RATIO = 4
IMAGE_CHANNELS = 3


@dataclass(frozen=True)
class Spec:
    """Size of one transformer: embedding dim, blocks, heads; ``cifar``: the CIFAR layout."""

    dim: int
    depth: int
    heads: int
    cifar: bool = False
    """CIFAR code: no max-pool in the first two stem stages, Linear (biased) q/k/v, and
    ``(q @ k^T) @ v``; ImageNet code: four pooled stages, bias-free q/k/v, ``q @ (k^T @ v)``."""

    @property
    def stem_pools(self) -> tuple[bool, ...]:
        return (False, False, True, True) if self.cifar else (True,) * 4


SPECS = {
    "4_384": Spec(384, 4, 12, cifar=True),
    "8_384": Spec(384, 8, 8),
    "8_512": Spec(512, 8, 8),
    "8_768": Spec(768, 8, 12),
}
SDT_SPECS = {"8_512": Spec(512, 8, 8), "8_768": Spec(768, 8, 8)}


# --- layers -------------------------------------------------------------------------------

def lif(v_threshold: float = 1.0) -> nn.Module:
    """Multi-step LIF, tau 2, hard reset to 0, detached reset, sigmoid surrogate (the codes' own)."""
    return neuron.LIFNode(tau=2.0, v_threshold=v_threshold, surrogate_function=surrogate.Sigmoid(),
                          detach_reset=True, step_mode="m")


def conv_bn(in_channels: int, out_channels: int) -> nn.Module:
    """Per-step conv3x3 (stride 1, padding 1, no bias) and its BatchNorm."""
    return layer.SeqToANNContainer(nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=False),
                                   nn.BatchNorm2d(out_channels))


def token_conv_bn(in_features: int, out_features: int, bias: bool) -> nn.Module:
    """Per-step token-wise linear layer on ``[T, B, C, N]``: Conv1d(kernel 1) and BatchNorm1d."""
    return layer.SeqToANNContainer(nn.Conv1d(in_features, out_features, 1, bias=bias),
                                   nn.BatchNorm1d(out_features))


def max_pool() -> nn.Module:
    return layer.SeqToANNContainer(nn.MaxPool2d(3, 2, 1))


class Tokenwise(nn.Module):
    """Runs ``body`` on the tokens ``[T, B, C, H*W]`` of a ``[T, B, C, H, W]`` stream."""

    def __init__(self, *body: nn.Module):
        super().__init__()
        self.body = nn.Sequential(*body)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x.flatten(3)).reshape(x.shape)


def mlp(dim: int, pre_activation: bool, bias: bool = True) -> nn.Module:
    """fc1 (dim -> 4 dim) and fc2 back; LIF after each (Spikformer) or before each
    (Spikingformer and SDT, whose residual stream is membrane potential)."""
    hidden = dim * MLP_RATIO
    fc1, fc2 = token_conv_bn(dim, hidden, bias), token_conv_bn(hidden, dim, bias)
    return Tokenwise(lif(), fc1, lif(), fc2) if pre_activation else Tokenwise(fc1, lif(), fc2, lif())


# --- attention ----------------------------------------------------------------------------

class DotProductMix(nn.Module):
    """Spiking self-attention's products, then attn_lif (threshold 0.5).

    ``kv_first``: ``(q @ (k^T @ v)) * 0.125`` as the ImageNet codes compute it; else
    ``((q @ k^T) * 0.125) @ v`` as the CIFAR code does. No softmax.
    """

    def __init__(self, kv_first: bool):
        super().__init__()
        self.kv_first = kv_first
        self.neuron = lif(ATTENTION_THRESHOLD)

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        if self.kv_first:
            mixed = (q @ (k.transpose(-2, -1) @ v)) * SCALE
        else:
            attn = (q @ k.transpose(-2, -1)) * SCALE
            mixed = attn @ v
        return self.neuron(mixed)

    def extra_repr(self) -> str:
        return "q @ (k^T @ v)" if self.kv_first else "(q @ k^T) @ v"


class MaskMix(nn.Module):
    """Spike-driven self-attention: ``q * LIF(sum over tokens of (k * v))``: masks and sums."""

    def __init__(self):
        super().__init__()
        self.neuron = lif(ATTENTION_THRESHOLD)  # talking_heads_lif in the official code

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        kv = self.neuron((k * v).sum(dim=-2, keepdim=True))
        return q * kv


class Attention(nn.Module):
    """q, k, v = LIF(BN(conv1d(s))); heads mixed by ``mix``; then proj = BN(conv1d(.)).

    ``pre_lif``: a LIF on the input first (Spikingformer, SDT: the stream is membrane
    potential); ``post_lif``: a LIF after proj (Spikformer: the stream carries spikes).
    """

    def __init__(self, dim: int, heads: int, mix: nn.Module, qkv_bias: bool,
                 pre_lif: bool, post_lif: bool):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not a multiple of heads {heads}")
        self.heads = heads
        self.pre = lif() if pre_lif else nn.Identity()
        self.q, self.k, self.v = (nn.Sequential(token_conv_bn(dim, dim, qkv_bias), lif())
                                  for _ in range(3))
        self.mix = mix
        self.proj = token_conv_bn(dim, dim, bias=True)
        self.post = lif() if post_lif else nn.Identity()

    def _split(self, tokens: Tensor) -> Tensor:
        """``[T, B, C, N]`` -> ``[T, B, heads, N, C / heads]``."""
        T, B, C, N = tokens.shape
        heads = tokens.transpose(-1, -2).reshape(T, B, N, self.heads, C // self.heads)
        return heads.permute(0, 1, 3, 2, 4)

    def forward(self, x: Tensor) -> Tensor:
        tokens = self.pre(x.flatten(3))
        q, k, v = (self._split(branch(tokens)) for branch in (self.q, self.k, self.v))
        mixed = self.mix(q, k, v).transpose(-1, -2).reshape(tokens.shape)
        return self.post(self.proj(mixed)).reshape(x.shape)


# --- networks -----------------------------------------------------------------------------

class MeanHead(nn.Module):
    """Mean over tokens and time steps, then a linear classifier."""

    def __init__(self, dim: int, num_classes: int):
        super().__init__()
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(x.flatten(3).mean(3).mean(0))


class SpikingHead(nn.Module):
    """SDT's head: mean over tokens, LIF, linear per time step, mean over time steps."""

    def __init__(self, dim: int, num_classes: int):
        super().__init__()
        self.neuron = lif()
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.neuron(x.flatten(3).mean(3))).mean(0)


class Block(nn.Module):
    """One transformer block's attention and MLP (two residual branches, run in that order by
    :class:`SpikingTransformer`), plus the two LayerNorms that the Spikformer and Spikingformer
    code builds but never applies: kept so that parameter counts equal the official code's."""

    def __init__(self, attn: nn.Module, mlp_unit: nn.Module, dim: int, with_norms: bool):
        super().__init__()
        self.attn, self.mlp = attn, mlp_unit
        if with_norms:
            self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)


class SpikingTransformer(nn.Module):
    """image -> T copies -> stem -> residual units -> head.

    ``units`` are residual branches or :class:`Block` s (two branches each). Each branch maps
    the stream ``s`` to its output ``out``; ``s = connect(out, s)``.
    With ``accumulate`` the net also carries ``a``, starting as the stem output and updated
    as ``a = a + out`` (the DSNN pathway; shapes never change, so it needs no projection);
    the shared head then runs on both streams and the net returns ``(spike_logits,
    accumulation_logits)``. Every forward starts with all neurons at rest.
    """

    def __init__(self, T: int, stem: nn.Module, units: list[nn.Module], head: nn.Module,
                 connect: ConnectFn = add, accumulate: bool = False):
        super().__init__()
        self.T = T
        self.stem = stem
        self.units = nn.ModuleList(units)
        self.head = head
        self.connect = connect
        self.accumulate = accumulate

    @property
    def has_accumulation(self) -> bool:
        return self.accumulate

    def drop_accumulation(self) -> "SpikingTransformer":
        """Remove the accumulation pathway (DSNN -> FSNN), in place; returns self."""
        self.accumulate = False
        return self

    def branches(self) -> Iterator[nn.Module]:
        """The residual branches in order: a block gives its attention, then its MLP."""
        for unit in self.units:
            yield from (unit.attn, unit.mlp) if isinstance(unit, Block) else (unit,)

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        for module in self.modules():
            if isinstance(module, base.MemoryModule):
                module.reset()
        s = a = self.stem(x.unsqueeze(0).repeat(self.T, 1, 1, 1, 1))
        for branch in self.branches():
            out = branch(s)
            if self.accumulate:
                a = a + out
            s = self.connect(out, s)
        if not self.accumulate:
            return self.head(s)
        return self.head(s), self.head(a)

    def extra_repr(self) -> str:
        return (f"T={self.T}, connect={getattr(self.connect, '__name__', None)}, "
                f"accumulate={self.accumulate}")


def spikformer(spec: Spec, T: int, num_classes: int, connect: str = "ADD",
               accumulate: bool = False) -> SpikingTransformer:
    """Spikformer (ADD), or with ``connect="IAND"`` the FSNN Spikformer, with ``accumulate``
    the DSNN Spikformer. g joins every residual: the SPS's RPE and both units of each block."""
    dim = spec.dim
    widths = (IMAGE_CHANNELS, dim // 8, dim // 4, dim // 2, dim)
    stem: list[nn.Module] = []
    for in_channels, out_channels, pooled in zip(widths, widths[1:], spec.stem_pools):
        stem += [conv_bn(in_channels, out_channels), lif()] + ([max_pool()] if pooled else [])
    rpe = nn.Sequential(conv_bn(dim, dim), lif())
    blocks = [Block(Attention(dim, spec.heads, DotProductMix(kv_first=not spec.cifar),
                              qkv_bias=spec.cifar, pre_lif=False, post_lif=True),
                    mlp(dim, pre_activation=False), dim, with_norms=True)
              for _ in range(spec.depth)]
    return SpikingTransformer(T, nn.Sequential(*stem), [rpe, *blocks], MeanHead(dim, num_classes),
                              get_connect(connect), accumulate)


def spikingformer(spec: Spec, T: int, num_classes: int) -> SpikingTransformer:
    """Spikingformer: pre-activation blocks on a membrane-potential stream (residual ADD of
    BN outputs); its tokenizer ends in conv-BN with no position-embedding residual."""
    dim = spec.dim
    widths = (dim // 8, dim // 4, dim // 2, dim, dim)
    stem: list[nn.Module] = [conv_bn(IMAGE_CHANNELS, widths[0])]
    for in_channels, out_channels in zip(widths, widths[1:]):
        stem += [lif(), max_pool(), conv_bn(in_channels, out_channels)]
    blocks = [Block(Attention(dim, spec.heads, DotProductMix(kv_first=True), qkv_bias=False,
                              pre_lif=True, post_lif=False),
                    mlp(dim, pre_activation=True), dim, with_norms=True)
              for _ in range(spec.depth)]
    return SpikingTransformer(T, nn.Sequential(*stem), blocks, MeanHead(dim, num_classes))


class SDTAttention(Attention):
    """SDSA, plus the talking-heads conv that the official code builds but never applies
    (kept so that parameter counts equal the code's)."""

    def __init__(self, dim: int, heads: int):
        super().__init__(dim, heads, MaskMix(), qkv_bias=False, pre_lif=True, post_lif=False)
        self.talking_heads = nn.Conv1d(heads, heads, 1, bias=False)


def sdt(spec: Spec, T: int, num_classes: int) -> SpikingTransformer:
    """Spike-driven Transformer v1: conv-BN-LIF-pool stem stages, the last one pooled before
    its LIF; a membrane shortcut around the RPE (LIF-conv-BN); SDSA and MLP blocks with
    membrane shortcuts; a spiking head."""
    dim = spec.dim
    widths = (IMAGE_CHANNELS, dim // 8, dim // 4, dim // 2, dim)
    stem: list[nn.Module] = []
    for in_channels, out_channels in zip(widths[:-2], widths[1:-1]):
        stem += [conv_bn(in_channels, out_channels), lif(), max_pool()]
    stem += [conv_bn(widths[-2], dim), max_pool()]
    rpe = nn.Sequential(lif(), conv_bn(dim, dim))
    blocks = [Block(SDTAttention(dim, spec.heads), mlp(dim, pre_activation=True), dim,
                    with_norms=False) for _ in range(spec.depth)]
    return SpikingTransformer(T, nn.Sequential(*stem), [rpe, *blocks], SpikingHead(dim, num_classes))
