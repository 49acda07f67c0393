"""Loading the model to profile: a reference model by name (random init), a user's model
class (``--arch FILE.py:NAME`` / ``pkg.module:NAME``), or a file.

Files, safest first:
- a state_dict, or a training checkpoint holding one (under ``model``, ``state_dict``,
  ``model_state_dict`` or ``net``), loaded strictly into the reference arch from ``--arch``
  or from the checkpoint's ``args``, in our key names or an official code base's
  (``syops.models.checkpoints``), or into the user's class; read with
  ``torch.load(weights_only=True)``, only ``argparse.Namespace`` allowed beside tensors;
- a TorchScript archive: its weights, loaded the same way (a ScriptModule takes no hooks);
- a pickled whole ``nn.Module``: only with ``--trust-pickle``, since unpickling runs code,
  and even then never a pickle that calls into os, subprocess, eval and the like.

Only regular files are read (never a device or a FIFO), and none larger than the memory.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import pickle
import re
import stat
import types
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import nn

from syops.imports import call_object, is_object_spec, load_object
from syops.models import ModelInfo, create_model, list_models, model_info
from syops.models import checkpoints
from syops.models.backbone import if_neuron
from syops.models.imagenet import build_resnet
from syops.reports.records import RANDOM_INIT

from .errors import UsageError, first_line

STATE_KEYS = ("model", "state_dict", "model_state_dict", "net")
ARGS_KEYS = ("args", "config", "hparams")
WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DataParallel/DDP, torch.compile
INIT_SEED = 0
FILE_SUFFIXES = (".pt", ".pth", ".ckpt", ".tar", ".bin", ".pkl", ".jit", ".ts")
ANY_FILE = ("a state_dict, checkpoint or TorchScript file (with --arch), or (with "
            "--trust-pickle) a pickled nn.Module")
MAX_FILE_BYTES = 16 << 30
"""Model files above this (or above the machine's memory) are refused before reading."""
MAX_CODE_BYTES = 64 << 20
"""The TorchScript code read to find the custom ops it calls (a zip bomb stops here)."""
PROMOTED_BY_CONNECT = {"spiking_resnet": "sew"}
"""A connect function in the args makes a plain Spiking ResNet name a SEW net (the SEW
authors' archived runs say model='spiking_resnet18', connect_f='add')."""
FORBIDDEN_MODULES = ("os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "pty",
                     "runpy", "importlib", "ctypes", "pickle", "marshal", "webbrowser")
FORBIDDEN_BUILTINS = ("eval", "exec", "compile", "open", "__import__", "getattr", "setattr",
                      "delattr", "globals", "locals", "vars", "input", "breakpoint")


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to profile and what is known about it."""

    module: nn.Module
    name: str
    weights: str                     # RANDOM_INIT, or the file the weights came from
    info: ModelInfo | None = None    # the reference arch, when known
    notes: tuple[str, ...] = ()      # what loading did (for -v)
    warnings: tuple[str, ...] = ()   # what the user should know (stderr, unless -q)


# ------------------------------------------------------------------ reference names
def canonical_arch(name: str) -> str | None:
    """The reference model a spelling names (``sew_resnet18`` -> ``sew18``), or None."""
    key = str(name).strip().lower().replace("-", "_")
    known = set(list_models())
    candidates = (key, key.replace("_resnet", ""), key.replace("resnet", ""),
                  key.replace("_", ""), re.sub(r"[_]?resnet[_]?", "", key))
    return next((c for c in candidates if c in known), None)


def arch_info(name: str, **overrides: Any) -> ModelInfo:
    """``model_info`` of a spelling; unknown names raise with the closest suggestions."""
    key = canonical_arch(name)
    if key is None:
        close = difflib.get_close_matches(str(name).lower(), list_models(), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UsageError(f"unknown model {name!r}{hint} (see 'syops models')")
    return model_info(key, **_applicable(key, overrides))


def _applicable(name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """Drop None overrides, and T for nets without time steps (the ANN ResNets)."""
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if "T" in overrides and model_info(name).T == 1:
        overrides.pop("T")
    return overrides


def _seeded(make: Callable[[], nn.Module]) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED)
        return make()


def build(info: ModelInfo) -> nn.Module:
    """The reference model ``info`` describes, with a seeded random init (same every run)."""
    overrides = {"T": info.T, "connect": info.connect, "num_classes": info.num_classes}
    return _seeded(lambda: create_model(info.name, **_applicable(info.name, overrides)))


def build_plain_shortcut(info: ModelInfo) -> nn.Module:
    """A Spiking ResNet as SpikingJelly and the SEW authors build it: conv1x1-BN shortcut
    without a neuron (the reference model puts an IF on it)."""
    depth = int(re.sub(r"\D", "", info.name))
    return _seeded(lambda: build_resnet(depth, T=info.T, num_classes=info.num_classes,
                                        make_neuron=if_neuron, connect=None,
                                        shortcut_neuron=False))


def reference_model(name: str, T: int | None = None) -> LoadedModel:
    info = arch_info(name, T=T)
    return LoadedModel(build(info), info.name, RANDOM_INIT, info)


# ------------------------------------------------------------------ entry point
def load_model(spec: str, *, arch: str | None = None, trust_pickle: bool = False,
               T: int | None = None, arch_args: Mapping[str, Any] | None = None,
               dt: float | None = None) -> LoadedModel:
    """A file when ``spec`` exists on disk, a user class for ``FILE.py:NAME``, else a
    reference model name."""
    path = Path(spec).expanduser()
    if path.suffix.lower() == ".nir":
        return nir_model(path, dt)
    if dt is not None:
        raise UsageError("--dt applies to NIR graphs (MODEL.nir)")
    if arch_args and not (arch and is_object_spec(arch)) and not is_object_spec(spec):
        raise UsageError("--arch-args applies to --arch FILE.py:NAME or pkg.module:NAME")
    if path.exists() or path.is_symlink():
        return load_file(path, arch=arch, trust_pickle=trust_pickle, T=T, arch_args=arch_args)
    if is_object_spec(spec) and arch is None:
        return user_model(spec, arch_args)
    if path.suffix.lower() in FILE_SUFFIXES or "/" in spec:
        raise UsageError(f"{spec}: no such file")
    if arch is not None and canonical_arch(arch) != canonical_arch(spec):
        raise UsageError(f"--arch applies to model files; {spec!r} is not a file")
    return reference_model(spec, T=T)


def nir_model(path: Path, dt: float | None) -> LoadedModel:
    """A NIR graph (``syops.nir``) run at ``dt``; a file it cannot run is one ValueError."""
    from syops import nir
    module = nir.load(path, dt=nir.DEFAULT_DT if dt is None else dt)
    return LoadedModel(module, f"{path.stem} (dt {module.dt:g} s)", str(path), None, (
        f"NIR graph run at dt = {module.dt:g} s; it takes [T, B, ...] (--time-first for "
        "[N, T, ...] data)",))


def user_model(spec: str, arch_args: Mapping[str, Any] | None,
               weights: str = RANDOM_INIT) -> LoadedModel:
    """The user's class or factory ``spec`` called with ``arch_args``."""
    module = call_object(load_object(spec), spec, arch_args)
    if not isinstance(module, nn.Module):
        raise UsageError(f"{spec} gave a {type(module).__name__}, not a torch nn.Module")
    empty = next((name for name, p in module.named_parameters() if p.numel() == 0), None)
    if empty is not None:
        shape = list(module.get_parameter(empty).shape)
        raise UsageError(f"{spec} built a model whose parameter {empty} is empty {shape}; "
                         f"check --arch-args (a size of 0?)")
    return LoadedModel(module, spec.rpartition(":")[2], weights, None, (f"built {spec}",))


def load_file(path: Path, *, arch: str | None, trust_pickle: bool, T: int | None,
              arch_args: Mapping[str, Any] | None = None) -> LoadedModel:
    check_model_file(path)
    if is_torchscript(path):
        state = torchscript_state(path, arch)
        return _weights_into(state, {}, path, arch, T, arch_args, "TorchScript weights")
    content = _unpickle(path, trust_pickle)
    if isinstance(content, nn.Module):
        return _described(content, path, arch, T, ("pickled nn.Module (trusted)",))
    if isinstance(content, Mapping):
        return _from_checkpoint(content, path, arch, T, arch_args)
    raise UsageError(f"{path}: holds a {type(content).__name__}, not a model; expected {ANY_FILE}")


def memory_bytes() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return MAX_FILE_BYTES


def check_model_file(path: Path) -> None:
    """Refuse anything but a readable regular file of a sane size, before reading it."""
    try:
        info = path.stat()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{path}: is a folder, not a model file")
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{path}: is not a regular file (a device, FIFO or socket); give a "
                         f"model file")
    limit = min(MAX_FILE_BYTES, memory_bytes())
    if info.st_size == 0:
        raise UsageError(f"{path}: is empty; expected {ANY_FILE}")
    if info.st_size > limit:
        raise UsageError(f"{path}: is {info.st_size / 2**30:.1f} GiB, more than this machine "
                         f"can load ({limit / 2**30:.1f} GiB)")
    if not os.access(path, os.R_OK):
        raise UsageError(f"{path}: cannot read (permission denied)")


