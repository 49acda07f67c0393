"""Lemaire et al. 2022's energy model as its authors implement it, on a syops Report.

E. Lemaire et al., "An analytical estimation of spiking neural networks energy efficiency",
ICONIP 2022 (arXiv:2210.13107), as coded in LEAT-EDGE/qualia-plugin-snn
(``postprocessing/EnergyEstimationMetric.py``). Every conv (1d, 2d) and linear layer costs six
terms, in pJ per inference: membrane potentials read and written, weights read, biases read,
inputs and outputs read and written, synaptic operations, and addressing. A layer is priced
in one of three ways:

- ``snn``: spike input, the equations of the paper with the code's two corrections to the FC
  operations (theta_in x N_out accumulates, not theta_in x N_in x N_out; plus theta_out for
  the reset);
- ``hybrid``: multi-level input in a spiking network (the image-facing layer), one time step
  of MACs scaled by the input's non-zero rate;
- ``fnn``: a network without spiking neurons, dense.

Memory energy per access is the code's regression on Horowitz's SRAM figures (``ram_pj``);
add and multiply energies come from Horowitz's 8- and 32-bit integer figures, interpolated to
the memory width as the code's ``op_estimation_type`` options do (``op_pj``). docs/energy.md
lists what syops supplies for what the code measures.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from torch import nn

from syops.engine.fold import fold_bn
from syops.engine.sites import MULTI_LEVEL

PJ_PER_MJ = 1e9
# Horowitz 2014 (45 nm) integer add and multiply, pJ, by bit width: the code's table.
HOROWITZ_INT = {8: {"add": 0.03, "mul": 0.2}, 32: {"add": 0.1, "mul": 3.1}}
OP_ESTIMATIONS = ("ICONIP", "saturation", "linear", "quadratic")
SRAM_ESTIMATIONS = ("ICONIP", "new")
# The code's SRAM access energy: 1.09e-5 x values x bits + 13.2 pJ (a fit of Horowitz's
# 8 KB, 32 KB and 1 MB figures); "new": one 10 pJ access of a 64-bit bus per 64 // bits values.
SRAM_FIT = (1.09e-5, 13.2)
BUS_BITS, BUS_PJ = 64, 10.0
# Neurons with a leak: the code charges them a multiply per output and step (its LIF layer).
LEAKY = ("LIFNode", "ParametricLIFNode", "Leaky", "LIF", "LIFCell", "LIFBox", "LIFSqueeze")
TERMS = ("mem_pot", "mem_weights", "mem_bias", "mem_io", "ops", "addr")


@dataclass(frozen=True)
class Settings:
    """The code's options. Defaults: its CIFAR-10 VGG configuration (16-bit memory, FIFOs of
    1000) with its default ICONIP figures (32-bit operations, SRAM by size)."""

    mem_width: int = 16
    fifo_size: int = 1000
    ops: str | None = None        # None: the table's figures at 8 or 32 bits, else 32-bit
    sram: str = "ICONIP"

    def __post_init__(self):
        if isinstance(self.mem_width, bool) or self.mem_width not in range(1, 33):
            raise ValueError(f"mem_width must be a whole number of bits from 1 to 32, "
                             f"got {self.mem_width!r}")
        if isinstance(self.fifo_size, bool) or not isinstance(self.fifo_size, int) \
                or self.fifo_size < 1:
            raise ValueError(f"fifo_size must be a positive number of values, "
                             f"got {self.fifo_size!r}")
        if self.ops is not None and self.ops not in OP_ESTIMATIONS:
            raise ValueError(f"ops must be None or one of {', '.join(OP_ESTIMATIONS)}, "
                             f"got {self.ops!r}")
        if self.sram not in SRAM_ESTIMATIONS:
            raise ValueError(f"sram must be one of {', '.join(SRAM_ESTIMATIONS)}, "
                             f"got {self.sram!r}")


def op_pj(op: str, bits: int, estimation: str | None = None) -> float:
    """Energy (pJ) of one ``op`` ("add" or "mul") at ``bits``: the table's figure when it has
    that width and no estimation is named, else ICONIP (32-bit), saturation (the next width
    up), linear through (8, E8) and (32, E32), or quadratic through those and (0, 0)."""
    low, high = HOROWITZ_INT[8][op], HOROWITZ_INT[32][op]
    if estimation is None:
        return HOROWITZ_INT[bits][op] if bits in HOROWITZ_INT else high
    if estimation == "ICONIP":
        return high
    if estimation == "saturation":
        return low if bits <= 8 else high
    if estimation == "linear":
        return low + (high - low) * (bits - 8) / 24
    a = (high / 32 - low / 8) / 24          # quadratic a x^2 + b x through the three points
    return a * bits ** 2 + (low / 8 - 8 * a) * bits


def ram_pj(values: int, bits: int, sram: str = "ICONIP") -> float:
    """Energy (pJ) of one access to a memory of ``values`` words of ``bits``."""
    if sram == "new":
        return BUS_PJ / (BUS_BITS // bits)
    slope, offset = SRAM_FIT
    return slope * values * bits + offset


@dataclass(frozen=True)
class Geometry:
    """One layer's shapes per time step and sample (an FC layer: c_in = n_in, c_out = n_out,
    kernel = 1)."""

    kind: str          # "conv" or "fc"
    n_in: int          # input values
    n_out: int         # output values
    c_in: int          # input channels per group
    c_out: int
    kernel: int        # kernel elements
    ceil_ks: int       # product of ceil(kernel / stride) over the spatial axes
    weights: int
    bias: int          # bias values, 0 without

    @property
    def macs(self) -> int:
        """Dense MACs of one step: N_out x C_in x K (FC: N_in x N_out)."""
        return self.n_out * self.c_in * self.kernel


@dataclass(frozen=True)
class Activity:
    """What the code measures of one layer in one inference."""

    rate_in: float     # non-zero input values per value and step
    theta_out: float   # output spikes per inference (0 when no spiking neuron follows)
    leak: bool         # a leaky neuron follows
    T: int

    def theta_in(self, g: Geometry) -> float:
        """Input spikes per inference: rate x T x N_in."""
        return self.rate_in * self.T * g.n_in


@dataclass(frozen=True)
class Costs:
    """pJ per add and multiply, and how memory accesses are priced."""

    add: float
    mul: float
    bits: int
    fifo: int
    sram: str

    @classmethod
    def of(cls, s: Settings) -> Costs:
        return cls(op_pj("add", s.mem_width, s.ops), op_pj("mul", s.mem_width, s.ops),
                   s.mem_width, s.fifo_size, s.sram)

    def ram(self, values: int) -> float:
        return ram_pj(values, self.bits, self.sram)


def _potentials(g: Geometry, a: Activity, e: Costs) -> float:
    """Eq. 9/10 (reads) and 14/15 (writes): theta_in x C_out x K + N_out x T, each way."""
    return 2 * (a.theta_in(g) * g.c_out * g.kernel + g.n_out * a.T) * e.ram(g.n_out)


def _bias(g: Geometry, steps: int, e: Costs) -> float:
    return g.n_out * steps * e.ram(g.bias) if g.bias else 0.0


def _snn_addr(g: Geometry, rate_x_steps: float, e: Costs) -> float:
    """Eq. 16 (conv): 2 MACs and K adds per input spike. Eq. 17 (FC): the code multiplies
    N_out by the input rate x T, not by the input spike count theta_in."""
    if g.kind == "fc":
        return rate_x_steps * g.n_out * e.add
    theta = rate_x_steps * g.n_in
    return theta * 2 * (e.mul + e.add) + theta * g.kernel * e.add


def snn_terms(g: Geometry, a: Activity, e: Costs) -> dict[str, float]:
    """A layer fed spikes (pJ per inference)."""
    theta = a.theta_in(g)
    leak = a.T * g.n_out * (e.mul + e.add) if a.leak else 0.0
    adds = theta * g.c_out * g.ceil_ks + a.T * g.n_out + a.theta_out   # Eq. 1.4 / 2.4
    return {"mem_pot": _potentials(g, a, e),
            "mem_weights": theta * g.c_out * g.kernel * e.ram(g.weights),
            "mem_bias": _bias(g, a.T, e),
            "mem_io": (theta + a.theta_out) * e.ram(e.fifo),
            "ops": leak + adds * e.add,
            "addr": _snn_addr(g, a.rate_in * a.T, e)}


def hybrid_terms(g: Geometry, a: Activity, e: Costs) -> dict[str, float]:
    """A spiking layer fed multi-level values: one step, MACs x the non-zero rate."""
    theta = a.rate_in * g.n_in
    leak = g.n_out * e.mul if a.leak else 0.0
    return {"mem_pot": _potentials(g, a, e),
            "mem_weights": theta * g.c_out * g.kernel * e.ram(g.weights),
            "mem_bias": _bias(g, a.T, e),
            "mem_io": (theta + a.theta_out) * e.ram(e.fifo),
            "ops": g.macs * a.rate_in * (e.mul + e.add) + g.n_out * e.add + leak
                   + a.theta_out * e.add,
            "addr": _snn_addr(g, a.rate_in, e)}


def fnn_terms(g: Geometry, e: Costs) -> dict[str, float]:
    """A layer of a network without spiking neurons (Eq. 1-4, 6, 11, 12), dense."""
    conv = g.kind == "conv"
    reads_in = g.macs if conv else g.n_in
    addr = g.n_in + g.n_out + g.c_out * g.kernel if conv else g.n_in * g.n_out
    return {"mem_pot": 0.0,
            "mem_weights": g.macs * e.ram(g.weights),
            "mem_bias": _bias(g, 1, e),
            "mem_io": reads_in * e.ram(g.n_in) + g.n_out * e.ram(g.n_out),
            "ops": g.macs * (e.mul + e.add) + g.n_out * e.add,
            "addr": addr * e.add}


# --- from a model and a Report -------------------------------------------------------
def _out_size(size: int, k: int, s: int, p: Any, d: int) -> int:
    if p == "same":
        return size
    pad = 0 if p == "valid" else p
    return (size + 2 * pad - d * (k - 1) - 1) // s + 1


def geometry(module: nn.Module, input_shape: tuple[int, ...]) -> Geometry | None:
    """The shapes of a Conv1d, Conv2d or Linear ``module`` whose last input had
    ``input_shape`` (None for any other module)."""
    bias = module.bias.numel() if getattr(module, "bias", None) is not None else 0
    if isinstance(module, nn.Linear):
        return Geometry("fc", module.in_features, module.out_features, module.in_features,
                        module.out_features, 1, 1, module.weight.numel(), bias)
    if not isinstance(module, (nn.Conv1d, nn.Conv2d)):
        return None
    dims = len(module.kernel_size)
    spatial = input_shape[-dims:]
    pads = [module.padding] * dims if isinstance(module.padding, str) else module.padding
    out = [_out_size(*args) for args in zip(spatial, module.kernel_size, module.stride, pads,
                                            module.dilation)]
    return Geometry("conv", module.in_channels * math.prod(spatial),
                    module.out_channels * math.prod(out), module.in_channels // module.groups,
                    module.out_channels, math.prod(module.kernel_size),
                    math.prod(math.ceil(k / s) for k, s in zip(module.kernel_size,
                                                              module.stride)),
                    module.weight.numel(), bias)


def _input_rate(counts: Any) -> float:
    """Non-zero / values of a layer's inputs; 1 where syops did not look (multi-level)."""
    elements = sum(s.elements for s in counts.sites)
    return sum(s.nonzero for s in counts.sites) / elements if elements else 1.0


