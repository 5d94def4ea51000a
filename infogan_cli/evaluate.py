"""How well a trained InfoGAN's codes capture what they should: ``infogan evaluate``.

- Q accuracy: the Q head's argmax of c1 on every real test image, matched one-to-one to the labels
  with the Hungarian algorithm on the contingency matrix; purity, NMI and ARI alongside.
- Sample accuracy: images generated in equal numbers per value of c1 and labelled by the reference
  classifier (``classifier.py``), under the mapping from real images and under their own.
- Continuous codes: Morpho-MNIST measures (slant, stroke thickness, width) along a sweep of each
  code over [-2, 2] (noise and the other codes held fixed), and their Spearman correlation with it.
- MIG: Q's continuous means on the real test images against the measures of those same images
  (the Mutual Information Gap, as disentanglement_lib computes it); single-channel (grey) data only.
- Sample quality: the Frechet distance between real test and generated images in the reference
  classifier's penultimate features (not Inception's: not comparable with published FIDs), next to
  the real-train-vs-real-test distance (its floor).
- The categorical MI lower bound H(c) - CE in nats, next to its ceiling ln K, and the information of
  Q's categorical predictions on the real images (no labels needed: an unsupervised check).

The maths lives in ``metrics.py``; this module generates, measures and builds the JSON record
(``EvaluationResult.to_json``, schema ``SCHEMA``, documented key by key in docs/cli.md).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from .data import ImageDataset, to_unit_range
from .errors import ConfigError, DataError
from .json_output import json_safe
from .latent import LatentBatch
from .losses import categorical_information
from .metrics import (
    ClusterScores,
    MigScores,
    cluster_scores,
    contingency_matrix,
    frechet_distance,
    hungarian_mapping,
    mapped_accuracy,
    mutual_info_gap,
    spearman,
)

if TYPE_CHECKING:
    from .classifier import ReferenceClassifier
    from .config import LatentSpec
    from .infogan import InfoGAN

SCHEMA = {"name": "infogan-evaluate", "version": 1}  # of EvaluationResult.to_json()
MEASURES = ("slant", "thickness", "width")
MEASURE_UNITS = {"slant": "rad", "thickness": "px", "width": "px"}
SWEEP_RANGE = (-2.0, 2.0)
SELECTION_SIZE = 10_000  # training images scored by --split train

# (stage, done, total): how evaluation reports progress; the caller shows it.
ProgressCallback = Callable[[str, int, int], None]


# ----------------------------------------------------------------------------- reading a record

RECORD_HINT = "pass the JSON written by infogan evaluate --json (or evaluation.json from --out DIR) for this checkpoint"


def read_q_mapping(record: Any, source: str) -> tuple[str, Any]:
    """The label code and its Q mapping in an ``infogan evaluate --json`` record of ``SCHEMA``:
    ``q.code`` and ``q.mapping`` (value -> label, values as strings, a label null where none was
    matched), as stored, for the caller to check against its model. Only the label code has one
    here: the other categorical codes are scored against the labels too, but they need not draw
    them. A ConfigError naming ``source`` where the record is of another schema (name or version)
    or has no mapping."""
    if not isinstance(record, dict):
        raise ConfigError(f"{source} is not an infogan evaluate record (not a JSON object)", hint=RECORD_HINT)
    schema = record.get("schema")
    name = schema.get("name") if isinstance(schema, dict) else None
    if name != SCHEMA["name"]:
        what = f"a record of schema {name!r}" if isinstance(name, str) else "a JSON object without an infogan evaluate schema"
        raise ConfigError(f"{source} is {what}, not an infogan evaluate record", hint=RECORD_HINT)
    if schema != SCHEMA:
        raise ConfigError(
            f"{source} is an infogan evaluate record of schema version {schema.get('version')!r}; "
            f"this infogan reads version {SCHEMA['version']}",
            hint="write it again with this infogan's evaluate --json",
        )
    q = record.get("q")
    if q is None:
        raise ConfigError(
            f"{source} has no code-to-label mapping (q is null: the model has no categorical code, or the data no labels)",
            hint=RECORD_HINT,
        )
    if not isinstance(q, dict) or not isinstance(q.get("code"), str) or "mapping" not in q:
        raise ConfigError(f"{source}: q is not an object with a code and a mapping", hint=RECORD_HINT)
    return q["code"], q["mapping"]


# ----------------------------------------------------------------------------- morphometry


def measure_images(images: torch.Tensor, threshold: float = 0.5, scale: int = 2) -> dict[str, np.ndarray]:
    """Morpho-MNIST-style measures of each image ((N, C, H, W) in [-1, 1], bright ink on dark).

    As in Morpho-MNIST (Castro et al. 2019), each image is upsampled (bilinear, ``scale``) and
    binarised at ``threshold`` between its own min and max. Then, with x the column and y the row
    (pointing down) and mu the central moments of the ink:
      slant      atan(-mu11 / mu02), radians; positive when the digit leans right (its top lies
                 right of its bottom), 0 for upright, negative leaning left.
      thickness  twice the mean distance to the background along the ridge of the distance map
                 (Morpho-MNIST uses the medial axis; we take local maxima of the distance map, as
                 scikit-image is not a dependency), in pixels of the original image.
      width      the horizontal extent of the ink after de-slanting (x - shear * (y - y_mean)),
                 between its 1% and 99% quantiles, plus one pixel, in original pixels.
    An image with no ink gets NaN for each measure.
    """
    from scipy.ndimage import distance_transform_edt, maximum_filter

    grey = images.detach().float().cpu().mean(dim=1, keepdim=True).add(1).div(2)  # (N, 1, H, W) in [0, 1]
    if scale > 1:
        grey = F.interpolate(grey, scale_factor=scale, mode="bilinear", align_corners=False)
    grey = grey[:, 0].numpy()  # (N, H', W')
    low = grey.min(axis=(1, 2), keepdims=True)
    high = grey.max(axis=(1, 2), keepdims=True)
    ink = (grey >= low + (high - low) * threshold) & (high > low)  # (N, H', W') bool
    n, height, width = ink.shape
    weights = ink.astype(np.float64)
    x = np.arange(width, dtype=np.float64)[None, None, :]
    y = np.arange(height, dtype=np.float64)[None, :, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        mass = weights.sum(axis=(1, 2))
        mean_x = (weights * x).sum(axis=(1, 2)) / mass
        mean_y = (weights * y).sum(axis=(1, 2)) / mass
        mu11 = (weights * x * y).sum(axis=(1, 2)) / mass - mean_x * mean_y
        mu02 = (weights * y * y).sum(axis=(1, 2)) / mass - mean_y**2
        shear = mu11 / mu02  # (N,)
        slant = np.arctan(-shear)

    # Width: weighted 1% and 99% quantiles of the de-slanted column of each ink pixel.
    shear0 = np.nan_to_num(shear)
    deslanted = (x - shear0[:, None, None] * (y - np.nan_to_num(mean_y)[:, None, None])).reshape(n, -1)
    order = np.argsort(deslanted, axis=1)
    sorted_x = np.take_along_axis(deslanted, order, axis=1)
    cdf = np.cumsum(np.take_along_axis(weights.reshape(n, -1), order, axis=1), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cdf /= mass[:, None]
    last = sorted_x.shape[1] - 1
    left = np.take_along_axis(sorted_x, np.minimum((cdf < 0.01).sum(axis=1), last)[:, None], axis=1)[:, 0]
    right = np.take_along_axis(sorted_x, np.minimum((cdf < 0.99).sum(axis=1), last)[:, None], axis=1)[:, 0]
    extent = (right - left + 1) / scale

    thickness = np.full(n, np.nan)
    for i in range(n):
        if not ink[i].any():
            continue
        distance = distance_transform_edt(np.pad(ink[i], 1))[1:-1, 1:-1]  # pad: background all round
        ridge = ink[i] & (distance >= maximum_filter(distance, size=3))
        thickness[i] = 2 * distance[ridge].mean() / scale
    empty = mass == 0
    extent[empty] = np.nan
    return {"slant": slant, "thickness": thickness, "width": extent}


def measure_in_chunks(images: torch.Tensor, chunk: int = 1000) -> dict[str, np.ndarray]:
    """``measure_images`` a chunk at a time: its float64 work arrays for 10,000 images at once
    would take about a gigabyte."""
    parts = [measure_images(images[start : start + chunk]) for start in range(0, len(images), chunk)]
    if not parts:
        return {name: np.zeros(0) for name in MEASURES}
    return {name: np.concatenate([part[name] for part in parts]) for name in MEASURES}


# ----------------------------------------------------------------------------- the evaluation


@dataclass
class SampleScores:
    """Generated images per value of the label code (rows), labelled by the reference classifier."""

    accuracy: float | None  # classifier label == the Q mapping's label for the code (None: no Q mapping)
    best_accuracy: float  # under the samples' own Hungarian mapping
    best_mapping: dict[int, int]
    purity_per_value: dict[int, float | None]  # share of the majority label among a value's images
    majority_per_value: dict[int, int | None]
    digits_covered: int  # distinct majority labels over the values of the code
    contingency: np.ndarray  # (K, classes)


@dataclass
class ContinuousScores:
    """Spearman correlation of each continuous code with each measure along its sweep."""

    values: list[float]  # the swept code values
    rows: int  # latent samples swept per code
    seed: int  # of the swept latent samples
    spearman: dict[str, dict[str, float | None]]  # code -> measure -> rho
    means: dict[str, dict[str, list[float | None]]]  # code -> measure -> mean per swept value
    best: dict[str, tuple[str, float] | None]  # measure -> (code, rho) with the largest |rho|
    best_by_code: dict[str, tuple[str, float] | None]  # code -> (measure, rho) with the largest |rho|


@dataclass
class EvaluationResult:
    checkpoint: str
    dataset: str
    step: int
    n_samples: int
    n_test: int  # real images scored (of ``split``)
    q: ClusterScores | None  # None: no categorical code or no labels
    sample: SampleScores | None  # None: no categorical code or no classifier
    classifier_accuracy: float | None
    continuous: ContinuousScores | None  # None: no continuous code
    fid: float | None  # Frechet distance in the reference classifier's features (not Inception's)
    fid_floor: float | None
    mi_categorical: dict[str, float]  # code -> H(c) - CE, nats
    mi_ceiling: dict[str, float]  # code -> ln K
    label_code: str | None = None  # the categorical code scored against the labels (best NMI)
    code_scores: dict[str, ClusterScores] = field(default_factory=dict)  # every categorical code
    mig: MigScores | None = None  # None: see mig_skipped
    mig_skipped: str | None = None  # why MIG was not scored (None: it was)
    split: str = "test"
    seed: int = 0
    categorical_values: dict[str, int] = field(default_factory=dict)  # code -> K
    # code -> I(x; c) of Q's predictions on the scored real images, nats; needs no labels. In our
    # MNIST screens it ranked runs as their Q accuracy did (docs/study.md): a label-free check.
    real_information: dict[str, float] = field(default_factory=dict)
    weights: str = "raw"  # the weights scored: "ema" (the checkpoint's moving average) or "raw"

    def to_json(self) -> dict[str, Any]:
        """The record ``infogan evaluate --json`` prints: headline numbers at the top level,
        details in objects (null where the model, data or classifier does not allow them)."""
        q, sample = self.q, self.sample
        best = self.continuous.best if self.continuous else {}
        gaps = dict(zip(self.mig.factors, self.mig.gap)) if self.mig else {}
        return json_safe({
            "schema": dict(SCHEMA),
            "checkpoint": self.checkpoint,
            "step": self.step,
            "weights": self.weights,
            "dataset": self.dataset,
            "split": self.split,
            "seed": self.seed,
            "n_real": self.n_test,
            "n_samples": self.n_samples,
            "label_code": self.label_code,
            "q_accuracy": q.accuracy if q else None,
            "q_purity": q.purity if q else None,
            "q_nmi": q.nmi if q else None,
            "q_ari": q.ari if q else None,
            "sample_accuracy": sample.accuracy if sample else None,
            "digits_covered": sample.digits_covered if sample else None,
            "classifier_accuracy": self.classifier_accuracy,
            "classifier_frechet_distance": self.fid,
            "classifier_frechet_distance_floor": self.fid_floor,
            **{f"abs_rho_{m}": None if best.get(m) is None else abs(best[m][1]) for m in MEASURES},
            "q_real_information": self.real_information.get(self.label_code) if self.label_code else None,
            "mig": self.mig.mean if self.mig else None,
            **{f"mig_{m}": gaps.get(m) for m in MEASURES},
            "q": None if q is None else {
                "code": self.label_code,
                "mapping": _keyed(q.mapping),
                "per_class": _keyed(q.per_class),
                "contingency": q.contingency.tolist(),
            },
            "categorical_codes": {
                name: {"values": self.categorical_values.get(name, c.contingency.shape[0]), "accuracy": c.accuracy,
                       "purity": c.purity, "nmi": c.nmi, "ari": c.ari, "mapping": _keyed(c.mapping)}
                for name, c in self.code_scores.items()
            } or None,
            "samples": None if sample is None else {
                "code": self.label_code,
                "accuracy": sample.accuracy,
                "best_accuracy": sample.best_accuracy,
                "best_mapping": _keyed(sample.best_mapping),
                "purity_per_value": _keyed(sample.purity_per_value),
                "majority_per_value": _keyed(sample.majority_per_value),
                "digits_covered": sample.digits_covered,
                "contingency": sample.contingency.tolist(),
            },
            "continuous_codes": None if self.continuous is None else _continuous_json(self.continuous),
            "mutual_info_gap": None if self.mig is None else _mig_json(self.mig),
            "mi_categorical": {
                name: {"nats": value, "ceiling_nats": self.mi_ceiling[name], "real_nats": self.real_information.get(name)}
                for name, value in self.mi_categorical.items()
            } or None,
        })


def _continuous_json(continuous: ContinuousScores) -> dict[str, Any]:
    """Codes x measures, signed and absolute, and for each measure the code that turns it most
    with that code's |rho| for every measure (its cross-talk)."""
    magnitude = {code: {m: None if rho is None else abs(rho) for m, rho in row.items()} for code, row in continuous.spearman.items()}
    return {
        "sweep": {"values": continuous.values, "rows": continuous.rows, "seed": continuous.seed},
        "units": MEASURE_UNITS,
        "spearman": continuous.spearman,
        "abs_spearman": magnitude,
        "means": continuous.means,
        "best_by_measure": {
            measure: None if best is None else {
                "code": best[0], "spearman": best[1], "abs_spearman": abs(best[1]), "code_abs_spearman": magnitude[best[0]],
            }
            for measure, best in continuous.best.items()
        },
        "best_by_code": {
            code: None if best is None else {"measure": best[0], "spearman": best[1]}
            for code, best in continuous.best_by_code.items()
        },
    }


