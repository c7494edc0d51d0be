"""The studio page in a real browser: Debian's chromium driven by Playwright against a live server.

One server and one browser serve the module; each test opens its own browser context, signed in
with a session made once through a one-time link (the sign-in test makes its own). A test fails
on any uncaught script error or console error on its page (a broken CSP rule shows as one),
except the browser's own "Failed to load resource" lines for the API's deliberate 4xx answers.
"""

from __future__ import annotations

import io
import re
import shutil
import zipfile

import numpy as np
import pytest
from pydantic import Field

pytestmark = pytest.mark.slow

pytest.importorskip("playwright.sync_api", reason="the page tests need playwright (pip install -e .[dev])")
CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:
    pytest.skip("the page tests need Debian's chromium (apt-get install chromium); Playwright's own browsers are "
                "not downloaded", allow_module_level=True)

from PIL import Image  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402

from ganforge.schema import StrictModel  # noqa: E402
from ganforge.service.tools import TOOLS, InputSpec, Item, ServiceTool, register_tool  # noqa: E402
from ganforge.studio.auth import owner_key, signin_token  # noqa: E402
from ganforge.studio.routes import tools as tools_route  # noqa: E402
from ganforge.studio.schemas import InputOut  # noqa: E402

from .conftest import LiveServer, make_app  # noqa: E402

JOB_TIMEOUT = 60_000  # ms; the jobs here take well under a second
CARD_OR_ALERT = "n => document.querySelectorAll('article.job').length > n || !document.getElementById('alert').hidden"


def signin_link(server) -> str:
    store = server.app.state.store
    return f"{server.url}/signin?token={signin_token(store, owner_key(store), 5)}"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with LiveServer(make_app(tmp_path_factory.mktemp("studio"))) as live:
        yield live


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def session_state(browser, server):
    """Cookies of a session opened through a sign-in link, for the other tests' contexts."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(signin_link(server))
    expect(page.get_by_role("radio", name="Generate", exact=True)).to_be_attached()
    state = context.storage_state()
    context.close()
    return state


class Problems(list):
    """Script errors and console errors of one page."""

    def watch(self, page):
        page.on("pageerror", lambda err: self.append(f"script error: {err}"))
        page.on("console", lambda msg: msg.type == "error" and not msg.text.startswith("Failed to load resource")
                and self.append(f"console: {msg.text}"))
        return page


def open_page(browser, server, state, problems: Problems, width: int = 1280, height: int = 900):
    context = browser.new_context(viewport={"width": width, "height": height}, storage_state=state,
                                  accept_downloads=True)
    page = problems.watch(context.new_page())
    page.goto(f"{server.url}/")
    expect(page.get_by_role("radio", name="Generate", exact=True)).to_be_attached()
    return page


@pytest.fixture
def page(browser, server, session_state):
    problems = Problems()
    page = open_page(browser, server, session_state, problems)
    yield page
    page.context.close()
    assert not problems, problems


def pngs(folder, sizes):
    paths = []
    for i, (w, h) in enumerate(sizes):
        path = folder / f"photo-{i}.png"
        Image.new("RGB", (w, h), (40 + 70 * i, 120, 200 - 50 * i)).save(path)
        paths.append(path)
    return paths


def choose(page, tool: str, model: str) -> None:
    page.get_by_role("radio", name=tool, exact=True).check()
    page.get_by_label("Model").select_option(model)


def run(page):
    """Click Run; the new job's card once it succeeded."""
    before = page.locator("article.job").count()
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_function(CARD_OR_ALERT, arg=before, timeout=JOB_TIMEOUT)
    assert page.locator("#alert").is_hidden(), page.locator("#alert-text").inner_text()
    card = page.locator("article.job").first
    expect(card.locator(".job-head .badge")).to_have_text("succeeded", timeout=JOB_TIMEOUT)
    return card


def loaded(images) -> list[dict]:
    """Natural and rendered sizes (and image-rendering) of every image, once all have loaded."""
    images.first.page.wait_for_function("() => [...document.images].every(i => i.complete)")
    return images.evaluate_all("""els => els.map(e => {
        const box = e.getBoundingClientRect();
        return {natural: e.naturalWidth, shown: box.width, x: box.x, y: box.y,
                rendering: getComputedStyle(e).imageRendering};
    })""")


