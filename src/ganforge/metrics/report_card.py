"""``ganforge eval``'s outputs: ``eval.json`` and a self-contained ``report.html``."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..version import __version__
from ..fileio import atomic_write_text
from ..images import make_grid, scatter_png, to_uint8
from ..report import MetricRow, loss_plots, metric_history_plots, write_report
from . import evaluate as ev

EVAL_JSON, REPORT_HTML = "eval.json", "report.html"
MAX_CLASS_GRIDS = 20  # Stacked Fashion-MNIST has 1,000 "classes": show grids only for small label sets

# (result key, shown name, better, format as percentage)
ROWS: list[tuple[str, str, str, bool]] = [
    (ev.FID, "FID", "lower", False),
    (ev.KID_MEAN, "KID (mean)", "lower", False),
    (ev.PRECISION, "precision", "higher", False),
    (ev.RECALL, "recall", "higher", False),
    (ev.DENSITY, "density", "higher", False),
    (ev.COVERAGE, "coverage", "higher", False),
    (ev.IS_MEAN, "classifier score (IS-style)", "higher", False),
    (ev.LABEL_ACC, "label agreement", "higher", True),
    (ev.INTRA_FID, "intra-class FID", "lower", False),
    (ev.MODES, "modes covered", "higher", False),
    (ev.HIGH_QUALITY, "high-quality samples", "higher", True),
    (ev.REVERSE_KL, "reverse KL to uniform modes", "lower", False),
    (ev.MODE_SPREAD, "mode width / data's (1: as wide as the data)", "", False),
    (ev.KL, "KL of mode histogram to uniform", "lower", False),
    (ev.CHANNEL_KL, "of which: channels' class histograms (rest: channel dependence)", "lower", False),
    (ev.CAS, "CAS (train on generated, test on real)", "higher", True),
]


def format_value(value: Any, percent: bool) -> Any:
    """A result as shown: a percentage string for shares, the number otherwise."""
    if value is None:
        return None
    return f"{100 * value:.1f}%" if percent else value


def metric_rows(result: ev.EvalResult) -> list[MetricRow]:
    rows = []
    for key, name, better, percent in ROWS:
        if key not in result.metrics:
            continue
        floor = result.floors.get(key)
        note = ""
        if key == ev.CAS:
            floor = result.metrics.get(ev.CAS_REAL)
            note = "floor column: train on real, same recipe and budget"
        elif key == ev.KID_MEAN and ev.KID_STD in result.metrics:
            note = f"± {result.metrics[ev.KID_STD]:.2g} over subsets"
        rows.append(MetricRow(name, format_value(result.metrics[key], percent), format_value(floor, percent), better, note))
    return rows


def _read_log(run_dir: Path | None) -> list[dict[str, Any]]:
    if run_dir is None or not (run_dir / "log.jsonl").is_file():
        return []
    entries = []
    for line in (run_dir / "log.jsonl").read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by a crash; the rest is still useful
            continue
    return entries


def write_eval_outputs(out_dir: str | Path, pipe, result: ev.EvalResult, *, command: str = "",
                       run_dir: Path | None = None, seconds: float | None = None) -> tuple[Path, Path]:
    """Write ``eval.json`` and ``report.html`` into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = result.to_json()
    doc["info"].update({"command": command, "ganforge_version": __version__, "seconds": seconds,
                        "date": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    json_path = out / EVAL_JSON
    atomic_write_text(json_path, json.dumps(doc, indent=2) + "\n")

    info = doc["info"]
    facts = [("model", info["model"]), ("reference", info["reference"]), ("features", info["features"]),
             ("generated samples", f"{info['n']:,}" + "".join(f"; {k}: {v:,}" for k, v in info["protocol_samples"].items())),
             ("seed", str(info["seed"])), ("command", command), ("date", info["date"])]
    if seconds is not None:
        facts.append(("time", f"{seconds:.1f} s"))
    if result.skipped:
        facts.append(("not computed", "; ".join(f"{k}: {v}" for k, v in result.skipped.items())))
    grid, class_grids = _pictures(pipe)
    entries = _read_log(run_dir)
    events = [e for e in entries if e.get("event") not in (None, "eval")]
    html_path = write_report(
        out / REPORT_HTML,
        title=f"ganforge evaluation: {Path(info['model']).name or info['model']}",
        subtitle=f"{info['n']:,} generated samples against {info['reference']}, features {info['features']}",
        facts=facts, metrics=metric_rows(result), sample_grid=grid,
        sample_caption="64 samples, seeds 0-63" if pipe.kind == "image" else "2,000 samples (orange) over real data",
        class_grids=class_grids, plots=loss_plots(entries) + metric_history_plots(entries), events=events,
    )
    return json_path, html_path


def _pictures(pipe):
    if pipe.kind == "vector":
        from ..data import build_dataset

        real = build_dataset(pipe.config.data).data[:2000].numpy()
        return scatter_png(pipe.generate(2000, seed=0), real), {}
    grid = make_grid(to_uint8(pipe.generate_tensor(64, "all" if pipe.conditional else None, seed=0)[0]), 8)
    class_grids = {}
    names = pipe.class_names or []
    if pipe.conditional and len(names) <= MAX_CLASS_GRIDS:
        for i, name in enumerate(names):
            class_grids[name] = make_grid(to_uint8(pipe.generate_tensor(16, i, seed=0)[0]), 4)
    return grid, class_grids
