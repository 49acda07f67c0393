"""Spiking transformers: parameters vs the papers, structure, forward shapes, BN folding,
MACs of the layers counted as modules (hand-derived), and ``reproduce table4 --small``."""

import contextlib
import io

import pytest
import torch
from spikingjelly.activation_based import neuron, surrogate
from torch import nn

from syops import count_syops, reproduce
from syops.fold import folded_batchnorms
from syops.models import create_model, model_info
from syops.models import transformers as tf
from syops.models.connect import get_connect

CIFAR = ["spikformer_4_384", "fsnn_spikformer_4_384", "dsnn_spikformer_4_384"]
IMAGENET = ["spikformer_8_384", "spikformer_8_512", "spikformer_8_768", "spikingformer_8_512",
            "sdt_8_512", "sdt_8_768"]
MODULE_TYPES = ("Conv1d", "Conv2d", "Linear")
"""Layers counted as modules; products written as functional ops are left out of the sums
below so that the figures hold whether or not the engine counts those ops."""


def parameters(name: str, **overrides) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in create_model(name, **overrides).parameters())


def small(name: str, **overrides):
    """A cheap instance: T = 2, 16 x 16 (CIFAR) or 32 x 32 (ImageNet) images, 5 classes."""
    size = 16 if model_info(name).dataset == "cifar100" else 32
    options = {"T": 2, "image_size": size, "num_classes": 5, **overrides}
    torch.manual_seed(0)
    return create_model(name, **options).eval(), model_info(name, **options)


def module_macs(report) -> dict[str, float]:
    layers = report.layers
    layers = layers[layers["type"].isin(MODULE_TYPES) & (layers["macs"] > 0)]
    return dict(zip(layers["name"], layers["macs"]))


# --- parameters -----------------------------------------------------------------------------

# Hand derivation, following the official code (biases and the never-applied LayerNorms included).
# SPS of width D: convs 3x3 3->D/8->D/4->D/2->D and the RPE D->D, no bias, 9 * (3 D/8 + D^2/32
#   + D^2/8 + D^2/2 + D^2) weights, BN 2 * (D/8 + D/4 + D/2 + 2 D); D = 384: 2,199,312 + 2,208
#   = 2,201,520; D = 512: 3,909,888 + 2,368 = 3,912,256; D = 768: 8,794,656 + 4,416 = 8,799,072.
# Block: q, k, v (bias in the CIFAR code only), proj with bias, fc1 D->4D and fc2 4D->D with
#   bias, BN 2 * (4 D + 4 D + D), LayerNorms 4 D.
#   CIFAR D = 384: 4 * 147,840 + 591,360 + 590,208 + 6,912 + 1,536 = 1,781,376
#   ImageNet D = 384: 3 * 147,456 + 147,840 + 591,360 + 590,208 + 6,912 + 1,536 = 1,780,224
#   D = 512: 3 * 262,144 + 262,656 + 1,050,624 + 1,049,088 + 9,216 + 2,048 = 3,160,064
#   D = 768: 3 * 589,824 + 590,592 + 2,362,368 + 2,360,064 + 13,824 + 3,072 = 7,099,392
# Head: D * classes + classes.
#   spikformer_4_384 = 2,201,520 + 4 * 1,781,376 + 38,500 = 9,365,524 (CIFAR-10 head: 9,330,874)
#   spikformer_8_384 = 2,201,520 + 8 * 1,780,224 + 385,000 = 16,828,312
#   spikformer_8_512 = 3,912,256 + 8 * 3,160,064 + 513,000 = 29,705,768
#   spikformer_8_768 = 8,799,072 + 8 * 7,099,392 + 769,000 = 66,363,208
# Spikingformer: same layers (its last tokenizer conv plays the RPE's part): 29,705,768, the
#   count its authors' log prints. SDT: no LayerNorms, q/k/v without bias, plus the never-applied
#   talking-heads Conv1d(8, 8, 1) = 64: block D = 512: 3,160,064 - 2,048 + 64 = 3,158,080;
#   D = 768: 7,099,392 - 3,072 + 64 = 7,096,384.
#   sdt_8_512 = 3,912,256 + 8 * 3,158,080 + 513,000 = 29,689,896
#   sdt_8_768 = 8,799,072 + 8 * 7,096,384 + 769,000 = 66,339,144
PARAMS = [
    ("spikformer_4_384", {}, 9_365_524, None),
    ("spikformer_4_384", {"num_classes": 10}, 9_330_874, 9.32e6),  # Spikformer paper, CIFAR
    ("fsnn_spikformer_4_384", {}, 9_365_524, None),
    ("dsnn_spikformer_4_384", {}, 9_365_524, None),
    ("spikformer_8_384", {}, 16_828_312, 16.81e6),
    ("spikformer_8_512", {}, 29_705_768, 29.68e6),
    ("spikformer_8_768", {}, 66_363_208, 66.34e6),
    ("spikingformer_8_512", {}, 29_705_768, 29.68e6),
    ("sdt_8_512", {}, 29_689_896, 29.68e6),
    ("sdt_8_768", {}, 66_339_144, 66.34e6),
]


