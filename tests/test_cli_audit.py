"""`ganforge audit` end to end: both files written, figures printed, a bad table one line."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("sklearn")

from .metrics.tables.conftest import mixed_table  # noqa: E402
from .test_cli import assert_one_line_error, run_cli  # noqa: E402


@pytest.fixture
def files(tmp_path):
    paths = {}
    for name, seed in (("real", 1), ("holdout", 2)):
        paths[name] = tmp_path / f"{name}.csv"
        mixed_table(200, seed).to_csv(paths[name], index=False)
    paths["copy"] = tmp_path / "copy.parquet"
    mixed_table(200, 1).to_parquet(paths["copy"])
    return paths


def test_audit_writes_both_files_and_prints_the_flags(monkeypatch, capsys, tmp_path, files):
    code, out, err = run_cli(monkeypatch, capsys, "audit", files["real"], files["copy"], "--holdout", files["holdout"],
                             "--target", "y", "--out", tmp_path / "audit")
    assert code == 0, err
    doc = json.loads((tmp_path / "audit" / "audit.json").read_text())
    assert doc["exact_copy_rate"] == 1.0 and doc["inputs"]["synthetic"]["format"] == "Parquet"
    assert (tmp_path / "audit" / "report.html").read_text().startswith("<!doctype html>")
    assert "exact_copy_rate" in out and "flag: exact copies: 100% of synthetic rows equal a training row" in out
    assert "[1/4] read" in err and "[4/4] report" in err and "wrote " in err


def test_audit_json_prints_the_document(monkeypatch, capsys, tmp_path, files):
    code, out, _ = run_cli(monkeypatch, capsys, "audit", files["real"], files["holdout"], "--holdout", files["holdout"],
                           "--out", tmp_path / "a", "--json", "-q")
    assert code == 0
    assert json.loads(out)["exact_copy_rate"] == 0.0  # the holdout is not the training table


def test_a_bad_table_is_one_line(monkeypatch, capsys, tmp_path, files):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    code, _, err = run_cli(monkeypatch, capsys, "audit", files["real"], empty, "--holdout", files["holdout"],
                           "--out", tmp_path / "a", "-q")
    assert_one_line_error(code, err, "empty.csv: an empty table")
    code, _, err = run_cli(monkeypatch, capsys, "audit", files["real"], files["real"], "--holdout", files["holdout"],
                           "--target", "nope", "--out", tmp_path / "a", "-q")
    assert_one_line_error(code, err, "no target column 'nope'")
    assert not (tmp_path / "a").exists()


def test_help_explains_every_option(monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "audit", "--help")
    assert code == 0
    for option in ("--holdout", "--target", "--out", "--seed", "--json", "--quiet"):
        assert option in out
