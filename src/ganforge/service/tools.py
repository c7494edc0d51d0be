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
import threading
from dataclasses import dataclass, field
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
_LOAD_LOCK = threading.Lock()  # one load of a model at a time, so two threads never load it twice


@dataclass(frozen=True)
class InputSpec:
    """A named input of a tool: ``media`` is a kind of ``service.media.MEDIA`` (``image``,
    ``table``) whose checks an upload passes before it is stored. ``many``: the job takes several
    uploads for it and makes one item per upload (a batch); otherwise exactly one upload, shared
    by every item (a background behind every subject)."""

    name: str
    media: str
    title: str
    many: bool = False
    description: str = ""


@dataclass(frozen=True)
class Result:
    """One item's result: bytes with a media type and the file suffix a download gets."""

    data: bytes
    media_type: str
    suffix: str


@dataclass(frozen=True)
class Item:
    """One unit of a job: an upload of the tool's ``many`` input, or a seed; ``label`` names it.
    ``inputs`` maps input names to an index into that input's uploads."""

    label: str
    inputs: dict[str, int] = field(default_factory=dict)
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
    inputs: the named inputs it takes (:class:`InputSpec`); none for tools that make things from seeds.
    Params: the parameters (a StrictModel; its JSON schema is the API's contract).
    methods: models the tool brings itself, for a tool that runs no network (compositing): listed
    with its bundled models, and its items get ``pipe=None`` (:meth:`pipeline`).

    A tool makes an output (:meth:`run_item`) and encodes it (:meth:`encode`): a PNG with the
    recipe in its text chunks by default; a tool whose results are not images overrides both.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    summary: ClassVar[str]
    inputs: ClassVar[tuple[InputSpec, ...]] = ()
    Params: ClassVar[type[StrictModel]]
    methods: ClassVar[tuple[ModelInfo, ...]] = ()

    @property
    def takes_images(self) -> bool:
        """Whether the job's items are uploads (one per file of the ``many`` input) rather than seeds."""
        return any(spec.many for spec in self.inputs)

    def accepts(self, model: ModelInfo) -> bool:
        raise NotImplementedError

    def model_infos(self) -> list[ModelInfo]:
        """What the tool runs: its own methods, then the bundled models it accepts."""
        return [*self.methods, *(m for m in bundled_infos() if self.accepts(m))]

    def models(self) -> list[str]:
        return [m.name for m in self.model_infos()]

    def model_info(self, name: str) -> ModelInfo:
        """One of the tool's methods, or a bundled model (a ``ParamsError`` on ``model`` when unknown)."""
        return next((m for m in self.methods if m.name == name), None) or model_info(name)

    def pipeline(self, model: str) -> Any:
        """What :meth:`run_item` gets as ``pipe``: the bundled model, loaded once per process; None
        for one of the tool's own methods (no network)."""
        return None if any(m.name == model for m in self.methods) else loaded(model)

    def parse(self, params: dict[str, Any] | None) -> StrictModel:
        """Validated parameters; a ``ParamsError`` naming the field otherwise."""
        try:
            return self.Params.model_validate(params or {})
        except ValidationError as err:
            raise ParamsError.from_validation(err) from None

    def check(self, model: ModelInfo, params: StrictModel) -> None:
        """Refuse parameters this model cannot take (an unknown class), before the job is queued."""

    def check_inputs(self, counts: dict[str, int]) -> None:
        """Refuse uploads that do not fit the declared inputs: unknown names, a missing input,
        several uploads for an input that takes one."""
        known = {spec.name: spec for spec in self.inputs}
        for name, n in counts.items():
            if name not in known:
                accepted = ", ".join(known) if known else "none"
                raise ParamsError(f"inputs.{name}", f"{self.name} takes no input '{name}' (its inputs: {accepted})")
            if n > 1 and not known[name].many:
                raise ParamsError(f"inputs.{name}", f"{self.name} takes one upload as '{name}', got {n}")
        for spec in self.inputs:
            if not counts.get(spec.name):
                what = "at least one input image" if spec.media == "image" and spec.many else f"an upload as '{spec.name}'"
                raise ParamsError("inputs", f"{self.name} needs {what}")

    def plan(self, params: StrictModel, counts: dict[str, int]) -> list[Item]:
        """The job's items: one per upload of the ``many`` input, else one per seed."""
        self.check_inputs({k: v for k, v in counts.items() if v})
        singles = {spec.name: 0 for spec in self.inputs if not spec.many}
        batch = next((spec for spec in self.inputs if spec.many), None)
        if batch is not None:
            return [Item(label=f"image {i + 1}", inputs={batch.name: i, **singles}) for i in range(counts[batch.name])]
        return [Item(label=f"seed {s}", inputs=singles, seed=s) for s in getattr(params, "seeds", [0])]

    def output_size(self, model: str, params: StrictModel, size: tuple[int, int]) -> tuple[int, int] | None:
        """(width, height) of the result an input image of ``size`` gives, before any work (None:
        the tool's results do not grow with its inputs)."""
        return None

    def memory(self, model: str, params: StrictModel, sizes: dict[str, tuple[int, int]]) -> int | None:
        """Peak bytes one item needs, estimated before any work from the (width, height) of its
        uploads by input name (None: the tool's items do not grow with their inputs; their size
        is bounded by the parameters' schema)."""
        return None

    def images(self, params: StrictModel) -> int:
        """How many images one item makes (every picture of a grid counts): what the daily image
        quota counts, known before the job is queued."""
        return 1

    def run_item(self, pipe: Any, params: StrictModel, item: Item, sources: dict[str, Path],
                 progress: ItemProgress = None) -> Any:
        """One item's output (a Photo for image tools); ``sources`` maps input names to files."""
        raise NotImplementedError

    def encode(self, output: Any, recipe: dict[str, str]) -> Result:
        """The output as a result: a PNG whose text chunks are ``recipe`` (the input's own text is
        not the result's)."""
        from ..data.photoio import encode_photo

        output.info = {**{k: v for k, v in output.info.items() if k != "text"}, "text": recipe}
        return Result(encode_photo(output, "PNG"), "image/png", ".png")


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
def _load(name: str) -> Any:
    from ..pipelines import load

    return load(name)


def loaded(name: str) -> Any:
    """The bundled model ``name``'s pipeline, loaded once per process and shared by every thread:
    pipelines keep no per-call state (options and precision are arguments of ``process``), so a
    job's items never copy a network."""
    with _LOAD_LOCK:
        return _load(name)


@functools.lru_cache(maxsize=None)
def _bundled() -> tuple[ModelInfo, ...]:
    from ..pipelines import bundled_models

    infos = []
    for name in bundled_models():
        pipe = loaded(name)
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


def run_item(tool: ServiceTool, model: str, pipe: Any, params: StrictModel, item: Item, sources: dict[str, Path],
             progress: ItemProgress = None) -> Result:
    """One item through ``tool``, encoded with the recipe that makes it again (:func:`result_text`)."""
    output = tool.run_item(pipe, params, item, sources, progress)
    return tool.encode(output, result_text(tool.name, model, params, item.seed))


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
        # A walk or a mixing figure holds one class; for a model of named traits that would be a
        # value for every trait, which the page has no form for yet: such models generate only
        # (the CLI's interpolate and mix take them with every trait named).
        named_traits = bool(model.details.get("traits_schema"))
        return (model.kind == "generation" and model.details.get("kind") == "image"
                and not (self.one_class and named_traits))

    def one_item(self, counts: dict[str, int], label: str, seed: int) -> list[Item]:
        """The plan of a tool that makes one picture from several seeds (a walk, a mixing figure)."""
        self.check_inputs({k: v for k, v in counts.items() if v})
        return [Item(label=label, seed=seed)]

    def check(self, model: ModelInfo, params: StrictModel) -> None:
        """The model's conditioning (from ``describe()``) parses ``classes`` by the one rule of
        ``ganforge.conditioning``; a walk or a mixing figure takes exactly one class."""
        from ..conditioning import ALL, Conditioning

        cond = Conditioning.from_json(model.details.get("conditioning"))
        traits = getattr(params, "traits", None)
        if traits is not None:
            if getattr(params, "classes", None) is not None:
                raise ParamsError("params.traits", "give either classes or traits, not both")
            try:
                cond.choose(traits)
            except GanforgeError as err:
                raise ParamsError("params.traits", str(err)) from None
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
                                                          "comma-separated list; empty: all classes of a conditional model",
                                json_schema_extra={"x-ganforge": {"widget": "model-values", "values": "classes",
                                                                  "all": True, "optional": True}})
    traits: dict[str, str] | None = Field(
        default=None, description="a value for some of the model's traits; the others are drawn at random per image",
        json_schema_extra={"x-ganforge": {"widget": "model-traits", "schema": "traits_schema"}})
    truncation: float = Field(default=1.0, ge=0.0, le=1.0, description="psi: below 1 trades variety for typical images")
    upscale: Literal[1, 2, 4] = Field(default=1, description="run the bundled photo upscaler on each image: "
                                                             "2 or 4 times the model's size; 1: none")


