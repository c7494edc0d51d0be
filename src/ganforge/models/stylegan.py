"""StyleGAN2 (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN").

G is a mapping network z -> w followed by a synthesis network that starts from a learned
4x4 constant and, at every resolution up to the output, applies two modulated 3x3
convolutions (the first one upsampling), each followed by per-pixel noise, a bias and a
leaky ReLU. Each convolution reads its own copy of w (``ws[:, i]``), which is what makes
style mixing and truncation per layer possible. The output is either the sum of a toRGB at
every resolution (``skip``) or one toRGB after residual blocks (``resnet``); it is linear,
not squashed by tanh. D is the residual discriminator of the paper with minibatch standard
deviation at 4x4. Every convolution and linear layer uses the equalized learning rate.

Sizes 32, 64, 128 and 256 px, 1 or 3 channels. Channels at resolution r are
``min(max_channels, width * resolution // r)``: ``width`` at the output, doubling with each
halving of the resolution.

Differences from the paper, for a small pure-PyTorch library: 2x resampling is bilinear
(align_corners=False, which is the [1, 3, 3, 1] filter of the paper applied separably) in
G and 2x2 average pooling in D; the 4x4 block has two convolutions like every other block;
there is no path-length regularisation or lazy regularisation here (losses live elsewhere).
"""

from __future__ import annotations

import math
from typing import Literal, Sequence

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from ..schema import FamilyConfig
from ..errors import GanforgeError
from .base import ModelFamily, register_model, square_image_shape
from .layers import (
    DiscriminatorHead,
    EqualConv2d,
    EqualLinear,
    MinibatchStd,
    TraitEmbedding,
    maybe_sn,
    pack_samples,
    scaled_leaky_relu,
    trait_index,
    trait_sizes,
)

RESOLUTIONS = (32, 64, 128, 256)
CHANNELS = (1, 3)
NOISE_MODES = ("auto", "random", "const", "none")
W_AVG_BETA = 0.995  # EMA decay of the tracked average w, per mapping call in train mode


def _check_layout(resolution: int, channels: int) -> None:
    if resolution not in RESOLUTIONS:
        accepted = ", ".join(map(str, RESOLUTIONS))
        raise GanforgeError(f"stylegan supports resolutions {accepted}, not {resolution}; set data.resolution")
    if channels not in CHANNELS:
        raise GanforgeError(f"stylegan supports 1 or 3 channels, not {channels}; set data.channels")


