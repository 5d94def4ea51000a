"""Time to accuracy: train the default and score the Q head on the training split every N steps.

    python benchmarks/time_to_accuracy.py --data-root ../shared/data/mnist --every-steps 100

It trains through the public API (``infogan_cli.train`` yields events) with a checkpoint every
``--every-steps`` steps, and scores each checkpoint's code-to-label accuracy on the fixed
10,000-image subset of the training split that ``infogan evaluate --split train`` uses (the
categorical code that matches the labels best, by NMI, as evaluate picks it). It reports the
minutes of training to reach 90%, 95% and 97% (null where a threshold was not reached).

The training clock counts the time spent inside the training loop, loading the data and building
the models included, and leaves out what this script adds: the Q scoring and the checkpoint writes
that the scoring needs. So a threshold's minutes are those of a plain `infogan train` run, to the
resolution of ``--every-steps``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infogan_cli.config import TrainConfig, build_train_config  # noqa: E402
from infogan_cli.cpu import cpu_model  # noqa: E402
from infogan_cli.data import load_dataset, to_unit_range  # noqa: E402
from infogan_cli.errors import ConfigError, InfoganError  # noqa: E402
from infogan_cli.evaluate import SELECTION_SIZE, label_count, score_categorical_codes, selection_subset  # noqa: E402
from infogan_cli.infogan import InfoGAN  # noqa: E402
from infogan_cli.runtime import resolve_device  # noqa: E402
from infogan_cli.trainer import CheckpointSaved, TrainFinished, TrainStarted, train  # noqa: E402

SCHEMA = 1
CLOCK = (
    "training seconds: time inside the training loop (data loading and model building included), "
    "excluding Q scoring and the checkpoint writes made for it"
)


# ----------------------------------------------------------------------------- the clock


class TrainingClock:
    """Seconds spent inside the training generator, its checkpoint writes kept apart. ``now`` is
    the clock read (seconds, monotonic)."""

    def __init__(self, now: Callable[[], float] = time.perf_counter) -> None:
        self.training = 0.0
        self.checkpoints = 0.0
        self._now = now
        self._since: float | None = None  # set while the generator runs

    def training_seconds(self) -> float:
        """Training seconds so far, the stretch in progress included (for ``should_stop``)."""
        return self.training + (self._now() - self._since if self._since is not None else 0.0)

    def timed(self, events: Iterable[Any]) -> Iterator[Any]:
        """Pass ``events`` through, charging each ``next()`` to training, or to checkpoints when
        it ends in a CheckpointSaved (the loop yields StepLogged first, then saves, then yields)."""
        iterator = iter(events)
        while True:
            self._since = self._now()
            try:
                event = next(iterator)
            except StopIteration:
                self.training += self._now() - self._since
                self._since = None
                return
            elapsed, self._since = self._now() - self._since, None
            if isinstance(event, CheckpointSaved):
                self.checkpoints += elapsed
            else:
                self.training += elapsed
            yield event


# ----------------------------------------------------------------------------- scoring


class QScorer:
    """Code-to-label accuracy of a checkpoint's Q head on a fixed set of labelled images, for the
    label code as ``infogan evaluate`` chooses it (``score_categorical_codes``)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, n_classes: int, device: torch.device) -> None:
        self.images = to_unit_range(images)  # (N, C, H, W) in [-1, 1]
        self.labels = labels.cpu().numpy()
        self.n_classes = n_classes
        self.device = device

    def __call__(self, checkpoint: Path) -> dict[str, Any]:
        model = InfoGAN.load(checkpoint, self.device)
        logits = model.predict_codes(self.images).categorical_logits
        name, scores = score_categorical_codes(model.latent_spec, logits, self.labels, self.n_classes)
        return {"q_accuracy": scores[name].accuracy, "label_code": name, "nmi": scores[name].nmi}


def threshold_key(threshold: float) -> str:
    return f"{threshold * 100:g}"  # 0.95 -> "95", 0.975 -> "97.5"


def first_reached(scores: list[dict[str, Any]], threshold: float) -> dict[str, Any] | None:
    for score in scores:
        if score["q_accuracy"] >= threshold:
            return {
                "step": score["step"], "epoch": score["epoch"], "seconds": score["training_seconds"],
                "minutes": score["training_seconds"] / 60, "q_accuracy": score["q_accuracy"],
            }
    return None


# ----------------------------------------------------------------------------- the run


