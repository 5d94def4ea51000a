"""``infogan evaluate``: a thin layer over ``infogan_cli.evaluate`` that loads the checkpoint, its
test data and the reference classifier, and shows the results (a table on stderr, JSON on stdout)."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Optional

import typer

from .common import check_at_least, check_seed, ensure_writable_dir, stderr

MAX_SAMPLES = 200_000
MIN_CLASSIFIER_ACCURACY = 0.99  # below this, warn that sample accuracy is less reliable


def evaluate(
    checkpoint: Path = typer.Argument(..., help="A checkpoint written by infogan train (.safetensors)."),
    data_root: Optional[Path] = typer.Option(None, help="Folder with the dataset; default: the one recorded in the checkpoint, else $INFOGAN_DATA_ROOT, else ~/.cache/infogan/data."),
    json_output: bool = typer.Option(False, "--json", help="Print the results as one JSON object on stdout (schema: docs/cli.md)."),
    out: Optional[Path] = typer.Option(None, help="Also write evaluation.json and confusion-matrix PNGs to this folder."),
    n_samples: int = typer.Option(10_000, help="Images to generate, equal per value of c1 (1 to 200000)."),
    classifier: Optional[Path] = typer.Option(None, help="Reference classifier (.safetensors); default: trained on first use and cached in $INFOGAN_CACHE_DIR/classifiers, else ~/.cache/infogan/classifiers."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:N or mps."),
    seed: int = typer.Option(0, help="Random seed (0..2^63-1) of the generated samples and sweeps."),
    split: str = typer.Option("test", help="Real images to score the Q head on: test, or train (a fixed 10,000-image subset; for choosing settings without touching the test set)."),
    raw_weights: bool = typer.Option(False, "--raw-weights", help="Score the trained weights, not the moving average of a checkpoint trained with --ema-decay (which is scored by default)."),
) -> None:
    """Score a checkpoint on its dataset's test split: code-to-label accuracy (Q head and samples),
    continuous codes vs slant/thickness/width (|rho| along sweeps, MIG on real images), a Frechet
    distance in the reference classifier's features and the categorical MI."""
    from infogan_cli.errors import ConfigError
    from infogan_cli.runtime import configure_backends, resolve_device

    started = time.perf_counter()
    check_at_least("--n-samples", n_samples, 1)
    if n_samples > MAX_SAMPLES:
        raise ConfigError(f"--n-samples must be <= {MAX_SAMPLES}, got {n_samples}")
    check_seed(seed)
    if split not in ("test", "train"):
        raise ConfigError(f"unknown split {split!r}", hint="use test or train")
    torch_device = resolve_device(device)
    configure_backends(torch_device)
    if out is not None:
        ensure_writable_dir(out)
    model, test_data, train_data = _load_inputs(checkpoint, data_root, torch_device, "raw" if raw_weights else "auto")
    reference = _reference_classifier(classifier, train_data, test_data, torch_device)
    if split == "train" and len(train_data):
        from infogan_cli.evaluate import selection_subset

        result = _run(model, selection_subset(train_data), test_data, reference, n_samples, seed, "train")
    else:
        result = _run(model, test_data, train_data, reference, n_samples, seed, "test")
    document = result.to_json()
    show_results(result, time.perf_counter() - started)
    if out is not None:
        _write_outputs(out, result, document)
    if json_output:
        sys.stdout.write(json.dumps(document) + "\n")
        sys.stdout.flush()


def _load_inputs(checkpoint: Path, data_root: Optional[Path], device, weights: str):
    """The model (``weights`` as for InfoGAN.load) and both splits of its dataset, resized /
    converted as they were for training."""
    import torch

    from infogan_cli.data import ImageDataset, load_dataset
    from infogan_cli.infogan import InfoGAN

    model = InfoGAN.load(checkpoint, device, weights)
    name = model.config.dataset
    shape = dict(image_size=model.config.model.image_size, channels=model.config.model.channels)
    if name.startswith("folder:"):
        # An image folder has no test split and no labels: nothing to compare against.
        stderr.print(f"[yellow]note:[/] {name} has no test split or labels: only label-free metrics")
        empty = ImageDataset(torch.zeros(0, shape["channels"], shape["image_size"], shape["image_size"], dtype=torch.uint8), None, name)
        return model, empty, empty
    root = str(data_root) if data_root else model.config.data_root
    with stderr.status(f"loading {name}"):
        test_data = load_dataset(name, root, train=False, **shape)
        train_data = load_dataset(name, root, train=True, **shape)
    return model, test_data, train_data


