"""--continuous-encoder own: Q's continuous outputs read an encoder of their own, not the D trunk."""

from __future__ import annotations

import pytest
import torch

from infogan_cli.config import LatentSpec, ModelConfig
from infogan_cli.data import to_unit_range
from infogan_cli.infogan import InfoGAN
from infogan_cli.models import build_models
from infogan_cli.trainer import prepare, train
from tests.conftest import assert_one_error_line, run_cli, tiny_config

SPEC = LatentSpec(noise_dim=8, categorical=(10,), continuous=2)
OWN = ModelConfig(width=4, hidden=16, q_hidden=8, continuous_encoder="own")


def test_shared_is_the_default_and_builds_no_extra_weights():
    torch.manual_seed(0)
    _, shared = build_models(SPEC, ModelConfig(width=4, hidden=16, q_hidden=8))
    assert ModelConfig().continuous_encoder == "shared"
    assert not any(name.startswith("continuous_") for name in shared.state_dict())
    assert shared.q_head[-1].out_features == 10 + 2 * 2  # logits, means and log stds from one head
    assert shared.q_parameters() == list(shared.q_head.parameters())


def test_own_encoder_splits_the_outputs_and_keeps_the_shapes():
    torch.manual_seed(0)
    _, own = build_models(SPEC, OWN)
    assert own.q_head[-1].out_features == 10  # only the categorical logits
    assert own.continuous_head[-1].out_features == 2 * 2
    images = torch.rand(6, 1, 28, 28) * 2 - 1
    logits, codes = own(images)
    assert logits.shape == (6,)
    assert codes.categorical_logits[0].shape == (6, 10)
    assert codes.continuous_mean.shape == codes.continuous_log_std.shape == (6, 2)
    names = {id(p) for p in own.q_parameters()}
    assert all(id(p) in names for p in own.continuous_trunk.parameters())
    assert not any(id(p) in names for p in own.trunk.parameters())


def test_continuous_outputs_do_not_reach_the_trunk_and_logits_do_not_reach_the_encoder():
    torch.manual_seed(0)
    _, own = build_models(SPEC, OWN)
    images = torch.rand(6, 1, 28, 28) * 2 - 1
    _, codes = own(images)
    trunk_grads = torch.autograd.grad(codes.continuous_mean.sum(), list(own.trunk.parameters()), allow_unused=True, retain_graph=True)
    assert all(g is None or not g.any() for g in trunk_grads)
    encoder_grads = torch.autograd.grad(codes.categorical_logits[0].sum(), list(own.continuous_trunk.parameters()), allow_unused=True, retain_graph=True)
    assert all(g is None or not g.any() for g in encoder_grads)
    mean_grads = torch.autograd.grad(codes.continuous_mean.sum(), list(own.continuous_trunk.parameters()))
    assert all(g.abs().sum() > 0 for g in mean_grads)


def test_no_continuous_code_builds_no_encoder():
    _, own = build_models(LatentSpec(noise_dim=8, categorical=(10,), continuous=0), OWN)
    assert not own.own_continuous
    assert not hasattr(own, "continuous_trunk")


def test_the_g_step_trains_the_encoder_and_the_d_step_does_not(tmp_path):
    config = tiny_config(precision="fp32", model=OWN)
    trainer, _ = prepare(config, tmp_path, resume=False)
    encoder = {id(p) for p in trainer.discriminator.continuous_trunk.parameters()}
    assert encoder <= {id(p) for group in trainer.optimizer_g.param_groups for p in group["params"]}
    assert not encoder & {id(p) for group in trainer.optimizer_d.param_groups for p in group["params"]}
    before = [p.detach().clone() for p in trainer.discriminator.continuous_trunk.parameters()]
    trainer.train_step(to_unit_range(next(trainer.batches(0, 0))))
    after = list(trainer.discriminator.continuous_trunk.parameters())
    assert all(not torch.equal(b, a) for b, a in zip(before, after))


def test_a_trained_checkpoint_loads_with_its_encoder(tmp_path):
    for _ in train(tiny_config(precision="fp32", model=OWN, max_steps=2, checkpoint_every=2), tmp_path):
        pass
    model = InfoGAN.load(tmp_path / "last.safetensors", weights="raw")
    assert model.discriminator.own_continuous
    images = torch.rand(5, 1, 28, 28) * 2 - 1
    codes = model.predict_codes(images)
    with torch.no_grad():
        expected = model.discriminator.continuous_head(model.discriminator.continuous_trunk(images))
    torch.testing.assert_close(codes.continuous_mean, expected[:, :2])
    torch.testing.assert_close(codes.continuous_log_std, expected[:, 2:])


def test_continuous_encoder_from_the_command_line(tmp_path):
    bad = run_cli("train", "--dataset", "fake", "--max-steps", "1", "--continuous-encoder", "mine", "--out", str(tmp_path / "bad"))
    assert_one_error_line(bad.returncode, bad.stderr)
    assert "continuous encoder" in bad.stderr
    ok = run_cli(
        "train", "--dataset", "fake", "--max-steps", "1", "--batch-size", "8", "--width", "4", "--noise-dim", "8",
        "--continuous-encoder", "own", "--out", str(tmp_path / "ok"),
    )
    assert ok.returncode == 0, ok.stderr
    assert InfoGAN.load(tmp_path / "ok" / "last.safetensors").discriminator.own_continuous


@pytest.mark.parametrize("encoder", ["shared", "own"])
def test_bf16_keeps_q_outputs_in_fp32(encoder):
    torch.manual_seed(0)
    _, discriminator = build_models(SPEC, ModelConfig(width=4, hidden=16, q_hidden=8, continuous_encoder=encoder))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, codes = discriminator(torch.rand(4, 1, 28, 28))
    assert codes.categorical_logits[0].dtype == codes.continuous_mean.dtype == torch.float32
