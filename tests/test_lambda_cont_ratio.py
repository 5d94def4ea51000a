"""Unequal weights of the continuous codes' MI terms (--lambda-cont-ratio)."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch

from infogan_cli.config import ConfigError, LatentSpec, TrainConfig, train_from_dict
from infogan_cli.data import to_unit_range
from infogan_cli.latent import generator_input, sample_latent
from infogan_cli.losses import adversarial_loss, mutual_information_loss
from infogan_cli.models import QOutput
from infogan_cli.trainer import prepare
from tests.conftest import assert_train_stores_and_refuses, gradients_at_step, tiny_config

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)  # the Gaussian NLL of an exact mean at std 1


def _three_continuous_codes():
    spec = LatentSpec(noise_dim=1, categorical=(3,), continuous=3)
    latent = sample_latent(spec, 2, torch.Generator().manual_seed(0))
    latent.categorical[0] = torch.tensor([0, 2])
    latent.continuous = torch.tensor([[0.5, 0.0, 1.0], [-0.5, 0.0, -1.0]])
    # Q: a confident right c1; exact c2 at std 1; c3 and c4 off by 1 and 2 at std 1.
    means = torch.tensor([[0.5, 1.0, 3.0], [-0.5, -1.0, -3.0]])
    q = QOutput([torch.tensor([[30.0, 0, 0], [0, 0, 30.0]])], means, torch.zeros(2, 3))
    return latent, q


def test_each_further_continuous_code_weighs_ratio_times_the_one_before():
    latent, q = _three_continuous_codes()
    nll = [HALF_LOG_2PI, HALF_LOG_2PI + 0.5, HALF_LOG_2PI + 2.0]
    total, per_code = mutual_information_loss(q, latent, 1.0, 0.1, "gaussian", lambda_cont_ratio=0.5)
    assert [term.item() for term in per_code[1:]] == pytest.approx(nll, rel=1e-6)
    assert per_code[0].item() < 1e-6
    assert total.item() == pytest.approx(0.1 * nll[0] + 0.05 * nll[1] + 0.025 * nll[2], rel=1e-5)
    # 1, the default, is the paper's equal weights.
    equal, _ = mutual_information_loss(q, latent, 1.0, 0.1, "gaussian")
    assert equal.item() == pytest.approx(0.1 * sum(nll), rel=1e-5)
    assert mutual_information_loss(q, latent, 1.0, 0.1, "gaussian", lambda_cont_ratio=1.0)[0].item() == equal.item()


def test_it_is_validated_and_old_configs_load_with_equal_weights():
    assert TrainConfig().lambda_cont_ratio == 1.0
    for bad in (0.0, -0.5, math.inf, math.nan):
        with pytest.raises(ConfigError, match="lambda-cont-ratio must be > 0"):
            TrainConfig(lambda_cont_ratio=bad)
    assert train_from_dict(json.loads(TrainConfig(lambda_cont_ratio=0.3).to_json())).lambda_cont_ratio == 0.3
    assert train_from_dict({}).lambda_cont_ratio == 1.0  # runs stored before the option


def test_the_g_step_weighs_the_codes_by_the_ratio(tmp_path):
    """G's gradient is that of the adversarial loss plus the MI loss with c3 at ratio times c2's weight."""
    config = tiny_config(precision="fp32", lambda_consistency=0.0, lambda_fake_consistency=0.0, lambda_cont=0.5, lambda_cont_ratio=0.25)
    trainer, _ = prepare(config, tmp_path, resume=False)
    real = to_unit_range(next(trainer.batches(0, 0))).contiguous(memory_format=trainer.memory_format)
    g_copy = copy.deepcopy(trainer.generator)
    rng = torch.Generator().manual_seed(0)
    rng.set_state(trainer.rng.get_state())
    at_g_step = {}  # the discriminator as the G+Q step sees it: D already updated, the Q head not yet

    def snapshot(*_) -> None:  # a pre-hook that returns something replaces step()'s arguments
        at_g_step.setdefault("d", copy.deepcopy(trainer.discriminator))

    trainer.optimizer_g.register_step_pre_hook(snapshot)
    seen = gradients_at_step(trainer.optimizer_g, trainer.generator.parameters)
    trainer.train_step(real)

    latent = sample_latent(config.latent, real.shape[0], rng)
    logits, codes = at_g_step["d"](g_copy(generator_input(config.latent, latent)))
    parameters = list(g_copy.parameters())

    def gradient(ratio: float) -> list[torch.Tensor]:
        mi, _ = mutual_information_loss(codes, latent, config.lambda_cat, 0.5, config.continuous_loss, lambda_cont_ratio=ratio)
        return torch.autograd.grad(adversarial_loss(logits, True) + mi, parameters, retain_graph=True)

    for got, want in zip(seen[0], gradient(0.25)):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    # And the ratio is what made the difference: equal weights give another gradient.
    assert any(not torch.allclose(got, other, rtol=1e-3, atol=1e-6) for got, other in zip(seen[0], gradient(1.0)))


def test_cli_stores_it_and_refuses_a_ratio_of_zero_in_one_line(tmp_path, capsys):
    assert_train_stores_and_refuses(
        capsys, tmp_path, "--lambda-cont-ratio", "0.5", "lambda_cont_ratio", 0.5, "0", "lambda-cont-ratio must be > 0, got 0.0"
    )
