"""``infogan traverse``: one labelled grid per code (and a GIF per continuous code with --gif)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from .common import check_at_least, check_seed, ensure_writable_dir, stderr

if TYPE_CHECKING:
    from rich.table import Table

    from infogan_cli.infogan import InfoGAN
    from infogan_cli.traverse import Traversal


def traverse(
    checkpoint: Path = typer.Argument(..., help="A checkpoint written by infogan train (e.g. runs/x/last.safetensors)."),
    out: Optional[Path] = typer.Option(None, help="Output folder; default <checkpoint>-traversals beside the checkpoint."),
    value_range: tuple[float, float] = typer.Option((-2.0, 2.0), "--range", help="MIN MAX of the continuous sweep (code units; the prior is Unif(-1, 1) or N(0, 1))."),
    steps: int = typer.Option(10, help="Columns of a continuous sweep (>= 2)."),
    rows: int = typer.Option(10, help="Random samples (rows) per categorical grid, and per continuous grid when there is no categorical code (>= 1)."),
    seed: int = typer.Option(0, help="Random seed (0..2^63-1); the same seed gives the same files."),
    gif: bool = typer.Option(False, "--gif", help="Also write <code>.gif per continuous code, sweeping it."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:N or mps."),
) -> None:
    """Write one grid per code that varies it while the noise and the other codes stay fixed."""
    from infogan_cli.errors import ConfigError
    from infogan_cli.infogan import InfoGAN
    from infogan_cli.traverse import all_traversals, sweep_values

    check_options(value_range, steps, rows, seed)
    model = InfoGAN.load(checkpoint, device)
    spec = model.latent_spec
    if not spec.code_names:
        raise ConfigError(f"{checkpoint} has no codes to traverse (noise only)")
    out_dir = ensure_writable_dir(out or checkpoint.with_name(f"{checkpoint.stem}-traversals"))

    traversals = all_traversals(spec, rows, sweep_values(*value_range, steps), seed)
    files = render_files(model, traversals, out_dir, gif)
    write_files(files)
    stderr.print(written_table(traversals, files, value_range))


def check_options(value_range: tuple[float, float], steps: int, rows: int, seed: int) -> None:
    from infogan_cli.errors import ConfigError

    low, high = value_range
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise ConfigError(f"--range needs MIN < MAX, got {low:g} {high:g}", hint="for example --range -2 2")
    check_at_least("--steps", steps, 2)
    check_at_least("--rows", rows, 1)
    check_seed(seed)


def render_files(model: InfoGAN, traversals: list[Traversal], out_dir: Path, gif: bool) -> dict[Path, bytes]:
    """Every output file's bytes, built in memory first so a failure writes nothing."""
    from infogan_cli.render import gif_bytes, png_bytes, traversal_frames, traversal_grid
    from infogan_cli.traverse import CONTINUOUS

    files: dict[Path, bytes] = {}
    for traversal in traversals:
        images = model.generate_from(traversal.latent)  # (rows * columns, C, H, W)
        files[out_dir / f"{traversal.code}.png"] = png_bytes(traversal_grid(traversal, images))
        if gif and traversal.kind == CONTINUOUS:
            files[out_dir / f"{traversal.code}.gif"] = gif_bytes(traversal_frames(traversal, images))
    return files


def write_files(files: dict[Path, bytes]) -> None:
    from infogan_cli.files import atomic_write_bytes

    for path, data in files.items():
        atomic_write_bytes(path, data)


def written_table(traversals: list[Traversal], files: dict[Path, bytes], value_range: tuple[float, float]) -> Table:
    """A rich table: one line per file, saying what its columns, rows or frames show."""
    from rich.table import Table

    from infogan_cli.traverse import CATEGORICAL

    by_code = {t.code: t for t in traversals}
    folder = next(iter(files)).parent
    table = Table(title=f"wrote {len(files)} files to {folder}", title_justify="left")
    table.add_column("file", overflow="fold")
    for column in ("code", "layout", "shows"):
        table.add_column(column)
    low, high = value_range
    for path in files:
        t = by_code[path.stem]
        down = f"{t.row_code} = 0..{t.rows - 1} down" if t.row_code else "samples down"
        if t.kind == CATEGORICAL:
            layout, shows = f"{t.rows} x {t.columns}", f"{t.code} = 0..{t.columns - 1} across, {down}"
        elif path.suffix == ".gif":
            layout, shows = f"{t.columns} frames", f"{t.code} = {low:g}..{high:g} over frames, {down}"
        else:
            layout, shows = f"{t.rows} x {t.columns}", f"{t.code} = {low:g}..{high:g} across, {down}"
        table.add_row(path.name, f"{t.code} ({t.kind})", layout, shows)
    return table
