"""The HTML evaluation report: well-formed, offline, escaped; plots, ticks and log parsing."""

from __future__ import annotations

import base64
import io
import math
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from ganforge.report import (
    MARGINS,
    MetricRow,
    Plot,
    Section,
    Series,
    format_number,
    line_plot_svg,
    loss_plots,
    metric_history_plots,
    nice_axis,
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
    return [ET.fromstring(s) for s in re.findall(r"<svg\b.*?</svg>", doc, flags=re.DOTALL)]


def polyline_points(svg: ET.Element) -> list[list[tuple[float, float]]]:
    return [[tuple(map(float, p.split(","))) for p in el.get("points").split()] for el in svg.iter(SVG + "polyline")]


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
        plots=[Plot("Losses", "kimg", "loss", [Series("loss_d", [0, 1, 2], [1.0, 0.5, 0.25])])],
        events=[{"event": "nan_detected", "kimg": 12.8, "step": 200, "loss": "d", "count": 3}],
        sections=[Section("Health", "<p>all <b>fine</b></p>")],
    )


# ------------------------------------------------------------------------------- ticks
@pytest.mark.parametrize(
    ("lo", "hi", "ticks", "limits"),
    [
        (0, 97, [0, 20, 40, 60, 80, 100], (0, 100)),  # step 10: 11 ticks; 100 is within 10 % of the span
        (0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1.0], (0, 1)),
        (0.0012, 0.0047, [0.001, 0.002, 0.003, 0.004, 0.005], (0.001, 0.005)),
        (3.2, 301, [0, 100, 200, 300], (0, 301 + 0.03 * 297.8)),  # 400 is too far: stop 3 % past the data
        (1200, 9800, [2000, 4000, 6000, 8000, 10000], (1200 - 0.03 * 8600, 10000)),
        (-3, 7, [-5, 0, 5, 10], (-5, 10)),  # step 2 gives 7 ticks, padded step 5 only 0 and 5
    ],
)
def test_nice_axis_follows_the_1_2_5_rule(lo, hi, ticks, limits):
    axis = nice_axis(lo, hi)
    assert axis.ticks == ticks
    assert (axis.lo, axis.hi) == pytest.approx(limits)


def test_nice_axis_on_a_log_scale_spans_whole_decades():
    assert nice_axis(-2.3, 1.7, log=True) == (-3, 2, [-3, -2, -1, 0, 1, 2])
    assert nice_axis(0.30, 0.35, log=True) == (0, 1, [0, 1])


def test_nice_axis_rejects_an_empty_range():
    with pytest.raises(ValueError, match="lo < hi"):
        nice_axis(5, 5)


@pytest.mark.parametrize(
    ("value", "kwargs", "text"),
    [(12.34567, {}, "12.35"), (0.98765, {}, "0.9877"), (0.003, {}, "0.003"), (1e-5, {}, "1e-05"),
     (12345.6, {}, "12,346"), (3, {}, "3"), (1200, {"compact": True}, "1.2k"), (2_500_000, {"compact": True}, "2.5M"),
     (0.0, {}, "0"), (float("nan"), {}, "nan")],
)
def test_format_number(value, kwargs, text):
    assert format_number(value, **kwargs) == text


# -------------------------------------------------------------------------------- plots
def test_polyline_maps_data_linearly_into_the_plot_area():
    svg = ET.fromstring(line_plot_svg(Plot("t", "x", "y", [Series("s", [0, 50, 100], [0, 50, 100])]), width=560, height=300))
    (line,) = polyline_points(svg)
    left, right, top, bottom = MARGINS.left, 560 - MARGINS.right, MARGINS.top, 300 - MARGINS.bottom
    assert line[0] == (left, bottom)
    assert line[1] == ((left + right) / 2, (top + bottom) / 2)
    assert line[-1] == (right, top)
    assert {"0", "20", "40", "60", "80", "100"} <= set(texts(svg))


