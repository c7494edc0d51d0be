"""Tiled inference: an image-to-image model on an image of any size, in overlapping tiles.

:func:`run_tiled` cuts the image into tiles of ``tile`` input pixels that overlap by at least
``overlap``, runs the model on each and blends the outputs so that the result equals the
untiled one (within 1/255 when ``overlap`` covers the model's receptive field, see below).
Memory is bounded by the tile, not the image: tiles are processed one tile row at a time into
a float32 strip as tall as one tile row's output; rows that no later tile row touches are
rounded and written to the preallocated uint8 output, so the only full-size buffers are the
uint8 input and output.

Blending. Along each axis, two neighbouring tiles share a band of input pixels. The seam is
the centre of that band; around it the weight passes from one tile to the other with a
raised-cosine ramp, ``w(t) = (1 - cos(pi t)) / 2``, over the middle ``1 - 2 * MARGIN`` of the
band (a quarter). The outer ``MARGIN`` (3/8) of the band on each side gets weight exactly 0:
those pixels sit near a tile's inner edge, where the model's zero padding replaced real
neighbours, so they are the least like the untiled output. At the image border a tile keeps
full weight (the border is a border in the untiled run too). The ramps of one seam sum to 1
and the ramps of two seams never overlap, so the weights are a partition of unity for any tile
origins (they are still divided by their sum, per axis, against rounding). A 2D weight is the
product of the row and column weights.

Parity rule. An output pixel is exact (up to float summation order) when every tile that
gives it weight sees all of its receptive field: ``MARGIN * band >= r``, r the receptive-field
radius of the model in input pixels (a 3x3 conv adds 1 at its own resolution, so 2 after a
pixel-unshuffle by 2), so ``overlap >= 8 r / 3``; ``overlap = 3 r`` is the rule to recommend.
The error falls fast with the distance to the tile edge: ``overlap = 2 r`` was within 1/255
for a plain 7-conv net and up to 6/255 for a pixel-unshuffled one (tests/test_tiling.py;
margins of 1/4 and 1/8 needed more overlap, a hard seam at the band's centre was no better
and hides nothing when the overlap falls short). The band is at least ``overlap``:
:func:`tile_grid` spreads the tiles evenly, which can only widen it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from .images import to_uint8_tensor

MARGIN = 0.375  # fraction of a shared band, on each side, whose pixels get weight 0 (near a tile's inner edge)


def validate_tiling(tile: int | None, overlap: int, align: int) -> None:
    """Raise ValueError, with what is accepted, for tile settings :func:`run_tiled` cannot use."""
    if align < 1:
        raise ValueError(f"align must be a positive integer, got {align}")
    if overlap < 0:
        raise ValueError(f"overlap must be >= 0 input pixels, got {overlap}")
    if tile is None:
        return
    if tile < 1:
        raise ValueError(f"tile must be a positive number of input pixels (or None for one piece), got {tile}")
    if tile <= 2 * overlap:
        raise ValueError(f"tile ({tile}) must be larger than twice the overlap ({overlap}); "
                         f"use tile >= {2 * overlap + 1} or a smaller overlap")
    if tile % align:
        raise ValueError(f"tile ({tile}) must be a multiple of align ({align}); "
                         f"use {tile // align * align or align} or {(tile // align + 1) * align}")
    if (tile - overlap) // align * align < align:
        raise ValueError(f"tile ({tile}) minus overlap ({overlap}) must be at least align ({align})")


def tile_grid(size: int, tile: int, overlap: int, align: int = 1) -> list[int]:
    """Tile origins along one axis of ``size`` pixels (a multiple of ``align``; pad first).

    Neighbouring tiles of ``tile`` pixels share at least ``overlap`` pixels. The fewest tiles
    that allow it are spread evenly from 0 to ``size - tile`` (origins rounded down to
    multiples of ``align``), so the overlaps are even instead of one last tile squeezed in.
    ``tile >= size`` gives ``[0]``: one piece, ``size`` long.
    """
    if size < 1 or size % align:
        raise ValueError(f"size ({size}) must be a positive multiple of align ({align})")
    if tile >= size:  # one piece: the overlap does not matter
        return [0]
    validate_tiling(tile, overlap, align)
    stride = (tile - overlap) // align * align  # the largest step that keeps the overlap, on the align grid
    gaps = math.ceil((size - tile) / stride)
    # floor(i * q) * align with q = (size - tile) / (gaps * align): steps are ceil(q) * align <= stride at
    # most, and >= align since (size - tile) / align >= gaps, so origins are distinct and end at size - tile.
    return [i * (size - tile) // (gaps * align) * align for i in range(gaps + 1)]


def _rise(pos: np.ndarray, centre: float, half: float) -> np.ndarray:
    """0 before ``centre - half``, 1 after ``centre + half``, a raised cosine between (a step when half = 0)."""
    if half <= 0:
        return (pos >= centre).astype(np.float64)
    t = np.clip((pos - (centre - half)) / (2 * half), 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * t)


def axis_weights(origins: list[int], tile: int, scale: int, margin: float = MARGIN) -> list[np.ndarray]:
    """Blending weights along one axis: for each tile, float32 (tile * scale,) over its output pixels.

    ``origins`` from :func:`tile_grid`, ``tile`` the tile's length on this axis (input pixels).
    Each seam sits at the centre of the band two tiles share; the weight ramps over the middle
    ``1 - 2 margin`` of the band (narrowed if needed so that two seams' ramps never overlap)
    and is exactly 0 on the ``margin`` next to a tile's inner edge. The first and last tiles keep
    weight 1 out to the image border. The weights of all tiles sum to 1 at every output pixel.
    """
    seams = []  # (centre, half width) in input pixels, between tile k and k + 1
    for left, right in zip(origins, origins[1:]):
        band = left + tile - right
        seams.append(((right + left + tile) / 2, min(band * (0.5 - margin), (right - left) / 2)))
    # Output pixel j of a tile at origin o is centred on input coordinate o + (j + 0.5) / scale.
    offsets = (np.arange(tile * scale) + 0.5) / scale
    weights = []
    for k, origin in enumerate(origins):
        pos = origin + offsets
        w = np.ones_like(pos)
        if k > 0:
            w *= _rise(pos, *seams[k - 1])
        if k < len(seams):
            w *= 1.0 - _rise(pos, *seams[k])
        weights.append(w)
    total = np.zeros((origins[-1] + tile) * scale)
    for origin, w in zip(origins, weights):
        total[origin * scale:(origin + tile) * scale] += w
    if total.min() <= 0:  # a bug, not a user error: some output pixel has no tile to come from
        raise RuntimeError(f"tile weights leave output pixels uncovered (origins {origins}, tile {tile})")
    return [(w / total[o * scale:(o + tile) * scale]).astype(np.float32) for o, w in zip(origins, weights)]


def _reflect_index(start: int, stop: int, size: int) -> slice | np.ndarray:
    """Indices start..stop-1 into an axis of ``size``, mirrored (without repeating the edge) past its end."""
    if stop <= size:
        return slice(start, stop)
    idx = np.arange(start, stop)
    return np.clip(np.where(idx < size, idx, 2 * (size - 1) - idx), 0, size - 1)


def _to_model_input(image: np.ndarray, rows: slice | np.ndarray, cols: slice | np.ndarray) -> torch.Tensor:
    """One tile of a uint8 (H, W, C) image -> float32 (1, C, h, w) in [-1, 1], as the pipeline converts."""
    patch = image[rows][:, cols]
    x = torch.from_numpy(np.array(patch, copy=True)).permute(2, 0, 1)[None].float()
    return x.mul(2.0 / 255.0).sub(1.0)


def _run_model(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """``fn(x)`` without autograd, as float32 on the CPU, checked against the expected (1, C_out, h', w')."""
    with torch.no_grad():
        y = fn(x)
    if tuple(y.shape) != shape:
        raise ValueError(f"the model turned input {tuple(x.shape)} into {tuple(y.shape)}, expected {shape} "
                         f"(check scale and out_channels)")
    return y.detach().float().cpu()


def _flush(strip: np.ndarray, rows: int, out: np.ndarray, at: int) -> None:
    """Round the first ``rows`` rows of the float strip (H', W', C) into ``out[at:]``, cropped to ``out``.

    Same arithmetic as :func:`ganforge.images.to_uint8_tensor` (clamp, +1, *127.5, round half to
    even), done in place so that no second float buffer is needed.
    """
    rows = min(rows, out.shape[0] - at)
    if rows <= 0:
        return
    part = torch.from_numpy(strip[:rows, :out.shape[1]])
    part.clamp_(-1, 1).add_(1).mul_(127.5).round_()
    np.copyto(out[at:at + rows], part.numpy(), casting="unsafe")  # exact: whole numbers 0..255


def _shift_up(strip: np.ndarray, rows: int) -> None:
    """Move the strip up by ``rows`` (the flushed rows leave) and zero the rows freed at the bottom.

    Copied in chunks of ``rows`` so that source and destination never overlap: a single
    overlapping assignment would make numpy allocate a temporary as large as the strip.
    """
    height = strip.shape[0]
    for start in range(0, height - rows, rows):
        stop = min(start + rows, height - rows)
        strip[start:stop] = strip[start + rows:stop + rows]
    strip[max(height - rows, 0):] = 0


def tiled_bytes(height: int, width: int, *, scale: int, in_channels: int, out_channels: int, tile: int | None,
                align: int = 1) -> tuple[int, int]:
    """What :func:`run_tiled` holds besides its uint8 input and output, before it runs:
    ``(bytes, tile_pixels)``: the float32 buffers (the strip one tile row tall and as wide as the
    output, plus one tile's input and output; in one piece, the whole image's), and the input
    pixels of the largest tile the network sees (what its activations grow with)."""
    padded_h, padded_w = -(-height // align) * align, -(-width // align) * align
    tile_h, tile_w = (padded_h, padded_w) if tile is None else (min(tile, padded_h), min(tile, padded_w))
    one_tile = tile_h * tile_w * (in_channels + 2 * scale * scale * out_channels) * 4  # input, output, weighted copy
    one_piece = tile_h == padded_h and tile_w == padded_w
    strip = 0 if one_piece else tile_h * scale * padded_w * scale * out_channels * 4
    return strip + one_tile, tile_h * tile_w


def run_tiled(fn: Callable[[torch.Tensor], torch.Tensor], image: np.ndarray, *, scale: int, out_channels: int,
              tile: int | None, overlap: int, align: int = 1,
              progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """An image-to-image model on uint8 ``image`` (H, W, C_in), tile by tile -> uint8 (H*s, W*s, out_channels).

    fn            float32 (1, C_in, h, w) in [-1, 1] -> float (1, out_channels, h*scale, w*scale) in about [-1, 1],
                  on any device and dtype
    tile          side of a tile in input pixels; None, or at least the image: one piece
    overlap       input pixels neighbouring tiles share (at least); see the module's parity rule
    align         tile origins and sizes are multiples of this (2 for a model that pixel-unshuffles by 2);
                  the image is mirrored out to a multiple of it and the output cropped back
    progress      called as progress(done_tiles, total_tiles) after each tile

    In one piece the result is bit-identical to ``to_uint8(fn(whole image))``. Raises ValueError
    for settings it cannot use (tile <= 2 * overlap, tile not a multiple of align, ...).
    """
    # 1. Check the arguments and the image.
    validate_tiling(tile, overlap, align)
    if scale < 1 or out_channels < 1:
        raise ValueError(f"scale and out_channels must be positive integers, got {scale} and {out_channels}")
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or min(image.shape) < 1:
        raise ValueError(f"expected a uint8 array (H, W, C), got "
                         f"{getattr(image, 'dtype', type(image).__name__)} {getattr(image, 'shape', '')}")
    height, width = image.shape[:2]
    padded_h, padded_w = -(-height // align) * align, -(-width // align) * align
    tile_h, tile_w = (padded_h, padded_w) if tile is None else (min(tile, padded_h), min(tile, padded_w))
    ys, xs = tile_grid(padded_h, tile_h, overlap, align), tile_grid(padded_w, tile_w, overlap, align)
    out = np.empty((height * scale, width * scale, out_channels), dtype=np.uint8)
    tile_shape = (1, out_channels, tile_h * scale, tile_w * scale)

    # 2. One piece: no blending, exactly the untiled conversion.
    if len(ys) == 1 and len(xs) == 1:
        x = _to_model_input(image, _reflect_index(0, padded_h, height), _reflect_index(0, padded_w, width))
        y = to_uint8_tensor(_run_model(fn, x, tile_shape))[0].permute(1, 2, 0).numpy()
        out[:] = y[:height * scale, :width * scale]
        if progress is not None:
            progress(1, 1)
        return out

    # 3. Tile rows into a float strip one tile row tall; flush the rows no later tile row touches.
    wy, wx = axis_weights(ys, tile_h, scale), axis_weights(xs, tile_w, scale)
    strip = np.zeros((tile_h * scale, padded_w * scale, out_channels), dtype=np.float32)
    acc = torch.from_numpy(strip)  # shares memory with the strip
    done, total = 0, len(ys) * len(xs)
    for r, y0 in enumerate(ys):
        rows = _reflect_index(y0, y0 + tile_h, height)
        for c, x0 in enumerate(xs):
            x = _to_model_input(image, rows, _reflect_index(x0, x0 + tile_w, width))
            y = _run_model(fn, x, tile_shape)[0].permute(1, 2, 0).contiguous()  # (h', w', C_out) like the strip
            y.mul_(torch.from_numpy(wy[r][:, None, None] * wx[c][None, :, None]))
            acc[:, x0 * scale:(x0 + tile_w) * scale].add_(y)
            done += 1
            if progress is not None:
                progress(done, total)
        final = (ys[r + 1] - y0) * scale if r + 1 < len(ys) else tile_h * scale
        _flush(strip, final, out, y0 * scale)
        if r + 1 < len(ys):
            _shift_up(strip, final)
    return out
