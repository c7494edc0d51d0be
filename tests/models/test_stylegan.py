"""StyleGAN2-specific behaviour; shapes, save/load, seeding and gradients are in test_models.py.

Modulated convolution (fast path against the paper's per-sample weights, demodulation),
the mapping network (truncation, the tracked average w), noise inputs, style mixing, the
layout over resolutions and architectures, and the config.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ganforge.tasks import build_config
from ganforge.errors import GanforgeError
from ganforge.models import MODELS
from ganforge.models.layers import EqualConv2d, EqualLinear
from ganforge.models.stylegan import (
    W_AVG_BETA,
    Discriminator,
    Generator,
    ModulatedConv2d,
    StyleGANConfig,
    SynthesisLayer,
    ToRGB,
    modulated_conv2d,
)

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(latent_dim=16, w_dim=16, mapping_layers=2, width=8, max_channels=16)
PARITY_ATOL = 1e-4  # float32, fast path against the per-sample-weight reference


def make_g(seed: int = 0, **overrides) -> Generator:
    kwargs = dict(TINY, resolution=32, channels=3) | overrides
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Generator(**kwargs)


def latents(n: int = 4, dim: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


def set_noise_strength(G: Generator, value: float) -> None:
    with torch.no_grad():
        for m in G.modules():
            if isinstance(m, SynthesisLayer):
                m.noise_strength.fill_(value)


# ---------------------------------------------------------------------- modulated convolution
def _paper_modulated_conv(x, weight, styles, *, demodulate, upsample, eps=1e-8):
    """Eq. 1-3 of Karras et al. 2020 written per sample, one ordinary convolution each."""
    outs = []
    for n in range(x.shape[0]):
        w = weight * styles[n].view(1, -1, 1, 1)  # w'_ijk = s_i w_ijk
        if demodulate:
            w = w / torch.sqrt(w.square().sum(dim=(1, 2, 3), keepdim=True) + eps)  # w''_ijk
        xn = x[n : n + 1]
        if upsample:
            xn = F.interpolate(xn, scale_factor=2, mode="bilinear", align_corners=False)
        outs.append(F.conv2d(xn, w, padding=weight.shape[-1] // 2))
    return torch.cat(outs)


@pytest.mark.parametrize("kernel", [3, 1])
@pytest.mark.parametrize("upsample", [False, True])
@pytest.mark.parametrize("demodulate", [True, False])
def test_fast_and_reference_modulated_conv_agree(kernel, upsample, demodulate):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 8, 8, generator=g)
    weight = torch.randn(6, 5, kernel, kernel, generator=g) / math.sqrt(5 * kernel * kernel)
    styles = torch.randn(3, 5, generator=g) + 1  # some negative, some near zero, like trained styles
    expected = _paper_modulated_conv(x, weight, styles, demodulate=demodulate, upsample=upsample)
    assert expected.shape == (3, 6, 16 if upsample else 8, 16 if upsample else 8)
    assert expected.abs().max() > 0.1  # guard: a trivially small output would pass any tolerance
    for reference in (True, False):
        out = modulated_conv2d(x, weight, styles, demodulate=demodulate, upsample=upsample, reference=reference)
        assert out.shape == expected.shape
        assert (out - expected).abs().max() < PARITY_ATOL, f"reference={reference}"


def test_whole_generator_agrees_on_the_reference_path():
    G = make_g(num_classes=3, architecture="skip").eval()
    set_noise_strength(G, 0.3)
    z, y = latents(), torch.tensor([0, 1, 2, 1])
    fast = G(z, y)
    convs = [m for m in G.modules() if isinstance(m, ModulatedConv2d)]
    assert convs and not any(m.reference for m in convs)  # the fast path is the default
    for m in convs:
        m.reference = True
    assert (G(z, y) - fast).abs().max() < PARITY_ATOL


def test_demodulation_restores_unit_output_std():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 64, 24, 24, generator=g)  # independent unit-variance inputs
    weight = torch.randn(16, 64, 3, 3, generator=g) * 0.3
    styles = 3 * torch.exp(0.5 * torch.randn(8, 64, generator=g))  # far from 1, varying per sample
    for demodulate in (True, False):
        out = modulated_conv2d(x, weight, styles, demodulate=demodulate)[:, :, 1:-1, 1:-1]  # drop padded rim
        std = out.std(dim=(0, 2, 3))  # per output channel
        if demodulate:
            torch.testing.assert_close(std, torch.ones(16), atol=0.1, rtol=0)
            assert abs(out.std().item() - 1) < 0.03
        else:  # guard: the same styles without demodulation are far from unit std
            assert (std > 2).all()


# --------------------------------------------------------------------------- equalized layers
def test_equal_linear_uses_runtime_scale_and_lr_mult():
    torch.manual_seed(0)
    layer = EqualLinear(64, 32, bias_init=0.5, lr_mult=0.01)
    x = torch.randn(5, 64)
    expected = F.linear(x, layer.weight * 0.01 / 8, layer.bias * 0.01)
    torch.testing.assert_close(layer(x), expected)
    torch.testing.assert_close(layer.bias * 0.01, torch.full((32,), 0.5))
    # The effective weight is He-initialised whatever lr_mult is (2048 entries: std within 10%).
    for lr_mult in (1.0, 0.01):
        eff = EqualLinear(64, 32, lr_mult=lr_mult).weight * lr_mult / 8
        assert abs(eff.std().item() - 1 / 8) < 0.1 / 8


def test_equal_conv_scales_by_fan_in():
    torch.manual_seed(0)
    conv = EqualConv2d(4, 6, 3)
    with torch.no_grad():
        conv.bias.normal_()
    x = torch.randn(2, 4, 5, 5)
    expected = F.conv2d(x, conv.weight / math.sqrt(4 * 9), conv.bias, padding=1)
    torch.testing.assert_close(conv(x), expected)
    assert conv(x).shape == (2, 6, 5, 5)


# ----------------------------------------------------------------------------------- mapping
def _train_w_avg(G: Generator, labels: torch.Tensor | None, steps: int = 3) -> None:
    G.train()
    with torch.no_grad():
        for s in range(steps):
            G.mapping(latents(len(labels) if labels is not None else 4, seed=10 + s), labels)


@pytest.mark.parametrize("num_classes", [0, 3])
def test_truncation_psi_zero_gives_the_average_and_psi_one_changes_nothing(num_classes):
    G = make_g(num_classes=num_classes)
    labels = torch.tensor([0, 1, 2, 1, 0, 2]) if num_classes else None
    _train_w_avg(G, labels, steps=5)
    G.eval()
    assert G.w_avg.abs().sum(dim=1).min() > 0  # guard: a zero average would hide a wrong row
    z = latents(6)
    plain = G.mapping(z, labels)
    assert plain.shape == (6, G.num_ws, G.w_dim)
    assert torch.equal(G.mapping(z, labels, psi=1.0), plain)
    rows = G.w_avg[labels] if num_classes else G.w_avg[0].expand(6, -1)
    for seed in (1, 2):  # every z lands on the average of its class
        ws0 = G.mapping(latents(6, seed=seed), labels, psi=0.0)
        torch.testing.assert_close(ws0, rows.unsqueeze(1).expand_as(ws0), rtol=0, atol=1e-6)
    half = G.mapping(z, labels, psi=0.5)
    torch.testing.assert_close(half, (plain + rows.unsqueeze(1)) / 2)
    cut = G.mapping(z, labels, psi=0.0, truncation_cutoff=2)
    torch.testing.assert_close(cut[:, :2], rows.unsqueeze(1).expand(-1, 2, -1), rtol=0, atol=1e-6)
    assert torch.equal(cut[:, 2:], plain[:, 2:])


def test_w_avg_is_an_ema_per_class_updated_only_in_train_mode():
    G = make_g(num_classes=3).eval()
    z = latents(4)
    ones = torch.ones(4, dtype=torch.long)
    G.mapping(z, ones)
    G(z, ones)
    assert torch.equal(G.w_avg, torch.zeros(3, G.w_dim)), "eval mode must not move w_avg"
    G.train()
    with torch.no_grad():
        w = G.mapping(z, ones)[:, 0]
    # From zero, one EMA step leaves (1 - beta) * batch mean in the row of class 1 only.
    torch.testing.assert_close(G.w_avg[1], (1 - W_AVG_BETA) * w.mean(dim=0))
    assert torch.equal(G.w_avg[0], torch.zeros(G.w_dim)) and torch.equal(G.w_avg[2], torch.zeros(G.w_dim))
    before = G.w_avg.clone()
    labels = torch.tensor([0, 2, 2, 0])
    with torch.no_grad():
        w = G.mapping(z, labels)[:, 0]
    torch.testing.assert_close(G.w_avg[0], (1 - W_AVG_BETA) * w[[0, 3]].mean(dim=0))
    torch.testing.assert_close(G.w_avg[2], (1 - W_AVG_BETA) * w[[1, 2]].mean(dim=0))
    assert torch.equal(G.w_avg[1], before[1])
    assert G.w_avg.dtype == torch.float32 and not G.w_avg.requires_grad


def test_w_avg_ignores_the_second_latent_of_style_mixing():
    G = make_g(mixing_prob=1.0).train()
    z = latents(4)
    with torch.no_grad():
        w = G.mapping(z, update_w_avg=False)[:, 0]
        G(z)
    torch.testing.assert_close(G.w_avg[0], (1 - W_AVG_BETA) * w.mean(dim=0))


def test_conditional_mapping_without_labels_raises():
    G = make_g(num_classes=3)
    with pytest.raises(ValueError, match="labels"):
        G.mapping(latents(), None)


def test_conditional_generator_depends_on_labels_from_initialisation():
    G = make_g(num_classes=3).eval()
    z = latents(4)
    outs = [G(z, torch.full((4,), k)) for k in range(3)]
    for a, b in ((0, 1), (0, 2), (1, 2)):
        assert ((outs[a] - outs[b]).flatten(1).abs().amax(dim=1) > 1e-4).all()


# --------------------------------------------------------------------------------- noise
def test_eval_mode_is_deterministic_and_train_mode_noise_varies():
    G = make_g(mixing_prob=0.0)
    z = latents(2)
    G.train()
    assert torch.equal(G(z), G(z)), "with zero noise strength and no mixing, train mode has no randomness"
    set_noise_strength(G, 0.5)
    G.eval()
    a = G(z)
    assert torch.equal(a, G(z)), "eval mode (const noise) must repeat itself"
    assert torch.equal(a, G(z, noise_mode="const"))
    assert not torch.equal(a, G(z, noise_mode="none"))
    assert not torch.equal(G(z, noise_mode="random"), G(z, noise_mode="random"))
    G.train()
    assert not torch.equal(G(z), G(z)), "train mode draws fresh noise"
    assert torch.equal(G(z, noise_mode="const"), a)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(4)
        first = G(z)
        torch.manual_seed(4)
        assert torch.equal(first, G(z)), "random noise comes from torch's global RNG"


def test_const_noise_buffers_are_saved_and_differ_per_layer():
    G = make_g()
    keys = [k for k in G.state_dict() if k.endswith("noise_const")]
    assert len(keys) == 2 * len(G.blocks)
    small = [G.state_dict()[k] for k in keys if G.state_dict()[k].shape[-1] == 4]
    assert len(small) == 2 and not torch.equal(small[0], small[1])


def test_unknown_noise_mode_is_refused():
    G = make_g()
    with pytest.raises(ValueError, match="noise_mode"):
        G(latents(), noise_mode="fixed")


# -------------------------------------------------------------------------------- mixing
def _capture_ws(G: Generator, z: torch.Tensor, labels=None) -> torch.Tensor:
    seen = []
    synthesis = G.synthesis

    def spy(ws, **kwargs):
        seen.append(ws.detach().clone())
        return synthesis(ws, **kwargs)

    G.synthesis = spy
    try:
        G(z, labels)
    finally:
        del G.synthesis
    return seen[0]


def _crossover(ws: torch.Tensor) -> int:
    """Index of the first layer whose w differs from layer 0's (num_ws: no mixing)."""
    same = (ws == ws[:, :1]).all(dim=2).all(dim=0)  # (num_ws,)
    differs = (~same).nonzero()
    return int(differs[0]) if len(differs) else ws.shape[1]