@pytest.mark.parametrize("name, overrides, count, published", PARAMS)
def test_parameters_follow_the_code_and_the_papers(name, overrides, count, published):
    assert parameters(name, **overrides) == count
    if published is not None:
        assert abs(count / published - 1) < 0.005


def test_unused_layernorms_are_the_gap_to_the_spikformer_paper():
    with torch.device("meta"):
        model = create_model("spikformer_8_384")
    norms = sum(p.numel() for m in model.modules() if isinstance(m, nn.LayerNorm)
                for p in m.parameters())
    assert norms == 8 * 4 * 384
    # The code's count overshoots the paper's 16.81 M by 0.11 %; without them, by 0.04 %.
    assert 0.001 < 16_828_312 / 16.81e6 - 1 < 0.0012
    assert 0.0003 < (16_828_312 - norms) / 16.81e6 - 1 < 0.0004


# --- structure ------------------------------------------------------------------------------

STRUCTURE = [  # name, dim, depth, heads, stem max-pools, products
    ("spikformer_4_384", 384, 4, 12, 2, "(q @ k^T) @ v"),
    ("spikformer_8_384", 384, 8, 8, 4, "q @ (k^T @ v)"),
    ("spikformer_8_512", 512, 8, 8, 4, "q @ (k^T @ v)"),
    ("spikformer_8_768", 768, 8, 12, 4, "q @ (k^T @ v)"),
    ("spikingformer_8_512", 512, 8, 8, 4, "q @ (k^T @ v)"),
    ("sdt_8_512", 512, 8, 8, 4, "mask"),
    ("sdt_8_768", 768, 8, 8, 4, "mask"),
]


