"""The task contract: what the training loop may ask of a task, and nothing more.

A task owns what is particular to one kind of GAN: its named networks (``{"G", "D", "G_ema"}``
or ``{"G", "D"}``, or ``{"G_AB", "G_BA", "G_AB_ema", "D_A", "D_B"}``), the batch it consumes (a dict of
tensors sliced from its data set's ``fields()``), its losses and its optimisation steps. The
loop (``training/loop.py``) runs steps, counts images and calls callbacks; it never looks
inside a batch or a network. A new task is one file in ``tasks/`` with a :class:`Task`
subclass registered with :func:`register_task` (``docs/architecture.md`` walks
through ``paired.py``).

Nothing in this package imports ``ganforge.training``: loading a model for inference needs a
task's config class and nothing of the training machinery.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import numpy as np
import torch
from torch import nn

from ..config import TaskConfig
from ..registry import Registry

if TYPE_CHECKING:
    from ..training.distributed import DistContext

Batch = dict[str, torch.Tensor]
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
DEFAULT_TASK = "noise-to-image"  # configs without a task key
TASKS: Registry[type["Task"]] = Registry("task")


def register_task(cls: type["Task"]) -> type["Task"]:
    """Class decorator: register a :class:`Task` subclass under ``cls.name``."""
    TASKS.register(cls.name, cls)
    return cls


def grad_norm(net: nn.Module) -> torch.Tensor:
    """The L2 norm of all of ``net``'s gradients, as a 0-dim tensor (0 without gradients)."""
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))).float()


