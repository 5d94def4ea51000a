"""The Python API: load a trained model and generate images for chosen code values.

    from infogan_cli import InfoGAN
    model = InfoGAN.load("runs/x/last.safetensors")
    images = model.generate(n=16, codes={"c1": 3, "c2": 0.5}, seed=0)  # (16, 1, 28, 28) in [-1, 1]

A checkpoint trained with --ema-decay loads its averaged weights; ``weights="raw"`` the trained ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoint import build_from_checkpoint, chosen_weights, load_checkpoint
from .config import LatentSpec, TrainConfig
from .errors import ConfigError
from .latent import LatentBatch, fix_codes, generator_input, sample_latent
from .models import Discriminator, Generator, QOutput
from .runtime import make_generator, resolve_device


@dataclass
class InfoGAN:
    """A trained generator and discriminator/Q network, in eval mode."""

    config: TrainConfig
    generator: Generator
    discriminator: Discriminator
    device: torch.device
    step: int = 0
    path: Path | None = None
    weights: str = "raw"  # which weights were loaded: "ema" (the moving average) or "raw"

    @property
    def latent_spec(self) -> LatentSpec:
        return self.config.latent

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu", weights: str = "auto") -> "InfoGAN":
        """``weights``: "auto" (the moving average where the checkpoint has one, else the raw
        weights), "ema" (an error without one) or "raw"."""
        device = resolve_device(device) if isinstance(device, str) else device
        checkpoint = load_checkpoint(path, "cpu", weights_only=True)
        chosen = chosen_weights(checkpoint, weights)
        generator, discriminator = build_from_checkpoint(checkpoint, device, average=chosen == "ema")
        return cls(checkpoint.config, generator, discriminator, device, checkpoint.step, Path(path), chosen)

    def validate_codes(self, codes: dict[str, float]) -> dict[str, float]:
        """Check code names and values; categorical values must be integers in 0..K-1."""
        spec = self.latent_spec
        checked: dict[str, float] = {}
        for name, value in codes.items():
            if name not in spec.code_names:
                raise ConfigError(f"unknown code {name!r}", hint=f"this model has codes: {', '.join(spec.code_names) or 'none'}")
            index = spec.code_names.index(name)
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ConfigError(f"{name} needs a number, got {value!r}") from None
            if not math.isfinite(number):
                raise ConfigError(f"{name} must be a finite number, got {value!r}")
            if index < len(spec.categorical):
                k = spec.categorical[index]
                if isinstance(value, bool) or number != int(number) or not 0 <= number < k:
                    raise ConfigError(f"{name} is categorical with {k} values: {value!r} is not an integer in 0..{k - 1}")
                checked[name] = int(number)
            else:
                checked[name] = number
        return checked

    def sample_latent(self, n: int, seed: int = 0, codes: dict[str, float] | None = None) -> LatentBatch:
        """Latent batch of ``n`` rows from the priors (CPU generator, so a seed means the same
        images on every device), with ``codes`` fixed."""
        if n < 1:
            raise ConfigError(f"n must be >= 1, got {n}")
        latent = sample_latent(self.latent_spec, n, make_generator(seed, torch.device("cpu")))
        return fix_codes(self.latent_spec, latent, self.validate_codes(codes or {}))

    @torch.inference_mode()
    def generate_from(self, latent: LatentBatch, batch_size: int = 1000) -> torch.Tensor:
        """Images (N, C, H, W) in [-1, 1] on the CPU for a given latent batch."""
        latent_input = generator_input(self.latent_spec, latent)
        chunks = [
            self.generator(chunk.to(self.device)).float().cpu() for chunk in latent_input.split(batch_size)
        ]
        return torch.cat(chunks)

    def generate(self, n: int = 100, codes: dict[str, float] | None = None, seed: int = 0) -> torch.Tensor:
        return self.generate_from(self.sample_latent(n, seed, codes))

    @torch.inference_mode()
    def predict_codes(self, images: torch.Tensor, batch_size: int = 1000) -> QOutput:
        """Q head predictions for images in [-1, 1], (N, C, H, W). The log-stds mean something only
        for runs trained with ``--continuous-loss gaussian``; under ``mse`` nothing trains them."""
        outputs = [
            self.discriminator(chunk.to(self.device).float())[1]
            for chunk in images.split(batch_size)
        ]
        return QOutput(
            [torch.cat([o.categorical_logits[i] for o in outputs]).cpu() for i in range(len(self.latent_spec.categorical))],
            torch.cat([o.continuous_mean for o in outputs]).cpu(),
            torch.cat([o.continuous_log_std for o in outputs]).cpu(),
        )
