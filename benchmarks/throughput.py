"""Training throughput: our training path against a plain PyTorch port of the seed tutorial.

    python benchmarks/throughput.py --data-root ../shared/data/mnist --steps 100

(a) ``infogan``: the default model and our training step (whole MNIST held as one uint8 tensor
    on the device, one generator forward reused by the D and G+Q updates, no per-step sync).
(b) ``tutorial``: the Keras tutorial trained the plain way: a DataLoader over torchvision's MNIST
    with per-item transforms, a D update on a real batch and on a freshly generated fake batch,
    then a composite G+Q update on new latents (a second generator forward), with sigmoid/softmax
    outputs and BCELoss/NLL as in Keras.

Both run N steps after a warm-up, in this one process, on the same device and batch size. Ratios
measured in one run are what we quote; absolute numbers drift on shared machines.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infogan_cli.config import MATMUL_ROUTES, TrainConfig  # noqa: E402
from infogan_cli.data import load_dataset, resolve_data_root  # noqa: E402
from infogan_cli.cpu import cpu_model, has_native_bf16  # noqa: E402
from infogan_cli.runtime import configure_backends, resolve_device, resolve_precision  # noqa: E402
from infogan_cli.trainer import Trainer  # noqa: E402


# ----------------------------------------------------------------------------- the tutorial port


class TutorialGenerator(nn.Module):
    """define_generator(): Dense(512*7*7)-ReLU-BN, Conv128-ReLU-BN, ConvT64-ReLU-BN, ConvT1-tanh."""

    def __init__(self, input_dim: int) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(input_dim, 512 * 7 * 7), nn.ReLU(), nn.BatchNorm1d(512 * 7 * 7))
        self.convs = nn.Sequential(
            nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(512, 128, 4), nn.ReLU(), nn.BatchNorm2d(128),
            nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.ReLU(), nn.BatchNorm2d(64),
            nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.convs(self.fc(z).view(-1, 512, 7, 7))


class TutorialDiscriminator(nn.Module):
    """define_discriminator(): Conv64-LReLU, Conv128-LReLU-BN, Conv256-LReLU-BN, Dense(1) sigmoid;
    Q: Dense128-BN-LReLU-Dense(n_cat) softmax on the same flattened features."""

    def __init__(self, n_cat: int) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.1),
            nn.Conv2d(64, 128, 4, 2, 1), nn.LeakyReLU(0.1), nn.BatchNorm2d(128),
            nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(128, 256, 4), nn.LeakyReLU(0.1), nn.BatchNorm2d(256),
            nn.Flatten(),
        )
        self.d_out = nn.Sequential(nn.Linear(256 * 7 * 7, 1), nn.Sigmoid())
        self.q_out = nn.Sequential(
            nn.Linear(256 * 7 * 7, 128), nn.BatchNorm1d(128), nn.LeakyReLU(0.1), nn.Linear(128, n_cat), nn.Softmax(dim=1)
        )


def tutorial_latent(n: int, latent_dim: int, n_cat: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """generate_latent_points(): noise, one-hot codes, concatenated."""
    codes = torch.randint(0, n_cat, (n,), device=device)
    z = torch.cat([torch.randn(n, latent_dim, device=device), nn.functional.one_hot(codes, n_cat).float()], 1)
    return z, codes


def tutorial_steps(data_root: Path, device: torch.device, batch_size: int, steps: int, warmup: int) -> float:
    """Train the tutorial port; returns images/s over ``steps`` steps after ``warmup`` steps."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    dataset = datasets.MNIST(
        str(data_root), train=True, download=False,
        transform=transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))]),
    )
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True)
    latent_dim, n_cat = 62, 10
    generator = TutorialGenerator(latent_dim + n_cat).to(device)
    discriminator = TutorialDiscriminator(n_cat).to(device)
    opt_d = torch.optim.Adam([*discriminator.trunk.parameters(), *discriminator.d_out.parameters()], 2e-4, betas=(0.5, 0.999))
    opt_gan = torch.optim.Adam([*generator.parameters(), *discriminator.q_out.parameters()], 2e-4, betas=(0.5, 0.999))
    bce, nll = nn.BCELoss(), nn.NLLLoss()
    batches = iter(loader)
    started = 0.0
    for step in range(warmup + steps):
        if step == warmup:
            _sync(device)
            started = time.perf_counter()
        try:
            real, _ = next(batches)
        except StopIteration:
            batches = iter(loader)
            real, _ = next(batches)
        real = real.to(device)
        n = real.shape[0]
        # d_model.train_on_batch(X_real, y_real), then on a fake batch from g_model.predict
        opt_d.zero_grad()
        bce(discriminator.d_out(discriminator.trunk(real)).squeeze(1), torch.ones(n, device=device)).backward()
        opt_d.step()
        with torch.no_grad():
            fake = generator(tutorial_latent(n, latent_dim, n_cat, device)[0])
        opt_d.zero_grad()
        bce(discriminator.d_out(discriminator.trunk(fake)).squeeze(1), torch.zeros(n, device=device)).backward()
        opt_d.step()
        # gan_model.train_on_batch(z, [y_gan, cat_codes]) with D frozen
        z, codes = tutorial_latent(n, latent_dim, n_cat, device)
        opt_gan.zero_grad()
        features = discriminator.trunk(generator(z))
        loss = bce(discriminator.d_out(features).squeeze(1), torch.ones(n, device=device))
        loss = loss + nll(torch.log(discriminator.q_out(features) + 1e-7), codes)
        loss.backward()
        opt_gan.step()
        if step % 10 == 0:
            loss.item()  # Keras returns the losses each batch: a host sync
    _sync(device)
    return steps * batch_size / (time.perf_counter() - started)


