"""Shared fixtures for the metric tests: a private cache folder and a tiny trained run."""

from __future__ import annotations

import pytest

from ganforge.data.fashion import fashion_dir

needs_fashion = pytest.mark.skipif(
    not (fashion_dir() / "train-images-idx3-ubyte.gz").is_file(),
    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)",
)


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Reference features and CAS results go to a per-session temporary cache, not ~/.cache."""
    monkeypatch.setenv("GANFORGE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A tiny conditional DCGAN run on Fashion-MNIST (30 steps)."""
    from ganforge.training import Trainer

    from ..training.conftest import tiny_config

    run = tmp_path_factory.mktemp("metrics") / "run"
    Trainer(tiny_config({"train.kimg": 0.48}), run, quiet=True).fit()
    return run
