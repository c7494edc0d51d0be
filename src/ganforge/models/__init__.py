"""Model families, registered by name in ``MODELS``.

Each family file (``mlp.py``, ``dcgan.py``, ``stylegan.py``) owns a config class (a
:class:`~ganforge.config.FamilyConfig`) and a ``Generator`` / ``Discriminator`` pair built
from it with keyword-only arguments. Every generator maps ``(z (N, latent_dim), labels (N,)
or None)`` to samples in the data's range; every discriminator maps ``(x, labels)`` to
``(scores (N / pack,), class_logits or None)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from ..config import FamilyConfig
from ..registry import Registry


@dataclass(frozen=True)
class ModelFamily:
    name: str
    config: type[FamilyConfig]
    build_generator: Callable[[FamilyConfig], nn.Module]
    build_discriminator: Callable[[FamilyConfig], nn.Module]


MODELS: Registry[ModelFamily] = Registry("model family")


def register_model(family: ModelFamily) -> ModelFamily:
    return MODELS.register(family.name, family)


def build_generator(cfg: FamilyConfig) -> nn.Module:
    return MODELS.get(cfg.family).build_generator(cfg)


def build_discriminator(cfg: FamilyConfig) -> nn.Module:
    return MODELS.get(cfg.family).build_discriminator(cfg)


from . import dcgan, mlp, stylegan  # noqa: E402,F401  (registers the built-in families)

__all__ = ["MODELS", "ModelFamily", "build_discriminator", "build_generator", "register_model"]
