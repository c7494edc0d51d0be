"""Projection: the latent whose image is closest to a given picture, by Adam on w (or w+, or z)
as in StyleGAN2's projector (Karras et al. 2020, appendix D); saving and reloading the result."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm.auto import tqdm

from .. import __version__
from ..data.imageio import open_image, to_array
from ..errors import GanforgeError
from ..images import to_uint8
from ..pipelines.generation import GeneratorPipeline
from .common import SPACES, as_ws, map_latents, mapping_generator, one_label, repeat_label, require_images, resolve_space, synthesize_w, synthesize_z
from .perceptual import PERCEPTUAL_WEIGHT, perceptual_distance

# project: target images are small; refuse large files before decoding them.
TARGET_MAX_PIXELS = 4096 * 4096
TARGET_MAX_BYTES = 50 * 2**20

# project: StyleGAN2's projector schedule (Karras et al. 2020, projector.py defaults).
LR_RAMPDOWN = 0.25  # fraction of the steps over which the learning rate falls (cosine) to 0
LR_RAMPUP = 0.05  # fraction of the steps over which it rises linearly from 0
NOISE_FACTOR = 0.05  # noise added to the latent at step 0, times the latents' spread
NOISE_RAMP = 0.75  # fraction of the steps over which that noise falls (quadratically) to 0
W_STAT_SAMPLES = 10_000  # mapped latents that estimate w's mean and spread
W_STAT_SEED = 123  # their own random stream (the result never depends on the global one)


@dataclass
class ProjectionResult:
    """What :func:`project` found.

    ``latent`` is the optimised variable, float32 on the CPU: z (latent_dim,), w (w_dim,) or
    w+ (num_ws, w_dim). ``mse`` and ``psnr`` compare the uint8 target and reconstruction with
    pixels scaled to [0, 1] (``psnr = 10 log10(1 / mse)`` dB). ``history`` has one entry per
    step: ``step``, ``loss``, ``mse`` (of the float output, same scale) and ``lr``.
    """

    space: str
    latent: torch.Tensor
    label: int | None
    target: np.ndarray  # uint8 (H, W, C): the target as the model sees it
    reconstruction: np.ndarray  # uint8 (H, W, C)
    mse: float
    psnr: float
    history: list[dict[str, float]] = field(default_factory=list)
    perceptual: bool = False
    seed: int = 0

    @property
    def steps(self) -> int:
        return len(self.history)


def load_target(pipe: GeneratorPipeline, target: str | Path | Image.Image | np.ndarray) -> np.ndarray:
    """A target picture -> uint8 (H, W, C) at the model's resolution and channel count.

    A path is opened by :func:`ganforge.data.imageio.open_image` (size limits, format
    allow-list, full decode) with the tighter :data:`TARGET_MAX_PIXELS` and
    :data:`TARGET_MAX_BYTES`. Files, Pillow images and uint8 arrays (H, W) or (H, W, 1|3|4)
    all go through :func:`~ganforge.data.imageio.to_array`, the preprocessing of image-folder
    training data: converted to grey or RGB, centre-cropped to a square, Lanczos-resized.
    """
    require_images(pipe)
    c, h, w = pipe.config.model.output_shape
    if h != w:
        raise GanforgeError(f"projection needs a square model, this one makes {h} x {w} images")
    if isinstance(target, (str, Path)):
        target = open_image(target, max_pixels=TARGET_MAX_PIXELS, max_bytes=TARGET_MAX_BYTES)
    elif isinstance(target, np.ndarray):
        channels = target.shape[2] if target.ndim == 3 else 1
        if target.dtype != np.uint8 or target.ndim not in (2, 3) or channels not in (1, 3, 4):
            raise GanforgeError(f"a target array must be uint8 (H, W) or (H, W, C) with C in 1, 3, 4; "
                                f"got {target.dtype} {target.shape}")
        target = Image.fromarray(target[..., 0] if target.ndim == 3 and target.shape[2] == 1 else target)
    elif not isinstance(target, Image.Image):
        raise GanforgeError(f"a target must be an image file, a PIL image or a uint8 array, "
                            f"not {type(target).__name__}")
    if target.mode not in ("L", "RGB"):
        target = target.convert("RGBA").convert("RGB") if "A" in target.mode else target.convert("RGB")
    return to_array(target, c, h).transpose(1, 2, 0)


def project(
    pipe: GeneratorPipeline,
    target: str | Path | Image.Image | np.ndarray | torch.Tensor,
    *,
    space: str | None = None,
    steps: int = 500,
    lr: float = 0.1,
    classes: str | int | None = None,
    seed: int = 0,
    perceptual: bool | None = None,
    progress: bool = True,
) -> ProjectionResult:
    """Find the latent whose image is closest to ``target`` (StyleGAN2's projector, Karras et al. 2020).

    Adam on the latent from the mean latent (w space: the mean of 10,000 mapped z; z space:
    z = 0), minimising ``MSE(G(latent + noise), target) + PERCEPTUAL_WEIGHT * d_fashion``.
    As in StyleGAN2's projector the learning rate ramps up over the first 5% of the steps
    and down (cosine) over the last 25%, and Gaussian noise of 5% of the latents' spread,
    fading out quadratically over the first 75%, keeps early steps from settling in the
    nearest local minimum. Per-layer noise inputs are not optimised: the generator runs in
    eval mode, whose noise is constant.

    Args:
        pipe: an image model.
        target: an image file, a PIL image, a uint8 array (see :func:`load_target`), or a
            float tensor (C, H, W) or (1, C, H, W) in [-1, 1] of exactly the model's shape.
        space: "w" (one w for every layer), "w+" (one w per layer: closer fits, less
            editable latents) or "z". Default: "w" where the model has a mapping network, else "z".
        steps: optimiser steps.
        lr: peak learning rate.
        classes: the class (name or index) for conditional models; required for them.
        seed: the noise stream; the same seed gives the same result (same machine and threads).
        perceptual: add the fashion-cnn feature distance (an LPIPS-like distance on the
            bundled Fashion-MNIST classifier's conv features). None: where it applies
            (1-channel 28 or 32 px Fashion-MNIST models), else pixel MSE alone.
        progress: a tqdm bar on stderr.
    """
    require_images(pipe)
    space = resolve_space(pipe, space, SPACES)
    if steps < 1:
        raise GanforgeError(f"steps must be >= 1, got {steps}")
    if not lr > 0:
        raise GanforgeError(f"the learning rate must be > 0, got {lr}")
    label = one_label(pipe, classes)
    device = pipe.device
    target_u8, target_x = _target_pair(pipe, target)
    target_x = target_x.to(device)
    distance = perceptual_distance(pipe, target_x, perceptual)

    # 1. Start at the mean latent; the spread scales the exploration noise.
    start, spread = _latent_statistics(pipe, space, label)
    latent = start.clone().to(device).requires_grad_(True)
    opt = torch.optim.Adam([latent], lr=lr, betas=(0.9, 0.999))
    gen = torch.Generator().manual_seed(int(seed) & 0xFFFFFFFFFFFFFFFF)
    labels = None if label is None else label.to(device)

    # 2. Optimise.
    history: list[dict[str, float]] = []
    for step in tqdm(range(steps), desc="projecting", unit="step", leave=False, disable=not progress):
        t = step / steps
        noise_scale = spread * NOISE_FACTOR * max(0.0, 1.0 - t / NOISE_RAMP) ** 2
        step_lr = lr * _lr_ramp(t)
        for group in opt.param_groups:
            group["lr"] = step_lr
        noise = torch.randn(latent.shape, generator=gen).to(device) * noise_scale
        image = _render(pipe, space, (latent + noise)[None], labels)
        mse = F.mse_loss(image, target_x)
        loss = mse + (PERCEPTUAL_WEIGHT * distance(image) if distance is not None else 0.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        # mse of [-1, 1] pixels / 4 = mse of [0, 1] pixels, the scale of the result.
        history.append({"step": step, "loss": loss.item(), "mse": mse.item() / 4, "lr": step_lr})

    # 3. The reconstruction, the way the CLI and render_latent draw it.
    final = latent.detach().cpu()
    reconstruction = render_latent(pipe, final, space=space, classes=label.item() if label is not None else None)
    err = float(np.mean((reconstruction.astype(np.float64) / 255 - target_u8.astype(np.float64) / 255) ** 2))
    psnr = 10 * math.log10(1 / err) if err > 0 else math.inf
    return ProjectionResult(space=space, latent=final, label=None if label is None else int(label),
                            target=target_u8, reconstruction=reconstruction, mse=err, psnr=psnr, history=history,
                            perceptual=distance is not None, seed=int(seed))


@torch.no_grad()
def render_latent(pipe: GeneratorPipeline, latent: torch.Tensor, *, space: str,
                  classes: str | int | None = None) -> np.ndarray:
    """The image of one latent, uint8 (H, W, C): z (latent_dim,), w (w_dim,) or w+ (num_ws, w_dim).

    Runs on ``generate``'s chunk shape, so a z gives the bits ``generate`` gives it.
    """
    require_images(pipe)
    space = resolve_space(pipe, space, SPACES)
    label = one_label(pipe, classes)
    latent = latent.detach().float().cpu()
    if space == "z":
        return to_uint8(synthesize_z(pipe, latent.reshape(1, -1), label))[0]
    return to_uint8(synthesize_w(pipe, as_ws(pipe, space, latent[None])))[0]


def projection_tensors(result: ProjectionResult, pipe: GeneratorPipeline) -> dict[str, torch.Tensor]:
    """Tensors to save: ``latent`` (as optimised) and, in w spaces, ``ws`` (num_ws, w_dim) for synthesis."""
    tensors = {"latent": result.latent.contiguous()}
    if result.space != "z":
        tensors["ws"] = as_ws(pipe, result.space, result.latent[None])[0].clone()  # its own storage
    return tensors


def projection_metadata(result: ProjectionResult, pipe: GeneratorPipeline, *, model: str) -> dict[str, str]:
    """String metadata for the safetensors header: space, model, class, error, settings."""
    names = pipe.class_names
    cls = "" if result.label is None else (names[result.label] if names else str(result.label))
    return {
        "format": "ganforge-projection",
        "ganforge_version": __version__,
        "model": model,
        "space": result.space,
        "class": cls,
        "label": "" if result.label is None else str(result.label),
        "steps": str(result.steps),
        "seed": str(result.seed),
        "perceptual": str(result.perceptual).lower(),
        "mse": f"{result.mse:.8g}",
        "psnr": f"{result.psnr:.4f}",
    }


def load_projection(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a ``projected_w.safetensors`` written by ``ganforge project``: tensors and metadata.

    Render it again with ``render_latent(pipe, tensors["latent"], space=meta["space"],
    classes=int(meta["label"]) if meta["label"] else None)``.
    """
    from safetensors import safe_open

    from ..checkpoint import load_weights

    tensors = load_weights(Path(path))  # a missing or corrupt file is a one-line error
    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata() or {})
    if meta.get("format") != "ganforge-projection" or "latent" not in tensors:
        raise GanforgeError(f"'{path}' is not a projection written by ganforge project")
    return tensors, meta


def _render(pipe: GeneratorPipeline, space: str, latent: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """Differentiable images (N, C, H, W) of a batch of latents (no chunking: this is for gradients)."""
    if space == "z":
        return pipe.generator(latent, labels)
    return pipe.generator.synthesis(as_ws(pipe, space, latent))


def _target_pair(pipe: GeneratorPipeline, target: Any) -> tuple[np.ndarray, torch.Tensor]:
    """The target as uint8 (H, W, C) and as float (1, C, H, W) in [-1, 1]."""
    shape = tuple(pipe.config.model.output_shape)
    if isinstance(target, torch.Tensor):
        x = target.detach().float().cpu()
        if x.dim() == 3:
            x = x[None]
        if tuple(x.shape) != (1, *shape):
            raise GanforgeError(f"a target tensor must have the model's shape {shape}, got {tuple(target.shape)}")
        return to_uint8(x)[0], x
    u8 = load_target(pipe, target)
    return u8, torch.from_numpy(u8.transpose(2, 0, 1).copy())[None].float() / 127.5 - 1


def _lr_ramp(t: float) -> float:
    """StyleGAN2's projector schedule at progress t in [0, 1): linear warm-up, cosine ramp-down."""
    ramp = min(1.0, (1.0 - t) / LR_RAMPDOWN)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return ramp * min(1.0, t / LR_RAMPUP)


@torch.no_grad()
def _latent_statistics(pipe: GeneratorPipeline, space: str, label: torch.Tensor | None) -> tuple[torch.Tensor, float]:
    """The starting latent and the latents' spread ``sqrt(E |x - mean|^2)``.

    z ~ N(0, I): mean 0, spread sqrt(latent_dim). w: estimated from W_STAT_SAMPLES mapped z
    of the class, as StyleGAN2's projector does (the generator's own running w average is
    only as good as its training bookkeeping).
    """
    if space == "z":
        dim = pipe.config.model.latent_dim
        return torch.zeros(dim), math.sqrt(dim)
    g = mapping_generator(pipe)
    z = torch.randn(W_STAT_SAMPLES, pipe.config.model.latent_dim, generator=torch.Generator().manual_seed(W_STAT_SEED))
    labels = repeat_label(label, W_STAT_SAMPLES)
    w = map_latents(pipe, z, labels, 1.0)[:, 0].double()  # untruncated, every layer holds the same w
    mean = w.mean(0)
    spread = float(((w - mean) ** 2).sum(1).mean().sqrt())
    mean = mean.float()
    return (mean if space == "w" else mean.expand(g.num_ws, -1).clone()), spread
