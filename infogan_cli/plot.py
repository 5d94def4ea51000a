"""A run's metrics.jsonl as one PNG of line charts, drawn with Pillow alone (no matplotlib).

Three panels share the step axis:
  D and G loss                the adversarial game (and the consistency KL, when logged)
  MI lower bound per code     against the entropy of the code's prior (dashed): ln K for a K-way
                              categorical code, h(Unif(-1, 1)) = ln 2 or h(N(0, 1)) for a continuous one;
                              plus the categorical codes' information on real images (mi_real)
  images/s                    throughput per log interval
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, InfoganError

if TYPE_CHECKING:
    from PIL import Image, ImageDraw, ImageFont

    from .config import TrainConfig

PANEL_WIDTH, PANEL_HEIGHT = 800, 250
LEFT, RIGHT, TOP, BOTTOM = 64, 170, 28, 30  # margins of each panel's plot area, pixels
LEGEND_ROW = 16
FONT_SIZE = 12
TARGET_TICKS = 5
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
AXIS, GRID, CEILING = "#444444", "#e6e6e6", "#888888"


@dataclass
class Series:
    label: str
    color: str
    points: list[tuple[float, float | None]]  # (step, value); None leaves a gap


@dataclass
class Reference:
    """A dashed horizontal line, labelled in the legend: the MI ceiling of one or more codes."""

    label: str
    color: str
    value: float


@dataclass
class Panel:
    title: str
    series: list[Series]
    references: list[Reference] = field(default_factory=list)
    note: str = ""  # shown in the legend column, e.g. codes without an estimate


# ----------------------------------------------------------------------------- reading


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The metric lines of ``path``, sorted by step. A last line without its newline is a write
    still in progress (the run is live) and is skipped; any other bad line is an error."""
    if not path.is_file():
        raise InfoganError(f"no metrics file {path}", hint="a run writes metrics.jsonl at its first --log-every step")
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")
    records: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):  # no newline after it: half-written by a live run
                continue
            raise InfoganError(f"{path}:{number} is not a JSON line", hint="fix or delete that line") from None
        step = record.get("step") if isinstance(record, dict) else None
        if isinstance(step, bool) or not isinstance(step, (int, float)):
            raise InfoganError(f"{path}:{number} has no step number", hint="fix or delete that line")
        records.append(record)
    if not records:
        raise InfoganError(f"{path} has no metric lines", hint="plot again after the run's first --log-every step")
    return sorted(records, key=lambda record: record["step"])


def read_run_config(run_dir: Path) -> TrainConfig | None:
    """The run's config.json, or None when there is none (then no ceilings are drawn)."""
    from .config import train_from_dict

    path = run_dir / "config.json"
    if not path.exists():
        return None
    try:
        return train_from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid JSON ({type(exc).__name__})") from None
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc.message}", hint=exc.hint) from None


# ----------------------------------------------------------------------------- panels


def build_panels(records: list[dict[str, Any]], config: TrainConfig | None) -> list[Panel]:
    steps = [float(record["step"]) for record in records]

    def series(label: str, color: str, values: list[Any]) -> Series:
        return Series(label, color, [(s, _finite(v)) for s, v in zip(steps, values)])

    loss_series = [series("D loss", COLORS[0], [r.get("loss_d") for r in records]), series("G loss", COLORS[1], [r.get("loss_g") for r in records])]
    consistency = [r.get("consistency") for r in records]
    if any(_finite(v) is not None for v in consistency):  # only runs with --lambda-consistency > 0 log it
        loss_series.append(series("consistency (KL, nats)", COLORS[3], consistency))
    losses = Panel("D and G loss (binary cross-entropy)", loss_series)
    code_names = _code_names(records, config)
    mi_series, no_estimate = [], []
    for index, name in enumerate(code_names):
        values = [r["mi"].get(name) if isinstance(r.get("mi"), dict) else None for r in records]
        if any(_finite(v) is not None for v in values):
            mi_series.append(series(name, COLORS[index % len(COLORS)], values))
        else:
            no_estimate.append(name)
    real = [r.get("mi_real") for r in records]
    if any(_finite(v) is not None for v in real):  # older runs did not log it
        mi_series.append(series("real images", COLORS[len(code_names) % len(COLORS)], real))
    mi = Panel(
        "MI lower bound per code (nats); dashed: entropy of the code's prior",
        mi_series,
        references=_ceilings(config, {s.label: s.color for s in mi_series}),
        note=f"no estimate (mse loss): {', '.join(no_estimate)}" if no_estimate else "",
    )
    speed = Panel("throughput (images/s)", [series("images/s", COLORS[2], [r.get("images_per_s") for r in records])])
    return [losses, mi, speed]


