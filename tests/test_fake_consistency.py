"""Q reads c1 back from transformed generated images too (--lambda-fake-consistency)."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch

from infogan_cli.augment import random_affine
from infogan_cli.config import ConfigError, LatentSpec, TrainConfig, train_from_dict
from infogan_cli.data import to_unit_range
from infogan_cli.latent import generator_input, sample_latent
from infogan_cli.losses import adversarial_loss, categorical_code_losses, mutual_information_loss
from infogan_cli.trainer import CONSISTENCY_METRIC, FAKE_CONSISTENCY_METRIC, METRIC_NAMES, StepLogged, prepare, train
from tests.conftest import gradients_at_step, tiny_config


def test_it_is_validated_and_old_configs_load_as_off():
    for bad in (-1.0, math.inf, math.nan):
        with pytest.raises(ConfigError, match="lambda-fake-consistency"):
            TrainConfig(lambda_fake_consistency=bad)
    stored = json.loads(TrainConfig(lambda_fake_consistency=0.5).to_json())
    assert train_from_dict(stored).lambda_fake_consistency == 0.5
    del stored["lambda_fake_consistency"]  # a checkpoint written before the option existed
    assert train_from_dict(stored).lambda_fake_consistency == 0.0


def test_g_step_adds_the_code_loss_on_transformed_fakes(tmp_path):
    """G's gradient is the adversarial and MI one plus lambda times the categorical cross-entropy of
    Q on the transformed fakes, through the warp, the transform drawn after the D step's."""
    config = tiny_config(precision="fp32", lambda_fake_consistency=2.0)
    trainer, _ = prepare(config, tmp_path, resume=False)
    assert trainer.metric_names == METRIC_NAMES + (CONSISTENCY_METRIC, FAKE_CONSISTENCY_METRIC)
    real = to_unit_range(next(trainer.batches(0, 0))).contiguous(memory_format=trainer.memory_format)
    g_copy = copy.deepcopy(trainer.generator)
    rng = torch.Generator().manual_seed(0)
    rng.set_state(trainer.rng.get_state())
    # The discriminator as the G+Q step sees it: D already updated, the Q head not yet.
    at_g_step = {}

    def snapshot(*_):
        at_g_step.setdefault("d", copy.deepcopy(trainer.discriminator))

    trainer.optimizer_g.register_step_pre_hook(snapshot)
    seen = gradients_at_step(trainer.optimizer_g, trainer.generator.parameters)
    losses = trainer.train_step(real)

    latent = sample_latent(config.latent, real.shape[0], rng)
    random_affine(real, rng)  # the D step's transform of the real batch
    fake = g_copy(generator_input(config.latent, latent))
    d = at_g_step["d"]
    logits, codes = d(fake)
    _, moved_codes = d(random_affine(fake, rng))
    mi, _ = mutual_information_loss(codes, latent, config.lambda_cat, config.lambda_cont, config.continuous_loss)
    fake_consistency = sum(categorical_code_losses(moved_codes, latent))
    expected = torch.autograd.grad(adversarial_loss(logits, True) + mi + 2.0 * fake_consistency, list(g_copy.parameters()))
    for got, want in zip(seen[0], expected):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    assert losses[len(METRIC_NAMES) + 1].item() == pytest.approx(fake_consistency.item(), rel=1e-4)
    # An untrained Q on ten values: about ln 10 nats.
    assert 0.5 * math.log(10) < fake_consistency.item() < 2 * math.log(10)


def test_logged_only_when_on_and_with_a_categorical_code(tmp_path):
    on = tiny_config(precision="fp32", max_steps=4, lambda_fake_consistency=1.0)
    logged = [e.metrics for e in train(on, tmp_path / "on") if isinstance(e, StepLogged)]
    values = [m[FAKE_CONSISTENCY_METRIC] for m in logged]
    assert values and all(math.isfinite(v) and v > 0 for v in values)
    assert set(logged[-1]["loss_code"]) == {"c1", "c2", "c3"}  # the per-code columns still line up
    off = tiny_config(precision="fp32", max_steps=2, lambda_fake_consistency=0.0)
    assert all(FAKE_CONSISTENCY_METRIC not in e.metrics for e in train(off, tmp_path / "off") if isinstance(e, StepLogged))
    no_code = tiny_config(precision="fp32", max_steps=2, lambda_fake_consistency=1.0,
                          latent=LatentSpec(noise_dim=8, categorical=(), continuous=2))
    assert all(FAKE_CONSISTENCY_METRIC not in e.metrics for e in train(no_code, tmp_path / "none") if isinstance(e, StepLogged))


def test_from_the_command_line(capsys, tmp_path):
    from tests.conftest import run_main

    tiny = ["--dataset", "fake", "--width", "4", "--noise-dim", "8", "--batch-size", "16", "--max-steps", "2", "--device", "cpu"]
    code, _, err = run_main(capsys, "train", *tiny, "--out", str(tmp_path / "run"), "--lambda-fake-consistency", "0.5")
    assert code == 0, err
    assert json.loads((tmp_path / "run" / "config.json").read_text())["lambda_fake_consistency"] == 0.5

