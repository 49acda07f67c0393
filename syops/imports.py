"""Objects named ``FILE.py:NAME`` or ``pkg.module:NAME``: a user's model class, a data factory.

User code runs inside ``user_code``: ``sys.argv`` is just the file (a training script that
parses its arguments with argparse sees none), the folders its imports need are on
``sys.path`` only while it runs, and a ``SystemExit`` (``sys.exit``, argparse's usage error)
becomes an ``ImportSpecError`` naming the file and the call: user code never ends syops.

A file is imported under a private name (never ``__main__``, so a script's ``if __name__ ==
"__main__":`` block does not run) with its own folder on ``sys.path``; a file inside a
package (its folder has ``__init__.py``) is imported by its dotted name from the package's
root, so that ``from module import *`` of its repository's root works, as when the
repository's own scripts run. A dotted module is imported with the current folder on
``sys.path``, as ``python -m`` would.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import json
import re
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

SPEC = re.compile(r"^(?P<where>.+):(?P<name>[A-Za-z_]\w*)$")
MODULE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
MAX_JSON_CHARS = 64 << 10
"""--arch-args longer than this are refused (they are a few keyword arguments)."""


class ImportSpecError(ValueError):
    """``FILE.py:NAME`` / ``pkg.module:NAME`` cannot be imported, found or called."""


def is_object_spec(spec: str) -> bool:
    """Whether ``spec`` reads as ``FILE.py:NAME`` or ``pkg.module:NAME``."""
    match = SPEC.match(str(spec))
    if match is None:
        return False
    where = match["where"]
    return where.endswith(".py") or bool(MODULE.match(where))


def spec_folders(spec: str) -> tuple[str, ...]:
    """The folders user code of ``spec`` imports from: the file's own folder and its
    package root, or the current folder for a dotted module."""
    match = SPEC.match(str(spec))
    where = match["where"] if match else str(spec)
    if not where.endswith(".py"):
        return (str(Path.cwd()),)
    path = Path(where).expanduser().resolve()
    return tuple(dict.fromkeys((str(path.parent), str(package_root(path)))))


def package_root(path: Path) -> Path:
    """The folder above the outermost package holding ``path`` (its own folder when that
    has no ``__init__.py``)."""
    folder = path.parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        folder = folder.parent
    return folder


@contextmanager
def user_code(what: str, folders: Sequence[str] = ()) -> Iterator[None]:
    """Run the user's code ``what`` (e.g. ``net.py:Net()``) with ``folders`` first on
    ``sys.path`` and a clean ``sys.argv``, both restored after; a SystemExit becomes an
    ImportSpecError (KeyboardInterrupt passes)."""
    saved_path, saved_argv = list(sys.path), list(sys.argv)
    sys.path[:0] = [folder for folder in folders if folder not in sys.path]
    sys.argv = [what.split(":")[0]]
    try:
        yield
    except SystemExit as exc:
        raise ImportSpecError(f"{what} exited (SystemExit: {exc.code}); your code must "
                              f"return, not call sys.exit or parse command-line arguments") \
            from None
    finally:
        sys.path[:], sys.argv = saved_path, saved_argv


def load_object(spec: str) -> Any:
    """The object ``NAME`` of ``FILE.py:NAME`` or ``pkg.module:NAME``."""
    match = SPEC.match(str(spec))
    if match is None:
        raise ImportSpecError(f"{spec!r} is not FILE.py:NAME or pkg.module:NAME")
    where, name = match["where"], match["name"]
    with user_code(f"importing {where}", spec_folders(spec)):
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
    root = package_root(resolved)
    if root != resolved.parent:
        dotted = ".".join(resolved.relative_to(root).with_suffix("").parts)
        if MODULE.match(dotted):
            return _import_module(dotted, str(path))
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:10]
    stem = re.sub(r"\W", "_", path.stem)
    private = f"_syops_user_{stem}_{digest}"
    if private in sys.modules:
        return sys.modules[private]
    spec = importlib.util.spec_from_file_location(private, resolved)
    module = importlib.util.module_from_spec(spec)
    sys.modules[private] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[private]
        raise ImportSpecError(f"{path}: importing it failed ({summary(exc)})") from None
    except SystemExit:
        del sys.modules[private]
        raise
    return module


def _import_module(name: str, shown: str | None = None) -> Any:
    try:
        return importlib.import_module(name)
    except Exception as exc:
        what = f"{shown}: importing it" if shown else f"importing {name}"
        raise ImportSpecError(f"{what} failed ({summary(exc)})") from None


def summary(exc: BaseException) -> str:
    """``Type: first line`` of an exception raised by user code."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def call_object(obj: Any, spec: str, kwargs: Mapping[str, Any] | None) -> Any:
    """``obj(**kwargs)`` (a class or a factory); a one-line error when the call fails."""
    if not callable(obj):
        raise ImportSpecError(f"{spec} is a {type(obj).__name__}, not a class or function")
    kwargs = dict(kwargs or {})
    call = f"{spec}({_shown(kwargs)})"
    try:
        with user_code(call, spec_folders(spec)), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's multi-line notes on the user's layers
            return obj(**kwargs)
    except ImportSpecError:
        raise
    except TypeError as exc:
        raise ImportSpecError(f"{call} failed ({summary(exc)}); give its keyword arguments "
                              f"as JSON with --arch-args") from None
    except Exception as exc:
        raise ImportSpecError(f"{call} failed ({summary(exc)})") from None


def _shown(kwargs: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in kwargs.items())


def parse_kwargs(text: str | None) -> dict[str, Any]:
    """A JSON object of keyword arguments (``'{"channels": 16}'``); {} for None."""
    if text is None:
        return {}
    if len(text) > MAX_JSON_CHARS:
        raise ImportSpecError(f"is {len(text):,} characters; give a few keyword arguments")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportSpecError(f"not valid JSON ({exc.msg} at column {exc.colno}); give an "
                              f"object such as '{{\"channels\": 16}}'") from None
    except RecursionError:
        raise ImportSpecError("nests too deeply; give an object such as "
                              "'{\"channels\": 16}'") from None
    if not isinstance(value, dict):
        raise ImportSpecError(f"must be a JSON object such as '{{\"channels\": 16}}', not "
                              f"{type(value).__name__}")
    return value
