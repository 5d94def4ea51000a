"""What a checkpoint holds, read from its safetensors header alone: no model is built and no
tensor is loaded, so inspecting even a large or half-trusted file costs a few kilobytes of I/O.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .checkpoint import CONTRASTIVE_PREFIX, EMA_COUNT, EMA_PREFIXES, has_ema, parse_metadata, read_header
from .config import LatentSpec, TrainConfig
from .errors import CheckpointError
from .json_output import json_safe

# Bits per element of each safetensors dtype (F4 and F6 pack several elements per byte).
DTYPE_BITS = {
    "BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8,
    "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32,
    "I64": 64, "U64": 64, "F64": 64, "C64": 64,
}
SCHEMA = {"name": "infogan-inspect", "version": 1}  # of to_dict(); docs/cli.md documents every key
GROUPS = ("generator", "discriminator", "optimizer", "rng")
EMA_GROUP = "ema"  # the moving averages (--ema-decay): a group only in checkpoints that have them
EMA_NAMES = (*EMA_PREFIXES.values(), EMA_COUNT.split(".", 1)[0])
# Groups named by their tensors' prefix that appear only in checkpoints holding them: InfoGAN-CR's guesser.
OPTIONAL_GROUPS = (CONTRASTIVE_PREFIX,)
# BatchNorm statistics live in the state dict but are not trained parameters.
BUFFER_SUFFIXES = (".running_mean", ".running_var", ".num_batches_tracked")
DISCRIMINATOR_PARTS = ("trunk", "d_head", "q_head")


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str

    @property
    def group(self) -> str:
        """generator, discriminator, optimizer (every optimizer_*), rng, ema (ema_generator.*,
        ema_discriminator.*, ema.n_averaged), contrastive (InfoGAN-CR's guesser), else other."""
        prefix = self.name.split(".", 1)[0]
        if prefix.startswith("optimizer"):
            return "optimizer"
        if prefix in EMA_NAMES:
            return EMA_GROUP
        return prefix if prefix in (*GROUPS, *OPTIONAL_GROUPS) else "other"

    @property
    def elements(self) -> int:
        return math.prod(self.shape)

    @property
    def bytes(self) -> int:
        """Bytes of data in the file; 0 for a dtype newer than this table."""
        return -(-self.elements * DTYPE_BITS.get(self.dtype, 0) // 8)

    @property
    def is_parameter(self) -> bool:
        """A trained weight of G or D/Q (not a BatchNorm statistic, not optimizer or RNG state)."""
        return self.group in ("generator", "discriminator") and not self.name.endswith(BUFFER_SUFFIXES)


@dataclass(frozen=True)
class CheckpointSummary:
    path: Path
    format_version: int
    file_bytes: int
    config: TrainConfig
    step: int
    epoch: int  # completed epochs when saved (the checkpoint metadata's integer)
    metrics: dict[str, Any]
    tensors: list[TensorInfo]

    @property
    def weights(self) -> str:
        """The weights sample, traverse, evaluate and explore use: "ema" where the file has the
        moving averages, else "raw"."""
        return "ema" if has_ema(t.name for t in self.tensors) else "raw"

    def parameters(self) -> dict[str, int]:
        """Trained parameter counts: G, D's trunk, D head and Q head, all of D, and the total."""
        counts = {"generator": 0, **{f"discriminator.{part}": 0 for part in DISCRIMINATOR_PARTS}, "discriminator": 0}
        for tensor in self.tensors:
            if not tensor.is_parameter:
                continue
            counts[tensor.group] += tensor.elements
            part = ".".join(tensor.name.split(".")[:2])
            if part in counts and part != tensor.group:
                counts[part] += tensor.elements
        counts["total"] = counts["generator"] + counts["discriminator"]
        return counts

    def groups(self) -> dict[str, dict[str, int]]:
        """Per group: number of tensors, elements and bytes. The four known groups always appear."""
        totals = {group: {"tensors": 0, "elements": 0, "bytes": 0} for group in GROUPS}
        for tensor in self.tensors:
            entry = totals.setdefault(tensor.group, {"tensors": 0, "elements": 0, "bytes": 0})
            entry["tensors"] += 1
            entry["elements"] += tensor.elements
            entry["bytes"] += tensor.bytes
        return totals

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: what ``infogan inspect --json`` prints. The epoch is named for what it
        counts: ``epochs_completed`` (an integer), while ``metrics.epoch`` is the fractional
        progress that metrics.jsonl logs."""
        return {
            "schema": dict(SCHEMA),
            "checkpoint": str(self.path),
            "format_version": self.format_version,
            "file_bytes": self.file_bytes,
            "step": self.step,
            "epochs_completed": self.epoch,
            "weights": self.weights,
            "config": self.config.to_dict(),
            "latent": latent_summary(self.config),
            "metrics": json_safe(self.metrics),
            "parameters": _parameters_json(self.parameters()),
            "groups": self.groups(),
            "tensors": {t.name: {"shape": list(t.shape), "dtype": t.dtype} for t in self.tensors},
        }


def latent_summary(config: TrainConfig) -> dict[str, Any]:
    """The noise size and, per code, its type, values or prior, and the entropy of its prior in
    nats: the ceiling of a categorical code's MI (ln K), a reference level for a continuous one."""
    spec: LatentSpec = config.latent
    codes: list[dict[str, Any]] = []
    for name, cardinality in zip(spec.categorical_names, spec.categorical):
        codes.append({"name": name, "type": "categorical", "values": cardinality, "entropy_nats": math.log(cardinality)})
    for name in spec.continuous_names:
        codes.append(
            {
                "name": name,
                "type": "continuous",
                "prior": "Unif(-1, 1)" if spec.continuous_prior == "uniform" else "N(0, 1)",
                "loss": config.continuous_loss,
                "entropy_nats": spec.continuous_entropy(),
            }
        )
    return {"noise_dim": spec.noise_dim, "codes": codes}


def summarize_checkpoint(path: str | os.PathLike) -> CheckpointSummary:
    """Parse a checkpoint's header and metadata; raises CheckpointError for anything else."""
    path = Path(path)
    metadata, shapes = read_header(path)
    config, step, epoch, metrics, _optimizers = parse_metadata(path, metadata)
    if not isinstance(metrics, dict):
        raise CheckpointError(f"{path} has malformed metadata (metrics is not an object)")
    tensors = [TensorInfo(name, tuple(shape), dtype) for name, (shape, dtype) in shapes.items()]
    return CheckpointSummary(
        path=path,
        format_version=int(metadata["format_version"]),
        file_bytes=path.stat().st_size,
        config=config,
        step=step,
        epoch=epoch,
        metrics=metrics,
        tensors=sorted(tensors, key=_display_order),
    )


def _parameters_json(counts: dict[str, int]) -> dict[str, int]:
    """Parameter counts with plain keys (trunk, not discriminator.trunk: no dots inside JSON keys)."""
    return {key.removeprefix("discriminator."): value for key, value in counts.items()}


def _display_order(tensor: TensorInfo) -> tuple[int, list[str | int]]:
    """Group by group (the averages and the guesser after the weights), then by name with numbers
    compared as numbers (convs.2 before convs.10)."""
    order = (*GROUPS[:2], EMA_GROUP, *OPTIONAL_GROUPS, *GROUPS[2:])
    group = order.index(tensor.group) if tensor.group in order else len(order)
    return group, [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", tensor.name)]
