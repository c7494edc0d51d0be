"""Noise -> image (or 2D point): every model family (mlp, dcgan, stylegan), unconditional or
class-conditional, trained with any registered adversarial loss.

One step: ``discriminator_step`` (``train.d_steps`` times) -> ``regularize`` (lazy R1 every
``loss.r1_interval`` steps) -> ``generator_step`` -> ``regularize_generator`` (lazy path length
every ``loss.pl_interval`` steps). The EMA of G (``G_ema``) is updated after every step by the
loop's EMA callback; sampling, checkpoints, evaluation and the health monitor are callbacks too.
Batches: ``{"real": (B, C, H, W) or (B, D) float32, "labels": (B,) or (B, T) int64}`` (no labels
when unlabelled; (B, T) for data with several traits, one column per trait of its ``conditioning``).
"""

from __future__ import annotations

import copy
from typing import Any, Callable, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, SerializeAsAny, field_validator

from .. import sampling
from ..conditioning import CLASS, UNCONDITIONAL
from ..augment import AdaptiveAugment, build_augment
from ..config import AugmentConfig, TaskConfig
from ..data import DATASETS
from ..errors import GanforgeError
from ..losses import LOSSES, gradient_penalty, mode_seeking_penalty, path_length_penalty, r1_penalty
from ..metrics.diversity import normalized_entropy, probe_diversity
from ..metrics.oracles import class_oracle
from ..models import MODELS, build_discriminator, build_generator
from ..models.layers import trait_cross_entropy
from ..schema import FamilyConfig, StrictModel, TraitConfig
from .base import Batch, Task, register_task


class LossConfig(StrictModel):
    name: str = Field("nonsaturating", description="a registered adversarial loss")
    r1_gamma: float = Field(0.0, ge=0, description="R1 penalty weight (0 disables)")
    r1_interval: int = Field(16, ge=1, description="lazy R1: apply every N steps, scaled by N")
    gp_weight: float = Field(10.0, ge=0, description="gradient penalty weight for wgan-gp")
    aux_weight: float = Field(1.0, ge=0, description="auxiliary classifier loss weight (acgan)")
    pl_weight: float = Field(
        0.0, ge=0, description="path-length regularization weight (StyleGAN2; stylegan family only; 0 disables)"
    )
    pl_interval: int = Field(4, ge=1, description="lazy path-length regularization: every N steps, scaled by N")
    pl_decay: float = Field(0.01, gt=0, le=1, description="decay of the running mean path length")
    pl_batch_shrink: int = Field(2, ge=1, description="path-length batch = batch size / this")
    mode_seeking: float = Field(
        0.0, ge=0,
        description="mode-seeking weight (Mao et al. 2019): G is pushed to map different z of a class to "
        "different images, against collapse within classes (0 disables)",
    )

    @field_validator("name")
    @classmethod
    def _known_loss(cls, name: str) -> str:
        LOSSES.get(name)
        return name


def _family_config_class(raw: Any) -> type[FamilyConfig]:
    family = raw.get("family") if isinstance(raw, dict) else None
    return MODELS.get(family).config if family in MODELS else FamilyConfig


class NoiseToImageConfig(TaskConfig):
    """A noise -> image run: ``model`` is the config of the chosen family (``models/<family>.py``)."""

    task: str = "noise-to-image"
    model: SerializeAsAny[FamilyConfig]
    loss: LossConfig = LossConfig()
    augment: AugmentConfig = AugmentConfig()

    dynamic_sections: ClassVar[dict[str, Any]] = {"model": _family_config_class}

    @field_validator("model", mode="before")
    @classmethod
    def _family_config(cls, value: Any) -> Any:
        if isinstance(value, FamilyConfig):
            return value
        if not isinstance(value, dict) or "family" not in value:
            raise ValueError(f"model needs a 'family' key; known families: {', '.join(MODELS.names())}")
        return MODELS.get(value["family"]).config.model_validate(value)


