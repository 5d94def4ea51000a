"""benchmarks/quality.py reads `infogan evaluate --json` records by their top-level keys and
re-evaluates records of another schema; benchmarks/runner.py (which quality.py, screen.py and
study.py share) continues a cached run folder whatever state a kill or a failure left it in."""

from __future__ import annotations

import json
import os

import pytest

from infogan_cli.evaluate import SCHEMA
from tests.conftest import load_benchmark, run_main, tiny_config


@pytest.fixture(scope="module")
def quality():
    return load_benchmark("quality")


def record(q: float, fid: float, slant: float | None, digits: int) -> dict:
    return {
        "schema": dict(SCHEMA), "q_accuracy": q, "sample_accuracy": q - 0.01, "digits_covered": digits, "q_nmi": q / 2,
        "abs_rho_slant": slant, "abs_rho_width": slant, "mig_slant": None if slant is None else slant / 2,
        "mig_width": None, "classifier_frechet_distance": fid,
    }


def test_table_rows_median_and_worst(quality) -> None:
    rows = [
        {"seed": seed, "minutes": 10.0, "images_per_s": 700.0, "test": record(q, fid, slant, digits)}
        for seed, q, fid, slant, digits in [(0, 0.9, 3.0, 0.95, 10), (1, 0.8, 9.0, None, 9), (2, 0.95, 1.0, 0.91, 10)]
    ]
    # Seed 0 has a lone slant code (c3) and a lone width code (c2); seed 2 only codes that mix.
    rows[0]["test"]["continuous_codes"] = {"abs_spearman": {"c2": {"slant": 0.2, "width": 0.85}, "c3": {"slant": 0.95, "width": 0.3}}}
    rows[2]["test"]["continuous_codes"] = {"abs_spearman": {"c2": {"slant": 0.95, "width": 0.31}, "c3": {"slant": 0.31, "width": 0.9}}}
    lines = quality.preset_table(rows)
    assert lines[0].startswith("| seed | Q accuracy | sample accuracy | digits covered |") and lines[1].count("---") == len(quality.COLUMNS) + 5
    assert lines[0].endswith("| slant code alone | width code alone | train min | images/s |")
    assert lines[2].endswith("| c3 | c2 | 10.0 | 700 |") and lines[4].endswith("| none | none | 10.0 | 700 |")
    assert lines[3] == "| 1 | 80.0% | 79.0% | 9 | 0.40 | n/a | n/a | n/a | n/a | 9.00 | none | none | 10.0 | 700 |"
    assert lines[-2].endswith("| 1 of 3 seeds | 1 of 3 seeds | | |")
    median, worst = lines[-2].split(" | "), lines[-1].split(" | ")
    assert median[1:5] == ["90.0%", "89.0%", "10", "0.45"] and median[5] == "0.93"  # slant over the two seeds that have it
    assert worst[1] == "80.0%" and worst[3] == "9" and worst[5] == "0.91"
    assert median[9] == "3.00" and worst[9] == "9.00"  # the worst Frechet distance is the largest
    assert median[8] == "n/a"  # no seed has MIG of width


def test_cached_rows_of_another_schema_are_not_finished(quality) -> None:
    finished = quality.runner.finished
    assert finished({"test": record(0.9, 1.0, 0.9, 10)}, ["test"])  # a row from before failures were recorded
    assert not finished({"test": {"q_accuracy": 0.9, "sample_accuracy": {"accuracy": 0.9}}}, ["test"])  # before the schema
    old = {"schema": {"name": "infogan-evaluate", "version": 0}}
    assert not finished({"test": record(0.9, 1.0, 0.9, 10), "select": old}, ["test", "select"])
    assert not finished({"test": record(0.9, 1.0, 0.9, 10)}, ["test", "select"])  # --select-split asked now
    assert not finished({"status": "failed", "test": record(0.9, 1.0, 0.9, 10)}, ["test"])


TINY = ["--dataset", "fake", "--width", "4", "--noise-dim", "8", "--batch-size", "16", "--log-every", "2", "--device", "cpu"]


