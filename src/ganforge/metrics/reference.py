"""Real data for evaluation ("reference sets") and its cached features.

A reference is written ``DATASET:SPLIT`` (``fashion-mnist:test``, ``stacked-fashion-mnist:test``,
``grid25:test``) or ``folder:PATH``. It is loaded at the generator's resolution and channel
count through the very data pipeline training used, so real and generated images differ
only in where they came from.

Features of a reference are cached on disk (``$GANFORGE_CACHE_DIR``, default
``~/.cache/ganforge``) as ``.npz`` files keyed by data set, split, resolution, channels,
sample count and extractor key (weights + preprocessing), written atomically; a change of
any of these makes a new entry instead of reusing a stale one.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..config import DataConfig
from ..data import DATASETS, Dataset, build_dataset
from ..errors import GanforgeError
from ..fileio import atomic_write_bytes, cache_dir
from .features import Extractor, FeatureSet


@dataclass(frozen=True)
class Reference:
    """A parsed reference spec."""

    dataset: str
    split: str  # "train" | "test" ("train" for folders)
    path: str | None = None

    @classmethod
    def parse(cls, spec: str) -> "Reference":
        name, _, rest = spec.partition(":")
        if name == "folder":
            if not rest:
                raise GanforgeError("reference 'folder:' needs a path, e.g. folder:/data/shoes")
            return cls("folder", "train", rest)
        if name not in DATASETS:
            raise GanforgeError(
                f"unknown reference '{spec}'; give DATASET:SPLIT with DATASET one of "
                f"{', '.join(n for n in DATASETS.names() if n != 'folder')} and SPLIT train|test, or folder:PATH"
            )
        split = rest or "test"
        if split not in ("train", "test"):
            raise GanforgeError(f"unknown split '{split}' in reference '{spec}'; accepted: train, test")
        return cls(name, split)

    def __str__(self) -> str:
        return f"folder:{self.path}" if self.dataset == "folder" else f"{self.dataset}:{self.split}"

    def load(self, *, resolution: int, channels: int, limit: int | None = None) -> Dataset:
        cfg = DataConfig(dataset=self.dataset, split=self.split, path=self.path, resolution=resolution,
                         channels=channels, limit=limit)  # type: ignore[arg-type]
        return build_dataset(cfg)

    def other_split(self) -> "Reference":
        """The other split of the same data (for real-versus-real floors)."""
        if "test" not in DATASETS.get(self.dataset).splits:
            return self  # one split only (a folder): the caller draws a second sample
        return Reference(self.dataset, "train" if self.split == "test" else "test", self.path)


def sample_real(data: Dataset, n: int, *, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``n`` examples of ``data`` drawn without replacement (all when it has fewer), seeded."""
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[: min(n, len(data))]
    idx = idx.sort().values
    return data.data[idx], None if data.labels is None else data.labels[idx]


def _cache_file(ref: Reference, *, resolution: int, channels: int, n: int, seed: int, extractor: Extractor) -> Path:
    where = ref.dataset if ref.path is None else f"folder-{hashlib.sha256(str(Path(ref.path).resolve()).encode()).hexdigest()[:10]}"
    name = f"{where}-{ref.split}-{resolution}px-{channels}c-n{n}-s{seed}-{extractor.key}.npz"
    return cache_dir() / "reference" / name


def reference_features(
    ref: Reference, extractor: Extractor, *, resolution: int, channels: int, n: int, seed: int = 0,
    progress: bool = False, use_cache: bool = True, limit: int | None = None,
) -> tuple[FeatureSet, np.ndarray | None]:
    """Features (and labels) of ``n`` real examples of ``ref``, from the cache when possible.

    ``limit`` builds only that many examples (Stacked Fashion-MNIST composes as many as asked).
    Folders are never cached by content (a folder can change between runs), only by path
    when ``use_cache``; pass ``use_cache=False`` after changing one.
    """
    path = _cache_file(ref, resolution=resolution, channels=channels, n=n, seed=seed, extractor=extractor)
    if use_cache and path.is_file():
        with np.load(path, allow_pickle=False) as z:
            logits = z["logits"] if "logits" in z.files else None
            labels = z["labels"] if "labels" in z.files else None
            return FeatureSet(z["features"], logits), labels
    data = ref.load(resolution=resolution, channels=channels, limit=limit)
    images, labels = sample_real(data, n, seed=seed)
    feats = extractor(images, progress=progress)
    labels_np = None if labels is None else labels.numpy()
    if use_cache:
        buf = io.BytesIO()
        arrays = {"features": feats.features}
        if feats.logits is not None:
            arrays["logits"] = feats.logits
        if labels_np is not None:
            arrays["labels"] = labels_np
        np.savez(buf, **arrays)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buf.getvalue())
    return feats, labels_np
