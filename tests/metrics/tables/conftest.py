"""Small tables for the audit's tests, generated: a mixed table with a learnable class target."""

from __future__ import annotations

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")


def mixed_table(n: int, seed: int) -> "pd.DataFrame":
    """n rows: two numbers, an integer, a category, a boolean and a class ``y`` that depends on them."""
    r = np.random.default_rng(seed)
    x = r.normal(size=n)
    colour = r.choice(["red", "green", "blue"], size=n, p=[0.5, 0.3, 0.2])
    age = r.integers(18, 90, size=n)
    y = (x + (colour == "red") * 1.2 + 0.02 * (age - 50) + r.normal(scale=0.4, size=n)) > 0.6
    return pd.DataFrame({"x": x, "z": r.exponential(size=n), "age": age, "colour": colour,
                         "smoker": r.random(n) < 0.3, "y": np.where(y, "yes", "no")})


@pytest.fixture(scope="module")
def tables():
    """(real, holdout, independent synthetic): three samples of one distribution."""
    return mixed_table(300, 1), mixed_table(300, 2), mixed_table(300, 3)
