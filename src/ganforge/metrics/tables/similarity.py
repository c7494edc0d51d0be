"""How alike two tables' columns and column pairs are.

- :func:`ks_similarity` (numbers, dates): 1 - the two-sample Kolmogorov-Smirnov statistic over the
  present values. Range 0..1, goal 1.
- :func:`tv_similarity` (categories, booleans): 1 - the total variation distance between the two
  frequency tables, missing counted as a category. Range 0..1, goal 1.
- :func:`association_matrix`: the columns' pairwise associations, one measure per pair of kinds:
  Pearson r between two numbers (-1..1), Cramer's V between two categorical columns (0..1),
  the correlation ratio eta between a category and a number (0..1); each on the rows where both
  values are present. A column with one present value (or none) has no association: it is left
  out, and the caller says so.
- :func:`correlation_difference`: mean |A_real - A_synthetic| over the pairs of the matrices.
  Range 0..2, goal 0.
"""

from __future__ import annotations

import numpy as np

from .encoding import Encoded


def ks_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """1 - sup |F_a(x) - F_b(x)| over present values; both empty: 1, one empty: 0."""
    a, b = np.sort(a[~np.isnan(a)]), np.sort(b[~np.isnan(b)])
    if not a.size or not b.size:
        return float(a.size == b.size)
    grid = np.concatenate([a, b])
    fa = np.searchsorted(a, grid, side="right") / a.size
    fb = np.searchsorted(b, grid, side="right") / b.size
    return float(np.clip(1.0 - np.max(np.abs(fa - fb)), 0.0, 1.0))  # no -2e-16 from rounding


def tv_similarity(a: np.ndarray, b: np.ndarray, size: int) -> float:
    """1 - (1/2) sum_c |p_a(c) - p_b(c)| over codes 0..size-1 and missing (NaN)."""
    pa, pb = _frequencies(a, size), _frequencies(b, size)
    return float(np.clip(1.0 - 0.5 * np.abs(pa - pb).sum(), 0.0, 1.0))


def _frequencies(codes: np.ndarray, size: int) -> np.ndarray:
    idx = np.where(np.isnan(codes), size, np.nan_to_num(codes)).astype(np.int64)
    return np.bincount(idx, minlength=size + 1) / max(len(codes), 1)


def column_similarities(enc: Encoded, a: str = "real", b: str = "synthetic") -> dict[str, float]:
    """Each column's similarity between tables ``a`` and ``b`` (KS or TV by kind)."""
    out = {}
    for name in enc.names:
        x, y = enc.column(a, name), enc.column(b, name)
        out[name] = (tv_similarity(x, y, len(enc.vocab[name])) if enc.is_categorical(name) else ks_similarity(x, y))
    return out


def _pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(np.clip(np.corrcoef(x, y)[0, 1], -1.0, 1.0))


def _cramers_v(x: np.ndarray, y: np.ndarray) -> float | None:
    """sqrt(chi^2 / (n (min(r, c) - 1))) over the categories present in these rows."""
    _, xi = np.unique(x, return_inverse=True)
    _, yi = np.unique(y, return_inverse=True)
    r, c = xi.max() + 1 if xi.size else 0, yi.max() + 1 if yi.size else 0
    if min(r, c) < 2:
        return None
    n = xi.size
    table = np.bincount(xi * c + yi, minlength=r * c).reshape(r, c).astype(np.float64)
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())  # every row and column sum is > 0
    return float(np.sqrt(min(1.0, chi2 / (n * (min(r, c) - 1)))))


def _eta(categories: np.ndarray, x: np.ndarray) -> float | None:
    """sqrt(between-category variance / total variance) of a number grouped by a category."""
    if x.size < 2 or np.ptp(x) == 0:
        return None
    _, ci = np.unique(categories, return_inverse=True)
    if ci.max() < 1:
        return None
    counts = np.bincount(ci)
    means = np.bincount(ci, weights=x) / counts
    between = float((counts * (means - x.mean()) ** 2).sum())
    total = float(((x - x.mean()) ** 2).sum())
    return float(np.sqrt(min(1.0, between / total)))


def association_matrix(enc: Encoded, role: str, columns: list[str]) -> np.ndarray:
    """(C, C) associations of ``columns`` in table ``role`` (module docstring); the diagonal is 1,
    a pair without an association (too few rows in common, a constant) is NaN."""
    v = enc.values[role]
    idx = [enc.names.index(c) for c in columns]
    m = np.eye(len(columns))
    for p in range(len(columns)):
        for q in range(p + 1, len(columns)):
            x, y = v[:, idx[p]], v[:, idx[q]]
            both = ~np.isnan(x) & ~np.isnan(y)
            x, y = x[both], y[both]
            cat_x, cat_y = enc.is_categorical(columns[p]), enc.is_categorical(columns[q])
            if cat_x and cat_y:
                a = _cramers_v(x, y)
            elif cat_x:
                a = _eta(x, y)
            elif cat_y:
                a = _eta(y, x)
            else:
                a = _pearson(x, y)
            m[p, q] = m[q, p] = np.nan if a is None else a
    return m


def varying_columns(enc: Encoded, role: str = "real") -> list[str]:
    """The columns with at least two distinct present values in ``role``: the ones with associations."""
    out = []
    for j, name in enumerate(enc.names):
        col = enc.values[role][:, j]
        present = col[~np.isnan(col)]
        if present.size >= 2 and np.ptp(present) > 0:
            out.append(name)
    return out


def correlation_difference(real: np.ndarray, synthetic: np.ndarray) -> float | None:
    """Mean |real - synthetic| over the upper triangle; a pair NaN in the real matrix is skipped,
    one NaN only in the synthetic (a column the synthesizer made constant) counts as the real
    value's full size. None when no pair is left."""
    iu = np.triu_indices_from(real, k=1)
    r, s = real[iu], synthetic[iu]
    keep = ~np.isnan(r)
    if not keep.any():
        return None
    diff = np.abs(r[keep] - np.nan_to_num(s[keep], nan=0.0))
    return float(diff.mean())
