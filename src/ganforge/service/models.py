"""Using trained models: generate, apply (image -> image), export and describe."""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GanforgeError
from ..fileio import atomic_write_bytes, atomic_write_text
from .progress import Progress, report

GENERATE_SUFFIXES = ("", ".png", ".npz")
TRAITS_JSON = "traits.json"  # in a --out folder of a model with named traits: file name -> {trait: value}


@dataclass
class GenerateResult:
    out: Path
    count: int
    kind: str  # "image" | "vector"


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def grid_columns(n: int, labels) -> int:
    """One row per class when ``labels`` (N,) are whole class blocks, else a square-ish grid
    (always for labels (N, T) of several traits)."""
    if labels is not None and n and labels.dim() == 1:
        per_class = int(np.bincount(labels.numpy()).max())
        if per_class * len(np.unique(labels.numpy())) == n and per_class > 1:
            return per_class
    return max(1, math.ceil(math.sqrt(n)))


def load_model(model: str | Path, device: str = "cpu", kind: str | None = None):
    """``pipelines.load`` for the service: optionally on CUDA, and refusing a model of another
    pipeline kind (``"generation"``, ``"image-to-image"``) with one line naming both."""
    from ..pipelines import load

    pipe = load(model)
    if kind is not None and pipe.pipeline_kind != kind:
        article = "an" if pipe.pipeline_kind[0] in "aeiou" else "a"
        raise GanforgeError(f"'{model}' is {article} {pipe.pipeline_kind} model; this needs a model of kind {kind}")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise GanforgeError("device cuda was asked for but no CUDA device is available; use cpu")
        pipe.to("cuda")
    return pipe


def list_traits(model: str | Path) -> list[str]:
    """``name: value, value, ...`` for each trait of a generation model (``--list-traits``);
    a one-class model lists its ``class`` trait, an unconditional one nothing."""
    return load_model(model, kind="generation").conditioning.listing()


UPSCALES = (1, 2, 4)  # --upscale: 1 (none), or the bundled photo-upscale-x2 / -x4 on each image


def check_upscale(factor: int) -> None:
    """Refuse an ``--upscale`` factor no bundled upscaler gives, in one line."""
    if factor not in UPSCALES:
        raise GanforgeError(f"--upscale {factor}: use one of {', '.join(map(str, UPSCALES))} "
                            "(the bundled photo-upscale-x2 and photo-upscale-x4; 1: none)")


def upscale_images(images: np.ndarray, factor: int, *, pipe: Any = None, device: str = "cpu",
                   progress: Progress = None) -> np.ndarray:
    """uint8 images (N, H, W, C) through the bundled ``photo-upscale-x{factor}`` (or ``pipe``, that
    model already loaded) one by one -> (N, H*f, W*f, C); factor 1 returns them as they are. Grey
    images stay grey."""
    check_upscale(factor)
    if factor == 1:
        return images
    from ..pipelines.image import as_photo

    pipe = pipe or load_model(f"photo-upscale-x{factor}", device, "enhance")
    options = pipe.options(tile=None)  # generated images are small: one piece, no seams
    out = []
    for i, img in enumerate(images):
        pixels = pipe.process(as_photo(np.ascontiguousarray(img)), options).pixels
        out.append(pixels[:, :, None] if pixels.ndim == 2 else pixels)
        report(progress, "upscale", i + 1, len(images), "img")
    return np.stack(out)


