"""A self-contained HTML evaluation report: metric table, sample grids, training curves.

The page opens in any browser offline: no scripts, fonts or external files. Pictures are
PNGs embedded as ``data:`` URIs and plots are inline SVG drawn by :func:`line_plot_svg`.
Every string that reaches the page from the caller is HTML-escaped; only
:attr:`Section.html` is trusted, because ganforge code writes it.

Typical use (``ganforge eval``)::

    entries = [json.loads(line) for line in open(run / "log.jsonl")]
    write_report(run / "report.html", title="fashion-dcgan", metrics=[MetricRow(...)],
                 sample_grid=grid, plots=loss_plots(entries) + metric_history_plots(entries))
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from . import __version__
from .fileio import atomic_write_text
from .images import encode_png

ImageLike = np.ndarray | bytes  # uint8 (H, W) or (H, W, C) with C in {1, 3, 4}, or PNG bytes

# Okabe & Ito (2008) colour-blind-safe palette, ordered so the first colours contrast most
# on white; yellow is last because it is faint on a light background.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Margins(NamedTuple):
    left: int
    top: int  # title plus one legend row; each further legend row adds LEGEND_ROW px
    right: int
    bottom: int


MARGINS = Margins(left=64, top=48, right=16, bottom=44)
LEGEND_ROW = 16


@dataclass
class MetricRow:
    name: str  # e.g. "FID (fashion-cnn)"
    value: float | str | None  # the model's number; None = not computed
    floor: float | str | None = None  # real-versus-real value: the best reachable with this many samples
    better: str = ""  # "lower" | "higher" | "": shown as an arrow
    note: str = ""  # e.g. "10,000 vs 10,000, fashion-mnist:test"

    def __post_init__(self) -> None:
        if self.better not in ("lower", "higher", ""):
            raise ValueError(f"MetricRow.better must be 'lower', 'higher' or '', not {self.better!r}")


@dataclass
class Series:
    name: str
    x: list[float]
    y: list[float]  # same length as x; NaN/inf (and y <= 0 on a log axis) leave a gap


@dataclass
class Plot:
    title: str
    x_label: str
    y_label: str
    series: list[Series]
    log_y: bool = False


@dataclass
class Section:
    """A free-form extra section, e.g. health-monitor events."""

    title: str
    html: str  # trusted HTML written by ganforge code (not escaped)


# ------------------------------------------------------------------------------ numbers


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


class Axis(NamedTuple):
    lo: float  # where the axis starts and ends (data units, log10 on a log axis)
    hi: float
    ticks: list[float]  # labelled values between lo and hi


SNAP = 0.1  # an axis end moves out to the next tick when that adds at most this share of the data span
PAD = 0.03  # otherwise it stops this share of the span beyond the data


def nice_axis(lo: float, hi: float, *, log: bool = False) -> Axis:
    """Axis limits and ticks for data in ``[lo, hi]``; ticks step by 1, 2 or 5 times a power of ten.

    For each candidate step, each axis end moves out to the next tick when that is at most
    ``SNAP`` of the span away (0..97 -> 0..100), else it stops ``PAD`` past the data (an axis
    for 3..301 stops near 310, not at 400). The step giving 4-6 ticks nearest 5 wins, the finer
    step on a tie; when no step does, axes with both ends on ticks are tried too (-3..7 ->
    -5..10), and then the count nearest 4-6. ``log``: ``lo``/``hi`` are log10 values, the
    step is whole decades and both ends always move out to a decade. ``lo == hi`` must be
    widened by the caller.
    """
    span = hi - lo
    if not (math.isfinite(span) and span > 0):
        raise ValueError(f"nice_axis needs finite lo < hi, got {lo!r}, {hi!r}")
    top = math.floor(math.log10(span))
    best: tuple[tuple[int, bool, int, float], Axis] | None = None
    for power in range(top - 2, max(top, 0) + 2):  # step 1 is always a candidate for ``log``
        for mantissa in (1, 2, 5):
            step = mantissa * 10.0**power
            if log and step < 1:
                continue
            below, above = _snap_floor(lo / step) * step, _snap_ceil(hi / step) * step
            by_rule = (below if log or lo - below <= SNAP * span else lo - PAD * span,
                       above if log or above - hi <= SNAP * span else hi + PAD * span)
            for a, b in dict.fromkeys([by_rule, (below, above)]):
                first, last = _snap_ceil(a / step), _snap_floor(b / step)
                n = last - first + 1
                key = (max(4 - n, n - 6, 0), (a, b) != by_rule, abs(n - 5), step)
                if best is None or key < best[0]:
                    # Rounding to 12 significant digits turns 0.30000000000000004 back into 0.3.
                    best = (key, Axis(a, b, [float(f"{i * step:.12g}") for i in range(first, last + 1)]))
    return best[1]


def _snap_floor(q: float) -> int:
    return round(q) if abs(q - round(q)) < 1e-9 else math.floor(q)


def _snap_ceil(q: float) -> int:
    return round(q) if abs(q - round(q)) < 1e-9 else math.ceil(q)


def format_number(v: float, *, sig: int = 4, compact: bool = False) -> str:
    """``sig`` significant digits without trailing zeros: 12.35, 0.003, 1e-05.

    Large numbers get thousands separators (12,346) or, with ``compact`` (tick labels),
    a suffix (12.35k, 2.5M). Integers stay exact unless ``compact`` shortens them.
    """
    if not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    a = abs(v)
    if a == 0:
        return "0"
    if compact:
        for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
            if 1e15 > a >= div:
                return format_number(v / div, sig=sig) + suffix
    if a >= 1e15 or a < 1e-4:
        mantissa, exponent = f"{v:.{sig - 1}e}".split("e")
        return (mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa) + "e" + exponent
    if isinstance(v, (int, np.integer)) or a >= 10**sig:
        return f"{round(v):,}"
    text = f"{v:.{max(0, sig - 1 - math.floor(math.log10(a)))}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _tick_labels(ticks: list[float], *, log: bool) -> list[str]:
    if log:
        return [format_number(10.0**t, compact=True) for t in ticks]
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    biggest = max(abs(t) for t in ticks) or 1.0
    # Enough digits that neighbouring ticks differ (1.0001, 1.0002), at least 4.
    sig = max(4, math.floor(math.log10(biggest)) - math.floor(math.log10(step)) + 1)
    return [format_number(t, sig=sig, compact=True) for t in ticks]


def _axis(values: list[float], *, log: bool) -> Axis:
    """The axis for finite ``values`` (already log10 on a log axis); a constant range is widened."""
    lo, hi = min(values), max(values)
    if lo == hi:
        pad = 10.0 ** math.floor(math.log10(abs(lo))) if lo else 1.0
        lo, hi = lo - pad, hi + pad
    return nice_axis(lo, hi, log=log)


# ------------------------------------------------------------------------------ plots


def _runs(series: Series, log_y: bool) -> list[list[tuple[float, float]]]:
    """Split a series into runs of drawable points (log10 applied); bad points end a run."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in zip(series.x, series.y):
        x, y = float(x), float(y)
        ok = math.isfinite(x) and math.isfinite(y) and (y > 0 or not log_y)
        if ok:
            runs[-1].append((x, math.log10(y) if log_y else y))
        elif runs[-1]:
            runs.append([])
    return [r for r in runs if r]