# ----------------------------------------------------------------------------- our path


def infogan_steps(
    data_root: Path, device: torch.device, batch_size: int, steps: int, warmup: int, out: Path, precision: str, lambda_consistency: float,
    compile_mode: str | None = None, matmul: str = TrainConfig().matmul, lambda_fake_consistency: float = TrainConfig().lambda_fake_consistency,
    consistency_fraction: float = TrainConfig().consistency_fraction,
) -> tuple[float, str, float]:
    """Images/s of our training step, the memory format the trainer chose, and the seconds of the
    warm-up steps (where torch.compile compiles and CUDA graphs are recorded)."""
    from infogan_cli.data import to_unit_range

    config = TrainConfig(
        data_root=str(data_root), batch_size=batch_size, device=str(device), log_every=50, precision=precision, lambda_consistency=lambda_consistency,
        lambda_fake_consistency=lambda_fake_consistency, consistency_fraction=consistency_fraction, matmul=matmul,
        compile=compile_mode is not None,  # the trainer's layout depends on it
    )
    trainer = Trainer(config, out, load_dataset("mnist", data_root), device)
    if compile_mode:
        trainer.compile(compile_mode)  # as infogan train --compile (mode "default"), or in another mode
    cuda_graphs = compile_mode == "reduce-overhead" and device.type == "cuda"
    order = torch.randperm(len(trainer.data), device=device)
    first = started = time.perf_counter()
    for step in range(warmup + steps):
        if step == warmup:
            _sync(device)
            started = time.perf_counter()
        if cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()  # a new training step: earlier graph outputs may be reused
        start = (step * batch_size) % (len(order) - batch_size)
        real = to_unit_range(trainer.data.images[order[start : start + batch_size]])
        trainer.record(trainer.train_step(real), batch_size)
        if trainer.step % config.log_every == 0:
            trainer.flush_metrics()  # the one sync per log interval, as in training
    _sync(device)
    return steps * batch_size / (time.perf_counter() - started), str(trainer.memory_format).removeprefix("torch."), started - first


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", default=None, help="MNIST folder (default: $INFOGAN_DATA_ROOT)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--precision", default="auto", help="our path's autocast precision, as infogan train --precision (auto: bf16 on CPUs with native bf16, else fp32)")
    parser.add_argument(
        "--lambda-consistency", type=float, default=None, help="our path's consistency weight (default: the default's; 0 times the paper's objective)"
    )
    parser.add_argument(
        "--lambda-fake-consistency", type=float, default=TrainConfig().lambda_fake_consistency,
        help="our path's weight of the code loss on transformed generated images (default: the default's; 0 with --lambda-consistency 0 times the paper's objective)",
    )
    parser.add_argument(
        "--consistency-fraction", type=float, default=TrainConfig().consistency_fraction,
        help="our path's share of each batch that the consistency losses use, as infogan train --consistency-fraction",
    )
    parser.add_argument("--compile", action="store_true", help="torch.compile our path's networks, as infogan train --compile")
    parser.add_argument(
        "--compile-mode", default=None, choices=("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"),
        help="torch.compile's mode for our path (implies --compile; reduce-overhead records CUDA graphs on CUDA)",
    )
    parser.add_argument(
        "--matmul", default=TrainConfig().matmul, choices=MATMUL_ROUTES,
        help="our path's library for fp32 products, as infogan train --matmul (the tutorial port keeps torch's default)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args(argv)
    compile_mode = args.compile_mode or ("default" if args.compile else None)
    device = resolve_device(args.device)
    configure_backends(device)
    data_root = resolve_data_root(args.data_root)
    import tempfile

    consistency = TrainConfig().lambda_consistency if args.lambda_consistency is None else args.lambda_consistency
    results = {
        "device": str(device),
        "cpu_model": cpu_model(),
        "native_bf16": has_native_bf16(),
        "precision": args.precision,
        "autocast": str(resolve_precision(args.precision, device, fp32_products=args.matmul == "onednn") or "fp32"),
        "lambda_consistency": consistency,
        "lambda_fake_consistency": args.lambda_fake_consistency,
        "consistency_fraction": args.consistency_fraction,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "warmup": args.warmup,
        "compile_mode": compile_mode,
        "matmul": args.matmul,
        "threads": torch.get_num_threads(),
    }
    with tempfile.TemporaryDirectory() as out:
        results["infogan_images_per_s"], results["memory_format"], results["infogan_warmup_s"] = infogan_steps(
            data_root, device, args.batch_size, args.steps, args.warmup, Path(out), args.precision, consistency, compile_mode, args.matmul,
            args.lambda_fake_consistency, args.consistency_fraction,
        )
    results["infogan_peak_mib"] = peak_memory_mib(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    results["tutorial_images_per_s"] = tutorial_steps(data_root, device, args.batch_size, args.steps, args.warmup)
    results["tutorial_peak_mib"] = peak_memory_mib(device)  # on CPU: the process high-water mark so far
    results["ratio"] = results["infogan_images_per_s"] / results["tutorial_images_per_s"]
    if args.json:
        print(json.dumps(results))
    else:
        for key, value in results.items():
            print(f"{key:24s} {value:.2f}" if isinstance(value, float) else f"{key:24s} {value}")


if __name__ == "__main__":
    main()
