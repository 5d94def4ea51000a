"""Image grids as PNG files."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from .checkpoint import atomic_write_bytes


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float (N, C, H, W) -> [0, 255] uint8 on the CPU."""
    return images.detach().float().cpu().add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)


def grid_image(images: torch.Tensor, nrow: int, padding: int = 2):
    """A PIL image of ``images`` ([-1, 1], (N, C, H, W)) laid out ``nrow`` per row."""
    from PIL import Image
    from torchvision.utils import make_grid

    grid = make_grid(to_uint8(images), nrow=nrow, padding=padding, pad_value=0)  # (C, H', W')
    array = grid.permute(1, 2, 0).numpy()
    if images.shape[1] == 1:
        return Image.fromarray(array[:, :, 0].copy())  # 2-D uint8 -> mode "L"
    return Image.fromarray(array.copy())  # (H, W, 3) uint8 -> mode "RGB"


def png_bytes(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def save_grid(images: torch.Tensor, nrow: int, path: str | Path) -> Path:
    """Write a grid PNG atomically."""
    return atomic_write_bytes(Path(path), png_bytes(grid_image(images, nrow)))
