"""The HTML evaluation report: well-formed, offline, escaped; its charts, their JSON, log parsing."""

from __future__ import annotations

import base64
import io
import json
import math
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from ganforge.report import (
    PALETTE,
    MetricRow,
    Plot,
    Section,
    Series,
    chart_svg,
    format_number,
    loss_plots,
    metric_history_plots,
    png_data_uri,
    render_report,
    write_report,
)

SVG = "{http://www.w3.org/2000/svg}"
EVIL = "<script>alert(1)</script>"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Balance(HTMLParser):
    """Fails on any close tag that does not match the innermost open non-void tag."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):  # <line .../> inside SVG
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()


def parse_html(doc: str) -> _Balance:
    parser = _Balance()
    parser.feed(doc)
    parser.close()
    assert parser.stack == [], f"unclosed tags: {parser.stack}"
    return parser


def svgs(doc: str) -> list[ET.Element]:
    """Every inline <svg> of a page, parsed as XML (so each must be well-formed)."""
    return [ET.fromstring(s) for s in re.findall(r"<svg\b.*?</svg>", doc, flags=re.DOTALL)]


def chart(plot: Plot, prefix: str = "c") -> ET.Element:
    return ET.fromstring(chart_svg(plot, id_prefix=prefix))


def series_group(svg: ET.Element, i: int, prefix: str = "c") -> ET.Element:
    (group,) = [g for g in svg.iter(SVG + "g") if g.get("id") == f"{prefix}-series-{i}"]
    return group


def series_ids(svg: ET.Element) -> list[str]:
    return [g.get("id") for g in svg.iter(SVG + "g") if re.fullmatch(r".+-series-\d+", g.get("id") or "")]


def runs(group: ET.Element) -> list[list[tuple[float, float]]]:
    """The vertices of a series' line, split where the line is broken (each "M" starts a run)."""
    (line,) = [p for p in group.findall(SVG + "path") if "fill: none" in p.get("style", "")]
    numbers = [float(v) for v in re.findall(r"-?[\d.]+(?:e-?\d+)?", line.get("d", ""))]
    commands = re.findall(r"[ML]", line.get("d", ""))
    out: list[list[tuple[float, float]]] = []
    for cmd, x, y in zip(commands, numbers[::2], numbers[1::2]):
        if cmd == "M":
            out.append([])
        out[-1].append((x, y))
    return out


def stroke(group: ET.Element) -> str:
    (line,) = [p for p in group.findall(SVG + "path") if "fill: none" in p.get("style", "")]
    return re.search(r"stroke: (#[0-9a-f]{6})", line.get("style")).group(1)


def markers(group: ET.Element) -> list[ET.Element]:
    return list(group.iter(SVG + "use"))


def texts(svg: ET.Element) -> list[str]:
    return [el.text for el in svg.iter(SVG + "text")]


