"""``infogan train``: a thin layer that builds a TrainConfig and shows the trainer's events."""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import typer

from infogan_cli.config import DEFAULT_PRESET, MAX_STARTS, PRESETS, START_SEED_STRIDE, StartsConfig

from .common import ensure_writable_dir, stderr
from .defaults import shown_default

SIGNAL_EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


def train(
    ctx: typer.Context,
    config_file: Optional[Path] = typer.Option(None, "--config", help="A TOML file of these options (keys as option names: lr_d = 2e-4, categorical = [10]); flags given on the command line win."),
    dataset: Optional[str] = typer.Option(None, show_default=shown_default("dataset"), help="mnist, fashion-mnist, cifar10, svhn, idx:DIR (IDX files), folder:DIR (PNG/JPEG, recursive) or fake."),
    data_root: Optional[Path] = typer.Option(None, show_default="$INFOGAN_DATA_ROOT, else ~/.cache/infogan/data", help="Folder with the dataset; downloaded there if missing."),
    preset: Optional[str] = typer.Option(None, show_default=DEFAULT_PRESET, help=f"Starting settings: {', '.join(PRESETS)}; flags override them."),
    epochs: Optional[int] = typer.Option(None, min=1, show_default=shown_default("epochs"), help="Passes over the training set."),
    max_steps: Optional[int] = typer.Option(None, min=1, show_default=shown_default("max_steps"), help="Stop after this many steps, even mid-epoch."),
    batch_size: Optional[int] = typer.Option(None, min=1, show_default=shown_default("batch_size"), help="Images per step."),
    noise_dim: Optional[int] = typer.Option(None, min=0, show_default=shown_default("noise_dim"), help="Dimensions of the N(0, 1) noise z."),
    categorical: Optional[list[int]] = typer.Option(None, show_default=shown_default("categorical"), help="A categorical code with this many values; repeat for several."),
    continuous: Optional[int] = typer.Option(None, min=0, show_default=shown_default("continuous"), help="Number of continuous codes."),
    continuous_prior: Optional[str] = typer.Option(None, show_default=shown_default("continuous_prior"), help="Prior of continuous codes: uniform (Unif(-1, 1)) or normal (N(0, 1))."),
    continuous_loss: Optional[str] = typer.Option(None, show_default=shown_default("continuous_loss"), help="gaussian (NLL with learned std) or mse (fixed std)."),
    lambda_cat: Optional[float] = typer.Option(None, min=0, show_default=shown_default("lambda_cat"), help="Weight of the categorical MI loss."),
    lambda_cont: Optional[float] = typer.Option(None, min=0, show_default=shown_default("lambda_cont"), help="Weight of the continuous MI loss (of the first continuous code, with --lambda-cont-ratio)."),
    lambda_cont_ratio: Optional[float] = typer.Option(
        None, show_default=shown_default("lambda_cont_ratio"),
        help="Each further continuous code's MI weight is this times the previous code's (the second continuous code weighs --lambda-cont times it); 1: equal weights, the paper's.",
    ),
    lambda_consistency: Optional[float] = typer.Option(
        None, min=0, show_default=shown_default("lambda_consistency"),
        help="Weight of Q's categorical-code consistency under small random rotations, shears, stretches and shifts of real images (0 is the paper's objective).",
    ),
    lambda_fake_consistency: Optional[float] = typer.Option(
        None, min=0, show_default=shown_default("lambda_fake_consistency"),
        help="Weight of the categorical code loss on transformed generated images: Q must read c1 back from them, so G shows it in features the consistency transforms leave alone (0: off).",
    ),
    lambda_contrastive: Optional[float] = typer.Option(
        None, min=0, show_default=shown_default("lambda_contrastive"),
        help="Weight of InfoGAN-CR's contrastive regulariser: a small network guesses which code a pair of generated images shares, and G is trained to make the guess easy, so each code changes the image in its own way (0: off; not under torchrun).",
    ),
    consistency_fraction: Optional[float] = typer.Option(
        None, show_default=shown_default("consistency_fraction"),
        help="Share of each batch, in (0, 1], that both consistency losses are computed on (its first images): each loss costs a discriminator pass over them, so below 1 trains faster per step, but 0.5 and 0.25 raised the Frechet distance of the samples and 0.25 merged digits on a seed (docs/study.md).",
    ),
    contrastive_start_epoch: Optional[int] = typer.Option(
        None, min=0, show_default=shown_default("contrastive_start_epoch"), help="Epochs trained before --lambda-contrastive switches on.",
    ),
    consistency_transform: Optional[str] = typer.Option(
        None, show_default=shown_default("consistency_transform"),
        help="Transforms of the consistency loss: affine (rotation, shear, per-axis stretch up to 10%, shift), shift-scale (shifts and one uniform scale, leaving slant and width to the continuous codes) or affine-wide (affine with stretches up to 25%).",
    ),
    lr_d: Optional[float] = typer.Option(None, show_default=shown_default("lr_d"), help="Adam learning rate of the discriminator."),
    lr_g: Optional[float] = typer.Option(None, show_default=shown_default("lr_g"), help="Adam learning rate of the generator and Q head."),
    lr_decay_epochs: Optional[int] = typer.Option(None, min=0, show_default=shown_default("lr_decay_epochs"), help="Over the run's last N epochs (the whole run if shorter) both learning rates fall linearly to 0 (0: constant rates). May change on --resume."),
    ema_decay: Optional[float] = typer.Option(
        None, show_default=shown_default("ema_decay"),
        help="Keep an exponential moving average of the weights with this decay per step, in [0, 1) (0: off; 0.999 averages about the last 1000 steps); sample, traverse, evaluate, explore and the epoch grids use the average. May change on --resume; added to a run that had none, the average starts from the weights at the resumed step.",
    ),
    mi_updates_trunk: Optional[bool] = typer.Option(None, "--mi-updates-trunk/--no-mi-updates-trunk", show_default=shown_default("mi_updates_trunk"), help="Let the MI loss also train D's shared trunk (the paper's code does)."),
    architecture: Optional[str] = typer.Option(None, show_default=shown_default("architecture"), help="paper or tutorial network shapes."),
    continuous_encoder: Optional[str] = typer.Option(None, show_default=shown_default("continuous_encoder"), help="What Q reads the continuous codes from: shared (the D trunk, as the paper) or own (a small encoder of their own, which the consistency loss does not make blind to slant and width)."),
    width: Optional[int] = typer.Option(None, min=1, show_default=shown_default("width"), help="Channels of the first conv layer."),
    image_size: Optional[int] = typer.Option(None, show_default=shown_default("image_size"), help="Train at 28, 32 or 64 px."),
    channels: Optional[int] = typer.Option(None, show_default=shown_default("channels"), help="1 (grey) or 3 (RGB)."),
    workers: Optional[int] = typer.Option(None, min=0, show_default=shown_default("workers"), help="DataLoader worker processes for folder datasets."),
    precision: Optional[str] = typer.Option(None, show_default=shown_default("precision"), help="Autocast: auto (bf16 on CPUs with AVX512-BF16 or AMX, 1.5-1.8x faster there at the same accuracy, the Q head kept in fp32; fp32 elsewhere, on CUDA with TF32 products), bf16, fp16 (CUDA) or fp32."),
    matmul: Optional[str] = typer.Option(
        None, show_default=shown_default("matmul"),
        help="Library for the CPU's fp32 matrix products: blas (torch's default) or onednn (where a probe shows it computes them in fp32; refused elsewhere). The same arithmetic to rounding, but another rounding gives another run; onednn gave 1.15x the images/s on an AMD EPYC. May change on --resume.",
    ),
    compile: Optional[bool] = typer.Option(None, "--compile/--no-compile", show_default=shown_default("compile"), help="torch.compile the networks (slower than eager for the default model on the GPU and CPUs measured: docs/performance.md)."),
    sync_bn: Optional[bool] = typer.Option(None, "--sync-bn/--no-sync-bn", show_default=shown_default("sync_bn"), help="Under torchrun on CUDA: batch-norm statistics over the global batch."),
    seed: Optional[int] = typer.Option(None, min=0, show_default=shown_default("seed"), help="Random seed; recorded in the run."),
    starts: Optional[int] = typer.Option(
        None, min=1, max=MAX_STARTS, show_default=str(StartsConfig().count),
        help=f"Train this many starts (seeds --seed, --seed + {START_SEED_STRIDE}, ...) for --start-epochs epochs each, keep the one whose Q reads the most information from real images (mi_real, no labels) and train it on: against seeds that merge digits, for (starts - 1) x start-epochs more epochs.",
    ),
    start_epochs: Optional[int] = typer.Option(None, min=1, show_default=str(StartsConfig().epochs), help="Epochs each start trains before the choice (with --starts 2 or more)."),
    device: Optional[str] = typer.Option(None, show_default=shown_default("device"), help="auto, cpu, cuda, cuda:N or mps."),
    out: Optional[Path] = typer.Option(None, show_default="runs/<timestamp>", help="Run folder."),
    log_every: Optional[int] = typer.Option(None, min=1, show_default=shown_default("log_every"), help="Steps between metric lines."),
    checkpoint_every: Optional[int] = typer.Option(None, min=1, show_default=shown_default("checkpoint_every"), help="Steps between checkpoints."),
    keep: Optional[int] = typer.Option(None, min=1, show_default=shown_default("keep"), help="Step checkpoints to keep (last.safetensors is always kept)."),
    resume: bool = typer.Option(False, help="Continue the run in --out from its newest intact checkpoint; options left out keep the run's values."),
    overwrite: bool = typer.Option(False, help="Start a new run in an --out that holds one, deleting the old run's files first."),
    tensorboard: bool = typer.Option(False, help="Also log losses and MI to RUN_DIR/tensorboard (needs the tensorboard package)."),
    detect_anomaly: bool = typer.Option(False, help="Turn on autograd anomaly detection to find where a NaN starts (slow)."),
) -> None:
    """Train an InfoGAN (MNIST by default): writes checkpoints, metrics.jsonl and sample grids."""
    if config_file is not None:
        # The file's values replace the defaults; flags given on the command line still win.
        given = {name: value for name, value in locals().items() if name not in ("ctx", "config_file")}
        return train(ctx, None, **options_with_file(ctx, config_file, given))

    from infogan_cli.config import build_train_config, given_fields
    from infogan_cli.errors import ConfigError

    if resume and out is None:
        raise ConfigError("--resume needs --out RUN_DIR", hint="pass the folder of the run to continue")
    out_dir = out or Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S")
    # None means "not given": the preset, else the config's default, decides (on --resume: the run's value).
    overrides: dict[str, Any] = dict(
        dataset=dataset,
        data_root=str(data_root) if data_root else None,
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        lr_d=lr_d,
        lr_g=lr_g,
        lr_decay_epochs=lr_decay_epochs,
        ema_decay=ema_decay,
        lambda_cat=lambda_cat,
        lambda_cont=lambda_cont,
        lambda_cont_ratio=lambda_cont_ratio,
        lambda_consistency=lambda_consistency,
        lambda_fake_consistency=lambda_fake_consistency,
        consistency_fraction=consistency_fraction,
        lambda_contrastive=lambda_contrastive,
        contrastive_start_epoch=contrastive_start_epoch,
        consistency_transform=consistency_transform,
        continuous_loss=continuous_loss,
        mi_updates_trunk=mi_updates_trunk,
        seed=seed,
        device=device,
        log_every=log_every,
        checkpoint_every=checkpoint_every,
        keep=keep,
        image_size=image_size,
        channels=channels,
        workers=workers,
        sync_bn=sync_bn,
        precision=precision,
        matmul=matmul,
        compile=compile,
        latent=dict(
            noise_dim=noise_dim,
            categorical=tuple(categorical) if categorical else None,
            continuous=continuous,
            continuous_prior=continuous_prior,
        ),
        model=dict(architecture=architecture, width=width, continuous_encoder=continuous_encoder),
    )
    config = build_train_config(preset or DEFAULT_PRESET, **overrides)
    ensure_writable_dir(out_dir)
    code = run_training(
        config, out_dir, resume, detect_anomaly, tensorboard, given=given_fields(preset, overrides), overwrite=overwrite,
        starts=starts, start_epochs=start_epochs,
    )
    raise typer.Exit(code)