def test_plot_has_title_axis_labels_legend_and_one_colour_per_series():
    plot = Plot("Losses", "kimg", "loss", [Series("loss_d", [0, 1], [1, 2]), Series("loss_g", [0, 1], [2, 1])])
    svg = ET.fromstring(line_plot_svg(plot))
    assert {"Losses", "kimg", "loss", "loss_d", "loss_g"} <= set(texts(svg))
    colours = [el.get("stroke") for el in svg.iter(SVG + "polyline")]
    assert len(colours) == 2 and colours[0] != colours[1]


def test_nan_and_inf_points_leave_gaps():
    svg = ET.fromstring(line_plot_svg(Plot("t", "x", "y", [Series("s", [0, 1, 2, 3, 4], [1, math.nan, 3, 4, math.inf])])))
    assert [len(run) for run in polyline_points(svg)] == [2]  # 3 and 4
    assert len(list(svg.iter(SVG + "circle"))) == 1  # the lone first point
    assert "nan" not in ET.tostring(svg, encoding="unicode").lower()


def test_constant_series_and_single_point_are_drawn():
    svg = ET.fromstring(line_plot_svg(Plot("t", "x", "y", [Series("s", [0, 1, 2], [5, 5, 5])]), height=300))
    (line,) = polyline_points(svg)
    ys = {y for _, y in line}
    assert len(ys) == 1 and MARGINS.top < ys.pop() < 300 - MARGINS.bottom
    one = ET.fromstring(line_plot_svg(Plot("t", "x", "y", [Series("s", [7], [0.25])])))
    assert len(list(one.iter(SVG + "circle"))) == 1


def test_log_y_skips_nonpositive_values_and_labels_decades():
    plot = Plot("g", "kimg", "norm", [Series("s", [0, 1, 2, 3, 4], [0, -1, 10, 100, 1000])], log_y=True)
    svg = ET.fromstring(line_plot_svg(plot))
    (line,) = polyline_points(svg)
    assert len(line) == 3
    assert {"10", "100", "1k"} <= set(texts(svg))
    # equal ratios are equal distances on a log axis
    assert line[0][1] - line[1][1] == pytest.approx(line[1][1] - line[2][1])


def test_compact_tick_labels_for_large_values():
    svg = ET.fromstring(line_plot_svg(Plot("t", "x", "y", [Series("s", [0, 1], [1200, 9800])])))
    assert {"0", "2k", "4k", "10k"} <= set(texts(svg))


@pytest.mark.parametrize("series", [[], [Series("s", [0, 1], [math.nan, math.nan])]])
def test_empty_plot_says_no_data(series):
    svg = ET.fromstring(line_plot_svg(Plot("t", "x", "y", series)))
    assert "no data" in texts(svg)
    assert not list(svg.iter(SVG + "polyline"))


def test_log_plot_with_only_nonpositive_values_says_no_data():
    svg = ET.fromstring(line_plot_svg(Plot("t", "x", "y", [Series("s", [0, 1], [0, -2])], log_y=True)))
    assert "no data" in texts(svg)


def test_plot_text_is_escaped():
    svg = line_plot_svg(Plot(EVIL, "a & b", '"y"', [Series(EVIL, [0, 1], [0, 1])]))
    assert "<script>" not in svg
    assert EVIL in texts(ET.fromstring(svg))


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
def test_report_is_a_balanced_html5_document_with_parsable_svg():
    doc = full_report()
    assert doc.startswith("<!doctype html>")
    tags = parse_html(doc).tags
    assert ("meta", {"charset": "utf-8"}) in tags
    assert len(svgs(doc)) == 1


def test_report_needs_nothing_from_the_network():
    doc = full_report()
    assert set(re.findall(r"https?://[^\s\"'<>)]*", doc)) == {"http://www.w3.org/2000/svg"}
    assert "<script" not in doc and "<link" not in doc and "@import" not in doc
    srcs = [a["src"] for tag, a in parse_html(doc).tags if "src" in a]
    assert len(srcs) == 3 and all(s.startswith("data:image/png;base64,") for s in srcs)


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
    assert doc.index("Samples per class") < doc.index("<svg") < doc.index("Events") < doc.index("Health")


def test_minimal_report_leaves_out_empty_parts():
    doc = render_report(title="t")
    parse_html(doc)
    assert "<table" not in doc and "<svg" not in doc and "<img" not in doc


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
