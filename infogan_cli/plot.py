"""Charts as PNG files, drawn with matplotlib (Agg, no pyplot state; imported only when drawing).

A run's metrics.jsonl (``infogan plot`` and the metrics.png of ``infogan train``): three panels
share the step axis:
  D and G loss                the adversarial game (and the consistency KL, when logged)
  MI lower bound per code     against the entropy of the code's prior (dashed): ln K for a K-way
                              categorical code, h(Unif(-1, 1)) = ln 2 or h(N(0, 1)) for a continuous one;
                              plus the categorical codes' information on real images (mi_real)
  images/s                    throughput per log interval
  starts                      for a run trained with --starts: each start's mi_real up to the
                              choice, the chosen one named, so the choice shows

And the confusion matrix of ``infogan evaluate``: code values (rows) x labels, shaded by row share.
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
    import numpy as np
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .config import TrainConfig

PANEL_WIDTH, PANEL_HEIGHT = 1000, 300  # pixels of one panel, its legend column included
DPI = 100  # so a 10 pt font is 14 pixels high
LEGEND_ROWS = 10  # legend entries that fit beside one panel; the rest become "+N more"
CELL = 0.5  # inches per confusion-matrix cell
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
GRID, CEILING = "#e6e6e6", "#888888"


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


def starts_panel(run_dir: Path, run_records: list[dict[str, Any]]) -> Panel | None:
    """For a run trained with --starts (its starts.json): each start's ``mi_real`` by step up to
    the choice, labelled with its score; the chosen start's metrics are the run's own
    (``run_records``, its metrics.jsonl as read_metrics gave it). None for a run trained from one
    start."""
    from .start_record import SCORE, read_record, start_folder

    record = read_record(run_dir)
    if record is None:
        return None
    epochs, chosen = record["epochs"], record["chosen"]
    series = []
    for index, start in enumerate(record["starts"]):
        seed, score = start["seed"], start.get(SCORE)
        if seed == chosen:
            lines = run_records
        else:
            metrics = start_folder(run_dir, seed) / "metrics.jsonl"
            if not metrics.is_file():  # not begun yet
                continue
            lines = read_metrics(metrics)
        records = [r for r in lines if float(r.get("epoch", 0)) <= epochs]
        label = f"seed {seed}" + (" (chosen)" if seed == chosen else "") + (f": {score:.3f}" if score is not None else "")
        series.append(Series(label, COLORS[index % len(COLORS)], [(float(r["step"]), _finite(r.get(SCORE))) for r in records]))
    return Panel(f"starts: Q's information on real images (nats); the choice: the highest mean over epoch {epochs}", series)


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


def render_figure(panels: list[Panel]) -> Figure:
    """One panel per row, sharing the step axis; each legend sits in a column to its right."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    figure = Figure(figsize=(PANEL_WIDTH / DPI, PANEL_HEIGHT * len(panels) / DPI), dpi=DPI, layout="constrained")
    axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, panel in zip(axes, panels):
        _draw_panel(ax, panel)
    steps = [step for panel in panels for line in panel.series for step, _ in line.points]
    if steps and max(steps) > min(steps):
        axes[0].set_xlim(min(steps), max(steps))  # shared: the lines span the full width
    axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are counts: no tick at 1.5
    axes[0].xaxis.set_major_formatter(FuncFormatter(lambda step, _: f"{step:,.0f}"))
    axes[-1].set_xlabel("step")
    return figure


def _draw_panel(ax: Axes, panel: Panel) -> None:
    from matplotlib.ticker import ScalarFormatter

    ax.set_title(panel.title, loc="left", fontsize=11)
    ax.grid(color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    ax.spines[["top", "right"]].set_visible(False)
    ax.yaxis.set_major_formatter(ScalarFormatter(useOffset=False))  # 500.5 images/s, not +5e2
    has_values = any(value is not None for line in panel.series for _, value in line.points)
    if not has_values and not panel.references:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color=CEILING)
        ax.tick_params(axis="y", left=False, labelleft=False)
        ax.grid(False, axis="y")
    for line in panel.series:
        steps = [step for step, _ in line.points]
        values = [math.nan if value is None else value for _, value in line.points]  # NaN breaks the line
        ax.plot(steps, values, color=line.color, linewidth=1.8, label=line.label)
        alone = _isolated(values)  # a point between gaps draws no line: show it as a dot
        if alone:
            ax.plot([steps[i] for i in alone], [values[i] for i in alone], "o", color=line.color, markersize=4, label="_dot")
    for reference in panel.references:
        ax.axhline(reference.value, color=reference.color, linewidth=1.2, linestyle=(0, (5, 3)), label=reference.label)
    _legend(ax, panel.note)