def _channels(resolution: int, width: int, max_channels: int) -> dict[int, int]:
    """Channels at each resolution 4, 8, ..., ``resolution``."""
    log2 = int(math.log2(resolution))
    return {2**i: min(max_channels, width * resolution // 2**i) for i in range(2, log2 + 1)}


def _upsample2x(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale each row of ``x`` (N, F) to unit mean square (StyleGAN's pixel norm on z)."""
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + eps)


class StyleGANConfig(FamilyConfig):
    family: Literal["stylegan"] = Field("stylegan", description="model family")
    latent_dim: int = Field(128, ge=1, description="size of the noise vector z")
    w_dim: int = Field(256, ge=1, description="size of the intermediate latent w (and of the label embedding)")
    mapping_layers: int = Field(4, ge=1, description="fully connected layers of the mapping network z -> w")
    width: int = Field(
        32, ge=1, description="channels at the output resolution; each halving of the resolution doubles them"
    )
    max_channels: int = Field(256, ge=1, description="upper bound on the channels at any resolution")
    architecture: Literal["skip", "resnet"] = Field(
        "skip", description="G output: skip (toRGB at every resolution, summed) or resnet (residual blocks, one toRGB)"
    )
    mixing_prob: float = Field(
        0.9, ge=0, le=1, description="style mixing regularisation: probability per training batch of a second z"
    )
    mapping_lr_mult: float = Field(0.01, gt=0, description="learning-rate multiplier of the mapping network")
    minibatch_std: bool = Field(True, description="append a minibatch standard-deviation feature in D")


# ------------------------------------------------------------------------ modulated convolution
def modulated_conv2d(
    x: torch.Tensor,  # (N, C_in, H, W)
    weight: torch.Tensor,  # (C_out, C_in, k, k), already scaled by the equalized-lr gain
    styles: torch.Tensor,  # (N, C_in): per-sample scale of each input channel
    *,
    demodulate: bool = True,
    upsample: bool = False,  # bilinear 2x upsampling before the convolution
    reference: bool = False,  # True: per-sample weights and a grouped convolution (the paper's form)
    eps: float = 1e-8,
) -> torch.Tensor:
    """StyleGAN2's weight modulation and demodulation (Karras et al. 2020, eq. 1-3).

    With ``s`` the styles, the modulated weight is ``w'_ijk = s_i w_ijk`` (eq. 1) and the
    demodulated one ``w''_ijk = w'_ijk / sqrt(sum_{i,k} w'_ijk^2 + eps)`` (eq. 3): for
    independent unit-variance inputs each output channel has unit variance again (eq. 2).

    ``reference=True`` builds the N weight tensors and runs one grouped convolution, exactly
    as written. The fast path (default) uses that convolution is linear: scaling the input
    channels by ``s`` and the output channels by the demodulation coefficients around one
    convolution with the shared weight gives the same result without N weight copies, and
    lets the convolution run as an ordinary batched one. Upsampling commutes with the
    per-channel input scaling, so both paths upsample just before the convolution.
    Returns (N, C_out, H', W') with H' = 2H when upsampling, else H.
    """
    n, c_in = x.shape[:2]
    c_out, _, kh, kw = weight.shape
    padding = kh // 2
    if reference:
        w = weight.unsqueeze(0) * styles.reshape(n, 1, c_in, 1, 1)  # (N, C_out, C_in, k, k), eq. 1
        if demodulate:
            w = w * torch.rsqrt(w.square().sum(dim=(2, 3, 4), keepdim=True) + eps)  # eq. 3
        if upsample:
            x = _upsample2x(x)
        h, wd = x.shape[2:]
        out = F.conv2d(x.reshape(1, n * c_in, h, wd), w.reshape(n * c_out, c_in, kh, kw), padding=padding, groups=n)
        return out.reshape(n, c_out, *out.shape[2:])
    x = x * styles.reshape(n, c_in, 1, 1)
    if upsample:
        x = _upsample2x(x)
    out = F.conv2d(x, weight, padding=padding)
    if demodulate:
        # sum_{i,k} (s_i w_ijk)^2 = sum_i s_i^2 (sum_k w_ijk^2): one (N, C_in) x (C_in, C_out) product
        dcoefs = torch.rsqrt(styles.square() @ weight.square().sum(dim=(2, 3)).t() + eps)  # (N, C_out)
        out = out * dcoefs.reshape(n, c_out, 1, 1)
    return out


class ModulatedConv2d(nn.Module):
    """A convolution whose input channels are scaled per sample by an affine map of w.

    The affine layer's bias starts at 1 so that every style starts near 1 (an ordinary
    convolution). Set ``reference = True`` to run the slow per-sample-weight path.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        w_dim: int,  # size of w
        demodulate: bool = True,
        upsample: bool = False,  # 2x upsampling before the convolution
    ) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)  # w -> styles (N, C_in)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)  # equalized lr
        self.demodulate, self.upsample = demodulate, upsample
        self.reference = False

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``x`` (N, C_in, H, W), ``w`` (N, w_dim) -> (N, C_out, H', W')."""
        return modulated_conv2d(
            x, self.weight * self.weight_gain, self.affine(w),
            demodulate=self.demodulate, upsample=self.upsample, reference=self.reference,
        )

    def extra_repr(self) -> str:
        c_out, c_in, k, _ = self.weight.shape
        return f"{c_in}, {c_out}, kernel_size={k}, demodulate={self.demodulate}, upsample={self.upsample}"


# --------------------------------------------------------------------------------- generator
class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv, then noise, bias and leaky ReLU; one w per call."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        w_dim: int,
        resolution: int,  # output resolution of this layer
        upsample: bool,
    ) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, w_dim=w_dim, upsample=upsample)
        # Noise strength starts at 0: G learns how much per-pixel randomness each layer wants.
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))  # for noise_mode="const"
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str) -> torch.Tensor:
        x = self.conv(x, w)
        if noise_mode == "random":
            x = x + self.noise_strength * torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
        elif noise_mode == "const":
            x = x + self.noise_strength * self.noise_const
        return scaled_leaky_relu(x + self.bias.reshape(1, -1, 1, 1))


class ToRGB(nn.Module):
    """Modulated 1x1 conv without demodulation, plus bias: features -> image (linear)."""

    def __init__(self, in_channels: int, channels: int, *, w_dim: int) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, channels, 1, w_dim=w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias.reshape(1, -1, 1, 1)