def _mig_json(mig: MigScores) -> dict[str, Any]:
    return {
        "encoder": "Q's continuous means on the scored real images",
        "n": mig.n,
        "bins": mig.bins,
        "codes": mig.codes,
        "factors": {
            factor: {
                "mig": mig.gap[j],
                "code": mig.best[j],
                "runner_up": mig.runner_up[j],
                "entropy_nats": float(mig.entropy[j]),
                "mutual_info_nats": {code: float(mig.mutual_info[i, j]) for i, code in enumerate(mig.codes)},
            }
            for j, factor in enumerate(mig.factors)
        },
    }


def _keyed(mapping: dict[int, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in mapping.items()}


def selection_subset(data: ImageDataset, size: int = SELECTION_SIZE) -> ImageDataset:
    """The real images ``--split train`` scores: a fixed random subset of the training split, the
    same for every checkpoint. Labels never reach training, so scoring on training images is fair
    for choosing settings without touching the test set."""
    index = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:size]
    labels = None if data.labels is None else data.labels[index]
    return ImageDataset(data.images[index], labels, data.name)


def label_count(*datasets: ImageDataset | None) -> int:
    """Classes the labels of ``datasets`` span: the highest label + 1 (0 without labels)."""
    highest = [int(d.labels.max()) for d in datasets if d is not None and d.labels is not None and len(d.labels)]
    return max(highest) + 1 if highest else 0


