"""Scoring models against real data: eval.json and report.html."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .models import load_model


@dataclass
class EvalOutcome:
    result: Any  # metrics.evaluate.EvalResult: metrics, floors, skipped, info
    json_path: Path
    html_path: Path


def evaluate(model: str | Path, *, metrics: str | None = None, n: int = 10_000, ref: str | None = None,
             features: str | None = None, weights: Path | None = None, seed: int = 0, cas_epochs: int | None = None,
             out_dir: Path | None = None, command: str | None = None, progress: bool = False) -> EvalOutcome:
    """Every requested metric of a generation model beside its real-versus-real floor, written
    to ``out_dir`` (default: RUN/eval for a run folder, else eval-<name>) as eval.json and
    report.html. ``progress`` shows the extractor's bars (the metrics code owns them)."""
    from ..metrics.evaluate import evaluate as run_metrics
    from ..metrics.report_card import write_eval_outputs

    pipe = load_model(model, kind="generation")
    run_dir = Path(model) if (Path(model) / "config.yaml").is_file() else None
    if out_dir is None:
        out_dir = run_dir / "eval" if run_dir else Path(f"eval-{Path(model).name}")
    start = time.perf_counter()
    result = run_metrics(pipe, metrics=metrics, n=n, ref=ref, features=features, weights=weights, seed=seed,
                         progress=progress, cas_epochs=cas_epochs)
    json_path, html_path = write_eval_outputs(out_dir, pipe, result, command=command, run_dir=run_dir,
                                              seconds=time.perf_counter() - start)
    return EvalOutcome(result, json_path, html_path)
