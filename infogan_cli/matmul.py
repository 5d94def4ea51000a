"""Which library computes the fp32 matrix products of CPU training: torch's BLAS or oneDNN.

torch runs fp32 ``F.linear`` on the CPU through its BLAS (MKL on x86). Its documented setting
``torch.backends.mkldnn.matmul.fp32_precision = "bf16"`` sends those products to oneDNN instead,
which is then *allowed* to compute them in bf16. Whether it does depends on the CPU: where oneDNN
has bf16 matrix kernels for them (AMX) it does; on the AVX-512 AMD EPYC we measured it computes in
fp32, with 1.15x the images/s of the BLAS in training. ``--matmul onednn`` takes that route only where
a probe product shows fp32 accuracy, so it never changes the precision; it is not the default
because a different rounding sends a run down another trajectory, and on the seeds measured it
bought no accuracy (docs/study.md, "the fp32 matrix products").
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from .config import MATMUL_ROUTES
from .errors import ConfigError, check_choice

# fp32 sums of a few hundred products err by about 1e-7 relative; bf16 inputs by about 1e-3.
FP32_RELATIVE_ERROR = 1e-5


@contextmanager
def fp32_products(route: str) -> Iterator[None]:
    """Within the block, CPU fp32 matrix products go through ``route`` ("blas" or "onednn");
    the process's previous setting comes back after it. "blas" touches nothing."""
    if route != "onednn":
        yield
        return
    setting = torch.backends.mkldnn.matmul
    previous = setting.fp32_precision
    setting.fp32_precision = "bf16"  # torch's only public route to oneDNN for fp32 products
    try:
        yield
    finally:
        setting.fp32_precision = previous


@functools.cache
def onednn_products_are_fp32() -> bool:
    """Whether ``fp32_products("onednn")`` reaches oneDNN on this CPU and oneDNN computes fp32
    products there in fp32: a forward and both gradients of one linear layer, against float64.
    Where the setting changes nothing (no oneDNN, or a CPU torch does not send such products to
    oneDNN), the products equal the BLAS's bit for bit and the answer is False."""
    if not torch.backends.mkldnn.is_available():
        return False
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, 512, generator=generator, requires_grad=True)
    weight = torch.randn(256, 512, generator=generator, requires_grad=True)
    grad_out = torch.randn(64, 256, generator=generator)
    with fp32_products("onednn"):
        out = F.linear(x, weight)
        out.backward(grad_out)
    if torch.equal(out, F.linear(x, weight).detach()):
        return False  # the BLAS's own rounding: the setting did not reach oneDNN
    x64, w64, g64 = x.detach().double(), weight.detach().double(), grad_out.double()
    pairs = ((out.detach(), x64 @ w64.T), (x.grad, g64 @ w64), (weight.grad, g64.T @ x64))
    return all(((got.double() - want).norm() / want.norm()).item() < FP32_RELATIVE_ERROR for got, want in pairs)


def resolve_matmul(name: str, device: torch.device, autocast: bool = False) -> str:
    """Check a run's route for its fp32 products against the device and the CPU: "onednn" needs
    fp32 training on a CPU where oneDNN computes those products in fp32 (elsewhere it would change
    nothing, or change the precision, which is --precision's business)."""
    check_choice("matmul route", name, MATMUL_ROUTES)
    if name == "blas":
        return name
    if device.type != "cpu":
        raise ConfigError(f"--matmul onednn routes CPU products; this run trains on {device.type}", hint="drop --matmul, or use --matmul blas")
    if autocast:
        raise ConfigError("--matmul onednn routes fp32 products; under bf16 autocast they are bf16 already", hint="use --precision fp32, or --matmul blas")
    if not onednn_products_are_fp32():
        raise ConfigError(
            "oneDNN does not compute fp32 products in fp32 here (bf16 on this CPU, or not reached by this torch)",
            hint="use --matmul blas, or --precision bf16 for bf16 arithmetic",
        )
    return name
