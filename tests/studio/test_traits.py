"""The Generate tool with a model of several traits: its schema, checks at submit and results.

The studio lists bundled models only, so these tests install a tiny untrained multi-trait model
(``tests.builders.tiny_trait_model``) beside ``fashion-cgan`` in a temporary pretrained folder
(:func:`trait_models`) and clear the tools' caches around it.
"""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from PIL import Image

import ganforge.pipelines.base as pipelines_base
from ganforge.data.shapes_traits import SHAPES_TRAITS
from ganforge.service import tools as service_tools

from ..builders import tiny_trait_model
from .conftest import key, wait_for

TRAIT_MODEL = "shapes-traits-tiny"


@contextlib.contextmanager
def trait_models(root):
    """Bundled models = the tiny multi-trait model and fashion-cgan, for the duration."""
    root.mkdir(parents=True, exist_ok=True)
    tiny_trait_model(root / TRAIT_MODEL, seed=3)
    (root / "fashion-cgan").symlink_to(pipelines_base.PRETRAINED_DIR / "fashion-cgan", target_is_directory=True)
    mp = pytest.MonkeyPatch()
    mp.setattr(pipelines_base, "PRETRAINED_DIR", root)
    service_tools._bundled.cache_clear()
    service_tools._load.cache_clear()
    try:
        yield root
    finally:
        mp.undo()
        service_tools._bundled.cache_clear()
        service_tools._load.cache_clear()


@pytest.fixture
def installed(tmp_path):
    with trait_models(tmp_path / "pretrained") as root:
        yield root


def generate_body(**params) -> dict:
    return {"tool": "generate", "model": TRAIT_MODEL, "params": {"seeds": [1], "count": 4, **params}}


def test_the_model_describes_its_traits_and_the_field_carries_the_hint(installed, app, client):
    tools = {t["name"]: t for t in client.get("/v1/tools", headers=key(app)).json()}
    generate = tools["generate"]
    prop = generate["params_schema"]["properties"]["traits"]
    assert prop["x-ganforge"] == {"widget": "model-traits", "schema": "traits_schema"}
    models = {m["name"]: m for m in generate["models"]}
    assert set(models) == {TRAIT_MODEL, "fashion-cgan"}
    schema = models[TRAIT_MODEL]["details"]["traits_schema"]
    assert {k: v["enum"] for k, v in schema["properties"].items()} == {t.name: list(t.values) for t in SHAPES_TRAITS.traits}
    assert models["fashion-cgan"]["details"]["traits_schema"] is None  # one class: the classes field


@pytest.mark.parametrize("traits, needles", [
    ({"hue": "red"}, ["unknown trait 'hue'", "shape, colour, size"]),
    ({"colour": "pink"}, ["unknown colour 'pink'", "red, green, blue, yellow"]),
    ({"colour": 3}, ["params.traits"]),
])
def test_unknown_traits_and_values_are_422_naming_the_field_and_the_accepted(installed, app, client, traits, needles):
    r = client.post("/v1/jobs", json=generate_body(traits=traits), headers=key(app))
    error = r.json()["error"]
    assert r.status_code == 422 and error["field"].startswith("params.traits"), r.text  # a number: params.traits.colour
    for needle in needles:
        assert needle in r.text, (needle, r.text)


def test_classes_and_traits_together_are_refused(installed, app, client):
    r = client.post("/v1/jobs", json=generate_body(traits={"shape": "circle"}, classes="all"), headers=key(app))
    assert (r.status_code, r.json()["error"]["field"]) == (422, "params.traits") and "not both" in r.text


def test_a_job_with_traits_makes_the_images_of_the_python_api(installed, app, client):
    import ganforge
    from ganforge.images import make_grid
    from ganforge.service.models import grid_columns

    headers = key(app)
    r = client.post("/v1/jobs", json=generate_body(traits={"colour": "blue", "shape": "square"}), headers=headers)
    assert r.status_code in (200, 201, 202), r.text
    job = wait_for(client, r.json()["id"], headers)
    assert job["status"] == "succeeded", job
    png = client.get(f"/v1/jobs/{job['id']}/results/0", headers=headers)
    assert png.status_code == 200
    image = Image.open(io.BytesIO(png.content))
    assert json.loads(image.text["ganforge:parameters"])["traits"] == {"colour": "blue", "shape": "square"}
    pipe = ganforge.load(installed / TRAIT_MODEL)
    expected = pipe.generate(4, seed=1, traits={"colour": "blue", "shape": "square"})
    _, labels = pipe.generate_tensor(4, seed=1, traits={"colour": "blue", "shape": "square"})
    np.testing.assert_array_equal(np.asarray(image.convert("RGB")), make_grid(expected, grid_columns(4, labels)))


def test_walks_and_mixing_list_no_model_of_named_traits_while_generate_does():
    from ganforge.service.tools import TOOLS

    assert "character-avatar" in TOOLS.get("generate").models()
    assert "character-avatar" not in TOOLS.get("interpolate").models()
    assert "fashion-cgan" in TOOLS.get("interpolate").models()  # one-class models still walk
