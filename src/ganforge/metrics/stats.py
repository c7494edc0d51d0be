"""Scores computed from features, logits or labels: FID, KID, precision/recall,
density/coverage, Inception Score and mode counts.

Every function takes numpy arrays or torch tensors of any float dtype and computes in
float64, so results do not depend on the precision the features were extracted in. The
feature extractors live elsewhere; this module only turns features into numbers
(features -> statistics -> score). User mistakes (wrong shapes, too few samples,
non-finite values) raise :class:`~ganforge.errors.GanforgeError`.
"""

from __future__ import annotations

import math
import numbers
from typing import Iterator, Mapping, TypeAlias, TypedDict

import numpy as np
import torch

from ..data.toy import GRID25_SIGMA, RING8_SIGMA, grid25_means, ring8_means
from ..errors import GanforgeError

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "GAUSSIAN_2D_HIGH_QUALITY",
    "GAUSSIAN_2D_MODE_SPREAD",
    "GRID25_SIGMA",
    "RING8_SIGMA",
    "FeatureStats",
    "ModeMetrics",
    "StackedModeMetrics",
    "density_coverage",
    "fid_from_features",
    "fid_from_stats",
    "grid25_means",
    "inception_score",
    "kid_from_features",
    "mode_metrics_2d",
    "precision_recall",
    "ring8_means",
    "stacked_mode_metrics",
]

ArrayLike: TypeAlias = np.ndarray | torch.Tensor

# Rows of a pairwise-distance matrix held at once: 1,000 x 10,000 float64 is 80 MB.
DEFAULT_CHUNK_ROWS = 1000


# --------------------------------------------------------------------------- input checks


def _as_float64(x: ArrayLike, name: str) -> np.ndarray:
    """``x`` as a finite float64 numpy array (no copy when it already is one)."""
    if isinstance(x, torch.Tensor):
        array = x.detach().to("cpu", torch.float64).numpy()
    else:
        array = np.asarray(x, dtype=np.float64)
    if not np.isfinite(array).all():
        raise GanforgeError(f"{name} contains NaN or infinite values; only finite values are accepted")
    return array


def _as_rows(x: ArrayLike, name: str, min_rows: int = 0) -> np.ndarray:
    """``x`` as a finite float64 ``(N, D)`` array with ``N >= min_rows``."""
    array = _as_float64(x, name)
    if array.ndim != 2:
        raise GanforgeError(f"{name} must be a 2-D array of shape (N, D), got shape {array.shape}")
    if len(array) < min_rows:
        raise GanforgeError(f"{name} has {len(array)} rows; at least {min_rows} are needed")
    return array


