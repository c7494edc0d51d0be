"""Privacy: does the synthetic table give away the rows it was trained on?

- :func:`exact_copy_rate`: the share of synthetic rows equal in every column to some row of a
  reference table, after normalising types (numbers compared as float64 rounded to 12
  significant digits, so ``3``, ``3.0`` and ``3.000000000001`` agree; text stripped; dates to the
  millisecond; missing equals missing). Range 0..1, goal 0 (or the holdout's rate: what chance
  gives on discrete data).
- :func:`dcr`: distances to the closest record (:mod:`.encoding`'s space) from the synthetic rows to
  the training rows and to the holdout rows, with the same number of each (the larger table is
  subsampled, since more rows alone sit closer). A synthesizer that memorises sits closer to its
  training rows: the DCR ratio (median train / median holdout) falls below 1 and the share of
  synthetic rows closer to training than to holdout rises above 0.5.
- NNDR: the distance to the closest over the distance to the second closest record (0..1).
- :func:`membership_auc`: a distance attack (Chen et al. 2020, "GAN-Leaks", the full black-box
  setting): each real row's score is minus its distance to the closest synthetic row; the AUC of
  separating training rows (members) from holdout rows (non-members) by that score. 0.5 is
  chance; the goal is <= 0.55.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .encoding import DistanceSpace, Encoded, Points, nearest

MAX_DISTANCE_ROWS = 10_000  # rows per table in the distance figures (a seeded sample beyond that)


def _normalised(values: np.ndarray) -> np.ndarray:
    """Rows of float64 codes and numbers in a form where equal values are equal bytes."""
    out = np.array(values, dtype=np.float64, copy=True)
    finite = np.isfinite(out)
    with np.errstate(divide="ignore", invalid="ignore"):
        exp = np.where(finite & (out != 0), np.floor(np.log10(np.abs(np.where(finite & (out != 0), out, 1.0)))), 0)
    exp = np.clip(exp, -290, 290)  # 10 ** (11 - exp) stays finite
    scale = 10.0 ** (11 - exp)
    out[finite] = np.round(out[finite] * scale[finite]) / scale[finite]
    out[out == 0] = 0.0  # -0.0 and 0.0 are one number
    return out


def _row_keys(values: np.ndarray) -> np.ndarray:
    """One hashable key per row: its normalised bytes (NaN has one bit pattern after np.nan)."""
    norm = _normalised(values)
    norm = np.ascontiguousarray(np.where(np.isnan(norm), np.nan, norm))
    if not norm.shape[1]:
        return np.zeros(norm.shape[0], dtype="V1")
    return norm.view(np.dtype((np.void, norm.dtype.itemsize * norm.shape[1]))).ravel()


def exact_copy_rate(enc: Encoded, synthetic: str = "synthetic", reference: str = "real") -> float:
    """Share of ``synthetic`` rows equal to a ``reference`` row (module docstring); 0..1, goal 0."""
    syn, ref = _row_keys(enc.values[synthetic]), set(_row_keys(enc.values[reference]).tolist())
    if not len(syn):
        return 0.0
    return float(np.mean([k in ref for k in syn.tolist()]))


@dataclass(frozen=True)
class Distances:
    """The distance figures and the raw distances the report draws."""

    to_train: np.ndarray  # (S,) DCR of each synthetic row to the training sample
    to_holdout: np.ndarray  # (S,) to the holdout sample
    nndr_train: np.ndarray  # (S,)
    nndr_holdout: np.ndarray
    member_scores: np.ndarray  # (M,) -DCR of each training row to the synthetic rows
    nonmember_scores: np.ndarray  # (M,) same for holdout rows
    rows: dict[str, int]  # rows of each table the distances used


def _sample(n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(n, size=m, replace=False)) if m < n else np.arange(n)


def distances(enc: Encoded, *, seed: int = 0, train: str = "real", synthetic: str = "synthetic",
              holdout: str = "holdout", max_rows: int = MAX_DISTANCE_ROWS) -> Distances:
    """DCR, NNDR and the attack's scores on equal-size samples of training and holdout rows."""
    rng = np.random.default_rng(seed)
    space = DistanceSpace(enc, fit_role=train)
    pts: dict[str, Points] = {r: space.transform(r) for r in (train, synthetic, holdout)}
    m = min(len(pts[train]), len(pts[holdout]), max_rows)
    tr = pts[train].take(_sample(len(pts[train]), m, rng))
    ho = pts[holdout].take(_sample(len(pts[holdout]), m, rng))
    sy = pts[synthetic].take(_sample(len(pts[synthetic]), min(len(pts[synthetic]), max_rows), rng))
    k = 2 if m >= 2 else 1
    d_tr, d_ho = nearest(sy, tr, k), nearest(sy, ho, k)
    return Distances(to_train=d_tr[:, 0], to_holdout=d_ho[:, 0],
                     nndr_train=_nndr(d_tr), nndr_holdout=_nndr(d_ho),
                     member_scores=-nearest(tr, sy, 1)[:, 0], nonmember_scores=-nearest(ho, sy, 1)[:, 0],
                     rows={train: m, holdout: m, synthetic: len(sy)})


def _nndr(d: np.ndarray) -> np.ndarray:
    """d1 / d2 per row; 0 / 0 (a row on two identical records) is 0, as close as can be."""
    if d.shape[1] < 2:
        return np.zeros(d.shape[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(d[:, 1] > 0, d[:, 0] / np.where(d[:, 1] > 0, d[:, 1], 1.0), 0.0)


def closer_to_train(to_train: np.ndarray, to_holdout: np.ndarray) -> float:
    """Share of rows nearer their training record than their holdout record; ties count half.
    Range 0..1, goal 0.5."""
    return float(np.mean((to_train < to_holdout) + 0.5 * (to_train == to_holdout)))


def membership_auc(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> float:
    """P(member score > non-member score) + P(tie) / 2: the ROC AUC (Mann-Whitney U / (m n)).
    Range 0..1; 0.5 is chance, the goal is <= 0.55."""
    scores = np.concatenate([member_scores, nonmember_scores])
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(scores.size)
    sorted_scores = scores[order]
    # average ranks of ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    m, n = member_scores.size, nonmember_scores.size
    u = ranks[:m].sum() - m * (m + 1) / 2.0
    return float(u / (m * n))
