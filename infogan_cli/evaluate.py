"""How well a trained InfoGAN's codes capture what they should: ``infogan evaluate``.

- Q accuracy: the Q head's argmax of c1 on every real test image, matched one-to-one to the labels
  with the Hungarian algorithm on the contingency matrix; purity, NMI and ARI alongside.
- Sample accuracy: images generated in equal numbers per value of c1 and labelled by the reference
  classifier (``classifier.py``), under the mapping from real images and under their own.
- Continuous codes: Morpho-MNIST measures (slant, stroke thickness, width) along a sweep of each
  code over [-2, 2], and their Spearman correlation with the code.
- Sample quality: the Frechet distance between real test and generated images in the reference
  classifier's penultimate features, next to the real-train-vs-real-test distance (its floor).
- The categorical MI lower bound H(c) - CE in nats, next to its ceiling ln K.

The metric functions are pure functions of numpy arrays; ``evaluate_checkpoint`` runs them all.
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
from .errors import DataError
from .latent import LatentBatch

if TYPE_CHECKING:
    from .classifier import ReferenceClassifier
    from .infogan import InfoGAN

MEASURES = ("slant", "thickness", "width")
MEASURE_UNITS = {"slant": "rad", "thickness": "px", "width": "px"}
SWEEP_RANGE = (-2.0, 2.0)

# (stage, done, total): how evaluation reports progress; the caller shows it.
ProgressCallback = Callable[[str, int, int], None]


# ----------------------------------------------------------------------------- clustering metrics


def contingency_matrix(rows: np.ndarray, columns: np.ndarray, n_rows: int, n_columns: int) -> np.ndarray:
    """(n_rows, n_columns) counts of each (row value, column value) pair, e.g. code x label."""
    rows = np.asarray(rows, dtype=np.int64)
    columns = np.asarray(columns, dtype=np.int64)
    flat = np.bincount(rows * n_columns + columns, minlength=n_rows * n_columns)
    return flat.reshape(n_rows, n_columns)


def hungarian_mapping(contingency: np.ndarray) -> dict[int, int]:
    """The one-to-one row -> column mapping that maximises the matched count. With more rows
    than columns, the surplus rows stay unmapped."""
    from scipy.optimize import linear_sum_assignment

    rows, columns = linear_sum_assignment(contingency, maximize=True)
    return {int(r): int(c) for r, c in zip(rows, columns)}


def mapped_accuracy(contingency: np.ndarray, mapping: dict[int, int]) -> float:
    total = contingency.sum()
    return float(sum(contingency[r, c] for r, c in mapping.items()) / total) if total else 0.0


def purity(contingency: np.ndarray) -> float:
    """Fraction of items whose column is their row's majority column (many-to-one)."""
    total = contingency.sum()
    return float(contingency.max(axis=1).sum() / total) if total else 0.0


def per_class_accuracy(contingency: np.ndarray, mapping: dict[int, int]) -> dict[int, float | None]:
    """For each column (label): the fraction of its items whose row maps to it (None if empty)."""
    mapped_to = {c: r for r, c in mapping.items()}
    result: dict[int, float | None] = {}
    for column in range(contingency.shape[1]):
        total = contingency[:, column].sum()
        hits = contingency[mapped_to[column], column] if column in mapped_to else 0
        result[column] = float(hits / total) if total else None
    return result


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def normalized_mutual_info(contingency: np.ndarray) -> float:
    """NMI with the arithmetic mean of the two entropies as normaliser (scikit-learn's default)."""
    c = contingency[contingency.sum(axis=1) > 0][:, contingency.sum(axis=0) > 0].astype(np.float64)
    if c.shape[0] <= 1 and c.shape[1] <= 1:
        return 1.0  # both partitions are one block: identical
    joint = c / c.sum()
    outer = np.outer(joint.sum(axis=1), joint.sum(axis=0))
    nonzero = joint > 0
    mutual_info = float((joint[nonzero] * np.log(joint[nonzero] / outer[nonzero])).sum())
    normaliser = (_entropy(c.sum(axis=1)) + _entropy(c.sum(axis=0))) / 2
    return max(mutual_info, 0.0) / normaliser if normaliser > 0 else 1.0


def adjusted_rand_index(contingency: np.ndarray) -> float:
    """ARI (Hubert and Arabie): the Rand index corrected for chance; 1 = identical, ~0 = random."""
    from scipy.special import comb

    c = contingency.astype(np.int64)
    pairs_cells = comb(c, 2).sum()
    pairs_rows = comb(c.sum(axis=1), 2).sum()
    pairs_columns = comb(c.sum(axis=0), 2).sum()
    pairs_total = comb(int(c.sum()), 2)
    if pairs_total == 0:
        return 1.0
    expected = pairs_rows * pairs_columns / pairs_total
    maximum = (pairs_rows + pairs_columns) / 2
    if maximum == expected:
        return 1.0  # both partitions all singletons or one block: the index is undefined, they agree
    return float((pairs_cells - expected) / (maximum - expected))


