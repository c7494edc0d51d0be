"""The Trainer: one step is a few named phases.

``train_step`` = ``discriminator_step`` (``train.d_steps`` times) -> ``regularize`` (lazy R1,
every ``loss.r1_interval`` steps) -> ``generator_step`` -> ``update_ema``. Around the steps,
``log`` writes ``log.jsonl``, ``sample`` writes a grid from fixed latents and ``snapshot``
writes a checkpoint. Everything random is drawn from generators whose state is saved, so a
resumed run equals an uninterrupted one bit for bit on CPU.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import random
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .. import __version__, sampling
from ..config import RunConfig, save_config_yaml
from ..data import Dataset, build_dataset
from ..data.loader import InMemoryLoader
from ..errors import GanforgeError
from ..fileio import atomic_write_text
from ..images import make_grid, save_png, scatter_png, to_uint8
from ..losses import LOSSES, gradient_penalty, mode_seeking_penalty, path_length_penalty, r1_penalty
from ..models import build_discriminator, build_generator
from . import checkpoint as ckpt
from . import health as hm
from .augment import AdaptiveAugment, build_augment
from .distributed import DistContext
from .logger import RunLogger

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class TrainingDiverged(GanforgeError):
    """A loss or weight became NaN or infinite."""


class TrainingUnhealthy(GanforgeError):
    """The health monitor's recover policy ran out of retries (or had nothing to roll back to)."""

HEALTHY = "healthy"  # checkpoints/healthy: the rollback target of the recover policy


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise GanforgeError("train.device=cuda but no CUDA device is available; use train.device=cpu or auto")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def resolve_model_config(cfg: RunConfig, dataset: Dataset) -> RunConfig:
    """Fill the data-derived model fields (output shape, class count); check they agree."""
    model = cfg.model.model_copy()
    shape = dataset.sample_shape
    if model.output_shape is not None and tuple(model.output_shape) != shape:
        raise GanforgeError(f"model.output_shape {tuple(model.output_shape)} does not match the data {shape}")
    model.output_shape = shape
    if model.conditional:
        if dataset.labels is None or not dataset.class_names:
            raise GanforgeError(
                f"model.conditional=true needs labelled data, but '{cfg.data.dataset}' has no labels "
                "(use a folder with one subfolder per class, or set model.conditional=false)"
            )
        model.num_classes = len(dataset.class_names)
    else:
        model.num_classes = 0
    out = cfg.model_copy(update={"model": model})
    if cfg.train.batch_size % max(1, model.pack):
        raise GanforgeError(f"train.batch_size {cfg.train.batch_size} must be a multiple of model.pack {model.pack}")
    return out


def _grad_norm(net: torch.nn.Module) -> torch.Tensor:
    """The L2 norm of all of ``net``'s gradients, as a 0-dim tensor (0 without gradients)."""
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))).float()


