"""`infogan explore`: the plan and its tile numbering, the atlases, the page's controls and its
self-containment, the size budget, --labels-from, every bad input, and a real headless Chromium
that loads the page, moves a slider and shows the image for the new value.

Checkpoints are tiny untrained models with large generator weights, so every latent input draws
a visibly different image; the CLI runs in-process through ``main`` (the real error handling).
"""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from infogan_cli.config import LatentSpec, ModelConfig
from infogan_cli.errors import ConfigError
from infogan_cli.explore import (
    DEFAULTS,
    MB,
    AtlasLayout,
    PageInfo,
    Plan,
    atlas_images,
    atlas_layout,
    build_explorer,
    candidate_plans,
    labels_from_record,
    tile_controls,
    tile_index,
)
from infogan_cli.infogan import InfoGAN
from infogan_cli.render import to_uint8
from tests.conftest import run_main as run_cli, BAD_CHECKPOINT_KINDS, assert_one_error_line, bad_checkpoint, untrained_checkpoint

TINY = dict(width=4, hidden=16, q_hidden=8)
SPECS = {
    "one_cat": (LatentSpec(noise_dim=8, categorical=(10,), continuous=2), ModelConfig(**TINY)),
    "two_cat": (LatentSpec(noise_dim=8, categorical=(10, 4), continuous=1), ModelConfig(**TINY)),
    "no_cont": (LatentSpec(noise_dim=8, categorical=(10, 3), continuous=0), ModelConfig(**TINY)),
    "no_cat": (LatentSpec(noise_dim=8, categorical=(), continuous=3), ModelConfig(**TINY)),
    "rgb32": (LatentSpec(noise_dim=8, categorical=(10,), continuous=2), ModelConfig(**TINY, image_size=32, channels=3)),
    "rgb64": (LatentSpec(noise_dim=8, categorical=(10,), continuous=2), ModelConfig(**TINY, image_size=64, channels=3)),
}
FAST = ["--samples", "2", "--steps", "3", "--device", "cpu"]  # small pages for the CLI tests


def make_checkpoint(path: Path, spec: LatentSpec, model: ModelConfig, step: int = 0) -> Path:
    return untrained_checkpoint(path, spec, model, step=step)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("checkpoints")
    return {name: make_checkpoint(folder / f"{name}.safetensors", *parts, step=42) for name, parts in SPECS.items()}


# ----------------------------------------------------------------------------- reading a page back


class PageParser(HTMLParser):
    """Every start tag with its attributes, and the text of each script element."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._script: dict[str, str | None] | None = None
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._script = dict(attrs)
            self.scripts.append((self._script, ""))
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        self._script = None if tag == "script" else self._script
        self._in_title = False

    def handle_data(self, data):
        if self._script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)
        if self._in_title:
            self.title += data


def parse_page(text: str) -> PageParser:
    parser = PageParser()
    parser.feed(text)
    return parser


def page_data(parser: PageParser) -> dict:
    (text,) = [text for attrs, text in parser.scripts if attrs.get("id") == "explore-data"]
    return json.loads(text)


def decode_uri(uri: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    return Image.open(io.BytesIO(base64.b64decode(uri[len(prefix) :])))


def page_tile(data: dict, sample: int, index: int) -> np.ndarray:
    """The tile the page's script would draw, cut from its atlas: (H, W) or (H, W, 3) uint8."""
    atlas, local = divmod(index, data["perAtlas"])
    row, column = divmod(local, data["columns"])
    size = data["tile"]
    pixels = np.asarray(decode_uri(data["atlases"][sample][atlas]))
    return pixels[row * size : (row + 1) * size, column * size : (column + 1) * size]


def expected_tile(model: InfoGAN, samples: int, sample: int, codes: dict[str, float], seed: int = 0) -> np.ndarray:
    """The same image through the public API: generate() with every code fixed draws the page's
    noise samples (the first draw of the seed), one row per sample."""
    image = to_uint8(model.generate(n=samples, codes=codes, seed=seed)[sample])  # (C, H, W)
    pixels = image.permute(1, 2, 0).numpy()
    return pixels[:, :, 0] if pixels.shape[2] == 1 else pixels


def build_page(capsys, checkpoint: Path, out: Path, *args: str) -> tuple[str, str]:
    code, stdout, err = run_cli(capsys, "explore", str(checkpoint), "--out", str(out), *args)
    assert code == 0, err
    assert stdout.strip() == str(out)
    return out.read_text(encoding="utf-8"), err