def test_a_rerun_continues_any_run_folder(capsys, tmp_path) -> None:
    """A new folder, one killed before its first checkpoint (config.json only) and one with a
    checkpoint: the flag the benchmarks pass lets `infogan train` carry on in all three."""
    from infogan_cli.trainer import train

    new, killed, checkpointed = tmp_path / "new", tmp_path / "killed", tmp_path / "checkpointed"
    events = train(tiny_config(), killed)
    next(events)
    events.close()  # stopped as a hard kill would: config.json written, no checkpoint yet
    list(train(tiny_config(max_steps=2, checkpoint_every=2), checkpointed))
    with_starts = tmp_path / "starts"
    with_starts.mkdir()
    (with_starts / "starts.json").write_text("{}")  # a run with --starts, before any checkpoint: --resume goes on
    continue_flag = load_benchmark("runner").continue_flag
    flags = [continue_flag(d) for d in (new, killed, checkpointed)]
    assert flags == ["--overwrite", "--overwrite", "--resume"] and continue_flag(with_starts) == "--resume"
    for run_dir, flag in zip((new, killed, checkpointed), flags):
        code, _, err = run_main(capsys, "train", *TINY, "--max-steps", "4", "--out", str(run_dir), flag)
        assert code == 0, err
        assert json.loads((run_dir / "config.json").read_text())["max_steps"] == 4 and (run_dir / "last.safetensors").exists()


def test_study_rewrites_its_table_and_keeps_the_hand_kept_sections(tmp_path) -> None:
    import argparse

    study = load_benchmark("study")
    results = tmp_path / "study.md"
    results.write_text(f"# old table\n\n| stale |\n\n{study.KEPT_MARKER}\n\n## A study run by hand\n\nkept text\n")
    row = {"label": "baseline", "seed": 0, "flags": [], "train_split": {"q_accuracy": 0.9, "q_nmi": 0.8}}
    study.write_study({"baseline": [row]}, argparse.Namespace(max_steps=1500, results=str(results)))
    text = results.read_text()
    assert "| stale |" not in text and "| baseline | `(none)` | 90.0% (seed 0) | 90.0% | 0.800 |" in text
    assert text.endswith(f"{study.KEPT_MARKER}\n\n## A study run by hand\n\nkept text\n")
    assert text.count(study.KEPT_MARKER) == 1


