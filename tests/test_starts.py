"""`infogan train --starts K`: K seeds train a few epochs, the one with the most information on real
images trains on, and the result has exactly the weights of the plain run of that seed; every step
survives an interruption, soft or hard."""

from __future__ import annotations

import json

import pytest
import torch

from infogan_cli import starts as starts_module
from infogan_cli.checkpoint import load_checkpoint
from infogan_cli.config import StartsConfig, TrainConfig
from infogan_cli.errors import CheckpointError, ConfigError, DataError, TrainingDiverged
from infogan_cli.starts import (
    RECORD_NAME,
    StartBegun,
    StartChosen,
    StartDone,
    move_run,
    selection_score,
    start_folder,
    start_seeds,
    train_with_starts,
)
from infogan_cli.trainer import StepLogged, TrainFinished, TrainStarted, Trainer, holds_run, remove_run, train
from tests.conftest import assert_one_error_line, run_main, tiny_config

# 1024 fake images in batches of 64: 16 steps an epoch; the starts train 1 epoch, the run 2.
# The rates fall over epoch 2, after the 1-epoch starts: the chosen start is still the plain run's
# first epoch only if the starts train at the full rates.
TWO_EPOCHS = dict(epochs=2, max_steps=None, batch_size=64, log_every=4, checkpoint_every=8, lr_decay_epochs=1)
TWO_STARTS = dict(starts=2, start_epochs=1)
SMALL = ["--dataset", "fake", "--width", "4", "--noise-dim", "8", "--batch-size", "64", "--log-every", "4", "--device", "cpu", "--lr-decay-epochs", "1"]


def config(**overrides):
    return tiny_config(**{**TWO_EPOCHS, **overrides})


def run_all(events) -> list:
    return list(events)


def assert_same_weights(a, b) -> None:
    a, b = load_checkpoint(a).tensors, load_checkpoint(b).tensors
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def record_of(out) -> dict:
    return json.loads((out / RECORD_NAME).read_text())


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """Two starts of seed 0, trained without a stop: the reference the other runs must equal."""
    out = tmp_path_factory.mktemp("straight") / "run"
    events = run_all(train_with_starts(config(), out, **TWO_STARTS))
    return out, events


def test_start_seeds_begin_with_the_seed_and_stay_apart():
    assert start_seeds(7, 1) == [7]
    assert start_seeds(7, 3) == [7, 1007, 2007]
    assert start_seeds(2**63 - 1, 2) == [2**63 - 1, 999]  # wraps into the seeds TrainConfig takes
    assert set(start_seeds(0, 2)).isdisjoint(start_seeds(1, 2))


def write_lines(folder, lines, tail="") -> None:
    folder.mkdir(exist_ok=True)
    (folder / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines) + tail)


def test_selection_score_is_the_mean_mi_real_over_the_epochs_steps(tmp_path):
    # 10 steps an epoch, a line every 4 steps (and at each end): lines straddle the epochs.
    write_lines(
        tmp_path,
        [
            {"step": 4, "epoch": 0.4, "mi_real": 9.0},  # steps 1-4
            {"step": 8, "epoch": 0.8, "mi_real": 7.0},  # 5-8
            {"step": 12, "epoch": 1.2, "mi_real": 1.0},  # 9-12: 2 steps in each epoch
            {"step": 16, "epoch": 1.6, "mi_real": 2.0},  # 13-16
            {"step": 20, "epoch": 2.0, "mi_real": 5.0},  # 17-20
        ],
        tail='{"step": 24',  # a line cut short by a kill
    )
    assert selection_score(tmp_path, 1) == pytest.approx((4 * 9 + 4 * 7 + 2 * 1) / 10)
    assert selection_score(tmp_path, 2) == pytest.approx((2 * 1 + 4 * 2 + 4 * 5) / 10)
    assert selection_score(tmp_path, 3) is None
    assert selection_score(tmp_path / "missing", 1) is None


