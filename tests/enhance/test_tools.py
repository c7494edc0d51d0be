"""The photo tools of ``enhance/``: training pairs, output scales, CIE Lab and colorization."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.enhance import TOOLS, EnhanceTool, InferenceOptions
from ganforge.runtime import TorchRunner
from ganforge.enhance.colorize import AB_RANGE, lightness
from ganforge.enhance.denoise import MAX_SIGMA, UNKNOWN
from ganforge.errors import GanforgeError
from ganforge.images import lab_to_rgb, rgb_to_lab
from ganforge.models.srnet import SRNet
from ganforge.models.unet import UNetGenerator

pytestmark = pytest.mark.usefixtures("one_thread")


def crops(n: int = 4, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Clean photo crops (B, 3, R, R) in [0, 1]."""
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def lab_of(pixels: np.ndarray) -> torch.Tensor:
    return rgb_to_lab(torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)[None].float() / 255)


def test_registry_holds_the_four_tools():
    assert TOOLS.names() == ["colorize", "denoise", "restore", "upscale"]
    for name in TOOLS.names():
        tool = TOOLS.get(name)
        assert isinstance(tool, EnhanceTool) and tool.name == name and tool.summary
    assert TOOLS.get("upscale").scales == (2, 4)
    assert TOOLS.get("restore").scales == (2,)
    assert TOOLS.get("denoise").scales == TOOLS.get("colorize").scales == (1,)
    assert TOOLS.get("denoise").channels() == (4, 3)
    assert TOOLS.get("colorize").channels() == (1, 2)
    assert TOOLS.get("upscale").channels() == TOOLS.get("restore").channels() == (3, 3)
    with pytest.raises(GanforgeError, match="unknown photo tool 'upscal'"):
        TOOLS.get("upscal")


def assert_signed(t: torch.Tensor) -> None:
    assert t.dtype == torch.float32 and t.min() >= -1 and t.max() <= 1


def assert_8bit(signed: torch.Tensor) -> None:
    """Values of an 8-bit photo, mapped to [-1, 1]."""
    unit = signed.add(1).mul(0.5).mul(255)
    assert (unit - unit.round()).abs().max() < 1e-3


