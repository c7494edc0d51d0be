"""Degradation chains: Real-ESRGAN's second-order model (Wang et al. 2021, sec. 3.2), with
old-photo damage in front of it.

Real-ESRGAN applies the classic chain blur -> resize -> noise -> JPEG twice, because real photos
went through several cameras, edits and uploads; the second round is milder. The ranges here
are the paper's, narrowed a little for a small CPU model (written out in each call).
"""

from __future__ import annotations

import torch

from .blur import random_blur
from .compression import jpeg
from .damage import dust, fade, scratches, some
from .noise import random_noise
from .resize import MODES, random_resize, resize
from .util import uniform


def second_order(x: torch.Tensor, gen: torch.Generator, *, scale: int, old_photo: float = 0.5) -> torch.Tensor:
    """A clean batch ``x`` (B, C, H, W) in [0, 1] -> its degraded version of size (H/scale, W/scale).

    Steps: old-photo damage (fade, scratches, dust; each with probability ``old_photo``), then
    round 1 (blur sigma 0.2-3, resize x0.3-1.5, noise sigma 1-25 or Poisson, JPEG 30-95), round 2
    (blur sigma 0.2-1.5 with p 0.8, resize x0.5-1.2, noise sigma 1-20, JPEG 30-95 with p 0.8) and
    the final resize to the output size with a random kernel.
    """
    h, w = x.shape[-2:]
    y = some(x, fade(x, gen), gen, old_photo)
    y = some(y, scratches(y, gen), gen, old_photo)
    y = some(y, dust(y, gen), gen, old_photo)
    # Round 1
    y = random_blur(y, gen, sigma=(0.2, 3.0))
    y = random_resize(y, gen, factor=(0.3, 1.5))
    y = random_noise(y, gen, sigma=(1 / 255, 25 / 255))
    y = jpeg(y, uniform(gen, y.shape[0], 30, 95).round())
    # Round 2
    y = random_blur(y, gen, sigma=(0.2, 1.5), p=0.8)
    y = random_resize(y, gen, factor=(0.5, 1.2))
    y = random_noise(y, gen, sigma=(1 / 255, 20 / 255))
    mode = MODES[int(torch.randint(len(MODES), (1,), generator=gen))]
    y = resize(y, (h // scale, w // scale), mode)
    q = uniform(gen, y.shape[0], 30, 95).round()
    compressed = jpeg(y, q)
    return some(y, compressed, gen, 0.8)