def test_a_line_written_at_an_interruption_leaves_the_score_as_it_was(tmp_path):
    straight_lines = [{"step": s, "epoch": s / 16, "mi_real": v} for s, v in ((4, 1.0), (8, 2.0), (12, 3.0), (16, 4.0))]
    # Stopped at step 5, then resumed: steps 5-8 are now two lines whose step-weighted mean is 2.0.
    stopped = straight_lines[:1] + [{"step": 5, "epoch": 5 / 16, "mi_real": 1.25}, {"step": 8, "epoch": 0.5, "mi_real": 2.25}] + straight_lines[2:]
    write_lines(tmp_path / "a", straight_lines)
    write_lines(tmp_path / "b", stopped)
    assert selection_score(tmp_path / "a", 1) == pytest.approx(2.5)
    assert selection_score(tmp_path / "b", 1) == pytest.approx(2.5)


def test_several_starts_choose_the_best_score_and_train_the_plain_run_of_its_seed(straight, tmp_path):
    out, events = straight
    begun = [e for e in events if isinstance(e, StartBegun)]
    assert [(e.index, e.count, e.seed, e.epochs) for e in begun] == [(1, 2, 0, 1), (2, 2, 1000, 1)]
    done = {e.seed: e.score for e in events if isinstance(e, StartDone)}
    chosen = next(e for e in events if isinstance(e, StartChosen))
    assert chosen.scores == done and chosen.seed == max(done, key=done.get)
    other = 1000 if chosen.seed == 0 else 0
    # The scores are what the starts logged: the other start's folder stays; the chosen one's
    # metrics moved into the run folder.
    assert done[other] == pytest.approx(selection_score(start_folder(out, other), 1))
    assert done[chosen.seed] == pytest.approx(selection_score(out, 1))
    assert not start_folder(out, chosen.seed).exists()
    assert (start_folder(out, other) / "last.safetensors").exists()
    # The run went on from the chosen start to its own 2 epochs.
    final = [e for e in events if isinstance(e, TrainStarted)][-1]
    assert (final.out_dir, final.seed, final.start_step, final.total_steps) == (out, chosen.seed, 16, 32)
    assert json.loads((out / "config.json").read_text())["seed"] == chosen.seed
    record = record_of(out)
    assert record["chosen"] == chosen.seed and record["seed"] == 0 and (record["count"], record["epochs"]) == (2, 1)
    assert {s["seed"]: s["mi_real"] for s in record["starts"]} == pytest.approx(done)

    # The plain run of the chosen seed: the same weights and optimizer state, and here (the log
    # and checkpoint intervals divide the epoch) the same metric lines.
    plain = tmp_path / "plain"
    run_all(train(config(seed=chosen.seed), plain))
    assert_same_weights(out / "last.safetensors", plain / "last.safetensors")
    strip = lambda path: [{k: v for k, v in json.loads(line).items() if k != "images_per_s"} for line in path.read_text().splitlines()]  # noqa: E731
    assert strip(out / "metrics.jsonl") == strip(plain / "metrics.jsonl")


def test_one_start_is_a_plain_run_and_start_epochs_needs_starts(tmp_path):
    events = run_all(train_with_starts(config(max_steps=4), tmp_path / "one", starts=1))
    assert not any(isinstance(e, (StartBegun, StartChosen)) for e in events)
    assert not (tmp_path / "one" / RECORD_NAME).exists() and not (tmp_path / "one" / "starts").exists()
    with pytest.raises(ConfigError, match="--start-epochs needs --starts 2 or more"):
        run_all(train_with_starts(config(), tmp_path / "two", start_epochs=1))


def stop_after(polls: int):
    count = [0]

    def should_stop() -> bool:
        count[0] += 1
        return count[0] >= polls

    return should_stop


