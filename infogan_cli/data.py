"""Datasets as whole uint8 tensors: MNIST, Fashion-MNIST, any IDX folder, and a fake set.

MNIST-sized sets fit in memory many times over, so we hold the whole set as one
(N, C, H, W) uint8 tensor on the training device and index random batches from it: no
DataLoader, no per-item Python work.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import DataError, first_line

DATA_ROOT_ENV = "INFOGAN_DATA_ROOT"
DEFAULT_DATA_ROOT = Path.home() / ".cache" / "infogan" / "data"
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
IDX_DTYPES = {0x08: np.uint8}  # image and label files of MNIST-like sets are unsigned bytes
MAX_IDX_ELEMENTS = 2**31  # bound what a header may ask us to read
FAKE_SIZE = 1024


@dataclass
class ImageDataset:
    images: torch.Tensor  # (N, C, H, W) uint8
    labels: torch.Tensor | None  # (N,) int64, or None for unlabelled sets
    name: str

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_size(self) -> int:
        return self.images.shape[-1]

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    def to(self, device: torch.device) -> "ImageDataset":
        labels = None if self.labels is None else self.labels.to(device)
        return ImageDataset(self.images.to(device), labels, self.name)


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1], the generator's tanh range."""
    return images.float().div_(127.5).sub_(1.0)


def resolve_data_root(data_root: str | os.PathLike | None) -> Path:
    """--data-root, else $INFOGAN_DATA_ROOT, else ~/.cache/infogan/data."""
    if data_root:
        return Path(data_root).expanduser()
    if os.environ.get(DATA_ROOT_ENV):
        return Path(os.environ[DATA_ROOT_ENV]).expanduser()
    return DEFAULT_DATA_ROOT


def load_dataset(
    name: str,
    data_root: str | os.PathLike | None = None,
    train: bool = True,
    image_size: int | None = None,
    channels: int | None = None,
):
    """Load a dataset by name: mnist, fashion-mnist, cifar10, svhn, idx:DIR, folder:DIR or fake.

    In-memory sets come back as an ``ImageDataset`` (resized / converted when ``image_size`` or
    ``channels`` differ from the set's own); ``folder:DIR`` as a lazily decoded ``ImageFolder``.
    """
    split = "train" if train else "test"
    if name.startswith("folder:"):
        from .folder import ImageFolder

        return ImageFolder(Path(name[7:]).expanduser(), image_size, channels)  # None: FOLDER_IMAGE_SIZE, FOLDER_CHANNELS
    if name == "fake":
        dataset = fake_dataset(FAKE_SIZE if train else FAKE_SIZE // 4, seed=0 if train else 1)
    elif name.startswith("idx:"):
        directory = Path(name[4:]).expanduser()
        if not directory.is_dir():
            raise DataError(f"IDX folder {directory} does not exist", hint="pass --dataset idx:DIR with a folder of IDX files")
        dataset = read_idx_pair(directory, split, name)
    elif name in ("mnist", "fashion-mnist"):
        dataset = _load_idx_set(name, resolve_data_root(data_root), train)
    elif name in ("cifar10", "svhn"):
        dataset = _load_rgb_set(name, resolve_data_root(data_root), train)
    else:
        raise DataError(f"unknown dataset {name!r}", hint="use mnist, fashion-mnist, cifar10, svhn, idx:DIR, folder:DIR or fake")
    return adapt(dataset, image_size, channels)


def adapt(dataset: ImageDataset, image_size: int | None, channels: int | None) -> ImageDataset:
    """Resize (bilinear, antialiased) and convert grey <-> RGB once, at load time."""
    images = dataset.images
    if channels and channels != images.shape[1]:
        if channels == 3:
            images = images.repeat(1, 3, 1, 1)
        else:  # ITU-R 601 luma, as PIL's convert("L")
            weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            images = (images.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    if image_size and image_size != images.shape[-1]:
        resized = torch.nn.functional.interpolate(images.float(), size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False)
        images = resized.round().clamp(0, 255).to(torch.uint8)
    return ImageDataset(images.contiguous(), dataset.labels, dataset.name)


def _load_idx_set(name: str, root: Path, train: bool) -> ImageDataset:
    """Read an existing copy (torchvision layout or bare IDX files), else download it."""
    folder = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}[name]
    split = "train" if train else "test"
    candidates = [root / folder / "raw", root]
    if name == "fashion-mnist":
        candidates.append(DEBIAN_FASHION_MNIST)  # apt-get install dataset-fashion-mnist
    for candidate in candidates:
        if candidate.is_dir() and _find_idx(candidate, split, "images") is not None:
            return read_idx_pair(candidate, split, name)
    if root.exists() and not root.is_dir():
        raise DataError(f"data root {root} is not a folder", hint="pass --data-root DIR")
    from torchvision import datasets

    cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
    try:
        dataset = cls(root=str(root), train=train, download=True)
    except (RuntimeError, OSError) as exc:
        raise DataError(
            f"{name} not found under {root} and the download failed ({first_line(exc)})",
            hint=f"put the IDX files in {root / folder / 'raw'} or point --data-root / ${DATA_ROOT_ENV} at a copy",
        ) from None
    return ImageDataset(dataset.data.unsqueeze(1).contiguous(), dataset.targets.long(), name)


def _load_rgb_set(name: str, root: Path, train: bool) -> ImageDataset:
    """CIFAR-10 or SVHN through torchvision (downloaded into ``root`` when missing)."""
    from torchvision import datasets

    try:
        if name == "cifar10":
            dataset = datasets.CIFAR10(root=str(root), train=train, download=True)
            images = torch.from_numpy(dataset.data).permute(0, 3, 1, 2)  # (N, 32, 32, 3) -> (N, 3, 32, 32)
            labels = torch.tensor(dataset.targets)
        else:
            dataset = datasets.SVHN(root=str(root), split="train" if train else "test", download=True)
            images = torch.from_numpy(dataset.data)  # already (N, 3, 32, 32)
            labels = torch.from_numpy(dataset.labels).long()
    except (RuntimeError, OSError) as exc:
        raise DataError(
            f"{name} not found under {root} and the download failed ({first_line(exc)})",
            hint=f"point --data-root / ${DATA_ROOT_ENV} at a folder holding torchvision's {name} files",
        ) from None
    return ImageDataset(images.contiguous(), labels.long(), name)


def _find_idx(directory: Path, split: str, kind: str) -> Path | None:
    """Find e.g. train-images-idx3-ubyte(.gz) or t10k-labels-idx1-ubyte in a folder."""
    prefixes = ("train",) if split == "train" else ("t10k", "test")
    try:
        names = sorted(p for p in directory.iterdir() if p.is_file())
    except OSError as exc:
        raise DataError(f"cannot read folder {directory}: {exc.strerror}") from None
    for path in names:
        lower = path.name.lower()
        if lower.startswith(prefixes) and f"-{kind}" in lower and "idx" in lower:
            return path
    return None


def read_idx_pair(directory: Path, split: str, name: str) -> ImageDataset:
    images_path = _find_idx(directory, split, "images")
    if images_path is None:
        raise DataError(
            f"no {split} images IDX file in {directory}",
            hint=f"expected a file like {'train' if split == 'train' else 't10k'}-images-idx3-ubyte(.gz)",
        )
    images = read_idx(images_path)
    if images.ndim not in (3, 4):
        raise DataError(f"{images_path} holds a {images.ndim}-D array, expected images (N, H, W)")
    images = images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2)
    if images.shape[-1] != images.shape[-2]:
        raise DataError(f"{images_path} holds {images.shape[-2]}x{images.shape[-1]} images; only square images are supported")
    labels_path = _find_idx(directory, split, "labels")
    labels = None
    if labels_path is not None:
        labels = read_idx(labels_path).long()
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise DataError(f"{labels_path} has {tuple(labels.shape)} labels for {images.shape[0]} images")
    return ImageDataset(images.contiguous(), labels, name)


