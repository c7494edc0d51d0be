"""Unpaired image-to-image translation (CycleGAN, Zhu et al. 2017): learn A -> B and B -> A
from two unaligned image sets, e.g. photos and paintings.

Two generators ``G_AB: A -> B`` and ``G_BA: B -> A`` (``resnet`` backbones by default) and two
patch discriminators ``D_A`` (real A vs G_BA(b)) and ``D_B`` (real B vs G_AB(a)). The full
objective (Zhu et al. 2017, eq. 3, with the identity term of section 5.2):

    L = L_GAN(G_AB, D_B) + L_GAN(G_BA, D_A)
        + lambda     * ( ||G_BA(G_AB(a)) - a||_1 + ||G_AB(G_BA(b)) - b||_1 )     (cycle, eq. 2)
        + lambda_idt * ( ||G_AB(b) - b||_1 + ||G_BA(a) - a||_1 )                  (identity)

with ``lambda = loss.cycle_weight`` (10 in the paper), ``lambda_idt = loss.identity * lambda``
(0.5 lambda) and the least-squares adversarial loss by default (Mao et al. 2017, the paper's
choice). Each D judges a fake drawn from a history of :data:`~ganforge.tasks.unpaired.POOL_SIZE`
generated images (Shrivastava et al. 2017), so it does not chase G's latest output. The paper
trains with Adam(2e-4, beta1 = 0.5) and a learning rate falling linearly to 0 over the second
half: ``train.lr_decay=linear``, ``lr_decay_start=0.5`` (``configs/shapes-cyclegan.yaml``).

Batches: ``{"a": (B, C, H, W), "b": (B, C, H, W)}`` float32 in [-1, 1], drawn independently
(a data set with ``batch="unpaired"``). The exported model is ``G_AB_ema``, the moving average
of G_AB (the paper has none; ganforge averages every exported generator because it smooths the
step-to-step flicker of GAN outputs at the cost of one copy of G_AB, and
``train.ema_halflife_kimg=0`` makes it a plain copy, i.e. the paper). It becomes a
:class:`~ganforge.pipelines.style.StylePipeline` (tiles with thumbnail normalisation, a
strength, formats and metadata kept).
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, field_validator
from torch import nn

from ..config import TaskConfig
from ..errors import GanforgeError
from ..losses import LOSSES, loss_without_penalty
from ..schema import StrictModel
from .base import Batch, Task, register_task
from .paired import PairedModelConfig

SAMPLE_ROWS = 8  # rows of the sample picture: a | G_AB(a) | G_BA(G_AB(a))


class UnpairedModelConfig(PairedModelConfig):
    """The networks: one generator backbone (built twice, A -> B and B -> A) and one
    discriminator backbone (built twice, for A and for B), each with its keyword arguments."""

    generator: str = Field("resnet", description="generator backbone (a registered backbone with role generator)")


class UnpairedLossConfig(StrictModel):
    name: str = Field("lsgan", description="a registered adversarial loss (CycleGAN: lsgan)")
    cycle_weight: float = Field(10.0, ge=0, description="lambda, weight of the cycle-consistency L1 (Zhu et al.: 10)")
    identity: float = Field(0.5, ge=0, description="weight of the identity L1 as a fraction of cycle_weight (0.5; 0 disables)")
    pool_size: int = Field(50, ge=0, description="generated images each D's history holds (0: D sees the latest only)")

    @field_validator("name")
    @classmethod
    def _known_loss(cls, name: str) -> str:
        return loss_without_penalty(name, "unpaired")


class UnpairedConfig(TaskConfig):
    """An unpaired translation run (``task: unpaired``)."""

    task: Literal["unpaired"] = "unpaired"
    model: UnpairedModelConfig = UnpairedModelConfig()
    loss: UnpairedLossConfig = UnpairedLossConfig()


class ImagePool:
    """The history of generated images a discriminator is shown (Shrivastava et al. 2017; CycleGAN's
    ``ImagePool``). Until it holds ``size`` images, each new image is stored and returned; then
    each new image is, with probability 1/2, returned as it is, or else stored in place of a
    random stored image, which is returned instead. Draws come from the task's random stream and
    the images are part of the task's state, so a resumed run sees the same history."""

    def __init__(self, size: int, noise: torch.Generator) -> None:
        self.size, self.noise = size, noise
        self.images: torch.Tensor | None = None  # (k, C, H, W), k <= size

    def query(self, fake: torch.Tensor) -> torch.Tensor:
        """``fake`` (B, C, H, W), detached -> what D judges as generated, (B, C, H, W)."""
        if self.size == 0:
            return fake
        out = []
        # One draw per image, used only once the pool is full: the stream advances the same way always.
        coins = torch.rand(len(fake), generator=self.noise, device=self.noise.device).tolist()
        slots = torch.randint(self.size, (len(fake),), generator=self.noise, device=self.noise.device).tolist()
        for image, coin, slot in zip(fake, coins, slots):
            image = image[None]
            if self.images is None or len(self.images) < self.size:
                self.images = image.clone() if self.images is None else torch.cat([self.images, image])
                out.append(image)
            elif coin < 0.5:
                out.append(self.images[slot : slot + 1].clone())
                self.images[slot] = image[0]
            else:
                out.append(image)
        return torch.cat(out)


