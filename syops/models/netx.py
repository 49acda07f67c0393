"""lava-dl netx networks (``network.net``, HDF5) as torch modules that syops counts.

A netx file holds ``layer/0``, ``layer/1``, ... in order; each has a ``type`` (input, conv,
dense, flatten), a ``shape`` (C, H, W or features), a ``neuron`` group (type LOIHI or CUBA:
``vThMant``, ``iDecay``, ``vDecay`` out of 4096; or SDNN: graded sigma-delta neurons) and,
for conv and dense layers, ``weight`` (out x in [x kH x kW]), optional ``bias``,
``stride``, ``padding``, ``dilation``, ``groups`` (H, W order). ``simulation/tSample``, when
present, is the time steps per sample.

The module runs multi-step ([T, B, C, H, W]): an input layer is a scalar gain and bias
(``weight``, ``bias``) into its neurons; CUBA neurons are SpikingJelly nodes with the
file's threshold and decays; SDNN neurons are ReLUs (the sigma-delta encoding itself is not
simulated, so the layers after them see dense values: MACs). Weights keep slayer's
PyTorch layout; lava flattens in its own (W, H, C) order, so a dense layer after a flatten
sees its inputs permuted relative to lava (counts are the same, outputs are not).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from spikingjelly.activation_based import layer, neuron
from torch import nn

DECAY_ONE = 4096  # Loihi decays are fractions of 4096
MAX_BYTES = 512 * 1024 * 1024


class CubaNode(neuron.BaseNode):
    """Loihi's current-based LIF: i <- i (1 - di) + x; v <- v (1 - dv) + i; spike at v >=
    threshold, then v <- 0."""

    def __init__(self, threshold: float, current_decay: float, voltage_decay: float,
                 step_mode: str = "m"):
        super().__init__(v_threshold=threshold, v_reset=0.0, step_mode=step_mode)
        self.current_decay, self.voltage_decay = current_decay, voltage_decay
        self.register_memory("i", 0.0)

    def single_step_functional_forward(self, inputs, states, **kwargs):
        x = inputs[0]
        v, i = (s if isinstance(s, torch.Tensor) else torch.full_like(x, float(s))
                for s in states[:2])
        i = i * (1.0 - self.current_decay) + x
        v = v * (1.0 - self.voltage_decay) + i
        spike = self.surrogate_function(v - self.v_threshold)
        return (spike,), (v * (1.0 - spike), i, *states[2:])


class Gain(nn.Module):
    """An input layer's scalar weight and bias (no synapses: not counted)."""

    def __init__(self, weight: float, bias: float):
        super().__init__()
        self.weight_gain, self.bias_gain = weight, bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight_gain + self.bias_gain


@dataclass(frozen=True)
class NetxNetwork:
    """A netx file read into a torch module, with what the file says about its input."""

    module: nn.Sequential
    input_shape: tuple[int, ...]   # per time step and sample: C, H, W (or features)
    steps: int | None              # simulation/tSample, when the file gives it
    neuron_types: tuple[str, ...]  # each layer's neuron type, in order


def read_netx(path: str | Path) -> NetxNetwork:
    """Read a lava-dl netx HDF5 file; ValueError naming the file and the problem else."""
    import h5py
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"netx file {path} does not exist or is not a regular file")
    if path.stat().st_size > MAX_BYTES:
        raise ValueError(f"netx file {path} is larger than {MAX_BYTES >> 20} MiB")
    try:
        with h5py.File(path, "r") as file:
            return _network(path, file)
    except OSError as err:
        raise ValueError(f"netx file {path} is not an HDF5 file ({err})") from None
    except (KeyError, TypeError, IndexError) as err:
        raise ValueError(f"netx file {path} is malformed: {err}") from None


