"""What syops needs to know about spiking-network libraries: neurons and state.

SpikingJelly is optional here; without it no module is a neuron or stateful unless a user
registers its own types with ``register_neuron``. snnTorch, Norse and Sinabs are described by
the table ``LIBRARIES``: a library is looked at only once the user's program has imported it
(a model cannot hold its neurons otherwise), so syops never imports one and never fails
without it.
"""

from __future__ import annotations

import copy
import functools
import importlib
import sys
from dataclasses import dataclass
from typing import Any, Callable

from torch import Tensor, nn

try:  # SpikingJelly's core works on CPU; its model zoo and datasets are never imported.
    from spikingjelly.activation_based.base import MemoryModule
    from spikingjelly.activation_based.neuron import BaseNode
except ImportError:  # pragma: no cover - exercised only without SpikingJelly
    MemoryModule = BaseNode = None

_NEURON_TYPES: list[type] = [BaseNode] if BaseNode is not None else []


@dataclass(frozen=True)
class Library:
    """Where a library keeps its neurons (classes named ``"module.path:Name"``)."""

    name: str                          # top-level package
    base: str                          # base class of its spiking neurons
    not_neurons: tuple[str, ...] = ()  # subclasses (with theirs) that emit no spikes
    returns_states: bool = False       # neurons may return (spikes, states...) tuples
    reset: str | None = None           # per-instance method zeroing the states kept between calls
    time_axis: int | None = None       # input dim holding time steps ([T, B] 0, [B, T] 1)
    binary: bool = True                # its spikes are 0/1 (Sinabs' default MultiSpike is not)


LIBRARIES: tuple[Library, ...] = (
    # StateLeaky (and LinearLeaky) return membrane traces; AssociativeLeaky holds projections.
    Library("snntorch", "snntorch:SpikingNeuron",
            ("snntorch:StateLeaky", "snntorch:AssociativeLeaky"),
            returns_states=True, reset="reset_mem"),
    # Norse modules keep no state: each call starts from the state passed in (or zeros).
    # Leaky integrators (LI*) emit voltages; recurrent cells hold weights (not counted).
    Library("norse", "norse.torch.module.snn:SNNCell",
            ("norse.torch:LICell", "norse.torch:LIBoxCell"), returns_states=True),
    Library("norse", "norse.torch.module.snn:SNN", ("norse.torch:LI",),
            returns_states=True, time_axis=0),
    # ExpLeak is a leaky integrator without spikes, but keeps states like the neurons.
    Library("sinabs", "sinabs.layers:StatefulLayer", ("sinabs.layers:ExpLeak",),
            reset="reset_states", time_axis=1, binary=False),
)

SQUEEZED = "sinabs.layers:SqueezeMixin"  # Sinabs layers fed [B*T, ...]

_RESOLVED: dict[str, type] = {}


def _resolve(name: str) -> type | None:
    """The class ``"module.path:Name"``, if its package is already imported (else None)."""
    if name not in _RESOLVED:
        path, _, attr = name.partition(":")
        if path.partition(".")[0] not in sys.modules:
            return None
        try:
            _RESOLVED[name] = getattr(importlib.import_module(path), attr)
        except (ImportError, AttributeError):
            return None
    return _RESOLVED[name]


def library_of(module: nn.Module) -> Library | None:
    """The table row whose base class ``module`` is an instance of (neuron or not)."""
    return _rows_of(type(module), _loaded())[0]


def _library_neuron(module: nn.Module) -> Library | None:
    """``library_of(module)``, unless the row says this type emits no spikes."""
    return _rows_of(type(module), _loaded())[1]


def _loaded() -> tuple[bool, ...]:
    return tuple(library.name in sys.modules for library in LIBRARIES)


@functools.lru_cache(maxsize=None)
def _rows_of(module_type: type, loaded: tuple[bool, ...]) -> tuple[Library | None,
                                                                   Library | None]:
    """(library row, the same row if the type is one of its neurons) of a module type, given
    which libraries are imported (``loaded``, part of the cache key: a library imported
    later changes the answer). A model holds hundreds of modules of a few types."""
    for library in LIBRARIES:
        base = _resolve(library.base)
        if base is not None and issubclass(module_type, base):
            excluded = tuple(filter(None, map(_resolve, library.not_neurons)))
            return library, None if issubclass(module_type, excluded) else library
    return None, None


def register_neuron(module_type: type) -> type:
    """Declare a module type a spiking neuron: it emits binary spikes and costs no SyOPs."""
    if module_type not in _NEURON_TYPES:
        _NEURON_TYPES.append(module_type)
    return module_type


def is_neuron(module: nn.Module) -> bool:
    return isinstance(module, tuple(_NEURON_TYPES)) or _library_neuron(module) is not None


def emits_binary(module: nn.Module) -> bool:
    """Whether a neuron's spikes are 0/1 by construction: SpikingJelly's and registered
    neurons (``register_neuron``'s contract), and the libraries whose table row says so."""
    library = _library_neuron(module)
    return library.binary if library is not None else is_neuron(module)


