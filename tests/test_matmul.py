"""The library of the CPU's fp32 matrix products (--matmul): the probe, the choice, the training step."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from conftest import assert_one_error_line, run_main, tiny_config
from infogan_cli import matmul
from infogan_cli.config import MATMUL_ROUTES, ConfigError, TrainConfig, train_from_dict
from infogan_cli.data import load_dataset
from infogan_cli.matmul import FP32_RELATIVE_ERROR, fp32_products, onednn_products_are_fp32, resolve_matmul
from infogan_cli.trainer import Trainer, train

CPU = torch.device("cpu")


def current_setting() -> str:
    return torch.backends.mkldnn.matmul.fp32_precision


def test_the_route_holds_inside_the_block_and_the_setting_comes_back():
    before = current_setting()
    with fp32_products("onednn"):
        assert current_setting() == "bf16"  # torch's switch that lets oneDNN take fp32 products
    assert current_setting() == before
    with fp32_products("blas"):
        assert current_setting() == before
    with pytest.raises(RuntimeError, match="boom"):
        with fp32_products("onednn"):
            raise RuntimeError("boom")
    assert current_setting() == before


def test_choices(monkeypatch):
    assert resolve_matmul("blas", CPU) == resolve_matmul("blas", torch.device("cuda"), autocast=True) == "blas"
    with pytest.raises(ConfigError, match="unknown matmul route 'mkl'") as caught:
        resolve_matmul("mkl", CPU)
    assert caught.value.hint == "use one of: blas, onednn"

    monkeypatch.setattr(matmul, "onednn_products_are_fp32", lambda: True)
    assert resolve_matmul("onednn", CPU) == "onednn"
    with pytest.raises(ConfigError, match="routes CPU products; this run trains on cuda"):
        resolve_matmul("onednn", torch.device("cuda"))
    with pytest.raises(ConfigError, match="under bf16 autocast they are bf16 already"):
        resolve_matmul("onednn", CPU, autocast=True)
    monkeypatch.setattr(matmul, "onednn_products_are_fp32", lambda: False)
    with pytest.raises(ConfigError, match="does not compute fp32 products in fp32") as caught:
        resolve_matmul("onednn", CPU)
    assert "--matmul blas" in caught.value.hint


def test_the_probe_tells_this_cpu_apart():
    """Where the probe says yes, a larger product than its own goes to oneDNN (other rounding
    than the BLAS) and stays fp32-accurate; where it says no, the route changes nothing or loses
    fp32 accuracy. Either way its answer is what the arithmetic shows."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(128, 1024, generator=generator)
    weight = torch.randn(512, 1024, generator=generator) * 0.02
    blas = F.linear(x, weight)
    with fp32_products("onednn"):
        routed = F.linear(x, weight)
    want = x.double() @ weight.double().T
    error = ((routed.double() - want).norm() / want.norm()).item()
    if onednn_products_are_fp32():
        assert not torch.equal(routed, blas)
        assert error < FP32_RELATIVE_ERROR
    else:
        assert torch.equal(routed, blas) or error >= FP32_RELATIVE_ERROR


def test_the_training_step_runs_on_the_chosen_route(monkeypatch, tmp_path):
    monkeypatch.setattr(matmul, "onednn_products_are_fp32", lambda: True)
    before = current_setting()
    for route, inside in (("onednn", "bf16"), ("blas", before)):
        seen: list[str] = []
        trainer = Trainer(tiny_config(matmul=route), tmp_path, load_dataset("fake"), CPU)
        assert trainer.matmul_route == route
        trainer.generator.register_forward_hook(lambda *_: seen.append(current_setting()))
        trainer.train_step(torch.rand(16, 1, 28, 28) * 2 - 1)
        assert seen == [inside]
        assert current_setting() == before


def test_config_validates_stores_and_may_change_on_resume(tmp_path, capsys, monkeypatch):
    assert TrainConfig().matmul == "blas" and MATMUL_ROUTES == ("blas", "onednn")
    with pytest.raises(ConfigError, match="unknown matmul route"):
        TrainConfig(matmul="fast")
    assert train_from_dict({}).matmul == "blas"  # runs stored before the option
    monkeypatch.setattr(matmul, "onednn_products_are_fp32", lambda: True)
    events = list(train(tiny_config(matmul="onednn", max_steps=2, epochs=2), tmp_path))
    assert events[0].device == "cpu fp32 (oneDNN products)"
    assert json.loads((tmp_path / "config.json").read_text())["matmul"] == "onednn"
    code, out, err = run_main(capsys, "train", "--out", str(tmp_path), "--resume", "--max-steps", "4", "--matmul", "blas")
    assert code == 0, err
    assert json.loads((tmp_path / "config.json").read_text())["matmul"] == "blas"


def test_bad_route_on_the_command_line_is_one_line(tmp_path, capsys):
    code, out, err = run_main(capsys, "train", "--dataset", "fake", "--max-steps", "1", "--out", str(tmp_path / "r"), "--matmul", "mkl")
    assert_one_error_line(code, err)
    assert "unknown matmul route 'mkl'" in err and "blas, onednn" in err
