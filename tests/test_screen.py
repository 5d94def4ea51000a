"""benchmarks/screen.py: --variant parsing, issue #20's lone codes, the per-variant summary on
hand-made rows, and a real screen of tiny runs on the fake set (cached on rerun, a failing
variant recorded without stopping the others)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from infogan_cli.evaluate import SCHEMA
from tests.conftest import REPO, load_benchmark

SCRIPT = REPO / "benchmarks" / "screen.py"
TINY_TRAIN = "--dataset fake --max-steps 2 --batch-size 16 --width 4 --noise-dim 8 --log-every 1 --device cpu"


@pytest.fixture(scope="module")
def screen():
    return load_benchmark("screen")


def test_variant_parsing(screen) -> None:
    assert screen.parse_variant("default=") == ("default", [])
    assert screen.parse_variant("shift=--consistency-transform shift-scale") == ("shift", ["--consistency-transform", "shift-scale"])
    assert screen.parse_variant("q='--lr-g 1e-3' --x=a=b") == ("q", ["--lr-g 1e-3", "--x=a=b"])  # split as a shell would
    for bad, message in [
        ("default", "has no '='"),
        ("a/b=--x", "not a safe folder name"),
        ("..=", "not a safe folder name"),
        ("=--x", "not a safe folder name"),
        ("q='--lr-g", "cannot split"),
    ]:
        with pytest.raises(ValueError, match=message):
            screen.parse_variant(bad)
    assert screen.parse_variants(["a=", "b=--x 1"]) == {"a": [], "b": ["--x", "1"]}
    with pytest.raises(ValueError, match="given twice"):
        screen.parse_variants(["a=", "a=--x"])


def test_bad_variant_is_one_error_line(screen, capsys, tmp_path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        screen.main(["--variant", "a b=--x", "--runs", str(tmp_path / "runs")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: variant name 'a b'")
    assert not (tmp_path / "runs").exists()


def record(q: float | None, rho: dict | None = None, mig: tuple = (None, None), fid: float | None = None) -> dict:
    return {
        "schema": dict(SCHEMA), "q_accuracy": q, "sample_accuracy": q, "digits_covered": 10, "mig_slant": mig[0], "mig_width": mig[1],
        "classifier_frechet_distance": fid, "continuous_codes": None if rho is None else {"abs_spearman": rho},
    }


def row(seed: int, evaluation: dict | None, variant: str = "v") -> dict:
    status = "failed" if evaluation is None else "ok"
    return {"variant": variant, "seed": seed, "flags": ["--x", "1"], "minutes": 1.5, "status": status, "error": None, "evaluation": evaluation}


def test_lone_codes(screen) -> None:
    rho = {"c2": {"slant": 0.95, "width": 0.1}, "c3": {"slant": 0.2, "width": 0.85}}
    assert screen.lone_codes(record(0.9, rho)) == ("c2", "c3")
    rho = {"c2": {"slant": 0.95, "width": 0.5}, "c3": {"slant": 0.31, "width": 0.85}}  # each code turns both
    assert screen.lone_codes(record(0.9, rho)) == (None, None)
    rho = {"c2": {"slant": 0.9, "width": 0.3}, "c3": {"slant": 0.3, "width": 0.8}}  # the thresholds themselves pass
    assert screen.lone_codes(record(0.9, rho)) == ("c2", "c3")
    rho = {"c2": {"slant": 0.92, "width": 0.2}, "c3": {"slant": 0.97, "width": 0.1}}  # the stronger of two
    assert screen.lone_codes(record(0.9, rho)) == ("c3", None)
    assert screen.lone_codes(record(0.9, {"c2": {"slant": None, "width": None}})) == (None, None)  # no measures
    assert screen.lone_codes(record(0.9)) == (None, None) and screen.lone_codes(None) == (None, None)


def test_summary_odd_seeds_with_a_failed_run(screen) -> None:
    lone = {"c2": {"slant": 0.95, "width": 0.1}, "c3": {"slant": 0.1, "width": 0.9}}
    rows = [
        row(0, record(0.97, lone, (0.4, 0.2), 10.0)),
        row(1, record(0.80, None, (0.2, None), 30.0)),
        row(2, record(0.96, {"c2": {"slant": 0.95, "width": 0.5}}, (0.6, 0.4), None)),
        row(3, None),
    ]
    s = screen.variant_summary(rows)
    assert (s["runs"], s["failed"], s["ok"]) == (4, 1, 3)
    assert s["median_q_accuracy"] == 0.96 and s["worst_q_accuracy"] == (0.80, 1)
    assert s["good_runs"] == 2 and (s["lone_slant"], s["lone_width"]) == (1, 1)
    assert s["median_mig_slant"] == 0.4 and s["median_mig_width"] == pytest.approx(0.3)  # of the two that have it
    assert s["median_frechet"] == 20.0
    line = screen.summary_line("v", rows)
    assert line == "| v | `--x 1` | 4 (1 failed) | 96.0% | 80.0% (seed 1) | 2 of 3 | 1 of 3 | 1 of 3 | 0.40 / 0.30 | 20.00 |"
    assert screen.run_line(rows[1]) == "| v | 1 | 80.0% | 80.0% | 10 | n/a | 0.20 / n/a | 30.00 | 1.5 |"
    assert screen.run_line(rows[0]).startswith("| v | 0 | 97.0% | 97.0% | 10 | c2 / c3 |")
    assert screen.run_line(rows[3]).startswith("| v | 3 | FAILED |")


def test_summary_even_seeds_and_nothing_scored(screen) -> None:
    rows = [row(seed, record(q)) for seed, q in [(0, 0.90), (1, 0.95), (2, 0.99), (3, 0.90)]]
    s = screen.variant_summary(rows)
    assert s["median_q_accuracy"] == pytest.approx(0.925)  # the mean of the middle two
    assert s["worst_q_accuracy"] == (0.90, 0) and s["good_runs"] == 2  # a tie: the lowest seed; 0.95 counts
    assert s["median_frechet"] is None and s["median_mig_slant"] is None
    s = screen.variant_summary([row(0, None), row(1, record(None))])  # failed, and one without labels
    assert (s["failed"], s["ok"], s["median_q_accuracy"], s["worst_q_accuracy"], s["good_runs"]) == (1, 1, None, None, 0)
    assert screen.summary_line("v", [row(0, None)]) == "| v | `--x 1` | 1 (1 failed) | n/a | n/a | 0 of 0 | 0 of 0 | 0 of 0 | n/a / n/a | n/a |"


def run_screen(tmp_path, *variants: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env.update(INFOGAN_CACHE_DIR=str(tmp_path / "cache"), INFOGAN_DEBUG="0")  # a classifier of its own, trained once
    args = [arg for variant in variants for arg in ("--variant", variant)]
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--seeds", "0", "--epochs", "1", "--parallel", "2", "--runs", str(tmp_path / "runs"),
         "--data-root", str(tmp_path / "no-data"), "--train-args", TINY_TRAIN, "--eval-args", "--n-samples 100 --device cpu"],
        capture_output=True, text=True, env=env, timeout=600,
    )


@pytest.mark.slow
def test_screen_of_tiny_runs(tmp_path) -> None:
    runs = tmp_path / "runs"
    result = run_screen(tmp_path, "plain=", "no-fake=--lambda-fake-consistency 0", "broken=--lambda-cat -1")
    assert result.returncode == 1, result.stdout + result.stderr  # a failed job: exit 1, the others done
    lines = result.stdout.splitlines()
    assert sorted(line.split(":")[0] for line in lines[:3]) == ["broken seed 0", "no-fake seed 0", "plain seed 0"]
    assert f"broken seed 0: FAILED (log: {runs / 'broken-s0.log'})" in lines[:3]

    rows = {r["variant"]: r for r in map(json.loads, (runs / "screen.jsonl").read_text().splitlines())}
    assert list(rows) == ["plain", "no-fake", "broken"]  # in the order given
    for name, flags, fake_weight in [("plain", [], 1.0), ("no-fake", ["--lambda-fake-consistency", "0"], 0.0)]:
        r = rows[name]
        assert (r["status"], r["seed"], r["flags"], r["error"]) == ("ok", 0, flags, None), r
        assert r["minutes"] > 0 and r["evaluation"]["schema"] == SCHEMA and r["evaluation"]["split"] == "train"
        assert r["evaluation"]["n_samples"] == 100 and 0 <= r["evaluation"]["q_accuracy"] <= 1
        assert json.loads((runs / f"{name}-s0" / "screen.json").read_text()) == r
        config = json.loads((runs / f"{name}-s0" / "config.json").read_text())
        assert config["dataset"] == "fake" and config["seed"] == 0 and config["lambda_fake_consistency"] == fake_weight
        assert "step 2/2" in (runs / f"{name}-s0.log").read_text()  # the job's output went to its log
    broken = rows["broken"]
    assert broken["status"] == "failed" and broken["evaluation"] is None and "--lambda-cat" in broken["error"]
    assert "Invalid value" not in result.stdout + result.stderr  # not on the terminal

    markdown = (runs / "screen.md").read_text()
    assert markdown in result.stdout  # printed at the end
    assert "| variant | seed | Q accuracy | sample accuracy | digits covered | lone slant / width code |" in markdown
    assert "| variant | flags | runs | median Q accuracy | worst Q accuracy (seed) | runs >= 95% |" in markdown
    assert "| broken | 0 | FAILED |" in markdown and "| broken | `--lambda-cat -1` | 1 (1 failed) | n/a |" in markdown
    assert "| no-fake | `--lambda-fake-consistency 0` | 1 | " in markdown

    trained = {name: (runs / f"{name}-s0" / "last.safetensors").stat().st_mtime_ns for name in ("plain", "no-fake")}
    again = run_screen(tmp_path, "plain=", "no-fake=--lambda-fake-consistency 0", "broken=--lambda-cat -1")
    assert again.returncode == 1, again.stdout + again.stderr
    assert {name: (runs / f"{name}-s0" / "last.safetensors").stat().st_mtime_ns for name in trained} == trained  # not retrained
    assert "plain seed 0: Q accuracy" in again.stdout and again.stdout.count("(cached)") == 2
    assert "broken seed 0: FAILED" in again.stdout  # a failed job runs again

    # Only the ok variants now: exit 0; the earlier failed row stays in the tables.
    last = run_screen(tmp_path, "plain=")
    assert last.returncode == 0, last.stdout + last.stderr
    assert "| broken | 0 | FAILED |" in (runs / "screen.md").read_text()
