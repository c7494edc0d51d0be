"""metrics/tables/utility.py and similarity.py: TSTR/TRTR on learnable targets; similarities and
associations against their definitions."""

from __future__ import annotations

import numpy as np
import pytest

from ganforge.data.tables import align, read_table
from ganforge.metrics.tables.encoding import encode_tables
from ganforge.metrics.tables.similarity import (
    association_matrix, column_similarities, correlation_difference, ks_similarity, tv_similarity)
from ganforge.metrics.tables.utility import target_task, utility

from .conftest import mixed_table, pd


def encoded(real, synthetic, holdout):
    t = {"real": read_table(real, label="real")}
    t["synthetic"] = align(read_table(synthetic, label="synthetic"), t["real"])
    t["holdout"] = align(read_table(holdout, label="holdout"), t["real"])
    return encode_tables(t)


def test_tstr_close_to_trtr_for_a_sample_of_the_same_distribution(tables):
    real, holdout, syn = tables
    u = utility(encoded(real, syn, holdout), "y")
    assert u.task == "classification"
    assert u.trtr > 0.75  # the target is learnable
    assert 0.85 < u.ratio < 1.15
    assert u.rows == {"real": 300, "synthetic": 300, "holdout": 300}


def test_tstr_falls_when_the_synthetic_target_is_noise(tables):
    real, holdout, syn = tables
    r = np.random.default_rng(0)
    shuffled = syn.assign(y=r.permutation(syn["y"].to_numpy()))  # same marginals, no relation to the features
    u = utility(encoded(real, shuffled, holdout), "y")
    assert u.ratio < 0.8


def test_regression_target_is_scored_by_r2():
    def table(seed):
        r = np.random.default_rng(seed)
        x = r.normal(size=300)
        return pd.DataFrame({"x": x, "k": r.choice(["a", "b"], 300), "t": 3 * x + r.normal(scale=0.3, size=300)})
    enc = encoded(table(1), table(2), table(3))
    u = utility(enc, "t")
    assert u.task == "regression" and u.trtr > 0.9 and u.tstr > 0.9


def test_an_integer_target_with_few_values_is_a_class(tables):
    real, holdout, syn = tables
    as_int = [t.assign(y=(t["y"] == "yes").astype(int)) for t in (real, syn, holdout)]
    enc = encoded(*as_int)
    assert target_task(enc, "y") == "classification"
    assert target_task(enc, "age") == "regression"  # 72 values


def test_a_synthetic_target_of_one_class_is_a_note_not_a_crash(tables):
    real, holdout, syn = tables
    u = utility(encoded(real, syn.assign(y="no"), holdout), "y")
    assert u.tstr is not None and u.tstr < u.trtr
    assert any("one value" in n for n in u.notes)


def test_a_constant_regression_holdout_gives_no_r2_and_says_why():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "t": [1.0, 2.0, 3.0, 4.0]})
    hold = pd.DataFrame({"x": [1.0, 2.0], "t": [5.0, 5.0]})
    u = utility(encoded(frame, frame, hold), "t")
    assert (u.tstr, u.trtr, u.ratio) == (None, None, None)
    assert "R^2 is undefined" in u.notes[0]


def test_ks_and_tv_similarities_follow_their_definitions():
    a = np.array([0.0, 1.0, 2.0, 3.0])
    assert ks_similarity(a, a) == 1.0
    assert ks_similarity(a, a + 10) == 0.0
    assert ks_similarity(a, np.array([0.0, 1.0, np.nan])) == pytest.approx(0.5)  # F differs by 1/2 at x = 1
    codes = np.array([0.0, 0.0, 1.0, np.nan])
    assert tv_similarity(codes, codes, 2) == 1.0
    assert tv_similarity(codes, np.array([1.0, 1.0, 1.0, 1.0]), 2) == pytest.approx(0.25)
    sc = pytest.importorskip("scipy.stats")
    r = np.random.default_rng(0)
    x, y = r.normal(size=200), r.normal(0.2, 1, size=150)
    assert ks_similarity(x, y) == pytest.approx(1 - sc.ks_2samp(x, y).statistic, abs=1e-12)


def test_association_matrix_uses_one_measure_per_pair_of_kinds():
    r = np.random.default_rng(0)
    n = 400
    x = r.normal(size=n)
    cat = np.where(x > 0, "pos", "neg")
    frame = pd.DataFrame({"x": x, "y": 2 * x + 1, "c": cat, "d": cat, "noise": r.choice(["u", "v"], n)})
    enc = encoded(frame, frame, frame)
    m = association_matrix(enc, "real", list(frame.columns))
    names = list(frame.columns)
    at = lambda a, b: m[names.index(a), names.index(b)]  # noqa: E731
    assert at("x", "y") == pytest.approx(1.0)  # Pearson
    assert at("c", "d") == pytest.approx(1.0)  # Cramer's V of identical categories
    assert 0.7 < at("x", "c") < 1.0  # eta: the category tells the sign of x
    assert at("c", "noise") < 0.15
    assert correlation_difference(m, m) == 0.0


def test_columns_similarity_per_column(tables):
    real, holdout, syn = tables
    sims = column_similarities(encoded(real, syn, holdout))
    assert set(sims) == set(real.columns)
    assert all(0.85 < s <= 1.0 for s in sims.values())
