"""Fixtures shared by every test folder."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """Run torch on one CPU thread for the module, then restore the previous setting.

    The test models are tiny: with several threads, thread start-up and contention cost
    far more than the arithmetic (a 64 px DCGAN forward takes ~4 ms on one thread and
    ~200 ms on two busy cores). Opt in with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
