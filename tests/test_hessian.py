"""--lambda-hessian: the Hessian penalty on the continuous codes, by central differences."""

from __future__ import annotations

import json

import pytest
import torch

from infogan_cli.config import LatentSpec
from infogan_cli.data import load_dataset
from infogan_cli.errors import ConfigError
from infogan_cli.latent import interaction_corners
from infogan_cli.losses import code_interaction_penalty
from infogan_cli.runtime import DistributedContext
from infogan_cli.trainer import HESSIAN_EPSILON, Trainer, prepare, train
from tests.conftest import assert_one_error_line, run_cli, run_main, tiny_config

SPEC = LatentSpec(noise_dim=2, categorical=(3,), continuous=3)  # input: z1 z2 | c1 one-hot (3) | c2 c3 c4
CODES = (5, 6, 7)  # the continuous codes' input columns


def penalty_of(function, inputs: torch.Tensor, epsilon: float = 0.1) -> torch.Tensor:
    corners, pairs = interaction_corners(SPEC, inputs, epsilon)
    return code_interaction_penalty(function(corners), pairs, epsilon)


def test_corners_step_two_codes_at_a_time_and_nothing_else():
    inputs = torch.randn(4, SPEC.input_dim)
    corners, pairs = interaction_corners(SPEC, inputs, 0.1)
    assert pairs == 3 and corners.shape == (3 * 4 * 4, SPEC.input_dim)
    steps = (corners.reshape(3, 4, 4, -1) - inputs).reshape(3, 4, 4, -1)
    assert torch.all(steps[..., :5] == 0)  # noise and the categorical code never move
    for p, (i, j) in enumerate([(5, 6), (5, 7), (6, 7)]):
        for corner, (si, sj) in enumerate([(1, 1), (1, -1), (-1, 1), (-1, -1)]):
            expected = torch.zeros(SPEC.input_dim)
            expected[i], expected[j] = 0.1 * si, 0.1 * sj
            assert torch.allclose(steps[p, corner], expected.expand(4, -1), atol=1e-6)


def images_from(columns: torch.Tensor) -> torch.Tensor:
    """(N, 1, 2, 2) 'images' whose pixels are given functions of the input columns."""
    return columns.reshape(-1, 1, 2, 2)


def test_codes_that_act_apart_cost_nothing():
    inputs = torch.rand(16, SPEC.input_dim, dtype=torch.float64) * 2 - 1
    c2, c3, c4 = CODES

    def additive(x):  # each pixel a sum of one function per code, however curved
        return images_from(torch.stack([torch.sin(3 * x[:, c2]) + x[:, c3] ** 3, torch.exp(x[:, c4]), x[:, 0] * x[:, c2], x[:, c3] ** 2], 1))

    assert penalty_of(additive, inputs).item() == pytest.approx(0.0, abs=1e-12)


def test_an_interaction_costs_its_cross_derivative_squared():
    inputs = torch.rand(16, SPEC.input_dim, dtype=torch.float64) * 2 - 1
    c2, c3, c4 = CODES

    def bilinear(x):  # d2/dc2 dc3 = 2 on one pixel of four; every other cross derivative 0
        return images_from(torch.stack([2 * x[:, c2] * x[:, c3], x[:, c4], x[:, c2], torch.zeros_like(x[:, 0])], 1))

    # Mean over three pairs, four pixels: one (pair, pixel) of twelve has 2^2.
    assert penalty_of(bilinear, inputs).item() == pytest.approx(4 / 12)
    # Central differences are exact for a product; for a curved interaction they approach it.
    curved = lambda x: images_from(torch.stack([torch.sin(x[:, c2] + x[:, c3])] * 4, 1))  # noqa: E731
    exact = (torch.sin(inputs[:, c2] + inputs[:, c3]) ** 2).mean().item() / 3  # d2 sin(a+b)/da db = -sin(a+b)
    assert penalty_of(curved, inputs, 1e-3).item() == pytest.approx(exact, rel=1e-4)