def noise(h: int, w: int, c: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


def full_report() -> str:
    return render_report(
        title="fashion-dcgan & friends",
        subtitle='eval of "best" snapshot',
        facts=[("model", "fashion-dcgan"), ("command", 'ganforge eval --classes "a<b" & more')],
        metrics=[MetricRow("FID (fashion-cnn)", 12.34567, floor=0.98765, better="lower", note="10,000 vs 10,000"),
                 MetricRow("precision", "93.1%", better="higher"), MetricRow("KID", None)],
        sample_grid=noise(34, 66, 1),
        sample_caption="64 samples, seed 0",
        class_grids={EVIL: noise(10, 10, 3), "sneaker": noise(10, 10, 3, seed=1)},
        plots=[Plot("Losses", "kimg", "loss", [Series("loss_d", [0, 1, 2], [1.0, 0.5, 0.25]),
                                                Series("loss_g", [0, 1, 2], [0.7, 0.9, 1.1])]),
               Plot("fid during training", "kimg", "fid", [Series("fid", [1, 2], [80.0, 40.0])])],
        events=[{"event": "nan_detected", "kimg": 12.8, "step": 200, "loss": "d", "count": 3}],
        sections=[Section("Health", "<p>all <b>fine</b></p>")],
    )


# ------------------------------------------------------------------------------ numbers
@pytest.mark.parametrize(
    ("value", "kwargs", "text"),
    [(12.34567, {}, "12.35"), (0.98765, {}, "0.9877"), (0.003, {}, "0.003"), (1e-5, {}, "1e-05"),
     (12345.6, {}, "12,346"), (3, {}, "3"), (1200, {"compact": True}, "1.2k"), (2_500_000, {"compact": True}, "2.5M"),
     (0.0, {}, "0"), (float("nan"), {}, "nan")],
)
def test_format_number(value, kwargs, text):
    assert format_number(value, **kwargs) == text


# ------------------------------------------------------------------------------ charts
def test_each_series_is_a_line_in_its_own_palette_colour_with_a_legend_entry():
    plot = Plot("Losses", "kimg", "loss", [Series(f"s{i}", [0, 1, 2], [i, i + 1, i + 3]) for i in range(3)])
    svg = chart(plot)
    assert series_ids(svg) == ["c-series-0", "c-series-1", "c-series-2"]
    assert [stroke(series_group(svg, i)) for i in range(3)] == [c.lower() for c in PALETTE[:3]]
    assert [len(r) for i in range(3) for r in runs(series_group(svg, i))] == [3, 3, 3]
    assert {"Losses", "kimg", "loss", "s0", "s1", "s2"} <= set(texts(svg))


def test_the_palette_repeats_past_eight_series():
    svg = chart(Plot("t", "x", "y", [Series(f"s{i}", [0, 1], [i, i + 1]) for i in range(9)]))
    assert stroke(series_group(svg, 8)) == stroke(series_group(svg, 0)) == PALETTE[0].lower()
    assert len({stroke(series_group(svg, i)) for i in range(8)}) == 8


def test_points_are_drawn_in_order_and_the_right_way_up():
    svg = chart(Plot("t", "x", "y", [Series("v", [0, 1, 2], [0, 10, 0])]))
    ((start, peak, end),) = runs(series_group(svg, 0))
    assert start[0] < peak[0] < end[0] and peak[0] - start[0] == pytest.approx(end[0] - peak[0])
    assert start[1] == pytest.approx(end[1]) and peak[1] < start[1]  # SVG's y grows downwards


def test_nan_and_inf_points_leave_gaps_and_a_lone_point_gets_a_marker():
    svg = chart(Plot("t", "x", "y", [Series("s", [0, 1, 2, 3, 4], [1, math.nan, 3, 4, math.inf])]))
    group = series_group(svg, 0)
    assert [len(r) for r in runs(group)] == [1, 2]  # the first point alone, then 3 and 4 joined
    (marker,) = markers(group)
    assert (float(marker.get("x")), float(marker.get("y"))) == pytest.approx(runs(group)[0][0])
    assert "nan" not in texts(svg) and "inf" not in texts(svg)
    assert not markers(series_group(chart(Plot("t", "x", "y", [Series("s", [0, 1], [1, 2])])), 0))


def test_constant_series_and_single_point_are_drawn():
    (line,) = runs(series_group(chart(Plot("t", "x", "y", [Series("s", [0, 1, 2], [5, 5, 5])])), 0))
    assert len({y for _, y in line}) == 1 and len({x for x, _ in line}) == 3  # a flat line through all three
    one = series_group(chart(Plot("t", "x", "y", [Series("s", [7], [0.25])])), 0)
    assert len(markers(one)) == 1


def test_log_y_skips_nonpositive_values_and_labels_decades():
    plot = Plot("g", "kimg", "norm", [Series("s", [0, 1, 2, 3, 5], [0, -1, 10, 100, 1000])], log_y=True)
    svg = chart(plot)
    ((p10, p100, p1000),) = runs(series_group(svg, 0))
    assert p10[1] - p100[1] == pytest.approx(p100[1] - p1000[1], rel=1e-4)  # equal ratios, equal distances
    assert {"10", "100", "1k", "norm (log scale)"} <= set(texts(svg))
    linear = runs(series_group(chart(Plot("g", "kimg", "norm", plot.series)), 0))[0]
    assert (linear[0][1] - linear[1][1]) < (linear[1][1] - linear[2][1]) / 5  # the same data, linear: not equal


def test_tick_labels_are_compact_and_tell_neighbours_apart():
    assert {"2k", "4k", "6k", "8k"} <= set(texts(chart(Plot("t", "x", "y", [Series("s", [0, 1], [1200, 9800])]))))
    fine = set(texts(chart(Plot("t", "x", "y", [Series("s", [0, 1], [1.0001, 1.0009])]))))
    assert {"1.0002", "1.0004", "1.0006", "1.0008"} <= fine


@pytest.mark.parametrize("series", [[], [Series("s", [0, 1], [math.nan, math.nan])]])
def test_empty_plot_says_no_data(series):
    svg = chart(Plot("t", "x", "y", series))
    assert "no data" in texts(svg)
    assert all(not r for i in range(len(series)) for r in runs(series_group(svg, i)))


def test_log_plot_with_only_nonpositive_values_says_no_data():
    assert "no data" in texts(chart(Plot("t", "x", "y", [Series("s", [0, 1], [0, -2])], log_y=True)))


def test_chart_text_is_escaped_and_never_read_as_tex():
    text = chart_svg(Plot(EVIL, "a & b", "cost $x$", [Series(EVIL, [0, 1], [0, 1])]), id_prefix="c")
    assert "<script>" not in text
    assert EVIL in texts(ET.fromstring(text)) and "cost $x$" in texts(ET.fromstring(text))


def test_chart_ids_carry_the_prefix_and_every_reference_resolves():
    text = chart_svg(Plot("t", "x", "y", [Series("s", [0, 1, 2], [1, math.nan, 2])]), id_prefix="plot7")
    ids = re.findall(r'\bid="([^"]+)"', text)
    refs = re.findall(r'(?:href="#|url\(#)([^")]+)', text)
    assert ids and all(i.startswith("plot7-") for i in ids) and len(ids) == len(set(ids))
    assert refs and set(refs) <= set(ids)


def test_charts_are_deterministic():
    plot = Plot("t", "x", "y", [Series("s", [0, 1, 2], [3, 1, 2])])
    assert chart_svg(plot, id_prefix="a") == chart_svg(plot, id_prefix="a") != chart_svg(plot, id_prefix="b")


def test_plot_json_round_trips_with_gaps_as_null():
    plot = Plot("Gradient norms", "kimg", "norm", [Series("g", [0, 1, 2], [1.5, math.nan, math.inf])], log_y=True)
    doc = json.loads(json.dumps(plot.to_json(), allow_nan=False))  # strict JSON: no NaN literals
    assert doc == {"title": "Gradient norms", "x_label": "kimg", "y_label": "norm", "log_y": True,
                   "series": [{"name": "g", "x": [0, 1, 2], "y": [1.5, None, None]}]}
    back = Plot.from_json(doc)
    assert back.series[0].y[0] == 1.5 and math.isnan(back.series[0].y[1]) and back.log_y
    assert chart_svg(back) == chart_svg(plot)  # an inf and a NaN are the same gap


# ------------------------------------------------------------------------- log.jsonl
TRAINING = [
    {"step": 50, "images": 3200, "kimg": 3.2, "loss_d": 0.7, "loss_g": 1.0, "img_per_s": 300.0},
    {"event": "skipped_files", "count": 2, "files": []},
    {"event": "eval", "kimg": 3.2, "step": 50, "metrics": {"fid": 80.0, "kid": 0.05, "note": "ok"}},
    {"step": 100, "images": 6400, "kimg": 6.4, "loss_d": 0.5, "img_per_s": 310.0},
    {"event": "eval", "kimg": 6.4, "step": 100, "metrics": {"fid": 40.0}},
    {"event": "eval", "step": 120, "metrics": {"fid": 1.0}},  # no kimg: ignored
]


def test_loss_plots_ignore_events_and_omit_missing_keys():
    plots = loss_plots(TRAINING)
    assert [p.title for p in plots] == ["Losses", "Throughput"]
    losses = plots[0]
    assert [s.name for s in losses.series] == ["loss_d", "loss_g"]
    assert losses.series[0].x == [3.2, 6.4] and losses.series[0].y == [0.7, 0.5]
    assert losses.series[1].y[0] == 1.0 and math.isnan(losses.series[1].y[1])  # missing value: a gap
    assert loss_plots([{"event": "eval", "kimg": 1.0, "loss_d": 1.0}]) == []


def test_gradient_norms_use_a_log_axis():
    (plot,) = loss_plots([{"kimg": 1.0, "grad_norm_d": 3.0, "grad_norm_g": 4.0}])
    assert plot.log_y and [s.name for s in plot.series] == ["grad_norm_d", "grad_norm_g"]


def test_metric_history_plots_pick_up_eval_events():
    plots = metric_history_plots(TRAINING)
    assert [p.series[0].name for p in plots] == ["fid", "kid"]
    assert plots[0].series[0].x == [3.2, 6.4] and plots[0].series[0].y == [80.0, 40.0]
    assert plots[1].series[0].x == [3.2] and plots[1].series[0].y == [0.05]
    assert metric_history_plots(TRAINING[:2]) == []


# ------------------------------------------------------------------------------ images
@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 1), (5, 7, 3), (5, 7, 4)])
def test_data_uri_decodes_to_the_same_pixels(shape):
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    uri = png_data_uri(image)
    assert uri.startswith("data:image/png;base64,")
    png = base64.b64decode(uri.split(",", 1)[1])
    decoded = np.asarray(Image.open(io.BytesIO(png)))
    assert np.array_equal(decoded, image.reshape(decoded.shape))
    assert png_data_uri(png) == uri  # PNG bytes pass through unchanged


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.float32), np.zeros((4, 4, 2), np.uint8), b"GIF89a..."])
def test_data_uri_rejects_what_is_not_an_image(bad):
    with pytest.raises(ValueError, match="png_data_uri"):
        png_data_uri(bad)


