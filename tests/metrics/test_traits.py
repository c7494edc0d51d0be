"""Trait classifiers: they learn shapes-traits, the loss ignores hidden traits, they save, load and cache."""

from __future__ import annotations

import pytest
import torch

from ganforge.config import DataConfig
from ganforge.data import build_dataset
from ganforge.errors import GanforgeError
from ganforge.metrics import traits as tc
from ganforge.metrics.classifier import Recipe
from ganforge.metrics.creation import trait_counts

pytestmark = pytest.mark.usefixtures("one_thread")


def shapes(split: str, limit: int | None = None):
    ds = build_dataset(DataConfig(dataset="shapes-traits", split=split, resolution=32, channels=3, limit=limit))
    return ds.data, ds.labels


@pytest.mark.parametrize("architecture", tc.ARCHITECTURES)
def test_each_architecture_learns_every_trait_of_shapes_traits(architecture):
    x, y = shapes("train", 600)
    test_x, test_y = shapes("test")
    model = tc.train_trait_classifier(x, y, None, sizes=(3, 4, 2), architecture=architecture,
                                      recipe=Recipe(epochs=8, batch_size=32, shift=2, flip=False),
                                      model_kwargs={"width": 8, "feature_dim": 32})
    feats, pred = tc.predict_traits(model, test_x)
    assert feats.shape == (200, 32) and pred.shape == (200, 3)
    accuracy = trait_counts(pred, test_y).accuracy()
    # chance is 1/3, 1/4 and 1/2: every head has learned its trait
    assert min(accuracy) >= 0.9, accuracy


def test_training_is_deterministic():
    x, y = shapes("train", 64)
    recipe = Recipe(epochs=2, batch_size=16, flip=False)
    a = tc.train_trait_classifier(x, y, None, sizes=(3, 4, 2), recipe=recipe, model_kwargs={"width": 4})
    b = tc.train_trait_classifier(x, y, None, sizes=(3, 4, 2), recipe=recipe, model_kwargs={"width": 4})
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(pa, pb)


def test_a_hidden_trait_teaches_nothing():
    gen = torch.Generator().manual_seed(0)
    logits = [torch.randn(6, 3, generator=gen, requires_grad=True), torch.randn(6, 4, generator=gen, requires_grad=True)]
    labels = torch.tensor([[0, 1], [1, 2], [2, 3], [0, 0], [1, 1], [2, 2]])
    visible = torch.ones(6, 2, dtype=torch.bool)
    visible[:3, 1] = False
    other = labels.clone()
    other[:3, 1] = torch.tensor([3, 0, 1])  # different labels where the trait is hidden
    loss = tc.masked_trait_loss(logits, labels, visible)
    assert torch.equal(loss, tc.masked_trait_loss(logits, other, visible))
    assert not torch.equal(loss, tc.masked_trait_loss(logits, other, None))
    loss.backward()
    assert torch.equal(logits[1].grad[:3], torch.zeros(3, 4)) and logits[1].grad[3:].abs().sum() > 0
    # a trait no image shows adds nothing (no NaN from an empty mean)
    none_shown = visible.clone()
    none_shown[:, 1] = False
    assert torch.isfinite(tc.masked_trait_loss(logits, labels, none_shown))


def test_predictions_do_not_depend_on_the_batch_size():
    model = tc.TraitCNN(sizes=(3, 5), resolution=32, width=4, architecture="strided").eval()
    images = torch.randint(0, 256, (13, 3, 32, 32), dtype=torch.uint8)
    f1, p1 = tc.predict_traits(model, images, batch_size=500)
    f2, p2 = tc.predict_traits(model, images, batch_size=4)
    torch.testing.assert_close(f1, f2, rtol=1e-5, atol=1e-5)
    assert torch.equal(p1, p2)


def test_wrong_images_and_architectures_are_one_line_errors():
    model = tc.TraitCNN(sizes=(2,), resolution=32, width=4)
    with pytest.raises(GanforgeError, match=r"uint8 \(N, 3, 32, 32\)"):
        tc.predict_traits(model, torch.zeros(2, 3, 64, 64, dtype=torch.uint8))
    with pytest.raises(GanforgeError, match="pool, strided"):
        tc.TraitCNN(sizes=(2,), architecture="resnet")
    with pytest.raises(GanforgeError, match="multiples of 16"):
        tc.TraitCNN(sizes=(2,), resolution=40)


@pytest.mark.parametrize("architecture", tc.ARCHITECTURES)
def test_wide_images_are_classified(architecture):
    model = tc.TraitCNN(sizes=(3,), resolution=(32, 64), width=4, architecture=architecture)
    feats, pred = tc.predict_traits(model, torch.zeros(2, 3, 32, 64, dtype=torch.uint8))
    assert feats.shape == (2, 128) and pred.shape == (2, 1)


def test_save_load_and_cache(tmp_path, monkeypatch):
    model = tc.TraitCNN(sizes=(3, 2), resolution=16, width=4).eval()
    tc.save_trait_classifier(model, tmp_path / "c", info={"seed": 5})
    loaded, info = tc.load_trait_classifier(tmp_path / "c")
    images = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    assert torch.equal(tc.predict_traits(model, images)[0], tc.predict_traits(loaded, images)[0])
    assert info["seed"] == 5 and info["model"]["sizes"] == [3, 2]
    with pytest.raises(GanforgeError, match="no trait classifier"):
        tc.load_trait_classifier(tmp_path / "none")

    monkeypatch.setenv("GANFORGE_CACHE_DIR", str(tmp_path / "cache"))
    calls = []
    real_train = tc.train_trait_classifier

    def counting(*args, **kwargs):
        calls.append(1)
        return real_train(*args, **kwargs)

    monkeypatch.setattr(tc, "train_trait_classifier", counting)
    monkeypatch.setitem(tc.RECIPES, "pool", Recipe(epochs=1, batch_size=8, flip=False))
    x, y = shapes("train", 16)
    x = torch.nn.functional.interpolate(x.float(), size=16).to(torch.uint8)
    first, _ = tc.cached_trait_classifier("shapes-traits", x, y, None, sizes=(3, 4, 2))
    again, info = tc.cached_trait_classifier("shapes-traits", x, y, None, sizes=(3, 4, 2))
    assert len(calls) == 1 and info["train_images"] == 16
    assert torch.equal(tc.predict_traits(first, x)[0], tc.predict_traits(again, x)[0])
    y2 = y.clone()
    y2[0, 0] = (y2[0, 0] + 1) % 3  # other data: another entry
    tc.cached_trait_classifier("shapes-traits", x, y2, None, sizes=(3, 4, 2))
    assert len(calls) == 2
