"""Tiny training configs (from tests/builders.py): a few dozen steps on a Fashion-MNIST subset."""

from __future__ import annotations

import pytest

from ..builders import tiny_config

__all__ = ["tiny_config"]


@pytest.fixture
def tiny():
    return tiny_config
