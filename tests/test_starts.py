"""`infogan train --starts K`: K seeds train a few epochs, the one with the most information on real
images trains on, and the result is exactly the plain run of that seed."""

from __future__ import annotations

import json

import pytest
import torch

from infogan_cli import starts as starts_module
from infogan_cli.checkpoint import load_checkpoint
from infogan_cli.config import StartsConfig
from infogan_cli.errors import CheckpointError, ConfigError, TrainingDiverged
from infogan_cli.starts import (
    RECORD_NAME,
    StartBegun,
    StartChosen,
    StartFailed,
    _move_run,
    selection_score,
    start_folder,
    start_seeds,
    train_with_starts,
)
from infogan_cli.trainer import TrainFinished, TrainStarted, holds_run, remove_run, train
from tests.conftest import assert_one_error_line, run_main, tiny_config

# 1024 fake images in batches of 64: 16 steps an epoch; the starts train 1 epoch, the run 2.
TWO_EPOCHS = dict(epochs=2, max_steps=None, batch_size=64, log_every=4, checkpoint_every=8)
ONE_EPOCH_STARTS = StartsConfig(count=2, epochs=1)
SMALL = ["--dataset", "fake", "--width", "4", "--noise-dim", "8", "--batch-size", "64", "--log-every", "4", "--device", "cpu"]


def run_all(events) -> list:
    return list(events)


def weights(path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path).tensors


def assert_same_weights(a, b) -> None:
    a, b = weights(a), weights(b)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


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
    straight = [{"step": s, "epoch": s / 16, "mi_real": v} for s, v in ((4, 1.0), (8, 2.0), (12, 3.0), (16, 4.0))]
    # Stopped at step 5, then resumed: steps 5-8 are now two lines whose step-weighted mean is 2.0.
    stopped = straight[:1] + [{"step": 5, "epoch": 5 / 16, "mi_real": 1.25}, {"step": 8, "epoch": 0.5, "mi_real": 2.25}] + straight[2:]
    write_lines(tmp_path / "a", straight)
    write_lines(tmp_path / "b", stopped)
    assert selection_score(tmp_path / "a", 1) == pytest.approx(2.5)
    assert selection_score(tmp_path / "b", 1) == pytest.approx(2.5)


def test_several_starts_choose_the_best_score_and_equal_the_plain_run_of_its_seed(tmp_path):
    config = tiny_config(**TWO_EPOCHS, seed=3)
    out = tmp_path / "run"
    events = run_all(train_with_starts(config, out, ONE_EPOCH_STARTS))

    begun = [e for e in events if isinstance(e, StartBegun)]
    assert [(e.index, e.count, e.seed, e.epochs) for e in begun] == [(1, 2, 3, 1), (2, 2, 1003, 1)]
    chosen = next(e for e in events if isinstance(e, StartChosen))
    assert set(chosen.scores) == {3, 1003} and chosen.seed == max(chosen.scores, key=chosen.scores.get)
    other = 1003 if chosen.seed == 3 else 3
    # The scores are what the starts logged: the other start's folder stays; the chosen one's
    # metrics moved into the run folder.
    assert chosen.scores[other] == pytest.approx(selection_score(start_folder(out, other), 1))
    assert chosen.scores[chosen.seed] == pytest.approx(selection_score(out, 1))
    assert not start_folder(out, chosen.seed).exists()
    assert (start_folder(out, other) / "last.safetensors").exists()
    # The run continued from the chosen start to its own 2 epochs.
    final = [e for e in events if isinstance(e, TrainStarted)][-1]
    assert (final.out_dir, final.seed, final.start_step, final.total_steps) == (out, chosen.seed, 16, 32)
    assert json.loads((out / "config.json").read_text())["seed"] == chosen.seed
    record = json.loads((out / RECORD_NAME).read_text())
    assert record["chosen"] == chosen.seed and record["seed"] == 3 and (record["count"], record["epochs"]) == (2, 1)
    assert {s["seed"]: s["mi_real"] for s in record["starts"]} == pytest.approx(chosen.scores)

    # Exactly the plain run of the chosen seed: same weights, optimizer state and metric lines.
    plain = tmp_path / "plain"
    run_all(train(tiny_config(**TWO_EPOCHS, seed=chosen.seed), plain))
    assert_same_weights(out / "last.safetensors", plain / "last.safetensors")
    strip = lambda path: [{k: v for k, v in json.loads(line).items() if k != "images_per_s"} for line in path.read_text().splitlines()]  # noqa: E731
    assert strip(out / "metrics.jsonl") == strip(plain / "metrics.jsonl")


