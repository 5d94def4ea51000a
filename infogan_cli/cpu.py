"""The CPU at hand: its model name, whether it does bf16 arithmetic natively, and how many of its
CPUs this process may use.

Read from the operating system's own reports (``/proc/cpuinfo``, the affinity mask, cgroup quotas),
never from a vendor name. The thread count follows ``usable_cpus``; the benchmarks report the model
and native bf16. ``--precision auto`` does not use native bf16 yet: bf16 did not hold code-to-digit
accuracy in our runs (docs/study.md).
"""

from __future__ import annotations

import functools
import math
import os
import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
# x86 flags of native bf16 arithmetic: AVX512-BF16 dot products, or AMX tiles with bf16.
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


@functools.cache
def cpuinfo_fields() -> dict[str, str]:
    """The first processor's ``key: value`` lines of /proc/cpuinfo ({} where there is none)."""
    try:
        text = CPUINFO.read_text()
    except OSError:
        return {}
    return parse_cpuinfo(text)


def parse_cpuinfo(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break  # the first processor's block is enough: the others repeat it
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_model(fields: dict[str, str] | None = None) -> str:
    """The CPU's model name, e.g. 'AMD EPYC 9R14 96-Core Processor'."""
    fields = cpuinfo_fields() if fields is None else fields
    # x86 says "model name"; some ARM kernels say "Processor" or only "CPU part".
    name = fields.get("model name") or fields.get("Processor") or platform.processor() or platform.machine()
    return name or "unknown CPU"


def cpu_flags(fields: dict[str, str] | None = None) -> frozenset[str]:
    fields = cpuinfo_fields() if fields is None else fields
    return frozenset((fields.get("flags") or fields.get("Features") or "").split())


def has_native_bf16(fields: dict[str, str] | None = None) -> bool:
    """True where the CPU multiplies bf16 in hardware (AVX512-BF16 or AMX-BF16)."""
    return bool(cpu_flags(fields) & NATIVE_BF16_FLAGS)


# ----------------------------------------------------------------------------- CPUs we may use


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
