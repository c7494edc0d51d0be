"""What every latent tool shares: model checks, the one class choice, seeds as latents, and
generation on ``generate``'s chunks (``sampling.run_in_chunks``), so a keyframe or a mixing
figure's row is bit for bit the image ``generate`` draws for its seed."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from .. import sampling
from ..errors import GanforgeError
from ..pipelines.generation import GeneratorPipeline

SPACES = ("z", "w", "w+")


def model_name(pipe: GeneratorPipeline) -> str:
    return f"'{Path(pipe.source).name}'" if pipe.source else f"this {pipe.config.model.family} model"


def require_images(pipe: GeneratorPipeline) -> None:
    if pipe.kind != "image":
        raise GanforgeError(f"{model_name(pipe)} makes 2D points, not images; latent tools need an image model")


def mapping_generator(pipe: GeneratorPipeline) -> torch.nn.Module:
    if not pipe.style_based:
        raise GanforgeError(f"{model_name(pipe)} ({pipe.config.model.family}) has no mapping network, "
                            "so it has no w space or style layers; use a stylegan model")
    return pipe.generator


def resolve_space(pipe: GeneratorPipeline, space: str | None, allowed: tuple[str, ...]) -> str:
    if space is None:
        return "w" if pipe.style_based else "z"
    if space not in allowed:
        raise GanforgeError(f"unknown latent space '{space}'; use one of: {', '.join(allowed)}")
    if space != "z" and not pipe.style_based:
        raise GanforgeError(f"{model_name(pipe)} ({pipe.config.model.family}) has no mapping network; use --space z")
    return space


def check_psi(psi: float) -> None:
    if not 0.0 <= psi <= 1.0:
        raise GanforgeError(f"truncation must be between 0 and 1, got {psi}")


def one_label(pipe: GeneratorPipeline, classes) -> torch.Tensor | None:
    """(1,) int64 ((1, T) for several traits) for conditional models, which need exactly one
    choice; None for the others (which take none). The rule is ``Conditioning.one``'s."""
    return pipe.conditioning.one(classes, model=model_name(pipe))


def repeat_label(label: torch.Tensor | None, n: int) -> torch.Tensor | None:
    """:func:`one_label`'s (1,) or (1, T) -> the same choice for n images, (n,) or (n, T); None stays None."""
    return None if label is None else label.expand(n, *label.shape[1:])


def seed_latents(pipe: GeneratorPipeline, seeds: Sequence[int]) -> torch.Tensor:
    """z (len(seeds), latent_dim): image 0 of each seed, as ``generate(seed=s)`` draws it."""
    dim = pipe.config.model.latent_dim
    return torch.cat([sampling.latents(int(s), 1, dim) for s in seeds]) if seeds else torch.zeros(0, dim)


def synthesize_z(pipe: GeneratorPipeline, z: torch.Tensor, labels: torch.Tensor | None,
                 psi: float = 1.0) -> torch.Tensor:
    """Images (N, C, H, W) float of latents z, as ``generate`` computes them (truncation
    as in :meth:`GeneratorPipeline.run_generator`)."""
    return sampling.run_in_chunks(lambda zc, yc: pipe.run_generator(zc, yc, psi), len(z), z, labels,
                                  device=pipe.device)


def map_latents(pipe: GeneratorPipeline, z: torch.Tensor, labels: torch.Tensor | None, psi: float) -> torch.Tensor:
    """ws (N, num_ws, w_dim) of latents z, truncated towards the class's mean w by ``psi``."""
    g = mapping_generator(pipe)
    return sampling.run_in_chunks(lambda zc, yc: g.mapping(zc, yc, psi=psi), len(z), z, labels, device=pipe.device)


def synthesize_w(pipe: GeneratorPipeline, ws: torch.Tensor) -> torch.Tensor:
    """Images (N, C, H, W) float of ws (N, num_ws, w_dim), on generate's chunks."""
    return sampling.run_in_chunks(mapping_generator(pipe).synthesis, len(ws), ws, device=pipe.device)


def as_ws(pipe: GeneratorPipeline, space: str, latent: torch.Tensor) -> torch.Tensor:
    """A batch of w (N, w_dim) or w+ (N, num_ws, w_dim) -> ws (N, num_ws, w_dim)."""
    g = mapping_generator(pipe)
    if space == "w":
        return latent.reshape(len(latent), 1, g.w_dim).expand(-1, g.num_ws, -1)
    return latent.reshape(len(latent), g.num_ws, g.w_dim)
