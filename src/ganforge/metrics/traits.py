"""Trait classifiers: what an image of a creation data set shows, one head per trait.

The creation measures (:mod:`ganforge.metrics.creation`, ``bench/creation.py``) ask a classifier
trained on real images which value of each trait a generated image shows. ganforge trains its own,
since no pretrained network knows python-avatars' hair styles or Wesnoth's races. Two differently
built networks exist, so a figure is not the quirk of one classifier (issue 24: the traits must be
legible to any classifier trained on the real renders):

- ``pool``: fashion-cnn's body (three conv-BN-ReLU blocks, each followed by a 2x2 max-pool), in
  colour, a flattened ``feature_dim`` layer;
- ``strided``: four stages of a stride-2 convolution and a plain one (no pooling layers), then
  global average pooling into the ``feature_dim`` layer; trained with another seed and a larger shift.

Both have one linear head per trait on the penultimate layer (that layer is also the feature space
of the measures' FID). They train with fashion-cnn's loop (:func:`~.classifier.fit`): the loss is
the sum over traits of the cross-entropy over the images that *show* the trait (``visible``), so
a hat's hidden hair colour teaches nothing. No flips: a flip changes a turntable's view angle.

Inputs are uint8 ``(N, C, H, W)`` at the data's size (that of the generator; landscapes are 2:1). A trained
classifier is cached under ``$GANFORGE_CACHE_DIR/trait-classifiers`` (safetensors and JSON), keyed
by the training images, the architecture, the recipe and the seed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import checkpoint as ckpt
from ..errors import GanforgeError
from ..fileio import atomic_write_text, cache_dir
from ..models.layers import MaxPool2x2
from .classifier import FashionCNN, Recipe, _augment, _conv, fit

ARCHITECTURES = ("pool", "strided")
# How each architecture trains (never flips: see the module docstring), and its seed.
RECIPES = {
    "pool": Recipe(epochs=15, batch_size=64, lr=3e-3, shift=2, flip=False),
    "strided": Recipe(epochs=15, batch_size=64, lr=2e-3, shift=4, flip=False),
}
SEEDS = {"pool": 0, "strided": 1}
CONFIG_JSON, WEIGHTS = "config.json", "classifier.safetensors"
CACHE_FORMAT = 1  # bump when training or the saved layout changes


class TraitCNN(nn.Module):
    """A colour image classifier with one head per trait (see the module docstring)."""

    def __init__(
        self,
        *,
        sizes: Sequence[int],  # values per trait: one head of that many logits each
        channels: int = 3,  # input channels
        resolution: int | Sequence[int] = 64,  # input side, or (height, width): multiples of 16
        architecture: str = "pool",  # one of ARCHITECTURES
        width: int = 16,  # channels of the first block; doubled per block
        feature_dim: int = 128,  # penultimate layer: the measures' feature space
        dropout: float = 0.3,  # before the heads, during training only
    ) -> None:
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise GanforgeError(f"unknown trait classifier architecture '{architecture}'; "
                                f"accepted: {', '.join(ARCHITECTURES)}")
        height, width_px = (resolution, resolution) if isinstance(resolution, int) else map(int, resolution)
        if height % 16 or width_px % 16:
            raise GanforgeError(f"a trait classifier needs sides that are multiples of 16, got {height} x {width_px}")
        self.config = {"sizes": [int(s) for s in sizes], "channels": channels, "resolution": [height, width_px],
                       "architecture": architecture, "width": width, "feature_dim": feature_dim, "dropout": dropout}
        w = width
        if architecture == "pool":  # R -> R/8, flattened
            layers = [*_conv(channels, w), MaxPool2x2(), *_conv(w, 2 * w), MaxPool2x2(),
                      *_conv(2 * w, 4 * w), MaxPool2x2(), nn.Flatten(),
                      nn.Linear(4 * w * (height // 8) * (width_px // 8), feature_dim, bias=False)]
        else:  # R -> R/16 by strided convolutions, then the average over positions
            layers, c_in = [], channels
            for c_out in (w, 2 * w, 4 * w, 8 * w):
                layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out),
                           nn.ReLU(inplace=True), *_conv(c_out, c_out)]
                c_in = c_out
            layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, feature_dim, bias=False)]
        self.body = nn.Sequential(*layers, nn.BatchNorm1d(feature_dim), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleList(nn.Linear(feature_dim, int(s)) for s in sizes)

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``x``: float ``(N, C, R, R)`` in -1..1 -> features ``(N, feature_dim)``, one ``(N, size)`` logits per trait."""
        feats = self.body(x)
        dropped = self.dropout(feats)
        return feats, [head(dropped) for head in self.heads]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.features_and_logits(x)[1]


