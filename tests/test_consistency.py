"""The affine augmentation and Q's categorical consistency loss (--lambda-consistency)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from infogan_cli.augment import CONSISTENCY_TRANSFORMS, AffineRange, random_affine, random_affine_matrices
from infogan_cli.config import CONSISTENCY_TRANSFORM_NAMES, ConfigError, TrainConfig, train_from_dict
from infogan_cli.losses import categorical_consistency
from infogan_cli.models import QOutput
from infogan_cli.trainer import CONSISTENCY_METRIC, METRIC_NAMES, StepLogged, prepare, train
from tests.conftest import gradients_at_step, tiny_config

NO_MOVE = AffineRange(rotation_degrees=0, shear_degrees=0, scale=0, translate=0)


def _q(*logits: torch.Tensor) -> QOutput:
    n = logits[0].shape[0]
    return QOutput(list(logits), torch.zeros(n, 2), torch.zeros(n, 2))


def test_zero_range_is_the_identity():
    images = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    theta = random_affine_matrices(4, NO_MOVE, torch.Generator().manual_seed(1), images.device)
    torch.testing.assert_close(theta, torch.tensor([[1.0, 0, 0], [0, 1, 0]]).expand(4, 2, 3))
    torch.testing.assert_close(random_affine(images, torch.Generator().manual_seed(1), NO_MOVE), images)


def test_matrices_stay_inside_their_ranges():
    limits = AffineRange(rotation_degrees=20, shear_degrees=0, scale=0, translate=0.1)
    theta = random_affine_matrices(500, limits, torch.Generator().manual_seed(2), torch.device("cpu"))
    a, shift = theta[:, :, :2], theta[:, :, 2]
    # Rotation only: orthonormal with determinant 1, angle within +-20 degrees, and all of it used.
    torch.testing.assert_close(a @ a.transpose(1, 2), torch.eye(2).expand(500, 2, 2), atol=1e-5, rtol=0)
    angles = torch.rad2deg(torch.atan2(a[:, 1, 0], a[:, 0, 0]))
    assert angles.abs().max() <= 20 + 1e-4 and angles.abs().max() > 18
    assert shift.abs().max() <= 0.2 + 1e-6 and shift.abs().max() > 0.18  # 10% of the side = 0.2 in [-1, 1] units


def test_a_shift_moves_a_dot_by_the_drawn_number_of_pixels():
    """Translate-only: random_affine moves a dot by the drawn shift times half the side, in pixels
    (translate = 2/28 of the side allows up to 2 pixels each way)."""
    image = torch.full((64, 1, 28, 28), -1.0)
    image[:, 0, 14, 14] = 1.0
    limits = AffineRange(rotation_degrees=0, shear_degrees=0, scale=0, translate=2 / 28)
    theta = random_affine_matrices(64, limits, torch.Generator().manual_seed(5), image.device)
    moved = random_affine(image, torch.Generator().manual_seed(5), limits)
    # The output at x shows the input at x + shift * 14 px, so the dot's centre of mass moves by -shift * 14.
    weights = (moved[:, 0] + 1) / 2
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    centre_x = (weights * xs).sum((1, 2)) / weights.sum((1, 2))
    centre_y = (weights * ys).sum((1, 2)) / weights.sum((1, 2))
    torch.testing.assert_close(centre_x, 14 - theta[:, 0, 2] * 14, atol=1e-3, rtol=0)
    torch.testing.assert_close(centre_y, 14 - theta[:, 1, 2] * 14, atol=1e-3, rtol=0)
    assert (theta[:, :, 2] * 14).abs().max() > 1.8  # shifts near the 2-pixel limit were drawn


def test_shear_and_scale_matrices():
    shear_only = AffineRange(rotation_degrees=0, shear_degrees=30, scale=0, translate=0)
    theta = random_affine_matrices(200, shear_only, torch.Generator().manual_seed(6), torch.device("cpu"))
    assert torch.all(theta[:, 0, 0] == 1) and torch.all(theta[:, 1, 0] == 0) and torch.all(theta[:, 1, 1] == 1)
    assert theta[:, 0, 1].abs().max() <= math.tan(math.radians(30)) + 1e-6 and theta[:, 0, 1].abs().max() > 0.5
    scale_only = AffineRange(rotation_degrees=0, shear_degrees=0, scale=0.2, translate=0)
    theta = random_affine_matrices(200, scale_only, torch.Generator().manual_seed(7), torch.device("cpu"))
    assert torch.all(theta[:, 0, 1] == 0) and torch.all(theta[:, 1, 0] == 0)
    for axis in (0, 1):
        s = theta[:, axis, axis]
        assert s.min() >= 0.8 - 1e-6 and s.max() <= 1.2 + 1e-6 and s.max() - s.min() > 0.35
    assert not torch.allclose(theta[:, 0, 0], theta[:, 1, 1])  # the axes stretch independently


def test_shift_scale_keeps_slant_and_proportions():
    """The shift-scale family: no rotation or shear, one scale for both axes, shifts as before."""
    assert tuple(CONSISTENCY_TRANSFORMS) == CONSISTENCY_TRANSFORM_NAMES
    limits = CONSISTENCY_TRANSFORMS["shift-scale"]
    theta = random_affine_matrices(300, limits, torch.Generator().manual_seed(8), torch.device("cpu"))
    assert torch.all(theta[:, 0, 1] == 0) and torch.all(theta[:, 1, 0] == 0)
    torch.testing.assert_close(theta[:, 0, 0], theta[:, 1, 1])  # isotropic: the width/height ratio stays
    s = theta[:, 0, 0]
    assert s.min() >= 0.9 - 1e-6 and s.max() <= 1.1 + 1e-6 and s.max() - s.min() > 0.15
    assert theta[:, :, 2].abs().max() > 0.18  # shifts of up to 10% of the side are drawn
    # The default family still rotates, shears and stretches the axes apart.
    theta = random_affine_matrices(300, CONSISTENCY_TRANSFORMS["affine"], torch.Generator().manual_seed(8), torch.device("cpu"))
    assert theta[:, 1, 0].abs().max() > 0.1 and not torch.allclose(theta[:, 0, 0], theta[:, 1, 1])


def test_affine_wide_stretches_further_and_keeps_the_rest():
    """affine-wide is the affine family with per-axis stretches of up to 25% instead of 10%."""
    wide, affine = CONSISTENCY_TRANSFORMS["affine-wide"], CONSISTENCY_TRANSFORMS["affine"]
    assert (wide.rotation_degrees, wide.shear_degrees, wide.translate, wide.isotropic) == (
        affine.rotation_degrees, affine.shear_degrees, affine.translate, affine.isotropic)
    no_turn = AffineRange(rotation_degrees=0, shear_degrees=0, scale=wide.scale, translate=0)
    theta = random_affine_matrices(400, no_turn, torch.Generator().manual_seed(9), torch.device("cpu"))
    for axis in (0, 1):
        s = theta[:, axis, axis]
        assert s.min() >= 0.75 - 1e-6 and s.max() <= 1.25 + 1e-6 and s.max() - s.min() > 0.45
    # Measured as evaluate measures: a bar 16 px wide, resampled at up to 1 +- limit times its
    # size (affine_grid maps output to input, so the width changes by 1 / (1 +- limit)).
    from infogan_cli.evaluate import measure_images

    bar = torch.full((200, 1, 28, 28), -1.0)
    bar[:, :, 6:22, 6:22] = 1.0
    for limit in (wide.scale, affine.scale):
        limits = AffineRange(rotation_degrees=0, shear_degrees=0, scale=limit, translate=0)
        widths = measure_images(random_affine(bar, torch.Generator().manual_seed(10), limits))["width"] / 16
        narrowest, widest = 1 / (1 + limit), 1 / (1 - limit)
        assert widths.min() >= narrowest - 0.05 and widths.max() <= widest + 0.05
        assert widths.max() - widths.min() > 0.8 * (widest - narrowest)  # the range is used, not only its middle


def test_consistency_transform_is_validated_and_used(tmp_path):
    with pytest.raises(ConfigError, match="unknown consistency transform 'rotate'"):
        TrainConfig(consistency_transform="rotate")
    assert train_from_dict({}).consistency_transform == "affine"  # runs stored before the option
    events = list(train(tiny_config(consistency_transform="shift-scale", max_steps=2), tmp_path))
    assert events[-1].step == 2
    assert json.loads((tmp_path / "config.json").read_text())["consistency_transform"] == "shift-scale"


def test_random_affine_keeps_shape_layout_range_and_border():
    images = torch.full((8, 3, 28, 28), -1.0)
    images[:, :, 8:20, 12:16] = 1.0  # a bar in the middle, background at the edge
    images = images.contiguous(memory_format=torch.channels_last)
    moved = random_affine(images, torch.Generator().manual_seed(3))
    assert moved.shape == images.shape and moved.is_contiguous(memory_format=torch.channels_last)
    assert moved.min() >= -1 - 1e-6 and moved.max() <= 1 + 1e-6
    # The border repeats the background: no grey frame from zero padding.
    edges = torch.cat([moved[:, :, 0, :], moved[:, :, -1, :], moved[:, :, :, 0], moved[:, :, :, -1]], dim=2)
    torch.testing.assert_close(edges, torch.full_like(edges, -1.0))
    assert not torch.allclose(moved, images)
    # Same generator state, same transforms.
    torch.testing.assert_close(moved, random_affine(images, torch.Generator().manual_seed(3)))


def test_consistency_is_the_kl_from_the_clean_prediction():
    clean = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    moved = torch.tensor([[0.0, 1.0, 0.0], [1.0, -1.0, 0.5]], requires_grad=True)
    p = clean.softmax(1)
    expected = (p * (p.log() - moved.detach().log_softmax(1))).sum(1).mean()
    value = categorical_consistency(_q(clean.clone().requires_grad_()), _q(moved))
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)
    assert categorical_consistency(_q(clean), _q(clean.clone())).item() == pytest.approx(0.0, abs=1e-7)
    value.backward()
    assert moved.grad is not None and moved.grad.abs().sum() > 0


def test_consistency_sums_over_categorical_codes_and_leaves_the_target_alone():
    a, b = torch.randn(5, 10), torch.randn(5, 4)
    a2, b2 = torch.randn(5, 10), torch.randn(5, 4)
    both = categorical_consistency(_q(a, b), _q(a2, b2)).item()
    separate = categorical_consistency(_q(a), _q(a2)).item() + categorical_consistency(_q(b), _q(b2)).item()
    assert both == pytest.approx(separate, rel=1e-6)
    clean = torch.randn(5, 10, requires_grad=True)
    categorical_consistency(_q(clean), _q(torch.randn(5, 10, requires_grad=True))).backward()
    assert clean.grad is None  # the clean prediction is a target, not trained towards the moved one


def test_lambda_consistency_is_validated_and_old_configs_load_as_off():
    with pytest.raises(ConfigError, match="lambda-consistency"):
        TrainConfig(lambda_consistency=-1.0)
    with pytest.raises(ConfigError, match="lambda-consistency"):
        TrainConfig(lambda_consistency=math.inf)
    old = json.loads(TrainConfig().to_json())
    del old["lambda_consistency"]  # a checkpoint written before the option existed
    assert train_from_dict(old).lambda_consistency == 0.0


def test_training_logs_consistency_only_when_it_is_on(tmp_path):
    off = tiny_config(precision="fp32", max_steps=4, lambda_consistency=0.0)
    on = tiny_config(precision="fp32", max_steps=4, lambda_consistency=1.0, lambda_fake_consistency=0.0)
    logged_on = [e.metrics for e in train(on, tmp_path / "on") if isinstance(e, StepLogged)]
    logged_off = [e.metrics for e in train(off, tmp_path / "off") if isinstance(e, StepLogged)]
    assert all(CONSISTENCY_METRIC not in m for m in logged_off)
    values = [m[CONSISTENCY_METRIC] for m in logged_on]
    assert all(math.isfinite(v) and v >= 0 for v in values) and max(values) > 0
    # The per-code losses still line up with their names after the extra column.
    assert set(logged_on[-1]["loss_code"]) == {"c1", "c2", "c3"}
    trainer, _ = prepare(on, tmp_path / "layout", resume=False)
    trainer._pending = [(1, torch.arange(8.0))]  # loss_d, loss_g, loss_mi, mi_real, consistency, c1, c2, c3
    metrics = trainer.flush_metrics()
    assert [metrics[n] for n in (*METRIC_NAMES, CONSISTENCY_METRIC)] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert metrics["loss_code"] == {"c1": 5.0, "c2": 6.0, "c3": 7.0}


def test_no_categorical_code_means_no_consistency_pass(tmp_path):
    from infogan_cli.config import LatentSpec

    config = tiny_config(precision="fp32", max_steps=2, latent=LatentSpec(noise_dim=8, categorical=(), continuous=2))
    assert config.lambda_consistency == 1.0
    logged = [e.metrics for e in train(config, tmp_path) if isinstance(e, StepLogged)]
    assert logged and all(CONSISTENCY_METRIC not in m for m in logged)


def test_d_step_adds_the_consistency_gradient_to_the_trunk(tmp_path):
    """The D step's trunk gradient is the adversarial and MI one plus lambda times the consistency
    gradient on the transformed real batch, the transforms drawn from the run's generator."""
    import copy

    from infogan_cli.data import to_unit_range
    from infogan_cli.latent import generator_input, sample_latent
    from infogan_cli.losses import adversarial_loss, mutual_information_loss

    config = tiny_config(precision="fp32", lambda_consistency=2.0, lambda_fake_consistency=0.0)
    trainer, _ = prepare(config, tmp_path, resume=False)
    assert trainer.metric_names == METRIC_NAMES + (CONSISTENCY_METRIC,)
    real = to_unit_range(next(trainer.batches(0, 0))).contiguous(memory_format=trainer.memory_format)
    d_copy, g_copy = copy.deepcopy(trainer.discriminator), copy.deepcopy(trainer.generator)
    rng = torch.Generator().manual_seed(0)
    rng.set_state(trainer.rng.get_state())
    seen = gradients_at_step(trainer.optimizer_d, trainer.discriminator.trunk.parameters)
    losses = trainer.train_step(real)

    latent = sample_latent(config.latent, real.shape[0], rng)
    fake = g_copy(generator_input(config.latent, latent)).detach()
    real_logits, real_codes = d_copy(real)
    _, moved_codes = d_copy(random_affine(real, rng))
    consistency = categorical_consistency(real_codes, moved_codes)
    fake_logits, fake_codes = d_copy(fake)
    mi_d, _ = mutual_information_loss(fake_codes, latent, config.lambda_cat, config.lambda_cont, config.continuous_loss)
    total = adversarial_loss(real_logits, True) + 2.0 * consistency + adversarial_loss(fake_logits, False) + mi_d
    expected = torch.autograd.grad(total, list(d_copy.trunk.parameters()))
    for got, want in zip(seen[0], expected):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    assert losses.shape[0] == len(METRIC_NAMES) + 1 + 3  # the consistency column, then c1..c3
    assert losses[len(METRIC_NAMES)].item() == pytest.approx(consistency.item(), rel=1e-4, abs=1e-7)
    assert consistency.item() > 0


