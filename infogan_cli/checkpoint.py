"""Checkpoints as safetensors: tensors for weights, optimizer state and RNG state; JSON strings
for everything else in the header metadata. Written atomically; never unpickled.

Layout of one file:
  generator.*, discriminator.*             module state dicts (unwrapped, fp32)
  ema_generator.*, ema_discriminator.*     with --ema-decay: their moving averages, the same names
  ema.n_averaged                           and the steps averaged (int64, shape [])
  contrastive.*                            with --lambda-contrastive: InfoGAN-CR's guesser (training only)
  optimizer_d.state.<i>.<key>, optimizer_g.* Adam moments and step counts
  optimizer_contrastive.*                    with --lambda-contrastive: its Adam state
  rng.train, rng.cpu                         torch.Generator / CPU RNG states (uint8)
  metadata: format, format_version, config (TrainConfig JSON), step, epoch, metrics, optimizers
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .config import TrainConfig, train_from_dict
from .errors import CheckpointError, ConfigError, check_choice, first_line
from .files import atomic_write
from .models import Discriminator, Generator, build_models

if TYPE_CHECKING:
    from torch.optim import Optimizer

FORMAT_NAME = "infogan-checkpoint"
FORMAT_VERSION = 1
MAX_PARAMETERS = 500_000_000  # refuse metadata that describes an absurdly large model
MAX_METADATA_BYTES = 1_000_000
STEP_PATTERN = re.compile(r"step-(\d+)\.safetensors$")
# The moving averages of the generator and discriminator weights (ema.py), and their step count.
EMA_PREFIXES = {"generator": "ema_generator", "discriminator": "ema_discriminator"}
EMA_COUNT = "ema.n_averaged"
CONTRASTIVE_PREFIX = "contrastive"  # InfoGAN-CR's guesser (--lambda-contrastive): contrastive.*
_EMA_TENSOR_PREFIXES = tuple(f"{prefix}." for prefix in EMA_PREFIXES.values())
# What inference reads (load_checkpoint's weights_only): the weights and their averages.
_WEIGHT_PREFIXES = ("generator.", "discriminator.", *_EMA_TENSOR_PREFIXES)
WEIGHTS = ("auto", "ema", "raw")  # what InfoGAN.load may ask for (chosen_weights); auto: ema where the file has it


@dataclass
class Checkpoint:
    """What a checkpoint file holds, parsed and validated."""

    path: Path
    config: TrainConfig
    step: int
    epoch: int
    metrics: dict[str, Any]
    tensors: dict[str, torch.Tensor] = field(repr=False)
    optimizers: dict[str, Any] = field(repr=False)


# ----------------------------------------------------------------------------- writing


def save_checkpoint(path: str | os.PathLike, **parts: Any) -> Path:
    """Write a checkpoint atomically; ``parts`` as for ``checkpoint_contents``.

    safetensors' ``save_file`` streams the tensors to disk without building the whole file in
    memory (``save`` would hold two extra copies: ~300 MB for the default model with Adam state).
    """
    from safetensors.torch import save_file

    tensors, metadata = checkpoint_contents(**parts)
    return atomic_write(Path(path), lambda tmp_name: save_file(tensors, tmp_name, metadata=metadata))


def checkpoint_contents(
    *,
    config: TrainConfig,
    generator: nn.Module,
    discriminator: nn.Module,
    step: int,
    epoch: int,
    optimizers: dict[str, Optimizer] | None = None,
    rng: dict[str, torch.Tensor] | None = None,
    metrics: dict[str, Any] | None = None,
    ema: dict[str, torch.Tensor] | None = None,
    contrastive: nn.Module | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and string metadata of a checkpoint file; ``ema``: the tensors of the weight
    average (ema.WeightAverage.state_tensors), already named ema_generator.* and so on."""
    tensors: dict[str, torch.Tensor] = {}
    tensors.update(_prefixed("generator", generator.state_dict()))
    tensors.update(_prefixed("discriminator", discriminator.state_dict()))
    if contrastive is not None:
        tensors.update(_prefixed(CONTRASTIVE_PREFIX, contrastive.state_dict()))
    optimizer_meta: dict[str, Any] = {}
    for name, optimizer in (optimizers or {}).items():
        flat, meta = _flatten_optimizer(optimizer.state_dict())
        tensors.update(_prefixed(name, flat))
        optimizer_meta[name] = meta
    for name, state in (rng or {}).items():
        tensors[f"rng.{name}"] = state
    tensors.update(ema or {})
    tensors = {k: v.detach().to("cpu", copy=False).contiguous() for k, v in tensors.items()}
    metadata = {
        "format": FORMAT_NAME,
        "format_version": str(FORMAT_VERSION),
        "config": config.to_json(),
        "step": str(step),
        "epoch": str(epoch),
        "metrics": json.dumps(metrics or {}),
        "optimizers": json.dumps(optimizer_meta),
    }
    return tensors, metadata


def _prefixed(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v for k, v in state.items()}


