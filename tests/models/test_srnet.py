"""SRNet (``models/srnet.py``): shapes, config checks, the receptive radius, the bicubic start
and save/load. Tiny CPU networks (width 8, depth 2)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError

from ganforge.checkpoint import load_into, save_weights
from ganforge.errors import GanforgeError
from ganforge.models import BACKBONES
from ganforge.models.srnet import SRNet, SRNetConfig, bicubic_as_conv
from ganforge.tasks import build_config

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"width": 8, "depth": 2}


def build(seed: int = 0, **kw) -> SRNet:
    torch.manual_seed(seed)
    backbone = BACKBONES.get("srnet")
    return backbone.build(backbone.config(**{**TINY, **kw})).eval()


def images(n: int, c: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_registered_as_a_generator_backbone():
    backbone = BACKBONES.get("srnet")
    assert backbone.role == "generator" and backbone.config is SRNetConfig
    assert isinstance(build(), SRNet)


@pytest.mark.parametrize("scale", [1, 2, 4])
@pytest.mark.parametrize("unshuffle", [1, 2])
@pytest.mark.parametrize("in_channels", [3, 4])
def test_output_shape(scale, unshuffle, in_channels):
    net = build(scale=scale, unshuffle=unshuffle, in_channels=in_channels, out_channels=3)
    assert net.alignment == unshuffle
    with torch.no_grad():
        out = net(images(2, in_channels, 12, 20))
    assert out.shape == (2, 3, 12 * scale, 20 * scale)
    assert torch.isfinite(out).all()


def test_keyword_only_and_config_matches_constructor():
    import inspect

    with pytest.raises(TypeError):
        SRNet(3)  # type: ignore[misc]
    params = inspect.signature(SRNet.__init__).parameters
    kwargs = {n: p.default for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert kwargs == SRNetConfig().model_dump()
    assert all(field.description for field in SRNetConfig.model_fields.values())


@pytest.mark.parametrize(("fields", "message"), [
    ({"scale": 3}, "scale must be 1, 2 or 4, got 3"),
    ({"unshuffle": 3}, "unshuffle must be 1 or 2, got 3"),
    ({"in_channels": 1, "out_channels": 3}, "residual needs in_channels >= out_channels"),
    ({"widht": 8}, "Extra inputs are not permitted"),
])
def test_config_refuses_bad_values(fields, message):
    with pytest.raises(ValidationError) as info:
        SRNetConfig(**fields)
    assert message in str(info.value)


def test_residual_false_allows_fewer_input_channels():
    net = build(in_channels=1, out_channels=2, residual=False)
    with torch.no_grad():
        assert net(images(1, 1, 8, 8)).shape == (1, 2, 8, 8)


def enhance_config(g: dict, **top) -> dict:
    return {"task": "enhance", "name": "t", "tool": "upscale", "scale": 2, "data": {"dataset": "photos"},
            "model": {"generator": "srnet", "g": g}, **top}


@pytest.mark.parametrize(("g", "message"), [
    ({"scale": 3}, "scale must be 1, 2 or 4, got 3"),
    ({"unshuffle": 3}, "unshuffle must be 1 or 2, got 3"),
    ({"in_channels": 1, "out_channels": 3}, "residual needs in_channels >= out_channels"),
    ({"widht": 8}, "unknown key 'model.g.widht' for backbone srnet"),
])
def test_build_config_gives_one_line_errors(g, message):
    with pytest.raises(GanforgeError) as info:
        build_config(enhance_config(g))
    assert message in str(info.value)
    assert "\n" not in str(info.value).strip()


def test_enhance_config_with_only_g_keeps_srnet():
    """BUG (tasks/enhance.py, EnhanceConfig.model): the enhance task's default generator is srnet,
    but a ``model`` section that sets only ``g`` (or a ``model.g.width=...`` override on a preset
    without a model section) replaces the whole default ``PairedModelConfig``, so the generator
    silently becomes a U-Net and D loses spectral norm."""
    raw = enhance_config({"width": 8})
    del raw["model"]["generator"]
    cfg = build_config(raw)
    assert cfg.model.generator == "srnet"
    assert cfg.model.d.get("spectral_norm") is True


def test_enhance_colorize_with_the_default_generator_builds_or_gives_a_user_error():
    """BUG (tasks/enhance.py, EnhanceTask.resolve_config): ``tool: colorize`` with the default
    generator (srnet, residual=True) sets in_channels=1, out_channels=2 after validation
    (``model_copy`` does not validate), so building G raises a raw pydantic ValidationError
    (a traceback) instead of working (residual off for colorize) or a one-line GanforgeError."""
    from ganforge.tasks.enhance import EnhanceTask

    cfg = build_config({"task": "enhance", "name": "t", "tool": "colorize", "scale": 1, "data": {"dataset": "photos"}})
    resolved = EnhanceTask.resolve_config(cfg, SimpleNamespace(kind="image", sample_shape=(3, 32, 32)))
    try:
        net = resolved.model.build("generator")
    except GanforgeError:
        return  # a clear user error is acceptable
    with torch.no_grad():
        assert net(images(1, 1, 8, 8)).shape == (1, 2, 8, 8)


# --- receptive radius -----------------------------------------------------------------------


def output_distance(shape: tuple[int, int], scale: int, pixel: tuple[int, int]) -> torch.Tensor:
    """Chebyshev distance, in input pixels, from each output pixel's centre to input ``pixel``."""
    ys = (torch.arange(shape[0]) + 0.5) / scale - 0.5
    xs = (torch.arange(shape[1]) + 0.5) / scale - 0.5
    return torch.maximum((ys - pixel[0]).abs()[:, None], (xs - pixel[1]).abs()[None, :])


