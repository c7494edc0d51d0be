"""Pure formulas of a training run: learning-rate schedules and the EMA decay.

Functions of numbers only, so they are tested without a Trainer and replayed by benchmarks.
"""

from __future__ import annotations

import math


def lr_factor(images: int, total_images: int, *, decay: str, start: float) -> float:
    """Factor on every learning rate after ``images`` of ``total_images`` real images: 1 until
    ``start`` (a fraction) of training, then falling to 0 at the end, as half a cosine
    (``decay="cosine"``) or a line (``"linear"``); always 1 for ``"none"``.

    A GAN keeps moving at a constant rate, and late in training that motion can undo a good
    state (toy-ring seeds lost modes after mid-training); a decay to 0 lets it settle.
    """
    if decay == "none":
        return 1.0
    if decay not in ("cosine", "linear"):
        raise ValueError(f"decay must be none, cosine or linear, got {decay!r}")
    begin = start * total_images
    x = min(1.0, max(0.0, (images - begin) / max(1.0, total_images - begin)))
    return 0.5 * (1.0 + math.cos(math.pi * x)) if decay == "cosine" else 1.0 - x


def ema_beta(images: int, *, batch_size: int, halflife_kimg: float, rampup: float) -> float:
    """Per-step decay of an exponential moving average of weights with a half-life of
    ``halflife_kimg`` thousand images: ``0.5 ** (batch_size / halflife)``. With ``rampup`` > 0
    the half-life is at most ``rampup * images`` (StyleGAN2-ADA, Karras et al. 2020), so early,
    fast-changing weights are forgotten quickly. A half-life of 0 gives 0: the EMA copies."""
    halflife = halflife_kimg * 1000
    if rampup > 0:
        halflife = min(halflife, images * rampup)
    return 0.5 ** (batch_size / halflife) if halflife > 0 else 0.0
