"""Traversal batches: sweep one code across a grid while the noise and the other codes stay fixed.

A ``Traversal`` is a row-major grid of latent vectors plus the labels of its rows and columns:

- categorical code (the paper's Figure 2a): one column per value, one row per random sample of
  the noise and the other codes;
- continuous code (Figure 2c/d): one column per swept value, one row per value of the first
  categorical code (or one row per random sample when there is none), with one shared sample
  of the noise and the other codes.

Pure functions of a ``LatentSpec`` and a ``torch.Generator``; no rendering here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .config import LatentSpec
from .latent import LatentBatch, sample_latent
from .runtime import make_generator

CATEGORICAL = "categorical"
CONTINUOUS = "continuous"


@dataclass
class Traversal:
    """One code's grid: ``latent`` holds rows * columns cells, row-major."""

    code: str
    kind: str  # CATEGORICAL or CONTINUOUS
    latent: LatentBatch  # (rows * columns, ...)
    rows: int
    columns: int
    row_code: str | None  # the code each row sets (c1), or None when rows are random samples
    row_labels: list[str]  # "c1=3" or "sample 2"
    column_labels: list[str]  # values of ``code`` only; the code name goes in the corner


def sweep_values(low: float, high: float, steps: int) -> torch.Tensor:
    """``steps`` evenly spaced values from ``low`` to ``high``, both included: (steps,)."""
    return torch.linspace(low, high, steps)


def format_value(value: float) -> str:
    """Short label for a code value: at most two decimals, no trailing zeros (-1.56, 0.5, 2)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def repeat_rows(latent: LatentBatch, times: int) -> LatentBatch:
    """Each row repeated ``times`` times in a row, so row i fills grid row i: (B * times, ...)."""
    repeat = lambda t: t.repeat_interleave(times, dim=0)  # noqa: E731
    return LatentBatch(
        repeat(latent.noise), [repeat(c) for c in latent.categorical], repeat(latent.continuous)
    )


def categorical_traversal(
    spec: LatentSpec, code: str, rows: int, generator: torch.Generator
) -> Traversal:
    """Column j sets ``code`` to j; row i is the i-th random sample of noise and other codes."""
    index = spec.categorical_names.index(code)
    cardinality = spec.categorical[index]
    latent = repeat_rows(sample_latent(spec, rows, generator), cardinality)  # (rows * K, ...)
    latent.categorical[index] = torch.arange(cardinality, device=latent.noise.device).repeat(rows)
    return Traversal(
        code=code,
        kind=CATEGORICAL,
        latent=latent,
        rows=rows,
        columns=cardinality,
        row_code=None,
        row_labels=[f"sample {i + 1}" for i in range(rows)],
        column_labels=[str(j) for j in range(cardinality)],
    )


def continuous_traversal(
    spec: LatentSpec, code: str, values: torch.Tensor, rows: int, generator: torch.Generator
) -> Traversal:
    """Column j sets ``code`` to ``values[j]``; row i sets c1 to i over one shared sample, or,
    without a categorical code, is the i-th random sample (``rows`` of them)."""
    index = spec.continuous_names.index(code)
    row_code = spec.categorical_names[0] if spec.categorical else None
    if row_code is not None:
        base = repeat_rows(sample_latent(spec, 1, generator), spec.categorical[0])  # (K, ...)
        base.categorical[0] = torch.arange(spec.categorical[0], device=base.noise.device)
        row_labels = [f"{row_code}={i}" for i in range(spec.categorical[0])]
    else:
        base = sample_latent(spec, rows, generator)  # (rows, ...)
        row_labels = [f"sample {i + 1}" for i in range(rows)]
    latent = repeat_rows(base, len(values))  # (R * steps, ...)
    latent.continuous[:, index] = values.to(latent.continuous).repeat(base.size)
    return Traversal(
        code=code,
        kind=CONTINUOUS,
        latent=latent,
        rows=base.size,
        columns=len(values),
        row_code=row_code,
        row_labels=row_labels,
        column_labels=[format_value(float(v)) for v in values],
    )


def all_traversals(
    spec: LatentSpec, rows: int, values: torch.Tensor, seed: int
) -> list[Traversal]:
    """One traversal per code, c1..cN. Each starts from a fresh generator seeded with ``seed``,
    so every grid draws the same samples and grids of different codes compare."""
    fresh = lambda: make_generator(seed, torch.device("cpu"))  # noqa: E731 - CPU: same on every device
    found = [categorical_traversal(spec, name, rows, fresh()) for name in spec.categorical_names]
    found += [continuous_traversal(spec, name, values, rows, fresh()) for name in spec.continuous_names]
    return found
