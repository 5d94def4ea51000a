"""benchmarks/quality.py reads `infogan evaluate --json` records by their top-level keys and refuses
(or re-evaluates) records of another schema; it and benchmarks/study.py continue a cached run folder
whatever state a kill left it in."""

from __future__ import annotations

import importlib.util
import json

import pytest

from infogan_cli.evaluate import SCHEMA
from tests.conftest import REPO, run_main, tiny_config


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quality():
    return load_script("quality")


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


def test_cached_rows_of_another_schema_are_not_current(quality) -> None:
    assert quality.current({"test": record(0.9, 1.0, 0.9, 10)})
    assert not quality.current({"test": {"q_accuracy": 0.9, "sample_accuracy": {"accuracy": 0.9}}})  # before the schema
    assert not quality.current({"test": record(0.9, 1.0, 0.9, 10), "select": {"schema": {"name": "infogan-evaluate", "version": 0}}})


TINY = ["--dataset", "fake", "--width", "4", "--noise-dim", "8", "--batch-size", "16", "--log-every", "2", "--device", "cpu"]


def test_a_rerun_continues_any_run_folder(capsys, tmp_path) -> None:
    """A new folder, one killed before its first checkpoint (config.json only) and one with a
    checkpoint: the flag both scripts pass lets `infogan train` carry on in all three."""
    from infogan_cli.trainer import train

    new, killed, checkpointed = tmp_path / "new", tmp_path / "killed", tmp_path / "checkpointed"
    events = train(tiny_config(), killed)
    next(events)
    events.close()  # stopped as a hard kill would: config.json written, no checkpoint yet
    list(train(tiny_config(max_steps=2, checkpoint_every=2), checkpointed))
    with_starts = tmp_path / "starts"
    with_starts.mkdir()
    (with_starts / "starts.json").write_text("{}")  # a run with --starts, before any checkpoint: --resume goes on
    for script in ("quality", "study"):
        flags = [load_script(script).continue_flag(d) for d in (new, killed, checkpointed)]
        assert flags == ["--overwrite", "--overwrite", "--resume"], script
        assert load_script(script).continue_flag(with_starts) == "--resume"
    for run_dir, flag in zip((new, killed, checkpointed), flags):
        code, _, err = run_main(capsys, "train", *TINY, "--max-steps", "4", "--out", str(run_dir), flag)
        assert code == 0, err
        assert json.loads((run_dir / "config.json").read_text())["max_steps"] == 4 and (run_dir / "last.safetensors").exists()


def test_study_rewrites_its_table_and_keeps_the_hand_kept_sections(tmp_path) -> None:
    import argparse

    study = load_script("study")
    results = tmp_path / "study.md"
    results.write_text(f"# old table\n\n| stale |\n\n{study.KEPT_MARKER}\n\n## A study run by hand\n\nkept text\n")
    row = {"label": "baseline", "seed": 0, "flags": [], "train_split": {"q_accuracy": 0.9, "q_nmi": 0.8}}
    study.write_study({"baseline": [row]}, argparse.Namespace(max_steps=1500, results=str(results)))
    text = results.read_text()
    assert "| stale |" not in text and "| baseline | `(none)` | 90.0% (seed 0) | 90.0% | 0.800 |" in text
    assert text.endswith(f"{study.KEPT_MARKER}\n\n## A study run by hand\n\nkept text\n")
    assert text.count(study.KEPT_MARKER) == 1