def _isolated(values: list[float]) -> list[int]:
    """Indices of finite values with no finite neighbour: a line through them draws nothing."""
    finite = [math.isfinite(v) for v in values]
    return [
        i for i, ok in enumerate(finite)
        if ok and (i == 0 or not finite[i - 1]) and (i == len(values) - 1 or not finite[i + 1])
    ]


def _legend(ax: Axes, note: str) -> None:
    from matplotlib.lines import Line2D

    handles, labels = ax.get_legend_handles_labels()
    room = LEGEND_ROWS - bool(note)
    if len(handles) > room:
        hidden = len(handles) - (room - 1)
        handles, labels = handles[: room - 1] + [Line2D([], [], linestyle="none")], labels[: room - 1] + [f"+{hidden} more"]
    if note:
        handles, labels = handles + [Line2D([], [], linestyle="none")], labels + [note]
    if not handles:
        return
    legend = ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
                       fontsize=9, handlelength=2.2, borderaxespad=0.0)
    if note:
        legend.get_texts()[-1].set_color(CEILING)


def figure_png(figure: Figure) -> bytes:
    """The figure as PNG bytes, through the Agg canvas (no pyplot, no global backend)."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()


# ----------------------------------------------------------------------------- confusion matrix


def confusion_png(
    contingency: np.ndarray, row_names: list[str], column_names: list[str], title: str,
    row_label: str = "code value", column_label: str = "label",
) -> bytes:
    """A PNG of a contingency matrix: rows (code values) x columns (labels), each cell shaded by
    its share of the row and showing its count."""
    return figure_png(confusion_figure(contingency, row_names, column_names, title, row_label, column_label))


def confusion_figure(
    contingency: np.ndarray, row_names: list[str], column_names: list[str], title: str,
    row_label: str = "code value", column_label: str = "label",
) -> Figure:
    import numpy as np
    from matplotlib.figure import Figure

    n_rows, n_columns = contingency.shape
    shares = contingency / np.maximum(contingency.sum(axis=1, keepdims=True), 1)
    title_width = 0.4 + 0.075 * len(title)  # inches of 10 pt text
    size = (max(title_width, 2.4 + CELL * n_columns), 1.4 + CELL * n_rows)  # cells, labels, colour bar
    figure = Figure(figsize=size, dpi=DPI, layout="constrained")
    ax = figure.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0, aspect="equal")
    ax.set_xticks(range(n_columns), column_names)
    ax.set_yticks(range(n_rows), row_names)
    ax.tick_params(length=0)
    ax.set_xlabel(column_label)
    ax.set_ylabel(row_label)
    figure.suptitle(title, fontsize=10, x=0.02, ha="left")  # over the figure, not just the cells
    ax.spines[:].set_visible(False)
    for i in range(n_rows):
        for j in range(n_columns):
            if contingency[i, j]:
                ax.text(j, i, f"{int(contingency[i, j])}", ha="center", va="center", fontsize=8,
                        color="white" if shares[i, j] > 0.5 else "black")
    figure.colorbar(image, ax=ax, shrink=0.8, label="share of the row")
    return figure


# ----------------------------------------------------------------------------- entry point


def plot_run(run_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Render ``run_dir/metrics.jsonl`` to ``out`` (default ``run_dir/metrics.png``), atomically."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise InfoganError(f"run folder {run_dir} does not exist")
    if not run_dir.is_dir():
        raise InfoganError(f"{run_dir} is not a run folder", hint="pass the folder that holds metrics.jsonl")
    out_path = Path(out) if out is not None else run_dir / "metrics.png"
    if out_path.is_dir():
        raise InfoganError(f"output {out_path} is a folder", hint="pass --out with a file path")
    records = read_metrics(run_dir / "metrics.jsonl")
    panels = build_panels(records, read_run_config(run_dir))
    starts = starts_panel(run_dir, records)
    png = figure_png(render_figure(panels + ([starts] if starts is not None else [])))
    from .files import atomic_write_bytes

    return atomic_write_bytes(out_path, png)