def generate(page, seeds: str = "1,2"):
    choose(page, "Generate", "fashion-cgan")
    page.get_by_label("Seeds", exact=True).fill(seeds)
    return run(page)


def upscale(page, files):
    choose(page, "Upscale", "photo-upscale-x2")
    page.locator("#file-input").set_input_files([str(f) for f in files])
    expect(page.locator(".thumb")).to_have_count(len(files))
    return run(page)


def test_sign_in_through_the_link_and_out(browser, server):
    problems = Problems()
    context = browser.new_context()
    page = problems.watch(context.new_page())
    page.goto(f"{server.url}/")
    signed_out = page.get_by_role("heading", name="Sign in to the studio")
    expect(signed_out).to_be_visible()
    expect(page.locator("#signed-out")).to_contain_text("Open the sign-in link ganforge serve printed")
    expect(page.locator("#studio")).to_be_hidden()

    link = signin_link(server)
    page.goto(link)
    assert page.url == f"{server.url}/"
    expect(page.locator("#who")).to_contain_text("Signed in as studio-owner")
    expect(signed_out).to_be_hidden()
    expect(page.get_by_role("button", name="Run", exact=True)).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(signed_out).to_be_visible()
    page.reload()
    expect(signed_out).to_be_visible()  # the session is gone, not just hidden
    page.goto(link)
    expect(page.get_by_role("heading", name="This sign-in link cannot be used")).to_be_visible()  # one use only
    context.close()
    assert not problems, problems


def test_lists_tools_models_and_their_parameters(page):
    tools = page.evaluate("() => fetch('/v1/tools').then(r => r.json())")
    chips = page.locator("#tool-list input[type=radio]")
    assert chips.evaluate_all("els => els.map(e => e.value)") == [t["name"] for t in tools]
    for tool in tools:
        expect(page.get_by_role("radio", name=tool["title"], exact=True)).to_be_attached()

    page.get_by_role("radio", name="Generate", exact=True).check()
    generate_tool = next(t for t in tools if t["name"] == "generate")
    model_select = page.get_by_label("Model")
    assert model_select.locator("option").all_inner_texts() == [m["name"] for m in generate_tool["models"]]
    model_select.select_option("fashion-cgan")
    cgan = next(m for m in generate_tool["models"] if m["name"] == "fashion-cgan")
    expect(page.locator("#model-summary")).to_contain_text(cgan["summary"])
    classes = page.get_by_label("Classes", exact=True)
    options = classes.locator("option").evaluate_all("els => els.map(e => e.value)")
    assert options == ["", "all", *cgan["details"]["classes"]]
    expect(page.get_by_label("Seeds", exact=True)).to_have_value("0")  # the schema's default
    expect(page.get_by_label("Count", exact=True)).to_have_attribute("max", "100")
    model_select.select_option("fashion-dcgan")  # unconditional: no class to pick
    expect(page.get_by_label("Classes", exact=True)).to_have_count(0)

    page.get_by_role("radio", name="Upscale", exact=True).check()
    expect(page.get_by_role("button", name="Drop images here or choose files")).to_be_visible()
    expect(page.get_by_label("Precision", exact=True).locator("option")).to_have_count(3)
    page.get_by_role("radio", name="Generate", exact=True).check()
    expect(page.get_by_role("button", name="Drop images here or choose files")).to_be_hidden()


def cutout_png(path, w: int = 24, h: int = 16, colour=(200, 60, 40)):
    """An RGBA PNG: a rectangle of ``colour`` inside a transparent border (a cut-out; any image input takes it)."""
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., :3] = colour
    rgba[2:-2, 3:-3, 3] = 255
    Image.fromarray(rgba, "RGBA").save(path)
    return path


