"""The audit of a synthetic table: utility and privacy figures, and flags, in one JSON document.

Inputs: REAL (the rows the synthesizer was trained on), SYNTHETIC (its output, from ganforge or any
other tool), HOLDOUT (real rows it never saw, the reference for what chance gives) and an optional
TARGET column (for TSTR/TRTR). The synthetic and holdout tables must have the real table's
columns; their kinds are the real table's.

Steps (:func:`run_audit`):

1. read the three tables (:mod:`ganforge.data.tables`) and align the other two to the real one;
2. encode them on shared vocabularies (:mod:`.encoding`);
3. utility: column similarities and the difference of association matrices (:mod:`.similarity`),
   TSTR and TRTR when a target is given (:mod:`.utility`);
4. privacy: exact copies, DCR, NNDR and the membership attack (:mod:`.privacy`);
5. flags: the figures past their limits (:data:`LIMITS`), each one line for people.

:func:`audit` is ``ganforge.audit``: the same, returning the document and, with ``out``, writing
``audit.json`` and ``report.html`` (:mod:`.report`).
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ...data.tables import TABULAR_EXTRA, BadTable, Table, TableLimits, align, read_table
from ...errors import GanforgeError
from ...version import __version__
from . import figures as F
from .encoding import Encoded, encode_tables
from .privacy import Distances, closer_to_train, distances, exact_copy_rate, membership_auc
from .similarity import association_matrix, column_similarities, correlation_difference, varying_columns
from .utility import Utility, utility

if TYPE_CHECKING:
    import pandas as pd

TableSource = "str | Path | bytes | pd.DataFrame | Table"
StageProgress = Callable[[str, int, int], None] | None  # (stage, done, total)
FORMAT = "ganforge-audit"
FORMAT_VERSION = 1
STAGES = ("read", "utility", "privacy")
ROLES = ("real", "synthetic", "holdout")


@dataclass(frozen=True)
class Limits:
    """Where a figure is flagged. ``copy_excess``: exact copies beyond the holdout's rate;
    ``membership_auc``: the attack's AUC; ``closer_to_train``: the share of synthetic rows closer to
    training than to holdout; ``utility_ratio``: TSTR / TRTR below this."""

    copy_excess: float = 0.01
    membership_auc: float = 0.55
    closer_to_train: float = 0.60
    utility_ratio: float = 0.5


LIMITS = Limits()


@dataclass
class AuditResult:
    """``doc``: the JSON document (audit.json); the rest is what the report draws."""

    doc: dict[str, Any]
    tables: dict[str, Table]
    encoded: Encoded
    similarities: dict[str, float]
    associations: dict[str, np.ndarray]  # "real", "synthetic" over ``association_columns``
    association_columns: list[str]
    distances: Distances
    utility: Utility | None = None
    notes: list[str] = field(default_factory=list)


def _pct(x: float) -> str:
    return f"{100 * x:.3g}%"


def flags(doc: dict[str, Any], limits: Limits = LIMITS) -> list[str]:
    """One line per figure past its limit (module docstring, :class:`Limits`)."""
    out = []
    rate, base = doc[F.EXACT_COPY_RATE], doc[F.EXACT_COPY_RATE_HOLDOUT]
    if rate > base + limits.copy_excess or (base == 0 and rate > 0):
        out.append(f"exact copies: {_pct(rate)} of synthetic rows equal a training row "
                   f"(holdout baseline {_pct(base)})")
    auc = doc[F.MEMBERSHIP_AUC]
    if auc is not None and auc > limits.membership_auc:
        out.append(f"membership AUC {auc:.2f} > {limits.membership_auc:.2f}: an attacker tells training rows from "
                   f"holdout rows by their distance to the synthetic rows")
    closer = doc[F.DCR_CLOSER_TO_TRAIN]
    if closer is not None and closer > limits.closer_to_train:
        out.append(f"{_pct(closer)} of synthetic rows are closer to a training row than to a holdout row "
                   f"(> {_pct(limits.closer_to_train)}; 50% is what unseen rows give)")
    ratio = doc.get(F.TSTR_TRTR_RATIO)
    if ratio is not None and ratio < limits.utility_ratio:
        out.append(f"utility: TSTR / TRTR {ratio:.2f} < {limits.utility_ratio:.2f}: a model trained on the synthetic "
                   f"table predicts '{doc['target']['name']}' much worse than one trained on the real table")
    return out


def _report(progress: StageProgress, stage: str) -> None:
    if progress is not None:
        progress(stage, STAGES.index(stage), len(STAGES))


def _finite(x: float | None) -> float | None:
    """A figure for JSON: a float, or None; a NaN here is a bug, not a result."""
    if x is None:
        return None
    x = float(x)
    if not np.isfinite(x):
        raise ValueError(f"audit figure is {x}; every figure must be finite or None")
    return x


def _require_extra() -> None:
    """pandas and scikit-learn (the ``tabular`` extra), or one line naming the install command."""
    try:
        import pandas  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError as err:
        raise GanforgeError(f"the table audit needs {err.name or 'pandas and scikit-learn'}: {TABULAR_EXTRA}") from None


def _versions() -> dict[str, str]:
    import pandas as pd_
    import sklearn

    return {"ganforge": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "pandas": pd_.__version__, "scikit-learn": sklearn.__version__}


def run_audit(real: TableSource, synthetic: TableSource, holdout: TableSource, *, target: str | None = None,
              seed: int = 0, limits: TableLimits = TableLimits(), progress: StageProgress = None) -> AuditResult:
    """Audit ``synthetic`` against ``real`` (its training rows) and ``holdout``; see the module docstring."""
    # 1. read and align
    _require_extra()
    _report(progress, "read")
    if holdout is None:
        raise BadTable("an audit needs a holdout table: real rows the synthesizer never saw, with the real table's "
                       "columns (--holdout)")
    sources = {"real": real, "synthetic": synthetic, "holdout": holdout}
    tables = {role: read_table(src, label=None if isinstance(src, (str, Path)) else role, limits=limits)
              for role, src in sources.items()}
    tables["synthetic"] = align(tables["synthetic"], tables["real"])
    tables["holdout"] = align(tables["holdout"], tables["real"])
    if target is not None and target not in tables["real"].kinds:
        from ...errors import did_you_mean

        raise BadTable(f"no target column '{target}' in {tables['real'].label}{did_you_mean(target, tables['real'].columns)}"
                       f"; its columns: {', '.join(tables['real'].columns)}")
    # 2. encode
    enc = encode_tables(tables)
    notes: list[str] = []

    # 3. utility
    _report(progress, "utility")
    sims = column_similarities(enc)
    assoc_cols = varying_columns(enc)
    constant = [c for c in enc.names if c not in assoc_cols]
    if constant:
        notes.append(f"left out of the association matrices (fewer than two distinct values in the real table): "
                     f"{', '.join(constant)}")
    assoc = {role: association_matrix(enc, role, assoc_cols) for role in ("real", "synthetic")}
    corr = correlation_difference(assoc["real"], assoc["synthetic"]) if len(assoc_cols) >= 2 else None
    if corr is None:
        notes.append("no correlation difference: fewer than two columns with an association in the real table")
    util = utility(enc, target, seed=seed) if target is not None else None
    if util is not None:
        notes += list(util.notes)

    # 4. privacy
    _report(progress, "privacy")
    dist = distances(enc, seed=seed)
    doc: dict[str, Any] = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "versions": _versions(), "seed": seed,
        "inputs": {role: {"label": t.label, "rows": t.rows, **t.facts} for role, t in tables.items()},
        "columns": {name: {"kind": enc.kinds[name], "similarity": _finite(sims[name])} for name in enc.names},
        "target": None if util is None else {"name": target, "task": util.task,
                                             "score": "macro F1" if util.task == "classification" else "R^2",
                                             "rows": util.rows},
        F.TSTR: None if util is None else _finite(util.tstr),
        F.TRTR: None if util is None else _finite(util.trtr),
        F.TSTR_TRTR_RATIO: None if util is None else _finite(util.ratio),
        F.COLUMN_SIMILARITY: _finite(np.mean(list(sims.values()))),
        F.CORRELATION_DIFFERENCE: _finite(corr),
        F.EXACT_COPY_RATE: exact_copy_rate(enc, "synthetic", "real"),
        F.EXACT_COPY_RATE_HOLDOUT: exact_copy_rate(enc, "synthetic", "holdout"),
        F.DCR_TRAIN_MEDIAN: _finite(np.median(dist.to_train)),
        F.DCR_HOLDOUT_MEDIAN: _finite(np.median(dist.to_holdout)),
        F.DCR_TRAIN_P5: _finite(np.percentile(dist.to_train, 5)),
        F.DCR_HOLDOUT_P5: _finite(np.percentile(dist.to_holdout, 5)),
        F.DCR_RATIO: None,
        F.DCR_CLOSER_TO_TRAIN: _finite(closer_to_train(dist.to_train, dist.to_holdout)),
        F.NNDR_TRAIN_MEDIAN: _finite(np.median(dist.nndr_train)),
        F.NNDR_HOLDOUT_MEDIAN: _finite(np.median(dist.nndr_holdout)),
        F.MEMBERSHIP_AUC: _finite(membership_auc(dist.member_scores, dist.nonmember_scores)),
        "distance_rows": dist.rows,
    }
    if doc[F.DCR_HOLDOUT_MEDIAN] > 0:
        doc[F.DCR_RATIO] = doc[F.DCR_TRAIN_MEDIAN] / doc[F.DCR_HOLDOUT_MEDIAN]
    else:
        notes.append("no DCR ratio: half the synthetic rows equal a holdout row (median DCR to holdout is 0)")
    if target is None:
        notes.append("no TSTR/TRTR: give a target column")

    # 5. flags
    doc["flags"] = flags(doc)
    doc["notes"] = notes
    return AuditResult(doc=doc, tables=tables, encoded=enc, similarities=sims, associations=assoc,
                       association_columns=assoc_cols, distances=dist, utility=util, notes=notes)


def audit(real: TableSource, synthetic: TableSource, holdout: TableSource = None, *, target: str | None = None,
          out: str | Path | None = None, seed: int = 0, progress: StageProgress = None) -> dict[str, Any]:
    """The audit document of ``synthetic`` (paths to CSV or Parquet files, or pandas DataFrames).

    ``real``: the rows the synthesizer was trained on; ``holdout``: real rows it never saw;
    ``target``: a column to predict for TSTR/TRTR. With ``out``, ``audit.json`` and ``report.html``
    are written there. Keys: see ``ganforge.metrics.tables.figures``; ``flags`` lists the problems.
    """
    result = run_audit(real, synthetic, holdout, target=target, seed=seed, progress=progress)
    if out is not None:
        from .report import write_audit

        write_audit(result, out)
    return result.doc
