"""What benchmarks/quality.py and screen.py share: one job (`infogan train`, then `infogan evaluate
--json` on each split asked) with its row cached in its run folder, and many jobs at once.

A job's row is written ok or failed. A rerun returns an ok row with a record of the schema read
here for each split, only evaluates a row whose training finished, and otherwise continues the run
folder from its checkpoint, if any.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from infogan_cli.errors import InfoganError  # noqa: E402
from infogan_cli.evaluate import SCHEMA  # noqa: E402 - the evaluate --json record these scripts read
from infogan_cli.files import atomic_write_bytes  # noqa: E402
from infogan_cli.plot import read_metrics  # noqa: E402
from infogan_cli.runtime import usable_cpus  # noqa: E402

ERROR_LINES = 12  # of a failed job's log, kept in its row
DATA_ROOT = os.environ.get("INFOGAN_DATA_ROOT", str(REPO.parent / "shared" / "data" / "mnist"))  # the default --data-root


class JobFailed(Exception):
    """An infogan command printed what these scripts cannot read."""


def infogan(*args: str, env: dict[str, str] | None = None, log: IO | None = None, capture: bool = False) -> str:
    """`python -m infogan_cli ARGS`: its stdout returned with ``capture``, else it goes to ``log``
    with its stderr (None: this terminal); CalledProcessError if it fails."""
    stdout, stderr = (subprocess.PIPE, log) if capture else (log, subprocess.STDOUT if log else None)
    return subprocess.run([sys.executable, "-m", "infogan_cli", *args], check=True, text=True, env=env, stdout=stdout, stderr=stderr).stdout


def evaluate(checkpoint: Path, flags: list[str], env: dict[str, str] | None = None, log: IO | None = None) -> dict:
    """`infogan evaluate CHECKPOINT FLAGS --json`, refused unless it is the record version read here."""
    record = json.loads(infogan("evaluate", str(checkpoint), *flags, "--json", env=env, log=log, capture=True))
    if record.get("schema") != SCHEMA:
        raise JobFailed(f"infogan evaluate printed schema {record.get('schema')!r}; this script reads {SCHEMA}")
    return record


def child_env(jobs: int) -> dict[str, str] | None:
    """The environment of the infogan commands (None: this one's). With several runs at once, each
    gets its share of the CPUs, not a thread per CPU; an OMP_NUM_THREADS already set wins."""
    if jobs <= 1 or "OMP_NUM_THREADS" in os.environ:
        return None
    return {**os.environ, "OMP_NUM_THREADS": str(max(1, usable_cpus() // jobs))}


def continue_flag(run_dir: Path) -> str:
    """How to (re)start a cached run: --resume where it has a checkpoint or the starts.json of
    --starts (whose --resume goes on from any state); else --overwrite, which starts a run killed
    before its first checkpoint again (infogan train refuses a folder holding a run unless given one
    of the two) and deletes nothing in a new folder."""
    has_checkpoint = (run_dir / "last.safetensors").exists() or any((run_dir / "checkpoints").glob("step-*.safetensors"))
    return "--resume" if has_checkpoint or (run_dir / "starts.json").exists() else "--overwrite"


def read_row(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def ok(row: dict | None) -> bool:
    return row is not None and row.get("status", "ok") == "ok"  # quality.py's rows had none before failed ones were kept


def finished(row: dict | None, splits: Iterable[str]) -> bool:
    """Whether a cached row needs no rerun: ok, with a record of the schema read here for each split."""
    return ok(row) and all((row.get(key) or {}).get("schema") == SCHEMA for key in splits)


def images_per_s(run_dir: Path) -> float | None:
    """The median speed the training logged (None: it logged none, a run shorter than --log-every)."""
    try:
        return statistics.median(record["images_per_s"] for record in read_metrics(run_dir / "metrics.jsonl"))
    except InfoganError:
        return None


def run_job(
    run_dir: Path, row_file: str, fields: dict, train: list[str], evaluations: dict[str, list[str]],
    log_path: Path | None = None, env: dict[str, str] | None = None,
) -> dict:
    """Train (timed) and evaluate one job, its row cached in ``run_dir / row_file`` as the module
    docstring says; returns the row, written whatever happens (status ok, or failed with why).
    ``fields``: the row's first keys, what the job is; ``train``: infogan train flags (--out and
    --resume or --overwrite come first); ``evaluations``: row key -> infogan evaluate flags (after
    the checkpoint, before --json); ``log_path``: the commands' output (None: this terminal)."""
    row_path = run_dir / row_file
    previous = read_row(row_path)
    if finished(previous, evaluations):
        return previous
    trained = previous is not None and previous.get("minutes") is not None  # then an evaluation is missing or failed
    row = previous if trained else {**fields, "minutes": None, "images_per_s": None, **dict.fromkeys(evaluations)}
    row.update(status="failed", error=None)  # until it succeeds
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        # A row whose training finished is only evaluated again: keep its training output in the log.
        with open(log_path, "a" if trained else "w") if log_path else contextlib.nullcontext() as log:
            if not trained:
                row["train_command"] = ["train", "--out", str(run_dir), continue_flag(run_dir), *train]
                started = time.perf_counter()
                infogan(*row["train_command"], env=env, log=log)
                row["minutes"] = (time.perf_counter() - started) / 60
                row["images_per_s"] = images_per_s(run_dir)
            for key, flags in evaluations.items():
                row[key] = evaluate(run_dir / "last.safetensors", flags, env, log)
        row["status"] = "ok"
    except subprocess.CalledProcessError as exc:  # the command said why: in the log, or on this terminal
        tail = log_path.read_text(errors="replace").strip().splitlines()[-ERROR_LINES:] if log_path else []
        row["error"] = "\n".join(tail) or f"infogan {exc.cmd[3]} exited with status {exc.returncode}"
    except Exception as exc:  # whatever goes wrong in one job must not stop the others
        row["error"] = str(exc) if isinstance(exc, JobFailed) else f"{type(exc).__name__}: {exc}"
    atomic_write_bytes(row_path, (json.dumps(row, indent=2) + "\n").encode())
    return row


def run_all(items: list, work: Callable, finish: Callable, at_once: int) -> None:
    """``work(item)`` for each item, up to ``at_once`` at a time in worker threads; ``finish(item,
    result)`` in this thread as each completes; one at a time, each starts after the previous finish.
    A ^C here kills no command: they get it too, and infogan train stops at a checkpoint."""
    pool = ThreadPoolExecutor(max_workers=at_once)
    try:
        if at_once == 1:
            for item in items:
                finish(item, pool.submit(work, item).result())
        else:
            futures = {pool.submit(work, item): item for item in items}
            for future in as_completed(futures):
                finish(futures[future], future.result())
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # after an error or ^C, start no queued job
