"""``infogan explore``: one self-contained HTML page with a control per code."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from infogan_cli.config import LatentSpec
from infogan_cli.explore import DEFAULTS, MNIST_PAGE_MB, Plan

from .common import check_at_least, check_seed, ensure_writable_file, stderr

if TYPE_CHECKING:
    from infogan_cli.infogan import InfoGAN

MAX_SAMPLES = 100
MAX_STEPS = 101
MAX_MB = 10_000  # far beyond what a browser opens; keeps the byte count finite

_MNIST = Plan.for_spec(LatentSpec(), DEFAULTS.samples, DEFAULTS.steps)  # the default model's page
_RANGE = f"[{DEFAULTS.low:g}, {DEFAULTS.high:g}]"


def explore(
    checkpoint: Path = typer.Argument(..., help="A checkpoint written by infogan train (e.g. runs/x/last.safetensors)."),
    out: Optional[Path] = typer.Option(None, help="The HTML file to write; default <checkpoint>-explore.html beside the checkpoint."),
    samples: int = typer.Option(
        DEFAULTS.samples,
        help=f"Fixed noise samples to choose from (1..{MAX_SAMPLES}); the page also shows them all side by side.",
    ),
    steps: int = typer.Option(
        DEFAULTS.steps,
        help=f"Positions of each continuous slider over {_RANGE} (2..{MAX_STEPS}; odd keeps 0 as one). "
        f"Every combination of the sliders is precomputed: for the default MNIST model "
        f"{_MNIST.describe()} of 28 px, a page of {MNIST_PAGE_MB:g} MB as measured once on a 5-epoch model (docs/cli.md).",
    ),
    max_mb: float = typer.Option(
        DEFAULTS.max_mb,
        "--max-mb",
        help=f"Largest page, in MB (10^6 bytes; at most {MAX_MB}). Where the page would be larger, fewer steps are used "
        "(sliders one at a time, then fewer samples) and the command says so.",
    ),
    labels_from: Optional[Path] = typer.Option(
        None,
        "--labels-from",
        help="A JSON file from infogan evaluate --json for this checkpoint: the buttons of its label code (q.code, usually c1) also show the digit (class) Q matched to each value.",
    ),
    seed: int = typer.Option(DEFAULTS.seed, help="Random seed of the noise samples (0..2^63-1); the same seed gives the same page."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:N or mps."),
) -> None:
    """Write one self-contained HTML page to play with every code of a model.

    Buttons per categorical value, a slider per continuous code and several noise samples; every
    image is precomputed into the page, which needs no server and loads nothing from the network."""
    from infogan_cli.explore import MB, PageInfo, build_explorer
    from infogan_cli.files import atomic_write_bytes
    from infogan_cli.infogan import InfoGAN

    check_options(samples, steps, max_mb, seed)
    model = InfoGAN.load(checkpoint, device)
    labels = read_labels(labels_from, model) if labels_from is not None else None
    path = ensure_writable_file(out or checkpoint.with_name(f"{checkpoint.stem}-explore.html"))

    info = PageInfo(display_name(checkpoint), model.step, model.latent_spec, seed, labels_from.name if labels_from else None)
    explorer = build_explorer(
        model, info, samples, steps, math.floor(max_mb * MB), labels,
        progress=lambda message: stderr.print(message, highlight=False, soft_wrap=True),
    )
    if explorer.asked_size is not None:
        stderr.print(
            f"note: {explorer.asked.describe()} would make a page of about {explorer.asked_size / MB:.1f} MB, "
            f"over --max-mb {max_mb:g}: using {explorer.plan.describe()}",
            highlight=False,
            soft_wrap=True,
        )
    atomic_write_bytes(path, explorer.html.encode("utf-8"))
    stderr.print(f"wrote {explorer.size / MB:.2f} MB: {explorer.plan.describe()}", highlight=False, soft_wrap=True)
    typer.echo(str(path))


def check_options(samples: int, steps: int, max_mb: float, seed: int) -> None:
    from infogan_cli.errors import ConfigError

    check_at_least("--samples", samples, 1)
    check_at_least("--steps", steps, 2)
    if samples > MAX_SAMPLES:
        raise ConfigError(f"--samples must be <= {MAX_SAMPLES}, got {samples}")
    if steps > MAX_STEPS:
        raise ConfigError(f"--steps must be <= {MAX_STEPS}, got {steps}")
    if not (math.isfinite(max_mb) and 0 < max_mb <= MAX_MB):
        raise ConfigError(f"--max-mb must be a number above 0 and at most {MAX_MB}, got {max_mb:g}", hint="for example --max-mb 5")
    check_seed(seed)


def display_name(checkpoint: Path) -> str:
    """The run folder and file, "20261127-081500/last.safetensors": "last" alone says little."""
    path = checkpoint.absolute()
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def read_labels(path: Path, model: InfoGAN) -> dict[str, dict[int, int]]:
    """The code-value -> label mapping of an ``infogan evaluate --json`` file, checked against
    the model's codes; any problem is one ConfigError naming the file."""
    import json

    from infogan_cli.errors import ConfigError
    from infogan_cli.explore import labels_from_record

    hint = "pass the JSON written by infogan evaluate --json for this checkpoint"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"--labels-from {path} does not exist", hint=hint) from None
    except IsADirectoryError:
        raise ConfigError(f"--labels-from {path} is a folder", hint=hint) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read --labels-from {path}: {getattr(exc, 'strerror', None) or exc}", hint=hint) from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--labels-from {path} is not JSON ({exc.msg}, line {exc.lineno})", hint=hint) from None
    return labels_from_record(record, model.latent_spec, str(path))
