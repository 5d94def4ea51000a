"""Frozen configuration dataclasses, their validation and their JSON form.

A checkpoint stores ``LatentSpec`` and ``ModelConfig`` as JSON; loading parses them strictly
and bounds every size before a model is built, so a crafted file cannot make us allocate a
huge network.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError, check_choice

CONTINUOUS_PRIORS = ("uniform", "normal")
CONTINUOUS_LOSSES = ("gaussian", "mse")
CONSISTENCY_TRANSFORM_NAMES = ("affine", "shift-scale", "affine-wide")  # the keys of augment.CONSISTENCY_TRANSFORMS
MATMUL_ROUTES = ("blas", "onednn")  # TrainConfig.matmul, checked against the CPU by matmul.resolve_matmul
ARCHITECTURES = ("paper", "tutorial")
CONTINUOUS_ENCODERS = ("shared", "own")  # what Q's continuous outputs read: the D trunk, or an encoder of their own
IMAGE_SIZES = (28, 32, 64)
FOLDER_IMAGE_SIZE = 64  # folder:DIR images have no size of their own: --image-size's default for them
FOLDER_CHANNELS = 3  # and --channels'

# Upper bounds for anything read from a file or the command line.
MAX_NOISE_DIM = 4096
MAX_CODES = 64
MAX_CARDINALITY = 1024
MAX_WIDTH = 4096
MAX_EPOCHS = 1_000_000


@dataclass(frozen=True)
class LatentSpec:
    """The generator's input: noise z plus control codes c1..cN (categorical first)."""

    noise_dim: int = 62
    categorical: tuple[int, ...] = (10,)
    continuous: int = 2
    continuous_prior: str = "uniform"

    def __post_init__(self) -> None:
        object.__setattr__(self, "categorical", tuple(int(k) for k in self.categorical))
        _check_int("noise_dim", self.noise_dim, 0, MAX_NOISE_DIM)
        _check_int("continuous", self.continuous, 0, MAX_CODES)
        if len(self.categorical) > MAX_CODES:
            raise ConfigError(f"at most {MAX_CODES} categorical codes, got {len(self.categorical)}")
        for cardinality in self.categorical:
            _check_int("categorical cardinality", cardinality, 2, MAX_CARDINALITY)
        check_choice("continuous prior", self.continuous_prior, CONTINUOUS_PRIORS)
        if self.noise_dim + self.code_dim == 0:
            raise ConfigError("the latent space is empty", hint="set --noise-dim or add a code")

    @property
    def code_names(self) -> list[str]:
        """c1..cN: categorical codes first, then continuous ones, as in the paper."""
        return [f"c{i + 1}" for i in range(len(self.categorical) + self.continuous)]

    @property
    def categorical_names(self) -> list[str]:
        return self.code_names[: len(self.categorical)]

    @property
    def continuous_names(self) -> list[str]:
        return self.code_names[len(self.categorical) :]

    @property
    def code_dim(self) -> int:
        return sum(self.categorical) + self.continuous

    @property
    def input_dim(self) -> int:
        return self.noise_dim + self.code_dim

    def continuous_entropy(self) -> float:
        """Differential entropy (nats) of one continuous code's prior: the ceiling of its MI."""
        if self.continuous_prior == "uniform":
            return math.log(2.0)  # Unif(-1, 1)
        return 0.5 * math.log(2 * math.pi * math.e)  # N(0, 1)