def test_every_tool_runs_with_the_forms_defaults(page, tmp_path):
    tools = page.evaluate("() => fetch('/v1/tools').then(r => r.json())")
    photo = cutout_png(tmp_path / "photo.png")
    table = tmp_path / "table.csv"  # for table inputs (the audit): 40 rows of a number, a category and a class
    table.write_text("x,colour,y\n" + "".join(f"{i * 0.37 % 5:.3f},{'rgb'[i % 3]},{'ny'[i % 2]}\n" for i in range(40)))
    for tool in tools:  # what is chosen for an input is kept for the next tool with an input of that name
        page.get_by_role("radio", name=tool["title"], exact=True).check()
        zones = page.locator("#inputs section.inputs").all()
        for declared, zone in zip(tool["inputs"], zones):  # every input of the tool gets a file of its media
            if zone.locator(".thumb").count() == 0:
                zone.locator("input[type=file]").set_input_files(str(table if declared["media"] == "table" else photo))
                expect(zone.locator(".thumb")).to_have_count(1)
        card = run(page)
        expect(card.locator("h3")).to_contain_text(tool["title"])
        if all(declared["media"] == "image" for declared in tool["inputs"]):
            assert card.locator("img.result-img").count() >= 1
        else:  # a result that is not a picture (the audit's JSON): a link to open it, downloaded with its suffix
            expect(card.locator("a.result-file")).to_have_count(1)
            assert card.locator("img.result-img").count() == 0
            download = card.locator("a.download").first
            expect(download).to_have_attribute("download", re.compile(r"\.json$"))
            assert page.evaluate("(url) => fetch(url).then(r => r.json()).then(d => d.exact_copy_rate)",
                                 card.locator("a.result-file").get_attribute("href")) == 1.0


def test_generate_from_the_page(page):
    card = generate(page, "1-2")  # a range: seeds 1 and 2
    expect(card.locator(".job-meta")).to_contain_text("seeds 1, 2")
    expect(card.locator(".item-label")).to_have_text(["seed 1", "seed 2"])
    images = loaded(card.locator("img.result-img"))
    assert len(images) == 2
    for img in images:
        assert img["natural"] > 0
        assert img["shown"] >= 2 * img["natural"]  # 32 px images: drawn larger
        assert img["rendering"] == "pixelated"  # with crisp pixels
    expect(card.get_by_role("link", name="Download seed 1")).to_have_attribute("href", re.compile(r"/results/0$"))
    expect(card.get_by_role("button", name="Cancel")).to_be_hidden()
    expect(card.locator(".job-progress progress")).to_have_js_property("value", 1)
    expect(card.locator(".job-progress")).to_contain_text("2 of 2 done")
    expect(page.locator("#usage")).to_contain_text("images today")


def test_progress_falls_back_to_polling_when_the_event_stream_fails(page):
    page.route("**/v1/jobs/*/events", lambda route: route.abort())
    card = generate(page, "4")
    expect(card.locator(".item-label")).to_have_text(["seed 4"])


def test_cancel_a_running_job(page):
    choose(page, "Generate", "fashion-cgan")
    page.get_by_label("Seeds", exact=True).fill("0-63")
    page.get_by_label("Count", exact=True).fill("100")
    page.get_by_role("button", name="Run", exact=True).click()
    card = page.locator("article.job").first
    card.get_by_role("button", name="Cancel").click()
    expect(card.locator(".job-head .badge")).to_have_text("cancelled", timeout=JOB_TIMEOUT)
    expect(card.get_by_role("button", name="Cancel")).to_be_hidden()
    expect(card.locator(".job-meta")).to_contain_text("seeds 0-63 · count 100")
    assert card.locator("img.result-img").count() < 64


def test_upscale_batch_side_by_side_and_zip(page, tmp_path):
    files = pngs(tmp_path, [(24, 16), (20, 20), (16, 24)])
    card = upscale(page, files)
    items = card.locator("li.item")
    expect(items).to_have_count(3)
    expect(card.locator(".item-label")).to_have_text([f.name for f in files])
    for i, (w, _) in enumerate([(24, 16), (20, 20), (16, 24)]):
        inp, out = loaded(items.nth(i).locator("img"))
        assert (inp["natural"], out["natural"]) == (w, 2 * w)  # input | result, the result x2
        assert inp["x"] < out["x"] and abs(inp["y"] - out["y"]) < 1  # side by side
    expect(card.get_by_role("link", name="Download photo-1.png")).to_be_visible()

    with page.expect_download() as download:
        card.get_by_role("link", name="Download all (zip)").click()
    with zipfile.ZipFile(io.BytesIO(download.value.path().read_bytes())) as zf:
        names = sorted(zf.namelist())
        assert names[-1] == "job.json" and len(names) == 4
        for name in names[:3]:
            assert name.endswith(".png")
            assert Image.open(io.BytesIO(zf.read(name))).size in {(48, 32), (40, 40), (32, 48)}


