"""`infogan evaluate`: morphometry, the reference classifier, the JSON record and the command end
to end on tiny untrained models and the synthetic `fake` set (the metric maths: test_metrics.py).

Expected values are computed by hand (the slant of a bar sheared by a known angle, MIG of a code
that is a measure of the image).
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

from infogan_cli.classifier import (
    default_classifier_path,
    load_classifier,
    load_or_train_classifier,
    save_classifier,
    train_classifier,
)
from infogan_cli.config import LatentSpec, ModelConfig
from infogan_cli.data import ImageDataset, load_dataset, to_unit_range
from infogan_cli.errors import CheckpointError
from infogan_cli.evaluate import MEASURES, evaluate_checkpoint, measure_images, measure_in_chunks
from infogan_cli.infogan import InfoGAN
from infogan_cli.losses import categorical_information
from tests.conftest import run_main as run_cli, untrained_checkpoint

MODEL = ModelConfig(width=4, hidden=16, q_hidden=8)
JSON_KEYS = {
    "schema", "checkpoint", "step", "weights", "dataset", "split", "seed", "n_real", "n_samples", "label_code",
    "q_accuracy", "q_purity", "q_nmi", "q_ari", "sample_accuracy", "digits_covered", "classifier_accuracy",
    "classifier_frechet_distance", "classifier_frechet_distance_floor", "abs_rho_slant", "abs_rho_thickness", "abs_rho_width",
    "q_real_information", "mig", "mig_slant", "mig_thickness", "mig_width",
    "q", "categorical_codes", "samples", "continuous_codes", "mutual_info_gap", "mi_categorical",
}
CPU = torch.device("cpu")


def make_checkpoint(path: Path, spec: LatentSpec, dataset: str = "fake", model: ModelConfig = MODEL) -> Path:
    return untrained_checkpoint(path, spec, model, dataset)


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


def test_parallel_callers_on_an_empty_cache_train_once(fake_data, tmp_path, monkeypatch) -> None:
    import threading
    import time

    from infogan_cli import classifier as classifier_module

    train, test = fake_data
    calls = []

    def slow_train(*args, **kwargs):
        calls.append(threading.current_thread().name)
        time.sleep(0.3)  # both callers are past the fast path before the file is written
        return train_classifier(*args, **kwargs)

    monkeypatch.setattr(classifier_module, "train_classifier", slow_train)
    cached = tmp_path / "cache" / "fake.safetensors"
    results = {}

    def call(name: str) -> None:
        results[name] = load_or_train_classifier(train, test, CPU, cached, max_steps=2)

    threads = [threading.Thread(target=call, args=(name,), name=name) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    (first, first_trained, first_warnings), (second, second_trained, second_warnings) = results.values()
    assert sorted([first_trained, second_trained]) == [False, True] and first_warnings == second_warnings == []
    assert first.train_steps == second.train_steps == 2
    first_state, second_state = first.network.state_dict(), second.network.state_dict()
    assert first_state.keys() == second_state.keys() and all(torch.equal(first_state[k], second_state[k]) for k in first_state)
    assert torch.equal(first.embed(test.images)[0], second.embed(test.images)[0])


# ----------------------------------------------------------------------------- strict JSON


def test_json_safe_makes_strict_json_of_numpy_and_non_finite_values() -> None:
    from infogan_cli.json_output import json_safe

    value = {
        "nan": float("nan"), "inf": np.float32("inf"), "neg": -math.inf, "f32": np.float32(0.5), "f64": np.float64(0.25),
        "i64": np.int64(7), "flag": True, "none": None, "text": "c1",
        "nested": [(1, np.float64("nan")), {"deep": [np.int32(-3), 2.5]}],
    }
    safe = json_safe(value)
    assert safe == {
        "nan": None, "inf": None, "neg": None, "f32": 0.5, "f64": 0.25, "i64": 7, "flag": True, "none": None, "text": "c1",
        "nested": [[1, None], {"deep": [-3, 2.5]}],
    }
    assert type(safe["f32"]) is float and type(safe["i64"]) is int and type(safe["nested"][1]["deep"][0]) is int
    assert json.loads(json.dumps(safe, allow_nan=False)) == safe


# ----------------------------------------------------------------------------- evaluation, Python API


def test_tiny_untrained_model_evaluates_end_to_end(checkpoints, fake_data, tiny_classifier) -> None:
    train, test = fake_data
    model = InfoGAN.load(checkpoints["one_cat"])
    result = evaluate_checkpoint(model, test, train, tiny_classifier, n_samples=200, seed=3, sweep_rows=10)
    document = result.to_json()
    assert set(document) == JSON_KEYS
    assert json.loads(json.dumps(document, allow_nan=False)) == document  # strict JSON, no NaN
    assert document["schema"] == {"name": "infogan-evaluate", "version": 1}
    assert (document["step"], document["dataset"], document["split"], document["seed"]) == (0, "fake", "test", 3)
    assert (document["n_real"], document["n_samples"]) == (len(test), 200)
    assert result.q.contingency.sum() == len(test) and result.q.contingency.shape == (10, 10)
    assert 0 <= document["q_accuracy"] <= document["q_purity"] <= 1
    assert document["q"]["code"] == document["label_code"] == "c1"
    assert sorted(document["q"]["mapping"]) == [str(v) for v in range(10)]
    assert document["q"]["contingency"] == result.q.contingency.tolist()
    assert document["categorical_codes"]["c1"]["values"] == 10
    assert document["categorical_codes"]["c1"]["ari"] == document["q_ari"]
    assert document["categorical_codes"]["c1"]["mapping"] == document["q"]["mapping"]
    samples = document["samples"]
    assert [sum(row) for row in samples["contingency"]] == [20] * 10  # equal per value of c1
    assert document["digits_covered"] == samples["digits_covered"] == len({m for m in samples["majority_per_value"].values()})
    assert 1 <= document["digits_covered"] <= 10
    assert document["sample_accuracy"] == samples["accuracy"] <= samples["best_accuracy"]
    assert document["classifier_accuracy"] == tiny_classifier.test_accuracy
    assert document["classifier_frechet_distance"] > document["classifier_frechet_distance_floor"] >= 0  # noise vs squares
    mi = document["mi_categorical"]["c1"]
    assert mi["ceiling_nats"] == pytest.approx(math.log(10)) and mi["nats"] <= mi["ceiling_nats"]
    assert document["q_real_information"] == mi["real_nats"] and 0 <= mi["real_nats"] <= mi["ceiling_nats"] + 1e-6
    expected = categorical_information(model.predict_codes(to_unit_range(test.images)).categorical_logits[0]).item()
    assert mi["real_nats"] == pytest.approx(max(0.0, expected), abs=1e-6)  # Q's answers on the scored real images
    continuous = document["continuous_codes"]
    assert continuous["sweep"] == {"values": [-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0], "rows": 10, "seed": 4}
    assert set(continuous["spearman"]) == set(continuous["abs_spearman"]) == set(continuous["best_by_code"]) == {"c2", "c3"}
    assert set(continuous["best_by_measure"]) == set(MEASURES)
    for measure, best in continuous["best_by_measure"].items():  # the code with the strongest correlation
        column = [continuous["spearman"][code][measure] for code in ("c2", "c3")]
        assert best["abs_spearman"] == abs(best["spearman"]) == max(abs(rho) for rho in column)
        assert best["spearman"] == continuous["spearman"][best["code"]][measure]
        assert best["code_abs_spearman"] == continuous["abs_spearman"][best["code"]]
        assert document[f"abs_rho_{measure}"] == best["abs_spearman"]
    gap = document["mutual_info_gap"]
    assert gap["codes"] == ["c2", "c3"] and gap["n"] == len(test) and gap["bins"] == 20 and set(gap["factors"]) == set(MEASURES)
    for measure, factor in gap["factors"].items():  # the fake set's squares all measure the same: no entropy, no gap
        assert factor["entropy_nats"] == 0 and factor["mig"] is None and document[f"mig_{measure}"] is None
        assert factor["mutual_info_nats"] == {"c2": 0.0, "c3": 0.0} and factor["code"] is factor["runner_up"] is None
    assert document["mig"] is None
    # The same seed gives the same numbers.
    again = evaluate_checkpoint(model, test, train, tiny_classifier, n_samples=200, seed=3, sweep_rows=10)
    assert again.to_json() == document


def bars_dataset(n: int = 400, seed: int = 0) -> tuple[ImageDataset, np.ndarray, np.ndarray]:
    """Bars of random slant (-30..30 degrees) and width (2..6 px) as a uint8 dataset, with both."""
    rng = np.random.default_rng(seed)
    angles, widths = rng.uniform(-30, 30, n), rng.uniform(2, 6, n)
    images = torch.cat([sheared_bar(a, width=w) for a, w in zip(angles, widths)])  # (n, 1, 28, 28) in [-1, 1]
    uint8 = ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return ImageDataset(uint8, torch.from_numpy(rng.integers(0, 10, n)), "fake"), angles, widths


def test_mig_finds_the_codes_that_turn_slant_and_width(checkpoints, monkeypatch) -> None:
    """Q's continuous means replaced by the slant and width each real bar was drawn with (c2, c3)
    and noise (c4): MIG finds c2 for slant and c3 for width, each far ahead of the runner-up."""
    from infogan_cli.models import QOutput

    bars, angles, widths = bars_dataset()
    spec = LatentSpec(noise_dim=8, categorical=(10,), continuous=3)
    model = InfoGAN.load(make_checkpoint(checkpoints["one_cat"].parent / "three.safetensors", spec))
    noise = np.random.default_rng(1).normal(size=len(angles))
    means = torch.from_numpy(np.stack([angles, widths, noise], axis=1)).float()

    def predict_codes(images, batch_size=1000):
        n = images.shape[0]
        return QOutput([torch.zeros(n, 10)], means if n == len(means) else torch.zeros(n, 3), torch.zeros(n, 3))

    monkeypatch.setattr(model, "predict_codes", predict_codes)
    document = evaluate_checkpoint(model, bars, None, None, n_samples=20, sweep_rows=2).to_json()
    factors = document["mutual_info_gap"]["factors"]
    assert (factors["slant"]["code"], factors["width"]["code"]) == ("c2", "c3")
    assert document["mig_slant"] > 0.6 and document["mig_width"] > 0.4
    for measure in ("slant", "width"):  # the runner-up (the other code or noise) knows little of it
        information = factors[measure]["mutual_info_nats"]
        assert information[factors[measure]["runner_up"]] < 0.3 * information[factors[measure]["code"]]


def test_measuring_in_chunks_is_measuring_at_once(fake_data) -> None:
    images = fake_data[1].images[:50].float() / 127.5 - 1
    whole, chunked = measure_images(images), measure_in_chunks(images, chunk=16)
    for name in MEASURES:
        assert np.array_equal(whole[name], chunked[name], equal_nan=True)


def test_model_without_categorical_code(checkpoints, fake_data, tiny_classifier) -> None:
    train, test = fake_data
    model = InfoGAN.load(checkpoints["no_cat"])
    document = evaluate_checkpoint(model, test, train, tiny_classifier, n_samples=50, sweep_rows=5).to_json()
    for key in ("q_accuracy", "q_purity", "q_nmi", "q_ari", "q", "categorical_codes", "sample_accuracy", "digits_covered",
                "samples", "mi_categorical", "label_code"):
        assert document[key] is None, key
    assert document["classifier_frechet_distance"] is not None and document["continuous_codes"] is not None
    assert document["mutual_info_gap"]["codes"] == ["c1", "c2"]  # without a categorical code, c1 is continuous


def test_unlabelled_data_gives_label_free_metrics_only(checkpoints, fake_data) -> None:
    _, test = fake_data
    unlabelled = ImageDataset(test.images, None, "fake")
    model = InfoGAN.load(checkpoints["one_cat"])
    document = evaluate_checkpoint(model, unlabelled, None, None, n_samples=50, sweep_rows=5).to_json()
    for key in ("q_accuracy", "q", "sample_accuracy", "samples", "classifier_accuracy", "classifier_frechet_distance",
                "classifier_frechet_distance_floor"):
        assert document[key] is None, key
    assert document["mi_categorical"]["c1"]["nats"] is not None and document["continuous_codes"] is not None
    assert document["mutual_info_gap"]["n"] == len(test)  # measures need no labels


def test_one_continuous_code_has_no_gap(tmp_path) -> None:
    bars, _, _ = bars_dataset(100)  # measures that vary, unlike the fake set's squares
    model = InfoGAN.load(make_checkpoint(tmp_path / "one.safetensors", LatentSpec(noise_dim=8, categorical=(10,), continuous=1)))
    document = evaluate_checkpoint(model, bars, None, None, n_samples=20, sweep_rows=2).to_json()
    assert document["mig"] is None and all(document[f"mig_{m}"] is None for m in MEASURES)
    assert all(factor["code"] == "c2" and factor["runner_up"] is None for factor in document["mutual_info_gap"]["factors"].values())


def test_mig_only_on_single_channel_images(tmp_path, monkeypatch, capsys) -> None:
    """Slant, thickness and width are measures of grey digits: on colour images the real images
    are not measured and MIG is null, with the reason in the table; the sweeps stay."""
    import infogan_cli.evaluate as evaluate_module
    from infogan_cli.cli.evaluate import show_results
    from infogan_cli.data import fake_dataset
    from infogan_cli.evaluate import mig_unavailable

    spec = LatentSpec(noise_dim=8, categorical=(10,), continuous=2)
    rgb = ModelConfig(width=4, hidden=16, q_hidden=8, channels=3)
    model = InfoGAN.load(make_checkpoint(tmp_path / "rgb.safetensors", spec, model=rgb))
    colour = fake_dataset(64, channels=3)

    def measure_in_chunks(images, chunk=1000):
        raise AssertionError("colour images measured for MIG")

    monkeypatch.setattr(evaluate_module, "measure_in_chunks", measure_in_chunks)
    result = evaluate_checkpoint(model, colour, None, None, n_samples=20, sweep_rows=2)
    document = result.to_json()
    assert document["mutual_info_gap"] is None and document["mig"] is None and all(document[f"mig_{m}"] is None for m in MEASURES)
    assert document["continuous_codes"] is not None and document["q_accuracy"] is not None
    assert result.mig_skipped == "slant, thickness and width measure grey digit images; fake has 3 channels"
    show_results(result, 1.0)
    assert "MIG: n/a (slant, thickness and width measure grey digit images; fake has 3 channels)" in capsys.readouterr().err

    grey = fake_dataset(8)
    assert mig_unavailable(spec, grey) is None
    assert mig_unavailable(LatentSpec(noise_dim=8, categorical=(10,), continuous=0), grey) == "the model has no continuous code"
    assert mig_unavailable(spec, ImageDataset(grey.images[:0], None, "folder:x")) == "folder:x has no real images to score"


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
    for text in ("digits covered", "Frechet distance", "Inception", "|rho|", "MIG", "runner-up"):  # the human tables
        assert text in stderr, text
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
    assert document["q_accuracy"] is None and document["classifier_frechet_distance"] is None and document["continuous_codes"] is not None
    assert "no labels" in stderr and "pass --classifier for the Frechet distance" in stderr


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
    assert document["q_accuracy"] is None and document["classifier_frechet_distance"] is None and document["sample_accuracy"] is None
    assert document["mi_categorical"]["c1"]["ceiling_nats"] == pytest.approx(math.log(3)) and document["continuous_codes"] is not None
    assert document["n_real"] == 0 and document["mutual_info_gap"] is None  # a folder has no test split
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


def test_the_readme_does_not_call_the_frechet_distance_an_fid() -> None:
    """evaluate's Frechet distance uses the reference classifier's features, not Inception's."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    lines = [line for line in readme.splitlines() if "FID" in line]
    assert any("infogan evaluate" in line for line in lines)  # the command table says what it is not
    for line in lines:
        assert "not an FID" in line and "not comparable with published FIDs" in line, line