class Task:
    """Base of every task. Subclasses set the class attributes and implement the methods
    marked "subclasses implement"; the rest has working defaults.

    Class attributes:
        name: registry key, the config's ``task`` value.
        config: the task's config class (a :class:`~ganforge.config.TaskConfig`).
        pipeline: the kind of pipeline a trained model becomes (``"generation"``, ``"image-to-image"``).
        export_network: the network a pipeline is made from (e.g. ``"G_ema"``).
        checkpoint_files: network name -> checkpoint file name, where not ``<name>.safetensors``.
        batch_kinds: the data-set batch kinds (``DatasetSpec.batch``) the task can train on.
    """

    name: ClassVar[str]
    config: ClassVar[type[TaskConfig]]
    pipeline: ClassVar[str]
    export_network: ClassVar[str]
    checkpoint_files: ClassVar[dict[str, str]] = {}
    batch_kinds: ClassVar[tuple[str, ...]] = ("images",)
    best_metric: ClassVar[str | None] = None  # the periodic-evaluation key checkpoints/best keeps (lower is better)
    r1_gamma: float = 0.0  # R1 weight in use (the health monitor's recover policy raises it)
    class_names: list[str] | None = None  # what a conditional task's labels mean (saved in run.json)

    def __init__(self, cfg: TaskConfig, dataset: Any, *, device: torch.device, dist: "DistContext",
                 noise: torch.Generator, local_batch: int) -> None:
        """``cfg``: the resolved config; ``dataset``: the loaded data set; ``noise``: the task's
        random stream (its state is checkpointed by the loop); ``local_batch``: this rank's batch."""
        self.cfg, self.dataset, self.device, self.dist = cfg, dataset, device, dist
        self.noise, self.local_batch = noise, local_batch
        self.amp_dtype = DTYPES[cfg.train.precision]
        self.networks: dict[str, nn.Module] = {}
        # name -> (optimizer, configured learning rate, role "generator" | "discriminator")
        self.optimizers: dict[str, tuple[torch.optim.Optimizer, float, str]] = {}
        self.scalers: dict[str, torch.amp.GradScaler] = {}

    # ------------------------------------------------------------------ set-up (class level)
    @classmethod
    def resolve_config(cls, cfg: TaskConfig, dataset: Any) -> TaskConfig:
        """Fill data-derived fields (shapes, classes) and check the data fits; a copy."""
        return cfg

    @classmethod
    def build_export(cls, cfg: TaskConfig) -> nn.Module:
        """An untrained copy of the network a pipeline is made from (``export_network``), for
        loading exported weights without building the rest of the task. Subclasses implement."""
        raise NotImplementedError

    @classmethod
    def file_name(cls, network: str) -> str:
        return cls.checkpoint_files.get(network, f"{network}.safetensors")

    def summary(self) -> str:
        """A few words on what is trained, for the start-of-run line."""
        return f"{self.name} ({', '.join(self.networks)})"

    # ---------------------------------------------------------------------------- training
    @property
    def images_per_step(self) -> int:
        """Real examples one :meth:`train_step` consumes over all ranks (the loop's clock)."""
        return self.cfg.train.batch_size

    def train_step(self, step: int, next_batch: Callable[[], Batch]) -> dict[str, torch.Tensor]:
        """One optimisation step; returns 0-dim tensors to log (``loss_*`` keys are checked
        for finiteness by the loop). Subclasses implement."""
        raise NotImplementedError

    def ema_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        """``(averaged, trained)`` network pairs the EMA callback updates after every step."""
        return []

    def autocast(self):
        """Autocast for the configured precision (a no-op in fp32)."""
        if self.amp_dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def optimize(self, loss: torch.Tensor, name: str, net: nn.Module) -> torch.Tensor:
        """One step of optimizer ``name`` on ``loss``; returns the (unscaled, rank-averaged)
        gradient norm as a tensor, so logging it costs no synchronisation."""
        opt, scaler = self.optimizers[name][0], self.scalers[name]
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        self.dist.average_gradients(net)
        scaler.unscale_(opt)  # a no-op without fp16; scaler.step then does not unscale again
        norm = grad_norm(net)
        scaler.step(opt)
        scaler.update()
        return norm

    def discriminator_update(self, name: str, loss_fn: Any, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """One optimiser step of discriminator ``name`` with the adversarial loss ``loss_fn`` on
        what it judges as real and as generated (already built, e.g. conditioned); returns the
        statistics every adversarial task logs."""
        D = self.networks[name]
        with self.autocast():
            real_score, fake_score = D(real), D(fake)
            loss = loss_fn.d_loss(real_score, fake_score)
        grad_norm = self.optimize(loss, name, D)
        return {"loss_d": loss.detach(), "d_real": real_score.detach().float().mean(),
                "d_fake": fake_score.detach().float().mean(), "grad_norm_d": grad_norm}

    def make_optimizer(self, name: str, net: nn.Module, lr: float, role: str) -> None:
        """Adam on ``net`` with the run's betas, and its GradScaler (active under fp16 only)."""
        t = self.cfg.train
        self.optimizers[name] = (torch.optim.Adam(net.parameters(), lr=lr, betas=t.betas), lr, role)
        self.scalers[name] = torch.amp.GradScaler(self.device.type, enabled=t.precision == "fp16")

    @property
    def scaled_gradients(self) -> bool:
        """True under fp16, where a step whose gradients overflowed is skipped by the scaler."""
        return self.cfg.train.precision == "fp16"

    # ------------------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Everything but the networks a resumed run needs (optimizers, scalers, task counters).
        Keys go into the checkpoint's trainer state beside the loop's own."""
        out: dict[str, Any] = {}
        for name, (opt, _, _) in self.optimizers.items():
            out[f"{self.state_prefix(name)}_opt"] = opt.state_dict()
            out[f"{self.state_prefix(name)}_scaler"] = self.scalers[name].state_dict()
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, (opt, _, _) in self.optimizers.items():
            opt.load_state_dict(state[f"{self.state_prefix(name)}_opt"])
            self.scalers[name].load_state_dict(state[f"{self.state_prefix(name)}_scaler"])

    def state_prefix(self, optimizer: str) -> str:
        """Key prefix of an optimizer's state (``"g"`` for ``"G"``): lower case."""
        return optimizer.lower()

    # ----------------------------------------------------------- health, sampling, evaluation
    def log_extras(self) -> dict[str, float]:
        """Numbers for a log line that are state, not per-step means (e.g. ADA's r_t)."""
        return {}

    @property
    def scores_have_scale(self) -> bool:
        """D's mean scores (``d_real``, ``d_fake``) have a fixed scale, so the health monitor may
        judge D's dominance from their gap (not so for a Wasserstein critic)."""
        return False

    def apply_recovery(self, knobs: dict[str, float]) -> None:
        """The recover policy's knobs besides learning rates (R1 weight, augmentation floor)."""

    def prepare_outputs(self) -> None:
        """Bring averaged networks up to date before they are sampled or saved (every rank)."""

    def sample_picture(self) -> tuple[np.ndarray, int] | None:
        """A picture of the model's current outputs, ``(uint8 HWC array, upscale)``; None: none."""
        return None

    def probe(self) -> dict[str, float] | None:
        """The collapse probe: ``{"diversity", "reference"}`` and optionally ``"class_entropy"``;
        None when the task has no probe."""
        return None

    def evaluate(self, run_dir, *, metrics: list[str], n: int, cache: dict[str, Any],
                 pipeline: type) -> tuple[dict[str, float], list]:
        """Metrics of the current model for the periodic evaluation; ``cache`` persists between
        calls (feature extractors). ``pipeline``: the pipeline class of this task's kind
        (``PIPELINES[cls.pipeline]``), for tasks that score their model as a pipeline; the caller
        passes it because pipelines sit above tasks (a pipeline is built from a task's config).
        Returns ``(metrics, skipped)``."""
        raise NotImplementedError(f"task {self.name} has no periodic evaluation")
