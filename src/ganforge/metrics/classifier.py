"""The Fashion-MNIST classifier behind ganforge's offline metrics (``fashion-cnn``).

The usual Inception weights cannot be downloaded on an offline machine, so ganforge trains
its own small CNN on the Fashion-MNIST train split and ships the weights. It serves three
purposes: its penultimate layer is the feature space of FID, KID, precision/recall and
density/coverage; its logits give the Inception-Score-style score, label agreement and mode
counts; and its training recipe is the one the Classification Accuracy Score (CAS, Ravuri &
Vinyals 2019) retrains on generated images.

Inputs are uint8 ``(N, 1, 32, 32)``: the resolution of ganforge's Fashion-MNIST models,
made from the 28 px originals by :func:`ganforge.data.transforms.resize_uint8`, the very
resize the GAN's training data went through. :func:`prepare_images` brings other sizes and
channel counts there.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.transforms import resize_uint8
from ..errors import GanforgeError
from ..models.layers import MaxPool2x2
from ..fileio import atomic_write_text, publish_mode
from .. import checkpoint as ckpt

RESOLUTION = 32
NUM_CLASSES = 10
WEIGHTS_DIR = Path(__file__).parent / "weights" / "fashion-cnn"
CONFIG_JSON, WEIGHTS = "config.json", "classifier.safetensors"


def _conv(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class FashionCNN(nn.Module):
    """Three conv blocks (each conv-BN-ReLU, then 2x2 max-pool), a ``feature_dim`` layer, a linear head.

    32 -> 16 -> 8 -> 4 px; about 10 M multiply-adds per image at width 32, so features for
    20,000 images take seconds on two CPU cores.
    """

    def __init__(
        self,
        *,
        width: int = 32,  # channels of the first block; doubled per block
        feature_dim: int = 128,  # size of the penultimate layer (the metric feature space)
        num_classes: int = NUM_CLASSES,  # logits
        dropout: float = 0.3,  # before the head, during training only
    ) -> None:
        super().__init__()
        self.config = {"width": width, "feature_dim": feature_dim, "num_classes": num_classes, "dropout": dropout}
        w = width
        self.body = nn.Sequential(
            *_conv(1, w), MaxPool2x2(),
            *_conv(w, 2 * w), MaxPool2x2(),
            *_conv(2 * w, 4 * w), MaxPool2x2(),
            nn.Flatten(),
            nn.Linear(4 * w * (RESOLUTION // 8) ** 2, feature_dim, bias=False),
            nn.BatchNorm1d(feature_dim),
            nn.ReLU(inplace=True),
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(feature_dim, num_classes)

    @staticmethod
    def normalize(images: torch.Tensor) -> torch.Tensor:
        """uint8 0..255 -> float -1..1 (the GANs' own pixel scale)."""
        return images.float() / 127.5 - 1.0

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x``: float ``(N, 1, 32, 32)`` in -1..1 -> features ``(N, feature_dim)``, logits ``(N, classes)``."""
        feats = self.body(x)
        return feats, self.head(self.dropout(feats))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_and_logits(x)[1]


def prepare_images(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Bring generated or real images to the classifier's input: uint8 ``(N, 1, 32, 32)``.

    Accepts uint8 ``(N, C, H, W)`` tensors or ``(N, H, W, C)`` arrays (what ``generate``
    returns), C in {1, 3}. Colour is averaged to grey (Fashion-MNIST is grey; a 3-channel
    copy of a grey image maps back exactly); other sizes use the training data's resize.
    """
    if isinstance(images, np.ndarray):
        if images.ndim != 4:
            raise GanforgeError(f"images must be (N, H, W, C) uint8, got shape {images.shape}")
        images = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] not in (1, 3):
        raise GanforgeError(
            f"images must be uint8 (N, C, H, W) with C = 1 or 3, got {images.dtype} {tuple(images.shape)}"
        )
    if images.shape[1] == 3:
        images = images.float().mean(1, keepdim=True).round_().to(torch.uint8)
    return resize_uint8(images.contiguous(), RESOLUTION)


@dataclass(frozen=True)
class Recipe:
    """How a classifier is trained: the shipped ``fashion-cnn`` and every CAS run use it.

    The budget is ``epochs`` passes over the training images, so two runs with the same
    number of images get the same number of optimizer steps.
    """

    epochs: int = 15
    batch_size: int = 128
    lr: float = 3e-3  # peak of a one-cycle schedule (linear warm-up, cosine decay)
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    shift: int = 2  # random translation by up to this many pixels (zero padding)
    flip: bool = True  # random horizontal flips

    def steps(self, n: int) -> int:
        return self.epochs * math.ceil(n / self.batch_size)