@pytest.mark.parametrize("stop_at", [5, 20, 40])  # in the first start, the second, and the run
def test_a_stopped_run_resumes_to_the_same_result(straight, tmp_path, stop_at):
    out = tmp_path / "stopped"
    events = run_all(train_with_starts(config(), out, **TWO_STARTS, should_stop=stop_after(stop_at)))
    assert events[-1].interrupted and holds_run(out)
    resumed = run_all(train_with_starts(config(), out, resume=True))
    assert isinstance(resumed[-1], TrainFinished) and not resumed[-1].interrupted
    # A start scored before the stop is not trained again.
    assert len([e for e in resumed if isinstance(e, StartBegun)]) == {5: 2, 20: 1, 40: 0}[stop_at]
    assert record_of(out)["chosen"] == record_of(straight[0])["chosen"]
    assert_same_weights(out / "last.safetensors", straight[0] / "last.safetensors")


def killed_at(condition):
    """trainer.train that dies (as if killed: no checkpoint, nothing cleaned up) at the first
    event for which ``condition(config, out_dir, event)`` holds; event None: before the first."""
    real_train = starts_module.train

    def train_then_die(config, out_dir, *args):
        if condition(config, out_dir, None):
            raise KeyboardInterrupt
        for event in real_train(config, out_dir, *args):
            if condition(config, out_dir, event):
                raise KeyboardInterrupt
            yield event

    return train_then_die


def test_a_start_killed_before_its_first_checkpoint_trains_again(straight, tmp_path, monkeypatch):
    out = tmp_path / "run"
    first_log = lambda config, out_dir, event: config.seed == 0 and isinstance(event, StepLogged) and event.step == 4  # noqa: E731
    monkeypatch.setattr(starts_module, "train", killed_at(first_log))
    with pytest.raises(KeyboardInterrupt):
        run_all(train_with_starts(config(), out, **TWO_STARTS))
    assert (start_folder(out, 0) / "config.json").exists() and not (start_folder(out, 0) / "last.safetensors").exists()
    monkeypatch.undo()
    resumed = run_all(train_with_starts(config(), out, resume=True, given=[]))  # a bare --resume
    first = next(e for e in resumed if isinstance(e, TrainStarted))
    assert first.start_step == 0 and any("had no intact checkpoint" in w for w in first.warnings)
    assert_same_weights(out / "last.safetensors", straight[0] / "last.safetensors")


@pytest.mark.parametrize("when", ["mid-move", "before the run's first checkpoint"])
def test_a_run_killed_after_the_choice_resumes_to_its_own_length(straight, tmp_path, monkeypatch, when):
    out = tmp_path / "run"
    if when == "mid-move":
        def move_checkpoints_then_die(source, target):
            (target / "checkpoints").mkdir(parents=True)
            for path in (source / "checkpoints").iterdir():
                path.rename(target / "checkpoints" / path.name)
            raise KeyboardInterrupt

        monkeypatch.setattr(starts_module, "move_run", move_checkpoints_then_die)
    else:
        monkeypatch.setattr(starts_module, "train", killed_at(lambda config, out_dir, event: out_dir == out and isinstance(event, StepLogged)))
    with pytest.raises(KeyboardInterrupt):
        run_all(train_with_starts(config(), out, **TWO_STARTS))
    assert record_of(out)["chosen"] is not None
    monkeypatch.undo()
    # A bare --resume (no option given): the run's own 2 epochs, not the start's 1.
    resumed = run_all(train_with_starts(config(epochs=10), out, resume=True, given=[]))
    final = [e for e in resumed if isinstance(e, TrainStarted)][-1]
    # The start trained at the full rates; the run decays over its own last epoch.
    assert (final.start_step, final.total_steps, final.changes) == (16, 32, ["epochs 1 -> 2", "lr-decay-epochs 0 -> 1"])
    assert_same_weights(out / "last.safetensors", straight[0] / "last.safetensors")
    assert not start_folder(out, record_of(out)["chosen"]).exists()


