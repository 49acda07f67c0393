"""Recurrent layers (nn.RNN / LSTM / GRU and their cells): hand-derived counts per time step
and sample, ``gates x hidden x (input + hidden)``, and equality with NeuroBench 2.3's
``SynapticOperations`` under ``convention="neurobench"``."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from syops import SyopsCounter, count_syops
from syops.engine.counter import SyopsWarning


@pytest.fixture(autouse=True)
def no_syops_warnings():
    """A rule that fails is reported as a warning (the forward goes on): make it fail."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", SyopsWarning)
        warnings.filterwarnings("ignore", "LSTM with projections", UserWarning)
        yield


class Sequence(nn.Module):
    """A fused recurrent layer whose output sequence is the model output."""

    def __init__(self, rnn: nn.RNNBase):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        return self.rnn(x)[0]


def counted(rnn: nn.RNNBase, x: torch.Tensor, **options):
    return count_syops(Sequence(rnn), x, batch_dim=0 if rnn.batch_first else 1, **options)


# --- the six classes, hand-derived ------------------------------------------------------
@pytest.mark.parametrize("rnn, per_step", [
    (nn.RNN(3, 4), 1 * 4 * (3 + 4)),     # 28
    (nn.LSTM(3, 4), 4 * 4 * (3 + 4)),    # 112
    (nn.GRU(3, 4), 3 * 4 * (3 + 4)),     # 84
])
def test_one_layer_costs_gates_x_hidden_x_input_plus_hidden(rnn, per_step):
    torch.manual_seed(0)
    report = counted(rnn, torch.randn(5, 2, 3))        # T = 5 steps, B = 2 samples
    assert (report.macs, report.acs) == (5 * per_step, 0)
    assert report.not_counted == ()
    assert report.layers.loc[0, "type"] == type(rnn).__name__


def test_batch_first_and_sequence_first_agree():
    torch.manual_seed(0)
    first = nn.GRU(3, 4, batch_first=True)
    second = nn.GRU(3, 4)
    second.load_state_dict(first.state_dict())
    x = torch.randn(2, 5, 3)                            # [B, T, I]
    assert counted(first, x).macs == counted(second, x.transpose(0, 1)).macs == 5 * 84


def test_two_layers():
    torch.manual_seed(0)
    # layer 0: 4 gates x 4 x (3 + 4) = 112; layer 1 takes layer 0's output: 4 x 4 x (4 + 4)
    # = 128; 240 per step, 5 steps
    report = counted(nn.LSTM(3, 4, num_layers=2), torch.randn(5, 2, 3))
    assert (report.macs, report.acs) == (5 * 240, 0)


def test_bidirectional_two_layers():
    torch.manual_seed(0)
    # layer 0, each direction: 3 x 4 x (3 + 4) = 84, both 168; layer 1 takes both
    # directions' outputs (8 features): 3 x 4 x (8 + 4) = 144 per direction, 288; 456 a step
    report = counted(nn.GRU(3, 4, num_layers=2, bidirectional=True), torch.randn(5, 2, 3))
    assert report.macs == 5 * 456


def test_lstm_projection():
    torch.manual_seed(0)
    # hidden 5, projection 2: W_ih 4 x 5 x 3 = 60, W_hh reads the projection: 4 x 5 x 2 = 40,
    # W_hr 2 x 5 = 10; 110 a step. Layer 1 takes the projection (2): 4 x 5 x 2 = 40, + 40 + 10
    report = counted(nn.LSTM(3, 5, proj_size=2), torch.randn(5, 2, 3))
    assert report.macs == 5 * 110
    report = counted(nn.LSTM(3, 5, proj_size=2, num_layers=2, bidirectional=True),
                     torch.randn(5, 2, 3))
    # layer 1's input is both directions' projections (4): 4 x 5 x 4 = 80, + 40 + 10 = 130
    assert report.macs == 5 * (2 * 110 + 2 * 130)