def _reference_classifier(path: Optional[Path], train_data, test_data, device):
    """The classifier given with --classifier, else the cached one, else a newly trained one;
    None for a dataset without labels (only label-free metrics then)."""
    from infogan_cli.classifier import default_classifier_path, load_classifier, load_or_train_classifier

    if path is not None:
        reference = load_classifier(path, device)
        reference.check_compatible(test_data)
        if reference.dataset != test_data.name:
            stderr.print(f"[yellow]warning:[/] {path} was trained on {reference.dataset}, not {test_data.name}")
        return reference
    if not len(test_data):
        return None
    if train_data.labels is None or test_data.labels is None:
        stderr.print(f"[yellow]note:[/] {test_data.name} has no labels: only label-free metrics (pass --classifier for the Frechet distance)")
        return None
    cache = default_classifier_path(test_data.name, test_data.image_size, test_data.channels)
    with _progress() as progress:
        task = progress.add_task("reference classifier", total=None)

        def on_progress(stage: str, done: int, total: int) -> None:
            progress.update(task, description=stage, completed=done, total=total)

        started = time.perf_counter()
        reference, trained, warnings = load_or_train_classifier(train_data, test_data, device, cache, on_progress)
    for warning in warnings:
        stderr.print(f"[yellow]warning:[/] {warning}")
    if reference.test_accuracy < MIN_CLASSIFIER_ACCURACY:
        stderr.print(
            f"[yellow]warning:[/] the reference classifier reaches only {reference.test_accuracy:.2%} on the test set; "
            "sample accuracy and the Frechet distance are less reliable"
        )
    if trained:
        stderr.print(
            f"trained the reference classifier in {time.perf_counter() - started:.0f} s: "
            f"{reference.test_accuracy:.2%} on the {test_data.name} test set; cached in {cache}"
        )
    return reference


def _run(model, test_data, train_data, reference, n_samples: int, seed: int, split: str):
    from infogan_cli.evaluate import STAGES, evaluate_checkpoint

    with _progress() as progress:
        task = progress.add_task("evaluating", total=len(STAGES))

        def on_progress(stage: str, done: int, total: int) -> None:
            progress.update(task, description=stage, completed=done, total=total)

        return evaluate_checkpoint(model, test_data, train_data, reference, n_samples, seed, on_progress, split=split)


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=stderr, transient=True,
    )


def _write_outputs(out: Path, result, document: dict) -> None:
    from infogan_cli.files import atomic_write_bytes
    from infogan_cli.plot import confusion_png

    atomic_write_bytes(out / "evaluation.json", (json.dumps(document, indent=2) + "\n").encode())
    written = [out / "evaluation.json"]
    if result.q is not None:
        order = sorted(range(result.q.contingency.shape[0]), key=lambda v: result.q.mapping.get(v, math.inf))
        written.append(atomic_write_bytes(out / "confusion.png", confusion_png(
            result.q.contingency[order], [f"c1={v}" for v in order], [str(j) for j in range(result.q.contingency.shape[1])],
            "Q head on real test images: c1 (rows) x label",
        )))
    if result.sample is not None:
        contingency = result.sample.contingency
        written.append(atomic_write_bytes(out / "sample_confusion.png", confusion_png(
            contingency, [f"c1={v}" for v in range(contingency.shape[0])], [str(j) for j in range(contingency.shape[1])],
            "generated images: c1 (rows) x classifier label",
        )))
    stderr.print("wrote " + ", ".join(str(p) for p in written))


# ----------------------------------------------------------------------------- the table


