"""infogan_cli.cpu: the CPU's model and features, read from the OS report (never a vendor name)."""

from __future__ import annotations

from infogan_cli.cpu import cpu_flags, cpu_model, has_native_bf16, parse_cpuinfo

TWO_PROCESSORS = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8488C
flags\t\t: fpu sse2 avx2 avx512f amx_bf16 amx_tile

processor\t: 1
model name\t: something else
flags\t\t: fpu
"""


def test_the_first_processor_block_is_read():
    fields = parse_cpuinfo(TWO_PROCESSORS)
    assert fields["processor"] == "0"
    assert cpu_model(fields) == "Intel(R) Xeon(R) Platinum 8488C"
    assert cpu_flags(fields) == {"fpu", "sse2", "avx2", "avx512f", "amx_bf16", "amx_tile"}


def test_native_bf16_follows_the_feature_flags():
    assert has_native_bf16(parse_cpuinfo("model name: AMD EPYC\nflags: avx2 avx512f avx512_bf16\n"))
    assert has_native_bf16(parse_cpuinfo("model name: x\nflags: amx_bf16\n"))
    # AVX-512 alone multiplies bf16 by converting to fp32: no native bf16.
    assert not has_native_bf16(parse_cpuinfo("model name: AMD EPYC\nflags: avx2 avx512f\n"))
    assert not has_native_bf16({})


def test_a_machine_without_cpuinfo_still_names_something():
    assert cpu_model({}) and cpu_flags({}) == frozenset()
    assert cpu_model(parse_cpuinfo("Processor\t: AArch64 Processor rev 1\nFeatures\t: fp asimd bf16\n")) == "AArch64 Processor rev 1"
