"""What every data set is: :class:`Dataset`, :class:`PairedDataset`, :class:`UnpairedDataset`,
the :class:`DatasetSpec` of each registered one, the ``DATASETS`` registry and
:func:`build_dataset`. The data set modules import this, and ``data/__init__.py`` imports them
(to register them), so no data set module imports its own package."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import torch

from ..conditioning import UNCONDITIONAL, Conditioning
from ..registry import Registry

if TYPE_CHECKING:
    from ..config import DataConfig


@dataclass
class Dataset:
    """A whole data set in memory.

    ``data``: uint8 ``(N, C, H, W)`` for images, float32 ``(N, D)`` for vectors.
    ``labels``: int64 ``(N,)`` (one class per sample), ``(N, T)`` (one column per trait of
    ``traits``), or ``None`` when unlabelled.
    ``class_names``: one name per label value of a one-class data set, or ``None``.
    ``traits``: the named traits of a data set labelled with several (or one not called
    ``class``), as a :class:`~ganforge.conditioning.Conditioning`; its columns are the labels'.
    ``skipped``: ``(path, reason)`` for every file a folder data set could not use.

    :attr:`conditioning` is what a model trained on it is told, whichever form was given.
    ``visible``: bool ``(N, T)``, whether trait t can be seen in image i (a hat hides the hair
    colour; a sprite without team-colour pixels shows no team colour), or ``None`` (all visible);
    measures of trait accuracy count only visible traits.
    ``items``: int64 ``(N,)``, which object each image shows (the views of one turntable item
    share an index into ``item_names``), or ``None``.
    """

    name: str
    data: torch.Tensor
    labels: torch.Tensor | None = None
    class_names: list[str] | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    traits: Conditioning | None = None
    visible: torch.Tensor | None = None
    items: torch.Tensor | None = None
    item_names: list[str] | None = None

    def __post_init__(self) -> None:
        if self.traits is None or not self.traits.conditional:
            return
        if self.labels is None or self.labels.dim() != 2 or self.labels.shape[1] != len(self.traits):
            shape = None if self.labels is None else tuple(self.labels.shape)
            raise ValueError(f"data set '{self.name}' declares {len(self.traits)} traits, so its labels must be "
                             f"(N, {len(self.traits)}), got {shape}")
        if len(self.labels) and (self.labels.min() < 0 or (self.labels.amax(0) >= torch.tensor(self.traits.sizes)).any()):
            raise ValueError(f"data set '{self.name}': a label is outside its trait's values {self.traits.sizes}")

    @property
    def conditioning(self) -> Conditioning:
        """The data's traits: ``traits`` when declared, else one trait ``class`` of ``class_names``
        for labelled data, else :data:`~ganforge.conditioning.UNCONDITIONAL`."""
        if self.traits is not None:
            return self.traits
        if self.labels is None or not self.class_names:
            return UNCONDITIONAL
        return Conditioning.for_classes(self.class_names, len(self.class_names))

    @property
    def kind(self) -> str:
        return "image" if self.data.dim() == 4 else "vector"

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape[1:])

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def fields(self) -> dict[str, torch.Tensor]:
        """The tensors a batch is sliced from: ``{"real": data, "labels": labels}`` (no labels
        key when unlabelled)."""
        return {"real": self.data} if self.labels is None else {"real": self.data, "labels": self.labels}

    def field_groups(self) -> list[tuple[str, ...]] | None:
        """Fields the loader orders independently (see :class:`~.loader.InMemoryLoader`); None: all together."""
        return None

    def truncate(self, limit: int) -> None:
        self.data = self.data[:limit].contiguous()
        self.labels = None if self.labels is None else self.labels[:limit].contiguous()
        self.visible = None if self.visible is None else self.visible[:limit].contiguous()
        self.items = None if self.items is None else self.items[:limit].contiguous()


@dataclass
class PairedDataset:
    """Aligned image pairs in memory, for image-to-image tasks.

    ``source``: uint8 ``(N, C_in, H, W)``, what the model sees; ``target``: uint8 ``(N, C_out, H, W)``,
    what it should produce. ``names``: one name per pair (file stem or generated id).
    """

    name: str
    source: torch.Tensor
    target: torch.Tensor
    names: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    class_names: list[str] | None = None  # pairs carry no classes; here for a uniform interface

    kind = "paired"
    conditioning = UNCONDITIONAL  # no labels

    def __len__(self) -> int:
        return int(self.source.shape[0])

    def fields(self) -> dict[str, torch.Tensor]:
        return {"source": self.source, "target": self.target}

    def field_groups(self) -> list[tuple[str, ...]] | None:
        return None  # a pair is sliced together

    def truncate(self, limit: int) -> None:
        self.source, self.target = self.source[:limit].contiguous(), self.target[:limit].contiguous()
        self.names = self.names[:limit]


@dataclass
class UnpairedDataset:
    """Two unaligned image sets in memory, for unpaired translation (CycleGAN).

    ``a``: uint8 ``(N_A, C_A, H, W)``, domain A (e.g. photos); ``b``: uint8 ``(N_B, C_B, H, W)``,
    domain B (e.g. paintings). Nothing relates ``a[i]`` to ``b[i]``: the loader draws each side
    with its own order (``field_groups``), so the sets may differ in size. ``names_a``,
    ``names_b``: one name per image (file stem or generated id).
    """

    name: str
    a: torch.Tensor
    b: torch.Tensor
    names_a: list[str] = field(default_factory=list)
    names_b: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    class_names: list[str] | None = None  # no classes; here for a uniform interface

    kind = "unpaired"
    conditioning = UNCONDITIONAL  # no labels

    def __len__(self) -> int:
        """The larger side: an epoch of CycleGAN shows every image of the larger set once."""
        return max(int(self.a.shape[0]), int(self.b.shape[0]))

    def fields(self) -> dict[str, torch.Tensor]:
        return {"a": self.a, "b": self.b}

    def field_groups(self) -> list[tuple[str, ...]] | None:
        return [("a",), ("b",)]  # independent orders: no pairs

    def truncate(self, limit: int) -> None:
        """At most ``limit`` images on each side."""
        self.a, self.b = self.a[:limit].contiguous(), self.b[:limit].contiguous()
        self.names_a, self.names_b = self.names_a[:limit], self.names_b[:limit]


@dataclass(frozen=True)
class DatasetSpec:
    """A registered data set and what follows from it.

    ``build(cfg) -> Dataset | PairedDataset | UnpairedDataset``. ``batch``: what the data set yields
    (``"images"``, ``"vectors"``, ``"pairs"`` or ``"unpaired"``: independent ``a`` and ``b`` images), so a task can refuse data it cannot train on. ``splits``: the
    splits it has. ``features``: the default evaluation feature extractor (a ``FEATURES`` name,
    None: chosen from the data's shape). ``oracle``: the class predictor of generated samples (an
    ``ORACLES`` name, see :mod:`ganforge.metrics.oracles`), or None. ``modes``: the mode-counting
    protocol of its evaluation (``"mixture"``, ``"stacked"``) or None. ``perceptual``: it has a
    feature network a projection's perceptual loss may use. ``about``: where the data comes from.
    ``licence``: the licence of the data, as a model card names it ("" for the user's own data).
    """

    name: str
    build: Callable[["DataConfig"], "Dataset | PairedDataset"]
    batch: str = "images"
    splits: tuple[str, ...] = ("train",)
    features: str | None = None
    oracle: str | None = None
    modes: str | None = None
    perceptual: bool = False
    about: str = ""  # where the data comes from, in a few words (``ganforge info`` shows it)
    licence: str = ""  # the data's licence, for model cards


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def register_dataset(name: str, **spec):
    """Decorator: register ``fn(cfg) -> Dataset`` under ``name`` with the :class:`DatasetSpec` fields ``spec``."""

    def deco(fn: Callable[["DataConfig"], "Dataset | PairedDataset"]):
        DATASETS.register(name, DatasetSpec(name=name, build=fn, **spec))
        return fn

    return deco


def build_dataset(cfg: "DataConfig") -> "Dataset | PairedDataset":
    """Load the data set a :class:`~ganforge.config.DataConfig` names, honouring ``limit``."""
    ds = DATASETS.get(cfg.dataset).build(cfg)
    if cfg.limit is not None and cfg.limit < len(ds):
        ds.truncate(cfg.limit)
    return ds
