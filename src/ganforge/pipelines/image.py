"""The contract every image -> image pipeline kind shares: photo tools, styles, image-to-image.

An :class:`ImagePipeline` turns one photo into one photo::

    options = pipe.options(tile=256, strength=0.5)   # validated once: one pydantic model per kind
    result = pipe.process(photo, options, progress)    # a Photo, metadata and alpha carried over

so ``ganforge apply``, the studio's tools and the Python API call the same two methods and never
branch on a pipeline's kind. ``pipe.Options`` (an instance property, since a photo model's
options depend on its tool) is the one description of what a model takes: the CLI checks its
flags against it, and the studio's parameters and the OpenAPI schema are its JSON schema.

What runs the network is a :class:`~ganforge.runtime.Runner`, chosen once: torch at a
precision (a channels-last or bf16 copy is made once per precision and kept, never per call),
or onnxruntime on the model's ONNX export (:meth:`ImagePipeline.use_runtime`).
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Literal

import numpy as np
import torch
from PIL import Image
from pydantic import ConfigDict, Field, ValidationError

from ..data.photoio import Photo, photo_from_pil
from ..errors import GanforgeError
from ..runtime import Runner, TorchRunner, peak_tensor_bytes, resolve_precision
from ..schema import StrictModel
from .base import Pipeline
from .onnx import onnx_runner

Progress = Callable[[int, int], None] | None  # (done, total) work units (tiles) of one photo
RUNTIMES = ("torch", "onnx")  # what runs the network: torch, or onnxruntime on an ONNX export
# Bytes a pixel beyond what a model's own figure says, measured with bench/job_memory.py:
DECODED_BYTES = 11  # an upload decoded: Pillow's image (4 bytes a pixel), its RGB conversion (4) and the uint8 copy (3)
ENCODED_BYTES = 10  # a result encoded as PNG: Pillow's copy (4 bytes a pixel), the file and its copy (at most 3 each)
KERNEL_SLACK = 1.25  # activations: convolution kernels' own buffers, which the tensor probe does not see
ALLOCATOR_SLACK = 1.2  # freed buffers the C allocator keeps (below its mmap threshold) before they are reused
PROBE_SIDE = 64  # input side of the one small run that measures a network's activations per pixel
BF16_ONNX = "--precision bf16 is for the torch runtime; onnxruntime runs the fp32 graph"


def _own_fields_first(schema: dict[str, Any], model: type) -> None:
    """JSON schema hook: a kind's own options (strength, noise_level) before the shared ones (tile,
    overlap, precision), so forms built from the schema lead with what the model is about."""
    shared = set(TiledOptions.model_fields) if issubclass(model, TiledOptions) else set()
    props = schema.get("properties", {})
    schema["properties"] = {**{k: v for k, v in props.items() if k not in shared},
                            **{k: v for k, v in props.items() if k in shared}}


class ImageOptions(StrictModel):
    """Options of a pipeline that has no options of its own (image-to-image)."""

    model_config = ConfigDict(json_schema_extra=_own_fields_first)

    def given(self) -> dict[str, Any]:
        """The fields set explicitly (what a user asked for, for messages and metadata)."""
        return self.model_dump(include=self.model_fields_set)


class TiledOptions(ImageOptions):
    """How a photo goes through a fully convolutional network, for any size: in tiles, at a precision."""

    tile: int | None = Field(default=512, ge=16, le=4096, description="tile side in input pixels (memory is bounded "
                                                                      "by the tile); empty: the whole photo at once")
    overlap: int | None = Field(default=None, ge=0, le=512, description="pixels shared by neighbouring tiles; "
                                                                        "empty: the network's receptive radius")
    precision: Literal["auto", "fp32", "bf16"] = Field(default="auto", description="auto: bf16 where the CPU has "
                                                                                  "AMX or on CUDA, else fp32")


class OptionError(GanforgeError):
    """An option a model does not take, or a value out of range. ``option`` names it, ``problem``
    says what is wrong and ``accepted`` lists the model's options; :meth:`text` words it for a
    front end that spells options its own way (the CLI: ``--noise-level``)."""

    def __init__(self, option: str, problem: str, accepted: list[str]) -> None:
        self.option, self.problem, self.accepted = option, problem, accepted
        super().__init__(self.text(str))

    def text(self, spell: Callable[[str], str]) -> str:
        if self.problem == "unknown":
            takes = ", ".join(map(spell, self.accepted)) or "no options"
            return f"{spell(self.option)} is not an option of this model; it takes {takes}"
        return f"{spell(self.option)}: {self.problem}"


def option_error(err: ValidationError, model: type[StrictModel]) -> OptionError:
    """The first pydantic error about options as an :class:`OptionError`."""
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "options"
    if first["type"] == "extra_forbidden":
        problem = "unknown"
    else:
        msg = first["msg"]
        problem = f"{msg[:1].lower()}{msg[1:]}, got {first.get('input')!r}"
    return OptionError(where, problem, list(model.model_fields))


class ImagePipeline(Pipeline):
    """Base of the image -> image kinds. Subclasses set ``Options`` (or override the property)
    and implement :meth:`run` (the photo through ``runner``); ``check`` adds model-dependent
    rules, ``output_size`` says how big the result is before any work."""

    Options: ClassVar[type[ImageOptions]] = ImageOptions

    def __init__(self, network, config, **kw) -> None:
        super().__init__(network, config, **kw)
        self._runners: dict[str, Runner] = {}  # resolved precision -> runner (torch), built on first use
        self._onnx: Runner | None = None  # set by use_runtime("onnx")
        self._activation_per_pixel: float | None = None  # measured on first use (activation_bytes)
        self.default_precision = "auto"

    # ------------------------------------------------------------------------------- options
    @property
    def options_model(self) -> type[ImageOptions]:
        """This model's options (a pydantic model; its JSON schema is the studio's parameters)."""
        return self.Options

    def options(self, **values: Any) -> ImageOptions:
        """Validated options for this model: field ranges, then the model's own rules
        (:meth:`check`); a one-line ``GanforgeError`` naming the option otherwise."""
        try:
            opts = self.options_model.model_validate(values)
        except ValidationError as err:
            raise option_error(err, self.options_model) from None
        self.check(opts)
        return opts

    def check(self, options: ImageOptions) -> None:
        """Refuse options this particular model cannot take (a scale it was not trained for)."""

    def output_size(self, size: tuple[int, int], options: ImageOptions) -> tuple[int, int]:
        """(width, height) of the result for an input of ``size``: the input's by default."""
        return size

    # -------------------------------------------------------------------------------- memory
    def memory(self, size: tuple[int, int], options: ImageOptions) -> int:
        """Peak bytes of one photo of ``size`` (width, height) decoded, through :meth:`process`
        with ``options`` and encoded as a PNG, estimated before any work (the studio refuses a
        job whose estimate is past its limit). The uint8 result (4 bytes a pixel, room for
        alpha) lives throughout; the decoded photo and the working buffers while the model runs;
        the encoder's copies after it."""
        w, h = size
        wo, ho = self.output_size(size, options)
        during = w * h * DECODED_BYTES + self.working_bytes(size, options)
        return int(ALLOCATOR_SLACK * (wo * ho * 4 + max(during, wo * ho * ENCODED_BYTES)))

    def working_bytes(self, size: tuple[int, int], options: ImageOptions) -> int:
        """Bytes :meth:`run` needs besides the uint8 photo and result. The default is a whole
        photo at once: float32 input and output and the network's activations on every pixel;
        a tiled kind says its own (bounded by the tile)."""
        w, h = size
        c_in = self.probe_inputs(1)[0].shape[1]
        wo, ho = self.output_size(size, options)
        return w * h * c_in * 4 + wo * ho * 3 * 4 * 2 + self.activation_bytes(w * h)

    def probe_network(self) -> torch.nn.Module:
        """The module the runner runs (what :meth:`activation_bytes` measures)."""
        return self.network

    def probe_inputs(self, side: int) -> tuple[torch.Tensor, ...]:
        """What the network takes, ``side`` pixels square (zeros): its input channels from the config."""
        return (torch.zeros(1, int(self.config.model.g["in_channels"]), side, side),)

    def activation_bytes(self, pixels: int) -> int:
        """Peak bytes of the tensors one call of the network makes on an input of ``pixels``
        pixels: measured once (fp32, on a PROBE_SIDE square, ``runtime.peak_tensor_bytes``) and
        scaled by the area, since a convolutional network's activations grow with its input."""
        per_pixel = self._activation_per_pixel
        if per_pixel is None:
            network = self.probe_network()
            align = int(getattr(network, "alignment", 1))
            side = -(-PROBE_SIDE // align) * align
            per_pixel = KERNEL_SLACK * peak_tensor_bytes(network, *self.probe_inputs(side)) / (side * side)
            self._activation_per_pixel = per_pixel
        return int(per_pixel * pixels)

    # ------------------------------------------------------------------------------- runtime
    def torch_runner(self, precision: str | None) -> Runner:
        """The network in torch at ``precision`` (None: fp32 in the network's own layout)."""
        return TorchRunner(self.network, precision or "fp32", channels_last=None if precision else False)

    def runner_for(self, precision: str | None = None) -> Runner:
        """What runs the network: the ONNX runner when :meth:`use_runtime` chose onnxruntime, else
        torch at ``precision`` (``auto``, ``fp32``, ``bf16``; None: the pipeline's default),
        built once per precision and kept."""
        if self._onnx is not None:
            if precision == "bf16":
                raise GanforgeError(BF16_ONNX)
            return self._onnx
        wanted = precision or self.default_precision
        key = resolve_precision(wanted, self.device) if wanted is not None else "network"
        if key not in self._runners:
            self._runners[key] = self.torch_runner(wanted)
        return self._runners[key]

    @property
    def runner(self) -> Runner:
        """The runner at the default precision."""
        return self.runner_for(None)

    @property
    def precision(self) -> str:
        """The precision the default runner computes in."""
        return self.runner.precision

    def set_precision(self, precision: str = "auto") -> "ImagePipeline":
        """The default precision (``auto``, ``fp32`` or ``bf16``) of calls that do not name one."""
        self.runner_for(precision)  # checks it and builds the runner now, once
        self.default_precision = precision
        return self

    def use_runtime(self, runtime: str = "torch", onnx: Any = None, *, name: str = "",
                    precision: str | None = None) -> "ImagePipeline":
        """``torch`` (the default) or ``onnx``: onnxruntime on the ONNX file ``onnx`` (checked to
        be this model's) or on this model's export in the cache, made on first use. ``precision``:
        what the calls will ask for (bf16 is refused for onnx before anything is exported)."""
        if runtime not in RUNTIMES:
            raise GanforgeError(f"runtime '{runtime}' is not one of {', '.join(RUNTIMES)}")
        if runtime == "onnx" and precision == "bf16":
            raise GanforgeError(BF16_ONNX)
        if runtime == "torch":
            if onnx is not None:
                raise GanforgeError("--onnx FILE needs --runtime onnx")
            self._onnx = None
            return self
        self._onnx = onnx_runner(self, onnx, name=name)
        return self

    def to(self, device):
        super().to(device)
        self._runners.clear()  # runners hold copies on the old device
        return self

    # ----------------------------------------------------------------------------------- use
    def process(self, photo: Photo, options: ImageOptions, progress: Progress = None) -> Photo:
        """One photo through the model with validated ``options`` (from :meth:`options`)."""
        # a precision the caller left out is the pipeline's default (set_precision), not the field's
        precision = options.precision if "precision" in options.model_fields_set else None
        return self.run(photo, options, self.runner_for(precision), progress)

    def run(self, photo: Photo, options: ImageOptions, runner: Runner, progress: Progress) -> Photo:
        raise NotImplementedError

    def __call__(self, image, *, progress: Progress = None, **options: Any) -> Image.Image:
        """One PIL image, uint8 array or Photo -> a PIL image, with keyword options."""
        return self.process(as_photo(image), self.options(**options), progress).to_pil()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "options": sorted(self.options_model.model_fields)}


def as_photo(image: Image.Image | np.ndarray | Photo) -> Photo:
    """A PIL image, uint8 array (H, W) / (H, W, 3) / (H, W, 4) or Photo -> a Photo."""
    if isinstance(image, Photo):
        return image
    if isinstance(image, Image.Image):
        return photo_from_pil(image)
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
            raise GanforgeError(f"expected a uint8 array of shape (H, W), (H, W, 3) or (H, W, 4), got "
                                f"{image.dtype} {image.shape}")
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[:, :, 0]
        return photo_from_pil(Image.fromarray(np.ascontiguousarray(image)))
    raise GanforgeError(f"expected a PIL image, a uint8 numpy array or a Photo, got {type(image).__name__}")