def score_categorical_codes(
    spec: LatentSpec, categorical_logits: list[torch.Tensor], labels: np.ndarray, n_classes: int
) -> tuple[str, dict[str, ClusterScores]]:
    """Each categorical code's argmax on real images against their labels, and the *label code*:
    the code whose values match the labels best (highest NMI; the first on a tie)."""
    scores = {
        name: cluster_scores(logits.argmax(dim=1).numpy(), labels, k, n_classes)
        for name, logits, k in zip(spec.categorical_names, categorical_logits, spec.categorical)
    }
    return max(scores, key=lambda name: scores[name].nmi), scores


STAGES = (
    "Q head on real images", "generating samples", "classifying", "continuous codes", "MIG on real images", "Frechet distance",
)


def evaluate_checkpoint(
    model: InfoGAN,
    test_data: ImageDataset,
    train_data: ImageDataset | None,
    classifier: ReferenceClassifier | None,
    n_samples: int = 10_000,
    seed: int = 0,
    on_progress: ProgressCallback | None = None,
    sweep_rows: int = 100,
    sweep_steps: int = 9,
    split: str = "test",
) -> EvaluationResult:
    """Run every metric that the model, the data and the classifier allow.

    ``test_data`` holds the real images scored (the test split, or with ``split="train"`` a subset
    of the training split); ``train_data`` the other split, for the Frechet floor. Q metrics need a
    categorical code and labels; sample accuracy needs a categorical code and a classifier; MIG
    needs continuous codes and real single-channel images (``mig_unavailable``); the Frechet
    distances need a classifier (the floor also ``train_data``). Generated samples use ``seed``,
    the continuous sweeps ``seed + 1``, the floor's subset of ``train_data`` ``seed + 2``; the
    floor uses as many images as samples.
    """
    spec = model.latent_spec
    if (test_data.image_size, test_data.channels) != (model.config.model.image_size, model.config.model.channels):
        raise DataError(
            f"{test_data.name} has {test_data.image_size}px images with {test_data.channels} channel(s); "
            f"the model makes {model.config.model.image_size}px with {model.config.model.channels}",
            hint="evaluate on the dataset the model was trained on",
        )
    progress = on_progress or (lambda stage, done, total: None)
    n_classes = max(classifier.config.classes if classifier else 0, label_count(test_data, train_data))

    progress(STAGES[0], 0, len(STAGES))
    real_codes = model.predict_codes(to_unit_range(test_data.images)) if len(test_data) else None
    q_scores = None
    code_scores: dict[str, ClusterScores] = {}
    real_information: dict[str, float] = {}
    if real_codes is not None and len(test_data) >= 2:
        real_information = {
            # >= 0 in exact arithmetic; rounding can leave -1e-7 for a model that predicts nothing
            name: max(0.0, float(categorical_information(logits)))
            for name, logits in zip(spec.categorical_names, real_codes.categorical_logits)
        }
    label_code = 0  # index of the categorical code compared with the labels (c1 where none can be)
    if spec.categorical and test_data.labels is not None and real_codes is not None:
        labels = test_data.labels.cpu().numpy()
        name, code_scores = score_categorical_codes(spec, real_codes.categorical_logits, labels, n_classes)
        label_code = spec.categorical_names.index(name)
        q_scores = code_scores[name]

    progress(STAGES[1], 1, len(STAGES))
    latent = model.sample_latent(n_samples, seed)
    if spec.categorical:
        k = spec.categorical[label_code]
        latent.categorical[label_code] = torch.arange(n_samples) % k  # equal per value
    samples = model.generate_from(latent)  # (n_samples, C, H, W) in [-1, 1]
    mi, ceiling = _categorical_mi(model, samples, latent.categorical)

    progress(STAGES[2], 2, len(STAGES))
    sample_scores = sample_features = None
    if classifier is not None:
        sample_features, sample_labels = classifier.embed(samples)
        if spec.categorical:
            sample_scores = _sample_scores(
                latent.categorical[label_code].numpy(), sample_labels.numpy(), spec.categorical[label_code], n_classes, q_scores
            )

    progress(STAGES[3], 3, len(STAGES))
    continuous = continuous_scores(model, seed + 1, sweep_rows, sweep_steps) if spec.continuous else None

    progress(STAGES[4], 4, len(STAGES))
    mig = None
    mig_skipped = mig_unavailable(spec, test_data)
    if mig_skipped is None and real_codes is not None:
        measured = measure_in_chunks(to_unit_range(test_data.images))
        factors = np.stack([measured[m] for m in MEASURES], axis=1)  # (N, 3)
        mig = mutual_info_gap(real_codes.continuous_mean.float().numpy(), factors, list(spec.continuous_names), list(MEASURES))

    progress(STAGES[5], 5, len(STAGES))
    fid = fid_floor = None
    if classifier is not None and len(test_data) >= 2 and n_samples >= 2:
        test_features = classifier.embed(test_data.images)[0]
        fid = frechet_distance(test_features, sample_features)
        if train_data is not None and len(train_data) >= 2:
            subset = torch.randperm(len(train_data), generator=torch.Generator().manual_seed(seed + 2))[:n_samples]
            fid_floor = frechet_distance(test_features, classifier.embed(train_data.images[subset])[0])
    progress("done", len(STAGES), len(STAGES))

    return EvaluationResult(
        checkpoint=str(model.path) if model.path else "",
        dataset=model.config.dataset,
        step=model.step,
        n_samples=n_samples,
        n_test=len(test_data),
        q=q_scores,
        sample=sample_scores,
        classifier_accuracy=classifier.test_accuracy if classifier else None,
        continuous=continuous,
        fid=fid,
        fid_floor=fid_floor,
        mi_categorical=mi,
        mi_ceiling=ceiling,
        label_code=spec.categorical_names[label_code] if spec.categorical else None,
        code_scores=code_scores,
        mig=mig,
        mig_skipped=mig_skipped,
        split=split,
        seed=seed,
        categorical_values=dict(zip(spec.categorical_names, spec.categorical)),
        real_information=real_information,
        weights=model.weights,
    )


