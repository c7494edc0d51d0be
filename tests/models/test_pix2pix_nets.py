"""The pix2pix networks: U-Net generator and PatchGAN discriminator, and every registered backbone.

Tiny CPU configs. The shared tests at the bottom run over every entry of ``BACKBONES``; a new
backbone only needs a tiny setting in ``TINY`` (a test fails and says so when it is missing).
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import torch
from pydantic import ValidationError
from safetensors.torch import load_file, save_file
from torch.nn.utils.parametrize import is_parametrized

from ganforge.errors import GanforgeError
from ganforge.models import BACKBONES
from ganforge.models.patchgan import PatchDiscriminator, PatchGANConfig, receptive_field
from ganforge.models.resnet_gen import ResnetGenerator, ResnetGeneratorConfig
from ganforge.models.unet import UNetConfig, UNetGenerator

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_UNET = {"width": 4, "depth": 3, "max_channels": 16}
TINY_PATCH = {"width": 4, "layers": 2, "max_channels": 16}

# backbone -> (tiny config fields, input shape (C, H, W) of one sample)
TINY: dict[str, tuple[dict[str, Any], tuple[int, int, int]]] = {
    "unet": ({**TINY_UNET, "in_channels": 3, "out_channels": 3}, (3, 20, 13)),
    "patchgan": ({**TINY_PATCH, "in_channels": 6}, (6, 24, 28)),
    "srnet": ({"width": 8, "depth": 2, "in_channels": 3, "out_channels": 3, "unshuffle": 2}, (3, 12, 16)),
    "resnet": ({"width": 4, "blocks": 1, "in_channels": 3, "out_channels": 3}, (3, 13, 18)),
}


def images(n: int, channels: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """Uniform images in [-1, 1]."""
    return torch.rand(n, channels, height, width, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def assert_near(actual: torch.Tensor, expected: torch.Tensor, atol: float) -> None:
    # Not torch.testing.assert_close: its first call imports for ~2 s, a fifth of this file's budget.
    assert actual.shape == expected.shape
    assert (actual - expected).abs().max() <= atol, f"max difference {(actual - expected).abs().max():.3g} > {atol}"


def build(name: str, seed: int = 0, **overrides: Any) -> torch.nn.Module:
    backbone = BACKBONES.get(name)
    torch.manual_seed(seed)
    return backbone.build(backbone.config(**{**TINY[name][0], **overrides}))


def saturate(module: torch.nn.Module) -> None:
    """Large random weights, so an unbounded output would leave [-1, 1] by far."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0.0, 1.0)


# --- U-Net ----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(16, 16), (32, 8), (17, 23), (5, 40), (3, 3), (1, 1)])
@pytest.mark.parametrize("channels", [(3, 3), (1, 3), (3, 1)])
def test_unet_keeps_any_size(size, channels):
    in_ch, out_ch = channels
    net = UNetGenerator(in_channels=in_ch, out_channels=out_ch, **TINY_UNET).eval()
    with torch.no_grad():
        out = net(images(2, in_ch, *size))
    assert out.shape == (2, out_ch, *size)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
@pytest.mark.parametrize("size", [(8, 8), (9, 15)])  # 8 = 2**depth: the innermost level is 1 x 1
def test_unet_trains_with_every_norm(norm, size):
    net = UNetGenerator(norm=norm, dropout=0.5, **TINY_UNET).train()
    x = images(2, 3, *size)
    out = net(x)
    out.square().mean().backward()
    assert out.shape == x.shape
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("residual", [False, True])
def test_unet_output_stays_in_range(residual):
    net = UNetGenerator(residual=residual, **TINY_UNET).eval()
    saturate(net)
    with torch.no_grad():
        out = net(images(2, 3, 16, 12))
    assert out.abs().max() <= 1.0
    assert out.abs().max() > 0.99  # the weights are large enough to drive the output to its bounds


@pytest.mark.parametrize("size", [(16, 16), (13, 21), (2, 5)])
def test_residual_unet_starts_as_identity(size):
    # Zero delta at initialisation: also checks that padding and cropping keep pixels in place.
    net = UNetGenerator(residual=True, **TINY_UNET).eval()
    x = images(2, 3, *size) * 0.99
    with torch.no_grad():
        out = net(x)
    assert_near(out, x, atol=1e-5)
    plain = UNetGenerator(residual=False, **TINY_UNET).eval()
    with torch.no_grad():
        assert (plain(x) - x).abs().max() > 0.1