def masked_trait_loss(logits: Sequence[torch.Tensor], labels: torch.Tensor, visible: torch.Tensor | None, *,
                      label_smoothing: float = 0.0) -> torch.Tensor:
    """Sum over traits t of the mean cross-entropy of ``logits[t]`` over the images showing t.

    ``labels``: int64 ``(N, T)``; ``visible``: bool ``(N, T)`` or None (all shown). A trait no image
    of the batch shows adds nothing.
    """
    total = logits[0].new_zeros(())
    for t, lg in enumerate(logits):
        per_image = F.cross_entropy(lg, labels[:, t], reduction="none", label_smoothing=label_smoothing)
        if visible is None:
            total = total + per_image.mean()
        else:
            mask = visible[:, t].to(per_image.dtype)
            total = total + (per_image * mask).sum() / mask.sum().clamp(min=1.0)
    return total


def train_trait_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    visible: torch.Tensor | None,
    *,
    sizes: Sequence[int],
    architecture: str = "pool",
    recipe: Recipe | None = None,
    seed: int | None = None,
    model_kwargs: dict[str, Any] | None = None,
    progress: Callable[[int, int, float], None] | None = None,
) -> TraitCNN:
    """Train a :class:`TraitCNN` on uint8 ``(N, C, R, R)`` images, int64 ``(N, T)`` labels and a bool
    ``(N, T)`` visibility mask (None: every trait shown). ``recipe`` and ``seed`` default to the
    architecture's (:data:`RECIPES`, :data:`SEEDS`). Deterministic for a seed, thread count and machine."""
    if images.dim() != 4 or images.dtype != torch.uint8:
        raise GanforgeError(f"images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
    labels = labels.long().reshape(len(labels), -1)
    if len(images) != len(labels) or len(images) < 2 or labels.shape[1] != len(sizes):
        raise GanforgeError(f"need at least 2 images with one label per trait ({len(sizes)}), got "
                            f"{len(images)} images and labels {tuple(labels.shape)}")
    recipe = recipe or RECIPES.get(architecture, RECIPES["pool"])
    seed = SEEDS.get(architecture, 0) if seed is None else seed
    torch.manual_seed(seed)
    model = TraitCNN(sizes=sizes, channels=images.shape[1], resolution=tuple(images.shape[-2:]), architecture=architecture,
                     **(model_kwargs or {}))

    def loss(net: nn.Module, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return masked_trait_loss(net(x), labels[idx], None if visible is None else visible[idx],
                                 label_smoothing=recipe.label_smoothing)

    # The backdrop (white avatars, black turntables) repeats at a shifted edge.
    augment = lambda x, gen: _augment(x, recipe, gen, pad_mode="replicate")  # noqa: E731
    return fit(model, images, loss, recipe=recipe, seed=seed, augment=augment, progress=progress)


def check_images(model: TraitCNN, images: torch.Tensor) -> torch.Tensor:
    """uint8 ``(N, C, H, W)`` at the classifier's channels and size, else a one-line error."""
    c, (h, w) = model.config["channels"], model.config["resolution"]
    if images.dtype != torch.uint8 or images.dim() != 4 or tuple(images.shape[1:]) != (c, h, w):
        raise GanforgeError(f"this trait classifier takes uint8 (N, {c}, {h}, {w}) images, "
                            f"got {images.dtype} {tuple(images.shape)}")
    return images


@torch.inference_mode()
def predict_traits(model: TraitCNN, images: torch.Tensor, *, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """Features float32 ``(N, feature_dim)`` and predicted values int64 ``(N, T)`` of uint8 images, in eval mode.
    Independent of ``batch_size`` (batch norm runs on its running statistics)."""
    check_images(model, images)
    model.eval()
    feats, preds = [], []
    for start in range(0, len(images), batch_size):
        f, logits = model.features_and_logits(FashionCNN.normalize(images[start : start + batch_size]))
        feats.append(f)
        preds.append(torch.stack([lg.argmax(1) for lg in logits], dim=1))
    if not feats:
        return torch.empty(0, model.config["feature_dim"]), torch.empty(0, len(model.heads), dtype=torch.long)
    return torch.cat(feats), torch.cat(preds)


# ------------------------------------------------------------------------------ save / load
def save_trait_classifier(model: TraitCNN, out_dir: str | Path, *, info: dict[str, Any]) -> Path:
    """Write ``config.json`` (the architecture + ``info``) and ``classifier.safetensors``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt.save_weights(model, out / WEIGHTS)
    atomic_write_text(out / CONFIG_JSON, json.dumps({"model": model.config, **info}, indent=2) + "\n")
    return out


def load_trait_classifier(path: str | Path) -> tuple[TraitCNN, dict[str, Any]]:
    """A saved trait classifier folder; nothing is unpickled."""
    path = Path(path)
    if not (path / CONFIG_JSON).is_file() or not (path / WEIGHTS).is_file():
        raise GanforgeError(f"no trait classifier in '{path}' (expected {CONFIG_JSON} and {WEIGHTS})")
    config = json.loads((path / CONFIG_JSON).read_text())
    model = TraitCNN(**config["model"])
    ckpt.load_into(model, path / WEIGHTS)
    return model.eval().requires_grad_(False), config


def data_digest(*tensors: torch.Tensor | None) -> str:
    """A digest of the training tensors' bytes and shapes (a cache entry never outlives its data)."""
    digest = hashlib.sha256()
    for t in tensors:
        if t is None:
            digest.update(b"none")
            continue
        digest.update(f"{t.dtype}{tuple(t.shape)}".encode())
        digest.update(np.ascontiguousarray(t.numpy()).tobytes())
    return digest.hexdigest()[:16]


def cached_trait_classifier(
    name: str, images: torch.Tensor, labels: torch.Tensor, visible: torch.Tensor | None, *, sizes: Sequence[int],
    architecture: str = "pool", info: dict[str, Any] | None = None, use_cache: bool = True,
    progress: Callable[[int, int, float], None] | None = None,
) -> tuple[TraitCNN, dict[str, Any]]:
    """The classifier :func:`train_trait_classifier` makes of these images, from the cache when an
    entry for the same data (``name`` and a digest of the tensors), architecture, recipe, seed and
    torch version exists; else trained and stored. ``info`` is recorded in its config.json."""
    recipe, seed = RECIPES[architecture], SEEDS[architecture]
    key = {"format": CACHE_FORMAT, "data": data_digest(images, labels, visible), "sizes": list(sizes),
           "architecture": architecture, "recipe": asdict(recipe), "seed": seed, "torch": torch.__version__}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    folder = cache_dir() / "trait-classifiers" / f"{name}-{architecture}-{digest}"
    if use_cache and (folder / CONFIG_JSON).is_file():  # written last
        return load_trait_classifier(folder)
    model = train_trait_classifier(images, labels, visible, sizes=sizes, architecture=architecture, progress=progress)
    config = {**key, **(info or {}), "train_images": len(images), "torch_threads": torch.get_num_threads()}
    if use_cache:
        save_trait_classifier(model, folder, info=config)
    return model.requires_grad_(False), {"model": model.config, **config}