def options_with_file(ctx: typer.Context, path: Path, given: dict[str, Any]) -> dict[str, Any]:
    """``given`` (this command's options) updated with the TOML file's values, except for the
    options set on the command line. Keys and types are checked against ``train``'s signature."""
    import inspect
    import typing

    from infogan_cli.config_file import read_options_file, spec_from_annotation

    hints = typing.get_type_hints(train)
    parameters = inspect.signature(train).parameters
    specs = {name: spec_from_annotation(hints[name], getattr(parameters[name].default, "min", None)) for name in given}
    from_file = read_options_file(path, specs)
    # Compared by name: recent typer vendors its own click, so its ParameterSource is not click's.
    explicit = {name for name in given if getattr(ctx.get_parameter_source(name), "name", None) in ("COMMANDLINE", "ENVIRONMENT")}
    return {**given, **{name: value for name, value in from_file.items() if name not in explicit}}


def require_tensorboard() -> None:
    """A one-line error before training if --tensorboard cannot work."""
    from infogan_cli.errors import ConfigError

    import importlib

    try:
        importlib.import_module("torch.utils.tensorboard")  # it imports the tensorboard package
    except ImportError:
        raise ConfigError("--tensorboard needs the tensorboard package", hint="pip install 'infogan[tensorboard]'") from None


