"""Line charts drawn by matplotlib as inline SVG, from :class:`Plot` data.

No pyplot and no display: each chart is its own ``Figure`` saved by matplotlib's SVG backend
under :data:`STYLE`, set in a ``rc_context`` so the caller's matplotlib settings are left alone.
Text stays text (searchable, sharp in print), and the output is deterministic: the ids
matplotlib writes are hashed with ``id_prefix``, so charts on one page never share an id.
"""

from __future__ import annotations

import io
import math
import re

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter, NullFormatter

from .model import Plot
from .values import format_number

# Okabe & Ito (2008) colour-blind-safe palette, ordered so the first colours contrast most
# on white; yellow is last because it is faint on a light background.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
FIGSIZE = (7.5, 3.6)  # inches; SVG maps 1 in to 72 pt, i.e. 720 x 346 CSS px
STYLE = {
    "svg.fonttype": "none",  # <text> elements, not glyph outlines
    "text.parse_math": False,  # a "$" in a metric name is a dollar sign, not TeX
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],  # ships with matplotlib, so the layout matches its metrics
    "font.size": 9,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.edgecolor": "#888888",
    "axes.grid": True,
    "grid.color": "#e4e4e4",
    "grid.linewidth": 0.8,
    "legend.frameon": False,
}
# No <metadata>: matplotlib's creator, date and RDF links would only add URLs to the page.
_NO_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}
# Where an SVG names an id: its definition and the two ways matplotlib refers to one.
_ID_REFERENCES = re.compile(r'(id="|href="#|url\(#)(?=[^"#)]+[")])')


class CompactFormatter(Formatter):
    """Tick labels as :func:`format_number` writes them (1.2k, 0.003), with enough digits
    that neighbouring ticks differ (1.0001, 1.0002); decades on a log axis (0.1, 10, 1k)."""

    def __init__(self) -> None:
        self.sig = 4

    def set_locs(self, locs) -> None:
        super().set_locs(locs)
        ticks = sorted(float(t) for t in locs if math.isfinite(t))
        steps = [b - a for a, b in zip(ticks, ticks[1:]) if b > a]
        biggest = max((abs(t) for t in ticks), default=0.0)
        if steps and biggest > 0:
            self.sig = max(4, math.floor(math.log10(biggest)) - math.floor(math.log10(min(steps))) + 1)
        else:
            self.sig = 4

    def __call__(self, x: float, pos: int | None = None) -> str:
        return format_number(float(x), sig=self.sig, compact=True)


def _drawable(plot: Plot) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each series' (x, y) with every point that cannot be drawn set to NaN (a gap)."""
    out = []
    for s in plot.series:
        x, y = np.asarray(s.x, dtype=float), np.asarray(s.y, dtype=float)
        bad = ~np.isfinite(x) | ~np.isfinite(y) | ((y <= 0) if plot.log_y else False)
        out.append((np.where(bad, np.nan, x), np.where(bad, np.nan, y)))
    return out


def _lone_points(y: np.ndarray) -> np.ndarray:
    """Points with no drawable neighbour: a line cannot show them, so they get a marker."""
    ok = np.isfinite(y)
    before = np.concatenate([[False], ok[:-1]])
    after = np.concatenate([ok[1:], [False]])
    return ok & ~before & ~after


def chart_svg(plot: Plot, *, id_prefix: str = "plot") -> str:
    """The chart as an ``<svg>`` element (no XML prolog), ready to inline in HTML.

    Series ``i`` is the group ``<g id="{id_prefix}-series-{i}">`` drawn in ``PALETTE[i]``
    (the palette repeats past eight). A plot with nothing drawable says "no data". Every id
    in the SVG starts with ``id_prefix + "-"``, so charts inlined in one page never clash.
    """
    with styled():
        fig = Figure(figsize=FIGSIZE, layout="constrained")
        ax = fig.add_subplot()
        ax.set_title(plot.title)
        ax.set_xlabel(plot.x_label)
        ax.set_ylabel(plot.y_label + (" (log scale)" if plot.log_y else ""))
        data = _drawable(plot)
        y_all = np.concatenate([y for _, y in data]) if data else np.array([])
        for i, (s, (x, y)) in enumerate(zip(plot.series, data)):
            lone = _lone_points(y)
            ax.plot(x, y, color=PALETTE[i % len(PALETTE)], linewidth=1.4, label=s.name,
                    marker="o" if lone.any() else "", markersize=3.5, markevery=list(lone) if lone.any() else None,
                    gid=f"series-{i}")
        if not np.isfinite(y_all).any():
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="#666666")
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            if plot.log_y:
                # Whole decades at both ends, so every log chart has at least two labelled ticks.
                lo, hi = np.nanmin(y_all), np.nanmax(y_all)
                lo_dec, hi_dec = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
                ax.set_yscale("log")
                ax.set_ylim(10.0**lo_dec, 10.0 ** max(hi_dec, lo_dec + 1))
                ax.yaxis.set_minor_formatter(NullFormatter())
            ax.xaxis.set_major_formatter(CompactFormatter())
            ax.yaxis.set_major_formatter(CompactFormatter())
        if plot.series:
            fig.legend(loc="outside right upper", handlelength=1.6)
        return figure_svg(fig, id_prefix=id_prefix)


def figure_svg(fig: Figure, *, id_prefix: str) -> str:
    """A matplotlib ``Figure`` as an ``<svg>`` element for inline HTML: no prolog, no metadata, every
    id prefixed with ``id_prefix + "-"``. Call it inside :func:`styled` so the text stays text."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata=_NO_METADATA)
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):].strip()  # no XML prolog or DOCTYPE inside HTML
    return _ID_REFERENCES.sub(lambda m: f"{m.group(1)}{id_prefix}-", svg)


def styled():
    """The report's matplotlib settings (:data:`STYLE`) for a ``with`` block; the caller's are left alone."""
    return matplotlib.rc_context({**STYLE, "svg.hashsalt": "ganforge"})
