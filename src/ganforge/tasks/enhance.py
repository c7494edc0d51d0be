"""Photo enhancement (``task: enhance``): upscaling, denoising, restoration, colorization.

Batches are clean photo crops ``{"real": (B, 3, R, R)}``; each step flips and rotates them,
then the tool (``enhance/``) degrades them on the fly from the task's seeded random stream into
``(source, target)`` pairs, so a run never sees the same damage twice and a resumed run sees
exactly what an uninterrupted one would. The generator's loss:

    L_G = l1_weight * ||G(s) - t||_1  +  adversarial_weight * L_adv(D(G(s)))
          + feature_weight * sum_k ||D_k(G(s)) - D_k(t)||_1 / K

The adversarial and feature terms need a discriminator (``adversarial_weight > 0``): an
unconditional patch discriminator (``patchgan``, spectral norm) on target-sized images, as in
SRGAN/ESRGAN (Ledig et al. 2017; Wang et al. 2018). The feature term is the discriminator-
feature matching of pix2pixHD (Wang et al. 2018, eq. 4): a perceptual loss from a network
ganforge trains itself, instead of a downloaded VGG. ``init_from`` starts G from a trained model
(the GAN upscaler is fine-tuned from the L1 one, as ESRGAN is from its PSNR model).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, ValidationError, field_validator, model_validator

from .. import checkpoint as ckpt
from ..config import TaskConfig
from ..enhance import TOOLS
from ..enhance.base import to_unit
from ..errors import GanforgeError
from ..losses import LOSSES, loss_without_penalty
from ..schema import StrictModel
from .base import Batch, Task, register_task
from .paired import PairedModelConfig

SAMPLE_ROWS = 6
EVAL_SEED = 20_261_202  # the fixed degradations of held-out crops in the periodic evaluation


class EnhanceLossConfig(StrictModel):
    l1_weight: float = Field(1.0, ge=0, description="weight of the L1 term (pixels, or Lab a/b for colorize)")
    adversarial_weight: float = Field(0.0, ge=0, description="weight of the adversarial term (0: no discriminator)")
    feature_weight: float = Field(0.0, ge=0, description="weight of D-feature matching (needs adversarial_weight > 0)")
    name: str = Field("nonsaturating", description="adversarial loss: a registered loss without gradient penalty")

    @field_validator("name")
    @classmethod
    def _known_loss(cls, name: str) -> str:
        return loss_without_penalty(name, "enhance")

    @model_validator(mode="after")
    def _feature_needs_d(self) -> "EnhanceLossConfig":
        if self.feature_weight > 0 and self.adversarial_weight == 0:
            raise ValueError("loss.feature_weight needs a discriminator: set loss.adversarial_weight > 0 too")
        return self


MODEL_DEFAULTS = {"generator": "srnet", "d": {"spectral_norm": True, "norm": "none"}}


class EnhanceConfig(TaskConfig):
    """A photo-enhancement run (``task: enhance``)."""

    task: Literal["enhance"] = "enhance"
    tool: str = Field("upscale", description="upscale | denoise | restore | colorize")
    scale: int = Field(1, description="output scale of the network (upscale: 2 or 4; restore: 2; others: 1)")
    model: PairedModelConfig = PairedModelConfig(**MODEL_DEFAULTS)
    loss: EnhanceLossConfig = EnhanceLossConfig()
    init_from: str | None = Field(None, description="start G from this bundled model, exported model folder or run folder")

    @field_validator("model", mode="before")
    @classmethod
    def _model_defaults(cls, raw: Any) -> Any:
        """A partial ``model`` section (``model.g.width=16``) keeps the enhance defaults (srnet G,
        spectral-norm D) for what it does not say."""
        if isinstance(raw, dict):
            merged = {**MODEL_DEFAULTS, **raw}
            if "discriminator" in raw and "d" not in raw:
                merged.pop("d")  # the defaults' D arguments belong to the default D
            return merged
        return raw

    @field_validator("tool")
    @classmethod
    def _known_tool(cls, name: str) -> str:
        TOOLS.get(name)
        return name

    @model_validator(mode="after")
    def _check_scale(self) -> "EnhanceConfig":
        scales = TOOLS.get(self.tool).scales
        if self.scale not in scales:
            raise ValueError(f"tool {self.tool} trains for scale {' or '.join(map(str, scales))}, not {self.scale}")
        return self


def init_weights_file(path: str) -> Path:
    """The generator weights of a bundled model (by name), an exported model folder or a run
    folder's latest checkpoint."""
    bundled = Path(__file__).resolve().parents[1] / "pretrained" / path
    root = bundled if "/" not in path and (bundled / "config.json").is_file() else Path(path)
    if (root / "config.json").is_file():
        return root / "generator.safetensors"
    if (root / "config.yaml").is_file():
        return ckpt.latest_checkpoint(root) / EnhanceTask.file_name("G_ema")
    raise GanforgeError(f"init_from '{path}' is neither an exported model (config.json) nor a run folder (config.yaml)")


