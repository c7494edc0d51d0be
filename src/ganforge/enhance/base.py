"""The photo-tool contract (see the package docstring) and its registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np
import torch
from torch import nn

from ..errors import GanforgeError
from ..registry import Registry
from ..runtime import Runner
from ..tiling import run_tiled, tiled_bytes

Progress = Callable[[int, int], None] | None  # (done, total) work units of one image


@dataclass(frozen=True)
class InferenceOptions:
    """How a photo goes through a network. ``tile``: tile side in input pixels (None: whole
    image at once); ``overlap``: input pixels shared by neighbouring tiles (None: the network's
    receptive radius, rounded up); ``noise_level``: the denoiser's sigma on 0..255 (None:
    blind); ``scale``: output scale where a tool offers a choice (restore: 1 or 2)."""

    tile: int | None = 512
    overlap: int | None = None
    noise_level: float | None = None
    scale: int | None = None


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1]."""
    return x.add(1).mul(0.5)


def to_signed(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1]."""
    return x.mul(2).sub(1)


class EnhanceTool:
    """Base of every photo tool. Class attributes:

    name: registry key (the config's ``tool``).
    summary: one sentence for ``ganforge info``.
    scales: the output scales a model of this tool may be trained for.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    scales: ClassVar[tuple[int, ...]] = (1,)
    colour_input: ClassVar[bool] = True  # False: the tool turns grey into colour (a grey input stays grey otherwise)
    options: ClassVar[tuple[str, ...]] = ()  # InferenceOptions fields beyond tile/overlap this tool takes

    def channels(self) -> tuple[int, int]:
        """``(in, out)`` channels of the tool's network."""
        return 3, 3

    def make_pair(self, clean: torch.Tensor, gen: torch.Generator, *, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A clean batch (B, 3, R, R) in [0, 1] -> ``(source, target)`` in [-1, 1]: what the
        network sees and what it should produce. Subclasses implement."""
        raise NotImplementedError

    def working_bytes(self, network: nn.Module | Runner, activation: Callable[[int], int], size: tuple[int, int], *,
                      scale: int, options: InferenceOptions) -> int:
        """Bytes :meth:`infer` needs for a photo of ``size`` (width, height) besides the uint8
        photo and result: what the studio checks before it queues a job. The default is the
        tiled path's (:func:`tiled_working_bytes`); a tool with another path says its own."""
        return tiled_working_bytes(network, activation, size, scale=scale, in_channels=self.channels()[0],
                                   tile=options.tile, overlap=options.overlap)

    def output_scale(self, trained_scale: int, options: InferenceOptions) -> int:
        """The scale of the result for ``options`` (restore offers 1x from a 2x network)."""
        if options.scale is not None and options.scale != trained_scale:
            raise GanforgeError(f"this {self.name} model's output scale is {trained_scale}, not {options.scale}")
        return trained_scale

    def infer(self, runner: Runner, pixels: np.ndarray, *, scale: int, options: InferenceOptions,
              progress: Progress = None) -> np.ndarray:
        """Run the network (behind ``runner``: torch at a precision, or onnxruntime) on a whole
        photo, uint8 (H, W, 3) RGB -> uint8 (h, w, 3) RGB. The default tiles the image (the
        network is fully convolutional)."""
        return tiled(runner, pixels, scale=scale, options=options, progress=progress)


def network_geometry(network: nn.Module | Runner) -> tuple[int, int]:
    """``(receptive radius, alignment)`` in input pixels of a network or runner, where it says."""
    return int(getattr(network, "receptive_radius", 32)), int(getattr(network, "alignment", 1))


def default_overlap(network: nn.Module | Runner) -> int:
    """The overlap at which tiled output equals untiled output within 1/255: the blending
    window gives the outer 3/8 of each overlap band zero weight, so every kept pixel saw all
    the input it depends on once 3/8 of the overlap covers the receptive radius r (overlap >=
    8r/3; measured in tests/test_tiling.py). Rounded up to the alignment, at least 8."""
    radius, align = network_geometry(network)
    overlap = max(8, -(-8 * radius // 3))
    return -(-overlap // align) * align


def tiled(runner: Runner, pixels: np.ndarray, *, scale: int, options: InferenceOptions, progress: Progress,
          extra: Callable[[torch.Tensor], torch.Tensor] | None = None) -> np.ndarray:
    """The network behind ``runner`` over ``pixels`` in tiles (``tiling.run_tiled``).
    ``extra`` turns a tile in [-1, 1] into the network's input (e.g. adds a noise-level map)."""

    def fn(x: torch.Tensor) -> torch.Tensor:
        x = x.to(runner.device)
        if extra is not None:
            x = extra(x)
        return runner(x)

    return plan_and_run_tiles(fn, runner, pixels, scale=scale, tile=options.tile, overlap=options.overlap,
                              progress=progress)


def plan_tiles(network: nn.Module | Runner, tile: int | None, overlap: int | None) -> tuple[int | None, int, int]:
    """``(tile, overlap, align)`` as the network's geometry needs them: the overlap defaults to
    :func:`default_overlap`, the tile is rounded up to the alignment and to more than twice the
    overlap."""
    _, align = network_geometry(network)
    overlap = overlap if overlap is not None else default_overlap(network)
    if tile is not None:
        tile = max(-(-tile // align) * align, 2 * overlap + align)
    return tile, overlap, align


def tiled_working_bytes(network: nn.Module | Runner, activation: Callable[[int], int], size: tuple[int, int], *,
                        scale: int, in_channels: int, tile: int | None, overlap: int | None) -> int:
    """Bytes :func:`plan_and_run_tiles` needs besides its uint8 input and output, for a photo of
    ``size`` (width, height): its float buffers and the network's activations on one tile
    (``activation(pixels)``: the peak bytes of one call on that many input pixels)."""
    tile, _, align = plan_tiles(network, tile, overlap)
    buffers, tile_pixels = tiled_bytes(size[1], size[0], scale=scale, in_channels=in_channels, out_channels=3,
                                       tile=tile, align=align)
    return buffers + activation(tile_pixels)


def plan_and_run_tiles(fn: Callable[[torch.Tensor], torch.Tensor], network: nn.Module | Runner, pixels: np.ndarray, *,
                       scale: int, tile: int | None, overlap: int | None, progress: Progress) -> np.ndarray:
    """``fn`` (a tile in [-1, 1] -> ``network``'s output) over ``pixels`` in tiles planned for the
    network's geometry: the overlap defaults to :func:`default_overlap`, the tile is rounded up to
    the alignment and to more than twice the overlap; tiling errors become one-line GanforgeErrors."""
    tile, overlap, align = plan_tiles(network, tile, overlap)
    try:
        return run_tiled(fn, pixels, scale=scale, out_channels=3, tile=tile, overlap=overlap,
                         align=align, progress=progress)
    except ValueError as err:
        raise GanforgeError(f"tiling: {err}") from None


TOOLS: Registry[EnhanceTool] = Registry("photo tool")


def register_tool(cls: type[EnhanceTool]) -> type[EnhanceTool]:
    """Class decorator: register one instance of a tool under ``cls.name``."""
    TOOLS.register(cls.name, cls())
    return cls