class SynthesisBlock(nn.Module):
    """Two synthesis layers at one resolution (the first upsamples, except at 4x4).

    ``skip``: a toRGB whose image is added to the upsampled image of the previous blocks.
    ``resnet``: the two layers are the residual branch of ``up(x)`` through a 1x1 conv,
    summed with gain sqrt(1/2) to keep the variance; only the last block has a toRGB.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        w_dim: int,
        resolution: int,
        channels: int,  # image channels
        architecture: str,  # skip | resnet
        is_last: bool,
    ) -> None:
        super().__init__()
        first = resolution == 4  # the input is the learned constant, already 4x4
        self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim=w_dim, resolution=resolution, upsample=not first)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim=w_dim, resolution=resolution, upsample=False)
        self.torgb = ToRGB(out_channels, channels, w_dim=w_dim) if architecture == "skip" or is_last else None
        resnet = architecture == "resnet" and not first
        self.skip = EqualConv2d(in_channels, out_channels, 1, bias=False) if resnet else None

    def forward(
        self, x: torch.Tensor, img: torch.Tensor | None, ws: torch.Tensor, noise_mode: str
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``ws`` (N, 3, w_dim): for conv0, conv1 and the toRGB (the next block's first w)."""
        y = self.conv1(self.conv0(x, ws[:, 0], noise_mode), ws[:, 1], noise_mode)
        if self.skip is not None:
            y = (self.skip(_upsample2x(x)) + y) * math.sqrt(0.5)
        if self.torgb is not None:
            rgb = self.torgb(y, ws[:, 2])
            img = rgb if img is None else _upsample2x(img) + rgb
        return y, img


