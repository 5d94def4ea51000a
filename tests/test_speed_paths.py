"""The fast paths: precision choice, fused Adam, torch.compile, and the CUDA path (skipped without CUDA)."""

from __future__ import annotations

import pytest
import torch

from infogan_cli.checkpoint import load_checkpoint
from infogan_cli.errors import ConfigError
from infogan_cli.runtime import resolve_precision
from infogan_cli.trainer import train
from tests.conftest import tiny_config


def test_precision_choices():
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) is None
    assert resolve_precision("bf16", cpu) is torch.bfloat16
    assert resolve_precision("auto", cpu) is None  # bf16 is opt-in: it cost accuracy in our runs
    with pytest.raises(ConfigError, match="fp16 training needs a CUDA device"):
        resolve_precision("fp16", cpu)
    with pytest.raises(ConfigError, match="unknown precision"):
        resolve_precision("fp8", cpu)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_checkpoints_stay_fp32_whatever_the_precision(tmp_path, precision):
    events = list(train(tiny_config(precision=precision, max_steps=3), tmp_path))
    assert precision in events[0].device
    tensors = load_checkpoint(tmp_path / "last.safetensors").tensors
    weights = [t for n, t in tensors.items() if n.startswith(("generator.", "discriminator.")) and t.is_floating_point()]
    assert weights and all(t.dtype == torch.float32 for t in weights)


def test_adam_is_fused_on_cpu(tmp_path):
    from infogan_cli.trainer import prepare

    trainer, _ = prepare(tiny_config(), tmp_path, resume=False)
    assert trainer.optimizer_d.defaults["fused"] and trainer.optimizer_g.defaults["fused"]


@pytest.mark.slow
def test_compile_trains_and_saves_unwrapped_weights(tmp_path):
    events = list(train(tiny_config(compile=True, max_steps=2), tmp_path))
    assert events[-1].step == 2
    names = load_checkpoint(tmp_path / "last.safetensors").tensors.keys()
    assert not any("_orig_mod" in n for n in names)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("precision", ["bf16", "fp16", "fp32"])
def test_cuda_training_path(tmp_path, precision):
    events = list(train(tiny_config(device="cuda", precision=precision, max_steps=4, compile=False), tmp_path))
    assert events[0].device.startswith("cuda") and events[-1].step == 4
    from infogan_cli.infogan import InfoGAN

    model = InfoGAN.load(tmp_path / "last.safetensors", device="cuda")
    assert model.generate(n=3, codes={"c1": 1}).shape == (3, 1, 28, 28)
