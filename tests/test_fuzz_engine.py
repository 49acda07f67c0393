"""Property-based checks of the counting engine against a brute-force reference (issue 13).

Random Conv1d/2d/3d, ConvTranspose1d/2d and Linear layers (stride, padding with its modes,
'same'/'valid', dilation, groups, output_padding, bias) are counted with
``count_syops(layer, x, classify="observed")`` on inputs that are bool, float16, bfloat16,
float32, all zero, integer-valued 0..3, or empty. The reference below loops over output
positions and kernel taps (or, for a transposed conv, input positions and taps):

- a (non-zero input, weight) pair counts when its output position lies inside the output;
  padded positions hold what the padding mode puts there (copies of inputs for reflect,
  replicate and circular, zero otherwise);
- dense SyOPs: every (output position, tap) of a conv, every (input, tap) of a transposed
  conv whose output position lies inside the output (what a dense input would cost), every
  (input, output feature) of a linear layer, times the channels they join;
- an input whose values are all 0/1 is spikes (ACs = pairs, MACs 0); otherwise the call
  costs dense MACs and no ACs.

``SYOPS_FUZZ_EXAMPLES`` raises the number of examples (default ``EXAMPLES``).
"""

import itertools
import os

import numpy as np
import pytest
import torch
from torch import nn

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from syops import count_syops  # noqa: E402

# Single layers on 0/1 inputs, with no neuron: the counter rightly warns; torch warns that
# 'same' padding with an even kernel copies the input. Neither is news here.
pytestmark = [pytest.mark.filterwarnings("ignore:no spiking neuron recognised"),
              pytest.mark.filterwarnings("ignore:Using padding='same'")]

LONG_RUN = "SYOPS_FUZZ_EXAMPLES" in os.environ
EXAMPLES = int(os.environ.get("SYOPS_FUZZ_EXAMPLES", 100))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not LONG_RUN, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
INPUT_KINDS = ("bool", "float32", "float16", "bfloat16", "zeros", "levels", "empty")
NUMPY_PAD = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}
CONVS = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
TRANSPOSED = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d}
MAX_SIDE = {1: 7, 2: 6, 3: 4}


def accepting_bool(cls: type) -> type:
    """A subclass of a layer type that takes bool spikes (cast to its weight's dtype), as
    SpikingJelly users' layers sometimes do; the counter sees the bool input."""
    def forward(self, x):
        return cls.forward(self, x.to(self.weight.dtype))
    return type(f"Bool{cls.__name__}", (cls,), {"forward": forward})


BOOL_TYPES = {cls: accepting_bool(cls) for cls in [*CONVS.values(), *TRANSPOSED.values(),
                                                    nn.Linear]}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny layers: torch's thread pool only adds contention (10x slower on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------- the brute-force reference
