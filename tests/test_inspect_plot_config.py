"""`infogan inspect`, `infogan plot` and `infogan train --config FILE.toml`.

Checkpoints come from a 2-step tiny training run on the `fake` set; metrics files are written by
hand so every plotted value is known.
"""

from __future__ import annotations

import io
import json
import math
import re
from pathlib import Path
from typing import Optional

import pytest
from PIL import Image

from infogan_cli.config import ConfigError, LatentSpec, ModelConfig, TrainConfig, build_train_config
from infogan_cli.config_file import OptionSpec, read_options_file, spec_from_annotation
from infogan_cli.errors import CheckpointError, ConfigError, InfoganError
from infogan_cli.models import build_models
from infogan_cli.plot import (
    COLORS, PANEL_HEIGHT, PANEL_WIDTH, build_panels, confusion_figure, figure_png, plot_run, read_metrics, render_figure, starts_panel,
)
from infogan_cli.summary import summarize_checkpoint

SPEC = LatentSpec(noise_dim=8, categorical=(10, 4), continuous=1)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A 2-step run with conftest's tiny settings (two categorical codes), trained once."""
    from infogan_cli.trainer import train

    config = TrainConfig(
        latent=SPEC, model=ModelConfig(width=4, hidden=16, q_hidden=8), dataset="fake",
        max_steps=2, batch_size=16, log_every=1, device="cpu",
    )
    events = list(train(config, tmp_path_factory.mktemp("inspect") / "run"))
    return events[-1].checkpoint


# ----------------------------------------------------------------------------- inspect