def read_idx(path: Path) -> torch.Tensor:
    """Parse an IDX file (raw or gzip) strictly: magic number, dimensions and length."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise DataError(f"{path} is not an unsigned-byte IDX file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    header_size = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header_size:
        raise DataError(f"{path} is truncated: its header is incomplete")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    count = int(np.prod(shape, dtype=np.int64))
    if count > MAX_IDX_ELEMENTS:
        raise DataError(f"{path} claims {count} elements, more than this tool reads")
    if len(raw) - header_size != count:
        raise DataError(f"{path} is truncated or padded: header says {count} bytes of data, found {len(raw) - header_size}")
    array = np.frombuffer(raw, dtype=IDX_DTYPES[raw[2]], offset=header_size).reshape(shape)
    return torch.from_numpy(array.copy())


def fake_dataset(n: int = FAKE_SIZE, seed: int = 0, image_size: int = 28, channels: int = 1, classes: int = 10) -> ImageDataset:
    """Synthetic labelled images for tests and dry runs: class k draws a bright square at one
    of ``classes`` positions on a ring, with jitter, so a categorical code has something to find."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (n,), generator=generator)
    side = max(3, image_size // 5)
    angles = labels.float() * (2 * torch.pi / classes)
    radius = image_size / 2 - side
    jitter = torch.randint(-1, 2, (n, 2), generator=generator)
    top = (image_size / 2 + radius * torch.sin(angles) - side / 2).long() + jitter[:, 0]
    left = (image_size / 2 + radius * torch.cos(angles) - side / 2).long() + jitter[:, 1]
    rows = torch.arange(image_size).view(1, -1, 1)
    cols = torch.arange(image_size).view(1, 1, -1)
    inside = (
        (rows >= top.view(-1, 1, 1)) & (rows < (top + side).view(-1, 1, 1))
        & (cols >= left.view(-1, 1, 1)) & (cols < (left + side).view(-1, 1, 1))
    )
    images = (inside.to(torch.uint8) * 255).unsqueeze(1).repeat(1, channels, 1, 1)
    return ImageDataset(images, labels, "fake")
