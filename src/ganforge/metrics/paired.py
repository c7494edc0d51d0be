"""Scores of an image-to-image model on held-out pairs: L1 and PSNR, beside the identity mapping's.

Pixels are compared on the [0, 1] scale after rounding the output to uint8, so the scores are
those of the images a user would get. The identity mapping (output = source, grey sources
repeated to the target's channels) is the floor any useful model must beat.
"""

from __future__ import annotations

import math

import torch

from ..images import to_channels

# Result keys.
L1, PSNR, L1_IDENTITY, PSNR_IDENTITY = "l1", "psnr", "l1_identity", "psnr_identity"


def psnr_of_mse(mse: float) -> float:
    """PSNR in dB of a mean squared error on the [0, 1] scale."""
    return 10.0 * math.log10(1.0 / mse) if mse > 0 else math.inf


@torch.no_grad()
def paired_scores(model: torch.nn.Module, source: torch.Tensor, target: torch.Tensor, *,
                  device: torch.device | str = "cpu", batch: int = 32) -> dict[str, float]:
    """``model`` maps float (B, C_in, H, W) in [-1, 1] to (B, C_out, H, W); ``source`` and
    ``target`` are uint8 (N, C, H, W). Returns mean L1 and PSNR (over all pixels) of the
    model and of the identity mapping."""
    if len(source) != len(target) or len(source) == 0:
        raise ValueError(f"need as many sources as targets (> 0), got {len(source)} and {len(target)}")
    was_training = model.training
    model.eval()
    abs_sum = sq_sum = id_abs = id_sq = 0.0
    count = 0
    try:
        for i in range(0, len(source), batch):
            s, t = source[i : i + batch], target[i : i + batch].float() / 255.0
            x = s.to(device).float().mul(2.0 / 255.0).sub(1.0)
            out = model(x).float().clamp(-1, 1).add(1).mul(127.5).round().div(255.0).cpu()
            ident = to_channels(s, t.shape[1]).float() / 255.0
            abs_sum += float((out - t).abs().sum())
            sq_sum += float(((out - t) ** 2).sum())
            id_abs += float((ident - t).abs().sum())
            id_sq += float(((ident - t) ** 2).sum())
            count += t.numel()
    finally:
        model.train(was_training)
    return {L1: abs_sum / count, PSNR: psnr_of_mse(sq_sum / count),
            L1_IDENTITY: id_abs / count, PSNR_IDENTITY: psnr_of_mse(id_sq / count)}
