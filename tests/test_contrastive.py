"""--lambda-contrastive: InfoGAN-CR's guess of which code a pair of generated images shares."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors import safe_open

from infogan_cli.checkpoint import load_checkpoint
from infogan_cli.config import LatentSpec, ModelConfig
from infogan_cli.errors import ConfigError
from infogan_cli.latent import sample_latent_pairs
from infogan_cli.losses import contrastive_loss
from infogan_cli.models import ContrastiveClassifier
from infogan_cli.runtime import DistributedContext
from infogan_cli.trainer import TrainFinished, Trainer, prepare, train
from infogan_cli.data import load_dataset
from tests.conftest import assert_one_error_line, run_cli, run_main, tiny_config

SPEC = LatentSpec(noise_dim=8, categorical=(10,), continuous=2)
STEPS_PER_EPOCH = 1024 // 128  # the fake set at batch 128


def epoch_config(**overrides):
    return tiny_config(**{**dict(max_steps=None, epochs=2, batch_size=128, log_every=1, checkpoint_every=STEPS_PER_EPOCH, keep=10), **overrides})


def test_pairs_share_exactly_the_chosen_code():
    latent, shared = sample_latent_pairs(SPEC, 3000, torch.Generator().manual_seed(0))
    n = 3000
    assert latent.size == 2 * n and shared.shape == (n,) and shared.dtype == torch.int64
    counts = torch.bincount(shared, minlength=3).tolist()
    assert len(counts) == 3 and all(900 < c < 1100 for c in counts)  # uniform over c1, c2, c3
    first_cat, second_cat = latent.categorical[0][:n], latent.categorical[0][n:]
    first_cont, second_cont = latent.continuous[:n], latent.continuous[n:]
    assert not (latent.noise[:n] == latent.noise[n:]).any()  # the noise is never shared
    for code in range(3):
        rows = shared == code
        same_cat = (first_cat[rows] == second_cat[rows]).float().mean().item()
        same_cont = (first_cont[rows] == second_cont[rows]).float().mean(dim=0).tolist()
        assert same_cat == 1.0 if code == 0 else same_cat < 0.15  # 1 in 10 by chance
        assert same_cont == [1.0 if code == 1 + i else 0.0 for i in range(2)]


def test_the_loss_is_the_cross_entropy_of_the_guess():
    assert contrastive_loss(torch.zeros(5, 3), torch.tensor([0, 1, 2, 0, 1])).item() == pytest.approx(math.log(3))
    sure = torch.tensor([[9.0, 0.0, 0.0], [0.0, 0.0, 9.0]])
    assert contrastive_loss(sure, torch.tensor([0, 2])).item() == pytest.approx(math.log(1 + 2 * math.exp(-9)), rel=1e-3)


@pytest.mark.parametrize("size,channels", [(28, 1), (64, 3)])
def test_classifier_reads_a_pair_and_guesses_among_all_codes(size, channels):
    torch.manual_seed(0)
    classifier = ContrastiveClassifier(SPEC, ModelConfig(width=4, hidden=16, q_hidden=8, image_size=size, channels=channels))
    first, second = torch.rand(2, 5, channels, size, size).unbind(0)
    assert classifier(first, second).shape == (5, 3)
    assert classifier.body[0].in_channels == 2 * channels


def test_off_by_default_and_nothing_changes_before_it_switches_on(tmp_path):
    assert tiny_config().lambda_contrastive == 0
    list(train(epoch_config(epochs=1), tmp_path / "off"))
    list(train(epoch_config(epochs=1, lambda_contrastive=1.0, contrastive_start_epoch=1), tmp_path / "later"))
    off = load_checkpoint(tmp_path / "off" / "last.safetensors")
    later = load_checkpoint(tmp_path / "later" / "last.safetensors")
    assert not any(k.startswith("contrastive.") for k in off.tensors) and "optimizer_contrastive" not in off.optimizers
    assert any(k.startswith("contrastive.") for k in later.tensors) and "optimizer_contrastive" in later.optimizers
    # The same steps, the same random numbers: identical networks until the switch.
    shared = [k for k in off.tensors if k.startswith(("generator.", "discriminator."))]
    assert all(torch.equal(off.tensors[k], later.tensors[k]) for k in shared)
    lines = [json.loads(line) for line in (tmp_path / "later" / "metrics.jsonl").read_text().splitlines()]
    assert [line["contrastive"] for line in lines] == [0.0] * STEPS_PER_EPOCH


def test_once_on_it_trains_the_guesser_and_the_generator(tmp_path):
    list(train(epoch_config(), tmp_path / "off"))
    list(train(epoch_config(lambda_contrastive=1.0, contrastive_start_epoch=1), tmp_path / "on"))
    off = load_checkpoint(tmp_path / "off" / "last.safetensors").tensors
    on = load_checkpoint(tmp_path / "on" / "last.safetensors")
    switch = load_checkpoint(tmp_path / "on" / "checkpoints" / f"step-{STEPS_PER_EPOCH:06d}.safetensors").tensors
    assert not torch.equal(off["generator.fc.0.weight"], on.tensors["generator.fc.0.weight"])
    assert not torch.equal(switch["contrastive.head.3.weight"], on.tensors["contrastive.head.3.weight"])
    lines = [json.loads(line) for line in (tmp_path / "on" / "metrics.jsonl").read_text().splitlines()]
    after = [line["contrastive"] for line in lines if line["step"] > STEPS_PER_EPOCH]
    assert len(after) == STEPS_PER_EPOCH and all(0 < value < 5 for value in after)  # near ln 3 at the start


def test_the_regulariser_alone_sends_a_gradient_to_the_generator_and_the_guesser(tmp_path):
    trainer = Trainer(tiny_config(lambda_contrastive=1.0, contrastive_start_epoch=0), tmp_path, load_dataset("fake", None), torch.device("cpu"))
    loss = trainer._contrastive_loss()
    assert 0.5 < loss.item() < 2.0  # about ln 3 for an untrained guesser
    loss.backward()
    for module in (trainer.generator, trainer.contrastive):
        grads = [p.grad for p in module.parameters() if p.requires_grad]
        assert grads and all(g is not None for g in grads) and sum(g.abs().sum().item() for g in grads) > 0


def test_tiny_batches_still_make_two_pairs(tmp_path):
    events = list(train(tiny_config(batch_size=4, max_steps=2, lambda_contrastive=1.0, contrastive_start_epoch=0), tmp_path))
    assert isinstance(events[-1], TrainFinished)


def test_a_stopped_run_resumes_exactly_across_the_switch(tmp_path):
    config = epoch_config(lambda_contrastive=0.5, contrastive_start_epoch=1)
    list(train(config, tmp_path / "straight"))
    calls = iter(range(100))
    # Stopped after the switch, so the guesser's trained weights and Adam state must come back.
    events = list(train(config, tmp_path / "stopped", should_stop=lambda: next(calls) >= 10))
    assert events[-1].interrupted and events[-1].step == 11
    stopped = load_checkpoint(tmp_path / "stopped" / "last.safetensors")
    assert any(k.startswith("optimizer_contrastive.state.") for k in stopped.tensors)
    events = list(train(config, tmp_path / "stopped", resume=True))
    assert isinstance(events[-1], TrainFinished) and events[-1].step == 2 * STEPS_PER_EPOCH
    a = load_checkpoint(tmp_path / "straight" / "last.safetensors").tensors
    b = load_checkpoint(tmp_path / "stopped" / "last.safetensors").tensors
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="lambda-contrastive"):
        tiny_config(lambda_contrastive=-1.0)
    with pytest.raises(ConfigError, match="at least two codes"):
        tiny_config(lambda_contrastive=1.0, latent=LatentSpec(noise_dim=8, categorical=(10,), continuous=0))
    with pytest.raises(ConfigError, match="contrastive_start_epoch"):
        tiny_config(contrastive_start_epoch=-1)


def test_refused_under_torchrun_before_any_process_group_forms(tmp_path, monkeypatch):
    config = tiny_config(lambda_contrastive=1.0)
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
    bad = run_cli("train", "--dataset", "fake", "--max-steps", "1", "--lambda-contrastive", "1", "--continuous", "0", "--out", str(tmp_path / "bad"))
    assert_one_error_line(bad.returncode, bad.stderr)
    assert "two codes" in bad.stderr
    code, _, err = run_main(
        capsys, "train", "--dataset", "fake", "--max-steps", "2", "--batch-size", "8", "--width", "4", "--noise-dim", "8",
        "--lambda-contrastive", "0.5", "--contrastive-start-epoch", "0", "--precision", "fp32", "--out", str(tmp_path / "ok"),
    )
    assert code == 0, err
    checkpoint = tmp_path / "ok" / "last.safetensors"
    saved = load_checkpoint(checkpoint).config
    assert (saved.lambda_contrastive, saved.contrastive_start_epoch) == (0.5, 0)

    # inspect names the guesser's tensors as a group of their own, not "other"
    with safe_open(str(checkpoint), framework="pt") as f:
        guesser = [name for name in f.keys() if name.startswith("contrastive.")]
    code, stdout, err = run_main(capsys, "inspect", str(checkpoint), "--json")
    groups = json.loads(stdout)["groups"]
    assert code == 0, err
    assert len(guesser) > 0 and groups["contrastive"]["tensors"] == len(guesser)
    assert "other" not in groups
    code, stdout, err = run_main(capsys, "inspect", str(checkpoint))
    assert code == 0 and "contrastive" in stdout


def test_a_run_that_ends_before_the_switch_says_so(tmp_path):
    _, warnings = prepare(tiny_config(max_steps=3, lambda_contrastive=1.0, contrastive_start_epoch=1), tmp_path / "short", resume=False)
    assert any("never switches on" in w and "step 3" in w for w in warnings)
    _, warnings = prepare(tiny_config(max_steps=3, lambda_contrastive=1.0, contrastive_start_epoch=0), tmp_path / "on", resume=False)
    assert not any("never switches on" in w for w in warnings)