def logged_to_tensorboard(events):
    """Pass events through, writing each logged interval's scalars to the tensorboard/ folder of
    the run folder being trained (a start's own, until the chosen one moves into the run's). A
    writer is made at its first scalars, so a run refused at its start writes nothing."""
    from torch.utils.tensorboard import SummaryWriter

    from infogan_cli.trainer import StepLogged, TrainFinished, TrainStarted

    writer, folder = None, None
    try:
        for event in events:
            if isinstance(event, TrainStarted):
                folder = event.out_dir / "tensorboard"
            if isinstance(event, TrainFinished) and writer is not None:  # closed before a chosen start's files move
                writer.close()
                writer = None
            if isinstance(event, StepLogged) and folder is not None:
                writer = writer or SummaryWriter(log_dir=str(folder))
                m = event.metrics
                for name in ("loss_d", "loss_g", "loss_mi", "mi_real", "consistency", "images_per_s"):
                    if name in m:  # consistency: only when the loss is on
                        writer.add_scalar(f"train/{name}", m[name], event.step)
                for code, nats in m["mi"].items():
                    if nats is not None:
                        writer.add_scalar(f"mi/{code}", nats, event.step)
                writer.flush()
            yield event
    finally:
        if writer is not None:
            writer.close()


def run_training(
    config, out_dir: Path, resume: bool, detect_anomaly: bool = False, tensorboard: bool = False, given=None, overwrite: bool = False,
    starts: int | None = None, start_epochs: int | None = None,
) -> int:
    """Drive the trainer, showing its events; returns the exit code. ``given``: the config fields
    set on the command line (or by --preset / --config), the ones a resume may change.
    ``starts``, ``start_epochs``: as given (None: as the run began; a new run: one start)."""
    from infogan_cli.starts import StartBegun, StartChosen, StartDone, train_with_starts
    from infogan_cli.trainer import TrainFinished, TrainStarted

    received: list[int] = []

    def on_signal(signum, _frame) -> None:
        if received:  # a second signal: stop now
            raise KeyboardInterrupt
        received.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in SIGNAL_EXIT_CODES}
    try:
        events = train_with_starts(
            config, out_dir, starts, start_epochs, resume=resume, should_stop=lambda: bool(received), detect_anomaly=detect_anomaly,
            given=given, overwrite=overwrite,
        )
        if int(os.environ.get("RANK", "0")) != 0:  # under torchrun only rank 0 reports
            finished = [e for e in events if isinstance(e, TrainFinished)][-1]
            return SIGNAL_EXIT_CODES[signal.Signals(received[0])] if finished.interrupted else 0
        if tensorboard:
            require_tensorboard()
            events = logged_to_tensorboard(events)
        finished, at_end, in_start = None, False, False
        for event in events:  # data and checkpoint errors surface at the first, before any display
            if isinstance(event, StartBegun):
                in_start = True
                stderr.print(f"start {event.index}/{event.count}: seed {event.seed}, {event.epochs} epochs in {event.out_dir}", soft_wrap=True, highlight=False)
            elif isinstance(event, StartDone):
                in_start = False
                result = f"left out of the choice: {event.failed}" if event.failed else f"Q's information on real images {event.score:.3f} nats"
                stderr.print(f"start {event.index}/{event.count}: seed {event.seed}: {result}", soft_wrap=True, highlight=False)
            elif isinstance(event, StartChosen):
                stderr.print(
                    f"chose seed {event.seed}, the most information on real images "
                    f"(the same weights as --seed {event.seed}; record in {event.record})",
                    soft_wrap=True, highlight=False,
                )
            elif isinstance(event, TrainStarted):
                at_end = event.start_step >= event.total_steps
                finished = show_training(event, events, in_start)
                if isinstance(finished, StartDone):  # the start failed (diverged)
                    in_start = False
                    stderr.print(f"[yellow]warning:[/] start seed {finished.seed} is left out of the choice: {finished.failed}", soft_wrap=True)
                elif finished.interrupted:
                    break
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if finished.interrupted:
        stderr.print(
            f"interrupted at step {finished.step}; checkpoint {finished.checkpoint}\n"
            f"resume with: infogan train --out {out_dir} --resume",
            soft_wrap=True,
        )
        return SIGNAL_EXIT_CODES[signal.Signals(received[0])]
    if at_end:  # the run had reached its end: nothing was trained or written
        return 0
    stderr.print(f"done: {finished.step} steps in {finished.seconds / 60:.1f} min; checkpoint {finished.checkpoint}", soft_wrap=True)
    write_metrics_plot(out_dir)
    return 0


