"""infogan_cli.optim.Adam: the same updates and state_dict as torch.optim.Adam, without torch._dynamo."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import torch

from infogan_cli.optim import Adam


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.BatchNorm1d(5), torch.nn.Linear(5, 2))


def _train(model: torch.nn.Module, optimizer, steps: int, seed: int = 1) -> None:
    data = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        model(torch.randn(8, 6, generator=data)).square().mean().backward()
        optimizer.step()


@pytest.mark.parametrize("fused", [True, False])
def test_updates_and_state_match_torch_adam_bit_for_bit(fused):
    ours_model, torch_model = _model(), _model()
    settings = dict(lr=1e-2, betas=(0.5, 0.999), fused=fused, foreach=None if fused else True)
    ours = Adam(ours_model.parameters(), **settings)
    reference = torch.optim.Adam(torch_model.parameters(), **settings)
    _train(ours_model, ours, 5)
    _train(torch_model, reference, 5)
    for a, b in zip(ours_model.parameters(), torch_model.parameters()):
        assert torch.equal(a, b)
    ours_state, torch_state = ours.state_dict(), reference.state_dict()
    assert ours_state["param_groups"] == torch_state["param_groups"]
    assert ours_state["state"].keys() == torch_state["state"].keys()
    for index, entry in torch_state["state"].items():
        for key, value in entry.items():
            assert torch.equal(ours_state["state"][index][key], value), (index, key)
            assert ours_state["state"][index][key].dtype == value.dtype


def test_resumes_from_a_torch_adam_state_dict():
    """Checkpoints written by torch.optim.Adam (before this class) resume to the same weights."""
    first, second = _model(), _model()
    reference = torch.optim.Adam(first.parameters(), lr=1e-2, fused=True)
    _train(first, reference, 3)
    second.load_state_dict(first.state_dict())
    ours = Adam(second.parameters(), lr=1e-2, fused=True)
    ours.load_state_dict(copy.deepcopy(reference.state_dict()))  # as read from a file: not shared
    _train(first, reference, 3, seed=2)
    _train(second, ours, 3, seed=2)
    for a, b in zip(first.parameters(), second.parameters()):
        assert torch.equal(a, b)


def test_a_state_that_does_not_fit_is_refused():
    model = _model()
    optimizer = Adam(model.parameters(), lr=1e-2, fused=True)
    _train(model, optimizer, 1)
    saved = optimizer.state_dict()
    fewer = Adam(list(model.parameters())[:-1], lr=1e-2, fused=True)
    with pytest.raises(ValueError, match="groups"):
        fewer.load_state_dict(saved)
    misshaped = {**saved, "state": {**saved["state"], 0: {**saved["state"][0], "exp_avg": torch.zeros(3)}}}
    with pytest.raises(ValueError, match="shape"):
        Adam(model.parameters(), lr=1e-2, fused=True).load_state_dict(misshaped)


def test_training_does_not_import_torch_dynamo(tmp_path):
    """torch.optim's optimizers import torch._dynamo (~150 MB resident); a training run must not."""
    script = f"""
import sys
from infogan_cli.trainer import train
from tests.conftest import tiny_config
for _ in train(tiny_config(), {str(tmp_path)!r}):
    pass
assert "torch._dynamo" not in sys.modules, "torch._dynamo was imported"
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_restored_moments_take_the_parameter_layout():
    """A channels_last weight restored from a file's NCHW moments: the fused kernel walks the
    memory of parameter, gradient and moments in step, so the moments must share its strides."""
    torch.manual_seed(0)
    reference = torch.nn.Conv2d(3, 4, 3)
    channels_last = copy.deepcopy(reference).to(memory_format=torch.channels_last)
    assert not channels_last.weight.is_contiguous()
    saved = torch.optim.Adam(reference.parameters(), lr=1e-2, fused=True)
    images = torch.randn(2, 3, 6, 6)
    reference(images).square().mean().backward()
    saved.step()
    channels_last.load_state_dict(reference.state_dict())
    ours = Adam(channels_last.parameters(), lr=1e-2, fused=True)
    ours.load_state_dict(copy.deepcopy(saved.state_dict()))  # contiguous moments, as read from a file
    moments = ours.state[channels_last.weight]
    assert moments["exp_avg"].stride() == channels_last.weight.stride()
    for module, optimizer in ((reference, saved), (channels_last, ours)):
        optimizer.zero_grad()
        module(images.contiguous(memory_format=torch.channels_last)).square().mean().backward()
        optimizer.step()
    torch.testing.assert_close(channels_last.weight, reference.weight, rtol=1e-5, atol=1e-6)