def _network(path: Path, file) -> NetxNetwork:
    if "layer" not in file:
        raise ValueError(f"netx file {path} has no 'layer' group: not a lava-dl netx network")
    group = file["layer"]
    keys = sorted(group, key=lambda k: int(k) if k.isdigit() else math.inf)
    if not keys or not all(k.isdigit() for k in keys):
        raise ValueError(f"netx file {path}: layers must be named 0, 1, 2, ...; got {keys}")
    modules: list[nn.Module] = []
    types: list[str] = []
    shape = None
    for key in keys:
        config = group[key]
        kind = _text(config["type"])
        if kind == "input":
            shape = _ints(config["shape"])
            modules.append(Gain(_scalar(config, "weight", 1.0), _scalar(config, "bias", 0.0)))
        elif kind == "conv":
            modules.append(_conv(config))
        elif kind == "dense":
            modules.append(_dense(config))
        elif kind == "flatten":
            modules.append(layer.Flatten(step_mode="m"))
        else:
            raise ValueError(f"netx file {path}: layer {key} has type {kind!r}; syops reads "
                             "input, conv, dense and flatten layers")
        if shape is None:
            shape = _first_input_shape(config, kind)
        if "neuron" in config:
            neuron_type, node = _neuron(config["neuron"])
            modules.append(node)
            types.append(neuron_type)
    steps = int(file["simulation/tSample"][()]) if "simulation/tSample" in file else None
    return NetxNetwork(nn.Sequential(*modules), tuple(shape or ()), steps, tuple(types))


def _first_input_shape(config, kind: str) -> tuple[int, ...] | None:
    """The input shape of a network whose input layer was skipped: the first layer's."""
    if kind == "conv":
        weight = config["weight"]
        return None if weight.ndim < 2 else (int(config["inChannels"][()]),)
    if kind == "dense":
        return (int(config["inFeatures"][()]),)
    return None


def _conv(config) -> nn.Module:
    weight = np.asarray(config["weight"][()], dtype=np.float32)
    out_channels, in_per_group = weight.shape[:2]
    groups = int(config["groups"][()]) if "groups" in config else 1
    conv = layer.Conv2d(in_per_group * groups, out_channels, tuple(weight.shape[2:]),
                        stride=_pair(config, "stride"), padding=_pair(config, "padding", 0),
                        dilation=_pair(config, "dilation"), groups=groups,
                        bias="bias" in config, step_mode="m")
    _load(conv, weight, config)
    return conv


def _dense(config) -> nn.Module:
    weight = np.asarray(config["weight"][()], dtype=np.float32)
    out_features = int(config["outFeatures"][()]) if "outFeatures" in config else weight.shape[0]
    weight = weight.reshape(out_features, -1)
    linear = layer.Linear(weight.shape[1], out_features, bias="bias" in config, step_mode="m")
    _load(linear, weight, config)
    return linear


def _load(module: nn.Module, weight: np.ndarray, config) -> None:
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(weight.reshape(module.weight.shape)))
        if "bias" in config:
            bias = np.asarray(config["bias"][()], dtype=np.float32).reshape(-1)
            module.bias.copy_(torch.from_numpy(np.broadcast_to(bias, module.bias.shape).copy()))


def _neuron(config) -> tuple[str, nn.Module]:
    kind = _text(config["type"])
    if kind in ("LOIHI", "CUBA"):
        threshold = float(config["vThMant"][()])
        current = float(config["iDecay"][()]) / DECAY_ONE if "iDecay" in config else 1.0
        voltage = float(config["vDecay"][()]) / DECAY_ONE if "vDecay" in config else 0.0
        return kind, CubaNode(threshold, current, voltage)
    if kind == "SDNN":
        return kind, nn.ReLU()
    raise ValueError(f"netx neuron type {kind!r} is not supported (LOIHI, CUBA, SDNN)")


def _text(value) -> str:
    raw = value[()]
    raw = raw.reshape(-1)[0] if isinstance(raw, np.ndarray) else raw
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _ints(value) -> tuple[int, ...]:
    return tuple(int(v) for v in np.asarray(value[()]).reshape(-1))


def _pair(config, key: str, default: int = 1) -> tuple[int, int]:
    if key not in config:
        return (default, default)
    values = _ints(config[key])
    return (values[0], values[-1])


def _scalar(config, key: str, default: float) -> float:
    if key not in config:
        return default
    values = np.asarray(config[key][()], dtype=np.float64).reshape(-1)
    return float(values[0]) if values.size else default