def run(config: TrainConfig, out_dir: Path, args: argparse.Namespace, now: Callable[[], float] = time.perf_counter) -> dict[str, Any]:
    """Train with ``config`` into ``out_dir``, scoring every ``args.every_steps`` steps; every
    duration is read from ``now``."""
    device = resolve_device(config.device)
    data = load_dataset(config.dataset, config.data_root, train=True, image_size=config.image_size, channels=config.channels)
    if data.labels is None:
        raise ConfigError(f"{config.dataset} has no labels to score the Q head against", hint="use a labelled dataset such as mnist")
    subset = selection_subset(data, args.subset_size)
    score_checkpoint = QScorer(subset.images, subset.labels, label_count(data), device)
    del data
    clock = TrainingClock(now)
    scores: list[dict[str, Any]] = []
    max_seconds = None if args.max_minutes is None else args.max_minutes * 60
    reason: list[str] = []

    def should_stop() -> bool:
        if max_seconds is not None and clock.training_seconds() >= max_seconds:
            reason[:] = ["max_minutes"]
        elif args.stop_when_reached and scores and all(first_reached(scores, t) for t in args.thresholds):
            reason[:] = ["all_thresholds_reached"]
        return bool(reason)

    def score(step: int, checkpoint: Path) -> None:
        started = now()
        result = score_checkpoint(checkpoint)
        entry = {
            "step": step, "epoch": step / steps_per_epoch, "training_seconds": clock.training,
            **result, "score_seconds": now() - started,
        }
        scores.append(entry)
        print(
            f"step {step} ({clock.training / 60:.2f} min): Q accuracy {entry['q_accuracy']:.1%} ({entry['label_code']})",
            file=sys.stderr, flush=True,
        )

    wall_started = now()
    steps_per_epoch, finished = 1, None
    for event in clock.timed(train(config, out_dir, should_stop=should_stop)):
        if isinstance(event, TrainStarted):
            steps_per_epoch = event.steps_per_epoch
            print(
                f"training on {event.device}: {event.total_steps} steps ({event.steps_per_epoch}/epoch), "
                f"scoring every {args.every_steps} steps on {len(subset):,} training images",
                file=sys.stderr, flush=True,
            )
        elif isinstance(event, CheckpointSaved):
            score(event.step, event.path)
        elif isinstance(event, TrainFinished):
            finished = event
            if not scores or scores[-1]["step"] != event.step:
                score(event.step, event.checkpoint)
    assert finished is not None  # train() always ends with TrainFinished
    reached = {threshold_key(t): first_reached(scores, t) for t in args.thresholds}
    accuracies = [s["q_accuracy"] for s in scores]
    return {
        "schema": SCHEMA,
        "benchmark": "time_to_accuracy",
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model(),
        "torch": torch.__version__,
        "dataset": config.dataset,
        "split": "train",
        "subset_size": len(subset),
        "seed": config.seed,
        "preset": args.preset,
        "every_steps": args.every_steps,
        "max_minutes": args.max_minutes,
        "thresholds": list(args.thresholds),
        "clock": CLOCK,
        **{f"minutes_to_{key}": (hit["minutes"] if hit else None) for key, hit in reached.items()},
        "reached": reached,
        "final_q_accuracy": accuracies[-1],
        "best_q_accuracy": max(accuracies),
        "steps": finished.step,
        "steps_per_epoch": steps_per_epoch,
        "stopped": reason[0] if reason else "finished",
        "training_seconds": clock.training,
        "checkpoint_seconds": clock.checkpoints,
        "scoring_seconds": sum(s["score_seconds"] for s in scores),
        "wall_seconds": now() - wall_started,
        "scores": scores,
        "config": config.to_dict(),
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        f"time to Q accuracy on the training split ({result['subset_size']:,}-image subset), "
        f"{result['device_name']}, seed {result['seed']}",
        f"clock: {result['clock']}",
        f"{'threshold':>9}  {'minutes':>7}  {'step':>6}  {'epoch':>5}",
    ]
    best = max(result["scores"], key=lambda s: s["q_accuracy"])
    for key, hit in result["reached"].items():
        if hit:
            lines.append(f"{key + '%':>9}  {hit['minutes']:7.2f}  {hit['step']:6d}  {hit['epoch']:5.2f}")
        else:
            lines.append(f"{key + '%':>9}  not reached (best {best['q_accuracy']:.1%} at step {best['step']})")
    lines.append(
        f"{len(result['scores'])} scores every {result['every_steps']} steps to step {result['steps']} ({result['stopped']}); "
        f"training {result['training_seconds']:.1f} s, left out: scoring {result['scoring_seconds']:.1f} s, "
        f"checkpoint writes {result['checkpoint_seconds']:.1f} s"
    )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- command line


