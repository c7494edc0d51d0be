"""Tasks: what a GAN learns and how one training step goes (``TASKS``), and run configs.

``TASKS`` maps a task name (the config's top-level ``task`` key) to its :class:`~.base.Task`
class, which names its config class. :func:`build_config` and :func:`load_config` validate a
raw config with the class of the task it names; a config without ``task`` is a noise -> image
config (every preset and run folder made before tasks existed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..config import TaskConfig, format_validation_error
from ..errors import GanforgeError
from ..schema import apply_overrides, load_yaml, parse_overrides
from .base import DEFAULT_TASK, TASKS, register_task
from . import enhance, noise_to_image, paired, unpaired  # noqa: F401  (registers the built-in tasks)
from .noise_to_image import NoiseToImageConfig

RunConfig = NoiseToImageConfig  # the name the noise -> image config had before tasks existed


def task_of(raw: dict[str, Any]) -> type:
    """The task class a raw config names (one-line error for an unknown task)."""
    return TASKS.get(raw.get("task", DEFAULT_TASK))


def build_config(raw: dict[str, Any]) -> TaskConfig:
    """Validate a raw dict into its task's config; user errors become one-line errors."""
    if not isinstance(raw, dict):
        raise GanforgeError("a config must be a YAML mapping with a task and its sections (data, model, loss, train, ...)")
    raw = dict(raw)
    raw.setdefault("task", DEFAULT_TASK)
    config_class = task_of(raw).config
    try:
        return config_class.model_validate(raw)
    except ValidationError as err:
        raise GanforgeError(format_validation_error(err, raw, config_class)) from None


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> TaskConfig:
    """Read a YAML preset, apply ``key=value`` overrides and validate."""
    path = Path(path)
    if not path.is_file():
        raise GanforgeError(f"config file '{path}' does not exist (presets are in configs/*.yaml)")
    try:
        raw = load_yaml(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise GanforgeError(f"config file '{path}' is not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise GanforgeError(f"config file '{path}' must be a YAML mapping with a task and its sections")
    raw.setdefault("name", path.stem)
    return build_config(apply_overrides(raw, parse_overrides(overrides)))


__all__ = ["DEFAULT_TASK", "NoiseToImageConfig", "RunConfig", "TASKS", "build_config", "load_config",
           "register_task", "task_of"]