def test_a_move_cut_short_is_finished_by_the_next(tmp_path):
    source, target = tmp_path / "start", tmp_path / "run"
    run_all(train(tiny_config(), source))
    expected = {p.relative_to(source): p.read_bytes() for p in source.rglob("*") if p.is_file()}
    (target / "checkpoints").mkdir(parents=True)
    for path in (source / "checkpoints").iterdir():  # the move was cut short after the checkpoints
        path.rename(target / "checkpoints" / path.name)
    (source / "checkpoints" / ".step-000009.safetensors.x1y2.tmp").write_bytes(b"half")  # a write cut short
    move_run(source, target)
    assert {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()} == expected
    assert not source.exists()
    move_run(source, target)  # nothing left to move: a no-op


def test_a_diverging_start_is_left_out_and_not_trained_again(tmp_path, monkeypatch):
    real_step = Trainer.train_step

    def step_that_diverges_for_1000(self, real):
        losses = real_step(self, real)
        return losses * float("nan") if self.config.seed == 1000 and self.step >= 2 else losses

    monkeypatch.setattr(Trainer, "train_step", step_that_diverges_for_1000)
    out = tmp_path / "run"
    events = run_all(train_with_starts(config(), out, **TWO_STARTS))
    failed = [e for e in events if isinstance(e, StartDone) and e.failed]
    assert [(e.seed, e.score) for e in failed] == [(1000, None)] and "became nan at step 3" in failed[0].failed
    chosen = next(e for e in events if isinstance(e, StartChosen))
    assert chosen.seed == 0 and chosen.scores[1000] is None
    assert "became nan" in record_of(out)["starts"][1]["failed"]
    resumed = run_all(train_with_starts(config(epochs=3), out, resume=True, given=["epochs"]))
    assert not any(isinstance(e, StartBegun) for e in resumed)  # the choice is made: the run trains on
    assert resumed[-1].step == 48

    monkeypatch.setattr(Trainer, "train_step", lambda self, real: real_step(self, real) * float("nan"))
    with pytest.raises(TrainingDiverged, match="none of the 2 starts trained to a score"):
        run_all(train_with_starts(config(), tmp_path / "all", **TWO_STARTS))
    assert [s["failed"] is not None for s in record_of(tmp_path / "all")["starts"]] == [True, True]


def test_the_default_run_decays_after_the_default_starts():
    default, plan = TrainConfig(), StartsConfig(count=2)
    assert default.epochs - default.lr_decay_epochs >= plan.epochs  # so `--starts 2` alone is not refused
    starts_module._check_choice_possible(default, plan)


@pytest.mark.parametrize(
    "overrides,starts,message",
    [
        (dict(max_steps=20), TWO_STARTS, "--starts and --max-steps exclude each other"),
        (dict(epochs=1), TWO_STARTS, "--starts needs --epochs above --start-epochs (1), got 1"),
        (dict(epochs=2), dict(starts=2, start_epochs=2), "--starts needs --epochs above --start-epochs (2), got 2"),
        (dict(epochs=3, lr_decay_epochs=3), TWO_STARTS, "--starts needs the learning-rate decay to begin after the 1-epoch starts: --lr-decay-epochs 3 of --epochs 3 begins in epoch 1"),
        (dict(epochs=3, lr_decay_epochs=7), TWO_STARTS, "--starts needs the learning-rate decay to begin after the 1-epoch starts: --lr-decay-epochs 7 of --epochs 3 begins in epoch 1"),
    ],
)
def test_new_runs_that_cannot_choose_are_refused_before_training(tmp_path, overrides, starts, message):
    with pytest.raises(ConfigError) as caught:
        run_all(train_with_starts(config(**overrides), tmp_path / "run", **starts))
    assert message in caught.value.message
    assert not (tmp_path / "run").exists()


