"""2D Gaussian mixtures: exact means, spread sigma, uniform modes, fixed draws."""

from __future__ import annotations

import math

import pytest
import torch

from ganforge.config import DataConfig
from ganforge.data import build_dataset
from ganforge.data.toy import (
    GRID25_SIGMA,
    RING8_SIGMA,
    grid25_means,
    ring8_means,
    sample_mixture,
    toy_mixture,
)
from ganforge.errors import GanforgeError


def test_ring8_means_on_unit_circle():
    means = ring8_means()
    assert means.shape == (8, 2) and means.dtype == torch.float32
    for k, (x, y) in enumerate(means.tolist()):
        assert x == pytest.approx(math.cos(2 * math.pi * k / 8), abs=1e-7)
        assert y == pytest.approx(math.sin(2 * math.pi * k / 8), abs=1e-7)


def test_grid25_means_cover_the_grid():
    means = grid25_means()
    assert means.shape == (25, 2) and means.dtype == torch.float32
    values = (-4.0, -2.0, 0.0, 2.0, 4.0)
    assert sorted(map(tuple, means.tolist())) == [(x, y) for x in values for y in values]


@pytest.mark.parametrize(("means_fn", "sigma"), [(ring8_means, RING8_SIGMA), (grid25_means, GRID25_SIGMA)])
def test_samples_spread_sigma_around_uniform_modes(means_fn, sigma):
    means = means_fn()
    n = 50_000
    points, modes = sample_mixture(means, sigma, n, torch.Generator().manual_seed(0))
    assert points.shape == (n, 2) and points.dtype == torch.float32 and modes.dtype == torch.int64
    offsets = points - means[modes]
    # The std estimate's standard error is sigma / sqrt(2n), 0.3% of sigma: 2% is over 6 of them.
    assert offsets.std(dim=0).tolist() == pytest.approx([sigma, sigma], rel=0.02)
    assert offsets.mean(dim=0).abs().max() < 5 * sigma / math.sqrt(n)
    # Every point is nearest to the mean it was drawn from (modes are far apart vs sigma).
    assert torch.equal(torch.cdist(points, means).argmin(dim=1), modes)
    counts = torch.bincount(modes, minlength=len(means)).float()
    expected = n / len(means)  # binomial std is below sqrt(expected), at most 80 here
    assert (counts - expected).abs().max() < 5 * math.sqrt(expected)


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_dataset_is_fixed_unlabelled_float_points(name):
    cfg = DataConfig(dataset=name, toy_samples=1000)
    ds = build_dataset(cfg)
    assert ds.data.shape == (1000, 2) and ds.data.dtype == torch.float32
    assert ds.labels is None and ds.class_names is None and ds.kind == "vector"
    assert torch.equal(ds.data, build_dataset(cfg).data)
    test = build_dataset(DataConfig(dataset=name, toy_samples=1000, split="test"))
    assert not torch.equal(ds.data, test.data)
    means, sigma = toy_mixture(name)
    assert torch.cdist(ds.data, means).min(dim=1).values.max() < 6 * sigma


def test_sampling_follows_the_generator():
    means = ring8_means()
    a = sample_mixture(means, 0.1, 100, torch.Generator().manual_seed(3))
    b = sample_mixture(means, 0.1, 100, torch.Generator().manual_seed(3))
    c = sample_mixture(means, 0.1, 100, torch.Generator().manual_seed(4))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_unknown_mixture():
    with pytest.raises(GanforgeError, match="accepted: ring8, grid25"):
        toy_mixture("ring9")
