"""Feature extractors, registered by name in ``FEATURES``: images -> features (and logits).

Every metric is a chain features -> statistics -> score; this module is the first link.
An extractor takes uint8 images ``(N, C, H, W)`` (or float points ``(N, D)`` for the 2D
mixtures) and returns a :class:`FeatureSet`. Its ``key`` names the network weights and the
preprocessing, so cached reference statistics are never reused across a change of either.

- ``fashion-cnn``: ganforge's own Fashion-MNIST classifier (bundled); penultimate layer, 128-d.
- ``fashion-cnn-channels``: the same network applied to each of the three channels of a
  Stacked Fashion-MNIST image; features concatenated (384-d), logits ``(N, 3, 10)``.
- ``inception-v3-fid``: the standard FID Inception network; needs the user's weights file.
- ``points``: the raw coordinates, for the 2D mixtures.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from ..registry import Registry
from . import classifier as fcnn

# Images pushed through a network at a time: bounds memory, and batch norm runs in eval
# mode so the features do not depend on it.
EXTRACT_BATCH = 500


@dataclass
class FeatureSet:
    """``features`` float32 ``(N, D)``; ``logits`` float32 ``(N, K)`` or ``(N, 3, K)`` or ``None``."""

    features: np.ndarray
    logits: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.features)

    def head(self, n: int) -> "FeatureSet":
        return FeatureSet(self.features[:n], None if self.logits is None else self.logits[:n])


class Extractor(Protocol):
    name: str
    key: str  # weights + preprocessing identity, used in cache keys

    def __call__(self, data: torch.Tensor, *, progress: bool = False) -> FeatureSet: ...


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _batched(fn: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]], data: torch.Tensor,
             desc: str, progress: bool) -> FeatureSet:
    feats, logits = [], []
    with torch.inference_mode():
        for start in tqdm(range(0, len(data), EXTRACT_BATCH), desc=desc, unit="batch", leave=False,
                          disable=not progress):
            f, lg = fn(data[start : start + EXTRACT_BATCH])
            feats.append(f.float().cpu().numpy())
            if lg is not None:
                logits.append(lg.float().cpu().numpy())
    if not feats:
        raise ValueError("no images to extract features from")
    return FeatureSet(np.concatenate(feats), np.concatenate(logits) if logits else None)


class FashionCNNFeatures:
    """The bundled fashion-cnn classifier; colour averaged to grey, resized to 32 px."""

    name = "fashion-cnn"

    def __init__(self, weights: str | Path | None = None) -> None:
        folder = Path(weights) if weights else fcnn.WEIGHTS_DIR
        self.model, self.info = fcnn.load_classifier(folder)
        self.key = f"{self.name}-{_file_digest(folder / fcnn.WEIGHTS)}-grey{fcnn.RESOLUTION}"

    def _run(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.features_and_logits(fcnn.FashionCNN.normalize(fcnn.prepare_images(batch)))

    def __call__(self, data: torch.Tensor, *, progress: bool = False) -> FeatureSet:
        return _batched(self._run, data, self.name, progress)


class FashionCNNChannelFeatures(FashionCNNFeatures):
    """fashion-cnn on each channel of a 3-channel image (Stacked Fashion-MNIST)."""

    name = "fashion-cnn-channels"

    def __init__(self, weights: str | Path | None = None) -> None:
        super().__init__(weights)
        self.key = self.key.replace("fashion-cnn-", f"{self.name}-", 1)

    def _run(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, c = batch.shape[:2]
        if c != 3:
            raise ValueError(f"{self.name} needs 3-channel images, got {c}")
        single = batch.reshape(n * 3, 1, *batch.shape[2:])
        f, lg = super()._run(single)
        return f.reshape(n, -1), lg.reshape(n, 3, -1)


class InceptionFeatures:
    """The FID Inception-v3 pool3 features (2048-d) from the user's weights file."""

    name = "inception-v3-fid"

    def __init__(self, weights: str | Path | None = None) -> None:
        from .inception import load_inception, weights_path

        path = weights_path(weights)
        self.model = load_inception(path)
        self.key = f"{self.name}-{_file_digest(path)}-bilinear299"

    def __call__(self, data: torch.Tensor, *, progress: bool = False) -> FeatureSet:
        return _batched(lambda b: (self.model(b), None), data, self.name, progress)


class PointFeatures:
    """2D points are their own features (FID/KID/PR on coordinates)."""

    name = "points"
    key = "points"

    def __init__(self, weights: str | Path | None = None) -> None:
        del weights

    def __call__(self, data: torch.Tensor, *, progress: bool = False) -> FeatureSet:
        return FeatureSet(data.float().cpu().numpy())


FEATURES: Registry[Callable[..., Extractor]] = Registry("feature extractor")
for _cls in (FashionCNNFeatures, FashionCNNChannelFeatures, InceptionFeatures, PointFeatures):
    FEATURES.register(_cls.name, _cls)


def build_extractor(name: str, weights: str | Path | None = None) -> Extractor:
    """The extractor ``name`` (see ``FEATURES``); ``weights`` overrides its weights file or folder."""
    return FEATURES.get(name)(weights)