def test_selection_subset_is_fixed_and_aligned(fake_data) -> None:
    from infogan_cli.evaluate import selection_subset

    train, _ = fake_data
    a, b = selection_subset(train, size=100), selection_subset(train, size=100)
    assert a.images.shape[0] == 100 and torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    # Every chosen image keeps its own label.
    index = [int((train.images == image).flatten(1).all(1).nonzero()[0]) for image in a.images[:5]]
    assert a.labels[:5].tolist() == train.labels[index].tolist()


def test_label_code_is_the_best_nmi_and_the_first_on_a_tie() -> None:
    from infogan_cli.evaluate import score_categorical_codes

    labels = np.arange(40) % 4
    exact = nn.functional.one_hot(torch.from_numpy((labels + 1) % 4), 4).float()  # the labels, permuted
    constant = torch.zeros(40, 3)  # every image gets value 0: no information
    spec = LatentSpec(noise_dim=2, categorical=(3, 4, 4), continuous=0)
    name, scores = score_categorical_codes(spec, [constant, exact, exact.clone()], labels, 4)
    assert name == "c2" and list(scores) == ["c1", "c2", "c3"]  # c2 and c3 tie: the first wins
    assert scores["c2"].accuracy == 1.0 and scores["c2"].nmi == pytest.approx(1.0) and scores["c1"].nmi == 0
    assert scores["c1"].contingency.shape == (3, 4)


