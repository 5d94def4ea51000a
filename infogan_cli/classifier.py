"""The reference classifier that ``infogan evaluate`` uses to label generated images and to embed
images for the Frechet distance.

A small CNN (conv32-conv64-FC128, batch norm), trained once per dataset on its labelled training
split (2 epochs of Adam, about 99.2% on the MNIST test set) and cached as safetensors with its
config, dataset and test accuracy as JSON metadata; written atomically under a lock file (of many
parallel evaluates one trains it, the others wait and load it), never unpickled:

  $INFOGAN_CACHE_DIR/classifiers/<dataset>.safetensors, else ~/.cache/infogan/classifiers/...
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from filelock import FileLock
from torch import nn

from .checkpoint import read_header
from .config import IMAGE_SIZES, MAX_CARDINALITY
from .data import ImageDataset, to_unit_range
from .errors import CheckpointError, ConfigError, DataError, first_line
from .files import atomic_write_bytes

CACHE_ENV = "INFOGAN_CACHE_DIR"
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "infogan"
FORMAT_NAME = "infogan-classifier"
FORMAT_VERSION = 1
MAX_CLASSIFIER_WIDTH = 512
MAX_CLASSIFIER_HIDDEN = 4096

# (stage, done, total): how a long-running function reports progress; the caller shows it.
ProgressCallback = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ClassifierConfig:
    image_size: int = 28
    channels: int = 1
    classes: int = 10
    width: int = 32  # channels of the first conv layer; the second has twice as many
    hidden: int = 128  # the penultimate layer: the features the Frechet distance compares

    def __post_init__(self) -> None:
        if self.image_size not in IMAGE_SIZES:
            raise ConfigError(f"classifier image size {self.image_size} is not one of {IMAGE_SIZES}")
        if self.channels not in (1, 3):
            raise ConfigError(f"classifier channels must be 1 or 3, got {self.channels}")
        for name, low, high in (
            ("classes", 2, MAX_CARDINALITY),
            ("width", 1, MAX_CLASSIFIER_WIDTH),
            ("hidden", 1, MAX_CLASSIFIER_HIDDEN),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"classifier {name} must be an integer between {low} and {high}, got {value!r}")


class ReferenceCNN(nn.Module):
    """Strided convolutions rather than max-pooling: as accurate here and several times faster
    to train on a CPU."""

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        w = config.width
        final = config.image_size // 4
        self.trunk = nn.Sequential(
            nn.Conv2d(config.channels, w, 5, stride=2, padding=2, bias=False),
            nn.BatchNorm2d(w),
            nn.ReLU(inplace=True),  # (B, w, 14, 14) for MNIST
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(2 * w),
            nn.ReLU(inplace=True),  # (B, 2w, 7, 7)
            nn.Flatten(),
            nn.Linear(2 * w * final * final, config.hidden),
            nn.ReLU(inplace=True),  # (B, hidden): penultimate features
        )
        self.head = nn.Linear(config.hidden, config.classes)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.trunk(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(images))  # (B, classes) logits


@dataclass
class ReferenceClassifier:
    """A trained ReferenceCNN in eval mode, with what we know about it."""

    network: ReferenceCNN
    config: ClassifierConfig
    dataset: str
    test_accuracy: float
    train_steps: int
    device: torch.device
    path: Path | None = None

    @torch.inference_mode()
    def embed(self, images: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
        """Penultimate features (N, hidden) and predicted labels (N,) on the CPU, for images
        in [-1, 1] (float) or [0, 255] (uint8), (N, C, H, W)."""
        features, predictions = [], []
        for chunk in images.split(batch_size):
            chunk = to_unit_range(chunk) if chunk.dtype == torch.uint8 else chunk.float()
            hidden = self.network.features(chunk.to(self.device))
            features.append(hidden.float().cpu())
            predictions.append(self.network.head(hidden).argmax(dim=1).cpu())
        if not features:
            return torch.zeros(0, self.config.hidden), torch.zeros(0, dtype=torch.long)
        return torch.cat(features), torch.cat(predictions)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        return self.embed(images)[1]

    def check_compatible(self, data: ImageDataset) -> None:
        """Refuse a classifier made for other image shapes or fewer classes than the labels."""
        if (self.config.image_size, self.config.channels) != (data.image_size, data.channels):
            raise ConfigError(
                f"the reference classifier{_at(self.path)} is for {self.config.image_size}px images with "
                f"{self.config.channels} channel(s); {data.name} has {data.image_size}px with {data.channels}",
                hint="drop --classifier to train one for this dataset",
            )
        if data.labels is not None and len(data.labels) and int(data.labels.max()) >= self.config.classes:
            raise ConfigError(
                f"the reference classifier{_at(self.path)} knows {self.config.classes} classes; "
                f"{data.name} has label {int(data.labels.max())}",
                hint="drop --classifier to train one for this dataset",
            )


def _at(path: Path | None) -> str:
    return f" {path}" if path else ""


# ----------------------------------------------------------------------------- cache


def cache_dir() -> Path:
    """$INFOGAN_CACHE_DIR, else ~/.cache/infogan."""
    return Path(os.environ[CACHE_ENV]).expanduser() if os.environ.get(CACHE_ENV) else DEFAULT_CACHE_DIR


# The shape each named set comes in; a model trained on it resized or converted (--image-size,
# --channels) needs its own classifier, cached under a name that says so.
NATIVE_SHAPES = {"mnist": (28, 1), "fashion-mnist": (28, 1), "fake": (28, 1), "cifar10": (32, 3), "svhn": (32, 3)}


def default_classifier_path(dataset: str, image_size: int | None = None, channels: int | None = None) -> Path:
    """Where the classifier for ``dataset`` is cached: ``<dataset>.safetensors`` for a named set
    in its own shape, with ``-<size>px-<channels>ch`` added for any other shape; ``idx:DIR``
    names become a hash of DIR."""
    if re.fullmatch(r"[A-Za-z0-9_.-]+", dataset) and not dataset.startswith("."):
        stem = dataset
    else:
        folder = str(Path(dataset[4:] if dataset.startswith("idx:") else dataset).expanduser().resolve())
        stem = "idx-" + hashlib.sha256(folder.encode()).hexdigest()[:16]
    if image_size is not None and channels is not None and NATIVE_SHAPES.get(dataset) != (image_size, channels):
        stem += f"-{image_size}px-{channels}ch"
    return cache_dir() / "classifiers" / f"{stem}.safetensors"


def load_or_train_classifier(
    train_data: ImageDataset,
    test_data: ImageDataset,
    device: torch.device,
    path: Path | None = None,
    on_progress: ProgressCallback | None = None,
    **train_options,
) -> tuple[ReferenceClassifier, bool, list[str]]:
    """The cached classifier for the dataset, or a newly trained one written to the cache.

    Returns the classifier, whether it was trained now, and a warning per unusable cached file.
    """
    path = path or default_classifier_path(test_data.name, test_data.image_size, test_data.channels)
    classifier, warning = _cached_classifier(path, device, test_data)  # no lock: a read-only cache works
    if classifier is not None:
        return classifier, False, []
    # Parallel evaluates on an empty cache: one trains, the others wait here, then load its file.
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{path}.lock"):
        classifier, warning_now = _cached_classifier(path, device, test_data)
        if classifier is not None:  # written by another process while this one waited
            return classifier, False, []
        warnings = [w for w in (warning_now or warning,) if w]  # the same file's fault once, not twice
        classifier = train_classifier(train_data, test_data, device, on_progress=on_progress, **train_options)
        save_classifier(classifier, path)
    return classifier, True, warnings


def _cached_classifier(path: Path, device: torch.device, data: ImageDataset) -> tuple[ReferenceClassifier | None, str | None]:
    """The classifier at ``path`` if it loads and fits ``data``; else None and why (None: no file)."""
    if not path.exists():
        return None, None
    try:
        classifier = load_classifier(path, device)
        classifier.check_compatible(data)
        return classifier, None
    except (CheckpointError, ConfigError) as exc:
        return None, f"retraining the reference classifier: {exc.message}"


# ----------------------------------------------------------------------------- training


def train_classifier(
    train_data: ImageDataset,
    test_data: ImageDataset,
    device: torch.device,
    epochs: int = 2,
    max_steps: int | None = None,
    batch_size: int = 128,
    lr: float = 3e-3,
    seed: int = 0,
    on_progress: ProgressCallback | None = None,
) -> ReferenceClassifier:
    """Train a ReferenceCNN on the labelled training split (Adam, one-cycle learning rate) and
    measure its accuracy on the test split."""
    for data in (train_data, test_data):
        if data.labels is None:
            split = "training" if data is train_data else "test"
            raise DataError(f"{data.name} has no labels in its {split} split; a reference classifier needs them")
    n_classes = max(int(train_data.labels.max()), int(test_data.labels.max())) + 1
    config = ClassifierConfig(
        image_size=train_data.image_size, channels=train_data.channels, classes=max(2, n_classes)
    )
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # weight initialisation
    network = ReferenceCNN(config).to(device)
    steps_per_epoch = max(1, math.ceil(len(train_data) / batch_size))
    total = epochs * steps_per_epoch if max_steps is None else min(max_steps, epochs * steps_per_epoch)
    optimizer = torch.optim.Adam(network.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total, pct_start=0.2)
    images, labels = train_data.images.to(device), train_data.labels.to(device)
    network.train()
    step = 0
    while step < total:
        order = torch.randperm(len(train_data), generator=generator).to(device)
        for batch in order.split(batch_size):
            if step >= total:
                break
            loss = F.cross_entropy(network(to_unit_range(images[batch])), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            if on_progress is not None and (step % 10 == 0 or step == total):
                on_progress("training the reference classifier", step, total)
    network.eval()
    classifier = ReferenceClassifier(network, config, test_data.name, 0.0, step, device)
    predictions = classifier.predict(test_data.images)
    classifier.test_accuracy = int((predictions == test_data.labels.cpu()).sum()) / len(test_data)
    return classifier


# ----------------------------------------------------------------------------- files


def save_classifier(classifier: ReferenceClassifier, path: str | os.PathLike) -> Path:
    """Write the classifier as safetensors with JSON metadata, atomically."""
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in classifier.network.state_dict().items()}
    metadata = {
        "format": FORMAT_NAME,
        "format_version": str(FORMAT_VERSION),
        "config": json.dumps(dataclasses.asdict(classifier.config)),
        "dataset": classifier.dataset,
        "test_accuracy": repr(classifier.test_accuracy),
        "train_steps": str(classifier.train_steps),
    }
    path = atomic_write_bytes(Path(path), save(tensors, metadata=metadata))
    classifier.path = path
    return path


def load_classifier(path: str | os.PathLike, device: torch.device | str = "cpu") -> ReferenceClassifier:
    """Read and validate a classifier file; its config is bounded before the network is built."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    metadata, _shapes = read_header(path, kind="classifier")
    if metadata.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path} is not an infogan reference classifier", hint="pass a file written by infogan evaluate")
    if metadata.get("format_version") != str(FORMAT_VERSION):
        raise CheckpointError(f"{path} has classifier format version {metadata.get('format_version')!r}; this infogan reads {FORMAT_VERSION}")
    try:
        fields = json.loads(metadata["config"])
        if not isinstance(fields, dict) or set(fields) - {f.name for f in dataclasses.fields(ClassifierConfig)}:
            raise ValueError("unexpected config keys")
        config = ClassifierConfig(**fields)
        test_accuracy = float(metadata["test_accuracy"])
        train_steps = int(metadata["train_steps"])
        dataset = metadata["dataset"]
    except ConfigError as exc:
        raise CheckpointError(f"{path} has an invalid classifier config: {exc.message}") from None
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{path} has malformed classifier metadata ({type(exc).__name__}: {exc})") from None
    device = torch.device(device)
    network = ReferenceCNN(config)
    try:
        network.load_state_dict(load_file(str(path), device="cpu"), strict=True)
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise CheckpointError(f"{path}: classifier weights do not load ({first_line(exc)})") from None
    return ReferenceClassifier(network.to(device).eval(), config, dataset, test_accuracy, train_steps, device, path)
