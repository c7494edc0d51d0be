"""Fixtures shared by every test folder."""

from __future__ import annotations

import os

import pytest
import torch


def pytest_configure(config) -> None:
    """Under pytest-xdist (``make test`` runs ``-n auto``), each worker gets its share of the
    cores for torch: two workers with two threads each on two cores would spin against each
    other in OpenMP and run several times slower than one thread each."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(workers)))


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
