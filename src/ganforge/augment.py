"""Differentiable augmentation of what the discriminator sees, against D overfitting.

With little data D memorises the training images, its scores on real and generated images
drift apart and the gradients it gives G stop being useful. Both remedies here augment
*every* image D sees, real and generated alike, with operations that are differentiable
with respect to the image, so G's loss back-propagates through the augmentation:

* **DiffAugment** (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN
  Training", NeurIPS, arXiv:2006.10738) applies every op of the policy to every image:
  ``Augment(policy, p=1)``.
* **ADA** (Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data",
  NeurIPS, arXiv:2006.06676, sec. 3) applies each op to each image with probability ``p``
  and adapts ``p`` from the overfitting heuristic

      r_t = E[sign(D_train)]                                   (Karras et al. 2020, eq. 1)

  measured on the real images D trains on: every ``interval`` D steps,

      p <- clamp(p + sign(r_t - target) * images / (speed_kimg * 1000), min_p, max_p),

  so that ``p`` can move from 0 to 1 in ``speed_kimg`` thousand images. With ``p`` below
  about 0.8 the ops rarely "leak" (G does not learn to draw augmented images, sec. 2.2 of
  the paper): the clean images remain the most likely ones in what D sees.

Images are float ``(N, C, H, W)`` in [-1, 1], any ``C`` (so every image family; for a
paired discriminator input augment the concatenated pair, so geometric ops keep the two
halves aligned). The ops, with DiffAugment's parameters (DiffAugment already works in
[-1, 1], so no unit conversion is needed; in [0, 1] units the brightness shift would be
U(-0.25, 0.25)):

* ``translation``: integer shift ``(dy, dx)`` with ``|dy| <= floor(H/8)``,
  ``|dx| <= floor(W/8)``, each uniform over its integer range. Uncovered pixels repeat the
  nearest border pixel instead of DiffAugment's 0: 0 is mid-grey in [-1, 1], and on
  Fashion-MNIST, whose background is -1, grey bars would mark every shifted image (and its
  shift) for D; the replicated border is -1 there and a plausible continuation on photos.
* ``cutout``: a ``(H//2, W//2)`` rectangle (a square for square images) set to 0 (mid-grey),
  its top-left corner uniform over positions that may clip it by up to half its size at any
  edge, as in DiffAugment.
* ``color``: brightness ``x + b``, ``b ~ U(-0.5, 0.5)``; then saturation
  ``m_c + s (x - m_c)``, ``s ~ U(0, 2)``, ``m_c`` the per-pixel mean over channels (a no-op
  for one channel); then contrast ``m + c (x - m)``, ``c ~ U(0.5, 1.5)``, ``m`` the per-image
  mean. Values are not clamped back to [-1, 1]: clamping would zero the gradient there,
  and DiffAugment does not clamp either.
* ``flip``: each image mirrored left-right with probability 1/2. A flip applied to every
  image would only teach G to draw mirror images; the coin makes it a true augmentation.

Determinism contract: every op draws its random numbers from the ``torch.Generator`` it is
given and from nothing else, and draws them for *all* N images whatever its ``mask`` is.
:class:`Augment` draws, per op of the policy and in policy order, N uniforms for the
per-image mask and then the op's parameters, also when ``p`` is 0 or 1. So how far a call
advances the generator depends only on the batch size and the policy, never on ``p`` or on
the data; with a saved generator state and ``p`` training repeats bit for bit. Draws per op
(N = batch size): translation 2N integers (dy, then dx), cutout 2N integers (top, then
left), color 3N uniforms (brightness, saturation, contrast), flip N uniforms. Numbers are
drawn on the generator's device and moved to the images' device.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import Tensor

from typing import TYPE_CHECKING

from .config import AugmentConfig

if TYPE_CHECKING:
    from .training.distributed import DistContext

__all__ = [
    "OPS",
    "AdaptiveAugment",
    "Augment",
    "brightness",
    "build_augment",
    "color",
    "contrast",
    "cutout",
    "flip",
    "saturation",
    "translation",
]

# An op maps (x (N, C, H, W), generator, mask (N,) or None) to an image batch of x's shape.
Op = Callable[[Tensor, torch.Generator, "Tensor | None"], Tensor]


# --- helpers ---------------------------------------------------------------------------------


def _check_images(x: Tensor, mask: Tensor | None) -> Tensor | None:
    """Validate ``x`` (N, C, H, W) and return ``mask`` as a bool (N,) tensor on x's device."""
    if x.ndim != 4:
        raise ValueError(f"augmentation expects images (N, C, H, W), got shape {tuple(x.shape)}")
    if mask is None:
        return None
    if mask.shape != (x.shape[0],):
        raise ValueError(f"mask must have shape ({x.shape[0]},), one entry per image, got {tuple(mask.shape)}")
    return (mask if mask.dtype == torch.bool else mask != 0).to(x.device)


