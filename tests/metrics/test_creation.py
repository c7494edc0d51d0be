"""The creation measures: visibility learnt from real data, accuracy, consistency, the held-out split,
and the whole chain on fake generators that draw shapes-traits exactly, ignore a trait, or change
another trait along with the one asked."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ganforge import sampling
from ganforge.config import DataConfig
from ganforge.data import Dataset
from ganforge.data.shapes_traits import SHAPES_TRAITS, draw_traits
from ganforge.errors import GanforgeError
from ganforge.metrics import creation as cm
from ganforge.metrics import traits as tc
from ganforge.metrics.classifier import Recipe
from ganforge.pipelines.generation import GeneratorPipeline

pytestmark = pytest.mark.usefixtures("one_thread")


# ------------------------------------------------------------------------------ hand-made cases
def hat_data(n: int = 600, seed: int = 0):
    """Three traits: top (none, cap, hat), hair colour (4 values; hidden under both hats), mouth (3)."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.stack([torch.randint(3, (n,), generator=gen), torch.randint(4, (n,), generator=gen),
                          torch.randint(3, (n,), generator=gen)], dim=1)
    visible = torch.ones(n, 3, dtype=torch.bool)
    visible[:, 1] = labels[:, 0] == 0
    return labels, visible


def test_visibility_rule_recovers_what_hides_a_trait():
    labels, visible = hat_data()
    rule = cm.VisibilityRule.fit(labels, visible, (3, 4, 3))
    asked = torch.tensor([[0, 2, 1], [1, 2, 1], [2, 0, 0], [0, 3, 2]])
    assert rule(asked).tolist() == [[True] * 3, [True, False, True], [True, False, True], [True] * 3]
    other_labels, other_visible = hat_data(seed=1)
    assert torch.equal(rule(other_labels), other_visible)
    # (V, n, T) labels, as trait_variations gives them
    assert rule(asked.reshape(2, 2, 3)).shape == (2, 2, 3)


def test_visibility_rule_ignores_values_it_has_too_few_images_of():
    labels, visible = hat_data()
    labels[:, 0] = torch.where(labels[:, 0] == 2, 1, labels[:, 0])
    labels[0, 0] = 2  # a single image of value 2, showing no hair: too few to judge
    visible[0, 1] = False
    rule = cm.VisibilityRule.fit(labels, visible, (3, 4, 3), min_count=5)
    assert rule(torch.tensor([[2, 0, 0]])).tolist() == [[True, True, True]]


def test_visibility_rule_without_a_mask_shows_everything():
    labels, _ = hat_data()
    rule = cm.VisibilityRule.fit(labels, None, (3, 4, 3))
    assert rule(labels).all()


def test_trait_counts_count_only_shown_traits():
    asked = torch.tensor([[0, 1], [1, 1], [2, 0], [0, 0]])
    predicted = torch.tensor([[0, 0], [1, 1], [1, 0], [0, 1]])
    shown = torch.tensor([[True, False], [True, True], [True, True], [True, False]])
    counts = cm.trait_counts(predicted, asked, shown)
    assert counts.total.tolist() == [4, 2] and counts.correct.tolist() == [3, 2]
    assert counts.accuracy() == [0.75, 1.0]
    assert cm.trait_counts(predicted, asked).accuracy() == [0.75, 0.5]
    assert cm.trait_counts(predicted, asked, torch.zeros(4, 2, dtype=torch.bool)).accuracy() == [None, None]
    assert cm.accuracy_ratios([0.5, None, 0.3], [1.0, 0.9, 0.0]) == [0.5, None, None]
    assert cm.mean_defined([0.5, None, 1.0]) == 0.75 and cm.mean_defined([None]) is None


def variations(values: int, n: int, traits: int, varied: int, base: torch.Tensor) -> torch.Tensor:
    """(V, n, T) labels: ``base`` (n, T) with column ``varied`` set to each value."""
    out = base[None].repeat(values, 1, 1)
    out[..., varied] = torch.arange(values)[:, None]
    return out


def test_consistency_counts_changes_of_the_other_traits():
    base = torch.tensor([[0, 1, 2], [1, 0, 0]])
    labels = variations(3, 2, 3, 0, base)
    reference = base[:, 0]
    perfect = labels.clone()
    c = cm.consistency(perfect, labels, reference, 0)
    # 2 other rows x 2 characters x 2 other traits
    assert (c.unchanged, c.total, c.fraction, c.varied_accuracy) == (8, 8, 1.0, 1.0)
    leaky = perfect.clone()
    leaky[..., 1] = leaky[..., 0]  # trait 1 follows the varied trait
    c = cm.consistency(leaky, labels, reference, 0)
    assert c.total == 8 and c.unchanged == 4 and c.fraction == 0.5
    ignored = perfect.clone()
    ignored[..., 0] = 0  # the varied trait never changes
    c = cm.consistency(ignored, labels, reference, 0)
    assert c.fraction == 1.0 and c.varied_accuracy == pytest.approx(2 / 6)
    shown = torch.ones(3, 2, 3, dtype=torch.bool)
    shown[:, :, 2] = False  # trait 2 never shows: only trait 1 is compared
    assert cm.consistency(leaky, labels, reference, 0, shown).total == 4


