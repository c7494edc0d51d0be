"""The creation data sets on the real packages, when installed (`make creation-data`): each one
builds, its labels match its Conditioning, and every value of every trait has images. Slow: the
first build decodes thousands of files (the avatars render 200 characters here)."""

from __future__ import annotations

import shutil

import pytest
import torch

from ganforge.config import DataConfig
from ganforge.data import build_dataset, landscapes, portraits, turntable, wesnoth

pytestmark = pytest.mark.slow

INSTALLED = {
    "wesnoth-sprites": wesnoth.WESNOTH_CORE.is_dir(),
    "portraits": portraits.NAEV_PORTRAITS.is_dir() and wesnoth.WESNOTH_CORE.is_dir(),
    "turntable": turntable.FREEDROID_ITEMS.is_dir(),
    "landscapes": landscapes.ENDLESS_SKY_LAND.is_dir(),
}


def check(ds, *, every_value: bool = True) -> None:
    n, t = ds.labels.shape
    assert ds.data.shape[0] == n and ds.visible.shape == (n, t) and t == len(ds.conditioning)
    for j, trait in enumerate(ds.conditioning.traits):
        per_value = torch.bincount(ds.labels[:, j], minlength=trait.size)
        assert len(per_value) == trait.size
        if every_value:
            assert (per_value > 0).all(), f"{trait.name}: values without images"


@pytest.mark.parametrize("name", sorted(INSTALLED))
def test_real_package(name):
    if not INSTALLED[name]:
        pytest.skip(f"{name}: its Debian package is not installed (make creation-data)")
    ds = build_dataset(DataConfig(dataset=name, resolution=64, channels=3))
    # view 0..31: a few items lack some views, but each angle has images; all traits are data-derived
    check(ds)
    assert len(ds) > 200


def test_real_avatars():
    pytest.importorskip("python_avatars")
    if shutil.which("rsvg-convert") is None:
        pytest.skip("rsvg-convert (librsvg2-bin) is not installed")
    ds = build_dataset(DataConfig(dataset="avatars", split="test", samples=200, resolution=64, channels=3))
    check(ds, every_value=False)  # 200 draws need not reach all 61 tops
    assert ds.data.shape == (200, 3, 64, 64)
    hair_color = ds.conditioning.names.index("hair_color")
    assert 0 < ds.visible[:, hair_color].float().mean() < 1  # hats hide it, hair shows it
