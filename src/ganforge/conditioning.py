"""What a generator's labels mean, and the one way people name them.

A conditional generator is told what to draw by one integer per *trait* (``class``; later
also ``colour``, ``pose``, ...). A :class:`Trait` names the trait and its values; a
:class:`Conditioning` is the model's tuple of traits. A one-class model is T = 1 with the
trait named ``class``; an unconditional model is T = 0 (:data:`UNCONDITIONAL`).

One parsing rule, used by the CLI, the service, the studio's tools and the latent tools
(:meth:`Conditioning.parse`):

- ``None`` or ``"all"``: spread the images evenly over every value (combination), in blocks;
- a value: a name (case-insensitive) or an integer index (``"7"`` is index 7 unless a value is
  literally called ``"7"``);
- ``"a,b,c"`` or a list: one value per image;
- ``"name=value"``, joined by ``+`` for several traits (``"colour=red+shape=circle"``, or a
  mapping ``{"colour": "red", "shape": "circle"}``): one image's value of each trait.

A *partial* choice (:meth:`Conditioning.choose`: ``--trait name=value``, repeatable, or a mapping)
names some traits and leaves the others to be drawn at random per image (the pipeline draws them
from the seed, ``sampling.random_traits``, and :meth:`Conditioning.fill` puts the choice in).

Encoded, a choice is a ``(N, T)`` int64 index tensor (:meth:`Conditioning.encode`); networks
take it through ``models.layers.TraitEmbedding``, which also takes ``(N,)`` as T = 1.
Mistakes are one-line :class:`~ganforge.errors.GanforgeError` messages listing what is accepted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence, Union

import numpy as np
import torch

from .errors import GanforgeError, did_you_mean

ALL = "all"  # spread the images evenly over every value
LIST_SEP = ","  # "a,b,c": one value per image
TRAIT_SEP = "+"  # "colour=red+shape=circle": one image's value of each trait
CLASS = "class"  # the trait of a one-class model

# What people (and the front ends) may pass as a choice.
Spec = Union[None, str, int, np.integer, Mapping[str, Any], Sequence[Any], torch.Tensor]


@dataclass(frozen=True)
class Trait:
    """One thing a generator is conditioned on: its ``name`` and its ``values`` (index i = values[i])."""

    name: str
    values: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(str(v) for v in self.values))
        if not self.name or not self.values:
            raise ValueError(f"a trait needs a name and at least one value, got {self.name!r}: {self.values!r}")

    @property
    def size(self) -> int:
        return len(self.values)

    @property
    def plural(self) -> str:
        """How an error lists the values: ``classes: ...`` or ``colour values: ...``."""
        return "classes" if self.name == CLASS else f"{self.name} values"

    def index(self, value: str | int | np.integer, *, all_ok: bool = True) -> int:
        """A value's name (any case) or index -> its index; anything else is a one-line error
        (listing the values, and ``all`` where ``all_ok``: where the caller takes it)."""
        if isinstance(value, bool) or not isinstance(value, (str, int, np.integer)):
            raise GanforgeError(f"a {self.name} is a name or an index, not {type(value).__name__}; "
                                f"{self.plural}: {', '.join(self.values)}")
        lowered = [v.lower() for v in self.values]
        if isinstance(value, str):
            text = value.strip()
            if text.lower() in lowered:
                return lowered.index(text.lower())
            if text.isdigit():  # "7" means index 7 unless a value is literally called "7" (above)
                value = int(text)
        if isinstance(value, (int, np.integer)) and 0 <= int(value) < self.size:
            return int(value)
        text = str(value).strip()
        raise GanforgeError(f"unknown {self.name} '{text}'{did_you_mean(text, self.values)}; "
                            f"{self.plural}: {', '.join(self.values)}{', or ' + ALL if all_ok else ''}")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "values": list(self.values)}


@dataclass(frozen=True)
class Conditioning:
    """A model's traits, in the order of the columns of its ``(N, T)`` labels."""

    traits: tuple[Trait, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "traits", tuple(self.traits))
        names = [t.name.lower() for t in self.traits]
        if len(set(names)) != len(names):
            raise ValueError(f"trait names must differ (case-insensitively), got {names}")

    # ------------------------------------------------------------------------- building
    @classmethod
    def for_classes(cls, class_names: Sequence[str] | None, num_classes: int) -> "Conditioning":
        """A one-class model (T = 1, trait ``class``); classes without names are called "0".."K-1"."""
        if num_classes <= 0:
            return UNCONDITIONAL
        names = list(class_names) if class_names else [str(i) for i in range(num_classes)]
        if len(names) != num_classes:
            raise ValueError(f"{len(names)} class names for {num_classes} classes")
        return cls((Trait(CLASS, tuple(names)),))

    @property
    def conditional(self) -> bool:
        return bool(self.traits)

    @property
    def sizes(self) -> tuple[int, ...]:
        """Values per trait: the ``sizes`` of ``models.layers.TraitEmbedding``."""
        return tuple(t.size for t in self.traits)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.traits)

    def __len__(self) -> int:
        return len(self.traits)

    def trait(self, name: str) -> Trait:
        for t in self.traits:
            if t.name.lower() == name.strip().lower():
                return t
        known = list(self.names)
        raise GanforgeError(f"unknown trait '{name.strip()}'{did_you_mean(name.strip(), known)}; "
                            f"this model's traits: {', '.join(known)}")

    # -------------------------------------------------------------------------- parsing
    def parse(self, spec: Spec = None) -> str | list[tuple[int, ...]]:
        """The one parsing rule (see the module docstring): :data:`ALL`, or one index tuple
        (length T) per image; a single tuple applies to every image."""
        if not self.conditional:
            if spec is None or _is_all(spec):
                return ALL
            raise GanforgeError("this model is unconditional; leave out --class")
        if spec is None or _is_all(spec):
            return ALL
        if isinstance(spec, torch.Tensor):
            return self._parse_tensor(spec)
        if isinstance(spec, np.ndarray):
            spec = spec.tolist()
        if isinstance(spec, str) and LIST_SEP in spec:
            spec = [part for part in spec.split(LIST_SEP)]
        if isinstance(spec, (str, int, np.integer, Mapping)):
            return [self._one(spec)]
        if isinstance(spec, Sequence):
            return [self._one(item) for item in spec]
        raise GanforgeError(f"a class choice is a name, an index, a list or {ALL}, not {type(spec).__name__}")

    def _one(self, item: Any) -> tuple[int, ...]:
        """One image's choice -> (T,) indices."""
        if isinstance(item, str) and _is_all(item):
            raise GanforgeError(f"'{ALL}' stands alone; a list names one {self._what} per image")
        if isinstance(item, str) and "=" in item:
            pairs = {}
            for part in item.split(TRAIT_SEP):
                name, sep, value = part.partition("=")
                if not sep:
                    raise GanforgeError(f"'{part.strip()}' in '{item.strip()}': give every trait as name=value, "
                                        f"joined by {TRAIT_SEP}")
                pairs[name] = value
            item = pairs
        if isinstance(item, Mapping):
            chosen = {self.trait(str(name)).name: value for name, value in item.items()}
            missing = [t.name for t in self.traits if t.name not in chosen]
            if missing:
                raise GanforgeError(f"no value for {', '.join(missing)}: give every trait as name=value "
                                    f"({TRAIT_SEP.join(f'{t.name}={t.values[0]}' for t in self.traits)})")
            return tuple(t.index(chosen[t.name]) for t in self.traits)
        if len(self.traits) > 1:
            raise GanforgeError(f"'{item}': this model has {len(self.traits)} traits; give each as name=value, "
                                f"for example {TRAIT_SEP.join(f'{t.name}={t.values[0]}' for t in self.traits)}")
        return (self.traits[0].index(item),)

    def _parse_tensor(self, labels: torch.Tensor) -> list[tuple[int, ...]]:
        if labels.dtype.is_floating_point or labels.dtype == torch.bool:
            raise GanforgeError(f"labels must be integers, got {labels.dtype}")
        rows = labels.reshape(-1, 1) if labels.dim() <= 1 else labels
        if rows.dim() != 2 or rows.shape[1] != len(self.traits):
            raise GanforgeError(f"labels must be (N,) or (N, {len(self.traits)}), got {tuple(labels.shape)}")
        return [tuple(t.index(int(v)) for t, v in zip(self.traits, row)) for row in rows.tolist()]

    # ------------------------------------------------------------------- partial choices
    def choose(self, traits: Mapping[str, Any] | Sequence[str] | str | None) -> dict[int, int]:
        """Some traits, each given one value: ``{"hair_color": "red"}``, ``["hair_color=red",
        "skin_color=light"]`` (the CLI's repeated ``--trait``) or ``"hair_color=red+skin_color=light"``
        -> ``{trait column: value index}``. Traits left out are not in the result (the caller
        draws them). An unknown trait or value, a trait given twice or a pair without ``=`` is a
        one-line error listing what is accepted."""
        if traits is None:
            return {}
        if not self.conditional:
            raise GanforgeError("this model is unconditional; it takes no traits")
        if isinstance(traits, str):
            traits = [part for part in traits.split(TRAIT_SEP) if part.strip()]
        if isinstance(traits, Mapping):
            pairs = [(str(name), value) for name, value in traits.items()]
        else:
            pairs = []
            for item in traits:
                name, sep, value = str(item).partition("=")
                if not sep or not name.strip():
                    raise GanforgeError(f"'{str(item).strip()}': give a trait as name=value, for example "
                                        f"{self.traits[0].name}={self.traits[0].values[0]}; this model's traits: "
                                        f"{', '.join(self.names)}")
                pairs.append((name, value))
        chosen: dict[int, int] = {}
        for name, value in pairs:
            trait = self.trait(name)
            column = self.traits.index(trait)
            if column in chosen:
                raise GanforgeError(f"trait {trait.name} is given twice; give each trait once")
            chosen[column] = trait.index(value.strip() if isinstance(value, str) else value, all_ok=False)
        return chosen

    def fill(self, drawn: torch.Tensor, chosen: Mapping[int, int]) -> torch.Tensor:
        """``drawn`` (N, T) trait values with the columns of ``chosen`` (from :meth:`choose`) set
        to their value in every row; a copy, int64."""
        out = drawn.long().clone()
        for column, value in chosen.items():
            out[:, column] = value
        return out

    def json_schema(self) -> dict[str, Any]:
        """The JSON schema of a partial choice as a mapping: an object with one optional string
        property per trait, its values as the enum (what a form shows as one select per trait)."""
        return {"type": "object", "additionalProperties": False,
                "description": "one value per trait; the traits left out are drawn at random per image",
                "properties": {t.name: {"type": "string", "title": t.name, "enum": list(t.values)}
                               for t in self.traits}}

    def listing(self) -> list[str]:
        """One line per trait: ``name: value, value, ...`` (``--list-traits``)."""
        return [f"{t.name}: {', '.join(t.values)}" for t in self.traits]

    @property
    def _what(self) -> str:
        return CLASS if self.names == (CLASS,) else "choice"

    # ------------------------------------------------------------------------- encoding
    def encode(self, n: int, spec: Spec = None) -> torch.Tensor | None:
        """int64 ``(n, T)`` indices for ``spec``, or None for an unconditional model.

        ``"all"`` spreads the images in blocks over every combination of values (the first
        trait varies slowest): for one trait ``0,0,..,1,1,..``, the order of
        ``sampling.class_labels``. One choice is repeated n times; a list must have n entries.
        """
        return self._index(n, self.parse(spec))

    def labels(self, n: int, spec: Spec = None) -> torch.Tensor | None:
        """What generators and files take: ``(n,)`` for one trait, ``(n, T)`` for several, None for none."""
        return self._squeeze(self.encode(n, spec))

    def one(self, spec: Spec, *, model: str = "this model") -> torch.Tensor | None:
        """Exactly one choice (a walk, a mixing figure, a projection): ``(1,)`` or ``(1, T)`` labels
        as :meth:`labels` gives them, or None for an unconditional model (which takes no choice)."""
        if not self.conditional:
            if spec is not None:  # not even "all": there is nothing to choose
                raise GanforgeError("this model is unconditional; leave out --class")
            return None
        parsed = self.parse(spec)
        if parsed == ALL or len(parsed) != 1:
            listing = "; ".join(f"{t.plural}: {', '.join(t.values)}" for t in self.traits)
            raise GanforgeError(f"{model} is class-conditional: give one {self._what} with --class NAME; {listing}")
        return self._squeeze(self._index(1, parsed))

    def _index(self, n: int, parsed: str | list[tuple[int, ...]]) -> torch.Tensor | None:
        if not self.conditional:
            return None
        if parsed == ALL:
            combos = math.prod(self.sizes)
            flat = (torch.arange(n) * combos // n).long() if n else torch.zeros(0, dtype=torch.long)
            cols = []
            for size in reversed(self.sizes):  # mixed radix: the last trait varies fastest
                cols.append(flat % size)
                flat = flat // size
            return torch.stack(cols[::-1], dim=1)
        if len(parsed) == 1:
            return torch.tensor(parsed, dtype=torch.long).expand(n, -1).clone()
        if len(parsed) != n:
            kinds = "classes" if self._what == CLASS else "choices"
            raise GanforgeError(f"got {len(parsed)} {kinds} for {n} images; give one {self._what} or one per image")
        return torch.tensor(parsed, dtype=torch.long).reshape(n, len(self.traits))

    def _squeeze(self, index: torch.Tensor | None) -> torch.Tensor | None:
        return index[:, 0].contiguous() if index is not None and len(self.traits) == 1 else index

    def decode(self, index: torch.Tensor | Sequence[int]) -> list[str]:
        """A ``(N,)`` or ``(N, T)`` index tensor -> one readable choice per image (``bag``, ``colour=red+shape=circle``)."""
        rows = torch.as_tensor(index).reshape(-1, max(1, len(self.traits))).tolist()
        if len(self.traits) == 1:
            return [self.traits[0].values[r[0]] for r in rows]
        return [TRAIT_SEP.join(f"{t.name}={t.values[v]}" for t, v in zip(self.traits, r)) for r in rows]

    # ----------------------------------------------------------------------------- JSON
    def to_json(self) -> dict[str, Any]:
        """``{"traits": [{"name": ..., "values": [...]}, ...]}`` (model cards, config.json, the API)."""
        return {"traits": [t.to_json() for t in self.traits]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> "Conditioning":
        if not data:
            return UNCONDITIONAL
        try:
            return cls(tuple(Trait(str(t["name"]), tuple(t["values"])) for t in data["traits"]))
        except (KeyError, TypeError, ValueError) as err:
            raise GanforgeError(f"a conditioning must be {{\"traits\": [{{\"name\": ..., \"values\": [...]}}]}}: "
                                f"{err}") from None


UNCONDITIONAL = Conditioning(())


def _is_all(spec: Any) -> bool:
    return isinstance(spec, str) and spec.strip().lower() == ALL