@register_task
class EnhanceTask(Task):
    name = "enhance"
    config = EnhanceConfig
    pipeline = "enhance"
    export_network = "G_ema"
    batch_kinds = ("images",)
    best_metric = "l1"

    @classmethod
    def resolve_config(cls, cfg: EnhanceConfig, dataset) -> EnhanceConfig:
        """Network channels and scale from the tool; D sees target-sized images."""
        if getattr(dataset, "kind", None) != "image" or dataset.sample_shape[0] != 3:
            raise GanforgeError(f"task enhance trains on colour photo crops (data.channels=3), got {dataset.sample_shape}")
        if dataset.sample_shape[-1] % (cfg.scale * 4):
            raise GanforgeError(f"data.resolution must be a multiple of {cfg.scale * 4} for scale {cfg.scale}")
        c_in, c_out = TOOLS.get(cfg.tool).channels()
        g = {**cfg.model.g, "in_channels": c_in, "out_channels": c_out}
        if cfg.model.generator == "srnet":
            g["scale"] = cfg.scale
            if c_in < c_out:  # colorize: no input image to add a residual to
                g.setdefault("residual", False)
        d = {**cfg.model.d, "in_channels": c_out if cfg.tool != "colorize" else 3}
        try:  # the resolved arguments are checked again (``model_copy`` does not validate)
            model = PairedModelConfig.model_validate({**cfg.model.model_dump(), "g": g, "d": d})
        except ValidationError as err:
            raise GanforgeError(f"model: {err.errors()[0]['msg'].removeprefix('Value error, ')}") from None
        return cfg.model_copy(update={"model": model})

    @classmethod
    def build_export(cls, cfg: EnhanceConfig) -> torch.nn.Module:
        return cfg.model.build("generator")

    def __init__(self, cfg: EnhanceConfig, dataset, **kw) -> None:
        super().__init__(cfg, dataset, **kw)
        t = cfg.train
        self.tool = TOOLS.get(cfg.tool)
        self.G = cfg.model.build("generator").to(self.device)
        if cfg.init_from:
            ckpt.load_into(self.G, init_weights_file(cfg.init_from))
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.networks = {"G": self.G, "G_ema": self.G_ema}
        self.make_optimizer("G", self.G, t.g_lr, "generator")
        self.adversarial = cfg.loss.adversarial_weight > 0
        if self.adversarial:
            self.D = cfg.model.build("discriminator").to(self.device)
            self.networks["D"] = self.D
            self.make_optimizer("D", self.D, t.d_lr, "discriminator")
            self.loss = LOSSES.get(cfg.loss.name)
        self.fixed = self.pair(dataset.data[:SAMPLE_ROWS].to(self.device), torch.Generator().manual_seed(EVAL_SEED))

    def summary(self) -> str:
        gan = f", adversarial {self.cfg.loss.name} x{self.cfg.loss.adversarial_weight}" if self.adversarial else ""
        return f"{self.cfg.tool} x{self.cfg.scale} ({self.cfg.model.generator} G{gan})"

    # ------------------------------------------------------------------------------ phases
    def pair(self, real: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Crops (uint8, or float in [-1, 1]) -> the tool's ``(source, target)`` on the device."""
        clean = real.float().div(255) if real.dtype == torch.uint8 else to_unit(real)
        source, target = self.tool.make_pair(clean.cpu(), gen, scale=self.cfg.scale)
        return source.to(self.device), target.to(self.device)

    def augment(self, real: torch.Tensor) -> torch.Tensor:
        """A random one of the 8 flips and quarter turns of the whole batch (photos have no
        preferred orientation at the scale of a crop)."""
        k = int(torch.randint(8, (1,), generator=self.noise))
        real = torch.rot90(real, k % 4, (2, 3))
        return real.flip(3) if k >= 4 else real

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """D's score map and the activations after each of its hidden layers."""
        feats: list[torch.Tensor] = []
        h = x
        for layer in self.D.body:  # a patchgan: convolutions, norms and LeakyReLUs in sequence
            h = layer(h)
            if isinstance(layer, torch.nn.LeakyReLU):
                feats.append(h)
        return h, feats

    def discriminator_step(self, source: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad(), self.autocast():
            fake = self.G(source).float()
        return self.discriminator_update("D", self.loss, self.d_input(source, target), self.d_input(source, fake))

    def d_input(self, source: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        """What D judges: the image itself (a colorizer's L and a, b made back into RGB-sized Lab)."""
        return torch.cat([source, output], 1) if self.cfg.tool == "colorize" else output

    def generator_step(self, source: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        lw = self.cfg.loss
        stats: dict[str, torch.Tensor] = {}
        if self.adversarial:
            self.D.requires_grad_(False)
        try:
            with self.autocast():
                fake = self.G(source)
                l1 = F.l1_loss(fake.float(), target)
                loss = lw.l1_weight * l1
                if self.adversarial:
                    score, fake_feats = self.features(self.d_input(source, fake))
                    adversarial = self.loss.g_loss(score)
                    loss = loss + lw.adversarial_weight * adversarial
                    stats["loss_g_adv"] = adversarial.detach()
                    if lw.feature_weight > 0:
                        with torch.no_grad():
                            _, real_feats = self.features(self.d_input(source, target))
                        matching = sum(F.l1_loss(f.float(), r.float()) for f, r in zip(fake_feats, real_feats))
                        matching = matching / max(1, len(fake_feats))
                        loss = loss + lw.feature_weight * matching
                        stats["feature"] = matching.detach()
            stats["grad_norm_g"] = self.optimize(loss, "G", self.G)
        finally:
            if self.adversarial:
                self.D.requires_grad_(True)
        stats.update(loss_g=loss.detach(), l1=l1.detach())
        return stats

    def train_step(self, step: int, next_batch: Callable[[], Batch]) -> dict[str, torch.Tensor]:
        source, target = self.pair(self.augment(next_batch()["real"]), self.noise)
        stats = self.discriminator_step(source, target) if self.adversarial else {}
        stats.update(self.generator_step(source, target))
        return stats

    def ema_pairs(self):
        return [(self.G_ema, self.G)]

    @property
    def scores_have_scale(self) -> bool:
        return self.adversarial and self.loss.scores_have_scale

    # ---------------------------------------------------------------- sampling, evaluation
    def rgb(self, source: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """A source, output or target as RGB in [-1, 1] at the target size, for pictures."""
        if self.cfg.tool == "colorize":
            from ..enhance.colorize import AB_RANGE
            from ..images import lab_to_rgb

            if image.shape[1] == 1:  # the grey source itself
                return image.expand(-1, 3, -1, -1)
            lab = torch.cat([(source + 1) * 50, image.clamp(-1, 1) * AB_RANGE], 1)
            return lab_to_rgb(lab.float()).mul(2).sub(1)
        image = image[:, :3]
        size = self.fixed[1].shape[-1]
        return F.interpolate(image, size=(size, size), mode="nearest") if image.shape[-1] != size else image

    @torch.no_grad()
    def sample_picture(self) -> tuple[np.ndarray, int]:
        """Rows of ``source | G_ema(source) | target`` for fixed held-back damage of the first crops."""
        from ..images import make_grid, to_uint8

        source, target = self.fixed
        out = self.G_ema(source).float()
        rows = torch.stack([self.rgb(source, source[:, :3] if self.cfg.tool != "colorize" else source),
                            self.rgb(source, out), self.rgb(source, target)], 1).flatten(0, 1)
        return make_grid(to_uint8(rows), 3), 1

    @torch.no_grad()
    def evaluate(self, run_dir, *, metrics: list[str], n: int, cache: dict[str, Any], pipeline: type):
        """L1 and PSNR of G_ema on held-out crops (the data set's test split) with fixed damage,
        and the PSNR of the baseline it must beat (``psnr_baseline``: see :meth:`baseline`)."""
        from ..data import build_dataset
        from ..metrics.paired import psnr_of_mse

        if "held_out" not in cache:
            data_cfg = self.cfg.data.model_copy(update={"split": "test", "limit": n})
            try:
                held = build_dataset(data_cfg)
            except GanforgeError as err:
                raise GanforgeError(f"periodic evaluation needs held-out photos (data.split=test): {err}") from None
            cache["held_out"] = self.pair(held.data, torch.Generator().manual_seed(EVAL_SEED))
        source, target = cache["held_out"]
        abs_sum = sq_sum = base_sq = 0.0
        for i in range(0, len(source), 16):
            s, t = source[i:i + 16], target[i:i + 16]
            out = self.G_ema(s).float().clamp(-1, 1)
            diff = (out - t) / 2  # in [0, 1] units
            abs_sum += float(diff.abs().sum())
            sq_sum += float(diff.square().sum())
            base_sq += float(((self.baseline(s, t) - t) / 2).square().sum())
        count = target.numel()
        return {"l1": abs_sum / count, "psnr": psnr_of_mse(sq_sum / count),
                "psnr_baseline": psnr_of_mse(base_sq / count)}, []

    def baseline(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """What the model must beat, in the target's space: the damaged input itself, bicubic-
        upscaled to the target size (colorize: no colour, a = b = 0)."""
        if self.cfg.tool == "colorize":
            return torch.zeros_like(target)
        image = source[:, : target.shape[1]]
        if image.shape[-1] != target.shape[-1]:
            image = F.interpolate(image, size=target.shape[-2:], mode="bicubic", align_corners=False)
        return image.clamp(-1, 1)
