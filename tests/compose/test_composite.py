"""compose/composite.py: a cut-out on a background, on small images.

What stays the background's (everything outside the footprint, except the shadow), what the
blending and the colour transfer do, the shadow's place, mattes, placement and the refusals.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganforge.compose import CompositeError, CompositeOptions, composite
from ganforge.compose.composite import SHADOW_SQUASH, border_matte
from ganforge.data.photoio import Photo
from ganforge.images import rgb_to_lab

pytestmark = pytest.mark.usefixtures("one_thread")

BG_SIZE = (64, 48)  # (width, height)


def background(grey: bool = False, alpha: bool = False) -> Photo:
    w, h = BG_SIZE
    yy, xx = np.mgrid[:h, :w]
    rgb = np.dstack([60 + 2 * yy, 150 + xx, 70 + 0 * xx]).astype(np.uint8)
    if grey:
        return Photo(pixels=np.ascontiguousarray(rgb[..., 1]), grey=True)
    return Photo(pixels=rgb, alpha=np.full((h, w), 200, np.uint8) if alpha else None)


def disc(size: int = 20, colour=(220, 40, 50), grey: bool = False) -> Photo:
    """A disc of ``colour`` with a little texture, transparent around it (the corners hold junk colour)."""
    yy, xx = np.mgrid[:size, :size]
    inside = (yy - size / 2 + 0.5) ** 2 + (xx - size / 2 + 0.5) ** 2 < (size / 2 - 1) ** 2
    rgb = np.zeros((size, size, 3), np.uint8)
    rgb[...] = colour
    rgb[..., 1] = np.clip(colour[1] + 3 * (xx % 4), 0, 255)
    rgb[~inside] = (0, 255, 255)  # junk under the transparent part must not leak in
    alpha = np.where(inside, 255, 0).astype(np.uint8)
    if grey:
        return Photo(pixels=np.ascontiguousarray(rgb[..., 0]), alpha=alpha, grey=True)
    return Photo(pixels=rgb, alpha=alpha)


def footprint(out: Photo, opts: CompositeOptions, size: int = 20) -> np.ndarray:
    """Where a ``disc(size)`` lands: a bool (H, W) mask (its cropped box placed at the centre)."""
    w, h = BG_SIZE
    fp = np.zeros((h, w), bool)
    d = disc(size).alpha > 0
    rows, cols = np.flatnonzero(d.any(1)), np.flatnonzero(d.any(0))
    d = d[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    cx = w / 2 if opts.x is None else opts.x
    cy = h / 2 if opts.y is None else opts.y
    y0, x0 = int(np.floor(cy - d.shape[0] / 2)), int(np.floor(cx - d.shape[1] / 2))
    fp[y0:y0 + d.shape[0], x0:x0 + d.shape[1]] = d
    return fp


@pytest.mark.parametrize("blend", ["normal", "mixed", "none"])
def test_pixels_outside_the_footprint_are_the_backgrounds(blend):
    bg = background()
    opts = CompositeOptions(blend=blend, blend_strength=1, harmonize=1, x=30, y=20)
    out = composite(disc(), bg, opts)
    fp = footprint(out, opts)
    assert out.size == bg.size and not out.grey
    assert np.array_equal(out.pixels[~fp], bg.pixels[~fp])
    assert not np.array_equal(out.pixels[fp], bg.pixels[fp])  # the subject is there
    assert not np.isin(out.pixels[fp].reshape(-1, 3), [[0, 255, 255]]).all(axis=1).any()  # no junk colour


def test_alpha_and_no_blending_paste_the_subject_as_it_is():
    out = composite(disc(), background(), CompositeOptions(blend="none", harmonize=0, feather=0))
    sub = disc()
    rows, cols = np.flatnonzero(sub.alpha.any(1)), np.flatnonzero(sub.alpha.any(0))
    crop = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    inside = sub.alpha[crop] > 0
    placed = out.pixels[24 - 9:24 + 9, 32 - 9:32 + 9]  # the 18 x 18 crop, centred
    assert np.array_equal(placed[inside], sub.pixels[crop][inside])


def test_poisson_blending_meets_the_background_at_the_edge():
    bg = background()
    plain = composite(disc(), bg, CompositeOptions(blend="none", harmonize=0, feather=0))
    seamless = composite(disc(), bg, CompositeOptions(blend="normal", blend_strength=1, harmonize=0, feather=0))
    fp = footprint(plain, CompositeOptions())
    grown = np.zeros_like(fp)
    grown[1:-1, 1:-1] = fp[:-2, 1:-1] | fp[2:, 1:-1] | fp[1:-1, :-2] | fp[1:-1, 2:]
    edge = fp & ~(np.roll(fp, 1, 0) & np.roll(fp, -1, 0) & np.roll(fp, 1, 1) & np.roll(fp, -1, 1))
    gap = lambda out: np.abs(out.pixels[edge].astype(float) - bg.pixels[edge]).mean()  # noqa: E731
    assert gap(seamless) < 0.2 * gap(plain), (gap(seamless), gap(plain))
    # the subject's own texture (its gradients) survives inside
    inner = fp & ~edge
    texture = lambda out: np.abs(np.diff(out.pixels[..., 1].astype(float), axis=1))[inner[:, 1:]].mean()  # noqa: E731
    assert texture(seamless) > 0.5 * texture(plain)


def test_blend_strength_goes_part_of_the_way():
    bg = background()
    gaps = []
    for strength in (0.0, 0.5, 1.0):
        out = composite(disc(), bg, CompositeOptions(blend_strength=strength, harmonize=0, feather=0))
        fp = footprint(out, CompositeOptions())
        gaps.append(np.abs(out.pixels[fp].astype(float) - bg.pixels[fp]).mean())
    assert gaps[0] > gaps[1] > gaps[2]


def test_colour_transfer_moves_the_subjects_means_toward_the_backgrounds():
    bg = background()

    def lab_mean(pixels):
        return rgb_to_lab(torch.from_numpy(pixels.astype(np.float32) / 255).T[None, :, :, None])[0, :, :, 0].mean(1)

    opts = dict(blend="none", feather=0)
    fp = footprint(composite(disc(), bg, CompositeOptions(**opts)), CompositeOptions())
    target = lab_mean(bg.pixels[~fp])
    dist = []
    for strength in (0.0, 0.5, 1.0):
        out = composite(disc(), bg, CompositeOptions(harmonize=strength, **opts))
        dist.append(float(torch.linalg.vector_norm(lab_mean(out.pixels[fp]) - target)))
    assert dist[0] > dist[1] > dist[2]
    assert dist[2] < 0.25 * dist[0]


def test_the_shadow_darkens_only_the_ground_under_the_subject():
    bg = background()
    opts = dict(blend="none", harmonize=0, feather=0, shadow_blur=1.0, y=20)
    without = composite(disc(), bg, CompositeOptions(**opts))
    with_shadow = composite(disc(), bg, CompositeOptions(shadow=True, shadow_opacity=0.8, **opts))
    fp = footprint(without, CompositeOptions(y=20))
    diff = with_shadow.pixels.astype(int) - without.pixels.astype(int)
    assert (diff <= 0).all()  # darker or the same, never lighter
    darker = (diff < 0).any(axis=2)
    assert darker.sum() > 10
    assert not darker[fp].any()  # not on the subject
    bottom = np.flatnonzero(fp.any(axis=1))[-1]
    top_of_shadow = bottom - int(np.ceil(20 * SHADOW_SQUASH)) - 4  # half its height, 3 sigma and a pixel
    assert not darker[:top_of_shadow].any()
    assert darker[bottom + 1:].any()
    cols = np.flatnonzero(darker.any(axis=0))
    fp_cols = np.flatnonzero(fp.any(axis=0))
    assert cols.min() >= fp_cols.min() - 4 and cols.max() <= fp_cols.max() + 4  # under it, not beside it


def test_the_shadow_follows_its_offset():
    bg = background()
    opts = dict(blend="none", harmonize=0, shadow=True, shadow_blur=1.0, shadow_opacity=0.8)
    plain = composite(disc(), bg, CompositeOptions(blend="none", harmonize=0))
    moved = composite(disc(), bg, CompositeOptions(shadow_dx=12, **opts))
    cols = np.flatnonzero((moved.pixels.astype(int) - plain.pixels < 0).any(axis=(0, 2)))
    assert cols.max() > 32 + 10 + 10 - 4


def test_feathering_softens_the_rim_inside_the_outline():
    bg = background()
    hard = composite(disc(), bg, CompositeOptions(blend="none", harmonize=0, feather=0))
    soft = composite(disc(), bg, CompositeOptions(blend="none", harmonize=0, feather=4))
    fp = footprint(hard, CompositeOptions())
    assert np.array_equal(soft.pixels[~fp], bg.pixels[~fp])
    edge = fp & ~(np.roll(fp, 1, 0) & np.roll(fp, -1, 0) & np.roll(fp, 1, 1) & np.roll(fp, -1, 1))
    gap = lambda out: np.abs(out.pixels[edge].astype(float) - bg.pixels[edge]).mean()  # noqa: E731
    assert gap(soft) < 0.7 * gap(hard)
    assert np.array_equal(soft.pixels[24, 32], hard.pixels[24, 32])  # the middle is untouched


def test_scale_and_placement():
    bg = background()
    out = composite(disc(), bg, CompositeOptions(scale=2, blend="none", harmonize=0, x=20, y=24))
    changed = (out.pixels != bg.pixels).any(axis=2)
    rows, cols = np.flatnonzero(changed.any(1)), np.flatnonzero(changed.any(0))
    assert 34 <= rows[-1] - rows[0] + 1 <= 36 and 34 <= cols[-1] - cols[0] + 1 <= 36  # 18 px disc, twice
    assert abs((cols[0] + cols[-1]) / 2 - 20) <= 1 and abs((rows[0] + rows[-1]) / 2 - 24) <= 1


def test_a_subject_partly_beyond_the_edge_is_cut_off():
    bg = background()
    out = composite(disc(), bg, CompositeOptions(x=2, y=2, blend_strength=1))
    changed = (out.pixels != bg.pixels).any(axis=2)
    assert changed[:8, :8].any() and not changed[15:, :].any()


def test_grey_on_grey_stays_grey_and_colour_on_grey_becomes_colour():
    assert composite(disc(grey=True), background(grey=True)).grey
    out = composite(disc(), background(grey=True))
    assert not out.grey and out.pixels.shape == (48, 64, 3)


def test_the_backgrounds_alpha_is_kept_and_the_subject_is_opaque_over_it():
    out = composite(disc(), background(alpha=True), CompositeOptions(feather=0))
    assert out.alpha is not None
    assert out.alpha[0, 0] == 200 and out.alpha[24, 32] == 255


def test_border_matte_keys_out_a_plain_backdrop_but_not_the_same_colour_inside():
    rgb = np.full((30, 30, 3), 255, np.uint8)
    rgb[5:25, 5:25] = (30, 60, 200)  # a blue square on white ...
    rgb[12:18, 12:18] = 255  # ... with a white window inside it
    keyed, alpha = border_matte(rgb)
    assert alpha[0, 0] == 0 and alpha[10, 10] == 255
    assert alpha[15, 15] == 255  # enclosed: subject, not backdrop
    out = composite(Photo(pixels=rgb), background(), CompositeOptions(matte="border", blend="none", harmonize=0))
    assert tuple(out.pixels[24, 32]) == (255, 255, 255)  # the window is drawn, not see-through
    assert np.array_equal(out.pixels[0], background().pixels[0])


@pytest.mark.parametrize("subject, options, message", [
    (Photo(pixels=np.zeros((8, 8, 3), np.uint8)), {}, "the subject has no transparency; accepted: an image with an alpha"),
    (Photo(pixels=np.zeros((8, 8, 3), np.uint8), alpha=np.zeros((8, 8), np.uint8)), {}, "fully transparent"),
    (disc(), {"scale": 3}, "larger than the 64 x 48 background; accepted: a subject that fits (scale 2.666 or less)"),
    (disc(), {"x": 200}, "lies outside the 64 x 48 background; accepted: a centre with part of the subject on it"),
    (disc(), {"y": -9}, "lies outside"),
    (Photo(pixels=np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)), {"matte": "border"},
     "is not one colour"),
])
def test_refusals_say_what_is_accepted(subject, options, message):
    with pytest.raises(CompositeError) as err:
        composite(subject, background(), CompositeOptions(**options))
    assert message in str(err.value) and "\n" not in str(err.value)
