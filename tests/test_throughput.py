"""benchmarks/throughput.py: its compile modes go through Trainer.compile, and its JSON holds
measurements and the settings they were taken with, on one step of each path (MNIST needed)."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import MNIST_ROOT, load_benchmark, tiny_config
from infogan_cli.data import load_dataset
from infogan_cli.trainer import Trainer


def test_trainer_compile_passes_its_mode_to_torch_compile(tmp_path) -> None:
    trainer = Trainer(tiny_config(compile=True), tmp_path, load_dataset("fake"), torch.device("cpu"))
    assert trainer.memory_format == torch.channels_last  # the compiled step's layout, chosen at construction
    with pytest.raises(RuntimeError, match="no-such-mode"):  # torch.compile checks the mode it is given
        trainer.compile("no-such-mode")
    trainer.compile("reduce-overhead")  # wraps now, compiles at the first call
    assert trainer.g_model is not trainer.generator and trainer.d_model is not trainer.discriminator


def test_trainer_built_for_eager_refuses_to_compile(tmp_path) -> None:
    """Compiling a trainer built for eager would run the compiled step in the eager layout, the
    one inductor fails on with CUDA (pytorch/pytorch#197514)."""
    trainer = Trainer(tiny_config(), tmp_path, load_dataset("fake"), torch.device("cpu"))
    with pytest.raises(ValueError, match="config.compile=True"):
        trainer.compile()
    assert trainer.g_model is trainer.generator and trainer.d_model is trainer.discriminator


@pytest.mark.skipif(not (MNIST_ROOT / "MNIST" / "raw").is_dir(), reason=f"no MNIST under {MNIST_ROOT}")
def test_throughput_json_reports_measurements_and_settings(capsys, tmp_path) -> None:
    script = load_benchmark("throughput")
    script.main(["--data-root", str(MNIST_ROOT), "--device", "cpu", "--batch-size", "16", "--steps", "1", "--warmup", "0", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {
        "device", "cpu_model", "native_bf16", "precision", "autocast", "lambda_consistency", "lambda_fake_consistency", "consistency_fraction",
        "batch_size", "steps", "warmup",
        "compile_mode", "matmul", "threads", "infogan_images_per_s", "memory_format", "infogan_warmup_s",
        "infogan_peak_mib", "tutorial_images_per_s", "tutorial_peak_mib", "ratio",
    }
    assert result["compile_mode"] is None and (result["batch_size"], result["steps"]) == (16, 1)
    assert result["matmul"] == "blas" and result["consistency_fraction"] == 1.0
    assert result["infogan_images_per_s"] > 0 and result["ratio"] == result["infogan_images_per_s"] / result["tutorial_images_per_s"]
    with pytest.raises(RuntimeError, match="no-such-mode"):  # a compile mode reaches torch.compile through Trainer.compile
        script.infogan_steps(MNIST_ROOT, torch.device("cpu"), 16, 1, 0, tmp_path, "auto", 0.0, compile_mode="no-such-mode")


@pytest.mark.skipif(not (MNIST_ROOT / "MNIST" / "raw").is_dir(), reason=f"no MNIST under {MNIST_ROOT}")
def test_throughput_passes_the_consistency_fraction_to_the_trainer(tmp_path, monkeypatch) -> None:
    script = load_benchmark("throughput")
    configs = []

    def recording_trainer(config, *args, **kwargs):
        configs.append(config)
        return Trainer(config, *args, **kwargs)

    monkeypatch.setattr(script, "Trainer", recording_trainer)
    script.infogan_steps(MNIST_ROOT, torch.device("cpu"), 16, 1, 0, tmp_path, "fp32", 1.0, consistency_fraction=0.25)
    assert [config.consistency_fraction for config in configs] == [0.25]
