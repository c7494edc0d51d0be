"""The evaluation report: data in, one self-contained HTML page out.

- ``model.py``: what a report shows, as plain data (``MetricRow``, ``Series``, ``Plot``,
  ``Section``); ``Plot.to_json`` / ``Plot.from_json`` are the charts' JSON contract.
- ``curves.py``: ``log.jsonl`` entries -> training-curve ``Plot`` data.
- ``charts.py``: a ``Plot`` drawn by matplotlib as inline SVG.
- ``html.py``: the page (``render_report``, ``write_report``).
- ``values.py``: how numbers read (``format_number``).

Typical use (``ganforge eval``)::

    entries = [json.loads(line) for line in open(run / "log.jsonl")]
    write_report(run / "report.html", title="fashion-dcgan", metrics=[MetricRow(...)],
                 sample_grid=grid, plots=loss_plots(entries) + metric_history_plots(entries))
"""

from .charts import PALETTE, chart_svg
from .curves import TRAINING_PLOTS, loss_plots, metric_history_plots
from .html import ImageLike, png_data_uri, render_report, write_report
from .model import MetricRow, Plot, Section, Series
from .values import format_number, is_number

__all__ = [
    "PALETTE", "TRAINING_PLOTS", "ImageLike", "MetricRow", "Plot", "Section", "Series", "chart_svg", "format_number",
    "is_number", "loss_plots", "metric_history_plots", "png_data_uri", "render_report", "write_report",
]