def show_training(started, events, is_start: bool):
    """Show one training (a start, or the run) from its TrainStarted to its end; returns its
    TrainFinished, or the StartDone of a start that diverged."""
    if started.start_step >= started.total_steps:  # the trainer ends at once, writing nothing
        finished = next(events)
        if is_start:
            stderr.print(f"start seed {started.seed} has trained its {started.start_step} steps", soft_wrap=True, highlight=False)
            for warning in started.warnings:
                stderr.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
        else:
            show_run_at_its_end(started)
        return finished
    cfg = started.config
    resuming = f" | resuming at step {started.start_step}" if started.start_step else ""
    if started.changes:
        resuming += f" with {', '.join(started.changes)}"
    stderr.print(
        f"run {started.out_dir} | {cfg.dataset}: {started.n_images} images | device {started.device} | "
        f"seed {started.seed} | batch {cfg.batch_size} | {started.steps_per_epoch} steps/epoch"
        + (f" | lr decay over the last {cfg.lr_decay_epochs} epoch{'s' if cfg.lr_decay_epochs > 1 else ''}" if cfg.lr_decay_epochs else "")
        + (f" | ema {cfg.ema_decay:g}" if cfg.ema_decay else "") + resuming,
        soft_wrap=True,
    )
    for warning in started.warnings:
        stderr.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    return show_progress(events, started) if stderr.is_terminal else show_log_lines(events, started)


