"""Adversarial losses and gradient penalties.

A loss turns the discriminator's raw scores ("logits", one per sample, before any sigmoid)
into the two scalars the trainer minimises: ``d_loss(real, fake)`` for D and
``g_loss(fake)`` for G. Losses are looked up by name in :data:`LOSSES`; the config's
``loss.name`` is checked against its keys.

The penalties regularise D's gradient with respect to its input and are added by the
trainer's ``regularize`` phase: :func:`gradient_penalty` (WGAN-GP, on interpolates, used
when a loss sets ``needs_gradient_penalty``) and :func:`r1_penalty` (R1, on real data,
usable with any loss). Both take ``critic``, any callable mapping a batch to scores
``(N,)``, typically a closure over D and the batch's labels.

All reductions run in float32 even when the logits come from a bf16/fp16 autocast region:
means of many small terms lose too much in half precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .registry import Registry

Critic = Callable[[Tensor], Tensor]

__all__ = [
    "AdversarialLoss",
    "Critic",
    "HingeLoss",
    "LOSSES",
    "LeastSquaresLoss",
    "NonSaturatingLoss",
    "WassersteinLoss",
    "gradient_penalty",
    "mode_seeking_penalty",
    "path_length_penalty",
    "r1_penalty",
    "register_loss",
]


def _fp32(x: Tensor) -> Tensor:
    """Upcast half-precision tensors to float32; float32 and float64 pass unchanged."""
    return x.float() if x.is_floating_point() and x.element_size() < 4 else x


@dataclass(frozen=True)
class AdversarialLoss:
    """Base of every adversarial loss; subclasses implement the two objectives.

    Arguments of both methods are D's raw scores, shape ``(N,)`` (any shape works: each
    term is a mean over all elements). Both return a float32 (or float64) scalar.
    """

    name: str  # registry key, e.g. "hinge"
    needs_gradient_penalty: bool = False  # the task adds gradient_penalty() to D's loss
    # D's scores have a fixed scale (logits, margins), so a gap between D(real) and D(fake)
    # means something; a Wasserstein critic's do not (the health monitor skips them then).
    scores_have_scale: bool = True

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """Discriminator loss from scores on real ``(N,)`` and generated ``(N,)`` samples."""
        raise NotImplementedError

    def g_loss(self, fake_logits: Tensor) -> Tensor:
        """Generator loss from D's scores on generated samples ``(N,)``."""
        raise NotImplementedError


@dataclass(frozen=True)
class NonSaturatingLoss(AdversarialLoss):
    """The original GAN loss with the non-saturating generator objective.

    Goodfellow et al. 2014, "Generative Adversarial Nets", eq. 1 and section 3. With
    ``D(x) = sigmoid(l(x))`` and ``log sigmoid(t) = -softplus(-t)``::

        L_D = E_x[softplus(-l(x))] + E_z[softplus(l(G(z)))]
        L_G = E_z[softplus(-l(G(z)))]        # -log D(G(z)) instead of log(1 - D(G(z)))

    The G objective keeps strong gradients early in training, when D rejects every fake.
    """

    name: str = "nonsaturating"

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return F.softplus(-_fp32(real_logits)).mean() + F.softplus(_fp32(fake_logits)).mean()

    def g_loss(self, fake_logits: Tensor) -> Tensor:
        return F.softplus(-_fp32(fake_logits)).mean()


@dataclass(frozen=True)
class HingeLoss(AdversarialLoss):
    """Hinge loss (Lim & Ye 2017, "Geometric GAN"; Miyato et al. 2018, "Spectral
    Normalization for Generative Adversarial Networks")::

        L_D = E_x[relu(1 - l(x))] + E_z[relu(1 + l(G(z)))]
        L_G = -E_z[l(G(z))]
    """

    name: str = "hinge"

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return F.relu(1.0 - _fp32(real_logits)).mean() + F.relu(1.0 + _fp32(fake_logits)).mean()

    def g_loss(self, fake_logits: Tensor) -> Tensor:
        return -_fp32(fake_logits).mean()


