"""Metric arithmetic against closed forms, independent routes and hand-worked cases."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from ganforge.data.toy import sample_mixture
from ganforge.errors import GanforgeError
from ganforge.metrics.stats import (
    GRID25_SIGMA,
    RING8_SIGMA,
    FeatureStats,
    density_coverage,
    fid_from_features,
    fid_from_stats,
    grid25_means,
    inception_score,
    kid_from_features,
    mode_metrics_2d,
    precision_recall,
    ring8_means,
    stacked_mode_metrics,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def random_spd(rng: np.random.Generator, dim: int) -> np.ndarray:
    """A well-conditioned random covariance (eigenvalues roughly in [0.5, 4])."""
    a = rng.normal(size=(dim, dim))
    return a @ a.T / dim + 0.5 * np.eye(dim)


def newton_schulz_sqrt(a: np.ndarray, iterations: int = 60) -> np.ndarray:
    """Square root of an SPD matrix by the coupled Newton-Schulz iteration (no eigensolver).

    Higham 2008, "Functions of Matrices", eq. 6.35: Y -> Y T, Z -> T Z with T = (3I - Z Y)/2
    converges to sqrt(A / c) when the spectrum of A / c lies in (0, 1]; c = ||A||_F ensures it.
    """
    c = np.linalg.norm(a)
    eye = np.eye(len(a))
    y, z = a / c, eye
    for _ in range(iterations):
        t = (3 * eye - z @ y) / 2
        y, z = y @ t, t @ z
    root = y * math.sqrt(c)
    assert np.allclose(root @ root, a, rtol=0, atol=1e-12 * np.abs(a).max())
    return root


# --------------------------------------------------------------------------- FID


def test_fid_of_identical_features_is_zero():
    x = torch.randn(500, 16, generator=torch.Generator().manual_seed(0))
    assert fid_from_features(x, x.clone()) < 1e-6


def test_fid_matches_2x2_closed_form_for_non_commuting_covariances():
    mu1, mu2 = np.array([0.5, -1.0]), np.array([2.0, 1.0])
    s1 = np.array([[2.0, 0.5], [0.5, 1.0]])
    s2 = np.array([[1.0, -0.3], [-0.3, 3.0]])
    assert not np.allclose(s1 @ s2, s2 @ s1)
    # S1 S2 has positive eigenvalues l1, l2 with l1 + l2 = Tr(S1 S2) and l1 l2 = det S1 det S2,
    # so Tr sqrt(S1 S2) = sqrt(l1) + sqrt(l2) = sqrt(Tr(S1 S2) + 2 sqrt(det S1 det S2)).
    trace_sqrt = math.sqrt(np.trace(s1 @ s2) + 2 * math.sqrt(np.linalg.det(s1) * np.linalg.det(s2)))
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt
    assert fid_from_stats(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_fid_matches_newton_schulz_for_random_covariances():
    rng = np.random.default_rng(1)
    dim = 8
    mu1, mu2 = rng.normal(size=dim), rng.normal(size=dim)
    s1, s2 = random_spd(rng, dim), random_spd(rng, dim)
    assert not np.allclose(s1 @ s2, s2 @ s1)
    s1_sqrt = newton_schulz_sqrt(s1)
    trace_sqrt = np.trace(newton_schulz_sqrt(s1_sqrt @ s2 @ s1_sqrt))
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt
    assert fid_from_stats(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_fid_of_diagonal_covariances_is_sum_of_squared_root_differences():
    # Commuting case: d^2 = ||mu1 - mu2||^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2.
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    mu1, mu2 = np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 2.0])
    expected = 1 + 4 + (1 - 2) ** 2 + 0 + (3 - 1) ** 2
    assert fid_from_stats(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-12)


def test_fid_with_equal_covariances_is_squared_mean_distance():
    rng = np.random.default_rng(2)
    sigma = random_spd(rng, 16)
    mu1, mu2 = rng.normal(size=16), rng.normal(size=16)
    fid = fid_from_stats(mu1, sigma, mu2, sigma)
    assert fid == pytest.approx(np.sum((mu1 - mu2) ** 2), abs=1e-9 * np.trace(sigma))


def test_fid_computes_in_float64_whatever_the_input_dtype():
    rng = np.random.default_rng(3)
    real32 = rng.normal(size=(300, 8)).astype(np.float32)
    fake32 = (rng.normal(size=(300, 8)) + 0.5).astype(np.float32)
    as64 = fid_from_features(real32.astype(np.float64), fake32.astype(np.float64))
    assert fid_from_features(torch.from_numpy(real32), fake32) == as64


# --------------------------------------------------------------------------- FeatureStats


def test_feature_stats_match_numpy_mean_and_cov():
    x = np.random.default_rng(4).normal(size=(400, 12))
    stats = FeatureStats()
    stats.update(x)
    assert stats.count == 400
    np.testing.assert_allclose(stats.mean(), x.mean(axis=0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(stats.cov(), np.cov(x, rowvar=False), rtol=1e-10, atol=1e-14)


def test_feature_stats_do_not_depend_on_batch_split():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(1000, 32)) * rng.uniform(0.5, 3, size=32) + 2
    whole, pieces = FeatureStats(), FeatureStats()
    whole.update(x)
    for chunk in np.split(x, [1, 7, 300, 301, 999]):  # includes single rows
        pieces.update(torch.from_numpy(chunk))
    assert pieces.count == whole.count == 1000
    np.testing.assert_allclose(pieces.mean(), whole.mean(), rtol=1e-12)
    np.testing.assert_allclose(pieces.cov(), whole.cov(), rtol=1e-12, atol=1e-12 * whole.cov().max())
    fake = FeatureStats()
    fake.update(rng.normal(size=(500, 32)))
    fids = [fid_from_stats(s.mean(), s.cov(), fake.mean(), fake.cov()) for s in (whole, pieces)]
    assert fids[0] == pytest.approx(fids[1], rel=1e-6)


def test_feature_stats_cov_stays_accurate_far_from_the_origin():
    # With plain sums of x x^T, an offset of 1e6 on unit-variance data leaves ~1e-4 relative error.
    x = np.random.default_rng(6).normal(size=(500, 4)) + 1e6
    stats = FeatureStats()
    for chunk in np.array_split(x, 5):
        stats.update(chunk)
    centred = x - x.mean(axis=0)
    np.testing.assert_allclose(stats.cov(), centred.T @ centred / 499, rtol=1e-9, atol=1e-9)


def test_feature_stats_round_trip_through_plain_arrays():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(200, 6))
    saved = FeatureStats()
    saved.update(x[:120])
    data = saved.to_dict()
    assert set(data) == {"count", "shift", "sum", "sum_outer"}
    assert all(type(v) is np.ndarray for v in data.values())
    restored = FeatureStats.from_dict(data)
    restored.update(x[120:])  # carry on accumulating after a reload
    whole = FeatureStats()
    whole.update(x)
    assert restored.count == 200
    np.testing.assert_allclose(restored.mean(), whole.mean(), rtol=1e-12)
    np.testing.assert_allclose(restored.cov(), whole.cov(), rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------- KID


def test_kid_of_same_distribution_is_within_noise_of_zero():
    rng = np.random.default_rng(8)
    real, fake = rng.normal(size=(500, 8)), rng.normal(size=(500, 8))
    mean, std = kid_from_features(real, fake, subsets=20, subset_size=200)
    assert std > 0 and abs(mean) < 2 * std


def test_kid_of_shifted_distribution_is_large():
    rng = np.random.default_rng(9)
    real, fake = rng.normal(size=(500, 8)), rng.normal(size=(500, 8)) + 1.0
    mean, std = kid_from_features(real, fake, subsets=20, subset_size=200)
    assert mean > 10 * std > 0  # far outside the subset-to-subset noise


def test_kid_matches_unbiased_estimator_written_out():
    real = np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, 1.0]])
    fake = np.array([[0.5, 0.5], [2.0, -1.0], [0.0, 0.0]])

    def k(a, b):
        return (float(np.dot(a, b)) / 2 + 1) ** 3

    pairs = [(i, j) for i in range(3) for j in range(3) if i != j]
    expected = (
        sum(k(real[i], real[j]) for i, j in pairs) / 6
        + sum(k(fake[i], fake[j]) for i, j in pairs) / 6
        - 2 * sum(k(a, b) for a in real for b in fake) / 9
    )
    # subset_size is capped at 3, and the estimate does not depend on the rows' order.
    mean, std = kid_from_features(real, fake, subsets=1)
    assert mean == pytest.approx(expected, rel=1e-12) and std == 0.0


def test_kid_is_deterministic_given_the_seed():
    rng = np.random.default_rng(10)
    real, fake = rng.normal(size=(100, 4)), rng.normal(size=(100, 4)) + 0.3
    first = kid_from_features(real, fake, subsets=5, subset_size=20, seed=1)
    assert kid_from_features(real, fake, subsets=5, subset_size=20, seed=1) == first
    assert kid_from_features(real, fake, subsets=5, subset_size=20, seed=2) != first


# --------------------------------------------------------------------------- precision, recall, density, coverage

# 1-D, worked by hand below: radii are distances to the k-th nearest other point of the same set.
REAL_1D = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [40.0]])
FAKE_1D = np.array([[0.5], [1.5], [5.0], [10.5]])
HAND_1D = {
    # k=1: real radii 1,1,1,1,1,29; fake radii 1,1,3.5,5.5.
    #   precision: 5 lies in no real ball -> 3/4.  recall: 40 is 29.5 from 10.5 (radius 5.5) -> 5/6.
    #   density: 0.5 in balls of 0,1; 1.5 in 1,2; 5 in none; 10.5 in 10,11 -> 6 / (1 * 4).
    #   coverage: every real ball but 40's (10.5 is 29.5 > 29 away) holds a fake -> 5/6.
    1: (3 / 4, 5 / 6, 6 / 4, 5 / 6),
    # k=2: real radii 2,1,2,8,9,30; fake radii 4.5,3.5,4.5,9.
    #   precision: 5 is 5 <= 8 from 10 -> 1.  recall: 40 still outside (29.5 > 9) -> 5/6.
    #   density: 0.5 in 0,1,2; 1.5 in 0,1,2; 5 in 10,11; 10.5 in 10,11,40 -> 11 / (2 * 4).
    #   coverage: 40's ball (radius 30) now holds 10.5 -> 1.
    2: (1.0, 5 / 6, 11 / 8, 1.0),
}


@pytest.mark.parametrize("k", sorted(HAND_1D))
def test_knn_metrics_match_hand_worked_1d_case(k):
    precision, recall, density, coverage = HAND_1D[k]
    assert precision_recall(REAL_1D, FAKE_1D, k=k) == pytest.approx((precision, recall), abs=1e-15)
    assert density_coverage(REAL_1D, FAKE_1D, k=k) == pytest.approx((density, coverage), abs=1e-15)


def test_points_on_a_ball_boundary_are_inside():
    # Closed balls: real {0, 1} have radius 1 (k=1), and fake 2 lies exactly 1 from real 1.
    # Fake {2, 3} have radius 1, and real 1 lies exactly 1 from fake 2.
    real, fake = np.array([[0.0], [1.0]]), np.array([[2.0], [3.0]])
    assert precision_recall(real, fake, k=1) == (0.5, 0.5)
    assert density_coverage(real, fake, k=1) == (0.5, 0.5)


def test_narrow_fake_has_high_precision_and_low_recall():
    gen = torch.Generator().manual_seed(11)
    real = 3 * torch.randn(200, 16, generator=gen)
    fake = 0.1 * torch.randn(200, 16, generator=gen)
    precision, recall = precision_recall(real, fake)
    assert precision > 0.8 and recall < 0.3


def test_density_is_one_for_matching_distributions():
    # In 4-D the density of 1,000 vs 1,000 points spreads by ~0.02 between draws (~0.1 in 64-D,
    # where hubness makes it noisy); E[density] = 1 (Naeem et al. 2020).
    rng = np.random.default_rng(12)
    density, _ = density_coverage(rng.normal(size=(1000, 4)), rng.normal(size=(1000, 4)))
    assert density == pytest.approx(1.0, abs=0.08)


def test_coverage_matches_its_expectation_for_matching_distributions():
    # Naeem et al. 2020: E[coverage] = 1 - prod_{i=1..k} (N - i) / (N + M - i), 0.969 here;
    # it spreads by ~0.01 between draws.
    n = m = 1000
    k = 5
    expected = 1 - math.prod((n - i) / (n + m - i) for i in range(1, k + 1))
    rng = np.random.default_rng(13)
    _, coverage = density_coverage(rng.normal(size=(n, 64)), rng.normal(size=(m, 64)), k=k)
    assert coverage == pytest.approx(expected, abs=0.04)


def test_knn_metrics_do_not_depend_on_chunking():
    rng = np.random.default_rng(14)
    real, fake = rng.normal(size=(100, 5)), rng.normal(size=(90, 5)) * 1.5
    assert precision_recall(real, fake, chunk_rows=7) == precision_recall(real, fake)
    assert density_coverage(real, fake, chunk_rows=7) == density_coverage(real, fake)


# --------------------------------------------------------------------------- Inception Score


def test_inception_score_of_confident_even_classes_is_the_class_count():
    labels = torch.arange(1000) % 10
    logits = 50.0 * torch.nn.functional.one_hot(labels, 10).float()
    mean, std = inception_score(logits, splits=10)
    assert mean == pytest.approx(10.0, rel=1e-9) and std < 1e-9


def test_inception_score_of_identical_predictions_is_one():
    logits = torch.randn(1, 10, generator=torch.Generator().manual_seed(15)).repeat(200, 1)
    mean, std = inception_score(logits, splits=4)
    assert mean == pytest.approx(1.0, abs=1e-12) and std < 1e-12


def test_inception_score_matches_hand_computed_two_class_case():
    # p(y|x) = (3/4, 1/4) and (1/4, 3/4); p(y) = (1/2, 1/2).
    logits = np.array([[math.log(3), 0.0], [0.0, math.log(3)]])
    kl = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    assert inception_score(logits, splits=1) == pytest.approx((math.exp(kl), 0.0), abs=1e-12)


# --------------------------------------------------------------------------- mode metrics


@pytest.mark.parametrize(("means_fn", "sigma"), [(ring8_means, RING8_SIGMA), (grid25_means, GRID25_SIGMA)])
def test_samples_on_every_mode_capture_all_modes(means_fn, sigma):
    means = means_fn()
    result = mode_metrics_2d(means.repeat(3, 1), means, sigma)
    assert result["modes"] == result["num_modes"] == len(means)
    assert result["num_samples"] == 3 * len(means)
    assert result["high_quality"] == 1.0
    assert abs(result["reverse_kl"]) < 1e-12


@pytest.mark.parametrize(("means_fn", "sigma"), [(ring8_means, RING8_SIGMA), (grid25_means, GRID25_SIGMA)])
def test_samples_on_half_the_modes(means_fn, sigma):
    means = means_fn()
    half = len(means) // 2
    result = mode_metrics_2d(means[:half].repeat(4, 1), means, sigma)
    assert result["modes"] == half
    # p = 1/half on half of the K modes: KL = log(K / half); log 2 when K is even.
    assert result["reverse_kl"] == pytest.approx(math.log(len(means) / half), abs=1e-12)


def test_uneven_mode_histogram_gives_hand_computed_kl():
    means = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    samples = means[[0, 0, 0, 3]]
    result = mode_metrics_2d(samples, means, sigma=0.1)
    # p = (3/4, 0, 0, 1/4): KL = 3/4 log(3/4 * 4) + 1/4 log(1/4 * 4) = 3/4 log 3.
    assert result["modes"] == 2
    assert result["reverse_kl"] == pytest.approx(0.75 * math.log(3), abs=1e-12)


def test_off_mode_points_are_not_high_quality():
    means = ring8_means()
    far = torch.tensor([[0.0, 0.0], [5.0, 5.0]])  # the centre is 1 = 100 sigma from every mode
    result = mode_metrics_2d(torch.cat([means, far]), means, RING8_SIGMA)
    assert result["high_quality"] == 8 / 10
    assert result["modes"] == 8 and abs(result["reverse_kl"]) < 1e-12


@pytest.mark.parametrize(("radius", "inside"), [(2.9, True), (3.1, False)])
def test_high_quality_threshold_is_three_sigma(radius, inside):
    means = ring8_means().double()
    angles = torch.rand(len(means), generator=torch.Generator().manual_seed(16)) * 2 * math.pi
    offsets = radius * RING8_SIGMA * torch.stack([angles.cos(), angles.sin()], dim=1)
    result = mode_metrics_2d(means + offsets, means, RING8_SIGMA)
    assert result["high_quality"] == (1.0 if inside else 0.0)
    assert result["modes"] == (8 if inside else 0)
    # With no high-quality sample the mode histogram is empty: KL is reported as infinite.
    assert result["reverse_kl"] == (pytest.approx(0.0, abs=1e-12) if inside else math.inf)


def test_mode_spread_of_points_on_the_means_is_zero_and_of_a_ring_at_radius_r_is_r_over_sigma_sqrt2():
    means = ring8_means().double()
    assert mode_metrics_2d(means.repeat(2, 1), means, RING8_SIGMA)["mode_spread"] == 0.0
    angles = torch.linspace(0, 2 * math.pi, len(means) + 1, dtype=torch.float64)[:-1]
    offsets = 2.0 * RING8_SIGMA * torch.stack([angles.cos(), angles.sin()], dim=1)  # every point 2 sigma out
    result = mode_metrics_2d(means + offsets, means, RING8_SIGMA)
    assert result["mode_spread"] == pytest.approx(2.0 / math.sqrt(2.0), rel=1e-9)


def test_mode_spread_of_real_data_is_the_truncated_gaussian_value():
    """r^2 / sigma^2 of a 2D Gaussian is exponential with mean 2; cut at 9 its mean is 2 - 9 e^-4.5 / (1 - e^-4.5)."""
    means = grid25_means()
    points, _ = sample_mixture(means, GRID25_SIGMA, 100_000, torch.Generator().manual_seed(3))
    expected = math.sqrt((2 - 9 * math.exp(-4.5) / (1 - math.exp(-4.5))) / 2)  # 0.9744
    assert mode_metrics_2d(points, means, GRID25_SIGMA)["mode_spread"] == pytest.approx(expected, abs=0.005)


def test_mode_spread_without_high_quality_samples_is_nan():
    means = ring8_means()
    assert math.isnan(mode_metrics_2d(torch.zeros(3, 2), means, RING8_SIGMA)["mode_spread"])


def test_stacked_modes_of_every_triple_once():
    triples = np.array(list(itertools.product(range(10), repeat=3)))
    result = stacked_mode_metrics(triples)
    assert result["modes"] == result["num_modes"] == 1000 and result["num_samples"] == 1000
    assert abs(result["kl"]) < 1e-12


def test_stacked_modes_hand_computed():
    # (1,2,3) and (3,2,1) are different modes: p = 1/2 on 2 of 1000 -> KL = log 500.
    triples = torch.tensor([[1, 2, 3], [1, 2, 3], [3, 2, 1], [3, 2, 1]])
    result = stacked_mode_metrics(triples)
    assert result["modes"] == 2 and result["num_samples"] == 4
    assert result["kl"] == pytest.approx(math.log(500), abs=1e-12)
    # A single mode out of 2^3: KL = log 8.
    single = stacked_mode_metrics(np.array([[1, 0, 1]] * 5), num_classes=2)
    assert (single["modes"], single["num_modes"]) == (1, 8)
    assert single["kl"] == pytest.approx(math.log(8), abs=1e-12)


def test_stacked_channel_kl_hand_computed_and_the_rest_is_the_channels_dependence():
    # Channel 0 always class 1 (KL log 10), channels 1 and 2 equal and uniform over {0, 1}
    # (KL log 5 each): channel_kl = log 10 + 2 log 5. The triples take 2 of 1000 values
    # equally: kl = log 500, so the dependence TC = log 500 - channel_kl = log 2 (channel 2
    # copies channel 1, a bit of shared information).
    triples = np.array([[1, 0, 0], [1, 1, 1]] * 3)
    result = stacked_mode_metrics(triples)
    assert result["channel_kl"] == pytest.approx(math.log(10) + 2 * math.log(5), abs=1e-12)
    assert result["kl"] - result["channel_kl"] == pytest.approx(math.log(2), abs=1e-12)


def test_stacked_channel_kl_of_independent_channels_is_the_whole_kl():
    # All 8 triples of {0, 1}^3 once each: independent channels, each uniform over {0, 1} of 10.
    triples = np.array(list(itertools.product(range(2), repeat=3)))
    result = stacked_mode_metrics(triples)
    assert result["channel_kl"] == pytest.approx(3 * math.log(5), abs=1e-12)
    assert result["kl"] == pytest.approx(result["channel_kl"], abs=1e-12)


# --------------------------------------------------------------------------- bad input

X = np.random.default_rng(17).normal(size=(20, 4))


def _stats_of(rows: np.ndarray) -> FeatureStats:
    stats = FeatureStats()
    stats.update(rows)
    return stats


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: fid_from_stats(np.zeros((2, 1)), np.eye(2), np.zeros(2), np.eye(2)), "mu1 and mu2"),
        (lambda: fid_from_stats(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3)), "same length"),
        (lambda: fid_from_stats(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2)), r"sigma1 must have shape \(2, 2\)"),
        (lambda: fid_from_stats(np.zeros(2), np.eye(2), np.zeros(2), np.ones((2, 3))), "sigma2 must have shape"),
        (lambda: fid_from_stats(np.zeros(2), np.array([[1.0, 1.0], [0.0, 1.0]]), np.zeros(2), np.eye(2)), "symmetric"),
        (lambda: fid_from_stats(np.zeros(2), -np.eye(2), np.zeros(2), -np.eye(2)), "positive semi-definite"),
        (lambda: fid_from_features(X, X[:, :3]), "different dimensions"),
        (lambda: fid_from_features(X[:1], X), "at least 2"),
        (lambda: fid_from_features(X[0], X), "2-D array"),
        (lambda: fid_from_features(np.full((5, 4), np.nan), X), "NaN"),
        (lambda: kid_from_features(X[:1], X), "at least 2"),
        (lambda: kid_from_features(X, X, subsets=0), "subsets must be an integer >= 1"),
        (lambda: kid_from_features(X, X, subset_size=1), "subset_size must be an integer >= 2"),
        (lambda: precision_recall(X[:3], X, k=3), "real has 3 rows but k=3 needs at least 4"),
        (lambda: precision_recall(X, X[:3], k=3), "fake has 3 rows"),
        (lambda: precision_recall(X, X, k=0), "k must be an integer >= 1"),
        (lambda: precision_recall(X, X[:, :2]), "different dimensions"),
        (lambda: density_coverage(X[:5], X, k=5), "real has 5 rows"),
        (lambda: density_coverage(X, X, chunk_rows=0), "chunk_rows"),
        (lambda: inception_score(X, splits=21), "splits=21"),
        (lambda: inception_score(X[0]), "2-D array"),
        (lambda: mode_metrics_2d(X[:, :3], ring8_means(), RING8_SIGMA), "2 columns"),
        (lambda: mode_metrics_2d(X[:, :2], X[:, :3], RING8_SIGMA), "2 columns"),
        (lambda: mode_metrics_2d(X[:, :2], ring8_means(), 0.0), "sigma must be a positive number"),
        (lambda: mode_metrics_2d(X[:, :2], ring8_means(), math.nan), "sigma must be a positive number"),
        (lambda: stacked_mode_metrics(np.zeros((4, 2), dtype=int)), r"shape \(N, 3\)"),
        (lambda: stacked_mode_metrics(np.zeros((0, 3), dtype=int)), r"shape \(N, 3\)"),
        (lambda: stacked_mode_metrics(np.zeros((4, 3))), "integer class indices"),
        (lambda: stacked_mode_metrics(np.array([[0, 10, 1]])), r"\[0, 10\)"),
        (lambda: stacked_mode_metrics(np.array([[0, -1, 1]])), r"\[0, 10\)"),
        (lambda: _stats_of(X).update(X[:, :3]), "earlier batches had 4"),
        (lambda: FeatureStats().mean(), "at least 1 feature rows, got 0"),
        (lambda: _stats_of(X[:1]).cov(), "at least 2 feature rows, got 1"),
        (lambda: FeatureStats().to_dict(), "at least 1"),
        (lambda: FeatureStats.from_dict({"count": np.array(3), "sum": np.zeros(2)}), "expected exactly"),
        (
            lambda: FeatureStats.from_dict({**_stats_of(X).to_dict(), "sum_outer": np.zeros((4, 3))}),
            "malformed",
        ),
    ],
)
def test_bad_input_is_a_clear_user_error(call, match):
    with pytest.raises(GanforgeError, match=match):
        call()
