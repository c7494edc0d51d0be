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
:data:`~ganforge.sampling.GENERATION_CHUNK` latents, as ``generate`` does, so a keyframe is bit
for bit the image ``generate`` draws for its seed. Nothing here writes files; the CLI does.

One module per concern: ``walk.py`` (lerp, slerp, interpolate), ``mixing.py`` (style mixing),
``projector.py`` (project, render and save latents), ``perceptual.py`` (the projection's feature
distance) and ``common.py`` (model checks, the class choice, chunked synthesis).
"""

from __future__ import annotations

from .common import SPACES
from .mixing import StyleMix, style_layers, style_mix, style_mix_images
from .perceptual import PERCEPTUAL_WEIGHT
from .projector import (
    LR_RAMPDOWN,
    LR_RAMPUP,
    NOISE_FACTOR,
    NOISE_RAMP,
    TARGET_MAX_BYTES,
    TARGET_MAX_PIXELS,
    W_STAT_SAMPLES,
    W_STAT_SEED,
    ProjectionResult,
    load_projection,
    load_target,
    project,
    projection_metadata,
    projection_tensors,
    render_latent,
)
from .walk import MAX_FRAMES, METHODS, interpolate, lerp, slerp

__all__ = ["LR_RAMPDOWN", "LR_RAMPUP", "MAX_FRAMES", "METHODS", "NOISE_FACTOR", "NOISE_RAMP", "PERCEPTUAL_WEIGHT",
           "SPACES", "TARGET_MAX_BYTES", "TARGET_MAX_PIXELS", "W_STAT_SAMPLES", "W_STAT_SEED", "ProjectionResult",
           "StyleMix", "interpolate", "lerp", "load_projection", "load_target", "project", "projection_metadata",
           "projection_tensors", "render_latent", "slerp", "style_layers", "style_mix", "style_mix_images"]