def _paired_rows(real: ArrayLike, fake: ArrayLike, min_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Real and fake features as float64 ``(N, D)`` and ``(M, D)`` with the same ``D``."""
    real_x = _as_rows(real, "real", min_rows)
    fake_x = _as_rows(fake, "fake", min_rows)
    if real_x.shape[1] != fake_x.shape[1]:
        raise GanforgeError(
            f"real and fake features have different dimensions ({real_x.shape[1]} vs "
            f"{fake_x.shape[1]}); both must be (N, D) with the same D"
        )
    return real_x, fake_x


def _check_int(value: int, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise GanforgeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------- FID


class FeatureStats:
    """Streaming mean and covariance of feature rows, accumulated in float64.

    Holds the row count and the sums ``sum_n (x_n - s)`` and ``sum_n (x_n - s)(x_n - s)^T``,
    where the shift ``s`` is the first row ever added. The shift changes nothing
    mathematically but keeps the covariance accurate when the mean is large compared with
    the spread (plain sums of ``x x^T`` would cancel catastrophically); see Chan, Golub
    and LeVeque 1983, "Algorithms for computing the sample variance". Because the shift
    depends only on the first row, the result does not depend on how the rows are split
    into batches (up to float64 summation order, ~1e-15 relative).
    """

    def __init__(self) -> None:
        self._count = 0
        # (shift (D,), sum of shifted rows (D,), sum of shifted outer products (D, D));
        # None until the first row arrives and fixes D.
        self._sums: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @property
    def count(self) -> int:
        """Number of rows added so far."""
        return self._count

    def update(self, batch: ArrayLike) -> None:
        """Add the rows of ``batch``, float ``(N, D)``; ``D`` must match earlier batches."""
        x = _as_rows(batch, "batch")
        if self._sums is None:
            if len(x) == 0:
                return
            dim = x.shape[1]
            self._sums = (x[0].copy(), np.zeros(dim), np.zeros((dim, dim)))
        shift, total, outer = self._sums
        if x.shape[1] != len(shift):
            raise GanforgeError(
                f"batch has {x.shape[1]} features per row but earlier batches had "
                f"{len(shift)}; every batch must have the same D"
            )
        shifted = x - shift
        total += shifted.sum(axis=0)
        outer += shifted.T @ shifted
        self._count += len(x)

    def _checked_sums(self, rows: int, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._sums is None or self._count < rows:
            raise GanforgeError(f"{what} needs at least {rows} feature rows, got {self._count}")
        return self._sums

    def mean(self) -> np.ndarray:
        """float64 ``(D,)``: ``mu = (1/N) sum_n x_n``."""
        shift, total, _ = self._checked_sums(1, "the mean")
        return shift + total / self._count

    def cov(self) -> np.ndarray:
        """float64 ``(D, D)``, unbiased: ``Sigma = (1/(N-1)) sum_n (x_n - mu)(x_n - mu)^T``."""
        _, total, outer = self._checked_sums(2, "the covariance")
        n = self._count
        cov = (outer - np.outer(total, total) / n) / (n - 1)
        return (cov + cov.T) / 2  # exact symmetry, whatever the BLAS did

    def to_dict(self) -> dict[str, np.ndarray]:
        """Plain numpy arrays ``count`` (int64, 0-d), ``shift``, ``sum``, ``sum_outer``.

        Suitable for ``numpy.savez``; :meth:`from_dict` rebuilds an equal accumulator.
        """
        shift, total, outer = self._checked_sums(1, "saving feature statistics")
        return {
            "count": np.array(self._count, dtype=np.int64),
            "shift": shift.copy(),
            "sum": total.copy(),
            "sum_outer": outer.copy(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, ArrayLike]) -> FeatureStats:
        """Rebuild the accumulator saved by :meth:`to_dict`; more rows may be added after."""
        keys = ("count", "shift", "sum", "sum_outer")
        if set(data) != set(keys):
            raise GanforgeError(
                f"feature statistics have keys {sorted(data)}; expected exactly {list(keys)}"
            )
        count = np.asarray(data["count"])
        shift, total, outer = (_as_float64(data[key], key) for key in keys[1:])
        dim = shift.shape[0] if shift.ndim == 1 else -1
        if (
            count.shape != ()
            or not np.issubdtype(count.dtype, np.integer)
            or count < 1
            or dim < 1
            or total.shape != (dim,)
            or outer.shape != (dim, dim)
        ):
            raise GanforgeError(
                "feature statistics are malformed: expected an integer count >= 1, shift and "
                f"sum of shape (D,) and sum_outer of shape (D, D); got count {count!r}, shapes "
                f"{shift.shape}, {total.shape}, {outer.shape}"
            )
        stats = cls()
        stats._count = int(count)
        stats._sums = (shift.copy(), total.copy(), outer.copy())
        return stats


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix; round-off negative eigenvalues -> 0."""
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))) @ eigenvectors.T


