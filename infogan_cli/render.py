"""Image grids as PNG files, labelled traversal grids, GIFs and npz arrays."""

from __future__ import annotations

import dataclasses
import io
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .files import atomic_write_bytes

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image, ImageFont

    from .config import LatentSpec
    from .latent import LatentBatch
    from .traverse import Traversal

GRID_PADDING = 2  # pixels between images, as torchvision's make_grid default
LABEL_PADDING = 4  # pixels between a label and the grid
MIN_LEFT_MARGIN = 56  # row labels up to 48 px wide ("c1=10", "sample 99") keep this width
TOP_MARGIN = 14  # one line of the default 10 px font
GIF_FRAME_MS = 200


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float (N, C, H, W) -> [0, 255] uint8 on the CPU."""
    return images.detach().float().cpu().add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)


def tile(images: torch.Tensor, nrow: int, padding: int) -> torch.Tensor:
    """Lay (N, C, H, W) images out ``nrow`` per row with black padding, as torchvision's
    make_grid does; importing torchvision for it would cost ~170 MB of resident memory."""
    n, channels, height, width = images.shape
    columns = min(nrow, n)
    rows = -(-n // columns)
    grid = images.new_zeros(channels, rows * (height + padding) + padding, columns * (width + padding) + padding)
    for index in range(n):
        row, column = divmod(index, columns)
        top, left = padding + row * (height + padding), padding + column * (width + padding)
        grid[:, top : top + height, left : left + width] = images[index]
    return grid  # (C, H', W')


def grid_image(images: torch.Tensor, nrow: int, padding: int = GRID_PADDING):
    """A PIL image of ``images`` ([-1, 1], (N, C, H, W)) laid out ``nrow`` per row."""
    from PIL import Image

    array = tile(to_uint8(images), nrow, padding).permute(1, 2, 0).numpy()
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


# ----------------------------------------------------------------------------- labelled grids


def label_font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's built-in font: no font file to ship or find."""
    from PIL import ImageFont

    return ImageFont.load_default()


def left_margin(labels: list[str], font) -> int:
    """Width of the row-label margin: the widest label plus padding, at least MIN_LEFT_MARGIN."""
    widest = max((font.getbbox(text)[2] for text in labels), default=0)
    return max(MIN_LEFT_MARGIN, math.ceil(widest) + 2 * LABEL_PADDING)


def labelled_grid(
    images: torch.Tensor,
    columns: int,
    row_labels: list[str],
    column_labels: list[str],
    corner_label: str = "",
    margin: int | None = None,
) -> Image.Image:
    """A grid of ``images`` ([-1, 1], (rows * columns, C, H, W), row-major) with a label
    left of each row, one above each column and ``corner_label`` in the top-left corner.

    ``margin`` fixes the left margin's width (frames of one GIF must have the same size).
    """
    from PIL import Image, ImageDraw

    font = label_font()
    grid = grid_image(images, columns)
    left = margin if margin is not None else left_margin(row_labels + [corner_label], font)
    canvas = Image.new(grid.mode, (left + grid.width, TOP_MARGIN + grid.height), "white")
    canvas.paste(grid, (left, TOP_MARGIN))
    draw = ImageDraw.Draw(canvas)
    height, width = images.shape[2], images.shape[3]
    # Cell centres: the grid starts with a padding strip, then each image and the strip after it.
    for j, text in enumerate(column_labels):
        x = left + GRID_PADDING + j * (width + GRID_PADDING) + width / 2
        _draw_label(draw, text, font, x, TOP_MARGIN / 2, align="center")
    for i, text in enumerate(row_labels):
        y = TOP_MARGIN + GRID_PADDING + i * (height + GRID_PADDING) + height / 2
        _draw_label(draw, text, font, left - LABEL_PADDING, y, align="right")
    if corner_label:
        _draw_label(draw, corner_label, font, left - LABEL_PADDING, TOP_MARGIN / 2, align="right")
    return canvas


def _draw_label(draw, text: str, font, x: float, y: float, align: str) -> None:
    """Draw ``text`` vertically centred on ``y``, centred on or ending at ``x``.

    Positions come from the text's bounding box, so this works for bitmap and FreeType fonts
    alike (bitmap fonts ignore ``anchor``).
    """
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    left = x - (x1 - x0) / 2 if align == "center" else x - (x1 - x0)
    top = y - (y1 + y0) / 2
    draw.text((round(left - x0), round(top)), text, fill="black", font=font)


def traversal_grid(traversal: Traversal, images: torch.Tensor) -> Image.Image:
    """The traversal's grid, labelled: code values above the columns, row labels on the left."""
    return labelled_grid(
        images,
        traversal.columns,
        traversal.row_labels,
        traversal.column_labels,
        corner_label=f"{traversal.code} =",
    )


def traversal_frames(traversal: Traversal, images: torch.Tensor) -> list[Image.Image]:
    """One frame per column of the traversal: that column's images, labelled with its value."""
    font = label_font()
    corner = f"{traversal.code} ="
    margin = left_margin(traversal.row_labels + [corner], font)
    cells = images.reshape(traversal.rows, traversal.columns, *images.shape[1:])  # (R, S, C, H, W)
    return [
        labelled_grid(cells[:, j], 1, traversal.row_labels, [value], corner, margin)
        for j, value in enumerate(traversal.column_labels)
    ]


# ----------------------------------------------------------------------------- GIF and npz


def gif_bytes(frames: list[Image.Image], frame_ms: int = GIF_FRAME_MS) -> bytes:
    """An endlessly looping GIF. Pillow merges a frame identical to the one before it."""
    buffer = io.BytesIO()
    frames[0].save(
        buffer, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0
    )
    return buffer.getvalue()


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A compressed .npz of ``arrays``; no object arrays, so it loads without pickle."""
    import numpy as np

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def save_npz(arrays: dict[str, np.ndarray], path: str | Path) -> Path:
    """Write an .npz atomically: built in memory first, so a failure leaves no partial file."""
    return atomic_write_bytes(Path(path), npz_bytes(arrays))


def sample_arrays(spec: LatentSpec, latent: LatentBatch, images: torch.Tensor) -> dict[str, np.ndarray]:
    """Images and the latent values that made them, one array per code (named c1..cN).

    images (N, C, H, W) float32 in [-1, 1]; noise (N, noise_dim); categorical codes (N,) int64
    indices; continuous codes (N,) float32; latent_spec the spec as a JSON string.
    """
    import numpy as np

    arrays = {
        "images": images.float().cpu().numpy(),
        "noise": latent.noise.float().cpu().numpy(),
        "latent_spec": np.array(json.dumps(dataclasses.asdict(spec), sort_keys=True)),
    }
    for name, codes in zip(spec.categorical_names, latent.categorical):
        arrays[name] = codes.cpu().numpy().astype(np.int64)
    for index, name in enumerate(spec.continuous_names):
        arrays[name] = latent.continuous[:, index].float().cpu().numpy()
    return arrays