# ------------------------------------------------------------------ TorchScript
def is_torchscript(path: Path) -> bool:
    """A TorchScript archive is a zip holding ``code/`` and ``constants.pkl``."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/constants.pkl") for name in archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def register_custom_ops(path: Path) -> None:
    """Import the SpikingJelly packages that define the custom ops (``sj_plif::forward``...)
    the archive calls: SpikingJelly registers them on first use, so a fresh process lacks
    them and ``torch.jit.load`` fails."""
    with zipfile.ZipFile(path) as archive:
        sources = [info for info in archive.infolist() if info.filename.endswith(".py")]
        if sum(info.file_size for info in sources) > MAX_CODE_BYTES:
            raise UsageError(f"{path}: its TorchScript code declares more than "
                             f"{MAX_CODE_BYTES >> 20} MiB; not a model archive")
        code = " ".join(archive.read(info).decode("utf-8", "replace") for info in sources)
    for namespace in sorted(set(re.findall(r"\bops\.sj_(\w+)\.", code))):
        for candidate in (namespace, f"{namespace}_"):
            try:
                importlib.import_module(f"spikingjelly._ops.{candidate}")
                break
            except ImportError:
                continue


def torchscript_state(path: Path, arch: str | None) -> dict[str, torch.Tensor]:
    """The weights of a TorchScript archive (a ScriptModule takes no forward hooks, so it
    is counted in the eager model ``--arch`` names)."""
    if arch is None:
        raise UsageError(f"{path}: a TorchScript module takes no hooks, so its layers cannot be "
                         f"counted; pass --arch NAME (a reference model, or FILE.py:CLASS) to "
                         f"count its weights in that model, or profile the eager model's "
                         f"state_dict")
    try:
        register_custom_ops(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return dict(torch.jit.load(str(path), map_location="cpu").state_dict())
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(f"{path}: not a loadable TorchScript archive ({first_line(exc)})") \
            from None


# ------------------------------------------------------------------ pickles
def _guarded_find_class(find_class: Callable) -> Callable:
    def find(module: str, name: str) -> Any:
        root = module.split(".")[0]
        if root in FORBIDDEN_MODULES or (root == "builtins" and name in FORBIDDEN_BUILTINS):
            raise pickle.UnpicklingError(f"refused global {module}.{name}")
        return find_class(module, name)
    return find


class _GuardedUnpickler(pickle.Unpickler):
    """Unpickles classes (a trusted model), but never a call into os, subprocess, eval..."""

    def find_class(self, module: str, name: str) -> Any:
        return _guarded_find_class(super().find_class)(module, name)


GUARDED_PICKLE = types.SimpleNamespace(
    Unpickler=_GuardedUnpickler, __name__="syops_guarded_pickle",
    load=lambda file, **kwargs: _GuardedUnpickler(file, **kwargs).load())


def _refused_global(exc: Exception) -> str | None:
    text = str(exc)
    found = re.search(r"Unsupported global: GLOBAL (\S+)", text) or \
        re.search(r"unsupported GLOBAL (\S+)", text)
    return found.group(1) if found else None


def _unpickle(path: Path, trust_pickle: bool) -> Any:
    try:
        with torch.serialization.safe_globals([argparse.Namespace]), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        refused = _refused_global(exc)
        if refused is None and not trust_pickle:
            raise UsageError(f"{path}: not a model file ({_torch_reason(exc)}); expected "
                             f"{ANY_FILE}") from None
        if refused is not None and not trust_pickle:
            raise UsageError(
                f"{path}: holds pickled Python objects ({refused}) and unpickling can "
                f"run arbitrary code; if you trust the file pass --trust-pickle, or save "
                f"model.state_dict() and pass --arch NAME") from None
    return _trusted_unpickle(path)


def _torch_reason(exc: Exception) -> str:
    """torch's reason without its advice to pass weights_only=False."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    useful = [line for line in lines if not re.search(
        r"weights_only|Weights only load failed|file an issue|Check the documentation", line)]
    return (useful[0] if useful else first_line(exc)).rstrip(".")