def test_hold_out_keeps_items_whole():
    data = torch.zeros(50, 3, 16, 16, dtype=torch.uint8)
    items = torch.arange(50) // 5
    ds = Dataset(name="x", data=data, labels=torch.zeros(50, 1, dtype=torch.long), items=items,
                 traits=SHAPES_TRAITS.__class__((SHAPES_TRAITS.traits[0],)))
    train, held = cm.hold_out(ds, fraction=0.2, seed=3)
    assert len(train) == 40 and len(held) == 10
    assert not set(train.items.tolist()) & set(held.items.tolist())
    again = cm.hold_out(ds, fraction=0.2, seed=3)[1]
    assert torch.equal(again.items, held.items)
    with pytest.raises(GanforgeError, match="too small"):
        cm.hold_out(Dataset(name="y", data=data[:1]), fraction=0.2)


# ----------------------------------------------------------------------- fake generators, end to end
class FakePipe:
    """A "generator" that draws shapes-traits with ``draw_traits`` from the labels it is asked for,
    after ``twist`` changes them (labels -> labels drawn). It uses GeneratorPipeline's own label
    drawing and ``trait_variations``, so the measures see what a real pipeline gives them."""

    conditioning = SHAPES_TRAITS
    source = "fake"

    def __init__(self, twist=lambda y: y) -> None:
        self.twist = twist
        self.config = SimpleNamespace(data=DataConfig(dataset="shapes-traits", resolution=32, channels=3))

    labels_for = GeneratorPipeline.labels_for
    trait_variations = GeneratorPipeline.trait_variations

    def generate_tensor(self, n, classes=None, seed=0, truncation=1.0, *, traits=None, progress=False):
        labels = self.labels_for(n, classes, traits=traits, seed=seed)
        centres = 0.5 + (sampling.latents(seed, n, 2).clamp(-1, 1).numpy() * 0.08)
        images = draw_traits(self.twist(labels.clone()).numpy(), centres, 32)
        return torch.from_numpy(images).float() / 127.5 - 1.0, labels


@pytest.fixture(scope="module")
def quick_recipes():
    """Short trainings of both classifiers (the module shares one cache entry per architecture)."""
    saved = dict(tc.RECIPES)
    for arch in tc.ARCHITECTURES:
        tc.RECIPES[arch] = Recipe(epochs=6, batch_size=32, shift=2, flip=False)
    yield
    tc.RECIPES.update(saved)


def measure(pipe, archs=tc.ARCHITECTURES):
    return cm.measure_creation(pipe, samples=240, consistency_samples=6, architectures=archs)


def test_an_exact_generator_reaches_the_ceiling(quick_recipes):
    report = measure(FakePipe())
    for arch in tc.ARCHITECTURES:
        summary = report["summary"][arch]
        assert summary["real_accuracy"] >= 0.9
        assert summary["trait_accuracy_ratio"] >= 0.95, report["traits"]
        assert summary["legible_traits"] == ["shape", "colour", "size"]
        assert summary["consistency"] >= 0.95, report["consistency"]
        assert summary["fid"] < 5 * summary["fid_real_train"] + 1.0
    assert report["visibility_rule_agreement"] == 1.0
    assert set(report["consistency"]) == {"shape", "colour", "size"}


def test_a_generator_that_ignores_the_colour_scores_low_on_it(quick_recipes):
    def always_red(y):
        y[..., 1] = 0
        return y

    report = measure(FakePipe(always_red), archs=("pool",))
    colour = report["traits"]["colour"]["pool"]
    assert colour["real"] >= 0.9 and colour["generated"] < 0.4 and colour["ratio"] < 0.45
    assert report["traits"]["shape"]["pool"]["ratio"] >= 0.9
    assert report["consistency"]["colour"]["pool"]["varied_accuracy"] < 0.4
    assert report["summary"]["pool"]["trait_accuracy_ratio"] < 0.85
    assert report["summary"]["pool"]["fid"] > measure(FakePipe(), archs=("pool",))["summary"]["pool"]["fid"]


def test_a_generator_whose_traits_leak_scores_low_consistency(quick_recipes):
    def colour_follows_shape(y):
        y[..., 1] = (y[..., 1] + y[..., 0]) % 4  # changing the shape changes the colour
        return y

    report = measure(FakePipe(colour_follows_shape), archs=("pool",))
    # varying the shape: the colour always changes, the size never: about half unchanged
    assert report["consistency"]["shape"]["pool"]["unchanged"] < 0.65
    assert report["consistency"]["colour"]["pool"]["unchanged"] >= 0.9
    assert report["traits"]["colour"]["pool"]["generated"] < 0.5


def test_an_unconditional_model_is_refused():
    pipe = FakePipe()
    pipe.conditioning = SHAPES_TRAITS.__class__(())
    with pytest.raises(GanforgeError, match="unconditional"):
        cm.measure_creation(pipe)


def test_ratios_are_undefined_not_nan_when_nothing_counts():
    assert cm.accuracy_ratios([None], [None]) == [None]
    assert not np.isnan(cm.mean_defined([0.2, None]))


def test_a_trait_read_near_chance_is_not_legible():
    labels = torch.tensor([[0, 0], [0, 1], [0, 2], [1, 0]])
    shown = torch.tensor([[True, True], [True, True], [True, True], [True, False]])
    chance = cm.majority_share(labels, shown, (2, 3))
    assert chance == [0.75, pytest.approx(1 / 3)]
    assert cm.majority_share(labels, torch.zeros(4, 2, dtype=torch.bool), (2, 3)) == [None, None]
    # halfway from chance: 0.875 and 2/3
    assert cm.legible([0.9, 0.6], chance) == [True, False]
    assert cm.legible([0.8, None], chance) == [False, False]
