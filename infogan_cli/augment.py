"""Small random affine transforms of image batches, for the Q head's consistency loss.

A digit stays the same digit under a little rotation, shear, stretch and shift; its slant and
width change. Asking Q's categorical prediction on a real image to survive such a transform
pushes c1 towards what the transform keeps (the digit) and away from what it changes (the
style that the continuous codes are for).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AffineRange:
    """Each transform parameter is drawn uniformly from [-limit, limit] (scale: 1 +- limit)."""

    rotation_degrees: float = 15.0
    shear_degrees: float = 15.0
    scale: float = 0.1  # per axis, so it also stretches width and height apart
    translate: float = 0.1  # fraction of the image side
    isotropic: bool = False  # one scale for both axes: sizes change, proportions (width) do not


# The transform families the consistency loss can draw from (TrainConfig.consistency_transform).
CONSISTENCY_TRANSFORMS = {
    # Rotation, shear, per-axis stretch and shift: changes style, slant and width.
    "affine": AffineRange(),
    # Shift and a small uniform scale only: leaves slant and width to the continuous codes.
    "shift-scale": AffineRange(rotation_degrees=0.0, shear_degrees=0.0, scale=0.1, translate=0.1, isotropic=True),
    # The affine family with each axis stretched by up to 25%, not 10%: about one standard deviation
    # of a digit's width on MNIST, where two values of c1 sharing two digits split them by width
    # by 0.5-0.8 standard deviations (docs/study.md).
    "affine-wide": AffineRange(scale=0.25),
}


def random_affine_matrices(n: int, limits: AffineRange, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """(n, 2, 3) matrices for ``F.affine_grid``: rotation @ shear @ scale, plus a shift."""
    u = torch.rand(n, 6, generator=generator, device=device) * 2 - 1
    angle = u[:, 0] * math.radians(limits.rotation_degrees)
    shear = torch.tan(u[:, 1] * math.radians(limits.shear_degrees))
    scale_x = 1 + u[:, 2] * limits.scale
    scale_y = scale_x if limits.isotropic else 1 + u[:, 3] * limits.scale
    cos, sin = torch.cos(angle), torch.sin(angle)
    # [[cos, -sin], [sin, cos]] @ [[1, shear], [0, 1]] @ diag(scale_x, scale_y)
    a = torch.stack(
        [
            torch.stack([cos * scale_x, (cos * shear - sin) * scale_y], dim=1),
            torch.stack([sin * scale_x, (sin * shear + cos) * scale_y], dim=1),
        ],
        dim=1,
    )
    shift = u[:, 4:6] * (2 * limits.translate)  # affine_grid's coordinates span [-1, 1]
    return torch.cat([a, shift.unsqueeze(2)], dim=2)


def random_affine(images: torch.Tensor, generator: torch.Generator, limits: AffineRange = AffineRange()) -> torch.Tensor:
    """Each image of a (B, C, H, W) batch under its own random transform, same shape and layout.

    Pixels that come from outside the image repeat its border (MNIST's background), so no
    frame of another grey appears.
    """
    theta = random_affine_matrices(images.shape[0], limits, generator, images.device)
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    moved = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if images.is_contiguous(memory_format=torch.channels_last):
        moved = moved.contiguous(memory_format=torch.channels_last)
    return moved
