"""Trained models ready to use: ``load(name_or_path)`` returns the pipeline a model calls for.

``base.py`` (save/from_pretrained, ``PIPELINES``, ``load``), ``generation.py`` (noise -> image),
``image.py`` (the contract of every image -> image kind: options, ``process``, runners),
``image_to_image.py`` (image -> image), ``enhance.py`` (photo tools: upscale, denoise,
restore, colorize) and ``style.py`` (photos into art: the style models); the tiles they run in
are ``ganforge/tiling.py`` (any image size in tiles, with bounded memory).
"""

from .base import CONFIG_JSON, PIPELINES, PRETRAINED_DIR, WEIGHTS, Pipeline, bundled_models, load
from .generation import GENERATION_CHUNK, GeneratorPipeline
from .image import ImageOptions, ImagePipeline, TiledOptions
from .image_to_image import ImageToImagePipeline
from .enhance import EnhancePipeline
from .style import StylePipeline

__all__ = ["CONFIG_JSON", "EnhancePipeline", "GENERATION_CHUNK", "WEIGHTS", "GeneratorPipeline", "ImageOptions", "ImagePipeline", "ImageToImagePipeline",
           "PIPELINES", "TiledOptions", "PRETRAINED_DIR",
           "Pipeline", "StylePipeline", "bundled_models", "load"]
