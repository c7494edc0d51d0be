"""Differentiable augmentation (DiffAugment, ADA): the ops, the pipelines and ADA's p control."""

from __future__ import annotations

import json
import math
import typing
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from ganforge.config import AugmentConfig
from ganforge.augment import (
    OPS,
    AdaptiveAugment,
    Augment,
    brightness,
    build_augment,
    color,
    contrast,
    cutout,
    flip,
    saturation,
    translation,
)
from ganforge.training.distributed import DistContext

pytestmark = pytest.mark.usefixtures("one_thread")

# Every random op, the parts of "color" included.
ALL_OPS = {**OPS, "brightness": brightness, "saturation": saturation, "contrast": contrast}


def images(n: int = 16, c: int = 3, h: int = 16, w: int = 16, seed: int = 0) -> torch.Tensor:
    """(n, c, h, w) random images in [-1, 1]."""
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    # Not torch.testing.assert_close: its first call costs ~2 s of lazy imports.
    assert a.shape == b.shape
    return float((a - b).abs().max())


# --- properties every op shares ----------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_OPS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_op_keeps_shape_dtype_and_finiteness(name, dtype):
    x = images(h=12, w=20).to(dtype)
    out = ALL_OPS[name](x, gen())
    assert out.shape == x.shape and out.dtype == dtype
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", ALL_OPS)
def test_op_is_deterministic_given_the_generator(name):
    x = images()
    a, b, c = ALL_OPS[name](x, gen(1)), ALL_OPS[name](x, gen(1)), ALL_OPS[name](x, gen(2))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("name", ALL_OPS)
def test_op_changes_images(name):
    x = images()
    assert not torch.equal(ALL_OPS[name](x, gen()), x)


@pytest.mark.parametrize("name", ALL_OPS)
def test_gradients_reach_the_input(name):
    x = images().requires_grad_(True)
    ALL_OPS[name](x, gen()).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ALL_OPS)
def test_masked_out_images_are_unchanged(name):
    x = images()
    assert torch.equal(ALL_OPS[name](x, gen(), torch.zeros(16, dtype=torch.bool)), x)
    # A partial mask changes only the chosen images, and as the op on all images would.
    mask = torch.arange(16) % 2 == 0
    out, full = ALL_OPS[name](x, gen(), mask), ALL_OPS[name](x, gen())
    assert torch.equal(out[~mask], x[~mask])
    assert torch.equal(out[mask], full[mask])
    # A float mask means the same as a bool one.
    assert torch.equal(ALL_OPS[name](x, gen(), mask.float()), out)


@pytest.mark.parametrize("name", ALL_OPS)
def test_op_draws_the_same_numbers_whatever_the_mask(name):
    x = images()
    g0, g1 = gen(), gen()
    ALL_OPS[name](x, g0, torch.zeros(16, dtype=torch.bool))
    ALL_OPS[name](x, g1)
    assert torch.equal(g0.get_state(), g1.get_state())


def test_ops_refuse_bad_shapes():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        translation(torch.zeros(4, 16, 16), gen())
    with pytest.raises(ValueError, match="one entry per image"):
        cutout(images(), gen(), torch.ones(3, dtype=torch.bool))


def test_ops_match_the_config_policy_names():
    # AugmentConfig.policy is list[Literal[...]]: the config and OPS must accept the same names.
    accepted = typing.get_args(typing.get_args(AugmentConfig.model_fields["policy"].annotation)[0])
    assert set(accepted) == set(OPS)


# --- translation -------------------------------------------------------------------------------


