"""Training curves from ``log.jsonl`` entries, as :class:`Plot` data (nothing is drawn here)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from .model import Plot, Series
from .values import is_number

# (title, y label, log.jsonl keys, log_y) of the training curves, in report order
TRAINING_PLOTS = (
    ("Losses", "loss", ("loss_d", "loss_g"), False),
    ("Discriminator outputs", "D output (mean)", ("d_real", "d_fake"), False),
    ("Gradient norms", "norm", ("grad_norm_d", "grad_norm_g", "r1"), True),
    ("Throughput", "images / s", ("img_per_s",), False),
)


def _number_or_nan(v: Any) -> float:
    return float(v) if is_number(v) else math.nan


def loss_plots(log_entries: Iterable[Mapping[str, Any]]) -> list[Plot]:
    """Training curves over kimg from ``log.jsonl`` entries; ``event`` lines are ignored.

    A plot appears only when at least one of its keys is logged; a missing value is a gap.
    """
    rows = [r for r in log_entries if "event" not in r and is_number(r.get("kimg"))]
    plots = []
    for title, y_label, keys, log_y in TRAINING_PLOTS:
        present = [k for k in keys if any(k in r for r in rows)]
        if present:
            series = [Series(k, [float(r["kimg"]) for r in rows], [_number_or_nan(r.get(k)) for r in rows]) for k in present]
            plots.append(Plot(title, "kimg", y_label, series, log_y=log_y))
    return plots


def metric_history_plots(log_entries: Iterable[Mapping[str, Any]]) -> list[Plot]:
    """One plot per metric from periodic-evaluation lines ``{"event": "eval", "kimg", "metrics"}``."""
    history: dict[str, Series] = {}
    for r in log_entries:
        if r.get("event") != "eval" or not is_number(r.get("kimg")) or not isinstance(r.get("metrics"), Mapping):
            continue
        for name, value in r["metrics"].items():
            if is_number(value):
                s = history.setdefault(name, Series(name, [], []))
                s.x.append(float(r["kimg"]))
                s.y.append(float(value))
    return [Plot(f"{name} during training", "kimg", name, [s]) for name, s in history.items()]
