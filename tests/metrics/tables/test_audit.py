"""metrics/tables/audit.py and report.py: the whole audit on tables whose answer is known, every bad
table a clear error or a correct result, and the files it writes."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import ganforge
from ganforge.data.tables import BadTable
from ganforge.metrics.tables import FIGURES, run_audit
from ganforge.metrics.tables.figures import EXACT_COPY_RATE, MEMBERSHIP_AUC, ORDER

from .conftest import mixed_table, pd


def figures_are_numbers_or_null(doc):
    """No silent NaN: every figure is a finite number or None (and JSON without NaN accepts it)."""
    json.dumps(doc, allow_nan=False)
    for key in ORDER:
        assert doc[key] is None or np.isfinite(doc[key]), key


def test_an_exact_copy_of_the_training_rows_is_flagged(tables):
    real, holdout, _ = tables
    doc = ganforge.audit(real, real.sample(frac=1.0, random_state=0), holdout=holdout, target="y")
    assert doc[EXACT_COPY_RATE] == 1.0
    assert any(f.startswith("exact copies: 100% of synthetic rows equal a training row") for f in doc["flags"])
    assert doc[MEMBERSHIP_AUC] == 1.0 and any(f.startswith("membership AUC 1.00 > 0.55") for f in doc["flags"])
    figures_are_numbers_or_null(doc)


def test_an_independent_sample_passes_with_no_flags(tables):
    real, holdout, syn = tables
    doc = ganforge.audit(real, syn, holdout=holdout, target="y")
    assert doc["flags"] == []
    assert doc[EXACT_COPY_RATE] == 0.0 and abs(doc[MEMBERSHIP_AUC] - 0.5) < 0.05
    assert doc["column_similarity"] > 0.9 and doc["correlation_difference"] < 0.1
    assert doc["columns"]["colour"]["kind"] == "categorical" and doc["columns"]["age"]["kind"] == "integer"
    assert doc["inputs"]["real"]["rows"] == 300 and doc["target"]["score"] == "macro F1"
    assert set(ORDER) == set(FIGURES.names()) and set(ORDER) <= set(doc)
    figures_are_numbers_or_null(doc)


def test_a_memorising_synthesizer_is_flagged_without_exact_copies(tables):
    real, holdout, _ = tables
    r = np.random.default_rng(3)
    noisy = real.assign(x=real["x"] + r.normal(scale=0.01, size=len(real)))
    doc = ganforge.audit(real, noisy, holdout=holdout)
    assert doc[EXACT_COPY_RATE] == 0.0
    assert doc["dcr_ratio"] < 0.5 and doc["dcr_closer_to_train"] > 0.9 and doc[MEMBERSHIP_AUC] > 0.9
    assert len(doc["flags"]) == 2 and not any("exact copies" in f for f in doc["flags"])
    assert doc["tstr"] is None and "no TSTR/TRTR: give a target column" in doc["notes"]


def test_breast_cancer_memorisation_against_a_split():
    """scikit-learn's bundled table (569 x 31, no download): half trains, half is the holdout."""
    datasets = pytest.importorskip("sklearn.datasets")
    frame = datasets.load_breast_cancer(as_frame=True).frame
    frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    real, holdout = frame.iloc[:285], frame.iloc[285:]
    doc = ganforge.audit(real, real, holdout=holdout, target="target")
    assert doc["target"]["task"] == "classification"  # an integer 0/1 target
    assert doc["trtr"] > 0.85 and doc["tstr_trtr_ratio"] == 1.0
    assert doc[EXACT_COPY_RATE] == 1.0 and doc["flags"]
    # a "synthesizer" drawing each column independently from the real marginals: no copies, little utility
    r = np.random.default_rng(0)
    marginals = pd.DataFrame({c: r.permutation(real[c].to_numpy()) for c in real.columns})
    doc = ganforge.audit(real, marginals, holdout=holdout, target="target")
    assert doc[EXACT_COPY_RATE] == 0.0 and doc["column_similarity"] == 1.0
    assert doc["correlation_difference"] > 0.2 and doc["tstr_trtr_ratio"] < 0.8
    assert any(f.startswith("utility: TSTR / TRTR") for f in doc["flags"])


# Bad tables: a clear error or a correct result -----------------------------------------------------

def test_empty_header_only_and_single_row_tables_are_refused(tmp_path, tables):
    real, holdout, _ = tables
    good = tmp_path / "good.csv"
    real.to_csv(good, index=False)
    for name, text, needle in [("empty.csv", "", "empty.csv: an empty table"),
                               ("header.csv", ",".join(real.columns) + "\n", "header.csv: the table has a header but no rows"),
                               ("one.csv", real.iloc[:1].to_csv(index=False), "one.csv: 1 row; at least 2")]:
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(BadTable, match=re.escape(needle)):
            ganforge.audit(good, path, holdout=holdout)


def test_a_target_that_does_not_exist_is_named_with_the_columns(tables):
    real, holdout, syn = tables
    with pytest.raises(BadTable, match=r"no target column 'colur' in real \(did you mean 'colour'\?\); its columns: x, z"):
        ganforge.audit(real, syn, holdout=holdout, target="colur")


def test_no_holdout_is_refused(tables):
    real, _, syn = tables
    with pytest.raises(BadTable, match="an audit needs a holdout table"):
        ganforge.audit(real, syn)


def test_synthetic_columns_must_match(tables):
    real, holdout, syn = tables
    with pytest.raises(BadTable, match="synthetic: lacks 'smoker'"):
        ganforge.audit(real, syn.drop(columns="smoker"), holdout=holdout)