# ------------------------------------------------------------------------------ report
def test_report_is_a_balanced_html5_document_with_well_formed_svg():
    doc = full_report()
    assert doc.startswith("<!doctype html>")
    tags = parse_html(doc).tags
    assert ("meta", {"charset": "utf-8"}) in tags
    assert len(svgs(doc)) == 2
    ids = re.findall(r'\bid="([^"]+)"', doc)
    assert ids and len(ids) == len(set(ids))  # two charts on one page share no id


def test_report_draws_a_chart_per_plot_and_a_line_per_series():
    doc = full_report()
    assert doc.count('<figure class="plot">') == 2
    losses, fid = svgs(doc)
    assert series_ids(losses) == ["plot0-series-0", "plot0-series-1"] and series_ids(fid) == ["plot1-series-0"]
    assert {"Losses", "loss_d", "loss_g"} <= set(texts(losses)) and {"fid during training", "fid"} <= set(texts(fid))
    assert [len(r) for r in runs(series_group(losses, 1, "plot0"))] == [3]


def test_report_charts_come_from_the_training_log():
    doc = render_report(title="t", plots=loss_plots(TRAINING) + metric_history_plots(TRAINING))
    charts = svgs(doc)
    assert [sorted(set(texts(c)) & {"Losses", "Throughput", "fid during training", "kid during training"})
            for c in charts] == [["Losses"], ["Throughput"], ["fid during training"], ["kid during training"]]
    assert [len(series_ids(c)) for c in charts] == [2, 1, 1, 1]
    # fid fell from 80 to 40: the line ends lower on the chart than it starts (SVG y grows downwards)
    ((start, end),) = runs(series_group(charts[2], 0, "plot2"))
    assert end[1] > start[1]