def test_inspect_json_reports_the_checkpoint(cli, checkpoint) -> None:
    result = cli("inspect", str(checkpoint), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # exactly one JSON document, nothing else on stdout
    assert report["schema"] == {"name": "infogan-inspect", "version": 1}
    assert report["step"] == 2 and report["epochs_completed"] == 0 and report["format_version"] == 1
    assert "epoch" not in report and report["metrics"]["epoch"] == pytest.approx(2 / (1024 // 16))  # progress, fractional
    assert report["checkpoint"] == str(checkpoint)
    assert report["config"]["latent"] == {"noise_dim": 8, "categorical": [10, 4], "continuous": 1, "continuous_prior": "uniform"}
    assert report["config"]["dataset"] == "fake"
    assert report["metrics"]["step"] == 2 and set(report["metrics"]["mi"]) == {"c1", "c2", "c3"}
    codes = report["latent"]["codes"]
    assert [(c["name"], c["type"]) for c in codes] == [("c1", "categorical"), ("c2", "categorical"), ("c3", "continuous")]
    assert codes[0]["entropy_nats"] == pytest.approx(math.log(10)) and codes[2]["entropy_nats"] == pytest.approx(math.log(2))
    assert report["tensors"]["generator.fc.0.weight"] == {"shape": [16, 8 + 10 + 4 + 1], "dtype": "F32"}
    assert {"rng.train", "rng.cpu"} <= set(report["tensors"])
    assert report["groups"]["optimizer"]["tensors"] > 0
    assert set(report["parameters"]) == {"generator", "trunk", "d_head", "q_head", "discriminator", "total"}
    assert report["parameters"]["trunk"] + report["parameters"]["d_head"] + report["parameters"]["q_head"] == report["parameters"]["discriminator"]


def test_summary_counts_parameters_without_batchnorm_buffers(checkpoint) -> None:
    summary = summarize_checkpoint(checkpoint)
    generator, discriminator = build_models(summary.config.latent, summary.config.model)
    counts = summary.parameters()
    assert counts["generator"] == sum(p.numel() for p in generator.parameters())
    assert counts["discriminator"] == sum(p.numel() for p in discriminator.parameters())
    assert counts["discriminator.q_head"] == sum(p.numel() for p in discriminator.q_head.parameters())
    assert counts["total"] == counts["generator"] + counts["discriminator"]
    assert summary.groups()["generator"]["tensors"] == len(generator.state_dict())  # buffers are tensors too


def test_inspect_tables_name_every_module_tensor(cli, checkpoint) -> None:
    result = cli("inspect", str(checkpoint))
    assert result.returncode == 0, result.stderr
    for text in ("step 2", "categorical", "Unif(-1, 1)", "generator.fc.0.weight", "discriminator.q_head", "optimizer_g.*"):
        assert text in result.stdout


def test_inspect_json_turns_non_finite_metrics_into_null(cli, tmp_path) -> None:
    """Metadata may hold NaN and infinities (json.loads reads them); the report stays strict JSON."""
    from infogan_cli.checkpoint import save_checkpoint

    config = TrainConfig(latent=SPEC, model=ModelConfig(width=4, hidden=16, q_hidden=8), dataset="fake")
    generator, discriminator = build_models(config.latent, config.model)
    metrics = {"loss_d": float("nan"), "mi": {"c1": float("inf"), "c2": 0.5}, "history": [1.0, float("-inf")], "step": 3}
    path = save_checkpoint(tmp_path / "nan.safetensors", config=config, generator=generator, discriminator=discriminator,
                           step=3, epoch=0, metrics=metrics)
    result = cli("inspect", str(path), "--json")
    assert result.returncode == 0, result.stderr

    def refuse(constant: str):
        raise AssertionError(f"{constant} in the JSON")

    report = json.loads(result.stdout, parse_constant=refuse)
    assert report["metrics"] == {"loss_d": None, "mi": {"c1": None, "c2": 0.5}, "history": [1.0, None], "step": 3}


def test_inspect_a_non_checkpoint_is_one_line(cli, tmp_path) -> None:
    path = tmp_path / "notes.safetensors"
    path.write_text("not a checkpoint at all")
    result = cli("inspect", str(path), "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1
    with pytest.raises(CheckpointError, match="does not exist"):
        summarize_checkpoint(tmp_path / "missing.safetensors")


# ----------------------------------------------------------------------------- plot


def write_run(run_dir: Path, lines: list[str], continuous_loss: str = "gaussian") -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    config = TrainConfig(latent=LatentSpec(noise_dim=4, categorical=(10,), continuous=1), continuous_loss=continuous_loss)
    (run_dir / "config.json").write_text(config.to_json())
    (run_dir / "metrics.jsonl").write_text("".join(lines))
    return run_dir


def metric_line(step: int, loss_d: float, c2: Optional[float] = 0.3) -> str:
    record = {
        "step": step, "epoch": step / 100, "loss_d": loss_d, "loss_g": 2.0 - loss_d, "loss_mi": 0.5,
        "loss_code": {"c1": 1.0, "c2": 0.2}, "mi": {"c1": math.log(10) - 1.0, "c2": c2}, "images_per_s": 500.0 + step,
    }
    return json.dumps(record) + "\n"


def rgb(color: str) -> tuple[int, int, int]:
    return tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))


def drawn(figure) -> Image.Image:
    """The figure as the PNG a user gets; afterwards its axes know their pixel boxes."""
    return Image.open(io.BytesIO(figure_png(figure))).convert("RGB")


def pixels_in(image: Image.Image, ax, color: str, steps: Optional[tuple[float, float]] = None) -> int:
    """Pixels of exactly ``color`` inside ``ax``'s plot area (between two steps when given)."""
    box = ax.get_window_extent()  # display pixels, y upwards
    left, right = (box.x0, box.x1) if steps is None else sorted(ax.transData.transform([(s, 0) for s in steps])[:, 0])
    area = image.crop((math.ceil(left), image.height - math.floor(box.y1), math.floor(right), image.height - math.ceil(box.y0)))
    return sum(count for count, c in area.getcolors(maxcolors=1_000_000) if c == rgb(color))


def test_plot_writes_a_png_of_three_panels(cli, tmp_path) -> None:
    run_dir = write_run(tmp_path / "run", [metric_line(50, 1.3), metric_line(100, 1.1), metric_line(150, 1.2)])
    result = cli("plot", str(run_dir))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(run_dir / "metrics.png")
    with Image.open(run_dir / "metrics.png") as image:
        assert image.format == "PNG" and image.size == (1000, 3 * 300) == (PANEL_WIDTH, 3 * PANEL_HEIGHT)
    # Each panel's plot area holds its lines: D loss, c1's MI (and its ceiling), images/s.
    figure = render_figure(build_panels([json.loads(metric_line(s, 1.0 + s / 1000)) for s in (50, 100, 150)], None))
    image = drawn(figure)
    losses, mi, speed = figure.axes
    assert pixels_in(image, losses, COLORS[0]) > 100 and pixels_in(image, losses, COLORS[1]) > 100
    assert pixels_in(image, mi, COLORS[0]) > 100 and pixels_in(image, speed, COLORS[2]) > 100
    assert pixels_in(image, speed, COLORS[0]) == 0  # the D loss stays in its own panel
    assert [t.get_text() for t in losses.get_legend().get_texts()] == ["D loss", "G loss"]
    assert speed.get_xlabel() == "step" and losses.get_xlim() == (50.0, 150.0)


def test_plot_of_a_run_with_starts_adds_each_starts_information_on_real_images(tmp_path) -> None:
    # Two starts of 1 epoch (100 steps); seed 1000 was chosen, so its lines are the run's own
    # (trained on to step 200) and seed 0's stay in its start folder.
    def with_real(step, mi_real):
        return json.dumps({**json.loads(metric_line(step, 1.0)), "mi_real": mi_real}) + "\n"

    run_dir = write_run(tmp_path / "run", [with_real(step, 2.0) for step in (50, 100, 150, 200)])
    write_run(run_dir / "starts" / "seed-0", [with_real(step, 1.0) for step in (50, 100)])
    record = {
        "schema": 1, "seed": 0, "count": 3, "epochs": 1, "chosen": 1000, "config": TrainConfig().to_dict(),
        "starts": [{"seed": 0, "mi_real": 1.0}, {"seed": 1000, "mi_real": 2.0}, {"seed": 2000, "mi_real": None}],
    }
    (run_dir / "starts.json").write_text(json.dumps(record))
    plot_run(run_dir)
    with Image.open(run_dir / "metrics.png") as image:
        assert image.size == (PANEL_WIDTH, 4 * PANEL_HEIGHT)
    panel = starts_panel(run_dir, read_metrics(run_dir / "metrics.jsonl"))
    assert [s.label for s in panel.series] == ["seed 0: 1.000", "seed 1000 (chosen): 2.000"]  # seed 2000 had not begun
    assert [s.points for s in panel.series] == [[(50.0, 1.0), (100.0, 1.0)], [(50.0, 2.0), (100.0, 2.0)]]  # up to the choice
    assert "the highest mean over epoch 1" in panel.title

    (run_dir / "starts.json").write_text('{"epochs": 1}')
    with pytest.raises(CheckpointError, match="is not a readable record of starts"):
        plot_run(run_dir)
    assert starts_panel(tmp_path / "nowhere", []) is None


def test_plot_breaks_lines_at_missing_values(tmp_path) -> None:
    # D loss is NaN at steps 8, 9, 11 and 12: a gap, with step 10 alone in it drawn as a dot.
    records = [json.loads(metric_line(step, 1.3)) for step in range(21)]  # G loss 0.7
    for step in (8, 9, 11, 12):
        records[step]["loss_d"] = float("nan")
    del records[5]["loss_g"]  # a key missing from one line is a gap too
    figure = render_figure(build_panels(records, None))
    image = drawn(figure)
    losses = figure.axes[0]
    assert pixels_in(image, losses, COLORS[0], (2.5, 6.5)) > 20  # the line before the gap
    assert pixels_in(image, losses, COLORS[0], (8.3, 9.7)) == 0  # nothing in the gap
    assert pixels_in(image, losses, COLORS[0], (9.7, 10.3)) > 5  # the dot at step 10
    assert pixels_in(image, losses, COLORS[0], (13.5, 19.5)) > 20  # the line after it
    assert pixels_in(image, losses, COLORS[1], (4.3, 5.7)) == 0 and pixels_in(image, losses, COLORS[1], (6.3, 7.7)) > 5
    assert all(float(tick).is_integer() for tick in losses.get_xticks())


def test_plot_out_and_codes_without_estimate(tmp_path) -> None:
    # A code with no MI estimate (None: mse runs written before it had one) is left out and named; the plot still renders.
    run_dir = write_run(tmp_path / "run", [metric_line(1, 1.0, c2=None), metric_line(2, 0.9, c2=None)], "mse")
    out = plot_run(run_dir, tmp_path / "figures" / "m.png")
    assert out == tmp_path / "figures" / "m.png" and out.stat().st_size > 0
    assert not (run_dir / "metrics.png").exists()
    records = [json.loads(metric_line(step, 1.0, c2=None)) for step in (1, 2)]
    figure = render_figure(build_panels(records, None))
    assert [t.get_text() for t in figure.axes[1].get_legend().get_texts()] == ["c1", "no estimate (mse loss): c2"]
    assert [float(tick) for tick in figure.axes[0].get_xticks() if 1 <= tick <= 2] == [1.0, 2.0]  # no step 1.5


def test_plot_panel_without_data_says_so(tmp_path) -> None:
    records = [{k: v for k, v in json.loads(metric_line(step, 1.3)).items() if k != "images_per_s"} for step in (1, 2, 3)]
    figure = render_figure(build_panels(records, None))
    image = drawn(figure)
    speed = figure.axes[2]
    assert [t.get_text() for t in speed.texts] == ["no data"]
    assert pixels_in(image, speed, COLORS[2]) == 0 and pixels_in(image, figure.axes[0], COLORS[0]) > 100


def test_plot_legend_keeps_to_its_column() -> None:
    # Twelve codes and their ceilings do not fit beside a panel: the legend ends in "+N more".
    records = [{"step": step, "mi": {f"c{i}": 0.1 * i for i in range(12)}} for step in (1, 2)]
    texts = [t.get_text() for t in render_figure(build_panels(records, None)).axes[1].get_legend().get_texts()]
    assert len(texts) == 10 and texts[:9] == [f"c{i}" for i in range(9)] and texts[-1] == "+3 more"


def test_confusion_figure_shades_by_row_share_and_prints_counts() -> None:
    import numpy as np

    contingency = np.array([[30, 0, 10], [0, 5, 0]])
    figure = confusion_figure(contingency, ["c1=0", "c1=1"], ["0", "1", "2"], "Q head: c1 (rows) x label")
    image = drawn(figure)
    ax = figure.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == ["10", "30", "5"]  # zero cells stay blank
    assert [t.get_text() for t in ax.get_yticklabels()] == ["c1=0", "c1=1"] and ax.get_xlabel() == "label"

    def cell(row: int, column: int) -> int:  # grey level at the cell's centre, y upwards in display pixels
        x, y = ax.transData.transform((column, row))
        return sum(image.getpixel((int(x), image.height - int(y))))

    assert cell(1, 1) < cell(0, 0) < cell(0, 2) < cell(0, 1)  # share 1 < 0.75 < 0.25 < 0
    assert image.width >= 300 and image.height >= 2 * 50
def test_plot_skips_a_half_written_last_line(tmp_path) -> None:
    run_dir = write_run(tmp_path / "run", [metric_line(1, 1.0), metric_line(2, 0.9), '{"step": 3, "loss'])
    assert plot_run(run_dir).exists()


@pytest.mark.parametrize(
    "lines,message",
    [
        (None, "no metrics file"),
        ([], "has no metric lines"),
        (["\n", "  \n"], "has no metric lines"),
        (["{oops\n", metric_line(2, 0.9)], "metrics.jsonl:1 is not a JSON line"),
        (['{"loss_d": 1.0}\n'], "metrics.jsonl:1 has no step number"),
        (['[1, 2]\n'], "metrics.jsonl:1 has no step number"),
    ],
)
def test_plot_errors(tmp_path, lines, message) -> None:
    run_dir = write_run(tmp_path / "run", lines or [])
    if lines is None:
        (run_dir / "metrics.jsonl").unlink()
    with pytest.raises(InfoganError, match=message):
        plot_run(run_dir)
    assert not (run_dir / "metrics.png").exists()


def test_plot_cli_errors_are_one_line(cli, tmp_path) -> None:
    result = cli("plot", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert result.stderr == f"error: run folder {tmp_path / 'nowhere'} does not exist\n"


# ----------------------------------------------------------------------------- train --config


@pytest.mark.slow
def test_config_file_values_apply_and_flags_win(cli, tmp_path) -> None:
    config_file = tmp_path / "run.toml"
    config_file.write_text(
        'dataset = "fake"\n'
        "batch_size = 32        # the command line says 16\n"
        "seed = 7               # the command line says 0, the default, explicitly\n"
        "noise-dim = 8          # dashes work too\n"
        "categorical = [3, 4]\n"
        "lambda_cat = 2         # an integer where a float is expected\n"
        "log_every = 1\n"
        'device = "cpu"\n'
    )
    run_dir = tmp_path / "run"
    result = cli("train", "--config", str(config_file), "--width", "4", "--max-steps", "2", "--batch-size", "16", "--seed", "0", "--out", str(run_dir))
    assert result.returncode == 0, result.stderr
    config = json.loads((run_dir / "config.json").read_text())
    assert config["dataset"] == "fake" and config["model"]["width"] == 4 and config["max_steps"] == 2
    assert config["batch_size"] == 16 and config["seed"] == 0  # flags win over the file
    assert config["latent"]["noise_dim"] == 8 and config["latent"]["categorical"] == [3, 4]
    assert config["lambda_cat"] == 2.0 and config["log_every"] == 1
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 2
    assert (run_dir / "metrics.png").exists() and f"metrics plot: {run_dir / 'metrics.png'}" in result.stderr


def test_config_file_unknown_key_is_one_line(cli, tmp_path) -> None:
    config_file = tmp_path / "run.toml"
    config_file.write_text("lr = 0.1\n")
    result = cli("train", "--config", str(config_file), "--dataset", "fake", "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {config_file}: unknown key 'lr'\n") and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


SPECS = {
    "epochs": OptionSpec(int, minimum=1),
    "lambda_cat": OptionSpec(float, minimum=0),
    "categorical": OptionSpec(int, multiple=True),
    "mi_updates_trunk": OptionSpec(bool),
    "data_root": OptionSpec(Path),
}


@pytest.mark.parametrize(
    "text,message",
    [
        ('epochs = "5"', "epochs must be an integer, got '5'"),
        ("epochs = 2.0", "epochs must be an integer, got 2.0"),
        ("epochs = true", "epochs must be an integer, got True"),
        ("epochs = 0", "epochs must be >= 1, got 0"),
        ("lambda_cat = -1", "lambda_cat must be >= 0"),
        ("lambda_cat = nan", "lambda_cat must be a finite number"),
        ("categorical = 10", "categorical must be a list"),
        ('categorical = [10, "a"]', "categorical[1] must be an integer"),
        ("mi_updates_trunk = 1", "mi_updates_trunk must be true or false"),
        ("data_root = 3", "data_root must be a path string"),
        ("epochs = 1\nEpochs = 2", "unknown key 'Epochs'"),
        ("epochs = 1\n'epochs' = 2", "not valid TOML"),
        ("lambda-cat = 1\nlambda_cat = 2", "'lambda_cat' is given twice"),
        ("[train]\nepochs = 1", "unknown key 'train'"),
    ],
)
def test_config_file_rejects_bad_keys_and_types(tmp_path, text, message) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError, match=re.escape(message)):
        read_options_file(path, SPECS)


def test_config_file_converts_values(tmp_path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('epochs = 3\nlambda-cat = 1\ncategorical = [10, 4]\nmi_updates_trunk = false\ndata_root = "d"\n')
    assert read_options_file(path, SPECS) == {
        "epochs": 3, "lambda_cat": 1.0, "categorical": [10, 4], "mi_updates_trunk": False, "data_root": Path("d"),
    }
    with pytest.raises(ConfigError, match="does not exist"):
        read_options_file(tmp_path / "missing.toml", SPECS)


def test_option_specs_from_annotations() -> None:
    assert spec_from_annotation(Optional[list[int]]) == OptionSpec(int, multiple=True)
    assert spec_from_annotation(Optional[Path]) == OptionSpec(Path)
    assert spec_from_annotation(float | None, minimum=0) == OptionSpec(float, minimum=0)
    assert spec_from_annotation(bool) == OptionSpec(bool)


def test_plot_shows_real_image_information_when_logged(tmp_path) -> None:
    with_real = [json.dumps({**json.loads(metric_line(step, 1.0)), "mi_real": 1.5}) + "\n" for step in (1, 2)]
    labels = [s.label for s in build_panels([json.loads(line) for line in with_real], None)[1].series]
    assert labels == ["c1", "c2", "real images"]
    older = build_panels([json.loads(metric_line(1, 1.0))], None)[1].series  # runs before mi_real
    assert [s.label for s in older] == ["c1", "c2"]


def test_plot_shows_the_consistency_kl_when_logged(tmp_path) -> None:
    logged = [{**json.loads(metric_line(step, 1.0)), "consistency": 0.2} for step in (1, 2)]
    series = build_panels(logged, None)[0].series
    assert [s.label for s in series] == ["D loss", "G loss", "consistency (KL, nats)"]
    assert [v for _, v in series[2].points] == [0.2, 0.2]
    assert [s.label for s in build_panels([json.loads(metric_line(1, 1.0))], None)[0].series] == ["D loss", "G loss"]


@pytest.mark.parametrize(
    "build,message,hint",
    [
        (lambda: LatentSpec(continuous_prior="cauchy"), "unknown continuous prior 'cauchy'", "use one of: uniform, normal"),
        (lambda: ModelConfig(architecture="resnet"), "unknown architecture 'resnet'", "use one of: paper, tutorial"),
        (lambda: ModelConfig(image_size=48), "image size 48 is not supported", "use one of: 28, 32, 64"),
        (lambda: TrainConfig(image_size=48), "image size 48 is not supported", "use one of: 28, 32, 64"),
        (lambda: TrainConfig(continuous_loss="l1"), "unknown continuous loss 'l1'", "use one of: gaussian, mse"),
        (lambda: build_train_config("fancy"), "unknown preset 'fancy'", "use one of: default, paper, tutorial"),
    ],
)
def test_config_choices_name_the_bad_value_and_the_good_ones(build, message, hint) -> None:
    with pytest.raises(ConfigError) as raised:
        build()
    assert str(raised.value) == message and raised.value.hint == hint
