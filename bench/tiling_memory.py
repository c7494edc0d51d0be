"""Tiled inference at photo size: time and peak memory of a x2 upscale of a 6000x4000 image.

A real-sized image-to-image model (3x3 convs of 32 channels, 8 layers at the input resolution,
then a 3x3 conv and a pixel shuffle x2; random seeded weights, receptive-field radius 9) runs
through ``ganforge.tiling.run_tiled`` with tile 512 and overlap 32 in this process
on a synthetic 6000x4000 RGB photo (smooth waves plus noise, made a strip at a time so that
making it costs no float buffer). The input (72 MB) and the uint8 output (288 MB) are
unavoidable; everything else should be bounded by the tile, so the peak resident set
(ru_maxrss) should stay far below 2 GiB, where a whole-image float path would not.

    python bench/tiling_memory.py [--width 6000] [--height 4000] [--tile 512] [--overlap 32] [--threads 2]

Prints the peak RSS before the run (torch, model and input), the elapsed seconds, megapixels
of input per second and the peak RSS after; the last line is ``peak_rss_mib: N``.
"""

from __future__ import annotations

import argparse
import platform
import resource
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.tiling import run_tiled


class UpscaleNet(nn.Module):
    """``layers`` 3x3 convs of ``width`` channels with LeakyReLU, then a 3x3 conv to 3 * scale^2 and a pixel shuffle."""

    def __init__(self, *, width: int = 32, layers: int = 8, scale: int = 2, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.scale = scale
        self.convs = nn.ModuleList(nn.Conv2d(3 if i == 0 else width, width, 3, padding=1) for i in range(layers))
        self.head = nn.Conv2d(width, 3 * scale ** 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.2)
        return F.pixel_shuffle(self.head(x), self.scale)


def synthetic_photo(height: int, width: int, seed: int = 0, rows: int = 256) -> np.ndarray:
    """uint8 (H, W, 3): waves plus noise, built ``rows`` rows at a time (no full-size float buffer)."""
    rng = np.random.default_rng(seed)
    image = np.empty((height, width, 3), dtype=np.uint8)
    xx = np.arange(width)[None, :, None]
    for top in range(0, height, rows):
        yy = np.arange(top, min(top + rows, height))[:, None, None]
        waves = 127 + 60 * np.sin(yy / 41.0) * np.cos(xx / 57.0 + np.arange(3))
        image[top:top + rows] = np.clip(waves + rng.normal(0, 20, waves.shape), 0, 255)
    return image


def peak_rss_mib() -> float:
    """Peak resident set of this process so far, in MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=6000)
    parser.add_argument("--height", type=int, default=4000)
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    net = UpscaleNet().eval()
    image = synthetic_photo(args.height, args.width)
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} threads; "
          f"{args.width}x{args.height} x2, tile {args.tile}, overlap {args.overlap}")
    print(f"peak RSS before the run (torch, model, input): {peak_rss_mib():.0f} MiB")
    tiles = []
    start = time.perf_counter()
    out = run_tiled(net, image, scale=2, out_channels=3, tile=args.tile, overlap=args.overlap,
                    progress=lambda done, total: tiles.append(total))
    seconds = time.perf_counter() - start
    assert out.shape == (args.height * 2, args.width * 2, 3)
    print(f"{tiles[-1]} tiles in {seconds:.1f} s: {args.width * args.height / 1e6 / seconds:.2f} megapixels/s of input")
    print(f"peak_rss_mib: {peak_rss_mib():.0f}")


if __name__ == "__main__":
    main()
