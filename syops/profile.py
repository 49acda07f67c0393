"""count_syops: profile a model over data and return a Report."""

from __future__ import annotations

import itertools
import time
from typing import Any, Callable, Iterable, Iterator, Mapping

import torch
from torch import Tensor, nn

from syops.energy.presets import EnergyModel
from syops.engine.counter import SyopsCounter
from syops.engine.snn import state_resetter
from syops.options import Options
from syops.report import Report
from syops.scale import distributed

INPUT_KEYS = ("input", "inputs", "x", "image", "images", "frames", "data")


def batch_input(batch: Any) -> Tensor:
    """The model input of one batch: a tensor, the first item of an ``(x, y)`` tuple, or the
    ``input``/``x``/``image``/``frames``... entry of a dict."""
    if isinstance(batch, Tensor):
        return batch
    if isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], Tensor):
        return batch[0]
    if isinstance(batch, Mapping):
        for key in INPUT_KEYS:
            if isinstance(batch.get(key), Tensor):
                return batch[key]
        raise TypeError(f"a dict batch needs its input under one of the keys {INPUT_KEYS}; "
                        f"got keys {list(batch)}")
    raise TypeError(f"a batch must be a tensor, an (input, target) tuple or a dict; "
                    f"got {type(batch).__name__}")


def iter_batches(data: Tensor | Iterable, max_batches: int | None = None) -> Iterator[Tensor]:
    """Model inputs from a DataLoader, any iterable of batches, or one tensor (one batch)."""
    batches = [data] if isinstance(data, Tensor) else data
    return map(batch_input, itertools.islice(batches, max_batches))


def model_device(model: nn.Module) -> torch.device:
    tensor = next(itertools.chain(model.parameters(), model.buffers()), None)
    return tensor.device if tensor is not None else torch.device("cpu")


def _total(data: Any, max_batches: int | None) -> int | None:
    try:
        total = 1 if isinstance(data, Tensor) else len(data)
    except TypeError:
        return max_batches
    return total if max_batches is None else min(total, max_batches)


def _progress_callback(progress: bool | Callable | None, total: int | None,
                       counter: SyopsCounter):
    """A per-batch callback and a closer, for ``progress=True`` (a rich bar with samples/s
    and the time left) or a callable."""
    if callable(progress):
        return progress, lambda: None
    if not progress:
        return (lambda done, total: None), lambda: None
    from rich.console import Console
    from rich.progress import Progress

    from syops.scale.longrun import progress_columns, sample_rate
    bar = Progress(*progress_columns(), console=Console(stderr=True), transient=True)
    task = bar.add_task("counting", total=total, rate="")
    bar.start()
    start = time.monotonic()
    return (lambda done, total: bar.update(task, completed=done, rate=sample_rate(
        counter.samples, time.monotonic() - start))), bar.stop


