"""The installed entry points, run as a user would."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from syops import __version__


def console_script() -> str:
    """The syops script beside this Python (its virtualenv), else the one on PATH."""
    beside = Path(sys.executable).with_name("syops")
    found = str(beside) if beside.exists() else shutil.which("syops")
    if found is None:
        pytest.skip("the syops console script is not installed")
    return found


def test_installed_console_script_runs():
    done = subprocess.run([console_script(), "models", "sew7b", "--format", "csv"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].startswith("sew7b,")
    assert done.stderr == ""  # no third-party log lines


def test_python_dash_m_version():
    done = subprocess.run([sys.executable, "-m", "syops", "--version"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0
    assert done.stdout.strip() == f"syops, version {__version__}"


def test_bad_input_exit_code_in_a_real_process():
    done = subprocess.run([sys.executable, "-m", "syops", "profile", "fsnn7", "--rate", "2"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--rate" in done.stderr
