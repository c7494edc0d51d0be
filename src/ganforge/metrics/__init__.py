"""Evaluation you can trust offline: features -> statistics -> score.

- ``features.py``: ``FEATURES`` registry (fashion-cnn, fashion-cnn-channels, inception-v3-fid, points).
- ``stats.py``: FID, KID, precision/recall, density/coverage, IS, mode metrics, all in float64.
- ``classifier.py``: the bundled Fashion-MNIST classifier and its training recipe; ``cas.py``: CAS.
- ``traits.py``: trait classifiers (one head per trait) of the creation data sets; ``creation.py``: their
  measures (trait accuracy against the real ceiling, consistency, FID), ``bench/creation.py``.
- ``reference.py``: real reference sets and their cached features.
- ``evaluate.py``: ``METRICS`` registry and ``evaluate``; ``report_card.py``: eval.json + report.html.
"""

from .stats import (
    FeatureStats,
    density_coverage,
    fid_from_features,
    fid_from_stats,
    inception_score,
    kid_from_features,
    mode_metrics_2d,
    precision_recall,
    stacked_mode_metrics,
)

__all__ = [
    "FeatureStats",
    "density_coverage",
    "fid_from_features",
    "fid_from_stats",
    "inception_score",
    "kid_from_features",
    "mode_metrics_2d",
    "precision_recall",
    "stacked_mode_metrics",
]
