"""Typed run configuration: data, model, loss and training settings.

Every section is a pydantic model with ``extra="forbid"``, so a misspelled key is an error
that lists the valid keys. The model section is the config class of the chosen family
(``models/<family>.py`` owns it). The fully resolved config (with data-derived fields such
as ``num_classes`` filled in) is written as ``config.yaml`` into every run folder and as
``config.json`` into every exported model.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError, field_validator, model_validator

from .errors import GanforgeError


class StrictModel(BaseModel):
    """Base of every config section: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


class FamilyConfig(StrictModel):
    """Fields every model family shares. Families subclass this in ``models/<family>.py``.

    ``num_classes`` and the data shape fields are filled in from the data set when a run is
    resolved; users normally leave them unset.
    """

    family: str
    latent_dim: int = Field(128, ge=1, description="size of the noise vector z")
    conditional: bool = Field(False, description="condition G and D on class labels")
    num_classes: int = Field(0, ge=0, description="filled in from the data when conditional")
    output_shape: tuple[int, ...] | None = Field(
        None, description="(C, H, W) or (D,): filled in from the data"
    )
    d_conditioning: Literal["projection", "acgan"] = Field(
        "projection", description="how D uses labels: projection head or auxiliary classifier"
    )
    spectral_norm: bool = Field(False, description="spectral normalization on D's weights")
    minibatch_std: bool = Field(False, description="append a minibatch standard-deviation feature in D")
    pack: int = Field(1, ge=1, description="PacGAN: D judges `pack` samples jointly")

    @model_validator(mode="after")
    def _pack_unconditional(self) -> "FamilyConfig":
        if self.pack > 1 and self.conditional:
            raise ValueError("model.pack > 1 (PacGAN) works only for unconditional models; set model.pack=1")
        return self


class DataConfig(StrictModel):
    dataset: str = Field("fashion-mnist", description="a registered data set name")
    path: str | None = Field(None, description="image folder, for dataset=folder")
    split: Literal["train", "test"] = "train"
    resolution: int = Field(32, ge=8, le=1024, description="images are resized to this square size")
    channels: Literal[1, 3] = 1
    limit: int | None = Field(None, ge=1, description="use only the first N examples")
    toy_samples: int = Field(100_000, ge=100, description="points drawn from a 2D mixture")

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        from .data import DATASETS

        DATASETS.get(name)  # raises with the known names
        return name


class LossConfig(StrictModel):
    name: str = Field("nonsaturating", description="a registered adversarial loss")
    r1_gamma: float = Field(0.0, ge=0, description="R1 penalty weight (0 disables)")
    r1_interval: int = Field(16, ge=1, description="lazy R1: apply every N steps, scaled by N")
    gp_weight: float = Field(10.0, ge=0, description="gradient penalty weight for wgan-gp")
    aux_weight: float = Field(1.0, ge=0, description="auxiliary classifier loss weight (acgan)")
    pl_weight: float = Field(
        0.0, ge=0, description="path-length regularization weight (StyleGAN2; stylegan family only; 0 disables)"
    )
    pl_interval: int = Field(4, ge=1, description="lazy path-length regularization: every N steps, scaled by N")
    pl_decay: float = Field(0.01, gt=0, le=1, description="decay of the running mean path length")
    pl_batch_shrink: int = Field(2, ge=1, description="path-length batch = batch size / this")
    mode_seeking: float = Field(
        0.0, ge=0,
        description="mode-seeking weight (Mao et al. 2019): G is pushed to map different z of a class to "
        "different images, against collapse within classes (0 disables)",
    )

    @field_validator("name")
    @classmethod
    def _known_loss(cls, name: str) -> str:
        from .losses import LOSSES

        LOSSES.get(name)
        return name