def test_style_mixing_switches_to_a_second_w_at_one_crossover_in_train_mode():
    G = make_g(mixing_prob=1.0, num_classes=3).train()
    z, y = latents(4), torch.tensor([0, 1, 2, 0])
    cutoffs = set()
    for _ in range(12):
        ws = _capture_ws(G, z, y)
        c = _crossover(ws)
        assert 1 <= c < G.num_ws, "with mixing_prob=1 every batch is mixed"
        assert (ws[:, :c] == ws[:, :1]).all() and (ws[:, c:] == ws[:, -1:]).all()  # one crossover
        assert ((ws[:, 0] - ws[:, -1]).abs().amax(dim=1) > 0).all()  # every sample mixes
        cutoffs.add(c)
    assert len(cutoffs) > 1, "the crossover layer should be random"


def test_no_style_mixing_in_eval_mode_or_with_zero_probability():
    z = latents(4)
    G = make_g(mixing_prob=1.0).eval()
    assert _crossover(_capture_ws(G, z)) == G.num_ws
    G = make_g(mixing_prob=0.0).train()
    assert _crossover(_capture_ws(G, z)) == G.num_ws


# -------------------------------------------------------------------------------- layout
@pytest.mark.parametrize("architecture", ["skip", "resnet"])
def test_synthesis_consumes_exactly_num_ws_styles(architecture):
    G = make_g(architecture=architecture).eval()
    assert G.num_ws == 2 * 4 + 1  # 4x4 .. 32x32: two convolutions each, plus the last toRGB
    ws = G.mapping(latents(2))
    base = G.synthesis(ws)
    for i in range(G.num_ws):  # every style is read by some layer
        bumped = ws.clone()
        bumped[:, i] += 1
        assert not torch.equal(G.synthesis(bumped), base), f"ws[:, {i}] is not used"
    for bad in (ws[:, :-1], torch.cat([ws, ws[:, :1]], dim=1)):
        with pytest.raises(ValueError, match=str(G.num_ws)):
            G.synthesis(bad)