@register_tool
class Generate(_GenerationTool):
    name = "generate"
    title = "Generate"
    summary = "new images from a generator, by class or traits and seed"
    Params = GenerateParams

    def plan(self, params: StrictModel, counts: dict[str, int]) -> list[Item]:
        if len(set(params.seeds)) != len(params.seeds):
            raise ParamsError("params.seeds", "give each seed once")
        return super().plan(params, counts)

    def images(self, params) -> int:
        return params.count  # a grid of `count` images per seed

    def run_item(self, pipe, params, item, sources, progress=None):
        from ..images import make_grid, to_uint8
        from .models import grid_columns, upscale_images

        raw, labels = pipe.generate_tensor(params.count, params.classes, seed=item.seed, truncation=params.truncation,
                                           traits=params.traits)
        images = to_uint8(raw)
        if params.upscale > 1:
            images = upscale_images(images, params.upscale, pipe=loaded(f"photo-upscale-x{params.upscale}"))
        if progress:
            progress(1, 1)
        return _photo(make_grid(images, grid_columns(params.count, labels)))


class InterpolateParams(StrictModel):
    seeds: list[Seed] = Field(default=[0, 1], min_length=2, max_length=16, description="keyframe seeds, at least two")
    steps: int = Field(default=8, ge=0, le=30, description="frames between two keyframes")
    method: Literal["lerp", "slerp"] | None = Field(default=None, description="empty: the model's default")
    classes: str | None = Field(default=None, description="a class name or index for conditional models",
                                json_schema_extra={"x-ganforge": {"widget": "model-values", "values": "classes",
                                                                  "all": False, "optional": False}})
    truncation: float = Field(default=1.0, ge=0.0, le=1.0)


