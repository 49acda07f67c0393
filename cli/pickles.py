"""Unpickling model files: weights only by default; a whole pickled ``nn.Module`` only with
``--trust-pickle``, and even then only through an allow-list of the globals a model needs.

Unpickling calls whatever globals the file names. Allowed (``allowed``): classes from
anywhere but the standard library (the model's own classes, its neurons' libraries); from
torch and numpy their classes, dtypes and the functions they pickle tensors and arrays with
(``_rebuild_*``, ``_reconstruct``...) and ``torch.nn.functional``; from the standard library
only ``STDLIB_ALLOWED`` (``collections.OrderedDict``, ``copyreg._reconstructor``...). Every
other function is refused: ``os.system``, ``timeit.timeit``, ``pathlib.Path.write_text``,
``code.InteractiveInterpreter.runsource``, ``torch.load`` and the like.
"""

from __future__ import annotations

import argparse
import collections
import copyreg
import functools
import pickle
import re
import sys
import types
import warnings
from pathlib import Path
from typing import Any

import torch

from .errors import UsageError, first_line

ANY_FILE = ("a state_dict, checkpoint or TorchScript file (with --arch), or (with "
            "--trust-pickle) a pickled nn.Module")
ARRAY_ROOTS = ("torch", "numpy")
ARRAY_FUNCTIONS = re.compile(r"^(_rebuild\w*|_reconstruct|scalar|_load_from_bytes|_get_layout|"
                             r"_set_obj_state|_fill)$")
STDLIB_ALLOWED = frozenset({
    collections.OrderedDict, collections.defaultdict, getattr(copyreg, "_reconstructor"),
    getattr(copyreg, "__newobj__"),
    functools.partial, argparse.Namespace, types.SimpleNamespace, object, set, frozenset, slice,
    range, complex, bytearray, bytes, int, float, bool, str, tuple, list, dict, type(None)})
"""Standard-library globals a pickled model may name (containers, object reconstruction)."""


def root_module(obj: Any, module: str) -> str:
    return str(getattr(obj, "__module__", None) or module).split(".")[0]


def allowed(obj: Any, module: str) -> bool:
    """Whether unpickling may call or build ``obj`` (found as a global of ``module``)."""
    root = root_module(obj, module)
    if root in ("builtins", "__builtin__") or root in sys.stdlib_module_names:
        return obj in STDLIB_ALLOWED
    if root not in ARRAY_ROOTS:
        return isinstance(obj, type)  # the model's own classes; never a function
    if isinstance(obj, (type, torch.dtype, torch.device, torch.layout, torch.memory_format)):
        return True
    name = getattr(obj, "__name__", "")
    return bool(ARRAY_FUNCTIONS.match(name)) or \
        getattr(obj, "__module__", "") == "torch.nn.functional"


class AllowListUnpickler(pickle.Unpickler):
    """Unpickles a trusted model, refusing every global outside ``allowed``."""

    def find_class(self, module: str, name: str) -> Any:
        obj = super().find_class(module, name)
        if not allowed(obj, module):
            raise pickle.UnpicklingError(f"refused global {module}.{name}")
        return obj


ALLOW_LIST_PICKLE = types.SimpleNamespace(
    Unpickler=AllowListUnpickler, __name__="syops_allow_list_pickle",
    load=lambda file, **kwargs: AllowListUnpickler(file, **kwargs).load())


def _refused_global(exc: Exception) -> str | None:
    text = str(exc)
    found = re.search(r"Unsupported global: GLOBAL (\S+)", text) or \
        re.search(r"unsupported GLOBAL (\S+)", text)
    return found.group(1) if found else None


def unpickle(path: Path, trust_pickle: bool) -> Any:
    """The content of a model file: weights only, else (trusted) through the allow-list."""
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
    return _trusted(path)


def _torch_reason(exc: Exception) -> str:
    """torch's reason without its advice to pass weights_only=False."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    useful = [line for line in lines if not re.search(
        r"weights_only|Weights only load failed|file an issue|Check the documentation", line)]
    return (useful[0] if useful else first_line(exc)).rstrip(".")


def _trusted(path: Path) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=False,
                              pickle_module=ALLOW_LIST_PICKLE)
    except pickle.UnpicklingError as exc:
        if str(exc).startswith("refused global"):
            raise UsageError(f"{path}: refused even with --trust-pickle: the pickle calls "
                             f"{str(exc).split()[-1]}, which is not on the list of what a "
                             f"pickled model needs (classes, tensors, arrays, containers); "
                             f"save model.state_dict() instead") from None
        raise UsageError(f"{path}: not a model file ({first_line(exc)}) even with "
                         f"--trust-pickle; expected {ANY_FILE}") from None
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"{path}: cannot unpickle it ({first_line(exc)}); the model's code must "
                         f"be importable: run from its project or set PYTHONPATH, or save "
                         f"model.state_dict() and pass --arch FILE.py:CLASS") from None
    except Exception as exc:
        raise UsageError(f"{path}: not a model file even with --trust-pickle "
                         f"({first_line(exc)}); expected {ANY_FILE}") from None

