"""Named conventions: their options, the differences in words, and their counts on a tiny
net derived by hand."""

import inspect

import pytest
import torch
from cli_helpers import TINY_ARGS, invoke, json_records, one_error_line, tiny  # noqa: F401
from torch import nn

from syops import count_syops
from syops.conventions import CONVENTIONS, convention, convention_options, differences

ENGINE = set(inspect.signature(count_syops).parameters)


def test_the_named_conventions_exist():
    assert {"syops", "aap2023", "spikformer2023", "neurobench", "syops-counter",
            "sj-opcounter"} <= set(CONVENTIONS)
    assert convention_options("syops") == {"mode": "exact", "fuse_bn": True, "bn_macs": 2,
                                           "spikes": "binary", "energy": "fp32"}


@pytest.mark.parametrize("name", sorted(CONVENTIONS))
def test_every_option_is_a_count_syops_argument(name):
    options = convention_options(name)
    if "effective" in options and "effective" not in ENGINE:
        pytest.skip("count_syops has no effective= option yet")
    assert set(options) <= ENGINE


def test_aap2023_keeps_bn_in_its_sew_rows_only():
    assert convention_options("aap2023", "sew")["fuse_bn"] is False
    assert convention_options("aap2023", "fsnn")["fuse_bn"] is True
    assert convention_options("aap2023", None)["fuse_bn"] is True


def test_unknown_convention_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown convention 'snn'; use one of syops, aap2023"):
        convention("snn")


def test_differences_in_words():
    base = convention_options("syops")
    assert differences(convention_options("syops-counter"), base) == [
        "ACs = dense x input firing rate", "BN left in place", "BN 2 MACs per element"]
    assert differences(convention_options("sj-opcounter"), base) == [
        "BN left in place", "BN 1 MAC per element", "energy horowitz-memory"]
    # NeuroBench prices -1/0/1 inputs as ACs (issue 17, W16)
    assert differences(convention_options("neurobench"), base) == [
        "-1/0/1 inputs are spikes", "zero weights skipped"]
    assert differences(convention_options("spikformer2023"), base) == [
        "ACs = dense x input firing rate", "integer inputs (residual sums) cost |k| ACs"]
    assert differences(base, base) == []


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name, macs, memory_pj", [
    ("syops", 72, 0),            # conv: 8 outputs x 9 weights; BN folded
    ("syops-counter", 88, 0),    # + BN 2 MACs x 8 elements
    ("sj-opcounter", 80, 220),   # + BN 1 MAC x 8; conv's 18 and BN's 4 weights read once, 10 pJ
    ("aap2023", 72, 0),
])
def test_counts_under_each_convention_by_hand(name, macs, memory_pj):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.BatchNorm2d(2)).eval()
    report = count_syops(model, torch.rand(1, 1, 4, 4) + 0.5, **convention_options(name))
    assert (report.macs, report.acs) == (macs, 0)
    assert report.energy_breakdown()["memory"] == pytest.approx(memory_pj * 1e-9)


# --- the command line ---------------------------------------------------------------

BN_ELEMENTS = 2 * 4 * 16 * 16  # TinyEventNet: T=2 steps x 4 channels x 16 x 16 per sample


def test_profile_under_a_convention(tiny):
    plain, = json_records("profile", tiny, *TINY_ARGS)
    old, = json_records("profile", tiny, *TINY_ARGS, "--convention", "syops-counter")
    assert (old["convention"], old["mode"], old["fuse_bn"]) == ("syops-counter", "rate", False)
    assert plain["convention"] is None
    assert old["macs"] - plain["macs"] == 2 * BN_ELEMENTS  # BN left in place, 2 MACs each


def test_a_convention_and_its_own_flags_contradict(tiny):
    result = invoke("profile", tiny, *TINY_ARGS, "--convention", "aap2023", "--mode", "exact")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "--convention aap2023 sets the AC mode" in line and "drop --mode or" in line


def test_compare_one_model_under_several_conventions(tiny):
    records = json_records("compare", tiny, *TINY_ARGS, "--conventions", "syops,sj-opcounter")
    assert [r["convention"] for r in records] == ["syops", "sj-opcounter"]
    assert [r["differences"] for r in records] == [
        [], ["BN left in place", "BN 1 MAC per element", "energy horowitz-memory"]]
    assert records[1]["macs"] - records[0]["macs"] == BN_ELEMENTS
    assert records[1]["energy_breakdown_mj"]["memory"] > 0 == records[0]["energy_breakdown_mj"][
        "memory"]
    table = invoke("compare", tiny, *TINY_ARGS, "--conventions", "syops,sj-opcounter")
    assert "differs from first" in table.stdout and "Conventions: syops:" in table.stdout


@pytest.mark.parametrize("args, message", [
    (["--conventions", "syops,snn"], "unknown convention 'snn'"),
    (["--conventions", "syops", "--convention", "aap2023"], "give one NAME and no --convention"),
])
def test_bad_conventions(tiny, args, message):
    result = invoke("compare", tiny, *TINY_ARGS, *args)
    assert result.exit_code == 2 and message in one_error_line(result)


def test_conventions_compare_one_model_only(tiny):
    result = invoke("compare", tiny, tiny, *TINY_ARGS, "--conventions", "syops,aap2023")
    assert result.exit_code == 2
    assert "--conventions shows one model under several conventions" in one_error_line(result)


@pytest.mark.filterwarnings("ignore")
def test_neurobench_skips_zero_weights():
    if "effective" not in ENGINE:
        pytest.skip("count_syops has no effective= option yet")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.BatchNorm2d(2)).eval()
    with torch.no_grad():
        model[0].weight[0, 0, 0, 0] = 0  # used at the 2 x 2 output positions of channel 0
    x = torch.rand(1, 1, 4, 4) + 0.5
    assert count_syops(model, x, **convention_options("syops")).macs == 72
    assert count_syops(model, x, **convention_options("neurobench")).macs == 72 - 4