def test_history_shows_jobs_and_opens_them(page, tmp_path):
    generate(page, "7")
    upscale(page, pngs(tmp_path, [(16, 16)]))
    history = page.locator(".history-item")
    expect(history.nth(0)).to_contain_text("Upscale")
    expect(history.nth(0)).to_contain_text("photo-upscale-x2 · 1 item")
    expect(history.nth(1)).to_contain_text("Generate")
    expect(history.nth(1)).to_contain_text("fashion-cgan · 1 item")

    page.reload()  # a fresh page: no results shown until a job is opened
    expect(page.locator("article.job")).to_have_count(0)
    page.locator(".history-item").nth(1).click()
    card = page.locator("article.job").first
    expect(card).to_contain_text("seeds 7")
    expect(card).to_be_focused()
    assert loaded(card.locator("img.result-img"))[0]["natural"] > 0


def test_bad_upload_and_bad_parameters_show_the_error(page, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"this is not a PNG at all")
    choose(page, "Upscale", "photo-upscale-x2")
    page.locator("#file-input").set_input_files(str(bad))
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("bad.png: not an image")  # the API's message
    expect(page.locator(".thumb")).to_have_count(0)
    page.get_by_role("button", name="Dismiss").click()
    expect(alert).to_be_hidden()

    page.get_by_role("button", name="Run", exact=True).click()  # no images chosen
    expect(alert).to_contain_text("choose at least one")

    choose(page, "Generate", "fashion-cgan")
    seeds = page.get_by_label("Seeds", exact=True)
    seeds.fill("1,x")  # refused on the page
    page.get_by_role("button", name="Run", exact=True).click()
    expect(alert).to_contain_text('Seeds: "x" is not a whole number')
    expect(seeds).to_have_attribute("aria-invalid", "true")
    seeds.fill("3,3")  # refused by the API, which names the field
    page.get_by_role("button", name="Run", exact=True).click()
    expect(alert).to_contain_text("give each seed once")
    expect(seeds).to_have_attribute("aria-invalid", "true")
    expect(seeds).to_be_focused()
    expect(page.locator("article.job")).to_have_count(0)


def test_keyboard_only(page):
    page.keyboard.press("Tab")
    for _ in range(10):  # to the tool radios
        if page.evaluate("document.activeElement.name") == "tool":
            break
        page.keyboard.press("Tab")
    for _ in range(12):  # arrows pick a tool
        if page.evaluate("document.activeElement.value") == "generate":
            break
        page.keyboard.press("ArrowRight")
    expect(page.get_by_role("radio", name="Generate", exact=True)).to_be_checked()
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "run":
            break
    run_button = page.get_by_role("button", name="Run", exact=True)
    expect(run_button).to_be_focused()
    outline = run_button.evaluate("e => getComputedStyle(e).outlineStyle + ' ' + getComputedStyle(e).outlineWidth")
    assert outline.split()[0] != "none" and outline.split()[1] != "0px"  # focus is visible
    page.keyboard.press("Enter")
    card = page.locator("article.job").first
    expect(card.locator(".job-head .badge")).to_have_text("succeeded", timeout=JOB_TIMEOUT)
    expect(page.locator("#live")).to_contain_text("Generate succeeded")  # announced


def test_narrow_window_is_one_column_without_horizontal_scroll(browser, server, session_state, tmp_path):
    problems = Problems()
    page = open_page(browser, server, session_state, problems, width=390, height=800)
    generate(page, "1,2")
    upscale(page, pngs(tmp_path, [(64, 48), (48, 64)]))
    loaded(page.locator("img"))
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    form, results, history = (page.locator(s).bounding_box() for s in ("#new-job", "#results", "#history"))
    assert form["x"] == results["x"] == history["x"]  # stacked
    assert form["y"] < results["y"] < history["y"]
    page.context.close()
    assert not problems, problems


class SwatchParams(StrictModel):
    tint: str = Field(default="#336699", pattern=r"^#[0-9a-f]{6}$", description="the square's colour",
                      json_schema_extra={"format": "color"})
    amount: float = Field(default=0.5, ge=0, le=1, description="how much of the tint",
                          json_schema_extra={"x-ganforge": {"widget": "slider"}})
    note: str = Field(default="hello", json_schema_extra={"x-ganforge": {"widget": "no-such-widget"}})
    extra: dict[str, int] | None = Field(default=None, description="a type the page has no widget for")