@register_tool
class Interpolate(_GenerationTool):
    name = "interpolate"
    title = "Latent walk"
    summary = "a smooth walk from seed to seed through the latent space, one row per pair of keyframes"
    Params = InterpolateParams
    one_class = True

    def images(self, params) -> int:
        return (len(params.seeds) - 1) * (params.steps + 1) + 1  # the keyframes and the frames between

    def plan(self, params, counts):
        return self.one_item(counts, "walk " + ",".join(map(str, params.seeds)), params.seeds[0])

    def run_item(self, pipe, params, item, sources, progress=None):
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
    classes: str | None = Field(default=None, description="a class name or index for conditional models",
                                json_schema_extra={"x-ganforge": {"widget": "model-values", "values": "classes",
                                                                  "all": False, "optional": False}})
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

    def images(self, params) -> int:
        return len(params.rows) * len(params.cols) + len(params.rows) + len(params.cols)  # cells and both edges

    @staticmethod
    def layer_range(params) -> range | None:
        if not params.layers:
            return None
        lo, _, hi = params.layers.partition("-")
        return range(int(lo), int(hi or lo) + 1)

    def check(self, model: ModelInfo, params: StrictModel) -> None:
        """Besides the class: the layers must exist in this model, in order (``5-1`` is refused)."""
        super().check(model, params)
        layers, n = self.layer_range(params), int(model.details.get("style_layers", 0))
        if layers is None:
            return
        if not layers:
            raise ParamsError("params.layers", f"'{params.layers}' is a reversed range; write the lower layer first "
                                               f"({layers.stop - 1}-{layers.start})")
        if layers.stop > n:
            raise ParamsError("params.layers", f"{model.name} has {n} style layers: choose within 0-{n - 1}, "
                                               f"got {params.layers}")

    def plan(self, params, counts):
        return self.one_item(counts, f"{len(params.rows)} x {len(params.cols)} mix", params.rows[0])

    def run_item(self, pipe, params, item, sources, progress=None):
        from ..latent import style_mix

        return _photo(style_mix(pipe, row_seeds=params.rows, col_seeds=params.cols, layers=self.layer_range(params),
                                classes=params.classes, psi=params.truncation))


# Image tools: photo tools and styles, one contract (pipelines.ImagePipeline) --------------------

IMAGE_INPUT = InputSpec("image", "image", "Photos", many=True, description="one result per photo")


class ImageTool(ServiceTool):
    """A tool over an image pipeline kind: its parameters are the pipeline's options model, and
    an item is ``pipe.process(photo, params)``. Subclasses name the pipeline kind (and, for the
    photo tools, which enhance tool) they accept; nothing here branches on either."""

    inputs = (IMAGE_INPUT,)
    pipeline_kind: ClassVar[str]
    enhance_tool: ClassVar[str | None] = None

    def accepts(self, model: ModelInfo) -> bool:
        return model.kind == self.pipeline_kind and model.details.get("tool") == self.enhance_tool

    def check(self, model: ModelInfo, params: StrictModel) -> None:
        """The model's own rules on the options (restore's scales), before the job is queued."""
        try:
            loaded(model.name).check(params)
        except GanforgeError as err:
            raise ParamsError(f"params.{next(iter(params.model_fields_set), 'options')}", str(err)) from None

    def output_size(self, model, params, size):
        return loaded(model).output_size(size, params)

    def memory(self, model, params, sizes):
        return loaded(model).memory(sizes["image"], params)

    def run_item(self, pipe, params, item, sources, progress=None):
        from ..data.photoio import read_photo

        return pipe.process(read_photo(sources["image"]), params, progress)


