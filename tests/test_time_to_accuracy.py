"""benchmarks/time_to_accuracy.py on the `fake` set with a tiny model: the mechanics (scores every
N steps, thresholds reached or null, the stop rules, what the clock leaves out), not the accuracy."""

from __future__ import annotations

import json

import pytest

from conftest import REPO, load_benchmark
from infogan_cli.trainer import CheckpointSaved, StepLogged, TrainFinished

TINY = [
    "--dataset", "fake", "--device", "cpu", "--set", "batch_size=16", "--set", "model.width=4",
    "--set", "model.hidden=16", "--set", "model.q_hidden=8", "--set", "latent.noise_dim=8",
]


@pytest.fixture(scope="module")
def script():
    return load_benchmark("time_to_accuracy")


class FakeClock:
    """A clock that moves only when told to, or by ``tick`` seconds at every reading: exact sums,
    no sleeping."""

    def __init__(self, tick: float = 0.0) -> None:
        self.time = 0.0
        self.tick = tick

    def __call__(self) -> float:
        self.time += self.tick
        return self.time

    def advance(self, seconds: float) -> None:
        self.time += seconds


@pytest.fixture(scope="module")
def four_steps(script, tmp_path_factory):
    """Four steps scored every two: thresholds of 1% (reached at once) and 100% (not reached).
    Timed by a clock that moves one second per reading, so every duration is a whole number."""
    folder = tmp_path_factory.mktemp("tta")
    result_path = folder / "result.json"
    args = [*TINY, "--max-steps", "4", "--every-steps", "2", "--thresholds", "1.0", "0.01", "--result", str(result_path), "--out", str(folder / "run")]
    code = script.main(args, now=FakeClock(tick=1.0))
    assert code == 0
    return json.loads(result_path.read_text()), folder


def test_scores_every_n_steps_and_reports_thresholds(four_steps, capsys) -> None:
    result, folder = four_steps
    assert result["schema"] == 1 and result["split"] == "train" and result["dataset"] == "fake"
    assert result["device"] == "cpu" and result["device_name"]
    assert result["subset_size"] == 1024  # the fake set is smaller than evaluate's 10,000-image subset
    assert [s["step"] for s in result["scores"]] == [2, 4] and result["steps"] == 4 and result["stopped"] == "finished"
    assert result["thresholds"] == [0.01, 1.0]  # sorted
    first = result["scores"][0]
    assert result["reached"]["1"]["step"] == 2 and result["minutes_to_1"] == pytest.approx(first["training_seconds"] / 60)
    assert result["reached"]["100"] is None and result["minutes_to_100"] is None
    assert all(0 <= s["q_accuracy"] <= 1 and s["label_code"] == "c1" for s in result["scores"])
    assert result["best_q_accuracy"] == max(s["q_accuracy"] for s in result["scores"])
    assert result["final_q_accuracy"] == result["scores"][-1]["q_accuracy"]
    assert 0 < first["training_seconds"] < result["scores"][1]["training_seconds"] <= result["training_seconds"]
    # Scoring reads the clock twice (one tick); training, checkpoint writes and scoring are
    # disjoint stretches of the wall clock, which also holds the readings between them.
    assert [s["score_seconds"] for s in result["scores"]] == [1.0, 1.0] and result["scoring_seconds"] == 2.0
    assert result["checkpoint_seconds"] >= 2.0  # two checkpoints scored, each at least a tick
    assert result["training_seconds"] + result["scoring_seconds"] + result["checkpoint_seconds"] < result["wall_seconds"]
    assert result["config"]["checkpoint_every"] == 2 and result["config"]["model"]["width"] == 4
    assert (folder / "run" / "last.safetensors").exists()  # --out keeps the run


def test_table_names_what_was_reached(script, four_steps) -> None:
    text = script.table(four_steps[0])
    assert "excluding Q scoring" in text
    lines = text.splitlines()
    assert any(line.split()[:1] == ["1%"] and line.split()[2] == "2" for line in lines)
    assert any(line.strip().startswith("100%  not reached (best") for line in lines)


