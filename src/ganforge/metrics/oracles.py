"""Class oracles: the class of each generated sample, for the health probe's class entropy.

A data set names its oracle in its spec (``DatasetSpec.oracle``, an ``ORACLES`` name) the way it
names its evaluation features (``DatasetSpec.features``, a ``FEATURES`` name). The oracles live
here, beside the classifier one of them runs, because the data sets sit below the metrics: a data
set module never imports a metric.

An oracle factory takes the data set's spec and the shape of one sample and returns an oracle,
``fn(samples) -> (labels int64 (N,), number of classes)``, or None where it cannot judge samples
of that shape.
"""

from __future__ import annotations

from typing import Callable

import torch

from ..data.base import DatasetSpec
from ..data.fashion import FASHION_CLASSES
from ..data.toy import nearest_mode, toy_mixture
from ..images import to_uint8_tensor
from ..registry import Registry
from .classifier import load_classifier, predict, prepare_images

Oracle = Callable[[torch.Tensor], tuple[torch.Tensor, int]]
OracleFactory = Callable[[DatasetSpec, tuple[int, ...]], "Oracle | None"]

ORACLES: Registry[OracleFactory] = Registry("class oracle")


def register_oracle(name: str) -> Callable[[OracleFactory], OracleFactory]:
    """Decorator: register an oracle factory ``fn(spec, sample_shape) -> Oracle | None`` under ``name``."""

    def deco(fn: OracleFactory) -> OracleFactory:
        ORACLES.register(name, fn)
        return fn

    return deco


@register_oracle("fashion-cnn")
def fashion_cnn_oracle(spec: DatasetSpec, sample_shape: tuple[int, ...]) -> Oracle | None:
    """The bundled fashion-cnn's predicted class of 1-channel images; None for other shapes."""
    if len(sample_shape) != 3 or sample_shape[0] != 1:
        return None
    classifier = load_classifier()[0]

    def oracle(out: torch.Tensor) -> tuple[torch.Tensor, int]:
        return predict(classifier, prepare_images(to_uint8_tensor(out.cpu())))[1].argmax(1), len(FASHION_CLASSES)

    return oracle


@register_oracle("nearest-mode")
def nearest_mode_oracle(spec: DatasetSpec, sample_shape: tuple[int, ...]) -> Oracle:
    """The nearest mode of the data set's 2D mixture (``toy_mixture(spec.name)``) to each point."""
    means = toy_mixture(spec.name)[0]
    return lambda out: (nearest_mode(out.float().cpu(), means), len(means))


def class_oracle(spec: DatasetSpec, sample_shape: tuple[int, ...]) -> Oracle | None:
    """The oracle ``spec`` names for samples of ``sample_shape``; None when it names none."""
    return None if spec.oracle is None else ORACLES.get(spec.oracle)(spec, sample_shape)