# ----------------------------------------------------------------------------- the plan


def test_default_mnist_plan_is_the_product_of_all_controls() -> None:
    plan = Plan.for_spec(LatentSpec(), DEFAULTS.samples, DEFAULTS.steps)
    assert (plan.samples, plan.steps) == (12, 9)
    assert plan.values == [-2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2]
    assert plan.values[plan.centre] == 0
    assert plan.tiles_per_sample == 10 * 9 * 9 and plan.tiles == 9720
    assert plan.describe() == "c1 10 values x c2, c3 9 steps each (combined) x 12 samples = 9720 tiles"


def test_tile_index_by_hand() -> None:
    joint = Plan((10,), 2, samples=1, steps=9)
    assert tile_index(joint, [0], [0, 0]) == 0
    assert tile_index(joint, [3], [1, 2]) == 3 * 81 + 1 * 9 + 2
    assert tile_index(joint, [9], [8, 8]) == 809
    two_cat = Plan((10, 4), 1, samples=1, steps=5)
    assert tile_index(two_cat, [2, 3], [4]) == (2 * 4 + 3) * 5 + 4
    no_cont = Plan((10, 3), 0, samples=1, steps=9)
    assert tile_index(no_cont, [7, 2], []) == 7 * 3 + 2 and no_cont.tiles_per_sample == 30
    # One slider at a time: tile 0 is all sliders at the centre (step 4, value 0), then each
    # slider's 8 other steps with the others at the centre.
    axes = Plan((10,), 2, samples=1, steps=9, joint=False)
    assert axes.continuous_combinations == 1 + 2 * 8
    assert [tile_index(axes, [0], s) for s in ([4, 4], [0, 4], [3, 4], [5, 4], [8, 4], [4, 0], [4, 8])] == [0, 1, 4, 5, 8, 9, 16]
    assert tile_index(axes, [1], [4, 4]) == 17
    with pytest.raises(ValueError):
        tile_index(axes, [0], [0, 0])  # two sliders off the centre: no such tile


@pytest.mark.parametrize(
    "plan",
    [
        Plan((10,), 2, samples=1, steps=9),
        Plan((10,), 3, samples=1, steps=7, joint=False),
        Plan((10, 4), 1, samples=1, steps=5),
        Plan((3, 2), 0, samples=1, steps=9),
        Plan((), 2, samples=1, steps=4),
    ],
    ids=["joint", "one-at-a-time", "two-cat", "no-cont", "no-cat"],
)
def test_tile_controls_inverts_tile_index(plan: Plan) -> None:
    seen = set()
    for index in range(plan.tiles_per_sample):
        categorical, steps = tile_controls(plan, index)
        assert all(0 <= v < k for v, k in zip(categorical, plan.categorical))
        assert all(0 <= s < plan.steps for s in steps)
        assert tile_index(plan, categorical, steps) == index
        seen.add((categorical, steps))
    assert len(seen) == plan.tiles_per_sample  # one tile per distinct control setting


def test_candidate_plans_drop_steps_then_combinations_then_samples() -> None:
    plans = list(candidate_plans(LatentSpec(), samples=4, steps=9))
    described = [(p.steps, p.joint, p.samples) for p in plans]
    assert described == [
        (9, True, 4), (7, True, 4), (5, True, 4),  # fewer joint steps, down to 5
        (9, False, 4), (7, False, 4), (5, False, 4), (3, False, 4),  # one slider at a time
        (3, False, 3), (3, False, 2), (3, False, 1),  # then fewer samples
    ]
    assert [p.tiles for p in plans] == sorted((p.tiles for p in plans), reverse=True)
    one_code = [(p.steps, p.joint) for p in candidate_plans(LatentSpec(continuous=1), samples=2, steps=8)]
    assert one_code == [(8, True), (6, True), (4, True), (4, True)]  # one slider: joint down to 3 steps
    no_cont = [(p.samples, p.tiles) for p in candidate_plans(LatentSpec(continuous=0), samples=3, steps=9)]
    assert no_cont == [(3, 30), (2, 20), (1, 10)]


# ----------------------------------------------------------------------------- atlases


