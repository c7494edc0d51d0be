"""The audit of a synthetic table as a service call: tables in, audit.json and report.html out.

``audit_tables`` is what ``ganforge audit`` and the studio's ``audit`` tool call; the work is
``metrics.tables`` (see its docstrings for every figure). It reports the steps through
``progress(ProgressEvent)`` and raises ``GanforgeError`` (``BadTable``) for a table it cannot use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..metrics.tables.audit import STAGES, run_audit
from .progress import Progress, report


@dataclass(frozen=True)
class AuditOutcome:
    doc: dict[str, Any]  # audit.json's content
    json_path: Path | None
    html_path: Path | None


def audit_tables(real: Any, synthetic: Any, holdout: Any, *, target: str | None = None, out: str | Path | None = None,
                 seed: int = 0, progress: Progress = None) -> AuditOutcome:
    """Audit ``synthetic`` (a path or DataFrame) against ``real`` (its training rows) and
    ``holdout`` (real rows it never saw); with ``out``, write audit.json and report.html there."""

    total = len(STAGES) + (out is not None)  # the report is one more step

    def stage(name: str, done: int, _: int) -> None:
        report(progress, name, done, total, "step")

    result = run_audit(real, synthetic, holdout, target=target, seed=seed, progress=stage)
    json_path = html_path = None
    if out is not None:
        report(progress, "report", len(STAGES), total, "step")
        from ..metrics.tables.report import write_audit

        json_path, html_path = write_audit(result, out)
    report(progress, "done", total, total, "step")
    return AuditOutcome(result.doc, json_path, html_path)