def _flatten_optimizer(state_dict: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer state dict into tensors and a JSON-able remainder."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entry in state_dict["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{index}.{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _unflatten_optimizer(prefix: str, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + ".state."):
            index, key = name[len(prefix) + 7 :].split(".", 1)
            state.setdefault(int(index), {})[key] = value
    for index, entry in meta.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(entry)
    return {"state": state, "param_groups": meta["param_groups"]}


# ----------------------------------------------------------------------------- reading


def read_header(path: str | os.PathLike, kind: str = "checkpoint") -> tuple[dict[str, str], dict[str, tuple[list[int], str]]]:
    """Metadata and {tensor name: (shape, dtype)} of a safetensors file, without reading tensor data.

    safetensors' own parser (``safe_open``) reads the header: it refuses a header that is not JSON,
    metadata values that are not strings, unknown dtypes, negative or non-integer sizes, a tensor
    whose bytes do not match its shape and dtype, and tensors that do not cover the file exactly
    (truncated, or with bytes appended). ``kind`` names the file in messages ("checkpoint",
    "classifier").
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    _check_file(path, kind)
    if path.stat().st_size < 8:
        raise CheckpointError(f"{path} is not a {kind}: too short to be a safetensors file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            shapes = {}
            for name in handle.keys():
                tensor = handle.get_slice(name)
                shapes[name] = (list(tensor.get_shape()), str(tensor.get_dtype()))
    except SafetensorError as exc:
        reason = first_line(exc).removeprefix("Error while deserializing header: ")
        if "not fully covered" in reason or "MetadataIncompleteBuffer" in reason:  # safetensors >= 0.5 / older
            raise CheckpointError(f"{path} is truncated (or has bytes appended): its tensors do not cover the file") from None
        raise CheckpointError(f"{path} is not a safetensors {kind} ({reason})") from None
    except OSError as exc:
        raise CheckpointError(f"{path} could not be read ({first_line(exc)})") from None
    return metadata, shapes


def parse_metadata(path: Path, metadata: dict[str, str]) -> tuple[TrainConfig, int, int, dict[str, Any], dict[str, Any]]:
    """Validate the format and parse config, step, epoch, metrics and optimizer metadata."""
    if metadata.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path} is a safetensors file but not an infogan checkpoint")
    version = metadata.get("format_version", "")
    if version != str(FORMAT_VERSION):
        raise CheckpointError(
            f"{path} has checkpoint format version {version!r}; this infogan reads version {FORMAT_VERSION}",
            hint="upgrade infogan to read newer checkpoints",
        )
    if sum(len(v) for v in metadata.values()) > MAX_METADATA_BYTES:
        raise CheckpointError(f"{path} has oversized metadata")
    try:
        config = train_from_dict(json.loads(metadata["config"]))
        step = int(metadata["step"])
        epoch = int(metadata["epoch"])
        metrics = json.loads(metadata.get("metrics", "{}"))
        optimizers = json.loads(metadata.get("optimizers", "{}"))
    except ConfigError as exc:
        raise CheckpointError(f"{path} has an invalid config: {exc.message}") from None
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{path} has malformed metadata ({type(exc).__name__}: {exc})") from None
    if step < 0 or epoch < 0:
        raise CheckpointError(f"{path} has a negative step or epoch")
    return config, step, epoch, metrics, optimizers


def load_checkpoint(path: str | os.PathLike, device: torch.device | str = "cpu", weights_only: bool = False) -> Checkpoint:
    """Read and validate a checkpoint. Sizes are bounded before any tensor is read.

    ``weights_only`` reads just the generator and discriminator tensors and their averages
    (what inference needs), skipping the optimizer state that is twice their size.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    metadata, shapes = read_header(path)
    config, step, epoch, metrics, optimizers = parse_metadata(path, metadata)
    _check_model_shapes(path, config, shapes)
    names = [n for n in shapes if not weights_only or n.startswith(_WEIGHT_PREFIXES)]
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as handle:
            tensors = {name: handle.get_tensor(name) for name in names}
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise CheckpointError(f"{path} is corrupted: {first_line(exc)}") from None
    return Checkpoint(path, config, step, epoch, metrics, tensors, optimizers)


def _check_file(path: Path, kind: str = "checkpoint") -> None:
    if not path.exists():
        raise CheckpointError(f"{kind} {path} does not exist")
    if path.is_dir():
        last = path / "last.safetensors"
        hint = f"pass {last}" if kind == "checkpoint" and last.exists() else None
        raise CheckpointError(f"{path} is a folder, not a {kind}", hint=hint)
    if path.stat().st_size == 0:
        raise CheckpointError(f"{kind} {path} is empty")


def has_ema(names: Iterable[str]) -> bool:
    """Whether a checkpoint's tensor names include the weight averages (--ema-decay)."""
    return any(name == EMA_COUNT or name.startswith(_EMA_TENSOR_PREFIXES) for name in names)


def _check_model_shapes(path: Path, config: TrainConfig, shapes: dict[str, tuple[list[int], str]]) -> None:
    """Build the models on the meta device (no memory), bound their size, compare shapes (of the
    averages too, when the file has any)."""
    with torch.device("meta"):
        generator, discriminator = build_models(config.latent, config.model)
    n_params = sum(p.numel() for m in (generator, discriminator) for p in m.parameters())
    if n_params > MAX_PARAMETERS:
        raise CheckpointError(f"{path} describes a model with {n_params:,} parameters, more than this tool loads")
    modules = [("generator", generator), ("discriminator", discriminator)]
    if has_ema(shapes):
        modules += [(EMA_PREFIXES["generator"], generator), (EMA_PREFIXES["discriminator"], discriminator)]
        if shapes.get(EMA_COUNT) != ([], "I64"):
            raise CheckpointError(f"{path} has weight averages but no int64 step count {EMA_COUNT!r}")
    for prefix, module in modules:
        for name, tensor in module.state_dict().items():
            key = f"{prefix}.{name}"
            if key not in shapes:
                raise CheckpointError(f"{path} is missing tensor {key!r}")
            if list(tensor.shape) != shapes[key][0]:
                raise CheckpointError(
                    f"{path}: tensor {key!r} has shape {shapes[key][0]}, the config needs {list(tensor.shape)}"
                )


def chosen_weights(checkpoint: Checkpoint, weights: str = "auto") -> str:
    """"ema" or "raw": the weights that ``weights`` (one of WEIGHTS) picks in this checkpoint."""
    check_choice("weights", weights, WEIGHTS)
    present = has_ema(checkpoint.tensors)
    if weights == "ema" and not present:
        raise CheckpointError(
            f"{checkpoint.path} has no averaged weights", hint="train with --ema-decay (also on --resume), or load the raw weights"
        )
    return "ema" if weights != "raw" and present else "raw"


def build_from_checkpoint(
    checkpoint: Checkpoint, device: torch.device | str = "cpu", average: bool = False
) -> tuple[Generator, Discriminator]:
    """Models with the checkpoint's weights, on ``device``, in eval mode: its moving averages
    with ``average`` (which chosen_weights decides)."""
    generator, discriminator = build_models(checkpoint.config.latent, checkpoint.config.model)
    load_module_state(checkpoint, EMA_PREFIXES["generator"] if average else "generator", generator)
    load_module_state(checkpoint, EMA_PREFIXES["discriminator"] if average else "discriminator", discriminator)
    return generator.to(device).eval(), discriminator.to(device).eval()


def load_module_state(checkpoint: Checkpoint, prefix: str, module: nn.Module) -> None:
    state = {k[len(prefix) + 1 :]: v for k, v in checkpoint.tensors.items() if k.startswith(prefix + ".")}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{checkpoint.path}: {prefix} weights do not match ({first_line(exc)})") from None


def load_optimizer_state(checkpoint: Checkpoint, name: str, optimizer: Optimizer) -> None:
    if name not in checkpoint.optimizers:
        raise CheckpointError(f"{checkpoint.path} has no {name} state to resume from")
    try:
        optimizer.load_state_dict(_unflatten_optimizer(name, checkpoint.tensors, checkpoint.optimizers[name]))
        _match_parameter_layout(optimizer)
    except (ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{checkpoint.path}: {name} state does not match ({first_line(exc)})") from None


def _match_parameter_layout(optimizer: Optimizer) -> None:
    """Give each restored moment its parameter's shape check and memory layout.

    torch's load_state_dict checks neither: a crafted file could carry moments of another shape,
    and moments read from a file are contiguous while a channels_last weight is not. The fused
    Adam kernel walks parameter, gradient and moments as flat memory, so their strides must agree.
    """
    for group in optimizer.param_groups:
        for index, param in enumerate(group["params"]):
            for key, value in optimizer.state.get(param, {}).items():
                if key == "step":
                    continue
                if not isinstance(value, torch.Tensor) or value.shape != param.shape:
                    raise ValueError(f"parameter {index}: {key} has shape {tuple(getattr(value, 'shape', ()))}, not {tuple(param.shape)}")
                if value.stride() != param.stride():
                    optimizer.state[param][key] = torch.empty_like(param).copy_(value)


# ----------------------------------------------------------------------------- run folders


def step_checkpoints(run_dir: Path) -> list[Path]:
    """Step checkpoints in a run folder, oldest first."""
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := STEP_PATTERN.search(p.name))]
    return [p for _, p in sorted(found)]


def prune_checkpoints(run_dir: Path, keep: int) -> None:
    for old in step_checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)


def latest_intact_checkpoint(run_dir: Path, device: torch.device | str = "cpu") -> tuple[Checkpoint | None, list[str]]:
    """The newest checkpoint of a run that loads, trying last.safetensors first, then the step
    checkpoints newest first. Returns it (or None) and a warning per file that did not load."""
    warnings: list[str] = []
    candidates = [run_dir / "last.safetensors"] + step_checkpoints(run_dir)[::-1]
    for candidate in candidates:
        if not candidate.exists():
            continue
        try:
            return load_checkpoint(candidate, device), warnings
        except CheckpointError as exc:
            warnings.append(f"skipped {candidate}: {exc.message}")
    return None, warnings
