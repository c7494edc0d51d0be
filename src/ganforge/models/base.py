"""The registries of networks (``MODELS``, ``BACKBONES``), what an entry is, and shared helpers;
``models/__init__.py`` re-exports them and imports the family files, which register themselves here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from ..schema import FamilyConfig, StrictModel
from ..errors import GanforgeError
from ..registry import Registry


@dataclass(frozen=True)
class ModelFamily:
    name: str
    config: type[FamilyConfig]
    build_generator: Callable[[FamilyConfig], nn.Module]
    build_discriminator: Callable[[FamilyConfig], nn.Module]
    # G has a mapping network z -> w and a synthesis network (``G.mapping``, ``G.synthesis``,
    # ``G(z, labels, psi=...)`` truncates in w): path length, w-space latent tools.
    style_based: bool = False


MODELS: Registry[ModelFamily] = Registry("model family")


def register_model(family: ModelFamily) -> ModelFamily:
    return MODELS.register(family.name, family)


@dataclass(frozen=True)
class Backbone:
    """A network that is not a noise->image family: image-to-image generators (``unet``),
    patch discriminators (``patchgan``), ... ``config`` holds its keyword-only constructor
    arguments (a pydantic model that refuses unknown keys); ``build(config)`` makes it.
    ``role`` is ``"generator"`` or ``"discriminator"``, so a task can list what fits a slot."""

    name: str
    role: str
    config: type[StrictModel]
    build: Callable[[StrictModel], nn.Module]


BACKBONES: Registry[Backbone] = Registry("backbone")


def register_backbone(backbone: Backbone) -> Backbone:
    if backbone.role not in ("generator", "discriminator"):
        raise ValueError(f"backbone '{backbone.name}': role must be generator or discriminator, got {backbone.role!r}")
    return BACKBONES.register(backbone.name, backbone)


def square_image_shape(cfg: FamilyConfig) -> tuple[int, int]:
    """``(channels, resolution)`` of a family config's square image data; a user error otherwise."""
    shape = cfg.output_shape
    if shape is None or len(shape) != 3 or shape[1] != shape[2]:
        raise GanforgeError(
            f"{cfg.family} needs square images (C, H, W), got data of shape {shape}; use model.family=mlp for vectors"
        )
    return shape[0], shape[1]


def build_generator(cfg: FamilyConfig) -> nn.Module:
    return MODELS.get(cfg.family).build_generator(cfg)


def build_discriminator(cfg: FamilyConfig) -> nn.Module:
    return MODELS.get(cfg.family).build_discriminator(cfg)
