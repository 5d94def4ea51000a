"""Helpers shared by the subcommands: the stderr console and code/option parsing."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

stderr = Console(stderr=True)


def ensure_writable_dir(path: Path) -> Path:
    """Create ``path`` (and parents) or fail with a one-line error naming it."""
    from infogan_cli.errors import ConfigError

    if path.exists() and not path.is_dir():
        raise ConfigError(f"output folder {path} is a file", hint="pass --out with a folder path")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".infogan-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"cannot write to {path}: {exc.strerror}", hint="pick another --out folder") from None
    return path