def test_bad_data_leaves_nothing_behind(tmp_path):
    with pytest.raises(DataError):
        run_all(train_with_starts(config(dataset="idx:/nonexistent"), tmp_path / "run", **TWO_STARTS))
    assert not (tmp_path / "run" / RECORD_NAME).exists() and not holds_run(tmp_path / "run")


def test_run_folders_with_starts_are_kept_unless_overwritten(tmp_path):
    out = tmp_path / "run"
    stopped = run_all(train_with_starts(config(), out, **TWO_STARTS, should_stop=stop_after(3)))
    assert stopped[-1].interrupted and not (out / "config.json").exists()  # only starts.json and a start so far
    with pytest.raises(ConfigError, match="already holds a run"):
        run_all(train_with_starts(config(), out, **TWO_STARTS))
    with pytest.raises(ConfigError, match="already holds a run"):
        run_all(train(config(), out))
    (out / "starts" / "notes.txt").write_text("mine")
    events = run_all(train_with_starts(config(), out, **TWO_STARTS, overwrite=True))
    first = next(e for e in events if isinstance(e, TrainStarted))
    assert first.start_step == 0 and f"--overwrite: removed the previous run's files from {out}" in first.warnings
    assert (out / "starts" / "notes.txt").read_text() == "mine"
    remove_run(out)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["starts", "starts/notes.txt"]


def test_a_leftover_start_folder_is_not_taken_for_a_start(tmp_path):
    out = tmp_path / "run"
    run_all(train(tiny_config(), start_folder(out, 1000)))  # with checkpoints: refused
    with pytest.raises(ConfigError, match=r"starts/seed-1000 holds a start of an earlier run whose starts.json is missing"):
        run_all(train_with_starts(config(), out, **TWO_STARTS))


def test_a_start_killed_before_the_record_was_written_is_cleared(straight, tmp_path, monkeypatch):
    # The first start's config.json is written just before starts.json: a kill between them.
    out = tmp_path / "run"
    monkeypatch.setattr(starts_module, "train", killed_at(lambda config, out_dir, event: isinstance(event, TrainStarted)))
    with pytest.raises(KeyboardInterrupt):
        run_all(train_with_starts(config(), out, **TWO_STARTS))
    assert (start_folder(out, 0) / "config.json").exists() and not (out / RECORD_NAME).exists()
    monkeypatch.undo()
    events = run_all(train_with_starts(config(), out, **TWO_STARTS))  # the same command again
    first = next(e for e in events if isinstance(e, TrainStarted))
    assert f"removed {start_folder(out, 0)}: a start killed before its first checkpoint" in first.warnings
    assert_same_weights(out / "last.safetensors", straight[0] / "last.safetensors")


def test_a_refused_or_empty_resume_leaves_the_record_as_it_was(tmp_path):
    out = tmp_path / "run"
    run_all(train_with_starts(config(), out, **TWO_STARTS))
    before = (out / RECORD_NAME).read_bytes()
    with pytest.raises(ConfigError):
        run_all(train_with_starts(config(device="cuda:7"), out, resume=True, given=["device"]))
    at_end = run_all(train_with_starts(config(epochs=1), out, resume=True, given=["epochs"]))
    assert (at_end[0].start_step, at_end[0].total_steps) == (32, 16)  # nothing to train
    assert (out / RECORD_NAME).read_bytes() == before
    # --seed as config.json shows it (the chosen one) or as given: both fine.
    chosen = record_of(out)["chosen"]
    for seed in {chosen, 0}:
        run_all(train_with_starts(config(seed=seed), out, resume=True, given=["seed"]))
    longer = run_all(train_with_starts(config(epochs=3), out, resume=True, given=["epochs"]))
    assert longer[-1].step == 48 and record_of(out)["config"]["epochs"] == 3


def test_a_run_without_a_categorical_code_cannot_choose(tmp_path):
    from infogan_cli.config import LatentSpec

    with pytest.raises(ConfigError, match="--starts needs a categorical code"):
        run_all(train_with_starts(config(latent=LatentSpec(noise_dim=8, categorical=(), continuous=2)), tmp_path / "run", **TWO_STARTS))


