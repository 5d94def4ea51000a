"""The fast paths: precision choice, fused torch.optim.Adam, torch.compile, channels_last,
and the CUDA path (skipped without CUDA)."""

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
    assert resolve_precision("auto", torch.device("cuda")) is None  # fp32 on CUDA (with TF32 products)
    with pytest.raises(ConfigError, match="fp16 training needs a CUDA device"):
        resolve_precision("fp16", cpu)
    with pytest.raises(ConfigError, match="unknown precision"):
        resolve_precision("fp8", cpu)


@pytest.mark.parametrize("native", [True, False])
def test_auto_is_bf16_where_the_cpu_multiplies_bf16_in_hardware(monkeypatch, native):
    import infogan_cli.runtime as runtime

    monkeypatch.setattr(runtime, "has_native_bf16", lambda: native)
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) is (torch.bfloat16 if native else None)
    assert resolve_precision("auto", cpu, fp32_products=True) is None  # --matmul onednn asks for fp32 products
    assert resolve_precision("auto", torch.device("cuda")) is None
    assert resolve_precision("fp32", cpu) is None and resolve_precision("bf16", cpu) is torch.bfloat16


@pytest.mark.parametrize("native", [True, False])
def test_auto_training_header_names_the_precision_chosen(monkeypatch, tmp_path, native):
    import infogan_cli.runtime as runtime

    monkeypatch.setattr(runtime, "has_native_bf16", lambda: native)
    events = list(train(tiny_config(precision="auto", max_steps=1), tmp_path))
    assert ("bf16" if native else "fp32") in events[0].device


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_checkpoints_stay_fp32_whatever_the_precision(tmp_path, precision):
    events = list(train(tiny_config(precision=precision, max_steps=3), tmp_path))
    assert precision in events[0].device
    tensors = load_checkpoint(tmp_path / "last.safetensors").tensors
    weights = [t for n, t in tensors.items() if n.startswith(("generator.", "discriminator.")) and t.is_floating_point()]
    assert weights and all(t.dtype == torch.float32 for t in weights)


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


# --- plain torch modules and optimizers; channels_last convolutions


def test_models_are_plain_torch_modules():
    from infogan_cli.models import build_models

    config = tiny_config()
    generator, discriminator = build_models(config.latent, config.model)
    layers = [m for m in [*generator.modules(), *discriminator.modules()] if isinstance(m, torch.nn.Linear)]
    assert layers and all(type(m) is torch.nn.Linear for m in layers)
    assert "fc.0.weight" in generator.state_dict() and "d_head.bias" in discriminator.state_dict()


def test_optimizers_are_torch_adam(tmp_path):
    from infogan_cli.trainer import prepare

    trainer, _ = prepare(tiny_config(), tmp_path, resume=False)
    for optimizer in (trainer.optimizer_d, trainer.optimizer_g):
        assert type(optimizer) is torch.optim.Adam and optimizer.defaults["fused"]
    # A scheduler accepts it: what the hand-made optimizer could not offer.
    torch.optim.lr_scheduler.StepLR(trainer.optimizer_g, step_size=1)


def test_restored_moments_take_the_parameter_layout():
    """A channels_last weight restored from a file's NCHW moments: the fused kernel walks the
    memory of parameter, gradient and moments in step, so the moments must share its strides."""
    import copy

    from infogan_cli.checkpoint import _match_parameter_layout

    torch.manual_seed(0)
    reference = torch.nn.Conv2d(3, 4, 3)
    channels_last = copy.deepcopy(reference).to(memory_format=torch.channels_last)
    assert not channels_last.weight.is_contiguous()
    saved = torch.optim.Adam(reference.parameters(), lr=1e-2, fused=True)
    images = torch.randn(2, 3, 6, 6)
    reference(images).square().mean().backward()
    saved.step()
    channels_last.load_state_dict(reference.state_dict())
    ours = torch.optim.Adam(channels_last.parameters(), lr=1e-2, fused=True)
    ours.load_state_dict(copy.deepcopy(saved.state_dict()))  # contiguous moments, as read from a file
    assert ours.state[channels_last.weight]["exp_avg"].stride() != channels_last.weight.stride()
    _match_parameter_layout(ours)
    assert ours.state[channels_last.weight]["exp_avg"].stride() == channels_last.weight.stride()
    for module, optimizer in ((reference, saved), (channels_last, ours)):
        optimizer.zero_grad()
        module(images.contiguous(memory_format=torch.channels_last)).square().mean().backward()
        optimizer.step()
    torch.testing.assert_close(channels_last.weight, reference.weight, rtol=1e-5, atol=1e-6)