@pytest.mark.parametrize("name, dim, depth, heads, pools, products", STRUCTURE)
def test_dims_depth_heads_stem_and_attention_products(name, dim, depth, heads, pools, products):
    with torch.device("meta"):
        model = create_model(name)
    blocks = [unit for unit in model.units if isinstance(unit, tf.Block)]
    assert len(blocks) == depth
    assert {block.attn.heads for block in blocks} == {heads}
    q_conv = blocks[0].attn.q[0][0]
    assert (q_conv.in_channels, q_conv.out_channels, q_conv.kernel_size) == (dim, dim, (1,))
    fc1 = blocks[0].mlp.body[1 if name.startswith(("spikingformer", "sdt")) else 0][0]
    assert fc1.out_channels == 4 * dim
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.stem.modules()) == pools
    first = model.stem[0][0]
    assert (first.in_channels, first.out_channels, first.kernel_size) == (3, dim // 8, (3, 3))
    mix = blocks[0].attn.mix
    assert (mix.extra_repr() if isinstance(mix, tf.DotProductMix) else "mask") == products
    assert mix.neuron.v_threshold == 0.5


def test_neurons_are_multi_step_lif_as_in_the_official_code():
    model, _ = small("spikformer_4_384")
    neurons = [m for m in model.modules() if isinstance(m, neuron.BaseNode)]
    assert neurons and all(
        isinstance(m, neuron.LIFNode) and m.step_mode == "m" and m.detach_reset and m.tau == 2.0
        and m.v_reset == 0.0 and isinstance(m.surrogate_function, surrogate.Sigmoid)
        for m in neurons)
    # 5 stem LIFs (4 stages + RPE), per block q, k, v, attn, proj and two MLP LIFs.
    assert len(neurons) == 5 + 4 * 7
    assert sorted(m.v_threshold for m in neurons).count(0.5) == 4


def test_residuals_spikformer_joins_with_its_connect_function():
    assert create_model("spikformer_4_384").connect is get_connect("ADD")
    assert create_model("fsnn_spikformer_4_384").connect is get_connect("IAND")
    assert create_model("fsnn_spikformer_4_384", connect="xor").connect is get_connect("XOR")
    assert create_model("spikformer_8_384", connect="IAND").connect is get_connect("IAND")
    with pytest.raises(ValueError, match="no option 'connect'"):
        model_info("sdt_8_512", connect="IAND")


def test_every_residual_of_the_fsnn_is_spike_preserving():
    """The RPE of the patch embedding and both branches of every block: 1 + 2 * 4 joins."""
    model, info = small("fsnn_spikformer_4_384")
    seen = []
    connect = model.connect
    model.connect = lambda out, identity: seen.append(connect(out, identity)) or seen[-1]
    with torch.no_grad():
        model(info.example_input(batch_size=2))
    assert len(seen) == 9
    assert all(((s == 0) | (s == 1)).all() for s in seen)


def test_attention_products_are_the_official_formulas():
    torch.manual_seed(0)
    q, k, v = (torch.randint(0, 2, (2, 1, 3, 5, 4)).float() for _ in range(3))
    for kv_first in (False, True):
        mix = tf.DotProductMix(kv_first)
        mix.neuron = nn.Identity()
        torch.testing.assert_close(mix(q, k, v), (q @ k.transpose(-2, -1)) * 0.125 @ v)
    mask = tf.MaskMix()
    mask.neuron = nn.Identity()
    assert torch.equal(mask(q, k, v), q * (k * v).sum(dim=-2, keepdim=True))


def test_token_layer_equals_the_cifar_codes_linear_with_transposed_batchnorm():
    """Conv1d(kernel 1) + BN1d on [TB, C, N] == BN1d(Linear(x).transpose(-1, -2)) on [TB, N, C]."""
    torch.manual_seed(0)
    linear, bn = nn.Linear(6, 4), nn.BatchNorm1d(4)
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    token = tf.token_conv_bn(6, 4, bias=True)
    token[0].weight.data = linear.weight.data.unsqueeze(-1)
    token[0].bias.data = linear.bias.data
    token[1].load_state_dict(bn.state_dict())
    token.eval(), bn.eval()
    x = torch.randn(2, 3, 5, 6)  # [T, B, N, C]
    official = bn(linear(x.flatten(0, 1)).transpose(-1, -2)).transpose(-1, -2).reshape(2, 3, 5, 4)
    ours = token(x.transpose(-1, -2)).transpose(-1, -2)
    torch.testing.assert_close(ours, official)


@pytest.mark.parametrize("name", CIFAR + IMAGENET)
def test_every_batchnorm_folds(name):
    with torch.device("meta"):
        model = create_model(name)
    batchnorms = {m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}
    assert batchnorms and batchnorms == folded_batchnorms(model)


# --- forward --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", CIFAR + ["spikformer_8_384", "spikingformer_8_512", "sdt_8_512"])
def test_forward_shapes_at_small_size(name):
    """One model per code path (the other sizes differ only in their Spec)."""
    model, info = small(name)
    with torch.no_grad():
        y = model(info.example_input(batch_size=3))
    outputs = y if name.startswith("dsnn") else (y,)
    assert len(outputs) == (2 if name.startswith("dsnn") else 1)
    assert all(logits.shape == (3, 5) for logits in outputs)


def test_image_facing_conv_runs_on_each_of_the_T_copies():
    model, info = small("sdt_8_512")
    shapes = []
    model.stem[0][0].register_forward_hook(lambda m, i, o: shapes.append(i[0].shape))
    with torch.no_grad():
        model(info.example_input(batch_size=3))
    assert shapes == [torch.Size([2 * 3, 3, 32, 32])]


def test_fsnn_is_dsnn_without_the_accumulation_stream():
    dsnn, info = small("dsnn_spikformer_4_384")
    fsnn, _ = small("fsnn_spikformer_4_384")
    assert dsnn.has_accumulation and not fsnn.has_accumulation
    for bn in (m for m in dsnn.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)):
        nn.init.uniform_(bn.bias, 0.0, 4.0)  # LIF (tau 2) needs inputs above 1.3 to fire in 2 steps
    fsnn.load_state_dict(dsnn.state_dict())  # the pathway has no weights of its own
    x = info.example_input(batch_size=2)
    with torch.no_grad():
        spike_logits, accumulation_logits = dsnn(x)
        assert torch.equal(fsnn(x), spike_logits)
        assert not torch.equal(accumulation_logits, spike_logits)
        assert dsnn.drop_accumulation() is dsnn
        assert torch.equal(dsnn(x), spike_logits)