def test_atlas_layout_is_near_square_and_splits_at_the_side_limit() -> None:
    layout = atlas_layout(810, 28)
    assert (layout.columns, layout.rows, layout.atlases) == (29, 28, 1)  # 29 x 28 >= 810
    assert layout.position(0) == (0, 0, 0)
    assert layout.position(29) == (0, 0, 28)  # first tile of the second row
    assert layout.position(809) == (0, 26 * 28, 27 * 28)  # 809 = 27 * 29 + 26
    big = atlas_layout(5000, 64, max_side=4096)  # at most 64 x 64 tiles per atlas
    assert (big.columns, big.rows, big.per_atlas, big.atlases) == (64, 64, 4096, 2)
    assert big.position(4095) == (0, 63 * 64, 63 * 64)
    assert big.position(4096) == (1, 0, 0)
    assert list(big.atlas_tiles(1)) == list(range(4096, 5000))


@pytest.mark.parametrize("channels", [1, 3])
def test_atlas_images_put_each_tile_where_the_layout_says(channels: int) -> None:
    tiles, size = 23, 4
    layout = AtlasLayout(tile=size, columns=3, rows=4, tiles=tiles)  # 12 per atlas: 2 atlases
    values = torch.arange(tiles, dtype=torch.float32) * 10  # tile i is all (i * 10) in uint8
    images = (values / 127.5 - 1).view(tiles, 1, 1, 1).expand(tiles, channels, size, size)
    atlases = [np.asarray(a) for a in atlas_images(images, layout)]
    assert [a.shape[:2] for a in atlases] == [(16, 12), (16, 12)]  # 11 tiles in 4 rows of 3
    assert atlases[0].ndim == (2 if channels == 1 else 3)
    for index in range(tiles):
        atlas, x, y = layout.position(index)
        assert (atlases[atlas][y : y + size, x : x + size] == index * 10).all()


# ----------------------------------------------------------------------------- the page


@pytest.mark.parametrize("name", ["one_cat", "two_cat", "no_cont", "no_cat", "rgb32", "rgb64"])
def test_page_has_every_control_and_loads_nothing(capsys, checkpoints, tmp_path, name) -> None:
    text, _ = build_page(capsys, checkpoints[name], tmp_path / "page.html", *FAST)
    parser = parse_page(text)
    spec, model_config = SPECS[name]
    data = page_data(parser)

    # A button per categorical value, a slider per continuous code over the plan's steps.
    for code, k in zip(spec.categorical_names, spec.categorical):
        buttons = [a for tag, a in parser.tags if tag == "button" and a.get("data-code") == code]
        assert [b["data-value"] for b in buttons] == [str(v) for v in range(k)], code
    sliders = [a for tag, a in parser.tags if tag == "input" and a.get("type") == "range"]
    assert [s["data-code"] for s in sliders] == spec.continuous_names
    assert all((s["min"], s["max"], s["value"]) == ("0", "2", "1") for s in sliders)  # 3 steps, centre 1
    sample_buttons = [a for tag, a in parser.tags if tag == "button" and "data-sample" in a]
    assert len(sample_buttons) == 2 and ("button", {"type": "button", "id": "show-all", "aria-pressed": "false"}) in parser.tags

    # The title names the checkpoint, its step and its latent spec.
    assert f"{name}.safetensors" in parser.title and "step 42" in parser.title
    assert "step 42 · z 8" in text
    assert all(f"{c} categorical ({k})" in text for c, k in zip(spec.categorical_names, spec.categorical))

    # Self-contained: nothing is fetched. No URL scheme or protocol-relative address anywhere,
    # no element that loads a resource, and every image a data URI.
    assert not re.search(r"(?i)\b(?:https?|ftp|wss?):|//[a-z0-9.-]+\.[a-z]{2,}", text)
    for tag, attrs in parser.tags:
        assert tag not in ("link", "iframe", "img", "object", "embed", "base"), tag
        for attribute in ("src", "href", "srcset", "action", "poster"):
            assert attribute not in attrs, (tag, attrs)
    assert "@import" not in text and not re.search(r"url\((?!data:)", text)
    assert all(uri.startswith("data:image/png;base64,") for uris in data["atlases"] for uri in uris)
    assert "fetch(" not in text and "XMLHttpRequest" not in text

    # Tiles of the model's size and colour.
    assert data["tile"] == model_config.image_size
    atlas = decode_uri(data["atlases"][0][0])
    assert atlas.mode == ("RGB" if model_config.channels == 3 else "L")
    assert atlas.width % data["tile"] == 0 and atlas.height % data["tile"] == 0


