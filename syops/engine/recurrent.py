"""Recurrent layers: the products of one call of ``nn.RNN``/``LSTM``/``GRU`` or their cells.

The synaptic operations are the weight applications: per time step and sample,
``gates x hidden x (input + hidden)`` (gates: 1 RNN, 4 LSTM, 3 GRU, read off the weight
shapes); with an LSTM's ``proj_size`` the recurrent input is the projection and the
projection itself (``proj x hidden``) is counted. Bias additions are not counted.

- A fused layer (``nn.LSTM``...): its first layer's input half ``W_ih x`` is classified by
  ``x`` like any call site (spikes cost ACs for their non-zero inputs); every hidden state,
  and so the recurrent half and the input half of layers 2+, is multi-level and not visible
  between steps: dense MACs, every step (the first one's state included). A packed sequence
  costs its real steps, not the padded length.
- A cell (``nn.LSTMCell``...): input and hidden state are call inputs like any other, each
  classified by its values. A missing ``hx`` is the zeros PyTorch uses: a zero (spike)
  tensor, so it costs no AC, its dense count still in the dense figure.
- Under effective operations (``convention="neurobench"``) a cell also costs NeuroBench
  2.3's element-wise gate products (LSTM ``f*c``, ``i*g``, ``o*tanh(c)``; GRU ``r*(W_hn h)``,
  ``(1-z)*n``, ``z*h``), which NeuroBench counts from the non-zero pattern of the gates: they
  exist only as effective operations (their dense count is 0) and, as in NeuroBench, are
  classified by the cell's input ``x``. NeuroBench cannot count fused layers (its
  ``recurrent_layer_macs`` raises), so a fused layer costs only its weight products there.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from syops.engine.ops import LayerCall, Product, matmul_contraction, register_module_products
from syops.engine.rules import LinearRule

_LINEAR = LinearRule()


def _argument(args: tuple, kwargs: dict, position: int, name: str):
    return args[position] if len(args) > position else kwargs.get(name)


def weight_call(x: Tensor, weight: Tensor) -> LayerCall:
    """``x @ weight.T`` as a linear call, classified by the values of ``x``."""
    geometry = SimpleNamespace(out_features=weight.shape[0], weight=weight)
    return LayerCall(_LINEAR, geometry, x, (*x.shape[:-1], weight.shape[0]))


def hidden_product(rows: int, weight: Tensor) -> Product:
    """``rows`` multi-level vectors (hidden states a fused layer never shows) times
    ``weight.T``: dense MACs."""
    return matmul_contraction(None, weight.t(), a_shape=(rows, weight.shape[1]), b_fixed=True)


@register_module_products(nn.RNN, nn.LSTM, nn.GRU)
def fused_products(module: nn.RNNBase, args: tuple, kwargs: dict, output) -> list[Product]:
    """Every layer and direction: the input half (the data for layer 0, the previous
    layer's output above), the recurrent half and an LSTM's projection."""
    x = _argument(args, kwargs, 0, "input")
    data = x.data if isinstance(x, PackedSequence) else x
    rows = data.numel() // data.shape[-1]   # (step, sample) pairs really run
    hidden: list[Product] = []
    inputs: list[Product] = []   # last, so the report shows the layer's input shape
    for layer in range(module.num_layers):
        for suffix in ("", "_reverse")[:2 if module.bidirectional else 1]:
            w_ih = getattr(module, f"weight_ih_l{layer}{suffix}")
            if layer == 0:
                inputs.append(weight_call(data, w_ih))
            else:
                hidden.append(hidden_product(rows, w_ih))
            hidden.append(hidden_product(rows, getattr(module, f"weight_hh_l{layer}{suffix}")))
            if module.proj_size > 0:
                hidden.append(hidden_product(rows, getattr(module, f"weight_hr_l{layer}{suffix}")))
    return hidden + inputs


@register_module_products(nn.RNNCell, nn.LSTMCell, nn.GRUCell)
def cell_products(module: nn.RNNCellBase, args: tuple, kwargs: dict, output) -> list[Product]:
    """The hidden and input halves, and NeuroBench's gate products (effective only)."""
    x = _argument(args, kwargs, 0, "input")
    hx = _argument(args, kwargs, 1, "hx")
    if hx is None:   # PyTorch's initial state
        zeros = x.new_zeros((*x.shape[:-1], module.hidden_size))
        hx = (zeros, zeros) if isinstance(module, nn.LSTMCell) else zeros
    h, c = hx if isinstance(module, nn.LSTMCell) else (hx, None)
    products: list[Product] = [weight_call(h, module.weight_hh), weight_call(x, module.weight_ih)]
    gates = next((ops for cls, ops in _GATE_OPS.items() if isinstance(module, cls)), None)
    if gates is not None:
        geometry = SimpleNamespace(cell=module, h=h, c=c, count=gates)
        products.append(LayerCall(_GATES, geometry, x, tuple(h.shape)))
    return products


# --- NeuroBench 2.3's element-wise gate products ---------------------------------------
def _pattern(cell: nn.RNNCellBase, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """NeuroBench's gate pre-activations with every non-zero weight, input and bias set to
    1: (input-side counts, hidden-side counts, bias_ih + bias_hh), rows = samples."""
    def ones(t: Tensor) -> Tensor:
        return (t != 0).double()
    x, h = ones(x.reshape(-1, x.shape[-1])), ones(h.reshape(-1, h.shape[-1]))
    from_x, from_h = x @ ones(cell.weight_ih).t(), h @ ones(cell.weight_hh).t()
    if not cell.bias:
        return from_x, from_h, torch.zeros_like(from_x[0])
    return from_x, from_h, ones(cell.bias_ih) + ones(cell.bias_hh)


def _lstm_gate_ops(cell: nn.LSTMCell, x: Tensor, h: Tensor, c: Tensor) -> Tensor:
    """``c' = f*c + i*g`` (each non-zero pair of each term, so one element may count 2) and
    ``o * tanh(c')`` (non-zero o where c' is non-zero)."""
    from_x, from_h, bias = _pattern(cell, x, h)
    i, f, g, o = ((from_x + from_h + bias) != 0).chunk(4, dim=-1)
    c = (c.reshape(-1, c.shape[-1]) != 0)
    cell_terms = (f & c).double() + (i & g).double()
    return cell_terms.sum() + (o & (cell_terms != 0)).double().sum()


def _gru_gate_ops(cell: nn.GRUCell, x: Tensor, h: Tensor, c: None) -> Tensor:
    """``r * (W_hn h + b_hn)``, ``(1 - z) * n`` and ``z * h``, with NeuroBench 2.3's own
    reading of the gates: ``1 - z`` is taken of z's count (zero only when it is 1), and n's
    pattern is the hidden-side count of n, plus the third element of the binarised
    ``bias_ih``, plus the r term."""
    from_x, from_h, bias = _pattern(cell, x, h)
    hidden = cell.hidden_size
    gates = from_x + from_h + bias
    r, z = gates[:, :hidden], gates[:, hidden:2 * hidden]
    hh_n = from_h[:, 2 * hidden:]
    bias_hh_n = (cell.bias_hh[2 * hidden:] != 0).double() if cell.bias else 0.0
    r_term = (r != 0) & ((hh_n + bias_hh_n) != 0)
    bias_ih_2 = (cell.bias_ih[2] != 0).double() if cell.bias else 0.0   # no host sync
    n = (hh_n + bias_ih_2 + r_term.double()) != 0
    h = h.reshape(-1, hidden) != 0
    return r_term.double().sum() + ((z != 1) & n).double().sum() + ((z != 0) & h).double().sum()


_GATE_OPS = {nn.LSTMCell: _lstm_gate_ops, nn.GRUCell: _gru_gate_ops}


class GateProductsRule:
    """NeuroBench's element-wise gate products of one cell call: effective operations only
    (dense 0, so no AC or MAC outside ``effective=True``), classified by the cell's input."""

    synaptic = True
    count_dims = 0

    def dense(self, geometry, x, y) -> int:
        return 0

    def spike_pairs(self, geometry, ones: Tensor, cache: dict) -> Tensor:
        return ones * 0

    def effective_pairs(self, geometry, x: Tensor) -> Tensor:
        return geometry.count(geometry.cell, x, geometry.h, geometry.c).to(torch.float64)

    def output_shape(self, geometry, x: Tensor) -> tuple[int, ...]:
        return tuple(geometry.h.shape)


_GATES = GateProductsRule()