# --- MACs of the module layers --------------------------------------------------------------

# At T = 2, 16 x 16, 5 classes, spikformer_4_384 has N = 4 x 4 = 16 tokens of D = 384:
#   image conv on both copies: 2 * 16*16*48*27 = 663,552; head 384 * 5 = 1,920.
#   ADD: q, k, v and fc1 see residual sums: 2 steps * 4 blocks * 16 * (3*384*384 + 384*1536)
#        = 2 * 4 * 16,515,072 = 132,120,576 in all, 2 * 16 * 147,456 = 4,718,592 per q/k/v,
#        2 * 16 * 589,824 = 18,874,368 per fc1.
#   FSNN: everything after the image conv sees spikes; DSNN: + the head on the accumulation.
STEM, HEAD = 663_552, 1_920
QKV, FC1 = 4_718_592, 18_874_368


def add_spikformer_macs() -> dict[str, float]:
    macs = {"stem.0.0": STEM, "head.fc": HEAD}
    for block in range(1, 5):
        for branch in ("q", "k", "v"):
            macs[f"units.{block}.attn.{branch}.0.0"] = QKV
        macs[f"units.{block}.mlp.body.0.0"] = FC1
    return macs


@pytest.mark.parametrize("name, expected", [
    ("spikformer_4_384", add_spikformer_macs()),
    ("fsnn_spikformer_4_384", {"stem.0.0": STEM, "head.fc": HEAD}),
    ("dsnn_spikformer_4_384", {"stem.0.0": STEM, "head.fc": 2 * HEAD}),
])
def test_module_macs_of_the_cifar_variants_by_hand(name, expected):
    model, info = small(name)
    report = count_syops(model, info.example_input(batch_size=3))  # 3 != T: no layout warning
    assert module_macs(report) == expected
    assert sum(expected.values()) == {"spikformer_4_384": 663_552 + 1_920 + 132_120_576,
                                      "fsnn_spikformer_4_384": 665_472,
                                      "dsnn_spikformer_4_384": 667_392}[name]
    assert report.macs >= sum(expected.values())


