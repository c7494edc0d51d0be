"""Latent-space tools: interpolation, style mixing and projection of an image into a generator.

Three actions on a loaded :class:`~ganforge.pipelines.generation.GeneratorPipeline`:

- :func:`interpolate` walks from seed to seed in z (any image model) or in w (models with a
  mapping network, such as ``stylegan``) and returns the frames.
- :func:`style_mix` takes the styles of some layers from one seed and the rest from another
  (Karras et al. 2019, section 3.1) and lays the results out as StyleGAN's mixing figure.
- :func:`project` finds the latent whose image is closest to a given picture, by Adam on
  w (or w+, or z) as in StyleGAN2's projector (Karras et al. 2020, appendix D).

Seed ``s`` always stands for the latent ``sampling.latents(s, 1, latent_dim)[0]``: image 0 of
``ganforge generate MODEL --seed s``. Generation runs on chunks of exactly
:data:`~ganforge.pipelines.generation.GENERATION_CHUNK` latents, as ``generate`` does, so a keyframe is bit
for bit the image ``generate`` draws for its seed. Nothing here writes files; the CLI does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm.auto import tqdm

from . import __version__, sampling
from .data.imageio import open_image, to_array
from .errors import GanforgeError
from .images import make_grid, to_uint8
from .data import DATASETS
from .pipelines.generation import GENERATION_CHUNK, GeneratorPipeline

SPACES = ("z", "w", "w+")
METHODS = ("lerp", "slerp")

# interpolate: at most this many frames (a typo such as --steps 100000 would otherwise run for hours).
MAX_FRAMES = 10_000
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
PERCEPTUAL_WEIGHT = 1.0  # weight of the fashion-cnn feature distance next to the pixel MSE


# ------------------------------------------------------------------------------ interpolation
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
    _require_images(pipe)
    space = _resolve_space(pipe, space, ("z", "w"))
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
    _check_psi(psi)
    label = _one_label(pipe, classes)

    # 1. One latent per keyframe: z, or the per-layer w it maps to.
    keys = _seed_latents(pipe, seeds)
    if space == "w":
        keys = _map(pipe, keys, None if label is None else label.expand(len(seeds)), psi)

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
        return to_uint8(_synthesize_w(pipe, path))
    return to_uint8(_synthesize_z(pipe, path, None if label is None else label.expand(len(path)), psi))


# ------------------------------------------------------------------------------- style mixing
@dataclass
class StyleMix:
    """The pieces of a style-mixing figure, uint8 (…, H, W, C).

    ``rows[r]`` and ``cols[c]`` are the seeds' own images; ``cells[r, c]`` has row seed ``r``'s
    styles except at ``layers``, which come from column seed ``c``.
    """

    rows: np.ndarray  # (R, H, W, C)
    cols: np.ndarray  # (K, H, W, C)
    cells: np.ndarray  # (R, K, H, W, C)
    layers: list[int]

    def grid(self, pad: int = 2) -> np.ndarray:
        """StyleGAN's figure: column images across the top, row images down the left, mixes inside."""
        r, k = self.cells.shape[:2]
        blank = np.full_like(self.rows[:1], 255)
        tiles = [blank, self.cols]
        for i in range(r):
            tiles += [self.rows[i : i + 1], self.cells[i]]
        return make_grid(np.concatenate(tiles), ncols=k + 1, pad=pad)


