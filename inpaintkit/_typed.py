"""Typed reading of config mappings: dataclasses from YAML data, ``--key=value`` overrides.

Supported field types: ``int``, ``float``, ``bool``, ``str``, ``list[...]``, ``dict[str, ...]``,
``Any`` (kept as given; override strings are decoded as YAML) and nested dataclasses. Strings are
accepted wherever they parse as the field's type (``"3e-4"`` for a float: PyYAML reads ``3e-4``
without a dot as a string).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

import yaml

from .types import InputError

T = TypeVar("T")
_BOOLS = {"true": True, "false": False, "yes": True, "no": False, "on": True, "off": False, "1": True, "0": False}


class Override(str):
    """A value given on the command line (a string; decoded as YAML where the type is open)."""


def parse_section(cls: type[T], data: Mapping[str, Any], prefix: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, checking keys and types field by field.

    Objectives use it for their own section (``parse_section(LamaLossConfig, cfg.objective,
    "objective")``) so that their errors read like those of the rest of the config.

    Args:
        cls: a dataclass whose fields have the supported types (see the module docstring).
        data: raw values (YAML scalars or override strings).
        prefix: dotted path of ``data`` inside the whole config, for messages.

    Raises:
        InputError: unknown key, or a value that does not fit its field's type (the message names
            the key, the expected type and the value).
    """
    return coerce(data, cls, prefix)


def apply_override(data: dict[str, Any], item: str, root: type) -> None:
    """Set the field named by ``item`` (``"--a.b.c=value"``) in ``data``, raw values of dataclass ``root``.

    Path parts name dataclass fields, dict keys or list indices (``schedule.phases.0.steps``).
    The value is stored as an :class:`Override` and typed later by :func:`parse_section`.

    Raises:
        InputError: a malformed item, or a key that is no field of the config.
    """
    key, sep, value = item.lstrip("-").partition("=")
    if not sep or not key:
        raise InputError(f"override {item!r} must look like --section.key=value")
    parts = key.split(".")
    node: Any = data
    hint: Any = root
    for depth, part in enumerate(parts):
        where, parent = ".".join(parts[: depth + 1]), hint
        if dataclasses.is_dataclass(parent):
            hints = typing.get_type_hints(parent)
            if part not in hints:
                raise InputError(f"unknown config key {where!r}; valid keys: {', '.join(hints)}")
            hint = hints[part]
        elif typing.get_origin(parent) is dict:
            hint = typing.get_args(parent)[1]
        elif typing.get_origin(parent) is list and part.isdigit() and int(part) < len(node):
            part, hint = int(part), typing.get_args(parent)[0]
        elif parent is not Any or not isinstance(node, dict):
            raise InputError(f"unknown config key {where!r}: {'.'.join(parts[:depth])} has no such entry")
        if depth == len(parts) - 1:
            node[part] = Override(value)
            return
        if isinstance(node, dict) and part not in node:
            node[part] = _default(parent, part) if dataclasses.is_dataclass(parent) else {}
        node = node[part]
        if not isinstance(node, (dict, list)):
            raise InputError(f"unknown config key {key!r}: {where} is a single value")


def coerce(value: Any, hint: Any, key: str) -> Any:
    """Convert ``value`` to type ``hint`` or raise an :class:`InputError` naming ``key``."""
    if hint is Any:
        return yaml.safe_load(value) if isinstance(value, Override) else value
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
        hints = typing.get_type_hints(hint)
        for name in value:
            if name not in hints:
                raise InputError(f"unknown config key {_join(key, name)!r}; valid keys: {', '.join(hints)}")
        return hint(**{name: coerce(v, hints[name], _join(key, name)) for name, v in value.items()})
    if origin is dict and isinstance(value, Mapping):
        return {str(k): coerce(v, typing.get_args(hint)[1], _join(key, k)) for k, v in value.items()}
    if origin is list:
        (item,) = typing.get_args(hint)
        if isinstance(value, (list, tuple)):
            return [coerce(v, item, f"{key}.{i}") for i, v in enumerate(value)]
        if isinstance(value, Override):
            try:
                decoded = yaml.safe_load(value)
                if isinstance(decoded, list):
                    return [coerce(v, item, key) for v in decoded]
            except (yaml.YAMLError, InputError):
                pass
    elif hint in (bool, int, float, str):
        converted = _scalar(value, hint)
        if converted is not None:
            return converted
    raise _mismatch(key, hint, value)


def _scalar(value: Any, hint: type) -> Any:
    """``value`` as ``hint`` (strings parsed), or ``None`` if it does not fit."""
    if isinstance(value, hint) and not (hint is int and isinstance(value, bool)):
        return str(value) if hint is str else value
    if hint is bool:
        return _BOOLS.get(value.lower()) if isinstance(value, str) else None
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and hint in (int, float):
        try:
            return hint(value)
        except ValueError:
            return None
    return None


def _mismatch(key: str, hint: Any, value: Any) -> InputError:
    if isinstance(value, Override):
        return InputError(f"--{key}={value}: expected {_type_name(hint)}, got {str(value)!r}")
    return InputError(f"{key}: expected {_type_name(hint)}, got {value!r}")


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) is list:
        return f"list of {_type_name(typing.get_args(hint)[0])}"
    if dataclasses.is_dataclass(hint) or typing.get_origin(hint) is dict:
        return "mapping"
    return getattr(hint, "__name__", str(hint))


def _join(prefix: str, name: object) -> str:
    return f"{prefix}.{name}" if prefix else str(name)


def _default(cls: Any, name: str) -> Any:
    """The default of field ``name`` of dataclass ``cls`` as plain data."""
    value = getattr(cls(), name)
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, list):
        return [dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for v in value]
    return dict(value) if isinstance(value, dict) else value
