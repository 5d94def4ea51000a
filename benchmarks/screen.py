"""Screen many short trainings at once: variants x seeds, each scored on the training split.

    python benchmarks/screen.py --variant default= --variant shift="--consistency-transform shift-scale" \
        --seeds 0 1 2 --epochs 10 --parallel 16 --runs runs/screen --data-root ../shared/data/mnist \
        [--train-args "--device cuda"] [--eval-args "--n-samples 2000"]

Each job (variant, seed) runs `infogan train --seed S --out RUNS/NAME-sS --epochs E --data-root D
<train-args> <variant flags>`, then `infogan evaluate RUNS/NAME-sS/last.safetensors --split train
--json <eval-args>` (Q on the fixed 10,000-image training subset: labels never reach training, so
this chooses settings without the test set). Up to --parallel jobs run at once: one training
leaves most of a GPU idle. It writes

  RUNS/NAME-sS/screen.json  the job's row: variant, seed, flags, minutes of training, status
                            (ok or failed), error (the log's last lines) and the evaluate record
  RUNS/NAME-sS.log          the job's stdout and stderr
  RUNS/screen.jsonl         every row, rewritten after each job
  RUNS/screen.md            a table per run and a summary per variant (printed at the end too)

A job whose screen.json says ok is not run again; a failed or stopped one continues from its last
checkpoint (rerunning continues a screen: benchmarks/runner.py). The exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import runner  # noqa: E402 - one job and many at once, shared with quality.py
from infogan_cli.files import atomic_write_bytes  # noqa: E402 - runner put the repository on the path
# Shared with quality.py: issue #20's lone-code thresholds (LONE_CODES) and the cell format.
from quality import LONE_CODES, fmt, lone_code  # noqa: E402
from runner import DATA_ROOT, REPO, child_env, finished, read_row  # noqa: E402

# A variant name becomes part of a folder name: no separators, no leading dot or dash.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
GOOD_Q_ACCURACY = 0.95  # the summary counts the runs at or above it


# ----------------------------------------------------------------------------- parsing


def parse_variant(text: str) -> tuple[str, list[str]]:
    """NAME=FLAGS -> (NAME, FLAGS split as a shell would); ValueError naming the problem."""
    name, equals, flags = text.partition("=")
    if not equals:
        raise ValueError(f"--variant {text!r} has no '=': write NAME=FLAGS (NAME= for the defaults)")
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"variant name {name!r} is not a safe folder name: use up to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    try:
        return name, shlex.split(flags)
    except ValueError as exc:
        raise ValueError(f"--variant {name}: cannot split {flags!r} ({exc})") from None


def parse_variants(texts: list[str]) -> dict[str, list[str]]:
    """Every --variant, in order; a repeated name is refused (its runs would share folders)."""
    variants: dict[str, list[str]] = {}
    for text in texts:
        name, flags = parse_variant(text)
        if name in variants:
            raise ValueError(f"variant name {name!r} is given twice: each variant needs its own name")
        variants[name] = flags
    return variants


def run_folder(runs: Path, variant: str, seed: int) -> Path:
    return runs / f"{variant}-s{seed}"


# ----------------------------------------------------------------------------- one job


def log_file(run_dir: Path) -> Path:
    return run_dir.with_name(f"{run_dir.name}.log")  # beside the folder: --overwrite empties the folder


def run_job(variant: str, flags: list[str], seed: int, args: argparse.Namespace) -> dict:
    """Train with the variant's flags, evaluate on the training subset, the output in the log; the row."""
    run_dir = run_folder(Path(args.runs), variant, seed)
    train = ["--seed", str(seed), "--epochs", str(args.epochs), "--data-root", args.data_root, *shlex.split(args.train_args), *flags]
    evaluation = ["--data-root", args.data_root, "--split", "train", *shlex.split(args.eval_args)]
    fields = {"variant": variant, "seed": seed, "flags": flags}
    return runner.run_job(run_dir, "screen.json", fields, train, {"evaluation": evaluation}, log_file(run_dir), args.env)


# ----------------------------------------------------------------------------- tables


def lone_codes(evaluation: dict | None) -> tuple[str | None, str | None]:
    """The lone slant code and the lone width code of a record (None: none passes issue #20's
    thresholds, LONE_CODES, or the record has no continuous codes)."""
    if not evaluation:
        return None, None
    slant, width = (lone_code(evaluation, *lone[1:]) for lone in LONE_CODES)
    return slant, width


