"""``infogan plot``: a run's metrics.jsonl as a PNG of line charts."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def plot(
    run_dir: Path = typer.Argument(..., help="A run folder written by infogan train (holds metrics.jsonl and config.json)."),
    out: Optional[Path] = typer.Option(None, help="PNG file to write (default RUN_DIR/metrics.png)."),
) -> None:
    """Plot D/G losses, the MI estimate per code against its ceiling, and images/s, by step."""
    from infogan_cli.plot import plot_run

    typer.echo(str(plot_run(run_dir, out)))
