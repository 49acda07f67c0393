"""Leftover or hostile torchrun variables (issue 24): validated before use, the rendezvous
bounded in time, Ctrl-C ending the wait; each case one ``Error:`` line, exit 2 (130 for
Ctrl-C), as a real process under the address-space limit of the hostile tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import pytest
from test_cli_hostile import PROFILE, TIMEOUT, limited

from syops.scale.distributed import MAX_WORLD, launch_from_env, rendezvous_address

LEFTOVER = {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1"}


def free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def started(variables: dict) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **variables}
    return subprocess.Popen(limited(PROFILE), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


@pytest.mark.parametrize("variables, message", [
    ({"MASTER_ADDR": "no-such-host.invalid"}, "MASTER_ADDR 'no-such-host.invalid' does not "
                                              "resolve"),
    ({"WORLD_SIZE": str(10 ** 30)}, f"is not a number of processes (1..{MAX_WORLD})"),
    ({"MASTER_PORT": "http"}, "needs MASTER_ADDR and MASTER_PORT"),
    ({"SYOPS_RENDEZVOUS_SECONDS": "2"}, "rank 0 waited 2 s for the 2 ranks"),   # rank 1 never came
    ({"SYOPS_RENDEZVOUS_SECONDS": "inf"}, "SYOPS_RENDEZVOUS_SECONDS 'inf' is not"),
])
def test_bad_launch_variables_are_one_line(variables, message):
    process = started({**LEFTOVER, "MASTER_PORT": free_port(), **variables})
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
    lines = err.strip().splitlines()
    assert process.returncode == 2 and len(lines) == 1, err
    assert lines[0].startswith("Error: ") and message in lines[0], lines[0]


def test_ctrl_c_ends_the_wait_for_missing_ranks():
    process = started({**LEFTOVER, "MASTER_PORT": free_port()})
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and not _listening(process.pid):
            time.sleep(0.2)   # rank 0's store listens once it waits for the others
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert err.strip().splitlines() == ["Error: interrupted (Ctrl-C)"], err


def _listening(pid: int) -> bool:
    """Whether the process (or its exec'd shell) has a listening TCP socket."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd") if os.path.exists(f"/proc/{pid}/fd") else ():
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    for table in ("tcp", "tcp6"):
        try:
            rows = open(f"/proc/{pid}/net/{table}").read().splitlines()[1:]
        except OSError:
            continue
        if any(row.split()[3] == "0A" and row.split()[9] in inodes for row in rows):
            return True
    return False


def test_launch_variables_are_bounded():
    env = {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "5"}
    with pytest.raises(ValueError, match="LOCAL_RANK 5 is outside WORLD_SIZE 2"):
        launch_from_env(env)
    with pytest.raises(ValueError, match="not a number of processes"):
        launch_from_env({**env, "WORLD_SIZE": "0"})
    with pytest.raises(ValueError, match="must be integers"):
        launch_from_env({**env, "WORLD_SIZE": "9" * 5000})   # past int()'s digit limit
    assert rendezvous_address({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}) == \
        ("127.0.0.1", 29500)
    with pytest.raises(ValueError, match="a port 1..65535"):
        rendezvous_address({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "70000"})
