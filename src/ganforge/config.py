"""The config sections every task shares, and the base of every task's config.

A run's config is a task config (:class:`TaskConfig` subclass, owned by ``tasks/<task>.py``):
its top-level key ``task`` names the task (``noise-to-image`` when absent, so presets and run
folders from before tasks existed keep working) and the task owns its other sections. Every
section is a pydantic model with ``extra="forbid"``, so a misspelled key is an error that lists
the valid keys. The fully resolved config (data-derived fields filled in) is written as
``config.yaml`` into every run folder and as ``config.json`` into every exported model.
Loading and validating a file is :func:`ganforge.tasks.load_config`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from .data import DATASETS
from .errors import GanforgeError
from .schema import FamilyConfig, StrictModel, apply_overrides, load_yaml, parse_overrides  # noqa: F401 (re-exported)


class DataConfig(StrictModel):
    dataset: str = Field("fashion-mnist", description="a registered data set name")
    path: str | None = Field(None, description="image folder, for dataset=folder")
    split: Literal["train", "test"] = "train"
    resolution: int = Field(32, ge=8, le=1024, description="images are resized to this square size")
    channels: Literal[1, 3] = 1
    limit: int | None = Field(None, ge=1, description="use only the first N examples")
    toy_samples: int = Field(100_000, ge=100, description="points drawn from a 2D mixture")
    source_channels: Literal[1, 3] | None = Field(
        None, description="paired data: channels of the source images (None: same as channels)"
    )
    crops_per_image: int = Field(
        16, ge=1, le=4096, description="photo data sets: seeded random crops of size resolution cut from each photo"
    )
    samples: int | None = Field(
        None, ge=1, le=1_000_000, description="generated data sets (avatars): how many images to make (None: the data set's default)"
    )

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        DATASETS.get(name)  # raises with the known names
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
    channels_last: bool | None = Field(
        None, description="channels-last memory format for image networks (None: what is fastest on this machine)"
    )
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


class TaskConfig(StrictModel):
    """Base of every task's config: the task's name, the run's name, data, training and health.

    A task subclasses it in ``tasks/<task>.py`` and adds its own sections (networks, losses, ...).
    """

    task: str = Field(..., description="the task: noise-to-image, paired, ...")
    name: str = Field("run", description="preset name; the default run folder starts with it")
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    health: HealthConfig = HealthConfig()

    # Sections whose class depends on a value inside them (a model family): name -> fn(raw section) -> class.
    dynamic_sections: ClassVar[dict[str, Any]] = {}

    @classmethod
    def section_class(cls, name: str, raw_section: Any) -> type[BaseModel] | None:
        """The pydantic class of section ``name`` (for listing its valid keys in an error)."""
        if name in cls.dynamic_sections:
            return cls.dynamic_sections[name](raw_section)
        field = cls.model_fields.get(name)
        ann = getattr(field, "annotation", None)
        return ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def _valid_keys(config_class: type[TaskConfig], loc: tuple[Any, ...], raw: dict[str, Any]) -> list[str]:
    """The field names allowed at the section ``loc`` points into."""
    section = loc[:-1]
    if not section:
        return list(config_class.model_fields)
    cls = config_class.section_class(str(section[0]), raw.get(section[0]))
    for part in section[1:]:  # nested sections
        field = cls.model_fields.get(str(part)) if cls is not None else None
        ann = getattr(field, "annotation", None)
        cls = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return list(cls.model_fields) if cls is not None else []


def format_validation_error(err: ValidationError, raw: dict[str, Any], config_class: type[TaskConfig]) -> str:
    """Turn pydantic's multi-line report into one line a person can act on."""
    first = err.errors()[0]
    # A dynamic section (a family config) nests its errors under the class name; drop it.
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and p.endswith("Config")))
    key = ".".join(str(p) for p in loc)
    if first["type"] == "extra_forbidden":
        valid = ", ".join(_valid_keys(config_class, loc, raw))
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


def config_to_dict(cfg: StrictModel) -> dict[str, Any]:
    return cfg.model_dump(mode="json")


def save_config_yaml(cfg: StrictModel, path: Path) -> None:
    from .fileio import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
