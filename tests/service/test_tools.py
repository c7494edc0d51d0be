"""service/tools.py: the job tools registry, over every registered tool and its bundled models.

Each tool lists models and a JSON schema, refuses unknown parameters by name, checks a request
before it is queued (classes, seeds, inputs) and makes results whose PNG text is enough to make
them again, pixel for pixel. A tool registered later appears in ``TOOLS`` and in the studio's
``GET /v1/tools`` with no other change.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydantic import Field

from ganforge.conditioning import Conditioning
from ganforge.schema import StrictModel
from ganforge.service.models import load_model
from ganforge.service.tools import (MAX_SEED, TEXT_PREFIX, TOOLS, Item, ModelInfo, ParamsError, ServiceTool,
                                    model_info, register_tool, run_item)

pytestmark = pytest.mark.usefixtures("one_thread")

NAMES = TOOLS.names()
# tools whose results are pictures from pictures or seeds (the table audit's result is JSON: tests/service/test_audit.py)
IMAGE_NAMES = [n for n in NAMES if all(spec.media == "image" for spec in TOOLS.get(n).inputs)]


@pytest.fixture(scope="module")
def pipes():
    """Each bundled model loaded once for the module."""
    cache: dict[str, object] = {}

    def get(model: str):
        if model not in cache:
            cache[model] = load_model(model)
        return cache[model]

    return get


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    """An RGBA photo (opaque in the middle): every image input takes it, a composite's subject too."""
    path = tmp_path_factory.mktemp("inputs") / "input.png"
    rgba = np.random.default_rng(0).integers(0, 256, (20, 24, 4), dtype=np.uint8)
    rgba[..., 3] = 0
    rgba[4:16, 4:20, 3] = 255
    Image.fromarray(rgba, "RGBA").save(path)
    return path


def small_params(tool: ServiceTool, model: ModelInfo) -> dict:
    """Parameters that make a tool's item quick on the CPU (the defaults otherwise)."""
    fields = tool.Params.model_fields
    params: dict = {}
    if "count" in fields:
        params["count"] = 2
    if "steps" in fields:
        params["steps"] = 1
    if "seeds" in fields:
        params["seeds"] = [3, 7]
    if "rows" in fields:
        params.update(rows=[1], cols=[2])
    if getattr(tool, "one_class", False) and model.details.get("classes"):
        params["classes"] = model.details["classes"][0]
    elif getattr(tool, "one_class", False) and model.details.get("traits_schema"):
        # a multi-trait model's one class: every trait named, its first value
        traits = Conditioning.from_json(model.details["conditioning"]).traits
        params["classes"] = "+".join(f"{t.name}={t.values[0]}" for t in traits)
    return params


@pytest.mark.parametrize("name", NAMES)
def test_every_tool_has_models_and_a_strict_json_schema(name):
    tool = TOOLS.get(name)
    assert tool.models(), f"{name} has no bundled model"
    methods = [m.name for m in tool.methods]  # a tool's own (no network), else bundled models it accepts
    assert all(m in methods or tool.accepts(model_info(m)) for m in tool.models())
    schema = tool.Params.model_json_schema()
    assert schema["type"] == "object" and schema["properties"]
    assert schema.get("additionalProperties") is False  # unknown keys are refused, so the schema says so
    assert tool.parse(None) == tool.parse({})  # every parameter has a default


@pytest.mark.parametrize("name", NAMES)
def test_parse_refuses_unknown_fields_naming_them(name):
    with pytest.raises(ParamsError) as err:
        TOOLS.get(name).parse({"colour": "blue"})
    assert err.value.field == "params.colour"
    assert "params.colour" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("seeds, field", [([-1], "params.seeds.0"), ([1, MAX_SEED + 1], "params.seeds.1"),
                                          ([], "params.seeds"), ("7", "params.seeds")])
def test_seeds_out_of_range_are_refused(seeds, field):
    with pytest.raises(ParamsError) as err:
        TOOLS.get("generate").parse({"seeds": seeds})
    assert err.value.field == field


