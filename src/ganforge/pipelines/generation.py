"""Noise -> image generation: ``ganforge.load("fashion-cgan").generate(16, classes="bag")``.

A :class:`GeneratorPipeline` is the EMA generator of a noise -> image run. Image ``i`` of a seed
is bit for bit the same however many images are asked for.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import sampling
from ..config import TaskConfig
from ..errors import GanforgeError, did_you_mean
from ..images import to_uint8
from ..models import MODELS, build_generator
from .base import Pipeline, register_pipeline

# G always runs on chunks of exactly this many latents (the last one padded). CPU and GPU
# kernels pick their blocking by batch shape, so the float result for one image can change
# in its last bits with the batch size; with one fixed shape, image i of a seed is bit for
# bit the same whatever the number of images asked for.
GENERATION_CHUNK = 32


@register_pipeline
class GeneratorPipeline(Pipeline):
    """A generator with everything needed to use it: config, class names, provenance.

    ``generate`` returns uint8 images (N, H, W, C), or float32 points (N, D) for vector
    models. Image ``i`` of ``seed`` is bit for bit the same however many images are asked for.
    """

    pipeline_kind = "generation"

    def __init__(self, generator: torch.nn.Module, config: TaskConfig, *, class_names: list[str] | None,
                 meta: dict[str, Any] | None = None, source: str = "") -> None:
        super().__init__(generator, config, meta=meta, source=source)
        self.class_names = class_names

    @property
    def generator(self) -> torch.nn.Module:
        return self.network

    @classmethod
    def build_network(cls, config: TaskConfig) -> torch.nn.Module:
        return build_generator(config.model)

    @classmethod
    def init_kwargs(cls, info: dict[str, Any], config: TaskConfig) -> dict[str, Any]:
        return {"class_names": info.get("class_names") if config.model.conditional else None}

    # ------------------------------------------------------------------------------ properties
    @property
    def conditional(self) -> bool:
        return bool(self.config.model.conditional)

    @property
    def style_based(self) -> bool:
        """True for generators with a mapping network (z -> w), e.g. the stylegan family."""
        return MODELS.get(self.config.model.family).style_based

    @property
    def kind(self) -> str:
        return "image" if len(self.config.model.output_shape) == 3 else "vector"

    # ----------------------------------------------------------------------------- generation
    def class_index(self, name: str | int) -> int:
        """A class name (case-insensitive) or index -> index; unknown names list the valid ones."""
        if not self.conditional:
            raise GanforgeError("this model is unconditional; it takes no class")
        names = self.class_names or [str(i) for i in range(self.config.model.num_classes)]
        if isinstance(name, str) and name.isdigit() and name.lower() not in (n.lower() for n in names):
            name = int(name)  # "--class 7" means index 7 unless a class is literally called "7"
        if isinstance(name, (int, np.integer)) and 0 <= int(name) < len(names):
            return int(name)
        lowered = [n.lower() for n in names]
        if isinstance(name, str) and name.lower() in lowered:
            return lowered.index(name.lower())
        raise GanforgeError(f"unknown class '{name}'{did_you_mean(str(name), names)}; classes: {', '.join(names)}, or all")

    def labels_for(self, n: int, classes: str | int | Sequence[str | int] | None = None) -> torch.Tensor | None:
        """Labels (n,) int64 for ``classes``: one class, a list of n, or None/'all' (spread evenly)."""
        if not self.conditional:
            if classes not in (None, "all"):
                raise GanforgeError("this model is unconditional; leave out --class")
            return None
        if classes is None or classes == "all":
            return sampling.class_labels(n, self.config.model.num_classes)
        if isinstance(classes, (str, int, np.integer)):
            return torch.full((n,), self.class_index(classes), dtype=torch.long)
        if len(classes) != n:
            raise GanforgeError(f"got {len(classes)} classes for {n} images; give one class or one per image")
        return torch.tensor([self.class_index(c) for c in classes], dtype=torch.long)

    @torch.no_grad()
    def generate_tensor(self, n: int, classes=None, seed: int = 0, truncation: float = 1.0,
                        *, progress: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Raw generator output (N, ...) float32 on the CPU, and the labels used (or None).

        ``progress`` shows a bar (for thousands of images).
        """
        if n < 0:
            raise GanforgeError(f"the number of images must be >= 0, got {n}")
        if not 0.0 <= truncation <= 1.0:
            raise GanforgeError(f"truncation must be between 0 and 1, got {truncation}")
        labels = self.labels_for(n, classes)
        outs = []
        chunk = GENERATION_CHUNK
        for start in tqdm(range(0, n, chunk), desc="generating", unit="chunk", leave=False, disable=not progress):
            m = min(chunk, n - start)
            z = torch.zeros(chunk, self.config.model.latent_dim)
            z[:m] = sampling.latents(seed, m, self.config.model.latent_dim, start=start)
            y = None
            if labels is not None:
                y = torch.zeros(chunk, dtype=torch.long)
                y[:m] = labels[start : start + m]
                y = y.to(self.device)
            outs.append(self.run_generator(z.to(self.device), y, truncation)[:m].float().cpu())
        shape = tuple(self.config.model.output_shape)
        return (torch.cat(outs) if outs else torch.zeros(0, *shape)), labels

    def run_generator(self, z: torch.Tensor, labels: torch.Tensor | None, truncation: float = 1.0) -> torch.Tensor:
        """G on latents ``z`` (N, latent_dim) with truncation: in w towards the tracked (per-class)
        average w for style-based generators (their z is normalised, so scaling it would do
        nothing), in z towards 0 otherwise."""
        if self.style_based:
            return self.generator(z, labels, psi=truncation)
        return self.generator(sampling.truncate(z, truncation), labels)

    def generate(self, n: int, classes=None, seed: int = 0, truncation: float = 1.0) -> np.ndarray:
        """``n`` samples: uint8 images (N, H, W, C) or float32 points (N, D).

        ``classes``: None or "all" (spread evenly, in blocks), one class name or index, or a
        list of one per image. ``truncation`` in [0, 1] scales the latents towards their mean.
        """
        out, _ = self.generate_tensor(n, classes, seed, truncation)
        return to_uint8(out) if self.kind == "image" else out.numpy().astype(np.float32)

    def onnx_spec(self):
        """G as ``generate`` runs it, without truncation: z (N, latent_dim) float and, for
        conditional models, labels (N,) int64 -> images (N, C, H, W) in about [-1, 1]. A
        style-based G runs its eval-mode noise (the constant buffers), so output is deterministic.
        Truncation is left to the caller (it scales z; style-based models lerp w, not exported)."""
        from .onnx import OnnxSpec

        if self.kind != "image":
            raise GanforgeError(f"'{self.source}' makes {self.config.model.output_shape[0]}D points, not images; "
                                "ONNX export is for image models")
        m = self.config.model
        names = ("z", "labels") if self.conditional else ("z",)

        def examples(i: int) -> tuple[torch.Tensor, ...]:
            n = (2, 5)[i]
            z = sampling.latents(i, n, m.latent_dim)
            return (z, torch.arange(n) % m.num_classes) if self.conditional else (z,)

        axes = {name: {0: "batch"} for name in (*names, "output")}
        return OnnxSpec(_Sampler(self).eval(), names, axes, examples, ("batch 2", "batch 5"),
                        {"latent_dim": str(m.latent_dim), "num_classes": str(m.num_classes if self.conditional else 0),
                         "output_shape": "x".join(map(str, m.output_shape)),
                         "classes": ",".join(self.class_names or [])})

    # ---------------------------------------------------------------------------------- saving
    def export_info(self) -> dict[str, Any]:
        return {"class_names": self.class_names}

    def card_summary(self, info: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
        cfg = info["config"]
        model = cfg["model"]
        sentence = f"A {'class-conditional ' if model.get('conditional') else ''}{model['family']} generator"
        rows = [("output", " x ".join(str(s) for s in model["output_shape"])),
                ("classes", ", ".join(info["class_names"]) if info.get("class_names") else "none (unconditional)"),
                ("loss", cfg["loss"]["name"])]
        return sentence, rows

    def usage(self, name: str) -> str:
        return f"ganforge generate {name} -n 16 --out grid.png"

    def describe(self) -> dict[str, Any]:
        m = self.config.model
        return {
            **super().describe(),
            "family": m.family,
            "kind": self.kind,
            "output_shape": list(m.output_shape),
            "latent_dim": m.latent_dim,
            "conditional": self.conditional,
            "classes": self.class_names,
        }


class _Sampler(torch.nn.Module):
    """``pipe.run_generator(z, labels)`` as a module (what the ONNX exporter traces)."""

    def __init__(self, pipe: GeneratorPipeline) -> None:
        super().__init__()
        self.generator, self.run = pipe.generator, pipe.run_generator

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.run(z, labels)
