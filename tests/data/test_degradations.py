"""The degradations of ``data/degradations``: shapes, ranges, seeding, and what each one does.

Tolerances were measured on the CPU (torch 2.13, Pillow's libjpeg) and are stated where used.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ganforge.data import degradations as D
from ganforge.data.degradations.blur import gaussian_kernel
from ganforge.data.degradations.resize import MODES

pytestmark = pytest.mark.usefixtures("one_thread")


def smooth(n: int, c: int = 3, h: int = 32, w: int = 32, seed: int = 0) -> torch.Tensor:
    """Photo-like images in [0, 1]: a bicubic-upscaled coarse grid (structure) plus 20% noise (texture)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, c, max(1, h // 8), max(1, w // 8), generator=g)
    x = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
    return (0.8 * x + 0.2 * torch.rand(n, c, h, w, generator=g)).clamp(0, 1)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per image, for [0, 1] images."""
    return 10 * torch.log10(1 / ((a - b) ** 2).mean((1, 2, 3)))


# name -> ((x, generator) -> degraded x, expected output (H, W) for a 32 x 32 input)
DEGRADATIONS: dict[str, tuple[Callable[[torch.Tensor, torch.Generator], torch.Tensor], tuple[int, int]]] = {
    "random_blur": (lambda x, g: D.random_blur(x, g, size=9), (32, 32)),
    "random_resize": (lambda x, g: D.random_resize(x, g, factor=(0.5, 0.5)), (16, 16)),
    "random_noise": (lambda x, g: D.random_noise(x, g, p_poisson=0.5), (32, 32)),
    "fade": (D.fade, (32, 32)),
    "scratches": (D.scratches, (32, 32)),
    "dust": (D.dust, (32, 32)),
    "second_order_x2": (lambda x, g: D.second_order(x, g, scale=2), (16, 16)),
    "second_order_x4": (lambda x, g: D.second_order(x, g, scale=4), (8, 8)),
}


@pytest.mark.parametrize("name", sorted(DEGRADATIONS))
def test_shape_range_and_seeding(name):
    fn, size = DEGRADATIONS[name]
    x = smooth(4)
    before = x.clone()
    out = fn(x, gen(0))
    assert out.shape == (4, 3, *size)
    assert out.dtype == x.dtype
    assert out.min() >= 0 and out.max() <= 1
    assert torch.equal(x, before), "the input must not be modified in place"
    assert torch.equal(fn(x, gen(0)), out), "same generator seed, same damage"
    other = fn(x, gen(1))
    assert other.shape != out.shape or not torch.equal(other, out), "another seed must give other damage"


@pytest.mark.parametrize("channels", [1, 3])
def test_seeded_damage_works_on_grey_images(channels):
    x = smooth(2, c=channels)
    for name in ("random_blur", "random_noise", "fade", "scratches", "dust", "second_order_x2"):
        out = DEGRADATIONS[name][0](x, gen(0))
        assert out.shape[:2] == (2, channels), name


# --- blur -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("sx", "sy", "theta"), [(1.0, 1.0, 0.0), (2.5, 0.7, 0.6), (0.3, 3.0, 2.0)])
def test_gaussian_kernel_sums_to_one_and_is_symmetric(sx, sy, theta):
    k = gaussian_kernel(sx, sy, theta, 11)
    assert k.shape == (11, 11)
    assert abs(float(k.sum()) - 1) < 1e-5
    assert (k >= 0).all()
    # A Gaussian is point-symmetric about its centre, whatever its axes and angle.
    assert torch.allclose(k, k.flip(0, 1), atol=1e-7)
    assert k.argmax() == 5 * 11 + 5  # the peak is the centre


def test_isotropic_kernel_has_mirror_symmetry_and_anisotropic_kernel_follows_its_angle():
    iso = gaussian_kernel(1.5, 1.5, 0.7, 9)  # the angle is irrelevant when both sigmas agree
    assert torch.allclose(iso, iso.T, atol=1e-7) and torch.allclose(iso, iso.flip(0), atol=1e-7)
    assert torch.allclose(iso, gaussian_kernel(1.5, 1.5, 0.0, 9), atol=1e-7)
    wide_x = gaussian_kernel(3.0, 0.5, 0.0, 9)  # long along x (columns)
    assert wide_x[4, 0] > 100 * wide_x[0, 4]
    turned = gaussian_kernel(3.0, 0.5, math.pi / 2, 9)  # a quarter turn: long along y
    assert torch.allclose(turned, wide_x.T, atol=1e-6)


def test_tiny_sigma_is_about_identity():
    k = gaussian_kernel(0.05, 0.05, 0.0, 21)
    assert float(k[10, 10]) > 1 - 1e-6
    x = smooth(2)
    assert (D.gaussian_blur(x, torch.stack([k, k])) - x).abs().max() < 1e-5


def high_frequency_energy(x: torch.Tensor) -> torch.Tensor:
    """Mean squared response to the discrete Laplacian, per image."""
    lap = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).view(1, 1, 3, 3).repeat(x.shape[1], 1, 1, 1)
    return F.conv2d(x, lap, groups=x.shape[1]).pow(2).mean((1, 2, 3))


def test_gaussian_blur_removes_high_frequencies_and_keeps_the_mean():
    x = torch.rand(2, 3, 32, 32, generator=gen(0))
    kernels = torch.stack([gaussian_kernel(1.0, 1.0, 0.0, 9), gaussian_kernel(2.0, 2.0, 0.0, 9)])
    y = D.gaussian_blur(x, kernels)
    before, after = high_frequency_energy(x), high_frequency_energy(y)
    assert (after < 0.1 * before).all(), f"{after / before}"
    assert after[1] < after[0]  # the wider kernel removes more
    assert torch.allclose(y.mean((1, 2, 3)), x.mean((1, 2, 3)), atol=0.01)  # reflection keeps brightness


def test_random_blur_with_p_zero_leaves_images_unchanged():
    x = smooth(3)
    assert torch.equal(D.random_blur(x, gen(0), size=9, p=0.0), x)
    assert not torch.equal(D.random_blur(x, gen(0), size=9, p=1.0), x)


# --- resize ---------------------------------------------------------------------------------


def test_resize_gives_the_requested_size_and_same_size_is_a_no_op():
    x = smooth(2, h=32, w=24)
    for mode in MODES:
        assert D.resize(x, (13, 40), mode).shape == (2, 3, 13, 40)
        assert D.resize(x, (64, 48), mode).shape == (2, 3, 64, 48)
    assert D.resize(x, (32, 24)) is x


def test_random_resize_size_follows_the_factor_range():
    x = smooth(2, h=40, w=20)
    sizes = set()
    for seed in range(12):
        out = D.random_resize(x, gen(seed), factor=(0.5, 1.5))
        h, w = out.shape[-2:]
        assert 20 <= h <= 60 and 10 <= w <= 30
        assert abs(h / 40 - w / 20) < 0.06  # one factor for both axes (up to rounding)
        sizes.add((h, w))
    assert len(sizes) > 3
    assert D.random_resize(smooth(1, h=8, w=8), gen(0), factor=(0.1, 0.1)).shape[-2:] == (4, 4)  # at least 4 px


# Measured: antialiased torch bicubic and bilinear vs Pillow BICUBIC and BILINEAR on a 64 px 8-bit
# smooth-plus-noise image, factors 2, 3, 4: mean |diff| 0.26-0.29 and max 0.75-0.97 levels of 255
# (Pillow rounds its output to uint8, torch does not: that rounding alone is a quarter level on
# average). A non-antialiased bicubic downscale differs by 5-9 levels on average, so the tolerance
# below separates the two.
PIL_MEAN_TOL = 0.5 / 255
PIL_MAX_TOL = 1.5 / 255


@pytest.mark.parametrize("factor", [2, 3, 4])
@pytest.mark.parametrize(("mode", "pil_filter"), [("bicubic", Image.Resampling.BICUBIC),
                                                  ("bilinear", Image.Resampling.BILINEAR)])
def test_downscaling_matches_pillow(factor, mode, pil_filter):
    x = smooth(1, h=64, w=64).mul(255).round().div(255)  # an 8-bit image, as Pillow sees it
    size = 64 // factor
    ours = D.resize(x, (size, size), mode)[0].permute(1, 2, 0).numpy()
    pixels = (x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    pil = np.asarray(Image.fromarray(pixels).resize((size, size), pil_filter), dtype=np.float32) / 255
    diff = np.abs(ours - pil)
    message = f"mean {diff.mean() * 255:.2f} max {diff.max() * 255:.2f} levels"
    assert diff.mean() < PIL_MEAN_TOL and diff.max() < PIL_MAX_TOL, message
    if mode == "bicubic":  # the test can fail: without antialiasing the result is far from Pillow's
        aliased = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
        assert np.abs(aliased[0].permute(1, 2, 0).numpy() - pil).mean() > 3 * PIL_MEAN_TOL


# --- noise ----------------------------------------------------------------------------------


def test_gaussian_noise_std_matches_sigma():
    x = torch.full((3, 3, 128, 128), 0.5)
    sigma = torch.tensor([0.1, 0.02, 0.0])
    noise = D.gaussian_noise(x, sigma, gen(0)) - x
    std = noise.std((1, 2, 3))
    # 49k samples: the standard error of the estimated std is 0.3%; 2% leaves room.
    assert abs(std[0] / 0.1 - 1) < 0.02 and abs(std[1] / 0.02 - 1) < 0.02
    assert std[2] == 0
    assert noise[:2].mean().abs() < 0.002
    channel_corr = torch.corrcoef(noise[0].flatten(1))[0, 1]
    assert channel_corr.abs() < 0.05  # colour noise: independent per channel


def test_gaussian_noise_is_not_clamped():
    x = torch.full((1, 3, 32, 32), 0.95)
    out = D.gaussian_noise(x, torch.tensor([0.2]), gen(0))
    assert out.max() > 1  # documented: the caller clips


def test_grey_noise_is_the_same_in_every_channel():
    x = smooth(2)
    out = D.gaussian_noise(x, torch.tensor([0.1, 0.1]), gen(0), grey=torch.tensor([True, False]))
    noise = out - x
    assert torch.allclose(noise[0, 0], noise[0, 1], atol=1e-6) and torch.allclose(noise[0, 0], noise[0, 2], atol=1e-6)
    assert not torch.allclose(noise[1, 0], noise[1, 1], atol=1e-2)


def test_poisson_noise_keeps_the_mean_and_its_variance_is_x_over_peak():
    level = torch.tensor([0.1, 0.3, 0.7]).view(3, 1, 1, 1)
    x = level.expand(3, 3, 128, 128).contiguous()
    scale = torch.tensor([2.0, 2.0, 0.5])
    out = D.poisson_noise(x, scale, gen(0))
    peak = 255 / scale
    mean, var = out.mean((1, 2, 3)), out.var((1, 2, 3))
    expected_var = level.flatten() / peak
    assert torch.allclose(mean, level.flatten(), rtol=0.01), mean
    assert ((var / expected_var - 1).abs() < 0.05).all(), var / expected_var  # measured within 1%
    assert (out >= 0).all()
    assert torch.equal(D.poisson_noise(x, scale, gen(0)), out)


# --- JPEG -----------------------------------------------------------------------------------


def test_jpeg_changes_the_image_and_lower_quality_means_larger_error():
    x = smooth(1, h=64, w=64)
    errors = [float((D.jpeg(x, torch.tensor([q])) - x).abs().mean()) for q in (95, 50, 10)]
    assert errors[0] > 1 / 255  # a real encoder: even quality 95 changes a noisy image
    assert errors[0] < errors[1] < errors[2], errors
    batch = D.jpeg(x.repeat(2, 1, 1, 1), torch.tensor([95, 10]))  # quality per image
    assert (batch[0] - x[0]).abs().mean() < (batch[1] - x[0]).abs().mean()
    out = D.jpeg(x, torch.tensor([50]))
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert torch.equal(out, out.mul(255).round().div(255))  # decoded 8-bit levels


def test_jpeg_on_grey_images():
    x = smooth(2, c=1)
    out = D.jpeg(x, torch.tensor([30, 30]))
    assert out.shape == x.shape and not torch.equal(out, x)


# --- old-photo damage -----------------------------------------------------------------------


def saturation(x: torch.Tensor) -> torch.Tensor:
    return (x.amax(1) - x.amin(1)).mean((1, 2))


def test_fade_with_zero_strength_is_identity():
    x = smooth(4)
    assert (D.fade(x, gen(0), strength=(0.0, 0.0)) - x).abs().max() < 1e-6  # measured 6e-8 (float rounding)


def test_fade_lowers_saturation_and_contrast_and_lifts_the_blacks():
    x = smooth(4)
    light = D.fade(x, gen(0), strength=(0.3, 0.3))
    strong = D.fade(x, gen(0), strength=(0.8, 0.8))
    assert (saturation(light) < saturation(x)).all()
    assert (saturation(strong) < saturation(light)).all()
    assert (strong.std((1, 2, 3)) < x.std((1, 2, 3))).all()
    assert (strong.amin((1, 2, 3)) > x.amin((1, 2, 3))).all()


@pytest.mark.parametrize("fn", [D.scratches, D.dust], ids=["scratches", "dust"])
def test_marks_change_some_pixels_but_few(fn):
    x = smooth(8, h=64, w=64)  # marks have absolute sizes: on 32 px, 40 specks cover up to 20%
    out = fn(x, gen(0))
    changed = ((out - x).abs().amax(1) > 1e-6).float().mean((1, 2))
    # Measured on 64 px images, seed 0: scratches 0.7-5% of the pixels, dust 1-6% per image.
    assert (changed > 0).all(), changed
    assert (changed < 0.15).all(), changed
    unchanged = (out - x).abs().amax(1) == 0
    assert unchanged.float().mean() > 0.85


def test_scratches_and_dust_counts_of_zero_change_nothing():
    x = smooth(2)
    assert torch.equal(D.scratches(x, gen(0), count=(0, 0)), x)
    assert torch.equal(D.dust(x, gen(0), count=(0, 0)), x)


# --- second-order chain ---------------------------------------------------------------------


def test_second_order_is_much_worse_than_a_bicubic_downscale():
    x = smooth(8, h=64, w=64)
    reference = D.resize(x, (32, 32), "bicubic")
    other_kernel = psnr(D.resize(x, (32, 32), "bilinear"), reference).mean()  # measured 40.8 dB
    degraded = torch.stack([psnr(D.second_order(x, gen(s), scale=2), reference) for s in range(2)]).mean()
    # Measured: 15-24 dB per image, 18.5 dB on average over these seeds.
    assert degraded < 25 < other_kernel - 10, (float(degraded), float(other_kernel))


def test_second_order_sizes_for_non_square_inputs():
    x = smooth(2, h=48, w=40)
    assert D.second_order(x, gen(0), scale=4).shape == (2, 3, 12, 10)
    assert D.second_order(x, gen(0), scale=2, old_photo=0.0).shape == (2, 3, 24, 20)