def generate(model: str | Path, *, n: int, out: Path, seed: int = 0, classes: str | None = None,
             traits=None, truncation: float = 1.0, upscale: int = 1, device: str = "cpu",
             progress: Progress = None) -> GenerateResult:
    """``n`` samples of a generation model into ``out``: FILE.png (one grid, a row per class; a
    scatter plot for 2D models), FILE.npz (arrays) or a folder (one PNG per image).

    ``classes`` follows ``ganforge.conditioning``'s rule: None or "all" (every class, in blocks),
    a name (any case) or index, or a comma list of one per image. ``traits`` (a model with named
    traits): ``{"name": value}`` or ``["name=value", ...]``, the traits left out drawn per image
    from ``seed`` (``GeneratorPipeline.labels_for``). For such a model, FILE.npz also holds
    ``trait_names`` (T,) and ``trait_values`` (N, T) beside the indices ``labels`` (N, T), and a
    folder gets ``traits.json`` (file name -> {trait: value}). ``upscale`` 2 or 4 runs the bundled
    photo upscaler on each image (64 px -> 256 px). A bad choice raises before anything is written."""
    from ..images import make_grid, save_png, scatter_png, to_uint8

    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in GENERATE_SUFFIXES:
        raise GanforgeError(f"--out '{out}': use FILE.png, FILE.npz or a folder name (no extension)")
    check_upscale(upscale)  # before any work
    pipe = load_model(model, device, "generation")
    if upscale != 1 and pipe.kind == "vector":
        raise GanforgeError("--upscale is for image models; this model makes 2D points")
    report(progress, "generate", 0, n, "img")
    raw, labels = pipe.generate_tensor(n, classes, seed=seed, truncation=truncation, traits=traits)
    named = bool(pipe.config.model.traits)  # named traits: say them in the files (one-class models as before)
    out.parent.mkdir(parents=True, exist_ok=True)
    if pipe.kind == "vector":
        points = raw.numpy().astype(np.float32)
        if suffix == ".npz":
            _save_npz(out, samples=points)
        elif suffix == ".png":
            save_png(scatter_png(points), out)
        else:
            raise GanforgeError("2D models write FILE.png (scatter plot) or FILE.npz")
        return GenerateResult(out, n, "vector")
    images = upscale_images(to_uint8(raw), upscale, device=device, progress=progress)
    if suffix == ".npz":
        arrays = {"images": images}
        if labels is not None:
            arrays["labels"] = labels.numpy().astype(np.int64)
        if named and labels is not None:
            cond = pipe.conditioning
            arrays["labels"] = labels.reshape(n, len(cond)).numpy().astype(np.int64)
            arrays["trait_names"] = np.array(cond.names)
            arrays["trait_values"] = np.array([[row[t] for t in cond.names] for row in pipe.traits_of(labels)],
                                              dtype=str).reshape(n, len(cond))
        _save_npz(out, **arrays)
    elif suffix == ".png":
        grid = make_grid(images, grid_columns(n, labels))
        save_png(grid, out, upscale=max(1, 512 // max(grid.shape[:2])))
    else:
        out.mkdir(parents=True, exist_ok=True)
        tags = [] if labels is None or named else pipe.conditioning.decode(labels)
        names = [f"seed{seed}-{i:06d}{'-' + tags[i].replace('/', '-') if tags else ''}.png" for i in range(n)]
        for name, img in zip(names, images):
            save_png(img, out / name)
        if named:
            atomic_write_text(out / TRAITS_JSON, json.dumps(dict(zip(names, pipe.traits_of(labels))), indent=2) + "\n")
    report(progress, "generate", n, n, "img")
    return GenerateResult(out, n, "image")


def export(run_dir: Path, out_dir: Path) -> Path:
    """The latest exported network of a run folder (its EMA generator) as a model folder."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise GanforgeError(f"'{run_dir}' is not a run folder (no config.yaml)")
    return load_model(run_dir).save_pretrained(out_dir)


def model_name(model: str | Path) -> str:
    """A model's name for files and metadata: a bundled name, or its folder's name."""
    return Path(str(model)).name or str(model)


def export_onnx(model: str | Path, out: Path, *, progress: Progress = None):
    """MODEL's network as an ONNX file ``out`` (dynamic batch, height and width, opset 17,
    metadata), written only after onnxruntime matched torch on two input sizes (within
    ``pipelines.onnx.PARITY_TOL``); returns a ``pipelines.onnx.OnnxExport`` with the differences."""
    from ..pipelines.onnx import export_onnx as export

    pipe = load_model(model)
    report(progress, "export-onnx", 0, 1, "model")
    result = export(pipe, out, name=model_name(model))
    report(progress, "export-onnx", 1, 1, "model")
    return result


def describe(model: str | Path) -> dict[str, Any]:
    """What a model is: pipeline kind, task, family, size, data, training and metrics."""
    return load_model(model).describe()


@dataclass
class ApplyResult:
    written: list[Path] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (input, reason)
    skipped: list[Path] = field(default_factory=list)  # outputs that existed (skip_existing)
    megapixels: float = 0.0  # input megapixels processed


def _inputs(paths: list[Path]) -> list[tuple[Path, Path]]:
    """(file, path relative to its input root) for files and folders (recursive, image extensions)."""
    from ..data.folder import IMAGE_EXTENSIONS

    found = []
    for root in paths:
        root = Path(root)
        if root.is_dir():
            for f in sorted(root.rglob("*")):
                if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS and not any(
                        p.startswith(".") for p in f.relative_to(root).parts):
                    found.append((f, f.relative_to(root)))
        elif root.is_file():
            found.append((root, Path(root.name)))
        else:
            raise GanforgeError(f"input '{root}' does not exist")
    if not found:
        raise GanforgeError(f"no images found in {', '.join(map(str, paths))} (accepted: "
                            f"{', '.join(sorted(IMAGE_EXTENSIONS))})")
    return found


def output_path(out: Path, rel: Path, single: bool, fmt: str | None) -> Path:
    """Where one input's result goes: ``out`` itself for a single file, else ``out/rel`` with the
    extension ``fmt`` (or the input's own, PNG for formats that cannot be written)."""
    from ..data.photoio import OUTPUT_FORMATS

    if single:
        return out
    suffix = f".{fmt.lower().lstrip('.')}" if fmt else rel.suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        suffix = ".png"
    return (out / rel).with_suffix(suffix)


def apply(model: str | Path, inputs: list[Path], *, out: Path, device: str = "cpu", fmt: str | None = None,
          skip_existing: bool = False, runtime: str = "torch", onnx: Path | None = None, progress: Progress = None,
          **options: Any) -> ApplyResult:
    """Run an image model (photo, style or image-to-image: any ``pipelines.ImagePipeline``) on
    files and folders.

    ``options`` are the model's own (``ganforge.load(model).options_model``): photo models take
    ``tile``, ``overlap``, ``precision`` and their tool's (``noise_level`` for denoise, ``scale``
    for restore); style models add ``strength`` and ``thumbnail``; image-to-image models take
    none. They are checked once, before any file is read: an option the model does not take is a
    ``pipelines.image.OptionError`` naming it and listing the accepted ones.
    ``out`` is a file (its extension picks the format) for a single input file, else a folder
    mirroring the inputs' relative paths (each keeps its extension unless ``fmt`` is given).
    Alpha, greyscale, EXIF and ICC are kept (``data/photoio.py``). A bad file is recorded in
    ``failed`` and skipped; outputs are written atomically; with ``skip_existing`` an output that
    exists is left alone (resuming a batch). ``runtime`` ``"onnx"`` runs the network through
    onnxruntime inside the same tiled inference: the ONNX file ``onnx`` (from ``export_onnx``), or
    the model's export in the cache (``pipelines.onnx.cache_dir``), made and parity-checked on first use.
    Progress events: stage "apply" after each image (unit "image", info ``{"megapixels", "file"}``)
    and stage "tiles" within a photo (unit "tile", info ``{"file"}``), for large photos.
    """
    from ..data.imageio import BadImageError
    from ..data.photoio import output_format, read_photo, write_photo
    from ..pipelines import ImagePipeline

    out = Path(out)
    files = _inputs(list(inputs))
    single = len(files) == 1 and Path(inputs[0]).is_file() and out.suffix != ""
    if fmt is not None:
        output_format(Path(f"x.{fmt.lower().lstrip('.')}"))  # an unknown format fails before any work
    if single:
        output_format(out)
    pipe = load_model(model, device)
    if not isinstance(pipe, ImagePipeline):
        raise GanforgeError(f"'{model}' is a {pipe.pipeline_kind} model; apply needs a photo (enhance), style or "
                            "image-to-image model (use ganforge generate for generation models)")
    opts = pipe.options(**options)
    pipe.use_runtime(runtime, onnx, name=model_name(model), precision=getattr(opts, "precision", None))
    result = ApplyResult()
    report(progress, "apply", 0, len(files), "image", {"megapixels": 0.0, "file": ""})
    claimed: dict[Path, Path] = {}  # output -> the input it belongs to (a.png and a.bmp both give a.png)
    for i, (src, rel) in enumerate(files):
        target = output_path(out, rel, single, fmt)
        if target in claimed:
            result.failed.append((str(src), f"its output {target} is already the result of {claimed[target]}; "
                                            "rename one of them or use --format"))
            report(progress, "apply", i + 1, len(files), "image", {"megapixels": result.megapixels, "file": str(src)})
            continue
        claimed[target] = src
        if skip_existing and target.exists():
            result.skipped.append(target)
        else:
            try:
                photo = read_photo(src)
                output_format(target, pipe.output_size(photo.size, opts))
                produced = pipe.process(photo, opts, progress=lambda done, total, f=str(src): report(
                    progress, "tiles", done, total, "tile", {"file": f}))
                target.parent.mkdir(parents=True, exist_ok=True)
                write_photo(target, produced)
                result.written.append(target)
                result.megapixels += photo.size[0] * photo.size[1] / 1e6
            except BadImageError as err:
                result.failed.append((str(src), err.reason))
            except GanforgeError as err:
                result.failed.append((str(src), str(err)))
        report(progress, "apply", i + 1, len(files), "image", {"megapixels": result.megapixels, "file": str(src)})
    return result