@dataclass(frozen=True)
class WassersteinLoss(AdversarialLoss):
    """Wasserstein loss with gradient penalty (Gulrajani et al. 2017, "Improved Training of
    Wasserstein GANs", eq. 3; the penalty term is :func:`gradient_penalty`)::

        L_D = E_z[l(G(z))] - E_x[l(x)]   (+ lambda * GP, added by the trainer)
        L_G = -E_z[l(G(z))]

    Without the penalty the critic is not Lipschitz and the loss is meaningless, hence
    ``needs_gradient_penalty=True``.
    """

    name: str = "wgan-gp"
    needs_gradient_penalty: bool = True
    scores_have_scale: bool = False

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return _fp32(fake_logits).mean() - _fp32(real_logits).mean()

    def g_loss(self, fake_logits: Tensor) -> Tensor:
        return -_fp32(fake_logits).mean()


@dataclass(frozen=True)
class LeastSquaresLoss(AdversarialLoss):
    """Least-squares loss (Mao et al. 2017, "Least Squares Generative Adversarial Networks",
    eq. 2 with the 0-1 coding a=0, b=c=1)::

        L_D = 1/2 E_x[(l(x) - 1)^2] + 1/2 E_z[l(G(z))^2]
        L_G = 1/2 E_z[(l(G(z)) - 1)^2]
    """

    name: str = "lsgan"

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        real, fake = _fp32(real_logits), _fp32(fake_logits)
        return 0.5 * (real - 1.0).square().mean() + 0.5 * fake.square().mean()

    def g_loss(self, fake_logits: Tensor) -> Tensor:
        return 0.5 * (_fp32(fake_logits) - 1.0).square().mean()


LOSSES: Registry[AdversarialLoss] = Registry("loss")


def register_loss(loss: AdversarialLoss) -> AdversarialLoss:
    """Add ``loss`` to :data:`LOSSES` under ``loss.name``; a taken name raises ValueError."""
    return LOSSES.register(loss.name, loss)


register_loss(NonSaturatingLoss())
register_loss(HingeLoss())
register_loss(WassersteinLoss())
register_loss(LeastSquaresLoss())


def loss_without_penalty(name: str, task: str) -> str:
    """``name`` if it is a registered loss that needs no gradient penalty (what the image-to-image
    tasks add to D), for their configs' validators; a ValueError naming the ones that fit otherwise."""
    if LOSSES.get(name).needs_gradient_penalty:
        fitting = ", ".join(n for n in LOSSES.names() if not LOSSES.get(n).needs_gradient_penalty)
        raise ValueError(f"loss '{name}' needs a gradient penalty, which the {task} task does not add; use {fitting}")
    return name


def _input_grad(critic: Critic, x: Tensor) -> Tensor:
    """``d sum(critic(x)) / dx`` with a graph, so a penalty on it reaches D's parameters.

    Summing the scores gives each sample's own gradient, because samples do not interact in
    D (no batch norm in critics); extra score dimensions (e.g. ``(N, 1)``) are summed too.
    """
    scores = critic(x)
    (grad,) = torch.autograd.grad(_fp32(scores).sum(), x, create_graph=True)
    return _fp32(grad).flatten(1)  # (N, prod(sample shape))