@register_task
class UnpairedTask(Task):
    name = "unpaired"
    config = UnpairedConfig
    pipeline = "style"
    export_network = "G_AB_ema"
    batch_kinds = ("unpaired",)
    best_metric = "cycle_l1"

    @classmethod
    def resolve_config(cls, cfg: UnpairedConfig, dataset) -> UnpairedConfig:
        """Channels from the data: both sides need the same channels (the identity term feeds B to
        G_AB); G maps C -> C and D sees C."""
        c_a, c_b = int(dataset.a.shape[1]), int(dataset.b.shape[1])
        if c_a != c_b:
            raise GanforgeError(f"task unpaired needs the same channels on both sides, got {c_a} (A) and {c_b} (B)")
        g, d = dict(cfg.model.g), dict(cfg.model.d)
        for args, key in ((g, "in_channels"), (g, "out_channels"), (d, "in_channels")):
            if key in args and args[key] != c_a:
                raise GanforgeError(f"model.{'g' if args is g else 'd'}.{key}={args[key]} does not match the data "
                                    f"({c_a} channels on both sides)")
            args[key] = c_a
        return cfg.model_copy(update={"model": cfg.model.model_copy(update={"g": g, "d": d})})

    @classmethod
    def build_export(cls, cfg: UnpairedConfig) -> nn.Module:
        return cfg.model.build("generator")

    def __init__(self, cfg: UnpairedConfig, dataset, **kw) -> None:
        super().__init__(cfg, dataset, **kw)
        t = cfg.train
        self.G_AB = cfg.model.build("generator").to(self.device)
        self.G_BA = cfg.model.build("generator").to(self.device)
        self.D_A = cfg.model.build("discriminator").to(self.device)
        self.D_B = cfg.model.build("discriminator").to(self.device)
        self.G_AB_ema = copy.deepcopy(self.G_AB).eval().requires_grad_(False)
        self.networks = {"G_AB": self.G_AB, "G_BA": self.G_BA, "G_AB_ema": self.G_AB_ema, "D_A": self.D_A, "D_B": self.D_B}
        # Both generators share one optimiser, as in CycleGAN: their losses are one sum.
        self.generators = nn.ModuleDict({"G_AB": self.G_AB, "G_BA": self.G_BA})
        self.make_optimizer("G", self.generators, t.g_lr, "generator")
        self.make_optimizer("D_A", self.D_A, t.d_lr, "discriminator")
        self.make_optimizer("D_B", self.D_B, t.d_lr, "discriminator")
        self.loss = LOSSES.get(cfg.loss.name)
        self.pools = {"D_A": ImagePool(cfg.loss.pool_size, self.noise), "D_B": ImagePool(cfg.loss.pool_size, self.noise)}
        k = min(SAMPLE_ROWS, len(dataset.a))
        self.fixed = dataset.a[:k].to(self.device).float().mul(2.0 / 255.0).sub(1.0)

    def summary(self) -> str:
        m, lw = self.cfg.model, self.cfg.loss
        return (f"unpaired translation ({m.generator} G_AB/G_BA, {m.discriminator} D_A/D_B, {lw.name}, "
                f"cycle x{lw.cycle_weight:g}, identity x{lw.identity * lw.cycle_weight:g}, pool {lw.pool_size})")

    # ------------------------------------------------------------------------------ phases
    def generator_step(self, a: torch.Tensor, b: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """Both generators against frozen discriminators, with the cycle and identity terms
        (Zhu et al. 2017, eq. 3); returns the statistics and the detached fakes ``G_BA(b)``, ``G_AB(a)``."""
        lw = self.cfg.loss
        for D in (self.D_A, self.D_B):
            D.requires_grad_(False)
        try:
            with self.autocast():
                fake_b, fake_a = self.G_AB(a), self.G_BA(b)
                adversarial = self.loss.g_loss(self.D_B(fake_b)) + self.loss.g_loss(self.D_A(fake_a))
                cycle = F.l1_loss(self.G_BA(fake_b).float(), a) + F.l1_loss(self.G_AB(fake_a).float(), b)
                loss = adversarial + lw.cycle_weight * cycle
                stats = {"loss_g_adv": adversarial.detach(), "cycle": cycle.detach()}
                if lw.identity > 0:
                    identity = F.l1_loss(self.G_AB(b).float(), b) + F.l1_loss(self.G_BA(a).float(), a)
                    loss = loss + lw.identity * lw.cycle_weight * identity
                    stats["identity"] = identity.detach()
            stats["grad_norm_g"] = self.optimize(loss, "G", self.generators)
        finally:
            for D in (self.D_A, self.D_B):
                D.requires_grad_(True)
        stats["loss_g"] = loss.detach()
        return stats, fake_a.detach().float(), fake_b.detach().float()

    def discriminator_step(self, name: str, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """D ``name`` on real images of its side against a generated one from its history.

        CycleGAN halves D's loss to slow D down; under Adam a constant factor on a loss changes
        (almost) nothing, so it is left out."""
        stats = self.discriminator_update(name, self.loss, real, self.pools[name].query(fake))
        suffix = name[-1].lower()
        return {f"{key}_{suffix}": value for key, value in stats.items()}

    def train_step(self, step: int, next_batch: Callable[[], Batch]) -> dict[str, torch.Tensor]:
        batch = next_batch()
        a, b = batch["a"], batch["b"]
        stats, fake_a, fake_b = self.generator_step(a, b)
        stats.update(self.discriminator_step("D_A", a, fake_a))
        stats.update(self.discriminator_step("D_B", b, fake_b))
        # The keys every adversarial task logs (the health monitor reads them): both Ds together.
        stats.update(loss_d=stats["loss_d_a"] + stats["loss_d_b"], d_real=(stats["d_real_a"] + stats["d_real_b"]) / 2,
                     d_fake=(stats["d_fake_a"] + stats["d_fake_b"]) / 2,
                     grad_norm_d=torch.hypot(stats["grad_norm_d_a"], stats["grad_norm_d_b"]))
        return stats

    def ema_pairs(self):
        return [(self.G_AB_ema, self.G_AB)]

    @property
    def scores_have_scale(self) -> bool:
        return self.loss.scores_have_scale

    # ------------------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        out = super().state_dict()
        for name, pool in self.pools.items():
            out[f"pool_{name.lower()}"] = pool.images
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        for name, pool in self.pools.items():
            images = state[f"pool_{name.lower()}"]
            pool.images = None if images is None else images.to(self.device)

    # ---------------------------------------------------------------- sampling, evaluation
    @torch.no_grad()
    def sample_picture(self) -> tuple[np.ndarray, int]:
        """Rows of ``a | G_AB_ema(a) | G_BA(G_AB_ema(a))`` for the first images of side A."""
        from ..images import make_grid, to_uint8

        a = self.fixed
        fake_b = self.G_AB_ema(a).float()
        rows = torch.stack([a, fake_b, self.G_BA(fake_b).float()], 1).flatten(0, 1)
        return make_grid(to_uint8(rows), 3), max(1, 256 // (3 * a.shape[-1]) + 1)

    @torch.no_grad()
    def evaluate(self, run_dir, *, metrics: list[str], n: int, cache: dict[str, Any], pipeline: type):
        """Cycle reconstruction on held-out images of both sides (the data set's test split):
        see :func:`cycle_scores`."""
        from ..data import build_dataset

        if "held_out" not in cache:
            data_cfg = self.cfg.data.model_copy(update={"split": "test", "limit": n})
            try:
                cache["held_out"] = build_dataset(data_cfg)
            except GanforgeError as err:
                raise GanforgeError(f"periodic evaluation needs held-out images (data.split=test): {err}") from None
        held = cache["held_out"]
        return cycle_scores(self.G_AB_ema, self.G_BA, held.a, held.b, device=self.device), []


# Result keys of cycle_scores.
CYCLE_L1, CYCLE_L1_A, CYCLE_L1_B, CYCLE_PSNR_A, CYCLE_PSNR_B = "cycle_l1", "cycle_l1_a", "cycle_l1_b", "cycle_psnr_a", "cycle_psnr_b"
L1_MEAN_IMAGE, CHANGE_L1 = "l1_mean_image", "change_l1"


@torch.no_grad()
def cycle_scores(g_ab: nn.Module, g_ba: nn.Module, a: torch.Tensor, b: torch.Tensor, *,
                 device: torch.device | str = "cpu", batch: int = 32) -> dict[str, float]:
    """How well each side survives the round trip, on uint8 images ``a`` (N_A, C, H, W) and ``b``.

    Pixels on the [0, 1] scale. ``cycle_l1_a`` = mean |G_BA(G_AB(a)) - a| (``_b`` likewise),
    ``cycle_l1`` their mean (lower is better), ``cycle_psnr_a`` / ``_b`` in dB; the baseline
    ``l1_mean_image``: the L1 of replacing every image by its side's mean image (what a pair of
    generators that forgot their input would reach); ``change_l1``: mean |G_AB(a) - a|, how far
    the translation moves an image (0: G_AB does nothing)."""
    from ..metrics.paired import psnr_of_mse

    out: dict[str, float] = {}
    change = 0.0
    for side, images, there, back in (("a", a, g_ab, g_ba), ("b", b, g_ba, g_ab)):
        if len(images) == 0:
            raise ValueError(f"no held-out images on side {side.upper()}")
        abs_sum = sq_sum = 0.0
        for i in range(0, len(images), batch):
            x = images[i : i + batch].to(device).float().mul(2.0 / 255.0).sub(1.0)
            moved = there(x).float()
            diff = (back(moved).float().clamp(-1, 1) - x) / 2
            abs_sum += float(diff.abs().sum())
            sq_sum += float(diff.square().sum())
            if side == "a":
                change += float(((moved.clamp(-1, 1) - x) / 2).abs().sum())
        unit = images.float() / 255.0
        out[f"cycle_l1_{side}"] = abs_sum / images.numel()
        out[f"cycle_psnr_{side}"] = psnr_of_mse(sq_sum / images.numel())
        out[f"mean_image_l1_{side}"] = float((unit - unit.mean(0, keepdim=True)).abs().mean())
    out[CHANGE_L1] = change / a.numel()
    out[CYCLE_L1] = (out[CYCLE_L1_A] + out[CYCLE_L1_B]) / 2
    out[L1_MEAN_IMAGE] = (out.pop("mean_image_l1_a") + out.pop("mean_image_l1_b")) / 2
    return out
