"""--ema-decay: a moving average of G's and D's weights, saved in checkpoints, resumed exactly and
used for inference (InfoGAN.load, sample, evaluate, the epoch grids)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from infogan_cli.checkpoint import EMA_COUNT, load_checkpoint
from infogan_cli.config import LatentSpec, TrainConfig, train_from_dict
from infogan_cli.errors import CheckpointError, ConfigError
from infogan_cli.infogan import InfoGAN
from infogan_cli.latent import fixed_noise_grid, generator_input
from infogan_cli.render import save_grid
from infogan_cli.runtime import make_generator
from infogan_cli.trainer import SAMPLE_ROWS, train
from tests.conftest import assert_one_error_line, run_main, tiny_config, untrained_checkpoint

# Small tensors of G, D's trunk, D head and Q head, and a batch-norm statistic (use_buffers: the
# statistics are averaged too).
CHECKED = ("generator.fc.1.bias", "discriminator.trunk.0.bias", "discriminator.d_head.bias", "discriminator.q_head.3.bias", "discriminator.trunk.3.running_mean")


def step_tensors(run, step: int) -> dict[str, torch.Tensor]:
    return load_checkpoint(run / "checkpoints" / f"step-{step:06d}.safetensors").tensors


def lerp_by_hand(average: torch.Tensor, weights: torch.Tensor, decay: float) -> torch.Tensor:
    """decay * average + (1 - decay) * weights, in float64."""
    return decay * average.double() + (1 - decay) * weights.double()


def assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    torch.testing.assert_close(actual.double(), expected, rtol=1e-5, atol=1e-7)


def test_default_is_off_and_writes_no_averages(tmp_path):
    assert TrainConfig().ema_decay == 0
    assert train_from_dict({}).ema_decay == 0  # runs stored before the option
    list(train(tiny_config(max_steps=2), tmp_path / "run"))
    tensors = load_checkpoint(tmp_path / "run" / "last.safetensors").tensors
    assert not [name for name in tensors if name.startswith("ema")]
    assert InfoGAN.load(tmp_path / "run" / "last.safetensors").weights == "raw"


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, math.nan, math.inf, "0.9", True])
def test_decay_outside_zero_to_one_is_an_error(bad):
    with pytest.raises(ConfigError, match=r"ema-decay must be in \[0, 1\)"):
        TrainConfig(ema_decay=bad)


@pytest.mark.parametrize("bad", ["1", "-0.5", "nan"])
def test_cli_decay_outside_zero_to_one_is_one_line(capsys, tmp_path, bad):
    code, _, err = run_main(capsys, "train", "--dataset", "fake", "--device", "cpu", "--ema-decay", bad, "--out", str(tmp_path / "run"))
    assert_one_error_line(code, err)
    assert "ema-decay must be in [0, 1)" in err
    assert not (tmp_path / "run").exists()


def test_saved_average_is_the_recurrence_of_the_step_weights(tmp_path):
    decay = 0.75
    run = tmp_path / "run"
    list(train(tiny_config(max_steps=3, checkpoint_every=1, keep=10, ema_decay=decay), run))
    raw = {step: step_tensors(run, step) for step in (1, 2, 3)}
    for name in CHECKED:
        average = raw[1][name].double()  # the first update copies the weights after step 1
        assert torch.equal(raw[1][f"ema_{name}"], raw[1][name])
        for step in (2, 3):
            average = lerp_by_hand(average, raw[step][name], decay)
            assert_close(raw[step][f"ema_{name}"], average)
        assert not torch.equal(raw[3][f"ema_{name}"], raw[3][name])
    assert [raw[step][EMA_COUNT].item() for step in (1, 2, 3)] == [1, 2, 3]
    # Plain tensors with the trained weights' names and shapes, under the ema_ prefix.
    weights = {n: t.shape for n, t in raw[3].items() if n.startswith(("generator.", "discriminator."))}
    averages = {n.removeprefix("ema_"): t.shape for n, t in raw[3].items() if n.startswith("ema_")}
    assert averages == weights
    assert all(t.is_contiguous() for n, t in raw[3].items() if n.startswith("ema_"))


def test_resume_with_an_average_equals_an_unbroken_run(tmp_path):
    config = tiny_config(max_steps=10, checkpoint_every=4, log_every=2, ema_decay=0.9)
    list(train(config, tmp_path / "straight"))
    calls = iter(range(100))
    events = list(train(config, tmp_path / "stopped", should_stop=lambda: next(calls) >= 4))
    assert events[-1].interrupted and events[-1].step == 5
    events = list(train(config, tmp_path / "stopped", resume=True))
    assert events[0].start_step == 5 and events[-1].step == 10
    a = load_checkpoint(tmp_path / "straight" / "last.safetensors").tensors
    b = load_checkpoint(tmp_path / "stopped" / "last.safetensors").tensors
    assert a.keys() == b.keys() and any(name.startswith("ema_") for name in a)
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert b[EMA_COUNT].item() == 10


def test_resume_adds_an_average_that_starts_at_the_resumed_weights(tmp_path):
    run = tmp_path / "run"
    list(train(tiny_config(max_steps=3, checkpoint_every=1, keep=10), run))
    decay = 0.5
    given = ["max_steps", "ema_decay"]
    started = list(train(tiny_config(max_steps=5, ema_decay=decay), run, resume=True, given=given))[0]
    assert started.start_step == 3 and started.changes == ["max-steps 3 -> 5", "ema-decay 0 -> 0.5"]
    assert json.loads((run / "config.json").read_text())["ema_decay"] == decay
    raw = {step: step_tensors(run, step) for step in (3, 4, 5)}
    assert not any(name.startswith("ema") for name in raw[3])
    for name in CHECKED:
        average = raw[3][name].double()  # the weights of the step it resumed from
        for step in (4, 5):
            average = lerp_by_hand(average, raw[step][name], decay)
            assert_close(raw[step][f"ema_{name}"], average)
    assert raw[5][EMA_COUNT].item() == 3  # the resumed weights, then two steps


def test_a_new_decay_on_resume_continues_the_saved_average(tmp_path):
    run = tmp_path / "run"
    list(train(tiny_config(max_steps=3, checkpoint_every=1, keep=10, ema_decay=0.5), run))
    started = list(train(tiny_config(max_steps=4, ema_decay=0.9), run, resume=True, given=["max_steps", "ema_decay"]))[0]
    assert "ema-decay 0.5 -> 0.9" in started.changes
    before, after = step_tensors(run, 3), step_tensors(run, 4)
    for name in CHECKED:
        assert_close(after[f"ema_{name}"], lerp_by_hand(before[f"ema_{name}"], after[name], 0.9))
    assert after[EMA_COUNT].item() == 4


def test_load_uses_the_average_unless_asked_for_the_raw_weights(tmp_path):
    list(train(tiny_config(max_steps=3, ema_decay=0.5), tmp_path / "run"))
    path = tmp_path / "run" / "last.safetensors"
    tensors = load_checkpoint(path).tensors
    for weights, loaded, prefix in (("auto", "ema", "ema_"), ("ema", "ema", "ema_"), ("raw", "raw", "")):
        model = InfoGAN.load(path, "cpu", weights=weights)
        assert model.weights == loaded
        for module, name in ((model.generator, "generator"), (model.discriminator, "discriminator")):
            for key, value in module.state_dict().items():
                assert torch.equal(value, tensors[f"{prefix}{name}.{key}"]), (weights, key)
    assert InfoGAN.load(path).weights == "ema"
    with pytest.raises(ConfigError, match="unknown weights 'best'"):
        InfoGAN.load(path, weights="best")
    old = untrained_checkpoint(tmp_path / "old.safetensors", LatentSpec(noise_dim=8, categorical=(10,), continuous=2))
    assert InfoGAN.load(old).weights == "raw"  # checkpoints without averages load as before
    with pytest.raises(CheckpointError, match="has no averaged weights"):
        InfoGAN.load(old, weights="ema")


def test_the_run_s_sample_grid_is_drawn_by_the_average(tmp_path):
    # A large generator rate: at the default one a tiny model's images are all grey after 3 steps.
    config = tiny_config(max_steps=3, ema_decay=0.5, lr_g=0.3)
    list(train(config, tmp_path / "run"))
    written = np.asarray(Image.open(tmp_path / "run" / "samples" / "step-000003.png"), dtype=np.int16)
    latent = fixed_noise_grid(config.latent, SAMPLE_ROWS, make_generator(config.seed + 1, torch.device("cpu")))

    def grid(weights: str) -> np.ndarray:
        model = InfoGAN.load(tmp_path / "run" / "last.safetensors", weights=weights)
        with torch.inference_mode():
            images = model.generator(generator_input(config.latent, latent))
        path = save_grid(images, config.latent.categorical[0], tmp_path / f"{weights}.png")
        return np.asarray(Image.open(path), dtype=np.int16)

    # The same images up to rounding of a grey level.
    assert np.abs(written - grid("ema")).max() <= 1
    assert np.abs(written - grid("raw")).max() > 32


def test_cli_trains_inspects_and_evaluates_the_average(capsys, tmp_path):
    from infogan_cli.classifier import save_classifier, train_classifier
    from infogan_cli.data import load_dataset

    out = tmp_path / "run"
    small = ["--dataset", "fake", "--batch-size", "16", "--noise-dim", "8", "--width", "4", "--device", "cpu", "--log-every", "1"]
    code, _, err = run_main(capsys, "train", *small, "--max-steps", "2", "--ema-decay", "0.99", "--out", str(out))
    assert code == 0, err
    assert "| ema 0.99" in err
    checkpoint = str(out / "last.safetensors")
    code, stdout, err = run_main(capsys, "inspect", checkpoint, "--json")
    report = json.loads(stdout)
    assert code == 0 and report["weights"] == "ema" and report["config"]["ema_decay"] == 0.99
    assert report["groups"]["ema"]["tensors"] == report["groups"]["generator"]["tensors"] + report["groups"]["discriminator"]["tensors"] + 1
    code, stdout, err = run_main(capsys, "inspect", checkpoint)
    assert code == 0 and "weights: a moving average (EMA, decay 0.99)" in stdout

    train_data, test_data = load_dataset("fake", train=True), load_dataset("fake", train=False)
    classifier = save_classifier(train_classifier(train_data, test_data, "cpu", max_steps=4), tmp_path / "classifier.safetensors")
    evaluate = ["evaluate", checkpoint, "--json", "--n-samples", "20", "--device", "cpu", "--classifier", str(classifier)]
    code, stdout, err = run_main(capsys, *evaluate)
    assert code == 0, err
    average = json.loads(stdout)
    assert average["weights"] == "ema" and "moving-average (EMA) weights" in " ".join(err.split())  # the title may wrap
    code, stdout, err = run_main(capsys, *evaluate, "--raw-weights")
    assert code == 0, err
    raw = json.loads(stdout)
    assert raw["weights"] == "raw" and "raw weights" in " ".join(err.split())
    # The same settings, other weights: Q reads the generated images differently.
    assert average["mi_categorical"] != raw["mi_categorical"]