def style_layers(pipe: GeneratorPipeline, layers: slice | range | Iterable[int] | None = None) -> list[int]:
    """Style layer indices, checked against the model; None -> the coarse half ``0 .. num_ws//2 - 1``.

    Coarse layers (low resolutions) carry pose and shape, fine ones texture and colour
    (Karras et al. 2019, figure 3), so the default copies a column seed's shape onto the rows.
    """
    num_ws = _mapping_generator(pipe).num_ws
    if layers is None:
        return list(range(max(1, num_ws // 2)))
    if isinstance(layers, slice):
        if layers.step not in (None, 1):
            raise GanforgeError("style layers: give a contiguous range (no step)")
        layers = range(layers.start or 0, num_ws if layers.stop is None else layers.stop)
    chosen = sorted({int(i) for i in layers})
    bad = [i for i in chosen if not 0 <= i < num_ws]
    if bad:
        raise GanforgeError(f"style layer {bad[0]} does not exist: this model has {num_ws} style layers, "
                            f"0-{num_ws - 1}")
    return chosen


def style_mix_images(
    pipe: GeneratorPipeline,
    *,
    row_seeds: Sequence[int],
    col_seeds: Sequence[int],
    layers: slice | range | Iterable[int] | None = None,
    classes: str | int | None = None,
    psi: float = 1.0,
) -> StyleMix:
    """Row seeds give the destination styles, column seeds the styles at ``layers``.

    As StyleGAN's ``style_mixing.py``: cell (r, c) is ``synthesis(w_r)`` with
    ``w_r[layers] = w_c[layers]``. With no layers every cell is its row's image.
    """
    if not row_seeds or not col_seeds:
        raise GanforgeError("style mixing needs at least one row seed and one column seed")
    chosen = style_layers(pipe, layers)
    _check_psi(psi)
    label = _one_label(pipe, classes)
    seeds = [int(s) for s in (*row_seeds, *col_seeds)]
    labels = None if label is None else label.expand(len(seeds))
    ws = _map(pipe, _seed_latents(pipe, seeds), labels, psi)
    rows, cols = ws[: len(row_seeds)], ws[len(row_seeds) :]
    mixed = rows[:, None].repeat(1, len(cols), 1, 1)  # (R, K, num_ws, w_dim)
    mixed[:, :, chosen] = cols[None, :, chosen]
    images = to_uint8(_synthesize_w(pipe, torch.cat([ws, mixed.flatten(0, 1)])))
    r, k = len(rows), len(cols)
    return StyleMix(rows=images[:r], cols=images[r : r + k], cells=images[r + k :].reshape(r, k, *images.shape[1:]),
                    layers=chosen)


def style_mix(
    pipe: GeneratorPipeline,
    *,
    row_seeds: Sequence[int],
    col_seeds: Sequence[int],
    layers: slice | range | Iterable[int] | None = None,
    classes: str | int | None = None,
    psi: float = 1.0,
) -> np.ndarray:
    """StyleGAN's style-mixing figure as one uint8 (H', W', C) picture (see :func:`style_mix_images`).

    The top row holds the column seeds' images, the left column the row seeds' images, and
    cell (r, c) the row image with column c's styles at ``layers`` (default: the coarse half).
    """
    return style_mix_images(pipe, row_seeds=row_seeds, col_seeds=col_seeds, layers=layers, classes=classes,
                            psi=psi).grid()


# --------------------------------------------------------------------------------- projection
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
    _require_images(pipe)
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
    _require_images(pipe)
    space = _resolve_space(pipe, space, SPACES)
    if steps < 1:
        raise GanforgeError(f"steps must be >= 1, got {steps}")
    if not lr > 0:
        raise GanforgeError(f"the learning rate must be > 0, got {lr}")
    label = _one_label(pipe, classes)
    device = pipe.device
    target_u8, target_x = _target_pair(pipe, target)
    target_x = target_x.to(device)
    distance = _perceptual_distance(pipe, target_x, perceptual)

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
    _require_images(pipe)
    space = _resolve_space(pipe, space, SPACES)
    label = _one_label(pipe, classes)
    latent = latent.detach().float().cpu()
    if space == "z":
        return to_uint8(_synthesize_z(pipe, latent.reshape(1, -1), label))[0]
    return to_uint8(_synthesize_w(pipe, _as_ws(pipe, space, latent[None])))[0]


def projection_tensors(result: ProjectionResult, pipe: GeneratorPipeline) -> dict[str, torch.Tensor]:
    """Tensors to save: ``latent`` (as optimised) and, in w spaces, ``ws`` (num_ws, w_dim) for synthesis."""
    tensors = {"latent": result.latent.contiguous()}
    if result.space != "z":
        tensors["ws"] = _as_ws(pipe, result.space, result.latent[None])[0].clone()  # its own storage
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

    from .checkpoint import load_weights

    tensors = load_weights(Path(path))  # a missing or corrupt file is a one-line error
    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata() or {})
    if meta.get("format") != "ganforge-projection" or "latent" not in tensors:
        raise GanforgeError(f"'{path}' is not a projection written by ganforge project")
    return tensors, meta


# ------------------------------------------------------------------------------------ helpers
def _model_name(pipe: GeneratorPipeline) -> str:
    return f"'{Path(pipe.source).name}'" if pipe.source else f"this {pipe.config.model.family} model"


def _require_images(pipe: GeneratorPipeline) -> None:
    if pipe.kind != "image":
        raise GanforgeError(f"{_model_name(pipe)} makes 2D points, not images; latent tools need an image model")


def _mapping_generator(pipe: GeneratorPipeline) -> torch.nn.Module:
    if not pipe.style_based:
        raise GanforgeError(f"{_model_name(pipe)} ({pipe.config.model.family}) has no mapping network, "
                            "so it has no w space or style layers; use a stylegan model")
    return pipe.generator


def _resolve_space(pipe: GeneratorPipeline, space: str | None, allowed: tuple[str, ...]) -> str:
    if space is None:
        return "w" if pipe.style_based else "z"
    if space not in allowed:
        raise GanforgeError(f"unknown latent space '{space}'; use one of: {', '.join(allowed)}")
    if space != "z" and not pipe.style_based:
        raise GanforgeError(f"{_model_name(pipe)} ({pipe.config.model.family}) has no mapping network; use --space z")
    return space


def _check_psi(psi: float) -> None:
    if not 0.0 <= psi <= 1.0:
        raise GanforgeError(f"truncation must be between 0 and 1, got {psi}")


def _one_label(pipe: GeneratorPipeline, classes: str | int | None) -> torch.Tensor | None:
    """(1,) int64 for conditional models (a class is required), None for the others."""
    if not pipe.conditional:
        if classes is not None:
            raise GanforgeError("this model is unconditional; leave out --class")
        return None
    names = pipe.class_names or [str(i) for i in range(pipe.config.model.num_classes)]
    if classes is None or (isinstance(classes, str) and classes.lower() == "all"):
        raise GanforgeError(f"{_model_name(pipe)} is class-conditional: give one class with --class NAME; "
                            f"classes: {', '.join(names)}")
    return torch.tensor([pipe.class_index(classes)], dtype=torch.long)


def _seed_latents(pipe: GeneratorPipeline, seeds: Sequence[int]) -> torch.Tensor:
    """z (len(seeds), latent_dim): image 0 of each seed, as ``generate(seed=s)`` draws it."""
    dim = pipe.config.model.latent_dim
    return torch.cat([sampling.latents(int(s), 1, dim) for s in seeds]) if seeds else torch.zeros(0, dim)


@torch.no_grad()
def _chunked(fn: Callable[..., torch.Tensor], x: torch.Tensor, labels: torch.Tensor | None = None,
             device: torch.device | None = None) -> torch.Tensor:
    """``fn(x_chunk[, labels_chunk])`` on chunks of exactly GENERATION_CHUNK rows, zero-padded.

    The same chunk shape as ``GeneratorPipeline.generate_tensor``: CPU and GPU kernels pick
    their blocking by shape, so only this shape gives generate's bits. Returns float32 on the CPU.
    """
    outs = []
    for start in range(0, len(x), GENERATION_CHUNK):
        m = min(GENERATION_CHUNK, len(x) - start)
        xc = x.new_zeros((GENERATION_CHUNK, *x.shape[1:]))
        xc[:m] = x[start : start + m]
        args = [xc.to(device)]
        if labels is not None:
            yc = torch.zeros(GENERATION_CHUNK, dtype=torch.long)
            yc[:m] = labels[start : start + m]
            args.append(yc.to(device))
        outs.append(fn(*args)[:m].float().cpu())
    return torch.cat(outs)


def _synthesize_z(pipe: GeneratorPipeline, z: torch.Tensor, labels: torch.Tensor | None,
                  psi: float = 1.0) -> torch.Tensor:
    """Images (N, C, H, W) float of latents z, as ``generate`` computes them (truncation
    as in :meth:`GeneratorPipeline.run_generator`)."""
    return _chunked(lambda zc, yc=None: pipe.run_generator(zc, yc, psi), z, labels, device=pipe.device)


def _map(pipe: GeneratorPipeline, z: torch.Tensor, labels: torch.Tensor | None, psi: float) -> torch.Tensor:
    """ws (N, num_ws, w_dim) of latents z, truncated towards the class's mean w by ``psi``."""
    g = _mapping_generator(pipe)
    return _chunked(lambda zc, yc=None: g.mapping(zc, yc, psi=psi), z, labels, device=pipe.device)


def _synthesize_w(pipe: GeneratorPipeline, ws: torch.Tensor) -> torch.Tensor:
    g = _mapping_generator(pipe)
    return _chunked(lambda wc: g.synthesis(wc), ws, device=pipe.device)


def _as_ws(pipe: GeneratorPipeline, space: str, latent: torch.Tensor) -> torch.Tensor:
    """A batch of w (N, w_dim) or w+ (N, num_ws, w_dim) -> ws (N, num_ws, w_dim)."""
    g = _mapping_generator(pipe)
    if space == "w":
        return latent.reshape(len(latent), 1, g.w_dim).expand(-1, g.num_ws, -1)
    return latent.reshape(len(latent), g.num_ws, g.w_dim)


def _render(pipe: GeneratorPipeline, space: str, latent: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """Differentiable images (N, C, H, W) of a batch of latents (no chunking: this is for gradients)."""
    if space == "z":
        return pipe.generator(latent, labels)
    return pipe.generator.synthesis(_as_ws(pipe, space, latent))


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
    g = _mapping_generator(pipe)
    z = torch.randn(W_STAT_SAMPLES, pipe.config.model.latent_dim, generator=torch.Generator().manual_seed(W_STAT_SEED))
    labels = None if label is None else label.expand(W_STAT_SAMPLES)
    w = _map(pipe, z, labels, 1.0)[:, 0].double()  # untruncated, every layer holds the same w
    mean = w.mean(0)
    spread = float(((w - mean) ** 2).sum(1).mean().sqrt())
    mean = mean.float()
    return (mean if space == "w" else mean.expand(g.num_ws, -1).clone()), spread


def _perceptual_distance(pipe: GeneratorPipeline, target: torch.Tensor,
                         wanted: bool | None) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """An LPIPS-like distance to ``target`` on fashion-cnn's conv features, or None.

    Features are the ReLU outputs of the three conv blocks (32, 16 and 8 px), unit-normalised
    over channels; the distance is the squared difference averaged over positions, summed
    over blocks (Zhang et al. 2018, the untrained "baseline" variant of LPIPS).
    """
    c, h, _ = pipe.config.model.output_shape
    fits = c == 1 and h in (28, 32) and DATASETS.get(pipe.config.data.dataset).perceptual
    if wanted is False or (wanted is None and not fits):
        return None
    if not fits:
        raise GanforgeError("the perceptual term needs a 1-channel 28 or 32 px Fashion-MNIST model; "
                            "project this one with pixel MSE alone (--no-perceptual)")
    from .metrics.classifier import RESOLUTION, load_classifier

    with torch.random.fork_rng(devices=[]):  # building the network draws initial weights from torch's RNG
        net, _ = load_classifier()
    net = net.to(target.device)

    def features(x: torch.Tensor) -> list[torch.Tensor]:
        if x.shape[-1] != RESOLUTION:  # the classifier's input size, by the training data's resize
            x = F.interpolate(x, size=(RESOLUTION, RESOLUTION), mode="bilinear", antialias=True, align_corners=False)
        out = []
        for layer in net.body:
            if isinstance(layer, torch.nn.MaxPool2d):
                out.append(F.normalize(x, dim=1, eps=1e-8))
            if isinstance(layer, torch.nn.Flatten):
                break
            x = layer(x)
        return out

    with torch.no_grad():
        reference = features(target)

    def distance(image: torch.Tensor) -> torch.Tensor:
        return sum(((f - r) ** 2).sum(1).mean() for f, r in zip(features(image), reference))

    return distance