def test_one_start_is_the_plain_run(tmp_path):
    config = tiny_config(**TWO_EPOCHS)
    run_all(train_with_starts(config, tmp_path / "one", StartsConfig(count=1)))
    run_all(train(config, tmp_path / "plain"))
    assert not (tmp_path / "one" / RECORD_NAME).exists() and not (tmp_path / "one" / "starts").exists()
    assert_same_weights(tmp_path / "one" / "last.safetensors", tmp_path / "plain" / "last.safetensors")


def stop_after(polls: int):
    count = [0]

    def should_stop() -> bool:
        count[0] += 1
        return count[0] >= polls

    return should_stop


@pytest.mark.parametrize("stop_at", [5, 20, 40])  # in the first start, the second, and the run
def test_an_interrupted_run_resumes_where_it_stopped_to_the_same_result(tmp_path, stop_at):
    config = tiny_config(**TWO_EPOCHS)
    straight = tmp_path / "straight"
    run_all(train_with_starts(config, straight, ONE_EPOCH_STARTS))

    out = tmp_path / "stopped"
    events = run_all(train_with_starts(config, out, ONE_EPOCH_STARTS, should_stop=stop_after(stop_at)))
    assert events[-1].interrupted and holds_run(out)
    resumed = run_all(train_with_starts(config, out, None, resume=True))
    assert isinstance(resumed[-1], TrainFinished) and not resumed[-1].interrupted
    assert json.loads((out / RECORD_NAME).read_text())["chosen"] == json.loads((straight / RECORD_NAME).read_text())["chosen"]
    assert_same_weights(out / "last.safetensors", straight / "last.safetensors")


def test_a_move_cut_short_is_finished_by_the_next(tmp_path):
    source, target = tmp_path / "start", tmp_path / "run"
    run_all(train(tiny_config(), source))
    expected = {p.relative_to(source): p.read_bytes() for p in source.rglob("*") if p.is_file()}
    (target / "checkpoints").mkdir(parents=True)
    for path in (source / "checkpoints").iterdir():  # the move was cut short after the checkpoints
        path.rename(target / "checkpoints" / path.name)
    (source / "checkpoints" / ".step-000009.safetensors.x1y2.tmp").write_bytes(b"half")  # a write cut short
    _move_run(source, target)
    assert {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()} == expected
    assert not source.exists()
    _move_run(source, target)  # nothing left to move: a no-op


def test_a_diverging_start_is_left_out(tmp_path, monkeypatch):
    real_train = starts_module.train

    def train_that_diverges_for_1000(config, out_dir, *args):
        if config.seed == 1000:
            raise TrainingDiverged("loss_d became nan at step 3")
        yield from real_train(config, out_dir, *args)

    monkeypatch.setattr(starts_module, "train", train_that_diverges_for_1000)
    out = tmp_path / "run"
    events = run_all(train_with_starts(tiny_config(**TWO_EPOCHS), out, ONE_EPOCH_STARTS))
    assert [e.seed for e in events if isinstance(e, StartFailed)] == [1000]
    chosen = next(e for e in events if isinstance(e, StartChosen))
    assert chosen.seed == 0 and chosen.scores[1000] is None
    record = json.loads((out / RECORD_NAME).read_text())
    assert record["starts"][1]["failed"] == "loss_d became nan at step 3"

    monkeypatch.setattr(starts_module, "train", lambda config, *args: (_ for _ in ()).throw(TrainingDiverged("nan")))
    with pytest.raises(TrainingDiverged, match="none of the 2 starts"):
        run_all(train_with_starts(tiny_config(**TWO_EPOCHS), tmp_path / "all", ONE_EPOCH_STARTS))


@pytest.mark.parametrize(
    "config,starts,message",
    [
        (dict(max_steps=20), ONE_EPOCH_STARTS, "--starts and --max-steps exclude each other"),
        (dict(epochs=1), ONE_EPOCH_STARTS, "--starts needs --epochs above --start-epochs (1), got 1"),
        (dict(epochs=2), StartsConfig(count=2, epochs=2), "--starts needs --epochs above --start-epochs (2), got 2"),
    ],
)
def test_new_runs_that_cannot_choose_are_refused_before_training(tmp_path, config, starts, message):
    with pytest.raises(ConfigError) as caught:
        run_all(train_with_starts(tiny_config(**{**TWO_EPOCHS, **config}), tmp_path / "run", starts))
    assert message in caught.value.message
    assert not (tmp_path / "run").exists()