def test_module_macs_of_the_membrane_shortcut_nets_by_hand():
    """Spikingformer's head averages the membrane stream (MACs); SDT's head sees spikes.
    Image conv at T = 2, 32 x 32, D = 512: 2 * 32*32*64*27 = 3,538,944."""
    for name, expected in (("spikingformer_8_512", {"stem.0.0": 3_538_944, "head.fc": 512 * 5}),
                           ("sdt_8_512", {"stem.0.0": 3_538_944})):
        model, info = small(name)
        assert module_macs(count_syops(model, info.example_input())) == expected


# Attention products (functional ops, a row per module that runs them), dense per sample at
# T = 2: spikformer_4_384 at 16 x 16 (N = 16, 12 heads of d = 32), (q @ k^T) @ v:
#   2 steps * 12 heads * (16*32*16 + 16*16*32) = 393,216 per block, 4 blocks = 1,572,864;
# spikingformer_8_512 at 32 x 32 (N = 4, 8 heads of d = 64), q @ (k^T @ v):
#   2 * 8 * (64*4*64 + 4*64*64) = 524,288 per block, 8 blocks = 4,194,304;
# sdt_8_512: masks and sums, no product.
@pytest.mark.parametrize("name, dense", [("spikformer_4_384", 1_572_864),
                                         ("spikingformer_8_512", 4_194_304), ("sdt_8_512", 0)])
def test_attention_products_cost_acs_only(name, dense):
    model, info = small(name)
    layers = count_syops(model, info.example_input()).layers
    products = layers[~layers["type"].isin(MODULE_TYPES)]
    assert products["syops"].sum() == dense
    assert (products["macs"] == 0).all()  # one operand of every product is spikes
    assert set(products["name"]) <= {f"units.{i}.attn.mix" for i in range(9)}


@pytest.mark.slow
def test_spikingformer_8_512_costs_the_published_0_347_g_macs():
    """Its authors' log: 0.347329512 G MACs = 4 * 224*224*64*27 (image conv on each copy)
    + 512 * 1000 + 1000 (head, bias included). syops leaves bias additions out."""
    torch.manual_seed(0)
    info = model_info("spikingformer_8_512")
    report = count_syops(create_model("spikingformer_8_512"), info.example_input())
    assert module_macs(report) == {"stem.0.0": 346_816_512, "head.fc": 512_000}
    assert abs(347_328_512 / 347_329_512 - 1) < 0.005
    assert round(report.macs / 1e9, 3) == 0.347


# --- reproduce table4 -----------------------------------------------------------------------

def test_implied_rate_solves_dc_equal_to_the_published_figure():
    published = reproduce.TABLE4[0]  # 5.27 mJ
    row = reproduce.EnergyRow(published, macs=1e9, spike_syops=1e9, ec=(4.6, 5.5))
    assert row.implied_rate == pytest.approx((5.27 - 4.6) / 0.9)
    assert reproduce.EnergyRow(published, 1e9, 1e9, ec=(5.5, 6.4)).implied_rate is None
    assert reproduce.EnergyRow(published, 1e9, 0, ec=(4.6, 4.6)).implied_rate is None


@pytest.mark.slow
def test_table4_small_runs_and_lists_every_published_figure():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert reproduce.main(["table4", "--small"]) == 0
    text = out.getvalue()
    rows = [[cell.strip() for cell in line.strip("│ ").split("│")]
            for line in text.splitlines() if line.startswith("│") and line.split("│")[6].strip()]
    assert [row[5] for row in rows] == ["5.27", "0.82", "0.84", "21.48", "32.07", "7.46", "4.50",
                                        "6.09"]
    # --small: T = 4 at 16 x 16: ADD = 4 * 16*16*48*27 + 4 * 4 * 16,515,072 + 38,400
    #   = 265,606,656; FSNN = 1,327,104 + 38,400.
    assert rows[0][2] == "0.266" and rows[1][2] == "0.001"
    flat = " ".join(text.split())
    assert "--small: reduced inputs" in flat and "implied rate" in flat.lower()
    assert all(f"'{label}':" in flat for label in reproduce.GAP_NOTES)