def show_results(result, seconds: float) -> None:
    from rich.table import Table

    split = "test" if result.split == "test" else "training-subset"
    weights = "moving-average (EMA)" if result.weights == "ema" else "raw"
    table = Table(
        title=f"{result.checkpoint} ({result.dataset}, step {result.step}, {weights} weights, seed {result.seed})", title_justify="left"
    )
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("notes", overflow="fold")
    q = result.q
    if q is None:
        table.add_row("Q accuracy", "n/a", "needs a categorical code and labels")
    else:
        table.add_row("Q accuracy", _pct(q.accuracy), f"argmax of {result.label_code} on {result.n_test} real {split} images, Hungarian mapping")
        table.add_row("Q purity / NMI / ARI", f"{_pct(q.purity)} / {q.nmi:.3f} / {q.ari:.3f}", "")
        table.add_row(f"mapping {result.label_code} -> label", "", " ".join(f"{v}->{label}" for v, label in sorted(q.mapping.items())))
        table.add_row("per-class accuracy", "", " ".join(f"{label}:{_pct(a, 0)}" for label, a in q.per_class.items()))
    sample = result.sample
    if sample is None:
        table.add_row("sample accuracy", "n/a", "needs a categorical code and a reference classifier")
    else:
        under_q = "n/a" if sample.accuracy is None else _pct(sample.accuracy)
        table.add_row("sample accuracy", under_q, f"{result.n_samples} generated images, under the Q mapping")
        table.add_row("  own best mapping", _pct(sample.best_accuracy), "")
        k = sample.contingency.shape[0]
        table.add_row("  digits covered", f"{sample.digits_covered} / {k}", f"distinct majority labels over the {k} values of {result.label_code}")
        table.add_row("  purity per value", "", " ".join(
            f"{v}:{_pct(p, 0)}" for v, p in sample.purity_per_value.items() if p is not None
        ))
    if result.classifier_accuracy is not None:
        table.add_row("classifier accuracy", _pct(result.classifier_accuracy), "reference CNN on the real test set")
    table.add_row(
        "Frechet distance", _num(result.fid, 2),
        f"in the reference classifier's features, not Inception's: not comparable with published FIDs; "
        f"floor (real vs real) {_num(result.fid_floor, 2)}",
    )
    for name, value in result.mi_categorical.items():
        table.add_row(f"MI {name}", f"{value:.3f}", f"nats, H(c) - CE; ceiling ln K = {result.mi_ceiling[name]:.3f}")
    for name, value in result.real_information.items():
        table.add_row(
            f"real-image info {name}", f"{value:.3f}",
            f"nats, of Q's {name} on the real images (no labels used; ceiling {result.mi_ceiling[name]:.3f}): higher in runs that match the digits better",
        )
    stderr.print(table)
    if result.continuous is not None:
        stderr.print(_continuous_table(result.continuous))
    if result.mig is not None:
        stderr.print(_mig_table(result.mig, split))
    elif result.continuous is not None:  # a model with continuous codes, but no MIG: say why
        stderr.print(f"MIG: n/a ({result.mig_skipped})", highlight=False, soft_wrap=True)
    stderr.print(f"[dim]evaluated in {seconds:.1f} s[/]")


def _continuous_table(continuous):
    """Codes x measures of |rho|, so cross-talk shows at a glance; the code that turns each
    measure most in bold, each code's best match (signed) in the last column."""
    from rich.table import Table

    from infogan_cli.evaluate import MEASURES

    sweep = f"{continuous.values[0]:g}..{continuous.values[-1]:g}"
    table = Table(
        title=f"|Spearman rho|, sweeping each code over {sweep} ({continuous.rows} rows, the rest fixed)",
        title_justify="left",
    )
    table.add_column("code")
    for measure in MEASURES:
        table.add_column(f"|rho| {measure}", justify="right")
    table.add_column("best match (rho)")
    for name, row in continuous.spearman.items():
        cells = []
        for measure in MEASURES:
            best = continuous.best[measure]
            text = _num(None if row[measure] is None else abs(row[measure]), 2)
            cells.append(f"[bold]{text}[/]" if best is not None and best[0] == name else text)
        match = continuous.best_by_code[name]
        table.add_row(name, *cells, "n/a" if match is None else f"{match[0]} ({match[1]:+.2f})")
    return table


def _mig_table(mig, split: str):
    """Per measure: MIG, the code that carries it most and the runner-up, and every code's MI."""
    from rich.table import Table

    table = Table(
        title=f"MIG: Q's means vs the measures of {mig.n} real {split} images",
        title_justify="left",
    )
    for column, justify in (("measure", "left"), ("MIG", "right"), ("code", "left"), ("runner-up", "left")):
        table.add_column(column, justify=justify)
    table.add_column("MI per code (nats)")
    table.add_column("H (nats)", justify="right")
    for j, factor in enumerate(mig.factors):
        information = " ".join(f"{code}:{mig.mutual_info[i, j]:.3f}" for i, code in enumerate(mig.codes))
        table.add_row(
            factor, _num(mig.gap[j], 3), mig.best[j] or "n/a", mig.runner_up[j] or "n/a", information, f"{mig.entropy[j]:.3f}"
        )
    table.caption = f"{mig.bins} equal-width bins per code and measure" + (
        "; MIG needs at least two continuous codes" if len(mig.codes) < 2 else ""
    )
    table.caption_justify = "left"
    return table


def _pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{100 * value:.{digits}f}%"


def _num(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"
