"""Evaluate a generator: generate -> features -> statistics -> scores, each beside its real floor.

``METRICS`` maps a metric name to a :class:`Metric`; ``evaluate`` runs the requested ones
on one shared set of generated samples and one shared set of real reference samples, and
computes every metric a second time with a second real set (the other split) in place of
the generated one: the real-versus-real *floor*, the best score a perfect generator could
get with these sample counts and this feature space.

Protocols (see docs/evaluation.md): ``n`` generated samples (classes spread evenly for
conditional models) against ``n`` real samples of the reference split; floors use ``n``
samples of the other split. Mode metrics follow PacGAN: 2,500 samples for the 2D mixtures,
26,000 for Stacked Fashion-MNIST.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from ..data import DATASETS
from ..data.toy import toy_mixture
from ..errors import GanforgeError
from ..images import to_uint8_tensor
from ..registry import Registry
from . import stats
from .features import Extractor, FeatureSet, build_extractor
from .reference import Reference, reference_features, sample_real

TOY_PROTOCOL_SAMPLES = 2_500  # PacGAN (Lin et al. 2018), 2D mixtures
STACKED_PROTOCOL_SAMPLES = 26_000  # PacGAN / VEEGAN, Stacked MNIST
# Samples of each mode protocol (a data set's ``DatasetSpec.modes``); None: ``n``.
PROTOCOL_SAMPLES = {"mixture": TOY_PROTOCOL_SAMPLES, "stacked": STACKED_PROTOCOL_SAMPLES}

# Result keys (eval.json "metrics" and log.jsonl "eval" events).
FID, KID_MEAN, KID_STD = "fid", "kid_mean", "kid_std"
PRECISION, RECALL, DENSITY, COVERAGE = "precision", "recall", "density", "coverage"
IS_MEAN, IS_STD = "is_mean", "is_std"
LABEL_ACC, INTRA_FID = "label_accuracy", "intra_fid"
MODES, HIGH_QUALITY, REVERSE_KL, KL = "modes", "high_quality", "reverse_kl", "kl_to_uniform"
MODE_SPREAD, CHANNEL_KL = "mode_spread", "channel_kl"
CAS, CAS_REAL = "cas", "cas_train_on_real"


@dataclass
class Sample:
    """One side of a comparison: features (and logits, labels) of generated or real data."""

    feats: FeatureSet
    labels: np.ndarray | None = None
    raw: torch.Tensor | None = None  # the images / points themselves (for CAS and 2D modes)


class EvalContext:
    """Everything a metric needs, computed lazily and shared between metrics."""

    def __init__(self, pipe, *, n: int, ref: Reference, extractor: Extractor, seed: int, progress: bool,
                 cas_epochs: int | None = None) -> None:
        self.pipe, self.n, self.ref, self.extractor, self.seed, self.progress = pipe, n, ref, extractor, seed, progress
        self.cas_epochs = cas_epochs
        self.dataset = pipe.config.data.dataset
        self.spec = DATASETS.get(self.dataset)  # what the data set implies: features, classes, modes
        shape = tuple(pipe.config.model.output_shape)
        self.channels, self.resolution = (shape[0], shape[-1]) if len(shape) == 3 else (0, 0)
        # Samples drawn on each side: n, or more when a metric's protocol asks for more.
        self.sample_n = n
        self._fake: Sample | None = None
        self._real: dict[str, Sample] = {}

    # ----------------------------------------------------------------------------- samples
    @property
    def fake(self) -> Sample:
        if self._fake is None:
            out, labels = self.pipe.generate_tensor(self.sample_n, "all" if self.pipe.conditional else None,
                                                    seed=self.seed, progress=self.progress)
            data = out if self.pipe.kind == "vector" else to_uint8_tensor(out)
            self._fake = Sample(self.extractor(data, progress=self.progress),
                                None if labels is None else labels.numpy(), data)
        return self._fake

    def real(self, which: str = "ref") -> Sample:
        """``"ref"``: the reference split; ``"other"``: the other split (for floors)."""
        if which not in self._real:
            ref = self.ref if which == "ref" else self.ref.other_split()
            # A second draw from the same folder when there is no other split.
            seed = self.seed + (1 if which == "other" and ref == self.ref else 0)
            ref_spec = DATASETS.get(ref.dataset)
            limit = self.sample_n if ref_spec.modes == "stacked" else None
            if self.pipe.kind == "vector" or ref_spec.batch == "vectors":
                data = ref.load(resolution=self.resolution or 32, channels=self.channels or 1)
                pts, _ = sample_real(data, self.sample_n, seed=seed)
                self._real[which] = Sample(self.extractor(pts), None, pts)
            else:
                feats, labels = reference_features(
                    ref, self.extractor, resolution=self.resolution, channels=self.channels, n=self.sample_n,
                    seed=seed, progress=self.progress, limit=limit,
                )
                self._real[which] = Sample(feats, labels)
        return self._real[which]


# ------------------------------------------------------------------------------ the metrics
@dataclass
class Metric:
    """``fn(ctx, fake, real) -> {key: value}``; ``floor`` reruns it with a second real set."""

    fn: Callable[[EvalContext, Sample, Sample], dict[str, float]]
    description: str
    applies: Callable[[EvalContext], str | None] = lambda ctx: None  # reason it does not apply, or None
    samples: Callable[[EvalContext], int | None] = lambda ctx: None  # protocol sample count (None = n)
    floor: bool = True


METRICS: Registry[Metric] = Registry("metric")


def _n(ctx: EvalContext, s: Sample, m: int | None = None) -> np.ndarray:
    return s.feats.features[: m or ctx.n]


def _needs_logits(ctx: EvalContext) -> str | None:
    return None if ctx.extractor.name.startswith("fashion-cnn") else "needs classifier logits (fashion-cnn features)"


def _needs_conditional_fashion(ctx: EvalContext) -> str | None:
    # The feature network's logits must be the data's own classes ("classes" mode protocol).
    if not ctx.pipe.conditional or ctx.spec.modes != "classes":
        return "needs a class-conditional Fashion-MNIST model"
    return _needs_logits(ctx)


def _fid(ctx, fake, real):
    return {FID: stats.fid_from_features(_n(ctx, real), _n(ctx, fake))}


def _kid(ctx, fake, real):
    mean, std = stats.kid_from_features(_n(ctx, real), _n(ctx, fake), seed=ctx.seed)
    return {KID_MEAN: mean, KID_STD: std}


def _pr(ctx, fake, real):
    p, r = stats.precision_recall(_n(ctx, real), _n(ctx, fake), k=3)
    return {PRECISION: p, RECALL: r}


def _dc(ctx, fake, real):
    d, c = stats.density_coverage(_n(ctx, real), _n(ctx, fake), k=5)
    return {DENSITY: d, COVERAGE: c}


def _is(ctx, fake, real):
    # The score is averaged over consecutive splits; conditional samples come in class
    # blocks, so shuffle first (seeded) or every split would hold a single class.
    logits = fake.feats.logits[: ctx.n]
    logits = logits[np.random.default_rng(ctx.seed).permutation(len(logits))]
    mean, std = stats.inception_score(logits.reshape(-1, logits.shape[-1]) if logits.ndim == 3 else logits)
    return {IS_MEAN: mean, IS_STD: std}


def _label_acc(ctx, fake, real):
    return {LABEL_ACC: float((fake.feats.logits[: ctx.n].argmax(1) == fake.labels[: ctx.n]).mean())}


def _intra_fid(ctx, fake, real):
    """Mean over classes of the FID between real and generated images of that class (Miyato & Koyama 2018)."""
    fids = []
    f_feats, r_feats = _n(ctx, fake), _n(ctx, real)
    f_labels, r_labels = fake.labels[: ctx.n], real.labels[: ctx.n]
    for c in range(ctx.pipe.config.model.num_classes):
        a, b = r_feats[r_labels == c], f_feats[f_labels == c]
        if len(a) < 2 or len(b) < 2:
            raise GanforgeError(f"intra-class FID needs at least 2 samples per class; raise --n (now {ctx.n})")
        fids.append(stats.fid_from_features(a, b))
    return {INTRA_FID: float(np.mean(fids))}


def _modes(ctx, fake, real):
    if ctx.spec.modes == "mixture":
        means, sigma = toy_mixture(ctx.dataset)
        out = stats.mode_metrics_2d(fake.raw[:TOY_PROTOCOL_SAMPLES].numpy(), means.numpy(), sigma)
        return {MODES: out["modes"], HIGH_QUALITY: out["high_quality"], REVERSE_KL: out["reverse_kl"],
                MODE_SPREAD: out["mode_spread"]}
    stacked = ctx.spec.modes == "stacked"
    logits = fake.feats.logits[:STACKED_PROTOCOL_SAMPLES] if stacked else fake.feats.logits[: ctx.n]
    if stacked:
        out = stats.stacked_mode_metrics(logits.argmax(-1))
        return {MODES: out["modes"], KL: out["kl"], CHANNEL_KL: out["channel_kl"]}
    counts = np.bincount(logits.argmax(-1), minlength=logits.shape[-1])
    return {MODES: int((counts > 0).sum()), KL: stats.kl_from_uniform(counts)}


def _modes_applies(ctx):
    modes = ctx.spec.modes
    if modes == "mixture":
        return None
    if modes == "stacked":
        return None if ctx.extractor.name == ctx.spec.features else f"needs {ctx.spec.features} features"
    if modes == "classes":
        return _needs_logits(ctx)
    return "defined for the 2D mixtures, Fashion-MNIST and Stacked Fashion-MNIST"


def _modes_samples(ctx):
    return PROTOCOL_SAMPLES.get(ctx.spec.modes)


def _cas(ctx, fake, real):
    """Train the fashion-cnn recipe on the generated images and their labels, test on the real test split."""
    from .cas import classification_accuracy_score

    return classification_accuracy_score(ctx.pipe, n=ctx.n, seed=ctx.seed, epochs=ctx.cas_epochs,
                                         progress=ctx.progress)


for _name, _metric in {
    "fid": Metric(_fid, "Fréchet distance between feature Gaussians (Heusel et al. 2017)"),
    "kid": Metric(_kid, "kernel inception distance, unbiased, cubic kernel (Binkowski et al. 2018)"),
    "pr": Metric(_pr, "improved precision and recall, k=3 (Kynkaanniemi et al. 2019)"),
    "dc": Metric(_dc, "density and coverage, k=5 (Naeem et al. 2020)"),
    "is": Metric(_is, "Inception-Score-style score on the classifier's logits", applies=_needs_logits),
    "acc": Metric(_label_acc, "share of generated images the classifier assigns to their conditioning label",
                  applies=_needs_conditional_fashion),
    "ifid": Metric(_intra_fid, "intra-class FID: mean over classes of per-class FID",
                   applies=_needs_conditional_fashion),
    "modes": Metric(_modes, "modes covered and KL of the mode histogram to uniform (PacGAN protocol)",
                    applies=_modes_applies, samples=_modes_samples),
    "cas": Metric(_cas, "classification accuracy score: train on generated, test on real (Ravuri & Vinyals 2019)",
                  applies=_needs_conditional_fashion, floor=False),
}.items():
    METRICS.register(_name, _metric)

DEFAULT_METRICS = ("fid", "kid", "pr", "dc", "is", "acc", "ifid", "modes")


def parse_metrics(spec: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """``"fid,kid"`` / a list / ``None`` (the defaults) / ``"all"`` -> metric names, checked."""
    if spec is None:
        return list(DEFAULT_METRICS)
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [n.strip() for n in names if n.strip()]
    if names == ["all"]:
        return METRICS.names()
    for n in names:
        METRICS.get(n)  # one line listing the known names
    if not names:
        raise GanforgeError(f"no metrics given; known: {', '.join(METRICS.names())}")
    return list(dict.fromkeys(names))


def default_reference(pipe) -> Reference:
    """The test split of the data the model was trained on (its folder for folder data)."""
    data = pipe.config.data
    if "test" not in DATASETS.get(data.dataset).splits:
        return Reference(data.dataset, "train", data.path)
    return Reference(data.dataset, "test")


def default_features(pipe) -> str:
    """The feature space a model is scored in: its data set's (``DatasetSpec.features``), else
    ``points`` for vectors and the Inception network for images."""
    features = DATASETS.get(pipe.config.data.dataset).features
    if features is not None:
        return features
    return "points" if pipe.kind == "vector" else "inception-v3-fid"


@dataclass
class EvalResult:
    metrics: dict[str, float]
    floors: dict[str, float]
    skipped: dict[str, str]
    info: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"info": self.info, "metrics": self.metrics, "floors": self.floors, "skipped": self.skipped}


def evaluate(
    pipe,
    *,
    metrics: str | list[str] | None = None,
    n: int = 10_000,
    ref: str | Reference | None = None,
    features: str | None = None,
    weights: str | None = None,
    seed: int = 0,
    floors: bool = True,
    progress: bool = False,
    cas_epochs: int | None = None,
    extractor: Extractor | None = None,
) -> EvalResult:
    """Score ``pipe`` (a :class:`~ganforge.pipelines.generation.GeneratorPipeline`) with ``metrics``.

    A metric that does not apply to this model (for example label agreement on an
    unconditional model) is reported in ``skipped`` with the reason when it was asked for
    explicitly, and left out silently when it came from the defaults.
    """
    names = parse_metrics(metrics)
    if n < 10:
        raise GanforgeError(f"--n must be at least 10, got {n}")
    reference = ref if isinstance(ref, Reference) else Reference.parse(ref) if ref else default_reference(pipe)
    feat_name = features or (extractor.name if extractor else default_features(pipe))
    extractor = extractor or build_extractor(feat_name, weights)
    ctx = EvalContext(pipe, n=n, ref=reference, extractor=extractor, seed=seed, progress=progress,
                      cas_epochs=cas_epochs)
    chosen, skipped = [], {}
    for name in names:
        reason = METRICS.get(name).applies(ctx)
        if reason:
            if metrics is not None:
                skipped[name] = reason
        else:
            chosen.append(name)
    counts = {name: c for name in chosen if (c := METRICS.get(name).samples(ctx))}
    ctx.sample_n = max([n, *counts.values()])
    results: dict[str, float] = {}
    floor_values: dict[str, float] = {}
    for name in chosen:
        metric = METRICS.get(name)
        results.update(metric.fn(ctx, ctx.fake, ctx.real("ref")))
        if floors and metric.floor:  # a second real set in the place of the generated one
            floor_values.update(metric.fn(ctx, ctx.real("other"), ctx.real("ref")))
    info = {
        "model": pipe.source, "reference": str(reference), "features": extractor.name, "features_key": extractor.key,
        "n": n, "seed": seed, "metrics_requested": names, "protocol_samples": counts,
        "conditional": pipe.conditional, "dataset": pipe.config.data.dataset,
    }
    return EvalResult(results, floor_values, skipped, info)

