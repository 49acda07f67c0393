"""The README and docs say what the code does: its commands are CI's, its outputs are real
runs, its links resolve, and the release metadata agrees with the package."""

from __future__ import annotations

import configparser
import contextlib
import importlib.util
import io
import re
import shlex
import sys
import zipfile
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner, Result

import syops
from syops.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.M | re.S)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")

MYNET = '''"""A small multi-step SpikingJelly network, as a user would write it."""
from spikingjelly.activation_based import layer, neuron
from torch import nn


class Net(nn.Sequential):
    def __init__(self, channels: int = 8):
        super().__init__(
            layer.Conv2d(2, channels, 3, padding=1, bias=False, step_mode="m"),
            layer.BatchNorm2d(channels, step_mode="m"),
            neuron.IFNode(v_threshold=0.1, step_mode="m"),
            layer.MaxPool2d(2, step_mode="m"),
            layer.Conv2d(channels, 2 * channels, 3, padding=1, step_mode="m"),
            neuron.IFNode(v_threshold=0.1, step_mode="m"),
            layer.Flatten(step_mode="m"),
            layer.Linear(2 * channels * 8 * 8, 10, step_mode="m"),
        )
'''


def blocks(path: Path) -> list[tuple[str, str]]:
    """(language, text) of every fenced code block, in order."""
    return [(lang, text) for lang, text in FENCE.findall(path.read_text())]


def block_after(path: Path, marker: str, lang: str = "") -> str:
    """The first code block of ``lang`` after the line holding ``marker``."""
    text = path.read_text()
    start = text.index(marker)
    match = next(m for m in FENCE.finditer(text, start) if m.group(1) == lang)
    return match.group(2)


def pasted_output(path: Path, command: str) -> list[str]:
    """The output pasted under ``$ command`` in a code block of ``path``."""
    text = next(text for _, text in blocks(path) if text.startswith(f"$ {command}\n"))
    return shown(text.split("\n", 1)[1])


def shown(output: str) -> list[str]:
    """Lines as a code block shows them (trailing spaces and blank ends dropped)."""
    return [line.rstrip() for line in output.strip("\n").splitlines()]


def run_syops(command: str, cwd: Path, monkeypatch) -> Result:
    """A documented ``syops ...`` line, run in ``cwd`` (in this process: no second start of
    torch per command)."""
    args = shlex.split(command)
    assert args[0] == "syops", command
    monkeypatch.chdir(cwd)
    return CliRunner().invoke(cli, args[1:], catch_exceptions=False)


def ci_test_command() -> str:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    return next(line for line in lines if "python -m pytest" in line and not line.startswith("#"))


def test_readme_test_command_is_what_ci_runs():
    readme_command = block_after(README, "The tests (this is what CI runs)").strip()
    assert readme_command == ci_test_command()
    guide_command = block_after(DOCS / "getting-started.md", "The tests, as CI runs them").strip()
    assert guide_command == readme_command


def test_readme_main_job_output_is_a_real_run(tmp_path, monkeypatch):
    install = block_after(README, "## Install and run").strip()
    assert install.endswith("&& syops compare fsnn50 sew50 --table")
    run = run_syops("syops compare fsnn50 sew50 --table", tmp_path, monkeypatch)
    assert run.exit_code == 0, run.stderr
    # On a mismatch, paste the new output of `syops compare fsnn50 sew50 --table`.
    assert shown(run.stdout) == pasted_output(README, "syops compare fsnn50 sew50 --table")
    assert pasted_output(DOCS / "cli.md", "syops compare fsnn50 sew50 --table") == \
        pasted_output(README, "syops compare fsnn50 sew50 --table")


@pytest.fixture(scope="module")
def user_files(tmp_path_factory) -> Path:
    """The README's quick-start files: a user's class, its state_dict, its data [N, T, ...]."""
    folder = tmp_path_factory.mktemp("quickstart")
    (folder / "mynet.py").write_text(MYNET)
    spec = importlib.util.spec_from_file_location("quickstart_mynet", folder / "mynet.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    torch.save(module.Net().state_dict(), folder / "checkpoint.pth")
    events = torch.poisson(torch.full((16, 4, 2, 16, 16), 0.3))   # 16 samples, T = 4
    torch.save({"x": events, "y": torch.randint(0, 10, (16,))}, folder / "data.pt")
    return folder


def test_readme_python_quick_start_runs_as_shown(user_files, monkeypatch):
    code = block_after(README, "## Quick start", "python")
    assert len(code.strip().splitlines()) == 5
    monkeypatch.chdir(user_files)
    monkeypatch.syspath_prepend(str(user_files))
    monkeypatch.delitem(sys.modules, "mynet", raising=False)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {})
    monkeypatch.delitem(sys.modules, "mynet")
    assert shown(printed.getvalue()) == shown(block_after(README, "```python\n" + code))
    # MACs by hand: the first conv sees event counts (multi-level): 8 output channels x
    # 16 x 16 positions x (2 input channels x 3 x 3 taps) x T = 4 = 147,456 per sample;
    # every other layer sees spikes (ACs).
    assert printed.getvalue().startswith("147,456 MACs, ")
    assert block_after(DOCS / "getting-started.md", "## Your model on your data",
                       "python") == code