def test_what_a_resume_may_not_change(tmp_path):
    out = tmp_path / "run"
    run_all(train_with_starts(config(), out, **TWO_STARTS, should_stop=stop_after(3)))
    with pytest.raises(ConfigError, match="--starts and --start-epochs cannot change when resuming: the run has 2 starts of 1 epochs"):
        run_all(train_with_starts(config(), out, starts=3, resume=True))
    with pytest.raises(ConfigError, match="--starts and --max-steps exclude each other"):
        run_all(train_with_starts(config(max_steps=40), out, resume=True, given=["max_steps"]))
    # Repeating one of them as it was is fine.
    resumed = run_all(train_with_starts(config(), out, start_epochs=1, resume=True, given=[]))
    assert resumed[-1].step == 32

    plain = tmp_path / "plain"
    run_all(train(config(), plain))
    with pytest.raises(ConfigError, match="cannot be added when resuming: the run in .* was trained from one start"):
        run_all(train_with_starts(config(), plain, **TWO_STARTS, resume=True))


@pytest.mark.parametrize(
    "change,reason",
    [
        (lambda r: r.pop("chosen"), "KeyError: 'chosen'"),
        (lambda r: r.pop("config"), "KeyError: 'config'"),
        (lambda r: r.update(chosen=5), "the chosen seed 5 is not a start"),
        (lambda r: r.update(count="two"), "starts must be an integer"),
        (lambda r: r["config"].update(lr_d=7), "lr-d must be in (0, 1)"),
    ],
)
def test_an_unreadable_record_is_a_checkpoint_error(tmp_path, change, reason):
    record = {"schema": 1, "seed": 0, "count": 2, "epochs": 1, "starts": [{"seed": 0}, {"seed": 1000}], "chosen": None, "config": config().to_dict()}
    change(record)
    (tmp_path / RECORD_NAME).write_text(json.dumps(record))
    with pytest.raises(CheckpointError) as caught:
        run_all(train_with_starts(config(), tmp_path, resume=True))
    assert "is not a readable record of starts" in caught.value.message and reason in caught.value.message


# ----------------------------------------------------------------------------- the command


def test_cli_shows_each_start_and_the_choice(capsys, tmp_path):
    out = tmp_path / "run"
    code, _, err = run_main(capsys, "train", *SMALL, "--epochs", "2", "--starts", "2", "--start-epochs", "1", "--out", str(out))
    assert code == 0, err
    record = record_of(out)
    assert "start 1/2: seed 0, 1 epochs" in err and "start 2/2: seed 1000, 1 epochs" in err
    for start in record["starts"]:
        assert f"seed {start['seed']}: Q's information on real images {start['mi_real']:.3f} nats" in err
    chosen = record["chosen"]
    assert f"chose seed {chosen}, the most information on real images (the same weights as --seed {chosen}" in err
    assert f"seed {chosen} | batch 64 | 16 steps/epoch | lr decay over the last 1 epoch | resuming at step 16 with epochs 1 -> 2, lr-decay-epochs 0 -> 1" in err
    assert "done: 32 steps" in err and (out / "metrics.png").exists()

    # Resumed at its end: nothing to train, as for a plain run.
    code, _, err = run_main(capsys, "train", "--out", str(out), "--resume")
    assert code == 0 and "nothing to train" in err