def test_report_needs_nothing_from_the_network():
    doc = full_report()
    # only XML namespace names, which are never fetched
    assert set(re.findall(r"https?://[^\s\"'<>)]*", doc)) <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert "<script" not in doc and "<link" not in doc and "@import" not in doc
    srcs = [a["src"] for tag, a in parse_html(doc).tags if "src" in a]
    assert len(srcs) == 3 and all(s.startswith("data:image/png;base64,") for s in srcs)
    hrefs = re.findall(r'href="([^"]*)"', doc)
    assert hrefs and all(h.startswith("#") for h in hrefs)  # links inside the page only


def test_report_escapes_user_text():
    doc = full_report()
    assert EVIL not in doc
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in doc
    assert "fashion-dcgan &amp; friends" in doc
    assert "ganforge eval --classes &quot;a&lt;b&quot; &amp; more" in doc
    assert "<p>all <b>fine</b></p>" in doc  # Section.html is trusted


def test_report_tables_and_images():
    doc = full_report()
    assert "<td>FID (fashion-cnn)</td>" in doc
    assert ">12.35<" in doc and ">0.9877<" in doc and ">93.1%<" in doc and "&darr; lower" in doc
    assert "loss=d, count=3" in doc and ">nan_detected<" in doc
    img = next(a for tag, a in parse_html(doc).tags if tag == "img")
    assert (img["width"], img["height"]) == (str(66 * 8), str(34 * 8))  # whole-number enlargement
    assert "image-rendering: pixelated" in doc
    assert doc.index("Samples per class") < doc.index("<h2>Plots") < doc.index("<svg") < doc.index("Events") < doc.index("Health")


def test_minimal_report_leaves_out_empty_parts():
    doc = render_report(title="t")
    parse_html(doc)
    assert "<table" not in doc and "<svg" not in doc and "<img" not in doc and "<h2>" not in doc


def test_metric_row_rejects_unknown_direction():
    with pytest.raises(ValueError, match="lower"):
        MetricRow("FID", 1.0, better="smaller")


def test_write_report_writes_atomically(tmp_path):
    out = tmp_path / "run" / "report.html"
    out.parent.mkdir()
    out.write_text("old")
    assert write_report(out, title="t & u", metrics=[MetricRow("FID", 3.0)]) == out
    assert out.read_text(encoding="utf-8") == render_report(title="t & u", metrics=[MetricRow("FID", 3.0)])
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]
