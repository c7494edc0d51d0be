"""The page's source and the schema hints it reads (no browser needed).

The page builds forms from the JSON schemas and their ``x-ganforge`` hints alone: no script
compares a field name with a literal or runs a regular expression over description text, and no
module keeps mutable state of its own (the one state object is made in main.js).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import ganforge.studio

from .conftest import key

STATIC = Path(ganforge.studio.__file__).with_name("static")
FORBIDDEN = {
    "a name compared with a literal": re.compile(r"""\bname\s*[!=]==?\s*['"`]|['"`]\s*[!=]==?\s*[\w.]*\bname\b"""),
    "a regular expression over a description": re.compile(
        r"""/[^/\n]+/[dgimsuy]*\s*\.\s*(test|exec)\s*\([^)\n]*\bdescription\b"""
        r"""|\bdescription\b[\w.\]\[]*\s*\.\s*(match|matchAll|search|replace|replaceAll|split)\s*\("""
        r"""|\bnew\s+RegExp\b[^\n]*\bdescription\b"""),
    "module-level mutable state (let/var outside a function)": re.compile(r"^(let|var)\s"),
}


def problems(source: str) -> list[str]:
    """What the page must not do, as "line N: what: code" strings."""
    return [f"line {n}: {what}: {line.strip()}" for n, line in enumerate(source.splitlines(), 1)
            for what, pattern in FORBIDDEN.items() if pattern.search(line)]


def test_the_page_is_es_modules_that_never_read_meaning_from_names_or_descriptions():
    scripts = sorted(STATIC.glob("*.js"))
    modules = {"main.js", "api.js", "form.js", "widgets.js", "uploads.js", "jobs.js", "usage.js"}
    assert modules <= {p.name for p in scripts}
    html = (STATIC / "index.html").read_text()
    assert re.findall(r"<script[^>]*>", html) == ['<script type="module" src="/static/main.js">']
    found = [f"{p.name} {problem}" for p in scripts for problem in problems(p.read_text())]
    assert not found, found


@pytest.mark.parametrize("planted", [
    "if (name === 'classes' && base.type === 'string') {",
    "  } else if (spec.name !== \"seeds\") {",
    "if ('classes' === f.spec.name) return;",
    "spec.all = /'all'/.test(spec.description);",
    "spec.nullable = spec.nullable && /\\bempty:/.test(spec.description);",
    "const m = /empty: (.*)/.exec(prop.description || '');",
    "if (spec.description.match(/all/)) {",
    "new RegExp('all').test(spec.description)",
    "let current = null;",
])
def test_the_check_catches_what_it_forbids(planted):
    assert problems(f"function f() {{\n{planted}\n}}\n")


def test_the_check_lets_ordinary_code_through():
    ordinary = """
const FINISHED = new Set(['succeeded', 'failed']);
export function f(app, name) {
  let v = 0;
  const tool = app.tools.find((t) => t.name === name);
  const help = [spec.description, built.help].filter(Boolean).join(' ');
  return app.zones.find((z) => z.input.name === m[1]);
}
"""
    assert problems(ordinary) == []


def test_model_dependent_fields_carry_a_hint_and_tools_declare_their_inputs(app, client):
    tools = {t["name"]: t for t in client.get("/v1/tools", headers=key(app)).json()}
    hints = {name: tools[name]["params_schema"]["properties"]["classes"]["x-ganforge"]
             for name in ("generate", "interpolate", "mix")}
    assert hints == {
        "generate": {"widget": "model-values", "values": "classes", "all": True, "optional": True},
        "interpolate": {"widget": "model-values", "values": "classes", "all": False, "optional": False},
        "mix": {"widget": "model-values", "values": "classes", "all": False, "optional": False},
    }
    accepted = {"image": {"image/png", "image/jpeg"}, "table": {"text/csv"}}
    for tool in tools.values():
        batches = sum(declared["many"] for declared in tool["inputs"])
        assert (batches == 1) == tool["takes_images"], tool["name"]  # items are the uploads of its batch input
        assert batches <= 1, tool["name"]  # any other input is shared by every item (the audit: one item, three)
        for declared in tool["inputs"]:
            assert accepted[declared["media"]] <= set(declared["media_types"]), (tool["name"], declared["name"])
    assert [(i["name"], i["many"]) for i in tools["upscale"]["inputs"]] == [("image", True)]
    assert [(i["name"], i["many"]) for i in tools["composite"]["inputs"]] == [("subject", True), ("background", False)]