class Swatch(ServiceTool):
    """A tool the page has never seen: a colour picker, a slider, an unknown hint and an unknown type.
    Its result is an 8 x 8 square of tint x amount (on top of the input image where it takes one)."""

    name = "swatch-test"
    title = "Swatch"
    summary = "a square of one colour"
    Params = SwatchParams

    def accepts(self, model):
        return model.kind == "generation" and not model.details.get("classes")

    def plan(self, params, counts):
        self.check_inputs({k: v for k, v in counts.items() if v})
        return [Item(label="swatch", inputs={spec.name: 0 for spec in self.inputs}, seed=0)]

    def run_item(self, pipe, params, item, sources, progress=None):
        from ganforge.data.photoio import Photo

        rgb = [round(int(params.tint[i:i + 2], 16) * params.amount) for i in (1, 3, 5)]
        side = Image.open(sources["backdrop"]).size if sources else (8, 8)
        return Photo(pixels=np.tile(np.array(rgb, dtype=np.uint8), (side[1], side[0], 1)), grey=False)


class Backdrop(Swatch):
    """Swatch on a photo, its one input named "backdrop" (not "image")."""

    name = "backdrop-test"
    title = "Backdrop"
    inputs = (InputSpec("backdrop", "image", "Backdrop", many=False, description="the photo to tint"),)


@pytest.fixture
def swatch_tools(monkeypatch):
    """Swatch and Backdrop in ``TOOLS`` for one test (the registry's entries are a copy, restored
    afterwards); Backdrop's input is declared as one PNG named "backdrop"."""
    monkeypatch.setattr(TOOLS, "_entries", dict(TOOLS._entries))
    register_tool(Swatch)
    register_tool(Backdrop)
    declared = tools_route.tool_inputs

    def inputs(tool):
        if tool.name == Backdrop.name:
            return [InputOut(name="backdrop", title="Backdrop", media="image", media_types=["image/png"], many=False,
                             description="the photo to tint")]
        return declared(tool)

    monkeypatch.setattr(tools_route, "tool_inputs", inputs)


def result_pixel(page, card) -> tuple:
    url = card.locator("img.result-img").first.evaluate("e => e.src")  # absolute
    return Image.open(io.BytesIO(page.request.get(url).body())).convert("RGB").getpixel((0, 0))


def test_a_new_tool_gets_its_widgets_from_the_schema_and_its_values_reach_the_job(swatch_tools, page):
    page.reload()
    page.get_by_role("radio", name="Swatch", exact=True).check()
    tint, amount = page.get_by_label("Tint", exact=True), page.get_by_label("Amount", exact=True)
    expect(tint).to_have_attribute("type", "color")
    expect(tint).to_have_value("#336699")  # the schema's default
    expect(amount).to_have_attribute("type", "range")
    expect(amount).to_have_attribute("min", "0")
    expect(amount).to_have_attribute("max", "1")
    expect(amount).to_have_value("0.5")
    expect(page.get_by_label("Note", exact=True)).to_have_attribute("type", "text")  # unknown hint: text
    expect(page.get_by_label("Note", exact=True)).to_have_value("hello")
    expect(page.get_by_label("Extra", exact=True)).to_have_attribute("type", "text")  # unknown type: text
    expect(page.locator("#inputs")).to_be_hidden()  # no inputs declared: no drop zone

    tint.fill("#804020")
    amount.fill("0.25")
    expect(page.locator(".slider output")).to_have_text("0.25")
    card = run(page)
    job = page.evaluate("id => fetch('/v1/jobs/' + id).then(r => r.json())", card.get_attribute("data-job"))
    assert job["params"] == {"tint": "#804020", "amount": 0.25, "note": "hello", "extra": None}
    expect(card.locator(".job-meta")).to_contain_text("tint #804020 · amount 0.25 · note hello")
    assert result_pixel(page, card) == (32, 16, 8)  # the tool computed with the page's values

    page.get_by_role("radio", name="Generate", exact=True).check()  # the values are kept across tools
    page.get_by_role("radio", name="Swatch", exact=True).check()
    expect(page.get_by_label("Tint", exact=True)).to_have_value("#804020")
    expect(page.get_by_label("Amount", exact=True)).to_have_value("0.25")


