"""Image -> image: ``ganforge.load("my-pix2pix")(image)`` returns a PIL image.

An :class:`ImageToImagePipeline` wraps a fully convolutional generator trained by an
image-to-image task (``paired``). It takes a PIL image or a uint8 array (H, W) or (H, W, C),
converts it to the channels the model was trained on, runs the model at the image's own size
and returns a PIL image with the model's output channels (L or RGB).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image

from ..data.photoio import Photo
from ..errors import GanforgeError
from ..images import to_uint8
from ..runtime import Runner
from .base import register_pipeline
from .image import ImageOptions, ImagePipeline, Progress


@register_pipeline
class ImageToImagePipeline(ImagePipeline):
    """No options: the generator runs on the whole image in fp32, in the network's own layout
    (``default_precision`` None), or through onnxruntime."""

    pipeline_kind = "image-to-image"

    def __init__(self, network: torch.nn.Module, config, **kw) -> None:
        super().__init__(network, config, **kw)
        self.default_precision = None

    @property
    def in_channels(self) -> int:
        return int(self.config.model.g["in_channels"])

    @property
    def out_channels(self) -> int:
        return int(self.config.model.g["out_channels"])

    def to_tensor(self, image: Image.Image | np.ndarray) -> torch.Tensor:
        """A PIL image or uint8 array -> float (1, C_in, H, W) in [-1, 1] on the model's device."""
        if isinstance(image, Image.Image):
            image = image.convert("L" if self.in_channels == 1 else "RGB")
            array = np.asarray(image)
        elif isinstance(image, np.ndarray):
            array = image
        else:
            raise GanforgeError(f"expected a PIL image or a uint8 numpy array, got {type(image).__name__}")
        if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3)):
            raise GanforgeError(f"expected a uint8 array of shape (H, W), (H, W, 1) or (H, W, 3), got "
                                f"{array.dtype} {array.shape}")
        if array.ndim == 2:
            array = array[:, :, None]
        if array.shape[2] != self.in_channels:  # grey -> RGB by repeating, RGB -> grey by luma (ITU-R 601)
            array = (np.repeat(array, 3, axis=2) if self.in_channels == 3
                     else np.asarray(Image.fromarray(array).convert("L"))[:, :, None])
        x = torch.from_numpy(array.copy()).permute(2, 0, 1)[None].float()  # a copy: the input may be read-only
        return x.mul(2.0 / 255.0).sub(1.0).to(self.device)

    @torch.no_grad()
    def run_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """The model on float (N, C_in, H, W) in [-1, 1]; float32 (N, C_out, H, W) on the CPU."""
        return self.runner(x).cpu()

    def run(self, photo: Photo, options: ImageOptions, runner: Runner, progress: Progress = None) -> Photo:
        """The photo (as RGB, alpha dropped) through the generator at its own size; metadata kept."""
        out = to_uint8(runner(self.to_tensor(photo.to_pil().convert("RGB"))).cpu())[0]  # (H, W, C)
        if progress is not None:
            progress(1, 1)
        return photo.with_pixels(np.ascontiguousarray(out[:, :, 0] if out.shape[2] == 1 else out))

    def __call__(self, image: Image.Image | np.ndarray) -> Image.Image:
        out = to_uint8(self.run_tensor(self.to_tensor(image)))[0]  # (H, W, C)
        return Image.fromarray(out[:, :, 0] if out.shape[2] == 1 else out)

    def onnx_spec(self):
        """The generator on (N, C_in, H, W) in [-1, 1] -> (N, C_out, H, W) in [-1, 1]."""
        from .onnx import image_spec

        return image_spec(self.network, in_channels=self.in_channels, metadata={
            "in_channels": str(self.in_channels), "out_channels": str(self.out_channels)})

    def card_summary(self, info: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
        model = info["config"]["model"]
        sentence = f"An image-to-image {model['generator']} generator ({info['config']['task']} task)"
        rows = [("channels", f"{model['g'].get('in_channels')} -> {model['g'].get('out_channels')}"),
                ("discriminator", model["discriminator"]), ("loss", info["config"]["loss"]["name"])]
        return sentence, rows

    def usage(self, name: str) -> str:
        return f"ganforge apply {name} in.png --out out.png"

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "family": self.config.model.generator, "kind": "image-to-image",
                "in_channels": self.in_channels, "out_channels": self.out_channels}