@pytest.mark.parametrize(
    "args,message",
    [
        (["--epochs", "2", "--starts", "2", "--max-steps", "5"], "error: --starts and --max-steps exclude each other"),
        (["--epochs", "2", "--starts", "2", "--start-epochs", "2"], "error: --starts needs --epochs above --start-epochs (2), got 2"),
        (["--epochs", "5", "--starts", "2", "--lr-decay-epochs", "5"], "error: --starts needs the learning-rate decay to begin after the 2-epoch starts: --lr-decay-epochs 5 of --epochs 5 begins in epoch 1"),
        (["--epochs", "2", "--start-epochs", "1"], "error: --start-epochs needs --starts 2 or more"),
        (["--epochs", "2", "--starts", "2", "--start-epochs", "1", "--dataset", "idx:/nonexistent"], "error: "),
    ],
)
def test_cli_refuses_bad_starts_in_one_line(capsys, tmp_path, args, message):
    code, _, err = run_main(capsys, "train", *SMALL, *args, "--out", str(tmp_path / "run"))
    assert_one_error_line(code, err)
    assert err.startswith(message)
    assert not any((tmp_path / "run").rglob("*"))  # nothing written


def test_cli_starts_zero_is_a_usage_error(capsys, tmp_path):
    code, _, err = run_main(capsys, "train", *SMALL, "--starts", "0", "--out", str(tmp_path / "run"))
    assert code == 2 and "Invalid value for '--starts'" in err and "Traceback" not in err


def test_cli_stopped_during_a_start_exits_130_and_resumes(capsys, tmp_path, monkeypatch):
    import os
    import signal

    real_step = Trainer.train_step

    def step_then_ctrl_c(self, real):
        if self.config.seed == 1000 and self.step == 2:
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C: the step finishes, a checkpoint is written
        return real_step(self, real)

    monkeypatch.setattr(Trainer, "train_step", step_then_ctrl_c)
    out = tmp_path / "run"
    code, _, err = run_main(capsys, "train", *SMALL, "--epochs", "2", "--starts", "2", "--start-epochs", "1", "--out", str(out))
    assert code == 130, err
    assert f"interrupted at step 3; checkpoint {start_folder(out, 1000)}" in err and f"resume with: infogan train --out {out} --resume" in err
    monkeypatch.undo()
    code, _, err = run_main(capsys, "train", "--out", str(out), "--resume")
    assert code == 0, err
    assert "start 1/2: seed 0: Q's information on real images" in err  # scored before: not trained again
    assert "start 2/2: seed 1000, 1 epochs" in err and "resuming at step 3" in err and "done: 32 steps" in err


def test_cli_a_start_killed_after_its_last_checkpoint_is_scored_on_resume(capsys, tmp_path, monkeypatch):
    out = tmp_path / "run"
    monkeypatch.setattr(starts_module, "train", killed_at(lambda config, out_dir, event: config.seed == 0 and isinstance(event, TrainFinished)))
    with pytest.raises(KeyboardInterrupt):
        run_all(train_with_starts(config(max_steps=None, checkpoint_every=16), out, **TWO_STARTS))
    assert record_of(out)["starts"][0]["mi_real"] is None
    monkeypatch.undo()
    code, _, err = run_main(capsys, "train", "--out", str(out), "--resume")
    assert code == 0, err
    assert "start seed 0 has trained its 16 steps" in err
    assert record_of(out)["starts"][0]["mi_real"] == pytest.approx(selection_score(out if record_of(out)["chosen"] == 0 else start_folder(out, 0), 1))


def test_tensorboard_logs_each_start_in_its_folder_and_the_run_in_the_run_folder(capsys, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    code, _, err = run_main(capsys, "train", *SMALL, "--epochs", "2", "--starts", "2", "--start-epochs", "1", "--out", str(out), "--tensorboard")
    assert code == 0, err
    chosen = record_of(out)["chosen"]
    other = start_folder(out, 1000 if chosen == 0 else 0)

    def steps(folder):
        events = EventAccumulator(str(folder / "tensorboard"))
        events.Reload()
        return [e.step for e in events.Scalars("train/mi_real")]

    assert steps(out) == [4, 8, 12, 16, 20, 24, 28, 32]  # the chosen start's steps moved in with it
    assert steps(other) == [4, 8, 12, 16]
