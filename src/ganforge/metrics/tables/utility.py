"""Machine-learning utility: train on synthetic, test on real (TSTR), against train on real (TRTR).

Both fit scikit-learn's ``HistGradientBoostingClassifier`` (a categorical or boolean target, or an
integer one with at most :data:`MAX_INTEGER_CLASSES` values: scored by macro F1, 0..1) or
``HistGradientBoostingRegressor`` (a number: scored by R^2, at most 1, below 0 worse than
predicting the mean) with the same seed and settings, and score on the same holdout rows. The
other columns are the features: numbers and dates as numbers, categories with at most 255 values
as native categorical features, more as their codes (ordered by name). Rows whose target is
missing are left out of fitting and scoring.

TSTR / TRTR is the share of the real table's usefulness the synthetic one keeps (goal 1;
SDGym's leaderboard has CTGAN at 0.92 of real on adult).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...data.tables import TABULAR_EXTRA
from ...errors import GanforgeError
from .encoding import Encoded

MAX_INTEGER_CLASSES = 20  # an integer target with at most this many values is a class label
MAX_NATIVE_CATEGORIES = 255  # HistGradientBoosting's limit on a categorical feature's values


@dataclass(frozen=True)
class Utility:
    task: str  # "classification" (macro F1) | "regression" (R^2)
    tstr: float | None
    trtr: float | None
    ratio: float | None
    rows: dict[str, int]  # rows with a target, per table
    notes: tuple[str, ...] = ()


def target_task(enc: Encoded, target: str) -> str:
    if enc.is_categorical(target):
        return "classification"
    if enc.kinds[target] == "integer":
        col = enc.column("real", target)
        if np.unique(col[~np.isnan(col)]).size <= MAX_INTEGER_CLASSES:
            return "classification"
    return "regression"


def _sklearn():
    try:
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
        from sklearn.metrics import f1_score, r2_score
    except ImportError:
        raise GanforgeError(f"the audit's utility scores need scikit-learn: {TABULAR_EXTRA}") from None
    return HistGradientBoostingClassifier, HistGradientBoostingRegressor, f1_score, r2_score


def utility(enc: Encoded, target: str, *, seed: int = 0, train: str = "real", synthetic: str = "synthetic",
            holdout: str = "holdout") -> Utility:
    """TSTR and TRTR scores of predicting ``target`` (module docstring)."""
    Classifier, Regressor, f1_score, r2_score = _sklearn()
    task = target_task(enc, target)
    j = enc.names.index(target)
    features = [i for i in range(len(enc.names)) if i != j]
    native = [enc.is_categorical(enc.names[i]) and len(enc.vocab[enc.names[i]]) <= MAX_NATIVE_CATEGORIES
              for i in features]

    def split(role: str) -> tuple[np.ndarray, np.ndarray]:
        v = enc.values[role]
        keep = ~np.isnan(v[:, j])
        return v[keep][:, features], v[keep, j]

    (x_real, y_real), (x_syn, y_syn), (x_test, y_test) = split(train), split(synthetic), split(holdout)
    rows = {train: int(y_real.size), synthetic: int(y_syn.size), holdout: int(y_test.size)}
    notes: list[str] = []
    if y_test.size < 2:
        return Utility(task, None, None, None, rows, (f"the holdout has {y_test.size} rows with '{target}'",))
    if task == "regression" and np.ptp(y_test) == 0:
        return Utility(task, None, None, None, rows, (f"'{target}' has one value in the holdout: R^2 is undefined",))

    def score(x: np.ndarray, y: np.ndarray, name: str) -> float | None:
        if y.size < 2:
            notes.append(f"{name}: {y.size} rows with '{target}', too few to fit")
            return None
        if not features:
            pred = np.full(y_test.shape, _constant(y, task))
        elif task == "classification" and np.unique(y).size < 2:
            notes.append(f"{name}: '{target}' has one value; the model predicts it everywhere")
            pred = np.full(y_test.shape, y[0])
        else:
            Model = Classifier if task == "classification" else Regressor
            model = Model(random_state=seed, categorical_features=np.array(native) if any(native) else None)
            pred = model.fit(x, y).predict(x_test)
        if task == "classification":
            return float(f1_score(y_test, pred, average="macro", zero_division=0))
        return float(r2_score(y_test, pred))

    trtr = score(x_real, y_real, train)
    tstr = score(x_syn, y_syn, synthetic)
    ratio = None
    if tstr is not None and trtr is not None:
        if trtr > 0:
            ratio = tstr / trtr
        else:
            notes.append(f"TRTR is {trtr:.3g}: the real table does not predict '{target}', so no ratio")
    return Utility(task, tstr, trtr, ratio, rows, tuple(notes))


def _constant(y: np.ndarray, task: str) -> float:
    if task == "regression":
        return float(np.mean(y))
    values, counts = np.unique(y, return_counts=True)
    return float(values[np.argmax(counts)])
