"""CPU threads: as many as the CPUs this process may run on (affinity) and its cgroup quota buys."""

from __future__ import annotations

import pytest
import torch

from infogan_cli import cpu
from infogan_cli.cpu import cgroup_cpu_limit, cpu_threads
from infogan_cli.runtime import configure_backends


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_quota_of_this_cgroup_and_the_ones_above(tmp_path):
    root, membership = tmp_path / "fs", tmp_path / "self-cgroup"
    write(root / "cgroup.controllers", "cpu memory\n")
    write(root / "cpu.max", "max 100000\n")  # the root: no quota
    write(root / "job" / "cpu.max", "150000 100000\n")  # the parent allows 1.5 CPUs
    write(root / "job" / "step" / "cpu.max", "400000 100000\n")  # the process's own cgroup: 4
    write(membership, "0::/job/step\n")
    assert cgroup_cpu_limit(root, membership) == 1.5
    write(membership, "0::/\n")  # a container's namespace: its own cgroup is the root
    assert cgroup_cpu_limit(root, membership) is None
    write(root / "cpu.max", "200000 100000\n")
    assert cgroup_cpu_limit(root, membership) == 2.0


def test_cgroup_v1_cfs_quota(tmp_path):
    root, membership = tmp_path / "fs", tmp_path / "self-cgroup"
    write(membership, "4:memory:/x\n2:cpu,cpuacct:/slurm/job7\n0::/\n")
    write(root / "cpu,cpuacct" / "slurm" / "job7" / "cpu.cfs_quota_us", "300000\n")
    write(root / "cpu,cpuacct" / "slurm" / "job7" / "cpu.cfs_period_us", "100000\n")
    write(root / "cpu,cpuacct" / "cpu.cfs_quota_us", "-1\n")  # no quota above it
    write(root / "cpu,cpuacct" / "cpu.cfs_period_us", "100000\n")
    assert cgroup_cpu_limit(root, membership) == 3.0


@pytest.mark.parametrize("cpu_max", ["", "max", "abc 100000", "100000 0", "-5 100000"])
def test_malformed_or_missing_cgroup_files_mean_no_quota(tmp_path, cpu_max):
    root, membership = tmp_path / "fs", tmp_path / "self-cgroup"
    write(root / "cgroup.controllers", "cpu\n")
    write(root / "cpu.max", cpu_max)
    write(membership, "0::/\n")
    assert cgroup_cpu_limit(root, membership) is None
    assert cgroup_cpu_limit(tmp_path / "nowhere", tmp_path / "no-membership-file") is None


@pytest.mark.parametrize("affinity,limit,threads", [(8, None, 8), (8, 2.0, 2), (2, 4.0, 2), (8, 1.5, 1), (8, 0.5, 1), (1, None, 1)])
def test_cpu_threads(affinity, limit, threads):
    assert cpu_threads(affinity, limit) == threads


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_configure_backends_uses_the_cpus_this_process_may_run_on(monkeypatch, restore_threads):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(cpu.os, "sched_getaffinity", lambda pid: {0}, raising=False)  # as under `taskset -c 0`
    monkeypatch.setattr(cpu, "cgroup_cpu_limit", lambda: None)
    torch.set_num_threads(3)
    configure_backends(torch.device("cpu"))
    assert torch.get_num_threads() == 1
    monkeypatch.setattr(cpu.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(cpu, "cgroup_cpu_limit", lambda: 1.0)  # a container with --cpus 1
    configure_backends(torch.device("cpu"))
    assert torch.get_num_threads() == 1


def test_omp_num_threads_still_wins(monkeypatch, restore_threads):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.setattr(cpu.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    torch.set_num_threads(3)
    configure_backends(torch.device("cpu"))
    assert torch.get_num_threads() == 3