def _trusted_unpickle(path: Path) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=False,
                              pickle_module=GUARDED_PICKLE)
    except pickle.UnpicklingError as exc:
        if str(exc).startswith("refused global"):
            raise UsageError(f"{path}: refused even with --trust-pickle: the pickle calls "
                             f"{str(exc).split()[-1]}, which no model needs and which could run "
                             f"commands; save model.state_dict() instead") from None
        raise UsageError(f"{path}: not a model file ({first_line(exc)}) even with "
                         f"--trust-pickle; expected {ANY_FILE}") from None
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"{path}: cannot unpickle it ({first_line(exc)}); the model's code must "
                         f"be importable: run from its project or set PYTHONPATH, or save "
                         f"model.state_dict() and pass --arch FILE.py:CLASS") from None
    except Exception as exc:
        raise UsageError(f"{path}: not a model file even with --trust-pickle "
                         f"({first_line(exc)}); expected {ANY_FILE}") from None


def _described(module: nn.Module, path: Path, arch: str | None, T: int | None,
               notes: tuple[str, ...]) -> LoadedModel:
    info = arch_info(arch, T=T) if arch and not is_object_spec(arch) else None
    return LoadedModel(module, path.name, str(path), info, notes)


# ------------------------------------------------------------------ checkpoints
def _from_checkpoint(content: Mapping, path: Path, arch: str | None, T: int | None,
                     arch_args: Mapping[str, Any] | None) -> LoadedModel:
    state, key = find_state_dict(content, path)
    if isinstance(state, nn.Module):  # a trusted pickle of {"model": module, ...}
        return _described(state, path, arch, T, (f"nn.Module under {key!r}",))
    what = f"state_dict{f' under {key!r}' if key else ''}"
    return _weights_into(state, checkpoint_args(content), path, arch, T, arch_args, what)