def fid_from_stats(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    """Fréchet distance between the Gaussians ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``.

    Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local
    Nash Equilibrium" (FID), using Dowson and Landau 1982::

        d^2 = ||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1^{1/2} S2 S1^{1/2})^{1/2})

    ``Tr((S1^{1/2} S2 S1^{1/2})^{1/2})`` equals ``Tr((S1 S2)^{1/2})`` but is computed from
    the *symmetric* matrix ``S1^{1/2} S2 S1^{1/2}``: the sum of the square roots of its
    eigenvalues (``eigvalsh``; negative round-off eigenvalues clipped to 0). This avoids
    the complex results and ill-conditioning of ``scipy.linalg.sqrtm`` on ``S1 S2``.

    The distance is non-negative for PSD covariances, so a negative result can only be
    round-off (largest for singular covariances, e.g. fewer samples than dimensions) and
    is returned as 0. A clearly negative result (below ``-1e-6`` of the scale
    ``||mu1 - mu2||^2 + Tr(S1) + Tr(S2)``) means a covariance is not PSD and is an error.

    Args:
        mu1, mu2: float ``(D,)`` means.
        sigma1, sigma2: float ``(D, D)`` symmetric positive semi-definite covariances.

    Returns:
        The squared Fréchet distance ``d^2`` (what papers report as FID).
    """
    mu1_x, mu2_x = _as_float64(mu1, "mu1"), _as_float64(mu2, "mu2")
    if mu1_x.ndim != 1 or len(mu1_x) == 0 or mu2_x.shape != mu1_x.shape:
        raise GanforgeError(
            f"mu1 and mu2 must be vectors of the same length D >= 1, got shapes {mu1_x.shape} "
            f"and {mu2_x.shape}"
        )
    dim = len(mu1_x)
    sigmas = []
    for name, sigma in (("sigma1", sigma1), ("sigma2", sigma2)):
        s = _as_float64(sigma, name)
        if s.shape != (dim, dim):
            raise GanforgeError(
                f"{name} must have shape ({dim}, {dim}) to match the means, got {s.shape}"
            )
        if np.abs(s - s.T).max(initial=0.0) > 1e-5 * np.abs(s).max(initial=0.0):
            raise GanforgeError(f"{name} is not symmetric; a covariance matrix must be")
        sigmas.append((s + s.T) / 2)
    s1, s2 = sigmas

    s1_sqrt = _sqrt_psd(s1)
    middle = s1_sqrt @ s2 @ s1_sqrt
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_sqrt = np.sqrt(np.clip(eigenvalues, 0, None)).sum()

    diff = mu1_x - mu2_x
    scale = float(diff @ diff + np.trace(s1) + np.trace(s2))
    fid = scale - 2 * float(trace_sqrt)
    if fid < -1e-6 * scale:
        raise GanforgeError(
            f"the Fréchet distance came out negative ({fid:.3g}); sigma1 and sigma2 must be "
            "positive semi-definite covariance matrices"
        )
    return max(fid, 0.0)


def fid_from_features(real: ArrayLike, fake: ArrayLike) -> float:
    """FID between two feature sets, float ``(N, D)`` and ``(M, D)``, N, M >= 2.

    Fits a Gaussian (mean, unbiased covariance) to each set with :class:`FeatureStats`
    and returns :func:`fid_from_stats`.
    """
    real_x, fake_x = _paired_rows(real, fake, min_rows=2)
    real_stats, fake_stats = FeatureStats(), FeatureStats()
    real_stats.update(real_x)
    fake_stats.update(fake_x)
    return fid_from_stats(real_stats.mean(), real_stats.cov(), fake_stats.mean(), fake_stats.cov())


# --------------------------------------------------------------------------- KID


def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``k(x, y) = (x . y / d + 1)^3`` for every pair of rows, ``(n, m)``."""
    return (x @ y.T / x.shape[1] + 1) ** 3


def _unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 between equal-size samples ``x`` and ``y`` of ``m`` rows each."""
    m = len(x)
    k_xx, k_yy, k_xy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2 * k_xy.mean())


