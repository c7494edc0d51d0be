"""Speed of the bundled photo models on the CPU: torch against onnxruntime, same tiled inference.

    python bench/onnx_speed.py [--size 512] [--repeats 5] [--threads 2] [--tile 512] [--models a,b] [--quick]

For each bundled photo model (photo-upscale-x2, -x4, -x4-gan, photo-denoise, photo-restore,
photo-colorize) two pipelines run the same photo through ``EnhancePipeline.enhance``: one with
the torch network in fp32 (``set_precision("fp32")``, channels-last where ``runtime`` says it
is faster), one with its ONNX export (``pipelines.onnx.use_onnx``: exported into a temporary
cache and parity-checked first; onnxruntime's CPU provider, fp32, ``--threads`` intra-op
threads like torch). The input is a seeded ``--size`` x ``--size`` RGB image (a gradient plus
noise: speed does not depend on content); figures are input megapixels per second (what
``ganforge apply`` reports), the median of ``--repeats`` timed runs after one warm-up each, the
two runtimes alternating run by run so that a busy machine slows both alike.

Prints a markdown table; the last line is ``onnx_over_torch: R`` (geometric mean over the
models of onnxruntime MP/s / torch MP/s).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

MODELS = ["photo-upscale-x2", "photo-upscale-x4", "photo-upscale-x4-gan", "photo-denoise", "photo-restore",
          "photo-colorize"]


def test_photo(size: int):
    from ganforge.pipelines.enhance import as_photo

    yy, xx = np.mgrid[0:size, 0:size]
    base = np.stack([xx, yy, (xx + yy) / 2], -1) * 255 / max(size - 1, 1)
    noisy = base + np.random.default_rng(0).normal(0, 25, base.shape)
    return as_photo(np.clip(noisy, 0, 255).astype(np.uint8))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=512, help="side of the square input photo (pixels)")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per runtime (median)")
    ap.add_argument("--threads", type=int, default=2, help="torch and onnxruntime intra-op threads")
    ap.add_argument("--tile", type=int, default=512, help="tile side (input pixels), as ganforge apply's --tile")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated bundled photo models")
    ap.add_argument("--quick", action="store_true", help="smoke test: 128 px, 2 repeats (figures not comparable)")
    args = ap.parse_args()
    if args.quick:
        args.size, args.repeats = 128, 2
    torch.set_num_threads(args.threads)

    import ganforge
    from ganforge.pipelines.onnx import use_onnx

    photo = test_photo(args.size)
    mp = args.size * args.size / 1e6
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; torch {torch.__version__}, "
          f"{args.threads} threads; input {args.size}x{args.size}, tile {args.tile}, median of {args.repeats}")
    print()
    print("| model | torch MP/s | onnxruntime MP/s | onnx / torch | max diff (1/255) |")
    print("|---|---:|---:|---:|---:|")
    ratios = []
    with tempfile.TemporaryDirectory() as cache:
        os.environ["GANFORGE_CACHE"] = cache
        for name in args.models.split(","):
            pipes = {"torch": ganforge.load(name).set_precision("fp32"), "onnx": ganforge.load(name).set_precision("fp32")}
            use_onnx(pipes["onnx"], name=name)
            options = pipes["torch"].options(tile=args.tile)
            outs = {rt: np.asarray(p.process(photo, options).pixels, dtype=np.int16) for rt, p in pipes.items()}  # warm-up
            diff = int(np.abs(outs["torch"] - outs["onnx"]).max())
            times: dict[str, list[float]] = {"torch": [], "onnx": []}
            for _ in range(args.repeats):
                for rt, pipe in pipes.items():
                    start = time.perf_counter()
                    pipe.process(photo, options)
                    times[rt].append(time.perf_counter() - start)
            rate = {rt: mp / statistics.median(t) for rt, t in times.items()}
            ratios.append(rate["onnx"] / rate["torch"])
            print(f"| {name} | {rate['torch']:.3f} | {rate['onnx']:.3f} | {ratios[-1]:.2f} | {diff} |", flush=True)
    print()
    print(f"onnx_over_torch: {math.exp(sum(map(math.log, ratios)) / len(ratios)):.3f}")


if __name__ == "__main__":
    main()
