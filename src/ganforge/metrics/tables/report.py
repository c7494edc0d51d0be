"""audit.json and report.html of an audit, each written atomically.

The page is :func:`ganforge.report.render_report`'s: facts (inputs and their rows), the flags, the
table of figures (with their range and goal from :data:`.figures.FIGURES`), then the charts as
inline SVG (:mod:`ganforge.report.tables`): distributions per column, the association heat maps,
the DCR histograms; and the per-column table. No scripts and no external URLs.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...errors import GanforgeError
from ...fileio import atomic_write_text
from ...report import MetricRow, Section, format_number, write_report
from ...report.tables import ColumnSample, distributions_svg, heatmaps_svg, histograms_svg
from . import figures as F
from .figures import FIGURES, ORDER

if TYPE_CHECKING:
    from .audit import AuditResult  # audit.py writes through this module: the type only, no import cycle

MAX_DISTRIBUTION_COLUMNS = 48  # panels drawn; the per-column table lists every column
JSON_NAME, HTML_NAME = "audit.json", "report.html"


# a figure's reference, shown in the page's "real-vs-real floor" column: what unseen real rows give
REFERENCES = {F.TSTR: F.TRTR, F.EXACT_COPY_RATE: F.EXACT_COPY_RATE_HOLDOUT, F.DCR_TRAIN_MEDIAN: F.DCR_HOLDOUT_MEDIAN,
              F.DCR_TRAIN_P5: F.DCR_HOLDOUT_P5, F.NNDR_TRAIN_MEDIAN: F.NNDR_HOLDOUT_MEDIAN,
              F.DCR_CLOSER_TO_TRAIN: 0.5, F.MEMBERSHIP_AUC: 0.5, F.DCR_RATIO: 1.0, F.TSTR_TRTR_RATIO: 1.0}


def _metric_rows(doc: dict) -> list[MetricRow]:
    rows = []
    for key in ORDER:
        fig = FIGURES.get(key)
        if key not in doc:
            continue
        value = doc[key]
        ref = REFERENCES.get(key)
        rows.append(MetricRow(f"{fig.group}: {fig.title}", value, floor=doc.get(ref) if isinstance(ref, str) else ref,
                              better=fig.better,
                              note=f"range {fig.range}; goal {fig.goal}"))
    return rows


def _column_samples(result: "AuditResult") -> list[ColumnSample]:
    enc = result.encoded
    out = []
    for name in enc.names[:MAX_DISTRIBUTION_COLUMNS]:
        real, syn = enc.column("real", name), enc.column("synthetic", name)
        if enc.is_categorical(name):
            vocab = enc.vocab[name]
            label = lambda codes: [None if np.isnan(c) else vocab[int(c)] for c in codes]  # noqa: E731
            out.append(ColumnSample(name, True, label(real), label(syn)))
        else:
            out.append(ColumnSample(name, False, real, syn))
    return out


def _columns_table(result: "AuditResult") -> str:
    rows = ["<table><tr><th>column</th><th>kind</th><th>similarity</th><th>missing (real / synthetic)</th></tr>"]
    enc = result.encoded
    for name in enc.names:
        miss = [float(np.isnan(enc.column(r, name)).mean()) for r in ("real", "synthetic")]
        rows.append(f'<tr><td>{escape(name)}</td><td>{enc.kinds[name]}</td>'
                    f'<td class="num">{format_number(result.similarities[name])}</td>'
                    f'<td class="num">{miss[0]:.1%} / {miss[1]:.1%}</td></tr>')
    rows.append("</table>")
    return "\n".join(rows)


def render_sections(result: "AuditResult") -> list[Section]:
    doc = result.doc
    sections = []
    flags = doc["flags"] or ["none: every figure is within its limit"]
    sections.append(Section("Flags", "<ul>" + "".join(f"<li>{escape(f)}</li>" for f in flags) + "</ul>"))
    if doc["notes"]:
        sections.append(Section("Notes", "<ul>" + "".join(f"<li>{escape(n)}</li>" for n in doc["notes"]) + "</ul>"))
    sections.append(Section("Distributions: real against synthetic",
                            f'<figure class="plot">{distributions_svg(_column_samples(result))}</figure>'
                            + (f'<p class="muted">the first {MAX_DISTRIBUTION_COLUMNS} of {len(result.encoded.names)} '
                               f'columns</p>' if len(result.encoded.names) > MAX_DISTRIBUTION_COLUMNS else "")))
    if len(result.association_columns) >= 2:
        real, syn = result.associations["real"], result.associations["synthetic"]
        svg = heatmaps_svg(result.association_columns,
                           {"real": real, "synthetic": syn, "|real - synthetic|": np.abs(real - syn)})
        sections.append(Section("Associations (Pearson r, Cramer's V, correlation ratio)",
                                f'<figure class="plot">{svg}</figure>'))
    d = result.distances
    svg = histograms_svg("Distance to the closest record", "distance (scaled, one-hot)",
                         {"synthetic to training": d.to_train, "synthetic to holdout": d.to_holdout})
    svg_mia = histograms_svg("Distance of real rows to the closest synthetic row", "distance",
                             {"training rows (members)": -d.member_scores, "holdout rows (non-members)": -d.nonmember_scores},
                             id_prefix="mia")
    sections.append(Section("Distances", f'<figure class="plot">{svg}</figure>\n<figure class="plot">{svg_mia}</figure>'))
    sections.append(Section("Columns", _columns_table(result)))
    return sections


def write_audit(result: "AuditResult", out: str | Path) -> tuple[Path, Path]:
    """``out/audit.json`` and ``out/report.html``, each written atomically; returns their paths."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GanforgeError(f"--out {out}: is a file; give a folder for audit.json and report.html")
    out.mkdir(parents=True, exist_ok=True)
    doc = result.doc
    json_path = out / JSON_NAME
    atomic_write_text(json_path, json.dumps(doc, indent=2, allow_nan=False) + "\n")
    facts = [(role, f"{v['label']}: {v['rows']} rows") for role, v in doc["inputs"].items()]
    facts.append(("flags", f"{len(doc['flags'])}: " + "; ".join(doc["flags"]) if doc["flags"] else "none"))
    if doc["target"]:
        facts.append(("target", f"{doc['target']['name']} ({doc['target']['task']}, {doc['target']['score']})"))
    html_path = write_report(out / HTML_NAME, title="Synthetic table audit",
                             subtitle=f"{doc['inputs']['synthetic']['label']} against {doc['inputs']['real']['label']}",
                             facts=facts, metrics=_metric_rows(doc), sections=render_sections(result))
    return json_path, html_path
