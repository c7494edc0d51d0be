"""CAS: training on real images through the CAS path reproduces the train-on-real accuracy."""

from __future__ import annotations

import pytest

from ganforge.metrics import cas
from ganforge.metrics.classifier import Recipe

from .conftest import needs_fashion

SMALL = Recipe(epochs=8)


@pytest.mark.slow
@needs_fashion
def test_cas_on_real_training_images_reproduces_train_on_real():
    reference = cas.train_on_real_accuracy(2000, recipe=SMALL, seed=0)
    # The very images train-on-real used: the same number, bit for bit.
    x, y = cas.balanced_real_subset(2000, seed=0)
    assert cas.cas_from_images(x, y, recipe=SMALL, seed=0) == reference
    # A different draw of real images: the same accuracy within sampling noise.
    x2, y2 = cas.balanced_real_subset(2000, seed=1)
    other = cas.cas_from_images(x2, y2, recipe=SMALL, seed=0)
    assert abs(other - reference) < 0.03
    assert reference > 0.8  # the recipe learns from 2,000 images


@pytest.mark.slow
@needs_fashion
def test_train_on_real_is_cached(monkeypatch):
    first = cas.train_on_real_accuracy(300, recipe=Recipe(epochs=1), seed=5)

    def must_not_train(*args, **kwargs):
        raise AssertionError("retrained instead of reading the cache")

    monkeypatch.setattr(cas, "cas_from_images", must_not_train)
    assert cas.train_on_real_accuracy(300, recipe=Recipe(epochs=1), seed=5) == first
    with pytest.raises(AssertionError, match="retrained"):
        cas.train_on_real_accuracy(300, recipe=Recipe(epochs=1), seed=6)


@needs_fashion
def test_balanced_subset_has_the_generated_class_balance():
    from ganforge.sampling import class_labels

    _, y = cas.balanced_real_subset(95, seed=0)
    assert sorted(y.tolist()) == sorted(class_labels(95, 10).tolist())
