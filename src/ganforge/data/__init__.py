"""Data sets: Fashion-MNIST (IDX files), Stacked Fashion-MNIST, image folders, 2D toy mixtures.

Every data set is loaded whole into memory as one tensor (:class:`Dataset`) and served by
:class:`~ganforge.data.loader.InMemoryLoader`, which never decodes or copies per step.
``DATASETS`` maps each name to a builder ``fn(cfg: DataConfig) -> Dataset``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import torch

from ..registry import Registry

if TYPE_CHECKING:
    from ..config import DataConfig


@dataclass
class Dataset:
    """A whole data set in memory.

    ``data``: uint8 ``(N, C, H, W)`` for images, float32 ``(N, D)`` for vectors.
    ``labels``: int64 ``(N,)`` or ``None`` when unlabelled.
    ``class_names``: one name per label value, or ``None``.
    ``skipped``: ``(path, reason)`` for every file a folder data set could not use.
    """

    name: str
    data: torch.Tensor
    labels: torch.Tensor | None = None
    class_names: list[str] | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return "image" if self.data.dim() == 4 else "vector"

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape[1:])

    def __len__(self) -> int:
        return int(self.data.shape[0])


DATASETS: Registry[Callable[["DataConfig"], Dataset]] = Registry("dataset")


def register_dataset(name: str):
    def deco(fn: Callable[["DataConfig"], Dataset]):
        DATASETS.register(name, fn)
        return fn

    return deco


def build_dataset(cfg: "DataConfig") -> Dataset:
    """Load the data set a :class:`~ganforge.config.DataConfig` names, honouring ``limit``."""
    ds = DATASETS.get(cfg.dataset)(cfg)
    if cfg.limit is not None and cfg.limit < len(ds):
        ds.data = ds.data[: cfg.limit].contiguous()
        ds.labels = None if ds.labels is None else ds.labels[: cfg.limit].contiguous()
    return ds


from . import fashion, folder, stacked, toy  # noqa: E402,F401  (registers the built-in data sets)
from .fashion import FASHION_CLASSES  # noqa: E402

__all__ = ["DATASETS", "Dataset", "FASHION_CLASSES", "build_dataset", "register_dataset"]
