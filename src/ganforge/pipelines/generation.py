"""Noise -> image generation: ``ganforge.load("fashion-cgan").generate(16, classes="bag")``, or for
a model with several traits ``generate(16, traits={"colour": "red"}, seed=1)``.

A :class:`GeneratorPipeline` is the EMA generator of a noise -> image run. Image ``i`` of a seed
is bit for bit the same however many images are asked for. Traits a choice leaves out are drawn
per image from the seed, from a stream of their own: at a fixed seed, changing one trait keeps
every latent and every other drawn trait (so only that trait changes).
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from .. import sampling
from ..conditioning import Conditioning, Spec
from ..config import TaskConfig
from ..errors import GanforgeError
from ..images import to_uint8
from ..models import MODELS, build_generator
from ..schema import FamilyConfig
from ..sampling import GENERATION_CHUNK  # noqa: F401  (G runs on chunks of exactly this many latents)
from .base import Pipeline, register_pipeline

# A partial choice of traits: {"name": value}, ["name=value", ...] or "name=value+name=value".
Traits = Mapping[str, Any] | Sequence[str] | str | None


def model_conditioning(model: FamilyConfig, class_names: list[str] | None) -> Conditioning:
    """What a model's labels mean, from its config: its named ``traits``, else one ``class``
    trait of ``num_classes`` (named by ``class_names`` where known), else unconditional."""
    if model.conditional and model.traits:
        return Conditioning.from_json({"traits": [t.model_dump() for t in model.traits]})
    return Conditioning.for_classes(class_names, model.num_classes if model.conditional else 0)


@register_pipeline
class GeneratorPipeline(Pipeline):
    """A generator with everything needed to use it: config, conditioning (class names), provenance.

    ``generate`` returns uint8 images (N, H, W, C), or float32 points (N, D) for vector
    models. Image ``i`` of ``seed`` is bit for bit the same however many images are asked for.
    """

    pipeline_kind = "generation"

    def __init__(self, generator: torch.nn.Module, config: TaskConfig, *, class_names: list[str] | None,
                 conditioning: Conditioning | None = None, meta: dict[str, Any] | None = None,
                 source: str = "") -> None:
        super().__init__(generator, config, meta=meta, source=source)
        self.class_names = class_names
        m = config.model
        # What the labels mean: given (exported with several traits) or read off the config.
        self.conditioning = conditioning if conditioning is not None else model_conditioning(m, class_names)

    @property
    def generator(self) -> torch.nn.Module:
        return self.network

    @classmethod
    def build_network(cls, config: TaskConfig) -> torch.nn.Module:
        return build_generator(config.model)

    @classmethod
    def init_kwargs(cls, info: dict[str, Any], config: TaskConfig) -> dict[str, Any]:
        conditioning = Conditioning.from_json(info["conditioning"]) if info.get("conditioning") else None
        return {"class_names": info.get("class_names") if config.model.conditional else None,
                "conditioning": conditioning}

    # ------------------------------------------------------------------------------ properties
    @property
    def conditional(self) -> bool:
        return bool(self.config.model.conditional)

    @property
    def style_based(self) -> bool:
        """True for generators with a mapping network (z -> w), e.g. the stylegan family."""
        return MODELS.get(self.config.model.family).style_based

    @property
    def style_layers(self) -> int:
        """Styles the synthesis network reads (``num_ws``) for style-based generators, else 0:
        what style mixing can exchange. Front ends read it from ``describe()``."""
        return int(self.generator.num_ws) if self.style_based else 0

    @property
    def kind(self) -> str:
        return "image" if len(self.config.model.output_shape) == 3 else "vector"

    # ----------------------------------------------------------------------------- generation
    def class_index(self, name: str | int) -> int:
        """A class name (case-insensitive) or index -> index; unknown names list the valid ones."""
        if not self.conditional:
            raise GanforgeError("this model is unconditional; it takes no class")
        return int(self.conditioning.encode(1, name)[0, 0])

    def labels_for(self, n: int, classes: Spec = None, *, traits: Traits = None, seed: int = 0) -> torch.Tensor | None:
        """Labels for a choice: (n,) int64 for a one-class model, (n, T) for several traits, None
        for an unconditional model.

        ``classes`` follows the one rule of :mod:`ganforge.conditioning` (``"all"``: even blocks).
        ``traits`` is a partial choice (:meth:`Conditioning.choose`): the traits it names take
        their value in every image, the others are drawn per image from ``seed``
        (``sampling.random_traits``, a stream apart from the latents'). A model with several
        traits given neither draws every trait at random; a one-class model spreads its classes
        in blocks, as it always did. ``classes`` and ``traits`` do not combine.
        """
        cond = self.conditioning
        if traits is not None and classes is not None:
            raise GanforgeError("give either classes (--class) or traits (--trait), not both")
        if traits is None and (classes is not None or len(cond) <= 1):
            return cond.labels(n, classes)
        chosen = cond.choose(traits)
        drawn = cond.fill(sampling.random_traits(seed, n, cond.sizes), chosen)
        return drawn[:, 0].contiguous() if len(cond) == 1 else drawn

    def traits_of(self, labels: torch.Tensor | None) -> list[dict[str, str]]:
        """``labels`` ((N,) or (N, T)) -> one ``{trait: value}`` per image ([] without labels)."""
        if labels is None:
            return []
        rows = labels.reshape(-1, max(1, len(self.conditioning))).tolist()
        return [{t.name: t.values[v] for t, v in zip(self.conditioning.traits, row)} for row in rows]

    @torch.no_grad()
    def generate_tensor(self, n: int, classes: Spec = None, seed: int = 0, truncation: float = 1.0,
                        *, traits: Traits = None, progress: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Raw generator output (N, ...) float32 on the CPU, and the labels used (or None).

        ``classes`` and ``traits`` as in :meth:`labels_for`. ``progress`` shows a bar (for
        thousands of images).
        """
        if n < 0:
            raise GanforgeError(f"the number of images must be >= 0, got {n}")
        if not 0.0 <= truncation <= 1.0:
            raise GanforgeError(f"truncation must be between 0 and 1, got {truncation}")
        labels = self.labels_for(n, classes, traits=traits, seed=seed)
        if n == 0:
            return torch.zeros(0, *self.config.model.output_shape), labels
        dim = self.config.model.latent_dim
        out = sampling.run_in_chunks(lambda z, y: self.run_generator(z, y, truncation), n,
                                     lambda start, stop: sampling.latents(seed, stop - start, dim, start=start), labels,
                                     device=self.device, progress=progress)
        return out, labels

    @torch.no_grad()
    def trait_variations(self, trait: str, n: int, seed: int = 0, *, traits: Traits = None,
                         truncation: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Every value of one ``trait`` on the same ``n`` characters (benches' consistency check).

        Row v holds the images of ``seed`` with ``trait`` set to its value v: the latents, the
        ``traits`` given and every trait drawn at random are those of the seed in every row, so
        only ``trait`` changes. Returns the raw outputs (V, n, ...) float32 and the labels
        (V, n) or (V, n, T) used."""
        cond = self.conditioning
        varied = cond.trait(trait)
        given = {cond.traits[c].name: cond.traits[c].values[v] for c, v in cond.choose(traits).items()}
        outs, labels = [], []
        for value in varied.values:
            out, y = self.generate_tensor(n, seed=seed, truncation=truncation, traits={**given, varied.name: value})
            outs.append(out)
            labels.append(y)
        return torch.stack(outs), torch.stack(labels)

    def run_generator(self, z: torch.Tensor, labels: torch.Tensor | None, truncation: float = 1.0) -> torch.Tensor:
        """G on latents ``z`` (N, latent_dim) with truncation: in w towards the tracked (per-class)
        average w for style-based generators (their z is normalised, so scaling it would do
        nothing), in z towards 0 otherwise."""
        if self.style_based:
            return self.generator(z, labels, psi=truncation)
        return self.generator(sampling.truncate(z, truncation), labels)

    def generate(self, n: int, classes=None, seed: int = 0, truncation: float = 1.0, *,
                 traits: Traits = None) -> np.ndarray:
        """``n`` samples: uint8 images (N, H, W, C) or float32 points (N, D).

        ``classes``: None or "all" (spread evenly, in blocks), one class name or index, or a
        list of one per image. ``traits``: some traits of a multi-trait model, ``{"hair_color":
        "red"}``; the rest are drawn at random per image from ``seed`` (see :meth:`labels_for`).
        ``truncation`` in [0, 1] scales the latents towards their mean.
        """
        out, _ = self.generate_tensor(n, classes, seed, truncation, traits=traits)
        return to_uint8(out) if self.kind == "image" else out.numpy().astype(np.float32)

    def onnx_spec(self):
        """G as ``generate`` runs it, without truncation: z (N, latent_dim) float and, for
        conditional models, labels (N,) int64 ((N, T) with several traits) -> images (N, C, H, W)
        in about [-1, 1]. A
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
            if not self.conditional:
                return (z,)
            labels = torch.stack([torch.arange(n) % k for k in m.label_sizes], dim=1)
            return z, labels[:, 0] if len(m.label_sizes) == 1 else labels

        axes = {name: {0: "batch"} for name in (*names, "output")}
        return OnnxSpec(_Sampler(self).eval(), names, axes, examples, ("batch 2", "batch 5"),
                        {"latent_dim": str(m.latent_dim), "num_classes": str(m.num_classes if self.conditional else 0),
                         "output_shape": "x".join(map(str, m.output_shape)),
                         "classes": ",".join(self.class_names or []),
                         **({"traits": json.dumps(self.conditioning.to_json())} if m.traits else {})})

    # ---------------------------------------------------------------------------------- saving
    def export_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"class_names": self.class_names}
        if len(self.conditioning) > 1:  # a one-class model is described by class_names, as before
            info["conditioning"] = self.conditioning.to_json()
        return info

    def card_summary(self, info: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
        cfg = info["config"]
        model = cfg["model"]
        sentence = f"A {'class-conditional ' if model.get('conditional') else ''}{model['family']} generator"
        rows = [("output", " x ".join(str(s) for s in model["output_shape"]))]
        if model.get("traits"):
            rows.append(("traits", "; ".join(f"{t['name']}: {', '.join(t['values'])}" for t in model["traits"])))
        else:
            rows.append(("classes", ", ".join(info["class_names"]) if info.get("class_names") else "none (unconditional)"))
        rows.append(("loss", cfg["loss"]["name"]))
        return sentence, rows

    def usage(self, name: str) -> str:
        if self.config.model.traits:
            first = self.conditioning.traits[0]
            return f"ganforge generate {name} --trait {first.name}={first.values[0]} -n 16 --out grid.png"
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
            "classes": self.class_names,  # a one-class model's names (None: unconditional or unnamed)
            "conditioning": self.conditioning.to_json(),  # every trait and its values
            # models with named traits: the JSON schema of a choice of some of them (a form's selects)
            "traits_schema": self.conditioning.json_schema() if m.conditional and m.traits else None,
            "style_layers": self.style_layers,  # > 0: style mixing exchanges these layers
        }


class _Sampler(torch.nn.Module):
    """``pipe.run_generator(z, labels)`` as a module (what the ONNX exporter traces)."""

    def __init__(self, pipe: GeneratorPipeline) -> None:
        super().__init__()
        self.generator, self.run = pipe.generator, pipe.run_generator

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.run(z, labels)