def test_readme_cli_quick_start_runs_as_shown(user_files, monkeypatch):
    commands = block_after(README, "The command line: a per-layer table").strip().splitlines()
    assert len(commands) == 3
    runs = [run_syops(command, user_files, monkeypatch) for command in commands]
    for command, run in zip(commands, runs):
        assert run.exit_code == 0, f"{command}: {run.stderr}"
    assert shown(runs[0].stdout) == pasted_output(README, commands[0])
    assert "\\begin{tabular}" in (user_files / "table.tex").read_text()
    assert (user_files / "energy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    guide = block_after(DOCS / "getting-started.md", "The CLI, on the same files")
    assert guide.strip().splitlines() == commands


def test_readme_is_a_front_page():
    text = README.read_text()
    assert len(text.splitlines()) <= 150
    from syops.models import list_models
    assert f"{len(list_models())} reference models" in text
    for name in syops.CONVENTIONS:
        assert f"`{name}`" in text, f"the supported table lacks the convention {name}"


def test_python_page_names_every_option_of_count_syops():
    import inspect
    page = (DOCS / "python.md").read_text()
    for name in inspect.signature(syops.count_syops).parameters:
        assert f"{name}=" in page or name in ("model", "data"), f"docs/python.md lacks {name}="


def slug(heading: str) -> str:
    """The anchor GitHub and mkdocs give a heading (both drop punctuation, join words by -)."""
    text = re.sub(r"[^\w\s-]", "", heading.strip().lower())
    return re.sub(r"\s+", "-", text)


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text())
    return {slug(m) for m in re.findall(r"^#+\s+(.*)$", text, re.M)}


@pytest.mark.parametrize("page", [README, *sorted(DOCS.rglob("*.md"))],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    text = FENCE.sub("", page.read_text())
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue   # web links: not checked offline
        file_part, _, anchor = target.partition("#")
        resolved = (page.parent / file_part).resolve() if file_part else page
        assert resolved.exists(), f"{page.name}: link to missing {target}"
        if anchor and resolved.suffix == ".md":
            assert anchor in anchors(resolved), f"{page.name}: no heading for {target}"


def test_every_docs_page_is_in_the_site_navigation():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())

    def pages(entries):
        for entry in entries:
            value = entry if isinstance(entry, str) else next(iter(entry.values()))
            yield from pages(value) if isinstance(value, list) else [value]

    listed = set(pages(config["nav"]))
    on_disk = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert on_disk == listed


def test_release_metadata_agrees_with_the_package():
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["version"] == syops.__version__
    assert citation["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    assert setup["metadata"]["license"] == "MIT"
    assert f"version = {{{syops.__version__}}}" in (DOCS / "citing.md").read_text()
    assert re.search(r"^## (Unreleased|\d)", (ROOT / "CHANGELOG.md").read_text(), re.M)


def load_wheel_checker():
    spec = importlib.util.spec_from_file_location("check_wheel", ROOT / ".ci" / "check_wheel.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_source_package_is_declared_in_setup_cfg():
    checker = load_wheel_checker()
    roots = checker.source_roots(ROOT / "setup.cfg")
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    declared = set(setup["options"]["packages"].split())
    found = set()
    for package, folder in roots.items():
        for init in folder.rglob("__init__.py"):
            parts = init.parent.relative_to(folder).parts
            found.add(".".join([package, *parts]))
    assert found <= declared, f"packages missing from setup.cfg: {sorted(found - declared)}"


def test_wheel_checker_names_what_a_wheel_lacks(tmp_path):
    checker = load_wheel_checker()
    expected = checker.expected_files(checker.source_roots(ROOT / "setup.cfg"))
    assert "syops/profile.py" in expected and "syops/cli/main.py" in expected
    wheel = tmp_path / "syops_energy-0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name in sorted(expected - {"syops/report.py"}):
            archive.writestr(name, "")
        archive.writestr("syops_energy-0.dist-info/licenses/LICENSE", "MIT")
        archive.writestr("syops_energy-0.dist-info/entry_points.txt",
                         "[console_scripts]\nsyops = syops.cli.main:main\n")
    assert checker.missing_from_wheel(wheel) == ["syops/report.py"]
