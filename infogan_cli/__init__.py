"""infogan: train InfoGAN models and look inside them.

The public API is imported lazily so that ``import infogan_cli`` (and ``infogan --help``)
does not pay for importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["InfoGAN", "LatentSpec", "ModelConfig", "TrainConfig", "train", "__version__"]

if TYPE_CHECKING:
    from .config import LatentSpec, ModelConfig, TrainConfig
    from .infogan import InfoGAN
    from .trainer import train


def __getattr__(name: str) -> Any:
    if name == "InfoGAN":
        from .infogan import InfoGAN

        return InfoGAN
    if name in ("LatentSpec", "ModelConfig", "TrainConfig"):
        from . import config

        return getattr(config, name)
    if name == "train":
        from .trainer import train

        return train
    raise AttributeError(f"module 'infogan_cli' has no attribute {name!r}")
