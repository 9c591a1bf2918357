"""Typed run config for the assets with choices, visible and editable in the launchpad.

The quant layer's frozen dataclasses stay the one place where each default lives; the
Dagster `Config` classes are derived from them field by field (tuples become lists,
nested dataclasses nested configs), and `to_quant(config, cls)` turns a launchpad entry
back into the dataclass. So a default changed in quant/ shows up in the UI by itself.
Each lane declares its own run configs with `config_class` (assets/<lane>/config.py).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import dagster as dg
from pydantic import Field, create_model

_CLASSES: dict[type, type[dg.Config]] = {}


def _field_type(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return config_class(tp)
    if origin is tuple:
        return list[typing.get_args(tp)[0]]
    if origin in (typing.Union, getattr(__import__("types"), "UnionType")):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _field_type(args[0]) | None
    return tp


def _dataclass_of(tp: Any) -> type | None:
    """The dataclass a field holds (also through `X | None`), or None."""
    if dataclasses.is_dataclass(tp):
        return tp
    if typing.get_origin(tp) in (typing.Union, getattr(__import__("types"), "UnionType")):
        found = [a for a in typing.get_args(tp) if dataclasses.is_dataclass(a)]
        return found[0] if found else None
    return None


def config_class(cls: type) -> type[dg.Config]:
    """A dg.Config with the dataclass's fields, types and defaults."""
    if cls not in _CLASSES:
        hints = typing.get_type_hints(cls)
        fields: dict[str, Any] = {}
        defaults = cls()
        for f in dataclasses.fields(cls):
            value = getattr(defaults, f.name)
            tp = _field_type(hints[f.name])
            if dataclasses.is_dataclass(value):
                made = _dataclass_of(hints[f.name])
                fields[f.name] = (tp, Field(default_factory=config_class(made)))
            else:
                fields[f.name] = (tp, Field(default=list(value) if isinstance(value, tuple) else value))
        _CLASSES[cls] = create_model(f"{cls.__name__}Config", __base__=dg.Config, **fields)
        _CLASSES[cls].__doc__ = (cls.__doc__ or "").strip().split("\n")[0] or cls.__name__
    return _CLASSES[cls]


def to_quant(config: dg.Config, cls: type) -> Any:
    """The dataclass a launchpad entry stands for."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        value = getattr(config, f.name)
        tp = hints[f.name]
        made = _dataclass_of(tp)
        if made is not None and isinstance(value, dg.Config):
            value = to_quant(value, made)
        elif typing.get_origin(tp) is tuple or (isinstance(value, list)):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)