def mig_unavailable(spec: LatentSpec, data: ImageDataset) -> str | None:
    """Why MIG cannot be scored on ``data`` (None: it can). Slant, thickness and width are
    measures of a grey digit's strokes: on colour images (cifar10, svhn) they mean nothing, so
    they are neither measured nor scored there."""
    if not spec.continuous:
        return "the model has no continuous code"
    if not len(data):
        return f"{data.name} has no real images to score"
    if data.channels != 1:
        return f"slant, thickness and width measure grey digit images; {data.name} has {data.channels} channels"
    return None


def _categorical_mi(model: InfoGAN, samples: torch.Tensor, codes: list[torch.Tensor]) -> tuple[dict[str, float], dict[str, float]]:
    """H(c) - CE(Q(c | G(z, c)), c) per categorical code, in nats, and its ceiling ln K."""
    spec = model.latent_spec
    if not spec.categorical:
        return {}, {}
    logits = model.predict_codes(samples).categorical_logits
    mi, ceiling = {}, {}
    for name, k, code_logits, code in zip(spec.categorical_names, spec.categorical, logits, codes):
        ceiling[name] = math.log(k)
        mi[name] = ceiling[name] - float(F.cross_entropy(code_logits.float(), code))
    return mi, ceiling


def _sample_scores(
    codes: np.ndarray, labels: np.ndarray, n_codes: int, n_classes: int, q_scores: ClusterScores | None
) -> SampleScores:
    contingency = contingency_matrix(codes, labels, n_codes, n_classes)
    best_mapping = hungarian_mapping(contingency)
    counts = contingency.sum(axis=1)
    majority = {v: int(contingency[v].argmax()) if counts[v] else None for v in range(n_codes)}
    return SampleScores(
        accuracy=mapped_accuracy(contingency, q_scores.mapping) if q_scores else None,
        best_accuracy=mapped_accuracy(contingency, best_mapping),
        best_mapping=best_mapping,
        purity_per_value={v: float(contingency[v].max() / counts[v]) if counts[v] else None for v in range(n_codes)},
        majority_per_value=majority,
        digits_covered=len({m for m in majority.values() if m is not None}),
        contingency=contingency,
    )


