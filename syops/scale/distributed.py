"""Profiling across processes with torch.distributed: shards, reductions, shared errors.

Under an initialised process group every rank counts its own data; ``reduce_report`` sums
the ranks' reports (reports of disjoint data are additive) so every rank holds the total.
Every collective here exchanges ``(value, error)`` pairs: when one rank failed, each rank
raises that rank's error instead of waiting for it, so no rank is left in a collective.
Without a process group (or with one process) every function is a local no-op.
"""

from __future__ import annotations

import os
import pickle
import socket
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Mapping, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from syops.report import Report

LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
BACKENDS = {"cpu": "gloo", "cuda": "nccl"}
MAX_WORLD = 1 << 16
"""The most processes a launch may declare (WORLD_SIZE)."""
RENDEZVOUS_SECONDS = 300.0
"""How long the ranks wait for each other by default (SYOPS_RENDEZVOUS_SECONDS)."""
RESOLVE_SECONDS = 10.0
T = TypeVar("T")


@dataclass(frozen=True)
class Launch:
    """Where this process sits in a torchrun launch."""

    rank: int
    world_size: int
    local_rank: int


class RankError(RuntimeError):
    """Stands for a failure on another rank whose exception could not be pickled."""


def launch_from_env(env: Mapping[str, str] | None = None) -> Launch | None:
    """The torchrun launch described by RANK/WORLD_SIZE/LOCAL_RANK, or None outside one."""
    env = os.environ if env is None else env
    present = [name for name in LAUNCH_VARIABLES if name in env]
    if not present:
        return None
    if len(present) < len(LAUNCH_VARIABLES):
        missing = sorted(set(LAUNCH_VARIABLES) - set(present))
        raise ValueError(f"incomplete torchrun environment: {', '.join(missing)} not set "
                         f"(launch with torchrun, or unset {', '.join(present)})")
    try:
        launch = Launch(*(int(env[name]) for name in LAUNCH_VARIABLES))
    except ValueError:
        raise ValueError("RANK, WORLD_SIZE and LOCAL_RANK must be integers") from None
    if not 1 <= launch.world_size <= MAX_WORLD:
        raise ValueError(f"WORLD_SIZE {launch.world_size} is not a number of processes "
                         f"(1..{MAX_WORLD}); launch with torchrun, or unset RANK, WORLD_SIZE "
                         f"and LOCAL_RANK")
    if not 0 <= launch.rank < launch.world_size:
        raise ValueError(f"RANK {launch.rank} is outside WORLD_SIZE {launch.world_size}")
    if not 0 <= launch.local_rank < launch.world_size:
        raise ValueError(f"LOCAL_RANK {launch.local_rank} is outside WORLD_SIZE "
                         f"{launch.world_size}")
    return launch


def rendezvous_address(env: Mapping[str, str] | None = None) -> tuple[str, int]:
    """MASTER_ADDR and MASTER_PORT of a launch of several processes, checked: the port a
    number, the host resolvable within ``RESOLVE_SECONDS``."""
    env = os.environ if env is None else env
    host, port = env.get("MASTER_ADDR"), env.get("MASTER_PORT", "")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"a launch of several processes needs MASTER_ADDR and MASTER_PORT "
                         f"(a port 1..65535), not {host!r} and {port!r}; launch with torchrun, "
                         f"or unset RANK, WORLD_SIZE and LOCAL_RANK")
    try:
        within(RESOLVE_SECONDS, lambda: socket.getaddrinfo(host, int(port)))
    except (OSError, TimeoutError):
        raise ValueError(f"MASTER_ADDR {host!r} does not resolve to an address; give the "
                         f"host of rank 0, or unset RANK, WORLD_SIZE and LOCAL_RANK for a "
                         f"plain run") from None
    return host, int(port)