def median(values: list) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def variant_summary(rows: list[dict]) -> dict:
    """A variant's runs in numbers: failed ones are counted, and left out of every other figure."""
    ok = [row for row in rows if row["status"] == "ok"]
    evaluations = [row["evaluation"] for row in ok]
    scored = [(row["evaluation"]["q_accuracy"], row["seed"]) for row in ok if row["evaluation"].get("q_accuracy") is not None]
    codes = [lone_codes(evaluation) for evaluation in evaluations]
    return {
        "runs": len(rows),
        "failed": len(rows) - len(ok),
        "ok": len(ok),
        "median_q_accuracy": median([q for q, _ in scored]),
        "worst_q_accuracy": min(scored, default=None),  # (accuracy, seed); on a tie the lowest seed
        "good_runs": sum(q >= GOOD_Q_ACCURACY for q, _ in scored),
        "lone_slant": sum(slant is not None for slant, _ in codes),
        "lone_width": sum(width is not None for _, width in codes),
        "median_mig_slant": median([e.get("mig_slant") for e in evaluations]),
        "median_mig_width": median([e.get("mig_width") for e in evaluations]),
        "median_frechet": median([e.get("classifier_frechet_distance") for e in evaluations]),
    }


def code_cell(evaluation: dict) -> str:
    if not evaluation.get("continuous_codes"):
        return "n/a"
    return " / ".join(code or "none" for code in lone_codes(evaluation))


def run_line(row: dict) -> str:
    minutes = "n/a" if row["minutes"] is None else f"{row['minutes']:.1f}"
    if row["status"] != "ok":
        return f"| {row['variant']} | {row['seed']} | FAILED | | | | | | {minutes} |"
    e = row["evaluation"]
    cells = [
        fmt(e.get("q_accuracy"), True), fmt(e.get("sample_accuracy"), True), fmt(e.get("digits_covered")), code_cell(e),
        f"{fmt(e.get('mig_slant'))} / {fmt(e.get('mig_width'))}", fmt(e.get("classifier_frechet_distance")), minutes,
    ]
    return f"| {row['variant']} | {row['seed']} | " + " | ".join(cells) + " |"


def flags_cell(flags: list[str]) -> str:
    return f"`{shlex.join(flags)}`".replace("|", "\\|") if flags else "(none)"


def summary_line(variant: str, rows: list[dict]) -> str:
    s = variant_summary(rows)
    runs = f"{s['runs']} ({s['failed']} failed)" if s["failed"] else str(s["runs"])
    worst = "n/a" if s["worst_q_accuracy"] is None else f"{fmt(s['worst_q_accuracy'][0], True)} (seed {s['worst_q_accuracy'][1]})"
    cells = [
        flags_cell(rows[0]["flags"]), runs, fmt(s["median_q_accuracy"], True), worst,
        f"{s['good_runs']} of {s['ok']}", f"{s['lone_slant']} of {s['ok']}", f"{s['lone_width']} of {s['ok']}",
        f"{fmt(s['median_mig_slant'])} / {fmt(s['median_mig_width'])}", fmt(s["median_frechet"]),
    ]
    return f"| {variant} | " + " | ".join(cells) + " |"


def screen_markdown(rows: dict[str, list[dict]], args: argparse.Namespace) -> str:
    slant, width = LONE_CODES
    lines = [
        "# Screen",
        "",
        f"Written by `python benchmarks/screen.py {args.command_line}` on {time.strftime('%Y-%m-%d')}.",
        "Each run: `infogan train --epochs E <train-args> <flags>`, then `infogan evaluate --split train --json`",
        "(the fixed 10,000-image training subset). Lone slant / width code: a continuous code with slant",
        f"|rho| >= {slant[2]} and width |rho| <= {slant[4]} / width |rho| >= {width[2]} and slant |rho| <= {width[4]}",
        "(issue #20's separation), or none. Frechet distance: in the reference classifier's features.",
        f"Minutes: training wall time, up to {args.parallel} runs at a time.",
        "",
        "| variant | seed | Q accuracy | sample accuracy | digits covered | lone slant / width code | MIG slant / width | classifier FD | minutes |",
        "| --- " * 9 + "|",
    ]
    lines += [run_line(row) for variant_rows in rows.values() for row in variant_rows]
    lines += [
        "",
        f"| variant | flags | runs | median Q accuracy | worst Q accuracy (seed) | runs >= {GOOD_Q_ACCURACY:.0%} "
        "| lone slant codes | lone width codes | median MIG slant / width | median FD |",
        "| --- " * 10 + "|",
    ]
    lines += [summary_line(variant, variant_rows) for variant, variant_rows in rows.items()]
    return "\n".join(lines) + "\n"