def test_spike_input_costs_acs_for_its_ones():
    torch.manual_seed(0)
    x = torch.zeros(2, 2, 3)                             # T = 2, B = 2, I = 3
    x[0, 0, 0] = x[0, 0, 2] = x[1, 0, 2] = x[1, 1, 1] = 1.0   # 3 ones in sample 0, 1 in 1
    for mode in ("exact", "rate"):
        report = counted(nn.LSTM(3, 4), x, mode=mode)
        # input half: every one meets 16 weights (4 gates x 4): (3 + 1) x 16 / 2 samples;
        # recurrent half (hidden states are multi-level): 2 steps x 16 x 4 = 128 MACs
        assert (report.acs, report.macs) == (4 * 16 / 2, 128)


class Packed(nn.Module):
    """Pads are skipped: the GRU runs each sequence for its own length."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(3, 4, batch_first=True)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        return self.rnn(packed)[1][-1]


def test_packed_sequence_costs_the_real_steps():
    torch.manual_seed(0)
    model = Packed()
    x = torch.randn(2, 5, 3)
    with torch.no_grad(), SyopsCounter(model) as counter:
        model(x, torch.tensor([5, 3]))
    report = counter.report()
    # 5 + 3 = 8 real steps of 3 x 4 x (3 + 4) = 84, over 2 samples (not 2 x 5 padded steps)
    assert (report.macs, report.acs) == (8 * 84 / 2, 0)
    assert report.not_counted == ()


def test_per_sample_figures_do_not_depend_on_the_batch_size():
    torch.manual_seed(0)
    rnn = nn.LSTM(3, 4, num_layers=2, batch_first=True)
    x = (torch.rand(6, 4, 3) < 0.3).float()
    whole = counted(rnn, x)
    for size in (1, 2, 3):
        report = count_syops(Sequence(rnn), list(x.split(size)))
        assert (report.acs, report.macs) == (whole.acs, whole.macs)


# --- cells ------------------------------------------------------------------------------
class CellLoop(nn.Module):
    """A cell run over the time steps of ``[B, T, I]``; its first step gets no ``hx`` unless
    ``zero_state`` (then an explicit zero state)."""

    def __init__(self, cell: nn.RNNCellBase, zero_state: bool = False):
        super().__init__()
        self.cell, self.zero_state = cell, zero_state

    def forward(self, x):
        state = None
        if self.zero_state:
            zeros = x.new_zeros(x.shape[0], self.cell.hidden_size)
            state = (zeros, zeros.clone()) if isinstance(self.cell, nn.LSTMCell) else zeros
        for t in range(x.shape[1]):
            state = self.cell(x[:, t]) if state is None else self.cell(x[:, t], state)
        return state[0] if isinstance(state, tuple) else state


@pytest.mark.parametrize("cell, gates", [(nn.RNNCell(3, 4), 1), (nn.LSTMCell(3, 4), 4),
                                         (nn.GRUCell(3, 4), 3)])
@pytest.mark.parametrize("zero_state", [False, True])
def test_cell_loop_costs_every_step_but_the_zero_state(cell, gates, zero_state):
    torch.manual_seed(0)
    report = count_syops(CellLoop(cell, zero_state), torch.randn(2, 5, 3))
    # every step: input half gates x 4 x 3 MACs; the hidden half, gates x 4 x 4, costs MACs
    # from step 1 on; the first step's state, missing or given, is zeros: a spike tensor of
    # no ones, 0 ACs (its dense count is in the dense figure)
    assert (report.macs, report.acs) == (5 * gates * 12 + 4 * gates * 16, 0)
    assert (report.syops, report.spike_syops) == (5 * gates * (12 + 16), gates * 16)
    assert report.not_counted == ()


def test_cell_hidden_input_is_classified_by_its_values():
    torch.manual_seed(0)
    cell = nn.RNNCell(3, 4)
    h = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    with torch.no_grad(), SyopsCounter(cell) as counter:
        cell(torch.randn(1, 3), h)
    report = counter.report()
    # input: 4 x 3 = 12 MACs; hidden spikes: 2 ones x 4 weights = 8 ACs
    assert (report.macs, report.acs) == (12, 8)


def test_strict_run_passes_on_every_recurrent_type():
    torch.manual_seed(0)
    model = nn.ModuleDict({"rnn": nn.GRU(3, 4), "cell": nn.LSTMCell(3, 4)})

    class Both(nn.Module):
        def __init__(self):
            super().__init__()
            self.parts = model

        def forward(self, x):                       # x: [T, B, 3]
            out = self.parts["rnn"](x)[0]
            return self.parts["cell"](x[0])[0] + out[-1]

    report = count_syops(Both(), torch.randn(5, 2, 3), batch_dim=1, strict=True)
    # GRU: 5 x 84 = 420; LSTMCell: 4 x 4 x 3 = 48 (no hx: zeros)
    assert (report.macs, report.not_counted) == (420 + 48, ())


# --- NeuroBench -------------------------------------------------------------------------
def neurobench_ops(model: nn.Module, x: torch.Tensor) -> dict:
    """NeuroBench 2.3's SynapticOperations on one batch (per sample)."""
    from neurobench.metrics.workload import SynapticOperations
    from neurobench.models import TorchModel

    wrapped = TorchModel(model)
    wrapped.register_hooks()
    try:
        with torch.no_grad():
            return SynapticOperations()(wrapped, wrapped(x), (x, None))
    finally:
        wrapped.cleanup_hooks()