def show_run_at_its_end(started) -> None:
    """A resumed run that has nothing left to train: say so, and how to train on."""
    cfg = started.config
    end = f"{cfg.epochs} epochs" + (f", max-steps {cfg.max_steps}" if cfg.max_steps else "")
    stderr.print(
        f"nothing to train: run {started.out_dir} has reached its end ({end}) at step {started.start_step}"
        + (f"; given {', '.join(started.changes)}" if started.changes else ""),
        soft_wrap=True, highlight=False,
    )
    for warning in started.warnings:
        stderr.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    stderr.print("to train on, resume with a larger --epochs or --max-steps", soft_wrap=True, highlight=False)


def write_metrics_plot(out_dir: Path) -> None:
    """metrics.png for a finished run; a plot that fails is a warning, not a failed run."""
    from infogan_cli.errors import InfoganError
    from infogan_cli.plot import plot_run

    try:
        stderr.print(f"metrics plot: {plot_run(out_dir)}", soft_wrap=True, highlight=False)
    except InfoganError as exc:
        stderr.print(f"[yellow]warning:[/] no metrics plot: {exc.message}", soft_wrap=True, highlight=False)


def _loss_text(metrics: dict) -> str:
    mi = " ".join(f"{k}={v:.2f}" for k, v in metrics["mi"].items() if v is not None)
    return f"D {metrics['loss_d']:.3f} G {metrics['loss_g']:.3f} MI {metrics['loss_mi']:.3f} ({mi} nats)"


