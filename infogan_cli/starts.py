"""Several starts, one run: ``count`` seeds train a few epochs each, the one whose Q reads the
most information from real images (``mi_real``, no labels needed) trains on to the end.

Why: whether a run finds ten digits or merges two is mostly settled early, and Q's information on
real images over epoch 2 picks the better of two seeds in most pairs (docs/study.md). The chosen
start's files move into the run folder and it resumes there, so the run trains the same weights as
the plain run of its seed (``infogan train --seed <chosen>``). RUN_DIR/starts.json records the
choice, and the other starts stay in RUN_DIR/starts/seed-<seed>/ to look at.

Steps, each safe to interrupt, also by a hard kill (``--resume`` goes on from where it stopped):
1. the first start passes the trainer's checks, then starts.json is written (config, seeds);
2. each start trains in its own folder (on resume: from its newest intact checkpoint, or again from
   step 0 if it has none), and its score (or failure) goes into starts.json as it ends;
3. the chosen seed goes into starts.json;
4. the chosen start's files move into the run folder (a move cut short is finished on resume);
5. the run resumes there, with the run's settings, to its own length.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .checkpoint import latest_intact_checkpoint
from .config import RESUMABLE, RESUME_LENGTH, START_SEED_STRIDE, StartsConfig, TrainConfig, resumed_config, train_from_dict
from .errors import CheckpointError, ConfigError, InfoganError, TrainingDiverged
from .files import atomic_write_bytes
from .runtime import distributed_context
from .trainer import RUN_FILES, STARTS_FOLDER, Event, TrainFinished, TrainStarted, holds_run, remove_run, train

RECORD_NAME = "starts.json"
RECORD_SCHEMA = 1
SCORE = "mi_real"  # the metric the choice maximises, averaged over the steps of the starts' last epoch


@dataclass
class StartBegun:
    """A start is about to train: its own TrainStarted ... TrainFinished follow."""

    index: int  # 1-based
    count: int
    seed: int
    epochs: int
    out_dir: Path


@dataclass
class StartDone:
    """A start's result: its score, or why it has none (it diverged). Also for a start that was
    done before a --resume."""

    index: int
    count: int
    seed: int
    score: float | None
    failed: str | None = None


@dataclass
class StartChosen:
    """The choice: the run goes on from this seed's start (its TrainStarted follows)."""

    seed: int
    scores: dict[int, float | None]  # seed -> mean mi_real over the steps of the starts' last epoch; None: failed
    record: Path


StartsEvent = Event | StartBegun | StartDone | StartChosen


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
    """The run's starts.json, checked, or None if the run was trained from one start."""
    path = out_dir / RECORD_NAME
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
        if record["schema"] != RECORD_SCHEMA:
            raise ValueError(f"schema {record['schema']!r}, not {RECORD_SCHEMA}")
        StartsConfig(record["count"], record["epochs"])
        seeds = [start["seed"] for start in record["starts"]]
        if len(seeds) != record["count"] or not all(isinstance(seed, int) and not isinstance(seed, bool) for seed in seeds):
            raise ValueError("the starts do not match their count")
        if record["chosen"] is not None and record["chosen"] not in seeds:
            raise ValueError(f"the chosen seed {record['chosen']!r} is not a start")
        record["config"] = train_from_dict(record["config"]).to_dict()
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError, InfoganError) as exc:
        reason = exc.message if isinstance(exc, InfoganError) else f"{type(exc).__name__}: {exc}"
        raise CheckpointError(f"{path} is not a readable record of starts ({reason})", hint="start the run again with --overwrite") from None
    return record


def _write_record(out_dir: Path, record: dict[str, Any]) -> None:
    atomic_write_bytes(out_dir / RECORD_NAME, (json.dumps(record, indent=2) + "\n").encode())