@register_task
class NoiseToImageTask(Task):
    name = "noise-to-image"
    config = NoiseToImageConfig
    pipeline = "generation"
    export_network = "G_ema"
    # The file names run folders had before tasks existed, so they still resume and load.
    checkpoint_files = {"G": "generator.safetensors", "G_ema": "generator_ema.safetensors",
                        "D": "discriminator.safetensors"}
    batch_kinds = ("images", "vectors")
    best_metric = "fid"

    # ------------------------------------------------------------------------------ set-up
    @classmethod
    def resolve_config(cls, cfg: NoiseToImageConfig, dataset) -> NoiseToImageConfig:
        """Fill the data-derived model fields (output shape, classes or traits); check they agree.

        The data's ``conditioning`` decides the form: one trait called ``class`` fills
        ``num_classes`` (as every model before traits), anything else fills ``traits``."""
        model = cfg.model.model_copy()
        shape = dataset.sample_shape
        if model.output_shape is not None and tuple(model.output_shape) != shape:
            raise GanforgeError(f"model.output_shape {tuple(model.output_shape)} does not match the data {shape}")
        model.output_shape = shape
        cond = dataset.conditioning
        model.num_classes, model.traits = 0, None
        if model.conditional:
            if not cond.conditional:
                raise GanforgeError(
                    f"model.conditional=true needs labelled data, but '{cfg.data.dataset}' has no labels "
                    "(use a folder with one subfolder per class, or set model.conditional=false)"
                )
            if cond.names == (CLASS,):
                model.num_classes = cond.sizes[0]
            else:
                model.traits = [TraitConfig(name=t.name, values=list(t.values)) for t in cond.traits]
        out = cfg.model_copy(update={"model": model})
        if cfg.train.batch_size % max(1, model.pack):
            raise GanforgeError(f"train.batch_size {cfg.train.batch_size} must be a multiple of model.pack {model.pack}")
        if cfg.augment.kind != "none" and dataset.kind != "image":
            raise GanforgeError(
                f"augment.kind={cfg.augment.kind} augments images, but '{cfg.data.dataset}' holds vectors; "
                "set augment.kind=none"
            )
        return out

    @classmethod
    def build_export(cls, cfg: NoiseToImageConfig) -> torch.nn.Module:
        return build_generator(cfg.model)

    def __init__(self, cfg: NoiseToImageConfig, dataset, **kw) -> None:
        super().__init__(cfg, dataset, **kw)
        t, lcfg = cfg.train, cfg.loss
        if lcfg.mode_seeking > 0 and self.local_batch < 2:
            raise GanforgeError(
                f"loss.mode_seeking > 0 pairs the samples of each rank's batch; train.batch_size {t.batch_size} "
                f"over {self.dist.world_size} rank(s) leaves fewer than 2; raise train.batch_size or set loss.mode_seeking=0"
            )
        # Networks (the loop seeded the global RNG identically on every rank).
        self.G = build_generator(cfg.model).to(self.device)
        self.D = build_discriminator(cfg.model).to(self.device)
        self.channels_last = dataset.kind == "image" and bool(t.channels_last)
        if self.channels_last:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.networks = {"G": self.G, "G_ema": self.G_ema, "D": self.D}
        self.latent_dim = cfg.model.latent_dim
        self.num_classes = cfg.model.num_classes
        self.label_sizes = cfg.model.label_sizes  # values per trait: () unconditional, (K,) one class
        self.conditioning = dataset.conditioning if cfg.model.conditional else UNCONDITIONAL
        self.class_names = dataset.class_names if cfg.model.conditional else None
        self.image_data = dataset.kind == "image"

        # Optimisation: loss, optimisers (G first: the order their state was always saved in).
        self.loss = LOSSES.get(lcfg.name)
        self.make_optimizer("G", self.G, t.g_lr, "generator")
        self.make_optimizer("D", self.D, t.d_lr, "discriminator")
        if lcfg.pl_weight > 0 and not MODELS.get(cfg.model.family).style_based:
            raise GanforgeError(
                f"loss.pl_weight > 0 (path-length regularization) needs a style-based generator; "
                f"model.family={cfg.model.family} has no mapping network; use model.family=stylegan or loss.pl_weight=0"
            )
        self.pl_mean = torch.zeros((), device=self.device)
        self.r1_gamma = lcfg.r1_gamma  # the recover policy may raise it

        # Augmentation of everything D sees (DiffAugment or ADA).
        self.augment = build_augment(cfg.augment)
        self._ada_steps = 0

        # Fixed latents for sample grids: one row per class with one trait; with several, each
        # image's traits drawn at random (seeded), since their combinations outnumber any grid.
        one_trait = len(self.label_sizes) == 1
        rows, cols = (self.label_sizes[0], 10) if one_trait else (8, 8)
        n = rows * cols if self.image_data else 2000
        self.grid_cols = cols
        self.fixed_z = sampling.latents(t.seed + 12345, n, self.latent_dim).to(self.device)
        self.fixed_y = self._fixed_labels(t.seed + 12345, n)
        self._probe: dict[str, Any] | None = None

    def summary(self) -> str:
        m = self.cfg.model
        if m.traits:
            return f"{m.family} (conditional, traits " + ", ".join(f"{t.name} {len(t.values)}" for t in m.traits) + ")"
        return f"{m.family}{' (conditional, ' + str(m.num_classes) + ' classes)' if m.conditional else ''}"

    def _fixed_labels(self, seed: int, n: int) -> torch.Tensor | None:
        """Labels of fixed samples: a one-trait model's values in even blocks (a row per class),
        several traits each drawn per image from ``seed`` (``sampling.random_traits``)."""
        if not self.label_sizes:
            return None
        if len(self.label_sizes) == 1:
            return sampling.class_labels(n, self.label_sizes[0]).to(self.device)
        return sampling.random_traits(seed, n, self.label_sizes).to(self.device)

    # ------------------------------------------------------------------------------ phases
    def _sample_inputs(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Latents (n, latent_dim) and labels: (n,) for one trait, (n, T) for several, each uniform."""
        z = torch.randn(n, self.latent_dim, generator=self.noise, device=self.device)
        if len(self.label_sizes) <= 1:  # one trait: the draws every model before traits made
            y = (torch.randint(self.label_sizes[0], (n,), generator=self.noise, device=self.device)
                 if self.label_sizes else None)
        else:
            y = torch.stack([torch.randint(k, (n,), generator=self.noise, device=self.device)
                             for k in self.label_sizes], dim=1)
        return z, y

    def _to_memory_format(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _aux_loss(self, logits: torch.Tensor | None, labels: torch.Tensor | None) -> torch.Tensor | float:
        """ACGAN's classification term (Odena et al. 2017), summed over the traits; zero for other heads."""
        if logits is None or labels is None:
            return 0.0
        return self.cfg.loss.aux_weight * trait_cross_entropy(logits.float(), labels, self.label_sizes)

    def _augmented(self, x: torch.Tensor) -> torch.Tensor:
        """What D sees: ``x`` through the augmentation pipeline (unchanged without one)."""
        return x if self.augment is None else self._to_memory_format(self.augment(x, self.noise))

    def _adapt_augmentation(self, real_score: torch.Tensor) -> dict[str, torch.Tensor]:
        """ADA: collect sign(D(real)); every ``augment.interval`` D steps move p (all ranks alike)."""
        if not isinstance(self.augment, AdaptiveAugment):
            return {}
        self.augment.accumulate(real_score.detach().float())
        self._ada_steps += 1
        interval = self.cfg.augment.interval
        if self._ada_steps % interval == 0:
            self.augment.update(interval * self.cfg.train.batch_size, self.dist)
        return {"augment_p": torch.tensor(self.augment.p)}

    def discriminator_step(self, real: torch.Tensor, labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """One D update on a real batch and a fresh fake batch (both augmented alike)."""
        real = self._to_memory_format(real)
        z, fake_y = self._sample_inputs(real.shape[0])
        cond_real = labels if self.label_sizes else None
        with torch.no_grad(), self.autocast():
            fake = self.G(z, fake_y)
        with self.autocast():
            real_score, real_aux = self.D(self._augmented(real), cond_real)
            fake_score, fake_aux = self.D(self._augmented(fake), fake_y)
            loss = self.loss.d_loss(real_score, fake_score)
            loss = loss + self._aux_loss(real_aux, cond_real) + self._aux_loss(fake_aux, fake_y)
        if self.loss.needs_gradient_penalty:
            # WGAN-GP interpolates real and fake; labels only make sense unconditionally.
            gp = gradient_penalty(lambda x: self.D(x, cond_real)[0], real, fake.float(), generator=self.noise)
            loss = loss + self.cfg.loss.gp_weight * gp
        grad_norm = self.optimize(loss, "D", self.D)
        stats = {"loss_d": loss.detach(), "d_real": real_score.detach().float().mean(),
                 "d_fake": fake_score.detach().float().mean(), "grad_norm_d": grad_norm}
        stats.update(self._adapt_augmentation(real_score))
        return stats

    def regularize(self, real: torch.Tensor, labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Lazy R1 (Mescheder et al. 2018; lazy form from Karras et al. 2020):
        every ``r1_interval`` steps, minimise ``gamma/2 * E||grad_x D(x)||^2 * interval``."""
        cond = labels if self.label_sizes else None
        # Penalties are second-order: kept in fp32 whatever the training precision.
        # With augmentation, R1 is taken on what D sees: augmented reals (Karras et al. 2020).
        penalty = r1_penalty(lambda x: self.D(x, cond)[0], self._augmented(self._to_memory_format(real)).detach())
        self.optimize(penalty * (self.r1_gamma / 2 * self.cfg.loss.r1_interval), "D", self.D)
        return {"r1": penalty.detach()}

    def regularize_generator(self) -> dict[str, torch.Tensor]:
        """Lazy path-length regularization (Karras et al. 2020, eq. 4) every ``pl_interval``
        steps on a smaller batch, scaled by the interval; see :func:`path_length_penalty`."""
        lcfg = self.cfg.loss
        n = max(1, self.local_batch // lcfg.pl_batch_shrink)
        z, y = self._sample_inputs(n)
        penalty, self.pl_mean = path_length_penalty(self.G, z, y, self.pl_mean, decay=lcfg.pl_decay,
                                                    generator_rng=self.noise)
        self.optimize(penalty * (lcfg.pl_weight * lcfg.pl_interval), "G", self.G)
        return {"pl": penalty.detach(), "pl_mean": self.pl_mean.detach()}

    def generator_step(self) -> dict[str, torch.Tensor]:
        """One G update through a frozen D; with ``loss.mode_seeking`` the batch is two halves
        of the same labels and the mode-seeking term is added (:func:`mode_seeking_penalty`)."""
        weight = self.cfg.loss.mode_seeking
        z, y = self._sample_inputs(self.local_batch)
        if weight > 0 and y is not None:  # pair sample i with sample i + half: same class
            half = self.local_batch // 2
            y = torch.cat([y[:half], y[:half], y[2 * half :]])
        stats = {}
        self.D.requires_grad_(False)  # D's gradients are not needed here
        try:
            with self.autocast():
                fake = self.G(z, y)
                score, aux = self.D(self._augmented(fake), y)
                loss = self.loss.g_loss(score) + self._aux_loss(aux, y)
                if weight > 0:
                    ms = mode_seeking_penalty(fake, z)
                    loss = loss + weight * ms
                    stats["mode_seeking"] = ms.detach()
            grad_norm = self.optimize(loss, "G", self.G)
        finally:
            self.D.requires_grad_(True)
        return {"loss_g": loss.detach(), "grad_norm_g": grad_norm, **stats}

    @property
    def images_per_step(self) -> int:
        return self.cfg.train.batch_size * self.cfg.train.d_steps

    def train_step(self, step: int, next_batch: Callable[[], Batch]) -> dict[str, torch.Tensor]:
        stats: dict[str, torch.Tensor] = {}
        for _ in range(self.cfg.train.d_steps):
            batch = next_batch()
            real, labels = batch["real"], batch.get("labels")
            stats.update(self.discriminator_step(real, labels))
        lcfg = self.cfg.loss
        if self.r1_gamma > 0 and step % lcfg.r1_interval == 0:
            stats.update(self.regularize(real, labels))
        stats.update(self.generator_step())
        if lcfg.pl_weight > 0 and step % lcfg.pl_interval == 0:
            stats.update(self.regularize_generator())
        return stats

    def ema_pairs(self):
        return [(self.G_ema, self.G)]

    # ------------------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "pl_mean": self.pl_mean.detach().cpu(), "ada_steps": self._ada_steps,
                "augment": self.augment.state_dict() if isinstance(self.augment, AdaptiveAugment) else {}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.pl_mean = state["pl_mean"].to(self.device)
        self._ada_steps = int(state["ada_steps"])
        if isinstance(self.augment, AdaptiveAugment):
            self.augment.load_state_dict(state["augment"])

    def log_extras(self) -> dict[str, float]:
        """Numbers for the log line that are state, not per-step means (ADA's r_t)."""
        if isinstance(self.augment, AdaptiveAugment) and np.isfinite(self.augment.last_rt):
            return {"ada_rt": self.augment.last_rt}
        return {}

    # ------------------------------------------------------------------------------ health
    @property
    def scores_have_scale(self) -> bool:
        return self.loss.scores_have_scale

    def apply_recovery(self, knobs: dict[str, float]) -> None:
        self.r1_gamma = knobs["r1_gamma"]
        if isinstance(self.augment, AdaptiveAugment):
            self.augment.min_p = min(1.0, knobs["augment_p_floor"])

    def prepare_outputs(self) -> None:
        """Re-estimate G_ema's batch-norm statistics for its averaged weights (deterministic)."""
        sampling.recalibrate_batchnorm(self.G_ema, latent_dim=self.latent_dim, num_classes=self.label_sizes)

    @torch.no_grad()
    def ema_outputs(self, z: torch.Tensor, labels: torch.Tensor | None, chunk: int = 256) -> torch.Tensor:
        """G_ema on fixed latents ``z`` (N, latent_dim) in chunks of ``chunk`` (unpadded, on the
        training device); labels (N,), (N, T) or None."""
        return sampling.run_in_chunks(self.G_ema, len(z), z, labels, size=chunk, pad=False, to_cpu=False)

    @torch.no_grad()
    def sample_picture(self) -> tuple[np.ndarray, int]:
        from ..images import make_grid, scatter_png, to_uint8

        out = self.ema_outputs(self.fixed_z, self.fixed_y)
        if self.image_data:
            return make_grid(to_uint8(out), self.grid_cols), max(1, 256 // (self.grid_cols * out.shape[-1]) + 1)
        return scatter_png(out.float().cpu().numpy(), self.dataset.data[:2000].numpy()), 1

    def _build_probe(self) -> dict[str, Any]:
        """Fixed probe latents, the real data's diversity (the reference) and a class oracle."""
        hcfg, t = self.cfg.health, self.cfg.train
        n = hcfg.probe_size
        z = sampling.latents(t.seed + 4242, n, self.latent_dim).to(self.device)
        y = self._fixed_labels(t.seed + 4242, n)
        order = torch.randperm(len(self.dataset), generator=torch.Generator().manual_seed(t.seed + 4242))
        # Per-class diversity for a one-class model; several traits are measured as a whole.
        if self.num_classes:  # the same number of real images per class as the probe has latents
            labels = self.dataset.labels[order]
            pick = torch.cat([order[labels == k][: int((y == k).sum())] for k in range(self.num_classes)])
            real_y = self.dataset.labels[pick].to(self.device)
        else:
            pick, real_y = order[:n], None
        real = self.dataset.data[pick]
        real = real.float().mul(2.0 / 255.0).sub(1.0) if self.image_data else real.float()
        spec = DATASETS.get(self.cfg.data.dataset)
        oracle = class_oracle(spec, self.dataset.sample_shape)
        return {"z": z, "y": y, "oracle": oracle, "reference": probe_diversity(real, real_y, self.num_classes)}

    @torch.no_grad()
    def probe(self) -> dict[str, float]:
        """Diversity of G_ema on the fixed probe latents, and the class entropy of its outputs
        where the data set has a class oracle."""
        if self._probe is None:
            self._probe = self._build_probe()
        pr = self._probe
        with torch.random.fork_rng(devices=[]):
            self.prepare_outputs()
            out = self.ema_outputs(pr["z"], pr["y"])
        result = {"diversity": probe_diversity(out.float(), pr["y"], self.num_classes), "reference": pr["reference"]}
        if pr["oracle"] is not None:
            labels, k = pr["oracle"](out)
            result["class_entropy"] = normalized_entropy(labels, k)
        return result

    # -------------------------------------------------------------------------- evaluation
    def evaluate(self, run_dir, *, metrics: list[str], n: int, cache: dict[str, Any], pipeline: type):
        from ..metrics.evaluate import default_features, evaluate
        from ..metrics.features import build_extractor

        with torch.random.fork_rng(devices=[]):
            self.prepare_outputs()
            pipe = pipeline(copy.deepcopy(self.G_ema), self.cfg, class_names=self.class_names, source=str(run_dir))
            if "extractor" not in cache:
                cache["extractor"] = build_extractor(default_features(pipe))
            result = evaluate(pipe, metrics=metrics, n=n, floors=False, extractor=cache["extractor"])
        self.G_ema.eval()
        return result.metrics, result.skipped