@pytest.mark.parametrize("name", ["one_cat", "two_cat", "no_cat", "rgb32"])
def test_each_tile_is_the_image_for_its_controls(capsys, checkpoints, tmp_path, name) -> None:
    """Cut tiles out of the page's atlases where the page's numbering says, and compare them with
    the public API's images for the same codes and noise sample."""
    text, _ = build_page(capsys, checkpoints[name], tmp_path / "page.html", *FAST)
    data = page_data(parse_page(text))
    spec = SPECS[name][0]
    plan = Plan(tuple(data["categorical"]), data["continuous"], data["samples"], data["steps"], data["joint"])
    model = InfoGAN.load(checkpoints[name])
    for index in (0, 1, plan.tiles_per_sample // 2, plan.tiles_per_sample - 1):
        categorical, steps = tile_controls(plan, index)
        codes = dict(zip(spec.categorical_names, categorical)) | {
            name: plan.values[s] for name, s in zip(spec.continuous_names, steps)
        }
        for sample in range(plan.samples):
            got = page_tile(data, sample, index).astype(int)
            want = expected_tile(model, plan.samples, sample, codes).astype(int)
            assert np.abs(got - want).max() <= 1, (index, sample, codes)  # batch size may move a rounding
    # Different controls draw different images.
    assert not np.array_equal(page_tile(data, 0, 0), page_tile(data, 0, plan.tiles_per_sample - 1))


def test_help_shows_the_defaults(capsys) -> None:
    code, stdout, _ = run_cli(capsys, "explore", "--help")
    assert code == 0
    text = " ".join(stdout.replace("│", " ").split())  # rich wraps and boxes the help
    assert "c1 10 values x c2, c3 9 steps each (combined) x 12 samples = 9720 tiles of 28 px" in text
    for default in (f"[default: {DEFAULTS.samples}]", f"[default: {DEFAULTS.steps}]", f"[default: {DEFAULTS.max_mb}]"):
        assert default in text


@pytest.mark.parametrize(("name", "samples", "steps"), [("one_cat", 3, 5), ("two_cat", 2, 3), ("no_cont", 3, 5), ("rgb32", 2, 3)])
def test_page_size_estimate_is_close_to_the_built_page(checkpoints, name, samples, steps) -> None:
    """The size a plan is chosen by (the page without tiles plus a probe's bytes per tile) against
    the page built: within 10% for these models, so a budget picks the plan it should."""
    model = InfoGAN.load(checkpoints[name], "cpu")
    explorer = build_explorer(model, PageInfo(name, 0, model.latent_spec, 0), samples, steps, max_bytes=100 * MB)
    assert explorer.asked_size is None and explorer.plan == explorer.asked  # within budget: the plan as asked
    assert explorer.size == len(explorer.html.encode("utf-8")) > 50_000  # tiles, not just the page around them
    assert abs(explorer.estimated_size - explorer.size) <= 0.1 * explorer.size, (explorer.estimated_size, explorer.size)


def test_same_seed_same_page(capsys, checkpoints, tmp_path) -> None:
    first, _ = build_page(capsys, checkpoints["one_cat"], tmp_path / "a.html", *FAST)
    again, _ = build_page(capsys, checkpoints["one_cat"], tmp_path / "b.html", *FAST)
    other, _ = build_page(capsys, checkpoints["one_cat"], tmp_path / "c.html", *FAST, "--seed", "1")
    assert first == again and first != other


def test_default_output_beside_checkpoint(capsys, checkpoints) -> None:
    code, stdout, err = run_cli(capsys, "explore", str(checkpoints["no_cont"]), *FAST)
    assert code == 0, err
    expected = checkpoints["no_cont"].with_name("no_cont-explore.html")
    assert stdout.strip() == str(expected) and expected.is_file()


def test_over_budget_uses_fewer_steps_and_says_so(capsys, checkpoints, tmp_path) -> None:
    out = tmp_path / "page.html"
    # Untrained tiny-model tiles are noise, about 500 bytes each: 10 x 5 x 5 x 2 = 500 tiles
    # need about 0.25 MB, so 0.12 MB forces a smaller plan.
    _, err = build_page(capsys, checkpoints["one_cat"], out, "--samples", "2", "--steps", "5", "--max-mb", "0.12", "--device", "cpu")
    assert out.stat().st_size <= 0.12 * MB
    assert "note: c1 10 values x c2, c3 5 steps each (combined) x 2 samples = 500 tiles would make a page of about" in err
    assert "over --max-mb 0.12: using c1 10 values x c2, c3" in err
    data = page_data(parse_page(out.read_text()))
    assert Plan(tuple(data["categorical"]), data["continuous"], data["samples"], data["steps"], data["joint"]).tiles < 500
    # Within budget: no note, the plan as asked.
    _, err = build_page(capsys, checkpoints["one_cat"], out, "--samples", "2", "--steps", "5", "--device", "cpu")
    assert "note:" not in err and "= 500 tiles" in err
    data = page_data(parse_page(out.read_text()))
    assert (data["steps"], data["joint"], data["samples"]) == (5, True, 2)


def test_budget_too_small_for_any_page(capsys, checkpoints, tmp_path) -> None:
    out = tmp_path / "page.html"
    code, stdout, err = run_cli(capsys, "explore", str(checkpoints["one_cat"]), "--out", str(out), "--max-mb", "0.01", *FAST)
    assert_one_error_line(code, err)
    assert "over the 0.01 MB budget" in err and "--max-mb" in err
    assert stdout == "" and not out.exists()


# ----------------------------------------------------------------------------- --labels-from

MAPPING = {str(v): (v + 3) % 10 for v in range(10)}
SCHEMA = {"name": "infogan-evaluate", "version": 1}
EVALUATION = {  # the shape `infogan evaluate --json` writes (the parts explore reads, and a per-code mapping it ignores)
    "schema": SCHEMA,
    "checkpoint": "x/last.safetensors",
    "label_code": "c1",
    "q": {"code": "c1", "mapping": MAPPING, "per_class": {}},
    "categorical_codes": {"c1": {"values": 10, "accuracy": 0.9, "mapping": MAPPING}},
}


def q_record(code: str, mapping) -> dict:
    return {"schema": SCHEMA, "label_code": code, "q": {"code": code, "mapping": mapping}}


def test_labels_from_record_shapes() -> None:
    spec = SPECS["two_cat"][0]
    expected = {v: (v + 3) % 10 for v in range(10)}
    assert labels_from_record(EVALUATION, spec, "e.json") == {"c1": expected}
    # The label code may be another categorical code; a value matched to no label gets none.
    assert labels_from_record(q_record("c2", {"0": 4, "1": 2, "2": None, "3": 1}), spec, "e.json") == {"c2": {0: 4, 1: 2, 3: 1}}


def test_labels_only_for_the_label_code() -> None:
    """The record matches every categorical code to the labels; only q.code draws them, so a
    second code (c2, 4 values) gets no digit labels even where its per-code mapping is there."""
    spec = SPECS["two_cat"][0]
    record = {**EVALUATION, "categorical_codes": {
        "c1": {"values": 10, "accuracy": 0.9, "mapping": MAPPING},
        "c2": {"values": 4, "accuracy": 0.3, "mapping": {"0": 1, "1": 7, "2": 2, "3": 0}},
    }}
    assert labels_from_record(record, spec, "e.json") == {"c1": {v: (v + 3) % 10 for v in range(10)}}


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ([1, 2], "not a JSON object"),
        ({"checkpoint": "x"}, "without an infogan evaluate schema, not an infogan evaluate record"),
        # Mappings outside q (per code, or at the top level as no released record has them) are not read.
        ({"schema": SCHEMA, "label_code": "c1", "mapping": MAPPING}, "has no code-to-label mapping"),
        ({"schema": SCHEMA, "categorical_codes": {"c1": {"mapping": MAPPING}}}, "has no code-to-label mapping"),
        ({"schema": SCHEMA, "q": None}, "has no code-to-label mapping"),
        ({"label_code": "c1", "q": {"code": "c1", "mapping": MAPPING}}, "not an infogan evaluate record"),
        ({"schema": {"name": "infogan-inspect", "version": 1}, "q": {"code": "c1", "mapping": MAPPING}}, "is a record of schema 'infogan-inspect', not an infogan evaluate record"),
        ({"schema": {"name": "infogan-evaluate", "version": 2}, "q": {"code": "c1", "mapping": MAPPING}}, "schema version 2; this infogan reads version 1"),
        ({"schema": {"name": "infogan-evaluate"}, "q": {"code": "c1", "mapping": MAPPING}}, "schema version None"),
        ({"schema": SCHEMA, "q": {"mapping": MAPPING}}, "q is not an object with a code and a mapping"),
        ({"schema": SCHEMA, "q": [1]}, "q is not an object with a code and a mapping"),
        (q_record("c1", {"3": 2.5}), "not a class number"),
        (q_record("c1", [1, 2]), "not an object of value -> label"),
        (q_record("c1", {"x": 1}), "key 'x' that is not a code value"),
        (q_record("c1", {"10": 1}), "has value 10, but this checkpoint's c1 has 10 values"),
        (q_record("c1", {"0": "seven"}), "not a class number"),
        (q_record("c1", {"0": -1}), "not a class number"),
        (q_record("c3", {"0": 1}), "does not have as a categorical code"),
    ],
)
def test_labels_from_bad_records(record, message) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        labels_from_record(record, SPECS["two_cat"][0], "e.json")


