"""Classification Accuracy Score (Ravuri & Vinyals 2019): are generated images useful training data?

Train a classifier only on ``n`` generated, labelled images, then test it on the real
Fashion-MNIST test split. The answer is read beside the *train-on-real* accuracy: the same
recipe (:class:`~ganforge.metrics.classifier.Recipe`), the same budget (epochs over ``n``
images) and seed, trained on ``n`` real training images (the same number per class). A
perfect generator reaches the train-on-real figure; the gap is what the synthetic data lacks.
The train-on-real figure is cached, keyed by ``n``, recipe, width and seed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any, Callable

import torch

from ..data.fashion import load_fashion_mnist
from ..data.transforms import resize_uint8
from ..errors import GanforgeError
from ..fileio import atomic_write_text
from ..images import to_uint8_tensor
from . import classifier as fcnn
from .reference import cache_dir

CAS_WIDTH = 16  # the fashion-cnn architecture


def real_test_set() -> tuple[torch.Tensor, torch.Tensor]:
    """The Fashion-MNIST test split at the classifier's input size."""
    x, y = load_fashion_mnist("test")
    return resize_uint8(x.unsqueeze(1), fcnn.RESOLUTION), y


def balanced_real_subset(n: int, *, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` training images with the class balance of ``sampling.class_labels`` (seeded)."""
    from ..sampling import class_labels

    x, y = load_fashion_mnist("train")
    wanted = class_labels(n, 10)
    gen = torch.Generator().manual_seed(seed)
    picks = []
    for c in range(10):
        k = int((wanted == c).sum())
        pool = (y == c).nonzero().squeeze(1)
        if k > len(pool):
            raise GanforgeError(f"CAS with n={n} needs {k} real images of class {c}; the train split has {len(pool)}")
        picks.append(pool[torch.randperm(len(pool), generator=gen)[:k]])
    idx = torch.cat(picks)
    return resize_uint8(x[idx].unsqueeze(1), fcnn.RESOLUTION), y[idx]


def cas_from_images(
    images: torch.Tensor, labels: torch.Tensor, *, recipe: fcnn.Recipe, seed: int,
    test: tuple[torch.Tensor, torch.Tensor] | None = None,
    progress: Callable[[int, int, float], None] | None = None,
) -> float:
    """Train the recipe on uint8 ``images`` (any size, 1 or 3 channels) and ``labels``; real test accuracy."""
    x = fcnn.prepare_images(images)
    model = fcnn.train_classifier(x, labels, recipe=recipe, seed=seed, model_kwargs={"width": CAS_WIDTH},
                                  progress=progress)
    test_x, test_y = test if test is not None else real_test_set()
    return fcnn.accuracy(model, test_x, test_y)


def train_on_real_accuracy(n: int, *, recipe: fcnn.Recipe, seed: int,
                           progress: Callable[[int, int, float], None] | None = None) -> float:
    """Test accuracy of the recipe trained on ``n`` balanced real training images (cached)."""
    key = hashlib.sha256(json.dumps([n, asdict(recipe), CAS_WIDTH, seed, torch.__version__]).encode()).hexdigest()[:16]
    path = cache_dir() / "cas" / f"train-on-real-n{n}-s{seed}-{key}.json"
    if path.is_file():
        return float(json.loads(path.read_text())["accuracy"])
    x, y = balanced_real_subset(n, seed=seed)
    acc = cas_from_images(x, y, recipe=recipe, seed=seed, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({"n": n, "seed": seed, "recipe": asdict(recipe), "accuracy": acc}) + "\n")
    return acc


def classification_accuracy_score(pipe, *, n: int, seed: int = 0, epochs: int | None = None,
                                  progress: bool = False) -> dict[str, Any]:
    """CAS of a class-conditional Fashion-MNIST generator and the train-on-real accuracy beside it."""
    recipe = fcnn.Recipe(epochs=epochs) if epochs else fcnn.Recipe()
    out, labels = pipe.generate_tensor(n, "all", seed=seed, progress=progress)
    images = to_uint8_tensor(out)
    bar = fcnn.ProgressBars(progress)
    try:
        cas = cas_from_images(images, labels, recipe=recipe, seed=seed, progress=bar("CAS: train on generated"))
        real = train_on_real_accuracy(n, recipe=recipe, seed=seed, progress=bar("CAS: train on real"))
    finally:
        bar.close()
    return {"cas": cas, "cas_train_on_real": real}