def _weights_into(state: Mapping[str, torch.Tensor], args: Mapping[str, Any], path: Path,
                  arch: str | None, T: int | None, arch_args: Mapping[str, Any] | None,
                  what: str) -> LoadedModel:
    """Weights into the user's class (``--arch FILE.py:NAME``) or a reference arch."""
    state, stripped = strip_wrapper_prefix(state)
    notes = (what,) + ((f"stripped the {stripped!r} prefix",) if stripped else ())
    if arch is not None and is_object_spec(arch):
        loaded = user_model(arch, arch_args, weights=str(path))
        load_fitting(loaded.module, state, arch, path)
        return LoadedModel(loaded.module, f"{path.name} ({loaded.name})", str(path), None,
                           notes + loaded.notes)
    info, arch_notes, warned = checkpoint_arch(path, arch, args, T)
    module, fit_notes = _into_reference(state, path, info)
    return LoadedModel(module, f"{path.name} ({info.name})", str(path), info,
                       notes + (f"arch {info.name} ({info.description})",) + arch_notes
                       + fit_notes, warned)


def _into_reference(state: Mapping[str, torch.Tensor], path: Path,
                    info: ModelInfo) -> tuple[nn.Module, tuple[str, ...]]:
    """The reference model of ``info`` with ``state`` loaded strictly, in whichever known
    key layout it uses."""
    built: dict[bool, nn.Module] = {}

    def model_for(layout: checkpoints.Layout) -> nn.Module:
        plain = layout.plain_shortcut and info.family == "spiking_resnet"
        if plain not in built:
            built[plain] = build_plain_shortcut(info) if plain else build(info)
        return built[plain]

    fit = checkpoints.best_fit(state, model_for)
    if not fit.ok:
        raise UsageError(f"{path}: the state_dict does not fit {info.name}: "
                         f"{checkpoints.mismatch(fit)}")
    module = model_for(fit.layout)
    module.load_state_dict(fit.state)
    notes = checkpoints.describe_fit(fit)
    if module is built.get(True):
        notes.append("Spiking ResNet with the official conv1x1-BN shortcut (no IF on it)")
    return module, tuple(notes)


def is_state_dict(content: Any) -> bool:
    return isinstance(content, Mapping) and bool(content) and \
        all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in content.items())


def find_state_dict(content: Mapping, path: Path) -> tuple[Any, str | None]:
    """The state_dict (or trusted module) in a file, and the key it was under."""
    if is_state_dict(content):
        return content, None
    for key in STATE_KEYS:
        value = content.get(key)
        if is_state_dict(value) or isinstance(value, nn.Module):
            return value, key
    keys = ", ".join(map(str, list(content)[:8]))
    raise UsageError(f"{path}: a dict without a state_dict (keys: {keys}); expected tensors, or a "
                     f"checkpoint with one of {', '.join(STATE_KEYS)}")


def checkpoint_args(content: Mapping) -> dict[str, Any]:
    """The training arguments a checkpoint saved (argparse.Namespace or dict), or {}."""
    for key in ARGS_KEYS:
        value = content.get(key)
        if isinstance(value, argparse.Namespace):
            return vars(value)
        if isinstance(value, Mapping):
            return {str(k): v for k, v in value.items()}
    return {}


