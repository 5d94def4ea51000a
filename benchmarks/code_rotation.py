"""Do a run's continuous codes separate slant and width in some rotated basis of their plane?

    python benchmarks/code_rotation.py runs/NAME/last.safetensors [--codes c2 c3] [--step-degrees 15] [--json FILE]

Two continuous codes that both turn the slant and the width may still span a slant direction and a
width direction, only rotated against the codes' own axes. For each angle t from 0 to 90 degrees
(beyond that the same pairs come back swapped or negated) this sweeps the two rotated codes,
u = cos t * a + sin t * b and w = -sin t * a + cos t * b, as `infogan evaluate` sweeps a code (the
same latent samples and values, the other direction at 0), and prints their |Spearman rho| with the
slant, width and stroke thickness, marking the lone slant and lone width codes of issue #20 (the
thresholds of benchmarks/quality.py). Angle 0 is evaluate's own table. A run that separates at some
angle learned both factors in a rotated basis; one that separates at none mixes them in a way no
rotation undoes.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from infogan_cli.errors import ConfigError, InfoganError  # noqa: E402
from infogan_cli.evaluate import MEASURES, continuous_scores  # noqa: E402
from infogan_cli.infogan import InfoGAN  # noqa: E402
from quality import LONE_CODES, is_lone  # noqa: E402 - issue #20's thresholds, as screen.py and quality.py use them


def lone(rho: dict[str, float | None]) -> list[str]:
    """Which of issue #20's lone codes this |rho| row is ("slant", "width", or neither)."""
    return [lone_code[1] for lone_code in LONE_CODES if is_lone(rho, *lone_code[1:])]


def rotation_scores(model: InfoGAN, codes: tuple[str, str], angles: list[float], seed: int, rows: int, steps: int) -> list[dict]:
    """One record per angle: the |rho| of each rotated code with each measure, and its lone codes."""
    names = model.latent_spec.continuous_names
    a, b = (torch.eye(len(names))[names.index(code)] for code in codes)
    records = []
    for degrees in angles:
        t = math.radians(degrees)
        directions = {"u": math.cos(t) * a + math.sin(t) * b, "w": -math.sin(t) * a + math.cos(t) * b}
        scores = continuous_scores(model, seed, rows, steps, directions)
        rho = {name: {m: None if v is None else abs(v) for m, v in scores.spearman[name].items()} for name in directions}
        records.append({"degrees": degrees, "abs_spearman": rho, "lone": {name: lone(r) for name, r in rho.items()}})
    return records


def table(records: list[dict], codes: tuple[str, str]) -> str:
    heading = " / ".join(MEASURES)
    lines = [
        f"u = cos t * {codes[0]} + sin t * {codes[1]}, w = -sin t * {codes[0]} + cos t * {codes[1]}; |rho| {heading}",
        f"{'t (deg)':>8}  {'u':^20}  {'w':^20}  lone codes",
    ]
    for record in records:
        cells = ["/".join("  - " if v is None else f"{v:.2f}" for v in record["abs_spearman"][name].values()) for name in ("u", "w")]
        marks = ", ".join(f"{name}: {kind}" for name, kinds in record["lone"].items() for kind in kinds) or "none"
        lines.append(f"{record['degrees']:>8g}  {cells[0]:^20}  {cells[1]:^20}  {marks}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--codes", nargs=2, metavar=("A", "B"), help="the two continuous codes (default: the first two)")
    parser.add_argument("--step-degrees", type=float, default=15.0, help="angle between two rotations (default 15)")
    parser.add_argument("--seed", type=int, default=1, help="of the swept latent samples (default 1: evaluate's at --seed 0)")
    parser.add_argument("--rows", type=int, default=100, help="latent samples per sweep (default 100, as evaluate)")
    parser.add_argument("--steps", type=int, default=9, help="values per sweep over [-2, 2] (default 9, as evaluate)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, help="also write the records here")
    args = parser.parse_args(argv)
    try:
        if not 0 < args.step_degrees <= 90:
            raise ConfigError(f"--step-degrees must be in (0, 90], got {args.step_degrees}")
        if args.rows < 1 or args.steps < 2:
            raise ConfigError("--rows must be >= 1 and --steps >= 2")
        model = InfoGAN.load(args.checkpoint, args.device)
        names = model.latent_spec.continuous_names
        codes = tuple(args.codes) if args.codes else tuple(names[:2])
        if len(codes) < 2 or len(set(codes)) < 2 or any(code not in names for code in codes):
            raise ConfigError(
                f"needs two different continuous codes, got {', '.join(codes) or 'none'}",
                hint=f"this model's continuous codes: {', '.join(names) or 'none'}",
            )
        angles = [i * args.step_degrees for i in range(math.ceil(90 / args.step_degrees - 1e-9))]
        records = rotation_scores(model, codes, angles, args.seed, args.rows, args.steps)
    except InfoganError as exc:
        print(f"error: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""), file=sys.stderr)
        return 2
    print(table(records, codes))
    if args.json:
        args.json.write_text(json.dumps({"checkpoint": str(args.checkpoint), "codes": codes, "rotations": records}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