def test_generate_plan_and_check_errors():
    generate = TOOLS.get("generate")
    cgan, dcgan = model_info("fashion-cgan"), model_info("fashion-dcgan")
    params = generate.parse({"seeds": [5, 9]})
    assert [(i.label, i.seed, i.inputs) for i in generate.plan(params, {})] == [("seed 5", 5, {}), ("seed 9", 9, {})]
    cases = [
        (lambda: generate.plan(params, {"image": 1}), "inputs.image", "generate takes no input 'image' (its inputs: none)"),
        (lambda: generate.plan(generate.parse({"seeds": [1, 1]}), {}), "params.seeds", "each seed once"),
        (lambda: generate.check(cgan, generate.parse({"classes": "hat"})), "params.classes", "unknown class 'hat'"),
        (lambda: generate.check(cgan, generate.parse({"classes": "bag,3", "count": 3})), "params.classes",
         "one class or one per image"),
        (lambda: generate.check(dcgan, generate.parse({"classes": "bag"})), "params.classes", "not class-conditional"),
        (lambda: generate.parse({"truncation": 1.5}), "params.truncation", "less than or equal to 1"),
        (lambda: generate.parse({"count": 0}), "params.count", "greater than or equal to 1"),
    ]
    for call, field, needle in cases:
        with pytest.raises(ParamsError) as err:
            call()
        assert err.value.field == field and needle in str(err.value), (field, str(err.value))
    for ok in ({"classes": "all"}, {"classes": "bag"}, {"classes": "8"}, {"classes": "bag, 3", "count": 2}):
        generate.check(cgan, generate.parse(ok))
    generate.check(dcgan, generate.parse({"classes": "all"}))


@pytest.mark.parametrize("name", ["interpolate", "mix"])
def test_one_class_tools_need_exactly_one_class_of_a_conditional_model(name):
    tool = TOOLS.get(name)
    conditional = model_info("fashion-stylegan")
    for classes in (None, "all", "bag,dress"):
        with pytest.raises(ParamsError, match="needs one class") as err:
            tool.check(conditional, tool.parse({"classes": classes}))
        assert err.value.field == "params.classes"
    tool.check(conditional, tool.parse({"classes": "bag"}))
    with pytest.raises(ParamsError, match="takes no input 'image'"):
        tool.plan(tool.parse({}), {"image": 2})
    if "fashion-dcgan" in tool.models():
        with pytest.raises(ParamsError, match="not class-conditional"):
            tool.check(model_info("fashion-dcgan"), tool.parse({"classes": "all"}))


def test_photo_tools_need_inputs_and_a_model_that_fits():
    upscale, restore = TOOLS.get("upscale"), TOOLS.get("restore")
    with pytest.raises(ParamsError, match="at least one input image") as err:
        upscale.plan(upscale.parse({}), {})
    assert err.value.field == "inputs"
    with pytest.raises(ParamsError, match="upscale takes no input 'mask' \\(its inputs: image\\)") as err:
        upscale.plan(upscale.parse({}), {"image": 1, "mask": 1})
    assert err.value.field == "inputs.mask"
    assert [i.inputs for i in upscale.plan(upscale.parse({}), {"image": 3})] == [{"image": 0}, {"image": 1}, {"image": 2}]
    with pytest.raises(ParamsError) as err:
        restore.check(model_info("photo-restore"), restore.parse({"scale": 3}))
    assert err.value.field == "params.scale"
    with pytest.raises(ParamsError) as err:
        upscale.parse({"tile": 8})
    assert err.value.field == "params.tile"
    with pytest.raises(ParamsError, match="no bundled model 'photo-upscale-x3'") as err:
        model_info("photo-upscale-x3")
    assert err.value.field == "model"


