"""Dataclasses back from plain values: the inverse of ``dataclasses.asdict``, also after a
JSON round trip (where tuples became lists). Field types are read from the annotations."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any


def from_plain(hint: Any, value: Any) -> Any:
    """``value`` (dicts, lists, scalars) rebuilt as the type ``hint`` describes."""
    if value is None:
        return None
    if dataclasses.is_dataclass(hint):
        return _dataclass(hint, value)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        items = args[:1] * len(value) if args[1:] == (Ellipsis,) else args
        return tuple(from_plain(h, v) for h, v in zip(items, value))
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        return from_plain(options[0], value) if len(options) == 1 else value
    return value


def _dataclass(cls: type, value: dict[str, Any]) -> Any:
    if not isinstance(value, dict):
        raise ValueError(f"expected the fields of {cls.__name__}, got {type(value).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = set(value) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {', '.join(sorted(unknown))}")
    return cls(**{k: from_plain(hints[k], v) for k, v in value.items()})
