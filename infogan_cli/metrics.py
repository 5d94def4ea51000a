"""Metric maths on arrays, with no model, data or file in sight: what ``evaluate.py`` computes with.

- Clustering: the contingency matrix of code values x labels, the Hungarian one-to-one mapping and
  its accuracy, purity, NMI and ARI (scikit-learn's definitions; tests/test_metrics.py checks them
  against scikit-learn, which is only a test dependency).
- Spearman's rank correlation over the finite pairs.
- The Mutual Information Gap (Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs"), as
  disentanglement_lib's ``mig.py`` computes it: codes and factors discretised into equal-width
  histogram bins, the discrete mutual information of every (code, factor) pair, and per factor the
  gap between its two most informative codes over the factor's entropy.
- The Frechet distance between Gaussians fitted to two feature sets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

# ----------------------------------------------------------------------------- clustering


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


def entropy(counts: np.ndarray) -> float:
    """Entropy in nats of the distribution with these counts (any shape; zeros ignored)."""
    counts = np.asarray(counts, dtype=np.float64).reshape(-1)
    total = counts.sum()
    if total <= 0:
        return 0.0
    p = counts[counts > 0] / total
    return float(-(p * np.log(p)).sum()) + 0.0  # + 0.0: one value gives 0, not -0


def mutual_info(contingency: np.ndarray) -> float:
    """Mutual information in nats between the row and the column variable of a contingency
    matrix (scikit-learn's ``mutual_info_score`` of the two labelings)."""
    joint = np.asarray(contingency, dtype=np.float64)
    total = joint.sum()
    if total <= 0:
        return 0.0
    joint = joint / total
    outer = np.outer(joint.sum(axis=1), joint.sum(axis=0))
    nonzero = joint > 0
    return max(float((joint[nonzero] * np.log(joint[nonzero] / outer[nonzero])).sum()), 0.0) + 0.0


def normalized_mutual_info(contingency: np.ndarray) -> float:
    """NMI with the arithmetic mean of the two entropies as normaliser (scikit-learn's default)."""
    c = contingency[contingency.sum(axis=1) > 0][:, contingency.sum(axis=0) > 0]
    if c.shape[0] <= 1 and c.shape[1] <= 1:
        return 1.0  # both partitions are one block (or empty): identical
    normaliser = (entropy(c.sum(axis=1)) + entropy(c.sum(axis=0))) / 2
    return mutual_info(c) / normaliser if normaliser > 0 else 1.0


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


# ----------------------------------------------------------------------------- correlation


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman's rank correlation over the finite pairs; None if it is undefined."""
    from scipy.stats import spearmanr

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = x[finite], y[finite]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    rho = float(spearmanr(x, y)[0])
    return rho if math.isfinite(rho) else None


# ----------------------------------------------------------------------------- mutual information gap

MIG_BINS = 20


def histogram_bins(values: np.ndarray, bins: int = MIG_BINS) -> np.ndarray:
    """Each value's bin, 0..bins-1, among ``bins`` equal-width bins from the minimum to the maximum
    (numpy's histogram edges; the maximum falls in the last bin). A constant column is one bin."""
    values = np.asarray(values, dtype=np.float64)
    edges = np.histogram_bin_edges(values, bins)
    return np.digitize(values, edges[:-1]) - 1


def discrete_mutual_info(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """(n_codes, n_factors) mutual information in nats between the columns of two integer arrays
    (N, n_codes) and (N, n_factors) of bin indices (or any non-negative labels)."""
    codes, factors = np.asarray(codes, dtype=np.int64), np.asarray(factors, dtype=np.int64)
    result = np.zeros((codes.shape[1], factors.shape[1]))
    for i in range(codes.shape[1]):
        for j in range(factors.shape[1]):
            contingency = contingency_matrix(codes[:, i], factors[:, j], int(codes[:, i].max()) + 1, int(factors[:, j].max()) + 1)
            result[i, j] = mutual_info(contingency)
    return result


@dataclass
class MigScores:
    """The Mutual Information Gap of each factor, and what it is made of."""

    codes: list[str]
    factors: list[str]
    n: int  # rows used: those where every code and factor is finite
    bins: int
    mutual_info: np.ndarray  # (codes, factors), nats, between the binned code and binned factor
    entropy: np.ndarray  # (factors,), nats, of the binned factor
    gap: list[float | None]  # per factor: (largest MI - second largest) / entropy; None if undefined
    best: list[str | None]  # per factor: the code with the largest MI (None: a constant factor)
    runner_up: list[str | None]  # per factor: the code with the second largest MI

    @property
    def mean(self) -> float | None:
        """disentanglement_lib's score: the mean gap over the factors (None if any is undefined)."""
        return None if not self.gap or any(g is None for g in self.gap) else float(np.mean(self.gap))


def mutual_info_gap(
    codes: np.ndarray, factors: np.ndarray, code_names: list[str], factor_names: list[str], bins: int = MIG_BINS
) -> MigScores:
    """MIG of factors (N, n_factors) in codes (N, n_codes), both continuous.

    Both are discretised into ``bins`` equal-width bins per column; then for each factor the codes
    are sorted by their mutual information with it, and its gap is (MI of the first - MI of the
    second) / H(factor). 1: one code alone carries the factor; 0: two codes carry it equally (or
    none does). A factor's gap is None with fewer than two codes, fewer than two usable rows, or a
    constant factor (entropy 0; it has no best code either).
    """
    codes = np.asarray(codes, dtype=np.float64).reshape(len(codes), -1)
    factors = np.asarray(factors, dtype=np.float64).reshape(len(factors), -1)
    finite = np.isfinite(codes).all(axis=1) & np.isfinite(factors).all(axis=1)
    codes, factors = codes[finite], factors[finite]
    n_codes, n_factors = codes.shape[1], factors.shape[1]
    if len(codes) < 2:
        empty = [None] * n_factors
        return MigScores(code_names, factor_names, len(codes), bins, np.zeros((n_codes, n_factors)), np.zeros(n_factors), empty, empty, empty)
    binned_codes = np.stack([histogram_bins(codes[:, i], bins) for i in range(n_codes)], axis=1)
    binned_factors = np.stack([histogram_bins(factors[:, j], bins) for j in range(n_factors)], axis=1)
    information = discrete_mutual_info(binned_codes, binned_factors)  # (codes, factors)
    entropies = np.array([entropy(np.bincount(binned_factors[:, j])) for j in range(n_factors)])
    gaps: list[float | None] = []
    best: list[str | None] = []
    runner_up: list[str | None] = []
    for j in range(n_factors):
        order = np.argsort(-information[:, j], kind="stable")  # ties: the lower-numbered code first
        informative = entropies[j] > 0  # a constant factor is carried by no code
        best.append(code_names[order[0]] if n_codes and informative else None)
        runner_up.append(code_names[order[1]] if n_codes > 1 and informative else None)
        if n_codes < 2 or not informative:
            gaps.append(None)
        else:
            gaps.append(float((information[order[0], j] - information[order[1], j]) / entropies[j]))
    return MigScores(code_names, factor_names, len(codes), bins, information, entropies, gaps, best, runner_up)


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