@pytest.mark.parametrize("name", IMAGE_NAMES)
def test_results_carry_their_recipe_and_remaking_them_gives_the_same_pixels(name, pipes, photo):
    tool = TOOLS.get(name)
    model = tool.models()[0]
    method = model in [m.name for m in tool.methods]
    params = tool.parse(small_params(tool, tool.model_info(model)))
    tool.check(tool.model_info(model), params)
    item = tool.plan(params, {spec.name: 1 for spec in tool.inputs})[0]
    sources = {spec.name: photo for spec in tool.inputs}
    result = run_item(tool, model, tool.pipeline(model) if method else pipes(model), params, item, sources)
    assert (result.media_type, result.suffix) == ("image/png", ".png")
    first = Image.open(io.BytesIO(result.data))
    text = {k[len(TEXT_PREFIX):]: v for k, v in first.text.items() if k.startswith(TEXT_PREFIX)}
    assert text["tool"] == name and text["model"] == model and "version" in text
    assert json.loads(text["parameters"]) == params.model_dump(mode="json")
    assert text.get("seed") == (None if item.seed is None else str(item.seed))

    # What the text says is enough: the same tool, model, parameters and seed make the same image,
    # with a pipeline loaded afresh from the model's files (not the one that made the first).
    again_tool = TOOLS.get(text["tool"])
    again_params = again_tool.parse(json.loads(text["parameters"]))
    again_item = Item(label="again", inputs=item.inputs, seed=int(text["seed"]) if "seed" in text else None)
    fresh = None if method else load_model(text["model"])
    assert method or (fresh is not pipes(model) and fresh.network is not pipes(model).network)
    again = run_item(again_tool, text["model"], fresh, again_params, again_item, sources)
    assert np.array_equal(np.asarray(first), np.asarray(Image.open(io.BytesIO(again.data))))


class EchoParams(StrictModel):
    shade: int = Field(default=128, ge=0, le=255, description="the grey level of the result")


class Echo(ServiceTool):
    """A tool this test registers: a grey square from any generator, one item per seed."""

    name = "echo-test"
    title = "Echo"
    summary = "a grey square"
    Params = EchoParams

    def accepts(self, model):
        return model.kind == "generation"

    def plan(self, params, counts):
        self.check_inputs(counts)
        return [Item(label="square", seed=0)]

    def run_item(self, pipe, params, item, sources, progress=None):
        from ganforge.data.photoio import Photo

        return Photo(pixels=np.full((8, 8), params.shade, dtype=np.uint8), grey=True)


@pytest.fixture
def echo_registered(monkeypatch):
    """``Echo`` in ``TOOLS`` for one test: the registry's entries are a copy, restored afterwards."""
    monkeypatch.setattr(TOOLS, "_entries", dict(TOOLS._entries))
    register_tool(Echo)


def test_a_new_tool_needs_nothing_else_to_appear_in_the_registry_and_the_studio(echo_registered, tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from ..studio.conftest import key, make_app, wait_for

    assert "echo-test" in TOOLS.names() and TOOLS.get("echo-test").models()
    with pytest.raises(ValueError, match="already registered"):
        register_tool(Echo)
    app = make_app(tmp_path / "studio")
    with TestClient(app) as client:
        headers = key(app)
        listed = {t["name"]: t for t in client.get("/v1/tools", headers=headers).json()}
        assert listed["echo-test"]["params_schema"]["properties"]["shade"]["maximum"] == 255
        assert client.get("/v1/tools/echo-test", headers=headers).status_code == 200
        model = listed["echo-test"]["models"][0]["name"]
        bad = client.post("/v1/jobs", json={"tool": "echo-test", "model": model, "params": {"shade": 300}},
                          headers=headers)
        assert (bad.status_code, bad.json()["error"]["field"]) == (422, "params.shade")
        job = client.post("/v1/jobs", json={"tool": "echo-test", "model": model, "params": {"shade": 40}},
                          headers=headers).json()
        done = wait_for(client, job["id"], headers)
        assert done["status"] == "succeeded", done
        png = Image.open(io.BytesIO(client.get(done["items"][0]["result_url"], headers=headers).content))
        assert png.text[f"{TEXT_PREFIX}tool"] == "echo-test" and np.asarray(png).max() == 40
