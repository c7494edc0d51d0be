"""A perceptual distance for projections: LPIPS-like, on the bundled fashion-cnn's conv features."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..data import DATASETS
from ..errors import GanforgeError
from ..pipelines.generation import GeneratorPipeline

PERCEPTUAL_WEIGHT = 1.0  # weight of the fashion-cnn feature distance next to the pixel MSE


def perceptual_distance(pipe: GeneratorPipeline, target: torch.Tensor,
                         wanted: bool | None) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """An LPIPS-like distance to ``target`` on fashion-cnn's conv features, or None.

    Features are the ReLU outputs of the three conv blocks (32, 16 and 8 px), unit-normalised
    over channels; the distance is the squared difference averaged over positions, summed
    over blocks (Zhang et al. 2018, the untrained "baseline" variant of LPIPS).
    """
    c, h, _ = pipe.config.model.output_shape
    fits = c == 1 and h in (28, 32) and DATASETS.get(pipe.config.data.dataset).perceptual
    if wanted is False or (wanted is None and not fits):
        return None
    if not fits:
        raise GanforgeError("the perceptual term needs a 1-channel 28 or 32 px Fashion-MNIST model; "
                            "project this one with pixel MSE alone (--no-perceptual)")
    from ..metrics.classifier import RESOLUTION, load_classifier

    with torch.random.fork_rng(devices=[]):  # building the network draws initial weights from torch's RNG
        net, _ = load_classifier()
    net = net.to(target.device)

    def features(x: torch.Tensor) -> list[torch.Tensor]:
        if x.shape[-1] != RESOLUTION:  # the classifier's input size, by the training data's resize
            x = F.interpolate(x, size=(RESOLUTION, RESOLUTION), mode="bilinear", antialias=True, align_corners=False)
        out = []
        for layer in net.body:
            if isinstance(layer, torch.nn.MaxPool2d):
                out.append(F.normalize(x, dim=1, eps=1e-8))
            if isinstance(layer, torch.nn.Flatten):
                break
            x = layer(x)
        return out

    with torch.no_grad():
        reference = features(target)

    def distance(image: torch.Tensor) -> torch.Tensor:
        return sum(((f - r) ** 2).sum(1).mean() for f, r in zip(features(image), reference))

    return distance