def _legend_rows(names: list[str], width: int) -> list[list[tuple[int, str]]]:
    """Lay legend entries (index, name) into rows that fit ``width`` (~6.5 px a character)."""
    rows: list[list[tuple[int, str]]] = [[]]
    used = 0
    for i, name in enumerate(names):
        w = 22 + int(6.5 * len(name)) + 14
        if rows[-1] and used + w > width - MARGINS.left - MARGINS.right:
            rows.append([])
            used = 0
        rows[-1].append((i, name))
        used += w
    return rows


def line_plot_svg(plot: Plot, *, width: int = 560, height: int = 300) -> str:
    """An inline ``<svg>`` line chart: title, legend, grid, 1-2-5 ticks, axis labels.

    The plot area spans ``MARGINS.left .. width - MARGINS.right`` horizontally and
    ``MARGINS.top (+ LEGEND_ROW per extra legend row) .. height - MARGINS.bottom``
    vertically; the axes run between the limits :func:`nice_axis` chooses.
    """
    e = escape
    legend = _legend_rows([s.name for s in plot.series], width)
    x0, x1 = MARGINS.left, width - MARGINS.right
    y0, y1 = MARGINS.top + LEGEND_ROW * (len(legend) - 1), height - MARGINS.bottom
    out = [
        (f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="{width}" height="{height}" '
         f'viewBox="0 0 {width} {height}" role="img" aria-label="{e(plot.title)}" font-family="sans-serif" font-size="11">'),
        f"<title>{e(plot.title)}</title>",
        f'<text x="{x0}" y="16" font-size="13" font-weight="bold">{e(plot.title)}</text>',
    ]
    runs = [_runs(s, plot.log_y) for s in plot.series]
    points = [p for series_runs in runs for run in series_runs for p in run]
    if not points:
        out.append(f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" fill="none" stroke="#bbb"/>')
        out.append(f'<text x="{(x0 + x1) / 2}" y="{(y0 + y1) / 2}" text-anchor="middle" fill="#666">no data</text>')
        return "\n".join(out + ["</svg>"])

    xa, ya = _axis([p[0] for p in points], log=False), _axis([p[1] for p in points], log=plot.log_y)

    def sx(x: float) -> float:
        return x0 + (x - xa.lo) / (xa.hi - xa.lo) * (x1 - x0)

    def sy(y: float) -> float:
        return y1 - (y - ya.lo) / (ya.hi - ya.lo) * (y1 - y0)

    for t, label in zip(xa.ticks, _tick_labels(xa.ticks, log=False)):
        out.append(f'<line x1="{sx(t):.2f}" y1="{y0}" x2="{sx(t):.2f}" y2="{y1}" stroke="#e4e4e4"/>')
        out.append(f'<text x="{sx(t):.2f}" y="{y1 + 14}" text-anchor="middle">{e(label)}</text>')
    for t, label in zip(ya.ticks, _tick_labels(ya.ticks, log=plot.log_y)):
        out.append(f'<line x1="{x0}" y1="{sy(t):.2f}" x2="{x1}" y2="{sy(t):.2f}" stroke="#e4e4e4"/>')
        out.append(f'<text x="{x0 - 5}" y="{sy(t) + 4:.2f}" text-anchor="end">{e(label)}</text>')
    out.append(f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" fill="none" stroke="#888"/>')
    out.append(f'<text x="{(x0 + x1) / 2}" y="{height - 8}" text-anchor="middle">{e(plot.x_label)}</text>')
    y_label = plot.y_label + (" (log scale)" if plot.log_y else "")
    out.append(f'<text transform="translate(14 {(y0 + y1) / 2}) rotate(-90)" text-anchor="middle">{e(y_label)}</text>')

    for i, series_runs in enumerate(runs):
        colour = PALETTE[i % len(PALETTE)]
        for run in series_runs:
            if len(run) == 1:  # a lone point has no line to draw: mark it
                out.append(f'<circle cx="{sx(run[0][0]):.2f}" cy="{sy(run[0][1]):.2f}" r="2.5" fill="{colour}"/>')
            else:
                pts = " ".join(f"{sx(x):.2f},{sy(y):.2f}" for x, y in run)
                out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="1.6"/>')
    for r, row in enumerate(legend):
        lx, ly = x0, 34 + LEGEND_ROW * r
        for i, name in row:
            colour = PALETTE[i % len(PALETTE)]
            out.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 16}" y2="{ly - 4}" stroke="{colour}" stroke-width="3"/>')
            out.append(f'<text x="{lx + 22}" y="{ly}">{e(name)}</text>')
            lx += 22 + int(6.5 * len(name)) + 14
    return "\n".join(out + ["</svg>"])


# (title, y label, log.jsonl keys, log_y) of the training curves, in report order
TRAINING_PLOTS = (
    ("Losses", "loss", ("loss_d", "loss_g"), False),
    ("Discriminator outputs", "D output (mean)", ("d_real", "d_fake"), False),
    ("Gradient norms", "norm", ("grad_norm_d", "grad_norm_g", "r1"), True),
    ("Throughput", "images / s", ("img_per_s",), False),
)


def _number_or_nan(v: Any) -> float:
    return float(v) if _is_number(v) else math.nan


def loss_plots(log_entries: Iterable[Mapping[str, Any]]) -> list[Plot]:
    """Training curves over kimg from ``log.jsonl`` entries; ``event`` lines are ignored.

    A plot appears only when at least one of its keys is logged; a missing value is a gap.
    """
    rows = [r for r in log_entries if "event" not in r and _is_number(r.get("kimg"))]
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
        if r.get("event") != "eval" or not _is_number(r.get("kimg")) or not isinstance(r.get("metrics"), Mapping):
            continue
        for name, value in r["metrics"].items():
            if _is_number(value):
                s = history.setdefault(name, Series(name, [], []))
                s.x.append(float(r["kimg"]))
                s.y.append(float(value))
    return [Plot(f"{name} during training", "kimg", name, [s]) for name, s in history.items()]


# ------------------------------------------------------------------------------ HTML


def png_data_uri(image: ImageLike) -> str:
    """``data:image/png;base64,...`` for uint8 (H, W) / (H, W, C), C in {1, 3, 4}, or PNG bytes."""
    if isinstance(image, (bytes, bytearray)):
        if not bytes(image[:8]) == _PNG_MAGIC:
            raise ValueError("png_data_uri: bytes are not a PNG (no PNG signature)")
        data = bytes(image)
    else:
        a = np.asarray(image)
        if a.dtype != np.uint8 or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)):
            raise ValueError(f"png_data_uri: need uint8 (H, W) or (H, W, 1|3|4), got {a.dtype} {a.shape}")
        data = encode_png(a[..., None] if a.ndim == 2 else a)
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _image_size(image: ImageLike) -> tuple[int, int]:
    """(width, height) in pixels of an array or PNG bytes (read from the IHDR chunk)."""
    if isinstance(image, (bytes, bytearray)):
        return int.from_bytes(image[16:20], "big"), int.from_bytes(image[20:24], "big")
    return int(image.shape[1]), int(image.shape[0])


