"""Layers shared by every model family.

Conditioning (conditional batch norm, projection and auxiliary-classifier heads), the
minibatch standard-deviation feature, PacGAN packing, spectral normalization and the
equalized-learning-rate layers live here once, so the families differ only in their backbone.
"""

from __future__ import annotations

import math
from typing import Literal, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm
from torch.nn.utils.parametrize import is_parametrized


def maybe_sn(module: nn.Module, enabled: bool) -> nn.Module:
    """Wrap ``module`` with spectral normalization (Miyato et al. 2018) when ``enabled``."""
    return spectral_norm(module) if enabled else module


def trait_sizes(num_classes: int | Sequence[int]) -> tuple[int, ...]:
    """A network's ``num_classes`` argument -> values per trait: ``0`` -> ``()`` (unconditional),
    ``K`` -> ``(K,)`` (one class trait), a sequence -> itself (``FamilyConfig.label_sizes``)."""
    if isinstance(num_classes, int):
        return (num_classes,) if num_classes > 0 else ()
    sizes = tuple(int(k) for k in num_classes)
    if sizes and min(sizes) < 1:
        raise ValueError(f"every trait needs at least one value, got sizes {sizes}")
    return sizes


def trait_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, sizes: Sequence[int]) -> torch.Tensor:
    """An auxiliary classifier's loss per trait, summed: ``logits`` (N, sum(sizes)), one block of
    columns per trait, ``labels`` (N,) or (N, T). With one trait, ``F.cross_entropy(logits, labels)``."""
    if len(sizes) == 1:
        return F.cross_entropy(logits, labels.reshape(-1))
    index = trait_index(labels)
    blocks = torch.split(logits, list(sizes), dim=1)
    return sum(F.cross_entropy(block, index[:, t]) for t, block in enumerate(blocks))


def trait_index(labels: torch.Tensor) -> torch.Tensor:
    """Labels ``(N,)`` (one trait) or ``(N, T)`` -> int64 ``(N, T)``."""
    labels = labels.long()
    return labels.unsqueeze(1) if labels.dim() == 1 else labels


class TraitEmbedding(nn.Module):
    """One learned vector per value of each trait, summed over the traits: ``(N, T) -> (N, dim)``.

    The label embedding of every family (the class input of the mlp and stylegan generators,
    the gain and bias of conditional batch norm, the projection discriminator's class vector).
    ``sizes[t]`` is the number of values of trait t (``conditioning.Conditioning.sizes``); the
    tables are stacked in one ``weight`` (sum(sizes), dim), trait t's rows starting at
    ``offsets[t]``, so ``out = sum_t weight[offsets[t] + labels[:, t]]``. Labels ``(N,)`` are
    T = 1; with one trait this is ``nn.Embedding`` exactly: the same parameter name and
    initialisation (N(0, 1), drawn from the same RNG), the same ``F.embedding`` call, so
    checkpoints load unchanged and training and outputs are bit for bit the same.
    """

    def __init__(self, sizes: int | Sequence[int], dim: int) -> None:
        super().__init__()
        self.sizes = (int(sizes),) if isinstance(sizes, int) else tuple(int(k) for k in sizes)
        if not self.sizes or min(self.sizes) < 1:
            raise ValueError(f"a trait embedding needs at least one trait of at least one value, got {self.sizes}")
        self.dim = dim
        self.offsets = tuple(sum(self.sizes[:t]) for t in range(len(self.sizes)))
        self.weight = nn.Parameter(torch.empty(sum(self.sizes), dim))  # (sum of sizes, dim)
        nn.init.normal_(self.weight)  # nn.Embedding's initialisation

    @property
    def num_traits(self) -> int:
        return len(self.sizes)

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        """``labels`` int (N,) or (N, T) -> (N, dim)."""
        index = trait_index(labels)
        if index.shape[1] != self.num_traits:
            raise ValueError(f"labels must be (N, {self.num_traits}), got {tuple(labels.shape)}")
        if self.num_traits == 1:
            return F.embedding(index[:, 0], self.weight)
        offsets = torch.tensor(self.offsets, device=index.device)
        return F.embedding(index + offsets, self.weight).sum(dim=1)

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}, dim={self.dim}"


