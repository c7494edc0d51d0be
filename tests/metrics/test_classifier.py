"""fashion-cnn: the bundled classifier's accuracy, its input handling, and the recipe's determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.metrics import classifier as fcnn
from ganforge.metrics.cas import real_test_set

from .conftest import needs_fashion


@pytest.mark.slow
@needs_fashion
def test_bundled_classifier_reaches_92_percent_on_the_test_split():
    model, info = fcnn.load_classifier()
    x, y = real_test_set()
    acc = fcnn.accuracy(model, x, y)
    assert acc >= 0.92
    # The model card's figure is the one measured here.
    assert abs(acc - info["test_accuracy"]) < 1e-3


def test_bundled_classifier_card_records_how_it_was_made():
    config = json.loads((fcnn.WEIGHTS_DIR / fcnn.CONFIG_JSON).read_text())
    assert config["command"].startswith("ganforge train-classifier")
    assert config["seed"] == 0 and config["train_images"] == 60_000
    card = (fcnn.WEIGHTS_DIR / "README.md").read_text()
    assert config["command"] in card and "comparable only with other fashion-cnn" in card


def test_features_do_not_depend_on_the_batch_size():
    model, _ = fcnn.load_classifier()
    images = torch.randint(0, 256, (23, 1, 32, 32), dtype=torch.uint8)
    f_all, l_all = fcnn.predict(model, images, batch_size=1000)
    f_small, l_small = fcnn.predict(model, images, batch_size=5)
    torch.testing.assert_close(f_all, f_small, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(l_all, l_small, rtol=1e-5, atol=1e-5)


def test_prepare_images_accepts_nhwc_and_grey_copies():
    grey = torch.randint(0, 256, (4, 1, 32, 32), dtype=torch.uint8)
    nhwc = grey.permute(0, 2, 3, 1).numpy()
    assert torch.equal(fcnn.prepare_images(nhwc), grey)
    rgb = grey.expand(-1, 3, -1, -1)
    assert torch.equal(fcnn.prepare_images(rgb), grey)
    assert fcnn.prepare_images(torch.zeros(2, 1, 28, 28, dtype=torch.uint8)).shape == (2, 1, 32, 32)


@pytest.mark.parametrize("bad", [torch.zeros(2, 1, 32, 32), torch.zeros(2, 2, 32, 32, dtype=torch.uint8),
                                 np.zeros((2, 32, 32), dtype=np.uint8)])
def test_prepare_images_refuses_other_inputs(bad):
    with pytest.raises(GanforgeError, match="uint8"):
        fcnn.prepare_images(bad)


@pytest.mark.slow
def test_recipe_is_deterministic_and_learns():
    gen = torch.Generator().manual_seed(0)
    # Two trivially separable classes: dark and bright images.
    x = torch.cat([torch.randint(0, 60, (64, 1, 32, 32), generator=gen),
                   torch.randint(190, 256, (64, 1, 32, 32), generator=gen)]).to(torch.uint8)
    y = torch.cat([torch.zeros(64), torch.ones(64)]).long()
    recipe = fcnn.Recipe(epochs=15, batch_size=32)
    a = fcnn.train_classifier(x, y, recipe=recipe, seed=1, model_kwargs={"width": 4})
    b = fcnn.train_classifier(x, y, recipe=recipe, seed=1, model_kwargs={"width": 4})
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(pa, pb)
    assert fcnn.accuracy(a, x, y) == 1.0


def test_save_and_load_round_trip(tmp_path):
    model = fcnn.FashionCNN(width=4)
    fcnn.save_classifier(model.eval(), tmp_path / "c", info={"seed": 3, "command": "x"})
    loaded, info = fcnn.load_classifier(tmp_path / "c")
    images = torch.randint(0, 256, (5, 1, 32, 32), dtype=torch.uint8)
    assert torch.equal(fcnn.predict(model, images)[1], fcnn.predict(loaded, images)[1])
    assert info["seed"] == 3


def test_missing_classifier_folder_is_a_clear_error(tmp_path):
    with pytest.raises(GanforgeError, match="ganforge train-classifier"):
        fcnn.load_classifier(tmp_path / "nothing")
