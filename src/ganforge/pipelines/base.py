"""Trained models as pipelines: ``save_pretrained`` / ``from_pretrained`` folders and ``load``.

A pipeline is one network with everything needed to use it: its run config, provenance and
the code that turns inputs into outputs. An exported folder holds ``config.json`` (which names
the pipeline kind, the resolved config, training length and metrics), the network's weights as
safetensors and a README model card. ``load(name_or_path)`` returns the pipeline the folder (or
a run folder, or a bundled name) calls for: a :class:`~.generation.GeneratorPipeline` or an
:class:`~.image_to_image.ImageToImagePipeline`. Nothing is ever unpickled, and nothing of the
training code is imported.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

import torch
import yaml

from ..version import __version__
from .. import checkpoint as ckpt
from ..config import TaskConfig, config_to_dict
from ..errors import GanforgeError, did_you_mean
from ..fileio import publish_mode
from ..registry import Registry
from ..schema import load_yaml
from ..data import DATASETS
from ..tasks import TASKS, build_config

PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"
CONFIG_JSON, WEIGHTS = "config.json", "generator.safetensors"
ARTIFACTS_DIR = "artifacts"  # named files a pipeline keeps beside its weights (a fitted column transform, ...)
ARTIFACT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}\.(json|safetensors|csv|txt|bin)$")
MAX_ARTIFACT_BYTES = 64 * 2**20
# Exported folders written before pipelines had kinds say "format": "ganforge-generator".
LEGACY_FORMATS = {"ganforge-generator": "generation"}

PIPELINES: Registry[type["Pipeline"]] = Registry("pipeline kind")


def register_pipeline(cls: type["Pipeline"]) -> type["Pipeline"]:
    PIPELINES.register(cls.pipeline_kind, cls)
    return cls


def bundled_models() -> list[str]:
    return sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / CONFIG_JSON).is_file()) if PRETRAINED_DIR.is_dir() else []


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


class Pipeline:
    """Base of every pipeline kind: one network (``self.network``), its config and provenance.

    Subclasses set ``pipeline_kind`` (the ``"pipeline"`` value of config.json) and implement
    :meth:`__call__` (or their own entry points) and :meth:`card_summary`.
    """

    pipeline_kind: ClassVar[str]

    def __init__(self, network: torch.nn.Module, config: TaskConfig, *, meta: dict[str, Any] | None = None,
                 source: str = "") -> None:
        self.network = network.eval().requires_grad_(False)
        self.config = config
        self.meta = meta or {}
        self.source = source
        self.artifacts: dict[str, bytes] = {}  # name -> bytes, saved in artifacts/ beside the weights

    # ----------------------------------------------------------------------------- artifacts
    def set_artifact(self, name: str, data: bytes | Any) -> None:
        """Keep ``data`` (bytes, or anything JSON can hold for a ``.json`` name) as the artifact
        ``name`` (lower-case letters, digits, ``_`` and ``-``, then ``.json``, ``.safetensors``,
        ``.csv``, ``.txt`` or ``.bin``); ``save_pretrained`` writes it and ``from_pretrained`` reads it back."""
        if not ARTIFACT_NAME.match(name):
            raise GanforgeError(f"artifact name '{name}' is not allowed: use lower-case letters, digits, _ and -, "
                                "then .json, .safetensors, .csv, .txt or .bin")
        if not isinstance(data, bytes):
            if not name.endswith(".json"):
                raise GanforgeError(f"artifact '{name}' needs bytes (only .json artifacts take other values)")
            data = (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()
        if len(data) > MAX_ARTIFACT_BYTES:
            raise GanforgeError(f"artifact '{name}' is {len(data)} bytes; at most {MAX_ARTIFACT_BYTES}")
        self.artifacts[name] = data

    def artifact(self, name: str) -> bytes | Any:
        """The artifact ``name``: parsed JSON for ``.json`` names, else its bytes; a one-line error
        naming the ones this model has when it has no such artifact."""
        if name not in self.artifacts:
            have = ", ".join(sorted(self.artifacts)) or "none"
            raise GanforgeError(f"this model has no artifact '{name}' (it has: {have})")
        data = self.artifacts[name]
        return json.loads(data) if name.endswith(".json") else data

    # ------------------------------------------------------------------------------- loading
    @classmethod
    def build_network(cls, config: TaskConfig) -> torch.nn.Module:
        """An untrained network of the exported kind for ``config`` (its task builds it)."""
        return TASKS.get(config.task).build_export(config)

    @classmethod
    def init_kwargs(cls, info: dict[str, Any], config: TaskConfig) -> dict[str, Any]:
        """Extra constructor arguments read from config.json or run.json (e.g. class names)."""
        return {}

    @classmethod
    def from_pretrained(cls, path: str | Path) -> "Pipeline":
        path = Path(path)
        try:
            info = json.loads((path / CONFIG_JSON).read_text())
            cfg = build_config(info["config"])
        except (OSError, ValueError, KeyError) as err:
            raise GanforgeError(f"'{path}' is not a valid exported model ({CONFIG_JSON}: {err})") from None
        net = cls.build_network(cfg)
        ckpt.load_into(net, path / WEIGHTS)
        pipe = cls(net, cfg, meta=info, source=str(path), **cls.init_kwargs(info, cfg))
        pipe.artifacts = _read_artifacts(path, info.get("artifacts") or {})
        return pipe

    @classmethod
    def from_run(cls, run_dir: str | Path) -> "Pipeline":
        """The latest checkpoint's exported network (the EMA generator) of a run folder."""
        run_dir = Path(run_dir)
        try:
            cfg = build_config(load_yaml((run_dir / "config.yaml").read_text()))
        except (OSError, yaml.YAMLError) as err:
            raise GanforgeError(f"'{run_dir}' is not a run folder (config.yaml: {err})") from None
        task = TASKS.get(cfg.task)
        latest = ckpt.latest_checkpoint(run_dir)
        net = cls.build_network(cfg)
        ckpt.load_into(net, latest / task.file_name(task.export_network))
        state = ckpt.load_state(latest / ckpt.STATE_FILE)
        run_info = _read_json(run_dir / "run.json")
        meta = {"training": {"steps": int(state["step"]), "kimg": int(state["images"]) / 1000,
                             "checkpoint": str(latest), "command": run_info.get("command")}}
        return cls(net, cfg, meta=meta, source=str(run_dir), **cls.init_kwargs(run_info, cfg))

    # ------------------------------------------------------------------------------ properties
    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    def to(self, device: str | torch.device) -> "Pipeline":
        self.network.to(device)
        return self

    def onnx_spec(self):
        """What ``pipelines.onnx.export_onnx`` traces (an :class:`~.onnx.OnnxSpec`); kinds that
        cannot be exported say so in one line."""
        raise GanforgeError(f"{self.pipeline_kind} models cannot be exported to ONNX")

    # ---------------------------------------------------------------------------------- saving
    def export_info(self) -> dict[str, Any]:
        """What config.json says besides the config (subclasses add their own keys)."""
        return {}

    def save_pretrained(self, out_dir: str | Path, *, metrics: dict[str, Any] | None = None) -> Path:
        """Write ``config.json``, the weights and a README model card.

        The folder is assembled under a temporary name and renamed into place, so it is
        either complete or absent.
        """
        out_dir = Path(out_dir)
        if out_dir.exists() and any(out_dir.iterdir()):
            raise GanforgeError(f"output folder '{out_dir}' exists and is not empty; choose a new folder")
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        info = {
            "format": "ganforge-model",
            "pipeline": self.pipeline_kind,
            "ganforge_version": __version__,
            "exported": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "config": config_to_dict(self.config),
            **self.export_info(),
            "training": self.meta.get("training", {}),
            "metrics": metrics if metrics is not None else self.meta.get("metrics", {}),
        }
        if self.artifacts:  # listed with their digests, so a load notices a changed or missing file
            info["artifacts"] = {name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                                 for name, data in sorted(self.artifacts.items())}
        tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
        try:
            (tmp / CONFIG_JSON).write_text(json.dumps(info, indent=2) + "\n")
            ckpt.save_weights(self.network, tmp / WEIGHTS)
            if self.artifacts:
                (tmp / ARTIFACTS_DIR).mkdir()
                for name, data in self.artifacts.items():
                    (tmp / ARTIFACTS_DIR / name).write_bytes(data)
            (tmp / "README.md").write_text(self.model_card(info, out_dir.name))
            publish_mode(tmp, directory=True)
            if out_dir.exists():
                out_dir.rmdir()
            tmp.rename(out_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return out_dir

    def card_summary(self, info: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
        """The model card's first sentence and its table rows (subclasses implement)."""
        raise NotImplementedError

    def usage(self, name: str) -> str:
        """The command line shown under "Use" in the model card."""
        return f"ganforge info {name}"

    def model_card(self, info: dict[str, Any], name: str) -> str:
        """A short README for an exported model: data, length of training, command, metrics."""
        cfg, training = info["config"], info.get("training", {})
        data = cfg["data"]
        sentence, rows = self.card_summary(info)
        licence = DATASETS.get(data["dataset"]).licence  # "" for data without a stated licence
        rows = [*([("data licence", licence)] if licence else []), *rows]
        lines = [
            f"# {name}", "", f"{sentence} made with ganforge {info['ganforge_version']}.", "", "| | |", "|---|---|",
            f"| data | {data['dataset']} ({data['split']} split{', ' + str(data['limit']) + ' examples' if data.get('limit') else ''}) |",
            *[f"| {k} | {v} |" for k, v in rows],
            f"| training length | {training.get('kimg', '?')} kimg ({training.get('steps', '?')} steps, batch {cfg['train']['batch_size']}) |",
            f"| seed | {cfg['train']['seed']} |",
            "", "## How it was made", "", "```", training.get("command") or "(command not recorded)", "```", "",
            "## Metrics", "",
        ]
        metrics = info.get("metrics") or {}
        lines += [f"- {k}: {v}" for k, v in metrics.items()] or ["Not measured yet."]
        lines += ["", "## Use", "", "```", self.usage(name), "```", ""]
        return "\n".join(lines)

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "pipeline": self.pipeline_kind,
            "task": self.config.task,
            "parameters": sum(p.numel() for p in self.network.parameters()),
            "data": self.config.data.dataset,
            "data_about": DATASETS.get(self.config.data.dataset).about,
            "training": self.meta.get("training", {}),
            "metrics": self.meta.get("metrics", {}),
        }


def _read_artifacts(path: Path, listed: dict[str, Any]) -> dict[str, bytes]:
    """The artifacts config.json lists, each checked by name, size and SHA-256 (names are never
    paths: a name that is not an artifact name is refused before any file is opened)."""
    found = {}
    for name, entry in listed.items():
        if not isinstance(name, str) or not ARTIFACT_NAME.match(name) or not isinstance(entry, dict):
            raise GanforgeError(f"'{path}' lists a bad artifact {name!r} in {CONFIG_JSON}")
        file = path / ARTIFACTS_DIR / name
        try:
            if file.stat().st_size > MAX_ARTIFACT_BYTES:
                raise GanforgeError(f"artifact '{name}' of '{path}' is larger than {MAX_ARTIFACT_BYTES} bytes")
            data = file.read_bytes()
        except OSError as err:
            raise GanforgeError(f"'{path}' lists artifact '{name}' but it cannot be read ({err.strerror})") from None
        if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            raise GanforgeError(f"artifact '{name}' of '{path}' does not match the digest in {CONFIG_JSON}: "
                                "the folder was changed after export; export it again")
        found[name] = data
    return found


def pipeline_kind(info: dict[str, Any]) -> str:
    """The pipeline kind config.json names (older exports name a format instead)."""
    if "pipeline" in info:
        return str(info["pipeline"])
    return LEGACY_FORMATS.get(str(info.get("format")), "generation")


def load(name_or_path: str | Path) -> Pipeline:
    """Load a bundled model by name, an exported model folder, or a run folder."""
    path = Path(name_or_path)
    if path.is_dir():
        if (path / CONFIG_JSON).is_file():
            info = _read_json(path / CONFIG_JSON)
            return PIPELINES.get(pipeline_kind(info)).from_pretrained(path)
        if (path / "config.yaml").is_file():
            try:
                raw = load_yaml((path / "config.yaml").read_text()) or {}
            except (OSError, yaml.YAMLError) as err:
                raise GanforgeError(f"'{path}' is not a run folder (config.yaml: {err})") from None
            task = TASKS.get(raw.get("task", "noise-to-image") if isinstance(raw, dict) else "noise-to-image")
            return PIPELINES.get(task.pipeline).from_run(path)
        raise GanforgeError(f"'{path}' is neither an exported model (config.json) nor a run folder (config.yaml)")
    name = str(name_or_path)
    known = bundled_models()
    if name in known:
        return load(PRETRAINED_DIR / name)
    raise GanforgeError(
        f"no model '{name}'{did_you_mean(name, known)}: give a bundled name ({', '.join(known) or 'none installed'}), "
        "an exported model folder or a run folder"
    )
