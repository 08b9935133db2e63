"""Typed configs: frozen dataclasses <-> the ConfigDicts that `launch.py` overrides, strictly.

Every configurable part of the library is a frozen dataclass whose defaults are the papers'
settings (e.g. `motion_jax.stages.vqvae.VQStageConfig`). An experiment builds its ConfigDict from
those defaults with `config_dict`, shrinks it for a preset, and `launch.py` applies the
`--config.a.b=v` overrides. `from_dict` turns the result back into the dataclasses: a key that is
not a field raises `ConfigError` naming the full key path and the valid keys, so a misspelt or
stale override can never be accepted and silently ignored. Since the ConfigDict is generated from
the dataclasses, every key of it is a field that the code reads.

Supported field types: bool, int, float, str, nested frozen dataclasses, `tuple[X, ...]` of
scalars, and `X | None`. An int given for a float field is converted; anything else of the wrong
type raises.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

import ml_collections

T = TypeVar("T")


class ConfigError(ValueError):
  """A config that does not fit its dataclass; the message names the key path."""


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
  return typing.get_type_hints(cls)


def _fields(cls: type) -> list[str]:
  return [f.name for f in dataclasses.fields(cls)]


def _is_dataclass_type(tp: Any) -> bool:
  return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _convert(tp: Any, value: Any, path: str) -> Any:
  """`value` as type `tp` (see the module docstring for what is supported)."""
  origin = typing.get_origin(tp)
  if origin in (typing.Union, types.UnionType):
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if value is None:
      return None
    if len(args) != 1:
      raise ConfigError(f"{path}: unsupported union type {tp}")
    return _convert(args[0], value, path)
  if _is_dataclass_type(tp):
    if isinstance(value, tp):
      return value
    if not isinstance(value, Mapping | ml_collections.ConfigDict):
      raise ConfigError(f"{path}: expected a section with keys {_fields(tp)}, got {value!r}")
    return from_dict(tp, value, path)
  if origin in (tuple, list) or tp in (tuple, list):
    if isinstance(value, str) or not hasattr(value, "__iter__"):
      raise ConfigError(f"{path}: expected a sequence, got {value!r}")
    args = typing.get_args(tp)
    item = args[0] if args else Any
    return tuple(_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value))
  if tp is Any:
    return value
  if tp is float:
    if isinstance(value, bool) or not isinstance(value, int | float):
      raise ConfigError(f"{path}: expected a number, got {value!r}")
    return float(value)
  if tp in (int, bool, str):
    if tp is int and isinstance(value, float) and value.is_integer():
      value = int(value)
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
      raise ConfigError(f"{path}: expected {tp.__name__}, got {value!r}")
    return value
  raise ConfigError(f"{path}: unsupported field type {tp}")


def from_dict(
  cls: type[T], values: Mapping[str, Any] | ml_collections.ConfigDict, path: str = "config"
) -> T:
  """The dataclass `cls` from a (Config)dict; unknown keys raise `ConfigError` with the valid ones.

  Keys absent from `values` keep the dataclass defaults.
  """
  items = dict(values.items())
  names = _fields(cls)
  unknown = sorted(set(items) - set(names))
  if unknown:
    keys = ", ".join(f"{path}.{k}" for k in unknown)
    raise ConfigError(f"unknown config key(s) {keys}; valid keys of {path}: {', '.join(names)}")
  hints = _hints(cls)
  kwargs = {k: _convert(hints[k], v, f"{path}.{k}") for k, v in items.items()}
  try:
    return cls(**kwargs)
  except (TypeError, ValueError) as e:
    if isinstance(e, ConfigError):
      raise
    raise ConfigError(f"{path}: {e}") from e


def to_dict(obj: Any) -> dict[str, Any]:
  """Nested plain dict of a config dataclass (floats as floats, sequences as tuples)."""
  if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
    raise TypeError(f"to_dict expects a dataclass instance, got {obj!r}")
  hints = _hints(type(obj))
  out = {}
  for name in _fields(type(obj)):
    value = getattr(obj, name)
    if dataclasses.is_dataclass(value):
      out[name] = to_dict(value)
    elif hints[name] is float and isinstance(value, int) and not isinstance(value, bool):
      out[name] = float(value)
    elif isinstance(value, list | tuple):
      out[name] = tuple(value)
    else:
      out[name] = value
  return out


def config_dict(obj: Any) -> ml_collections.ConfigDict:
  """The overridable ConfigDict of a config dataclass instance (its defaults)."""
  return ml_collections.ConfigDict(to_dict(obj))


def leaf_keys(cfg: Mapping[str, Any] | ml_collections.ConfigDict, prefix: str = "") -> list[str]:
  """Dotted paths of every leaf of a nested (Config)dict."""
  keys = []
  for k, v in cfg.items():
    key = f"{prefix}{k}"
    if isinstance(v, Mapping | ml_collections.ConfigDict):
      keys.extend(leaf_keys(v, key + "."))
    else:
      keys.append(key)
  return keys


__all__ = ["ConfigError", "config_dict", "from_dict", "leaf_keys", "to_dict"]