def test_a_drop_zone_per_declared_input_whatever_its_name(swatch_tools, page, tmp_path):
    page.reload()
    page.get_by_role("radio", name="Backdrop", exact=True).check()
    zone = page.locator("#inputs section.inputs")
    expect(zone).to_have_count(1)
    expect(zone.get_by_role("heading")).to_have_text("Backdrop")
    expect(page.get_by_role("button", name="Drop an image here or choose a file")).to_be_visible()
    file_input = zone.locator("input[type=file]")
    expect(file_input).to_have_attribute("accept", "image/png")
    assert file_input.evaluate("e => e.multiple") is False  # many: false

    page.get_by_role("button", name="Run", exact=True).click()  # nothing chosen yet
    expect(page.get_by_role("alert")).to_contain_text("Backdrop works on backdrop: choose at least one first.")
    page.get_by_role("button", name="Dismiss").click()

    first, second = pngs(tmp_path, [(6, 4), (5, 3)])
    file_input.set_input_files(str(first))
    expect(page.locator(".thumb")).to_have_count(1)
    file_input.set_input_files(str(second))  # one file only: the new one replaces the old
    expect(page.locator(".thumb")).to_have_count(1)
    expect(page.locator(".thumb-name")).to_have_text(second.name)
    page.get_by_label("Amount", exact=True).fill("1")
    card = run(page)
    expect(card.locator(".item-label")).to_have_text([second.name])
    inp, out = loaded(card.locator("li.item img"))
    assert (inp["natural"], out["natural"]) == (5, 5)  # the input shown beside the result, the same size
    assert result_pixel(page, card) == (0x33, 0x66, 0x99)

    page.get_by_role("radio", name="Upscale", exact=True).check()  # another input name: its own (empty) list
    expect(page.locator(".thumb")).to_have_count(0)
    expect(page.get_by_role("button", name="Drop images here or choose files")).to_be_visible()


def test_composite_takes_a_subject_and_a_background_and_makes_a_png(page, tmp_path):
    page.get_by_role("radio", name="Composite", exact=True).check()
    expect(page.get_by_label("Model")).to_have_value("poisson-blend")
    zones = page.locator("#inputs section.inputs")
    expect(zones).to_have_count(2)
    expect(zones.get_by_role("heading")).to_have_text(["Subjects", "Background"])
    assert zones.nth(0).locator("input[type=file]").evaluate("e => e.multiple") is True  # one result per subject
    assert zones.nth(1).locator("input[type=file]").evaluate("e => e.multiple") is False

    page.get_by_role("button", name="Run", exact=True).click()  # nothing chosen yet
    expect(page.get_by_role("alert")).to_contain_text("Composite works on subjects: choose at least one first.")
    page.get_by_role("button", name="Dismiss").click()

    subject = cutout_png(tmp_path / "subject.png", 12, 12, (250, 20, 20))
    background = pngs(tmp_path, [(40, 30)])[0]
    zones.nth(0).locator("input[type=file]").set_input_files(str(subject))
    zones.nth(1).locator("input[type=file]").set_input_files(str(background))
    expect(zones.nth(0).locator(".thumb-name")).to_have_text(["subject.png"])
    expect(zones.nth(1).locator(".thumb-name")).to_have_text([background.name])
    page.get_by_label("Shadow", exact=True).check()
    page.get_by_label("Scale", exact=True).fill("2")
    card = run(page)
    expect(card.locator(".item-label")).to_have_text(["subject.png"])
    job = page.evaluate("id => fetch('/v1/jobs/' + id).then(r => r.json())", card.get_attribute("data-job"))
    assert job["params"]["shadow"] is True and job["params"]["scale"] == 2
    url = card.locator("img.result-img").first.evaluate("e => e.src")
    result = Image.open(io.BytesIO(page.request.get(url).body()))
    assert result.format == "PNG" and result.size == (40, 30)
    pixels = np.asarray(result.convert("RGB")).astype(int)
    assert pixels[15, 20, 0] > pixels[15, 20, 2] + 60  # the red subject is in the middle
    assert tuple(pixels[0, 0]) == tuple(np.asarray(Image.open(background))[0, 0])  # the background around it