class Trainer:
    """Trains one GAN described by a :class:`RunConfig` into ``run_dir``.

    Use :meth:`fit`. ``resume=True`` continues from the latest checkpoint in ``run_dir``.
    """

    def __init__(self, cfg: RunConfig, run_dir: str | Path, *, resume: bool = False, quiet: bool = False,
                 command: str | None = None) -> None:
        self.run_dir = Path(run_dir)
        t = cfg.train
        self.device = resolve_device(t.device)
        self.dist = DistContext.from_env(self.device.type)
        if self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(self.device)
        if t.threads:
            torch.set_num_threads(t.threads)
        if t.batch_size % self.dist.world_size:
            raise GanforgeError(f"train.batch_size {t.batch_size} must divide evenly over {self.dist.world_size} ranks")
        self.local_batch = t.batch_size // self.dist.world_size
        if cfg.loss.mode_seeking > 0 and self.local_batch < 2:
            raise GanforgeError(
                f"loss.mode_seeking > 0 pairs the samples of each rank's batch; train.batch_size {t.batch_size} "
                f"over {self.dist.world_size} rank(s) leaves fewer than 2; raise train.batch_size or set loss.mode_seeking=0"
            )

        # 1. Data, then the config with the data-derived fields filled in.
        self.dataset = build_dataset(cfg.data)
        self.cfg = cfg = resolve_model_config(cfg, self.dataset)
        self.class_names = self.dataset.class_names if cfg.model.conditional else None

        # 2. Networks: the same seed on every rank, so all ranks start identical.
        torch.manual_seed(t.seed)
        np.random.seed(t.seed % 2**32)
        random.seed(t.seed)
        self.G = build_generator(cfg.model).to(self.device)
        self.D = build_discriminator(cfg.model).to(self.device)
        self.channels_last = self.dataset.kind == "image" and (
            t.channels_last if t.channels_last is not None else self.device.type == "cuda"
        )
        if self.channels_last:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.latent_dim = cfg.model.latent_dim
        self.num_classes = cfg.model.num_classes

        # 3. Optimisation: losses, optimisers, precision.
        self.loss = LOSSES.get(cfg.loss.name)
        self.g_opt = torch.optim.Adam(self.G.parameters(), lr=t.g_lr, betas=t.betas)
        self.d_opt = torch.optim.Adam(self.D.parameters(), lr=t.d_lr, betas=t.betas)
        self.amp_dtype = DTYPES[t.precision]
        scaler_on = t.precision == "fp16"
        self.g_scaler = torch.amp.GradScaler(self.device.type, enabled=scaler_on)
        self.d_scaler = torch.amp.GradScaler(self.device.type, enabled=scaler_on)
        if cfg.loss.pl_weight > 0 and not hasattr(self.G, "mapping"):
            raise GanforgeError(
                f"loss.pl_weight > 0 (path-length regularization) needs a style-based generator; "
                f"model.family={cfg.model.family} has no mapping network; use model.family=stylegan or loss.pl_weight=0"
            )
        self.pl_mean = torch.zeros((), device=self.device)

        # 3b. Augmentation of everything D sees (DiffAugment or ADA).
        self.augment = build_augment(cfg.augment)
        if self.augment is not None and self.dataset.kind != "image":
            raise GanforgeError(
                f"augment.kind={cfg.augment.kind} augments images, but '{cfg.data.dataset}' holds vectors; "
                "set augment.kind=none"
            )
        self._ada_steps = 0

        # 3c. Training health: the monitor, and what the recover policy may change.
        hcfg = cfg.health
        self.health = hm.HealthMonitor(hcfg, scaled_grads=t.precision == "fp16") if hcfg.policy != "off" else None
        self.recovery = hm.RecoveryPlan(hcfg, r1_gamma=cfg.loss.r1_gamma)
        self.retries = 0
        self.r1_gamma = cfg.loss.r1_gamma
        self.health_events: list[hm.HealthEvent] = []
        self._probe: dict[str, Any] | None = None  # fixed probe latents and classifier, built on first use
        self._unconfirmed_events = False  # an event since checkpoints/healthy was last written

        # 4. Data order and noise: each rank its own noise stream, all saved in checkpoints.
        self.loader = InMemoryLoader(
            self.dataset, batch_size=self.local_batch, seed=t.seed, device=self.device,
            rank=self.dist.rank, world_size=self.dist.world_size,
        )
        self.noise = torch.Generator(device=self.device).manual_seed(t.seed * 7919 + 1 + self.dist.rank)
        self.step, self.images = 0, 0
        self.total_images = int(round(t.kimg * 1000))

        # 5. Fixed latents for sample grids: one row per class when conditional.
        rows, cols = (self.num_classes, 10) if self.num_classes else (8, 8)
        n = rows * cols if self.dataset.kind == "image" else 2000
        self.grid_cols = cols
        self.fixed_z = sampling.latents(t.seed + 12345, n, self.latent_dim).to(self.device)
        self.fixed_y = sampling.class_labels(n, self.num_classes).to(self.device) if self.num_classes else None

        # 6. Run folder.
        self.last_good: Path | None = None
        self._sampled_step = -1
        self._extractor = None  # feature extractor of the periodic evaluation, built on first use
        self.best_fid = _read_best_fid(self.run_dir) if resume else float("inf")
        if resume:
            self._load_latest()
        elif self.dist.is_main:
            if self.run_dir.exists() and any(self.run_dir.iterdir()):
                raise GanforgeError(
                    f"run folder '{self.run_dir}' already exists and is not empty; "
                    f"choose another --run-dir or continue it with --resume {self.run_dir}"
                )
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config_yaml(self.cfg, self.run_dir / "config.yaml")
            atomic_write_text(self.run_dir / "run.json", json.dumps({
                "command": command, "ganforge_version": __version__, "class_names": self.class_names,
                "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "world_size": self.dist.world_size, "device": str(self.device),
            }, indent=2) + "\n")
        self.dist.barrier()
        self.logger = RunLogger(
            self.run_dir, total_images=self.total_images, start_images=self.images, quiet=quiet, enabled=self.dist.is_main
        )
        if self.dataset.skipped and self.dist.is_main:
            self.logger.record({"event": "skipped_files", "count": len(self.dataset.skipped),
                                "files": [{"path": p, "reason": r} for p, r in self.dataset.skipped[:100]]})
            self.logger.message(f"skipped {len(self.dataset.skipped)} unusable files (listed in log.jsonl)")

    # ----------------------------------------------------------------------------------- phases

    def _autocast(self):
        if self.amp_dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _sample_inputs(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        z = torch.randn(n, self.latent_dim, generator=self.noise, device=self.device)
        y = torch.randint(self.num_classes, (n,), generator=self.noise, device=self.device) if self.num_classes else None
        return z, y

    def _to_memory_format(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _aux_loss(self, logits: torch.Tensor | None, labels: torch.Tensor | None) -> torch.Tensor | float:
        """ACGAN's classification term (Odena et al. 2017); zero for other heads."""
        if logits is None or labels is None:
            return 0.0
        return self.cfg.loss.aux_weight * F.cross_entropy(logits.float(), labels)

    def _optimize(self, loss: torch.Tensor, net: torch.nn.Module, opt: torch.optim.Optimizer, scaler) -> torch.Tensor:
        """One optimizer step on ``loss``; returns the (unscaled, rank-averaged) gradient norm
        as a tensor, so logging it costs no synchronisation."""
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        self.dist.average_gradients(net)
        scaler.unscale_(opt)  # a no-op without fp16; scaler.step then does not unscale again
        norm = _grad_norm(net)
        scaler.step(opt)
        scaler.update()
        return norm

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
        cond_real = labels if self.num_classes else None
        with torch.no_grad(), self._autocast():
            fake = self.G(z, fake_y)
        with self._autocast():
            real_score, real_aux = self.D(self._augmented(real), cond_real)
            fake_score, fake_aux = self.D(self._augmented(fake), fake_y)
            loss = self.loss.d_loss(real_score, fake_score)
            loss = loss + self._aux_loss(real_aux, cond_real) + self._aux_loss(fake_aux, fake_y)
        if self.loss.needs_gradient_penalty:
            # WGAN-GP interpolates real and fake; labels only make sense unconditionally.
            gp = gradient_penalty(lambda x: self.D(x, cond_real)[0], real, fake.float(), generator=self.noise)
            loss = loss + self.cfg.loss.gp_weight * gp
        grad_norm = self._optimize(loss, self.D, self.d_opt, self.d_scaler)
        stats = {"loss_d": loss.detach(), "d_real": real_score.detach().float().mean(),
                 "d_fake": fake_score.detach().float().mean(), "grad_norm_d": grad_norm}
        stats.update(self._adapt_augmentation(real_score))
        return stats

    def regularize(self, real: torch.Tensor, labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Lazy R1 (Mescheder et al. 2018; lazy form from Karras et al. 2020):
        every ``r1_interval`` steps, minimise ``gamma/2 * E||grad_x D(x)||^2 * interval``."""
        lcfg = self.cfg.loss
        cond = labels if self.num_classes else None
        # Penalties are second-order: kept in fp32 whatever the training precision.
        # With augmentation, R1 is taken on what D sees: augmented reals (Karras et al. 2020).
        penalty = r1_penalty(lambda x: self.D(x, cond)[0], self._augmented(self._to_memory_format(real)).detach())
        self._optimize(penalty * (self.r1_gamma / 2 * lcfg.r1_interval), self.D, self.d_opt, self.d_scaler)
        return {"r1": penalty.detach()}

    def regularize_generator(self) -> dict[str, torch.Tensor]:
        """Lazy path-length regularization (Karras et al. 2020, eq. 4) every ``pl_interval``
        steps on a smaller batch, scaled by the interval; see :func:`path_length_penalty`."""
        lcfg = self.cfg.loss
        n = max(1, self.local_batch // lcfg.pl_batch_shrink)
        z, y = self._sample_inputs(n)
        penalty, self.pl_mean = path_length_penalty(self.G, z, y, self.pl_mean, decay=lcfg.pl_decay,
                                                    generator_rng=self.noise)
        self._optimize(penalty * (lcfg.pl_weight * lcfg.pl_interval), self.G, self.g_opt, self.g_scaler)
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
            with self._autocast():
                fake = self.G(z, y)
                score, aux = self.D(self._augmented(fake), y)
                loss = self.loss.g_loss(score) + self._aux_loss(aux, y)
                if weight > 0:
                    ms = mode_seeking_penalty(fake, z)
                    loss = loss + weight * ms
                    stats["mode_seeking"] = ms.detach()
            grad_norm = self._optimize(loss, self.G, self.g_opt, self.g_scaler)
        finally:
            self.D.requires_grad_(True)
        return {"loss_g": loss.detach(), "grad_norm_g": grad_norm, **stats}

    def ema_beta(self) -> float:
        """Per-step decay for a half-life in images; the half-life ramps up with training
        (StyleGAN2-ADA, Karras et al. 2020) so early, fast-changing weights are forgotten."""
        t = self.cfg.train
        halflife = t.ema_halflife_kimg * 1000
        if t.ema_rampup > 0:
            halflife = min(halflife, self.images * t.ema_rampup)
        return 0.5 ** (t.batch_size / halflife) if halflife > 0 else 0.0

    @torch.no_grad()
    def update_ema(self) -> None:
        """G_ema <- beta * G_ema + (1 - beta) * G (Karras et al. 2018); buffers (batch-norm
        statistics) are copied from rank 0's G."""
        self.dist.broadcast_module(self.G, buffers_only=True)
        ema_p, g_p = list(self.G_ema.parameters()), list(self.G.parameters())
        torch._foreach_lerp_(ema_p, g_p, 1.0 - self.ema_beta())
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    def lr_schedule(self) -> float:
        """Factor on both learning rates after ``self.images`` images: 1 until ``train.lr_decay_start``
        of training, then falling to 0 at ``train.kimg``, as half a cosine or a line.

        A GAN keeps moving at a constant rate, and late in training that motion can undo a good
        state (toy-ring seeds lost modes after mid-training); a decay to 0 lets it settle.
        """
        t = self.cfg.train
        if t.lr_decay == "none":
            return 1.0
        start = t.lr_decay_start * self.total_images
        x = min(1.0, max(0.0, (self.images - start) / max(1.0, self.total_images - start)))
        return 0.5 * (1.0 + math.cos(math.pi * x)) if t.lr_decay == "cosine" else 1.0 - x

    def _set_learning_rates(self) -> None:
        """lr = configured lr x recovery factor (health knobs) x schedule."""
        t, factor, knobs = self.cfg.train, self.lr_schedule(), self.recovery.knobs(self.retries)
        for opt, lr in ((self.g_opt, t.g_lr * knobs["g_lr_factor"]), (self.d_opt, t.d_lr * knobs["d_lr_factor"])):
            for group in opt.param_groups:
                group["lr"] = lr * factor

    def train_step(self) -> dict[str, torch.Tensor]:
        if self.cfg.train.lr_decay != "none":
            self._set_learning_rates()
        stats: dict[str, torch.Tensor] = {}
        for _ in range(self.cfg.train.d_steps):
            real, labels = self.loader.next()
            stats.update(self.discriminator_step(real, labels))
        lcfg = self.cfg.loss
        if self.r1_gamma > 0 and self.step % lcfg.r1_interval == 0:
            stats.update(self.regularize(real, labels))
        stats.update(self.generator_step())
        if lcfg.pl_weight > 0 and self.step % lcfg.pl_interval == 0:
            stats.update(self.regularize_generator())
        self.update_ema()
        self.step += 1
        self.images += self.cfg.train.batch_size * self.cfg.train.d_steps
        return stats

    # ------------------------------------------------------------------------ logging, saving

    def _accumulate(self, sums: dict[str, torch.Tensor], counts: dict[str, Any], stats: dict[str, torch.Tensor]) -> None:
        """Add one step's ``stats`` to the log window's sums and per-number counts (lazy R1
        and path-length numbers come only every few steps). Under fp16 a step whose gradients
        overflowed was skipped by the GradScaler: its gradient norm is left out (counted by a
        tensor, so no step waits for the check)."""
        for k, v in stats.items():
            v, n = v.float(), 1
            if self.g_scaler.is_enabled() and k.startswith("grad_norm"):
                finite = torch.isfinite(v)
                v, n = torch.where(finite, v, 0.0), finite.float()
            sums[k] = sums[k] + v if k in sums else v
            counts[k] = counts.get(k, 0) + n

    def log(self, sums: dict[str, torch.Tensor], counts: dict[str, Any], elapsed: float, images: int) -> None:
        entry: dict[str, Any] = {"step": self.step, "images": self.images, "kimg": round(self.images / 1000, 3)}
        # Means over the log window of every number a step returned: losses, D scores, the
        # gradient norms of the loss steps (a single step's norm swings several-fold; R1 steps
        # are not mixed in), R1 over the steps that took it. 0/0 (no finite norm) logs NaN.
        entry.update({k: float(v / counts[k]) for k, v in sums.items()})
        entry["img_per_s"] = images / elapsed if elapsed > 0 else 0.0
        if isinstance(self.augment, AdaptiveAugment) and math.isfinite(self.augment.last_rt):
            entry["ada_rt"] = self.augment.last_rt
        entry["time"] = round(time.time(), 3)
        self.logger.record(entry)
        if self.health is not None:
            numbers = hm.judged_numbers(entry, self.cfg.loss.name)
            self.handle_health(self.health.observe_log(self.step, entry["kimg"], numbers))

    @torch.no_grad()
    def sample(self) -> Path | None:
        """Write ``samples/step-XXXXXXX.png`` (and ``latest.png``) from the fixed latents."""
        if self._sampled_step == self.step:
            return None
        self._sampled_step = self.step
        # Every rank recalibrates (deterministic), so G_ema stays identical across ranks.
        sampling.recalibrate_batchnorm(self.G_ema, latent_dim=self.latent_dim, num_classes=self.num_classes)
        if not self.dist.is_main:
            return None
        out = self._ema_outputs(self.fixed_z, self.fixed_y)
        if self.dataset.kind == "image":
            picture = make_grid(to_uint8(out), self.grid_cols)
            upscale = max(1, 256 // (self.grid_cols * out.shape[-1]) + 1)
        else:
            ref = self.dataset.data[:2000].numpy()
            picture, upscale = scatter_png(out.float().cpu().numpy(), ref), 1
        folder = self.run_dir / "samples"
        folder.mkdir(exist_ok=True)
        path = folder / f"{ckpt.checkpoint_name(self.step)}.png"
        save_png(picture, path, upscale=upscale)
        save_png(picture, folder / "latest.png", upscale=upscale)
        return path

    @torch.no_grad()
    def _ema_outputs(self, z: torch.Tensor, labels: torch.Tensor | None, chunk: int = 256) -> torch.Tensor:
        """G_ema on fixed latents ``z`` (N, latent_dim) in chunks of ``chunk``; labels (N,) or None."""
        return torch.cat([self.G_ema(zc, None if labels is None else labels[i : i + chunk])
                          for i, zc in zip(range(0, len(z), chunk), z.split(chunk))])

    def _weights_finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for net in (self.G, self.D, self.G_ema) for p in net.parameters())

    def _trainer_state(self) -> dict[str, Any]:
        np_state = np.random.get_state()
        py_state = random.getstate()
        return {
            "step": self.step,
            "images": self.images,
            "g_opt": self.g_opt.state_dict(),
            "d_opt": self.d_opt.state_dict(),
            "g_scaler": self.g_scaler.state_dict(),
            "d_scaler": self.d_scaler.state_dict(),
            "loader": self.loader.state_dict(),
            "noise": self.noise.get_state(),
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                          "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
            "python_rng": {"version": py_state[0], "state": list(py_state[1]), "gauss": py_state[2]},
            "world_size": self.dist.world_size,
            "pl_mean": self.pl_mean.detach().cpu(),
            "ada_steps": self._ada_steps,
            "augment": self.augment.state_dict() if isinstance(self.augment, AdaptiveAugment) else {},
            "health": json.dumps(self.health.state_dict()) if self.health is not None else "",
            "retries": self.retries,
        }

    def snapshot(self) -> Path | None:
        """Write a checkpoint (rank 0), after checking the weights are finite."""
        if not self._weights_finite():
            self._diverged("a weight")
        sampling.recalibrate_batchnorm(self.G_ema, latent_dim=self.latent_dim, num_classes=self.num_classes)
        if not self.dist.is_main:
            return None
        path = ckpt.write_checkpoint(
            self.run_dir, self.step,
            self._checkpoint_files(),
            keep=self.cfg.train.keep_checkpoints,
        )
        self.last_good = path
        return path

    def evaluate(self) -> dict[str, float] | None:
        """Periodic evaluation (rank 0): metrics of G_ema to log.jsonl; keep ``checkpoints/best`` by FID.

        Runs under its own random state (the global one is saved and restored), so a run
        with evaluation trains exactly like one without.
        """
        if not self.dist.is_main:
            return None
        from ..metrics.evaluate import default_features, evaluate
        from ..metrics.features import build_extractor
        from ..pipeline import GeneratorPipeline

        t = self.cfg.train
        np_state, py_state = np.random.get_state(), random.getstate()
        with torch.random.fork_rng(devices=[]):
            sampling.recalibrate_batchnorm(self.G_ema, latent_dim=self.latent_dim, num_classes=self.num_classes)
            pipe = GeneratorPipeline(copy.deepcopy(self.G_ema), self.cfg, class_names=self.class_names,
                                     source=str(self.run_dir))
            if self._extractor is None:
                self._extractor = build_extractor(default_features(pipe))
            result = evaluate(pipe, metrics=t.eval_metrics, n=t.eval_n, floors=False, extractor=self._extractor)
        np.random.set_state(np_state)
        random.setstate(py_state)
        self.G_ema.eval()
        entry = {"event": "eval", "step": self.step, "kimg": round(self.images / 1000, 3), "metrics": result.metrics}
        if result.skipped:
            entry["skipped"] = result.skipped
        self.logger.record(entry)
        fid = result.metrics.get("fid")
        if fid is not None and self.health is not None:
            self.handle_health(self.health.observe_eval(self.step, entry["kimg"], fid), collective=False)
        if fid is not None and fid < self.best_fid:
            self.best_fid = fid
            ckpt.write_named_checkpoint(
                self.run_dir, ckpt.BEST,
                self._checkpoint_files(),
                info={"step": self.step, "kimg": entry["kimg"], "fid": fid},
            )
        return result.metrics

    def _load_latest(self) -> None:
        path = ckpt.latest_checkpoint(self.run_dir)
        state = self._load_from(path)
        try:
            self.retries = int(state["retries"])
            if self.health is not None and state["health"]:
                self.health.load_state_dict(json.loads(state["health"]))
        except (KeyError, TypeError, ValueError) as err:
            raise GanforgeError(f"trainer state in '{path}' is incomplete or damaged ({type(err).__name__}: {err})") from None
        self._apply_knobs()
        self.last_good = path

    def _load_from(self, path: Path) -> dict[str, Any]:
        """Load networks and the training state of a checkpoint folder; returns the raw state."""
        ckpt.load_into(self.G, path / ckpt.G_FILE)
        ckpt.load_into(self.G_ema, path / ckpt.G_EMA_FILE)
        ckpt.load_into(self.D, path / ckpt.D_FILE)
        state = ckpt.load_state(path / ckpt.STATE_FILE)
        try:
            if int(state["world_size"]) != self.dist.world_size:
                raise GanforgeError(
                    f"checkpoint '{path}' was written by {state['world_size']} processes; resume it with the same number"
                )
            self.step, self.images = int(state["step"]), int(state["images"])
            self.g_opt.load_state_dict(state["g_opt"])
            self.d_opt.load_state_dict(state["d_opt"])
            self.g_scaler.load_state_dict(state["g_scaler"])
            self.d_scaler.load_state_dict(state["d_scaler"])
            self.loader.load_state_dict(state["loader"])
            self.noise.set_state(state["noise"])
            torch.set_rng_state(state["torch_rng"])
            n = state["numpy_rng"]
            np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
            p = state["python_rng"]
            random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
            self.pl_mean = state["pl_mean"].to(self.device)
            self._ada_steps = int(state["ada_steps"])
            if isinstance(self.augment, AdaptiveAugment):
                self.augment.load_state_dict(state["augment"])
        except (KeyError, TypeError, ValueError) as err:
            raise GanforgeError(f"trainer state in '{path}' is incomplete or damaged ({type(err).__name__}: {err})") from None
        return state

    # --------------------------------------------------------------------------------- health

    def _apply_knobs(self) -> None:
        """Set learning rates, R1 weight and the augmentation floor for ``self.retries``."""
        knobs = self.recovery.knobs(self.retries)
        self._set_learning_rates()
        self.r1_gamma = knobs["r1_gamma"]
        if isinstance(self.augment, AdaptiveAugment):
            self.augment.min_p = min(1.0, knobs["augment_p_floor"])

    def _checkpoint_files(self) -> dict[str, Any]:
        """What every checkpoint folder holds (rotating, ``best`` and ``healthy``)."""
        return {ckpt.G_FILE: self.G, ckpt.G_EMA_FILE: self.G_ema, ckpt.D_FILE: self.D, ckpt.STATE_FILE: self._trainer_state()}

    def mark_healthy(self) -> None:
        """Write ``checkpoints/healthy`` (rank 0): the state the recover policy rolls back to.

        Written when a health check passes with no event since the previous one, so a
        checkpoint taken while a problem was building is never the rollback target.
        """
        if self.health is None or self.cfg.health.policy != "recover":
            return
        if self._unconfirmed_events:
            self._unconfirmed_events = False
            return
        if self.dist.is_main and self._weights_finite():
            ckpt.write_named_checkpoint(self.run_dir, HEALTHY, self._checkpoint_files(),
                                        info={"step": self.step, "kimg": round(self.images / 1000, 3)})
        self.dist.barrier()

    def _build_probe(self) -> dict[str, Any]:
        """Fixed probe latents, the real data's diversity (the reference) and a class oracle."""
        hcfg, t = self.cfg.health, self.cfg.train
        n = hcfg.probe_size
        z = sampling.latents(t.seed + 4242, n, self.latent_dim).to(self.device)
        y = sampling.class_labels(n, self.num_classes).to(self.device) if self.num_classes else None
        order = torch.randperm(len(self.dataset), generator=torch.Generator().manual_seed(t.seed + 4242))
        if self.num_classes:  # the same number of real images per class as the probe has latents
            labels = self.dataset.labels[order]
            pick = torch.cat([order[labels == k][: int((y == k).sum())] for k in range(self.num_classes)])
            real_y = self.dataset.labels[pick].to(self.device)
        else:
            pick, real_y = order[:n], None
        real = self.dataset.data[pick]
        real = real.float().mul(2.0 / 255.0).sub(1.0) if self.dataset.kind == "image" else real.float()
        self.health.set_reference(hm.probe_diversity(real, real_y, self.num_classes))
        oracle = None
        if self.cfg.data.dataset in ("ring8", "grid25"):
            from ..data.toy import toy_mixture

            means = toy_mixture(self.cfg.data.dataset)[0]
            oracle = lambda out: (hm.nearest_mode(out.float().cpu(), means), len(means))  # noqa: E731
        elif self.cfg.data.dataset == "fashion-mnist" and self.dataset.sample_shape[0] == 1:
            from ..images import to_uint8_tensor
            from ..metrics.classifier import load_classifier, predict, prepare_images

            classifier = load_classifier()[0]

            def oracle(out: torch.Tensor):
                images = prepare_images(to_uint8_tensor(out.cpu()))
                return predict(classifier, images)[1].argmax(1), 10
        return {"z": z, "y": y, "oracle": oracle}

    @torch.no_grad()
    def probe(self) -> list[hm.HealthEvent]:
        """Diversity of G_ema on the fixed probe latents. Every rank probes (G_ema is identical
        on all ranks, so all reach the same verdict)."""
        if self.health is None:
            return []
        if self._probe is None:
            self._probe = self._build_probe()
        pr = self._probe
        with torch.random.fork_rng(devices=[]):
            sampling.recalibrate_batchnorm(self.G_ema, latent_dim=self.latent_dim, num_classes=self.num_classes)
            out = self._ema_outputs(pr["z"], pr["y"])
        diversity = hm.probe_diversity(out.float(), pr["y"], self.num_classes)
        entropy = None
        if pr["oracle"] is not None:
            labels, k = pr["oracle"](out)
            entropy = hm.normalized_entropy(labels, k)
        record = {"event": "probe", "step": self.step, "kimg": round(self.images / 1000, 3),
                  "diversity": diversity, "diversity_ratio": diversity / self.health.reference}
        if entropy is not None:
            record["class_entropy"] = entropy
        self.logger.record(record)
        return self.health.observe_probe(self.step, record["kimg"], diversity, entropy)

    def handle_health(self, events: list[hm.HealthEvent], *, collective: bool = True) -> bool:
        """Log and show ``events``; under ``recover``, roll back and change knobs.

        Returns True when training was rolled back. With several ranks, ``collective``
        calls (made at the same step on every rank) roll back all ranks when any rank asks.
        """
        for event in events:
            self.health_events.append(event)
            self.logger.record(event.to_record())
            self.logger.message(f"health: {event.message}")
        if events:
            self._unconfirmed_events = True
        actionable = [e for e in events if e.severe or e.kind == hm.STALL]
        if self.cfg.health.policy != "recover":
            divergence = [e for e in events if e.kind == hm.DIVERGENCE]
            if divergence:
                self._diverged(message=divergence[0].message)
            return False
        if self.dist.enabled:
            if not collective:
                return False  # a rank-0-only check (periodic FID) cannot move the other ranks
            if self.dist.all_agree(not actionable, self.device):
                return False
        elif not actionable:
            return False
        self.recover(actionable)
        return True

    def recover(self, events: list[hm.HealthEvent]) -> None:
        """Roll back to ``checkpoints/healthy``, apply the next retry's knobs, re-seed the noise."""
        if not events:
            return
        target = self.run_dir / ckpt.CHECKPOINT_DIR / HEALTHY
        if self.recovery.exhausted(self.retries) or not (target / ckpt.STATE_FILE).is_file():
            if self.recovery.exhausted(self.retries):
                why = f"{self.retries} rollbacks did not help" if self.retries else "health.max_retries is 0"
            else:
                why = "no healthy checkpoint to roll back to yet"
            diagnosis = self.recovery.diagnosis(self.health_events)
            self.logger.record({"event": "health_stop", "step": self.step, "reason": why, "diagnosis": diagnosis})
            raise TrainingUnhealthy(f"training stopped at step {self.step}: {why}. {diagnosis}")
        before = self.step
        self.retries += 1
        retries = self.retries
        self._load_from(target)
        self.retries = retries  # the checkpoint's count is older than this rollback
        self._apply_knobs()
        # A replay with the same noise could walk into the same failure: a new noise stream per retry.
        self.noise.manual_seed(self.cfg.train.seed * 7919 + 1 + self.dist.rank + 1_000_003 * retries)
        self.health.reset()
        self._unconfirmed_events = False
        knobs = self.recovery.knobs(retries)
        action = {"event": "health_action", "action": "rollback", "step": before, "to_step": self.step,
                  "kimg": round(self.images / 1000, 3), "retry": retries, "knobs": knobs,
                  "kinds": sorted({e.kind for e in events})}
        self.logger.record(action)
        self.logger.message(
            f"health: rolled back from step {before} to step {self.step} (retry {retries}/{self.cfg.health.max_retries}); "
            f"learning rates x{knobs['g_lr_factor']:g}, R1 {knobs['r1_gamma']:g}, augmentation floor {knobs['augment_p_floor']:g}"
        )

    def _diverged(self, what: str = "", *, message: str | None = None) -> None:
        where = f"last good checkpoint: {self.last_good}" if self.last_good else "no checkpoint was written yet"
        message = message.rstrip(".") if message else f"{what} became NaN or infinite at step {self.step} (kimg {self.images / 1000:.1f})"
        raise TrainingDiverged(
            f"{message}; {where}; lower train.g_lr / train.d_lr or raise loss.r1_gamma, then resume or restart "
            "(health.policy=recover does this automatically)"
        )

    # ----------------------------------------------------------------------------------- loop

    def run_steps(self, until_images: int) -> None:
        """Train until ``until_images`` real images have been shown, logging, sampling and
        snapshotting at their intervals. ``fit`` calls it; benchmarks call it directly."""
        t = self.cfg.train
        sample_every, snap_every = int(t.sample_every_kimg * 1000), int(t.snapshot_every_kimg * 1000)
        eval_every = int(t.eval_every_kimg * 1000)
        probe_every = int(self.cfg.health.probe_every_kimg * 1000) if self.health is not None else 0
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, Any] = {}
        t_log, img_log = time.perf_counter(), self.images
        while self.images < until_images:
            before = self.images
            stats = self.train_step()
            losses = torch.stack([stats["loss_d"].float(), stats["loss_g"].float()])
            if not bool(torch.isfinite(losses).all()):
                what = "the D loss" if not torch.isfinite(losses[0]) else "the G loss"
                if self.health is None:
                    self._diverged(what)
                event = hm.HealthEvent(hm.DIVERGENCE, self.step, round(self.images / 1000, 3),
                                       f"{what} became NaN or infinite at step {self.step} (kimg {self.images / 1000:.1f})",
                                       {"loss_d": float(losses[0]), "loss_g": float(losses[1])})
                self.handle_health([event])  # warn: raises; recover: rolls back (or raises when out of retries)
                sums, counts, t_log, img_log = {}, {}, time.perf_counter(), self.images
                continue
            self._accumulate(sums, counts, stats)
            self.logger.advance(self.images - before)
            if self.step % t.log_every == 0 or self.images >= self.total_images:
                now = time.perf_counter()
                self.log(sums, counts, now - t_log, self.images - img_log)
                sums, counts, t_log, img_log = {}, {}, now, self.images
            if before // sample_every != self.images // sample_every:
                self.sample()
            if before // snap_every != self.images // snap_every and self.images < self.total_images:
                self.snapshot()
                if not probe_every:  # without probes, a snapshot after a quiet stretch is the healthy state
                    self.mark_healthy()
            if eval_every and before // eval_every != self.images // eval_every:
                self.evaluate()
            if probe_every and before // probe_every != self.images // probe_every:
                if not self.handle_health(self.probe()):
                    self.mark_healthy()

    def fit(self) -> Path:
        """Train until ``train.kimg``; returns the run folder. Ctrl-C saves a checkpoint."""
        if self.step == 0:
            self.sample()
            self.mark_healthy()  # recover policy: the untrained state is the first rollback target
        try:
            self.run_steps(self.total_images)
            self.sample()
            self.snapshot()
        except KeyboardInterrupt:
            if self.step > 0 and self._weights_finite():
                path = self.snapshot()
                self.logger.message(f"interrupted; saved {path}; continue with: ganforge train --resume {self.run_dir}")
            raise
        finally:
            self.logger.close()
        return self.run_dir


def _read_best_fid(run_dir: Path) -> float:
    """The FID of a resumed run's ``checkpoints/best`` (inf when there is none)."""
    info = Path(run_dir) / ckpt.CHECKPOINT_DIR / ckpt.BEST / ckpt.INFO_FILE
    try:
        return float(json.loads(info.read_text())["fid"])
    except (OSError, ValueError, KeyError):
        return float("inf")