def test_labels_appear_under_each_value(capsys, checkpoints, tmp_path) -> None:
    labels = tmp_path / "evaluation.json"
    labels.write_text(json.dumps(EVALUATION))
    text, _ = build_page(capsys, checkpoints["one_cat"], tmp_path / "page.html", *FAST, "--labels-from", str(labels))
    for value in range(10):
        label = (value + 3) % 10
        assert f'data-code="c1" data-value="{value}" title="c1 = {value}: draws {label}" aria-pressed="{str(value == 0).lower()}">{value}<span class="label">{label}</span></button>' in text
    assert "from evaluation.json" in text


def test_labels_from_a_real_evaluate_record(capsys, checkpoints, tmp_path, monkeypatch) -> None:
    """What `infogan evaluate --json` prints today is what --labels-from reads: run it on the tiny
    model (the `fake` set, a classifier trained for a few steps) and feed its record to explore."""
    from infogan_cli.classifier import save_classifier, train_classifier
    from infogan_cli.data import load_dataset

    monkeypatch.setenv("INFOGAN_CACHE_DIR", str(tmp_path / "cache"))
    classifier = train_classifier(load_dataset("fake", train=True), load_dataset("fake", train=False), torch.device("cpu"), max_steps=4)
    classifier_path = save_classifier(classifier, tmp_path / "fake.safetensors")
    code, stdout, err = run_cli(capsys, "evaluate", str(checkpoints["one_cat"]), "--json", "--n-samples", "20", "--device", "cpu", "--classifier", str(classifier_path))
    assert code == 0, err
    record = json.loads(stdout)
    labels = labels_from_record(record, SPECS["one_cat"][0], "evaluation.json")
    assert list(labels) == ["c1"] and labels["c1"] and all(0 <= label < 10 for label in labels["c1"].values())

    (tmp_path / "evaluation.json").write_text(stdout)
    text, _ = build_page(capsys, checkpoints["one_cat"], tmp_path / "page.html", *FAST, "--labels-from", str(tmp_path / "evaluation.json"))
    for value, label in labels["c1"].items():
        assert f'title="c1 = {value}: draws {label}"' in text


