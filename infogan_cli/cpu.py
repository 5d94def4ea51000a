"""What the CPU at hand is and can do: its model name and whether it does bf16 arithmetic natively.

Read from the operating system's own report (``/proc/cpuinfo`` on Linux), so that choices such as
``--precision auto`` follow the features a CPU has, never a vendor name.
"""

from __future__ import annotations

import functools
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
