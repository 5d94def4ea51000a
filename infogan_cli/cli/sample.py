"""``infogan sample``: a grid (PNG) or arrays (npz) of generated images, some codes fixed."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import typer

from .common import check_at_least, check_seed, ensure_writable_file, parse_codes

FORMATS = ("png", "npz")


def sample(
    checkpoint: Path = typer.Argument(..., help="A checkpoint written by infogan train (e.g. runs/x/last.safetensors)."),
    code: Optional[list[str]] = typer.Option(None, "--code", help="Fix a code, NAME=VALUE: c1=3 (categorical value 0..K-1) or c2=0.5; repeatable. Codes not fixed come from their prior."),
    n: int = typer.Option(100, "--n", help="Number of images (>= 1)."),
    nrow: Optional[int] = typer.Option(None, help="Images per grid row; default ceil(sqrt(n))."),
    seed: int = typer.Option(0, help="Random seed (0..2^63-1); the same seed gives the same file."),
    out: Optional[Path] = typer.Option(None, help="Output file; default <checkpoint>-samples-seed<SEED>.<format> beside the checkpoint."),
    output_format: Optional[str] = typer.Option(None, "--format", help="png (a grid) or npz (images in [-1, 1] and their codes); default: from the --out suffix, else png."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:N or mps."),
) -> None:
    """Generate images with some codes fixed and write them as a PNG grid or an npz file."""
    from infogan_cli.infogan import InfoGAN
    from infogan_cli.render import sample_arrays, save_grid, save_npz

    check_counts(n, nrow, seed)
    fmt = resolve_format(output_format, out)
    model = InfoGAN.load(checkpoint, device)
    codes = model.validate_codes(parse_codes(code or [], model.latent_spec))
    path = ensure_writable_file(out or default_output(checkpoint, seed, fmt))

    latent = model.sample_latent(n, seed, codes)
    images = model.generate_from(latent)  # (n, C, H, W) in [-1, 1]; eval mode, inference mode
    if fmt == "npz":
        save_npz(sample_arrays(model.latent_spec, latent, images), path)
    else:
        save_grid(images, nrow or math.ceil(math.sqrt(n)), path)
    typer.echo(str(path))


def check_counts(n: int, nrow: int | None, seed: int) -> None:
    check_at_least("--n", n, 1)
    if nrow is not None:
        check_at_least("--nrow", nrow, 1)
    check_seed(seed)


def resolve_format(output_format: str | None, out: Path | None) -> str:
    """The explicit --format, else the --out suffix when it is .npz, else png."""
    from infogan_cli.errors import ConfigError

    if output_format is None:
        return "npz" if out is not None and out.suffix.lower() == ".npz" else "png"
    if output_format.lower() not in FORMATS:
        raise ConfigError(f"unknown format {output_format!r}", hint=f"use one of: {', '.join(FORMATS)}")
    return output_format.lower()


def default_output(checkpoint: Path, seed: int, fmt: str) -> Path:
    """Beside the checkpoint, named after it and the seed, so runs with other seeds don't clash."""
    return checkpoint.with_name(f"{checkpoint.stem}-samples-seed{seed}.{fmt}")
