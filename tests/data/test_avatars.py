"""The avatars data set: uniform traits named after python-avatars, the measured visibility of
hidden traits, labels and the one-line errors when python-avatars or rsvg-convert is missing.

Rendering is replaced by a stand-in that turns the SVG text into pixels (any change to the text
changes the picture), so "visible" here means "changes the drawing"; the real renderer has its
own test, skipped where rsvg-convert is not installed."""

from __future__ import annotations

import hashlib
import shutil
import sys

import numpy as np
import pytest

from ganforge.config import DataConfig
from ganforge.data import avatars, build_dataset
from ganforge.errors import GanforgeError

pytest.importorskip("python_avatars", reason="the creation extra (python-avatars) is not installed")


def fake_render(svg: str) -> np.ndarray:
    """8 x 8 pixels from a hash of the SVG: two drawings differ exactly when their SVGs do."""
    digest = hashlib.sha256(svg.encode()).digest() * 6
    return np.frombuffer(digest[:192], dtype=np.uint8).reshape(8, 8, 3).copy()


def test_traits_are_python_avatars_parameters_with_member_names():
    names = avatars.value_names()
    assert tuple(names) == avatars.TRAITS
    assert "red" in names["hair_color"] and "hijab" in names["top"] and "none" in names["facial_hair"]
    assert {"hair_hat", "hat_hat"} <= set(names["top"])  # the one name HairType and HatType share
    assert len(names["top"]) == len(set(names["top"]))


def test_rows_are_uniform_seeded_and_a_prefix_of_a_longer_draw():
    rows = avatars.sample_rows(3000)
    assert rows.shape == (3000, 12)
    assert np.array_equal(avatars.sample_rows(50), rows[:50])
    assert not np.array_equal(avatars.sample_rows(50, split="test"), rows[:50])
    sizes = [len(v) for v in avatars.value_names().values()]
    facial = avatars.TRAITS.index("facial_hair")
    counts = np.bincount(rows[:, facial], minlength=sizes[facial])
    # Uniform: "none" is one value of 8, not the half Avatar.random() gives it (3000/8 = 375; 4 sigma ~ 72).
    assert abs(counts[avatars.value_names()["facial_hair"].index("none")] - 375) < 80
    assert (np.abs(counts - 375) < 80).all()


def test_visibility_is_measured_by_rendering():
    rules = (("hair_color", "top"), ("facial_hair", "top"), ("facial_hair_color", "facial_hair"))
    names = avatars.value_names()
    table = avatars.visibility_table(render=fake_render, rules=rules)
    top = names["top"]
    assert not table[("hair_color", "top")][top.index("hijab")]  # a hat hides the hair colour
    assert table[("hair_color", "top")][top.index("short_flat")]
    assert not table[("facial_hair", "top")][top.index("hijab")]  # so does a hijab the beard
    assert table[("facial_hair", "top")][top.index("short_flat")]
    assert not table[("facial_hair_color", "facial_hair")][names["facial_hair"].index("none")]

    def row(**values):
        base = dict(avatars.BASE, **values)
        return [names[t].index(base[t]) for t in avatars.TRAITS]

    # The colour of a beard inside a hijab is hidden too (INSIDE), though a beard was drawn.
    assert avatars.hidden_traits(row(top="hijab"), table) == {"hair_color", "facial_hair", "facial_hair_color"}
    assert avatars.hidden_traits(row(), table) == set()


def test_make_avatars_labels_conditioning_and_mask():
    ds = avatars.make_avatars(6, render=fake_render, rules=(("hair_color", "top"),))
    assert ds.conditioning.names == avatars.TRAITS
    assert ds.conditioning.sizes == tuple(len(v) for v in avatars.value_names().values())
    assert ds.labels.shape == (6, 12) and ds.visible.shape == (6, 12) and ds.data.shape == (6, 3, 8, 8)
    assert np.array_equal(ds.labels.numpy(), avatars.sample_rows(6))
    shows = avatars.visibility_table(render=fake_render, rules=(("hair_color", "top"),))[("hair_color", "top")]
    assert not shows.all()  # some tops hide the hair colour, so the mask below can be wrong
    expected = [bool(shows[r[0]]) for r in ds.labels.tolist()]
    assert ds.visible[:, 1].tolist() == expected and ds.visible[:, 2].all()


def test_missing_python_avatars_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "python_avatars", None)  # import fails
    avatars.members.cache_clear()
    try:
        with pytest.raises(GanforgeError, match=r"needs the Python package python-avatars: pip install 'ganforge\[creation\]'"):
            build_dataset(DataConfig(dataset="avatars", samples=2))
    finally:
        avatars.members.cache_clear()


def test_missing_rsvg_convert_is_one_line(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(GanforgeError, match=r"rsvg-convert .*apt-get install librsvg2-bin, or `make creation-data`"):
        build_dataset(DataConfig(dataset="avatars", samples=2))


@pytest.mark.skipif(shutil.which("rsvg-convert") is None, reason="rsvg-convert (librsvg2-bin) is not installed")
def test_rsvg_renders_a_character_on_white():
    image = avatars.rsvg_render(avatars.avatar_svg(avatars.sample_rows(1)[0]))
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert image[0, 0].tolist() == [255, 255, 255]  # the background, from -b white
    assert (image < 200).any()  # and something drawn on it
