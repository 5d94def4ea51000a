"""Several starts, one run: ``count`` seeds train a few epochs each, the one whose Q reads the
most information from real images (``mi_real``, no labels needed) trains on to the end.

Why: whether a run finds ten digits or merges two is mostly settled early, and Q's information on
real images over epoch 2 picks the better of two seeds in most pairs (docs/study.md). The chosen
start's files move into the run folder and it resumes there, so the run is exactly the plain run
of its seed (``infogan train --seed <chosen>``). RUN_DIR/starts.json records the choice, and the
other starts stay in RUN_DIR/starts/seed-<seed>/ to look at.

Steps, each safe to interrupt (``--resume`` goes on from where it stopped):
1. starts.json is written with the run's config and the start seeds;
2. each start trains in its own folder (resumed if it has begun);
3. the scores and the chosen seed are written to starts.json;
4. the chosen start's files move into the run folder (finished on resume if cut short);
5. the run resumes there, to its own length.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import RESUMABLE, StartsConfig, TrainConfig, resumed_config, train_from_dict
from .errors import CheckpointError, ConfigError, TrainingDiverged
from .files import atomic_write_bytes
from .runtime import distributed_context
from .trainer import RUN_FILES, STARTS_FOLDER, Event, TrainFinished, holds_run, remove_run, train

RECORD_NAME = "starts.json"
RECORD_SCHEMA = 1
START_SEED_STRIDE = 1000  # start i of --seed S trains with seed S + 1000 i: runs of seeds 0-999 share no start
SCORE = "mi_real"  # the metric the choice maximises, averaged over the steps of the starts' last epoch


@dataclass
class StartBegun:
    """A start is about to train (its own TrainStarted ... TrainFinished follow)."""

    index: int  # 1-based
    count: int
    seed: int
    epochs: int
    out_dir: Path


@dataclass
class StartFailed:
    """A start diverged (NaN or Inf); it is left out of the choice."""

    seed: int
    message: str


@dataclass
class StartChosen:
    """The choice: the run resumes from this seed's start (its TrainStarted follows)."""

    seed: int
    scores: dict[int, float | None]  # seed -> mean mi_real over the steps of the starts' last epoch; None: failed
    record: Path


def start_seeds(seed: int, count: int) -> list[int]:
    """The seeds of the starts: --seed itself first, so one start is the plain run."""
    return [(seed + START_SEED_STRIDE * index) % 2**63 for index in range(count)]


def start_folder(out_dir: Path, seed: int) -> Path:
    return out_dir / STARTS_FOLDER / f"seed-{seed}"


def selection_score(run_dir: Path, epoch: int) -> float | None:
    """The mean ``mi_real`` over the steps of epoch ``epoch`` (1-based) of a run, from its
    metrics.jsonl: each line is the mean over the steps since the line before, so it counts by
    the steps of the epoch it covers. Lines written at an interruption split an interval without
    changing this mean. None if no line covers the epoch."""
    path = run_dir / "metrics.jsonl"
    lines = []
    for text in path.read_text().splitlines() if path.exists() else []:
        try:
            metrics = json.loads(text)
            lines.append((int(metrics["step"]), float(metrics["epoch"]), float(metrics[SCORE])))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue  # a line cut short by a hard kill, or one of another kind
    total = weight = 0.0
    previous = 0
    for step, progress, value in sorted(lines):
        steps_per_epoch = step / progress if progress > 0 else 0
        first, last = (epoch - 1) * steps_per_epoch, epoch * steps_per_epoch
        covered = max(0.0, min(step, last) - max(previous, first))
        total, weight = total + covered * value, weight + covered
        previous = step
    return total / weight if weight > 0 else None