@pytest.mark.parametrize("name", ["lambda_consistency", "lambda_fake_consistency"])
def test_default_has_it_and_the_paper_and_tutorial_presets_do_not(name):
    from infogan_cli.config import build_train_config

    assert getattr(TrainConfig(), name) == 1.0
    assert getattr(build_train_config(), name) == 1.0
    assert getattr(build_train_config("paper"), name) == 0.0
    assert getattr(build_train_config("tutorial"), name) == 0.0
    assert getattr(build_train_config("paper", **{name: 0.5}), name) == 0.5
    # A stored config keeps what it says; only a config without the key is read as off.
    assert getattr(train_from_dict(json.loads(TrainConfig().to_json())), name) == 1.0


def test_consistency_transform_from_the_command_line(capsys, tmp_path):
    from tests.conftest import run_main

    tiny = ["--dataset", "fake", "--width", "4", "--noise-dim", "8", "--batch-size", "16", "--max-steps", "2", "--device", "cpu"]
    code, _, err = run_main(capsys, "train", *tiny, "--out", str(tmp_path / "bad"), "--consistency-transform", "rotate")
    assert code == 2 and err == "error: unknown consistency transform 'rotate'\nhint: use one of: affine, shift-scale, affine-wide\n"
    assert not (tmp_path / "bad").exists()
    code, _, err = run_main(capsys, "train", *tiny, "--out", str(tmp_path / "run"), "--consistency-transform", "shift-scale")
    assert code == 0, err
    assert json.loads((tmp_path / "run" / "config.json").read_text())["consistency_transform"] == "shift-scale"
