"""Image folders (PNG/JPEG, searched recursively) decoded with torchvision's IO.

Unlike MNIST-sized sets these need not fit in memory, so a DataLoader with worker processes
decodes, resizes and centre-crops each image. Files whose header cannot be read are skipped
(the caller warns once with their count); mixed sizes and modes are converted.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import torch

from .errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class ImageFolder(torch.utils.data.Dataset):
    """Every PNG/JPEG under ``root`` as a (channels, size, size) uint8 tensor."""

    def __init__(self, root: Path, image_size: int, channels: int) -> None:
        if not root.is_dir():
            raise DataError(f"image folder {root} does not exist", hint="pass --dataset folder:DIR with a folder of PNG/JPEG files")
        candidates = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        self.paths, self.skipped = _readable(candidates)
        if not self.paths:
            found = f" ({len(self.skipped)} unreadable)" if self.skipped else ""
            raise DataError(f"no readable PNG or JPEG images in {root}{found}", hint="point folder:DIR at a folder of images")
        self.image_size = image_size
        self.channels = channels
        self.labels = None
        self.name = f"folder:{root}"

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        from torchvision.io import ImageReadMode, decode_image, read_file
        from torchvision.transforms.v2 import functional as F

        mode = ImageReadMode.RGB if self.channels == 3 else ImageReadMode.GRAY
        try:
            with warnings.catch_warnings():
                # torchvision 0.29 marks its image IO deprecated (in favour of TorchCodec) but it
                # remains the documented decoder here; one warning per image would flood the log.
                warnings.simplefilter("ignore", DeprecationWarning)
                image = decode_image(read_file(str(self.paths[index])), mode=mode)  # (C, H, W) uint8
        except RuntimeError:
            # A file whose header was fine but whose data is not: use a black image rather than
            # stopping a long run; the header check at start-up catches the usual cases.
            return torch.zeros(self.channels, self.image_size, self.image_size, dtype=torch.uint8)
        image = F.resize(image, self.image_size, antialias=True)  # shorter side -> image_size
        return F.center_crop(image, [self.image_size, self.image_size])


def _readable(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """Split into files whose image header PIL can read, and the rest."""
    from PIL import Image, UnidentifiedImageError

    good, bad = [], []
    for path in paths:
        try:
            with Image.open(path) as image:
                image.size  # noqa: B018 - reading the header is the check
            good.append(path)
        except (OSError, UnidentifiedImageError, ValueError):
            bad.append(path)
    return good, bad


def folder_batches(
    dataset: ImageFolder, order: torch.Tensor, batch_size: int, start_batch: int, steps: int, workers: int, device: torch.device
) -> Iterator[torch.Tensor]:
    """uint8 batches (B, C, S, S) on ``device`` in the given sample order, batches ``start_batch``
    to ``steps`` (exclusive). Under torchrun the shards of ranks differ by up to one image, so one
    may hold a batch more than the others: every rank stops at the same ``steps``."""
    batches = [order[i : i + batch_size].tolist() for i in range(0, len(order) - batch_size + 1, batch_size)]
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_sampler=batches[start_batch:steps],
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
    )
    for batch in loader:
        yield batch.to(device, non_blocking=True)
