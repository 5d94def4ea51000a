"""The fast paths: precision choice, fused Adam, torch.compile, the oneDNN linear route, channels_last,
and the CUDA path (skipped without CUDA)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from infogan_cli.checkpoint import load_checkpoint
from infogan_cli.errors import ConfigError
from infogan_cli.linear import Linear, linear, onednn_linear_enabled, set_onednn_linear
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


# --- the oneDNN route for fp32 linear layers on x86 CPUs, and channels_last convolutions

needs_onednn = pytest.mark.skipif(not onednn_linear_enabled(), reason="the oneDNN linear route is off here (not x86-64 or no oneDNN)")


def _linear_case(bias: bool, weight_grad: bool = True):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(32, 300, generator=gen).requires_grad_()
    weight = (torch.randn(70, 300, generator=gen) * 0.05).requires_grad_(weight_grad)
    b = torch.randn(70, generator=gen).requires_grad_() if bias else None
    return x, weight, b, torch.randn(32, 70, generator=gen)


@needs_onednn
@pytest.mark.parametrize("bias", [True, False])
def test_onednn_linear_matches_torch_forward_and_backward(bias):
    x, weight, b, grad_out = _linear_case(bias)
    out = linear(x, weight, b)
    assert type(out.grad_fn).__name__ == "_OneDNNLinearBackward"
    out.backward(grad_out)
    ours = [out.detach(), x.grad, weight.grad] + ([b.grad] if bias else [])
    x2, weight2, b2, _ = _linear_case(bias)
    reference = torch.nn.functional.linear(x2, weight2, b2)
    reference.backward(grad_out)
    expected = [reference.detach(), x2.grad, weight2.grad] + ([b2.grad] if bias else [])
    for got, want in zip(ours, expected):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert ours[0].abs().max() > 0.5  # not a trivially small product


@needs_onednn
def test_onednn_linear_skips_the_weight_gradient_of_a_frozen_weight():
    x, weight, b, grad_out = _linear_case(True, weight_grad=False)
    linear(x, weight, b).backward(grad_out)
    assert weight.grad is None and b.grad is not None
    torch.testing.assert_close(x.grad, grad_out @ weight, rtol=1e-5, atol=1e-5)


def test_linear_falls_back_to_torch_where_the_onednn_route_does_not_apply():
    x, weight, b, _ = _linear_case(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert linear(x, weight, b).dtype == torch.bfloat16  # autocast still applies
    empty = linear(x[:0], weight, b)
    assert empty.shape == (0, 70) and type(empty.grad_fn).__name__ == "AddmmBackward0"
    doubled = linear(x.double(), weight.double(), b.double())
    assert doubled.dtype == torch.float64 and type(doubled.grad_fn).__name__ != "_OneDNNLinearBackward"
    previous = set_onednn_linear(False)
    try:
        assert not onednn_linear_enabled()
        assert type(linear(x, weight, b).grad_fn).__name__ == "AddmmBackward0"
    finally:
        set_onednn_linear(previous)


def test_onednn_linear_can_be_switched_off_from_the_environment():
    code = "from infogan_cli.linear import onednn_linear_enabled; print(onednn_linear_enabled())"
    env = {**os.environ, "INFOGAN_ONEDNN_LINEAR": "0"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == "False"


def test_models_keep_nn_linear_parameters_and_names():
    from infogan_cli.models import build_models

    config = tiny_config()
    generator, discriminator = build_models(config.latent, config.model)
    layers = [m for m in [*generator.modules(), *discriminator.modules()] if isinstance(m, torch.nn.Linear)]
    assert layers and all(isinstance(m, Linear) for m in layers)
    assert "fc.0.weight" in generator.state_dict() and "d_head.bias" in discriminator.state_dict()


def test_channels_last_training_matches_contiguous_training(tmp_path):
    """On CPU the trainer keeps weights and batches channels_last; the arithmetic is the same to
    rounding as the plain NCHW layout, step for step."""
    from infogan_cli.data import to_unit_range
    from infogan_cli.trainer import prepare

    nhwc, _ = prepare(tiny_config(), tmp_path / "nhwc", resume=False)
    nchw, _ = prepare(tiny_config(), tmp_path / "nchw", resume=False)
    conv = [m for m in nhwc.discriminator.trunk if isinstance(m, torch.nn.Conv2d)][1].weight  # 4 -> 8 channels
    assert nhwc.memory_format == torch.channels_last
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    nchw.generator.to(memory_format=torch.contiguous_format)
    nchw.discriminator.to(memory_format=torch.contiguous_format)
    nchw.memory_format = torch.contiguous_format
    assert all(p.is_contiguous() for p in nchw.discriminator.parameters())
    for batch in list(nhwc.batches(0, 0))[:3]:
        real = to_unit_range(batch)
        torch.testing.assert_close(nhwc.train_step(real), nchw.train_step(real), rtol=1e-4, atol=1e-5)
    for module_a, module_b in ((nhwc.generator, nchw.generator), (nhwc.discriminator, nchw.discriminator)):
        for (name, a), b in zip(module_a.state_dict().items(), module_b.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)