def _following_neurons(model: nn.Module, layers: set[str], neurons: dict) -> dict:
    """Each counted layer's spiking neuron: the next neuron module in module order before
    the next counted layer (the code's sequential graph: a conv or linear, then its IF)."""
    following, current = {}, None
    for name, _ in model.named_modules():
        if name in layers:
            current = name
        elif name in neurons and current is not None and current not in following:
            following[current] = neurons[name]
    return following


def _activity(counts: Any, g: Geometry, neuron: Any, T: int) -> Activity:
    if neuron is None:
        return Activity(_input_rate(counts), 0.0, False, T)
    rate_out = neuron.spikes / neuron.updates if neuron.updates else 0.0
    return Activity(_input_rate(counts), rate_out * T * g.n_out, neuron.type in LEAKY, T)


def lemaire_energy(report: Any, model: nn.Module, T: int,
                   settings: Settings | None = None) -> dict[str, Any]:
    """Energy per inference of ``report`` (counted on ``model`` with ``T`` time steps) under
    Lemaire et al.'s model: per layer (``layers``: kind and each term in pJ), the terms and
    total in mJ per sample, the layers it cannot price (``skipped``), and the settings."""
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ValueError(f"the Lemaire model needs the SNN's time steps T >= 1, got {T!r}")
    settings = settings or Settings()
    costs = Costs.of(settings)
    shapes = fold_bn(model) if report.fuse_bn else model   # a folded BN becomes a bias
    modules = dict(shapes.named_modules())
    geometries = {c.name: geometry(modules[c.name], c.input_shape)
                  for c in report.layer_counts if c.name in modules}
    priced = [c for c in report.layer_counts if geometries.get(c.name)]
    following = _following_neurons(shapes, {c.name for c in priced},
                                   {n.name: n for n in report.neuron_counts})
    spiking = bool(report.neuron_counts)
    rows = []
    for counts in priced:
        g = geometries[counts.name]
        activity = _activity(counts, g, following.get(counts.name), T)
        kind = "fnn" if not spiking else "hybrid" if counts.signal == MULTI_LEVEL else "snn"
        terms = (fnn_terms(g, costs) if kind == "fnn" else
                 hybrid_terms(g, activity, costs) if kind == "hybrid" else
                 snn_terms(g, activity, costs))
        rows.append({"name": counts.name, "kind": kind, **terms, "total": sum(terms.values())})
    skipped = [c.name for c in report.layer_counts if not geometries.get(c.name)]
    totals = {t: sum(r[t] for r in rows) / PJ_PER_MJ for t in (*TERMS, "total")}
    return {"layers": rows, "energy_mj": totals, "skipped": skipped,
            "settings": asdict(settings)}
