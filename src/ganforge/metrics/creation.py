"""Measures of a creation model (issue 24): does it draw the traits it is asked for, and only those?

A chain like the other metrics, on the features and predictions of a trait classifier trained on
real images (:mod:`.traits`):

- **trait accuracy**: per trait, the share of images whose predicted value is the one asked for
  (generated) or labelled (real held-out images: the ceiling), counting only images that show
  the trait; the *ratio* generated / real per trait, and its mean over the traits the classifier
  can read on real images (:func:`legible`; the mean over all of them is reported beside it).
- **consistency**: at a fixed seed, one trait is set to each of its values
  (``GeneratorPipeline.trait_variations``); the share of the *other* traits' predictions that stay
  what they are on the unchanged character.
- **FID** in the classifier's penultimate feature space against held-out real images
  (:func:`~.stats.fid_from_features`).

Which traits a generated image shows is not known, so :class:`VisibilityRule` learns it from the
real data: trait u counts in an image asking for values y when no trait c's asked value y_c
hides u in the real data (the share of real images with c = y_c that show u is at least
``ratio`` times u's overall share). For python-avatars this recovers the hats that hide the hair
colour, the missing beard that hides the beard colour, and so on.

Held-out real images: a data set's ``test`` split where it has one (avatars), else a seeded share
of its images, whole items at a time where images show items (a turntable item's views stay on
one side).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..config import DataConfig
from ..data import DATASETS, Dataset, build_dataset
from ..errors import GanforgeError
from ..images import to_uint8_tensor
from .classifier import ProgressBars
from .stats import fid_from_features
from .traits import ARCHITECTURES, cached_trait_classifier, predict_traits

HOLDOUT = 0.2  # share of a data set without a test split held out for the measures
HOLDOUT_SEED = 0


# ----------------------------------------------------------------------------------- real data
def subset(ds: Dataset, idx: torch.Tensor) -> Dataset:
    """The images ``idx`` of ``ds`` with their labels, visibility and items."""
    pick = lambda t: None if t is None else t[idx].contiguous()  # noqa: E731
    return Dataset(name=ds.name, data=pick(ds.data), labels=pick(ds.labels), class_names=ds.class_names,
                   traits=ds.traits, visible=pick(ds.visible), items=pick(ds.items), item_names=ds.item_names)


def hold_out(ds: Dataset, *, fraction: float = HOLDOUT, seed: int = HOLDOUT_SEED) -> tuple[Dataset, Dataset]:
    """``(train, held out)``: a seeded ``fraction`` of the images, or of the items when ``ds.items``
    is set (every view of an item on the same side)."""
    gen = torch.Generator().manual_seed(seed)
    groups = ds.items if ds.items is not None else torch.arange(len(ds))
    ids = torch.unique(groups)
    held_ids = ids[torch.randperm(len(ids), generator=gen)[: max(1, round(fraction * len(ids)))]]
    held = torch.isin(groups, held_ids)
    if held.all() or not held.any():
        raise GanforgeError(f"data set '{ds.name}' is too small to hold out {fraction:.0%} of it ({len(ds)} images)")
    return subset(ds, (~held).nonzero().squeeze(1)), subset(ds, held.nonzero().squeeze(1))


def real_splits(data: DataConfig, *, samples: int | None = None) -> tuple[Dataset, Dataset, str]:
    """The real images a model's measures use, at its data config's resolution and channels:
    ``(train, held out, how they were split)``. ``samples``: how many training images a generated
    data set makes (``data.samples``; None: the model's own setting, else the data set's default).
    ``data.limit`` is ignored: the measures use the whole data."""
    spec = DATASETS.get(data.dataset)
    base = data.model_copy(update={"limit": None, "samples": samples or data.samples, "split": "train"})
    if "test" in spec.splits:
        train = build_dataset(base)
        test = build_dataset(base.model_copy(update={"split": "test", "samples": None}))
        return train, test, f"{data.dataset} train split ({len(train)}) / test split ({len(test)})"
    train, test = hold_out(build_dataset(base))
    unit = "items" if train.items is not None else "images"
    return train, test, (f"{data.dataset}: {len(train)} images / {len(test)} held out "
                         f"({HOLDOUT:.0%} of the {unit}, seed {HOLDOUT_SEED})")


# --------------------------------------------------------------------------------- visibility
@dataclass
class VisibilityRule:
    """Which traits an image shows, from the values asked for (see the module docstring).

    ``rates[u][c]``: float ``(values of c,)``, the share of real images with c = value that show
    u (NaN where fewer than ``min_count`` real images have that value); ``overall[u]``: the share
    of all real images that show u.
    """

    rates: list[list[np.ndarray]]
    overall: np.ndarray
    ratio: float

    @classmethod
    def fit(cls, labels: torch.Tensor, visible: torch.Tensor | None, sizes: tuple[int, ...], *,
            ratio: float = 0.5, min_count: int = 10) -> "VisibilityRule":
        """Learn the rule from real ``(N, T)`` labels and their ``(N, T)`` visibility (None: all shown)."""
        labels = labels.reshape(len(labels), -1).long()
        vis = torch.ones(labels.shape, dtype=torch.bool) if visible is None else visible.bool()
        rates = []
        for u in range(len(sizes)):
            per_context = []
            for c, size in enumerate(sizes):
                count = torch.bincount(labels[:, c], minlength=size).double()
                shown = torch.bincount(labels[:, c], weights=vis[:, u].double(), minlength=size)
                rate = (shown / count.clamp(min=1)).numpy()
                rate[count.numpy() < min_count] = np.nan
                per_context.append(rate)
            rates.append(per_context)
        return cls(rates, vis.double().mean(0).numpy(), ratio)

    def __call__(self, labels: torch.Tensor) -> torch.Tensor:
        """bool ``(..., T)``: whether each trait shows in images asking for ``labels`` ``(..., T)``."""
        flat = labels.reshape(-1, labels.shape[-1]).long().numpy()
        out = np.ones(flat.shape, dtype=bool)
        for u, per_context in enumerate(self.rates):
            if self.overall[u] == 0:
                out[:, u] = False
                continue
            for c, rate in enumerate(per_context):
                r = rate[flat[:, c]]
                out[:, u] &= np.isnan(r) | (r >= self.ratio * self.overall[u])
        return torch.from_numpy(out).reshape(labels.shape)


# ----------------------------------------------------------------------------------- accuracy
@dataclass
class TraitCounts:
    """Per trait: images counted (``total``) and how many the classifier read as asked (``correct``)."""

    correct: np.ndarray  # int (T,)
    total: np.ndarray  # int (T,)

    def accuracy(self) -> list[float | None]:
        """Per trait; None where no image counts."""
        return [None if n == 0 else float(k) / float(n) for k, n in zip(self.correct, self.total)]


def trait_counts(predicted: torch.Tensor, asked: torch.Tensor, counted: torch.Tensor | None = None) -> TraitCounts:
    """``predicted``, ``asked``: int ``(N, T)``; ``counted``: bool ``(N, T)`` (None: all) -> :class:`TraitCounts`."""
    predicted, asked = predicted.reshape(len(predicted), -1), asked.reshape(len(asked), -1)
    if predicted.shape != asked.shape:
        raise ValueError(f"predictions {tuple(predicted.shape)} and labels {tuple(asked.shape)} differ in shape")
    mask = torch.ones(asked.shape, dtype=torch.bool) if counted is None else counted.reshape(asked.shape).bool()
    hits = (predicted == asked) & mask
    return TraitCounts(hits.sum(0).numpy(), mask.sum(0).numpy())


def accuracy_ratios(generated: list[float | None], real: list[float | None]) -> list[float | None]:
    """Generated accuracy over the real ceiling, per trait (None where either is missing or the ceiling is 0)."""
    return [None if g is None or r is None or r == 0 else g / r for g, r in zip(generated, real)]


def majority_share(labels: torch.Tensor, shown: torch.Tensor, sizes: tuple[int, ...]) -> list[float | None]:
    """Per trait, the share of the commonest value among the images that show it: what a
    classifier that ignores the image scores (None where no image shows the trait)."""
    out = []
    for t, size in enumerate(sizes):
        values = labels[shown[:, t].bool(), t]
        out.append(None if len(values) == 0 else float(torch.bincount(values, minlength=size).max()) / len(values))
    return out


def legible(real: list[float | None], chance: list[float | None]) -> list[bool]:
    """Per trait: whether the classifier reads it on real images at least halfway from chance to
    perfect. A trait it cannot read (avatars' eyebrows at 64 px) gives generated and real
    accuracies near chance and a ratio near 1 whatever the generator draws, so it is left out of
    the headline mean."""
    return [r is not None and c is not None and r >= c + 0.5 * (1.0 - c) for r, c in zip(real, chance)]


def mean_defined(values: list[float | None]) -> float | None:
    """The mean of the values that are not None (None when there are none)."""
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


# -------------------------------------------------------------------------------- consistency
@dataclass
class Consistency:
    """One varied trait: of the other traits' predictions (shown in both images), how many stay
    as on the unchanged character (``unchanged`` / ``total``); and how often the varied trait is
    read as asked where it shows (``hit`` / ``asked``)."""

    unchanged: int
    total: int
    hit: int
    asked: int

    @property
    def fraction(self) -> float | None:
        return None if self.total == 0 else self.unchanged / self.total

    @property
    def varied_accuracy(self) -> float | None:
        return None if self.asked == 0 else self.hit / self.asked


def consistency(predicted: torch.Tensor, labels: torch.Tensor, reference: torch.Tensor, varied: int,
                shown: torch.Tensor | None = None) -> Consistency:
    """Consistency of one varied trait.

    ``predicted``, ``labels``: int ``(V, n, T)``: row v holds the n characters with trait ``varied``
    set to value v (what ``trait_variations`` returns, classified). ``reference``: int ``(n,)``, the
    row of each character's own (unchanged) value. ``shown``: bool ``(V, n, T)``, the traits each
    image shows (None: all). Every other row is compared with the reference row on every other
    trait shown in both images.
    """
    v_count, n, t_count = predicted.shape
    cols = torch.arange(n)
    ref_pred = predicted[reference, cols]  # (n, T)
    shown = torch.ones(predicted.shape, dtype=torch.bool) if shown is None else shown.bool()
    ref_shown = shown[reference, cols]
    others = torch.ones(t_count, dtype=torch.bool)
    others[varied] = False
    changed = torch.arange(v_count)[:, None] != reference[None, :]  # (V, n): rows other than the reference
    pairs = shown & ref_shown[None] & others[None, None] & changed[:, :, None]
    same = (predicted == ref_pred[None]) & pairs
    asked = shown[..., varied]
    hit = (predicted[..., varied] == labels[..., varied]) & asked
    return Consistency(int(same.sum()), int(pairs.sum()), int(hit.sum()), int(asked.sum()))


# ---------------------------------------------------------------------------------- the whole
def _uint8(out: torch.Tensor) -> torch.Tensor:
    return to_uint8_tensor(out.reshape(-1, *out.shape[-3:]))


def measure_creation(pipe, *, samples: int = 1000, real_samples: int | None = None, consistency_samples: int = 8,
                     seed: int = 0, architectures: tuple[str, ...] = ARCHITECTURES, use_cache: bool = True,
                     progress: bool = False, log=None) -> dict[str, Any]:
    """Every measure of a multi-trait generation pipeline ``pipe`` (see the module docstring) under
    each classifier of ``architectures`` (the first one's figures are the headline).

    ``samples``: generated images, their traits drawn at random from ``seed``;
    ``consistency_samples``: characters per varied trait; ``real_samples``: training images of a
    generated data set (``data.samples``). ``log(line)`` hears what is being done. Returns a
    JSON-able dict: ``summary`` (the headline figures), ``traits`` (per trait and classifier) and
    ``consistency`` (per varied trait and classifier), ``classifiers``, ``real`` (the split).
    """
    say = log or (lambda line: None)
    cond = pipe.conditioning
    if len(cond) == 0:
        raise GanforgeError(f"'{pipe.source}' is unconditional: the creation measures need a model with traits")
    data_cfg = pipe.config.data
    say(f"real data: {data_cfg.dataset} at {data_cfg.resolution} px")
    train, held, split = real_splits(data_cfg, samples=real_samples)
    if train.conditioning != cond:
        raise GanforgeError(f"'{pipe.source}' has traits {', '.join(cond.names)} but its data set "
                            f"'{data_cfg.dataset}' now has {', '.join(train.conditioning.names)}; they must match")
    sizes = cond.sizes
    rule = VisibilityRule.fit(train.labels, train.visible, sizes)
    held_labels = held.labels.reshape(len(held), -1)
    held_shown = torch.ones(held_labels.shape, dtype=torch.bool) if held.visible is None else held.visible
    chance = majority_share(held_labels, held_shown, sizes)

    say(f"generating {samples} images (seed {seed})")
    out, asked = pipe.generate_tensor(samples, seed=seed, progress=progress)
    fake = _uint8(out)
    asked = asked.reshape(samples, -1)
    fake_shown = rule(asked)

    variations = []  # (trait index, images (V*n), labels (V, n, T), reference (n,))
    if len(cond) > 1 and consistency_samples > 0:
        drawn = pipe.labels_for(consistency_samples, seed=seed + 1).reshape(consistency_samples, -1)
        for t, trait in enumerate(cond.traits):
            say(f"consistency: {trait.name} ({trait.size} values x {consistency_samples} characters)")
            imgs, labels = pipe.trait_variations(trait.name, consistency_samples, seed=seed + 1)
            variations.append((t, _uint8(imgs), labels.reshape(trait.size, consistency_samples, -1), drawn[:, t]))

    traits_out = {t.name: {"values": t.size, "chance": chance[j], "real_shown": int(held_shown[:, j].sum()),
                           "generated_shown": int(fake_shown[:, j].sum())} for j, t in enumerate(cond.traits)}
    consistency_out: dict[str, dict[str, Any]] = {cond.traits[v[0]].name: {} for v in variations}
    summary: dict[str, Any] = {}
    classifiers = {}
    bar = ProgressBars(progress)
    for arch in architectures:
        say(f"trait classifier '{arch}': training on {len(train)} real images (or reading the cache)")
        model, info = cached_trait_classifier(
            data_cfg.dataset, train.data, train.labels.reshape(len(train), -1), train.visible, sizes=sizes,
            architecture=arch, use_cache=use_cache, progress=bar(f"trait classifier {arch}"),
            info={"dataset": data_cfg.dataset, "split": split})
        bar.close()
        classifiers[arch] = {k: info[k] for k in ("architecture", "recipe", "seed", "train_images") if k in info}
        real_feats, real_pred = predict_traits(model, held.data)
        fake_feats, fake_pred = predict_traits(model, fake)
        train_feats = predict_traits(model, train.data[: len(held)])[0]
        real_acc = trait_counts(real_pred, held_labels, held_shown).accuracy()
        fake_acc = trait_counts(fake_pred, asked, fake_shown).accuracy()
        ratios = accuracy_ratios(fake_acc, real_acc)
        readable = legible(real_acc, chance)
        for j, t in enumerate(cond.traits):
            traits_out[t.name][arch] = {"real": real_acc[j], "generated": fake_acc[j], "ratio": ratios[j],
                                        "legible": readable[j]}
        fractions = []
        for t, imgs, labels, reference in variations:
            pred = predict_traits(model, imgs)[1].reshape(labels.shape)
            c = consistency(pred, labels, reference, t, rule(labels))
            consistency_out[cond.traits[t].name][arch] = {"unchanged": c.fraction, "pairs": c.total,
                                                          "varied_accuracy": c.varied_accuracy}
            fractions.append(c.fraction)
        summary[arch] = {
            "real_accuracy": mean_defined(real_acc), "generated_accuracy": mean_defined(fake_acc),
            "trait_accuracy_ratio": mean_defined([r for r, ok in zip(ratios, readable) if ok]),
            "trait_accuracy_ratio_all": mean_defined(ratios), "legible_traits": [t.name for t, ok in zip(cond.traits, readable) if ok],
            "consistency": mean_defined(fractions),
            "fid": fid_from_features(real_feats.numpy(), fake_feats.numpy()),
            "fid_real_train": fid_from_features(real_feats.numpy(), train_feats.numpy()),
        }
    agreement = float((rule(held_labels) == held_shown).float().mean())
    return {"model": pipe.source, "dataset": data_cfg.dataset, "real": split, "samples": samples,
            "consistency_samples": consistency_samples, "seed": seed, "visibility_rule_agreement": agreement,
            "classifiers": classifiers, "summary": summary, "traits": traits_out, "consistency": consistency_out}