def continuous_scores(
    model: InfoGAN, seed: int, rows: int, steps: int, directions: dict[str, torch.Tensor] | None = None
) -> ContinuousScores:
    """Sweep each continuous code over SWEEP_RANGE on ``rows`` latent samples (other continuous
    codes at 0, c1 cycling through its values) and correlate it with each measure.

    The measures are centred per latent sample before ranking, so the correlation reflects what
    the code changes rather than how digits differ from one another (a 1 is narrower than a 0).
    ``directions`` sweeps named directions of the continuous codes' space instead, each a vector of
    one entry per continuous code (a code's own axis is what evaluate sweeps).
    """
    spec = model.latent_spec
    values = np.linspace(*SWEEP_RANGE, steps)
    base = model.sample_latent(rows, seed)
    if spec.categorical:
        base.categorical[0] = torch.arange(rows) % spec.categorical[0]
    repeat = lambda t: t.repeat(steps, *([1] * (t.dim() - 1)))  # noqa: E731 - (steps * rows, ...), value-major
    # The same noise, categorical codes and swept values for every direction (generate_from copies them).
    noise, categorical = repeat(base.noise), [repeat(c) for c in base.categorical]
    code_values = torch.from_numpy(values).float().repeat_interleave(rows)  # (steps * rows,)
    correlations: dict[str, dict[str, float | None]] = {}
    means: dict[str, dict[str, list[float | None]]] = {}
    if directions is None:
        directions = dict(zip(spec.continuous_names, torch.eye(spec.continuous)))
    for name, direction in directions.items():
        continuous = code_values[:, None] * direction.float()[None, :]  # the other directions stay at 0
        latent = LatentBatch(noise, categorical, continuous)
        measured = measure_images(model.generate_from(latent))
        correlations[name], means[name] = {}, {}
        for measure in MEASURES:
            table = measured[measure].reshape(steps, rows)  # (value, latent sample)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # NaN columns: blank images
                centred = table - np.nanmean(table, axis=0, keepdims=True)
                per_value = np.nanmean(table, axis=1)
            correlations[name][measure] = spearman(np.repeat(values, rows), centred.reshape(-1))
            means[name][measure] = [float(v) if math.isfinite(v) else None for v in per_value]
    strongest = lambda pairs: max(pairs, key=lambda pair: abs(pair[1])) if pairs else None  # noqa: E731
    best = {
        measure: strongest([(name, rho[measure]) for name, rho in correlations.items() if rho[measure] is not None])
        for measure in MEASURES
    }
    best_by_code = {
        name: strongest([(measure, value) for measure, value in rho.items() if value is not None])
        for name, rho in correlations.items()
    }
    return ContinuousScores([float(v) for v in values], rows, seed, correlations, means, best, best_by_code)