def test_a_code_mixture_costs_more_than_the_codes_it_mixes():
    # Two curved effects on separate pixels: apart, no interaction; rotated 45 degrees, each pixel
    # depends on both codes at once. The penalty tells the two bases apart.
    spec2 = LatentSpec(noise_dim=0, categorical=(), continuous=2)
    inputs = torch.rand(64, 2, dtype=torch.float64) * 2 - 1

    def effects(a, b):
        return torch.stack([a**2, torch.tanh(2 * b), a * 0, b * 0], 1).reshape(-1, 1, 2, 2)

    def penalty(function):
        corners, pairs = interaction_corners(spec2, inputs, 0.1)
        return code_interaction_penalty(function(corners), pairs, 0.1).item()

    apart = penalty(lambda x: effects(x[:, 0], x[:, 1]))
    mixed = penalty(lambda x: effects((x[:, 0] + x[:, 1]) / 2**0.5, (x[:, 0] - x[:, 1]) / 2**0.5))
    assert apart == pytest.approx(0.0, abs=1e-12) and mixed > 0.1


def test_off_by_default_and_when_on_it_sends_a_gradient_to_the_generator_only(tmp_path):
    assert tiny_config().lambda_hessian == 0
    trainer = Trainer(tiny_config(lambda_hessian=1.0, precision="fp32"), tmp_path, load_dataset("fake", None), torch.device("cpu"))
    from infogan_cli.latent import sample_latent

    latent = sample_latent(trainer.config.latent, 16, torch.Generator().manual_seed(0))
    penalty = trainer._hessian_penalty(latent)
    assert penalty.item() > 0
    penalty.backward()
    grads = [p.grad for p in trainer.generator.parameters() if p.requires_grad]
    assert all(g is not None for g in grads) and sum(g.abs().sum().item() for g in grads) > 0
    assert all(p.grad is None for p in trainer.discriminator.parameters())
    assert HESSIAN_EPSILON == 0.1


def test_a_run_logs_the_penalty_and_trains_another_generator(tmp_path):
    list(train(tiny_config(max_steps=3, log_every=1, precision="fp32"), tmp_path / "off"))
    list(train(tiny_config(max_steps=3, log_every=1, precision="fp32", lambda_hessian=10.0), tmp_path / "on"))
    off = [json.loads(line) for line in (tmp_path / "off" / "metrics.jsonl").read_text().splitlines()]
    on = [json.loads(line) for line in (tmp_path / "on" / "metrics.jsonl").read_text().splitlines()]
    assert "hessian" not in off[0] and all(line["hessian"] > 0 for line in on)
    # Step 1's D step comes before the first G step, so D's loss agrees; then the generators part.
    assert on[0]["loss_d"] == pytest.approx(off[0]["loss_d"])
    assert on[-1]["loss_g"] != pytest.approx(off[-1]["loss_g"])


def test_bad_settings_are_refused(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="lambda-hessian"):
        tiny_config(lambda_hessian=-1.0)
    with pytest.raises(ConfigError, match="two continuous codes"):
        tiny_config(lambda_hessian=1.0, latent=LatentSpec(noise_dim=8, categorical=(10,), continuous=1))
    config = tiny_config(lambda_hessian=1.0)
    with pytest.raises(ConfigError, match="torchrun"):
        Trainer(config, tmp_path, load_dataset("fake", None), torch.device("cpu"), DistributedContext(rank=0, world_size=2))
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    joined = []
    monkeypatch.setattr("infogan_cli.trainer.init_distributed", lambda *args: joined.append(args))
    with pytest.raises(ConfigError, match="torchrun"):
        prepare(config, tmp_path / "run", resume=False)
    assert joined == []


def test_from_the_command_line(capsys, tmp_path):
    bad = run_cli("train", "--dataset", "fake", "--max-steps", "1", "--lambda-hessian", "1", "--continuous", "1", "--out", str(tmp_path / "bad"))
    assert_one_error_line(bad.returncode, bad.stderr)
    assert "two continuous codes" in bad.stderr
    code, _, err = run_main(
        capsys, "train", "--dataset", "fake", "--max-steps", "2", "--batch-size", "8", "--width", "4", "--noise-dim", "8",
        "--lambda-hessian", "0.5", "--precision", "fp32", "--out", str(tmp_path / "ok"),
    )
    assert code == 0, err
    config = json.loads((tmp_path / "ok" / "config.json").read_text())
    assert config["lambda_hessian"] == 0.5