@pytest.mark.parametrize("size", [(13, 21), (9, 8)])
def test_unet_output_of_any_size_is_the_crop_of_its_padded_input(size):
    """Documented: H and W are reflect-padded evenly (the odd pixel at the bottom and right) to
    multiples of 2**depth, and the output is cropped back to the original pixels."""
    net = UNetGenerator(**TINY_UNET).eval()
    x = images(2, 3, *size)
    multiple = 2 ** TINY_UNET["depth"]
    pad_h, pad_w = -size[0] % multiple, -size[1] % multiple
    top, left = pad_h // 2, pad_w // 2
    padded = torch.nn.functional.pad(x, (left, pad_w - left, top, pad_h - top), mode="reflect")
    with torch.no_grad():
        expected = net(padded)[:, :, top : top + size[0], left : left + size[1]]
        assert_near(net(x), expected, atol=1e-5)


def test_dropout_only_in_train_mode():
    net = UNetGenerator(dropout=0.5, **TINY_UNET)
    x = images(2, 3, 16, 16)
    assert any(isinstance(m, torch.nn.Dropout) for m in net.modules())
    net.train()
    torch.manual_seed(0)
    first = net(x)
    assert not torch.equal(first, net(x))  # a new dropout mask per call
    net.eval()
    assert torch.equal(net(x), net(x))


def test_unet_refuses_wrong_channels_in_one_line():
    net = UNetGenerator(in_channels=3, **TINY_UNET)
    with pytest.raises(GanforgeError, match=r"\(N, 3, H, W\)") as info:
        net(images(1, 1, 16, 16))
    assert "\n" not in str(info.value)


def test_unet_config_refuses_residual_with_different_channels():
    with pytest.raises(ValidationError) as info:
        UNetConfig(in_channels=1, out_channels=3, residual=True)
    message = info.value.errors()[0]["msg"]
    assert "residual" in message and "in_channels == out_channels" in message and "\n" not in message
    UNetConfig(in_channels=3, out_channels=3, residual=True)  # same channels: accepted
    with pytest.raises(ValueError, match="residual"):
        UNetGenerator(in_channels=1, out_channels=3, residual=True)


def test_unet_channels_follow_width_and_cap():
    def count(**kwargs):
        return sum(p.numel() for p in UNetGenerator(**{**TINY_UNET, **kwargs}).parameters())

    assert count(width=8) > count(width=4)
    assert count(depth=4) > count(depth=3)
    # With the cap at `width`, every level has `width` channels; raising the cap adds parameters.
    assert count(depth=5, max_channels=4) < count(depth=5, max_channels=64)
    assert count(depth=5, max_channels=4) == count(depth=5, max_channels=4, width=16)
    default = sum(p.numel() for p in UNetGenerator().parameters())
    assert 200_000 < default < 20_000_000


# --- PatchGAN -------------------------------------------------------------------------------


