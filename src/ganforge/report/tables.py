"""Charts of a table audit, drawn by matplotlib as inline SVG (like :mod:`.charts`).

- :func:`distributions_svg`: one small panel per column, real against synthetic: overlaid
  histograms for numbers (shared bins over both tables' 1st..99th percentiles), side-by-side bars of
  the most frequent categories (the rest as "other", missing as "missing") for categories.
- :func:`heatmaps_svg`: association matrices side by side on one colour scale (real, synthetic,
  |difference|).
- :func:`histograms_svg`: overlaid histograms of several samples on shared bins (DCR to
  training against DCR to holdout).

The inputs are plain arrays and lists: nothing here knows what an audit is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from .charts import PALETTE, figure_svg, styled

TOP_CATEGORIES = 8  # bars per categorical panel before "other"
PANEL_COLUMNS = 4  # panels per row of a distributions figure


@dataclass
class ColumnSample:
    """One column of both tables: numbers (NaN = missing) or category labels (None = missing)."""

    name: str
    categorical: bool
    real: Sequence
    synthetic: Sequence


def _numeric_panel(ax, col: ColumnSample) -> None:
    r = np.asarray(col.real, dtype=float)
    s = np.asarray(col.synthetic, dtype=float)
    r, s = r[np.isfinite(r)], s[np.isfinite(s)]
    both = np.concatenate([r, s])
    if not both.size:
        ax.text(0.5, 0.5, "all missing", transform=ax.transAxes, ha="center", va="center", color="#666666")
        return
    lo, hi = np.percentile(both, [1, 99])
    if hi <= lo:
        lo, hi = float(both.min()) - 0.5, float(both.max()) + 0.5
    bins = np.linspace(lo, hi, 25)
    for i, (values, label) in enumerate(((r, "real"), (s, "synthetic"))):
        if values.size:
            ax.hist(np.clip(values, lo, hi), bins=bins, density=True, histtype="step", linewidth=1.4,
                    color=PALETTE[i], label=label)


def _categorical_panel(ax, col: ColumnSample) -> None:
    def counts(values):
        out: dict[str, int] = {}
        for v in values:
            key = "missing" if v is None else str(v)
            out[key] = out.get(key, 0) + 1
        return out

    r, s = counts(col.real), counts(col.synthetic)
    top = [k for k, _ in sorted(r.items(), key=lambda kv: -kv[1]) if k != "missing"][:TOP_CATEGORIES]
    labels = top + (["other"] if len(set(r) | set(s) - set(top) - {"missing"}) else []) + \
        (["missing"] if "missing" in r or "missing" in s else [])

    def shares(c):
        total = max(sum(c.values()), 1)
        return [(c.get(k, 0) if k != "other" else sum(v for k2, v in c.items() if k2 not in top and k2 != "missing"))
                / total for k in labels]

    x = np.arange(len(labels))
    ax.bar(x - 0.2, shares(r), width=0.4, color=PALETTE[0], label="real")
    ax.bar(x + 0.2, shares(s), width=0.4, color=PALETTE[1], label="synthetic")
    ax.set_xticks(x, [lab[:10] for lab in labels], rotation=45, ha="right", fontsize=7)


def distributions_svg(columns: Sequence[ColumnSample], *, id_prefix: str = "dist") -> str:
    """Small multiples of real vs synthetic, :data:`PANEL_COLUMNS` per row (module docstring)."""
    n = max(len(columns), 1)
    rows = math.ceil(n / PANEL_COLUMNS)
    with styled():
        fig = Figure(figsize=(7.5, 1.9 * rows + 0.4), layout="constrained")
        axes = fig.subplots(rows, PANEL_COLUMNS, squeeze=False)
        for ax in axes.flat[len(columns):]:
            ax.set_axis_off()
        for ax, col in zip(axes.flat, columns):
            ax.set_title(col.name[:28], fontsize=9)
            ax.tick_params(labelsize=7)
            ax.set_yticks([])
            (_categorical_panel if col.categorical else _numeric_panel)(ax, col)
        if columns:
            handles, labels = axes.flat[0].get_legend_handles_labels()
            fig.legend(handles, labels, loc="outside upper right", ncols=2)
        return figure_svg(fig, id_prefix=id_prefix)


def heatmaps_svg(labels: Sequence[str], matrices: dict[str, np.ndarray], *, id_prefix: str = "heat") -> str:
    """Square matrices side by side (one title each) on one colour scale, -1..1 (blue-white-red)."""
    k = len(matrices)
    short = [lab[:14] for lab in labels]
    ticks = len(labels) <= 30  # beyond that the labels would overlap; the axes are still the columns' order
    with styled():
        fig = Figure(figsize=(7.5, 7.5 / k * 1.05 + 0.6), layout="constrained")
        axes = fig.subplots(1, k, squeeze=False)[0]
        image = None
        for ax, (title, m) in zip(axes, matrices.items()):
            image = ax.imshow(np.ma.masked_invalid(m), vmin=-1, vmax=1, cmap="RdBu_r", interpolation="nearest")
            ax.set_title(title, fontsize=10)
            ax.grid(False)
            if ticks:
                ax.set_xticks(range(len(short)), short, rotation=90, fontsize=6)
                ax.set_yticks(range(len(short)), short if ax is axes[0] else [], fontsize=6)
            else:
                ax.set_xticks([])
                ax.set_yticks([])
        if image is not None:
            fig.colorbar(image, ax=list(axes), shrink=0.7, label="association")
        return figure_svg(fig, id_prefix=id_prefix)


def histograms_svg(title: str, x_label: str, samples: dict[str, np.ndarray], *, id_prefix: str = "hist") -> str:
    """Overlaid step histograms (counts) of ``samples`` on shared bins from 0 to their 99th percentile."""
    with styled():
        fig = Figure(figsize=(7.5, 3.2), layout="constrained")
        ax = fig.add_subplot()
        ax.set_title(title)
        ax.set_xlabel(x_label)
        ax.set_ylabel("rows")
        every = np.concatenate([np.asarray(v, dtype=float) for v in samples.values()]) if samples else np.array([])
        every = every[np.isfinite(every)]
        if not every.size:
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="#666666")
        else:
            hi = float(np.percentile(every, 99)) or float(every.max()) or 1.0
            bins = np.linspace(0.0, hi, 40)
            for i, (name, values) in enumerate(samples.items()):
                v = np.asarray(values, dtype=float)
                ax.hist(np.clip(v[np.isfinite(v)], 0.0, hi), bins=bins, histtype="step", linewidth=1.5,
                        color=PALETTE[i % len(PALETTE)], label=name)
            ax.legend()
        return figure_svg(fig, id_prefix=id_prefix)