@pytest.mark.parametrize("architecture", ["skip", "resnet"])
@pytest.mark.parametrize("channels", [1, 3])
def test_both_architectures_give_image_shapes(architecture, channels):
    G = make_g(architecture=architecture, channels=channels)
    out = G(latents(2))
    assert out.shape == (2, channels, 32, 32) and torch.isfinite(out).all()
    torgbs = [m for m in G.modules() if isinstance(m, ToRGB)]
    assert len(torgbs) == (len(G.blocks) if architecture == "skip" else 1)


@pytest.mark.parametrize("resolution", [32, 64, 128, 256])
def test_every_supported_resolution_builds_and_runs(resolution):
    tiny = dict(width=1, max_channels=4, w_dim=8, mapping_layers=1, latent_dim=8)
    G = make_g(resolution=resolution, channels=3, **tiny).eval()
    assert G.num_ws == 2 * (int(math.log2(resolution)) - 1) + 1
    img = G(latents(2, dim=8))
    assert img.shape == (2, 3, resolution, resolution)
    D = Discriminator(resolution=resolution, channels=3, width=1, max_channels=4)
    scores, aux = D(img)
    assert scores.shape == (2,) and aux is None and torch.isfinite(scores).all()
    # Channels: width at the output, doubling per halving, capped at max_channels.
    assert G.blocks[-1].conv1.bias.numel() == 1 and G.const.shape[0] == 4