class ConditionalBatchNorm(nn.Module):
    """Batch norm whose gain and bias depend on the class (de Vries et al. 2017).

    The statistics are shared by all classes; only the affine part is per class, which is
    what lets one network draw ten kinds of garment. With ``num_classes == 0`` it is plain
    batch norm with a learned affine transform. ``num_classes`` may be a tuple of trait sizes
    (labels ``(N, T)``): gains and biases are summed over the traits, each gain starting at 1/T.
    """

    def __init__(self, num_features: int, num_classes: int | Sequence[int], *, dims: int = 2) -> None:
        super().__init__()
        bn = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
        sizes = trait_sizes(num_classes)
        self.conditional = bool(sizes)
        self.bn = bn(num_features, affine=not self.conditional)
        if self.conditional:
            self.gain = TraitEmbedding(sizes, num_features)  # (K, C): per-class scale
            self.bias = TraitEmbedding(sizes, num_features)  # (K, C): per-class shift
            nn.init.constant_(self.gain.weight, 1.0 / len(sizes))  # the sum over traits starts at 1
            nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        out = self.bn(x)
        if not self.conditional:
            return out
        if labels is None:
            raise ValueError("a conditional generator needs labels")
        shape = (x.shape[0], -1) + (1,) * (x.dim() - 2)
        return out * self.gain(labels).view(shape) + self.bias(labels).view(shape)


