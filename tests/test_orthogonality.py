"""The code-orthogonality penalty (--lambda-orthogonal): its probe, its value, its training."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from infogan_cli.config import ConfigError, LatentSpec, TrainConfig, train_from_dict
from infogan_cli.data import to_unit_range
from infogan_cli.latent import code_step_probe, generator_input, sample_latent
from infogan_cli.losses import code_orthogonality
from infogan_cli.trainer import ORTHOGONALITY_METRIC, PROBE_ROWS, PROBE_STEP, prepare, train
from tests.conftest import gradients_at_step, tiny_config


def test_probe_moves_one_code_per_block_towards_the_centre():
    spec = LatentSpec(noise_dim=3, categorical=(10, 4), continuous=3)
    latent = sample_latent(spec, 8, torch.Generator().manual_seed(0))
    probe = code_step_probe(spec, latent, 5, 0.5)
    assert probe.size == 15
    for i in range(3):
        rows = slice(i * 5, (i + 1) * 5)
        torch.testing.assert_close(probe.noise[rows], latent.noise[:5])
        for codes, original in zip(probe.categorical, latent.categorical):
            torch.testing.assert_close(codes[rows], original[:5])
        change = probe.continuous[rows] - latent.continuous[:5]
        others = [j for j in range(3) if j != i]
        assert torch.all(change[:, others] == 0)
        torch.testing.assert_close(change[:, i].abs(), torch.full((5,), 0.5))
        assert torch.all(change[:, i] * latent.continuous[:5, i] < 0)  # towards 0
    assert probe.continuous.abs().max() <= 1  # a uniform code stays inside its prior


def _changes(*directions: torch.Tensor, n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    base = torch.randn(n, 1, 2, 2, generator=torch.Generator().manual_seed(1))
    moved = torch.cat([base + d.reshape(1, 1, 2, 2) for d in directions])
    return base, moved


def test_orthogonality_is_the_squared_cosine_of_the_changes():
    x, y = torch.tensor([1.0, 0, 0, 0]), torch.tensor([0, 1.0, 0, 0])
    assert code_orthogonality(*_changes(x, 3 * y)).item() == pytest.approx(0.0, abs=1e-6)
    assert code_orthogonality(*_changes(x, -0.2 * x)).item() == pytest.approx(1.0, abs=1e-5)  # parallel, any length or sign
    assert code_orthogonality(*_changes(x, x + y)).item() == pytest.approx(0.5, abs=1e-5)  # 45 degrees
    # Three codes: the mean over the three pairs (1, 0, 0).
    z = torch.tensor([0, 0, 1.0, 0])
    assert code_orthogonality(*_changes(x, 2 * x, z)).item() == pytest.approx(1 / 3, abs=1e-5)


def test_orthogonality_trains_only_with_two_continuous_codes(tmp_path):
    with pytest.raises(ConfigError, match="lambda-orthogonal"):
        TrainConfig(lambda_orthogonal=-0.5)
    assert train_from_dict({}).lambda_orthogonal == 0.0  # runs stored before the option
    list(train(tiny_config(lambda_orthogonal=1.0, max_steps=2, log_every=1), tmp_path / "on"))
    logged = [json.loads(line) for line in (tmp_path / "on" / "metrics.jsonl").read_text().splitlines()]
    assert all(0 <= row[ORTHOGONALITY_METRIC] <= 1 for row in logged)
    assert json.loads((tmp_path / "on" / "config.json").read_text())["lambda_orthogonal"] == 1.0
    # One continuous code has no pair: nothing to penalise, nothing logged, training runs.
    one = tiny_config(lambda_orthogonal=1.0, max_steps=2, log_every=1, latent=LatentSpec(noise_dim=8, continuous=1))
    list(train(one, tmp_path / "one"))
    logged = [json.loads(line) for line in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    assert ORTHOGONALITY_METRIC not in logged[0]


def _generator_gradients(tmp_path, weight: float):
    trainer, _ = prepare(tiny_config(precision="fp32", lambda_orthogonal=weight), tmp_path / str(weight), resume=False)
    real = to_unit_range(next(trainer.batches(0, 0))).contiguous(memory_format=trainer.memory_format)
    g_copy = copy.deepcopy(trainer.generator)
    rng = torch.Generator().manual_seed(0)
    rng.set_state(trainer.rng.get_state())
    seen = gradients_at_step(trainer.optimizer_g, trainer.generator.parameters)
    losses = trainer.train_step(real)
    return seen[0], losses, g_copy, rng, real.shape[0], trainer


def test_g_step_adds_lambda_times_the_penalty_gradient(tmp_path):
    """The generator's gradient with lambda 3 minus the one with lambda 1 (same run, same batch)
    is twice the penalty's gradient, computed on the same generator call: moved copies of the
    first PROBE_ROWS latents next to the batch."""
    three, losses, g_copy, rng, batch, trainer = _generator_gradients(tmp_path, 3.0)
    one, _, _, _, _, _ = _generator_gradients(tmp_path, 1.0)
    spec = trainer.config.latent
    latent = sample_latent(spec, batch, rng)
    n = min(PROBE_ROWS, batch)
    probe = code_step_probe(spec, latent, n, PROBE_STEP)
    output = g_copy(torch.cat([generator_input(spec, latent), generator_input(spec, probe)]))
    penalty = code_orthogonality(output[:n], output[batch:])
    expected = torch.autograd.grad(penalty, list(g_copy.parameters()), allow_unused=True)
    compared = 0
    for got3, got1, want in zip(three, one, expected):
        if want is not None:
            torch.testing.assert_close(got3 - got1, 2 * want, rtol=1e-3, atol=1e-6)
            compared += int(want.abs().sum() > 0)
    assert compared > 0
    assert trainer.metric_names[-1] == ORTHOGONALITY_METRIC
    assert losses[len(trainer.metric_names) - 1].item() == pytest.approx(penalty.item(), rel=1e-4)
    assert 0 < penalty.item() < 1