@dataclass
class ClusterScores:
    """How well the values of a code (rows) match labels (columns)."""

    accuracy: float  # under the Hungarian one-to-one mapping
    purity: float
    nmi: float
    ari: float
    mapping: dict[int, int]  # code value -> label
    per_class: dict[int, float | None]  # label -> fraction of its items mapped to it
    contingency: np.ndarray  # (K, n_labels) counts


def cluster_scores(codes: np.ndarray, labels: np.ndarray, n_codes: int, n_labels: int) -> ClusterScores:
    contingency = contingency_matrix(codes, labels, n_codes, n_labels)
    mapping = hungarian_mapping(contingency)
    return ClusterScores(
        accuracy=mapped_accuracy(contingency, mapping),
        purity=purity(contingency),
        nmi=normalized_mutual_info(contingency),
        ari=adjusted_rand_index(contingency),
        mapping=mapping,
        per_class=per_class_accuracy(contingency, mapping),
        contingency=contingency,
    )


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


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman's rank correlation over the finite pairs; None if it is undefined."""
    from scipy.stats import spearmanr

    finite = np.isfinite(x) & np.isfinite(y)
    x, y = x[finite], y[finite]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    rho = float(spearmanr(x, y)[0])
    return rho if math.isfinite(rho) else None


# ----------------------------------------------------------------------------- Frechet distance