def _uniform(n: int, generator: torch.Generator, x: Tensor) -> Tensor:
    """(n,) float32 draws from U[0, 1) on the generator's device, returned on x's device.

    float32 even for half-precision images, so that ``u < p`` is not quantised to bf16's 8 bits.
    """
    return torch.rand(n, generator=generator, device=generator.device).to(x.device)


def _integers(low: int, high: int, n: int, generator: torch.Generator, x: Tensor) -> Tensor:
    """(n,) int64 draws uniform over ``low, ..., high`` (inclusive), on x's device."""
    return torch.randint(low, high + 1, (n,), generator=generator, device=generator.device).to(x.device)


def _select(mask: Tensor | None, augmented: Tensor, x: Tensor) -> Tensor:
    """``augmented`` where ``mask`` (N,) is true, ``x`` itself elsewhere (exactly, not blended)."""
    return augmented if mask is None else torch.where(mask.view(-1, 1, 1, 1), augmented, x)


# --- ops -------------------------------------------------------------------------------------


def translation(x: Tensor, generator: torch.Generator, mask: Tensor | None = None, *, ratio: float = 0.125) -> Tensor:
    """Shift each image by a random whole number of pixels, repeating the border pixels.

    Args:
        x: images (N, C, H, W).
        generator: source of the shifts, 2N integers (dy (N,), then dx (N,)).
        mask: (N,) bool or float; images where it is false/0 are returned unchanged.
            None: every image.
        ratio: largest shift as a fraction of the side: ``|dy| <= floor(ratio * H)``.

    Returns:
        (N, C, H, W): ``out[n, :, i, j] = x[n, :, clamp(i - dy[n]), clamp(j - dx[n])]``, i.e.
        content moves down by dy and right by dx.
    """
    mask = _check_images(x, mask)
    n, c, h, w = x.shape
    sy, sx = int(ratio * h), int(ratio * w)
    dy = _integers(-sy, sy, n, generator, x)
    dx = _integers(-sx, sx, n, generator, x)
    # Source row/column of every output pixel; clamping to the image repeats the border.
    rows = (torch.arange(h, device=x.device) - dy[:, None]).clamp(0, h - 1)  # (N, H)
    cols = (torch.arange(w, device=x.device) - dx[:, None]).clamp(0, w - 1)  # (N, W)
    index = (rows[:, :, None] * w + cols[:, None, :]).view(n, 1, h * w).expand(n, c, h * w)
    shifted = x.reshape(n, c, h * w).gather(2, index).view(n, c, h, w)
    return _select(mask, shifted, x)


