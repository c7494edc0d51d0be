"""The audit's figures: their keys in ``audit.json``, what each means, its range and its goal.

Every figure the audit reports is one :class:`Figure` in :data:`FIGURES`; the report's tables, the
flags and docs/tabular.md read them from here. A figure that cannot be computed on the given
tables (R^2 of a constant holdout target) is ``null`` in the JSON with the reason in ``notes``,
never NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...registry import Registry

# Result keys (audit.json)
TSTR = "tstr"
TRTR = "trtr"
TSTR_TRTR_RATIO = "tstr_trtr_ratio"
COLUMN_SIMILARITY = "column_similarity"
CORRELATION_DIFFERENCE = "correlation_difference"
EXACT_COPY_RATE = "exact_copy_rate"
EXACT_COPY_RATE_HOLDOUT = "exact_copy_rate_holdout"
DCR_TRAIN_MEDIAN = "dcr_train_median"
DCR_HOLDOUT_MEDIAN = "dcr_holdout_median"
DCR_TRAIN_P5 = "dcr_train_p5"
DCR_HOLDOUT_P5 = "dcr_holdout_p5"
DCR_RATIO = "dcr_ratio"
DCR_CLOSER_TO_TRAIN = "dcr_closer_to_train"
NNDR_TRAIN_MEDIAN = "nndr_train_median"
NNDR_HOLDOUT_MEDIAN = "nndr_holdout_median"
MEMBERSHIP_AUC = "membership_auc"


@dataclass(frozen=True)
class Figure:
    """One reported number: ``title`` for people, ``range`` it lies in, ``goal`` (what a good
    synthesizer gets), ``better`` ("higher", "lower" or "" when closer to a reference is better)."""

    key: str
    title: str
    group: str  # "utility" | "privacy"
    range: str
    goal: str
    better: str
    meaning: str


FIGURES: Registry[Figure] = Registry("audit figure")
_registered: list[str] = []  # registration order, frozen into ORDER below


def _figure(*args: str) -> None:
    FIGURES.register(args[0], Figure(*args))
    _registered.append(args[0])


_figure(TSTR, "TSTR score", "utility", "F1: 0..1; R^2: -inf..1", "close to TRTR", "higher",
        "a gradient-boosting model trained on the synthetic table, scored on the holdout "
        "(macro F1 for a class target, R^2 for a number)")
_figure(TRTR, "TRTR score", "utility", "F1: 0..1; R^2: -inf..1", "the reference", "higher",
        "the same model trained on the real (training) table, scored on the same holdout")
_figure(TSTR_TRTR_RATIO, "TSTR / TRTR", "utility", "usually 0..1", "1 (as useful as the real table)", "higher",
        "how much of the real table's usefulness for predicting the target the synthetic table keeps")
_figure(COLUMN_SIMILARITY, "column similarity (mean)", "utility", "0..1", "1", "higher",
        "per column 1 - KS statistic (numbers, dates) or 1 - total variation distance (categories, "
        "missing counted as a category), averaged over the columns")
_figure(CORRELATION_DIFFERENCE, "correlation difference", "utility", "0..2 (0..1 for categories)", "0", "lower",
        "mean absolute difference between the real and synthetic association matrices (Pearson r "
        "between numbers, Cramer's V between categories, the correlation ratio eta between a "
        "category and a number), over the pairs of columns")
_figure(EXACT_COPY_RATE, "exact copies of training rows", "privacy", "0..1", "0 (or the holdout's rate)", "lower",
        "share of synthetic rows equal to a training row in every column, after normalising types")
_figure(EXACT_COPY_RATE_HOLDOUT, "exact matches of holdout rows", "privacy", "0..1",
        "the baseline for exact copies", "",
        "share of synthetic rows equal to a holdout row: what chance alone gives on this data")
_figure(DCR_TRAIN_MEDIAN, "DCR to training, median", "privacy", "0..", "about the holdout's", "",
        "median distance from a synthetic row to its closest training row")
_figure(DCR_HOLDOUT_MEDIAN, "DCR to holdout, median", "privacy", "0..", "the reference", "",
        "median distance from a synthetic row to its closest holdout row (as many holdout as training rows)")
_figure(DCR_TRAIN_P5, "DCR to training, 5th percentile", "privacy", "0..", "about the holdout's", "",
        "the closest 5% of synthetic rows: copies and near copies show here first")
_figure(DCR_HOLDOUT_P5, "DCR to holdout, 5th percentile", "privacy", "0..", "the reference", "", "")
_figure(DCR_RATIO, "DCR ratio (train / holdout)", "privacy", "0..", ">= 1 (no closer to training)", "higher",
        "median DCR to training over median DCR to holdout: below 1 the synthetic rows sit closer to "
        "the rows the model saw")
_figure(DCR_CLOSER_TO_TRAIN, "share closer to training", "privacy", "0..1", "0.5", "lower",
        "share of synthetic rows nearer their closest training row than their closest holdout row "
        "(ties count half)")
_figure(NNDR_TRAIN_MEDIAN, "NNDR to training, median", "privacy", "0..1", "about the holdout's", "",
        "nearest-neighbour distance ratio: distance to the closest training row over the distance to "
        "the second closest; near 0 a synthetic row sits on one training row")
_figure(NNDR_HOLDOUT_MEDIAN, "NNDR to holdout, median", "privacy", "0..1", "the reference", "", "")
_figure(MEMBERSHIP_AUC, "membership-inference AUC", "privacy", "0..1", "<= 0.55 (0.5 is chance)", "lower",
        "an attacker scores each real row by minus its distance to the closest synthetic row; the AUC "
        "of telling training rows (members) from holdout rows (non-members) by that score")

ORDER: tuple[str, ...] = tuple(_registered)  # the figures in the order reports list them (utility, then privacy)
del _registered
