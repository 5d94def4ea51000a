"""``infogan inspect``: what a checkpoint holds, from its header alone (no model is built)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.table import Table

    from infogan_cli.summary import CheckpointSummary

METRIC_ROWS = (("loss_d", "D loss"), ("loss_g", "G loss"), ("loss_mi", "MI loss (lambda-weighted)"), ("images_per_s", "images/s"))


def inspect(
    checkpoint: Path = typer.Argument(..., help="A checkpoint written by infogan train (e.g. runs/x/last.safetensors)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout instead of tables (schema: docs/cli.md)."),
    all_tensors: bool = typer.Option(False, "--all-tensors", help="Also list every optimizer tensor (by default one line per optimizer)."),
) -> None:
    """Show a checkpoint's config, latent codes, step, metrics and tensors, without loading weights."""
    from infogan_cli.summary import summarize_checkpoint

    summary = summarize_checkpoint(checkpoint)
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2))
        return
    from rich.console import Console

    console = Console(highlight=False)
    console.print(
        f"[bold]{_escape(str(summary.path))}[/]: step {summary.step}, {summary.epoch} epochs completed, "
        f"format version {summary.format_version}, {_size(summary.file_bytes)}",
        soft_wrap=True,
    )
    console.print(weights_line(summary), soft_wrap=True)
    for table in (latent_table(summary), metrics_table(summary), config_table(summary), groups_table(summary), tensors_table(summary, all_tensors)):
        console.print(table)


def weights_line(summary: CheckpointSummary) -> str:
    """Which weights sample, traverse, evaluate and explore take from this checkpoint."""
    if summary.weights == "ema":
        return (
            f"weights: a moving average (EMA, decay {summary.config.ema_decay:g}) besides the trained ones; "
            "sample, traverse, evaluate and explore use the average (evaluate --raw-weights: the trained ones)"
        )
    return "weights: the trained ones (no moving average: train with --ema-decay to keep one)"


def latent_table(summary: CheckpointSummary) -> Table:
    from rich.table import Table

    from infogan_cli.summary import latent_summary

    latent = latent_summary(summary.config)
    mi_at_save = summary.metrics.get("mi") if isinstance(summary.metrics.get("mi"), dict) else {}
    table = Table(title="latent", title_justify="left")
    for column in ("input", "type", "values / prior", "MI at save (nats)", "H(c) (nats)"):
        table.add_column(column, justify="right" if "nats" in column else "left")
    table.add_row("z", "noise", f"{latent['noise_dim']} x N(0, 1)", "", "")
    for code in latent["codes"]:
        if code["type"] == "categorical":
            kind, values = "categorical", f"{code['values']} values"
        else:
            kind, values = "continuous", f"{code['prior']}, {code['loss']} loss"
        table.add_row(code["name"], kind, values, _number(mi_at_save.get(code["name"])), f"{code['entropy_nats']:.3f}")
    return table


def metrics_table(summary: CheckpointSummary) -> Table:
    from rich.table import Table

    table = Table(title=f"metrics at step {summary.step}", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, label in METRIC_ROWS:
        if key in summary.metrics:
            table.add_row(label, _number(summary.metrics[key]))
    if not summary.metrics:
        table.add_row("(none saved)", "")
    return table


def config_table(summary: CheckpointSummary) -> Table:
    """Every setting but the latent spec (its own table), model settings as model.NAME."""
    from rich.table import Table

    table = Table(title="config", title_justify="left")
    table.add_column("setting")
    table.add_column("value")
    settings = summary.config.to_dict()
    settings.pop("latent")
    for key, value in settings.pop("model").items():
        table.add_row(f"model.{key}", _escape(str(value)))
    for key, value in settings.items():
        table.add_row(key, _escape(str(value)))
    return table


def groups_table(summary: CheckpointSummary) -> Table:
    from rich.table import Table

    parameters = summary.parameters()
    table = Table(title="tensors by group", title_justify="left")
    for column, justify in (("group", "left"), ("tensors", "right"), ("parameters", "right"), ("elements", "right"), ("size", "right")):
        table.add_column(column, justify=justify)
    for group, totals in summary.groups().items():
        table.add_row(group, str(totals["tensors"]), _count(parameters.get(group)), f"{totals['elements']:,}", _size(totals["bytes"]))
        if group == "discriminator":
            for part in ("trunk", "d_head", "q_head"):
                table.add_row(f"  {part}", "", _count(parameters[f"discriminator.{part}"]), "", "")
    table.add_row("total", str(len(summary.tensors)), _count(parameters["total"]), "", _size(summary.file_bytes))
    return table


def tensors_table(summary: CheckpointSummary, all_tensors: bool) -> Table:
    """One row per tensor; optimizer state collapsed to one row per optimizer unless ``all_tensors``."""
    from rich.table import Table

    caption = "" if all_tensors else "--all-tensors lists the optimizer tensors too"
    table = Table(title="tensors", title_justify="left", caption=caption, caption_justify="left")
    table.add_column("name", no_wrap=True, overflow="fold")  # never truncate a name: showing them is the point
    for column, justify in (("shape", "left"), ("dtype", "left"), ("size", "right")):
        table.add_column(column, justify=justify)
    optimizers: dict[str, list[Any]] = {}
    for tensor in summary.tensors:
        if tensor.group == "optimizer" and not all_tensors:
            optimizers.setdefault(tensor.name.split(".", 1)[0], []).append(tensor)
            continue
        table.add_row(_escape(tensor.name), str(list(tensor.shape)), _escape(tensor.dtype), _size(tensor.bytes))
    for name, tensors in optimizers.items():
        table.add_row(f"{_escape(name)}.* ({len(tensors)} tensors)", "", "", _size(sum(t.bytes for t in tensors)))
    return table


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.4f}"


def _count(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def _size(n_bytes: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n_bytes < 1024:
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    return f"{n_bytes:.1f} GiB"


def _escape(text: str) -> str:
    """Strings from the file are shown as they are, never read as rich markup."""
    from rich.markup import escape

    return escape(text)
