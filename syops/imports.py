"""Objects named ``FILE.py:NAME`` or ``pkg.module:NAME``: a user's model class, a data factory.

A file is imported as a module under a private name (never ``__main__``), so a training
script's ``if __name__ == "__main__":`` block does not run; its folder goes on ``sys.path``
so that its own sibling imports work. A dotted module is imported with the current folder
on ``sys.path``, as ``python -m`` would.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Any, Mapping

SPEC = re.compile(r"^(?P<where>.+):(?P<name>[A-Za-z_]\w*)$")
MODULE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


class ImportSpecError(ValueError):
    """``FILE.py:NAME`` / ``pkg.module:NAME`` cannot be imported, found or called."""


def is_object_spec(spec: str) -> bool:
    """Whether ``spec`` reads as ``FILE.py:NAME`` or ``pkg.module:NAME``."""
    match = SPEC.match(str(spec))
    if match is None:
        return False
    where = match["where"]
    return where.endswith(".py") or bool(MODULE.match(where))


def load_object(spec: str) -> Any:
    """The object ``NAME`` of ``FILE.py:NAME`` or ``pkg.module:NAME``."""
    match = SPEC.match(str(spec))
    if match is None:
        raise ImportSpecError(f"{spec!r} is not FILE.py:NAME or pkg.module:NAME")
    where, name = match["where"], match["name"]
    module = _import_file(Path(where)) if where.endswith(".py") else _import_module(where)
    if not hasattr(module, name):
        public = [n for n in vars(module) if not n.startswith("_")]
        close = difflib.get_close_matches(name, public, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ImportSpecError(f"{where} defines no {name!r}{hint}")
    return getattr(module, name)


def _import_file(path: Path) -> Any:
    path = path.expanduser()
    if not path.is_file():
        raise ImportSpecError(f"{path}: no such Python file")
    resolved = path.resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:10]
    stem = re.sub(r"\W", "_", path.stem)
    private = f"_syops_user_{stem}_{digest}"
    if private in sys.modules:
        return sys.modules[private]
    spec = importlib.util.spec_from_file_location(private, resolved)
    module = importlib.util.module_from_spec(spec)
    folder = str(resolved.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    sys.modules[private] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        del sys.modules[private]
        raise ImportSpecError(f"{path}: importing it failed ({_summary(exc)})") from None
    return module


def _import_module(name: str) -> Any:
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    except (Exception, SystemExit) as exc:
        raise ImportSpecError(f"cannot import {name} ({_summary(exc)})") from None


def _summary(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def call_object(obj: Any, spec: str, kwargs: Mapping[str, Any] | None) -> Any:
    """``obj(**kwargs)`` (a class or a factory); a one-line error when the call fails."""
    if not callable(obj):
        raise ImportSpecError(f"{spec} is a {type(obj).__name__}, not a class or function")
    kwargs = dict(kwargs or {})
    try:
        return obj(**kwargs)
    except TypeError as exc:
        raise ImportSpecError(f"{spec}({_shown(kwargs)}) failed ({_summary(exc)}); give its "
                              f"keyword arguments as JSON with --arch-args") from None
    except Exception as exc:
        raise ImportSpecError(f"{spec}({_shown(kwargs)}) failed ({_summary(exc)})") from None


def _shown(kwargs: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in kwargs.items())


def parse_kwargs(text: str | None) -> dict[str, Any]:
    """A JSON object of keyword arguments (``'{"channels": 16}'``); {} for None."""
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportSpecError(f"not valid JSON ({exc.msg} at column {exc.colno}); give an "
                              f"object such as '{{\"channels\": 16}}'") from None
    if not isinstance(value, dict):
        raise ImportSpecError(f"must be a JSON object such as '{{\"channels\": 16}}', not "
                              f"{type(value).__name__}")
    return value