def run_quality(quality, monkeypatch, tmp_path, *flags: str) -> None:
    monkeypatch.setattr("sys.argv", ["quality.py", "--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "results.md"), *flags])
    quality.main()


def test_jobs_run_at_once_and_the_main_thread_writes_sorted_rows(quality, monkeypatch, tmp_path, capsys) -> None:
    import threading
    import time

    running, most, started, workers, writes = [0], [0], [0], set(), []
    lock, first_three = threading.Lock(), threading.Barrier(3, timeout=10)

    def fake_run(preset: str, seed: int, args) -> dict:
        with lock:
            running[0] += 1
            started[0] += 1
            most[0] = max(most[0], running[0])
            first = started[0] <= 3
        workers.add(threading.current_thread())
        if first:
            first_three.wait()  # the first three runs are under way together (broken, and failing, if not)
        time.sleep(0.02 * (6 - seed))  # later seeds finish first
        with lock:
            running[0] -= 1
        return {"preset": preset, "seed": seed, "minutes": 1.0, "images_per_s": 10.0, "test": record(0.5 + seed / 100, 1.0, 0.9, 10)}

    def fake_write(all_rows: dict, args) -> None:
        writes.append((threading.current_thread(), {preset: [row["seed"] for row in rows] for preset, rows in all_rows.items()}))

    monkeypatch.setattr(quality, "train_and_evaluate", fake_run)
    monkeypatch.setattr(quality, "write_results", fake_write)
    run_quality(quality, monkeypatch, tmp_path, "--presets", "default", "paper", "--seeds", "3", "0", "5", "1", "2", "--jobs", "3")
    assert most[0] == 3 and threading.main_thread() not in workers
    assert len(writes) == 10 and all(thread is threading.main_thread() for thread, _ in writes)
    assert writes[-1][1] == {"default": [0, 1, 2, 3, 5], "paper": [0, 1, 2, 3, 5]}
    assert all(seeds == sorted(seeds) for _, rows in writes for seeds in rows.values())
    assert [sum(map(len, rows.values())) for _, rows in writes] == list(range(1, 11))  # written after every run
    lines = capsys.readouterr().out.splitlines()
    assert sorted(lines) == sorted(f"{p} seed {s}: Q accuracy {0.5 + s / 100}" for p in ("default", "paper") for s in (0, 1, 2, 3, 5))


def test_one_job_runs_in_order_one_at_a_time(quality, monkeypatch, tmp_path) -> None:
    events = []
    monkeypatch.setattr(quality, "train_and_evaluate", lambda preset, seed, args: events.append(("run", preset, seed)) or {
        "preset": preset, "seed": seed, "test": record(0.9, 1.0, 0.9, 10)})
    monkeypatch.setattr(quality, "write_results", lambda all_rows, args: events.append(("write",)))
    run_quality(quality, monkeypatch, tmp_path, "--presets", "default", "paper", "--seeds", "1", "0")
    assert events == [("run", "default", 1), ("write",), ("run", "paper", 1), ("write",),
                      ("run", "default", 0), ("write",), ("run", "paper", 0), ("write",)]


def test_child_threads_are_the_cpus_shared_by_the_jobs(quality, monkeypatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(quality.runner, "usable_cpus", lambda: 16)
    assert quality.child_env(1) is None  # one job: the children choose, as before
    assert [quality.child_env(jobs)["OMP_NUM_THREADS"] for jobs in (2, 3, 8, 16, 32)] == ["8", "5", "2", "1", "1"]
    assert quality.child_env(3)["PATH"] == os.environ["PATH"]  # the rest of the environment is kept
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    assert quality.child_env(8) is None  # set by the user: it wins, and children inherit it


def fake_infogan(calls: list, failing_seed: int | None = None):
    """An `infogan` helper that records its arguments and env, writes the metrics a training leaves
    (or fails the training of ``failing_seed``) and prints an evaluate record."""
    import subprocess
    from pathlib import Path

    def infogan(*args: str, env=None, log=None, capture=False) -> str:
        calls.append((args, env))
        if args[0] == "train" and args[args.index("--seed") + 1] == str(failing_seed):
            raise subprocess.CalledProcessError(1, ["python", "-m", "infogan_cli", *args])
        if args[0] == "train":
            out = Path(args[args.index("--out") + 1])
            out.mkdir(parents=True, exist_ok=True)
            (out / "metrics.jsonl").write_text(json.dumps({"step": 2, "images_per_s": 500.0}) + "\n")
        return json.dumps(record(0.9, 1.0, 0.9, 10)) if args[0] == "evaluate" else ""

    return infogan


def test_device_goes_to_train_and_every_evaluate(quality, monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(quality.runner, "usable_cpus", lambda: 8)
    calls: list = []
    monkeypatch.setattr(quality.runner, "infogan", fake_infogan(calls))
    run_quality(quality, monkeypatch, tmp_path, "--seeds", "0", "1", "--max-steps", "2", "--device", "cuda", "--jobs", "2",
                "--select-split", "train")
    by_command = {name: [args for args, _ in calls if args[0] == name] for name in ("train", "evaluate", "traverse")}
    assert len(by_command["train"]) == 2 and len(by_command["evaluate"]) == 4 and len(by_command["traverse"]) == 2
    for args in by_command["train"] + by_command["evaluate"]:
        assert args[args.index("--device") + 1] == "cuda", args
    assert all(env["OMP_NUM_THREADS"] == "4" for _, env in calls)  # 8 CPUs over 2 jobs
    text = (tmp_path / "results.md").read_text()
    assert "Minutes are wall time per run, 2 runs at a time on cuda." in text and "2 CPU cores" not in text
    calls.clear()
    run_quality(quality, monkeypatch, tmp_path, "--seeds", "2", "--max-steps", "2")
    assert calls and all("--device" not in args and env is None for args, env in calls)  # as before: they choose
    assert "Minutes are wall time on this machine's 2 CPU cores." in (tmp_path / "results.md").read_text()
    run_quality(quality, monkeypatch, tmp_path, "--seeds", "3", "--max-steps", "2", "--device", "cuda")
    assert "Minutes are wall time per run on cuda." in (tmp_path / "results.md").read_text()


def test_a_rerun_evaluates_a_stale_row_again_and_continues_a_failed_run(quality, monkeypatch, tmp_path, capsys) -> None:
    """runner.run_job (screen.py's too): a failed run is a row saying why, and continues from its
    checkpoint; a row of an older evaluate schema is evaluated again, its training kept."""
    calls: list = []
    monkeypatch.setattr(quality.runner, "infogan", fake_infogan(calls, failing_seed=1))
    with pytest.raises(SystemExit, match="1 of 2 runs failed: default seed 1"):
        run_quality(quality, monkeypatch, tmp_path, "--seeds", "0", "1", "--max-steps", "2")
    assert "default seed 1: FAILED (infogan train exited with status 1)" in capsys.readouterr().err
    stale, failed = (tmp_path / "runs" / f"default-seed{seed}" for seed in (0, 1))
    row = json.loads((stale / "quality.json").read_text())
    assert (row["status"], row["images_per_s"], row["train_command"][:4]) == ("ok", 500.0, ["train", "--out", str(stale), "--overwrite"])
    assert json.loads((failed / "quality.json").read_text())["status"] == "failed"
    (stale / "quality.json").write_text(json.dumps({**row, "minutes": 7.0, "test": {"schema": {"name": "infogan-evaluate", "version": 0}}}))
    (failed / "last.safetensors").touch()  # the failed run had saved a checkpoint
    calls.clear()
    monkeypatch.setattr(quality.runner, "infogan", fake_infogan(calls))
    run_quality(quality, monkeypatch, tmp_path, "--seeds", "0", "1", "--max-steps", "2")
    assert [args[:4] for args, _ in calls if args[0] == "train"] == [("train", "--out", str(failed), "--resume")]
    row = json.loads((stale / "quality.json").read_text())
    assert (row["status"], row["minutes"], row["test"]["schema"]) == ("ok", 7.0, SCHEMA)


def test_a_failed_run_lets_the_others_finish_then_exits_naming_it(quality, monkeypatch, tmp_path) -> None:
    finished = []

    def fake_run(preset: str, seed: int, args) -> dict:
        if seed in (1, 4):
            return {"preset": preset, "seed": seed, "status": "failed", "error": "infogan train exited with status 1"}
        finished.append(seed)
        return {"preset": preset, "seed": seed, "test": record(0.9, 1.0, 0.9, 10)}

    written = []
    monkeypatch.setattr(quality, "train_and_evaluate", fake_run)
    monkeypatch.setattr(quality, "write_results", lambda all_rows, args: written.append([r["seed"] for r in all_rows["default"]]))
    for jobs in ("1", "2"):
        finished.clear()
        with pytest.raises(SystemExit) as exit_info:
            run_quality(quality, monkeypatch, tmp_path, "--seeds", "0", "1", "2", "3", "4", "--jobs", jobs)
        assert exit_info.value.code == "2 of 5 runs failed: default seed 1, default seed 4", jobs
        assert sorted(finished) == [0, 2, 3] and written[-1] == [0, 2, 3]


def test_jobs_refuse_two_runs_in_one_folder(quality, monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setattr(quality, "train_and_evaluate", lambda *a: pytest.fail("nothing should run"))
    for flags in (["--seeds", "0", "0"], ["--presets", "default", "paper", "--label", "variant"], ["--jobs", "0"]):
        with pytest.raises(SystemExit) as exit_info:
            run_quality(quality, monkeypatch, tmp_path, *flags, *(["--jobs", "2"] if "--jobs" not in flags else []))
        assert exit_info.value.code == 2, flags
    assert "--jobs > 1 needs a run folder per run" in capsys.readouterr().err