def count_syops(model: nn.Module, data: Tensor | Iterable, *, mode: str = "exact",
                fuse_bn: bool = True, energy: str | EnergyModel = "fp32", strict: bool = False,
                max_batches: int | None = None, progress: bool | Callable | None = None,
                classify: str = "probe", signals: Mapping[str, str] | None = None,
                batch_dim: int = 0, time_first: bool = False, spikes: str = "binary",
                bn_macs: int = 2, effective: bool = False, convention: str | None = None,
                check_layout: bool = True,
                on_batch: Callable[[int, SyopsCounter], None] | None = None) -> Report:
    """Count the synaptic operations of ``model`` on ``data`` (per sample).

    The model runs in eval mode under ``torch.no_grad()``; neuron states are reset before
    every batch, so batches are independent. The model is left as it was: no hooks, same
    train/eval flags, same states, also when its forward raises.

    ``mode``: "exact" ACs are the (non-zero input, weight) pairs really applied; "rate" ACs are
    dense x input firing rate. ``fuse_bn``: BatchNorm after a conv/linear is folded (free);
    otherwise every BatchNorm costs ``bn_macs`` (2: scale and shift) MACs per element.
    ``classify``: "probe" learns once which layer inputs are multi-level by architecture;
    "observed" trusts the observed inputs alone. Either way a call site counts as spikes only
    when every input it gets in the whole run is 0/1. ``signals`` declares kinds per layer name
    ("spike": ACs for its non-zero inputs, or "multi-level"). ``spikes``: "binary" (only 0/1
    inputs are spikes) or "events" (integer inputs cost |k| ACs per weight, inputs of one
    non-zero level one AC). ``effective``: every call costs its (non-zero input, non-zero
    weight) pairs (NeuroBench's effective operations; exact mode). ``batch_dim`` is the
    batch dimension of the model input (1 for a ``[T, B, ...]`` input); ``time_first=True``
    feeds each ``[B, T, ...]`` batch as ``[T, B, ...]``. Samples are counted from the data as
    the loader yields it. ``progress``: True for a progress bar, or a callable
    ``(batches_done, total)``; ``on_batch(done, counter)`` runs after each batch
    (``counter.report()`` is the report so far).
    ``convention`` sets mode, BN, input convention, effective operations and energy to those
    of a published source (``syops.conventions.CONVENTIONS``), replacing those arguments.
    All options are gathered in one ``syops.options.Options``, shown whole in
    ``report.options``. ``spikes="ternary"`` prices -1/0/1 inputs as ACs (NeuroBench).
    ``check_layout=False`` drops the warning that the samples may be time steps (for a
    model whose input layout is known, as the command line does for reference models).

    Under an initialised torch.distributed process group every rank counts the data it is
    given and every rank gets the sum over ranks; an error on one rank is raised on every
    rank (docs/scale.md). A DistributedDataParallel model is counted through ``.module``.
    """
    options = Options.build(convention, mode=mode, fuse_bn=fuse_bn, energy=energy,
                            strict=strict, classify=classify, signals=signals,
                            batch_dim=batch_dim, time_first=time_first, spikes=spikes,
                            bn_macs=bn_macs, effective=effective, check_layout=check_layout)
    if max_batches is not None and max_batches < 1:
        raise ValueError(f"max_batches must be at least 1, got {max_batches}")
    model = distributed.unwrap(model)   # DDP's forward broadcasts; count the module inside
    device = model_device(model)
    total = _total(data, max_batches)
    flags = {m: m.training for m in model.modules()}
    # every state is reset before each batch below, and samples are counted from the data
    counter = SyopsCounter(model, options, samples_from_caller=True,
                           resets_states=True)
    reset_states = state_resetter(model)
    step, close = _progress_callback(progress, total, counter)
    try:
        model.eval()
        with torch.no_grad(), counter:
            for done, x in enumerate(iter_batches(data, max_batches), 1):
                samples = _samples(x, options.batch_dim, options.time_first)
                if samples == 0:
                    continue
                reset_states()
                forwards = counter.forwards
                model((x.transpose(0, 1) if options.time_first else x).to(device))
                counter.add_samples(samples)
                counter.flush()
                if counter.forwards - forwards > 1:
                    counter.note(f"the model ran {counter.forwards - forwards} forwards on one "
                                  "batch; per-sample figures divide by the batch's samples")
                step(done, total)
                if on_batch is not None:
                    on_batch(done, counter)
    except Exception as exc:
        distributed.share_error(exc)   # other ranks raise it too, none is left waiting
        raise
    finally:
        close()
        for module, training in flags.items():
            module.training = training
    report = distributed.reduce_report(counter.report() if counter.samples else None)
    if report is None:
        raise ValueError("no samples to count: the data is empty")
    return report


def _samples(x: Tensor, batch_dim: int, time_first: bool) -> int:
    """Samples in one batch as the loader yields it."""
    dim = 0 if time_first else batch_dim
    if x.dim() <= dim or (time_first and x.dim() < 2):
        need = "[B, T, ...]" if time_first else f"a batch dimension {batch_dim}"
        raise ValueError(f"a batch of shape {tuple(x.shape)} has no {need}")
    return x.shape[dim]