class TrainConfig(StrictModel):
    batch_size: int = Field(64, ge=1, description="global batch size, split over ranks")
    kimg: float = Field(100.0, gt=0, description="length of training in thousands of real images")
    d_steps: int = Field(1, ge=1, description="discriminator steps per generator step")
    g_lr: float = Field(2e-4, gt=0)
    d_lr: float = Field(2e-4, gt=0)
    betas: tuple[float, float] = (0.0, 0.99)
    lr_decay: Literal["none", "cosine", "linear"] = Field(
        "none", description="none | cosine | linear: after lr_decay_start, both learning rates fall to 0 at train.kimg"
    )
    lr_decay_start: float = Field(0.5, ge=0, lt=1, description="fraction of train.kimg after which lr_decay begins")
    ema_halflife_kimg: float = Field(10.0, ge=0, description="EMA of G weights; 0 copies G")
    ema_rampup: float = Field(
        0.05, ge=0, description="early on, the half-life is this fraction of the images seen so far (0: off)"
    )
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    channels_last: bool | None = Field(None, description="None: on for CUDA convnets, off on CPU")
    threads: int | None = Field(None, ge=1, description="CPU threads for torch (default: torch's)")
    log_every: int = Field(50, ge=1, description="steps between log.jsonl lines")
    sample_every_kimg: float = Field(10.0, gt=0, description="sample grid interval")
    snapshot_every_kimg: float = Field(25.0, gt=0, description="checkpoint interval")
    keep_checkpoints: int = Field(3, ge=1, description="checkpoints kept in the run folder")
    eval_every_kimg: float = Field(
        0.0, ge=0, description="periodic evaluation interval (0: off); results go to log.jsonl, "
        "checkpoints/best keeps the best FID"
    )
    eval_metrics: list[str] = Field(["fid"], description="metrics of the periodic evaluation (as ganforge eval --metrics)")
    eval_n: int = Field(5000, ge=10, description="generated (and real) samples per periodic evaluation")


class AugmentConfig(StrictModel):
    """Differentiable augmentation of everything D sees, real and fake (any image family).

    ``diffaugment`` (Zhao et al. 2020) applies every op of ``policy`` to every image;
    ``ada`` (Karras et al. 2020) applies each op with probability ``p``, adapted so that
    the overfitting heuristic r_t = E[sign(D(real))] stays near ``target``.
    """

    kind: Literal["none", "diffaugment", "ada"] = Field("none", description="none | diffaugment | ada")
    policy: list[Literal["translation", "cutout", "color", "flip"]] = Field(
        ["translation", "cutout", "color"], description="ops, applied in this order"
    )
    target: float = Field(0.6, gt=0, lt=1, description="ada: target of r_t = E[sign(D(real))]")
    interval: int = Field(4, ge=1, description="ada: D steps between updates of p")
    speed_kimg: float = Field(100.0, gt=0, description="ada: images (thousands) for p to move from 0 to 1")
    p: float = Field(0.0, ge=0, le=1, description="ada: initial probability")
    max_p: float = Field(1.0, ge=0, le=1, description="ada: upper bound of p")


class HealthConfig(StrictModel):
    """The training-health monitor: what it watches, and what it does when training goes wrong."""

    policy: Literal["off", "warn", "recover"] = Field(
        "warn", description="off | warn (log and show events) | recover (roll back and change knobs)"
    )
    spike_factor: float = Field(
        8.0, gt=1, description="a loss or gradient norm this many times its running baseline is a spike"
    )
    baseline_steps: int = Field(200, ge=10, description="steps in the running baseline (median) of losses and gradient norms")
    warmup_steps: int = Field(100, ge=0, description="steps before spikes and D dominance are judged")
    d_gap: float = Field(
        6.0, gt=0, description="D dominates when mean D(real) - D(fake) exceeds this while the G loss climbs"
    )
    dominance_logs: int = Field(5, ge=1, description="consecutive log lines of D dominance before an event")
    probe_every_kimg: float = Field(10.0, ge=0, description="diversity probe interval (0: off)")
    probe_size: int = Field(256, ge=16, description="fixed latents in the diversity probe")
    collapse_ratio: float = Field(
        0.4, gt=0, lt=1, description="collapse when probe diversity falls below this fraction of the real data's"
    )
    entropy_floor: float = Field(
        0.6, ge=0, lt=1, description="collapse when the normalised class entropy of generated images falls below this"
    )
    stall_evals: int = Field(3, ge=1, description="periodic evaluations without a better FID before a stall event")
    max_retries: int = Field(3, ge=0, description="recover: rollbacks before training stops with a diagnosis")
    lr_factor: float = Field(0.5, gt=0, le=1, description="recover: learning rates are multiplied by this")
    r1_factor: float = Field(2.0, ge=1, description="recover: R1 weight multiplied by this (set from 0 to 1e-2 * factor)")
    augment_step: float = Field(0.2, ge=0, le=1, description="recover: ada p (or the floor of p) raised by this")


