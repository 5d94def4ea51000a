"""Shapes of G, D and Q for several latent specs, and losses against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from infogan_cli.config import LatentSpec, ModelConfig
from infogan_cli.latent import fix_codes, fixed_noise_grid, generator_input, sample_latent
from infogan_cli.losses import (
    LOG_STD_MAX,
    LOG_STD_MIN,
    adversarial_loss,
    gaussian_nll,
    mutual_information_estimates,
    mutual_information_loss,
    real_information,
)
from infogan_cli.models import QOutput, build_models


@pytest.mark.parametrize(
    "spec",
    [
        LatentSpec(),
        LatentSpec(noise_dim=5, categorical=(10, 4), continuous=3),
        LatentSpec(noise_dim=7, categorical=(), continuous=1, continuous_prior="normal"),
        LatentSpec(noise_dim=3, categorical=(2,), continuous=0),
    ],
)
@pytest.mark.parametrize("architecture", ["paper", "tutorial"])
@pytest.mark.parametrize("image_size,channels", [(28, 1), (32, 3), (64, 1)])
def test_shapes(spec, architecture, image_size, channels):
    config = ModelConfig(architecture=architecture, image_size=image_size, channels=channels, width=4, hidden=16, q_hidden=8)
    generator, discriminator = build_models(spec, config)
    latent = sample_latent(spec, 5, torch.Generator().manual_seed(0))
    z = generator_input(spec, latent)
    assert z.shape == (5, spec.noise_dim + sum(spec.categorical) + spec.continuous)
    images = generator(z)
    assert images.shape == (5, channels, image_size, image_size)
    assert images.min() >= -1 and images.max() <= 1
    logits, q = discriminator(images)
    assert logits.shape == (5,)
    assert [t.shape for t in q.categorical_logits] == [(5, k) for k in spec.categorical]
    assert q.continuous_mean.shape == (5, spec.continuous)
    assert q.continuous_log_std.shape == (5, spec.continuous)


def test_code_names_and_priors():
    spec = LatentSpec(noise_dim=4, categorical=(10, 3), continuous=2)
    assert spec.code_names == ["c1", "c2", "c3", "c4"]
    assert spec.categorical_names == ["c1", "c2"] and spec.continuous_names == ["c3", "c4"]
    latent = sample_latent(spec, 4000, torch.Generator().manual_seed(1))
    assert latent.categorical[0].min() == 0 and latent.categorical[0].max() == 9
    assert latent.categorical[1].max() == 2
    assert latent.continuous.min() >= -1 and latent.continuous.max() <= 1
    assert abs(latent.continuous.mean().item()) < 0.05
    normal = sample_latent(LatentSpec(continuous_prior="normal"), 4000, torch.Generator().manual_seed(1))
    assert normal.continuous.abs().max() > 1.5  # a normal prior reaches beyond Unif(-1, 1)


def test_generator_input_is_noise_onehots_continuous():
    spec = LatentSpec(noise_dim=2, categorical=(3, 2), continuous=1)
    latent = sample_latent(spec, 1, torch.Generator().manual_seed(0))
    latent = fix_codes(spec, latent, {"c1": 2, "c2": 0, "c3": 0.25})
    z = generator_input(spec, latent)[0]
    assert z[2:5].tolist() == [0, 0, 1]
    assert z[5:7].tolist() == [1, 0]
    assert z[7].item() == pytest.approx(0.25)


def test_same_generator_seed_same_latent():
    spec = LatentSpec()
    a = sample_latent(spec, 8, torch.Generator().manual_seed(3))
    b = sample_latent(spec, 8, torch.Generator().manual_seed(3))
    assert torch.equal(generator_input(spec, a), generator_input(spec, b))


def test_fixed_noise_grid_columns_are_c1_values():
    spec = LatentSpec(noise_dim=3, categorical=(4,), continuous=2)
    grid = fixed_noise_grid(spec, 3, torch.Generator().manual_seed(0))
    assert grid.categorical[0].tolist() == [0, 1, 2, 3] * 3
    assert torch.equal(grid.noise[0], grid.noise[3])  # same noise along a row
    assert not torch.equal(grid.noise[0], grid.noise[4])
    assert grid.continuous.abs().sum() == 0


def test_adversarial_loss_values():
    # BCE of logit 0 is ln 2 whatever the target.
    assert adversarial_loss(torch.zeros(4), True).item() == pytest.approx(math.log(2))
    # A confident right answer costs about nothing, a confident wrong one about the logit.
    assert adversarial_loss(torch.full((4,), 20.0), True).item() < 1e-6
    assert adversarial_loss(torch.full((4,), 20.0), False).item() == pytest.approx(20.0, rel=1e-4)


def test_gaussian_nll_matches_formula():
    x, mean, log_std = torch.tensor([0.3]), torch.tensor([-0.2]), torch.tensor([math.log(0.5)])
    std = 0.5
    expected = 0.5 * math.log(2 * math.pi) + math.log(std) + (0.5**2) / (2 * std**2)
    assert gaussian_nll(x, mean, log_std).item() == pytest.approx(expected, rel=1e-6)


def test_gaussian_nll_bounds_the_std_but_keeps_its_gradient():
    x, mean = torch.tensor([0.5]), torch.tensor([0.0])
    inside = torch.tensor([0.0], requires_grad=True)
    gaussian_nll(x, mean, inside).backward()
    assert inside.grad.item() == pytest.approx(1 - 0.25, rel=1e-6)  # d/ds of s + e^(-2s) x^2 / 2
    for raw, bound in ((8.0, LOG_STD_MAX), (-9.0, LOG_STD_MIN)):
        outside = torch.tensor([raw], requires_grad=True)
        nll = gaussian_nll(x, mean, outside)
        assert nll.item() == pytest.approx(gaussian_nll(x, mean, torch.tensor([bound])).item())  # the value is bounded
        nll.backward()
        # ...and the gradient, taken at the bound, still points back inside it.
        assert outside.grad.item() == pytest.approx(1 - 0.25 * math.exp(-2 * bound), rel=1e-5)
        assert (outside.grad.item() > 0) == (raw > bound)


def test_mutual_information_loss_weights_each_code():
    spec = LatentSpec(noise_dim=1, categorical=(3,), continuous=1)
    latent = sample_latent(spec, 2, torch.Generator().manual_seed(0))
    latent.categorical[0] = torch.tensor([0, 2])
    latent.continuous = torch.tensor([[0.5], [-0.5]])
    confident = torch.tensor([[30.0, 0, 0], [0, 0, 30.0]])
    q = QOutput([confident], torch.tensor([[0.5], [-0.5]]), torch.zeros(2, 1))
    total, per_code = mutual_information_loss(q, latent, lambda_cat=1.0, lambda_cont=0.1, continuous_kind="gaussian")
    assert per_code[0].item() < 1e-6  # cross-entropy of a confident right answer
    assert per_code[1].item() == pytest.approx(0.5 * math.log(2 * math.pi), rel=1e-6)  # exact mean, std 1
    assert total.item() == pytest.approx(0.1 * 0.5 * math.log(2 * math.pi), rel=1e-5)
    uniform = QOutput([torch.zeros(2, 3)], torch.zeros(2, 1), torch.zeros(2, 1))
    total, per_code = mutual_information_loss(uniform, latent, 2.0, 1.0, "mse")
    assert per_code[0].item() == pytest.approx(math.log(3), rel=1e-6)  # uniform guess over 3 values
    assert per_code[1].item() == pytest.approx(0.25)  # MSE of +-0.5 against 0
    assert total.item() == pytest.approx(2 * math.log(3) + 0.25, rel=1e-6)


def test_mutual_information_estimates_per_code():
    spec = LatentSpec(noise_dim=1, categorical=(10,), continuous=1)
    ln2 = math.log(2.0)  # h(c) of Unif(-1, 1)
    categorical, gaussian = mutual_information_estimates(spec, [0.0, 0.5 * math.log(2 * math.pi)], "gaussian")
    assert categorical == pytest.approx(math.log(10))  # a perfect read of a 10-way code
    assert gaussian == pytest.approx(ln2 - 0.5 * math.log(2 * math.pi))  # exact mean at std 1
    # mse: the bound of the Gaussian whose std is the RMS error, the same as a learned std there.
    for mse in (1 / 3, 0.01):
        best_std_nll = gaussian_nll(torch.zeros(1), torch.tensor([math.sqrt(mse)]), torch.tensor([0.5 * math.log(mse)])).item()
        _, estimate = mutual_information_estimates(spec, [0.0, mse], "mse")
        assert estimate == pytest.approx(ln2 - best_std_nll, rel=1e-5)
    _, guessing = mutual_information_estimates(spec, [0.0, 1 / 3], "mse")  # Q says 0: the prior's variance
    assert guessing == pytest.approx(-0.177, abs=1e-3)  # below 0: no information shown
    _, perfect = mutual_information_estimates(spec, [0.0, 0.0], "mse")  # the std floor keeps it finite
    assert perfect == pytest.approx(ln2 - 0.5 * math.log(2 * math.pi * math.e) - LOG_STD_MIN)


def test_init_is_small_normal():
    generator, _ = build_models(LatentSpec(), ModelConfig())
    weight = generator.fc[0].weight
    assert abs(weight.std().item() - 0.02) < 0.002
    assert abs(weight.mean().item()) < 0.002


def _q(*logits: torch.Tensor) -> QOutput:
    batch = logits[0].shape[0]
    return QOutput(list(logits), torch.zeros(batch, 0), torch.zeros(batch, 0))


def test_real_information_values():
    k = 4
    confident_even = torch.eye(k).repeat(2, 1) * 50.0  # each value twice, all near one-hot
    assert real_information(_q(confident_even)).item() == pytest.approx(math.log(k), abs=1e-4)
    confident_one_value = torch.zeros(8, k)
    confident_one_value[:, 2] = 50.0  # a merged code: everything in one value
    assert real_information(_q(confident_one_value)).item() == pytest.approx(0.0, abs=1e-4)
    unsure = torch.zeros(8, k)  # uniform posteriors: even marginal, no information
    assert real_information(_q(unsure)).item() == pytest.approx(0.0, abs=1e-6)
    # Two digits merged into one value and one split over two: lower than the even assignment.
    merged_split = torch.eye(k)[torch.tensor([0, 0, 0, 0, 1, 1, 2, 3])] * 50.0
    marginal = [0.5, 0.25, 0.125, 0.125]
    merged_split_information = real_information(_q(merged_split)).item()
    assert merged_split_information == pytest.approx(-sum(p * math.log(p) for p in marginal), abs=1e-4)
    assert merged_split_information < math.log(k) - 0.15
    # Several categorical codes add up.
    binary_even = torch.eye(2).repeat(4, 1) * 50.0
    two_codes = real_information(_q(confident_even, binary_even)).item()
    assert two_codes == pytest.approx(math.log(k) + math.log(2), abs=1e-4)


def test_categorical_information_is_high_only_for_confident_even_predictions():
    from infogan_cli.losses import categorical_information

    one_hot = torch.nn.functional.one_hot(torch.arange(40) % 10, 10).float()
    confident = one_hot * 40
    assert categorical_information(confident).item() == pytest.approx(math.log(10), abs=1e-5)
    # Confident and even over 9 of the 10 values (one never predicted): ln 9.
    merged = torch.nn.functional.one_hot(torch.arange(36) % 9, 10).float() * 40
    assert categorical_information(merged).item() == pytest.approx(math.log(9), abs=1e-3)
    # Unsure between two values on every image: ln 2 less than confident.
    unsure = torch.log(one_hot + one_hot.roll(1, dims=1) + 1e-9)
    assert categorical_information(unsure).item() == pytest.approx(math.log(10) - math.log(2), abs=1e-4)
    assert categorical_information(torch.zeros(40, 10)).item() == pytest.approx(0.0, abs=1e-6)


def test_q_head_runs_in_fp32_under_bf16_autocast():
    # bf16 Q heads cost about a point of code-to-digit accuracy (docs/study.md): under autocast the
    # trunk runs in bf16 and the Q head in fp32, on the trunk's bf16 features.
    torch.manual_seed(0)
    _, discriminator = build_models(LatentSpec(noise_dim=8, categorical=(10,), continuous=2), ModelConfig(width=4, hidden=16, q_hidden=8))
    discriminator.eval()
    images = torch.rand(5, 1, 28, 28) * 2 - 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        features = discriminator.features(images)
        codes = discriminator.predict_codes(features, images)
    assert features.dtype == torch.bfloat16
    assert codes.categorical_logits[0].dtype == codes.continuous_mean.dtype == torch.float32
    expected = discriminator.predict_codes(features.float(), images)  # the same head, outside autocast
    torch.testing.assert_close(codes.continuous_mean, expected.continuous_mean, rtol=0, atol=0)
    torch.testing.assert_close(codes.categorical_logits[0], expected.categorical_logits[0], rtol=0, atol=0)
