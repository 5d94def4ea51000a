"""Sampling noise and codes, building the generator input, and traversal batches."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .config import LatentSpec


@dataclass
class LatentBatch:
    """One batch of latent variables; ``categorical[i]`` holds indices (B,) of code c(i+1)."""

    noise: torch.Tensor  # (B, noise_dim)
    categorical: list[torch.Tensor]  # each (B,) int64
    continuous: torch.Tensor  # (B, n_continuous)

    @property
    def size(self) -> int:
        return self.noise.shape[0]

    def head(self, n: int) -> LatentBatch:
        """The first ``n`` rows (views, no copy)."""
        return LatentBatch(self.noise[:n], [codes[:n] for codes in self.categorical], self.continuous[:n])


def sample_latent(
    spec: LatentSpec, n: int, generator: torch.Generator, device: torch.device | str | None = None
) -> LatentBatch:
    """Draw noise ~ N(0, 1), categorical codes uniformly and continuous codes from their prior."""
    device = torch.device(device) if device is not None else generator.device
    noise = torch.randn(n, spec.noise_dim, generator=generator, device=device)
    categorical = [
        torch.randint(0, k, (n,), generator=generator, device=device) for k in spec.categorical
    ]
    if spec.continuous_prior == "uniform":
        continuous = torch.rand(n, spec.continuous, generator=generator, device=device) * 2 - 1
    else:
        continuous = torch.randn(n, spec.continuous, generator=generator, device=device)
    return LatentBatch(noise, categorical, continuous)


def sample_latent_pairs(spec: LatentSpec, n_pairs: int, generator: torch.Generator) -> tuple[LatentBatch, torch.Tensor]:
    """InfoGAN-CR's pairs: rows i and n_pairs + i of the returned batch are drawn independently
    (noise and every code) except for one code, chosen uniformly per pair, whose value the second
    row copies from the first. Returns the 2 n_pairs latents and the index of the shared code per
    pair, (n_pairs,) int64, counting codes as ``spec.code_names`` does (categorical first)."""
    first, second = sample_latent(spec, n_pairs, generator), sample_latent(spec, n_pairs, generator)
    shared = torch.randint(0, len(spec.code_names), (n_pairs,), generator=generator, device=generator.device)
    n_cat = len(spec.categorical)
    categorical = [
        torch.cat([a, torch.where(shared == i, a, b)]) for i, (a, b) in enumerate(zip(first.categorical, second.categorical))
    ]
    copies = shared[:, None] == torch.arange(n_cat, n_cat + spec.continuous, device=shared.device)  # (n_pairs, n_continuous)
    continuous = torch.cat([first.continuous, torch.where(copies, first.continuous, second.continuous)])
    return LatentBatch(torch.cat([first.noise, second.noise]), categorical, continuous), shared


def generator_input(spec: LatentSpec, latent: LatentBatch) -> torch.Tensor:
    """Concatenate [noise, one-hot c1, ..., continuous codes] into (B, spec.input_dim)."""
    parts = [latent.noise]
    parts += [
        F.one_hot(codes, k).to(latent.noise.dtype)
        for codes, k in zip(latent.categorical, spec.categorical)
    ]
    parts.append(latent.continuous)
    return torch.cat(parts, dim=1)


def fix_codes(spec: LatentSpec, latent: LatentBatch, codes: dict[str, float]) -> LatentBatch:
    """Return a copy of ``latent`` with the named codes set to the given values for every row.

    Values are assumed valid (the caller validates user input with ``parse_code_values``).
    """
    categorical = [c.clone() for c in latent.categorical]
    continuous = latent.continuous.clone()
    n_cat = len(spec.categorical)
    for name, value in codes.items():
        index = spec.code_names.index(name)
        if index < n_cat:
            categorical[index].fill_(int(value))
        else:
            continuous[:, index - n_cat] = float(value)
    return LatentBatch(latent.noise, categorical, continuous)


def fixed_noise_grid(
    spec: LatentSpec, rows: int, generator: torch.Generator, device: torch.device | str | None = None
) -> LatentBatch:
    """A (rows x K) grid for the first categorical code: one noise sample per row, one value
    of c1 per column, continuous codes at 0 and other categorical codes drawn once per row.

    With no categorical code, the grid is ``rows`` x 10 independent samples.
    """
    columns = spec.categorical[0] if spec.categorical else 10
    base = sample_latent(spec, rows, generator, device)
    repeat = lambda t: t.repeat_interleave(columns, dim=0)  # noqa: E731 - row-major grid
    noise = repeat(base.noise)
    categorical = [repeat(c) for c in base.categorical]
    continuous = torch.zeros(rows * columns, spec.continuous, device=noise.device)
    if spec.categorical:
        categorical[0] = torch.arange(columns, device=noise.device).repeat(rows)
    else:
        noise = torch.randn(rows * columns, spec.noise_dim, generator=generator, device=noise.device)
    return LatentBatch(noise, categorical, continuous)
