"""`infogan_cli.metrics`: clustering metrics, MIG and the Frechet distance on hand-made arrays.

Expected values are computed by hand (NMI and ARI of a four-item example, the Frechet distance of
shifted and scaled sets, MIG of aligned, copied and independent codes) or by scikit-learn, which
is a test dependency only (the `dev` extra): the package computes them on numpy and scipy.
"""

from __future__ import annotations

import numpy as np
import pytest

from infogan_cli.metrics import (
    adjusted_rand_index,
    cluster_scores,
    contingency_matrix,
    discrete_mutual_info,
    entropy,
    frechet_distance,
    histogram_bins,
    mutual_info,
    mutual_info_gap,
    normalized_mutual_info,
    purity,
)

sklearn_metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn is in the dev extra")

# ----------------------------------------------------------------------------- clustering, by hand


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


# ----------------------------------------------------------------------------- clustering, against scikit-learn


def random_labelings(count: int, seed: int = 0):
    """(codes, labels, n_codes, n_labels): sizes from 2 to 400 items and 1 to 12 values a side,
    with unused code values (empty rows) and skewed labels among them."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        n = int(rng.integers(2, 400))
        n_codes, n_labels = int(rng.integers(1, 13)), int(rng.integers(1, 13))
        labels = rng.integers(0, n_labels, n)
        codes = rng.integers(0, n_codes, n)
        if rng.random() < 0.3:  # partly agreeing, so the scores are not all near 0
            agree = rng.random(n) < rng.random()
            codes = np.where(agree, labels % n_codes, codes)
        if rng.random() < 0.2:  # a skewed code: most items on one value
            codes = np.where(rng.random(n) < 0.8, 0, codes)
        yield codes, labels, n_codes + int(rng.integers(0, 3)), n_labels


def sklearn_purity(codes: np.ndarray, labels: np.ndarray) -> float:
    table = sklearn_metrics.cluster.contingency_matrix(labels, codes)  # (labels, codes)
    return float(table.max(axis=0).sum() / table.sum())


@pytest.mark.parametrize("seed", range(4))
def test_clustering_metrics_match_scikit_learn_on_random_labelings(seed: int) -> None:
    for codes, labels, n_codes, n_labels in random_labelings(50, seed):
        contingency = contingency_matrix(codes, labels, n_codes, n_labels)
        expected_nmi = sklearn_metrics.normalized_mutual_info_score(labels, codes, average_method="arithmetic")
        assert normalized_mutual_info(contingency) == pytest.approx(expected_nmi, abs=1e-10)
        assert adjusted_rand_index(contingency) == pytest.approx(sklearn_metrics.adjusted_rand_score(labels, codes), abs=1e-10)
        assert purity(contingency) == pytest.approx(sklearn_purity(codes, labels), abs=1e-12)
        assert mutual_info(contingency) == pytest.approx(sklearn_metrics.mutual_info_score(labels, codes), abs=1e-10)


@pytest.mark.parametrize(
    "codes, labels",
    [
        ([0, 0, 0, 0], [0, 0, 0, 0]),  # one block each
        ([0, 0, 0, 0], [0, 1, 2, 3]),  # one block against singletons
        ([0, 1, 2, 3], [3, 2, 1, 0]),  # singletons both sides
        ([0, 1], [0, 0]),
        ([1, 1, 0], [0, 1, 1]),
    ],
)
def test_clustering_metrics_match_scikit_learn_on_degenerate_labelings(codes, labels) -> None:
    codes, labels = np.array(codes), np.array(labels)
    contingency = contingency_matrix(codes, labels, codes.max() + 1, labels.max() + 1)
    assert normalized_mutual_info(contingency) == pytest.approx(sklearn_metrics.normalized_mutual_info_score(labels, codes))
    assert adjusted_rand_index(contingency) == pytest.approx(sklearn_metrics.adjusted_rand_score(labels, codes))
    assert purity(contingency) == pytest.approx(sklearn_purity(codes, labels))


# ----------------------------------------------------------------------------- mutual information gap


def test_histogram_bins_are_disentanglement_libs() -> None:
    """Equal-width bins between min and max, as np.digitize(x, np.histogram(x, 20)[1][:-1])."""
    rng = np.random.default_rng(0)
    for values in (rng.normal(size=1000), rng.uniform(-1, 1, 37), np.array([0.0, 1.0]), np.full(5, 3.0)):
        expected = np.digitize(values, np.histogram(values, 20)[1][:-1]) - 1
        assert np.array_equal(histogram_bins(values), expected)
    assert histogram_bins(np.array([0.0, 0.5, 1.0]), 2).tolist() == [0, 1, 1]  # the maximum is in the last bin
    assert histogram_bins(np.full(4, 7.0)).tolist() == [10] * 4  # constant: numpy's range +-0.5, one bin


def test_discrete_mutual_info_and_entropy_match_scikit_learn() -> None:
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 20, (500, 3))
    factors = np.stack([codes[:, 0] // 2, rng.integers(0, 20, 500), (codes[:, 1] + codes[:, 2]) % 7], axis=1)
    matrix = discrete_mutual_info(codes, factors)
    assert matrix.shape == (3, 3)
    for i in range(3):
        for j in range(3):
            assert matrix[i, j] == pytest.approx(sklearn_metrics.mutual_info_score(factors[:, j], codes[:, i]), abs=1e-12)
    for j in range(3):
        assert entropy(np.bincount(factors[:, j])) == pytest.approx(sklearn_metrics.mutual_info_score(factors[:, j], factors[:, j]))


def reference_mig(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """disentanglement_lib's recipe with scikit-learn's mutual_info_score: per-factor gaps."""
    discretize = lambda x: np.digitize(x, np.histogram(x, 20)[1][:-1])  # noqa: E731
    binned_codes = [discretize(codes[:, i]) for i in range(codes.shape[1])]
    gaps = []
    for j in range(factors.shape[1]):
        factor = discretize(factors[:, j])
        informations = sorted((sklearn_metrics.mutual_info_score(factor, code) for code in binned_codes), reverse=True)
        gaps.append((informations[0] - informations[1]) / sklearn_metrics.mutual_info_score(factor, factor))
    return np.array(gaps)


def test_mig_matches_the_reference_recipe() -> None:
    rng = np.random.default_rng(2)
    codes = rng.normal(size=(3000, 3))
    factors = np.stack(
        [np.tanh(codes[:, 0]) + 0.1 * rng.normal(size=3000), codes[:, 1] + 0.8 * codes[:, 2], rng.uniform(size=3000)], axis=1
    )
    scores = mutual_info_gap(codes, factors, ["c2", "c3", "c4"], ["slant", "width", "thickness"])
    assert scores.gap == pytest.approx(list(reference_mig(codes, factors)), abs=1e-10)
    assert scores.best[:2] == ["c2", "c3"] and scores.runner_up[1] == "c4"
    assert scores.mean == pytest.approx(float(np.mean(scores.gap)))
    assert scores.n == 3000 and scores.mutual_info.shape == (3, 3) and scores.bins == 20


def test_mig_of_perfectly_aligned_codes_is_one() -> None:
    rng = np.random.default_rng(3)
    codes = rng.uniform(-1, 1, (10_000, 2))
    factors = np.stack([3 * codes[:, 0] + 1, 2 - 0.5 * codes[:, 1]], axis=1)  # each factor one code, affinely
    scores = mutual_info_gap(codes, factors, ["c2", "c3"], ["slant", "width"])
    assert scores.best == ["c2", "c3"] and scores.runner_up == ["c3", "c2"]
    assert all(gap > 0.98 for gap in scores.gap)  # the other code's MI is only estimation bias
    assert scores.mutual_info[0, 0] == pytest.approx(scores.entropy[0])  # the code carries all of the factor
    # With the other code constant, it carries nothing: exactly 1.
    constant = np.stack([codes[:, 0], np.zeros(10_000)], axis=1)
    assert mutual_info_gap(constant, factors[:, :1], ["c2", "c3"], ["slant"]).gap == [1.0]


def test_mig_of_a_code_copied_into_two_codes_is_zero() -> None:
    rng = np.random.default_rng(4)
    code = rng.normal(size=5000)
    codes = np.stack([code, code, rng.normal(size=5000)], axis=1)  # c2 and c3 are the same code
    factors = np.stack([code**3, rng.normal(size=5000)], axis=1)
    scores = mutual_info_gap(codes, factors, ["c2", "c3", "c4"], ["slant", "width"])
    assert scores.gap[0] == 0.0
    assert (scores.best[0], scores.runner_up[0]) == ("c2", "c3")  # a tie goes to the lower-numbered code
    assert scores.mutual_info[0, 0] == scores.mutual_info[1, 0] > 0.5  # nats: both carry the factor


def test_mig_of_independent_codes_is_about_zero() -> None:
    rng = np.random.default_rng(5)
    scores = mutual_info_gap(rng.normal(size=(10_000, 2)), rng.normal(size=(10_000, 3)), ["c2", "c3"], ["slant", "thickness", "width"])
    assert all(0 <= gap < 0.02 for gap in scores.gap)
    assert scores.mutual_info.max() < 0.05  # nats: the binning's bias, (20 - 1)^2 / 2N ~ 0.02


def test_mig_undefined_cases() -> None:
    rng = np.random.default_rng(6)
    codes, factors = rng.normal(size=(100, 2)), rng.normal(size=(100, 2))
    one_code = mutual_info_gap(codes[:, :1], factors, ["c2"], ["slant", "width"])
    assert one_code.gap == [None, None] and one_code.mean is None and one_code.best == ["c2", "c2"] and one_code.runner_up == [None, None]
    constant_factor = mutual_info_gap(codes, np.stack([factors[:, 0], np.ones(100)], axis=1), ["c2", "c3"], ["slant", "width"])
    assert constant_factor.gap[0] is not None and constant_factor.gap[1] is None and constant_factor.mean is None
    assert constant_factor.best[1] is None and constant_factor.runner_up[1] is None and constant_factor.entropy[1] == 0.0
    # Rows with a NaN measure (a blank image) are left out.
    holed = factors.copy()
    holed[:10, 1] = np.nan
    assert mutual_info_gap(codes, holed, ["c2", "c3"], ["slant", "width"]).n == 90
    nothing = mutual_info_gap(codes[:1], factors[:1], ["c2", "c3"], ["slant", "width"])
    assert nothing.n == 1 and nothing.gap == [None, None] and nothing.best == [None, None]


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
