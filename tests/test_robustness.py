"""Nothing lost, nothing let in: hard kills, signals, NaNs, full disks and crafted files."""

from __future__ import annotations

import errno
import io
import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time
import zipfile

import pytest
import torch
from safetensors.torch import load_file, save_file
from safetensors import safe_open

from infogan_cli import checkpoint as checkpoint_module
from infogan_cli.checkpoint import latest_intact_checkpoint, load_checkpoint, save_checkpoint
from infogan_cli.errors import CheckpointError, TrainingDiverged
from infogan_cli.models import build_models
from infogan_cli.trainer import Trainer, train
from tests.conftest import tiny_config

TINY_ARGS = ["--dataset", "fake", "--width", "4", "--noise-dim", "8", "--batch-size", "16", "--device", "cpu"]


def infogan_process(*args: str) -> subprocess.Popen:
    env = {**os.environ, "INFOGAN_DEBUG": "0"}
    return subprocess.Popen(
        [sys.executable, "-m", "infogan_cli", "train", *TINY_ARGS, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def wait_for(path, timeout=180.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def logged_steps(run_dir):
    steps = []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        try:
            steps.append(json.loads(line)["step"])
        except json.JSONDecodeError:
            pass  # a line cut by kill -9; resume drops it
    return steps


# ----------------------------------------------------------------------------- interruptions


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume(tmp_path):
    run_dir = tmp_path / "run"
    every = 7
    common = ["--out", str(run_dir), "--checkpoint-every", str(every), "--log-every", "1", "--keep", "2"]
    rng = random.Random(1234)
    for attempt in range(3):
        proc = infogan_process(*common, "--max-steps", "100000", *(["--resume"] if attempt else []))
        if attempt == 0:
            wait_for(run_dir / "last.safetensors")
        time.sleep(rng.uniform(0.5, 2.0))
        proc.kill()  # SIGKILL: no handler runs
        proc.wait()
        done = max(logged_steps(run_dir))
        resumed, warnings = latest_intact_checkpoint(run_dir)
        assert resumed is not None
        assert done - resumed.step <= every, "lost more than --checkpoint-every steps"
    final = resumed.step + 5
    result = subprocess.run(
        [sys.executable, "-m", "infogan_cli", "train", *TINY_ARGS, *common, "--max-steps", str(final), "--resume"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    checkpoint = load_checkpoint(run_dir / "last.safetensors")
    assert checkpoint.step == final
    steps = logged_steps(run_dir)
    assert steps == list(range(1, final + 1))  # no gaps, no duplicates after the resumes
    assert not list(run_dir.rglob(".*.tmp"))


@pytest.mark.slow
@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_saves_and_exits(tmp_path, signum, code):
    run_dir = tmp_path / "run"
    proc = infogan_process("--out", str(run_dir), "--max-steps", "100000", "--checkpoint-every", "50", "--log-every", "1")
    wait_for(run_dir / "metrics.jsonl")
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert "resume with: infogan train --out" in stderr
    assert "Traceback" not in stderr
    checkpoint = load_checkpoint(run_dir / "last.safetensors")
    assert checkpoint.step == max(logged_steps(run_dir))  # the step in progress was finished and saved


# ----------------------------------------------------------------------------- numeric faults


def test_nan_loss_stops_with_message_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    real_step = Trainer.train_step

    def poisoned(self, real):
        losses = real_step(self, real)
        if self.step >= 4:  # the 5th step goes bad
            losses = losses.clone()
            losses[1] = float("nan")
        return losses

    monkeypatch.setattr(Trainer, "train_step", poisoned)
    config = tiny_config(max_steps=10, checkpoint_every=3, log_every=100)
    with pytest.raises(TrainingDiverged, match=r"loss_g became nan at step 5"):
        list(train(config, tmp_path))
    assert load_checkpoint(tmp_path / "last.safetensors").step == 3


def test_detect_anomaly_flag_is_accepted(tmp_path):
    events = list(train(tiny_config(max_steps=2), tmp_path, detect_anomaly=True))
    assert events[-1].step == 2


# ----------------------------------------------------------------------------- full disk


def test_disk_full_during_checkpoint_keeps_previous(tmp_path, monkeypatch):
    config = tiny_config()
    generator, discriminator = build_models(config.latent, config.model)
    path = tmp_path / "last.safetensors"
    save_checkpoint(path, config=config, generator=generator, discriminator=discriminator, step=1, epoch=0)
    import safetensors.torch

    def fill_disk(tensors, filename, metadata=None):
        with open(filename, "wb") as handle:
            handle.write(b"\0" * 1000)  # part of the file made it before the disk filled
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", fill_disk)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, config=config, generator=generator, discriminator=discriminator, step=2, epoch=0)
    monkeypatch.undo()
    assert load_checkpoint(path).step == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]  # no temporary left behind


# ----------------------------------------------------------------------------- crafted checkpoints


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("good")
    list(train(tiny_config(max_steps=2), folder))
    return folder / "last.safetensors"


def _rewrite(src, dst, tensors=None, metadata=None):
    with safe_open(str(src), "pt") as handle:
        original_metadata = handle.metadata()
    save_file(tensors if tensors is not None else load_file(str(src)), str(dst), metadata=metadata or original_metadata)


def _metadata(src):
    with safe_open(str(src), "pt") as handle:
        return dict(handle.metadata())


def _png_bytes():
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (4, 4)).save(buffer, format="PNG")
    return buffer.getvalue()


def _zip_bytes():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.pkl", b"x")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "content,message",
    [
        (pickle.dumps({"generator": [1, 2, 3]}), "not a safetensors checkpoint"),
        (_zip_bytes(), "not a safetensors checkpoint"),
        (_png_bytes(), "not a safetensors checkpoint"),
        (bytes(random.Random(0).randrange(256) for _ in range(5000)), "not a safetensors checkpoint"),
        (b"", "is empty"),
        (b"abc", "too short"),
    ],
    ids=["pickle", "zip", "png", "random", "empty", "tiny"],
)
def test_non_checkpoints_are_refused(tmp_path, content, message):
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(path)
    assert str(path) in info.value.message


def test_truncated_checkpoint(tmp_path, good_checkpoint):
    path = tmp_path / "cut.safetensors"
    path.write_bytes(good_checkpoint.read_bytes()[: good_checkpoint.stat().st_size - 100])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(path)


def test_missing_and_misshaped_tensors(tmp_path, good_checkpoint):
    tensors = load_file(str(good_checkpoint))
    missing = dict(tensors)
    del missing["generator.fc.0.weight"]
    _rewrite(good_checkpoint, tmp_path / "missing.safetensors", tensors=missing)
    with pytest.raises(CheckpointError, match="missing tensor 'generator.fc.0.weight'"):
        load_checkpoint(tmp_path / "missing.safetensors")
    misshaped = dict(tensors)
    misshaped["discriminator.d_head.weight"] = torch.zeros(3, 3)
    _rewrite(good_checkpoint, tmp_path / "shape.safetensors", tensors=misshaped)
    with pytest.raises(CheckpointError, match="has shape"):
        load_checkpoint(tmp_path / "shape.safetensors")


def test_unknown_format_version(tmp_path, good_checkpoint):
    metadata = {**_metadata(good_checkpoint), "format_version": "99"}
    _rewrite(good_checkpoint, tmp_path / "v99.safetensors", metadata=metadata)
    with pytest.raises(CheckpointError, match="format version '99'"):
        load_checkpoint(tmp_path / "v99.safetensors")


@pytest.mark.parametrize(
    "change,message",
    [
        ({"model": {"width": 4096, "hidden": 4096, "image_size": 64}}, "more than this tool loads"),
        ({"latent": {"noise_dim": 10**12}}, "noise_dim must be between"),
        ({"latent": {"categorical": [10**9]}}, "cardinality must be between"),
        ({"model": {"width": -1}}, "width must be between"),
        ({"latent": {"evil": 1}}, "unknown keys: evil"),
    ],
)
def test_absurd_metadata_is_refused_before_allocating(tmp_path, good_checkpoint, change, message):
    metadata = _metadata(good_checkpoint)
    config = json.loads(metadata["config"])
    for section, values in change.items():
        config[section].update(values)
    _rewrite(good_checkpoint, tmp_path / "crafted.safetensors", metadata={**metadata, "config": json.dumps(config)})
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(tmp_path / "crafted.safetensors")


def test_resume_falls_back_to_newest_intact_checkpoint(tmp_path):
    list(train(tiny_config(max_steps=7, checkpoint_every=3), tmp_path))
    last = tmp_path / "last.safetensors"
    assert last.samefile(tmp_path / "checkpoints" / "step-000007.safetensors")  # written once, linked
    broken = last.read_bytes()[:1000]
    last.unlink()
    last.write_bytes(broken)  # last.safetensors alone is damaged
    events = list(train(tiny_config(max_steps=8, checkpoint_every=3), tmp_path, resume=True))
    assert events[0].start_step == 7  # from checkpoints/step-000007.safetensors
    assert any("skipped" in w and "last.safetensors" in w for w in events[0].warnings)
    assert events[-1].step == 8


def test_resume_skips_every_damaged_checkpoint(tmp_path):
    list(train(tiny_config(max_steps=7, checkpoint_every=3), tmp_path))
    newest = tmp_path / "checkpoints" / "step-000007.safetensors"
    newest.write_bytes(newest.read_bytes()[:1000])  # in place: the hard-linked last is damaged too
    events = list(train(tiny_config(max_steps=8, checkpoint_every=3), tmp_path, resume=True))
    assert events[0].start_step == 6
    assert len(events[0].warnings) == 2
    assert events[-1].step == 8


def test_no_unpickling_anywhere_in_the_package():
    import pathlib

    package = pathlib.Path(checkpoint_module.__file__).parent
    for source in package.rglob("*.py"):
        text = source.read_text()
        assert "torch.load(" not in text and "pickle.load" not in text, source
