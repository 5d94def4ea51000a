"""Shared fixtures: tiny configs that train in well under a second per step on a CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
import torch

from infogan_cli.config import LatentSpec, ModelConfig, TrainConfig

REPO = Path(__file__).resolve().parents[1]
MNIST_ROOT = REPO.parent / "shared" / "data" / "mnist"

torch.set_num_threads(1)


def tiny_config(**overrides) -> TrainConfig:
    """A fast config on the synthetic `fake` set: widths of a few channels."""
    defaults = dict(
        latent=LatentSpec(noise_dim=8, categorical=(10,), continuous=2),
        model=ModelConfig(width=4, hidden=16, q_hidden=8),
        dataset="fake",
        epochs=1,
        max_steps=6,
        batch_size=16,
        log_every=2,
        checkpoint_every=3,
        device="cpu",
        precision="fp32",  # the same arithmetic on every CPU ("auto" is bf16 on some)
    )
    defaults.update(overrides)
    return TrainConfig(**defaults)


def load_benchmark(name: str):
    """benchmarks/NAME.py imported as a module (the benchmarks are scripts, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def untrained_checkpoint(
    path: Path, spec: LatentSpec, model: ModelConfig = ModelConfig(width=4, hidden=16, q_hidden=8), dataset: str = "fake", step: int = 0
) -> Path:
    """A tiny untrained model saved as a checkpoint. Its generator weights are larger than the
    N(0, 0.02) init, so its images vary with the latent input."""
    from torch import nn

    from infogan_cli.checkpoint import save_checkpoint
    from infogan_cli.models import build_models

    torch.manual_seed(0)
    generator, discriminator = build_models(spec, model)
    for module in generator.modules():
        if isinstance(module, (nn.Linear, nn.ConvTranspose2d)):
            nn.init.normal_(module.weight, 0.0, 0.5)
    config = TrainConfig(latent=spec, model=model, dataset=dataset)
    return save_checkpoint(path, config=config, generator=generator, discriminator=discriminator, step=step, epoch=0)


def assert_one_error_line(code: int, err: str) -> None:
    """A CLI failure as users should see it: exit 2, one `error:` line (and at most a `hint:`), no traceback."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[0].startswith("error: ") and sum(line.startswith("error:") for line in lines) == 1
    assert len(lines) <= 2 and all(line.startswith(("error: ", "hint: ")) for line in lines), err


def assert_train_stores_and_refuses(capsys, tmp_path: Path, flag: str, good: str, field: str, stored, bad: str, message: str) -> None:
    """A tiny `infogan train FLAG GOOD` records ``stored`` as config.json's ``field``, and
    `FLAG BAD` fails in one error line that holds ``message``."""
    tiny = ("--dataset", "fake", "--max-steps", "2", "--batch-size", "16", "--width", "4", "--noise-dim", "8")
    code, _, err = run_main(capsys, "train", *tiny, "--out", str(tmp_path / "run"), flag, good)
    assert code == 0, err
    assert json.loads((tmp_path / "run" / "config.json").read_text())[field] == stored
    code, _, err = run_main(capsys, "train", *tiny, "--out", str(tmp_path / "bad"), flag, bad)
    assert_one_error_line(code, err)
    assert message in err


BAD_CHECKPOINT_KINDS = ["missing", "empty", "garbage", "truncated", "folder"]


def bad_checkpoint(folder: Path, kind: str, good: Path) -> Path:
    """A path where a checkpoint is expected but broken in one way of BAD_CHECKPOINT_KINDS."""
    path = folder / f"{kind}.safetensors"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(os.urandom(2000))
    elif kind == "truncated":
        path.write_bytes(good.read_bytes()[:-500])
    elif kind == "folder":
        path.mkdir()
    return path  # "missing": never written


def gradients_at_step(optimizer, parameters: Callable[[], Iterable[torch.Tensor]]) -> list[list[torch.Tensor]]:
    """Make ``optimizer.step`` first record a copy of the gradients of ``parameters()``; returns the
    list that fills with one entry per step (what the step is about to apply)."""
    seen: list[list[torch.Tensor]] = []
    step = optimizer.step

    def recording_step(*args, **kwargs):
        seen.append([p.grad.clone() for p in parameters()])
        return step(*args, **kwargs)

    optimizer.step = recording_step
    return seen


@pytest.fixture
def tiny():
    return tiny_config


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -m infogan_cli ARGS`` as a user would; returns the completed process."""
    full_env = {**os.environ, "INFOGAN_DEBUG": "0", "COLUMNS": "120", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "infogan_cli", *args],
        capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout,
    )


@pytest.fixture
def cli():
    return run_cli


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    """Call the real entry point (with its error handling) in-process; returns (exit code,
    stdout, stderr). Faster than a subprocess; ``run_cli`` is the subprocess twin."""
    from infogan_cli.cli.app import main

    old_argv = sys.argv
    sys.argv = ["infogan", *args]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = old_argv
    captured = capsys.readouterr()
    return code, captured.out, captured.err

