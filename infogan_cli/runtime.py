"""Device choice, precision, seeding and backend settings."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from .cpu import has_native_bf16, usable_cpus
from .errors import ConfigError, check_choice


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA, then MPS, then CPU; an explicit device must exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}", hint="use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} asked for, but CUDA is not available", hint="use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"no CUDA device {device.index}: {torch.cuda.device_count()} visible")
    elif device.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ConfigError("device 'mps' asked for, but MPS is not available", hint="use --device cpu")
    elif device.type != "cpu":
        raise ConfigError(f"unsupported device {name!r}", hint="use auto, cpu, cuda, cuda:N or mps")
    return device


def configure_backends(device: torch.device) -> None:
    """Fast defaults: cuDNN autotuning on GPU; on CPU one intra-op thread per CPU this process may
    use (``usable_cpus``). OMP_NUM_THREADS, when set, wins."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    elif "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(usable_cpus())


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def resolve_precision(name: str, device: torch.device, fp32_products: bool = False) -> torch.dtype | None:
    """The autocast dtype for training (None: plain fp32).

    'auto' is bf16 on a CPU that multiplies bf16 in hardware (AVX512-BF16 or AMX: 1.5-1.8x fp32's
    images/s, and with the Q head kept in fp32 the same code-to-digit accuracy, docs/study.md),
    unless ``fp32_products`` (--matmul onednn asks for fp32 matrix products); fp32 elsewhere,
    CUDA included (TF32 products there ran faster than bf16, docs/performance.md). Weights and
    optimizer state stay fp32 either way.
    """
    check_choice("precision", name, PRECISIONS)
    if name == "auto":
        return torch.bfloat16 if device.type == "cpu" and not fp32_products and has_native_bf16() else None
    if name == "fp32":
        return None
    if name == "fp16":
        if device.type != "cuda":
            raise ConfigError("fp16 training needs a CUDA device", hint="use --precision bf16 or fp32")
        return torch.float16
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"bf16 autocast is not supported on {device.type}", hint="use --precision fp32")
    return torch.bfloat16


def make_generator(seed: int, device: torch.device) -> torch.Generator:
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


# ----------------------------------------------------------------------------- torchrun / DDP


@dataclass(frozen=True)
class DistributedContext:
    """Where this process sits in a torchrun job (a single process is rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def distributed_context() -> DistributedContext:
    """Read torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK)."""
    try:
        return DistributedContext(
            int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))
        )
    except ValueError:
        raise ConfigError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (as torchrun sets them)") from None


def init_distributed(context: DistributedContext, device_name: str) -> torch.device:
    """Join the process group (NCCL on CUDA, gloo on CPU) and pick this rank's device."""
    import torch.distributed as dist

    if device_name in ("auto", "cuda") and torch.cuda.is_available():
        device = torch.device("cuda", context.local_rank)
        torch.cuda.set_device(device)
    else:
        device = resolve_device(device_name)
        if device.type == "mps":
            raise ConfigError("distributed training runs on CUDA or CPU, not MPS", hint="use --device cpu or cuda")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device