def returns_states(module: nn.Module) -> bool:
    """Whether a neuron may return ``(spikes, states...)`` (snnTorch, Norse) rather than spikes."""
    library = _library_neuron(module)
    return library is not None and library.returns_states


def with_spikes(output: Any, spikes: Callable[[Tensor], Tensor]) -> Any:
    """A neuron's output with its spikes (the tensor or the tuple's first item) replaced by
    ``spikes(old)``; states that follow are kept."""
    if isinstance(output, Tensor):
        return spikes(output)
    return (spikes(output[0]), *output[1:])


def time_axis(module: nn.Module) -> int | None:
    """The input dim of a neuron that runs over time steps in one call, else None."""
    if getattr(module, "step_mode", "s") == "m":
        return 0
    library = _library_neuron(module)
    return library.time_axis if library is not None else None


def time_steps(module: nn.Module, x: Tensor) -> int:
    """Time steps one call of a neuron runs: T of a multi-step ([T, ...]) SpikingJelly or
    Norse neuron, of a Sinabs layer ([B, T, ...], or [B*T, ...] for its Squeeze variants),
    else 1."""
    squeezed = _resolve(SQUEEZED)
    if squeezed is not None and isinstance(module, squeezed):
        steps = module.num_timesteps   # -1 unless given; batch_size is then
        return steps if steps > 0 else x.shape[0] // module.batch_size
    axis = time_axis(module)
    return x.shape[axis] if axis is not None and x.dim() > axis + 1 else 1


def _stateful(model: nn.Module) -> list[nn.Module]:
    if MemoryModule is None:
        return []
    return [m for m in model.modules() if isinstance(m, MemoryModule)]


def _library_stateful(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if getattr(library_of(m), "reset", None)]


def reset_states(model: nn.Module) -> None:
    """Reset every neuron state: SpikingJelly memories (as ``functional.reset_net`` does, but
    without caching anything on the model), snnTorch neurons (``reset_mem``, per instance:
    ``snntorch.utils.reset`` would reset every instance of the class in the process) and
    Sinabs layers (``reset_states``)."""
    state_resetter(model)()


def state_resetter(model: nn.Module) -> Callable[[], None]:
    """``reset_states(model)`` as a call that finds the stateful modules once (for a loop
    that resets before every batch)."""
    resets = [m.reset for m in _stateful(model)]
    for module in _library_stateful(model):
        reset = getattr(module, library_of(module).reset, None)
        if callable(reset):
            resets.append(reset)

    def reset_all() -> None:
        for reset in resets:
            reset()
    return reset_all


def _kept(value: Any, copies: bool) -> Any:
    if not copies:
        return value
    return value.clone() if isinstance(value, Tensor) else copy.deepcopy(value)


def _save_memories(module: nn.Module, copies: bool = True) -> Callable[[], None]:
    memories = {k: _kept(v, copies) for k, v in module._memories.items()}

    def restore() -> None:
        module._memories.clear()
        module._memories.update(memories)
    return restore


def _stash_tensors(module: nn.Module) -> Callable[[], None]:
    """Keep a library module's buffers and tensor attributes aside and give it working copies
    (Sinabs zeroes its states in place); the returned call puts the very originals back and
    drops attributes that appeared meanwhile."""
    buffers, persistent = dict(module._buffers), set(module._non_persistent_buffers_set)
    attributes = {k: v for k, v in vars(module).items() if isinstance(v, Tensor)}
    keys = set(vars(module))
    module._buffers.update({k: v.detach().clone() for k, v in buffers.items() if v is not None})
    module.__dict__.update({k: v.detach().clone() for k, v in attributes.items()})

    def restore() -> None:
        for key in set(vars(module)) - keys:
            del module.__dict__[key]
        module.__dict__.update(attributes)
        module._buffers.clear()
        module._buffers.update(buffers)
        module._non_persistent_buffers_set.clear()
        module._non_persistent_buffers_set.update(persistent)
    return restore


def save_states(model: nn.Module, copies: bool = True) -> list[Callable[[], None]]:
    """Set aside every neuron state (SpikingJelly memories, snnTorch and Sinabs buffers and
    tensor attributes); ``restore_states`` puts them back exactly. ``copies=False`` keeps
    the SpikingJelly memories themselves, not copies: for a caller that resets every state
    before any forward (a reset rebinds them), so nothing can write into the kept ones."""
    return ([_save_memories(m, copies) for m in _stateful(model)]
            + [_stash_tensors(m) for m in _library_stateful(model)])


def restore_states(saved: list[Callable[[], None]]) -> None:
    for restore in saved:
        restore()


def detached_states(model: nn.Module) -> dict[int, Tensor]:
    """Detached copies of the tensors that a forward with autograd left on the model's
    modules (snnTorch's ``mem`` and ``reset``, Sinabs's ``v_mem``, SpikingJelly's ``v``...),
    keyed by id for a ``copy.deepcopy`` memo: deepcopy refuses tensors that are not graph
    leaves."""
    found = {}
    for module in model.modules():
        for value in vars(module).values():
            for tensor in value.values() if isinstance(value, dict) else (value,):
                if isinstance(tensor, Tensor) and not tensor.is_leaf:
                    found[id(tensor)] = tensor.detach().clone()
    return found