def collected_rows(runs: Path, variants: list[str]) -> dict[str, list[dict]]:
    """Every row under RUNS by variant, by seed: the variants named now first, then those of
    earlier screens in the same folder (so a narrower rerun keeps the wider table)."""
    rows: dict[str, list[dict]] = {variant: [] for variant in variants}
    for path in sorted(runs.glob("*/screen.json")):
        row = read_row(path)
        if row is not None and "variant" in row:
            rows.setdefault(row["variant"], []).append(row)
    ordered = variants + sorted(set(rows) - set(variants))
    return {variant: sorted(rows[variant], key=lambda row: row["seed"]) for variant in ordered if rows[variant]}


def write_outputs(runs: Path, variants: list[str], args: argparse.Namespace) -> str:
    rows = collected_rows(runs, variants)
    jsonl = "".join(json.dumps(row) + "\n" for variant_rows in rows.values() for row in variant_rows)
    atomic_write_bytes(runs / "screen.jsonl", jsonl.encode())
    markdown = screen_markdown(rows, args)
    atomic_write_bytes(runs / "screen.md", markdown.encode())
    return markdown


def progress_line(row: dict, log_path: Path, cached: bool) -> str:
    """What one finished job prints: a failed one names its log (failed jobs are never cached)."""
    minutes = "n/a" if row["minutes"] is None else f"{row['minutes']:.1f} min"
    if row["status"] != "ok":
        trained = "" if row["minutes"] is None else f" after {minutes} of training"
        return f"{row['variant']} seed {row['seed']}: FAILED{trained} (log: {log_path})"
    accuracy = fmt(row["evaluation"].get("q_accuracy"), True)
    return f"{row['variant']} seed {row['seed']}: Q accuracy {accuracy}, {minutes}" + (" (cached)" if cached else "")


# ----------------------------------------------------------------------------- main


def refuse(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", action="append", required=True, metavar="NAME=FLAGS",
                        help="a variant: its name (a folder name) and the infogan train flags it adds; repeat for several")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10, help="--epochs of each training")
    parser.add_argument("--parallel", type=int, default=1, help="jobs at once (default 1: one after another)")
    parser.add_argument("--runs", default=str(REPO / "runs" / "screen"), help="folder of the run folders, logs and tables")
    parser.add_argument("--data-root", default=DATA_ROOT)
    # One string each; a lone flag needs '=' (--train-args=--compile): argparse takes a value that
    # starts with '-' and has no space for an option.
    parser.add_argument("--train-args", default="", help="more infogan train flags for every job, one string (before the variant's)")
    parser.add_argument("--eval-args", default="", help="more infogan evaluate flags, one string, e.g. \"--n-samples 2000\"")
    args = parser.parse_args(argv)
    args.command_line = shlex.join(sys.argv[1:] if argv is None else argv)
    try:
        variants = parse_variants(args.variant)
        for option, value in (("--train-args", args.train_args), ("--eval-args", args.eval_args)):
            try:
                shlex.split(value)
            except ValueError as exc:
                raise ValueError(f"{option}: cannot split {value!r} ({exc})") from None
    except ValueError as exc:
        refuse(str(exc))
    if args.parallel < 1 or args.epochs < 1:
        refuse("--parallel and --epochs must be at least 1")
    runs = Path(args.runs)
    seeds = list(dict.fromkeys(args.seeds))  # a repeated seed would train twice in one folder
    jobs = [(variant, seed) for seed in seeds for variant in variants]  # seeds outermost: every variant early
    cached = {job: read_row(run_folder(runs, *job) / "screen.json") for job in jobs}
    for (variant, seed), row in cached.items():
        # A finished run, or one that would resume (infogan train refuses to change its flags).
        kept = finished(row, ["evaluation"]) or runner.continue_flag(run_folder(runs, variant, seed)) == "--resume"
        if row is not None and kept and row["flags"] != variants[variant]:
            refuse(f"{run_folder(runs, variant, seed)} was run with {flags_cell(row['flags'])}, not "
                   f"{flags_cell(variants[variant])}: give this variant another name or another --runs")
    args.env = child_env(args.parallel)
    failed = 0

    def finish(row: dict, was_cached: bool) -> None:
        nonlocal failed
        failed += row["status"] != "ok"
        write_outputs(runs, list(variants), args)
        print(progress_line(row, log_file(run_folder(runs, row["variant"], row["seed"])), was_cached), flush=True)

    todo = [job for job in jobs if not finished(cached[job], ["evaluation"])]
    for job in jobs:
        if job not in todo:
            finish(cached[job], True)
    runner.run_all(todo, lambda job: run_job(job[0], variants[job[0]], job[1], args), lambda _job, row: finish(row, False), args.parallel)
    print()
    print(write_outputs(runs, list(variants), args), end="")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