@dataclass(frozen=True)
class ModelConfig:
    """Network shapes. ``width`` scales every layer so tests can use tiny models."""

    architecture: str = "paper"
    image_size: int = 28
    channels: int = 1
    width: int = 64  # channels of the first conv layer; later layers are multiples
    hidden: int = 1024  # fully connected width of G's first layer and D's trunk (paper)
    q_hidden: int = 128  # the Q head's hidden layer (paper: FC128)
    continuous_encoder: str = "shared"  # CONTINUOUS_ENCODERS

    def __post_init__(self) -> None:
        check_choice("architecture", self.architecture, ARCHITECTURES)
        check_choice("continuous encoder", self.continuous_encoder, CONTINUOUS_ENCODERS)
        _check_image_size(self.image_size)
        if self.channels not in (1, 3):
            raise ConfigError(f"channels must be 1 or 3, got {self.channels}")
        _check_int("width", self.width, 1, MAX_WIDTH)
        _check_int("hidden", self.hidden, 1, MAX_WIDTH)
        _check_int("q_hidden", self.q_hidden, 1, MAX_WIDTH)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides how a run trains. The run folder keeps it as JSON."""

    latent: LatentSpec = field(default_factory=LatentSpec)
    model: ModelConfig = field(default_factory=ModelConfig)
    dataset: str = "mnist"
    data_root: str | None = None
    epochs: int = 10  # the best training-split median of its day (docs/results.md); 12-22 minutes on 2 CPU cores with bf16
    max_steps: int | None = None
    batch_size: int = 128
    # Twice the paper's 2e-4, with the decay below: 95% of the training digits at a median step of
    # 1287 over eight seeds against 1521, at the same final accuracy (docs/study.md, session 38).
    lr_d: float = 4e-4
    lr_g: float = 1e-3  # generator and Q head
    # Over the last N epochs both rates fall linearly to 0 (the whole run if shorter; 0: constant
    # rates, the paper's).
    lr_decay_epochs: int = 5
    # An exponential moving average of G's and D's weights, decay per step (0: off, the paper's):
    # sample, evaluate and the epoch grids use it (ema.py).
    ema_decay: float = 0.0
    beta1: float = 0.5
    beta2: float = 0.999
    lambda_cat: float = 1.0  # 2 helped at 1500 steps but not at 5 epochs (docs/results.md)
    lambda_cont: float = 0.1
    # Each further continuous code's weight is this times the previous code's: the first continuous
    # code weighs lambda_cont, the second lambda_cont * ratio, ... (1: equal weights, the paper's).
    lambda_cont_ratio: float = 1.0
    continuous_loss: str = "gaussian"
    # Q's categorical consistency under small random affine transforms of real images (augment.py):
    # median code-to-digit accuracy 88% -> 97% over five seeds (docs/results.md). 0: the paper's objective.
    lambda_consistency: float = 1.0
    consistency_transform: str = "affine"  # augment.CONSISTENCY_TRANSFORMS: affine, shift-scale or affine-wide
    # Weight of the categorical code loss on transformed fakes, CE(Q(c|T(G(z, c))), c), in the G+Q
    # step (the same transforms): G must show c1 in features the transforms leave alone. Ended the
    # merged digits: 8 of 8 GPU seeds at >= 95% against 2 of 8, and the 3 CPU seeds that merged
    # before (docs/study.md). 0: off.
    lambda_fake_consistency: float = 1.0
    # Share of each batch that both consistency losses are computed on (its first images, at least
    # one; 1: all). Each loss costs a trunk pass over those images: together about a third of an
    # fp32 step at 1 on an AMD EPYC. 0.5 and 0.25 raised the classifier FD on 3 seeds each, and
    # 0.25 merged digits on one (docs/study.md, "consistency on a share of the batch").
    consistency_fraction: float = 1.0
    # InfoGAN-CR's contrastive regulariser (Lin et al., ICML 2020; models.ContrastiveClassifier):
    # weight of the cross-entropy of guessing which code a pair of generated images shares,
    # which G and the guesser both lower (0: off), from epoch contrastive_start_epoch on.
    lambda_contrastive: float = 0.0
    contrastive_start_epoch: int = 1
    mi_updates_trunk: bool = True
    seed: int = 0
    device: str = "auto"
    log_every: int = 50
    checkpoint_every: int = 500
    keep: int = 3
    image_size: int | None = None  # None: the dataset's own (folders: 64)
    channels: int | None = None  # None: the dataset's own (folders: 3)
    workers: int = 2  # DataLoader workers for image folders
    sync_bn: bool = False  # under torchrun: batch-norm statistics over the global batch (CUDA)
    precision: str = "auto"  # autocast: auto (bf16 on CPUs with AVX512-BF16 or AMX, else fp32; runtime.resolve_precision), bf16, fp16 (CUDA), fp32
    compile: bool = False  # torch.compile the networks
    matmul: str = "blas"  # CPU fp32 products: torch's BLAS, or oneDNN (same to rounding, 1.15x here; no accuracy gain seen, docs/study.md)

    def __post_init__(self) -> None:
        _check_int("epochs", self.epochs, 1, MAX_EPOCHS)
        if self.max_steps is not None:
            _check_int("max_steps", self.max_steps, 1, 10**9)
        _check_int("batch_size", self.batch_size, 1, 65536)
        _check_int("lr_decay_epochs", self.lr_decay_epochs, 0, MAX_EPOCHS)
        for name in ("lr_d", "lr_g"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 < value < 1):
                raise ConfigError(f"{name.replace('_', '-')} must be in (0, 1), got {value}")
        if isinstance(self.ema_decay, bool) or not isinstance(self.ema_decay, (int, float)) or not 0 <= self.ema_decay < 1:
            raise ConfigError(f"ema-decay must be in [0, 1) (0: off), got {self.ema_decay!r}")
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            if not (0 <= value < 1):
                raise ConfigError(f"{name} must be in [0, 1), got {value}")
        for name in ("lambda_cat", "lambda_cont", "lambda_consistency", "lambda_fake_consistency", "lambda_contrastive"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"{name.replace('_', '-')} must be >= 0, got {value}")
        if not (math.isfinite(self.consistency_fraction) and 0 < self.consistency_fraction <= 1):
            raise ConfigError(f"consistency-fraction must be in (0, 1], got {self.consistency_fraction}")
        if not (math.isfinite(self.lambda_cont_ratio) and self.lambda_cont_ratio > 0):
            raise ConfigError(f"lambda-cont-ratio must be > 0, got {self.lambda_cont_ratio}")
        _check_int("contrastive_start_epoch", self.contrastive_start_epoch, 0, MAX_EPOCHS)
        if self.lambda_contrastive > 0 and len(self.latent.code_names) < 2:
            raise ConfigError(
                "--lambda-contrastive needs at least two codes: it guesses which code a pair of images shares",
                hint="add a code (--categorical, --continuous) or set --lambda-contrastive 0",
            )
        check_choice("consistency transform", self.consistency_transform, CONSISTENCY_TRANSFORM_NAMES)
        check_choice("continuous loss", self.continuous_loss, CONTINUOUS_LOSSES)
        check_choice("matmul route", self.matmul, MATMUL_ROUTES)
        _check_int("seed", self.seed, 0, 2**63 - 1)
        _check_int("log_every", self.log_every, 1, 10**9)
        _check_int("checkpoint_every", self.checkpoint_every, 1, 10**9)
        _check_int("keep", self.keep, 1, 10**6)
        _check_int("workers", self.workers, 0, 256)
        if self.image_size is not None:
            _check_image_size(self.image_size)
        if self.channels is not None and self.channels not in (1, 3):
            raise ConfigError(f"channels must be 1 or 3, got {self.channels}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


MAX_STARTS = 64
START_SEED_STRIDE = 1000  # start i of --seed S trains with seed S + 1000 i: runs of seeds 0-999 share no start


@dataclass(frozen=True)
class StartsConfig:
    """Several starts of one run (starts.py): ``count`` seeds train ``epochs`` epochs each, and the
    one whose Q reads the most information from real images trains on to the end. One start is a
    plain run."""

    count: int = 1
    epochs: int = 2  # mi_real over epoch 2 picked the better of two seeds in 3- and 5-epoch screens; over epoch 1 it carried no signal (docs/study.md)

    def __post_init__(self) -> None:
        _check_int("starts", self.count, 1, MAX_STARTS)
        _check_int("start_epochs", self.epochs, 1, MAX_EPOCHS)



def _check_image_size(size: Any) -> None:
    if size not in IMAGE_SIZES:
        raise ConfigError(f"image size {size} is not supported", hint=f"use one of: {', '.join(map(str, IMAGE_SIZES))}")


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")


def _from_fields(cls: type, data: Any, what: str) -> Any:
    """Build a dataclass from a dict, refusing unknown keys and wrong types."""
    if not isinstance(data, dict):
        raise ConfigError(f"{what} must be a JSON object")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"{what} has unknown keys: {', '.join(sorted(unknown))}")
    return cls(**data)


def latent_from_dict(data: Any) -> LatentSpec:
    if isinstance(data, dict) and "categorical" in data:
        if not isinstance(data["categorical"], (list, tuple)):
            raise ConfigError("latent.categorical must be a list of cardinalities")
        data = {**data, "categorical": tuple(data["categorical"])}
    return _from_fields(LatentSpec, data, "latent spec")


def model_from_dict(data: Any) -> ModelConfig:
    return _from_fields(ModelConfig, data, "model config")


def train_from_dict(data: Any) -> TrainConfig:
    """The config stored with a run (config.json, checkpoint metadata)."""
    if not isinstance(data, dict):
        raise ConfigError("train config must be a JSON object")
    # Runs written before an option existed trained without it: resuming them must not switch it on.
    return _train_config({"lambda_consistency": 0.0, "lambda_fake_consistency": 0.0, "lr_decay_epochs": 0, **data})


def _train_config(data: Any) -> TrainConfig:
    if not isinstance(data, dict):
        raise ConfigError("train config must be a JSON object")
    rest = {k: v for k, v in data.items() if k not in ("latent", "model")}
    return _from_fields(
        TrainConfig,
        {
            **rest,
            "latent": latent_from_dict(data.get("latent", {})),
            "model": model_from_dict(data.get("model", {})),
        },
        "train config",
    )


# Named starting points. Flags given on the command line override them.
PRESETS: dict[str, dict[str, Any]] = {
    # Our defaults (tuned in benchmarks/quality.py; see docs/results.md).
    "default": {},
    # The InfoGAN paper's MNIST setup (appendix C.1 and the authors' code), with our learned std for
    # the continuous codes: the authors' code fixes it (--continuous-loss mse --lambda-cont 0.5).
    "paper": {
        "model": {"architecture": "paper"},
        "lr_d": 2e-4,
        "lr_g": 1e-3,
        "lr_decay_epochs": 0,
        "batch_size": 128,
        "lambda_cat": 1.0,
        "lambda_consistency": 0.0,
        "lambda_fake_consistency": 0.0,
    },
    # The Keras tutorial in shared/seed: one 10-way code, no continuous codes, Adam 2e-4 for both.
    "tutorial": {
        "model": {"architecture": "tutorial"},
        "latent": {"continuous": 0},
        "lr_d": 2e-4,
        "lr_g": 2e-4,
        "lr_decay_epochs": 0,
        "batch_size": 64,
        "mi_updates_trunk": False,
        "lambda_cat": 1.0,
        "lambda_consistency": 0.0,
        "lambda_fake_consistency": 0.0,
    },
}


DEFAULT_PRESET = "default"


def build_train_config(preset: str = DEFAULT_PRESET, **overrides: Any) -> TrainConfig:
    """A TrainConfig from a preset plus overrides; ``latent`` and ``model`` overrides are dicts
    merged key by key. ``None`` values mean "not given" and are skipped."""
    check_choice("preset", preset, PRESETS)
    base = PRESETS[preset]
    merged: dict[str, Any] = {k: v for k, v in base.items() if k not in ("latent", "model")}
    latent = dict(base.get("latent", {}))
    model = dict(base.get("model", {}))
    latent.update({k: v for k, v in (overrides.pop("latent", None) or {}).items() if v is not None})
    model.update({k: v for k, v in (overrides.pop("model", None) or {}).items() if v is not None})
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return _train_config({**merged, "latent": latent, "model": model})


# ----------------------------------------------------------------------------- resuming a run

# What a resumed run may change: how long it trains, where, and how it reports, and what it
# anneals or averages at its end. Everything else (networks, codes, data, rates, seed) is the
# run's own and stays.
RESUMABLE = (
    "epochs", "max_steps", "lr_decay_epochs", "ema_decay", "data_root", "device", "workers", "precision", "matmul", "compile", "sync_bn",
    "log_every", "checkpoint_every", "keep",
)

# What a resume through the Python API takes from the config it is passed when the caller does not
# say which fields it set (trainer.train(..., given=None)): how long the run trains. A TrainConfig
# cannot tell a value set on purpose from a default, so every other field keeps the run's value.
RESUME_LENGTH = ("epochs", "max_steps")


def given_fields(preset: str | None, overrides: dict[str, Any]) -> list[str]:
    """The fields a command sets (dotted: "epochs", "latent.noise_dim", "model.width"), from the
    overrides that are not None and, when ``preset`` is given, everything that preset sets."""
    names: list[str] = []
    for source in ([PRESETS[preset]] if preset in PRESETS else []) + [overrides]:
        for key, value in source.items():
            if key in ("latent", "model"):
                names += [f"{key}.{k}" for k, v in (value or {}).items() if v is not None]
            elif value is not None:
                names.append(key)
    return list(dict.fromkeys(names))


def resumed_config(run: TrainConfig, requested: TrainConfig, given: Iterable[str]) -> tuple[TrainConfig, list[str]]:
    """The config a resumed run continues with: ``run``'s own, with the ``given`` fields of
    ``requested`` that differ applied, and what changed (["epochs 3 -> 5", ...]). Fields left out
    keep the run's values; a given field outside RESUMABLE must equal the run's."""
    given = set(given)
    updates: dict[str, Any] = {}
    changes: list[str] = []
    for name in _FIELD_NAMES:
        if name not in given:
            continue
        old, new = field_value(run, name), field_value(requested, name)
        if name in ("image_size", "channels") and old is None:
            old = getattr(run.model, name)  # the dataset's own, which the networks were built for
        if new == old:
            continue
        option = name.rsplit(".", 1)[-1].replace("_", "-")
        if name not in RESUMABLE:
            raise ConfigError(
                f"--{option} cannot change when resuming: the run has {shown_value(old)}, not {shown_value(new)}",
                hint=f"drop --{option} (or the --preset or --config that sets it), or start a new run with a fresh --out",
            )
        updates[name] = new
        changes.append(f"{option} {shown_value(old)} -> {shown_value(new)}")
    return dataclasses.replace(run, **updates), changes


def field_value(config: TrainConfig, name: str) -> Any:
    """A field by its dotted name: "epochs", "latent.noise_dim", "model.width"."""
    value: Any = config
    for part in name.split("."):
        value = getattr(value, part)
    return value


def shown_value(value: Any) -> str:
    """A config value as a user types it: 0.0002, 10, "10, 4" for codes, on/off, none."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ", ".join(map(str, value))
    return str(value)


_FIELD_NAMES = [
    *(f.name for f in dataclasses.fields(TrainConfig) if f.name not in ("latent", "model")),
    *(f"latent.{f.name}" for f in dataclasses.fields(LatentSpec)),
    *(f"model.{f.name}" for f in dataclasses.fields(ModelConfig)),
]