@pytest.mark.parametrize(("layers", "height", "width"), [(1, 6, 6), (2, 12, 19), (2, 24, 28), (3, 64, 47)])
def test_patchgan_output_size(layers, height, width):
    net = PatchDiscriminator(in_channels=4, width=4, layers=layers, max_channels=16).eval()
    with torch.no_grad():
        out = net(images(2, 4, height, width))
    assert out.shape == (2, 1, height // 2**layers - 2, width // 2**layers - 2)


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_patchgan_receptive_field_matches_formula(layers):
    """The input pixels one interior logit depends on form a square of side 9 * 2**layers - 2."""
    net = PatchDiscriminator(in_channels=1, width=2, layers=layers, max_channels=4, norm="none").double()
    side = receptive_field(layers) + 2 ** (layers + 2)  # room for the field of a central logit
    x = torch.randn(1, 1, side, side, dtype=torch.float64, requires_grad=True)
    out = net(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    touched = x.grad[0, 0] != 0
    rows, cols = touched.any(dim=1).nonzero(), touched.any(dim=0).nonzero()
    assert rows.max() - rows.min() + 1 == receptive_field(layers)
    assert cols.max() - cols.min() + 1 == receptive_field(layers)
    assert 0 < rows.min() and rows.max() < side - 1  # the field lay inside the image
    assert receptive_field(3) == 70  # the paper's 70 x 70 PatchGAN


def test_patchgan_refuses_small_images_in_one_line():
    net = PatchDiscriminator(in_channels=6, width=4, layers=3)
    with pytest.raises(GanforgeError, match="at least 24 x 24") as info:
        net(images(1, 6, 23, 64))
    assert "\n" not in str(info.value)
    assert net(images(1, 6, 24, 24)).shape == (1, 1, 1, 1)


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_patchgan_trains_with_every_norm(norm):
    net = PatchDiscriminator(in_channels=6, norm=norm, **TINY_PATCH).train()
    out = net(images(2, 6, 12, 12))  # the smallest size for 2 layers: 1 x 1 logits
    out.mean().backward()
    assert out.shape == (2, 1, 1, 1)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def test_patchgan_spectral_norm_on_every_conv():
    net = PatchDiscriminator(spectral_norm=True, **TINY_PATCH)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == TINY_PATCH["layers"] + 2
    assert all(is_parametrized(conv, "weight") for conv in convs)
    plain = PatchDiscriminator(spectral_norm=False, **TINY_PATCH)
    assert not any(is_parametrized(m, "weight") for m in plain.modules() if isinstance(m, torch.nn.Conv2d))


# --- every backbone -------------------------------------------------------------------------


@pytest.mark.parametrize(("cls", "config"), [(UNetGenerator, UNetConfig), (PatchDiscriminator, PatchGANConfig),
                                             (ResnetGenerator, ResnetGeneratorConfig)])
def test_keyword_only_and_config_matches_constructor(cls, config):
    with pytest.raises(TypeError):
        cls(3)
    with pytest.raises(ValidationError) as info:
        config(widht=8)
    assert info.value.errors()[0]["type"] == "extra_forbidden"
    # The config's fields are exactly the constructor's keyword arguments, defaults included.
    params = inspect.signature(cls.__init__).parameters
    kwargs = {name: p.default for name, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert kwargs == config().model_dump()
    assert all(field.description for field in config.model_fields.values())


@pytest.mark.parametrize("name", BACKBONES.names())
def test_backbone_builds_from_default_config(name):
    backbone = BACKBONES.get(name)
    net = backbone.build(backbone.config()).eval()
    cfg = backbone.config()
    x = images(1, cfg.in_channels, 64, 48)
    with torch.no_grad():
        out = net(x)
    if backbone.role == "generator":
        assert out.shape == (1, cfg.out_channels, 64, 48)
    else:
        assert out.dim() == 4 and out.shape[:2] == (1, 1) and out.shape[2] < 64


@pytest.mark.parametrize("name", BACKBONES.names())
def test_backbone_has_tiny_setting(name):
    assert name in TINY, f"add a tiny setting for backbone '{name}' to TINY in {__file__}"


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_backbone_save_load_round_trip(name, norm, tmp_path):
    x = images(2, *TINY[name][1])
    norm_arg = {"norm": norm} if "norm" in BACKBONES.get(name).config.model_fields else {}
    saved = build(name, seed=0, **norm_arg).train()
    with torch.no_grad():
        saved(x)  # moves batch norm's running statistics away from their start, so buffers count
    saved.eval()
    other = build(name, seed=1, **norm_arg).eval()
    with torch.no_grad():
        assert not torch.equal(saved(x), other(x))
        path = tmp_path / "weights.safetensors"
        save_file({k: v.contiguous() for k, v in saved.state_dict().items()}, str(path))
        other.load_state_dict(load_file(str(path)), strict=True)
        assert torch.equal(other(x), saved(x))


@pytest.mark.parametrize("name", sorted(TINY))
def test_backbone_is_deterministic_and_batch_independent(name):
    x = images(3, *TINY[name][1])
    first, second = build(name, seed=0).eval(), build(name, seed=0).eval()
    with torch.no_grad():
        out = first(x)
        assert torch.equal(second(x), out)  # same seed, same network
        assert_near(first(x[1:2]), out[1:2], atol=1e-5)  # alone or in a batch
        assert not torch.equal(build(name, seed=1).eval()(x), out)
