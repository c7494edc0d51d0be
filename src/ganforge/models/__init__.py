"""Model families, registered by name in ``MODELS``.

Each family file (``mlp.py``, ``dcgan.py``, ``stylegan.py``) owns a config class (a
:class:`~ganforge.schema.FamilyConfig`) and a ``Generator`` / ``Discriminator`` pair built
from it with keyword-only arguments. Every generator maps ``(z (N, latent_dim), labels (N, T)
int64, (N,) for one trait, or None)`` to samples in the data's range (labels go through
``layers.TraitEmbedding``; ``conditioning.py`` says what they mean); every discriminator maps
``(x, labels)`` to ``(scores (N / pack,), class_logits or None)``.
"""

from .base import (BACKBONES, MODELS, Backbone, ModelFamily, build_discriminator, build_generator, register_backbone,
                   register_model, square_image_shape)
from . import dcgan, mlp, patchgan, resnet_gen, srnet, stylegan, unet  # noqa: E402,F401  (registers the built-in families)

__all__ = ["BACKBONES", "MODELS", "Backbone", "ModelFamily", "build_discriminator", "build_generator",
           "register_backbone", "register_model", "square_image_shape"]
