"""Latent tools as files: interpolation walks (PNG grid or GIF), style-mixing grids, projections."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GanforgeError
from ..fileio import atomic_write_bytes
from .models import load_model

PROJECTION_FILES = ("projected_w.safetensors", "target.png", "reconstruction.png", "comparison.png")


def gif_bytes(frames: np.ndarray, fps: float) -> bytes:
    """uint8 (F, H, W, C) frames -> an animated GIF that loops forever.

    Pillow merges a frame identical to the one before into it (adding up their durations),
    so a still stretch plays as one longer frame.
    """
    from PIL import Image

    images = [Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f) for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], loop=0,
                   duration=max(20, round(1000 / fps)))
    return buf.getvalue()


def walk_grid(frames: np.ndarray, n_keyframes: int, steps: int) -> np.ndarray:
    """A walk's frames as one picture: a row per pair of keyframes (keyframe, in-betweens, next keyframe)."""
    from ..images import make_grid

    per_row = steps + 2
    rows = [frames[i * (steps + 1) : i * (steps + 1) + per_row] for i in range(n_keyframes - 1)]
    return make_grid(np.concatenate(rows), per_row)


def interpolate(model: str | Path, *, seeds: list[int], out: Path, steps: int = 8, space: str | None = None,
                method: str | None = None, classes: Any = None, truncation: float = 1.0, fps: float = 12) -> int:
    """A walk from seed to seed written to ``out``: FILE.png (a row per pair of keyframes) or
    FILE.gif (an animation that loops). Returns the number of frames."""
    from ..images import save_png
    from ..latent import interpolate as walk

    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".png", ".gif"):
        raise GanforgeError(f"--out '{out}': use FILE.png (a grid) or FILE.gif (an animation)")
    if len(seeds) < 2:
        raise GanforgeError("give at least two keyframe seeds, for example 1,2")
    pipe = load_model(model, kind="generation")
    frames = walk(pipe, seeds=seeds, steps=steps, space=space, method=method, classes=classes, psi=truncation)
    if suffix == ".gif":
        upscale = max(1, 256 // max(frames.shape[1:3]))
        atomic_write_bytes(out, gif_bytes(frames.repeat(upscale, axis=1).repeat(upscale, axis=2), fps))
    else:
        grid = walk_grid(frames, len(seeds), steps)
        save_png(grid, out, upscale=max(1, 512 // max(grid.shape[:2])))
    return len(frames)


def mix(model: str | Path, *, rows: list[int], cols: list[int], out: Path, layers: list[int] | None = None,
        classes: Any = None, truncation: float = 1.0) -> Path:
    """StyleGAN's style-mixing figure as FILE.png."""
    from ..images import save_png
    from ..latent import style_mix

    out = Path(out)
    if out.suffix.lower() != ".png":
        raise GanforgeError(f"--out '{out}': use FILE.png")
    pipe = load_model(model, kind="generation")
    grid = style_mix(pipe, row_seeds=rows, col_seeds=cols, layers=layers, classes=classes, psi=truncation)
    save_png(grid, out, upscale=max(1, 512 // max(grid.shape[:2])))
    return out


@dataclass
class ProjectionOutcome:
    result: Any  # latent.ProjectionResult: mse, psnr, space, target, reconstruction, ...
    files: list[Path]


def project(model: str | Path, image: str | Path, *, out_dir: Path, force: bool = False, space: str | None = None,
            steps: int = 500, lr: float = 0.1, classes: Any = None, seed: int = 0, perceptual: bool | None = None,
            progress: bool = False) -> ProjectionOutcome:
    """Fit a latent to ``image`` and write the four projection files into ``out_dir``."""
    from safetensors.torch import save as safetensors_bytes

    from ..images import make_grid, save_png
    from ..latent import project as fit, projection_metadata, projection_tensors

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise GanforgeError(f"--out '{out_dir}' is a file; give a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise GanforgeError(f"output folder '{out_dir}' exists and is not empty; choose a new folder or pass --force "
                            f"(which replaces only {', '.join(PROJECTION_FILES)})")
    pipe = load_model(model, kind="generation")
    result = fit(pipe, image, space=space, steps=steps, lr=lr, classes=classes, seed=seed, perceptual=perceptual,
                 progress=progress)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [out_dir / name for name in PROJECTION_FILES]
    atomic_write_bytes(files[0], safetensors_bytes(projection_tensors(result, pipe),
                                                   metadata=projection_metadata(result, pipe, model=str(model))))
    save_png(result.target, files[1])
    save_png(result.reconstruction, files[2])
    pair = make_grid(np.stack([result.target, result.reconstruction]), 2)
    save_png(pair, files[3], upscale=max(1, 256 // result.target.shape[0]))
    return ProjectionOutcome(result, files)
