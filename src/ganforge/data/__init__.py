"""Data sets: Fashion-MNIST (IDX files), Stacked Fashion-MNIST, image folders, 2D toy mixtures.

Every data set is loaded whole into memory as one tensor (:class:`Dataset`) and served by
:class:`~ganforge.data.loader.InMemoryLoader`, which never decodes or copies per step.
``DATASETS`` maps each name to a :class:`DatasetSpec`: its builder ``fn(cfg: DataConfig) ->
Dataset`` plus what other code needs to know about it (splits, the batch it yields, the feature
space and class oracle of its evaluation, its mode protocol). Nobody else branches on data-set
names: they ask the spec.
"""

from .base import DATASETS, Dataset, DatasetSpec, PairedDataset, UnpairedDataset, build_dataset, register_dataset
from . import (avatars, fashion, folder, landscapes, paired, photos, portraits, shapes_traits, stacked,  # noqa: F401
               styles, toy, turntable, unpaired, wesnoth)  # (registers the built-in data sets)
from .fashion import FASHION_CLASSES

__all__ = ["DATASETS", "Dataset", "DatasetSpec", "PairedDataset", "UnpairedDataset", "FASHION_CLASSES", "build_dataset", "register_dataset"]