def _code_names(records: list[dict[str, Any]], config: TrainConfig | None) -> list[str]:
    if config is not None:
        return config.latent.code_names
    names: dict[str, None] = {}
    for record in records:
        if isinstance(record.get("mi"), dict):
            names.update(dict.fromkeys(record["mi"]))
    return list(names)


def _ceilings(config: TrainConfig | None, colors: dict[str, str]) -> list[Reference]:
    """One dashed line per distinct ceiling, highest first, naming its codes; in the code's
    color when it belongs to one code, grey when it is shared."""
    if config is None:
        return []
    spec = config.latent
    by_value: dict[float, list[str]] = {}
    for name, cardinality in zip(spec.categorical_names, spec.categorical):
        by_value.setdefault(math.log(cardinality), []).append(name)
    for name in spec.continuous_names:
        by_value.setdefault(spec.continuous_entropy(), []).append(name)
    references = []
    for value, names in sorted(by_value.items(), reverse=True):
        names = [n for n in names if n in colors]
        if names:
            color = colors[names[0]] if len(names) == 1 else CEILING
            references.append(Reference(f"H({', '.join(names)}) = {value:.2f}", color, value))
    return references


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


# ----------------------------------------------------------------------------- drawing


def render_panels(panels: list[Panel]) -> Image.Image:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (PANEL_WIDTH, PANEL_HEIGHT * len(panels)), "white")
    draw = ImageDraw.Draw(image)
    font = _font()
    for index, panel in enumerate(panels):
        _draw_panel(draw, font, panel, top=index * PANEL_HEIGHT, x_label=index == len(panels) - 1)
    return image


def _draw_panel(draw: ImageDraw.ImageDraw, font: ImageFont.ImageFont, panel: Panel, top: int, x_label: bool) -> None:
    x0, y0 = LEFT, top + TOP
    x1, y1 = PANEL_WIDTH - RIGHT, top + PANEL_HEIGHT - BOTTOM  # the plot area
    draw.text((x0, top + 8), panel.title, fill="black", font=font)
    points = [p for s in panel.series for p in s.points]
    steps = [step for step, _ in points]
    values = [v for _, v in points if v is not None] + [r.value for r in panel.references]
    if not values:
        draw.rectangle((x0, y0, x1, y1), outline=AXIS)
        _text(draw, font, "no data", ((x0 + x1) / 2, (y0 + y1) / 2), "center")
        return
    x_low, x_high, x_ticks = axis_range(min(steps), max(steps), whole=True)
    headroom = 0.03 * (max(values) - min(values))  # keeps lines and labels off the frame
    y_low, y_high, y_ticks = axis_range(min(values) - headroom, max(values) + headroom)

    def to_xy(step: float, value: float) -> tuple[float, float]:
        return (
            x0 + (step - x_low) / (x_high - x_low) * (x1 - x0),
            y1 - (value - y_low) / (y_high - y_low) * (y1 - y0),
        )

    x_step, y_step = x_ticks[1] - x_ticks[0], y_ticks[1] - y_ticks[0]
    for tick in y_ticks:
        _, y = to_xy(x_low, tick)
        draw.line((x0, y, x1, y), fill=GRID)
        draw.line((x0 - 4, y, x0, y), fill=AXIS)
        _text(draw, font, tick_label(tick, y_step), (x0 - 7, y), "right")
    for tick in x_ticks:
        x, _ = to_xy(tick, y_low)
        draw.line((x, y0, x, y1), fill=GRID)
        draw.line((x, y1, x, y1 + 4), fill=AXIS)
        _text(draw, font, tick_label(tick, x_step), (x, y1 + 12), "center")
    if x_label:
        _text(draw, font, "step", (x1 + 28, y1 + 12), "left")
    for reference in panel.references:
        _, y = to_xy(x_low, reference.value)
        _dashed_hline(draw, x0, x1, y, reference.color)
    for line in panel.series:
        for run in _split(line.points, to_xy):
            if len(run) == 1:
                x, y = run[0]
                draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=line.color)
            else:
                draw.line(run, fill=line.color, width=2, joint="curve")
    draw.rectangle((x0, y0, x1, y1), outline=AXIS)
    _draw_legend(draw, font, panel, x1 + 12, y0)


