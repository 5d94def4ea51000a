"""Several starts, one run: ``count`` seeds train a few epochs each, the one whose Q reads the
most information from real images (``mi_real``, no labels needed) trains on to the end.

Why: whether a run finds ten digits or merges two is mostly settled early, and Q's information on
real images over epoch 2 picked the better of two seeds in most pairs of 3- and 5-epoch screens
(docs/study.md; at 10 epochs of fp32, where the seeds differed by under a point, it did not). The chosen
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
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .checkpoint import latest_intact_checkpoint
from .config import RESUMABLE, RESUME_LENGTH, StartsConfig, TrainConfig, resumed_config, train_from_dict
from .errors import ConfigError, TrainingDiverged
from .runtime import distributed_context
from .start_record import (
    RECORD_NAME,
    RECORD_SCHEMA,
    SCORE,
    STARTS_FOLDER,
    read_record,
    selection_score,
    start_folder,
    start_seeds,
    write_record,
)
from .trainer import RUN_FILES, Event, TrainFinished, TrainStarted, holds_run, remove_run, train


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
        if holds_run(out_dir) and (starts not in (None, 1) or start_epochs is not None):
            raise ConfigError(
                f"--starts and --start-epochs cannot be added when resuming: the run in {out_dir} was trained from one start",
                hint="drop them, or start a new run with a fresh --out",
            )
        yield from train(config, out_dir, True, should_stop, detect_anomaly, given)  # an empty folder: "nothing to resume"
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
            # None until the first start has passed the trainer's checks (data, device, batch
            # size): _recorded_when_training then writes the record, so a run refused at its start
            # leaves nothing behind.
            "config": None,
        }
        yield from _choose_and_train(config, out_dir, record, warnings, should_stop, detect_anomaly)
        return
    recorded = StartsConfig(record["count"], record["epochs"])
    if (starts is not None and starts != recorded.count) or (start_epochs is not None and start_epochs != recorded.epochs):
        raise ConfigError(
            f"--starts and --start-epochs cannot change when resuming: the run has {recorded.count} starts of {recorded.epochs} epochs",
            hint="drop --starts and --start-epochs, or start a new run with a fresh --out",
        )
    if distributed_context().enabled:
        raise ConfigError("a run with --starts trains in one process, not under torchrun", hint="resume it without torchrun")
    if record["chosen"] is not None and config.seed == record["chosen"]:  # --seed as config.json shows it, or as given
        config = dataclasses.replace(config, seed=record["seed"])
    base, _ = resumed_config(train_from_dict(record["config"]), config, RESUME_LENGTH if given is None else given)
    if record["chosen"] is None:
        _check_choice_possible(base, recorded)
        yield from _choose_and_train(base, out_dir, record, [], should_stop, detect_anomaly)
        return
    # Chosen: finish moving its start in (a hard kill may have cut the move short), then go on
    # with the run's own settings, from the start's checkpoint until the run writes its own.
    move_run(start_folder(out_dir, record["chosen"]), out_dir)
    yield from _run_on(base, out_dir, record, should_stop, detect_anomaly)


def _check_choice_possible(config: TrainConfig, plan: StartsConfig) -> None:
    """What a run needs until its starts are chosen."""
    if distributed_context().enabled:
        raise ConfigError("--starts trains in one process, not under torchrun", hint="drop --starts, or train without torchrun")
    if not config.latent.categorical:
        raise ConfigError("--starts needs a categorical code: the choice reads Q's categorical answers on real images")
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
    # The starts train at the full rates, so the run is its chosen seed's plain run only if its
    # rates are still full when the starts end.
    full_rate_epochs = max(config.epochs - config.lr_decay_epochs, 0)  # a decay longer than the run spans all of it
    if full_rate_epochs < plan.epochs:
        raise ConfigError(
            f"--starts needs the learning-rate decay to begin after the {plan.epochs}-epoch starts: "
            f"--lr-decay-epochs {config.lr_decay_epochs} of --epochs {config.epochs} begins in epoch {full_rate_epochs + 1}",
            hint=f"use --lr-decay-epochs {config.epochs - plan.epochs} or less, or raise --epochs",
        )


def _clear_for_new_run(out_dir: Path, seeds: list[int], overwrite: bool) -> list[str]:
    """Refuse a folder that holds a run, or a start of one that has a checkpoint, unless
    ``overwrite``, which removes its files; returns the warnings to show. A start folder without
    an intact checkpoint (a kill just before the record was written) is cleared."""
    warnings = []
    started = [start_folder(out_dir, seed) for seed in seeds if holds_run(start_folder(out_dir, seed))]
    kept = [folder for folder in started if latest_intact_checkpoint(folder)[0] is not None]
    if holds_run(out_dir) or kept:
        if not overwrite:
            if holds_run(out_dir):
                raise ConfigError(f"{out_dir} already holds a run: continue it with --resume, or pass a fresh --out (--overwrite replaces it)")
            raise ConfigError(
                f"{kept[0]} holds a start of an earlier run whose {RECORD_NAME} is missing",
                hint="pass a fresh --out, or --overwrite to replace it",
            )
        remove_run(out_dir)
        warnings.append(f"--overwrite: removed the previous run's files from {out_dir}")
    for folder in started:
        if folder.exists() and holds_run(folder):
            remove_run(folder)
            warnings.append(f"removed {folder}: a start killed before its first checkpoint")
    return warnings


def _recorded_when_training(events: Iterator[Event], out_dir: Path, record: dict[str, Any], config: TrainConfig) -> Iterator[Event]:
    """Pass a training's events through; once it has passed the trainer's checks and has steps to
    train, write ``record`` with ``config`` (what a later --resume starts from). A resume that is
    refused, or has nothing to train, leaves the record as it was."""
    for event in events:
        if isinstance(event, TrainStarted) and event.start_step < event.total_steps and record["config"] != config.to_dict():
            record["config"] = config.to_dict()
            out_dir.mkdir(parents=True, exist_ok=True)
            write_record(out_dir, record)
        yield event


def _choose_and_train(
    base: TrainConfig,
    out_dir: Path,
    record: dict[str, Any],
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
        notes, warnings = warnings, []
        resume_start = holds_run(folder) and latest_intact_checkpoint(folder)[0] is not None
        if holds_run(folder) and not resume_start:  # killed before its first checkpoint
            remove_run(folder)
            notes.append(f"{folder} had no intact checkpoint: this start trains again from step 0")
        # A start trains at the full rates (the run's decay begins after it, _check_choice_possible),
        # so it is the first epochs of its seed's plain run; the run's resume brings the decay back.
        start_config = dataclasses.replace(base, seed=seed, epochs=epochs, max_steps=None, lr_decay_epochs=0)
        # A start resumed takes the run's resumable settings (device, precision, ...), as the run will.
        events = _recorded_when_training(train(start_config, folder, resume_start, should_stop, detect_anomaly, RESUMABLE), out_dir, record, base)
        try:
            for event in events:
                if isinstance(event, TrainStarted):
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
        write_record(out_dir, record)  # each result as it comes: a --resume does not train it again
        yield StartDone(index, count, seed, score, failed)
    scores = {start["seed"]: start.get(SCORE) for start in record["starts"]}
    ranked = [seed for seed, score in scores.items() if score is not None]
    if not ranked:
        failures = "; ".join(f"seed {start['seed']}: {start.get('failed')}" for start in record["starts"])
        raise TrainingDiverged(
            f"none of the {count} starts trained to a score ({failures})",
            hint="start again with --overwrite or a fresh --out, with lower learning rates or lambdas",
        )
    chosen = max(ranked, key=lambda seed: scores[seed])  # ties: the earlier start
    record["chosen"] = chosen
    write_record(out_dir, record)  # before the move, so that a move cut short is finished on --resume
    yield StartChosen(chosen, scores, out_dir / RECORD_NAME)
    move_run(start_folder(out_dir, chosen), out_dir)
    yield from _run_on(base, out_dir, record, should_stop, detect_anomaly)


def _run_on(base: TrainConfig, out_dir: Path, record: dict[str, Any], should_stop: Callable[[], bool], detect_anomaly: bool) -> Iterator[Event]:
    """The chosen start, now in the run folder, trained on to the run's own length."""
    run = train(dataclasses.replace(base, seed=record["chosen"]), out_dir, True, should_stop, detect_anomaly, RESUMABLE)
    yield from _recorded_when_training(run, out_dir, record, base)


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
