"""Style mixing (Karras et al. 2019, section 3.1): the styles of some layers from one seed and
the rest from another, laid out as StyleGAN's mixing figure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import torch

from ..errors import GanforgeError
from ..images import make_grid, to_uint8
from ..pipelines.generation import GeneratorPipeline
from .common import check_psi, map_latents, mapping_generator, one_label, repeat_label, seed_latents, synthesize_w


@dataclass
class StyleMix:
    """The pieces of a style-mixing figure, uint8 (…, H, W, C).

    ``rows[r]`` and ``cols[c]`` are the seeds' own images; ``cells[r, c]`` has row seed ``r``'s
    styles except at ``layers``, which come from column seed ``c``.
    """

    rows: np.ndarray  # (R, H, W, C)
    cols: np.ndarray  # (K, H, W, C)
    cells: np.ndarray  # (R, K, H, W, C)
    layers: list[int]

    def grid(self, pad: int = 2) -> np.ndarray:
        """StyleGAN's figure: column images across the top, row images down the left, mixes inside."""
        r, k = self.cells.shape[:2]
        blank = np.full_like(self.rows[:1], 255)
        tiles = [blank, self.cols]
        for i in range(r):
            tiles += [self.rows[i : i + 1], self.cells[i]]
        return make_grid(np.concatenate(tiles), ncols=k + 1, pad=pad)


def style_layers(pipe: GeneratorPipeline, layers: slice | range | Iterable[int] | None = None) -> list[int]:
    """Style layer indices, checked against the model; None -> the coarse half ``0 .. num_ws//2 - 1``.

    Coarse layers (low resolutions) carry pose and shape, fine ones texture and colour
    (Karras et al. 2019, figure 3), so the default copies a column seed's shape onto the rows.
    """
    num_ws = mapping_generator(pipe).num_ws
    if layers is None:
        return list(range(max(1, num_ws // 2)))
    if isinstance(layers, slice):
        if layers.step not in (None, 1):
            raise GanforgeError("style layers: give a contiguous range (no step)")
        layers = range(layers.start or 0, num_ws if layers.stop is None else layers.stop)
    chosen = sorted({int(i) for i in layers})
    bad = [i for i in chosen if not 0 <= i < num_ws]
    if bad:
        raise GanforgeError(f"style layer {bad[0]} does not exist: this model has {num_ws} style layers, "
                            f"0-{num_ws - 1}")
    return chosen


def style_mix_images(
    pipe: GeneratorPipeline,
    *,
    row_seeds: Sequence[int],
    col_seeds: Sequence[int],
    layers: slice | range | Iterable[int] | None = None,
    classes: str | int | None = None,
    psi: float = 1.0,
) -> StyleMix:
    """Row seeds give the destination styles, column seeds the styles at ``layers``.

    As StyleGAN's ``style_mixing.py``: cell (r, c) is ``synthesis(w_r)`` with
    ``w_r[layers] = w_c[layers]``. With no layers every cell is its row's image.
    """
    if not row_seeds or not col_seeds:
        raise GanforgeError("style mixing needs at least one row seed and one column seed")
    chosen = style_layers(pipe, layers)
    check_psi(psi)
    label = one_label(pipe, classes)
    seeds = [int(s) for s in (*row_seeds, *col_seeds)]
    labels = repeat_label(label, len(seeds))
    ws = map_latents(pipe, seed_latents(pipe, seeds), labels, psi)
    rows, cols = ws[: len(row_seeds)], ws[len(row_seeds) :]
    mixed = rows[:, None].repeat(1, len(cols), 1, 1)  # (R, K, num_ws, w_dim)
    mixed[:, :, chosen] = cols[None, :, chosen]
    images = to_uint8(synthesize_w(pipe, torch.cat([ws, mixed.flatten(0, 1)])))
    r, k = len(rows), len(cols)
    return StyleMix(rows=images[:r], cols=images[r : r + k], cells=images[r + k :].reshape(r, k, *images.shape[1:]),
                    layers=chosen)


def style_mix(
    pipe: GeneratorPipeline,
    *,
    row_seeds: Sequence[int],
    col_seeds: Sequence[int],
    layers: slice | range | Iterable[int] | None = None,
    classes: str | int | None = None,
    psi: float = 1.0,
) -> np.ndarray:
    """StyleGAN's style-mixing figure as one uint8 (H', W', C) picture (see :func:`style_mix_images`).

    The top row holds the column seeds' images, the left column the row seeds' images, and
    cell (r, c) the row image with column c's styles at ``layers`` (default: the coarse half).
    """
    return style_mix_images(pipe, row_seeds=row_seeds, col_seeds=col_seeds, layers=layers, classes=classes,
                            psi=psi).grid()