class Generator(nn.Module):
    """StyleGAN2 generator: ``mapping`` (z -> ws), then ``synthesis`` (ws -> images).

    Attributes: ``latent_dim``, ``trait_sizes`` (values per trait, ``()`` unconditional), ``w_dim``,
    ``output_shape`` (C, H, W),
    ``num_ws`` (styles read by the synthesis network: ``2 * blocks + 1``, two convolutions
    per resolution plus the final toRGB; in the skip architecture a block's toRGB shares its
    w with the next block's first convolution, as in the paper) and the buffer ``w_avg``
    (K or 1, w_dim), the EMA of w per class used for truncation (with several traits, per value of
    the first trait).
    """

    bounded_output = False  # linear output: images are near [-1, 1], not clipped to it

    def __init__(
        self,
        *,
        latent_dim: int,  # size of z
        w_dim: int,  # size of w
        mapping_layers: int,  # fully connected layers in the mapping network
        resolution: int,  # 32, 64, 128 or 256
        channels: int,  # 1 or 3
        width: int,  # channels at the output resolution; doubled per halving of resolution
        max_channels: int,  # upper bound on channels
        num_classes: int | Sequence[int] = 0,  # K > 0 or values per trait: their embedding joins z in the mapping
        architecture: str = "skip",  # skip | resnet
        mixing_prob: float = 0.0,  # style mixing probability per batch in train mode
        mapping_lr_mult: float = 0.01,  # learning-rate multiplier of the mapping network
    ) -> None:
        super().__init__()
        _check_layout(resolution, channels)
        if architecture not in ("skip", "resnet"):
            raise ValueError(f"architecture must be skip or resnet, not {architecture!r}")
        self.trait_sizes = trait_sizes(num_classes)
        self.latent_dim, self.w_dim = latent_dim, w_dim
        self.output_shape = (channels, resolution, resolution)
        self.mixing_prob = mixing_prob

        # mapping network: the traits' embeddings are summed (TraitEmbedding), then join z
        self.embed = TraitEmbedding(self.trait_sizes, w_dim) if self.trait_sizes else None
        fan_in = latent_dim + (w_dim if self.trait_sizes else 0)
        self.mapping_net = nn.ModuleList()
        for _ in range(mapping_layers):
            self.mapping_net.append(EqualLinear(fan_in, w_dim, lr_mult=mapping_lr_mult))
            fan_in = w_dim
        rows = self.trait_sizes[0] if self.trait_sizes else 1
        self.register_buffer("w_avg", torch.zeros(rows, w_dim))  # (K or 1, w_dim): per value of the first trait

        # synthesis network
        chans = _channels(resolution, width, max_channels)
        self.const = nn.Parameter(torch.randn(chans[4], 4, 4))
        self.blocks = nn.ModuleList()
        prev = chans[4]
        for res, ch in chans.items():
            self.blocks.append(SynthesisBlock(
                prev, ch, w_dim=w_dim, resolution=res, channels=channels,
                architecture=architecture, is_last=res == resolution,
            ))
            prev = ch
        self.num_ws = 2 * len(self.blocks) + 1

    # ------------------------------------------------------------------------ mapping
    def mapping(
        self,
        z: torch.Tensor,  # (N, latent_dim)
        labels: torch.Tensor | None = None,  # (N,) or (N, T) indices; required when conditional
        *,
        psi: float = 1.0,  # truncation: 1 = none, 0 = the average w of the class
        truncation_cutoff: int | None = None,  # truncate only ws[:, :cutoff]; None = all
        update_w_avg: bool | None = None,  # None: in train mode
    ) -> torch.Tensor:
        """z -> ws (N, num_ws, w_dim), the same w repeated per layer.

        z and the label embedding are scaled to unit mean square, concatenated and passed
        through the MLP. Truncation (Karras et al. 2019, appendix B): ``w = w_avg + psi (w -
        w_avg)`` with the tracked average of the sample's class (row 0 when unconditional; with
        several traits, of its value of the first trait).
        ``labels`` are ignored by an unconditional generator.
        """
        x = normalize_2nd_moment(z)
        idx = torch.zeros(z.shape[0], dtype=torch.long, device=z.device)
        if self.embed is not None:
            if labels is None:
                raise ValueError("a conditional generator needs labels")
            index = trait_index(labels)  # (N, T)
            idx = index[:, 0]  # w_avg is tracked per value of the first trait
            x = torch.cat([x, normalize_2nd_moment(self.embed(index))], dim=1)
        for layer in self.mapping_net:
            x = scaled_leaky_relu(layer(x))
        if (self.training if update_w_avg is None else update_w_avg):
            self._update_w_avg(x, idx)
        ws = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if psi != 1:
            cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
            avg = self.w_avg[idx].unsqueeze(1).to(ws.dtype)  # (N, 1, w_dim)
            ws = torch.cat([torch.lerp(avg, ws[:, :cutoff], psi), ws[:, cutoff:]], dim=1)
        return ws

    @torch.no_grad()
    def _update_w_avg(self, w: torch.Tensor, idx: torch.Tensor) -> None:
        """EMA of w per class over the classes present in the batch (no host sync)."""
        w = w.detach().to(self.w_avg.dtype)
        sums = torch.zeros_like(self.w_avg).index_add_(0, idx, w)
        counts = torch.bincount(idx, minlength=self.w_avg.shape[0]).to(w.dtype).unsqueeze(1)  # (K, 1)
        means = sums / counts.clamp(min=1)
        self.w_avg.copy_(torch.where(counts > 0, torch.lerp(means, self.w_avg, W_AVG_BETA), self.w_avg))

    # ---------------------------------------------------------------------- synthesis
    def synthesis(self, ws: torch.Tensor, *, noise_mode: str = "auto") -> torch.Tensor:
        """ws (N, num_ws, w_dim) -> images (N, C, H, W), linear output for data in [-1, 1].

        ``noise_mode``: ``random`` (fresh from torch's global RNG), ``const`` (the per-layer
        buffers made at construction), ``none``, or ``auto`` (random in train mode, const in
        eval mode, so evaluation is deterministic).
        """
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {', '.join(NOISE_MODES)}, not {noise_mode!r}")
        if noise_mode == "auto":
            noise_mode = "random" if self.training else "const"
        if ws.dim() != 3 or ws.shape[1] != self.num_ws:
            raise ValueError(f"ws must be (N, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")
        x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        img = None
        for i, block in enumerate(self.blocks):
            x, img = block(x, img, ws[:, 2 * i : 2 * i + 3], noise_mode)
        return img

    # ------------------------------------------------------------------------ forward
    def forward(
        self,
        z: torch.Tensor,  # (N, latent_dim)
        labels: torch.Tensor | None = None,  # (N,) or (N, T) or None
        *,
        psi: float = 1.0,
        noise_mode: str = "auto",
    ) -> torch.Tensor:
        """z -> images (N, C, H, W); in train mode with style mixing (Karras et al. 2019, 3.1).

        With probability ``mixing_prob`` per batch, the layers from a random crossover on
        read the w of a second z (same labels), so G cannot assume neighbouring layers share
        a style.
        """
        ws = self.mapping(z, labels, psi=psi)
        if self.training and self.mixing_prob > 0 and torch.rand(()) < self.mixing_prob:
            cutoff = int(torch.randint(1, self.num_ws, ()))
            ws2 = self.mapping(torch.randn_like(z), labels, psi=psi, update_w_avg=False)
            ws = torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)
        return self.synthesis(ws, noise_mode=noise_mode)