@pytest.mark.parametrize("content", ["{not json", json.dumps({"mapping": {"0": "a"}}), json.dumps(q_record("c1", {"12": 1})), None, "folder"])
def test_bad_labels_file(capsys, checkpoints, tmp_path, content) -> None:
    labels = tmp_path / "evaluation.json"
    if content == "folder":
        labels.mkdir()
    elif content is not None:
        labels.write_text(content)
    out = tmp_path / "out" / "page.html"
    code, stdout, err = run_cli(capsys, "explore", str(checkpoints["one_cat"]), "--out", str(out), "--labels-from", str(labels), *FAST)
    assert_one_error_line(code, err)
    assert "evaluation.json" in err and stdout == "" and not out.parent.exists()


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("kind", BAD_CHECKPOINT_KINDS)
def test_bad_checkpoint(capsys, checkpoints, tmp_path, kind) -> None:
    path = bad_checkpoint(tmp_path, kind, checkpoints["one_cat"])
    out = tmp_path / "out" / "page.html"
    code, stdout, err = run_cli(capsys, "explore", str(path), "--out", str(out), *FAST)
    assert_one_error_line(code, err)
    assert stdout == "" and not out.parent.exists()


@pytest.mark.parametrize(
    "args",
    [["--samples", "0"], ["--samples", "101"], ["--steps", "1"], ["--steps", "102"], ["--max-mb", "0"], ["--max-mb", "-1"], ["--max-mb", "nan"], ["--max-mb", "1e308"], ["--seed", "-1"], ["--device", "tpu"]],
    ids=" ".join,
)
def test_bad_options(capsys, checkpoints, tmp_path, args) -> None:
    out = tmp_path / "out" / "page.html"
    code, stdout, err = run_cli(capsys, "explore", str(checkpoints["one_cat"]), "--out", str(out), *args)
    assert_one_error_line(code, err)
    assert stdout == "" and not out.parent.exists()