@pytest.mark.parametrize("scale", [2, 4])
def test_upscale_pair_is_the_bicubic_downscaled_crop(scale):
    clean = crops()
    source, target = TOOLS.get("upscale").make_pair(clean, gen(0), scale=scale)
    assert source.shape == (4, 3, 32 // scale, 32 // scale)
    assert torch.equal(target, clean * 2 - 1)
    assert_signed(source)
    assert_8bit(source)
    bicubic = F.interpolate(clean, size=(32 // scale,) * 2, mode="bicubic", antialias=True).clamp(0, 1)
    assert (source.add(1).mul(0.5) - bicubic).abs().max() <= 0.5 / 255 + 1e-6  # only quantised
    again, _ = TOOLS.get("upscale").make_pair(clean, gen(0), scale=scale)
    assert torch.equal(again, source)


def test_denoise_pair_channels_levels_and_ranges():
    clean = 0.5 + 0.05 * crops(32)  # mid-grey: the noise is hardly clipped, so its std is sigma
    source, target = TOOLS.get("denoise").make_pair(clean, gen(0), scale=1)
    assert source.shape == (32, 4, 32, 32) and target.shape == (32, 3, 32, 32)
    assert torch.equal(target, clean * 2 - 1)
    assert_signed(source[:, :3])
    assert_8bit(source[:, :3])
    level = source[:, 3]
    assert (level.amax((1, 2)) == level.amin((1, 2))).all(), "one level per image"
    level = level[:, 0, 0]
    known = level != UNKNOWN
    assert ((level[known] >= 0) & (level[known] <= 1)).all(), level
    assert 0 < known.sum() < 32  # some pairs carry their level, others are blind (measured: 11 of 32)
    # A known level is the noise's sigma / 50 on 0..255 (measured within 2%, plus the 8-bit rounding).
    noise_std = ((source[:, :3] - target) / 2 * 255).std((1, 2, 3))
    assert torch.allclose(noise_std[known] / MAX_SIGMA, level[known], rtol=0.05, atol=0.01)
    assert (source[:, :3] != target).any((1, 2, 3)).sum() > 28  # nearly every pair is noisy


def test_denoise_pairs_are_seeded():
    clean = crops()
    first = TOOLS.get("denoise").make_pair(clean, gen(0), scale=1)
    again = TOOLS.get("denoise").make_pair(clean, gen(0), scale=1)
    other = TOOLS.get("denoise").make_pair(clean, gen(1), scale=1)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[0], other[0])


def test_restore_pair_is_half_size_and_seeded():
    clean = crops()
    source, target = TOOLS.get("restore").make_pair(clean, gen(0), scale=2)
    assert source.shape == (4, 3, 16, 16)
    assert torch.equal(target, clean * 2 - 1)
    assert_signed(source)
    assert_8bit(source)
    again, _ = TOOLS.get("restore").make_pair(clean, gen(0), scale=2)
    other, _ = TOOLS.get("restore").make_pair(clean, gen(1), scale=2)
    assert torch.equal(again, source) and not torch.equal(other, source)


def test_colorize_pair_is_lightness_to_colour_at_half_size():
    clean = crops()
    source, target = TOOLS.get("colorize").make_pair(clean, gen(0), scale=1)
    assert source.shape == (4, 1, 16, 16) and target.shape == (4, 2, 16, 16)
    half = F.interpolate(clean, scale_factor=0.5, mode="area")
    lab = rgb_to_lab(half)
    assert torch.allclose(source, lab[:, :1] / 50 - 1, atol=1e-6)
    assert torch.allclose(source, lightness(half), atol=1e-6)
    assert_signed(source)
    assert_signed(target)
    assert torch.allclose(target, lab[:, 1:] / AB_RANGE, atol=1e-6)  # random colours stay within AB_RANGE
    assert target.abs().max() > 0.2  # real colour, not grey
    # Joining the pair's L and a, b gives back the (half-size) colour image.
    rebuilt = lab_to_rgb(torch.cat([(source + 1) * 50, target * AB_RANGE], 1))
    assert (rebuilt - half).abs().max() < 1e-4
    again = TOOLS.get("colorize").make_pair(clean, gen(0), scale=1)
    assert torch.equal(again[0], source) and torch.equal(again[1], target)


# --- output scales --------------------------------------------------------------------------


def test_restore_output_scale_is_1_or_the_trained_scale():
    restore = TOOLS.get("restore")
    assert restore.output_scale(2, InferenceOptions()) == 2
    assert restore.output_scale(2, InferenceOptions(scale=2)) == 2
    assert restore.output_scale(2, InferenceOptions(scale=1)) == 1
    with pytest.raises(GanforgeError, match="restore gives 1x or 2x output, not 4x"):
        restore.output_scale(2, InferenceOptions(scale=4))


@pytest.mark.parametrize(("name", "trained", "asked"), [("upscale", 4, 2), ("upscale", 2, 1), ("denoise", 1, 2)])
def test_fixed_scale_tools_refuse_another_scale(name, trained, asked):
    tool = TOOLS.get(name)
    assert tool.output_scale(trained, InferenceOptions()) == trained
    assert tool.output_scale(trained, InferenceOptions(scale=trained)) == trained
    with pytest.raises(GanforgeError, match=f"this {name} model's output scale is {trained}, not {asked}"):
        tool.output_scale(trained, InferenceOptions(scale=asked))


def test_restore_infer_gives_1x_or_2x_output():
    torch.manual_seed(0)
    net = SRNet(in_channels=3, out_channels=3, scale=2, width=8, depth=1).eval()
    pixels = np.random.default_rng(0).integers(0, 256, (21, 30, 3), dtype=np.uint8)
    restore = TOOLS.get("restore")
    assert restore.infer(TorchRunner(net, "fp32"), pixels, scale=2, options=InferenceOptions(tile=None)).shape == (42, 60, 3)
    small = restore.infer(TorchRunner(net, "fp32"), pixels, scale=2, options=InferenceOptions(tile=None, scale=1))
    assert small.shape == (21, 30, 3) and small.dtype == np.uint8
    # The untrained network is about bicubic: the 1x result is about the input.
    assert np.abs(small.astype(int) - pixels).mean() < 40


# --- CIE Lab --------------------------------------------------------------------------------


def test_lab_round_trip():
    rgb = torch.rand(2, 3, 32, 32, generator=gen(0))
    rgb = torch.cat([rgb, torch.tensor([0.0, 0.02, 1.0]).view(1, 3, 1, 1).expand(1, 3, 32, 32)])  # dark, saturated
    err = (lab_to_rgb(rgb_to_lab(rgb)) - rgb).abs().max()
    assert err < 1e-4, f"round trip error {err:.2g}"  # measured 5e-6 (float32)


@pytest.mark.parametrize(("rgb", "lab"), [
    ((1.0, 1.0, 1.0), (100.0, 0.0, 0.0)),
    ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
    ((1.0, 0.0, 0.0), (53.24, 80.09, 67.20)),  # sRGB red, D65 (Bruce Lindbloom's calculator)
    ((0.0, 1.0, 0.0), (87.73, -86.18, 83.18)),
    ((0.0, 0.0, 1.0), (32.30, 79.19, -107.86)),
    ((0.5, 0.5, 0.5), (53.39, 0.0, 0.0)),
])
def test_lab_known_values(rgb, lab):
    got = rgb_to_lab(torch.tensor(rgb).view(1, 3, 1, 1)).flatten()
    assert torch.allclose(got, torch.tensor(lab), atol=0.1), got


# --- colorize inference ---------------------------------------------------------------------


def tiny_unet() -> UNetGenerator:
    torch.manual_seed(0)
    return UNetGenerator(in_channels=1, out_channels=2, width=4, depth=3, max_channels=16).eval()


class ZeroColour(nn.Module):
    """Predicts a = b = 0 (grey) everywhere."""

    def __init__(self):
        super().__init__()
        self.p = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return torch.zeros(x.shape[0], 2, *x.shape[2:]) + self.p


@pytest.mark.parametrize("size", [(40, 56), (37, 29), (420, 300)])  # the last is over WORK_SIZE=384
def test_colorize_keeps_the_input_lightness(size):
    pixels = np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)
    calls = []
    out = TOOLS.get("colorize").infer(TorchRunner(tiny_unet(), "fp32"), pixels, scale=1, options=InferenceOptions(),
                                      progress=lambda done, total: calls.append((done, total)))
    assert out.shape == (*size, 3) and out.dtype == np.uint8
    assert calls == [(1, 1)]
    diff = (lab_of(out)[0, 0] - lab_of(pixels)[0, 0]).abs()
    # Measured: mean 0.10-0.11, 99th percentile 1.1-1.2 L units. The random U-Net's a, b reach
    # 46 Lab units, so a few colours fall outside sRGB and lab_to_rgb's clipping shifts their
    # lightness (max 5-7 L units); the rest differ by 8-bit rounding only.
    assert diff.mean() < 0.3 and diff.flatten().quantile(0.99) < 2.0, (float(diff.mean()), float(diff.max()))


def test_colorize_with_grey_prediction_keeps_lightness_exactly_up_to_rounding():
    pixels = np.random.default_rng(1).integers(0, 256, (24, 20, 3), dtype=np.uint8)
    out = TOOLS.get("colorize").infer(TorchRunner(ZeroColour(), "fp32"), pixels, scale=1, options=InferenceOptions())
    diff = (lab_of(out)[0, 0] - lab_of(pixels)[0, 0]).abs()
    assert diff.max() < 0.5, float(diff.max())  # measured 0.24: 8-bit rounding
    assert np.abs(out.astype(int) - out[..., :1]).max() <= 1  # grey


def test_colorize_uses_the_network():
    pixels = np.random.default_rng(2).integers(0, 256, (24, 20, 3), dtype=np.uint8)
    grey = TOOLS.get("colorize").infer(TorchRunner(ZeroColour(), "fp32"), pixels, scale=1, options=InferenceOptions())
    coloured = TOOLS.get("colorize").infer(TorchRunner(tiny_unet(), "fp32"), pixels, scale=1, options=InferenceOptions())
    assert np.abs(grey.astype(int) - coloured).max() > 5


def test_colorize_respects_the_network_alignment():
    """BUG (enhance/colorize.py, Colorize.infer): the network runs on the whole working-size image
    without padding it to ``network.alignment``, so an srnet colorizer with ``unshuffle: 2``
    (a valid config: residual off) fails on any photo of odd working size with torch's
    "pixel_unshuffle expects height to be divisible by downscale_factor". The tiled tools pad
    through ``tiled``; colorize should reflect-pad ``small`` to the alignment and crop ``ab``."""
    torch.manual_seed(0)
    net = SRNet(in_channels=1, out_channels=2, residual=False, unshuffle=2, width=8, depth=1).eval()
    pixels = np.random.default_rng(0).integers(0, 256, (37, 29, 3), dtype=np.uint8)
    out = TOOLS.get("colorize").infer(TorchRunner(net, "fp32"), pixels, scale=1, options=InferenceOptions())
    assert out.shape == (37, 29, 3)


@pytest.mark.parametrize("size", [(420, 300), (97, 130)])
def test_colorize_in_strips_gives_the_whole_image_numbers(size, monkeypatch):
    """Full-resolution work goes strip by strip (bounded memory) and the working-resolution copy
    row by row; both give exactly the pixels of converting the whole image at once."""
    from ganforge.enhance import colorize

    pixels = np.random.default_rng(2).integers(0, 256, (*size, 3), dtype=np.uint8)
    runner = TorchRunner(tiny_unet(), "fp32")
    # the whole image at once, as before strips: one float copy, one resize, one conversion
    rgb = torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None].float().div(255)
    h, w = size
    f = min(1.0, colorize.WORK_SIZE / max(h, w))
    small = F.interpolate(rgb, size=(round(h * f), round(w * f)), mode="area") if f < 1 else rgb
    ab = runner(colorize.lightness(small))
    ab = F.interpolate(ab, size=(h, w), mode="bilinear", align_corners=False) if f < 1 else ab
    whole = lab_to_rgb(torch.cat([rgb_to_lab(rgb)[:, :1], ab.clamp(-1, 1) * AB_RANGE], 1))
    whole = whole[0].mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    monkeypatch.setattr(colorize, "STRIP_PIXELS", 7 * w + 3)  # several strips, the last one short
    out = TOOLS.get("colorize").infer(runner, pixels, scale=1, options=InferenceOptions())
    assert np.array_equal(out, whole)