def _cell(v: float | str | None) -> str:
    if v is None:
        return '<span class="muted">&mdash;</span>'
    return escape(v) if isinstance(v, str) else escape(format_number(v))


def _event_details(event: Mapping[str, Any]) -> str:
    parts = []
    for k, v in event.items():
        if k in ("event", "kimg", "step"):
            continue
        text = format_number(v) if _is_number(v) else v if isinstance(v, str) else json.dumps(v, default=str)
        parts.append(f"{k}={text[:117] + '...' if len(text) > 120 else text}")
    return escape(", ".join(parts))


_CSS = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1b1b; background: #fff;
       max-width: 900px; margin: 2em auto; padding: 0 1em; }
h1 { margin-bottom: 0.1em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
.subtitle, .muted, figcaption, footer { color: #666; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { text-align: left; padding: 0.25em 0.8em 0.25em 0; border-bottom: 1px solid #eee; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 0.8em 0; }
img.pixels { image-rendering: crisp-edges; image-rendering: pixelated; max-width: 100%; height: auto; }
.classes { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 1em; }
.classes img.pixels { width: 100%; }
svg.plot { max-width: 100%; height: auto; display: block; margin: 0.8em 0; }
@media print { body { margin: 0; max-width: none; } figure, svg, table, tr { break-inside: avoid; } }
"""


def render_report(
    *,
    title: str,
    subtitle: str = "",
    facts: Iterable[tuple[str, str]] = (),
    metrics: Iterable[MetricRow] = (),
    sample_grid: ImageLike | None = None,
    sample_caption: str = "",
    class_grids: Mapping[str, ImageLike] | None = None,
    plots: Iterable[Plot] = (),
    events: Iterable[Mapping[str, Any]] = (),
    sections: Iterable[Section] = (),
) -> str:
    """The report as one HTML5 document; see the module docstring. Empty parts are left out.

    ``facts``: (key, value) strings, e.g. ("model", "fashion-dcgan"). ``sample_grid`` and the
    values of ``class_grids`` (keyed by class name): uint8 arrays or PNG bytes, shown
    enlarged with crisp pixels. ``events``: log.jsonl event dicts.
    """
    e = escape
    body = [f"<h1>{e(title)}</h1>"]
    if subtitle:
        body.append(f'<p class="subtitle">{e(subtitle)}</p>')
    if facts := list(facts):
        body.append('<table class="facts">')
        body += [f'<tr><th scope="row">{e(str(k))}</th><td>{e(str(v))}</td></tr>' for k, v in facts]
        body.append("</table>")
    if metrics := list(metrics):
        body.append('<h2>Metrics</h2>\n<table class="metrics">')
        body.append("<tr><th>metric</th><th>value</th><th>real-vs-real floor</th><th>better</th><th>note</th></tr>")
        arrows = {"lower": "&darr; lower", "higher": "&uarr; higher", "": ""}
        for m in metrics:
            body.append(f'<tr><td>{e(m.name)}</td><td class="num">{_cell(m.value)}</td>'
                        f'<td class="num">{_cell(m.floor)}</td><td>{arrows[m.better]}</td><td>{e(m.note)}</td></tr>')
        body.append("</table>")
    if sample_grid is not None:
        w, h = _image_size(sample_grid)
        scale = max(1, min(8, 860 // max(w, 1)))  # whole-number enlargement keeps pixels square
        body.append(f'<h2>Samples</h2>\n<figure><img class="pixels" src="{png_data_uri(sample_grid)}" '
                    f'width="{w * scale}" height="{h * scale}" alt="{e(sample_caption or "samples")}">')
        body.append(f"<figcaption>{e(sample_caption)}</figcaption></figure>" if sample_caption else "</figure>")
    if class_grids:
        body.append('<h2>Samples per class</h2>\n<div class="classes">')
        for name, grid in class_grids.items():
            w, h = _image_size(grid)
            body.append(f'<figure><img class="pixels" src="{png_data_uri(grid)}" width="{w}" height="{h}" '
                        f'alt="{e(name)}"><figcaption>{e(name)}</figcaption></figure>')
        body.append("</div>")
    if plots := list(plots):
        body.append("<h2>Plots</h2>")
        body += [line_plot_svg(p) for p in plots]
    if events := list(events):
        body.append('<h2>Events</h2>\n<table class="events">\n<tr><th>event</th><th>kimg</th><th>step</th><th>details</th></tr>')
        for ev in events:
            kimg, step = (ev.get(k) if _is_number(ev.get(k)) else None for k in ("kimg", "step"))
            body.append(f'<tr><td>{e(str(ev.get("event", "")))}</td><td class="num">{_cell(kimg)}</td>'
                        f'<td class="num">{_cell(step)}</td><td>{_event_details(ev)}</td></tr>')
        body.append("</table>")
    for section in sections:
        body.append(f"<h2>{e(section.title)}</h2>\n{section.html}")
    body.append(f'<footer><p>Generated by ganforge {e(__version__)}.</p></footer>')
    return "\n".join([
        "<!doctype html>",
        '<html lang="en">',
        '<head>\n<meta charset="utf-8">\n<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title>\n<style>{_CSS}</style>\n</head>",
        "<body>", *body, "</body>", "</html>", "",
    ])


def write_report(path: str | Path, **kwargs: Any) -> Path:
    """:func:`render_report` (same keyword arguments) written atomically as UTF-8 to ``path``."""
    path = Path(path)
    atomic_write_text(path, render_report(**kwargs))
    return path