def _split(points: list[tuple[float, float | None]], to_xy) -> list[list[tuple[float, float]]]:
    """Pixel runs between gaps (None values)."""
    runs: list[list[tuple[float, float]]] = [[]]
    for step, value in points:
        if value is None:
            runs.append([])
        else:
            runs[-1].append(to_xy(step, value))
    return [run for run in runs if run]


def _draw_legend(draw: ImageDraw.ImageDraw, font, panel: Panel, x: int, y: int) -> None:
    rows = (PANEL_HEIGHT - TOP - BOTTOM) // LEGEND_ROW
    entries = [(s.label, s.color, False) for s in panel.series] + [(r.label, r.color, True) for r in panel.references]
    if len(entries) > rows - bool(panel.note):
        keep = rows - 1 - bool(panel.note)
        entries = entries[:keep] + [(f"+{len(entries) - keep} more", "", False)]
    for label, color, dashed in entries:
        middle = y + LEGEND_ROW / 2
        if dashed:
            _dashed_hline(draw, x, x + 20, middle, color)
        elif color:
            draw.line((x, middle, x + 20, middle), fill=color, width=2)
        _text(draw, font, label, (x + 26, middle), "left")
        y += LEGEND_ROW
    if panel.note:
        _text(draw, font, panel.note, (x, y + LEGEND_ROW / 2), "left", fill=CEILING)


def _dashed_hline(draw: ImageDraw.ImageDraw, x_start: float, x_end: float, y: float, color: str, dash: int = 6, gap: int = 4) -> None:
    x = x_start
    while x < x_end:
        draw.line((x, y, min(x + dash, x_end), y), fill=color, width=1)
        x += dash + gap


def _text(draw: ImageDraw.ImageDraw, font, text: str, at: tuple[float, float], align: str, fill: str = "black") -> None:
    """``text`` vertically centred on at[1]; left-aligned at, centred on, or ending at at[0]."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    width = right - left
    x = {"left": at[0], "center": at[0] - width / 2, "right": at[0] - width}[align]
    draw.text((round(x - left), round(at[1] - (top + bottom) / 2)), text, fill=fill, font=font)


def _font():
    """Pillow's built-in font, a little larger where Pillow can scale it (FreeType, Pillow >= 10.1)."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=FONT_SIZE)
    except (TypeError, ImportError, OSError):
        return ImageFont.load_default()


# ----------------------------------------------------------------------------- axes


def axis_range(low: float, high: float, whole: bool = False) -> tuple[float, float, list[float]]:
    """A range covering [low, high] that starts and ends on a tick, and its ticks (about
    TARGET_TICKS of them, spaced 1, 2, 2.5 or 5 times a power of ten; ``whole``: at least 1)."""
    if high - low <= 0:
        pad = abs(high) * 0.1 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / TARGET_TICKS
    magnitude = 10 ** math.floor(math.log10(raw))
    spacing = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if whole:
        spacing = max(1, round(spacing))  # steps are counts: no tick at step 1.5
    start, end = math.floor(low / spacing), math.ceil(high / spacing)
    ticks = [i * spacing for i in range(start, end + 1)]
    return ticks[0], ticks[-1], ticks


def tick_label(value: float, spacing: float) -> str:
    """As many decimals as the tick spacing needs: 0.25 -> 2, 0.5 -> 1, 500 -> 0."""
    decimals = 0
    while decimals < 6 and abs(spacing * 10**decimals - round(spacing * 10**decimals)) > 1e-9:
        decimals += 1
    return f"{value:,.{decimals}f}" if abs(value) >= 1e-12 else "0"


# ----------------------------------------------------------------------------- entry point


def plot_run(run_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Render ``run_dir/metrics.jsonl`` to ``out`` (default ``run_dir/metrics.png``), atomically."""
    import io

    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise InfoganError(f"run folder {run_dir} does not exist")
    if not run_dir.is_dir():
        raise InfoganError(f"{run_dir} is not a run folder", hint="pass the folder that holds metrics.jsonl")
    out_path = Path(out) if out is not None else run_dir / "metrics.png"
    if out_path.is_dir():
        raise InfoganError(f"output {out_path} is a folder", hint="pass --out with a file path")
    records = read_metrics(run_dir / "metrics.jsonl")
    image = render_panels(build_panels(records, read_run_config(run_dir)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    from .files import atomic_write_bytes

    return atomic_write_bytes(out_path, buffer.getvalue())