def test_label_count_spans_every_dataset(fake_data) -> None:
    from infogan_cli.evaluate import label_count

    train, test = fake_data
    few = ImageDataset(test.images[:3], torch.tensor([0, 2, 1]), "fake")
    many = ImageDataset(test.images[:2], torch.tensor([7, 4]), "fake")
    assert label_count(few) == 3 and label_count(few, many) == label_count(many, None, few) == 8
    assert label_count(ImageDataset(test.images[:2], None, "fake"), None) == 0
    assert label_count(train, test) == 10


def test_cli_split_train_and_bad_split(capsys, checkpoints, tmp_path, monkeypatch, tiny_classifier) -> None:
    classifier_path = save_classifier(tiny_classifier, tmp_path / "fake.safetensors")
    args = ("evaluate", str(checkpoints["one_cat"]), "--json", "--n-samples", "50", "--device", "cpu", "--classifier", str(classifier_path))
    code, stdout, stderr = run_cli(capsys, *args, "--split", "train")
    assert code == 0, stderr
    document = json.loads(stdout)
    assert set(document) == JSON_KEYS
    assert (document["split"], document["n_real"]) == ("train", 1024)  # the fake set's 1024 training images
    assert document["mutual_info_gap"]["n"] == 1024  # MIG on the same images as Q accuracy
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
    assert document["q"]["mapping"] == {str((d + 3) % 10): d for d in range(10)}
    assert set(document["categorical_codes"]) == {"c1", "c2"}
    assert document["categorical_codes"]["c1"]["accuracy"] < 0.5