def kid_from_features(
    real: ArrayLike, fake: ArrayLike, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """Kernel Inception Distance, Binkowski et al. 2018, "Demystifying MMD GANs".

    On each of ``subsets`` pairs of random subsets ``x`` (real) and ``y`` (fake) of
    ``m = min(subset_size, N, M)`` rows each (drawn without replacement inside a subset),
    the unbiased estimate of the squared MMD with the kernel ``k(a, b) = (a . b / D + 1)^3``::

        MMD^2 = 1/(m(m-1)) sum_{i != j} [k(x_i, x_j) + k(y_i, y_j)] - 2/m^2 sum_{i,j} k(x_i, y_j)

    Being unbiased, it can be slightly negative when the two distributions are equal.

    Args:
        real, fake: float ``(N, D)`` and ``(M, D)`` features, N, M >= 2.
        subsets: number of subset pairs.
        subset_size: rows per subset (capped by N and M).
        seed: seed of the ``numpy.random.Generator`` that draws the subsets.

    Returns:
        ``(mean, std)`` of the per-subset estimates (population std, ``ddof=0``).
    """
    real_x, fake_x = _paired_rows(real, fake, min_rows=2)
    subsets = _check_int(subsets, "subsets", 1)
    m = min(_check_int(subset_size, "subset_size", 2), len(real_x), len(fake_x))
    rng = np.random.default_rng(seed)
    estimates = np.empty(subsets)
    for s in range(subsets):
        x = real_x[rng.choice(len(real_x), m, replace=False)]
        y = fake_x[rng.choice(len(fake_x), m, replace=False)]
        estimates[s] = _unbiased_mmd2(x, y)
    return float(estimates.mean()), float(estimates.std())


# --------------------------------------------------------------------------- k-NN manifolds


def _squared_distance_chunks(
    a: torch.Tensor, b: torch.Tensor, chunk_rows: int
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(start, d)`` with ``d[i, j] = ||a[start + i] - b[j]||^2``, ``chunk_rows`` rows at a time.

    Uses ``||a||^2 + ||b||^2 - 2 a.b`` (one float64 matmul per chunk); its absolute
    round-off is ~1e-16 of the squared norms, negligible at the distances compared here.
    """
    b_norms = b.square().sum(dim=1)
    for start in range(0, len(a), chunk_rows):
        block = a[start : start + chunk_rows]
        d = torch.addmm(b_norms, block, b.T, alpha=-2)
        yield start, d.add_(block.square().sum(dim=1, keepdim=True)).clamp_min_(0)


def _knn_squared_radii(x: torch.Tensor, k: int, chunk_rows: int) -> torch.Tensor:
    """float64 ``(N,)``: squared distance from each row of ``x`` to its k-th nearest *other* row."""
    radii = torch.empty(len(x), dtype=torch.float64)
    for start, d in _squared_distance_chunks(x, x, chunk_rows):
        rows = torch.arange(len(d))
        d[rows, start + rows] = math.inf  # a point is not its own neighbour
        # topk is several times faster than kthvalue for the small k used here.
        radii[start : start + len(d)] = d.topk(k, dim=1, largest=False).values[:, -1]
    return radii


def _knn_inputs(
    real: ArrayLike, fake: ArrayLike, k: int, chunk_rows: int, fake_radii: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Checked float64 tensors for the k-NN metrics; ``fake_radii``: fake balls are built too."""
    k = _check_int(k, "k", 1)
    _check_int(chunk_rows, "chunk_rows", 1)
    real_x, fake_x = _paired_rows(real, fake, min_rows=1)
    for name, x in (("real", real_x), ("fake", fake_x)) if fake_radii else (("real", real_x),):
        if len(x) <= k:
            raise GanforgeError(
                f"{name} has {len(x)} rows but k={k} needs at least {k + 1} "
                "(k nearest neighbours besides each point)"
            )
    return torch.from_numpy(real_x), torch.from_numpy(fake_x)


def precision_recall(
    real: ArrayLike, fake: ArrayLike, k: int = 3, *, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> tuple[float, float]:
    """Precision and recall, Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric
    for Assessing Generative Models".

    The manifold of a set ``Phi`` is the union of closed balls around its points, each with
    radius the distance to the point's k-th nearest neighbour in ``Phi`` (itself excluded)::

        f(phi, Phi) = 1 if ||phi - phi'|| <= ||phi' - NN_k(phi', Phi)|| for some phi' in Phi
        precision = (1/M) sum_j f(fake_j, real),   recall = (1/N) sum_i f(real_i, fake)

    Distances are computed in float64, ``chunk_rows`` rows at a time (memory about
    ``8 * chunk_rows * max(N, M)`` bytes); the result does not depend on ``chunk_rows``.

    Args:
        real, fake: float ``(N, D)`` and ``(M, D)`` features, N, M > k.
        k: neighbour that sets each ball's radius (the paper uses 3).

    Returns:
        ``(precision, recall)``, each in [0, 1].
    """
    real_t, fake_t = _knn_inputs(real, fake, k, chunk_rows, fake_radii=True)
    real_radii = _knn_squared_radii(real_t, k, chunk_rows)
    fake_radii = _knn_squared_radii(fake_t, k, chunk_rows)
    fake_in_real = torch.zeros(len(fake_t), dtype=torch.bool)
    real_in_fake = torch.zeros(len(real_t), dtype=torch.bool)
    for start, d in _squared_distance_chunks(fake_t, real_t, chunk_rows):  # (fake rows, N)
        stop = start + len(d)
        fake_in_real[start:stop] = (d <= real_radii).any(dim=1)
        real_in_fake |= (d <= fake_radii[start:stop, None]).any(dim=0)
    return fake_in_real.double().mean().item(), real_in_fake.double().mean().item()


def density_coverage(
    real: ArrayLike, fake: ArrayLike, k: int = 5, *, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> tuple[float, float]:
    """Density and coverage, Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics".

    With ``B(x, r)`` the closed ball and ``NND_k(x)`` the distance from real point ``x`` to
    its k-th nearest other real point::

        density  = 1/(k M) sum_j sum_i 1[fake_j in B(real_i, NND_k(real_i))]
        coverage = 1/N sum_i 1[exists j: fake_j in B(real_i, NND_k(real_i))]

    For fake drawn from the real distribution, E[density] = 1 and E[coverage] =
    1 - prod_{i=1..k} (N - i) / (N + M - i). Balls are closed, as in Kynkäänniemi et al.;
    the authors' code uses open balls, which differs only on exact ties. Distances are
    computed as in :func:`precision_recall`.

    Args:
        real, fake: float ``(N, D)`` and ``(M, D)`` features, N > k, M >= 1.
        k: neighbour that sets each real ball's radius (the paper uses 5).

    Returns:
        ``(density, coverage)``: density >= 0 (can exceed 1), coverage in [0, 1].
    """
    real_t, fake_t = _knn_inputs(real, fake, k, chunk_rows, fake_radii=False)
    real_radii = _knn_squared_radii(real_t, k, chunk_rows)
    hits = 0
    covered = torch.zeros(len(real_t), dtype=torch.bool)
    for _, d in _squared_distance_chunks(fake_t, real_t, chunk_rows):  # (fake rows, N)
        inside = d <= real_radii
        hits += int(inside.sum())
        covered |= inside.any(dim=0)
    return hits / (k * len(fake_t)), covered.double().mean().item()


# --------------------------------------------------------------------------- Inception Score


def inception_score(logits: ArrayLike, splits: int = 10) -> tuple[float, float]:
    """Inception Score, Salimans et al. 2016, "Improved Techniques for Training GANs".

    ``p(y|x) = softmax(logits)`` in float64. The rows are cut into ``splits`` consecutive
    parts (sizes differ by at most one); on each part, with ``p(y)`` its mean of
    ``p(y|x)``::

        IS = exp(E_x[KL(p(y|x) || p(y))])

    Args:
        logits: float ``(N, C)`` classifier logits, N >= ``splits``.
        splits: number of parts.

    Returns:
        ``(mean, std)`` of the per-part scores (population std, ``ddof=0``); each score
        lies in [1, C].
    """
    x = _as_rows(logits, "logits", min_rows=1)
    splits = _check_int(splits, "splits", 1)
    if splits > len(x):
        raise GanforgeError(
            f"logits has {len(x)} rows but splits={splits}; at least one row per split is needed"
        )
    log_p = torch.from_numpy(x).log_softmax(dim=1)
    n = len(x)
    scores = np.empty(splits)
    for i in range(splits):
        part = log_p[i * n // splits : (i + 1) * n // splits]
        log_marginal = torch.logsumexp(part, dim=0) - math.log(len(part))  # log p(y)
        kl = (part.exp() * (part - log_marginal)).sum(dim=1).mean()
        scores[i] = math.exp(kl.item())
    return float(scores.mean()), float(scores.std())


# --------------------------------------------------------------------------- mode metrics


# What the data itself scores, per mode a 2D Gaussian: r^2 / sigma^2 is exponential with mean 2,
# so a share 1 - e^-4.5 lies within 3 sigma (high_quality), and cut there the mean of r^2 / sigma^2
# is 2 - 9 e^-4.5 / (1 - e^-4.5), which gives mode_spread.
GAUSSIAN_2D_HIGH_QUALITY = 1 - math.exp(-4.5)  # 0.9889
GAUSSIAN_2D_MODE_SPREAD = math.sqrt((2 - 9 * math.exp(-4.5) / GAUSSIAN_2D_HIGH_QUALITY) / 2)  # 0.9744


class ModeMetrics(TypedDict):
    """Result of :func:`mode_metrics_2d`."""

    modes: int  # modes with at least one high-quality sample
    high_quality: float  # fraction of samples within 3 sigma of their nearest mode
    reverse_kl: float  # KL(p_gen || uniform) over modes, inf without high-quality samples
    mode_spread: float  # RMS distance of high-quality samples to their mode / the data's (sigma sqrt 2); nan without any
    num_samples: int
    num_modes: int


class StackedModeMetrics(TypedDict):
    """Result of :func:`stacked_mode_metrics`."""

    modes: int  # distinct (c0, c1, c2) triples present
    num_modes: int  # num_classes ** 3
    kl: float  # KL(p_gen || uniform) over all num_classes ** 3 triples
    channel_kl: float  # sum over the 3 channels of KL(channel's class histogram || uniform)
    num_samples: int


def kl_from_uniform(counts: np.ndarray) -> float:
    """``KL(p || uniform)`` for ``p = counts / sum(counts)`` over ``len(counts)`` bins.

    ``sum_k p_k log(p_k K)`` with ``0 log 0 = 0``; ``inf`` when every count is 0.
    """
    total = counts.sum()
    if total == 0:
        return math.inf
    p = counts[counts > 0] / total
    return float(np.sum(p * np.log(p * len(counts))))


def mode_metrics_2d(samples: ArrayLike, means: ArrayLike, sigma: float) -> ModeMetrics:
    """Mode coverage of 2D samples from a Gaussian-mixture GAN, PacGAN protocol.

    Lin et al. 2018, "PacGAN" (after Srivastava et al. 2017, "VEEGAN"): a sample is
    *high quality* when its nearest mode mean is within ``3 sigma``; a mode is *captured*
    when it is the nearest mode of at least one high-quality sample. ``reverse_kl`` is
    ``KL(p_gen || uniform)`` where ``p_gen`` is the histogram over the K modes of the
    high-quality samples, normalised to sum 1 (``0 log 0 = 0``). It is ``inf`` when no
    sample is high quality, since ``p_gen`` is then undefined and no mode is matched.

    Args:
        samples: float ``(N, 2)`` generated points, N >= 1.
        means: float ``(K, 2)`` mode centres, e.g. :func:`ring8_means` or :func:`grid25_means`.
        sigma: standard deviation of each mode, e.g. ``RING8_SIGMA`` or ``GRID25_SIGMA``.
    """
    points = _as_rows(samples, "samples", min_rows=1)
    centres = _as_rows(means, "means", min_rows=1)
    if points.shape[1] != 2 or centres.shape[1] != 2:
        raise GanforgeError(
            f"samples and means must both have 2 columns, got shapes {points.shape} and {centres.shape}"
        )
    if not (isinstance(sigma, numbers.Real) and math.isfinite(sigma) and sigma > 0):
        raise GanforgeError(f"sigma must be a positive number, got {sigma!r}")
    offsets = points[:, None, :] - centres[None, :, :]  # (N, K, 2)
    distances = np.hypot(offsets[..., 0], offsets[..., 1])
    nearest = distances.argmin(axis=1)
    nearest_distance = distances[np.arange(len(points)), nearest]
    good = nearest_distance <= 3 * sigma
    counts = np.bincount(nearest[good], minlength=len(centres))
    near = nearest_distance[good]
    spread = float(np.sqrt(np.mean(near**2)) / (sigma * math.sqrt(2))) if len(near) else math.nan
    return ModeMetrics(
        modes=int(np.count_nonzero(counts)),
        high_quality=float(good.mean()),
        reverse_kl=kl_from_uniform(counts),
        mode_spread=spread,
        num_samples=len(points),
        num_modes=len(centres),
    )


def stacked_mode_metrics(channel_classes: ArrayLike, num_classes: int = 10) -> StackedModeMetrics:
    """Modes of stacked-MNIST samples (Metz et al. 2017; Lin et al. 2018, "PacGAN").

    Each sample is three digits classified separately; its mode is the triple
    ``(c0, c1, c2)``, one of ``num_classes ** 3``. ``kl`` is ``KL(p_gen || uniform)`` with
    ``p_gen`` the histogram of the samples over all triples (``0 log 0 = 0``).

    ``channel_kl`` says where ``kl`` comes from: it is the sum over the channels of
    ``KL(p_c || uniform)``, ``p_c`` channel c's class histogram. For these plug-in
    histograms ``kl = channel_kl + TC`` exactly, where the total correlation
    ``TC = KL(p_gen || p_0 p_1 p_2) >= 0`` measures how dependent the channels are (0 when
    independent). A generator whose ``kl`` is mostly ``channel_kl`` draws some classes too
    often in every channel; one with a large remainder ties the channels together.

    Args:
        channel_classes: integer ``(N, 3)``, class of each channel, in ``[0, num_classes)``.
        num_classes: classes per channel.
    """
    num_classes = _check_int(num_classes, "num_classes", 1)
    if isinstance(channel_classes, torch.Tensor):
        labels = channel_classes.detach().cpu().numpy()
    else:
        labels = np.asarray(channel_classes)
    if labels.ndim != 2 or labels.shape[1] != 3 or len(labels) == 0:
        raise GanforgeError(f"channel_classes must have shape (N, 3) with N >= 1, got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise GanforgeError(f"channel_classes must be integer class indices, got dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise GanforgeError(
            f"channel_classes must lie in [0, {num_classes}), got values from {labels.min()} "
            f"to {labels.max()}"
        )
    labels = labels.astype(np.int64)
    codes = (labels[:, 0] * num_classes + labels[:, 1]) * num_classes + labels[:, 2]
    counts = np.bincount(codes, minlength=num_classes**3)
    channel_kl = sum(kl_from_uniform(np.bincount(labels[:, c], minlength=num_classes)) for c in range(3))
    return StackedModeMetrics(
        modes=int(np.count_nonzero(counts)),
        num_modes=num_classes**3,
        channel_kl=float(channel_kl),
        kl=kl_from_uniform(counts),
        num_samples=len(labels),
    )
