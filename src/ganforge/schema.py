"""The building blocks of every config: strict pydantic models, YAML, ``key=value`` overrides.

Nothing here knows a data set, model family, loss or task: the registries (``data``,
``models``, ``losses``) and the config sections (:mod:`ganforge.config`) build on it, never
the other way round.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .errors import GanforgeError


class StrictModel(BaseModel):
    """Base of every config section: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


class TraitConfig(StrictModel):
    """One named trait of a model's labels and its values (``conditioning.Trait`` as config)."""

    name: str = Field(min_length=1, description="the trait's name (hair_color, shape, ...)")
    values: list[str] = Field(min_length=1, description="its values; label i means values[i]")


class FamilyConfig(StrictModel):
    """Fields every model family shares. Families subclass this in ``models/<family>.py``.

    ``num_classes``, ``traits`` and the data shape fields are filled in from the data set when a
    run is resolved; users normally leave them unset. A one-class model (the data's single trait
    is ``class``) keeps ``num_classes`` and no ``traits``, as every model made before traits;
    data with several traits (or one named otherwise) sets ``traits`` and ``num_classes`` 0.
    ``label_sizes`` is what the networks are built from.
    """

    family: str
    latent_dim: int = Field(128, ge=1, description="size of the noise vector z")
    conditional: bool = Field(False, description="condition G and D on class labels")
    num_classes: int = Field(0, ge=0, description="filled in from the data when conditional (one trait, 'class')")
    traits: list[TraitConfig] | None = Field(
        None, description="filled in from the data when it declares named traits: labels are (N, T), one column "
        "per trait; None: one trait of num_classes classes"
    )
    output_shape: tuple[int, ...] | None = Field(
        None, description="(C, H, W) or (D,): filled in from the data"
    )
    d_conditioning: Literal["projection", "acgan"] = Field(
        "projection", description="how D uses labels: projection head or auxiliary classifier"
    )
    spectral_norm: bool = Field(False, description="spectral normalization on D's weights")
    minibatch_std: bool = Field(False, description="append a minibatch standard-deviation feature in D")
    pack: int = Field(1, ge=1, description="PacGAN: D judges `pack` samples jointly")

    @property
    def label_sizes(self) -> tuple[int, ...]:
        """Values per trait of G's and D's labels: ``()`` unconditional, ``(num_classes,)`` for a
        one-class model, one entry per trait otherwise (``conditioning.Conditioning.sizes``)."""
        if not self.conditional:
            return ()
        if self.traits:
            return tuple(len(t.values) for t in self.traits)
        return (self.num_classes,) if self.num_classes else ()

    @model_validator(mode="after")
    def _pack_unconditional(self) -> "FamilyConfig":
        if self.pack > 1 and self.conditional:
            raise ValueError("model.pack > 1 (PacGAN) works only for unconditional models; set model.pack=1")
        return self


class _ConfigLoader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. YAML 1.1's yes/no/on/off stay strings, so
    ``health.policy: off`` means the policy "off", not False."""


_ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(text: str) -> Any:
    """Parse config YAML (a preset, a run's config.yaml or an override value)."""
    return yaml.load(text, Loader=_ConfigLoader)  # noqa: S506 - a SafeLoader subclass


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Parse ``key=value`` strings (dotted keys, YAML values) into a flat dict."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise GanforgeError(f"override '{item}' is not key=value (for example train.kimg=50)")
        try:
            out[key.strip()] = load_yaml(raw) if raw != "" else None
        except yaml.YAMLError:
            out[key.strip()] = raw
    return out


def apply_overrides(raw: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Set dotted keys in a nested dict (a copy); validation later refuses unknown ones."""
    raw = copy.deepcopy(raw)
    for dotted, value in overrides.items():
        node = raw
        parts = dotted.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise GanforgeError(f"override '{dotted}': '{part}' is a value, not a section")
            node = child
        node[parts[-1]] = value
    return raw