def checkpoint_arch(path: Path, arch: str | None, args: Mapping[str, Any],
                    T: int | None) -> tuple[ModelInfo, tuple[str, ...], tuple[str, ...]]:
    """The reference arch (``--arch``, else the args' model) with the args' T, connect
    function and classes applied; -T overrides T. Returns (info, notes, warnings): an
    architecture argument that cannot be honoured is a warning (or an error), never dropped."""
    fields, unknown = checkpoints.read_training_args(args)
    notes: list[str] = []
    warned: list[str] = [f"{path}: checkpoint args not known to syops, ignored: "
                         f"{', '.join(unknown)} (if one changes the architecture, the counts "
                         f"do not describe the trained model)"] if unknown else []
    named, connect = fields.get("arch"), fields.get("connect")
    name = canonical_arch(arch) if arch else _named_arch(path, named)
    if name is None:
        name = arch_info(arch).name  # raises with suggestions
    family = model_info(name).family
    if arch and isinstance(named, str) and canonical_arch(named) not in (None, name):
        warned.append(f"{path}: --arch {name} overrides the checkpoint's model={named!r}")
    if connect and not arch and family in PROMOTED_BY_CONNECT:
        name = name.replace(family, PROMOTED_BY_CONNECT[family], 1)
        notes.append(f"args connect_f={connect!r}: {named} with a connect function is {name}")
    info = model_info(name)
    overrides: dict[str, Any] = {"T": T or fields.get("T"), "num_classes": fields.get("num_classes")}
    if T and fields.get("T") and T != fields["T"]:
        notes.append(f"-T {T} overrides the checkpoint's T={fields['T']}")
    if connect and info.connect:
        overrides["connect"] = str(connect).upper()
    elif connect:
        warned.append(f"{path}: the checkpoint's connect_f={connect!r} (a SEW net) does not apply "
                      f"to {name}, which has no connect function; drop --arch to follow the args")
    if fields.get("T") and info.T == 1 and not T:
        warned.append(f"{path}: the checkpoint's T={fields['T']} does not apply to {name} "
                      f"(an ANN, one time step)")
    try:
        return arch_info(name, **overrides), tuple(notes), tuple(warned)
    except ValueError as exc:
        raise UsageError(f"{path}: the checkpoint's args cannot be honoured: {exc}") from None


def _named_arch(path: Path, named: Any) -> str | None:
    name = canonical_arch(named) if isinstance(named, str) else None
    if name is None:
        found = f" (its args name {named!r}, not a reference model)" if named else ""
        raise UsageError(f"{path}: holds a state_dict but no arch{found}; pass --arch NAME "
                         f"(see syops models) or --arch FILE.py:CLASS")
    return name


def strip_wrapper_prefix(state: Mapping[str, torch.Tensor]) -> tuple[dict, str | None]:
    """Remove a prefix that every key carries (``module.`` of DataParallel/DDP...)."""
    for prefix in WRAPPER_PREFIXES:
        if all(key.startswith(prefix) for key in state):
            return {key[len(prefix):]: value for key, value in state.items()}, prefix
    return dict(state), None


def _listed(keys: list[str]) -> str:
    more = f" (+{len(keys) - 3} more)" if len(keys) > 3 else ""
    return ", ".join(keys[:3]) + more


def load_fitting(module: nn.Module, state: Mapping[str, torch.Tensor], arch: str,
                 path: Path) -> None:
    """Load ``state`` into ``module`` strictly; name the first missing, unexpected or
    misshapen keys."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = ([f"missing keys: {_listed(missing)}"] if missing else []) + \
                ([f"unexpected keys: {_listed(unexpected)}"] if unexpected else [])
        raise UsageError(f"{path}: the state_dict does not fit {arch}: {'; '.join(parts)}")
    for key, tensor in state.items():
        if tensor.shape != expected[key].shape:
            raise UsageError(f"{path}: the state_dict does not fit {arch}: {key} has shape "
                             f"{list(tensor.shape)} in the file, {list(expected[key].shape)} "
                             f"in {arch}")
    module.load_state_dict(state)


def announce(loaded: LoadedModel, diagnostics: Any, time_first: bool = False) -> None:
    """Notes (with -v) and warnings about a loaded model on stderr; --time-first only for
    models whose input layout syops does not know."""
    for note in loaded.notes:
        diagnostics.info(f"{loaded.name}: {note}")
    for warning in loaded.warnings:
        diagnostics.warn(warning)
    if time_first and loaded.info is not None:
        raise UsageError(f"--time-first is for your own models: {loaded.info.name} knows its "
                         f"input layout ({loaded.info.name} takes "
                         f"[B, {', '.join(map(str, loaded.info.input_shape))}])")