def cutout(x: Tensor, generator: torch.Generator, mask: Tensor | None = None, *, ratio: float = 0.5) -> Tensor:
    """Set a random (H//2, W//2) rectangle of each image to 0 (mid-grey in [-1, 1]).

    Args:
        x: images (N, C, H, W).
        generator: source of the position, 2N integers (top (N,), then left (N,)).
        mask: (N,) bool or float; images where it is false/0 are returned unchanged.
        ratio: rectangle side as a fraction of the image side (``int(ratio * H)`` rows).

    Returns:
        (N, C, H, W). The rectangle ``[top, top + kh) x [left, left + kw)`` has
        ``top ~ U{-(kh//2), ..., H - kh + kh//2}``, so it may reach up to half its height past
        the top or the bottom edge (then less than kh rows are cut), symmetrically.
    """
    mask = _check_images(x, mask)
    n, _, h, w = x.shape
    kh, kw = int(ratio * h), int(ratio * w)
    top = _integers(-(kh // 2), h - kh + kh // 2, n, generator, x)
    left = _integers(-(kw // 2), w - kw + kw // 2, n, generator, x)
    i = torch.arange(h, device=x.device)[None, :] - top[:, None]  # (N, H) row offset inside the cut
    j = torch.arange(w, device=x.device)[None, :] - left[:, None]  # (N, W)
    inside = ((i >= 0) & (i < kh))[:, :, None] & ((j >= 0) & (j < kw))[:, None, :]  # (N, H, W)
    if mask is not None:
        inside = inside & mask[:, None, None]
    # A multiply rather than a where: the gradient is 1 outside the cut, 0 inside.
    return x * (~inside).unsqueeze(1).to(x.dtype)


def brightness(x: Tensor, generator: torch.Generator, mask: Tensor | None = None) -> Tensor:
    """Add ``b ~ U(-0.5, 0.5)`` to every pixel of each image (N uniforms drawn).

    x: (N, C, H, W); mask: (N,) or None. Returns (N, C, H, W).
    """
    mask = _check_images(x, mask)
    b = (_uniform(x.shape[0], generator, x) - 0.5).to(x.dtype)
    return _select(mask, x + b.view(-1, 1, 1, 1), x)


def saturation(x: Tensor, generator: torch.Generator, mask: Tensor | None = None) -> Tensor:
    """Scale each pixel's deviation from its mean over channels by ``s ~ U(0, 2)`` (N uniforms).

    x: (N, C, H, W); mask: (N,) or None. Returns (N, C, H, W); with C = 1 it equals x (the
    deviation is 0), but the N uniforms are still drawn.
    """
    mask = _check_images(x, mask)
    s = (_uniform(x.shape[0], generator, x) * 2).to(x.dtype)
    mean = x.mean(dim=1, keepdim=True)  # (N, 1, H, W)
    return _select(mask, (x - mean) * s.view(-1, 1, 1, 1) + mean, x)


def contrast(x: Tensor, generator: torch.Generator, mask: Tensor | None = None) -> Tensor:
    """Scale each image's deviation from its mean (over C, H, W) by ``c ~ U(0.5, 1.5)`` (N uniforms).

    x: (N, C, H, W); mask: (N,) or None. Returns (N, C, H, W) with each image's mean kept.
    """
    mask = _check_images(x, mask)
    c = (_uniform(x.shape[0], generator, x) + 0.5).to(x.dtype)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)  # (N, 1, 1, 1)
    return _select(mask, (x - mean) * c.view(-1, 1, 1, 1) + mean, x)


def color(x: Tensor, generator: torch.Generator, mask: Tensor | None = None) -> Tensor:
    """Brightness, then saturation, then contrast, on the same images (3N uniforms).

    x: (N, C, H, W); mask: (N,) or None, shared by the three. Returns (N, C, H, W).
    """
    # Masked-out images pass each stage unchanged (torch.where, not a blend), so they equal x.
    return contrast(saturation(brightness(x, generator, mask), generator, mask), generator, mask)


def flip(x: Tensor, generator: torch.Generator, mask: Tensor | None = None) -> Tensor:
    """Mirror each image left-right with probability 1/2 (N uniforms drawn).

    x: (N, C, H, W); mask: (N,) or None (a masked-out image is never flipped).
    Returns (N, C, H, W), each image either x[n] or ``torch.flip(x[n], dims=(-1,))``.
    """
    mask = _check_images(x, mask)
    heads = _uniform(x.shape[0], generator, x) < 0.5
    if mask is not None:
        heads = heads & mask
    return _select(heads, x.flip(3), x)


# Policy names -> ops; config.AugmentConfig.policy accepts exactly these names.
OPS: dict[str, Op] = {
    "translation": translation,
    "cutout": cutout,
    "color": color,
    "flip": flip,
}


# --- pipelines -------------------------------------------------------------------------------


class Augment:
    """Apply the ops of ``policy`` in order, each to each image with probability ``p``.

    ``p = 1`` is DiffAugment (every op on every image); ADA uses :class:`AdaptiveAugment`.
    """

    def __init__(self, policy: list[str], *, p: float = 1.0) -> None:
        unknown = [name for name in policy if name not in OPS]
        if unknown:
            raise ValueError(f"unknown augmentation op(s) {unknown}; accepted: {', '.join(OPS)}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"augmentation probability p must be in [0, 1], got {p}")
        self.policy = list(policy)  # op names, applied in this order
        self.p = float(p)  # probability that an op is applied to an image

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """Augment a batch.

        Args:
            x: images (N, C, H, W) in [-1, 1], any float dtype and device.
            generator: the only source of randomness; advanced by the same amount for any
                ``p`` (see the module docstring).

        Returns:
            (N, C, H, W), differentiable with respect to x. With ``p == 0`` it is ``x``
            itself (the random numbers are drawn all the same).
        """
        _check_images(x, None)
        out = x
        for name in self.policy:
            # 1. Which images get this op; drawn even for p in {0, 1} to keep the stream fixed.
            chosen = _uniform(x.shape[0], generator, x) < self.p
            # 2. The op draws its parameters for all images and changes only the chosen ones.
            if self.p == 0.0:
                # Nothing changes, but the op's numbers must still be drawn: run it on zero
                # channels, which draws exactly as on x (N, H, W are the same) at no cost.
                OPS[name](x[:, :0], generator, chosen)
            else:
                out = OPS[name](out, generator, None if self.p >= 1.0 else chosen)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(policy={self.policy}, p={self.p:.4g})"


class AdaptiveAugment(Augment):
    """ADA: ``p`` follows r_t = E[sign(D(real))] towards ``target`` (Karras et al. 2020, sec. 3).

    The trainer calls :meth:`accumulate` with D's scores on (augmented) real images every
    D step and :meth:`update` every ``interval`` D steps, on every rank at the same step.
    """

    def __init__(
        self,
        policy: list[str],
        *,
        target: float = 0.6,  # wanted r_t; above it D is judged to overfit and p rises
        interval: int = 4,  # D steps between updates (read by the trainer)
        speed_kimg: float = 100.0,  # thousands of images for p to move by 1
        p: float = 0.0,  # initial probability
        max_p: float = 1.0,  # p never exceeds this
        min_p: float = 0.0,  # p never falls below this; the trainer may raise it
    ) -> None:
        super().__init__(policy, p=p)
        if not 0.0 < target < 1.0:
            raise ValueError(f"ADA target must be in (0, 1), got {target}")
        if interval < 1:
            raise ValueError(f"ADA interval must be >= 1 D steps, got {interval}")
        if speed_kimg <= 0:
            raise ValueError(f"ADA speed_kimg must be > 0, got {speed_kimg}")
        if not 0.0 <= max_p <= 1.0 or p > max_p:
            raise ValueError(f"ADA needs 0 <= p <= max_p <= 1, got p={p}, max_p={max_p}")
        self.target = float(target)
        self.interval = int(interval)
        self.speed_kimg = float(speed_kimg)
        self.max_p = float(max_p)
        self._min_p = 0.0
        self.min_p = min_p
        self.last_rt = math.nan  # r_t of the latest update; nan before the first
        # Sum of sign(D(real)) as a 0-d tensor on the scores' device (no host sync per step),
        # and how many scores went into it.
        self._sign_sum = torch.zeros(())
        self._count = 0

    @property
    def min_p(self) -> float:
        """Floor of p. Setting it lifts p at once; the floor wins over ``max_p`` if above it,
        since it is raised deliberately (e.g. by the health monitor's recovery)."""
        return self._min_p

    @min_p.setter
    def min_p(self, value: float) -> None:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"ADA min_p must be in [0, 1], got {value}")
        self._min_p = float(value)
        self.p = max(self.p, self._min_p)

    def accumulate(self, real_scores: Tensor) -> None:
        """Add sign(D(real)) of one batch. real_scores: any shape, usually (N,) or (N, 1)."""
        s = real_scores.detach().float().sign().sum()
        self._sign_sum = self._sign_sum.to(s.device) + s
        self._count += real_scores.numel()

    def update(self, images_since_last: int, dist: DistContext | None = None) -> float:
        """Move p by the sign of r_t - target and reset the accumulated signs.

        Args:
            images_since_last: real images D saw since the last update, summed over all
                ranks (``interval * global batch``); the step is this / (speed_kimg * 1000).
            dist: with ``dist.enabled`` the [sum, count] pair is all-reduced (SUM) so every
                rank computes the same r_t and p; every rank must call update together.

        Returns:
            r_t = sum / count over all ranks, also kept in ``last_rt``. When no score was
            accumulated anywhere, r_t is nan and p is left as it is.
        """
        if images_since_last < 0:
            raise ValueError(f"images_since_last must be >= 0, got {images_since_last}")
        stats = torch.stack([self._sign_sum.float(), self._sign_sum.new_tensor(float(self._count))])
        if dist is not None and dist.enabled:
            torch.distributed.all_reduce(stats, op=torch.distributed.ReduceOp.SUM)
        total, count = stats.tolist()
        self._sign_sum = torch.zeros((), device=self._sign_sum.device)
        self._count = 0
        if count == 0:
            self.last_rt = math.nan
            return self.last_rt
        rt = total / count
        direction = (rt > self.target) - (rt < self.target)  # sign(r_t - target)
        p = self.p + direction * images_since_last / (self.speed_kimg * 1000)
        self.p = max(min(max(p, 0.0), self.max_p), self._min_p)
        self.last_rt = rt
        return rt

    def state_dict(self) -> dict[str, float]:
        """Plain floats for a checkpoint: p, min_p, the accumulators and last_rt."""
        return {
            "p": self.p,
            "min_p": self._min_p,
            "sign_sum": float(self._sign_sum),
            "count": float(self._count),
            "last_rt": self.last_rt,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (exactly those keys)."""
        expected = set(self.state_dict())
        if set(state) != expected:
            raise ValueError(f"ADA state keys {sorted(state)} do not match the expected {sorted(expected)}")
        self._min_p = float(state["min_p"])
        self.p = float(state["p"])
        self._sign_sum = torch.tensor(float(state["sign_sum"]))
        self._count = int(state["count"])
        self.last_rt = float(state["last_rt"])


def build_augment(cfg: AugmentConfig) -> Augment | None:
    """The pipeline ``cfg`` describes: None for kind "none", DiffAugment or ADA otherwise."""
    if cfg.kind == "none":
        return None
    if cfg.kind == "diffaugment":
        return Augment(cfg.policy, p=1.0)
    return AdaptiveAugment(
        cfg.policy, target=cfg.target, interval=cfg.interval, speed_kimg=cfg.speed_kimg, p=cfg.p, max_p=cfg.max_p
    )