def test_max_minutes_stops_at_the_first_step(script, tmp_path) -> None:
    result_path = tmp_path / "r.json"
    # The clock moves a second per reading: past 1e-9 minutes at the first look.
    code = script.main([*TINY, "--max-steps", "50", "--every-steps", "10", "--max-minutes", "1e-9", "--result", str(result_path), "--json"], now=FakeClock(tick=1.0))
    assert code == 0
    result = json.loads(result_path.read_text())
    assert result["stopped"] == "max_minutes" and result["steps"] == 1
    assert [s["step"] for s in result["scores"]] == [1]  # the checkpoint written at the stop is scored


def test_stop_when_reached(script, tmp_path) -> None:
    result_path = tmp_path / "r.json"
    code = script.main([*TINY, "--max-steps", "50", "--every-steps", "2", "--thresholds", "0.01", "--stop-when-reached", "--result", str(result_path)])
    assert code == 0
    result = json.loads(result_path.read_text())
    assert result["stopped"] == "all_thresholds_reached" and result["steps"] == 3  # scored at 2, stopped after step 3
    assert [s["step"] for s in result["scores"]] == [2, 3]


def test_the_clock_leaves_out_the_caller_and_checkpoint_writes(script) -> None:
    fake = FakeClock()
    clock = script.TrainingClock(now=fake)
    so_far = []

    def events():  # a training loop's rhythm: work, log, write a checkpoint, finish, wind down
        fake.advance(1)
        so_far.append(clock.training_seconds())  # the stretch in progress counts
        yield StepLogged(1, 0, {})
        fake.advance(2)
        yield CheckpointSaved(1, REPO)
        fake.advance(4)
        yield TrainFinished(2, 0, 0.1, REPO)
        fake.advance(8)

    for _ in clock.timed(events()):
        so_far.append(clock.training_seconds())
        fake.advance(16)  # scoring, done by the caller while the loop waits
    assert clock.training == 1 + 4 + 8 and clock.checkpoints == 2
    assert so_far == [1, 1, 1, 5] and clock.training_seconds() == 13


def test_the_scorer_scores_as_evaluate_does(script, tmp_path) -> None:
    """The benchmark's Q score of a checkpoint is evaluate's, on the same images: the same label
    code (two categorical codes here) and the same accuracy."""
    import torch

    from infogan_cli.checkpoint import save_checkpoint
    from infogan_cli.config import LatentSpec, ModelConfig, TrainConfig
    from infogan_cli.data import load_dataset
    from infogan_cli.evaluate import evaluate_checkpoint, label_count
    from infogan_cli.infogan import InfoGAN
    from infogan_cli.models import build_models

    spec = LatentSpec(noise_dim=8, categorical=(10, 4), continuous=1)
    config = TrainConfig(latent=spec, model=ModelConfig(width=4, hidden=16, q_hidden=8), dataset="fake")
    torch.manual_seed(0)
    generator, discriminator = build_models(spec, config.model)
    path = save_checkpoint(tmp_path / "two.safetensors", config=config, generator=generator, discriminator=discriminator, step=0, epoch=0)
    test = load_dataset("fake", train=False)
    scored = script.QScorer(test.images, test.labels, label_count(test), torch.device("cpu"))(path)
    evaluated = evaluate_checkpoint(InfoGAN.load(path), test, None, None, n_samples=10, sweep_rows=2)
    assert scored["label_code"] == evaluated.label_code
    assert scored["q_accuracy"] == evaluated.q.accuracy and scored["nmi"] == evaluated.q.nmi


@pytest.mark.parametrize(
    "args,message",
    [
        (["--set", "optimizer.lr=1"], "unknown setting 'optimizer.lr'"),
        (["--set", "latent.categorical=[]"], "no categorical code"),
        (["--set", "learning_rate=1"], "learning_rate"),
        (["--every-steps", "0"], "--every-steps"),
        (["--thresholds", "95"], "fractions"),
    ],
)
def test_bad_settings_are_one_line(script, capsys, tmp_path, args, message) -> None:
    assert script.main([*TINY, *args, "--result", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r.json").exists()
