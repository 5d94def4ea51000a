"""benchmarks/device_check.sh on this CPU machine: GPU stages are skipped with their reason, the
others run (tiny, with --smoke), a failing stage does not stop the rest, and the JSON says it all."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import REPO
from infogan_cli.cpu import cpu_model

SCRIPT = REPO / "benchmarks" / "device_check.sh"
GPU_STAGES = ("cuda_tests", "throughput_fp32_tf32", "throughput_bf16", "throughput_compile", "throughput_cudagraphs")
CPU_STAGES = ("setup", "environment", "train", "evaluate", "evaluate_cached", "time_to_accuracy")


def device_check(
    *args: str, tmp_path: Path, env: dict | None = None, timeout: float = 600, one_cpu: bool = False
) -> subprocess.CompletedProcess:
    """Run the script; ``one_cpu`` pins it (and all it starts) to one of this process's CPUs."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("OUT", "INFOGAN_DATA_ROOT")}
    full_env.update(CUDA_VISIBLE_DEVICES="", **(env or {}))  # the CPU path, even on a machine with a GPU
    first_cpu = min(os.sched_getaffinity(0))
    return subprocess.run(
        ["bash", str(SCRIPT), "--work", str(tmp_path / "work"), *args],
        cwd=tmp_path, env=full_env, capture_output=True, text=True, timeout=timeout,
        preexec_fn=(lambda: os.sched_setaffinity(0, {first_cpu})) if one_cpu else None,
    )


@pytest.mark.slow
def test_smoke_run_on_cpu(tmp_path) -> None:
    json_path = tmp_path / "out" / "check.json"
    # On one CPU: the environment stage reports the CPUs the process may use, not the machine's.
    result = device_check(
        "--smoke", "--no-install", "--data-root", str(tmp_path / "no-mnist"), "--json", str(json_path), tmp_path=tmp_path, one_cpu=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads(json_path.read_text())
    assert doc["schema"] == 1 and doc["mode"] == "smoke" and doc["device_name"] and doc["finished"]
    assert doc["device"]["cuda"] is False and doc["device"]["gpus"] == 0 and doc["device"]["name"] == doc["device_name"] == cpu_model()
    assert doc["device"]["usable_cpus"] == 1 and "cores" not in doc["device"]
    stages = doc["stages"]
    assert list(stages) == [
        "setup", "environment", "data", "cuda_tests", "throughput_fp32_tf32", "throughput_bf16", "train", "evaluate",
        "evaluate_cached", "time_to_accuracy", "throughput_compile", "throughput_cudagraphs", "torchrun_nccl",
    ]
    for name in GPU_STAGES:
        assert stages[name]["status"] == "skipped" and stages[name]["reason"] == "no CUDA device", name
    assert stages["torchrun_nccl"] == {"status": "skipped", "seconds": None, "reason": "needs two CUDA devices, found 0", "figures": None}
    assert stages["data"]["status"] == "skipped" and stages["data"]["reason"].startswith("no MNIST under")
    for name in CPU_STAGES:
        assert stages[name]["status"] == "ok" and stages[name]["seconds"] > 0, (name, stages[name])
    assert stages["setup"]["figures"] == {"torch": "present", "package_install": "skipped (--no-install)", "missing": []}

    train = stages["train"]["figures"]
    assert train["dataset"] == "fake" and train["steps"] == 16 and train["epochs_done"] == 2  # 1024 images / 128 a step
    assert len(train["epoch_seconds"]) == 2 and all(s > 0 for s in train["epoch_seconds"])
    assert train["median_epoch_seconds"] == train["epoch_seconds"][1] and 0 < train["loop_seconds"] <= train["wall_seconds"]
    first, cached = stages["evaluate"]["figures"], stages["evaluate_cached"]["figures"]
    assert first["classifier_training_seconds"] is not None and cached["classifier_training_seconds"] is None
    assert first["q_accuracy"] == cached["q_accuracy"] and 0 <= first["q_accuracy"] <= 1 and first["step"] == 16
    for figures in (first, cached):  # read under the evaluate record's own key names (schema infogan-evaluate 1)
        assert set(figures) == {
            "wall_seconds", "classifier_training_seconds", "q_accuracy", "sample_accuracy", "classifier_accuracy",
            "classifier_frechet_distance", "classifier_frechet_distance_floor", "label_code", "n_samples", "step",
        }
        for key in ("sample_accuracy", "classifier_accuracy", "classifier_frechet_distance", "classifier_frechet_distance_floor"):
            assert figures[key] is not None, key
        assert figures["label_code"] == "c1" and figures["n_samples"] == 100
    accuracy = stages["time_to_accuracy"]["figures"]
    assert accuracy["dataset"] == "fake" and [s["step"] for s in accuracy["scores"]] == [2, 4]
    assert {"minutes_to_90", "minutes_to_95", "minutes_to_97"} <= set(accuracy) and "config" not in accuracy

    targets = doc["targets"]
    assert targets["epoch_seconds"]["met"] is None and targets["train_plus_evaluate_seconds"]["met"] is None  # smoke: no target
    assert targets["train_plus_evaluate_seconds"]["value"] == pytest.approx(train["wall_seconds"] + first["wall_seconds"])
    assert doc["summary"] == {"ok": 6, "skipped": 7}
    log = json_path.with_suffix(".log").read_text()
    assert "===== train: ok" in log and "done: 16 steps" in log
    assert "train                    ok" in result.stdout  # the closing table


def test_spent_budget_skips_every_stage_and_out_is_the_default(tmp_path) -> None:
    out = tmp_path / "device-out"
    out.mkdir()
    result = device_check("--budget", "0", tmp_path=tmp_path, env={"OUT": str(out)}, timeout=120)
    assert result.returncode == 0, result.stderr
    doc = json.loads((out / "device_check.json").read_text())
    assert doc["mode"] == "full" and doc["device_name"] == cpu_model()  # from infogan_cli.cpu when torch never ran
    reasons = {stage["reason"] for stage in doc["stages"].values()}
    assert {stage["status"] for stage in doc["stages"].values()} == {"skipped"}
    assert "the time budget (--budget 0 s) was spent" in reasons


def test_bad_arguments(tmp_path) -> None:
    result = device_check("--frobnicate", tmp_path=tmp_path, timeout=60)
    assert result.returncode == 2 and "unknown argument --frobnicate" in result.stderr
    result = device_check("--budget", "soon", tmp_path=tmp_path, timeout=60)
    assert result.returncode == 2 and "--budget must be whole seconds" in result.stderr


@pytest.mark.slow
def test_a_failing_stage_is_recorded_and_the_rest_runs(tmp_path) -> None:
    # Without --smoke, missing MNIST fails the data stage; the script goes on to the end.
    not_a_folder = tmp_path / "mnist.txt"
    not_a_folder.write_text("not MNIST")
    json_path = tmp_path / "check.json"
    result = device_check("--no-install", "--data-root", str(not_a_folder), "--json", str(json_path), tmp_path=tmp_path)
    assert result.returncode == 1  # a stage failed
    stages = json.loads(json_path.read_text())["stages"]
    assert stages["data"]["status"] == "failed" and stages["data"]["exit_code"] == 1
    assert any("mnist" in line.lower() for line in stages["data"]["log_tail"])
    assert stages["train"]["status"] == "skipped" and stages["train"]["reason"].startswith("no CUDA device: the full default training")
    assert stages["evaluate"]["reason"] == "no checkpoint: the train stage skipped"
    assert stages["torchrun_nccl"]["status"] == "skipped" and stages["setup"]["status"] == "ok"
