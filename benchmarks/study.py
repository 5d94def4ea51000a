"""One-change-at-a-time study of what moves code-to-digit accuracy, selected on the TRAIN split.

    python benchmarks/study.py --data-root ../shared/data/mnist --seeds 0 1 --max-steps 1500

Each variant is the default settings plus one change. Every run trains for the same number of
steps and is scored with `infogan evaluate --split train` (a fixed 10,000-image subset of the
training images: labels never reach training, so this chooses settings without the test set).
The baseline can reuse the step checkpoint of a longer default run with the same seed
(training is deterministic per seed, so its first N steps are the same run).
Writes docs/study.md; runs are cached, so rerunning continues.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import runner  # noqa: E402 - the infogan commands as benchmarks/quality.py and screen.py run them

VARIANTS: dict[str, list[str]] = {
    "baseline": [],
    "fp32": ["--precision", "fp32"],
    "noise-dim-16": ["--noise-dim", "16"],
    "lambda-cat-2": ["--lambda-cat", "2"],
    "no-mi-in-trunk": ["--no-mi-updates-trunk"],
    "fixed-std-lambda-1": ["--continuous-loss", "mse", "--lambda-cont", "1"],  # the authors' MNIST code
    "batch-64": ["--batch-size", "64"],
    "lr-g-2e-4": ["--lr-g", "2e-4"],
}

# Variants whose option no longer exists: their cached rows stay in the table, with why.
RETIRED: dict[str, str] = {
    "real-mi-1": (
        "`--lambda-real 1` added the categorical code's information on each real batch, "
        "H(mean Q(c|x)) - mean H(Q(c|x)), to the trunk's and Q head's objective. On seed 0 it scored "
        "59.4% against fp32's 67.6%, and both continuous codes stalled at their MI floor (Q's "
        "log-std stuck at its upper clamp, which then passed no gradient; the clamp now does). "
        "The option was removed; the same quantity is still logged as `mi_real`."
    ),
}


def run_variant(label: str, flags: list[str], seed: int, args: argparse.Namespace) -> dict:
    run_dir = Path(args.runs) / f"{label}-seed{seed}"
    row_path = run_dir / "study.json"
    if row_path.exists():
        return json.loads(row_path.read_text())
    reuse = Path(args.runs).parent / "quality" / f"default-seed{seed}" / "checkpoints" / f"step-{args.max_steps:06d}.safetensors"
    started = time.perf_counter()
    if label == "baseline" and reuse.exists():
        checkpoint, minutes = reuse, None
    else:
        runner.infogan(
            "train", "--seed", str(seed), "--data-root", args.data_root, "--out", str(run_dir), "--max-steps", str(args.max_steps),
            "--epochs", "100", runner.continue_flag(run_dir), *flags,
        )
        checkpoint, minutes = run_dir / "last.safetensors", (time.perf_counter() - started) / 60
    try:
        evaluation = runner.evaluate(checkpoint, ["--data-root", args.data_root, "--split", "train", "--n-samples", "2000"])
    except runner.JobFailed as exc:  # a record of another schema
        sys.exit(str(exc))
    row = {"label": label, "seed": seed, "flags": flags, "minutes": minutes, "train_split": evaluation}
    run_dir.mkdir(parents=True, exist_ok=True)
    row_path.write_text(json.dumps(row, indent=2))
    return row


def cached_rows(args: argparse.Namespace) -> dict[str, list[dict]]:
    """Every finished run under --runs, by variant (so a narrower rerun keeps the wider table).
    The table reads only `q_accuracy` and `q_nmi`, top-level numbers with the same meaning in the
    records from before the evaluate schema, so older rows stay usable."""
    rows: dict[str, list[dict]] = {label: [] for label in VARIANTS}
    for path in sorted(Path(args.runs).glob("*-seed*/study.json")):
        row = json.loads(path.read_text())
        rows.setdefault(row["label"], []).append(row)
    return {label: sorted(r, key=lambda row: row["seed"]) for label, r in rows.items()}


KEPT_MARKER = "<!-- kept by benchmarks/study.py: sections below are written by hand -->"


def write_study(rows: dict[str, list[dict]], args: argparse.Namespace) -> None:
    lines = [
        "# What moves code-to-digit accuracy (selection on the training split)",
        "",
        "Written by `python benchmarks/study.py --seeds S.. --variants NAME..`: default settings plus one change,",
        f"{args.max_steps} steps per run (batch 128: {args.max_steps * 128 / 60000:.1f} epochs), scored by",
        "`infogan evaluate --split train` (Q accuracy on 10,000 training images, Hungarian mapping).",
        "The baseline is the defaults when the study ran (bf16 autocast, lambda_cat = 1); each run",
        "folder's config.json records them. `--preset paper` (the default before the consistency loss) is the `fp32` row.",
        "",
        "| variant | flags | Q accuracy per seed | mean | NMI mean |",
        "| --- | --- | --- | --- | --- |",
    ]
    for label, variant_rows in rows.items():
        if not variant_rows:
            continue
        accuracies = [r["train_split"]["q_accuracy"] for r in variant_rows]
        nmis = [r["train_split"]["q_nmi"] for r in variant_rows]
        cells = ", ".join(f"{100 * a:.1f}% (seed {r['seed']})" for a, r in zip(accuracies, variant_rows))
        lines.append(
            f"| {label} | `{' '.join(variant_rows[0]['flags']) or '(none)'}` | {cells}"
            f" | {100 * statistics.mean(accuracies):.1f}% | {statistics.mean(nmis):.3f} |"
        )
    retired = [label for label in RETIRED if rows.get(label)]
    if retired:
        lines += ["", "Retired variants:", ""] + [f"- **{label}**: {RETIRED[label]}" for label in retired]
    # Hand-kept sections of the file (studies run by other means) start at KEPT_MARKER and stay.
    path = Path(args.results)
    kept = ""
    if path.exists() and KEPT_MARKER in (text := path.read_text()):
        kept = "\n" + text[text.index(KEPT_MARKER) :]
    path.write_text("\n".join(lines) + "\n" + kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", default=runner.DATA_ROOT, help="MNIST folder (default: $INFOGAN_DATA_ROOT, else ../shared/data/mnist)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--max-steps", type=int, default=1500)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS)[:6], choices=list(VARIANTS))
    parser.add_argument("--runs", default=str(REPO / "runs" / "study"))
    parser.add_argument("--results", default=str(REPO / "docs" / "study.md"))
    parser.add_argument("--table-only", action="store_true", help="rewrite --results from the cached runs, train nothing")
    args = parser.parse_args()
    if args.table_only:
        write_study(cached_rows(args), args)
        return
    for seed in args.seeds:
        for label in args.variants:
            row = run_variant(label, VARIANTS[label], seed, args)
            write_study(cached_rows(args), args)
            print(f"{label} seed {seed}: train-split Q accuracy {row['train_split']['q_accuracy']:.4f}", flush=True)


if __name__ == "__main__":
    main()