def within(seconds: float, work: Callable[[], T]) -> T:
    """``work()`` in a helper thread, waited on from this one (so Ctrl-C ends the wait);
    TimeoutError after ``seconds``."""
    done: dict[str, Any] = {}

    def run() -> None:
        try:
            done["value"] = work()
        except BaseException as exc:  # handed to the waiting thread
            done["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + seconds
    while thread.is_alive() and time.monotonic() < deadline:
        thread.join(0.1)
    if thread.is_alive():
        raise TimeoutError(f"still waiting after {seconds:g} s")
    if "error" in done:
        raise done["error"]
    return done["value"]


def backend_for(device: str) -> str:
    """gloo for a CPU run, NCCL for CUDA."""
    return BACKENDS[torch.device(device).type]


def rank_device(device: str, launch: Launch) -> str:
    """The device of this rank: ``cuda:LOCAL_RANK`` for CUDA, else ``device`` itself."""
    return f"cuda:{launch.local_rank}" if torch.device(device).type == "cuda" else device


def init_from_env(device: str, launch: Launch) -> bool:
    """Start the process group of a torchrun launch unless one is running; whether it
    was started here (the caller then ends it with ``dist.destroy_process_group``)."""
    if dist.is_initialized():
        return False
    host, port = rendezvous_address() if launch.world_size > 1 else ("", 0)
    if torch.device(device).type == "cuda":
        torch.cuda.set_device(launch.local_rank)
    wait = rendezvous_seconds()
    try:
        within(wait + 5, lambda: dist.init_process_group(
            backend_for(device), rank=launch.rank, world_size=launch.world_size,
            timeout=timedelta(seconds=wait)))
    except (TimeoutError, RuntimeError) as exc:  # torch's DistStoreError is a RuntimeError
        raise ValueError(f"rank {launch.rank} waited {wait:g} s for the {launch.world_size} "
                         f"ranks at {host}:{port} without meeting them ({type(exc).__name__}); "
                         f"start every rank (torchrun --nproc_per_node N), or unset RANK, "
                         f"WORLD_SIZE and LOCAL_RANK for a plain run") from None
    return True


def rendezvous_seconds() -> float:
    """How long the ranks wait for each other: ``SYOPS_RENDEZVOUS_SECONDS``, else 300."""
    text = os.environ.get("SYOPS_RENDEZVOUS_SECONDS", str(RENDEZVOUS_SECONDS))
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 86400:
        raise ValueError(f"SYOPS_RENDEZVOUS_SECONDS {text!r} is not a number of seconds "
                         f"(0 < s <= 86400)")
    return seconds


def active() -> bool:
    """Whether a process group of more than one process is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def shard_indices(n: int, rank: int, world: int, start: int = 0) -> range:
    """The items of ``rank`` among items ``start .. n - 1``: start + rank, start + rank +
    world, ... (DistributedSampler's order without its padding: every item exactly once
    over all ranks; the last shards one item shorter when they do not divide evenly)."""
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"rank {rank} is outside a world of {world}")
    return range(start + rank, n, world)


def common_batches(n: int, world: int, batch_size: int) -> int:
    """How many full batches every rank has: after ``k`` of them (``k`` at most this), the
    ranks together have counted exactly items ``0 .. k * batch_size * world - 1``."""
    return (n // world) // batch_size


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside DistributedDataParallel/DataParallel (their forward broadcasts
    buffers and scatters inputs; the counted model is the one inside)."""
    while isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        model = model.module
    return model


def exchange(value: Any = None, error: BaseException | None = None) -> list[Any]:
    """Every rank's ``value``, in rank order; raises the first failing rank's error on
    every rank when any rank passed one. Locally (no group) ``[value]`` or raises ``error``."""
    if not active():
        if error is not None:
            raise error
        return [value]
    gathered: list = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, (value, _portable(error)))
    failed = next((i for i, (_, err) in enumerate(gathered) if err is not None), None)
    if failed is not None:
        raise _shared(error if failed == dist.get_rank() else gathered[failed][1], failed)
    return [v for v, _ in gathered]


def share_error(error: BaseException) -> None:
    """Called where an exception is caught on this rank: joins the exchange the other
    ranks wait in, so they raise it too (a no-op for an error raised by an exchange)."""
    if active() and not getattr(error, "_syops_shared", False):
        exchange(error=error)


def reduce_report(report: Report | None) -> Report | None:
    """The sum of every rank's report, all ranks getting it (None: a rank that counted
    nothing; None when no rank counted anything); ``report`` itself locally."""
    total = None
    for other in exchange(report):
        if other is not None:
            total = other if total is None else total + other
    return total


def run_shared(work: Callable[[], T]) -> T:
    """``work()``; an exception it raises is shared with every rank before propagating."""
    try:
        return work()
    except Exception as exc:
        share_error(exc)
        raise


def _portable(error: BaseException | None) -> BaseException | None:
    """``error`` if it pickles, else a RankError with its type and message."""
    if error is None:
        return None
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RankError(f"{type(error).__name__}: {error}")
    return error


def _shared(error: BaseException, failed: int) -> BaseException:
    setattr(error, "_syops_shared", True)   # an exception of any type: no declared field
    if not any(str(note).startswith("raised on rank") for note in getattr(error, "__notes__", ())):
        error.add_note(f"raised on rank {failed}")
    return error