class MinibatchStd(nn.Module):
    """Append the average standard deviation across a group of samples as one feature.

    Karras et al. 2018 (ProGAN), section 3: D sees how varied a group of samples is, so a
    generator that repeats itself is easy to spot. Works on ``(N, C, H, W)`` (adds a
    channel) and ``(N, F)`` (adds a feature). The group is the largest divisor of N that is
    at most ``group_size``.
    """

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        g = max(d for d in range(1, min(self.group_size, n) + 1) if n % d == 0)
        y = x.float().reshape(g, n // g, *x.shape[1:])  # (G, M, ...): group members on dim 0
        y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt()  # (M, ...)
        y = y.flatten(1).mean(dim=1)  # (M,)
        y = y.repeat(g).to(x.dtype)  # (N,) sample j belongs to group j % M
        if x.dim() == 4:
            return torch.cat([x, y.view(n, 1, 1, 1).expand(n, 1, *x.shape[2:])], dim=1)
        return torch.cat([x, y.view(n, 1)], dim=1)


def pack_samples(x: torch.Tensor, pack: int) -> torch.Tensor:
    """PacGAN (Lin et al. 2018): stack ``pack`` consecutive samples along the channel axis.

    ``(N, C, ...) -> (N / pack, pack * C, ...)``. D then judges sets of samples, which
    penalises a generator that covers few modes.
    """
    if pack == 1:
        return x
    n = x.shape[0]
    if n % pack:
        raise ValueError(f"batch of {n} cannot be packed in groups of {pack}")
    return x.reshape(n // pack, pack * x.shape[1], *x.shape[2:])


class LatentCodes(nn.Module):
    """A discrete code read off z and embedded: lets G put its samples on disconnected pieces.

    A continuous G fed a connected latent (a Gaussian) has a connected image, so between the
    modes of a mixture it must leave "bridges" of samples (Khayatkhoei et al. 2018,
    "Disconnected Manifold Learning for GANs"; Tanielian et al. 2020, "Learning disconnected
    manifolds: a no GAN's land"). With a code ``c`` in ``0..K-1`` that G may map to
    different places, the bridges can fall between codes, where there is no probability
    mass. The code is a function of z, so the latent stays ``z ~ N(0, I)`` for every tool::

        c = floor(K * Phi(z_0)),   Phi the standard normal CDF

    which is uniform over the K codes. The output is the code's learned embedding ``(N, dim)``.
    """

    def __init__(self, num_codes: int, dim: int) -> None:
        super().__init__()
        self.num_codes = num_codes
        self.embed = nn.Embedding(num_codes, dim)  # (K, dim): one learned vector per code

    def codes(self, z: torch.Tensor) -> torch.Tensor:
        """int64 ``(N,)`` code of each latent ``z (N, latent_dim)``."""
        u = 0.5 * (1.0 + torch.erf(z[:, 0].float() / math.sqrt(2.0)))  # Phi(z_0), uniform on (0, 1)
        return (u * self.num_codes).long().clamp_(0, self.num_codes - 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.embed(self.codes(z))


class DiscriminatorHead(nn.Module):
    """Turns D's feature vector ``h`` (N, F) into a realness score and, for ACGAN, class logits.

    * unconditional: ``score = w . h + b``
    * projection (Miyato & Koyama 2018, eq. 3): ``score = w . h + b + sum_t embed_t(y_t) . h``,
      one projection term per trait (y: (N,) or (N, T); one :class:`TraitEmbedding` sums the
      traits' vectors, so the sum of the terms is one dot product)
    * acgan (Odena et al. 2017): ``score = w . h + b`` and ``class_logits = W_c h``, one block
      of logits per trait (:func:`trait_cross_entropy` is their loss)
    """

    def __init__(self, features: int, *, num_classes: int | Sequence[int], conditioning: str, sn: bool) -> None:
        super().__init__()
        self.sizes = trait_sizes(num_classes)
        self.score = maybe_sn(nn.Linear(features, 1), sn)
        self.mode = conditioning if self.sizes else "none"
        if self.mode == "projection":
            self.embed = maybe_sn(TraitEmbedding(self.sizes, features), sn)
            nn.init.normal_(self.embed.weight, std=1.0 / math.sqrt(features))
        elif self.mode == "acgan":
            self.classifier = maybe_sn(nn.Linear(features, sum(self.sizes)), sn)

    def forward(
        self, h: torch.Tensor, labels: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        score = self.score(h).squeeze(1)  # (N,)
        if self.mode == "projection":
            if labels is None:
                raise ValueError("a projection discriminator needs labels")
            score = score + (self.embed(labels) * h).sum(dim=1)
            return score, None
        if self.mode == "acgan":
            return score, self.classifier(h)
        return score, None


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation (Radford et al. 2016): N(0, 0.02) for conv and linear weights."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            # Under spectral norm, ``weight`` is computed; initialise the stored original.
            weight = m.parametrizations.weight.original if is_parametrized(m, "weight") else m.weight
            nn.init.normal_(weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def scaled_leaky_relu(x: torch.Tensor, *, slope: float = 0.2, gain: float = math.sqrt(2)) -> torch.Tensor:
    """Leaky ReLU times ``gain``: with sqrt(2) a unit-variance input keeps roughly unit variance.

    The activation of StyleGAN (Karras et al. 2019, 2020) and ProGAN; the gain matters with
    equalized learning rate, where no initialisation compensates for what the ReLU removes.
    """
    return F.leaky_relu(x, slope) * gain


class EqualLinear(nn.Module):
    """Linear layer with equalized learning rate (Karras et al. 2018, ProGAN, section 4.1).

    The stored weight is N(0, 1/lr_mult^2) and is multiplied at every call by
    ``lr_mult / sqrt(in_features)``, so the effective weight starts as N(0, 1/in_features)
    (He initialisation) whatever ``lr_mult`` is. Because Adam's steps do not depend on the
    gradient's scale, every layer then learns at the same speed relative to its weights, and
    ``lr_mult`` slows this layer down by that factor (StyleGAN's mapping network uses 0.01).
    The bias is stored divided by ``lr_mult`` and multiplied back likewise.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        bias: bool = True,
        bias_init: float = 0.0,  # initial value of the effective bias
        lr_mult: float = 1.0,  # learning-rate multiplier of this layer
    ) -> None:
        super().__init__()
        self.in_features, self.out_features, self.lr_mult = in_features, out_features, lr_mult
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mult)  # (out, in)
        self.bias = nn.Parameter(torch.full((out_features,), bias_init / lr_mult)) if bias else None
        self.weight_gain = lr_mult / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.lr_mult if self.bias is not None else None
        return F.linear(x, self.weight * self.weight_gain, bias)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}, lr_mult={self.lr_mult}"


class EqualConv2d(nn.Module):
    """2D convolution with equalized learning rate (see :class:`EqualLinear`).

    ``fan_in = in_channels * kernel_size**2``; "same" padding by default.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        stride: int = 1,
        padding: int | None = None,  # None: kernel_size // 2 (same size for odd kernels)
        bias: bool = True,
        lr_mult: float = 1.0,  # learning-rate multiplier of this layer
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.stride, self.lr_mult = stride, lr_mult
        self.padding = kernel_size // 2 if padding is None else padding
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size) / lr_mult)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = lr_mult / math.sqrt(in_channels * kernel_size * kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.lr_mult if self.bias is not None else None
        return F.conv2d(x, self.weight * self.weight_gain, bias, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, bias={self.bias is not None}, lr_mult={self.lr_mult}"
        )


def pad_to_multiple(x: torch.Tensor, multiple: int, *, minimum: int = 0) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad ``x`` (N, C, H, W) evenly on both sides (an odd pixel at the bottom or right) up to
    multiples of ``multiple``, and to at least ``minimum`` pixels a side.

    Returns the padded tensor and the ``(top, left)`` offset of the original inside it.
    Reflection keeps the borders looking like image content (zeros would draw a frame the
    network must learn to ignore); an image smaller than the padding it needs cannot be
    reflected and is padded by repeating its edge pixels instead.
    """
    height, width = x.shape[-2:]
    pad_h, pad_w = max(-height % multiple, minimum - height), max(-width % multiple, minimum - width)
    pad_h, pad_w = pad_h + -(height + pad_h) % multiple, pad_w + -(width + pad_w) % multiple
    # Under ONNX export the sizes are symbolic and Python branches are fixed at trace time: pad
    # always (a zero pad is a no-op) and by reflection, so one graph fits every size reflection
    # can pad (at least ``multiple`` pixels; pipelines/onnx.py checks a size that needs padding).
    exporting = torch.onnx.is_in_onnx_export()
    if pad_h == 0 and pad_w == 0 and not exporting:
        return x, (0, 0)
    top, left = pad_h // 2, pad_w // 2
    bottom, right = pad_h - top, pad_w - left
    mode = "reflect" if exporting or (max(top, bottom) < height and max(left, right) < width) else "replicate"
    return F.pad(x, (left, right, top, bottom), mode=mode), (top, left)


NormKind = Literal["batch", "instance", "none"]  # normalisation layers of the image-to-image backbones

def norm_layer(kind: NormKind, channels: int) -> nn.Module:
    """A 2D normalisation of ``channels`` features: batch norm, instance norm or nothing.

    Instance norm (Ulyanov et al. 2016) has a learned affine part here, like batch norm, so
    the layers before it need no bias in either case.
    """
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be batch, instance or none, got {kind!r}")


class MaxPool2x2(nn.MaxPool2d):
    """2x2 max pooling, stride 2: ``nn.MaxPool2d(2)`` with a fast path for inference.

    On CPU, ``max_pool2d`` over NCHW tensors runs about 4x slower than the element-wise maximum
    of the four strided 2x2 phases (fashion-cnn's first pool on 500 images: 74 ms against 18 ms),
    and a maximum is exact, so the fast path gives bit-identical results. It is used only where
    no gradient is needed: for ties, ``torch.maximum`` splits the gradient between the equal
    inputs while ``max_pool2d`` routes it to one, so training keeps the reference path.
    """

    def __init__(self) -> None:
        super().__init__(kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            return super().forward(x)  # the slow reference path, with max_pool2d's gradient
        h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2  # an odd last row or column is dropped, as max_pool2d does
        x = x[..., :h, :w]
        return torch.maximum(torch.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2]),
                             torch.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2]))