def test_a_column_of_one_value_is_left_out_of_the_associations_and_said(tables):
    real, holdout, syn = tables
    real, holdout, syn = (t.assign(site="A") for t in (real, holdout, syn))
    doc = ganforge.audit(real, syn, holdout=holdout, target="y")
    assert doc["columns"]["site"] == {"kind": "categorical", "similarity": 1.0}
    assert any(n.endswith("real table): site") for n in doc["notes"])
    assert doc["flags"] == []
    figures_are_numbers_or_null(doc)


def test_a_constant_target_gives_f1_of_one_class(tables):
    real, holdout, syn = tables
    real, holdout, syn = (t.assign(y="no") for t in (real, holdout, syn))
    doc = ganforge.audit(real, syn, holdout=holdout, target="y")
    assert doc["tstr"] == doc["trtr"] == 1.0  # predicting the one class is right everywhere
    figures_are_numbers_or_null(doc)


def test_mixed_types_in_a_column_are_categories():
    def table(seed):
        t = mixed_table(120, seed)
        t["code"] = [str(i % 4) if i % 5 else "unknown" for i in range(len(t))]
        return t
    doc = ganforge.audit(table(1), table(2), holdout=table(3), target="code")
    assert doc["columns"]["code"]["kind"] == "categorical" and doc["target"]["task"] == "classification"
    assert doc["columns"]["code"]["similarity"] == 1.0
    figures_are_numbers_or_null(doc)


def test_ten_thousand_categories_in_a_column():
    """One id per row: no one-hot matrix, no crash, and a copied id column is still an exact copy."""
    def table(seed, n=10_000):
        r = np.random.default_rng(seed)
        return pd.DataFrame({"patient": [f"p{seed}-{i}" for i in range(n)], "x": r.normal(size=n),
                             "k": r.choice(["a", "b"], size=n)})
    real, holdout = table(1), table(2, 2_000)
    doc = ganforge.audit(real, table(3, 2_000), holdout=holdout, target="k")
    assert doc["columns"]["patient"]["kind"] == "categorical"
    assert doc["columns"]["patient"]["similarity"] == 0.0  # no id in common
    assert doc[EXACT_COPY_RATE] == 0.0
    figures_are_numbers_or_null(doc)
    copied = ganforge.audit(real, real.iloc[:500], holdout=holdout)
    assert copied[EXACT_COPY_RATE] == 1.0


def test_missing_values_are_kept_and_compared():
    def table(seed):
        t = mixed_table(200, seed)
        r = np.random.default_rng(seed + 100)
        t.loc[r.random(200) < 0.2, "x"] = np.nan
        t.loc[r.random(200) < 0.1, "colour"] = None
        return t
    real, holdout, syn = table(1), table(2), table(3)
    doc = ganforge.audit(real, syn, holdout=holdout, target="y")
    assert doc["flags"] == [] and doc[EXACT_COPY_RATE] == 0.0
    # the same values with every missing one filled: no longer the same distribution of 'colour'
    filled = syn.assign(colour=syn["colour"].fillna("red"))
    assert ganforge.audit(real, filled, holdout=holdout)["columns"]["colour"]["similarity"] < \
        doc["columns"]["colour"]["similarity"]
    assert ganforge.audit(real, real, holdout=holdout)[EXACT_COPY_RATE] == 1.0  # NaN equals NaN in a copy
    figures_are_numbers_or_null(doc)


# Files ---------------------------------------------------------------------------------------------

def test_audit_writes_json_and_a_self_contained_page(tmp_path, tables):
    real, holdout, syn = tables
    paths = {}
    for name, t in (("real", real), ("synthetic", syn)):
        paths[name] = tmp_path / f"{name}.csv"
        t.to_csv(paths[name], index=False)
    paths["holdout"] = tmp_path / "holdout.parquet"
    holdout.to_parquet(paths["holdout"])
    doc = ganforge.audit(paths["real"], paths["synthetic"], holdout=paths["holdout"], target="y", out=tmp_path / "out")
    on_disk = json.loads((tmp_path / "out" / "audit.json").read_text())
    assert on_disk == doc
    assert doc["inputs"]["holdout"] == {"label": "holdout.parquet", "rows": 300, "format": "Parquet",
                                        "bytes": paths["holdout"].stat().st_size}
    assert set(doc["versions"]) >= {"ganforge", "scikit-learn", "pandas", "numpy"}
    html = (tmp_path / "out" / "report.html").read_text()
    assert html.count("<svg") == 4  # distributions, heat maps, two distance histograms
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, urls  # XML namespaces only
    assert not re.search(r"""(src|href)=["']//""", html)  # nor addresses without a scheme
    assert "<script" not in html
    for title in ("Distributions: real against synthetic", "Associations", "Distance to the closest record",
                  "membership-inference AUC"):
        assert title in html
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["audit.json", "report.html"]  # no temp left


def test_run_audit_reports_its_stages(tables):
    real, holdout, syn = tables
    seen = []
    run_audit(real, syn, holdout, progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert seen == [("read", 0, 3), ("utility", 1, 3), ("privacy", 2, 3)]


def test_a_missing_extra_is_one_line_naming_the_install(monkeypatch, tables):
    import sys

    real, holdout, syn = tables
    monkeypatch.setitem(sys.modules, "sklearn", None)  # as if scikit-learn were not installed
    with pytest.raises(ganforge.GanforgeError, match=r"^the table audit needs sklearn: pip install 'ganforge\[tabular\]'$"):
        ganforge.audit(real, syn, holdout=holdout)
