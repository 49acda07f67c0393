"""Where the samples are: checks that the sample count read from the model input is the
number of samples and not the number of time steps, as messages for the counter to show.

A multi-step neuron's time axis holds the model input's sample dimension when the data's
layout is not the model's (``[N, T, ...]`` data fed to a ``[T, B, ...]`` model): the
"samples" are then time steps. That is only ambiguous when the time dimension comes from the
data (the model input has as many dims as the neuron input); a model that repeats an image
over T creates it itself and is never warned about.
"""

from __future__ import annotations

from torch import Tensor, nn

from syops.engine.snn import time_axis

TIME_FIRST_HINT = ("if the data is [N, T, ...] (samples first, time second), pass "
                   "--time-first (Python: time_first=True); if you call the model yourself on "
                   "[T, B, ...] inputs under SyopsCounter, pass batch_dim=1")


def ambiguous_samples(module: nn.Module, x: Tensor, steps: int, model_input_dims: int,
                      samples: int, batch_dim: int) -> str | None:
    """A warning when a multi-step neuron's time axis has the size of the model input's
    sample dimension and that time dimension comes from the data."""
    axis = time_axis(module)
    if steps <= 1 or axis is None or x.dim() <= axis or x.shape[axis] != samples:
        return None
    if model_input_dims < x.dim():   # time created inside the model (an image repeated)
        return None
    return (f"the model input's sample dimension ({batch_dim}) has size {samples}, the number "
            f"of time steps its multi-step neurons see ({type(module).__name__}): {TIME_FIRST_HINT}"
            "; otherwise the per-sample figures are wrong")


def single_step_loop(module: nn.Module, steps: int, forwards: int) -> str | None:
    """A note for neurons that run one time step per call, when the model ran several
    forwards under a caller's loop: each forward counted its input's samples."""
    if steps != 1 or forwards < 2 or time_axis(module) is not None:
        return None
    return ("single-step neurons: if the model is called once per time step, every call "
            "counted its input's samples; pass report(samples=N) with the true number of "
            "samples (count_syops runs whole batches and counts them from the data)")


AVERAGE_POOLS = ("AvgPool1d", "AvgPool2d", "AvgPool3d", "AdaptiveAvgPool1d",
                 "AdaptiveAvgPool2d", "AdaptiveAvgPool3d")


def is_average_pool(module: nn.Module) -> bool:
    """An average pooling layer (torch's, and the libraries' subclasses of it)."""
    return any(cls.__name__ in AVERAGE_POOLS for cls in type(module).__mro__)


def averaged_spikes(name: str) -> str:
    """The warning for an average pooling that turned spikes into fractions."""
    return (f"{name or 'the model'} averages spikes into fractions (0.25, 0.5...): the layers "
            "it feeds receive multi-level values and cost MACs; if the hardware adds the "
            "pooled spikes, use sum pooling (e.g. sinabs.layers.SumPool2d) and count with "
            "spikes='events' (on the command line: --spikes events)")