def train_with_starts(
    config: TrainConfig,
    out_dir: str | Path,
    starts: int | None = None,
    start_epochs: int | None = None,
    resume: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    detect_anomaly: bool = False,
    given: Iterable[str] | None = None,
    overwrite: bool = False,
) -> Iterator[StartsEvent]:
    """``trainer.train`` from ``starts`` starts of ``start_epochs`` epochs each (None: as the run
    began on ``resume``; else StartsConfig's defaults). Yields the trainer's events of each start
    and of the run, with StartBegun before a start trains, StartDone after it and StartChosen
    once the choice is made. One start is ``trainer.train``. ``resume`` goes on where the run
    stopped, whichever step it was in; ``given`` is as for ``trainer.train``."""
    out_dir = Path(out_dir)
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite exclude each other", hint="--resume continues the run in --out; --overwrite starts it again")
    record = read_record(out_dir) if resume else None
    if resume and record is None:
        if starts not in (None, 1) or start_epochs is not None:
            raise ConfigError(
                f"--starts and --start-epochs cannot be added when resuming: the run in {out_dir} was trained from one start",
                hint="drop them, or start a new run with a fresh --out",
            )
        yield from train(config, out_dir, True, should_stop, detect_anomaly, given)
        return
    if record is None:  # a new run
        count = StartsConfig().count if starts is None else starts
        if count == 1:
            if start_epochs is not None:
                raise ConfigError("--start-epochs needs --starts 2 or more", hint="add --starts, or drop --start-epochs")
            yield from train(config, out_dir, False, should_stop, detect_anomaly, given, overwrite)
            return
        plan = StartsConfig(count, StartsConfig().epochs if start_epochs is None else start_epochs)
        _check_choice_possible(config, plan)
        seeds = start_seeds(config.seed, plan.count)
        warnings = _clear_for_new_run(out_dir, seeds, overwrite)
        record = {
            "schema": RECORD_SCHEMA,
            "seed": config.seed,
            "count": plan.count,
            "epochs": plan.epochs,
            "score": f"mean {SCORE} (nats) over the steps of each start's last epoch",
            "starts": [{"seed": seed, "folder": f"{STARTS_FOLDER}/seed-{seed}", SCORE: None} for seed in seeds],
            "chosen": None,
            "config": config.to_dict(),
        }
        # Written once the first start has passed the trainer's checks (data, device, batch size):
        # a run refused at its start leaves nothing behind.
        yield from _choose_and_train(config, out_dir, record, False, warnings, should_stop, detect_anomaly)
        return
    recorded = StartsConfig(record["count"], record["epochs"])
    if (starts is not None and starts != recorded.count) or (start_epochs is not None and start_epochs != recorded.epochs):
        raise ConfigError(
            f"--starts and --start-epochs cannot change when resuming: the run has {recorded.count} starts of {recorded.epochs} epochs",
            hint="drop --starts and --start-epochs, or start a new run with a fresh --out",
        )
    base, _ = resumed_config(train_from_dict(record["config"]), config, RESUME_LENGTH if given is None else given)
    if record["chosen"] is None:
        _check_choice_possible(base, recorded)
    elif distributed_context().enabled:
        raise ConfigError("--starts runs in one process, not under torchrun", hint="resume it without torchrun")
    record["config"] = base.to_dict()  # what a later --resume starts from
    _write_record(out_dir, record)
    if record["chosen"] is None:
        yield from _choose_and_train(base, out_dir, record, True, [], should_stop, detect_anomaly)
        return
    # Chosen: finish moving its start in (a hard kill may have cut the move short), then go on
    # with the run's own settings, from the start's checkpoint until the run writes its own.
    move_run(start_folder(out_dir, record["chosen"]), out_dir)
    yield from train(dataclasses.replace(base, seed=record["chosen"]), out_dir, True, should_stop, detect_anomaly, RESUMABLE)


def _check_choice_possible(config: TrainConfig, plan: StartsConfig) -> None:
    """What a run needs until its starts are chosen."""
    if distributed_context().enabled:
        raise ConfigError("--starts runs in one process, not under torchrun", hint="drop --starts, or train without torchrun")
    if config.max_steps is not None:
        raise ConfigError(
            "--starts and --max-steps exclude each other: the starts are compared after whole epochs",
            hint="set the run's length with --epochs",
        )
    if config.epochs <= plan.epochs:
        raise ConfigError(
            f"--starts needs --epochs above --start-epochs ({plan.epochs}), got {config.epochs}",
            hint="raise --epochs or lower --start-epochs",
        )


