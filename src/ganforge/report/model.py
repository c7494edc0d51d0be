"""What a report shows, as plain data: metric rows, chart series, extra sections.

:class:`Plot` and :class:`Series` are the charts' contract: :meth:`Plot.to_json` gives a
JSON-safe dict (a gap is ``null``) that :meth:`Plot.from_json` reads back, so a chart can be
stored, sent to a web page or drawn again without the log it came from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


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

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "x": [_json_number(v) for v in self.x], "y": [_json_number(v) for v in self.y]}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Series:
        return cls(str(doc["name"]), [_from_json_number(v) for v in doc["x"]], [_from_json_number(v) for v in doc["y"]])


@dataclass
class Plot:
    title: str
    x_label: str
    y_label: str
    series: list[Series] = field(default_factory=list)
    log_y: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "x_label": self.x_label, "y_label": self.y_label, "log_y": self.log_y,
                "series": [s.to_json() for s in self.series]}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Plot:
        return cls(str(doc["title"]), str(doc["x_label"]), str(doc["y_label"]),
                   [Series.from_json(s) for s in doc["series"]], log_y=bool(doc.get("log_y", False)))


@dataclass
class Section:
    """A free-form extra section, e.g. health-monitor events."""

    title: str
    html: str  # trusted HTML written by ganforge code (not escaped)


def _json_number(v: float) -> float | None:
    """JSON has no NaN or infinity: a point that cannot be drawn is ``null``."""
    v = float(v)
    return v if math.isfinite(v) else None


def _from_json_number(v: float | None) -> float:
    return math.nan if v is None else float(v)