def _augment(x: torch.Tensor, recipe: Recipe, gen: torch.Generator, *, pad_mode: str = "constant") -> torch.Tensor:
    """Random flips and translations of a float batch ``(N, C, H, W)``, drawn from ``gen``.

    ``pad_mode``: what the shift brings in at the edge: ``"constant"`` is black (-1, Fashion-MNIST's
    background), ``"replicate"`` repeats the border (a white or black backdrop of any colour).
    """
    if recipe.flip:
        flip = torch.rand(len(x), generator=gen) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    s = recipe.shift
    if s:
        height, width = x.shape[-2:]
        padded = F.pad(x, (s, s, s, s), value=-1.0) if pad_mode == "constant" else F.pad(x, (s, s, s, s), mode=pad_mode)
        dx, dy = torch.randint(0, 2 * s + 1, (2,), generator=gen).tolist()
        # One shift per batch keeps this a single slice; over thousands of batches every
        # image still sees every offset.
        x = padded[..., dy : dy + height, dx : dx + width]
    return x


def train_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    recipe: Recipe = Recipe(),
    seed: int = 0,
    model_kwargs: dict[str, Any] | None = None,
    progress: Callable[[int, int, float], None] | None = None,
) -> FashionCNN:
    """Train a :class:`FashionCNN` on uint8 ``(N, 1, 32, 32)`` images with int64 labels.

    Deterministic for a given seed, thread count and machine. ``progress(step, total, loss)``
    is called every 50 steps and at the end.
    """
    if len(images) != len(labels) or len(images) < 2:
        raise GanforgeError(f"need at least 2 labelled images, got {len(images)} images and {len(labels)} labels")
    torch.manual_seed(seed)
    model = FashionCNN(**(model_kwargs or {}))
    labels = labels.long()

    def loss(net: nn.Module, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(net(x), labels[idx], label_smoothing=recipe.label_smoothing)

    return fit(model, images, loss, recipe=recipe, seed=seed, progress=progress)


def fit(
    model: nn.Module,
    images: torch.Tensor,
    loss: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    recipe: Recipe,
    seed: int,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    progress: Callable[[int, int, float], None] | None = None,
) -> nn.Module:
    """The recipe's training loop, for any classifier: ``recipe.epochs`` shuffled passes over uint8
    ``images`` (N, C, H, W), AdamW (no weight decay on biases and norms) on a one-cycle schedule.

    ``loss(model, x, idx)``: the loss of the float batch ``x`` (normalised to -1..1, augmented),
    ``idx`` its rows of ``images`` (to look up labels). ``augment(x, gen)``: default the recipe's
    flips and shifts. The shuffles and augmentations come from a generator seeded with ``seed``;
    the caller seeds the weights. Returns the model in eval mode.
    """
    if augment is None:
        augment = lambda x, gen: _augment(x, recipe, gen)  # noqa: E731
    gen = torch.Generator().manual_seed(seed)
    total = recipe.steps(len(images))
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.dim() == 1 else decay).append(p)
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=recipe.lr,
    )
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=total, pct_start=0.15)
    model.train()
    step, per_epoch = 0, math.ceil(len(images) / recipe.batch_size)
    for _ in range(recipe.epochs):
        order = torch.randperm(len(images), generator=gen)
        for b in range(per_epoch):
            idx = order[b * recipe.batch_size : (b + 1) * recipe.batch_size]
            if len(idx) < 2:  # batch norm needs two samples
                continue
            x = augment(FashionCNN.normalize(images[idx]), gen)
            value = loss(model, x, idx)
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
            sched.step()
            step += 1
            if progress is not None and (step % 50 == 0 or step == total):
                progress(step, total, value.item())
    return model.eval()


