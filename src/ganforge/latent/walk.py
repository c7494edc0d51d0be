"""Walks through latent space: :func:`interpolate` from seed to seed in z (any image model) or
in w (models with a mapping network), by :func:`lerp` or :func:`slerp`."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import GanforgeError
from ..images import to_uint8
from ..pipelines.generation import GeneratorPipeline
from .common import check_psi, map_latents, one_label, repeat_label, require_images, resolve_space, seed_latents, synthesize_w, synthesize_z

METHODS = ("lerp", "slerp")

# interpolate: at most this many frames (a typo such as --steps 100000 would otherwise run for hours).
MAX_FRAMES = 10_000


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Linear interpolation ``(1 - t) a + t b``; exactly ``a`` at t=0 and ``b`` at t=1.

    ``t`` broadcasts against ``a`` and ``b`` (a float, or (N, 1) for a batch of pairs).
    """
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    return (1 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float, *, eps: float = 1e-6) -> torch.Tensor:
    """Spherical interpolation along the last dimension (Shoemake 1985; White 2016 for GANs).

    ``slerp(a, b, t) = sin((1 - t) W) / sin W * a + sin(t W) / sin W * b`` with W the angle
    between ``a`` and ``b``. Between two vectors of equal norm it keeps that norm all the way,
    where lerp cuts the corner: the midpoint of two 512-d Gaussian latents has norm ~22.6 under
    slerp and ~16 under lerp, a latent the generator never saw in training. W is computed as
    ``2 atan2(|a^ - b^|, |a^ + b^|)``, accurate at every angle (arccos of the dot product loses
    half the digits near 0). Where sin W < ``eps`` (parallel or opposite vectors, where the
    great circle is not defined) the coefficients become lerp's, the limit as W -> 0.
    Exactly ``a`` at t=0 and ``b`` at t=1; computed in float64 and returned in ``a``'s dtype.
    """
    a64, b64 = a.double(), b.double()
    t64 = torch.as_tensor(t, dtype=torch.float64, device=a.device)
    ua, ub = F.normalize(a64, dim=-1), F.normalize(b64, dim=-1)
    omega = 2 * torch.atan2((ua - ub).norm(dim=-1, keepdim=True), (ua + ub).norm(dim=-1, keepdim=True))
    sin_omega = torch.sin(omega)
    curved = sin_omega > eps
    denom = torch.where(curved, sin_omega, torch.ones_like(sin_omega))
    ca = torch.where(curved, torch.sin((1 - t64) * omega) / denom, 1 - t64)
    cb = torch.where(curved, torch.sin(t64 * omega) / denom, t64)
    return (ca * a64 + cb * b64).to(a.dtype)


def interpolate(
    pipe: GeneratorPipeline,
    *,
    seeds: Sequence[int],
    steps: int,
    space: str | None = None,
    method: str | None = None,
    classes: str | int | None = None,
    psi: float = 1.0,
) -> np.ndarray:
    """Frames of a walk through latent space from keyframe to keyframe.

    Args:
        pipe: an image model.
        seeds: keyframe seeds, at least 2; seed ``s`` is image 0 of ``generate(seed=s)``.
        steps: frames between two consecutive keyframes (0: the keyframes alone).
        space: "z" (any model) or "w" (models with a mapping network; each keyframe's z is
            mapped, then the per-layer w are interpolated). Default: "w" where the model has
            a mapping network, else "z".
        method: "lerp" or "slerp". Default: "slerp" in z (Gaussian latents live near a
            sphere), "lerp" in w (StyleGAN's path-length convention).
        classes: one class (name or index) for every frame; required for conditional models.
        psi: truncation in [0, 1], as in ``generate``.

    Returns:
        uint8 (F, H, W, C), ``F = (len(seeds) - 1) * (steps + 1) + 1``. Frame
        ``i * (steps + 1)`` is keyframe ``i``, bit for bit ``generate(1, classes, seeds[i], psi)[0]``
        (psi acts on w for models with a mapping network, on z otherwise, as in ``generate``).
    """
    require_images(pipe)
    space = resolve_space(pipe, space, ("z", "w"))
    method = method or ("slerp" if space == "z" else "lerp")
    if method not in METHODS:
        raise GanforgeError(f"unknown interpolation method '{method}'; use one of: {', '.join(METHODS)}")
    seeds = [int(s) for s in seeds]
    if len(seeds) < 2:
        raise GanforgeError(f"interpolation needs at least 2 keyframe seeds, got {len(seeds)}")
    if steps < 0:
        raise GanforgeError(f"steps (frames between keyframes) must be >= 0, got {steps}")
    frames = (len(seeds) - 1) * (steps + 1) + 1
    if frames > MAX_FRAMES:
        raise GanforgeError(f"{frames} frames is too many (at most {MAX_FRAMES}); use fewer seeds or steps")
    check_psi(psi)
    label = one_label(pipe, classes)

    # 1. One latent per keyframe: z, or the per-layer w it maps to.
    keys = seed_latents(pipe, seeds)
    if space == "w":
        keys = map_latents(pipe, keys, repeat_label(label, len(seeds)), psi)

    # 2. Segment i runs over t = 0, 1/(steps+1), ..., steps/(steps+1); the last keyframe closes.
    segment = torch.arange(len(seeds) - 1).repeat_interleave(steps + 1)
    t = (torch.arange(steps + 1, dtype=torch.float64) / (steps + 1)).repeat(len(seeds) - 1)
    t = t.view(-1, *([1] * (keys.dim() - 1)))
    blend = slerp if method == "slerp" else lerp
    path = blend(keys[segment], keys[segment + 1], t)
    path[t.flatten() == 0] = keys[:-1]  # keyframes exactly, whatever the formula's rounding
    path = torch.cat([path, keys[-1:]])

    # 3. Images, on generate's chunks.
    if space == "w":
        return to_uint8(synthesize_w(pipe, path))
    return to_uint8(synthesize_z(pipe, path, repeat_label(label, len(path)), psi))
