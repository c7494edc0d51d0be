"""Tiny training configs: a few dozen steps on a Fashion-MNIST subset, seconds on a CPU."""

from __future__ import annotations

from typing import Any

import pytest

from ganforge.config import RunConfig, apply_overrides, build_config


def tiny_config(overrides: dict[str, Any] | None = None) -> RunConfig:
    raw = {
        "name": "tiny",
        "data": {"dataset": "fashion-mnist", "resolution": 32, "limit": 512},
        "model": {"family": "dcgan", "conditional": True, "width": 8, "latent_dim": 16, "spectral_norm": True},
        "loss": {"name": "hinge", "r1_gamma": 0.1, "r1_interval": 4},
        "train": {"batch_size": 16, "kimg": 0.32, "log_every": 5, "sample_every_kimg": 0.16,
                  "snapshot_every_kimg": 0.16, "keep_checkpoints": 2, "ema_halflife_kimg": 0.1},
    }
    return build_config(apply_overrides(raw, overrides or {}))


@pytest.fixture
def tiny():
    return tiny_config