def frechet_distance(features_a: np.ndarray | torch.Tensor, features_b: np.ndarray | torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N, D):
    |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)).

    Tr((S_a S_b)^(1/2)) is the sum of the square roots of the eigenvalues of the symmetric
    S_a^(1/2) S_b S_a^(1/2), which has the spectrum of S_a S_b; unlike ``scipy.linalg.sqrtm`` this
    stays real and stable for singular covariances (fewer samples than dimensions). In float64
    with torch.linalg: scipy's OpenBLAS threads contend with torch's after a forward pass (0.75 s
    per 128x128 eigendecomposition on 2 cores, against 1 ms here).
    """
    a = torch.as_tensor(features_a).detach().cpu().double()
    b = torch.as_tensor(features_b).detach().cpu().double()
    mean_diff = a.mean(dim=0) - b.mean(dim=0)
    cov_a, cov_b = _covariance(a), _covariance(b)
    values, vectors = torch.linalg.eigh(cov_a)
    sqrt_a = (vectors * values.clamp(min=0).sqrt()) @ vectors.T
    middle = sqrt_a @ cov_b @ sqrt_a
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    distance = mean_diff @ mean_diff + cov_a.trace() + cov_b.trace() - 2 * trace_sqrt
    return max(float(distance), 0.0)


def _covariance(x: torch.Tensor) -> torch.Tensor:
    centred = x - x.mean(dim=0)
    return centred.T @ centred / max(x.shape[0] - 1, 1)  # (D, D)


# ----------------------------------------------------------------------------- the evaluation


@dataclass
class SampleScores:
    """Generated images per value of c1 (rows), labelled by the reference classifier."""

    accuracy: float | None  # classifier label == the Q mapping's label for c1 (None: no Q mapping)
    best_accuracy: float  # under the samples' own Hungarian mapping
    best_mapping: dict[int, int]
    purity_per_value: dict[int, float | None]  # share of the majority label among a value's images
    majority_per_value: dict[int, int | None]
    digits_covered: int  # distinct majority labels over the values of c1
    contingency: np.ndarray  # (K, classes)


@dataclass
class ContinuousScores:
    """Spearman correlation of each continuous code with each measure along its sweep."""

    values: list[float]  # the swept code values
    rows: int  # latent samples swept per code
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
    n_test: int
    q: ClusterScores | None  # None: no categorical code or no labels
    sample: SampleScores | None  # None: no categorical code or no classifier
    classifier_accuracy: float | None
    continuous: ContinuousScores | None  # None: no continuous code
    fid: float | None
    fid_floor: float | None
    mi_categorical: dict[str, float]  # code -> H(c) - CE, nats
    mi_ceiling: dict[str, float]  # code -> ln K
    label_code: str | None = None  # the categorical code scored against the labels (best NMI)
    code_scores: dict[str, ClusterScores] = field(default_factory=dict)  # every categorical code

    def to_json(self) -> dict[str, Any]:
        q, sample, continuous = self.q, self.sample, self.continuous
        return {
            "checkpoint": self.checkpoint,
            "n_samples": self.n_samples,
            "label_code": self.label_code,
            "categorical_codes": {
                name: {"accuracy": _clean(c.accuracy), "nmi": _clean(c.nmi), "purity": _clean(c.purity)}
                for name, c in self.code_scores.items()
            } or None,
            "q_accuracy": _clean(q.accuracy) if q else None,
            "q_purity": _clean(q.purity) if q else None,
            "q_nmi": _clean(q.nmi) if q else None,
            "q_ari": _clean(q.ari) if q else None,
            "mapping": _keyed(q.mapping) if q else None,
            "per_class": _keyed(q.per_class) if q else None,
            "sample_accuracy": None if sample is None else {
                "accuracy": _clean(sample.accuracy),
                "best_accuracy": _clean(sample.best_accuracy),
                "best_mapping": _keyed(sample.best_mapping),
                "purity_per_value": _keyed(sample.purity_per_value),
                "majority_per_value": _keyed(sample.majority_per_value),
                "digits_covered": sample.digits_covered,
            },
            "classifier_accuracy": _clean(self.classifier_accuracy),
            "continuous": None if continuous is None else {
                "values": continuous.values,
                "rows": continuous.rows,
                "units": MEASURE_UNITS,
                "spearman": _clean(continuous.spearman),
                "means": _clean(continuous.means),
                "best": {
                    measure: None if best is None else {"code": best[0], "spearman": _clean(best[1])}
                    for measure, best in continuous.best.items()
                },
                "best_by_code": {
                    code: None if best is None else {"measure": best[0], "spearman": _clean(best[1])}
                    for code, best in continuous.best_by_code.items()
                },
            },
            "fid": _clean(self.fid),
            "fid_floor": _clean(self.fid_floor),
            "mi_categorical": {
                name: {"nats": _clean(value), "ceiling": _clean(self.mi_ceiling[name])}
                for name, value in self.mi_categorical.items()
            } or None,
        }


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None, numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _keyed(mapping: dict[int, Any]) -> dict[str, Any]:
    return {str(k): _clean(v) for k, v in mapping.items()}


STAGES = ("Q head on test images", "generating samples", "classifying", "continuous codes", "Frechet distance")


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
) -> EvaluationResult:
    """Run every metric that the model, the data and the classifier allow.

    Q metrics need a categorical code and test labels; sample accuracy needs a categorical code
    and a classifier; the Frechet distances need a classifier (the floor also ``train_data``).
    Generated samples use ``seed``, the continuous sweeps ``seed + 1``, the floor's subset of the
    training images ``seed + 2``; the floor uses as many training images as samples.
    """
    spec = model.latent_spec
    if (test_data.image_size, test_data.channels) != (model.config.model.image_size, model.config.model.channels):
        raise DataError(
            f"{test_data.name} has {test_data.image_size}px images with {test_data.channels} channel(s); "
            f"the model makes {model.config.model.image_size}px with {model.config.model.channels}",
            hint="evaluate on the dataset the model was trained on",
        )
    progress = on_progress or (lambda stage, done, total: None)
    n_classes = max(classifier.config.classes if classifier else 0, _n_labels(test_data, train_data))

    progress(STAGES[0], 0, len(STAGES))
    q_scores = None
    code_scores: dict[str, ClusterScores] = {}
    label_code = 0  # the categorical code compared with the labels: the one that matches them best
    if spec.categorical and test_data.labels is not None and len(test_data):
        all_logits = model.predict_codes(to_unit_range(test_data.images)).categorical_logits
        labels = test_data.labels.cpu().numpy()
        for name, logits, k in zip(spec.categorical_names, all_logits, spec.categorical):
            code_scores[name] = cluster_scores(logits.argmax(dim=1).numpy(), labels, k, n_classes)
        label_code = max(range(len(spec.categorical)), key=lambda i: code_scores[spec.categorical_names[i]].nmi)
        q_scores = code_scores[spec.categorical_names[label_code]]

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
    continuous = _continuous_scores(model, seed + 1, sweep_rows, sweep_steps) if spec.continuous else None

    progress(STAGES[4], 4, len(STAGES))
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
    )


def _n_labels(*datasets: ImageDataset | None) -> int:
    highest = [int(d.labels.max()) for d in datasets if d is not None and d.labels is not None and len(d.labels)]
    return max(highest, default=0) + 1


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


def _continuous_scores(model: InfoGAN, seed: int, rows: int, steps: int) -> ContinuousScores:
    """Sweep each continuous code over SWEEP_RANGE on ``rows`` latent samples (other continuous
    codes at 0, c1 cycling through its values) and correlate it with each measure.

    The measures are centred per latent sample before ranking, so the correlation reflects what
    the code changes rather than how digits differ from one another (a 1 is narrower than a 0).
    """
    spec = model.latent_spec
    values = np.linspace(*SWEEP_RANGE, steps)
    base = model.sample_latent(rows, seed)
    base.continuous.zero_()
    if spec.categorical:
        base.categorical[0] = torch.arange(rows) % spec.categorical[0]
    repeat = lambda t: t.repeat(steps, *([1] * (t.dim() - 1)))  # noqa: E731 - (steps * rows, ...), value-major
    correlations: dict[str, dict[str, float | None]] = {}
    means: dict[str, dict[str, list[float | None]]] = {}
    for index, name in enumerate(spec.continuous_names):
        latent = LatentBatch(repeat(base.noise), [repeat(c) for c in base.categorical], repeat(base.continuous))
        code_values = torch.from_numpy(values).float().repeat_interleave(rows)  # (steps * rows,)
        latent.continuous[:, index] = code_values
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
    return ContinuousScores([float(v) for v in values], rows, correlations, means, best, best_by_code)
