"""Disentanglement quality across seeds: train each preset for a budget, evaluate, tabulate.

    python benchmarks/quality.py --data-root ../shared/data/mnist --presets default paper tutorial \
        --seeds 0 1 2 3 4 --epochs 5
    python benchmarks/quality.py --data-root ../shared/data/mnist --seeds 0 1 2 3 4 5 6 7 --epochs 10 \
        --device cuda --jobs 8 --select-split train

For each (preset, seed) it runs `infogan train`, then `infogan evaluate --json` on the test split
(and, with --select-split train, on the training split: labels are never used in training, so
settings can be compared there without touching the test set). Runs are cached in
``--runs DIR/<preset>-seed<S>`` (a failed one too, with why): rerunning the script continues where it
stopped (benchmarks/runner.py). After every run it rewrites ``--results`` (docs/results.md): a table
per preset with median and worst, and the traversal grids of the median seed.

--jobs N runs up to N (preset, seed) runs at once, each in its own processes: one training leaves
most of a GPU idle (its steps are launch-bound: on an H200 six at once took 107 s, one alone 76 s).
--device is passed to `infogan train` and `infogan evaluate` (default: their own choice).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import runner  # noqa: E402 - one job and many at once, shared with screen.py
from runner import DATA_ROOT, REPO, child_env  # noqa: E402


def run_folder(preset: str, seed: int, args: argparse.Namespace) -> Path:
    return Path(args.runs) / f"{args.label or preset}-seed{seed}"


def train_and_evaluate(preset: str, seed: int, args: argparse.Namespace) -> dict:
    """One cached run (runner.run_job): train, evaluate on the test split (and --select-split), return the row."""
    budget = ["--max-steps", str(args.max_steps)] if args.max_steps else ["--epochs", str(args.epochs)]
    data = ["--data-root", args.data_root, *(["--device", args.device] if args.device else [])]
    evaluations = {"test": data} | ({"select": [*data, "--split", args.select_split]} if args.select_split else {})
    train = ["--preset", preset, "--seed", str(seed), *budget, *data, *args.train_args]
    return runner.run_job(run_folder(preset, seed, args), "quality.json", {"preset": preset, "seed": seed}, train, evaluations, env=args.env)


# The columns of a preset's table: heading, top-level key of the evaluate record, shown as a
# percentage, and whether lower is better (for the worst row).
COLUMNS = (
    ("Q accuracy", "q_accuracy", True, False),
    ("sample accuracy", "sample_accuracy", True, False),
    ("digits covered", "digits_covered", False, False),
    ("NMI", "q_nmi", False, False),
    ("slant \\|rho\\|", "abs_rho_slant", False, False),
    ("width \\|rho\\|", "abs_rho_width", False, False),
    ("MIG slant", "mig_slant", False, False),
    ("MIG width", "mig_width", False, False),
    ("Frechet (classifier)", "classifier_frechet_distance", False, True),
)


# Issue #20's separation: a code that turns the slant with little width, and another that turns
# the width with little slant (|Spearman rho| along evaluate's sweeps).
LONE_CODES = (
    ("slant code alone", "slant", 0.9, "width", 0.3),
    ("width code alone", "width", 0.8, "slant", 0.3),
)


def is_lone(rho: dict, measure: str, at_least: float, other: str, at_most: float) -> bool:
    """Whether one code's |rho| row reaches ``at_least`` with ``measure`` while its |rho| with
    ``other`` stays at or under ``at_most`` (a missing value passes neither)."""
    return rho.get(measure) is not None and rho.get(other) is not None and rho[measure] >= at_least and rho[other] <= at_most


def lone_code(record: dict, measure: str, at_least: float, other: str, at_most: float) -> str | None:
    """The continuous code with the largest |rho| with ``measure`` among those that reach
    ``at_least`` while their |rho| with ``other`` stays at or under ``at_most``; None if none does."""
    rho = (record.get("continuous_codes") or {}).get("abs_spearman") or {}
    passing = {code: r[measure] for code, r in rho.items() if is_lone(r, measure, at_least, other, at_most)}
    return max(passing, key=passing.get) if passing else None


def fmt(value, percent: bool = False) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return str(value)
    return f"{100 * value:.1f}%" if percent else f"{value:.2f}"


def preset_table(rows: list[dict]) -> list[str]:
    """One line per seed, then the median and the worst of each column over the seeds (n/a where
    no seed has the metric, e.g. the rho of a preset without continuous codes)."""
    headings = [column[0] for column in COLUMNS] + [lone[0] for lone in LONE_CODES]
    lines = [
        "| seed | " + " | ".join(headings) + " | train min | images/s |",
        "| --- " * (len(headings) + 3) + "|",
    ]
    for row in sorted(rows, key=lambda r: r["seed"]):
        cells = [fmt(row["test"][key], percent) for _, key, percent, _ in COLUMNS]
        cells += [lone_code(row["test"], *lone[1:]) or "none" for lone in LONE_CODES]
        speed = "n/a" if row["images_per_s"] is None else f"{row['images_per_s']:.0f}"
        lines.append(f"| {row['seed']} | " + " | ".join(cells) + f" | {row['minutes']:.1f} | {speed} |")
    for label in ("median", "worst"):
        cells = []
        for _, key, percent, lower_is_better in COLUMNS:
            values = [row["test"][key] for row in rows if row["test"][key] is not None]
            pick = statistics.median if label == "median" else max if lower_is_better else min
            cells.append(fmt(pick(values) if values else None, percent))
        # The separation columns: how many seeds have such a code (the same in both rows).
        cells += [f"{sum(lone_code(row['test'], *lone[1:]) is not None for row in rows)} of {len(rows)} seeds" for lone in LONE_CODES]
        lines.append(f"| **{label}** | " + " | ".join(cells) + " | | |")
    return lines


def median_seed(rows: list[dict]) -> dict:
    ordered = sorted(rows, key=lambda r: r["test"]["q_accuracy"] or 0.0)
    return ordered[(len(ordered) - 1) // 2]


def minutes_note(args: argparse.Namespace) -> str:
    """What the minutes column measures: with several runs at once they share the machine."""
    if args.jobs > 1:
        return f"Minutes are wall time per run, {args.jobs} runs at a time on {args.device or 'this machine'}."
    if args.device and args.device != "cpu":
        return f"Minutes are wall time per run on {args.device}."
    return "Minutes are wall time on this machine's 2 CPU cores."


def write_results(all_rows: dict[str, list[dict]], args: argparse.Namespace) -> None:
    results = Path(args.results)
    images = results.parent / "images" / "quality"
    budget = f"--max-steps {args.max_steps}" if args.max_steps else f"--epochs {args.epochs}"
    lines = [
        "# Disentanglement results",
        "",
        f"Written by `python benchmarks/quality.py {' '.join(sys.argv[1:])}` on {time.strftime('%Y-%m-%d')}.",
        f"Each run: `infogan train --preset P --seed S {budget}`, then `infogan evaluate --json` on the",
        "MNIST test set (its record: docs/cli.md). Q accuracy: Hungarian-matched accuracy of argmax Q(c1|x)",
        "on real test images; sample accuracy: the reference classifier on generated images under that",
        "mapping; digits covered: distinct majority digits over the values of c1; slant/width |rho|: the",
        "largest |Spearman| of any continuous code with that measure along a sweep over [-2, 2]; MIG: the",
        "mutual information gap of Q's continuous means on the test digits; slant / width code alone: a",
        "code with slant |rho| >= 0.9 and width |rho| <= 0.3 / width >= 0.8 and slant <= 0.3 (issue #20's",
        "separation), or none; Frechet (classifier): in the",
        "reference classifier's features, not Inception's, so not comparable with published FIDs.",
        minutes_note(args),
        "",
    ]
    for preset, rows in all_rows.items():
        if not rows:
            continue
        lines += [f"## `--preset {preset}` ({len(rows)} seeds)", "", *preset_table(rows), ""]
        median = median_seed(rows)
        target = images / preset
        checkpoint = run_folder(preset, median["seed"], args) / "last.safetensors"
        runner.infogan("traverse", str(checkpoint), "--out", str(target), "--seed", "0", env=args.env)
        lines.append(f"Traversals of the median seed ({median['seed']}):")
        lines.append("")
        for grid in sorted(target.glob("*.png")):
            lines.append(f"![{preset} {grid.stem}](images/quality/{preset}/{grid.name})")
        lines.append("")
    results.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", default=DATA_ROOT)
    parser.add_argument("--presets", nargs="+", default=["default"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--runs", default=str(REPO / "runs" / "quality"))
    parser.add_argument("--results", default=str(REPO / "docs" / "results.md"))
    parser.add_argument("--select-split", choices=["train"], default=None, help="also evaluate on this split (for choosing settings)")
    parser.add_argument("--label", default=None, help="name runs <label>-seed<S> instead of <preset>-seed<S> (for variants)")
    parser.add_argument("--device", default=None, help="--device for infogan train and evaluate (default: their choice)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once, each in its own processes (default 1: one after another)")
    parser.add_argument("--train-args", nargs=argparse.REMAINDER, default=[], help="extra flags for infogan train (last)")
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    # Seeds outermost: every preset gets its first seeds early.
    runs = [(preset, seed) for seed in args.seeds for preset in args.presets]
    # Two runs at once in one folder would train over each other.
    if args.jobs > 1 and len({run_folder(*run, args) for run in runs}) < len(runs):
        parser.error("--jobs > 1 needs a run folder per run: no repeated seed, and no --label with several presets")
    args.env = child_env(args.jobs)
    all_rows: dict[str, list[dict]] = {preset: [] for preset in args.presets}
    failed: list[str] = []

    def finish(run: tuple[str, int], row: dict) -> None:
        preset, seed = run
        if not runner.ok(row):
            failed.append(f"{preset} seed {seed}")
            print(f"{preset} seed {seed}: FAILED ({row['error']})", file=sys.stderr, flush=True)
            return
        all_rows[preset].append(row)
        all_rows[preset].sort(key=lambda r: r["seed"])
        write_results(all_rows, args)
        print(f"{preset} seed {seed}: Q accuracy {row['test']['q_accuracy']}", flush=True)

    runner.run_all(runs, lambda run: train_and_evaluate(*run, args), finish, args.jobs)
    if failed:
        sys.exit(f"{len(failed)} of {len(runs)} runs failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
