"""How numbers read in the report: table cells, event details and chart tick labels."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def is_number(v: Any) -> bool:
    """A real number (Python or NumPy), not a bool."""
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def format_number(v: float, *, sig: int = 4, compact: bool = False) -> str:
    """``sig`` significant digits without trailing zeros: 12.35, 0.003, 1e-05.

    Large numbers get thousands separators (12,346) or, with ``compact`` (tick labels),
    a suffix (12.35k, 2.5M). Integers stay exact unless ``compact`` shortens them.
    """
    if not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    a = abs(v)
    if a == 0:
        return "0"
    if compact:
        for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
            if 1e15 > a >= div:
                return format_number(v / div, sig=sig) + suffix
    if a >= 1e15 or a < 1e-4:
        mantissa, exponent = f"{v:.{sig - 1}e}".split("e")
        return (mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa) + "e" + exponent
    if isinstance(v, (int, np.integer)) or a >= 10**sig:
        return f"{round(v):,}"
    text = f"{v:.{max(0, sig - 1 - math.floor(math.log10(a)))}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
