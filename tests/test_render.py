"""Grid tiling matches torchvision's make_grid layout."""

from __future__ import annotations

import pytest
import torch
from torchvision.utils import make_grid

from infogan_cli.render import tile


@pytest.mark.parametrize("n,nrow,channels", [(7, 3, 1), (10, 10, 3), (100, 10, 1), (5, 8, 1)])
def test_tile_matches_make_grid(n, nrow, channels):
    images = torch.randint(0, 256, (n, channels, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(n))
    expected = make_grid(images, nrow=nrow, padding=2, pad_value=0)
    got = tile(images, nrow, 2)
    assert torch.equal(got, expected[:channels])
