"""`infogan evaluate`: clustering metrics, morphometry, Frechet distance, the reference classifier
and the command end to end on tiny untrained models and the synthetic `fake` set.

Expected values are computed by hand (NMI and ARI of a four-item example, the slant of a bar
sheared by a known angle, the Frechet distance of shifted and scaled sets).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from infogan_cli.checkpoint import save_checkpoint
from infogan_cli.classifier import (
    default_classifier_path,
    load_classifier,
    load_or_train_classifier,
    save_classifier,
    train_classifier,
)
from infogan_cli.config import LatentSpec, ModelConfig, TrainConfig
from infogan_cli.data import ImageDataset, load_dataset
from infogan_cli.errors import CheckpointError
from infogan_cli.evaluate import (
    adjusted_rand_index,
    cluster_scores,
    contingency_matrix,
    evaluate_checkpoint,
    frechet_distance,
    measure_images,
    normalized_mutual_info,
)
from infogan_cli.infogan import InfoGAN
from infogan_cli.models import build_models
from tests.conftest import run_main as run_cli

MODEL = ModelConfig(width=4, hidden=16, q_hidden=8)
JSON_KEYS = {
    "label_code", "categorical_codes", "q_accuracy", "q_purity", "q_nmi", "q_ari", "mapping", "per_class", "sample_accuracy",
    "classifier_accuracy", "continuous", "fid", "fid_floor", "mi_categorical", "n_samples", "checkpoint",
}
CPU = torch.device("cpu")


def make_checkpoint(path: Path, spec: LatentSpec, dataset: str = "fake", model: ModelConfig = MODEL) -> Path:
    """A tiny untrained model; larger generator weights so its images vary with the codes."""
    torch.manual_seed(0)
    generator, discriminator = build_models(spec, model)
    for module in generator.modules():
        if isinstance(module, (nn.Linear, nn.ConvTranspose2d)):
            nn.init.normal_(module.weight, 0.0, 0.5)
    config = TrainConfig(latent=spec, model=model, dataset=dataset)
    return save_checkpoint(path, config=config, generator=generator, discriminator=discriminator, step=0, epoch=0)


@pytest.fixture(scope="module")
def fake_data() -> tuple[ImageDataset, ImageDataset]:
    return load_dataset("fake", train=True), load_dataset("fake", train=False)


@pytest.fixture(scope="module")
def tiny_classifier(fake_data, tmp_path_factory):
    train, test = fake_data
    classifier = train_classifier(train, test, CPU, max_steps=16)
    save_classifier(classifier, tmp_path_factory.mktemp("classifier") / "fake.safetensors")
    return classifier


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("checkpoints")
    return {
        "one_cat": make_checkpoint(folder / "one_cat.safetensors", LatentSpec(noise_dim=8, categorical=(10,), continuous=2)),
        "no_cat": make_checkpoint(folder / "no_cat.safetensors", LatentSpec(noise_dim=8, categorical=(), continuous=2)),
    }


# ----------------------------------------------------------------------------- clustering metrics


def test_hungarian_accuracy_is_one_on_permuted_labels() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 5000)
    permutation = rng.permutation(10)
    scores = cluster_scores(permutation[labels], labels, 10, 10)
    assert scores.accuracy == 1.0 and scores.purity == 1.0
    assert scores.nmi == pytest.approx(1.0) and scores.ari == pytest.approx(1.0)
    assert scores.mapping == {int(permutation[label]): label for label in range(10)}  # code value -> label
    assert all(value == 1.0 for value in scores.per_class.values())


def test_hungarian_accuracy_is_near_chance_on_random_labels() -> None:
    rng = np.random.default_rng(1)
    scores = cluster_scores(rng.integers(0, 10, 10_000), rng.integers(0, 10, 10_000), 10, 10)
    assert 0.09 < scores.accuracy < 0.13  # chance is 0.1; the best of 10! matchings adds a little
    assert scores.nmi < 0.01 and abs(scores.ari) < 0.01


def test_nmi_ari_purity_by_hand() -> None:
    # labels [0, 0, 1, 1], codes [0, 0, 1, 2]: H(labels) = ln 2, H(codes) = 1.5 ln 2, MI = ln 2,
    # so NMI = ln 2 / (1.25 ln 2) = 0.8. Pairs: 1 agreeing, row pairs 1, column pairs 2 of 6:
    # ARI = (1 - 2/6) / (1.5 - 2/6) = 4/7.
    contingency = contingency_matrix(np.array([0, 0, 1, 2]), np.array([0, 0, 1, 1]), 3, 2)
    assert contingency.tolist() == [[2, 0], [0, 1], [0, 1]]
    assert normalized_mutual_info(contingency) == pytest.approx(0.8)
    assert adjusted_rand_index(contingency) == pytest.approx(4 / 7)
    scores = cluster_scores(np.array([0, 0, 1, 2]), np.array([0, 0, 1, 1]), 3, 2)
    assert scores.purity == 1.0  # many-to-one: every code value is pure
    assert scores.accuracy == 0.75  # one-to-one: codes 1 and 2 cannot both map to label 1
    assert len(scores.mapping) == 2 and scores.per_class[0] == 1.0 and scores.per_class[1] == 0.5


def test_one_block_partitions_agree() -> None:
    single = contingency_matrix(np.zeros(5, int), np.zeros(5, int), 1, 1)
    assert normalized_mutual_info(single) == 1.0 and adjusted_rand_index(single) == 1.0
    # One code value for everything, two labels: no information.
    collapsed = contingency_matrix(np.zeros(4, int), np.array([0, 0, 1, 1]), 2, 2)
    assert normalized_mutual_info(collapsed) == 0.0 and adjusted_rand_index(collapsed) == 0.0


# ----------------------------------------------------------------------------- morphometry


def sheared_bar(angle_degrees: float, width: float = 3, height: float = 20, size: int = 28) -> torch.Tensor:
    """A bar of the given width and height centred in the image, its top sheared right by
    tan(angle) per pixel of height; pixel values are the covered fraction (8x8 supersampling),
    returned in [-1, 1] as (1, 1, size, size)."""
    shear = math.tan(math.radians(angle_degrees))
    sub = (np.arange(8) + 0.5) / 8 - 0.5
    y = (np.arange(size)[:, None] + sub[None, :]).reshape(-1)  # supersampled row centres
    x = y.copy()
    rows, columns = np.meshgrid(y, x, indexing="ij")
    middle = (size - 1) / 2
    inside = (np.abs(rows - middle) <= height / 2) & (np.abs(columns - (middle + shear * (middle - rows))) <= width / 2)
    coverage = inside.reshape(size, 8, size, 8).mean(axis=(1, 3))
    return torch.from_numpy(coverage).float()[None, None] * 2 - 1


@pytest.mark.parametrize("angle", [-30.0, -10.0, 0.0, 20.0, 35.0])
def test_slant_of_a_sheared_bar_matches_its_angle(angle) -> None:
    measured = measure_images(sheared_bar(angle))
    assert math.degrees(measured["slant"][0]) == pytest.approx(angle, abs=1.0)  # right-leaning is positive


@pytest.mark.parametrize("width", [2, 3, 5])
def test_thickness_and_width_of_an_upright_bar(width) -> None:
    measured = measure_images(sheared_bar(0.0, width=width))
    assert measured["thickness"][0] == pytest.approx(width, abs=0.01)
    assert measured["width"][0] == pytest.approx(width, abs=0.01)


def test_width_is_measured_after_deslanting() -> None:
    upright = measure_images(sheared_bar(0.0, width=4))["width"][0]
    slanted = measure_images(sheared_bar(30.0, width=4))["width"][0]
    assert slanted == pytest.approx(upright, abs=1.0)  # a bounding box would give ~15 px


def test_blank_image_measures_are_nan() -> None:
    measured = measure_images(torch.full((1, 1, 28, 28), -1.0))
    assert all(math.isnan(measured[name][0]) for name in ("slant", "thickness", "width"))


# ----------------------------------------------------------------------------- Frechet distance


def test_frechet_distance_of_a_set_with_itself_is_zero() -> None:
    features = np.random.default_rng(0).normal(size=(1000, 64))
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(features[:20], features[:20]) == pytest.approx(0.0, abs=1e-6)  # singular covariance


def test_frechet_distance_by_hand() -> None:
    a = np.random.default_rng(1).normal(size=(500, 8))
    assert frechet_distance(a, a + 1.0) == pytest.approx(8.0)  # |shift|^2, same covariance
    # b = 2a + 3 in 1-D: (mean(a) + 3)^2 + var + 4 var - 2 * sqrt(var * 4 var) = (mean(a) + 3)^2 + var.
    one = a[:, :1]
    assert frechet_distance(one, 2 * one + 3) == pytest.approx((one.mean() + 3) ** 2 + one.var(ddof=1))


# ----------------------------------------------------------------------------- reference classifier


def test_classifier_round_trip_and_cache_path(tiny_classifier, fake_data, tmp_path, monkeypatch) -> None:
    _, test = fake_data
    loaded = load_classifier(tiny_classifier.path)
    assert (loaded.dataset, loaded.test_accuracy, loaded.config) == ("fake", tiny_classifier.test_accuracy, tiny_classifier.config)
    assert torch.equal(loaded.predict(test.images), tiny_classifier.predict(test.images))
    assert loaded.test_accuracy > 0.5  # ten squares on a ring: easy after 16 steps
    monkeypatch.setenv("INFOGAN_CACHE_DIR", str(tmp_path))
    assert default_classifier_path("mnist") == tmp_path / "classifiers" / "mnist.safetensors"
    assert default_classifier_path("mnist", 28, 1) == tmp_path / "classifiers" / "mnist.safetensors"  # its own shape
    assert default_classifier_path("mnist", 32, 3).name == "mnist-32px-3ch.safetensors"  # resized for training
    idx_path = default_classifier_path("idx:/some/where")
    assert idx_path.parent == tmp_path / "classifiers" and idx_path.name.startswith("idx-") and "/" not in idx_path.stem


def test_load_classifier_refuses_other_files(checkpoints, tmp_path) -> None:
    with pytest.raises(CheckpointError, match="not an infogan reference classifier"):
        load_classifier(checkpoints["one_cat"])
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(CheckpointError, match="not a safetensors classifier"):
        load_classifier(garbage)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_classifier(tmp_path / "missing.safetensors")


def test_corrupt_cached_classifier_is_retrained(fake_data, tmp_path) -> None:
    train, test = fake_data
    cached = tmp_path / "fake.safetensors"
    cached.write_bytes(b"truncated")
    classifier, trained, warnings = load_or_train_classifier(train, test, CPU, cached, max_steps=2)
    assert trained and len(warnings) == 1 and "retraining" in warnings[0]
    again, trained_again, _ = load_or_train_classifier(train, test, CPU, cached)
    assert not trained_again and again.train_steps == 2


# ----------------------------------------------------------------------------- evaluation, Python API


def test_tiny_untrained_model_evaluates_end_to_end(checkpoints, fake_data, tiny_classifier) -> None:
    train, test = fake_data
    model = InfoGAN.load(checkpoints["one_cat"])
    result = evaluate_checkpoint(model, test, train, tiny_classifier, n_samples=200, seed=0, sweep_rows=10)
    document = result.to_json()
    assert set(document) == JSON_KEYS
    assert json.loads(json.dumps(document, allow_nan=False)) == document  # strict JSON, no NaN
    assert result.q.contingency.sum() == len(test) and result.q.contingency.shape == (10, 10)
    assert 0 <= document["q_accuracy"] <= document["q_purity"] <= 1
    assert sorted(document["mapping"]) == [str(v) for v in range(10)]
    assert result.sample.contingency.sum(axis=1).tolist() == [20] * 10  # equal per value of c1
    assert 1 <= document["sample_accuracy"]["digits_covered"] <= 10
    assert document["sample_accuracy"]["accuracy"] <= document["sample_accuracy"]["best_accuracy"]
    assert document["classifier_accuracy"] == tiny_classifier.test_accuracy
    assert document["fid"] > document["fid_floor"] >= 0  # untrained noise vs real squares
    mi = document["mi_categorical"]["c1"]
    assert mi["ceiling"] == pytest.approx(math.log(10)) and mi["nats"] <= mi["ceiling"]
    continuous = document["continuous"]
    assert set(continuous["spearman"]) == {"c2", "c3"} and len(continuous["values"]) == 9
    assert continuous["values"][0] == -2.0 and continuous["values"][-1] == 2.0
    assert set(continuous["best"]) == {"slant", "thickness", "width"} and set(continuous["best_by_code"]) == {"c2", "c3"}
    for measure, best in continuous["best"].items():  # the code with the strongest correlation
        assert abs(best["spearman"]) == max(abs(continuous["spearman"][code][measure]) for code in ("c2", "c3"))
    # The same seed gives the same numbers.
    again = evaluate_checkpoint(model, test, train, tiny_classifier, n_samples=200, seed=0, sweep_rows=10)
    assert again.to_json() == document


def test_model_without_categorical_code(checkpoints, fake_data, tiny_classifier) -> None:
    train, test = fake_data
    model = InfoGAN.load(checkpoints["no_cat"])
    document = evaluate_checkpoint(model, test, train, tiny_classifier, n_samples=50, sweep_rows=5).to_json()
    for key in ("q_accuracy", "q_purity", "q_nmi", "q_ari", "mapping", "per_class", "sample_accuracy", "mi_categorical"):
        assert document[key] is None, key
    assert document["fid"] is not None and document["continuous"] is not None


def test_unlabelled_data_gives_label_free_metrics_only(checkpoints, fake_data) -> None:
    _, test = fake_data
    unlabelled = ImageDataset(test.images, None, "fake")
    model = InfoGAN.load(checkpoints["one_cat"])
    document = evaluate_checkpoint(model, unlabelled, None, None, n_samples=50, sweep_rows=5).to_json()
    for key in ("q_accuracy", "mapping", "per_class", "sample_accuracy", "classifier_accuracy", "fid", "fid_floor"):
        assert document[key] is None, key
    assert document["mi_categorical"]["c1"]["nats"] is not None and document["continuous"] is not None


# ----------------------------------------------------------------------------- the command


def test_cli_trains_caches_and_reports(capsys, checkpoints, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("INFOGAN_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "eval"
    args = ("evaluate", str(checkpoints["one_cat"]), "--json", "--n-samples", "100", "--device", "cpu")
    code, stdout, stderr = run_cli(capsys, *args, "--out", str(out))
    assert code == 0, stderr
    document = json.loads(stdout)  # exactly one JSON document and nothing else
    assert set(document) == JSON_KEYS and document["n_samples"] == 100
    assert document["checkpoint"] == str(checkpoints["one_cat"])
    assert "trained the reference classifier" in stderr and "Q accuracy" in stderr
    assert (tmp_path / "cache" / "classifiers" / "fake.safetensors").is_file()
    assert json.loads((out / "evaluation.json").read_text()) == document
    for name in ("confusion.png", "sample_confusion.png"):
        with Image.open(out / name) as image:
            assert image.width > 10 * 36 and image.height > 10 * 36  # 10 x 10 cells of 36 px

    code, stdout_again, stderr_again = run_cli(capsys, *args)
    assert code == 0 and "trained the reference classifier" not in stderr_again  # from the cache
    assert json.loads(stdout_again) == document
    code, stdout_table, _ = run_cli(capsys, *args[:2], "--n-samples", "20", "--device", "cpu")
    assert code == 0 and stdout_table == ""  # without --json, nothing on stdout


def test_cli_unlabelled_idx_dataset(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("INFOGAN_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "idx"
    folder.mkdir()
    images = load_dataset("fake", train=False).images[:64, 0].numpy()  # (64, 28, 28) uint8
    header = bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in images.shape)
    for split in ("train", "t10k"):
        (folder / f"{split}-images-idx3-ubyte").write_bytes(header + images.tobytes())
    checkpoint = make_checkpoint(tmp_path / "idx.safetensors", LatentSpec(noise_dim=8, categorical=(10,), continuous=1), f"idx:{folder}")
    code, stdout, stderr = run_cli(capsys, "evaluate", str(checkpoint), "--json", "--n-samples", "30", "--device", "cpu")
    assert code == 0, stderr
    document = json.loads(stdout)
    assert document["q_accuracy"] is None and document["fid"] is None and document["continuous"] is not None
    assert "no labels" in stderr


def test_cli_model_trained_on_resized_images(capsys, tmp_path, monkeypatch) -> None:
    # Trained with --image-size 32 on a 28 px set: evaluated on the test split resized the same
    # way, with a classifier of its own beside the 28 px one.
    monkeypatch.setenv("INFOGAN_CACHE_DIR", str(tmp_path / "cache"))
    model = ModelConfig(image_size=32, width=4, hidden=16, q_hidden=8)
    checkpoint = make_checkpoint(tmp_path / "32px.safetensors", LatentSpec(noise_dim=8, categorical=(10,), continuous=1), model=model)
    code, stdout, stderr = run_cli(capsys, "evaluate", str(checkpoint), "--json", "--n-samples", "30", "--device", "cpu")
    assert code == 0, stderr
    assert json.loads(stdout)["q_accuracy"] is not None
    assert (tmp_path / "cache" / "classifiers" / "fake-32px-1ch.safetensors").is_file()


def test_cli_image_folder_dataset(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("INFOGAN_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "pictures"
    folder.mkdir()
    Image.new("L", (28, 28), 128).save(folder / "one.png")
    checkpoint = make_checkpoint(tmp_path / "folder.safetensors", LatentSpec(noise_dim=8, categorical=(3,), continuous=1), f"folder:{folder}")
    code, stdout, stderr = run_cli(capsys, "evaluate", str(checkpoint), "--json", "--n-samples", "30", "--device", "cpu")
    assert code == 0, stderr
    document = json.loads(stdout)
    assert document["q_accuracy"] is None and document["fid"] is None and document["sample_accuracy"] is None
    assert document["mi_categorical"]["c1"]["ceiling"] == pytest.approx(math.log(3)) and document["continuous"] is not None
    assert not (tmp_path / "cache").exists()  # no classifier without labels


def assert_one_error_line(code: int, stdout: str, stderr: str, fragment: str) -> None:
    assert code == 2 and stdout == ""
    lines = stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and fragment in lines[0]
    assert len(lines) <= 2 and all(line.startswith(("error: ", "hint: ")) for line in lines)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("--n-samples", "0"), "--n-samples must be >= 1"),
        (("--seed", "-1"), "--seed"),
        (("--classifier", "MISSING"), "does not exist"),
        (("--classifier", "CHECKPOINT"), "not an infogan reference classifier"),
        (("--out", "FILE"), "is a file"),
        (("--device", "tpu"), "device"),
    ],
)
def test_cli_bad_input(capsys, checkpoints, tmp_path, args, fragment) -> None:
    (tmp_path / "file").write_text("x")
    substitutes = {"MISSING": str(tmp_path / "nope.safetensors"), "CHECKPOINT": str(checkpoints["one_cat"]), "FILE": str(tmp_path / "file")}
    args = tuple(substitutes.get(a, a) for a in args)
    code, stdout, stderr = run_cli(capsys, "evaluate", str(checkpoints["one_cat"]), "--json", *args)
    assert_one_error_line(code, stdout, stderr, fragment)


def test_cli_missing_checkpoint(capsys, tmp_path) -> None:
    code, stdout, stderr = run_cli(capsys, "evaluate", str(tmp_path / "none.safetensors"), "--json")
    assert_one_error_line(code, stdout, stderr, "does not exist")


def test_selection_subset_is_fixed_and_aligned(fake_data) -> None:
    from infogan_cli.cli.evaluate import selection_subset

    train, _ = fake_data
    a, b = selection_subset(train, size=100), selection_subset(train, size=100)
    assert a.images.shape[0] == 100 and torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    # Every chosen image keeps its own label.
    index = [int((train.images == image).flatten(1).all(1).nonzero()[0]) for image in a.images[:5]]
    assert a.labels[:5].tolist() == train.labels[index].tolist()


def test_cli_split_train_and_bad_split(capsys, checkpoints, tmp_path, monkeypatch, tiny_classifier) -> None:
    classifier_path = save_classifier(tiny_classifier, tmp_path / "fake.safetensors")
    args = ("evaluate", str(checkpoints["one_cat"]), "--json", "--n-samples", "50", "--device", "cpu", "--classifier", str(classifier_path))
    code, stdout, stderr = run_cli(capsys, *args, "--split", "train")
    assert code == 0, stderr
    assert set(json.loads(stdout)) == JSON_KEYS
    code, stdout, stderr = run_cli(capsys, *args, "--split", "validation")
    assert_one_error_line(code, stdout, stderr, "unknown split 'validation'")


def test_the_categorical_code_that_matches_the_labels_is_scored(fake_data, tiny_classifier, tmp_path, monkeypatch) -> None:
    """With several categorical codes, evaluate scores the one whose values best match the labels."""
    from infogan_cli.models import QOutput

    train, test = fake_data
    spec = LatentSpec(noise_dim=8, categorical=(4, 10), continuous=1)
    model = InfoGAN.load(make_checkpoint(tmp_path / "two.safetensors", spec))
    labels = test.labels
    permuted = (labels + 3) % 10  # c2 carries the labels (under a permutation), c1 does not

    def predict_codes(images, batch_size=1000):
        n = images.shape[0]
        c1 = torch.randn(n, 4, generator=torch.Generator().manual_seed(0))
        c2 = nn.functional.one_hot(permuted[:n], 10).float() * 10 if n == len(labels) else torch.zeros(n, 10)
        return QOutput([c1, c2], torch.zeros(n, 1), torch.zeros(n, 1))

    monkeypatch.setattr(model, "predict_codes", predict_codes)
    document = evaluate_checkpoint(model, test, train, tiny_classifier, n_samples=40, sweep_rows=2).to_json()
    assert document["label_code"] == "c2"
    assert document["q_accuracy"] == pytest.approx(1.0)
    assert document["mapping"] == {str((d + 3) % 10): d for d in range(10)}
    assert set(document["categorical_codes"]) == {"c1", "c2"}
    assert document["categorical_codes"]["c1"]["accuracy"] < 0.5
