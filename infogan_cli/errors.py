"""Domain errors: one clear message and a hint, shown by the CLI as one line."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any


class InfoganError(Exception):
    """An error the user can fix. ``hint`` says how."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(InfoganError):
    """A configuration value is out of range or inconsistent."""


class DataError(InfoganError):
    """A dataset is missing, unreadable or malformed."""


class CheckpointError(InfoganError):
    """A checkpoint is missing, corrupted or from an unknown format."""


class TrainingDiverged(InfoganError):
    """A loss became NaN or infinite."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (or its type), for one-line error messages."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def check_choice(what: str, value: Any, choices: Collection[Any]) -> None:
    """A ConfigError "unknown <what> <value>" with the valid ``choices`` as its hint, unless
    ``value`` is one of them."""
    if value not in choices:
        raise ConfigError(f"unknown {what} {value!r}", hint=f"use one of: {', '.join(map(str, choices))}")