def test_unwritable_out(capsys, checkpoints, tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    # A path below a file can't be created, even by root (which ignores permission bits).
    code, _, err = run_cli(capsys, "explore", str(checkpoints["one_cat"]), "--out", str(blocker / "sub" / "page.html"), *FAST)
    assert_one_error_line(code, err)
    folder = tmp_path / "folder.html"
    folder.mkdir()
    code, _, err = run_cli(capsys, "explore", str(checkpoints["one_cat"]), "--out", str(folder), *FAST)
    assert_one_error_line(code, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "folder.html"] and not any(folder.iterdir())


def test_noise_only_model_has_nothing_to_explore(capsys, tmp_path) -> None:
    path = make_checkpoint(tmp_path / "noise.safetensors", LatentSpec(noise_dim=8, categorical=(), continuous=0), ModelConfig(**TINY))
    code, _, err = run_cli(capsys, "explore", str(path), "--out", str(tmp_path / "page.html"), *FAST)
    assert_one_error_line(code, err)
    assert not (tmp_path / "page.html").exists()


# ----------------------------------------------------------------------------- a real browser


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
    JSON messages separated by NUL bytes, the browser reading fd 3 and writing fd 4), so the
    test needs nothing beyond the standard library and the browser."""

    def __init__(self, binary: str, width: int = 1100, height: int = 760) -> None:
        self.profile = tempfile.mkdtemp(prefix="infogan-chromium-")
        child_reads, self.to_browser = os.pipe()
        self.from_browser, child_writes = os.pipe()

        def wire_pipes() -> None:  # in the child, before exec: put the pipe ends on fds 3 and 4
            reads = fcntl.fcntl(child_reads, fcntl.F_DUPFD, 10)
            writes = fcntl.fcntl(child_writes, fcntl.F_DUPFD, 10)
            os.dup2(reads, 3)
            os.dup2(writes, 4)

        self.process = subprocess.Popen(
            [
                binary, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
                f"--user-data-dir={self.profile}", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking", "--force-device-scale-factor=1",
                f"--window-size={width},{height}", "about:blank",
            ],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=False, preexec_fn=wire_pipes,
        )
        os.close(child_reads)
        os.close(child_writes)
        self.buffer = b""
        self.last_id = 0
        self.events: list[dict] = []
        self.session: str | None = None

    def close(self) -> None:
        """Ask the browser to quit (so its helper processes stop writing to the profile), else kill it."""
        self.session = None
        try:
            self.send("Browser.close", timeout=10)
            self.process.wait(timeout=10)
        except (OSError, RuntimeError, TimeoutError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait(timeout=30)
        os.close(self.to_browser)
        os.close(self.from_browser)
        shutil.rmtree(self.profile, ignore_errors=True)

    def send(self, method: str, params: dict | None = None, timeout: float = 60) -> dict:
        self.last_id += 1
        message = {"id": self.last_id, "method": method, "params": params or {}}
        if self.session:
            message["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline, method)
            if reply.get("id") == self.last_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def _read(self, deadline: float, method: str) -> dict:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer from Chromium to {method}")
            if select.select([self.from_browser], [], [], left)[0]:
                chunk = os.read(self.from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe")
                self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(b"\0")
        return json.loads(message)

    def open(self, url: str) -> None:
        """Attach to the page target, turn on console reporting and load ``url``."""
        page = next(t for t in self.send("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self.session = self.send("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            self.send(f"{domain}.enable")
        self.send("Page.navigate", {"url": url})
        self.evaluate("new Promise(r => document.readyState === 'complete' ? r() : addEventListener('load', r))")

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, selector: str) -> np.ndarray:
        """The element's pixels on screen: (H, W, 3) uint8."""
        box = self.evaluate(f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; }})()")
        clip = dict(zip(("x", "y", "width", "height"), box), scale=1)
        shot = self.send("Page.captureScreenshot", {"format": "png", "clip": clip})
        return np.asarray(Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB"))

    def press(self, key: str, code: int) -> None:
        for kind in ("keyDown", "keyUp"):
            self.send("Input.dispatchKeyEvent", {"type": kind, "key": key, "code": key, "windowsVirtualKeyCode": code})

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads reported so far."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(str(params["exceptionDetails"].get("exception", params["exceptionDetails"])))
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(" ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(params["entry"].get("text", ""))
        return found


CHROMIUM = find_chromium()


def shown_tile(screen: np.ndarray, tile: int) -> np.ndarray:
    """The tile a canvas shows, one pixel from the centre of each scaled-up cell: (tile, tile, 3)."""
    scale = screen.shape[0] // tile
    centres = np.arange(tile) * scale + scale // 2
    return screen[np.ix_(centres, centres)]


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium for the real-browser test: apt-get install chromium (.ci/run installs it where apt-get works)")
def test_page_in_headless_chromium(capsys, checkpoints, tmp_path) -> None:
    out = tmp_path / "page.html"
    build_page(capsys, checkpoints["one_cat"], out, "--samples", "3", "--steps", "5", "--device", "cpu")
    spec = SPECS["one_cat"][0]
    model = InfoGAN.load(checkpoints["one_cat"])
    plan = Plan.for_spec(spec, 3, 5)

    def gray(pixels: np.ndarray) -> np.ndarray:
        return np.repeat(pixels[:, :, None], 3, axis=2).astype(int)

    browser = Chromium(CHROMIUM)
    try:
        browser.open(out.as_uri())
        browser.evaluate("window.explorer.ready")
        # The script numbers tiles as tile_index does.
        for categorical, steps in (([0], [2, 2]), ([3], [1, 4]), ([9], [4, 0])):
            assert browser.evaluate(f"window.explorer.tileIndex({categorical}, {steps})") == tile_index(plan, categorical, steps)

        before = browser.screenshot("#image")
        assert before.shape[:2] == (280, 280)  # 28 px tiles drawn 10x
        start = {"c1": 0, "c2": 0.0, "c3": 0.0}
        assert np.abs(shown_tile(before, 28).astype(int) - gray(expected_tile(model, 3, 0, start))).max() <= 1

        # Move c2's slider one step right with the keyboard, as a user would.
        browser.evaluate("document.getElementById('slider-c2').focus()")
        browser.press("ArrowRight", 39)
        assert browser.evaluate("document.getElementById('slider-c2').value") == "3"
        assert browser.evaluate("document.getElementById('value-c2').textContent") == "1"
        after = browser.screenshot("#image")
        assert np.abs(after.astype(int) - before.astype(int)).max() > 50  # the image changed
        moved = {"c1": 0, "c2": 1.0, "c3": 0.0}
        assert np.abs(shown_tile(after, 28).astype(int) - gray(expected_tile(model, 3, 0, moved))).max() <= 1

        # A categorical button and another sample pick their tiles too.
        browser.evaluate("document.querySelector('button[data-code=c1][data-value=\"7\"]').click()")
        browser.evaluate("document.querySelector('button[data-sample=\"2\"]').click()")
        picked = shown_tile(browser.screenshot("#image"), 28).astype(int)
        assert np.abs(picked - gray(expected_tile(model, 3, 2, {"c1": 7, "c2": 1.0, "c3": 0.0}))).max() <= 1

        # "show all samples": one image per sample, each for the same controls.
        browser.evaluate("document.getElementById('show-all').click()")
        assert browser.evaluate("document.getElementById('image').hidden && !document.getElementById('grid').hidden")
        for sample in range(3):
            shown = shown_tile(browser.screenshot(f"#grid figure:nth-child({sample + 1}) canvas"), 28).astype(int)
            assert np.abs(shown - gray(expected_tile(model, 3, sample, {"c1": 7, "c2": 1.0, "c3": 0.0}))).max() <= 1

        assert browser.errors() == []
    finally:
        browser.close()
