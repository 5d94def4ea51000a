"""Data-parallel training: 2 CPU processes with gloo end with identical weights."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from infogan_cli.checkpoint import load_checkpoint
from tests.conftest import tiny_config

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, world_size: int, port: int, out: str) -> None:
    import torch.distributed as dist

    from infogan_cli.trainer import _loop, prepare

    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    # Fake consistency on: its G+Q step runs the discriminator twice before one backward.
    config = tiny_config(max_steps=4, checkpoint_every=4, lambda_fake_consistency=1.0)
    trainer, warnings = prepare(config, __import__("pathlib").Path(out) / "run", False)
    shard = trainer.epoch_order(0)[rank::world_size][: trainer.config.batch_size].tolist()
    events = list(_loop(trainer, __import__("pathlib").Path(out) / "run", warnings, lambda: False))
    state = {f"g.{k}": v for k, v in trainer.generator.state_dict().items()}
    state.update({f"d.{k}": v for k, v in trainer.discriminator.state_dict().items()})
    state["first_batch"] = torch.tensor(shard)
    state["latent"] = trainer.rng.get_state()
    save_file({k: v.contiguous() for k, v in state.items()}, os.path.join(out, f"rank{rank}.safetensors"))
    assert events[-1].step == 4
    dist.destroy_process_group()


def test_two_gloo_processes_hold_identical_weights(tmp_path):
    mp.start_processes(_rank_main, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True, start_method="spawn")
    rank0 = load_file(str(tmp_path / "rank0.safetensors"))
    rank1 = load_file(str(tmp_path / "rank1.safetensors"))
    for name in rank0:
        if name.startswith(("g.", "d.")) and "running" not in name and "num_batches" not in name:
            assert torch.equal(rank0[name], rank1[name]), name
    # Distinct data shards and distinct latent streams per rank.
    assert not set(rank0["first_batch"].tolist()) & set(rank1["first_batch"].tolist())
    assert not torch.equal(rank0["latent"], rank1["latent"])
    # Only rank 0 wrote the run, and its checkpoint matches rank 0's weights.
    checkpoint = load_checkpoint(tmp_path / "run" / "last.safetensors")
    assert checkpoint.step == 4
    assert torch.equal(checkpoint.tensors["generator.fc.0.weight"], rank0["g.fc.0.weight"])


def torchrun(args: list[str]) -> subprocess.CompletedProcess:
    """Launch under torchrun. gloo sometimes aborts a process at exit ("terminate called without an
    active exception") after training has finished and rank 0 has reported (a known issue, noted in
    docs/distributed.md). That teardown abort, and only it, counts as success: running the command
    again cannot help, since the first run's files are complete and a second `infogan train` into the
    same folder is refused. The callers check those files."""
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(free_port()), *args],
        capture_output=True, text=True, timeout=300,
    )
    teardown_abort = "terminate called without an active exception" in result.stderr and "done: " in result.stderr
    if result.returncode != 0 and teardown_abort:
        return subprocess.CompletedProcess(result.args, 0, result.stdout, result.stderr)
    return result


def test_torchrun_cli_and_the_checkpoint_samples(tmp_path, cli):
    run = tmp_path / "run"
    result = torchrun(
        ["-m", "infogan_cli", "train", "--dataset", "fake", "--width", "4", "--noise-dim", "8", "--batch-size", "16",
         "--max-steps", "4", "--log-every", "2", "--device", "cpu", "--out", str(run)]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.count("done: 4 steps") == 1  # rank 0 alone reports
    assert load_checkpoint(run / "last.safetensors").step == 4
    sample = cli("sample", str(run / "last.safetensors"), "--n", "4", "--out", str(tmp_path / "s.png"))
    assert sample.returncode == 0, sample.stderr
    # Resume under torchrun continues from the checkpoint.
    result = torchrun(
        ["-m", "infogan_cli", "train", "--dataset", "fake", "--batch-size", "16", "--max-steps", "6", "--log-every", "2",
         "--device", "cpu", "--out", str(run), "--resume"]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming at step 4" in result.stderr
    assert load_checkpoint(run / "last.safetensors").step == 6
