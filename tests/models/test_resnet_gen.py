"""The ResNet-block generator of the unpaired task: any size, both upsampling kinds, range.

Save/load, determinism, batch independence and the config <-> constructor match run over every
backbone in ``test_pix2pix_nets.py``.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.models.resnet_gen import ResnetGenerator, upsample_layer

from .test_pix2pix_nets import assert_near, images, saturate

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"width": 4, "blocks": 1}


@pytest.mark.parametrize("upsample", ["resize", "transposed"])
@pytest.mark.parametrize("size", [(16, 16), (17, 23), (5, 9), (2, 3), (1, 1)])
@pytest.mark.parametrize("channels", [(3, 3), (1, 3)])
def test_resnet_generator_keeps_any_size(upsample, size, channels):
    in_ch, out_ch = channels
    net = ResnetGenerator(in_channels=in_ch, out_channels=out_ch, upsample=upsample, **TINY).eval()
    with torch.no_grad():
        out = net(images(2, in_ch, *size))
    assert out.shape == (2, out_ch, *size) and torch.isfinite(out).all()


@pytest.mark.parametrize("size", [(13, 21), (9, 8)])
def test_resnet_output_of_any_size_is_the_crop_of_its_padded_input(size):
    """H and W are reflect-padded evenly (the odd pixel at the bottom and right) to multiples of 4
    and the output is cropped back."""
    net = ResnetGenerator(**TINY).eval()
    x = images(2, 3, *size)
    pad_h, pad_w = -size[0] % 4, -size[1] % 4
    top, left = pad_h // 2, pad_w // 2
    padded = nn.functional.pad(x, (left, pad_w - left, top, pad_h - top), mode="reflect")
    with torch.no_grad():
        assert_near(net(x), net(padded)[:, :, top : top + size[0], left : left + size[1]], atol=1e-5)


def test_upsample_flag_chooses_the_layer():
    resize, transposed = ResnetGenerator(upsample="resize", **TINY), ResnetGenerator(upsample="transposed", **TINY)
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in resize.modules())
    assert sum(isinstance(m, nn.Upsample) for m in resize.modules()) == 2
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in transposed.modules()) == 2
    with pytest.raises(ValueError, match="resize or transposed"):
        upsample_layer(4, 4, "pixelshuffle", False)


def test_transposed_convolution_makes_a_checkerboard_and_resize_convolution_does_not():
    """Why ``resize`` is the default (Odena et al. 2016): with equal weights, a stride-2 transposed
    3x3 convolution of a flat image overlaps unevenly (1, 2 or 4 taps per output pixel), a
    period-2 pattern; nearest resize then a 3x3 convolution gives a flat image."""
    x = torch.ones(1, 1, 8, 8)
    outputs = {}
    for kind in ("resize", "transposed"):
        layer = upsample_layer(1, 1, kind, False)
        for m in layer.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.ones_(m.weight)
        with torch.no_grad():
            outputs[kind] = layer(x)[0, 0, 2:-2, 2:-2]  # away from the borders
    assert outputs["resize"].shape == outputs["transposed"].shape == (12, 12)
    assert torch.equal(outputs["resize"], torch.full((12, 12), 9.0))
    assert set(outputs["transposed"].unique().tolist()) == {1.0, 2.0, 4.0}
    assert outputs["transposed"][0::2, 0::2].std() == 0 and outputs["transposed"][0, 0] != outputs["transposed"][0, 1]


@pytest.mark.parametrize("upsample", ["resize", "transposed"])
def test_resnet_generator_output_stays_in_range_and_trains(upsample):
    net = ResnetGenerator(upsample=upsample, **TINY)
    out = net(images(2, 3, 12, 12))
    out.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    saturate(net)
    with torch.no_grad():
        out = net(images(2, 3, 12, 12))
    assert out.abs().max() <= 1.0 and out.abs().max() > 0.99


def test_resnet_generator_blocks_add_parameters_and_refuses_wrong_channels():
    def count(**kwargs):
        return sum(p.numel() for p in ResnetGenerator(**{**TINY, **kwargs}).parameters())

    assert count(blocks=3) > count(blocks=1) and count(width=8) > count(width=4)
    with pytest.raises(GanforgeError, match=r"\(N, 3, H, W\)") as info:
        ResnetGenerator(**TINY)(images(1, 1, 8, 8))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("blocks", [0, 2, 5])
def test_receptive_radius_bounds_what_a_pixel_changes_with_fixed_statistics(blocks):
    """With the statistics fixed by a thumbnail, a one-pixel change reaches at most
    receptive_radius pixels, and the bound is tight within one pixel (tile overlap relies on it)."""
    torch.manual_seed(0)
    g = ResnetGenerator(width=8, blocks=blocks).eval()
    thumb = torch.rand(1, 3, 24, 24) * 2 - 1
    x = torch.rand(1, 3, 200, 200) * 2 - 1
    bumped = x.clone()
    bumped[:, :, 100, 100] += 1.0
    with torch.no_grad():
        changed = (g.forward_thumbnail(bumped, thumb) - g.forward_thumbnail(x, thumb)).abs().sum(1)[0] > 0
    reach = int((torch.nonzero(changed) - 100).abs().max())
    assert g.receptive_radius - 1 <= reach <= g.receptive_radius


def test_thumbnail_statistics_refuse_wrong_shapes():
    g = ResnetGenerator(width=8, blocks=1)
    with pytest.raises(GanforgeError, match="thumbnail of shape"):
        g.forward_thumbnail(torch.zeros(1, 3, 16, 16), torch.zeros(1, 1, 8, 8))
