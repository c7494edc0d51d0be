"""Paired image-to-image translation (pix2pix, Isola et al. 2017): learn G(source) -> target
from aligned pairs.

G is an image-to-image backbone (``unet``), D a conditional patch discriminator (``patchgan``)
that judges ``concat(source, image)`` patch by patch. The objective (Isola et al. 2017, eq. 4):

    G* = arg min_G max_D  L_cGAN(G, D) + lambda * E[ ||target - G(source)||_1 ]

with ``lambda = loss.l1_weight`` (100 in the paper) and any registered adversarial loss for
``L_cGAN``. Batches: ``{"source": (B, C_in, H, W), "target": (B, C_out, H, W)}`` float32 in
[-1, 1]. The exported model is the EMA of G, an :class:`~ganforge.pipelines.image_to_image.ImageToImagePipeline`.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, field_validator, model_validator

from ..config import TaskConfig
from ..errors import GanforgeError
from ..losses import LOSSES, loss_without_penalty, r1_penalty
from ..models import BACKBONES
from ..schema import StrictModel
from .base import Batch, Task, register_task

SAMPLE_PAIRS = 8  # rows of the sample picture: source | output | target


class PairedModelConfig(StrictModel):
    """The two networks: registered backbones by name, each with its own keyword arguments."""

    generator: str = Field("unet", description="generator backbone (a registered backbone with role generator)")
    discriminator: str = Field("patchgan", description="discriminator backbone (role discriminator)")
    g: dict[str, Any] = Field(default_factory=dict, description="arguments of the generator backbone (see its config)")
    d: dict[str, Any] = Field(default_factory=dict, description="arguments of the discriminator backbone")

    @model_validator(mode="after")
    def _check_backbones(self) -> "PairedModelConfig":
        for slot, role, args in (("generator", "generator", self.g), ("discriminator", "discriminator", self.d)):
            backbone = BACKBONES.get(getattr(self, slot))
            if backbone.role != role:
                fits = [n for n in BACKBONES.names() if BACKBONES.get(n).role == role]
                raise ValueError(f"model.{slot}: '{backbone.name}' is a {backbone.role}; use one of {', '.join(fits)}")
            unknown = sorted(set(args) - set(backbone.config.model_fields))
            if unknown:
                key = "g" if slot == "generator" else "d"
                raise ValueError(f"unknown key 'model.{key}.{unknown[0]}' for backbone {backbone.name}; "
                                 f"valid keys: {', '.join(backbone.config.model_fields)}")
            backbone.config.model_validate(args)  # types and ranges
        return self

    def build(self, slot: Literal["generator", "discriminator"]) -> torch.nn.Module:
        backbone = BACKBONES.get(getattr(self, slot))
        return backbone.build(backbone.config.model_validate(self.g if slot == "generator" else self.d))


class PairedLossConfig(StrictModel):
    name: str = Field("nonsaturating", description="a registered adversarial loss")
    l1_weight: float = Field(100.0, ge=0, description="weight of the L1 reconstruction term (Isola et al. 2017: 100)")
    r1_gamma: float = Field(0.0, ge=0, description="R1 penalty weight on D (0 disables)")
    r1_interval: int = Field(16, ge=1, description="lazy R1: apply every N steps, scaled by N")

    @field_validator("name")
    @classmethod
    def _known_loss(cls, name: str) -> str:
        return loss_without_penalty(name, "paired")


class PairedConfig(TaskConfig):
    """A paired image-to-image run (``task: paired``)."""

    task: Literal["paired"] = "paired"
    model: PairedModelConfig = PairedModelConfig()
    loss: PairedLossConfig = PairedLossConfig()


@register_task
class PairedTask(Task):
    name = "paired"
    config = PairedConfig
    pipeline = "image-to-image"
    export_network = "G_ema"
    batch_kinds = ("pairs",)
    best_metric = "l1"

    @classmethod
    def resolve_config(cls, cfg: PairedConfig, dataset) -> PairedConfig:
        """Channels of the networks from the data: G maps C_in -> C_out, D sees C_in + C_out."""
        c_in, c_out = int(dataset.source.shape[1]), int(dataset.target.shape[1])
        g, d = dict(cfg.model.g), dict(cfg.model.d)
        for args, key, value in ((g, "in_channels", c_in), (g, "out_channels", c_out), (d, "in_channels", c_in + c_out)):
            if key in args and args[key] != value:
                raise GanforgeError(f"model.{'g' if args is g else 'd'}.{key}={args[key]} does not match the data "
                                    f"({value}: sources have {c_in} channels, targets {c_out})")
            args[key] = value
        return cfg.model_copy(update={"model": cfg.model.model_copy(update={"g": g, "d": d})})

    @classmethod
    def build_export(cls, cfg: PairedConfig) -> torch.nn.Module:
        return cfg.model.build("generator")

    def __init__(self, cfg: PairedConfig, dataset, **kw) -> None:
        super().__init__(cfg, dataset, **kw)
        t = cfg.train
        self.G = cfg.model.build("generator").to(self.device)
        self.D = cfg.model.build("discriminator").to(self.device)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.networks = {"G": self.G, "G_ema": self.G_ema, "D": self.D}
        self.loss = LOSSES.get(cfg.loss.name)
        self.make_optimizer("G", self.G, t.g_lr, "generator")
        self.make_optimizer("D", self.D, t.d_lr, "discriminator")
        self.r1_gamma = cfg.loss.r1_gamma
        # Fixed pairs for the sample picture: the first pairs of the data set.
        k = min(SAMPLE_PAIRS, len(dataset))
        self.fixed = {name: v[:k].to(self.device).float().mul(2.0 / 255.0).sub(1.0) for name, v in dataset.fields().items()}

    def summary(self) -> str:
        m = self.cfg.model
        return f"paired image-to-image ({m.generator} G, {m.discriminator} D, {m.g['in_channels']} -> {m.g['out_channels']} channels)"

    # ------------------------------------------------------------------------------ phases
    def discriminator_step(self, source: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """D learns to tell ``(source, target)`` from ``(source, G(source))``, patch by patch."""
        with torch.no_grad(), self.autocast():
            fake = self.G(source)
        return self.discriminator_update("D", self.loss, torch.cat([source, target], 1),
                                         torch.cat([source, fake.to(source.dtype)], 1))

    def regularize(self, source: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Lazy R1 on the real pairs (gradient w.r.t. D's whole input), as in the noise -> image task."""
        penalty = r1_penalty(lambda x: self.D(x).flatten(1).mean(1), torch.cat([source, target], 1).detach())
        self.optimize(penalty * (self.r1_gamma / 2 * self.cfg.loss.r1_interval), "D", self.D)
        return {"r1": penalty.detach()}

    def generator_step(self, source: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """G fools a frozen D and stays close to the target in L1 (Isola et al. 2017, eq. 4)."""
        self.D.requires_grad_(False)
        try:
            with self.autocast():
                fake = self.G(source)
                adversarial = self.loss.g_loss(self.D(torch.cat([source, fake], 1)))
                l1 = F.l1_loss(fake.float(), target)
                loss = adversarial + self.cfg.loss.l1_weight * l1
            grad_norm = self.optimize(loss, "G", self.G)
        finally:
            self.D.requires_grad_(True)
        return {"loss_g": loss.detach(), "loss_g_adv": adversarial.detach(), "l1": l1.detach(), "grad_norm_g": grad_norm}

    def train_step(self, step: int, next_batch: Callable[[], Batch]) -> dict[str, torch.Tensor]:
        batch = next_batch()
        source, target = batch["source"], batch["target"]
        stats = self.discriminator_step(source, target)
        if self.r1_gamma > 0 and step % self.cfg.loss.r1_interval == 0:
            stats.update(self.regularize(source, target))
        stats.update(self.generator_step(source, target))
        return stats

    def ema_pairs(self):
        return [(self.G_ema, self.G)]

    @property
    def scores_have_scale(self) -> bool:
        return self.loss.scores_have_scale

    def apply_recovery(self, knobs: dict[str, float]) -> None:
        self.r1_gamma = knobs["r1_gamma"]

    # ---------------------------------------------------------------- sampling, evaluation
    @torch.no_grad()
    def sample_picture(self) -> tuple[np.ndarray, int]:
        """Rows of ``source | G_ema(source) | target`` for the first pairs of the data."""
        from ..images import make_grid, to_channels, to_uint8

        source, target = self.fixed["source"], self.fixed["target"]
        out = self.G_ema(source).float()
        c = max(source.shape[1], target.shape[1])
        rows = torch.stack([to_channels(source, c), to_channels(out, c), to_channels(target, c)], 1).flatten(0, 1)
        return make_grid(to_uint8(rows), 3), max(1, 256 // (3 * target.shape[-1]) + 1)

    @torch.no_grad()
    def evaluate(self, run_dir, *, metrics: list[str], n: int, cache: dict[str, Any], pipeline: type):
        """L1 and PSNR of G_ema on held-out pairs (the test split of the data set)."""
        from ..data import build_dataset
        from ..metrics.paired import paired_scores

        if "held_out" not in cache:
            data_cfg = self.cfg.data.model_copy(update={"split": "test", "limit": n})
            try:
                cache["held_out"] = build_dataset(data_cfg)
            except GanforgeError as err:
                raise GanforgeError(f"periodic evaluation needs held-out pairs (data.split=test): {err}") from None
        held = cache["held_out"]
        return paired_scores(self.G_ema, held.source, held.target, device=self.device), []
