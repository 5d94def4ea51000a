"""Both consistency losses on a share of each batch (--consistency-fraction)."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch

from infogan_cli.augment import CONSISTENCY_TRANSFORMS, random_affine
from infogan_cli.config import ConfigError, LatentSpec, TrainConfig, train_from_dict
from infogan_cli.data import to_unit_range
from infogan_cli.latent import sample_latent
from infogan_cli.losses import categorical_consistency
from infogan_cli.models import QOutput
from infogan_cli.trainer import prepare
from tests.conftest import assert_train_stores_and_refuses, tiny_config


def test_it_is_validated_and_old_configs_load_with_the_whole_batch():
    assert TrainConfig().consistency_fraction == 1.0
    for bad in (0.0, -0.25, 1.5, math.inf, math.nan):
        with pytest.raises(ConfigError, match=r"consistency-fraction must be in \(0, 1\]"):
            TrainConfig(consistency_fraction=bad)
    assert train_from_dict(json.loads(TrainConfig(consistency_fraction=0.25).to_json())).consistency_fraction == 0.25
    assert train_from_dict({}).consistency_fraction == 1.0  # runs stored before the option


def test_heads_are_the_first_rows():
    latent = sample_latent(LatentSpec(noise_dim=3, categorical=(10, 4), continuous=2), 5, torch.Generator().manual_seed(0))
    head = latent.head(2)
    assert head.size == 2
    assert torch.equal(head.noise, latent.noise[:2]) and torch.equal(head.continuous, latent.continuous[:2])
    assert [codes.tolist() for codes in head.categorical] == [codes[:2].tolist() for codes in latent.categorical]
    q = QOutput([torch.arange(15.0).view(5, 3)], torch.arange(10.0).view(5, 2), -torch.arange(10.0).view(5, 2))
    assert q.head(2).categorical_logits[0].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert q.head(2).continuous_mean.tolist() == [[0, 1], [2, 3]]
    assert q.head(2).continuous_log_std.tolist() == [[0, -1], [-2, -3]]


@pytest.mark.parametrize(("fraction", "batch", "count"), [(1.0, 128, 128), (0.25, 128, 32), (0.5, 16, 8), (0.1, 3, 1), (0.01, 16, 1)])
def test_the_share_is_rounded_and_never_empty(tmp_path, fraction, batch, count):
    trainer, _ = prepare(tiny_config(consistency_fraction=fraction), tmp_path, resume=False)
    assert trainer.consistency_count(batch) == count


def _one_step(tmp_path, **overrides):
    """The discriminator's batch sizes in one step, the step's losses, and what came before it."""
    config = tiny_config(**overrides)
    trainer, _ = prepare(config, tmp_path, resume=False)
    real = to_unit_range(next(trainer.batches(0, 0))).contiguous(memory_format=trainer.memory_format)
    before = copy.deepcopy(trainer.discriminator), trainer.rng.get_state()
    sizes: list[int] = []
    trainer.discriminator.register_forward_pre_hook(lambda _module, args: sizes.append(args[0].shape[0]))
    losses = trainer.train_step(real)
    return trainer, real, before, sizes, losses


def test_both_consistency_passes_see_only_the_share(tmp_path):
    # The D step: real, moved real, fake; the G step: fake, moved fake.
    assert _one_step(tmp_path / "all")[3] == [16, 16, 16, 16, 16]
    assert _one_step(tmp_path / "quarter", consistency_fraction=0.25)[3] == [16, 4, 16, 16, 4]


def test_the_real_consistency_is_the_kl_on_the_first_images(tmp_path):
    """The logged consistency is KL(Q(c|x) || Q(c|T(x))) over the batch's first 4 images, each with
    the transform the trainer's generator draws for it after the step's latent codes."""
    trainer, real, (discriminator, rng_state), _, losses = _one_step(tmp_path, consistency_fraction=0.25)
    rng = torch.Generator().manual_seed(0)
    rng.set_state(rng_state)
    sample_latent(trainer.config.latent, real.shape[0], rng)  # the step's codes come first
    limits = CONSISTENCY_TRANSFORMS[trainer.config.consistency_transform]
    state = rng.get_state()

    def kl_on_first(n: int) -> float:
        rng.set_state(state)
        d = copy.deepcopy(discriminator)  # batch norm updates its running statistics
        _, clean = d(real)
        _, moved = d(random_affine(real[:n], rng, limits))
        return categorical_consistency(clean.head(n), moved).item()

    logged = losses[4].item()  # after loss_d, loss_g, loss_mi, mi_real
    assert logged == pytest.approx(kl_on_first(4), rel=1e-5, abs=1e-7)
    assert logged != pytest.approx(kl_on_first(16), rel=1e-3)


def test_cli_stores_it_and_refuses_zero_in_one_line(tmp_path, capsys):
    assert_train_stores_and_refuses(
        capsys, tmp_path, "--consistency-fraction", "0.25", "consistency_fraction", 0.25, "0", "consistency-fraction must be in (0, 1], got 0.0"
    )
