"""A fully connected layer whose fp32 CPU matrix multiplies go through oneDNN.

Why: on x86 CPUs PyTorch runs fp32 ``F.linear`` through MKL's sgemm, and MKL picks its AVX2 code
path on AMD processors even where they have AVX-512. On this project's AMD EPYC that ran the
paper model's 6272x1024 layers at ~180 GFLOP/s, where oneDNN (which PyTorch ships for its
convolutions) ran the same products at 300-470 GFLOP/s, in fp32 with the same results to
rounding (docs/performance.md). The fully connected layers are the largest part of a training
step, so this is the single biggest fp32 speed lever on such machines.

``Linear`` is an ``nn.Linear`` (same parameters, state-dict keys and initialisation); only the
arithmetic of its forward and backward differs, and only where it is safe: an fp32 2-D input on
an x86-64 CPU, oneDNN present, no autocast and no ``torch.compile`` tracing. Everything else, and
every process with ``INFOGAN_ONEDNN_LINEAR=0`` in its environment, uses ``F.linear``.
"""

from __future__ import annotations

import os
import platform

import torch
import torch.nn.functional as F
from torch import nn


def _onednn_linear_available() -> bool:
    if os.environ.get("INFOGAN_ONEDNN_LINEAR", "1") == "0":
        return False
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False  # the MKL dispatch problem is an x86 one; elsewhere keep torch's choice
    if not torch.backends.mkldnn.is_available():
        return False
    return hasattr(torch.ops.mkldnn, "_linear_pointwise")


_enabled = _onednn_linear_available()


def onednn_linear_enabled() -> bool:
    return _enabled


def set_onednn_linear(enabled: bool) -> bool:
    """Turn the oneDNN path on or off for this process (benchmarks compare both); returns the
    previous setting. Turning it on where it is unavailable leaves it off."""
    global _enabled
    previous = _enabled
    _enabled = bool(enabled) and _onednn_linear_available()
    return previous


def _matmul_t(a: torch.Tensor, b: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """a @ b.T (+ bias) through oneDNN (``b`` is (out, in), like a linear weight; views are fine).
    The one place that calls torch's internal op, whose signature is not a public API."""
    return torch.ops.mkldnn._linear_pointwise(a, b, bias, "none", [], "")


class _OneDNNLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _matmul_t(x, weight, bias)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        x, weight = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        grad_x = grad_w = grad_b = None
        # Only what is asked for: the G+Q step freezes the discriminator's weights and needs
        # just the gradient with respect to the input.
        if ctx.needs_input_grad[0]:
            grad_x = _matmul_t(grad_out, weight.t())  # (B, out) @ (out, in)
        if ctx.needs_input_grad[1]:
            grad_w = _matmul_t(grad_out.t(), x.t())  # (out, B) @ (B, in)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_out.sum(0)
        return grad_x, grad_w, grad_b


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear``, through oneDNN where that is safe and on (see the module docstring)."""
    if (
        _enabled
        and x.device.type == "cpu"
        and x.dim() == 2
        and x.shape[0] > 0  # oneDNN has no primitive for an empty batch
        and x.dtype == torch.float32
        and weight.dtype == torch.float32
        and not torch.is_autocast_enabled("cpu")
        and not torch.compiler.is_compiling()
    ):
        return _OneDNNLinear.apply(x, weight, bias)
    return F.linear(x, weight, bias)


class Linear(nn.Linear):
    """``nn.Linear`` with the oneDNN fp32 CPU path."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)
