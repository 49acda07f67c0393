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
  ``recurrent_layer_macs`` raises), so a fused layer costs only its weight products there,
  its hidden states taken as non-zero; it counts a cell called without ``hx`` for the
  batch's first sample only (or fails), so equality holds for cells given ``hx``.
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
    """The hidden half, then the input half (with NeuroBench's gate products under
    effective operations)."""
    x = _argument(args, kwargs, 0, "input")
    hx = _argument(args, kwargs, 1, "hx")
    if hx is None:   # PyTorch's initial state
        zeros = x.new_zeros((*x.shape[:-1], module.hidden_size))
        hx = (zeros, zeros) if isinstance(module, nn.LSTMCell) else zeros
    h, c = hx if isinstance(module, nn.LSTMCell) else (hx, None)
    gates = next((ops for cls, ops in _GATE_OPS.items() if isinstance(module, cls)), None)
    into_gates = LayerCall(_CELL_INPUT, SimpleNamespace(
        out_features=module.weight_ih.shape[0], weight=module.weight_ih, cell=module, h=h, c=c,
        gates=gates), x, (*x.shape[:-1], module.weight_ih.shape[0]))
    return [weight_call(h, module.weight_hh), into_gates]


# --- NeuroBench 2.3's element-wise gate products ---------------------------------------
def _pattern(cell: nn.RNNCellBase, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """NeuroBench's gate pre-activations with every non-zero weight, input and bias set to
    1: (input-side counts, hidden-side counts, bias_ih + bias_hh), rows = samples."""
    def ones(t: Tensor) -> Tensor:
        return (t != 0).float()   # counts of at most input + hidden + 2: exact
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
    cell_terms = (f & c).float() + (i & g).float()
    return cell_terms.sum(dtype=torch.float64) + (o & (cell_terms != 0)).sum(dtype=torch.float64)


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
    bias_hh_n = (cell.bias_hh[2 * hidden:] != 0).float() if cell.bias else 0.0
    r_term = (r != 0) & ((hh_n + bias_hh_n) != 0)
    bias_ih_2 = (cell.bias_ih[2] != 0).float() if cell.bias else 0.0   # no host sync
    n = (hh_n + bias_ih_2 + r_term.float()) != 0
    h = h.reshape(-1, hidden) != 0
    return sum(t.sum(dtype=torch.float64) for t in (r_term, (z != 1) & n, (z != 0) & h))


_GATE_OPS = {nn.LSTMCell: _lstm_gate_ops, nn.GRUCell: _gru_gate_ops}


class CellInputRule(LinearRule):
    """A cell's input half ``W_ih x``; under effective operations it also carries
    NeuroBench's element-wise gate products of the call (which exist only as effective
    operations, and which NeuroBench classifies by the cell's input)."""

    def effective_pairs(self, geometry, x: Tensor) -> Tensor:
        pairs = super().effective_pairs(geometry, x)
        if geometry.gates is None:
            return pairs
        return pairs + geometry.gates(geometry.cell, x, geometry.h, geometry.c)


_CELL_INPUT = CellInputRule()