def read_record(out_dir: Path) -> dict[str, Any] | None:
    """The run's starts.json, or None if it was trained from one start."""
    path = out_dir / RECORD_NAME
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
        if record.get("schema") != RECORD_SCHEMA:
            raise ValueError(f"schema {record.get('schema')!r}, not {RECORD_SCHEMA}")
        StartsConfig(record["count"], record["epochs"])
        [int(start["seed"]) for start in record["starts"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError, ConfigError) as exc:
        raise CheckpointError(f"{path} is not a readable record of starts ({exc})", hint="start the run again with --overwrite") from None
    return record


def _write_record(out_dir: Path, record: dict[str, Any]) -> None:
    atomic_write_bytes(out_dir / RECORD_NAME, (json.dumps(record, indent=2) + "\n").encode())


def train_with_starts(
    config: TrainConfig,
    out_dir: str | Path,
    starts: StartsConfig | None = None,
    resume: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    detect_anomaly: bool = False,
    given: Iterable[str] | None = None,
    overwrite: bool = False,
) -> Iterator[Event | StartBegun | StartFailed | StartChosen]:
    """``trainer.train`` from ``starts.count`` starts (None: as given when the run began, else
    one). Yields the trainer's events of each start and of the run, with StartBegun before each
    start, StartFailed for a start that diverged and StartChosen once the choice is made. One start
    is exactly ``trainer.train``. ``resume`` continues a run where it stopped, whichever step it
    was in; ``given`` is as for ``trainer.train``."""
    out_dir = Path(out_dir)
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite exclude each other", hint="--resume continues the run in --out; --overwrite starts it again")
    record = read_record(out_dir) if resume else None
    if record is None:
        if resume:
            if starts is not None and starts.count > 1:
                raise ConfigError(
                    f"--starts cannot change when resuming: the run in {out_dir} was trained from one start",
                    hint="drop --starts, or start a new run with a fresh --out",
                )
            yield from train(config, out_dir, True, should_stop, detect_anomaly, given)
            return
        starts = starts or StartsConfig()
        if starts.count == 1:
            yield from train(config, out_dir, False, should_stop, detect_anomaly, given, overwrite)
            return
        _check_new(config, out_dir, starts, overwrite)
        base = config
        record = {
            "schema": RECORD_SCHEMA,
            "seed": config.seed,
            "count": starts.count,
            "epochs": starts.epochs,
            "score": f"mean {SCORE} (nats) over the steps of each start's last epoch",
            "starts": [{"seed": seed, "folder": f"{STARTS_FOLDER}/seed-{seed}", SCORE: None} for seed in start_seeds(config.seed, starts.count)],
            "chosen": None,
            "config": base.to_dict(),
        }
        out_dir.mkdir(parents=True, exist_ok=True)
        _write_record(out_dir, record)
    else:
        recorded = StartsConfig(record["count"], record["epochs"])
        if starts is not None and starts != recorded:
            raise ConfigError(
                f"--starts and --start-epochs cannot change when resuming: the run has {recorded.count} starts of {recorded.epochs} epochs",
                hint="drop --starts and --start-epochs, or start a new run with a fresh --out",
            )
        if record["chosen"] is not None:  # chosen: finish moving the start in, then resume the run
            _move_run(start_folder(out_dir, record["chosen"]), out_dir)
            yield from train(config, out_dir, True, should_stop, detect_anomaly, given)
            return
        try:
            base = train_from_dict(record["config"])
        except (ConfigError, TypeError) as exc:
            raise CheckpointError(f"{out_dir / RECORD_NAME} holds an invalid config ({exc})", hint="start the run again with --overwrite") from None
        base, _ = resumed_config(base, config, RESUMABLE if given is None else given)
        record["config"] = base.to_dict()
        _write_record(out_dir, record)
    yield from _choose_and_train(base, out_dir, record, should_stop, detect_anomaly)


def _check_new(config: TrainConfig, out_dir: Path, starts: StartsConfig, overwrite: bool) -> None:
    """What a new several-start run needs before its first start trains."""
    if distributed_context().enabled:
        raise ConfigError("--starts runs in one process, not under torchrun", hint="drop --starts, or train without torchrun")
    if config.max_steps is not None:
        raise ConfigError(
            "--starts and --max-steps exclude each other: the starts are compared after whole epochs",
            hint="set the run's length with --epochs",
        )
    if config.epochs <= starts.epochs:
        raise ConfigError(
            f"--starts needs --epochs above --start-epochs ({starts.epochs}), got {config.epochs}",
            hint="raise --epochs or lower --start-epochs",
        )
    if holds_run(out_dir) or any(holds_run(start_folder(out_dir, seed)) for seed in start_seeds(config.seed, starts.count)):
        if not overwrite:
            raise ConfigError(f"{out_dir} already holds a run: continue it with --resume, or pass a fresh --out (--overwrite replaces it)")
        remove_run(out_dir)


def _choose_and_train(
    base: TrainConfig, out_dir: Path, record: dict[str, Any], should_stop: Callable[[], bool], detect_anomaly: bool
) -> Iterator[Event | StartBegun | StartFailed | StartChosen]:
    seeds = [int(start["seed"]) for start in record["starts"]]
    epochs = record["epochs"]
    failed: dict[int, str] = {}
    for index, seed in enumerate(seeds, 1):
        folder = start_folder(out_dir, seed)
        start_config = dataclasses.replace(base, seed=seed, epochs=epochs, max_steps=None)
        yield StartBegun(index, len(seeds), seed, epochs, folder)
        try:
            # A start resumed takes the run's resumable settings (device, precision, ...), as the run will.
            for event in train(start_config, folder, holds_run(folder), should_stop, detect_anomaly, RESUMABLE):
                yield event
                if isinstance(event, TrainFinished) and event.interrupted:
                    return
        except TrainingDiverged as exc:
            failed[seed] = exc.message
            yield StartFailed(seed, exc.message)
    scores = {seed: None if seed in failed else selection_score(start_folder(out_dir, seed), epochs) for seed in seeds}
    ranked = [seed for seed in seeds if scores[seed] is not None]
    if not ranked:
        raise TrainingDiverged(
            f"none of the {len(seeds)} starts trained to a score: {'; '.join(f'seed {s}: {m}' for s, m in failed.items()) or 'no metric lines'}",
            hint="lower the learning rates or lambdas",
        )
    chosen = max(ranked, key=lambda seed: scores[seed])  # ties: the earlier start
    for start in record["starts"]:
        start[SCORE] = scores[int(start["seed"])]
        if int(start["seed"]) in failed:
            start["failed"] = failed[int(start["seed"])]
    record["chosen"] = chosen
    _write_record(out_dir, record)  # before the move, so an interrupted move is finished on resume
    yield StartChosen(chosen, scores, out_dir / RECORD_NAME)
    _move_run(start_folder(out_dir, chosen), out_dir)
    yield from train(dataclasses.replace(base, seed=chosen), out_dir, True, should_stop, detect_anomaly, RESUMABLE)


def _move_run(source: Path, target: Path) -> None:
    """Move a run's own files (RUN_FILES) from ``source`` into ``target`` by renames, checkpoints
    first and config.json last, then remove ``source`` where that empties it. Safe to repeat: a
    move cut short is finished by the next call."""
    order = [folder for folder in RUN_FILES if folder != "."] + ["."]
    for folder in order:
        names = sorted(RUN_FILES[folder], key=lambda name: name == "config.json")  # config.json last
        for pattern in names:
            for path in sorted((source / folder).glob(pattern)) if (source / folder).is_dir() else []:
                if path.is_file() and not path.is_symlink():
                    (target / folder).mkdir(parents=True, exist_ok=True)
                    os.replace(path, target / folder / path.name)
    remove_run(source)  # what is left: temporaries of writes cut short, emptied folders
    try:
        source.rmdir()
    except OSError:  # missing, or holds files that are not the run's
        pass
