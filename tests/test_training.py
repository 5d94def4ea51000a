"""A tiny run end to end: losses fall, files appear, checkpoints load, resume is exact."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors import safe_open

from infogan_cli.checkpoint import load_checkpoint
from infogan_cli.config import ModelConfig
from infogan_cli.infogan import InfoGAN
from infogan_cli.trainer import CheckpointSaved, EpochFinished, StepLogged, TrainFinished, TrainStarted, train
from tests.conftest import gradients_at_step, tiny_config


def run(config, out, **kwargs):
    return list(train(config, out, **kwargs))


def test_tiny_run_writes_everything_and_mi_loss_falls(tmp_path):
    # Constant rates: the default decay would span the whole of this 2-epoch run (test_lr_decay.py covers it).
    config = tiny_config(max_steps=None, epochs=2, batch_size=32, log_every=8, checkpoint_every=16, lr_decay_epochs=0, model=ModelConfig(width=4, hidden=256, q_hidden=64))
    events = run(config, tmp_path)
    assert isinstance(events[0], TrainStarted) and isinstance(events[-1], TrainFinished)
    steps_per_epoch = 1024 // 32
    assert events[-1].step == 2 * steps_per_epoch
    logged = [e.metrics for e in events if isinstance(e, StepLogged)]
    # The categorical code starts at chance (ln 10) and the generator+Q learn to convey it.
    assert logged[0]["loss_code"]["c1"] > 1.9
    assert logged[-1]["loss_code"]["c1"] < 0.5 * logged[0]["loss_code"]["c1"]
    assert logged[-1]["mi"]["c1"] == pytest.approx(math.log(10) - logged[-1]["loss_code"]["c1"])
    assert [e.epoch for e in events if isinstance(e, EpochFinished)] == [1, 2]
    assert (tmp_path / "samples" / "epoch-001.png").exists() and (tmp_path / "samples" / "epoch-002.png").exists()
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == list(range(8, 65, 8))
    assert set(lines[0]) >= {"step", "epoch", "loss_d", "loss_g", "loss_mi", "mi", "images_per_s"}
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "step-000016.safetensors", "step-000032.safetensors", "step-000048.safetensors", "step-000064.safetensors"
    ][-config.keep :]
    assert len([e for e in events if isinstance(e, CheckpointSaved)]) == 4


def test_checkpoint_holds_config_and_loads(tmp_path):
    run(tiny_config(), tmp_path)
    path = tmp_path / "last.safetensors"
    with safe_open(str(path), "pt") as handle:
        metadata = handle.metadata()
        names = set(handle.keys())
    config = json.loads(metadata["config"])
    assert config["latent"] == {"noise_dim": 8, "categorical": [10], "continuous": 2, "continuous_prior": "uniform"}
    assert metadata["step"] == "6" and metadata["format_version"] == "1"
    assert {"rng.train", "rng.cpu"} <= names
    assert any(n.startswith("optimizer_d.state.") for n in names) and any(n.startswith("optimizer_g.state.") for n in names)
    assert not any("_orig_mod" in n or n.startswith("module.") for n in names)
    model = InfoGAN.load(path)
    assert model.step == 6 and model.config.latent.categorical == (10,)
    images = model.generate(n=4, codes={"c1": 3}, seed=1)
    assert images.shape == (4, 1, 28, 28)
    assert torch.equal(images, model.generate(n=4, codes={"c1": 3}, seed=1))


def test_resume_equals_uninterrupted(tmp_path):
    config = tiny_config(max_steps=10, checkpoint_every=4, log_every=2)
    straight = tmp_path / "straight"
    run(config, straight)
    # The same run stopped after step 5 (as SIGINT would), then resumed to step 10.
    stopped = tmp_path / "stopped"
    calls = iter(range(100))
    events = run(config, stopped, should_stop=lambda: next(calls) >= 4)
    assert events[-1].interrupted and events[-1].step == 5
    events = run(config, stopped, resume=True)
    assert events[0].start_step == 5 and events[-1].step == 10
    a = load_checkpoint(straight / "last.safetensors").tensors
    b = load_checkpoint(stopped / "last.safetensors").tensors
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    steps = [json.loads(line)["step"] for line in (stopped / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 5, 6, 8, 10]


def test_python_api_resume_keeps_the_runs_values_but_its_length(tmp_path):
    # A TrainConfig cannot say which fields were set: without `given` only the length is taken.
    out = tmp_path / "run"
    run(tiny_config(max_steps=4, data_root=str(tmp_path / "data"), log_every=1, keep=1, workers=0), out)
    started = run(tiny_config(max_steps=6), out, resume=True)[0]
    assert started.start_step == 4 and started.changes == ["max-steps 4 -> 6"]
    kept = started.config
    assert (kept.data_root, kept.log_every, kept.keep, kept.workers) == (str(tmp_path / "data"), 1, 1, 0)
    assert json.loads((out / "config.json").read_text())["data_root"] == str(tmp_path / "data")
    # `given` names the other fields to take.
    started = run(tiny_config(max_steps=7, log_every=2), out, resume=True, given=["max_steps", "log_every"])[0]
    assert started.changes == ["max-steps 6 -> 7", "log-every 1 -> 2"] and started.config.data_root == str(tmp_path / "data")


def test_resume_without_checkpoint_is_an_error(tmp_path):
    from infogan_cli.errors import CheckpointError

    with pytest.raises(CheckpointError, match="nothing to resume"):
        run(tiny_config(), tmp_path, resume=True)


def test_resume_and_overwrite_exclude_each_other(tmp_path):
    from infogan_cli.errors import ConfigError

    run(tiny_config(max_steps=2), tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(ConfigError, match="exclude each other"):
        run(tiny_config(max_steps=4), tmp_path, resume=True, overwrite=True)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_mi_updates_trunk_option_changes_training(tmp_path):
    with_trunk = run(tiny_config(mi_updates_trunk=True), tmp_path / "a")
    without = run(tiny_config(mi_updates_trunk=False), tmp_path / "b")
    a = load_checkpoint(tmp_path / "a" / "last.safetensors").tensors
    b = load_checkpoint(tmp_path / "b" / "last.safetensors").tensors
    trunk = [n for n in a if n.startswith("discriminator.trunk.") and n.endswith("weight")]
    assert any(not torch.equal(a[n], b[n]) for n in trunk)
    assert with_trunk[-1].step == without[-1].step == 6


def test_g_step_gradients_are_unchanged_by_freezing_the_trunk(tmp_path):
    """The G+Q step skips the trunk's and D head's weight gradients; the Q head still gets exactly
    the G+Q step's gradient (nothing leaks in from the D step's MI pass), the trunk is trainable
    again afterwards, and mi_real (Q's information on the real batch) is what the metrics log."""
    import copy

    from infogan_cli.data import to_unit_range
    from infogan_cli.latent import generator_input, sample_latent
    from infogan_cli.losses import adversarial_loss, mutual_information_loss, real_information
    from infogan_cli.trainer import METRIC_NAMES, prepare

    config = tiny_config(precision="fp32", lambda_fake_consistency=0.0)  # its own term: test_fake_consistency.py
    trainer, _ = prepare(config, tmp_path, resume=False)
    real = to_unit_range(next(trainer.batches(0, 0)))
    d_before = copy.deepcopy(trainer.discriminator)
    g_before = copy.deepcopy(trainer.generator)
    rng_state = trainer.rng.get_state()
    seen = gradients_at_step(trainer.optimizer_g, trainer.discriminator.q_head.parameters)
    losses = trainer.train_step(real)

    # The G+Q step's MI gradient through the updated trunk and the (not yet updated) Q head.
    d_after = copy.deepcopy(trainer.discriminator)
    d_after.q_head.load_state_dict(d_before.q_head.state_dict())
    rng = torch.Generator().manual_seed(0)
    rng.set_state(rng_state)
    latent = sample_latent(config.latent, real.shape[0], rng)
    logits, codes = d_after(g_before(generator_input(config.latent, latent)))
    loss_mi, _ = mutual_information_loss(codes, latent, config.lambda_cat, config.lambda_cont, config.continuous_loss)
    expected = torch.autograd.grad(adversarial_loss(logits, True) + loss_mi, list(d_after.q_head.parameters()))
    for got, want in zip(seen[0], expected):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    assert all(p.requires_grad for p in trainer.discriminator.parameters())
    mi_real = losses[METRIC_NAMES.index("mi_real")].item()
    assert mi_real == pytest.approx(real_information(d_before(real)[1]).item(), rel=1e-4, abs=1e-6)
    assert 0.0 <= mi_real <= math.log(10) + 1e-6


@pytest.mark.parametrize("seed", [99_999_999_999_999_999, 2**63 - 1])
def test_the_largest_seeds_train(tmp_path, seed):
    # seed * 1_000_003 once overflowed torch.Generator's 64 bits at the first epoch.
    events = run(tiny_config(seed=seed, max_steps=2), tmp_path)
    assert events[-1].step == 2


def test_epoch_order_is_a_pure_function_of_seed_and_epoch(tmp_path):
    from infogan_cli.trainer import prepare

    trainer, _ = prepare(tiny_config(seed=2**63 - 1), tmp_path / "largest", resume=False)
    first = trainer.epoch_order(0)
    assert torch.equal(first, trainer.epoch_order(0)) and not torch.equal(first, trainer.epoch_order(1))
    assert sorted(first.tolist()) == list(range(len(trainer.data)))
    # Seeds small enough not to wrap keep the orders they always had (earlier results stay reproducible).
    trainer, _ = prepare(tiny_config(seed=3), tmp_path / "small", resume=False)
    expected = torch.randperm(len(trainer.data), generator=torch.Generator().manual_seed(3 * 1_000_003 + 2))
    assert torch.equal(trainer.epoch_order(2), expected)