def _pad_amounts(layer, dims: int):
    """(left, right) padding per spatial dim, as torch applies it ('same': extra on the right)."""
    if layer.padding == "valid":
        return [(0, 0)] * dims
    if layer.padding == "same":
        total = [d * (k - 1) for d, k in zip(layer.dilation, layer.kernel_size)]
        return [(t // 2, t - t // 2) for t in total]
    return [(p, p) for p in layer.padding]


def conv_reference(layer, nonzero: np.ndarray, out_sizes):
    """(pairs, dense) of a conv over ``nonzero`` [B, Cin, *S]: loop over output positions
    and taps, reading the padded input (padding modes copy inputs, zeros add nothing)."""
    dims = nonzero.ndim - 2
    pads = [(0, 0), (0, 0)] + _pad_amounts(layer, dims)
    padded = np.pad(nonzero.astype(np.int64), pads, mode=NUMPY_PAD[layer.padding_mode])
    per_input_channel = padded.sum(axis=0)  # [Cin, *padded S], summed over the batch
    pairs = 0
    for position in itertools.product(*(range(o) for o in out_sizes)):
        for tap in itertools.product(*(range(k) for k in layer.kernel_size)):
            index = tuple(p * s + t * d for p, s, t, d in
                          zip(position, layer.stride, tap, layer.dilation))
            pairs += int(per_input_channel[(slice(None),) + index].sum())
    fan_out = layer.out_channels // layer.groups
    taps = int(np.prod(layer.kernel_size))
    dense = nonzero.shape[0] * int(np.prod(out_sizes)) * layer.out_channels * \
        (layer.in_channels // layer.groups) * taps
    return pairs * fan_out, dense


def transposed_reference(layer, nonzero: np.ndarray, out_sizes):
    """(pairs, dense) of a transposed conv: loop over input positions and taps; input i with
    tap t writes output i * stride + t * dilation - padding, counted when inside the output."""
    per_position = nonzero.astype(np.int64).sum(axis=(0, 1))  # [*S]
    pairs = dense = 0
    for position in itertools.product(*(range(n) for n in per_position.shape)):
        for tap in itertools.product(*(range(k) for k in layer.kernel_size)):
            if all(0 <= i * s + t * d - p < size for i, t, size, s, d, p in
                   zip(position, tap, out_sizes, layer.stride, layer.dilation, layer.padding)):
                pairs += int(per_position[position])
                dense += nonzero.shape[0] * nonzero.shape[1]
    fan_out = layer.out_channels // layer.groups
    return pairs * fan_out, dense * fan_out


def linear_reference(layer, nonzero: np.ndarray):
    return int(nonzero.sum()) * layer.out_features, nonzero.size * layer.out_features


def reference(layer, x: torch.Tensor, y: torch.Tensor):
    """(acs, macs, dense) totals over the batch, by the rules in the module docstring."""
    values = x.detach().to(torch.float64).numpy()
    nonzero = values != 0
    if isinstance(layer, nn.Linear):
        pairs, dense = linear_reference(layer, nonzero)
    elif isinstance(layer, tuple(TRANSPOSED.values())):
        pairs, dense = transposed_reference(layer, nonzero, y.shape[2:])
    else:
        pairs, dense = conv_reference(layer, nonzero, y.shape[2:])
    spikes = bool(np.isin(values, (0.0, 1.0)).all())
    return (pairs, 0, dense) if spikes else (0, dense, dense)


# ---------------------------------------------------------------- strategies
def _per_dim(draw, dims, low, high):
    return tuple(draw(st.integers(low, high)) for _ in range(dims))


@st.composite
def conv_layers(draw, dims: int, transposed: bool):
    """A conv (or transposed conv) layer of random geometry and the input's spatial size."""
    groups = draw(st.sampled_from([1, 2]))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = _per_dim(draw, dims, 1, 3)
    stride = _per_dim(draw, dims, 1, 3)
    dilation = _per_dim(draw, dims, 1, 2)
    size = _per_dim(draw, dims, 1, MAX_SIDE[dims])
    bias = draw(st.booleans())
    if transposed:
        padding = _per_dim(draw, dims, 0, 2)
        output_padding = tuple(draw(st.integers(0, max(s, d) - 1))
                               for s, d in zip(stride, dilation))
        layer = TRANSPOSED[dims](cin, cout, kernel, stride=stride, padding=padding,
                                 output_padding=output_padding, groups=groups,
                                 dilation=dilation, bias=bias)
    else:
        padding = draw(st.one_of(st.sampled_from(["valid", "same"]),
                                 st.builds(tuple, st.lists(st.integers(0, 2), min_size=dims,
                                                           max_size=dims))))
        if padding == "same":
            stride = (1,) * dims  # torch allows 'same' only with stride 1
        mode = draw(st.sampled_from(list(NUMPY_PAD)))
        layer = CONVS[dims](cin, cout, kernel, stride=stride, padding=padding, dilation=dilation,
                            groups=groups, bias=bias, padding_mode=mode)
    return layer, (cin, *size)


@st.composite
def linear_layers(draw):
    features = draw(st.integers(1, 6))
    layer = nn.Linear(features, draw(st.integers(1, 4)), bias=draw(st.booleans()))
    middle = draw(st.sampled_from([(), (3,)]))  # [B, F] or [B, N, F]
    return layer, (*middle, features)


@st.composite
def inputs(draw, sample_shape):
    """(kind, batch x) for a layer taking ``sample_shape`` per sample."""
    kind = draw(st.sampled_from(INPUT_KINDS))
    batch = 0 if kind == "empty" else draw(st.integers(1, 2))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    density = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
    shape = (batch, *sample_shape)
    ones = rng.random(shape) < density
    if kind == "levels":
        values = torch.from_numpy(rng.integers(0, 4, shape) * ones).float()
    elif kind == "zeros":
        values = torch.zeros(shape)
    else:
        values = torch.from_numpy(ones).float()
    dtype = {"bool": torch.bool, "float16": torch.float16, "bfloat16": torch.bfloat16}
    return kind, values.to(dtype.get(kind, torch.float32))


# ---------------------------------------------------------------- the property
def prepared(layer: nn.Module, kind: str, x: torch.Tensor) -> nn.Module:
    """The layer in the input's dtype (bool: a subclass that casts its input)."""
    if kind == "bool":
        bool_layer = BOOL_TYPES[type(layer)].__new__(BOOL_TYPES[type(layer)])
        bool_layer.__dict__.update(layer.__dict__)
        return bool_layer.eval()
    if x.dtype in (torch.float16, torch.bfloat16):
        return layer.to(x.dtype).eval()
    return layer.eval()


def check_counts(layer: nn.Module, kind: str, x: torch.Tensor) -> None:
    layer = prepared(layer, kind, x)
    try:
        with torch.no_grad():
            y = layer(x)
    except RuntimeError:
        assume(False)  # a geometry torch itself rejects (input smaller than the kernel, ...)
    if kind == "empty":
        with pytest.raises(ValueError, match="empty"):
            count_syops(layer, x, classify="observed")
        return
    report = count_syops(layer, x, classify="observed")
    assert len(report.layers) == 1 and report.samples == x.shape[0]
    row = report.layers.iloc[0]
    acs, macs, dense = reference(layer, x, y)
    got = [row.acs * report.samples, row.macs * report.samples, row.syops * report.samples]
    assert got == pytest.approx([acs, macs, dense], abs=1e-6), \
        f"{layer} on {kind} {list(x.shape)}: (acs, macs, syops) {got} != {[acs, macs, dense]}"


@pytest.mark.parametrize("dims, transposed", [(1, False), (2, False), (3, False),
                                               (1, True), (2, True)])
def test_conv_counts_match_brute_force(dims, transposed):
    @FUZZ
    @given(data=st.data())
    def fuzz(data):
        layer, sample_shape = data.draw(conv_layers(dims, transposed))
        check_counts(layer, *data.draw(inputs(sample_shape)))
    fuzz()


@FUZZ
@given(data=st.data())
def test_linear_counts_match_brute_force(data):
    layer, sample_shape = data.draw(linear_layers())
    check_counts(layer, *data.draw(inputs(sample_shape)))


# ---------------------------------------------------------------- the reference itself
def test_reference_on_hand_derived_cases():
    """The brute force agrees with counts derived by hand (tests/test_counting.py)."""
    conv = nn.Conv2d(1, 4, 3, padding=1)
    x = torch.zeros(1, 1, 6, 6)
    x[0, 0, 0, 0] = x[0, 0, 2, 3] = 1
    assert reference(conv, x, conv(x)) == (4 * (4 + 9), 0, 4 * 324)
    circular = nn.Conv1d(1, 1, 3, padding=1, padding_mode="circular")
    x = torch.zeros(1, 1, 6)
    x[0, 0, 0] = 1
    assert reference(circular, x, circular(x))[0] == 3
    # ConvTranspose1d(k=3, padding=1) on 4 ones: output length 4; input 0 reaches outputs
    # -1, 0, 1 (2 inside), inputs 1 and 2 three each, input 3 reaches 2, 3, 4 (2 inside).
    deconv = nn.ConvTranspose1d(1, 1, 3, padding=1)
    x = torch.ones(1, 1, 4)
    assert reference(deconv, x, deconv(x)) == (2 + 3 + 3 + 2, 0, 10)
    x[0, 0, 1] = 2.0
    assert reference(deconv, x, deconv(x)) == (0, 10, 10)
