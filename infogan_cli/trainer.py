"""The InfoGAN training step and loop. ``train()`` yields events; it never prints.

One step:
  fake = G(z, c)                                   one generator forward, reused twice
  D step:   BCE(D(real), 1) + BCE(D(fake.detach()), 0) [+ MI loss, if it updates the trunk]
            + lambda_consistency * KL(Q(c|real) || Q(c|T(real))), T a small random affine transform
  G+Q step: BCE(D(fake), 1) + lambda_cat * CE + lambda_cont * NLL  -> generator and Q head
            (continuous code j's NLL weighs lambda_cont * lambda_cont_ratio**j)
  with --ema-decay: the moving averages of G's and D's weights take in the new weights (ema.py)
The D optimizer owns the shared trunk and the D head; the G optimizer owns G and the Q head.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .augment import CONSISTENCY_TRANSFORMS, random_affine
from .checkpoint import (
    CONTRASTIVE_PREFIX,
    latest_intact_checkpoint,
    load_module_state,
    load_optimizer_state,
    prune_checkpoints,
    save_checkpoint,
)
from .files import atomic_link, atomic_write_bytes
from .config import IMAGE_SIZES, RESUME_LENGTH, TrainConfig, resumed_config
from .data import ImageDataset, load_dataset, to_unit_range
from .ema import WeightAverage
from .errors import CheckpointError, ConfigError, DataError, TrainingDiverged
from .folder import folder_batches
from .latent import fixed_noise_grid, generator_input, sample_latent, sample_latent_pairs
from .losses import (
    adversarial_loss,
    categorical_code_losses,
    categorical_consistency,
    contrastive_loss,
    mutual_information_estimates,
    mutual_information_loss,
    real_information,
)
from .matmul import fp32_products, resolve_matmul
from .models import ContrastiveClassifier, build_models
from .render import save_grid
from .runtime import (
    DistributedContext,
    configure_backends,
    distributed_context,
    init_distributed,
    make_generator,
    resolve_device,
    resolve_precision,
)
from .start_record import RECORD_NAME, STARTS_FOLDER

SAMPLE_ROWS = 10
_RANK_SEED_STRIDE = 1_000_000_007  # keeps the latent streams of different ranks apart
_EPOCH_SEED_STRIDE = 1_000_003  # keeps the epoch orders of different seeds apart
METRIC_NAMES = ("loss_d", "loss_g", "loss_mi", "mi_real")
CONSISTENCY_METRIC = "consistency"  # logged after METRIC_NAMES when lambda_consistency > 0
FAKE_CONSISTENCY_METRIC = "fake_consistency"  # logged next when lambda_fake_consistency > 0
CONTRASTIVE_METRIC = "contrastive"  # logged next when lambda_contrastive > 0 (0 before it switches on)
# InfoGAN-CR pairs per step: a quarter of the batch, so the pairs' images add half a batch to G's work.
CONTRASTIVE_PAIRS_PER_BATCH = 4


def sub_seed(value: int) -> int:
    """A seed derived from --seed (up to 2**63-1) by arithmetic, wrapped into the 0..2**64-1 that
    torch.Generator takes, as unsigned 64-bit arithmetic would. Values that do not wrap (every
    --seed below about 1.8e13) are unchanged, so such runs keep the data orders and latents they
    always had."""
    return value % 2**64


# ----------------------------------------------------------------------------- events


@dataclass
class TrainStarted:
    out_dir: Path
    device: str
    seed: int
    n_images: int
    steps_per_epoch: int
    total_steps: int
    start_step: int
    config: TrainConfig
    warnings: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)  # on resume, what the caller changed: "epochs 3 -> 5"


@dataclass
class StepLogged:
    step: int
    epoch: int
    metrics: dict[str, Any]


@dataclass
class EpochFinished:
    epoch: int
    step: int
    sample_path: Path


@dataclass
class CheckpointSaved:
    step: int
    path: Path


@dataclass
class TrainFinished:
    step: int
    epoch: int
    seconds: float
    checkpoint: Path
    interrupted: bool = False


Event = TrainStarted | StepLogged | EpochFinished | CheckpointSaved | TrainFinished


# ----------------------------------------------------------------------------- trainer


def learning_rate_scale(step: int, total_steps: int, decay_steps: int) -> float:
    """The factor on both learning rates for the step after ``step`` steps: 1, then falling
    linearly over the last ``decay_steps`` steps of the run (the last step gets 1 / decay_steps)."""
    if decay_steps <= 0:
        return 1.0
    return min(1.0, (total_steps - step) / decay_steps)


def training_memory_format(device: torch.device, compiled: bool) -> torch.memory_format:
    """The layout of the weights and batches in training (checkpoints hold NCHW tensors either way).

    NCHW in eager mode everywhere. On the CPU no channels_last run of the default reached 95% Q
    accuracy in 8 seeds, where NCHW did on 5 of 8 (docs/results.md, docs/study.md "NCHW on the
    CPU"), at about the same speed; why the rounding of one layout trains worse is not known.
    channels_last under torch.compile: with NCHW, inductor's layout optimisation expects
    channels-last convolution input gradients that the CUDA kernels return contiguous, and the
    compiled backward fails its stride check (torch 2.11 on an H200, pytorch/pytorch#197514); the
    CPU's compiled step keeps the layout it was tested in.
    """
    if compiled and device.type in ("cpu", "cuda"):
        return torch.channels_last
    return torch.contiguous_format


def check_contrastive_single_process(config: TrainConfig, dist: DistributedContext) -> None:
    """InfoGAN-CR's guesser runs outside the DDP-wrapped modules, so under torchrun its gradients
    would not be reduced across ranks: refused there."""
    if config.lambda_contrastive > 0 and dist.enabled:
        raise ConfigError("--lambda-contrastive does not run under torchrun yet", hint="train in one process, or set --lambda-contrastive 0")


class Trainer:
    """Holds models, optimizers, data and RNG of one run; ``train()`` drives it."""

    def __init__(
        self, config: TrainConfig, out_dir: Path, data, device: torch.device, dist: DistributedContext = DistributedContext()
    ) -> None:
        self.config = config
        self.out_dir = out_dir
        self.device = device
        self.dist = dist
        # In-memory sets live on the training device; image folders are decoded by workers.
        self.data = data.to(device) if isinstance(data, ImageDataset) else data
        generator, discriminator = build_models(config.latent, config.model)
        if config.sync_bn:
            generator = torch.nn.SyncBatchNorm.convert_sync_batchnorm(generator)
            discriminator = torch.nn.SyncBatchNorm.convert_sync_batchnorm(discriminator)
        # The plain modules own the weights and are what checkpoints save; under torchrun the
        # steps run through DDP wrappers of them (g_model, d_model).
        self.memory_format = training_memory_format(device, config.compile)
        self.generator = generator.to(device, memory_format=self.memory_format)
        self.discriminator = discriminator.to(device, memory_format=self.memory_format)
        self.g_model: torch.nn.Module = self.generator
        self.d_model: torch.nn.Module = self.discriminator
        # Averages of the plain modules, made before any DDP or compile wrapper.
        self.average = WeightAverage(self.generator, self.discriminator, config.ema_decay) if config.ema_decay > 0 else None
        # Fused Adam: one kernel per parameter group instead of one per tensor and operation.
        fused = device.type in ("cpu", "cuda")
        adam = dict(betas=(config.beta1, config.beta2), fused=fused, foreach=None if fused else True)
        self._discriminator_only = [*self.discriminator.trunk.parameters(), *self.discriminator.d_head.parameters()]
        self.optimizer_d = torch.optim.Adam(self._discriminator_only, lr=config.lr_d, **adam)
        self.optimizer_g = torch.optim.Adam(
            [*self.generator.parameters(), *self.discriminator.q_parameters()], lr=config.lr_g, **adam
        )
        self.autocast_dtype = resolve_precision(config.precision, device, fp32_products=config.matmul == "onednn")
        self.matmul_route = resolve_matmul(config.matmul, device, autocast=self.autocast_dtype is not None)
        # fp16 needs loss scaling; bf16 has fp32's range and does not.
        self.scaler = torch.amp.GradScaler("cuda") if self.autocast_dtype == torch.float16 else None
        self.rng = make_generator(sub_seed(config.seed + _RANK_SEED_STRIDE * dist.rank), device)  # latents differ per rank
        # Each rank takes every world_size-th sample of the epoch order: distinct shards.
        self.steps_per_epoch = max(1, len(self.data) // dist.world_size // config.batch_size)
        total = config.epochs * self.steps_per_epoch
        self.total_steps = min(total, config.max_steps) if config.max_steps else total
        self.decay_steps = min(config.lr_decay_epochs * self.steps_per_epoch, self.total_steps)
        # The consistency loss needs a categorical code to be consistent about.
        self.uses_consistency = config.lambda_consistency > 0 and bool(config.latent.categorical)
        self.uses_fake_consistency = config.lambda_fake_consistency > 0 and bool(config.latent.categorical)
        # The transform ranges both consistency losses draw from (real images in the D step, fakes in G's).
        self.consistency_range = CONSISTENCY_TRANSFORMS[config.consistency_transform]
        # InfoGAN-CR's guesser of the shared code: trained with G in the G+Q step, on the same loss.
        self.contrastive: ContrastiveClassifier | None = None
        if config.lambda_contrastive > 0:
            check_contrastive_single_process(config, dist)
            self.contrastive = ContrastiveClassifier(config.latent, config.model).to(device, memory_format=self.memory_format)
            self.optimizer_contrastive = torch.optim.Adam(self.contrastive.parameters(), lr=config.lr_d, **adam)
        # At least two pairs: the guesser's batch norm needs two rows.
        self.contrastive_pairs = max(2, config.batch_size // CONTRASTIVE_PAIRS_PER_BATCH)
        self.contrastive_start_step = config.contrastive_start_epoch * self.steps_per_epoch
        self.metric_names = (METRIC_NAMES + ((CONSISTENCY_METRIC,) if self.uses_consistency else ())
                             + ((FAKE_CONSISTENCY_METRIC,) if self.uses_fake_consistency else ())
                             + ((CONTRASTIVE_METRIC,) if self.contrastive is not None else ()))
        self.step = 0
        self.saved_step = -1  # the step of the newest checkpoint written by this process
        self.changes: list[str] = []  # set by prepare() on resume: "epochs 3 -> 5"
        # Per-step losses stay on the device until a log or checkpoint reads them (no per-step sync).
        self._pending: list[tuple[int, torch.Tensor]] = []
        self._interval_start = time.perf_counter()
        self._interval_images = 0

    # --- state

    def state_parts(self, metrics: dict[str, Any]) -> dict[str, Any]:
        return dict(
            config=self.config,
            generator=self.generator,
            discriminator=self.discriminator,
            step=self.step,
            epoch=self.step // self.steps_per_epoch,
            optimizers={
                "optimizer_d": self.optimizer_d, "optimizer_g": self.optimizer_g,
                **({"optimizer_contrastive": self.optimizer_contrastive} if self.contrastive is not None else {}),
            },
            rng={"train": self.rng.get_state(), "cpu": torch.get_rng_state()},
            metrics=metrics,
            ema=self.average.state_tensors() if self.average is not None else None,
            contrastive=self.contrastive,
        )

    def restore(self, checkpoint) -> None:
        load_module_state(checkpoint, "generator", self.generator)
        load_module_state(checkpoint, "discriminator", self.discriminator)
        load_optimizer_state(checkpoint, "optimizer_d", self.optimizer_d)
        load_optimizer_state(checkpoint, "optimizer_g", self.optimizer_g)
        if self.contrastive is not None:  # lambda_contrastive is the run's own: its checkpoints hold these
            load_module_state(checkpoint, CONTRASTIVE_PREFIX, self.contrastive)
            load_optimizer_state(checkpoint, "optimizer_contrastive", self.optimizer_contrastive)
        try:
            self.rng.set_state(checkpoint.tensors["rng.train"].cpu())
            torch.set_rng_state(checkpoint.tensors["rng.cpu"].cpu())
        except (KeyError, RuntimeError):
            raise CheckpointError(f"{checkpoint.path} has no usable RNG state to resume from") from None
        self.step = checkpoint.step
        if self.average is not None and not self.average.restore(checkpoint):
            self.average.start_from(self.generator, self.discriminator)  # --ema-decay added on --resume
        if self.dist.rank > 0:  # the file holds rank 0's stream; other ranks branch off it
            self.rng.manual_seed(sub_seed(self.config.seed + _RANK_SEED_STRIDE * self.dist.rank + self.step))

    def compile(self, mode: str | None = None) -> None:
        """torch.compile the step's modules (the plain ones stay what checkpoints save), in
        torch.compile's ``mode`` (None: its default; "reduce-overhead" records CUDA graphs).

        Only for a trainer built with ``config.compile``: the weights' layout was chosen for the
        compiled step at construction (``training_memory_format``), before any restore gave Adam's
        moments that layout.
        """
        if not self.config.compile:
            raise ValueError("Trainer.compile() needs a trainer built with config.compile=True (the layout is chosen at construction)")
        self.g_model = torch.compile(self.g_model, mode=mode)
        self.d_model = torch.compile(self.d_model, mode=mode)

    def wrap_distributed(self) -> None:
        """Wrap both networks in DistributedDataParallel (after any restore: DDP broadcasts rank
        0's weights at construction). The D step leaves the Q head unused, hence
        find_unused_parameters for the discriminator."""
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [self.device.index] if self.device.type == "cuda" else None
        self.g_model = DDP(self.generator, device_ids=ids)
        self.d_model = DDP(self.discriminator, device_ids=ids, find_unused_parameters=True)

    # --- data

    def epoch_order(self, epoch: int) -> torch.Tensor:
        """The sample order of an epoch, a function of (seed, epoch) so resume can rebuild it."""
        generator = torch.Generator().manual_seed(sub_seed(self.config.seed * _EPOCH_SEED_STRIDE + epoch))
        return torch.randperm(len(self.data), generator=generator)

    def batches(self, epoch: int, start_batch: int) -> Iterator[torch.Tensor]:
        """uint8 batches (B, C, H, W) on the device for one epoch, from batch ``start_batch`` on."""
        order = self.epoch_order(epoch)[self.dist.rank :: self.dist.world_size]
        size = self.config.batch_size
        if isinstance(self.data, ImageDataset):
            order = order.to(self.device)
            for start in range(start_batch * size, self.steps_per_epoch * size, size):
                yield self.data.images[order[start : start + size]]
        else:
            yield from folder_batches(self.data, order, size, start_batch, self.steps_per_epoch, self.config.workers, self.device)

    # --- one step

    def train_step(self, real: torch.Tensor) -> torch.Tensor:
        """One D update and one G+Q update; returns the losses as a device tensor (no sync)."""
        with fp32_products(self.matmul_route):
            return self._train_step(real)

    def _train_step(self, real: torch.Tensor) -> torch.Tensor:
        config, spec = self.config, self.config.latent
        self._set_learning_rates()
        real = real.contiguous(memory_format=self.memory_format)
        latent = sample_latent(spec, real.shape[0], self.rng)
        with self._autocast():
            fake = self.g_model(generator_input(spec, latent))  # (B, C, H, W)

        # D step. Every discriminator pass goes through forward() and is followed by its own
        # backward, as DDP requires; the gradients of the real and fake halves add up.
        self.optimizer_d.zero_grad(set_to_none=True)
        with self._autocast():
            real_logits, real_codes = self.d_model(real)
            loss_real = adversarial_loss(real_logits, True)
            info_real = real_information(real_codes).detach()  # logged only: mi_real
        self._backward(loss_real)
        extra = []
        if self.uses_consistency:
            # Outside autocast: the sampling grid stays fp32.
            share = self.consistency_count(real.shape[0])
            moved = random_affine(real[:share], self.rng, self.consistency_range)
            with self._autocast():
                _, moved_codes = self.d_model(moved)
                consistency = categorical_consistency(real_codes.head(share), moved_codes)
            # Trains the trunk (the Q head's gradients here are dropped, as for the D step's MI term).
            self._backward(config.lambda_consistency * consistency)
            extra.append(consistency.detach())
        with self._autocast():
            fake_logits, fake_codes = self.d_model(fake.detach())
            loss_fake = adversarial_loss(fake_logits, False)
            if config.mi_updates_trunk:
                # The paper's code adds the MI term to the D loss too, so the trunk learns code features.
                mi_d, _ = mutual_information_loss(fake_codes, latent, config.lambda_cat, config.lambda_cont, config.continuous_loss, config.lambda_cont_ratio)
                loss_fake_total = loss_fake + mi_d
            else:
                loss_fake_total = loss_fake
        self._backward(loss_fake_total)
        self._step(self.optimizer_d)
        loss_d = loss_real.detach() + loss_fake.detach()

        # G+Q step on the same fakes, through the updated discriminator. This step does not update
        # the trunk or the D head, so their weight gradients are not computed (same result, less work).
        self.optimizer_g.zero_grad(set_to_none=True)
        self._freeze_discriminator(True)
        try:
            with self._autocast():
                logits, codes = self.d_model(fake)
                loss_g = adversarial_loss(logits, True)
                loss_mi, per_code = mutual_information_loss(codes, latent, config.lambda_cat, config.lambda_cont, config.continuous_loss, config.lambda_cont_ratio)
            loss_g_total = loss_g + loss_mi
            if self.uses_fake_consistency:
                # Outside autocast, as for the real images; the gradient reaches G through the warp.
                # A second discriminator pass before the one backward is fine under DDP here: with
                # the trunk and D head frozen, both passes reach the same trainable parameters (the
                # Q head), reduced once (tests/test_distributed.py).
                share = self.consistency_count(fake.shape[0])
                moved_fake = random_affine(fake[:share], self.rng, self.consistency_range)
                with self._autocast():
                    _, moved_codes = self.d_model(moved_fake)
                    fake_consistency = sum(categorical_code_losses(moved_codes, latent.head(share)))
                loss_g_total = loss_g_total + config.lambda_fake_consistency * fake_consistency
                extra.append(fake_consistency.detach().float())
            if self.contrastive is not None:
                contrastive = self._contrastive_loss()
                loss_g_total = loss_g_total + config.lambda_contrastive * contrastive
                extra.append(contrastive.detach())
            self._backward(loss_g_total)
        finally:
            self._freeze_discriminator(False)
        self._step(self.optimizer_g)
        if self._contrastive_on():
            # The same backward gave the guesser its gradient (scaled by lambda, which Adam ignores).
            self._step(self.optimizer_contrastive)
        if self.scaler is not None:
            self.scaler.update()
        if self.average is not None:
            self.average.update(self.generator, self.discriminator)
        return torch.stack([loss_d, loss_g, loss_mi, info_real, *extra, *per_code]).detach().float()

    def consistency_count(self, batch: int) -> int:
        """How many of a batch's images the consistency losses use (--consistency-fraction)."""
        return max(1, min(batch, round(self.config.consistency_fraction * batch)))

    def _contrastive_on(self) -> bool:
        """Whether this step trains with InfoGAN-CR (--lambda-contrastive, from its start epoch)."""
        return self.contrastive is not None and self.step >= self.contrastive_start_step

    def _contrastive_loss(self) -> torch.Tensor:
        """InfoGAN-CR on fresh pairs of generated images (0 before contrastive_start_epoch, with no
        work and no random numbers drawn, so the run so far is the run without it)."""
        if not self._contrastive_on():
            return torch.zeros((), device=self.device)
        self.optimizer_contrastive.zero_grad(set_to_none=True)
        latent, shared = sample_latent_pairs(self.config.latent, self.contrastive_pairs, self.rng)
        with self._autocast():
            images = self.g_model(generator_input(self.config.latent, latent))  # (2P, C, H, W)
            logits = self.contrastive(images[: self.contrastive_pairs], images[self.contrastive_pairs :])
        return contrastive_loss(logits, shared)

    def _set_learning_rates(self) -> None:
        # A function of the step alone, so a resumed run takes the same rates as an unbroken one.
        scale = learning_rate_scale(self.step, self.total_steps, self.decay_steps)
        optimizers = [(self.optimizer_d, self.config.lr_d), (self.optimizer_g, self.config.lr_g)]
        if self.contrastive is not None:
            optimizers.append((self.optimizer_contrastive, self.config.lr_d))
        for optimizer, rate in optimizers:
            for group in optimizer.param_groups:
                group["lr"] = rate * scale

    def _freeze_discriminator(self, frozen: bool) -> None:
        for parameter in self._discriminator_only:
            parameter.requires_grad_(not frozen)

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.autocast_dtype or torch.float32, enabled=self.autocast_dtype is not None)

    def _backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def _step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is not None:
            self.scaler.step(optimizer)
        else:
            optimizer.step()

    # --- bookkeeping

    def agree(self, stop: bool) -> bool:
        """Under torchrun, stop when any rank was asked to, so that all stop at the same step."""
        if not self.dist.enabled:
            return stop
        import torch.distributed as dist

        flag = torch.tensor([float(stop)], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def record(self, losses: torch.Tensor, n_images: int) -> None:
        self.step += 1
        self._pending.append((self.step, losses))
        self._interval_images += n_images * self.dist.world_size  # images/s of the whole job

    def flush_metrics(self) -> dict[str, Any] | None:
        """Average the pending per-step losses (one device sync), check them, reset the window."""
        if not self._pending:
            return None
        steps = [s for s, _ in self._pending]
        values = torch.stack([v for _, v in self._pending]).float().cpu()  # (steps, metrics)
        self._pending.clear()
        finite = torch.isfinite(values)
        if not bool(finite.all()):
            row, column = (~finite).nonzero()[0].tolist()
            names = list(self.metric_names) + [f"loss_{n}" for n in self.config.latent.code_names]
            raise TrainingDiverged(
                f"{names[column]} became {values[row, column].item()} at step {steps[row]}",
                hint="lower the learning rates or lambdas; --detect-anomaly shows where; the last good checkpoint is kept",
            )
        means = values.mean(dim=0).tolist()
        elapsed = time.perf_counter() - self._interval_start
        spec = self.config.latent
        per_code = means[len(self.metric_names) :]
        mi = mutual_information_estimates(spec, per_code, self.config.continuous_loss)
        metrics: dict[str, Any] = {
            "step": self.step,
            "epoch": self.step / self.steps_per_epoch,
            **dict(zip(self.metric_names, means)),
            "loss_code": dict(zip(spec.code_names, per_code)),
            "mi": dict(zip(spec.code_names, mi)),
            "images_per_s": self._interval_images / elapsed if elapsed > 0 else 0.0,
        }
        self._interval_start = time.perf_counter()
        self._interval_images = 0
        return metrics

    def write_samples(self, path: Path) -> Path:
        """The fixed-noise grid: one column per value of c1, one noise sample per row; drawn by
        the averaged generator when there is one (as `infogan sample` draws)."""
        spec = self.config.latent
        grid_rng = make_generator(self.config.seed + 1, torch.device("cpu"))  # same rows every epoch
        latent = fixed_noise_grid(spec, SAMPLE_ROWS, grid_rng)
        columns = spec.categorical[0] if spec.categorical else 10
        generator = self.average.generator if self.average is not None else self.generator
        training = generator.training
        generator.eval()
        with torch.inference_mode():
            images = generator(generator_input(spec, latent).to(self.device))
        generator.train(training)
        return save_grid(images, columns, path)

    def save(self, metrics: dict[str, Any], step_file: bool) -> Path:
        self.saved_step = self.step
        last = self.out_dir / "last.safetensors"
        if not step_file:
            return save_checkpoint(last, **self.state_parts(metrics))
        # Write once; last.safetensors becomes a hard link to the newest step checkpoint.
        step_path = save_checkpoint(self.out_dir / "checkpoints" / f"step-{self.step:06d}.safetensors", **self.state_parts(metrics))
        atomic_link(step_path, last)
        prune_checkpoints(self.out_dir, self.config.keep)
        return last

    def append_metrics(self, metrics: dict[str, Any]) -> None:
        with (self.out_dir / "metrics.jsonl").open("a") as handle:
            handle.write(json.dumps(metrics) + "\n")


def _trim_metrics(path: Path, step: int) -> None:
    """On resume, drop metric lines logged after the checkpoint we continue from, and a
    half-written last line left by a hard kill."""
    if not path.exists():
        return
    text = path.read_text()
    kept = []
    for line in text.splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                kept.append(line)
        except (json.JSONDecodeError, AttributeError):
            continue
    trimmed = "\n".join(kept) + "\n" if kept else ""
    if trimmed != text:  # a run resumed at its end is left as it was
        atomic_write_bytes(path, trimmed.encode())


# What a run writes into its folder, by subfolder ("." is the folder itself), and nothing else:
# --overwrite deletes only these, so a user's own files (even in checkpoints/) stay.
# metrics.png: `infogan train` at the end, via plot.py; tensorboard/: `infogan train --tensorboard`
# (SummaryWriter's "events.out.tfevents.<time>.<host>.<pid>.<n>").
# starts.json and starts/seed-*/ (each a run of these files): `infogan train --starts K` (starts.py).
RUN_FILES: dict[str, tuple[str, ...]] = {
    ".": ("config.json", "metrics.jsonl", "metrics.png", "last.safetensors", RECORD_NAME),
    "checkpoints": ("step-*.safetensors",),
    "samples": ("epoch-*.png", "step-*.png"),
    "tensorboard": ("events.out.tfevents.*",),
}


def _run_files(out_dir: Path, temporaries_only: bool = False) -> Iterator[Path]:
    """The files of RUN_FILES in ``out_dir``, with the temporaries of their interrupted atomic
    writes (files.atomic_write names them ".<name>.<random>.tmp")."""
    for folder, patterns in RUN_FILES.items():
        where = out_dir / folder
        if not where.is_dir():
            continue
        for pattern in patterns:
            found = list(where.glob(f".{pattern}.*.tmp"))
            if not temporaries_only:
                found += where.glob(pattern)
            yield from (path for path in found if path.is_file() or path.is_symlink())


def _remove_stale_temporaries(out_dir: Path) -> None:
    """Temporary files of the run's writes that a hard kill interrupted."""
    for stale in _run_files(out_dir, temporaries_only=True):
        stale.unlink(missing_ok=True)


def holds_run(out_dir: Path) -> bool:
    """Whether ``out_dir`` holds a run: its config.json (written as training starts, so a run
    killed before its first checkpoint counts), a last.safetensors, or the starts.json of a
    several-start run (written before its first start trains)."""
    return any(os.path.lexists(out_dir / name) for name in ("config.json", "last.safetensors", RECORD_NAME))


def remove_run(out_dir: Path) -> None:
    """Delete the run's own files (RUN_FILES, and temporaries of their writes) from ``out_dir``,
    and the runs of its starts, then its subfolders where that leaves them empty; everything else
    stays."""
    starts = out_dir / STARTS_FOLDER
    if starts.is_dir() and not starts.is_symlink():
        for start in starts.glob("seed-*"):
            if start.is_dir() and not start.is_symlink():
                remove_run(start)
                _remove_if_empty(start)
        _remove_if_empty(starts)
    for path in _run_files(out_dir):
        path.unlink(missing_ok=True)
    for folder in RUN_FILES:
        if folder != "." and (out_dir / folder).is_dir() and not (out_dir / folder).is_symlink():
            _remove_if_empty(out_dir / folder)


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:  # the user's files are in it
        pass


def prepare(
    config: TrainConfig, out_dir: Path, resume: bool, given: Iterable[str] | None = None, overwrite: bool = False
) -> tuple[Trainer, list[str]]:
    """Load data, build the trainer, and restore from the run's newest intact checkpoint.

    On resume the run's own config is the base: the ``given`` fields of ``config`` (dotted names,
    see config.given_fields; None: only ``epochs`` and ``max_steps``, config.RESUME_LENGTH) are
    applied where they may change, and ``trainer.changes`` lists them. A new run refuses an ``out_dir`` that holds one, unless
    ``overwrite``, which deletes the old run's files first."""
    warnings: list[str] = []
    checkpoint = None
    dist = distributed_context()
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite exclude each other", hint="--resume continues the run in --out; --overwrite starts it again")
    if resume:
        _remove_stale_temporaries(out_dir)
        checkpoint, warnings = latest_intact_checkpoint(out_dir)
        if checkpoint is None:
            again = "--overwrite instead of --resume" if holds_run(out_dir) else "no --resume"
            raise CheckpointError(f"nothing to resume in {out_dir}: no intact checkpoint", hint=f"start the run again with {again}")
        config, changes = resumed_config(checkpoint.config, config, RESUME_LENGTH if given is None else given)
    elif overwrite:
        if dist.is_main and holds_run(out_dir):  # before the process group forms: no rank has written yet
            remove_run(out_dir)
            warnings.append(f"--overwrite: removed the previous run's files from {out_dir}")
    elif holds_run(out_dir):  # every rank checks before the process group forms, so before rank 0 writes
        raise ConfigError(f"{out_dir} already holds a run: continue it with --resume, or pass a fresh --out (--overwrite replaces it)")
    check_contrastive_single_process(config, dist)  # before any rank joins a process group
    device = init_distributed(dist, config.device) if dist.enabled else resolve_device(config.device)
    if config.sync_bn and device.type != "cuda":
        raise ConfigError("--sync-bn needs CUDA devices (SyncBatchNorm does not run on the CPU)", hint="drop --sync-bn")
    configure_backends(device)
    data = load_dataset(config.dataset, config.data_root, train=True, image_size=config.image_size, channels=config.channels)
    if getattr(data, "skipped", None):
        warnings.append(f"skipped {len(data.skipped)} unreadable image file(s) (they do not open or decode), e.g. {data.skipped[0]}")
    if len(data) // dist.world_size < config.batch_size:
        raise DataError(
            f"dataset has {len(data)} images, fewer than one batch of {config.batch_size} per process", hint="lower --batch-size"
        )
    if data.image_size not in IMAGE_SIZES:
        raise DataError(f"{config.dataset} has {data.image_size}px images", hint=f"pass --image-size with one of {IMAGE_SIZES} to resize them")
    config = dataclasses.replace(
        config, model=dataclasses.replace(config.model, image_size=data.image_size, channels=data.channels)
    )
    torch.manual_seed(config.seed)
    trainer = Trainer(config, out_dir, data, device, dist)
    if trainer.contrastive is not None and trainer.contrastive_start_step >= trainer.total_steps:
        warnings.append(
            f"--lambda-contrastive never switches on: the run ends at step {trainer.total_steps}, "
            f"before --contrastive-start-epoch {config.contrastive_start_epoch} (step {trainer.contrastive_start_step})"
        )
    if checkpoint is not None:
        trainer.restore(checkpoint)
        trainer.changes = changes
        if dist.is_main:
            _trim_metrics(out_dir / "metrics.jsonl", trainer.step)
    if dist.enabled:
        trainer.wrap_distributed()
    if config.compile:
        trainer.compile()
    return trainer, warnings


def train(
    config: TrainConfig,
    out_dir: str | Path,
    resume: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    detect_anomaly: bool = False,
    given: Iterable[str] | None = None,
    overwrite: bool = False,
) -> Iterator[Event]:
    """Train, yielding events. ``should_stop`` is polled once per step (e.g. set by a signal):
    when it turns true, the current step finishes, a checkpoint is written and training ends.
    ``detect_anomaly`` turns on autograd's anomaly detection (slow; for debugging NaNs).

    ``resume`` continues the run in ``out_dir`` with its own config, changing the ``given``
    fields of ``config`` (dotted names: "epochs", "device", "latent.noise_dim"; a field that
    defines the run, such as "lr_d", must equal the run's). ``given=None`` takes only ``epochs``
    and ``max_steps`` from ``config`` and keeps the run's value of everything else (data_root,
    device, log_every, ...): a TrainConfig cannot say which fields its caller set. A run already
    at its end yields TrainStarted and TrainFinished and writes nothing. Without ``resume``, an ``out_dir`` holding
    a run is refused unless ``overwrite``, which removes the old run's files first."""
    with torch.autograd.set_detect_anomaly(detect_anomaly):
        yield from _train(config, Path(out_dir), resume, should_stop, given, overwrite)


def _train(
    config: TrainConfig, out_dir: Path, resume: bool, should_stop: Callable[[], bool], given: Iterable[str] | None, overwrite: bool
) -> Iterator[Event]:
    trainer, warnings = prepare(config, out_dir, resume, given, overwrite)
    try:
        yield from _loop(trainer, out_dir, warnings, should_stop)
    finally:
        if trainer.dist.enabled:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def _loop(trainer: Trainer, out_dir: Path, warnings: list[str], should_stop: Callable[[], bool]) -> Iterator[Event]:
    """The epoch/step loop. Under torchrun every rank trains; only rank 0 writes files."""
    config, main = trainer.config, trainer.dist.is_main
    precision = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[trainer.autocast_dtype]
    products = " (oneDNN products)" if trainer.matmul_route == "onednn" else ""
    started_event = TrainStarted(
        out_dir, f"{trainer.device} {precision}{products}", config.seed, len(trainer.data), trainer.steps_per_epoch,
        trainer.total_steps, trainer.step, config, warnings, trainer.changes,
    )
    if trainer.step >= trainer.total_steps:  # resumed at (or past) its end: nothing to train or write
        yield started_event
        yield TrainFinished(trainer.step, trainer.step // trainer.steps_per_epoch, 0.0, out_dir / "last.safetensors")
        return
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out_dir / "config.json", (json.dumps(config.to_dict(), indent=2) + "\n").encode())
    yield started_event
    started = time.perf_counter()
    last_metrics: dict[str, Any] = {}
    last_path = out_dir / "last.safetensors"
    interrupted = False
    spe = trainer.steps_per_epoch
    while trainer.step < trainer.total_steps:
        epoch, position = divmod(trainer.step, spe)
        for batch in trainer.batches(epoch, position):
            if trainer.step >= trainer.total_steps:
                break
            real = to_unit_range(batch)  # (B, C, H, W) in [-1, 1]
            trainer.record(trainer.train_step(real), real.shape[0])
            stop = trainer.agree(should_stop())
            checkpoint_due = trainer.step % config.checkpoint_every == 0 or stop
            if checkpoint_due or trainer.step % config.log_every == 0 or trainer.step == trainer.total_steps:
                # Raises on NaN/Inf before any bad state can reach a checkpoint.
                last_metrics = trainer.flush_metrics() or last_metrics
                if main:
                    trainer.append_metrics(last_metrics)
                yield StepLogged(trainer.step, epoch, last_metrics)
            if checkpoint_due and main:
                last_path = trainer.save(last_metrics, step_file=True)
                yield CheckpointSaved(trainer.step, last_path)
            if stop:
                interrupted = True
                break
        if interrupted:
            break
        if trainer.step % spe == 0 and main:
            sample_path = trainer.write_samples(out_dir / "samples" / f"epoch-{trainer.step // spe:03d}.png")
            yield EpochFinished(trainer.step // spe, trainer.step, sample_path)
    if not interrupted and main:
        if trainer.step % spe != 0:
            trainer.write_samples(out_dir / "samples" / f"step-{trainer.step:06d}.png")
        if trainer.saved_step != trainer.step:
            last_path = trainer.save(last_metrics, step_file=True)
    yield TrainFinished(trainer.step, trainer.step // spe, time.perf_counter() - started, last_path, interrupted)