@pytest.mark.parametrize(("scale", "unshuffle"), [(1, 1), (1, 2), (2, 1), (2, 2), (4, 1), (4, 2)])
def test_receptive_radius_bounds_the_reach_of_one_input_pixel(scale, unshuffle):
    net = build(scale=scale, unshuffle=unshuffle)
    r = net.receptive_radius
    x = images(1, 3, 48, 48, seed=1)
    pixel = (24, 25)
    moved = x.clone()
    moved[0, :, pixel[0], pixel[1]] += 1.0
    with torch.no_grad():
        changed = (net(moved) - net(x)).abs().amax(1)[0] > 0
    dist = output_distance(changed.shape, scale, pixel)
    # In output pixels, nothing farther than scale * r from the perturbed pixel may change.
    assert not changed[dist > r].any(), f"changes at distance {dist[changed].max():.2f} > radius {r}"
    assert changed[dist <= 1].all()  # the neighbourhood does change: the test can fail
    # Measured reach: the depth+2 convs of `unshuffle` input px each, plus under one body pixel
    # (4, 4.25, 4.375 at u=1 for scales 1, 2, 4; 9, 9.25, 9.375 at u=2). The radius adds the
    # bicubic taps (2) at scale > 1 on top of that, although they reach less far than the convs:
    # a safe, slightly loose bound (r = 7 vs 4.25 at scale 2, u=1).
    assert dist[changed].max() >= (TINY["depth"] + 2) * unshuffle


# --- start near bicubic ---------------------------------------------------------------------


# Measured over scales 1/2/4 and unshuffle 1/2, width 8 depth 2: mean |out - bicubic| 0.010-0.012,
# max 0.05-0.066 on [-1, 1] uniform noise inputs (the tail starts at 0.1x its default init).
INIT_MEAN_TOL = 0.03
INIT_MAX_TOL = 0.15


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_untrained_output_is_close_to_bicubic(scale):
    net = build(scale=scale, unshuffle=2)
    x = images(2, 3, 16, 16)
    with torch.no_grad():
        out = net(x)
    base = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False) if scale > 1 else x
    diff = (out - base).abs()
    assert diff.mean() < INIT_MEAN_TOL and diff.max() < INIT_MAX_TOL, (float(diff.mean()), float(diff.max()))
    assert diff.max() > 0  # not exactly zero: the tail is scaled down, not zeroed (see the source)
    # Without the residual path the network is nowhere near bicubic.
    plain = build(scale=scale, unshuffle=2, residual=False)
    with torch.no_grad():
        assert (plain(x) - base).abs().mean() > 5 * INIT_MEAN_TOL


def test_extra_input_channels_feed_the_body_not_the_residual():
    net = build(scale=2, in_channels=4, out_channels=3)
    x = images(1, 4, 12, 12)
    with torch.no_grad():
        out = net(x)
        base = F.interpolate(x[:, :3], scale_factor=2, mode="bicubic", align_corners=False)
        assert (out - base).abs().mean() < INIT_MEAN_TOL
        other = x.clone()
        other[:, 3] = -other[:, 3]
        assert not torch.equal(net(other), out)  # the level map is seen


# --- save / load ----------------------------------------------------------------------------


@pytest.mark.parametrize("kw", [{"scale": 2, "unshuffle": 2, "in_channels": 4}, {"scale": 4}])
def test_save_load_is_bit_identical(kw, tmp_path):
    saved = build(seed=0, **kw)
    other = build(seed=1, **kw)
    x = images(2, saved.in_channels, 8, 8)
    with torch.no_grad():
        assert not torch.equal(other(x), saved(x))
        path = tmp_path / "g.safetensors"
        save_weights(saved, path)
        load_into(other, path)
        for name, tensor in saved.state_dict().items():
            assert torch.equal(other.state_dict()[name], tensor), name
        assert torch.equal(other(x), saved(x))


def test_loading_weights_of_another_config_is_a_user_error(tmp_path):
    path = tmp_path / "g.safetensors"
    save_weights(build(scale=2), path)
    with pytest.raises(GanforgeError, match="do not fit this model's config"):
        load_into(build(scale=4), path)


def test_deterministic_and_batch_independent():
    x = images(3, 3, 8, 8)
    net = build(seed=0, scale=2)
    with torch.no_grad():
        out = net(x)
        assert torch.equal(build(seed=0, scale=2)(x), out)
        assert (net(x[1:2]) - out[1:2]).abs().max() < 1e-5
        assert not torch.equal(build(seed=1, scale=2)(x), out)


@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("size", [(1, 3), (7, 5), (32, 17)])
def test_bicubic_as_conv_equals_torch_bicubic(scale, size):
    """The ONNX export's bicubic (edge pad, per-phase 5x5 depthwise conv, pixel shuffle) is
    torch's align_corners=False bicubic up to float rounding, borders and 1-pixel inputs included."""
    x = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(scale)).mul(2).sub(1)
    want = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
    assert (bicubic_as_conv(x, scale) - want).abs().max() < 1e-6