def show_progress(events, started):
    """A live rich progress bar for terminals; returns the TrainFinished event."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from infogan_cli.starts import StartDone
    from infogan_cli.trainer import EpochFinished, StepLogged, TrainFinished

    progress = Progress(
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TextColumn("ep {task.fields[epoch]}"),
        TextColumn("{task.fields[speed]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("[dim]{task.fields[losses]}"),
        console=stderr,
    )
    with progress:
        task = progress.add_task("train", total=started.total_steps, completed=started.start_step, epoch="-", losses="", speed="")
        for event in events:
            if isinstance(event, StepLogged):
                m = event.metrics
                progress.update(
                    task, completed=event.step, epoch=f"{m['epoch']:.2f}", losses=_loss_text(m), speed=f"{m['images_per_s']:.0f} img/s"
                )
            elif isinstance(event, EpochFinished):
                progress.console.print(f"epoch {event.epoch} done (step {event.step}): samples in {event.sample_path}", soft_wrap=True)
            elif isinstance(event, (TrainFinished, StartDone)):
                return event
    raise RuntimeError("trainer ended without a TrainFinished event")


def show_log_lines(events, started):
    """Plain lines for logs and pipes (no live display): one per logged interval."""
    from infogan_cli.starts import StartDone
    from infogan_cli.trainer import EpochFinished, StepLogged, TrainFinished

    begun = time.perf_counter()
    for event in events:
        if isinstance(event, StepLogged):
            m = event.metrics
            done = event.step - started.start_step
            eta = (time.perf_counter() - begun) / done * (started.total_steps - event.step) if done else 0.0
            stderr.print(
                f"step {event.step}/{started.total_steps} epoch {m['epoch']:.2f} | {_loss_text(m)} | "
                f"{m['images_per_s']:.0f} img/s | eta {eta / 60:.1f} min",
                soft_wrap=True, highlight=False,
            )
        elif isinstance(event, EpochFinished):
            stderr.print(f"epoch {event.epoch} done (step {event.step}): samples in {event.sample_path}", soft_wrap=True)
        elif isinstance(event, (TrainFinished, StartDone)):
            return event
    raise RuntimeError("trainer ended without a TrainFinished event")