@torch.inference_mode()
def predict(model: FashionCNN, images: torch.Tensor, *, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """Features and logits (float32) of uint8 ``(N, 1, 32, 32)`` images, in eval mode."""
    model.eval()
    feats, logits = [], []
    for start in range(0, len(images), batch_size):
        f, lg = model.features_and_logits(FashionCNN.normalize(images[start : start + batch_size]))
        feats.append(f)
        logits.append(lg)
    if not feats:
        return torch.empty(0, model.config["feature_dim"]), torch.empty(0, model.config["num_classes"])
    return torch.cat(feats), torch.cat(logits)


def accuracy(model: FashionCNN, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``images`` whose arg-max class equals ``labels``."""
    _, logits = predict(model, images)
    return float((logits.argmax(1) == labels.long()).float().mean())


class ProgressBars:
    """``progress(step, total, loss)`` callbacks for :func:`train_classifier`, one tqdm bar per ``desc``."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled, self.current = enabled, None

    def __call__(self, desc: str) -> Callable[[int, int, float], None] | None:
        if not self.enabled:
            return None
        from tqdm.auto import tqdm

        def update(step: int, total: int, loss: float) -> None:
            if self.current is None or self.current.desc != desc:
                self.close()
                self.current = tqdm(total=total, desc=desc, unit="step", leave=False)
            self.current.update(step - self.current.n)
            self.current.set_postfix(loss=f"{loss:.3f}")

        return update

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None


# ------------------------------------------------------------------------------ save / load
def save_classifier(model: FashionCNN, out_dir: str | Path, *, info: dict[str, Any]) -> Path:
    """Write ``config.json`` (architecture + ``info``), ``classifier.safetensors`` and a model card."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    publish_mode(out, directory=True)
    ckpt.save_weights(model, out / WEIGHTS)
    config = {"architecture": "fashion-cnn", "model": model.config, **info}
    atomic_write_text(out / CONFIG_JSON, json.dumps(config, indent=2) + "\n")
    atomic_write_text(out / "README.md", _model_card(config))
    return out


def _model_card(config: dict[str, Any]) -> str:
    recipe = config.get("recipe", {})
    lines = [
        "# fashion-cnn",
        "",
        "The Fashion-MNIST classifier ganforge's metrics use (features: the penultimate layer; logits for",
        "scores, label agreement, mode counts and CAS). Not an Inception network: FIDs computed with its",
        "features are comparable only with other fashion-cnn FIDs.",
        "",
        "| | |",
        "|---|---|",
        f"| input | uint8 1 x {RESOLUTION} x {RESOLUTION} (Fashion-MNIST resized from 28 px) |",
        f"| architecture | {json.dumps(config['model'])} |",
        f"| training data | {config.get('train_images', '?')} images, Fashion-MNIST train split |",
        f"| recipe | {json.dumps(recipe)} |",
        f"| seed | {config.get('seed', '?')} |",
        f"| test accuracy | {config.get('test_accuracy', '?')} (10,000 images, Fashion-MNIST test split) |",
        "",
        "## How it was made",
        "",
        "```",
        str(config.get("command", "?")),
        "```",
        "",
    ]
    return "\n".join(lines)


def load_classifier(path: str | Path = WEIGHTS_DIR) -> tuple[FashionCNN, dict[str, Any]]:
    """Load a saved classifier folder (default: the bundled ``fashion-cnn``). Nothing is unpickled."""
    path = Path(path)
    if not (path / CONFIG_JSON).is_file() or not (path / WEIGHTS).is_file():
        raise GanforgeError(
            f"no classifier in '{path}' (expected {CONFIG_JSON} and {WEIGHTS}); "
            "make one with: ganforge train-classifier --out DIR"
        )
    config = json.loads((path / CONFIG_JSON).read_text())
    model = FashionCNN(**config["model"])
    ckpt.load_into(model, path / WEIGHTS)
    return model.eval().requires_grad_(False), config


def fit_fashion_cnn(
    out_dir: str | Path, *, recipe: Recipe = Recipe(), seed: int = 0, width: int = 16, limit: int | None = None,
    command: str = "", progress: Callable[[int, int, float], None] | None = None,
) -> tuple[FashionCNN, dict[str, Any]]:
    """Train fashion-cnn on the Fashion-MNIST train split (first ``limit``), test it, save it."""
    from ..data.fashion import load_fashion_mnist

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise GanforgeError(f"output folder '{out}' exists and is not empty; choose a new folder")
    train_x, train_y = load_fashion_mnist("train")
    test_x, test_y = load_fashion_mnist("test")
    if limit is not None:
        train_x, train_y = train_x[:limit], train_y[:limit]
    train_x = resize_uint8(train_x.unsqueeze(1), RESOLUTION)
    test_x = resize_uint8(test_x.unsqueeze(1), RESOLUTION)
    model = train_classifier(train_x, train_y, recipe=recipe, seed=seed, model_kwargs={"width": width},
                             progress=progress)
    info = {
        "recipe": asdict(recipe), "seed": seed, "train_images": len(train_x),
        "test_accuracy": round(accuracy(model, test_x, test_y), 4), "command": command,
        "torch_threads": torch.get_num_threads(),
    }
    save_classifier(model, out, info=info)
    return model, info
