"""Load a trained generator and make images: ``ganforge.load(...).generate(...)``.

A model is found by name (bundled in ``ganforge/pretrained/``), as an exported folder
(``config.json`` + ``generator.safetensors`` + ``README.md``) or as a run folder (its
latest EMA generator). Nothing is ever unpickled: weights are safetensors, configs JSON/YAML.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import yaml
from tqdm.auto import tqdm

from . import __version__, sampling
from .config import RunConfig, build_config, config_to_dict, load_yaml
from .errors import GanforgeError, did_you_mean
from .fileio import publish_mode
from .images import to_uint8
from .models import build_generator
from .training import checkpoint as ckpt

PRETRAINED_DIR = Path(__file__).parent / "pretrained"
CONFIG_JSON, WEIGHTS = "config.json", "generator.safetensors"
# G always runs on chunks of exactly this many latents (the last one padded). CPU and GPU
# kernels pick their blocking by batch shape, so the float result for one image can change
# in its last bits with the batch size; with one fixed shape, image i of a seed is bit for
# bit the same whatever the number of images asked for.
GENERATION_CHUNK = 32


def bundled_models() -> list[str]:
    return sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / CONFIG_JSON).is_file()) if PRETRAINED_DIR.is_dir() else []


class GeneratorPipeline:
    """A generator with everything needed to use it: config, class names, provenance.

    ``generate`` returns uint8 images (N, H, W, C), or float32 points (N, D) for vector
    models. Image ``i`` of ``seed`` is bit for bit the same however many images are asked for.
    """

    def __init__(self, generator: torch.nn.Module, config: RunConfig, *, class_names: list[str] | None,
                 meta: dict[str, Any] | None = None, source: str = "") -> None:
        self.generator = generator.eval().requires_grad_(False)
        self.config = config
        self.class_names = class_names
        self.meta = meta or {}
        self.source = source

    # ------------------------------------------------------------------------------- loading
    @classmethod
    def from_pretrained(cls, path: str | Path) -> "GeneratorPipeline":
        path = Path(path)
        try:
            info = json.loads((path / CONFIG_JSON).read_text())
            cfg = build_config(info["config"])
        except (OSError, ValueError, KeyError) as err:
            raise GanforgeError(f"'{path}' is not a valid exported model ({CONFIG_JSON}: {err})") from None
        gen = build_generator(cfg.model)
        ckpt.load_into(gen, path / WEIGHTS)
        return cls(gen, cfg, class_names=info.get("class_names"), meta=info, source=str(path))

    @classmethod
    def from_run(cls, run_dir: str | Path) -> "GeneratorPipeline":
        run_dir = Path(run_dir)
        try:
            cfg = build_config(load_yaml((run_dir / "config.yaml").read_text()))
        except (OSError, yaml.YAMLError) as err:
            raise GanforgeError(f"'{run_dir}' is not a run folder (config.yaml: {err})") from None
        latest = ckpt.latest_checkpoint(run_dir)
        gen = build_generator(cfg.model)
        ckpt.load_into(gen, latest / ckpt.G_EMA_FILE)
        state = ckpt.load_state(latest / ckpt.STATE_FILE)
        run_info = _read_json(run_dir / "run.json")
        meta = {"training": {"steps": int(state["step"]), "kimg": int(state["images"]) / 1000,
                             "checkpoint": str(latest), "command": run_info.get("command")}}
        names = run_info.get("class_names") if cfg.model.conditional else None
        return cls(gen, cfg, class_names=names, meta=meta, source=str(run_dir))

    # ------------------------------------------------------------------------------ properties
    @property
    def conditional(self) -> bool:
        return bool(self.config.model.conditional)

    @property
    def style_based(self) -> bool:
        """True for generators with a mapping network (z -> w), e.g. the stylegan family."""
        g = self.generator
        return callable(getattr(g, "mapping", None)) and callable(getattr(g, "synthesis", None))

    @property
    def kind(self) -> str:
        return "image" if len(self.config.model.output_shape) == 3 else "vector"

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    def to(self, device: str | torch.device) -> "GeneratorPipeline":
        self.generator.to(device)
        return self

    # ----------------------------------------------------------------------------- generation
    def class_index(self, name: str | int) -> int:
        """A class name (case-insensitive) or index -> index; unknown names list the valid ones."""
        if not self.conditional:
            raise GanforgeError("this model is unconditional; it takes no class")
        names = self.class_names or [str(i) for i in range(self.config.model.num_classes)]
        if isinstance(name, str) and name.isdigit() and name.lower() not in (n.lower() for n in names):
            name = int(name)  # "--class 7" means index 7 unless a class is literally called "7"
        if isinstance(name, (int, np.integer)) and 0 <= int(name) < len(names):
            return int(name)
        lowered = [n.lower() for n in names]
        if isinstance(name, str) and name.lower() in lowered:
            return lowered.index(name.lower())
        raise GanforgeError(f"unknown class '{name}'{did_you_mean(str(name), names)}; classes: {', '.join(names)}, or all")

    def labels_for(self, n: int, classes: str | int | Sequence[str | int] | None = None) -> torch.Tensor | None:
        """Labels (n,) int64 for ``classes``: one class, a list of n, or None/'all' (spread evenly)."""
        if not self.conditional:
            if classes not in (None, "all"):
                raise GanforgeError("this model is unconditional; leave out --class")
            return None
        if classes is None or classes == "all":
            return sampling.class_labels(n, self.config.model.num_classes)
        if isinstance(classes, (str, int, np.integer)):
            return torch.full((n,), self.class_index(classes), dtype=torch.long)
        if len(classes) != n:
            raise GanforgeError(f"got {len(classes)} classes for {n} images; give one class or one per image")
        return torch.tensor([self.class_index(c) for c in classes], dtype=torch.long)

    @torch.no_grad()
    def generate_tensor(self, n: int, classes=None, seed: int = 0, truncation: float = 1.0,
                        *, progress: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Raw generator output (N, ...) float32 on the CPU, and the labels used (or None).

        ``progress`` shows a bar (for thousands of images).
        """
        if n < 0:
            raise GanforgeError(f"the number of images must be >= 0, got {n}")
        if not 0.0 <= truncation <= 1.0:
            raise GanforgeError(f"truncation must be between 0 and 1, got {truncation}")
        labels = self.labels_for(n, classes)
        outs = []
        chunk = GENERATION_CHUNK
        for start in tqdm(range(0, n, chunk), desc="generating", unit="chunk", leave=False, disable=not progress):
            m = min(chunk, n - start)
            z = torch.zeros(chunk, self.config.model.latent_dim)
            z[:m] = sampling.latents(seed, m, self.config.model.latent_dim, start=start)
            y = None
            if labels is not None:
                y = torch.zeros(chunk, dtype=torch.long)
                y[:m] = labels[start : start + m]
                y = y.to(self.device)
            outs.append(self.run_generator(z.to(self.device), y, truncation)[:m].float().cpu())
        shape = tuple(self.config.model.output_shape)
        return (torch.cat(outs) if outs else torch.zeros(0, *shape)), labels

    def run_generator(self, z: torch.Tensor, labels: torch.Tensor | None, truncation: float = 1.0) -> torch.Tensor:
        """G on latents ``z`` (N, latent_dim) with truncation: in w towards the tracked (per-class)
        average w for style-based generators (their z is normalised, so scaling it would do
        nothing), in z towards 0 otherwise."""
        if self.style_based:
            return self.generator(z, labels, psi=truncation)
        return self.generator(sampling.truncate(z, truncation), labels)

    def generate(self, n: int, classes=None, seed: int = 0, truncation: float = 1.0) -> np.ndarray:
        """``n`` samples: uint8 images (N, H, W, C) or float32 points (N, D).

        ``classes``: None or "all" (spread evenly, in blocks), one class name or index, or a
        list of one per image. ``truncation`` in [0, 1] scales the latents towards their mean.
        """
        out, _ = self.generate_tensor(n, classes, seed, truncation)
        return to_uint8(out) if self.kind == "image" else out.numpy().astype(np.float32)

    # ---------------------------------------------------------------------------------- saving
    def save_pretrained(self, out_dir: str | Path, *, metrics: dict[str, Any] | None = None) -> Path:
        """Write ``config.json``, ``generator.safetensors`` and a README model card.

        The folder is assembled under a temporary name and renamed into place, so it is
        either complete or absent.
        """
        out_dir = Path(out_dir)
        if out_dir.exists() and any(out_dir.iterdir()):
            raise GanforgeError(f"output folder '{out_dir}' exists and is not empty; choose a new folder")
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        info = {
            "format": "ganforge-generator",
            "ganforge_version": __version__,
            "exported": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "config": config_to_dict(self.config),
            "class_names": self.class_names,
            "training": self.meta.get("training", {}),
            "metrics": metrics if metrics is not None else self.meta.get("metrics", {}),
        }
        tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
        try:
            (tmp / CONFIG_JSON).write_text(json.dumps(info, indent=2) + "\n")
            ckpt.save_weights(self.generator, tmp / WEIGHTS)
            (tmp / "README.md").write_text(model_card(info, out_dir.name))
            publish_mode(tmp, directory=True)
            if out_dir.exists():
                out_dir.rmdir()
            tmp.rename(out_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return out_dir

    def describe(self) -> dict[str, Any]:
        m = self.config.model
        return {
            "source": self.source,
            "family": m.family,
            "kind": self.kind,
            "output_shape": list(m.output_shape),
            "latent_dim": m.latent_dim,
            "conditional": self.conditional,
            "classes": self.class_names,
            "parameters": sum(p.numel() for p in self.generator.parameters()),
            "data": self.config.data.dataset,
            "training": self.meta.get("training", {}),
            "metrics": self.meta.get("metrics", {}),
        }


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def model_card(info: dict[str, Any], name: str) -> str:
    """A short README for an exported model: data, length of training, command, metrics."""
    cfg, training = info["config"], info.get("training", {})
    model, data = cfg["model"], cfg["data"]
    lines = [
        f"# {name}",
        "",
        f"A {'class-conditional ' if model.get('conditional') else ''}{model['family']} generator made with ganforge "
        f"{info['ganforge_version']}.",
        "",
        "| | |",
        "|---|---|",
        f"| data | {data['dataset']} ({data['split']} split{', ' + str(data['limit']) + ' examples' if data.get('limit') else ''}) |",
        f"| output | {' x '.join(str(s) for s in model['output_shape'])} |",
        f"| classes | {', '.join(info['class_names']) if info.get('class_names') else 'none (unconditional)'} |",
        f"| loss | {cfg['loss']['name']} |",
        f"| training length | {training.get('kimg', '?')} kimg ({training.get('steps', '?')} steps, batch {cfg['train']['batch_size']}) |",
        f"| seed | {cfg['train']['seed']} |",
        "",
        "## How it was made",
        "",
        "```",
        training.get("command") or "(command not recorded)",
        "```",
        "",
        "## Metrics",
        "",
    ]
    metrics = info.get("metrics") or {}
    lines += [f"- {k}: {v}" for k, v in metrics.items()] or ["Not measured yet."]
    lines += ["", "## Use", "", "```", f"ganforge generate {name} -n 16 --out grid.png", "```", ""]
    return "\n".join(lines)


def load(name_or_path: str | Path) -> GeneratorPipeline:
    """Load a bundled model by name, an exported model folder, or a run folder."""
    path = Path(name_or_path)
    if path.is_dir():
        if (path / CONFIG_JSON).is_file():
            return GeneratorPipeline.from_pretrained(path)
        if (path / "config.yaml").is_file():
            return GeneratorPipeline.from_run(path)
        raise GanforgeError(f"'{path}' is neither an exported model (config.json) nor a run folder (config.yaml)")
    name = str(name_or_path)
    if name in bundled_models():
        return GeneratorPipeline.from_pretrained(PRETRAINED_DIR / name)
    known = bundled_models()
    raise GanforgeError(
        f"no model '{name}'{did_you_mean(name, known)}: give a bundled name ({', '.join(known) or 'none installed'}), "
        "an exported model folder or a run folder"
    )
