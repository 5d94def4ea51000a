"""The self-contained HTML explorer: one page with a control per code and precomputed images.

The page shows one image per (noise sample, value of each categorical code, step of each
continuous code). Every such image ("tile") is generated here, ahead of time, and packed into PNG
atlases that the page embeds as data URIs; its script only picks the tile for the current
controls and draws it. Nothing runs a model in the browser, and the page loads nothing.

Tile order, within one noise sample, is row-major over the codes:

    index = categorical_index * continuous_combinations + continuous_index

``categorical_index`` is the mixed-radix number of the categorical values (c1 most significant).
``continuous_index`` depends on the plan's mode:

- joint: every combination of the sliders' steps (mixed radix, first continuous code most
  significant), so sliders combine: steps ** n_continuous tiles;
- one at a time: tile 0 has every slider at its centre (0), then each slider's other steps with
  the rest at the centre: 1 + n_continuous * (steps - 1) tiles. Used when the joint grid would not
  fit the page budget.

``tile_index`` here and ``tileIndex`` in the page's script compute the same number; the browser
test checks that they agree.

Light imports at module level (no torch), so the CLI can read the defaults for ``--help``.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .config import LatentSpec
from .errors import ConfigError

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from .infogan import InfoGAN
    from .latent import LatentBatch

MB = 1_000_000  # page budgets are in MB of 10^6 bytes, as file managers and mail clients count
MIN_JOINT_STEPS = 5  # below this, sliders that move one at a time with more steps are the better page
MIN_STEPS = 3  # -2, 0, 2: fewer would lose the centre
MAX_ATLAS_SIDE = 4096  # pixels; every browser decodes images this large
PROBE_TILES = 96  # tiles generated first to estimate the PNG bytes of one tile
DISPLAY_PX = 280  # the main image is drawn at least about this size, in whole-pixel multiples
GRID_DISPLAY_PX = 84  # each image of the "all samples" view
GRID_GAP_PX = 8  # between the images of the "all samples" view


@dataclass(frozen=True)
class ExploreDefaults:
    """The defaults of ``infogan explore``: the one place they are set (``--help`` reads them).

    For the default MNIST model (c1: 10 values; c2, c3 continuous; 28 px) they give
    10 x 9 x 9 x 12 = 9,720 tiles; see ``MNIST_PAGE_MB`` for the page size they make.
    """

    samples: int = 12  # fixed noise samples to choose from
    steps: int = 9  # positions of each continuous slider: -2, -1.5, ..., 2 (odd, so 0 is one)
    low: float = -2.0  # slider range in code units (the prior is Unif(-1, 1) or N(0, 1))
    high: float = 2.0
    max_mb: float = 5.0  # page budget: small enough to attach to an email
    seed: int = 0


DEFAULTS = ExploreDefaults()

# The page the defaults make for the default MNIST model, in MB, as measured once: `infogan
# explore` on a 5-epoch default MNIST checkpoint (docs/cli.md says how). Not computed: a page's
# size depends on the images a model draws (trained digits are mostly black, about 300 bytes a tile).
MNIST_PAGE_MB = 3.0


# ----------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Plan:
    """Which tiles a page holds: ``samples`` noise samples x every categorical value x the
    continuous steps (all combinations when ``joint``, else one slider at a time)."""

    categorical: tuple[int, ...]  # values of each categorical code, c1 first
    continuous: int  # number of continuous codes
    samples: int
    steps: int
    joint: bool = True
    low: float = DEFAULTS.low
    high: float = DEFAULTS.high

    @classmethod
    def for_spec(cls, spec: LatentSpec, samples: int, steps: int, joint: bool = True) -> "Plan":
        return cls(tuple(spec.categorical), spec.continuous, samples, steps, joint)

    @property
    def values(self) -> list[float]:
        """The continuous step values, ``low`` to ``high`` inclusive."""
        if self.steps == 1:
            return [(self.low + self.high) / 2]
        return [self.low + (self.high - self.low) * i / (self.steps - 1) for i in range(self.steps)]

    @property
    def centre(self) -> int:
        """The step every slider starts at (and, one at a time, returns to): value 0 for odd steps."""
        return self.steps // 2

    @property
    def categorical_combinations(self) -> int:
        return math.prod(self.categorical)

    @property
    def continuous_combinations(self) -> int:
        if self.continuous == 0:
            return 1
        if self.joint:
            return self.steps**self.continuous
        return 1 + self.continuous * (self.steps - 1)

    @property
    def tiles_per_sample(self) -> int:
        return self.categorical_combinations * self.continuous_combinations

    @property
    def tiles(self) -> int:
        return self.samples * self.tiles_per_sample

    def describe(self) -> str:
        """"c1 10 values x c2, c3 9 steps each (combined) x 12 samples = 9720 tiles"."""
        names = [f"c{i + 1}" for i in range(len(self.categorical) + self.continuous)]
        parts = [f"{name} {k} values" for name, k in zip(names, self.categorical)]
        continuous_names = names[len(self.categorical) :]
        if continuous_names:
            each = " each" if len(continuous_names) > 1 else ""
            mode = "" if len(continuous_names) == 1 else (" (combined)" if self.joint else " (one at a time)")
            parts.append(f"{', '.join(continuous_names)} {self.steps} steps{each}{mode}")
        parts.append(f"{self.samples} sample{'s' if self.samples != 1 else ''}")
        return f"{' x '.join(parts)} = {self.tiles} tiles"


def continuous_index(plan: Plan, steps: Sequence[int]) -> int:
    """The continuous part of a tile's index for slider positions ``steps`` (0..steps-1 each)."""
    if plan.joint:
        index = 0
        for step in steps:
            index = index * plan.steps + step
        return index
    moved = [j for j, step in enumerate(steps) if step != plan.centre]
    if not moved:
        return 0
    if len(moved) > 1:
        raise ValueError(f"one slider at a time: {steps} moves {len(moved)}")
    j = moved[0]
    step = steps[j]
    return 1 + j * (plan.steps - 1) + (step if step < plan.centre else step - 1)