class RunConfig(StrictModel):
    name: str = Field("run", description="preset name; the default run folder starts with it")
    data: DataConfig = DataConfig()
    model: SerializeAsAny[FamilyConfig]
    loss: LossConfig = LossConfig()
    train: TrainConfig = TrainConfig()
    augment: AugmentConfig = AugmentConfig()
    health: HealthConfig = HealthConfig()

    @field_validator("model", mode="before")
    @classmethod
    def _family_config(cls, value: Any) -> Any:
        from .models import MODELS

        if isinstance(value, FamilyConfig):
            return value
        if not isinstance(value, dict) or "family" not in value:
            raise ValueError(f"model needs a 'family' key; known families: {', '.join(MODELS.names())}")
        return MODELS.get(value["family"]).config.model_validate(value)


# Keys that may change when a run is resumed: they affect how long and how often, never the
# arithmetic of a step, so the resumed run still equals an uninterrupted one bit for bit.
RESUME_OVERRIDABLE = (
    "train.kimg",
    "train.log_every",
    "train.sample_every_kimg",
    "train.snapshot_every_kimg",
    "train.keep_checkpoints",
    "train.threads",
    "train.eval_every_kimg",
    "train.eval_metrics",
    "train.eval_n",
)


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
    import copy

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


def _valid_keys(loc: tuple[Any, ...], raw: dict[str, Any]) -> list[str]:
    """The field names allowed at the section ``loc`` points into."""
    from .models import MODELS

    section = loc[:-1]
    if not section:
        return list(RunConfig.model_fields)
    top = section[0]
    if top == "model":
        family = raw.get("model", {}).get("family")
        cls = MODELS.get(family).config if family in MODELS else FamilyConfig
        return list(cls.model_fields)
    field = RunConfig.model_fields.get(str(top))
    if field is not None and isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
        return list(field.annotation.model_fields)
    return []


def format_validation_error(err: ValidationError, raw: dict[str, Any]) -> str:
    """Turn pydantic's multi-line report into one line a person can act on."""
    first = err.errors()[0]
    # A discriminated family config nests its errors under the family name; drop it.
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and p.endswith("Config")))
    key = ".".join(str(p) for p in loc)
    if first["type"] == "extra_forbidden":
        valid = ", ".join(_valid_keys(loc, raw))
        return f"unknown config key '{key}'; valid keys here: {valid}"
    if first["type"] == "missing":
        return f"config key '{key}' is required"
    msg = first["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if isinstance(first.get("ctx"), dict) and isinstance(first["ctx"].get("error"), GanforgeError):
        msg = str(first["ctx"]["error"])
    value = first.get("input")
    shown = f" (got {value!r})" if not isinstance(value, (dict, list)) and key else ""
    return f"config key '{key}': {msg}{shown}" if key else msg


def build_config(raw: dict[str, Any]) -> RunConfig:
    """Validate a raw dict into a :class:`RunConfig`; user errors become one-line errors."""
    if not isinstance(raw, dict):
        raise GanforgeError("a config must be a YAML mapping with sections data, model, loss, train")
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as err:
        raise GanforgeError(format_validation_error(err, raw)) from None
    except GanforgeError:
        raise


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Read a YAML preset, apply ``key=value`` overrides and validate."""
    path = Path(path)
    if not path.is_file():
        raise GanforgeError(f"config file '{path}' does not exist (presets are in configs/*.yaml)")
    try:
        raw = load_yaml(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise GanforgeError(f"config file '{path}' is not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise GanforgeError(f"config file '{path}' must be a YAML mapping with sections data, model, loss, train")
    raw.setdefault("name", path.stem)
    return build_config(apply_overrides(raw, parse_overrides(overrides)))


def config_to_dict(cfg: RunConfig) -> dict[str, Any]:
    return cfg.model_dump(mode="json")


def save_config_yaml(cfg: RunConfig, path: Path) -> None:
    from .fileio import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
