"""The page's trait form in a real browser: one select per trait of the selected model, built from
its ``traits_schema`` alone; picking one runs a job with that trait (the others random)."""

from __future__ import annotations

import pytest

from .test_page import CHROMIUM, Problems, choose, open_page, run, signin_link  # noqa: F401  (skips without chromium)
from .test_traits import TRAIT_MODEL, trait_models

pytestmark = pytest.mark.slow

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from .conftest import LiveServer, make_app  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("traits")
    with trait_models(root / "pretrained"), LiveServer(make_app(root / "studio")) as live:
        yield live


@pytest.fixture(scope="module")
def page(server):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context()
        signin = context.new_page()
        signin.goto(signin_link(server))
        expect(signin.get_by_role("radio", name="Generate", exact=True)).to_be_attached()
        state = context.storage_state()
        context.close()
        problems = Problems()
        page = open_page(browser, server, state, problems)
        yield page
        page.context.close()
        browser.close()
        assert not problems, problems


def test_one_select_per_trait_and_a_job_with_the_chosen_trait(page, server):
    choose(page, "Generate", TRAIT_MODEL)
    selects = {name: page.get_by_label(name, exact=True) for name in ("shape", "colour", "size")}
    for name, values in {"shape": ["circle", "square", "triangle"], "colour": ["red", "green", "blue", "yellow"],
                         "size": ["small", "large"]}.items():
        assert selects[name].locator("option").evaluate_all("els => els.map(e => e.value)") == ["", *values]
        expect(selects[name]).to_have_value("")  # random until chosen
    expect(page.get_by_label("Classes", exact=True)).to_have_count(0)  # no single class to pick
    selects["colour"].select_option("blue")
    page.get_by_label("Count", exact=True).fill("4")
    card = run(page)
    job = page.evaluate("() => fetch('/v1/jobs').then(r => r.json())")["jobs"][0]
    assert job["params"]["traits"] == {"colour": "blue"}, job
    assert card.locator("img.result-img").count() == 1
    # a one-class model shows its classes, and no trait selects
    choose(page, "Generate", "fashion-cgan")
    expect(page.get_by_label("colour", exact=True)).to_have_count(0)
    expect(page.get_by_label("Classes", exact=True)).to_have_count(1)