def tile_index(plan: Plan, categorical: Sequence[int], steps: Sequence[int]) -> int:
    """The index, within one sample's tiles, of the image for these control values."""
    index = 0
    for value, k in zip(categorical, plan.categorical):
        index = index * k + value
    return index * plan.continuous_combinations + continuous_index(plan, steps)


def tile_controls(plan: Plan, index: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The inverse of ``tile_index``: (categorical values, slider steps) of tile ``index``."""
    categorical_index, rest = divmod(index, plan.continuous_combinations)
    categorical = []
    for k in reversed(plan.categorical):
        categorical_index, value = divmod(categorical_index, k)
        categorical.append(value)
    steps = [plan.centre] * plan.continuous
    if plan.joint:
        for j in reversed(range(plan.continuous)):
            rest, steps[j] = divmod(rest, plan.steps)
    elif rest > 0:
        j, offset = divmod(rest - 1, plan.steps - 1)
        steps[j] = offset if offset < plan.centre else offset + 1
    return tuple(reversed(categorical)), tuple(steps)


def candidate_plans(spec: LatentSpec, samples: int, steps: int) -> Iterator[Plan]:
    """Plans from the one asked for to the smallest, each with fewer tiles than the one before, in
    order of preference: fewer joint steps (down to MIN_JOINT_STEPS), then sliders one at a time
    with fewer steps (down to MIN_STEPS), then fewer samples."""
    asked = Plan.for_spec(spec, samples, steps)
    shapes = [asked]
    if spec.continuous:
        lowest_joint = MIN_JOINT_STEPS if spec.continuous > 1 else MIN_STEPS
        shapes += [replace(asked, steps=fewer) for fewer in range(steps - 2, lowest_joint - 1, -2)]
        if spec.continuous > 1:
            odd = steps if steps % 2 else steps - 1  # one at a time needs a centre step at 0
            shapes += [replace(asked, steps=fewer, joint=False) for fewer in range(odd, MIN_STEPS - 1, -2)]
    last = asked
    for plan in shapes:
        if plan is asked or plan.tiles < last.tiles:
            yield plan
            last = plan
    for fewer_samples in range(samples - 1, 0, -1):
        yield replace(last, samples=fewer_samples)


# ----------------------------------------------------------------------------- atlases


@dataclass(frozen=True)
class AtlasLayout:
    """Where one sample's tiles lie: in atlas ``index // per_atlas``, row-major in a grid of
    ``columns``, each tile ``tile`` px square."""

    tile: int
    columns: int
    rows: int  # rows of a full atlas
    tiles: int  # tiles per sample

    @property
    def per_atlas(self) -> int:
        return self.columns * self.rows

    @property
    def atlases(self) -> int:
        return -(-self.tiles // self.per_atlas)

    def position(self, index: int) -> tuple[int, int, int]:
        """(atlas, x, y) of tile ``index``: the atlas and the tile's top-left pixel in it."""
        atlas, local = divmod(index, self.per_atlas)
        row, column = divmod(local, self.columns)
        return atlas, column * self.tile, row * self.tile

    def atlas_tiles(self, atlas: int) -> range:
        return range(atlas * self.per_atlas, min(self.tiles, (atlas + 1) * self.per_atlas))


def atlas_layout(tiles: int, tile: int, max_side: int = MAX_ATLAS_SIDE) -> AtlasLayout:
    """A near-square grid (PNG compresses it as well as a strip, and browsers prefer it), split
    into several atlases where one would be wider or taller than ``max_side`` pixels."""
    fit = max(1, max_side // tile)  # tiles per side of the largest atlas
    columns = min(fit, math.ceil(math.sqrt(tiles)))
    rows = min(fit, -(-tiles // columns))
    return AtlasLayout(tile, columns, rows, tiles)


def atlas_images(images: torch.Tensor, layout: AtlasLayout) -> list[Image.Image]:
    """One sample's tiles ([-1, 1], (tiles, C, H, W)) packed into PIL images, one per atlas."""
    import numpy as np
    from PIL import Image

    from .render import to_uint8

    pixels = to_uint8(images).permute(0, 2, 3, 1).numpy()  # (tiles, H, W, C) uint8
    size, channels = layout.tile, pixels.shape[3]
    atlases = []
    for atlas in range(layout.atlases):
        indices = layout.atlas_tiles(atlas)
        rows = -(-len(indices) // layout.columns)
        canvas = np.zeros((rows * size, layout.columns * size, channels), dtype=np.uint8)
        for index in indices:
            _, x, y = layout.position(index)
            canvas[y : y + size, x : x + size] = pixels[index]
        atlases.append(Image.fromarray(canvas[:, :, 0] if channels == 1 else canvas))
    return atlases


def png_data_uri(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# ----------------------------------------------------------------------------- generating


def noise_samples(model: InfoGAN, samples: int, seed: int) -> torch.Tensor:
    """The page's fixed noise: (samples, noise_dim), drawn on the CPU so a seed means the same
    page on every device."""
    return model.sample_latent(samples, seed).noise


def tile_latent(plan: Plan, noise: torch.Tensor, indices: Sequence[int]) -> LatentBatch:
    """Latent batch for tiles ``indices``, tile ``indices[i]`` with noise ``noise[i]``
    (noise: (len(indices), noise_dim)): (len(indices), ...)."""
    import torch

    from .latent import LatentBatch

    controls = [tile_controls(plan, i) for i in indices]
    values = torch.tensor(plan.values, dtype=torch.float32)
    categorical = torch.tensor([c for c, _ in controls], dtype=torch.long).reshape(len(indices), len(plan.categorical))
    steps = torch.tensor([s for _, s in controls], dtype=torch.long).reshape(len(indices), plan.continuous)
    return LatentBatch(
        noise=noise,
        categorical=[categorical[:, j] for j in range(len(plan.categorical))],
        continuous=values[steps],  # (tiles, n_continuous)
    )


def probe_bytes_per_tile(model: InfoGAN, plan: Plan, seed: int) -> float:
    """Estimated bytes a tile adds to the page (PNG in an atlas, base64), from PROBE_TILES tiles
    spread over the plan's controls and samples. A small atlas compresses a little worse than a
    full one, so this errs on the large side."""
    n = min(PROBE_TILES, plan.tiles_per_sample)
    indices = sorted({round(i * (plan.tiles_per_sample - 1) / max(1, n - 1)) for i in range(n)})
    noise = noise_samples(model, plan.samples, seed)[[i % plan.samples for i in range(len(indices))]]
    images = model.generate_from(tile_latent(plan, noise, indices))  # (probe tiles, C, H, W)
    layout = atlas_layout(len(indices), images.shape[-1])
    uris = [png_data_uri(atlas) for atlas in atlas_images(images, layout)]
    return sum(len(uri) for uri in uris) / len(indices)


def atlas_uris(model: InfoGAN, plan: Plan, seed: int) -> tuple[AtlasLayout, list[list[str]]]:
    """Every tile of the plan, generated and packed: (layout, data URIs per sample per atlas)."""
    noise = noise_samples(model, plan.samples, seed)
    indices = range(plan.tiles_per_sample)
    layout = atlas_layout(plan.tiles_per_sample, model.config.model.image_size)
    uris: list[list[str]] = []
    for sample in range(plan.samples):
        sample_noise = noise[sample].expand(len(indices), -1)  # (tiles, noise_dim): one sample throughout
        images = model.generate_from(tile_latent(plan, sample_noise, indices))  # (tiles, C, H, W)
        uris.append([png_data_uri(atlas) for atlas in atlas_images(images, layout)])
    return layout, uris


# ----------------------------------------------------------------------------- labels


def labels_from_record(record: Any, spec: LatentSpec, source: str) -> dict[str, dict[int, int]]:
    """{label code: {value: label}} from an ``infogan evaluate --json`` record: the Q head's
    mapping of the code that matches the labels (``q.code``, ``q.mapping``), the digit each of its
    values draws on MNIST. The other categorical codes get no labels: they do not draw them."""
    from .evaluate import RECORD_HINT, read_q_mapping  # here: evaluate imports torch, and --help reads this module

    name, mapping = read_q_mapping(record, source)
    if name not in spec.categorical_names:
        raise ConfigError(
            f"{source} maps code {name!r}, which this checkpoint does not have as a categorical code", hint=RECORD_HINT
        )
    k = spec.categorical[spec.categorical_names.index(name)]
    return {name: _checked_mapping(mapping, name, k, source, RECORD_HINT)}


def _checked_mapping(mapping: Any, name: str, k: int, source: str, hint: str) -> dict[int, int]:
    if not isinstance(mapping, dict):
        raise ConfigError(f"{source}: the mapping of {name} is not an object of value -> label", hint=hint)
    checked: dict[int, int] = {}
    for key, label in mapping.items():
        try:
            value = int(key)
        except (TypeError, ValueError):
            raise ConfigError(f"{source}: the mapping of {name} has a key {key!r} that is not a code value", hint=hint) from None
        if not 0 <= value < k:
            raise ConfigError(
                f"{source}: the mapping of {name} has value {value}, but this checkpoint's {name} has {k} values (0..{k - 1})",
                hint=hint,
            )
        if label is None:
            continue  # a value no label was matched to
        if isinstance(label, bool) or not isinstance(label, int) or label < 0:
            raise ConfigError(f"{source}: the mapping of {name} gives {value} the label {label!r}, not a class number", hint=hint)
        checked[value] = label
    return checked


# ----------------------------------------------------------------------------- the page


@dataclass
class PageInfo:
    """What the page's title says."""

    name: str  # the checkpoint, e.g. "20261127-081500/last.safetensors"
    step: int
    spec: LatentSpec
    seed: int
    labels_source: str | None = None


def spec_text(spec: LatentSpec) -> str:
    """"z 62 · c1 categorical (10) · c2, c3 continuous, Unif(-1, 1)"."""
    parts = [f"z {spec.noise_dim}"] if spec.noise_dim else []
    parts += [f"{name} categorical ({k})" for name, k in zip(spec.categorical_names, spec.categorical)]
    if spec.continuous:
        prior = "Unif(-1, 1)" if spec.continuous_prior == "uniform" else "N(0, 1)"
        parts.append(f"{', '.join(spec.continuous_names)} continuous, {prior}")
    return " · ".join(parts)


def format_value(value: float) -> str:
    """-1.5, 0, 2: at most two decimals, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def page_html(
    info: PageInfo,
    plan: Plan,
    layout: AtlasLayout,
    uris: list[list[str]],
    channels: int,
    labels: dict[str, dict[int, int]] | None = None,
) -> str:
    """The whole page: markup, style, script and data in one string, nothing loaded from elsewhere."""
    labels = labels or {}
    spec = info.spec
    grid_scale = max(1, round(GRID_DISPLAY_PX / layout.tile))
    grid_columns = math.ceil(math.sqrt(plan.samples))
    grid_width = grid_columns * (layout.tile * grid_scale + GRID_GAP_PX) - GRID_GAP_PX
    # The single image fills the width of the "all samples" view, so the controls stay put.
    scale = max(1, round(DISPLAY_PX / layout.tile), grid_width // layout.tile)
    view_width = max(layout.tile * scale, grid_width)
    data = {
        "tile": layout.tile,
        "columns": layout.columns,
        "perAtlas": layout.per_atlas,
        "categorical": list(plan.categorical),
        "continuous": plan.continuous,
        "steps": plan.steps,
        "joint": plan.joint,
        "centre": plan.centre,
        "continuousCombinations": plan.continuous_combinations,
        "values": [format_value(v) for v in plan.values],
        "samples": plan.samples,
        "scale": scale,
        "gridScale": grid_scale,
        "gridColumns": grid_columns,
        "atlases": uris,
    }
    controls = [_sample_control(plan.samples)]
    controls += [
        _categorical_control(name, k, labels.get(name, {}))
        for name, k in zip(spec.categorical_names, spec.categorical)
    ]
    controls += [_continuous_control(name, plan) for name in spec.continuous_names]
    title = f"{info.name} · step {info.step}"
    # "</" would end the script element early; JSON allows "<\/" for "</".
    data_json = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return PAGE_TEMPLATE.format(
        title=html.escape(title),
        name=html.escape(info.name),
        step=info.step,
        spec=html.escape(spec_text(spec)),
        plan=html.escape(_plan_note(plan, info)),
        size=layout.tile * scale,
        view_width=view_width,
        grid_gap=GRID_GAP_PX,
        channels_note="RGB" if channels == 3 else "grey",
        tile=layout.tile,
        controls="\n".join(controls),
        data=data_json,
        script=PAGE_SCRIPT,
        style=PAGE_STYLE,
    )


def _plan_note(plan: Plan, info: PageInfo) -> str:
    note = f"{plan.describe()}, noise seed {info.seed}."
    if plan.continuous > 1 and not plan.joint:
        note += " Sliders move one at a time (the others return to 0): all combinations would not fit the page."
    if info.labels_source:
        note += f" Labels: the digit (class) Q matched to each value, from {info.labels_source}."
    return note


def _sample_control(samples: int) -> str:
    buttons = "".join(
        f'<button type="button" data-sample="{i}" aria-pressed="{str(i == 0).lower()}">{i + 1}</button>'
        for i in range(samples)
    )
    return (
        '<fieldset class="control" id="control-sample"><legend>noise sample</legend>'
        f'<div class="buttons">{buttons}'
        '<button type="button" id="show-all" aria-pressed="false">show all samples</button></div></fieldset>'
    )


def _categorical_control(name: str, k: int, labels: dict[int, int]) -> str:
    buttons = []
    for value in range(k):
        label = f'<span class="label">{labels[value]}</span>' if value in labels else ""
        title = f' title="{name} = {value}: draws {labels[value]}"' if value in labels else ""
        buttons.append(
            f'<button type="button" data-code="{name}" data-value="{value}"{title} '
            f'aria-pressed="{str(value == 0).lower()}">{value}{label}</button>'
        )
    legend = f"{name} · categorical, {k} values" + (" · below each value: the digit (class) it draws" if labels else "")
    return (
        f'<fieldset class="control categorical" id="control-{name}"><legend>{html.escape(legend)}</legend>'
        f'<div class="buttons">{"".join(buttons)}</div></fieldset>'
    )


def _continuous_control(name: str, plan: Plan) -> str:
    low, high = format_value(plan.low), format_value(plan.high)
    centre = format_value(plan.values[plan.centre])
    return (
        f'<fieldset class="control continuous" id="control-{name}"><legend>{name} · continuous, {low} to {high}</legend>'
        f'<div class="slider"><input type="range" id="slider-{name}" data-code="{name}" min="0" max="{plan.steps - 1}" '
        f'step="1" value="{plan.centre}" aria-label="{name}">'
        f'<output id="value-{name}" for="slider-{name}">{centre}</output></div></fieldset>'
    )


PAGE_STYLE = """
:root { color-scheme: light dark; --accent: #2f6fdf; --muted: #777; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; padding: 20px 24px; font: 15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header h1 { margin: 0; font-size: 20px; word-break: break-all; }
header p { margin: 4px 0 0; color: var(--muted); }
main { display: flex; flex-wrap: wrap; gap: 24px; margin-top: 18px; align-items: flex-start; }
.view { flex: 0 0 auto; }
#image, #grid canvas { display: block; image-rendering: pixelated; image-rendering: crisp-edges; background: #000; }
#grid { display: grid; }
#grid figure { margin: 0; cursor: pointer; }
#grid figcaption { font-size: 12px; color: var(--muted); text-align: center; }
#grid figure.current canvas { outline: 3px solid var(--accent); }
#caption { margin: 8px 0 0; font-variant-numeric: tabular-nums; }
.controls { flex: 1 1 320px; max-width: 640px; }
fieldset { border: 1px solid #8884; border-radius: 6px; margin: 0 0 12px; padding: 8px 12px 10px; }
legend { padding: 0 4px; font-weight: 600; }
.buttons { display: flex; flex-wrap: wrap; gap: 4px; }
button { font: inherit; min-width: 2.4em; padding: 3px 8px; border: 1px solid #8888; border-radius: 4px; background: transparent; color: inherit; cursor: pointer; line-height: 1.2; }
button[aria-pressed="true"] { background: var(--accent); border-color: var(--accent); color: #fff; }
button .label { display: block; font-size: 11px; opacity: .75; }
.slider { display: flex; align-items: center; gap: 10px; }
.slider input { flex: 1; }
.slider output { min-width: 3em; text-align: right; font-variant-numeric: tabular-nums; }
footer { margin-top: 12px; color: var(--muted); font-size: 13px; max-width: 960px; }
"""

PAGE_SCRIPT = r"""
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("explore-data").textContent);
  const state = {
    sample: 0,
    all: false,
    categorical: data.categorical.map(() => 0),
    steps: Array.from({ length: data.continuous }, () => data.centre),
  };

  // The same numbering as tile_index in infogan_cli/explore.py.
  function continuousIndex(steps) {
    if (data.joint) return steps.reduce((index, step) => index * data.steps + step, 0);
    const moved = steps.findIndex((step) => step !== data.centre);
    if (moved < 0) return 0;
    const step = steps[moved];
    return 1 + moved * (data.steps - 1) + (step < data.centre ? step : step - 1);
  }
  function tileIndex(categorical, steps) {
    const c = categorical.reduce((index, value, j) => index * data.categorical[j] + value, 0);
    return c * data.continuousCombinations + continuousIndex(steps);
  }

  const atlases = data.atlases.map((uris) => uris.map((uri) => { const image = new Image(); image.src = uri; return image; }));
  function loaded(image) {  // where decode() is refused (an old browser), wait for the load event
    if (image.complete && image.naturalWidth) return Promise.resolve();
    return new Promise((resolve, reject) => {
      image.addEventListener("load", resolve);
      image.addEventListener("error", () => reject(new Error("an atlas image did not load")));
    });
  }
  const ready = Promise.all(atlases.flat().map((image) => image.decode().catch(() => loaded(image))));

  function drawTile(canvas, sample) {
    const index = tileIndex(state.categorical, state.steps);
    const atlas = Math.floor(index / data.perAtlas), local = index % data.perAtlas;
    const x = (local % data.columns) * data.tile, y = Math.floor(local / data.columns) * data.tile;
    const context = canvas.getContext("2d");
    context.imageSmoothingEnabled = false;
    context.drawImage(atlases[sample][atlas], x, y, data.tile, data.tile, 0, 0, canvas.width, canvas.height);
  }

  const image = document.getElementById("image");
  const grid = document.getElementById("grid");
  const caption = document.getElementById("caption");
  const gridCanvases = [];
  for (let sample = 0; sample < data.samples; sample++) {
    const figure = document.createElement("figure");
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = data.tile * data.gridScale;
    const label = document.createElement("figcaption");
    label.textContent = "sample " + (sample + 1);
    figure.append(canvas, label);
    figure.addEventListener("click", () => { state.sample = sample; state.all = false; render(); });
    grid.append(figure);
    gridCanvases.push(canvas);
  }
  grid.style.gridTemplateColumns = "repeat(" + data.gridColumns + ", auto)";

  function press(selector, isPressed) {
    document.querySelectorAll(selector).forEach((button) => button.setAttribute("aria-pressed", String(isPressed(button))));
  }

  function render() {
    image.hidden = state.all;
    grid.hidden = !state.all;
    if (state.all) {
      gridCanvases.forEach((canvas, sample) => {
        drawTile(canvas, sample);
        canvas.parentElement.classList.toggle("current", sample === state.sample);
      });
    } else {
      drawTile(image, state.sample);
    }
    press("button[data-sample]", (b) => Number(b.dataset.sample) === state.sample && !state.all);
    press("#show-all", () => state.all);
    document.querySelectorAll("button[data-code]").forEach((button) => {
      const j = Number(button.dataset.code.slice(1)) - 1;
      button.setAttribute("aria-pressed", String(Number(button.dataset.value) === state.categorical[j]));
    });
    const parts = [];
    state.categorical.forEach((value, j) => parts.push("c" + (j + 1) + " = " + value));
    document.querySelectorAll("input[type=range][data-code]").forEach((slider, j) => {
      slider.value = String(state.steps[j]);
      const text = data.values[state.steps[j]];
      document.getElementById("value-" + slider.dataset.code).textContent = text;
      parts.push(slider.dataset.code + " = " + text);
    });
    caption.textContent = (state.all ? "all " + data.samples + " samples" : "sample " + (state.sample + 1)) + (parts.length ? " · " + parts.join(", ") : "");
  }

  document.querySelectorAll("button[data-sample]").forEach((button) => button.addEventListener("click", () => {
    state.sample = Number(button.dataset.sample);
    state.all = false;
    render();
  }));
  document.getElementById("show-all").addEventListener("click", () => { state.all = !state.all; render(); });
  document.querySelectorAll("button[data-code]").forEach((button) => button.addEventListener("click", () => {
    state.categorical[Number(button.dataset.code.slice(1)) - 1] = Number(button.dataset.value);
    render();
  }));
  const firstContinuous = data.categorical.length + 1;
  document.querySelectorAll("input[type=range][data-code]").forEach((slider) => slider.addEventListener("input", () => {
    const j = Number(slider.dataset.code.slice(1)) - firstContinuous;
    if (!data.joint) state.steps.fill(data.centre);  // one slider at a time: the others go back to 0
    state.steps[j] = Number(slider.value);
    render();
  }));

  window.explorer = { ready, tileIndex, state, render };
  ready.then(render, (error) => { caption.textContent = "The images could not be shown: " + error.message; throw error; });
})();
"""

PAGE_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="infogan explore">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<header>
<h1>{name}</h1>
<p>step {step} · {spec}</p>
</header>
<main>
<section class="view" style="width: {view_width}px" aria-live="polite">
<canvas id="image" width="{size}" height="{size}" role="img" aria-label="generated image ({tile} px, {channels_note})"></canvas>
<div id="grid" style="gap: {grid_gap}px" hidden></div>
<p id="caption"></p>
</section>
<section class="controls">
{controls}
</section>
</main>
<footer>{plan}</footer>
<script type="application/json" id="explore-data">{data}</script>
<script>{script}</script>
</body>
</html>
"""


# ----------------------------------------------------------------------------- the whole build


@dataclass
class Explorer:
    """A built page and how it was planned."""

    html: str
    plan: Plan
    asked: Plan
    asked_size: int | None  # bytes of the page as asked (measured, else estimated) when it did not fit
    layout: AtlasLayout
    estimated_size: int  # bytes the page was estimated at before it was built (``size``: as built)

    @property
    def size(self) -> int:
        return len(self.html.encode("utf-8"))


def build_explorer(
    model: InfoGAN,
    info: PageInfo,
    samples: int = DEFAULTS.samples,
    steps: int = DEFAULTS.steps,
    max_bytes: int = int(DEFAULTS.max_mb * MB),
    labels: dict[str, dict[int, int]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Explorer:
    """Plan, generate and pack the tiles and build the page, within ``max_bytes``.

    The bytes of a tile are estimated from a probe; the first candidate plan whose estimate fits
    is built, and where the built page is still too large, the next smaller plan is tried with
    the measured bytes per tile. Raises ConfigError when even one sample at the fewest steps
    would not fit.
    """
    spec = info.spec
    if not spec.code_names:
        raise ConfigError(f"{info.name} has no codes to explore (noise only)")
    candidates = list(candidate_plans(spec, samples, steps))
    asked = candidates[0]
    channels = model.config.model.channels

    def overhead(plan: Plan) -> int:
        """Bytes of the page without its tile images."""
        layout = atlas_layout(plan.tiles_per_sample, model.config.model.image_size)
        empty = [[""] * layout.atlases for _ in range(plan.samples)]
        return len(page_html(info, plan, layout, empty, channels, labels).encode("utf-8"))

    def estimate(plan: Plan, per_tile: float) -> int:
        return overhead(plan) + math.ceil(plan.tiles * per_tile)

    per_tile = probe_bytes_per_tile(model, asked, info.seed)
    asked_size = estimate(asked, per_tile)
    start = 0
    while True:
        fitting = [i for i in range(start, len(candidates)) if estimate(candidates[i], per_tile) <= max_bytes]
        if not fitting:
            smallest = candidates[-1]
            raise ConfigError(
                f"the page would be about {estimate(smallest, per_tile) / MB:.1f} MB even with {smallest.describe()}, "
                f"over the {max_bytes / MB:g} MB budget",
                hint="raise --max-mb",
            )
        chosen = fitting[0]
        plan = candidates[chosen]
        if progress:
            progress(f"generating {plan.describe()}")
        layout, uris = atlas_uris(model, plan, info.seed)
        page = page_html(info, plan, layout, uris, channels, labels)
        size = len(page.encode("utf-8"))
        if size <= max_bytes:
            return Explorer(page, plan, asked, None if chosen == 0 else asked_size, layout, estimate(plan, per_tile))
        if chosen == 0:
            asked_size = size
        per_tile = (size - overhead(plan)) / plan.tiles  # measured; the probe was too hopeful
        start = chosen + 1