def parse_setting(text: str) -> tuple[str, Any]:
    """KEY=VALUE, the value read as JSON where it is JSON (2, 1e-3, true, [10, 4]), else a string."""
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.strip().replace("-", "_"), json.loads(value)
    except json.JSONDecodeError:
        return key.strip().replace("-", "_"), value


def build_config(args: argparse.Namespace) -> TrainConfig:
    overrides: dict[str, Any] = {"latent": {}, "model": {}}
    for key, value in args.set or []:
        group, _, name = key.rpartition(".")
        if group and group not in ("latent", "model"):
            raise ConfigError(f"unknown setting {key!r}", hint="use a TrainConfig field, or latent.NAME / model.NAME")
        (overrides[group] if group else overrides)[name] = value
    given = dict(
        dataset=args.dataset, data_root=args.data_root, seed=args.seed, device=args.device, epochs=args.epochs,
        max_steps=args.max_steps, precision=args.precision, compile=args.compile or None,
    )
    try:
        config = build_train_config(args.preset, **{**given, **overrides})
    except TypeError as exc:  # an unknown field name
        raise ConfigError(str(exc), hint="use TrainConfig's field names, e.g. --set lr_g=5e-4") from None
    # The scorer needs a checkpoint at every scoring step; older ones are of no further use.
    config = dataclasses.replace(config, checkpoint_every=args.every_steps, keep=1)
    if not config.latent.categorical:
        raise ConfigError("the model has no categorical code to score", hint="train with --set latent.categorical=[10]")
    return config


def main(argv: list[str] | None = None, now: Callable[[], float] = time.perf_counter) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", default=None, help="dataset folder (default: $INFOGAN_DATA_ROOT, else ~/.cache/infogan/data)")
    parser.add_argument("--dataset", default="mnist", help="a labelled dataset, as infogan train --dataset (default mnist)")
    parser.add_argument("--preset", default="default", help="default, paper or tutorial")
    parser.add_argument("--seed", type=int, default=0, help="training seed (0..2^63-1)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: the preset's)")
    parser.add_argument("--max-steps", type=int, default=None, help="stop training after this many steps")
    parser.add_argument("--precision", default=None, help="auto, fp32, bf16 or fp16 (default: the preset's)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the networks")
    parser.add_argument(
        "--set", action="append", type=parse_setting, metavar="KEY=VALUE",
        help="any other training setting, e.g. lr_g=5e-4, model.width=32, latent.noise_dim=8 (repeatable)",
    )
    parser.add_argument("--every-steps", type=int, default=100, help="training steps between two Q scores (>= 1)")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop once the training clock passes this many minutes")
    parser.add_argument(
        "--thresholds", type=float, nargs="+", default=[0.90, 0.95, 0.97], help="Q accuracies to time, as fractions (default 0.90 0.95 0.97)"
    )
    parser.add_argument("--stop-when-reached", action="store_true", help="stop training once every threshold is reached")
    parser.add_argument(
        "--subset-size", type=int, default=SELECTION_SIZE, help=f"training images scored (default {SELECTION_SIZE}, as evaluate --split train)"
    )
    parser.add_argument("--out", type=Path, default=None, help="run folder to keep (default: a temporary folder, removed at the end)")
    parser.add_argument("--result", type=Path, default=Path("time_to_accuracy.json"), help="JSON file to write (default ./time_to_accuracy.json)")
    parser.add_argument("--json", action="store_true", help="print the JSON document on stdout instead of the table")
    args = parser.parse_args(argv)
    try:
        if args.every_steps < 1 or args.subset_size < 1:
            raise ConfigError("--every-steps and --subset-size must be >= 1")
        if args.max_minutes is not None and not args.max_minutes > 0:
            raise ConfigError(f"--max-minutes must be > 0, got {args.max_minutes}")
        if not all(0 < t <= 1 for t in args.thresholds):
            raise ConfigError(f"--thresholds are fractions in (0, 1], got {args.thresholds}")
        args.thresholds = sorted(args.thresholds)
        config = build_config(args)
        if args.out is not None:
            result = run(config, args.out, args, now)
        else:
            with tempfile.TemporaryDirectory(prefix="time-to-accuracy-") as out:
                result = run(config, Path(out) / "run", args, now)
    except InfoganError as exc:
        print(f"error: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""), file=sys.stderr)
        return 2
    args.result.parent.mkdir(parents=True, exist_ok=True)
    args.result.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result) if args.json else table(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
