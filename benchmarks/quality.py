"""Disentanglement quality across seeds: train each preset for a budget, evaluate, tabulate.

    python benchmarks/quality.py --data-root ../shared/data/mnist --presets default paper tutorial \
        --seeds 0 1 2 3 4 --epochs 5

For each (preset, seed) it runs `infogan train`, then `infogan evaluate --json` on the test split
(and, with --select-split train, on the training split: labels are never used in training, so
settings can be compared there without touching the test set). Runs are cached in
``--runs DIR/<preset>-seed<S>``: rerunning the script continues where it stopped. After every run
it rewrites ``--results`` (docs/results.md): a table per preset with median and worst, and the
traversal grids of the median seed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def infogan(*args: str, stdout=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infogan_cli", *args], check=True, stdout=stdout, text=True)


def train_and_evaluate(preset: str, seed: int, args: argparse.Namespace) -> dict:
    """One cached run: train (timed), evaluate, return the row."""
    run_dir = Path(args.runs) / f"{args.label or preset}-seed{seed}"
    row_path = run_dir / "quality.json"
    if row_path.exists():
        return json.loads(row_path.read_text())
    budget = ["--max-steps", str(args.max_steps)] if args.max_steps else ["--epochs", str(args.epochs)]
    resume = ["--resume"] if (run_dir / "last.safetensors").exists() else []
    started = time.perf_counter()
    infogan("train", "--preset", preset, "--seed", str(seed), "--data-root", args.data_root, "--out", str(run_dir), *budget, *resume, *args.train_args)
    minutes = (time.perf_counter() - started) / 60
    speeds = [json.loads(line)["images_per_s"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    checkpoint = str(run_dir / "last.safetensors")
    evaluation = json.loads(infogan("evaluate", checkpoint, "--data-root", args.data_root, "--json", stdout=subprocess.PIPE).stdout)
    row = {"preset": preset, "seed": seed, "minutes": minutes, "images_per_s": statistics.median(speeds), "test": evaluation}
    if args.select_split:
        selection = infogan("evaluate", checkpoint, "--data-root", args.data_root, "--split", args.select_split, "--json", stdout=subprocess.PIPE)
        row["select"] = json.loads(selection.stdout)
    row_path.write_text(json.dumps(row, indent=2))
    return row


def continuous_rho(evaluation: dict, measure: str) -> float | None:
    best = ((evaluation.get("continuous") or {}).get("best") or {}).get(measure)
    return None if best is None else best["spearman"]


def abs_rho(evaluation: dict, measure: str) -> float | None:
    """|rho|, or None where the model has no continuous code (so the median row says n/a, not 0)."""
    rho = continuous_rho(evaluation, measure)
    return None if rho is None else abs(rho)


def sample_accuracy(evaluation: dict) -> float | None:
    sample = evaluation.get("sample_accuracy")
    return sample["accuracy"] if isinstance(sample, dict) else sample


def fmt(value, percent: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.1f}%" if percent else f"{value:.2f}"


def preset_table(rows: list[dict]) -> list[str]:
    lines = [
        "| seed | Q accuracy | sample accuracy | NMI | slant rho | width rho | FID | train min | images/s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in sorted(rows, key=lambda r: r["seed"]):
        e = row["test"]
        lines.append(
            f"| {row['seed']} | {fmt(e['q_accuracy'], True)} | {fmt(sample_accuracy(e), True)} | {fmt(e['q_nmi'])} | "
            f"{fmt(continuous_rho(e, 'slant'))} | {fmt(continuous_rho(e, 'width'))} | {fmt(e['fid'])} | "
            f"{row['minutes']:.1f} | {row['images_per_s']:.0f} |"
        )
    for label, pick in (("median", statistics.median), ("worst", min)):
        def stat(get):
            values = [v for v in (get(r["test"]) for r in rows) if v is not None]
            return pick(values) if values else None

        lines.append(
            f"| **{label}** | {fmt(stat(lambda e: e['q_accuracy']), True)} | {fmt(stat(sample_accuracy), True)} | "
            f"{fmt(stat(lambda e: e['q_nmi']))} | {fmt(stat(lambda e: abs_rho(e, 'slant')))} | "
            f"{fmt(stat(lambda e: abs_rho(e, 'width')))} | | | |"
        )
    return lines


def median_seed(rows: list[dict]) -> dict:
    ordered = sorted(rows, key=lambda r: r["test"]["q_accuracy"] or 0.0)
    return ordered[(len(ordered) - 1) // 2]


def write_results(all_rows: dict[str, list[dict]], args: argparse.Namespace) -> None:
    results = Path(args.results)
    images = results.parent / "images" / "quality"
    budget = f"--max-steps {args.max_steps}" if args.max_steps else f"--epochs {args.epochs}"
    lines = [
        "# Disentanglement results",
        "",
        f"Written by `python benchmarks/quality.py {' '.join(sys.argv[1:])}` on {time.strftime('%Y-%m-%d')}.",
        f"Each run: `infogan train --preset P --seed S {budget}`, then `infogan evaluate --json` on the",
        "MNIST test set. Q accuracy: Hungarian-matched accuracy of argmax Q(c1|x) on real test images;",
        "sample accuracy: the reference classifier on generated images under that mapping; slant/width",
        "rho: the largest |Spearman| of any continuous code with that measure along a sweep over [-2, 2].",
        "Minutes are wall time on this machine's 2 CPU cores.",
        "",
    ]
    for preset, rows in all_rows.items():
        if not rows:
            continue
        lines += [f"## `--preset {preset}` ({len(rows)} seeds)", "", *preset_table(rows), ""]
        median = median_seed(rows)
        target = images / preset
        checkpoint = Path(args.runs) / f"{args.label or preset}-seed{median['seed']}" / "last.safetensors"
        infogan("traverse", str(checkpoint), "--out", str(target), "--seed", "0")
        lines.append(f"Traversals of the median seed ({median['seed']}):")
        lines.append("")
        for grid in sorted(target.glob("*.png")):
            lines.append(f"![{preset} {grid.stem}](images/quality/{preset}/{grid.name})")
        lines.append("")
    results.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", default=os.environ.get("INFOGAN_DATA_ROOT", str(REPO.parent / "shared" / "data" / "mnist")))
    parser.add_argument("--presets", nargs="+", default=["default"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--runs", default=str(REPO / "runs" / "quality"))
    parser.add_argument("--results", default=str(REPO / "docs" / "results.md"))
    parser.add_argument("--select-split", choices=["train"], default=None, help="also evaluate on this split (for choosing settings)")
    parser.add_argument("--label", default=None, help="name runs <label>-seed<S> instead of <preset>-seed<S> (for variants)")
    parser.add_argument("--train-args", nargs=argparse.REMAINDER, default=[], help="extra flags for infogan train (last)")
    args = parser.parse_args()
    all_rows: dict[str, list[dict]] = {preset: [] for preset in args.presets}
    for seed in args.seeds:  # seeds outermost: every preset gets its first seeds early
        for preset in args.presets:
            all_rows[preset].append(train_and_evaluate(preset, seed, args))
            write_results(all_rows, args)
            print(f"{preset} seed {seed}: Q accuracy {all_rows[preset][-1]['test']['q_accuracy']}", flush=True)


if __name__ == "__main__":
    main()