def test_run_folders_with_starts_are_kept_unless_overwritten(tmp_path):
    out = tmp_path / "run"
    config = tiny_config(**TWO_EPOCHS)
    stopped = run_all(train_with_starts(config, out, ONE_EPOCH_STARTS, should_stop=stop_after(3)))
    assert stopped[-1].interrupted and not (out / "config.json").exists()  # only starts.json and a start so far
    with pytest.raises(ConfigError, match="already holds a run"):
        run_all(train_with_starts(config, out, ONE_EPOCH_STARTS))
    with pytest.raises(ConfigError, match="already holds a run"):
        run_all(train(config, out))
    with pytest.raises(ConfigError, match="--starts and --start-epochs cannot change when resuming"):
        run_all(train_with_starts(config, out, StartsConfig(count=3, epochs=1), resume=True))
    (out / "starts" / "notes.txt").write_text("mine")
    run_all(train_with_starts(config, out, ONE_EPOCH_STARTS, overwrite=True))
    assert (out / "starts" / "notes.txt").read_text() == "mine"
    remove_run(out)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["starts", "starts/notes.txt"]


def test_a_leftover_start_folder_is_not_taken_for_a_start(tmp_path):
    out = tmp_path / "run"
    run_all(train(tiny_config(), start_folder(out, 1000)))
    with pytest.raises(ConfigError, match="already holds a run"):
        run_all(train_with_starts(tiny_config(**TWO_EPOCHS), out, ONE_EPOCH_STARTS))


def test_a_plain_run_cannot_gain_starts_on_resume(tmp_path):
    out = tmp_path / "run"
    run_all(train(tiny_config(**TWO_EPOCHS), out))
    with pytest.raises(ConfigError, match="--starts cannot change when resuming"):
        run_all(train_with_starts(tiny_config(**TWO_EPOCHS), out, ONE_EPOCH_STARTS, resume=True))


def test_an_unreadable_record_is_a_checkpoint_error(tmp_path):
    (tmp_path / RECORD_NAME).write_text('{"schema": 1, "count": "two"}')
    with pytest.raises(CheckpointError, match="is not a readable record of starts"):
        run_all(train_with_starts(tiny_config(**TWO_EPOCHS), tmp_path, None, resume=True))


# ----------------------------------------------------------------------------- the command


def test_cli_shows_each_start_and_the_choice(capsys, tmp_path):
    out = tmp_path / "run"
    code, _, err = run_main(capsys, "train", *SMALL, "--epochs", "2", "--starts", "2", "--start-epochs", "1", "--out", str(out))
    assert code == 0, err
    record = json.loads((out / RECORD_NAME).read_text())
    assert "start 1/2: seed 0, 1 epochs" in err and "start 2/2: seed 1000, 1 epochs" in err
    scores = ", ".join(f"seed {s['seed']} {s['mi_real']:.3f}" for s in record["starts"])
    assert f"chose seed {record['chosen']}: Q's information on real images over the last epoch, nats: {scores}" in err
    assert f"seed {record['chosen']} | batch 64 | 16 steps/epoch | resuming at step 16 with epochs 1 -> 2" in err
    assert "done: 32 steps" in err and (out / "metrics.png").exists()

    # Resumed at its end: nothing to train, as for a plain run.
    code, _, err = run_main(capsys, "train", "--out", str(out), "--resume")
    assert code == 0 and "nothing to train" in err


@pytest.mark.parametrize(
    "args,message",
    [
        (["--epochs", "2", "--starts", "2", "--max-steps", "5"], "--starts and --max-steps exclude each other"),
        (["--epochs", "2", "--starts", "0"], "Invalid value for '--starts'"),
        (["--epochs", "2", "--starts", "2", "--start-epochs", "2"], "--starts needs --epochs above --start-epochs (2), got 2"),
    ],
)
def test_cli_refuses_bad_starts_in_one_line(capsys, tmp_path, args, message):
    code, _, err = run_main(capsys, "train", *SMALL, *args, "--out", str(tmp_path / "run"))
    if code == 2 and err.startswith("error: "):
        assert_one_error_line(code, err)
    assert code == 2 and message in err and "Traceback" not in err
    assert not any((tmp_path / "run").rglob("*"))  # nothing written