def _register_image_tools() -> None:
    from ..enhance import TOOLS as ENHANCE
    from ..pipelines.enhance import enhance_options
    from ..pipelines.style import StyleOptions

    for name in ENHANCE.names():
        tool = ENHANCE.get(name)
        summary = tool.summary.format(scale=" or ".join(map(str, tool.scales)))
        register_tool(type(name.title(), (ImageTool,), {
            "name": name, "title": name.title(), "summary": summary, "Params": enhance_options(name),
            "pipeline_kind": "enhance", "enhance_tool": name, "__module__": __name__}))
    register_tool(type("Style", (ImageTool,), {
        "name": "style", "title": "Style", "Params": StyleOptions, "pipeline_kind": "style", "__module__": __name__,
        "summary": "photos into art in a bundled style (painting, cartoon, woodblock), at any size"}))


_register_image_tools()


# Compositing: two named inputs, no network ----------------------------------------------------

COMPOSITE_METHOD = ModelInfo(name="poisson-blend", kind="method", details={},
                             summary="no network: Poisson (gradient-domain) blending, colour transfer in Lab, a "
                                     "feathered edge and an optional contact shadow")


def _composite_options() -> type[StrictModel]:
    from ..compose import CompositeOptions

    return CompositeOptions


@register_tool
class Composite(ServiceTool):
    """A cut-out on a background (``compose.composite``): one item per subject, every one on the
    same background."""

    name = "composite"
    title = "Composite"
    summary = "cut-outs placed on a background so they belong: Poisson blending, colour transfer, contact shadow"
    inputs = (InputSpec("subject", "image", "Subjects", many=True,
                        description="cut-outs with transparency (PNG, WebP): one result per subject"),
              InputSpec("background", "image", "Background", description="the picture every subject is placed on"))
    Params = _composite_options()
    methods = (COMPOSITE_METHOD,)

    def accepts(self, model: ModelInfo) -> bool:
        return False  # no bundled network: its one method is its own

    def memory(self, model, params, sizes):
        from ..compose import memory

        return memory(sizes["subject"], sizes["background"], params)

    def run_item(self, pipe, params, item, sources, progress=None):
        from ..compose import composite
        from ..data.photoio import read_photo

        return composite(read_photo(sources["subject"]), read_photo(sources["background"]), params, progress,
                         label=item.label)


# Table audit: three named table inputs, no network, a JSON result -------------------------------

AUDIT_METHOD = ModelInfo(name="table-audit", kind="method", details={},
                         summary="no network: utility (TSTR/TRTR, column similarity, associations) and privacy "
                                 "(exact copies, DCR, NNDR, membership-inference AUC) of a synthetic table")


class AuditParams(StrictModel):
    target: str | None = Field(default=None, max_length=200,
                               description="a column to predict for TSTR/TRTR (classes: macro F1, numbers: R^2); "
                                           "empty: no TSTR/TRTR")
    seed: Seed = Field(default=0, description="seed of the models and of the row samples of the distance figures")


@register_tool
class Audit(ServiceTool):
    """``service.audit.audit_tables`` on three uploaded tables; the result is audit.json's document
    (with the recipe under ``recipe``), not a picture."""

    name = "audit"
    title = "Audit a synthetic table"
    summary = "is a synthetic table useful, and does it give away its training rows? TSTR/TRTR, similarity, " \
              "exact copies, distance to closest record, a membership-inference attack"
    inputs = (InputSpec("real", "table", "Real (training) rows", description="the rows the synthesizer was trained on"),
              InputSpec("synthetic", "table", "Synthetic rows", description="the table to audit, from any tool"),
              InputSpec("holdout", "table", "Holdout rows", description="real rows the synthesizer never saw"))
    Params = AuditParams
    methods = (AUDIT_METHOD,)

    def accepts(self, model: ModelInfo) -> bool:
        return False  # no bundled network: its one method is its own

    def plan(self, params, counts):
        self.check_inputs({k: v for k, v in counts.items() if v})
        return [Item(label="audit", inputs={spec.name: 0 for spec in self.inputs}, seed=params.seed)]

    def run_item(self, pipe, params, item, sources, progress=None):
        from .audit import audit_tables

        def step(event) -> None:
            if progress:
                progress(event.done, event.total)

        # bytes, so the tables are named by their role in messages rather than by their stored file names
        tables = {name: Path(sources[name]).read_bytes() for name in ("real", "synthetic", "holdout")}
        return audit_tables(tables["real"], tables["synthetic"], tables["holdout"], target=params.target,
                            seed=params.seed, progress=step).doc

    def encode(self, output, recipe):
        doc = {**output, "recipe": recipe}
        return Result(json.dumps(doc, indent=2, allow_nan=False).encode() + b"\n", "application/json", ".json")
