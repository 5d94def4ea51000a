"""The record of a run trained from several starts (``infogan train --starts K``): where the starts
live, their seeds, how each is scored, and RUN_DIR/starts.json, which holds the scores and the
choice. No torch here: ``infogan plot`` reads it too.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .config import START_SEED_STRIDE, StartsConfig, train_from_dict
from .errors import CheckpointError, InfoganError
from .files import atomic_write_bytes

RECORD_NAME = "starts.json"
RECORD_SCHEMA = 1
STARTS_FOLDER = "starts"  # one run folder per start: starts/seed-<seed>
SCORE = "mi_real"  # the metric the choice maximises, averaged over the steps of the starts' last epoch


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
        for start in record["starts"]:
            score, failed = start.get(SCORE), start.get("failed")
            if score is not None and not (isinstance(score, (int, float)) and not isinstance(score, bool) and math.isfinite(score)):
                raise ValueError(f"the score of seed {start['seed']} is {score!r}, not a number")
            if failed is not None and not isinstance(failed, str):
                raise ValueError(f"the failure of seed {start['seed']} is {failed!r}, not a message")
        record["config"] = train_from_dict(record["config"]).to_dict()
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError, InfoganError) as exc:
        reason = exc.message if isinstance(exc, InfoganError) else f"{type(exc).__name__}: {exc}"
        raise CheckpointError(f"{path} is not a readable record of starts ({reason})", hint="start the run again with --overwrite") from None
    return record


def write_record(out_dir: Path, record: dict[str, Any]) -> None:
    atomic_write_bytes(out_dir / RECORD_NAME, (json.dumps(record, indent=2) + "\n").encode())