@pytest.mark.parametrize("resolution", [48, 16, 512])
def test_unsupported_resolution_is_a_one_line_user_error(resolution):
    cfg = StyleGANConfig(output_shape=(1, resolution, resolution), **TINY)
    family = MODELS.get("stylegan")
    for build in (family.build_generator, family.build_discriminator):
        with pytest.raises(GanforgeError, match=rf"32, 64, 128, 256.*{resolution}") as err:
            build(cfg)
        assert "\n" not in str(err.value)


def test_unsupported_channels_and_non_square_data_are_user_errors():
    family = MODELS.get("stylegan")
    with pytest.raises(GanforgeError, match="1 or 3 channels"):
        family.build_generator(StyleGANConfig(output_shape=(2, 32, 32), **TINY))
    for shape in [(2,), (1, 32, 64)]:
        with pytest.raises(GanforgeError, match="square"):
            family.build_discriminator(StyleGANConfig(output_shape=shape, **TINY))


# -------------------------------------------------------------------------------- config
def test_config_through_build_config():
    raw = {
        "data": {"dataset": "fashion-mnist"},
        "model": {"family": "stylegan", "w_dim": 32, "architecture": "resnet", "mixing_prob": 0.5},
    }
    cfg = build_config(raw).model
    assert isinstance(cfg, StyleGANConfig)
    assert (cfg.w_dim, cfg.architecture, cfg.mixing_prob) == (32, "resnet", 0.5)
    defaults = StyleGANConfig()
    assert (defaults.latent_dim, defaults.w_dim, defaults.mapping_layers, defaults.width) == (128, 256, 4, 32)
    assert (defaults.max_channels, defaults.architecture, defaults.mixing_prob) == (256, "skip", 0.9)
    assert defaults.mapping_lr_mult == 0.01 and defaults.minibatch_std is True
    missing = [name for name, f in StyleGANConfig.model_fields.items() if not f.description]
    assert not missing, f"fields without a description: {missing}"
    # The config builds a model that reads its fields.
    cfg = cfg.model_copy(update={"output_shape": (1, 32, 32), "width": 4, "max_channels": 8, "latent_dim": 8})
    G = MODELS.get("stylegan").build_generator(cfg)
    assert G.w_dim == 32 and G.latent_dim == 8 and G.mixing_prob == 0.5 and G.output_shape == (1, 32, 32)
    assert not any(isinstance(m, ToRGB) for m in G.blocks[0].modules())  # resnet: no early toRGB


@pytest.mark.parametrize(
    "model, match",
    [
        ({"style_dim": 64}, r"unknown config key 'model\.style_dim'.*w_dim"),
        ({"architecture": "orig"}, r"model\.architecture"),
        ({"mixing_prob": 1.5}, r"model\.mixing_prob"),
        ({"mapping_layers": 0}, r"model\.mapping_layers"),
    ],
)
def test_config_refuses_unknown_keys_and_bad_values(model, match):
    raw = {"data": {"dataset": "fashion-mnist"}, "model": {"family": "stylegan", **model}}
    with pytest.raises(GanforgeError, match=match) as err:
        build_config(raw)
    assert "\n" not in str(err.value)
