"""Image folders (PNG/JPEG, searched recursively) decoded with Pillow.

Unlike MNIST-sized sets these need not fit in memory, so a DataLoader with worker processes
decodes, resizes and centre-crops each image. At start-up every file is decoded once (in threads:
Pillow's decoders release the GIL); files that cannot be opened or decoded are skipped, and the
caller warns once with their count. Mixed sizes and modes are converted.

Why Pillow and not torchvision's decoders: torchvision 0.29 crashes the process (SIGSEGV in
libpng) on a PNG whose compressed data is damaged, where Pillow raises an error we can catch.
The start-up check and the training decode are the same function, so a file that passed the
check decodes during training unless it changes on disk.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from .config import FOLDER_CHANNELS, FOLDER_IMAGE_SIZE
from .errors import DataError
from .cpu import usable_cpus

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MAX_SCAN_THREADS = 8  # the scan reads files too; more threads than this only queue on the disk


class ImageFolder(torch.utils.data.Dataset):
    """Every decodable PNG/JPEG under ``root`` as a (channels, size, size) uint8 tensor."""

    def __init__(self, root: Path, image_size: int | None = None, channels: int | None = None) -> None:
        if not root.is_dir():
            raise DataError(f"image folder {root} does not exist", hint="pass --dataset folder:DIR with a folder of PNG/JPEG files")
        self.image_size = image_size or FOLDER_IMAGE_SIZE
        self.channels = channels or FOLDER_CHANNELS
        candidates = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        self.paths, self.skipped = _decodable(candidates, self.channels)
        if not self.paths:
            found = f" ({len(self.skipped)} unreadable)" if self.skipped else ""
            raise DataError(f"no readable PNG or JPEG images in {root}{found}", hint="point folder:DIR at a folder of images")
        self.labels = None
        self.name = f"folder:{root}"

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        from torchvision.transforms.v2 import functional as F

        path = self.paths[index]
        try:
            pixels = decode(path, self.channels)
        except Exception as exc:  # it decoded at start-up: the file changed since
            raise DataError(f"cannot decode {path} ({type(exc).__name__}: {exc}); it changed after the run started",
                            hint="replace or remove the file, then continue with --resume") from None
        image = torch.from_numpy(pixels).permute(2, 0, 1)  # (C, H, W) uint8
        image = F.resize(image, self.image_size, antialias=True)  # shorter side -> image_size
        return F.center_crop(image, [self.image_size, self.image_size])


def decode(path: Path, channels: int) -> np.ndarray:
    """The image at ``path`` as (H, W, channels) uint8: RGB, or Pillow's luma (L) for one channel.
    Raises whatever Pillow raises for a file it cannot open or decode."""
    from PIL import Image

    with Image.open(path) as image:
        if image.mode == "P" and "transparency" in image.info:
            image = image.convert("RGBA")  # converting such a palette straight to RGB warns, per image
        elif image.mode.startswith("I;16"):  # 16-bit grey PNG: keep the high byte, as 8-bit viewers show it
            image = Image.fromarray((np.asarray(image) >> 8).astype(np.uint8), "L")
        pixels = np.array(image.convert("RGB" if channels == 3 else "L"))  # decodes; a writable copy
    return pixels.reshape(pixels.shape[0], pixels.shape[1], channels)


def _decodes(path: Path, channels: int) -> bool:
    try:
        decode(path, channels)
        return True
    except Exception:  # Pillow raises OSError, SyntaxError, ValueError, struct.error, ... for broken files
        return False


def _decodable(paths: list[Path], channels: int) -> tuple[list[Path], list[Path]]:
    """Split into files that decode, and the rest (a header that reads is not enough: a file cut
    short or with damaged data still has one). Decoding every file costs about one epoch's decode
    time, spread over threads."""
    with ThreadPoolExecutor(max_workers=min(MAX_SCAN_THREADS, usable_cpus())) as pool:
        ok = list(pool.map(lambda path: _decodes(path, channels), paths))
    return [p for p, good in zip(paths, ok) if good], [p for p, good in zip(paths, ok) if not good]


class _ImagesOrBrokenPath(torch.utils.data.Dataset):
    """The folder's images, or for a file that stopped decoding, the DataError naming it, returned
    rather than raised. An exception raised in a DataLoader worker reaches the main process as a
    traceback in its message; returned, the error passes through ``_stack_or_error`` and lets
    ``folder_batches`` raise the one-line DataError there instead."""

    def __init__(self, folder: ImageFolder) -> None:
        self.folder = folder

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, index: int) -> torch.Tensor | DataError:
        try:
            return self.folder[index]
        except DataError as exc:
            return exc


def _stack_or_error(items: list[torch.Tensor | DataError]) -> torch.Tensor | DataError:
    errors = [item for item in items if isinstance(item, DataError)]
    return errors[0] if errors else torch.stack(items)


def folder_batches(
    dataset: ImageFolder, order: torch.Tensor, batch_size: int, start_batch: int, steps: int, workers: int, device: torch.device
) -> Iterator[torch.Tensor]:
    """uint8 batches (B, C, S, S) on ``device`` in the given sample order, batches ``start_batch``
    to ``steps`` (exclusive). Under torchrun the shards of ranks differ by up to one image, so one
    may hold a batch more than the others: every rank stops at the same ``steps``."""
    batches = [order[i : i + batch_size].tolist() for i in range(0, len(order) - batch_size + 1, batch_size)]
    loader = torch.utils.data.DataLoader(
        _ImagesOrBrokenPath(dataset),
        batch_sampler=batches[start_batch:steps],
        collate_fn=_stack_or_error,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
    )
    for batch in loader:
        if isinstance(batch, DataError):
            raise batch
        yield batch.to(device, non_blocking=True)
