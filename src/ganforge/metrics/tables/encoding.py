"""Tables as numbers: one shared encoding of the real, synthetic and holdout tables.

:func:`encode_tables` turns aligned :class:`~ganforge.data.tables.Table` objects (same columns,
same kinds) into float64 matrices, one column per table column, NaN where a value is missing:

- ``continuous``, ``integer``: the number;
- ``datetime``: seconds since 1970-01-01 (UTC);
- ``boolean``, ``categorical``: the index of the value in the column's vocabulary, which is the
  sorted union of the values of all three tables (so a category only the synthetic table has
  still gets a code).

:class:`DistanceSpace` is where record distances are measured (DCR, NNDR, the membership
attack), fitted on the real table only:

- a numeric or datetime column is min-max scaled by the real table's range (a constant column by
  1), so it contributes at most about 1 to a squared distance, like one differing category;
  a missing number is put at 0 and, for columns with missing values anywhere, an indicator
  column (missing = 1) is added;
- a categorical or boolean column with at most :data:`ONE_HOT_MAX` values (missing counted as one
  more) is one-hot encoded with weight 1/sqrt(2), so two different categories are at squared
  distance exactly 1; a column with more values is kept as codes and compared for equality
  (a mismatch adds 1 to the squared distance), which is the same distance without ever building
  a 10,000-wide one-hot matrix.

So d(a, b)^2 = sum over numbers ((a - b) / range)^2 + missing-pattern mismatches + category
mismatches. :func:`nearest` finds the k nearest references of each query row in chunks whose
size bounds memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...data.tables import Table

CATEGORICAL_KINDS = ("categorical", "boolean")
ONE_HOT_MAX = 32  # categories (missing included) up to which a column is one-hot encoded for distances
CHUNK_CELLS = 4_000_000  # query rows x reference rows per chunk of a nearest-neighbour search


@dataclass
class Encoded:
    """The tables of one audit as numbers (module docstring). ``values[role]``: (rows, columns)
    float64, NaN = missing; ``vocab[name]``: a categorical column's values (code i = vocab[i])."""

    names: list[str]
    kinds: dict[str, str]
    values: dict[str, np.ndarray]
    vocab: dict[str, list[str]]

    def is_categorical(self, name: str) -> bool:
        return self.kinds[name] in CATEGORICAL_KINDS

    def column(self, role: str, name: str) -> np.ndarray:
        return self.values[role][:, self.names.index(name)]

    def rows(self, role: str) -> int:
        return int(self.values[role].shape[0])


def encode_tables(tables: dict[str, Table]) -> Encoded:
    """``tables``: role -> aligned Table (same columns and kinds; the first one is the reference)."""
    first = next(iter(tables.values()))
    names, kinds = list(first.columns), dict(first.kinds)
    vocab: dict[str, list[str]] = {}
    for name in names:
        if kinds[name] in CATEGORICAL_KINDS:
            seen = set()
            for t in tables.values():
                seen.update(str(v) for v in t.frame[name].dropna())
            vocab[name] = sorted(seen)
    values = {}
    for role, t in tables.items():
        cols = []
        for name in names:
            s = t.frame[name]
            if name in vocab:
                index = {v: i for i, v in enumerate(vocab[name])}
                cols.append(np.array([np.nan if _na(v) else index[str(v)] for v in s], dtype=np.float64))
            elif kinds[name] == "datetime":
                ns = s.to_numpy(dtype="datetime64[ns]")
                secs = ns.astype("int64").astype(np.float64) / 1e9
                cols.append(np.where(np.isnat(ns), np.nan, secs))
            else:
                cols.append(s.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan))
        values[role] = np.stack(cols, axis=1) if cols else np.zeros((len(t.frame), 0))
    return Encoded(names=names, kinds=kinds, values=values, vocab=vocab)


def _na(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or str(v) == "<NA>"


@dataclass
class Points:
    """Rows in a :class:`DistanceSpace`: ``dense`` (n, d) float64 and ``codes`` (n, h) int64 of
    the many-valued categorical columns (missing = -1)."""

    dense: np.ndarray
    codes: np.ndarray

    def __len__(self) -> int:
        return int(self.dense.shape[0])

    def take(self, idx: np.ndarray) -> "Points":
        return Points(self.dense[idx], self.codes[idx])


class DistanceSpace:
    """The record-distance encoding of the module docstring, fitted on ``enc.values[fit_role]``."""

    def __init__(self, enc: Encoded, *, fit_role: str = "real", exclude: tuple[str, ...] = ()) -> None:
        self.enc = enc
        self.columns = [n for n in enc.names if n not in exclude]
        fit = enc.values[fit_role]
        self.plan = []  # (column index, "number"|"onehot"|"codes", parameters)
        for name in self.columns:
            j = enc.names.index(name)
            any_missing = any(np.isnan(v[:, j]).any() for v in enc.values.values())
            if enc.is_categorical(name):
                size = len(enc.vocab[name]) + 1  # the last slot is "missing"
                self.plan.append((j, "onehot" if size <= ONE_HOT_MAX else "codes", size))
            else:
                col = fit[:, j]
                present = col[~np.isnan(col)]
                lo, hi = (float(present.min()), float(present.max())) if present.size else (0.0, 1.0)
                self.plan.append((j, "number", (lo, (hi - lo) or 1.0, any_missing)))

    def transform(self, role: str) -> Points:
        v = self.enc.values[role]
        dense, codes = [], []
        for j, how, p in self.plan:
            col = v[:, j]
            missing = np.isnan(col)
            if how == "number":
                lo, scale, any_missing = p
                dense.append(np.where(missing, 0.0, (col - lo) / scale)[:, None])
                if any_missing:
                    dense.append(missing.astype(np.float64)[:, None])
            else:
                idx = np.where(missing, p - 1, np.nan_to_num(col, nan=0)).astype(np.int64)
                if how == "onehot":
                    hot = np.zeros((len(col), p))
                    hot[np.arange(len(col)), idx] = np.sqrt(0.5)
                    dense.append(hot)
                else:
                    codes.append(np.where(missing, -1, idx)[:, None])
        n = v.shape[0]
        return Points(np.hstack(dense) if dense else np.zeros((n, 0)),
                      np.hstack(codes) if codes else np.zeros((n, 0), dtype=np.int64))


def nearest(queries: Points, refs: Points, k: int = 1) -> np.ndarray:
    """(len(queries), k) Euclidean distances from each query to its k nearest references, sorted."""
    if len(refs) < k:
        raise ValueError(f"nearest: {len(refs)} references, need at least {k}")
    out = np.empty((len(queries), k))
    ref_sq = np.einsum("ij,ij->i", refs.dense, refs.dense)
    step = max(1, CHUNK_CELLS // max(len(refs), 1))
    for a in range(0, len(queries), step):
        q = queries.dense[a:a + step]
        d2 = np.einsum("ij,ij->i", q, q)[:, None] + ref_sq[None, :] - 2.0 * (q @ refs.dense.T)
        for h in range(refs.codes.shape[1]):
            d2 += queries.codes[a:a + step, h][:, None] != refs.codes[None, :, h]
        np.maximum(d2, 0.0, out=d2)  # rounding can make an exact match slightly negative
        part = np.partition(d2, k - 1, axis=1)[:, :k] if k < d2.shape[1] else d2
        out[a:a + step] = np.sqrt(np.sort(part, axis=1)[:, :k])
    return out
