"""Device choice, seeding and CPU thread settings."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import ConfigError


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


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity: taskset, Slurm, a container's cpuset), at
    most the whole CPUs its cgroup quota buys (docker --cpus, Kubernetes limits). os.cpu_count()
    counts the machine's CPUs, and that many threads oversubscribe the ones we get."""
    if hasattr(os, "sched_getaffinity"):
        affinity = len(os.sched_getaffinity(0))
    else:  # macOS and Windows have no affinity call
        affinity = os.cpu_count() or 1
    return cpu_threads(affinity, cgroup_cpu_limit())


def cpu_threads(affinity: int, limit: float | None) -> int:
    """Threads worth running on ``affinity`` CPUs under a quota of ``limit`` CPUs (None: none):
    whole CPUs only (1.5 -> 1, so no thread waits for the quota to refill), and at least one."""
    if limit is not None:
        affinity = min(affinity, math.floor(limit))
    return max(1, affinity)


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup"), membership: Path = Path("/proc/self/cgroup")) -> float | None:
    """The CPU time this process's cgroup quota allows, in CPUs (1.5 = 150 ms per 100 ms), or None
    without a quota. Reads cgroup v2's cpu.max and v1's cpu.cfs_quota_us / cpu.cfs_period_us in the
    process's own cgroup (from ``membership``, /proc/self/cgroup) and every cgroup above it, as a
    parent's quota binds its children too; the tightest wins."""
    try:
        lines = membership.read_text().splitlines()
    except OSError:
        return None
    limits: list[float | None] = []
    for line in lines:  # "0::/path" (v2) or "2:cpu,cpuacct:/path" (v1)
        _, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if controllers == "":
            base = root if (root / "cgroup.controllers").exists() else root / "unified"  # v2 alone, or hybrid
            limits += [_cpu_max(folder / "cpu.max") for folder in _cgroup_folders(base, path)]
        elif "cpu" in controllers.split(","):
            base = root / controllers if (root / controllers).is_dir() else root / "cpu"
            limits += [_cfs_quota(folder) for folder in _cgroup_folders(base, path)]
    found = [limit for limit in limits if limit is not None]
    return min(found) if found else None


def _cgroup_folders(base: Path, path: str) -> list[Path]:
    """``base/path`` and each folder above it up to ``base``. A path that is not there (a cgroup
    namespace mounts the process's own cgroup as the root) gives just ``base``."""
    folder = base / path.strip("/")
    if not folder.is_dir():
        return [base]
    return [folder, *[parent for parent in folder.parents if parent.is_relative_to(base)]]


def _cpu_max(path: Path) -> float | None:
    """cgroup v2: "max 100000" (no quota) or "150000 100000" (quota and period in microseconds)."""
    try:
        quota, period = path.read_text().split()
        return _ratio(int(quota), int(period))
    except (OSError, ValueError):  # absent, "max ...", or malformed
        return None


def _cfs_quota(folder: Path) -> float | None:
    """cgroup v1: cpu.cfs_quota_us (-1: no quota) over cpu.cfs_period_us."""
    try:
        return _ratio(int((folder / "cpu.cfs_quota_us").read_text()), int((folder / "cpu.cfs_period_us").read_text()))
    except (OSError, ValueError):
        return None


def _ratio(quota: int, period: int) -> float | None:
    return quota / period if quota > 0 and period > 0 else None


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def resolve_precision(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for training (None: plain fp32).

    'auto' is fp32: bf16 autocast doubles the images/s on a CPU with AVX512-BF16 but, in our
    MNIST runs, lowered code-to-digit accuracy (docs/study.md), so it is an opt-in (--precision
    bf16). Weights and optimizer state stay fp32 either way.
    """
    if name not in PRECISIONS:
        raise ConfigError(f"unknown precision {name!r}", hint=f"use one of: {', '.join(PRECISIONS)}")
    if name in ("auto", "fp32"):
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