def bright_pixel(n: int, h: int, w: int) -> torch.Tensor:
    """(n, 1, h, w): background -1 with one pixel of 1 at (h // 2, w // 2)."""
    x = torch.full((n, 1, h, w), -1.0)
    x[:, :, h // 2, w // 2] = 1.0
    return x


def recovered_shifts(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(dy, dx) per image of a translated bright_pixel batch, asserting one bright pixel each."""
    n, _, h, w = out.shape
    assert torch.equal((out == 1).flatten(1).sum(1), torch.ones(n, dtype=torch.long))
    flat = out.flatten(1).argmax(1)
    return flat // w - h // 2, flat % w - w // 2


def test_translation_moves_content_by_whole_pixels_within_an_eighth():
    h, w = 16, 24  # bounds |dy| <= 2, |dx| <= 3
    x = bright_pixel(128, h, w)
    out = translation(x, gen())
    dy, dx = recovered_shifts(out)
    # The whole range is used, both signs, and nothing beyond it.
    assert set(dy.tolist()) == set(range(-2, 3))
    assert set(dx.tolist()) == set(range(-3, 4))
    # The rest is background: uncovered pixels repeat the border, which is -1 here, not 0.
    assert torch.equal(out.unique(), torch.tensor([-1.0, 1.0]))


def test_translation_equals_a_padded_crop():
    # Slow reference, one image at a time: replicate-pad by the largest shift, then crop.
    h, w, n = 16, 24, 32
    dy, dx = recovered_shifts(translation(bright_pixel(n, h, w), gen(3)))
    x = images(n=n, h=h, w=w)
    out = translation(x, gen(3))  # same seed and shape: the same shifts
    sy, sx = 2, 3
    padded = F.pad(x, (sx, sx, sy, sy), mode="replicate")
    for i in range(n):
        top, left = sy - int(dy[i]), sx - int(dx[i])
        assert torch.equal(out[i], padded[i, :, top : top + h, left : left + w])


# --- cutout ------------------------------------------------------------------------------------


def cut_boxes(out: torch.Tensor) -> list[tuple[int, int, int, int]]:
    """(top, bottom, left, right) of the zeros of each cut all-ones image, asserting a rectangle."""
    boxes = []
    for zero in out[:, 0] == 0:
        rows, cols = zero.any(1).nonzero().flatten(), zero.any(0).nonzero().flatten()
        top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        assert zero.sum() == (bottom - top) * (right - left)  # the zeros fill their bounding box
        boxes.append((top, bottom, left, right))
    return boxes


def test_cutout_zeroes_a_half_side_square_clipped_at_most_by_half():
    h = w = 16
    out = cutout(torch.ones(256, 2, h, w), gen())
    assert torch.equal(out[:, 0], out[:, 1])  # the same square in every channel
    clipped = {"top": 0, "bottom": 0, "left": 0, "right": 0}
    full = 0
    for top, bottom, left, right in cut_boxes(out):
        for side, start, end, size in (("v", top, bottom, h), ("h", left, right, w)):
            length = end - start
            if 0 < start and end < size:
                assert length == 8  # not touching an edge: the full half side
            else:
                assert 4 <= length <= 8  # clipped by an edge, by at most half the square
        clipped["top"] += top == 0 and bottom < 8
        clipped["bottom"] += bottom == h and top > h - 8
        clipped["left"] += left == 0 and right < 8
        clipped["right"] += right == w and left > w - 8
        full += (bottom - top, right - left) == (8, 8)
    assert full > 0 and all(count > 0 for count in clipped.values()), (full, clipped)


def test_cutout_keeps_the_rest_and_fills_with_zero():
    x = images(n=8)
    keep = cutout(torch.ones(8, 3, 16, 16), gen(5)) != 0  # the same squares (same seed and shape)
    out = cutout(x, gen(5))
    assert torch.equal(out, torch.where(keep, x, torch.zeros(())))


# --- color ---------------------------------------------------------------------------------------


def test_brightness_adds_one_offset_per_image_within_half():
    x = images(n=256)
    delta = brightness(x, gen()) - x
    offset = delta.mean(dim=(1, 2, 3))
    assert max_diff(delta, offset.view(-1, 1, 1, 1).expand_as(delta)) < 1e-6
    assert offset.abs().max() <= 0.5 and offset.min() < -0.4 and offset.max() > 0.4


def test_saturation_scales_the_deviation_from_the_channel_mean():
    x = images(n=256)
    out = saturation(x, gen())
    mean = x.mean(dim=1, keepdim=True)
    assert max_diff(out.mean(dim=1, keepdim=True), mean) < 1e-5
    factor = (out - mean).flatten(1).norm(dim=1) / (x - mean).flatten(1).norm(dim=1)
    assert factor.min() >= 0 and factor.max() <= 2 and factor.min() < 0.2 and factor.max() > 1.8


def test_saturation_leaves_one_channel_images_alone():
    x = images(c=1)
    assert torch.equal(saturation(x, gen()), x)


def test_contrast_keeps_the_image_mean_and_scales_the_rest():
    x = images(n=256)
    out = contrast(x, gen())
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    assert max_diff(out.mean(dim=(1, 2, 3), keepdim=True), mean) < 1e-5
    factor = (out - mean).flatten(1).norm(dim=1) / (x - mean).flatten(1).norm(dim=1)
    assert factor.min() >= 0.5 - 1e-5 and factor.max() <= 1.5 + 1e-5
    assert factor.min() < 0.6 and factor.max() > 1.4


def test_color_is_brightness_then_saturation_then_contrast():
    x, mask = images(), torch.arange(16) < 10
    g = gen()
    expected = contrast(saturation(brightness(x, g, mask), g, mask), g, mask)
    assert torch.equal(color(x, gen(), mask), expected)


# --- flip --------------------------------------------------------------------------------------


def test_flip_mirrors_about_half_of_the_images():
    x = images(n=64)
    out = flip(x, gen())
    mirrored = torch.flip(x, dims=(3,))
    is_flipped = (out == mirrored).flatten(1).all(1)
    is_same = (out == x).flatten(1).all(1)
    assert (is_flipped ^ is_same).all()  # each image is one or the other
    assert 16 < int(is_flipped.sum()) < 48


# --- Augment -----------------------------------------------------------------------------------


def changed(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return (out != x).flatten(1).any(1)


def test_augment_with_p0_returns_the_input_and_draws_as_with_p1():
    x = images()
    states = []
    for p in (0.0, 0.5, 1.0):
        g = gen()
        out = Augment(list(OPS), p=p)(x, g)
        if p == 0.0:
            assert out is x
        states.append(g.get_state())
    assert all(torch.equal(states[0], s) for s in states[1:])


def test_augment_with_p1_changes_every_image():
    x = images(n=64)
    assert changed(Augment(["translation", "cutout", "color"])(x, gen()), x).all()


def test_augment_applies_each_op_with_probability_p():
    n = 2000
    x = images(n=n, c=1, h=8, w=8)
    count = int(changed(Augment(["cutout"], p=0.5)(x, gen()), x).sum())  # cutout changes any such image
    assert abs(count - n / 2) < 5 * math.sqrt(n / 4), count  # 5 binomial standard deviations
    count = int(changed(Augment(["cutout"], p=0.1)(x, gen()), x).sum())
    assert abs(count - n * 0.1) < 5 * math.sqrt(n * 0.1 * 0.9), count


def test_augment_resumes_bit_for_bit_from_a_saved_generator_state():
    x, aug = images(), Augment(list(OPS), p=0.7)
    g = gen()
    aug(x, g)
    state = g.get_state()
    second = aug(x, g)
    g2 = torch.Generator()
    g2.set_state(state)
    assert torch.equal(aug(x, g2), second)


def test_augment_is_differentiable():
    x = images().requires_grad_(True)
    Augment(list(OPS), p=0.5)(x, gen()).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_augment_refuses_unknown_ops_and_bad_p():
    accepted = "accepted: translation, cutout, color, flip"
    with pytest.raises(ValueError, match=f"unknown augmentation op.*'rotate'.*{accepted}"):
        Augment(["flip", "rotate"])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        Augment(["flip"], p=1.5)


def test_empty_policy_is_the_identity():
    x = images()
    assert Augment([])(x, gen()) is x


# --- AdaptiveAugment ---------------------------------------------------------------------------


def ada(**kwargs) -> AdaptiveAugment:
    return AdaptiveAugment(["translation", "flip"], **{"target": 0.6, "speed_kimg": 2.0, "p": 0.25, **kwargs})


@pytest.mark.parametrize(
    ("scores", "rt", "direction"),
    [
        ([1.0, 2.0, 0.5, 3.0], 1.0, 1),  # D sure of every real: overfitting, p rises
        ([1.0, -2.0, 0.5, -3.0], 0.0, -1),
        ([1.0, 1.0, 1.0, 1.0, -1.0], 0.6, 0),  # exactly the target: p stays
    ],
)
def test_ada_moves_p_by_images_over_speed(scores, rt, direction):
    aug = ada()
    aug.accumulate(torch.tensor(scores[:2]))
    aug.accumulate(torch.tensor(scores[2:]).view(-1, 1))  # any shape, summed over batches
    assert aug.update(64) == pytest.approx(rt)
    assert aug.last_rt == pytest.approx(rt)
    assert aug.p == 0.25 + direction * 64 / (2.0 * 1000)


def test_ada_clamps_p_to_zero_and_max_p():
    low = ada(p=0.01)
    low.accumulate(-torch.ones(8))
    low.update(1000)
    assert low.p == 0.0
    high = ada(p=0.29, max_p=0.3)
    high.accumulate(torch.ones(8))
    high.update(1000)
    assert high.p == 0.3


def test_ada_respects_min_p():
    aug = ada(p=0.0)
    aug.min_p = 0.2
    assert aug.p == 0.2  # raising the floor lifts p at once
    aug.accumulate(-torch.ones(8))
    aug.update(1000)
    assert aug.p == 0.2
    aug.accumulate(torch.ones(8))
    aug.update(64)
    assert aug.p == 0.2 + 64 / 2000
    with pytest.raises(ValueError, match="min_p"):
        aug.min_p = -0.1


def test_ada_resets_the_signs_after_each_update():
    aug = ada()
    aug.accumulate(torch.ones(8))
    aug.update(64)
    aug.accumulate(-torch.ones(2))
    assert aug.update(64) == -1.0  # the earlier +1s are gone
    p = aug.p
    assert math.isnan(aug.update(64)) and aug.p == p  # nothing accumulated: r_t undefined, p kept


def test_ada_update_without_distribution():
    for dist in (None, DistContext(), SimpleNamespace(enabled=False)):  # no process group exists
        aug = ada()
        aug.accumulate(torch.ones(4))
        assert aug.update(64, dist) == 1.0


def test_ada_state_dict_round_trip(tmp_path):
    a = ada()
    a.accumulate(torch.ones(6))
    a.update(100)
    a.accumulate(torch.tensor([1.0, -1.0, -1.0]))  # half an interval, saved mid-way
    a.min_p = 0.05
    state = a.state_dict()
    assert all(type(v) is float for v in state.values())
    torch.save(state, tmp_path / "ada.pt")
    b = ada(p=0.9)
    b.load_state_dict(torch.load(tmp_path / "ada.pt", weights_only=True))
    assert b.state_dict() == state
    for aug in (a, b):
        aug.accumulate(torch.tensor([-1.0, -1.0, 1.0]))
    assert a.update(100) == b.update(100) and a.p == b.p
    x = images()
    assert torch.equal(a(x, gen()), b(x, gen()))
    with pytest.raises(ValueError, match="do not match"):
        b.load_state_dict({**state, "extra": 1.0})


@pytest.mark.parametrize(
    "kwargs", [{"target": 1.0}, {"interval": 0}, {"speed_kimg": 0.0}, {"p": 0.5, "max_p": 0.4}, {"max_p": 1.5}]
)
def test_ada_refuses_bad_settings(kwargs):
    with pytest.raises(ValueError):
        ada(**kwargs)


def _ada_rank(rank: int, store: str, out: str) -> None:
    """One of two gloo ranks: different local scores, one update, p and r_t written to out."""
    import torch.distributed as td

    torch.set_num_threads(1)
    try:
        td.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2,
                              timeout=timedelta(seconds=30))
    except Exception as exc:  # no usable gloo here: the test skips
        Path(out, f"skip{rank}").write_text(repr(exc))
        return
    try:
        aug = AdaptiveAugment(["flip"], target=0.6, speed_kimg=1.0, p=0.5)
        # Locally r_t is +1 on rank 0 (p would rise) and -1 on rank 1 (p would fall);
        # over both ranks it is (6 - 2) / 8 = 0.5 < 0.6, so p falls on both.
        aug.accumulate(torch.ones(6) if rank == 0 else -torch.ones(2))
        rt = aug.update(80, DistContext(rank=rank, world_size=2))
        Path(out, f"rank{rank}.json").write_text(json.dumps({"p": aug.p, "rt": rt}))
    finally:
        td.destroy_process_group()


@pytest.mark.slow
def test_ada_ranks_agree_on_p(tmp_path):
    # Rank 0 is this process and rank 1 a spawned one: one torch start-up instead of two.
    import multiprocessing

    store, out = str(tmp_path / "store"), str(tmp_path)
    child = multiprocessing.get_context("spawn").Process(target=_ada_rank, args=(1, store, out))
    try:
        child.start()
    except OSError as exc:
        pytest.skip(f"cannot spawn a process: {exc}")
    try:
        _ada_rank(0, store, out)
    finally:
        child.join(timeout=5 if (tmp_path / "skip0").exists() else 60)
        if child.is_alive():
            child.kill()
            child.join()
    skipped = sorted(tmp_path.glob("skip*"))
    if skipped:
        pytest.skip(f"gloo process group unavailable: {skipped[0].read_text()}")
    assert child.exitcode == 0
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert results[0] == results[1] == {"p": 0.5 - 80 / 1000, "rt": 0.5}


# --- build_augment -----------------------------------------------------------------------------


def test_build_augment_for_every_kind():
    assert build_augment(AugmentConfig()) is None
    diff = build_augment(AugmentConfig(kind="diffaugment", policy=["flip", "color"]))
    assert type(diff) is Augment and diff.p == 1.0 and diff.policy == ["flip", "color"]
    cfg = AugmentConfig(kind="ada", target=0.7, interval=8, speed_kimg=50, p=0.1, max_p=0.8)
    adaptive = build_augment(cfg)
    assert isinstance(adaptive, AdaptiveAugment)
    assert (adaptive.policy, adaptive.target, adaptive.interval, adaptive.speed_kimg, adaptive.p, adaptive.max_p) == (
        cfg.policy, 0.7, 8, 50.0, 0.1, 0.8
    )
