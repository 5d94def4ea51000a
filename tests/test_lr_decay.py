"""--lr-decay-epochs: both learning rates fall linearly to 0 over a run's last epochs."""

from __future__ import annotations

import json

import pytest
import torch

from infogan_cli.checkpoint import load_checkpoint
from infogan_cli.config import TrainConfig, build_train_config, train_from_dict
from infogan_cli.errors import ConfigError
from infogan_cli.trainer import TrainFinished, learning_rate_scale, train
from tests.conftest import run_main, tiny_config

STEPS_PER_EPOCH = 1024 // 128  # the fake set at batch 128
GENERATOR_WEIGHT = "generator.fc.0.weight"


def decaying_config(**overrides) -> TrainConfig:
    return tiny_config(**{**dict(max_steps=None, epochs=2, batch_size=128, log_every=1, checkpoint_every=STEPS_PER_EPOCH, keep=10), **overrides})


def saved_rates(path) -> list[float]:
    optimizers = load_checkpoint(path).optimizers
    return [optimizers[name]["param_groups"][0]["lr"] for name in ("optimizer_d", "optimizer_g")]


def test_scale_is_one_then_falls_linearly_to_the_last_step():
    assert [learning_rate_scale(step, 10, 0) for step in range(10)] == [1.0] * 10
    assert [learning_rate_scale(step, 10, 4) for step in range(10)] == [1.0] * 7 + [0.75, 0.5, 0.25]
    assert [learning_rate_scale(step, 4, 4) for step in range(4)] == [1.0, 0.75, 0.5, 0.25]


def test_default_decays_over_5_epochs_and_presets_and_stored_runs_read_as_constant():
    assert (TrainConfig().lr_d, TrainConfig().lr_decay_epochs) == (4e-4, 5)
    for preset in ("paper", "tutorial"):  # the paper's and the tutorial's constant 2e-4
        assert (build_train_config(preset).lr_d, build_train_config(preset).lr_decay_epochs) == (2e-4, 0)
    assert train_from_dict({}).lr_decay_epochs == 0  # runs stored before the option
    assert train_from_dict({"lr_d": 2e-4}).lr_d == 2e-4  # a stored run keeps its own rate
    for bad in (-1, 1.5, True):
        with pytest.raises(ConfigError, match="lr_decay_epochs"):
            TrainConfig(lr_decay_epochs=bad)


def test_rates_decay_over_the_last_epoch_and_the_first_epoch_is_the_constant_run(tmp_path):
    config = decaying_config(lr_decay_epochs=1)
    list(train(config, tmp_path / "decay"))
    list(train(decaying_config(lr_decay_epochs=0), tmp_path / "constant"))
    checkpoints = [f"checkpoints/step-{step:06d}.safetensors" for step in (STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH)]
    # Epoch 1 trains at the full rates: its checkpoint is the constant run's, tensor for tensor.
    first = [load_checkpoint(tmp_path / run / checkpoints[0]).tensors for run in ("decay", "constant")]
    assert first[0].keys() == first[1].keys() and all(torch.equal(first[0][k], first[1][k]) for k in first[0])
    assert saved_rates(tmp_path / "decay" / checkpoints[0]) == [config.lr_d, config.lr_g]
    # The last step ran at 1/8 of the rates; the runs part in epoch 2.
    assert saved_rates(tmp_path / "decay" / "last.safetensors") == pytest.approx([config.lr_d / 8, config.lr_g / 8])
    assert saved_rates(tmp_path / "constant" / "last.safetensors") == [config.lr_d, config.lr_g]
    last = [load_checkpoint(tmp_path / run / "last.safetensors").tensors for run in ("decay", "constant")]
    assert not torch.equal(last[0][GENERATOR_WEIGHT], last[1][GENERATOR_WEIGHT])


def test_a_stopped_decaying_run_resumes_exactly(tmp_path):
    config = decaying_config(lr_decay_epochs=2)
    list(train(config, tmp_path / "straight"))
    calls = iter(range(100))
    events = list(train(config, tmp_path / "stopped", should_stop=lambda: next(calls) >= 4))
    assert events[-1].interrupted and events[-1].step == 5
    events = list(train(config, tmp_path / "stopped", resume=True))
    assert isinstance(events[-1], TrainFinished) and events[-1].step == 2 * STEPS_PER_EPOCH
    a = load_checkpoint(tmp_path / "straight" / "last.safetensors").tensors
    b = load_checkpoint(tmp_path / "stopped" / "last.safetensors").tensors
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_cli_sets_the_decay_checks_it_and_a_resume_may_add_it(capsys, tmp_path):
    out = tmp_path / "run"
    small = ["--dataset", "fake", "--batch-size", "128", "--noise-dim", "8", "--width", "4", "--device", "cpu"]
    assert run_main(capsys, "train", *small, "--epochs", "1", "--lr-decay-epochs", "0", "--out", str(out))[0] == 0
    assert json.loads((out / "config.json").read_text())["lr_decay_epochs"] == 0
    # A finished run annealed over one more epoch: the rates fall over epoch 2.
    code, _, err = run_main(capsys, "train", "--out", str(out), "--resume", "--epochs", "2", "--lr-decay-epochs", "1")
    assert code == 0, err
    assert "| lr decay over the last 1 epoch | resuming at step 8 with epochs 1 -> 2, lr-decay-epochs 0 -> 1" in err, err
    assert json.loads((out / "config.json").read_text())["lr_decay_epochs"] == 1
    assert saved_rates(out / "last.safetensors") == pytest.approx([4e-4 / 8, 1e-3 / 8])
    code, _, err = run_main(capsys, "train", *small, "--lr-decay-epochs", "-1", "--out", str(tmp_path / "bad"))
    assert code == 2 and "lr-decay-epochs" in err and "Traceback" not in err  # click's range check
