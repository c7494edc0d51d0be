"""Diversity of a batch of samples, cheap enough to watch during training.

The health monitor's collapse probe and ``bench/noise_diversity.py`` use it: mean pairwise
distances of pooled pixels (within each class for conditional models) and the entropy of a
class histogram.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .stats import kl_from_uniform

# Probe images are average-pooled to at most this many pixels a side.
PROBE_FEATURE_SIZE = 16


@torch.no_grad()
def probe_features(x: torch.Tensor) -> torch.Tensor:
    """Cheap, model-independent features of a probe batch: float32 ``(N, F)``.

    Images ``(N, C, H, W)`` are average-pooled to at most 16 x 16 (pixel noise and
    sub-pixel jitter matter less than layout) and flattened; vectors ``(N, D)`` (2D toy
    points) pass through.
    """
    x = x.detach().float()
    if x.dim() == 2:
        return x
    if x.dim() != 4:
        raise ValueError(f"probe batch must be (N, C, H, W) images or (N, D) vectors, got shape {tuple(x.shape)}")
    size = (min(x.shape[2], PROBE_FEATURE_SIZE), min(x.shape[3], PROBE_FEATURE_SIZE))
    return F.adaptive_avg_pool2d(x, size).flatten(1)


@torch.no_grad()
def mean_pairwise_distance(features: torch.Tensor) -> float:
    """Mean Euclidean distance over the ``N (N - 1)`` ordered pairs of distinct rows of ``(N, F)``.

    Computed in float64 without the matrix-product shortcut, so identical rows give
    exactly 0 and the result does not depend on round-off in ``|a|^2 + |b|^2 - 2 a.b``.
    """
    if features.dim() != 2 or len(features) < 2:
        raise ValueError(f"features must be (N, F) with N >= 2, got shape {tuple(features.shape)}")
    f = features.detach().double()
    d = torch.cdist(f, f, compute_mode="donot_use_mm_for_euclid_dist")
    n = len(f)
    # The diagonal is exactly 0 in this mode, so the full sum is the sum over distinct pairs.
    return float(d.sum() / (n * (n - 1)))


def probe_diversity(x: torch.Tensor, labels: torch.Tensor | None, num_classes: int) -> float:
    """Mean pairwise distance of probe features; for conditional models the mean over classes
    of the distance *within* each class, so a G that draws one picture per class (and so
    still looks varied across classes) counts as collapsed."""
    features = probe_features(x.cpu())
    if not num_classes or labels is None:
        return mean_pairwise_distance(features)
    labels = labels.cpu()
    per_class = [mean_pairwise_distance(features[labels == k]) for k in range(num_classes) if (labels == k).sum() > 1]
    return sum(per_class) / len(per_class)


def normalized_entropy(labels: torch.Tensor, num_classes: int) -> float:
    """Entropy of the class histogram of ``labels`` (int ``(N,)`` in ``[0, num_classes)``)
    divided by ``log(num_classes)``: 1 for a uniform histogram, 0 for a single class.

    ``H(p) = log K - KL(p || uniform)``, so this is ``1 - KL / log K`` with the KL of
    :func:`ganforge.metrics.stats.kl_from_uniform`.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    labels = labels.detach().long().cpu()
    if labels.dim() != 1 or len(labels) == 0:
        raise ValueError(f"labels must be a non-empty (N,) tensor, got shape {tuple(labels.shape)}")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes}), got {int(labels.min())}..{int(labels.max())}")
    counts = np.bincount(labels.numpy(), minlength=num_classes)
    return min(1.0, max(0.0, 1.0 - kl_from_uniform(counts) / math.log(num_classes)))
