"""The report as one self-contained HTML5 page: metric table, sample grids, charts, events.

The page opens in any browser offline: no scripts, fonts or external files. Pictures are
PNGs embedded as ``data:`` URIs and charts are inline SVG drawn by matplotlib
(:func:`.charts.chart_svg`). Every string that reaches the page from the caller is
HTML-escaped; only :attr:`Section.html` is trusted, because ganforge code writes it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from ..version import __version__
from ..fileio import atomic_write_text
from ..images import encode_png
from .charts import chart_svg
from .model import MetricRow, Plot, Section
from .values import format_number, is_number

ImageLike = np.ndarray | bytes  # uint8 (H, W) or (H, W, C) with C in {1, 3, 4}, or PNG bytes

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


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
        text = format_number(v) if is_number(v) else v if isinstance(v, str) else json.dumps(v, default=str)
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
figure.plot svg { max-width: 100%; height: auto; display: block; }
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
        body += [f'<figure class="plot">\n{chart_svg(p, id_prefix=f"plot{i}")}\n</figure>' for i, p in enumerate(plots)]
    if events := list(events):
        body.append('<h2>Events</h2>\n<table class="events">\n<tr><th>event</th><th>kimg</th><th>step</th><th>details</th></tr>')
        for ev in events:
            kimg, step = (ev.get(k) if is_number(ev.get(k)) else None for k in ("kimg", "step"))
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