def _clear_for_new_run(out_dir: Path, seeds: list[int], overwrite: bool) -> list[str]:
    """Refuse a folder that holds a run or a start of one, unless ``overwrite``, which removes its
    files; returns the warning to show."""
    leftover = [start_folder(out_dir, seed) for seed in seeds if holds_run(start_folder(out_dir, seed))]
    if not holds_run(out_dir) and not leftover:
        return []
    if not overwrite:
        if holds_run(out_dir):
            raise ConfigError(f"{out_dir} already holds a run: continue it with --resume, or pass a fresh --out (--overwrite replaces it)")
        raise ConfigError(
            f"{leftover[0]} holds a start of an earlier run whose {RECORD_NAME} is missing",
            hint="pass a fresh --out, or --overwrite to replace it",
        )
    remove_run(out_dir)
    return [f"--overwrite: removed the previous run's files from {out_dir}"]


def _choose_and_train(
    base: TrainConfig,
    out_dir: Path,
    record: dict[str, Any],
    record_written: bool,
    warnings: list[str],
    should_stop: Callable[[], bool],
    detect_anomaly: bool,
) -> Iterator[StartsEvent]:
    count, epochs = record["count"], record["epochs"]
    for index, start in enumerate(record["starts"], 1):
        seed = start["seed"]
        if start.get(SCORE) is not None or start.get("failed") is not None:  # done before a --resume
            yield StartDone(index, count, seed, start.get(SCORE), start.get("failed"))
            continue
        folder = start_folder(out_dir, seed)
        notes = list(warnings)
        warnings = []
        resume_start = holds_run(folder) and latest_intact_checkpoint(folder)[0] is not None
        if holds_run(folder) and not resume_start:  # killed before its first checkpoint
            remove_run(folder)
            notes.append(f"{folder} had no intact checkpoint: this start trains again from step 0")
        start_config = dataclasses.replace(base, seed=seed, epochs=epochs, max_steps=None)
        # A start resumed takes the run's resumable settings (device, precision, ...), as the run will.
        events = train(start_config, folder, resume_start, should_stop, detect_anomaly, RESUMABLE)
        try:
            for event in events:
                if isinstance(event, TrainStarted):  # the trainer's checks passed
                    if not record_written:
                        out_dir.mkdir(parents=True, exist_ok=True)
                        _write_record(out_dir, record)
                        record_written = True
                    event.warnings[:0] = notes
                    yield StartBegun(index, count, seed, epochs, folder)
                yield event
                if isinstance(event, TrainFinished) and event.interrupted:
                    return
            score = selection_score(folder, epochs)
            failed = None if score is not None else f"no metrics logged in epoch {epochs}"
        except TrainingDiverged as exc:  # raised while training, so after TrainStarted: the record exists
            score, failed = None, exc.message
        start[SCORE] = score
        if failed is not None:
            start["failed"] = failed
        _write_record(out_dir, record)  # each result as it comes: a --resume does not train it again
        yield StartDone(index, count, seed, score, failed)
    scores = {start["seed"]: start.get(SCORE) for start in record["starts"]}
    ranked = [seed for seed, score in scores.items() if score is not None]
    if not ranked:
        failures = "; ".join(f"seed {start['seed']}: {start.get('failed')}" for start in record["starts"])
        raise TrainingDiverged(f"none of the {count} starts trained to a score ({failures})", hint="lower the learning rates or lambdas")
    chosen = max(ranked, key=lambda seed: scores[seed])  # ties: the earlier start
    record["chosen"] = chosen
    _write_record(out_dir, record)  # before the move, so that a move cut short is finished on --resume
    yield StartChosen(chosen, scores, out_dir / RECORD_NAME)
    move_run(start_folder(out_dir, chosen), out_dir)
    yield from train(dataclasses.replace(base, seed=chosen), out_dir, True, should_stop, detect_anomaly, RESUMABLE)


def move_run(source: Path, target: Path) -> None:
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
