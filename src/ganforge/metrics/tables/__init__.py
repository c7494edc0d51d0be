"""The audit of synthetic tables: utility and privacy, for any pair of tables and a holdout.

- ``figures.py``: ``FIGURES`` (every reported number: key, range, goal) and the result keys.
- ``encoding.py``: the three tables as numbers on shared vocabularies; the record-distance space
  (min-max scaled numbers, one-hot or code-equality categories) and the chunked nearest-neighbour search.
- ``similarity.py``: per-column similarity (1 - KS, 1 - total variation), association matrices and their difference.
- ``utility.py``: TSTR and TRTR with scikit-learn's histogram gradient boosting.
- ``privacy.py``: exact-copy rate, DCR, NNDR, the distance membership-inference attack.
- ``audit.py``: ``run_audit`` (the steps, the flags) and ``audit`` (``ganforge.audit``).
- ``report.py``: audit.json and report.html.

numpy only at import; pandas and scikit-learn (the ``tabular`` extra) when an audit runs.
"""

from .audit import LIMITS, AuditResult, Limits, audit, flags, run_audit
from .figures import FIGURES, Figure

__all__ = ["FIGURES", "LIMITS", "AuditResult", "Figure", "Limits", "audit", "flags", "run_audit"]
