"""Checkpoints are data, never code.

Used by training (run folders) and by pipelines (exported models), so it sits below both.

Weights go to safetensors; trainer state (optimizers, counters, RNG states, data order) to
a torch file that is only ever loaded with ``weights_only=True``. A checkpoint is a folder
``checkpoints/step-000123/`` written under a temporary name and renamed when complete, so
a crash mid-write never leaves a half checkpoint that looks finished.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import GanforgeError
from .fileio import atomic_write

CHECKPOINT_DIR = "checkpoints"
BEST, INFO_FILE = "best", "info.json"  # checkpoints/best: the best periodic-evaluation score
HEALTHY = "healthy"  # checkpoints/healthy: the rollback target of the health monitor's recover policy
STATE_FILE = "trainer_state.pt"


def save_weights(module_or_state: torch.nn.Module | dict[str, torch.Tensor], path: Path) -> None:
    """Save a module's state dict (tensors only) as safetensors, atomically."""
    state = module_or_state.state_dict() if isinstance(module_or_state, torch.nn.Module) else module_or_state
    # safetensors refuses shared or non-contiguous storage; clone to plain CPU tensors.
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
    atomic_write(path, lambda tmp: save_file(state, tmp))


def load_weights(path: Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Read a safetensors file; a missing or corrupt file is a one-line user error."""
    path = Path(path)
    if not path.is_file():
        raise GanforgeError(f"weights file '{path}' is missing")
    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError, ValueError) as err:
        raise GanforgeError(f"weights file '{path}' is corrupt or not safetensors ({err})") from None


def load_into(module: torch.nn.Module, path: Path) -> None:
    """Load weights into ``module``; mismatching names or shapes are a user error."""
    state = load_weights(path, device=next(iter(module.state_dict().values())).device)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise GanforgeError(f"weights in '{path}' do not fit this model's config: {first}") from None


def save_state(state: dict[str, Any], path: Path) -> None:
    """Save trainer state (tensors, numbers, strings, lists, dicts only) atomically."""
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_state(path: Path) -> dict[str, Any]:
    """Load trainer state with ``weights_only=True``: never runs code from the file."""
    path = Path(path)
    if not path.is_file():
        raise GanforgeError(f"trainer state '{path}' is missing")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged file
        raise GanforgeError(f"trainer state '{path}' is corrupt or unsafe to load ({type(err).__name__})") from None


def checkpoint_name(step: int) -> str:
    return f"step-{step:07d}"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first (temporary folders are ignored)."""
    root = Path(run_dir) / CHECKPOINT_DIR
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-") and not p.name.endswith(".tmp"))


def latest_checkpoint(run_dir: Path) -> Path:
    found = list_checkpoints(run_dir)
    if not found:
        raise GanforgeError(f"run folder '{run_dir}' has no checkpoint yet (looked in {Path(run_dir) / CHECKPOINT_DIR})")
    return found[-1]


def _write_folder(final: Path, files: dict[str, Any], extra_text: dict[str, str] | None = None) -> Path:
    """Write ``files`` into ``final`` through a temporary sibling folder and one rename."""
    tmp = final.parent / (final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        for name, obj in files.items():
            (save_weights if name.endswith(".safetensors") else save_state)(obj, tmp / name)
        for name, text in (extra_text or {}).items():
            (tmp / name).write_text(text)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def write_named_checkpoint(run_dir: Path, name: str, files: dict[str, Any], *, info: dict[str, Any]) -> Path:
    """A checkpoint outside the keep-K rotation (``best``), with ``info.json`` saying what it is."""
    root = Path(run_dir) / CHECKPOINT_DIR
    root.mkdir(parents=True, exist_ok=True)
    return _write_folder(root / name, files, {INFO_FILE: json.dumps(info) + "\n"})


def write_checkpoint(run_dir: Path, step: int, files: dict[str, Any], keep: int) -> Path:
    """Write a checkpoint folder atomically and keep only the newest ``keep`` of them.

    ``files`` maps file names to modules or state dicts (``*.safetensors``) or to a trainer
    state dict (``*.pt``).
    """
    root = Path(run_dir) / CHECKPOINT_DIR
    root.mkdir(parents=True, exist_ok=True)
    final = _write_folder(root / checkpoint_name(step), files)
    for old in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final