# ----------------------------------------------------------------------------- discriminator
def _conv(in_channels: int, out_channels: int, kernel_size: int, *, sn: bool, bias: bool = True) -> nn.Module:
    # Spectral norm fixes each layer's scale itself and is invariant to the stored weight's
    # scale, so the equalized-lr gain would only shrink every layer below Lipschitz 1:
    # with sn, D uses plain layers.
    if sn:
        return maybe_sn(nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias), True)
    return EqualConv2d(in_channels, out_channels, kernel_size, bias=bias)


def _linear(in_features: int, out_features: int, *, sn: bool) -> nn.Module:
    return maybe_sn(nn.Linear(in_features, out_features), True) if sn else EqualLinear(in_features, out_features)


class DiscriminatorBlock(nn.Module):
    """Residual block halving the resolution: two 3x3 convs beside a 1x1 skip, sum * sqrt(1/2)."""

    def __init__(self, in_channels: int, out_channels: int, *, sn: bool) -> None:
        super().__init__()
        self.conv0 = _conv(in_channels, in_channels, 3, sn=sn)
        self.conv1 = _conv(in_channels, out_channels, 3, sn=sn)
        self.skip = _conv(in_channels, out_channels, 1, sn=sn, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = scaled_leaky_relu(self.conv0(x))
        y = scaled_leaky_relu(self.conv1(F.avg_pool2d(y, 2)))
        return (self.skip(F.avg_pool2d(x, 2)) + y) * math.sqrt(0.5)


class Discriminator(nn.Module):
    """Residual D: fromRGB 1x1, one :class:`DiscriminatorBlock` per halving down to 4x4,
    then minibatch std, a 3x3 conv, a linear layer and the shared conditioning head."""

    def __init__(
        self,
        *,
        resolution: int,  # 32, 64, 128 or 256
        channels: int,  # 1 or 3 (per sample; packing multiplies them)
        width: int,  # channels at the input resolution; doubled per halving of resolution
        max_channels: int,  # upper bound on channels
        num_classes: int | Sequence[int] = 0,  # K > 0 or values per trait: D judges each trait
        conditioning: str = "projection",  # projection | acgan
        spectral_norm: bool = False,  # plain layers under spectral norm instead of equalized ones
        minibatch_std: bool = True,
        pack: int = 1,  # PacGAN degree: input has pack * channels channels
    ) -> None:
        super().__init__()
        _check_layout(resolution, channels)
        self.pack = pack
        chans = _channels(resolution, width, max_channels)
        self.from_rgb = _conv(channels * pack, chans[resolution], 1, sn=spectral_norm)
        self.blocks = nn.Sequential(*[
            DiscriminatorBlock(chans[res], chans[res // 2], sn=spectral_norm)
            for res in sorted(chans, reverse=True) if res > 4
        ])
        ch = chans[4]
        self.mbstd = MinibatchStd() if minibatch_std else None
        self.conv = _conv(ch + (1 if minibatch_std else 0), ch, 3, sn=spectral_norm)
        self.fc = _linear(ch * 4 * 4, ch, sn=spectral_norm)
        self.head = DiscriminatorHead(ch, num_classes=num_classes, conditioning=conditioning, sn=spectral_norm)

    def forward(
        self, x: torch.Tensor, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``x`` (N, C, H, W) -> scores (N / pack,) and class logits (acgan) or None."""
        h = self.blocks(scaled_leaky_relu(self.from_rgb(pack_samples(x, self.pack))))  # (N/pack, C4, 4, 4)
        if self.mbstd is not None:
            h = self.mbstd(h)
        h = scaled_leaky_relu(self.conv(h))
        return self.head(scaled_leaky_relu(self.fc(h.flatten(1))), labels)


# ---------------------------------------------------------------------------------- builders
def _generator(cfg: StyleGANConfig) -> Generator:
    channels, res = square_image_shape(cfg)
    return Generator(
        latent_dim=cfg.latent_dim, w_dim=cfg.w_dim, mapping_layers=cfg.mapping_layers, resolution=res,
        channels=channels, width=cfg.width, max_channels=cfg.max_channels,
        num_classes=cfg.label_sizes, architecture=cfg.architecture,
        mixing_prob=cfg.mixing_prob, mapping_lr_mult=cfg.mapping_lr_mult,
    )


def _discriminator(cfg: StyleGANConfig) -> Discriminator:
    channels, res = square_image_shape(cfg)
    return Discriminator(
        resolution=res, channels=channels, width=cfg.width, max_channels=cfg.max_channels,
        num_classes=cfg.label_sizes, conditioning=cfg.d_conditioning,
        spectral_norm=cfg.spectral_norm, minibatch_std=cfg.minibatch_std, pack=cfg.pack,
    )


register_model(ModelFamily("stylegan", StyleGANConfig, _generator, _discriminator, style_based=True))