def gradient_penalty(
    critic: Critic,
    real: Tensor,
    fake: Tensor,
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """WGAN-GP two-sided gradient penalty (Gulrajani et al. 2017, eq. 3)::

        x_hat = a * x + (1 - a) * G(z),   a ~ U(0, 1) per sample
        GP    = E[(||grad_x_hat D(x_hat)||_2 - 1)^2]

    Args:
        critic: maps a batch shaped like ``real`` to scores ``(N,)``.
        real: real samples ``(N, ...)``.
        fake: generated samples, same shape; detached here, so G gets no gradient.
        generator: draws the mixing weights ``a`` (on ``real.device``), for reproducibility.

    Returns the unweighted penalty as a scalar; the caller multiplies by ``lambda``
    (``loss.gp_weight``, 10 in the paper). It is differentiable in the critic's parameters.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} must have the same shape")
    alpha_shape = (real.shape[0],) + (1,) * (real.dim() - 1)  # (N, 1, ..., 1)
    alpha = torch.rand(alpha_shape, generator=generator, device=real.device, dtype=real.dtype)
    x_hat = (alpha * real.detach() + (1.0 - alpha) * fake.detach()).requires_grad_(True)
    grad_norm = _input_grad(critic, x_hat).norm(2, dim=1)  # (N,)
    return (grad_norm - 1.0).square().mean()


def r1_penalty(critic: Critic, real: Tensor) -> Tensor:
    """R1 penalty on real data (Mescheder et al. 2018, "Which Training Methods for GANs do
    actually Converge?", eq. 9)::

        R1 = E_x[||grad_x D(x)||_2^2]

    Args:
        critic: maps a batch shaped like ``real`` to scores ``(N,)``.
        real: real samples ``(N, ...)``; detached here, a fresh input leaf is used.

    Returns the unweighted penalty as a scalar, differentiable in the critic's parameters.
    The caller adds ``gamma / 2 * R1`` to D's loss; with lazy regularization (Karras et al.
    2020, StyleGAN2, section 3.1) it is applied every ``r1_interval`` steps and multiplied
    by ``r1_interval`` as well, so its average strength is unchanged.
    """
    x = real.detach().requires_grad_(True)
    return _input_grad(critic, x).square().sum(dim=1).mean()


def path_length_penalty(
    generator: torch.nn.Module,
    z: Tensor,
    labels: Tensor | None,
    pl_mean: Tensor,
    *,
    decay: float,
    generator_rng: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Path-length regularization (Karras et al. 2020, "Analyzing and Improving the Image
    Quality of StyleGAN", eq. 4)::

        J_w^T y with y ~ N(0, I) / sqrt(H W)   (image-space noise, one per sample)
        L_pl = E_w,y[(||J_w^T y||_2 - a)^2],   a = running mean of ||J_w^T y||_2

    A fixed-size step in w then changes the image by a fixed amount, which makes G smoother
    and easier to invert (``ganforge project``).

    Args:
        generator: a style-based G with ``mapping(z, labels)`` -> ws ``(N, L, w_dim)`` and
            ``synthesis(ws)`` -> images ``(N, C, H, W)``.
        z: latents ``(N, latent_dim)``; labels: ``(N,)`` or None.
        pl_mean: the running mean ``a``, a 0-dim float32 tensor.
        decay: weight of the new batch in the running mean.
        generator_rng: draws the image-space noise ``y``.

    Returns ``(penalty, new_pl_mean)``; the penalty is differentiable in G's parameters.
    """
    ws = generator.mapping(z, labels)
    images = generator.synthesis(ws)
    noise = torch.randn(images.shape, generator=generator_rng, device=images.device, dtype=torch.float32)
    noise = noise / math.sqrt(images.shape[2] * images.shape[3])
    (grad,) = torch.autograd.grad((_fp32(images) * noise).sum(), ws, create_graph=True)
    lengths = _fp32(grad).square().sum(dim=2).mean(dim=1).sqrt()  # (N,)
    new_mean = pl_mean.detach() + decay * (lengths.detach().mean() - pl_mean.detach())
    return (lengths - new_mean).square().mean(), new_mean


def mode_seeking_penalty(fake: Tensor, z: Tensor, *, eps: float = 1e-5) -> Tensor:
    """Mode-seeking regularization (Mao et al. 2019, "Mode Seeking Generative Adversarial
    Networks for Diverse Image Synthesis", eq. 3), minimised by G::

        L_ms = 1 / (mean|G(z1) - G(z2)| / mean|z1 - z2| + eps)

    ``fake`` and ``z`` hold two halves, sample ``i`` of the first paired with sample ``i`` of
    the second (same class label for conditional models). Pulling the outputs of different
    latents apart counters a G that draws the same picture for every z of a class, which a
    projection discriminator alone does not punish. An odd last sample is left unpaired.

    Args: ``fake`` (N, ...) generated samples; ``z`` (N, latent_dim) their latents.
    Returns a 0-dim float32 tensor, differentiable in G's parameters.
    """
    half = fake.shape[0] // 2
    if half < 1:
        raise ValueError(f"the mode-seeking term needs at least 2 samples, got {fake.shape[0]}")
    f, z = _fp32(fake), _fp32(z)
    image_dist = (f[:half] - f[half : 2 * half]).abs().mean()
    latent_dist = (z[:half] - z[half : 2 * half]).abs().mean()
    return 1.0 / (image_dist / latent_dist + eps)
