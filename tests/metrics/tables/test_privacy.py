"""metrics/tables/privacy.py: exact copies, DCR, NNDR and the membership attack on tables whose
answer is known: a copy, an independent sample, a memorising synthesizer."""

from __future__ import annotations

import numpy as np
import pytest

from ganforge.data.tables import align, read_table
from ganforge.metrics.tables.encoding import DistanceSpace, encode_tables, nearest
from ganforge.metrics.tables.privacy import closer_to_train, distances, exact_copy_rate, membership_auc

from .conftest import mixed_table, pd


def encoded(real, synthetic, holdout):
    t = {"real": read_table(real, label="real")}
    t["synthetic"] = align(read_table(synthetic, label="synthetic"), t["real"])
    t["holdout"] = align(read_table(holdout, label="holdout"), t["real"])
    return encode_tables(t)


def test_exact_copy_rate_counts_rows_equal_after_normalising_types(tables):
    real, holdout, _ = tables
    syn = real.copy().iloc[::-1]  # every row a copy, in another order
    assert exact_copy_rate(encoded(real, syn, holdout)) == 1.0
    # the same rows written by another tool: floats as text, integers as floats, booleans as 0/1
    text = real.astype({"age": float}).assign(smoker=real["smoker"].astype(int), x=real["x"].map(repr))
    assert exact_copy_rate(encoded(real, text, holdout)) == 1.0
    half = pd.concat([real.iloc[:150], holdout.iloc[:150]])
    assert exact_copy_rate(encoded(real, half, holdout)) == 0.5
    nudged = real.assign(x=real["x"] + 1e-6)
    assert exact_copy_rate(encoded(real, nudged, holdout)) == 0.0


def test_missing_equals_missing_in_an_exact_copy():
    real = pd.DataFrame({"a": [1.0, np.nan, 3.0], "b": ["u", None, "w"]})
    assert exact_copy_rate(encoded(real, real.copy(), real.copy())) == 1.0
    other = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["u", None, None]})
    assert exact_copy_rate(encoded(real, other, real.copy())) == pytest.approx(1 / 3)


def test_nearest_matches_a_brute_force_one_hot_distance():
    """The code-equality path (many categories) gives the distances of an explicit one-hot encoding."""
    r = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame({"x": r.normal(size=n), "k": [f"c{i}" for i in r.integers(0, 50, size=n)],
                          "s": r.choice(["a", "b"], size=n)})
    enc = encoded(frame.iloc[:30], frame.iloc[30:], frame.iloc[30:])
    space = DistanceSpace(enc)
    q, refs = space.transform("synthetic"), space.transform("real")
    assert refs.codes.shape[1] == 1  # 'k' has more than ONE_HOT_MAX values: compared by code
    got = nearest(q, refs, 2)
    xs = (frame["x"] - frame["x"].iloc[:30].min()) / np.ptp(frame["x"].iloc[:30])
    d2 = ((xs.to_numpy()[30:, None] - xs.to_numpy()[None, :30]) ** 2
          + (frame["k"].to_numpy()[30:, None] != frame["k"].to_numpy()[None, :30])
          + (frame["s"].to_numpy()[30:, None] != frame["s"].to_numpy()[None, :30]))
    want = np.sort(np.sqrt(d2), axis=1)[:, :2]
    np.testing.assert_allclose(got, want, atol=1e-7)


def test_an_independent_sample_is_not_flagged_by_any_distance_figure(tables):
    real, holdout, syn = tables
    enc = encoded(real, syn, holdout)
    d = distances(enc)
    assert exact_copy_rate(enc) == 0.0
    assert 0.4 < closer_to_train(d.to_train, d.to_holdout) < 0.6
    assert abs(membership_auc(d.member_scores, d.nonmember_scores) - 0.5) < 0.05
    assert 0.8 < np.median(d.to_train) / np.median(d.to_holdout) < 1.25


def test_a_memorising_synthesizer_sits_closer_to_its_training_rows(tables):
    real, holdout, _ = tables
    r = np.random.default_rng(5)
    memorised = real.assign(x=real["x"] + r.normal(scale=0.01, size=len(real)),
                            z=real["z"] + r.normal(scale=0.01, size=len(real)))
    enc = encoded(real, memorised, holdout)
    d = distances(enc)
    assert exact_copy_rate(enc) == 0.0  # the noise hides exact copies...
    assert np.median(d.to_train) < 0.2 * np.median(d.to_holdout)  # ...not the distances
    assert closer_to_train(d.to_train, d.to_holdout) > 0.95
    assert np.median(d.nndr_train) < 0.2 < np.median(d.nndr_holdout)
    assert membership_auc(d.member_scores, d.nonmember_scores) > 0.9


def test_membership_auc_is_the_mann_whitney_statistic():
    assert membership_auc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0
    assert membership_auc(np.array([1.0, 2.0]), np.array([3.0, 4.0])) == 0.0
    assert membership_auc(np.array([1.0, 1.0]), np.array([1.0, 1.0])) == 0.5
    sk = pytest.importorskip("sklearn.metrics")
    r = np.random.default_rng(1)
    a, b = r.normal(0.3, 1, 200).round(1), r.normal(0, 1, 150).round(1)  # rounded: many ties
    want = sk.roc_auc_score(np.r_[np.ones(200), np.zeros(150)], np.r_[a, b])
    assert membership_auc(a, b) == pytest.approx(want, abs=1e-12)


def test_train_and_holdout_are_compared_at_equal_size():
    """A bigger training table alone would sit closer: the larger side is subsampled."""
    big, small = mixed_table(900, 11), mixed_table(200, 12)
    d = distances(encoded(big, mixed_table(300, 13), small))
    assert d.rows == {"real": 200, "holdout": 200, "synthetic": 300}
    assert 0.4 < closer_to_train(d.to_train, d.to_holdout) < 0.6