def test_restored_moments_of_another_shape_are_refused():
    from infogan_cli.checkpoint import _match_parameter_layout

    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, fused=True)
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    state = optimizer.state_dict()
    state["state"][0]["exp_avg"] = torch.zeros(5)
    optimizer.load_state_dict(state)  # torch itself does not check
    with pytest.raises(ValueError, match=r"parameter 0: exp_avg has shape \(5,\), not \(2, 3\)"):
        _match_parameter_layout(optimizer)


def test_channels_last_training_matches_contiguous_training(tmp_path):
    """The trainer runs NCHW in eager mode; the same run moved to channels_last does the same
    arithmetic to rounding, step for step (the layout changes only which rounding a run gets)."""
    from infogan_cli.data import to_unit_range
    from infogan_cli.trainer import prepare

    nchw, _ = prepare(tiny_config(), tmp_path / "nchw", resume=False)
    nhwc, _ = prepare(tiny_config(), tmp_path / "nhwc", resume=False)
    assert nchw.memory_format == torch.contiguous_format
    assert all(p.is_contiguous() for p in nchw.discriminator.parameters())
    nhwc.generator.to(memory_format=torch.channels_last)
    nhwc.discriminator.to(memory_format=torch.channels_last)
    nhwc.memory_format = torch.channels_last
    conv = [m for m in nhwc.discriminator.trunk if isinstance(m, torch.nn.Conv2d)][1].weight  # 4 -> 8 channels
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    for batch in list(nhwc.batches(0, 0))[:3]:
        real = to_unit_range(batch)
        torch.testing.assert_close(nhwc.train_step(real), nchw.train_step(real), rtol=1e-4, atol=1e-5)
    # Adam divides each gradient by its running scale, so a weight whose gradient is near zero can
    # step by up to a learning rate either way on rounding alone (seen with one thread: 9 of 6272
    # elements of one tensor). A layout bug would move many elements, not a few.
    largest_step = 3 * max(nhwc.config.lr_d, nhwc.config.lr_g)
    for module_a, module_b in ((nhwc.generator, nchw.generator), (nhwc.discriminator, nchw.discriminator)):
        for (name, a), b in zip(module_a.state_dict().items(), module_b.state_dict().values()):
            mismatched = ~torch.isclose(a, b, rtol=1e-4, atol=1e-5)
            assert mismatched.float().mean() <= 0.005, f"{name}: {int(mismatched.sum())} of {a.numel()} differ"
            assert (a - b).abs().max() <= largest_step, name


def test_training_memory_format_per_device_and_compile():
    """NCHW in eager mode (on the CPU, channels_last trained worse seeds); channels_last under
    torch.compile on CPU and CUDA (inductor's layout optimisation fails its own stride check on NCHW
    convolution gradients on CUDA)."""
    from infogan_cli.trainer import training_memory_format

    layouts = {
        (kind, compiled): training_memory_format(torch.device(kind), compiled)
        for kind in ("cpu", "cuda", "mps") for compiled in (False, True)
    }
    assert layouts == {
        ("cpu", False): torch.contiguous_format, ("cpu", True): torch.channels_last,
        ("cuda", False): torch.contiguous_format, ("cuda", True): torch.channels_last,
        ("mps", False): torch.contiguous_format, ("mps", True): torch.contiguous_format,
    }
