"""Degradations: small seeded functions that make a clean photo worse, for training restorers.

Every function takes float images ``(B, C, H, W)`` in [0, 1] and a ``torch.Generator`` (or
explicit parameters) and returns new images in [0, 1]; parameters are drawn per image, so one
batch holds many kinds of damage. The same generator state gives the same damage, which is
what makes a training run reproducible and a benchmark's degraded inputs fixed.

Modules: ``blur`` (Gaussian, anisotropic), ``resize`` (random kernels), ``noise`` (Gaussian,
Poisson), ``compression`` (JPEG), ``damage`` (fading, scratches, dust) and ``chains`` (the
second-order model of Real-ESRGAN, Wang et al. 2021, plus old-photo damage).
"""

from .blur import gaussian_blur, random_blur
from .chains import second_order
from .compression import jpeg
from .damage import dust, fade, scratches
from .noise import gaussian_noise, poisson_noise, random_noise
from .resize import random_resize, resize

__all__ = ["dust", "fade", "gaussian_blur", "gaussian_noise", "jpeg", "poisson_noise", "random_blur",
           "random_noise", "random_resize", "resize", "scratches", "second_order"]
