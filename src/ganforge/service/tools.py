"""Tools as jobs: what a front end that queues work (the studio) can run, from one registry.

A :class:`ServiceTool` says which models it runs, the parameters it takes (a pydantic model, so
a front end gets a JSON schema and validation for free), how a request splits into items (one
per input image, one per seed) and how one item is made. ``TOOLS`` holds them; generation tools
are registered here and every photo tool of ``enhance.TOOLS`` gets one automatically, so a new
photo tool or bundled model appears in the studio without touching it.

Results are :class:`~ganforge.data.photoio.Photo` objects whose PNG text carries the tool, the
model, the parameters and the seed (:func:`result_text`), so a result can be reproduced.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, ClassVar, Literal

import numpy as np
from pydantic import Field, ValidationError, create_model

from ..errors import GanforgeError
from ..registry import Registry
from ..schema import StrictModel

ItemProgress = Callable[[int, int], None] | None  # (done, total) units of work within one item
MAX_SEED = 2**31 - 1
TEXT_PREFIX = "ganforge:"


@dataclass(frozen=True)
class Item:
    """One unit of a job: an input image (``input``) or a seed (``seed``); ``label`` names it."""

    label: str
    input: int | None = None  # index into the job's input files
    seed: int | None = None


@dataclass(frozen=True)
class ModelInfo:
    """What a tool needs to know about a bundled model to list it and check parameters."""

    name: str
    kind: str  # pipeline kind: "generation", "enhance", ...
    summary: str
    details: dict[str, Any]  # the pipeline's describe() (classes, scale, tool, ...)


class ServiceTool:
    """Base of every job tool. Class attributes:

    name: registry key (the API's ``tool``). title / summary: shown on the page.
    takes_images: items are input images (True) or seeds (False).
    Params: the parameters (a StrictModel; its JSON schema is the API's contract).
    """

    name: ClassVar[str]
    title: ClassVar[str]
    summary: ClassVar[str]
    takes_images: ClassVar[bool] = False
    Params: ClassVar[type[StrictModel]]

    def accepts(self, model: ModelInfo) -> bool:
        raise NotImplementedError

    def models(self) -> list[str]:
        return [m.name for m in bundled_infos() if self.accepts(m)]

    def parse(self, params: dict[str, Any] | None) -> StrictModel:
        """Validated parameters; a ``ParamsError`` naming the field otherwise."""
        try:
            return self.Params.model_validate(params or {})
        except ValidationError as err:
            raise ParamsError.from_validation(err) from None

    def check(self, model: ModelInfo, params: StrictModel) -> None:
        """Refuse parameters this model cannot take (an unknown class), before the job is queued."""

    def plan(self, params: StrictModel, n_inputs: int) -> list[Item]:
        """The job's items."""
        if self.takes_images:
            if n_inputs == 0:
                raise ParamsError("inputs", f"{self.name} needs at least one input image")
            return [Item(label=f"image {i + 1}", input=i) for i in range(n_inputs)]
        if n_inputs:
            raise ParamsError("inputs", f"{self.name} takes no input images")
        return [Item(label=f"seed {s}", seed=s) for s in getattr(params, "seeds", [0])]

    def run_item(self, pipe: Any, params: StrictModel, item: Item, source: Path | None,
                 progress: ItemProgress = None):
        """One item's result as a Photo (PNG text added by :func:`run_item`)."""
        raise NotImplementedError


class ParamsError(GanforgeError):
    """Parameters that do not fit a tool; ``field`` names the offending one (``params.seeds``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    @classmethod
    def from_validation(cls, err: ValidationError) -> "ParamsError":
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "params"
        return cls(f"params.{where}", first["msg"])


TOOLS: Registry[ServiceTool] = Registry("tool")


def register_tool(cls: type[ServiceTool]) -> type[ServiceTool]:
    TOOLS.register(cls.name, cls())
    return cls


@functools.lru_cache(maxsize=None)
def _bundled() -> tuple[ModelInfo, ...]:
    from ..pipelines import bundled_models, load

    infos = []
    for name in bundled_models():
        pipe = load(name)
        details = pipe.describe()
        summary = details.get("does") or _generation_summary(details)
        infos.append(ModelInfo(name=name, kind=pipe.pipeline_kind, summary=summary,
                               details={k: v for k, v in details.items() if k not in ("source", "training")}))
    return tuple(infos)


def bundled_infos() -> tuple[ModelInfo, ...]:
    """Every bundled model's :class:`ModelInfo` (loaded once per process)."""
    return _bundled()


def model_info(name: str) -> ModelInfo:
    for info in bundled_infos():
        if info.name == name:
            return info
    from ..errors import did_you_mean

    known = [m.name for m in bundled_infos()]
    raise ParamsError("model", f"no bundled model '{name}'{did_you_mean(name, known)}")


def _generation_summary(d: dict[str, Any]) -> str:
    shape = d.get("output_shape") or []
    size = f"{shape[-1]}x{shape[-2]} " if len(shape) == 3 else ""
    cond = f", {len(d['classes'])} classes" if d.get("classes") else ""
    return f"{d.get('family', '?')} generator of {size}{d.get('data', '?')} images{cond}"


def result_text(tool: str, model: str, params: StrictModel, seed: int | None) -> dict[str, str]:
    """The PNG text chunks of a result: enough to make it again."""
    from .. import __version__

    text = {f"{TEXT_PREFIX}tool": tool, f"{TEXT_PREFIX}model": model,
            f"{TEXT_PREFIX}parameters": json.dumps(params.model_dump(mode="json"), sort_keys=True),
            f"{TEXT_PREFIX}version": __version__}
    if seed is not None:
        text[f"{TEXT_PREFIX}seed"] = str(seed)
    return text


def run_item(tool: ServiceTool, model: str, pipe: Any, params: StrictModel, item: Item, source: Path | None,
             progress: ItemProgress = None):
    """``tool.run_item`` with the reproduction text added to the result's PNG text."""
    photo = tool.run_item(pipe, params, item, source, progress)
    photo.info = {**photo.info, "text": {**photo.info.get("text", {}), **result_text(tool.name, model, params, item.seed)}}
    return photo


def _photo(pixels: np.ndarray):
    from ..data.photoio import Photo

    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    return Photo(pixels=np.ascontiguousarray(pixels), grey=pixels.ndim == 2)


# Generation tools -----------------------------------------------------------------------------

Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]


class _GenerationTool(ServiceTool):
    one_class: ClassVar[bool] = False  # draws one class at a time (a walk, a mixing figure): never all or a list

    def accepts(self, model: ModelInfo) -> bool:
        return model.kind == "generation" and model.details.get("kind") == "image"

    def one_item(self, n_inputs: int, label: str, seed: int) -> list[Item]:
        """The plan of a tool that makes one picture from several seeds (a walk, a mixing figure)."""
        if n_inputs:
            raise ParamsError("inputs", f"{self.name} takes no input images")
        return [Item(label=label, seed=seed)]

    def check(self, model: ModelInfo, params: StrictModel) -> None:
        """The model's conditioning (from ``describe()``) parses ``classes`` by the one rule of
        ``ganforge.conditioning``; a walk or a mixing figure takes exactly one class."""
        from ..conditioning import ALL, Conditioning

        cond = Conditioning.from_json(model.details.get("conditioning"))
        chosen = getattr(params, "classes", None)
        if not cond.conditional:
            if chosen is not None and (self.one_class or chosen.strip().lower() != ALL):
                raise ParamsError("params.classes", f"{model.name} is not class-conditional; leave classes empty")
            return
        try:
            parsed = cond.parse(chosen)
            count = getattr(params, "count", None)
            if count is not None:
                cond.encode(count, chosen)  # one class, or exactly one per image
        except GanforgeError as err:
            raise ParamsError("params.classes", str(err)) from None
        if self.one_class and (parsed == ALL or len(parsed) != 1):
            known = "; ".join(", ".join(t.values) for t in cond.traits)
            raise ParamsError("params.classes", f"{model.name} is class-conditional: {self.name} needs one class; "
                                                f"{model.name} knows: {known}")


class GenerateParams(StrictModel):
    seeds: list[Seed] = Field(default=[0], min_length=1, max_length=64,
                             description="one result per seed: a grid of `count` images")
    count: int = Field(default=16, ge=1, le=100, description="images per seed")
    classes: str | None = Field(default=None, description="'all' (a row per class), a class name or index, or a "
                                                          "comma-separated list; empty: all classes of a conditional model")
    truncation: float = Field(default=1.0, ge=0.0, le=1.0, description="psi: below 1 trades variety for typical images")


@register_tool
class Generate(_GenerationTool):
    name = "generate"
    title = "Generate"
    summary = "new images from a generator, by class and seed"
    Params = GenerateParams

    def plan(self, params: StrictModel, n_inputs: int) -> list[Item]:
        if len(set(params.seeds)) != len(params.seeds):
            raise ParamsError("params.seeds", "give each seed once")
        return super().plan(params, n_inputs)

    def run_item(self, pipe, params, item, source, progress=None):
        from ..images import make_grid, to_uint8
        from .models import grid_columns

        raw, labels = pipe.generate_tensor(params.count, params.classes, seed=item.seed, truncation=params.truncation)
        images = to_uint8(raw)
        if progress:
            progress(1, 1)
        return _photo(make_grid(images, grid_columns(params.count, labels)))


class InterpolateParams(StrictModel):
    seeds: list[Seed] = Field(default=[0, 1], min_length=2, max_length=16, description="keyframe seeds, at least two")
    steps: int = Field(default=8, ge=0, le=30, description="frames between two keyframes")
    method: Literal["lerp", "slerp"] | None = Field(default=None, description="empty: the model's default")
    classes: str | None = Field(default=None, description="a class name or index for conditional models")
    truncation: float = Field(default=1.0, ge=0.0, le=1.0)


@register_tool
class Interpolate(_GenerationTool):
    name = "interpolate"
    title = "Latent walk"
    summary = "a smooth walk from seed to seed through the latent space, one row per pair of keyframes"
    Params = InterpolateParams
    one_class = True

    def plan(self, params, n_inputs):
        return self.one_item(n_inputs, "walk " + ",".join(map(str, params.seeds)), params.seeds[0])

    def run_item(self, pipe, params, item, source, progress=None):
        from ..latent import interpolate
        from .latent import walk_grid

        frames = interpolate(pipe, seeds=params.seeds, steps=params.steps, method=params.method,
                             classes=params.classes, psi=params.truncation)
        return _photo(walk_grid(frames, len(params.seeds), params.steps))


class MixParams(StrictModel):
    rows: list[Seed] = Field(default=[1, 2, 3], min_length=1, max_length=8, description="seeds of the destination images")
    cols: list[Seed] = Field(default=[4, 5, 6], min_length=1, max_length=8,
                            description="seeds whose styles replace the rows' at `layers`")
    layers: str | None = Field(default=None, pattern=r"^\d+(-\d+)?$",
                               description="style layers taken from the columns, 0-3 or 5; empty: coarse layers")
    classes: str | None = Field(default=None, description="a class name or index for conditional models")
    truncation: float = Field(default=1.0, ge=0.0, le=1.0)


@register_tool
class Mix(_GenerationTool):
    name = "mix"
    title = "Style mixing"
    summary = "StyleGAN's mixing figure: the rows' images with the columns' styles at chosen layers"
    Params = MixParams
    one_class = True

    def accepts(self, model: ModelInfo) -> bool:
        return super().accepts(model) and model.details.get("style_layers", 0) > 0  # the pipeline says it can mix

    def plan(self, params, n_inputs):
        return self.one_item(n_inputs, f"{len(params.rows)} x {len(params.cols)} mix", params.rows[0])

    def run_item(self, pipe, params, item, source, progress=None):
        from ..latent import style_mix

        layers = None
        if params.layers:
            lo, _, hi = params.layers.partition("-")
            layers = range(int(lo), int(hi or lo) + 1)
        return _photo(style_mix(pipe, row_seeds=params.rows, col_seeds=params.cols, layers=layers,
                                classes=params.classes, psi=params.truncation))


# Photo tools: one job tool per enhance tool ---------------------------------------------------

_ENHANCE_FIELDS: dict[str, tuple[Any, Any]] = {
    "tile": (int | None, Field(default=512, ge=16, le=4096, description="tile side in input pixels (memory is bounded "
                                                                         "by the tile); empty: the whole photo at once")),
    "overlap": (int | None, Field(default=None, ge=0, le=512, description="pixels shared by neighbouring tiles; "
                                                                          "empty: the network's receptive radius")),
    "precision": (Literal["auto", "fp32", "bf16"], Field(default="auto", description="auto: bf16 where the CPU has "
                                                                                    "AMX or on CUDA, else fp32")),
    "noise_level": (float | None, Field(default=None, ge=0, le=255, description="the noise's sigma on 0..255 if "
                                                                                 "known; empty: blind")),
    "scale": (int | None, Field(default=None, ge=1, le=8, description="output scale; empty: the model's own")),
}


class _PhotoTool(ServiceTool):
    takes_images = True
    enhance_tool: str

    def accepts(self, model: ModelInfo) -> bool:
        return model.kind == "enhance" and model.details.get("tool") == self.enhance_tool

    def check(self, model: ModelInfo, params: StrictModel) -> None:
        scale = getattr(params, "scale", None)
        if scale is not None:
            from ..enhance import TOOLS as ENHANCE
            from ..enhance import InferenceOptions

            try:
                ENHANCE.get(self.enhance_tool).output_scale(int(model.details["scale"]), InferenceOptions(scale=scale))
            except GanforgeError as err:
                raise ParamsError("params.scale", str(err)) from None

    def run_item(self, pipe, params, item, source, progress=None):
        from ..data.photoio import read_photo
        from ..enhance import InferenceOptions

        pipe.set_precision(params.precision)
        options = InferenceOptions(tile=params.tile, overlap=params.overlap,
                                   noise_level=getattr(params, "noise_level", None), scale=getattr(params, "scale", None))
        result = pipe.enhance(read_photo(source), options, progress=progress)
        result.info = {k: v for k, v in result.info.items() if k != "text"}  # the input's text is not the result's
        return result


def _register_photo_tools() -> None:
    from ..enhance import TOOLS as ENHANCE

    for name in ENHANCE.names():
        tool = ENHANCE.get(name)
        fields = {k: _ENHANCE_FIELDS[k] for k in ("tile", "overlap", "precision", *tool.options)}
        params = create_model(f"{name.title()}Params", __base__=StrictModel, **fields)
        cls = type(name.title(), (_PhotoTool,), {"name": name, "title": name.title(), "summary": tool.summary.format(scale=" or ".join(map(str, tool.scales))),
                                                 "Params": params, "enhance_tool": name, "__module__": __name__})
        register_tool(cls)


_register_photo_tools()


# Style transfer: the style models (pipelines/style.py) -------------------------------------------

class StyleParams(StrictModel):
    strength: float = Field(default=1.0, ge=0, le=1, description="0 is the photo, 1 the full style; in between, "
                                                                 "colour and tone blend and local contrast is kept")
    tile: int | None = _ENHANCE_FIELDS["tile"][1]
    overlap: int | None = _ENHANCE_FIELDS["overlap"][1]
    precision: Literal["auto", "fp32", "bf16"] = _ENHANCE_FIELDS["precision"][1]


@register_tool
class Style(ServiceTool):
    name = "style"
    title = "Style"
    summary = "photos into art in a bundled style (painting, cartoon, woodblock), at any size"
    takes_images = True
    Params = StyleParams

    def accepts(self, model: ModelInfo) -> bool:
        return model.kind == "style"

    def run_item(self, pipe, params, item, source, progress=None):
        from ..data.photoio import read_photo
        from ..pipelines.style import StyleOptions

        pipe.set_precision(params.precision)
        options = StyleOptions(strength=params.strength, tile=params.tile, overlap=params.overlap)
        result = pipe.stylize(read_photo(source), options, progress=progress)
        result.info = {k: v for k, v in result.info.items() if k != "text"}  # the input's text is not the result's
        return result
