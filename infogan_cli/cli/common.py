"""Helpers shared by the subcommands: the stderr console and code/option parsing."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from infogan_cli.config import LatentSpec

stderr = Console(stderr=True)
MAX_SEED = 2**63 - 1


def ensure_writable_dir(path: Path) -> Path:
    """Create ``path`` (and parents) or fail with a one-line error naming it."""
    from infogan_cli.errors import ConfigError

    if path.exists() and not path.is_dir():
        raise ConfigError(f"output folder {path} is a file", hint="pass --out with a folder path")
    try:
        path.mkdir(parents=True, exist_ok=True)
        # A uniquely named probe: under torchrun every rank checks the same folder at once.
        with tempfile.NamedTemporaryFile(dir=path, prefix=".infogan-write-test-"):
            pass
    except OSError as exc:
        raise ConfigError(f"cannot write to {path}: {exc.strerror}", hint="pick another --out folder") from None
    return path


def ensure_writable_file(path: Path) -> Path:
    """Check that ``path`` can be written (creating its folder), before any work is done."""
    from infogan_cli.errors import ConfigError

    if path.is_dir():
        raise ConfigError(f"output {path} is a folder", hint="pass --out with a file path")
    ensure_writable_dir(path.parent)
    return path


def check_at_least(option: str, value: int, low: int) -> None:
    """Our own range check, so a bad count is one ``error:`` line like every other bad input."""
    from infogan_cli.errors import ConfigError

    if value < low:
        raise ConfigError(f"{option} must be >= {low}, got {value}")


def check_seed(seed: int) -> None:
    from infogan_cli.errors import ConfigError

    if not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"--seed must be between 0 and {MAX_SEED}, got {seed}")


def parse_codes(options: list[str], spec: LatentSpec) -> dict[str, float]:
    """``--code NAME=VALUE`` options -> {name: number}.

    Checks the form, the name and that the value is a finite number; whether a categorical
    value is an integer in range is left to ``InfoGAN.validate_codes``.
    """
    from infogan_cli.errors import ConfigError

    codes: dict[str, float] = {}
    for option in options:
        name, equals, text = (part.strip() for part in option.partition("="))
        if not (equals and name and text):
            raise ConfigError(f"--code {option!r} is not NAME=VALUE", hint="for example --code c1=3 --code c2=0.5")
        if name not in spec.code_names:
            raise ConfigError(f"unknown code {name!r}", hint=f"this model has codes: {', '.join(spec.code_names) or 'none'}")
        if name in codes:
            raise ConfigError(f"--code {name} is given twice", hint="give each code once")
        codes[name] = _code_number(name, text, spec)
    return codes


def _code_number(name: str, text: str, spec: LatentSpec) -> float:
    """The value of ``--code name=text`` as an int or finite float, or a ConfigError naming the code."""
    from infogan_cli.errors import ConfigError

    try:
        number = int(text)  # kept an int, so messages echo "10", not "10.0"
        float(number)  # OverflowError beyond the float range, which validate_codes can't take
        return number
    except (ValueError, OverflowError):
        pass
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if math.isfinite(value):
        return value
    if name in spec.categorical_names:
        k = spec.categorical[spec.categorical_names.index(name)]
        raise ConfigError(f"{name} is categorical with {k} values: {text!r} is not an integer in 0..{k - 1}")
    raise ConfigError(f"{name} is continuous: {text!r} is not a finite number", hint=f"for example --code {name}=0.5")