def pruned(cell: nn.RNNCellBase, seed: int) -> nn.RNNCellBase:
    """Some weights and biases zero, so effective operations skip them."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in cell.parameters():
            p.mul_((torch.rand(p.shape, generator=generator) < 0.6).float())
    return cell


@pytest.mark.parametrize("make", [lambda: nn.RNNCell(3, 4, nonlinearity="relu"),
                                  lambda: nn.LSTMCell(3, 4), lambda: nn.GRUCell(3, 4)])
@pytest.mark.parametrize("seed", [0, 1])
def test_neurobench_convention_equals_neurobench_on_cells(make, seed):
    pytest.importorskip("neurobench")
    torch.manual_seed(seed)
    model = CellLoop(pruned(make(), seed), zero_state=True)   # NeuroBench needs hx given
    levels = torch.randn(2, 5, 3) * (torch.rand(2, 5, 3) < 0.5)
    theirs = neurobench_ops(model, levels)
    ours = count_syops(model, levels, convention="neurobench")
    assert (ours.macs, ours.acs) == (theirs["Effective_MACs"], theirs["Effective_ACs"])
    spikes = (torch.rand(2, 5, 3) < 0.4).float()
    theirs = neurobench_ops(model, spikes)
    ours = count_syops(model, spikes, convention="neurobench")
    # NeuroBench calls every operation of a cell fed spikes an AC, its multi-level hidden
    # state's too; syops classifies the hidden state by its own values: same total
    assert ours.acs + ours.macs == theirs["Effective_ACs"] + theirs["Effective_MACs"]
    assert ours.acs > 0 and theirs["Effective_MACs"] == 0


@pytest.mark.parametrize("seed", range(12))
def test_neurobench_gate_patterns_on_tiny_heavily_pruned_cells(seed):
    """Tiny cells with most weights and biases zero reach NeuroBench's corner cases (a GRU
    z gate of count 1, a zero third element of bias_ih): the totals still agree."""
    pytest.importorskip("neurobench")
    generator = torch.Generator().manual_seed(seed)
    for make in (lambda: nn.RNNCell(2, 2, nonlinearity="relu"), lambda: nn.LSTMCell(2, 2),
                 lambda: nn.GRUCell(2, 3)):
        torch.manual_seed(seed)
        cell = make()
        with torch.no_grad():
            for p in cell.parameters():
                p.mul_((torch.rand(p.shape, generator=generator) < 0.3 + 0.1 * (seed % 5))
                       .float())
        model = CellLoop(cell, zero_state=True)
        x = torch.randn(3, 4, 2) * (torch.rand(3, 4, 2, generator=generator) < 0.5)
        x = (x != 0).float() if seed % 2 else x
        theirs = neurobench_ops(model, x)
        ours = count_syops(model, x, convention="neurobench")
        total = theirs["Effective_ACs"] + theirs["Effective_MACs"]
        assert round((ours.acs + ours.macs) * 3) == round(total * 3)   # integers, 3 samples


def test_neurobench_convention_equals_neurobench_on_a_cell_without_hx():
    pytest.importorskip("neurobench")
    torch.manual_seed(0)
    # NeuroBench 2.3 counts a call without hx for the batch's first sample only, and its
    # LSTM/GRU cells fail without hx: one sample of an RNN cell is where it is defined
    model = CellLoop(pruned(nn.RNNCell(3, 4), 2))
    x = torch.randn(1, 5, 3)
    theirs = neurobench_ops(model, x)
    assert count_syops(model, x, convention="neurobench").macs == theirs["Effective_MACs"]


def test_neurobench_gate_products_of_an_lstm_cell_by_hand():
    torch.manual_seed(0)
    cell = nn.LSTMCell(3, 4)      # every weight and bias non-zero
    x = torch.tensor([[0.5, 0.0, -1.5]])
    with torch.no_grad(), SyopsCounter(cell, effective=True) as counter:
        cell(x)
    # weights: 2 non-zero inputs x 16 = 32; hidden zeros: 0. Gates: every gate non-zero
    # (its bias is), c' = f*c + i*g with c = 0: 4; o * tanh(c'): 4
    assert counter.report().macs == 32 + 4 + 4
    with torch.no_grad(), SyopsCounter(cell) as counter:
        cell(x)
    assert counter.report().macs == 16 * 3   # the default: no gate products, dense input


def test_neurobench_convention_on_a_fused_layer_by_hand():
    rnn = nn.RNN(2, 2, bias=False)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.tensor([[1.0, 0.0], [0.0, 0.0]]))   # feature 0: 1 weight
        rnn.weight_hh_l0.copy_(torch.tensor([[1.0, 1.0], [0.0, 1.0]]))   # 3 non-zero
    x = torch.tensor([[[0.5, 0.0]], [[0.0, 0.0]], [[0.3, 0.7]]])           # [T=3, B=1, 2]
    report = counted(rnn, x, convention="neurobench")
    # input half: step 0 feature 0 (1 weight), step 1 nothing, step 2 features 0 and 1
    # (1 + 0): 2. Recurrent half, hidden states not visible: 3 steps x 3 weights = 9
    assert (report.macs, report.acs) == (2 + 9, 0)


def test_spiking_neurons_feed_a_gru_and_an_lstm_cell():
    from spikingjelly.activation_based import functional, layer, neuron

    class Hybrid(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = layer.Linear(3, 6)
            self.sn = neuron.IFNode(step_mode="m", v_threshold=0.1)
            self.rnn = nn.GRU(6, 4)
            self.cell = nn.LSTMCell(6, 4)

        def forward(self, x):                       # [T, B, 3]
            spikes = self.sn(self.fc(x))
            state = None
            for t in range(spikes.shape[0]):
                state = (self.cell(spikes[t]) if state is None
                         else self.cell(spikes[t], state))
            return self.rnn(spikes)[0][-1] + state[0]

    torch.manual_seed(0)
    model, x = Hybrid(), torch.randn(4, 2, 3)        # T = 4, B = 2
    report = count_syops(model, x, batch_dim=1)
    with torch.no_grad():
        ones = float(model.sn(model.fc(x)).sum())
    functional.reset_net(model)
    assert ones > 0
    rows = report.layers.set_index("name")
    # GRU: every spike meets 3 x 4 = 12 weights; recurrent half 4 steps x 12 x 4 = 192 MACs
    assert (rows.loc["rnn", "acs"], rows.loc["rnn", "macs"]) == (ones * 12 / 2, 192)
    # LSTM cell: every spike meets 16 weights; hidden half from step 1: 3 x 16 x 4 = 192 MACs
    assert (rows.loc["cell", "acs"], rows.loc["cell", "macs"]) == (ones * 16 / 2, 192)


def test_keyword_arguments_and_a_given_initial_state():
    torch.manual_seed(0)
    cell, x, h = nn.RNNCell(3, 4), torch.randn(2, 3), torch.tensor([[1.0, 0, 0, 0]] * 2)
    with torch.no_grad(), SyopsCounter(cell) as counter:
        cell(input=x, hx=h)
    # input 4 x 3 = 12 MACs; hidden spikes: one 1 per sample x 4 weights = 4 ACs
    assert (counter.report().macs, counter.report().acs) == (12, 4)
    lstm = nn.LSTM(3, 4)
    state = (torch.randn(1, 2, 4), torch.randn(1, 2, 4))
    with torch.no_grad(), SyopsCounter(lstm, batch_dim=1) as counter:
        lstm(input=torch.randn(5, 2, 3), hx=state)
    # the first step's state is a hidden state like the others: 5 x 112, as without it
    assert counter.report().macs == 5 * 112
