"""service/audit.py and the audit tool outside the studio: progress by stage, a JSON result whose
recipe remakes the same figures."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("sklearn")

from ganforge.service.audit import audit_tables  # noqa: E402
from ganforge.service.tools import TOOLS, run_item  # noqa: E402

from ..metrics.tables.conftest import mixed_table  # noqa: E402


def test_audit_tables_reports_each_step_and_writes_both_files(tmp_path):
    events = []
    outcome = audit_tables(mixed_table(120, 1), mixed_table(120, 2), mixed_table(120, 3), target="y",
                           out=tmp_path / "a", progress=events.append)
    assert [(e.stage, e.done, e.total) for e in events] == [
        ("read", 0, 4), ("utility", 1, 4), ("privacy", 2, 4), ("report", 3, 4), ("done", 4, 4)]
    assert json.loads(outcome.json_path.read_text()) == outcome.doc
    assert outcome.html_path.is_file()
    assert audit_tables(mixed_table(120, 1), mixed_table(120, 2), mixed_table(120, 3)).json_path is None


def test_the_tool_result_is_json_with_its_recipe_and_the_recipe_remakes_it(tmp_path):
    tool = TOOLS.get("audit")
    sources = {}
    for name, seed in (("real", 1), ("synthetic", 1), ("holdout", 2)):
        sources[name] = tmp_path / f"upload-{name}"
        mixed_table(100, seed).to_csv(sources[name], index=False)
    params = tool.parse({"target": "y", "seed": 3})
    (item,) = tool.plan(params, {"real": 1, "synthetic": 1, "holdout": 1})
    assert item.inputs == {"real": 0, "synthetic": 0, "holdout": 0} and item.seed == 3
    result = run_item(tool, "table-audit", tool.pipeline("table-audit"), params, item, sources)
    assert (result.media_type, result.suffix) == ("application/json", ".json")
    doc = json.loads(result.data)
    assert doc["exact_copy_rate"] == 1.0 and doc["seed"] == 3
    recipe = doc.pop("recipe")
    again = tool.parse(json.loads(recipe["ganforge:parameters"]))
    remade = json.loads(run_item(tool, recipe["ganforge:model"], None, again, item, sources).data)
    remade.pop("recipe")
    assert remade == doc
