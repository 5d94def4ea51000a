"""Command options from a TOML file (``infogan train --config FILE.toml``).

The file is flat: one key per option, named as the option with underscores or dashes
(``lr_d = 2e-4``, ``batch-size = 64``, ``categorical = [10]``). Every key and value is checked
here, strictly, so a typo or a wrong type is one error naming the key, never a silent default.
Which options exist, and their types, comes from the command itself (see ``spec_from_annotation``).
"""

from __future__ import annotations

import math
import os
import tomllib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

MAX_CONFIG_BYTES = 1_000_000
KINDS = (bool, int, float, str, Path)


@dataclass(frozen=True)
class OptionSpec:
    """What one option accepts: a scalar of ``kind`` (a list of them if ``multiple``), >= ``minimum``."""

    kind: type
    multiple: bool = False
    minimum: float | None = None


def spec_from_annotation(annotation: Any, minimum: float | None = None) -> OptionSpec:
    """``Optional[list[int]]`` -> OptionSpec(int, multiple=True); ``Optional[Path]`` -> Path; ..."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        present = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(present) != 1:
            raise TypeError(f"unsupported option type {annotation!r}")
        annotation = present[0]
    multiple = typing.get_origin(annotation) in (list, tuple)
    if multiple:
        annotation = typing.get_args(annotation)[0]
    if annotation not in KINDS:
        raise TypeError(f"unsupported option type {annotation!r}")
    return OptionSpec(annotation, multiple, minimum)


def read_options_file(path: str | os.PathLike, specs: dict[str, OptionSpec]) -> dict[str, Any]:
    """{option name (underscores): value} from the TOML file at ``path``, checked against ``specs``."""
    path = Path(path)
    table = _load_toml(path)
    options: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in specs:
            raise ConfigError(f"{path}: unknown key {key!r}", hint=f"known keys: {', '.join(sorted(specs))}")
        if name in options:
            raise ConfigError(f"{path}: {key!r} is given twice (with dashes and with underscores)")
        options[name] = _check_value(path, key, value, specs[name])
    return options


def _load_toml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    if not path.is_file():
        raise ConfigError(f"config file {path} is not a file")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is larger than {MAX_CONFIG_BYTES // 1000} kB")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _check_value(path: Path, key: str, value: Any, spec: OptionSpec) -> Any:
    if spec.multiple:
        if not isinstance(value, list):
            raise ConfigError(f"{path}: {key} must be a list, each item {_kind_name(spec.kind)}, got {value!r}")
        return [_check_scalar(path, f"{key}[{index}]", item, spec) for index, item in enumerate(value)]
    return _check_scalar(path, key, value, spec)


def _check_scalar(path: Path, key: str, value: Any, spec: OptionSpec) -> Any:
    kind = spec.kind
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)  # `lambda_cat = 1` means 1.0
    expected = str if kind is Path else kind
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"{path}: {key} must be {_kind_name(kind)}, got {value!r}")
    if kind is float and not math.isfinite(value):
        raise ConfigError(f"{path}: {key} must be a finite number, got {value!r}")
    if spec.minimum is not None and value < spec.minimum:
        raise ConfigError(f"{path}: {key} must be >= {spec.minimum}, got {value!r}")
    return Path(value) if kind is Path else value


def _kind_name(kind: type) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string", Path: "a path string"}[kind]
