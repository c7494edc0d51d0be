"""FID of 10,000 against 10,000 Fashion-MNIST-sized images with fashion-cnn features, extraction included.

The two image sets are the first 10,000 images of the train split and the 10,000 of the
test split, at 32 px, as uint8 in memory (loading and resizing are not timed). Timed:
feature extraction of both sets, statistics and the score. The median of --repeats runs
is reported; the last line is ``seconds: X`` (target: under 15 on 2 CPU cores).

    python bench/fid_speed.py [--repeats 3] [--n 10000]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ganforge.data.fashion import load_fashion_mnist  # noqa: E402
from ganforge.data.transforms import resize_uint8  # noqa: E402
from ganforge.metrics import fid_from_features  # noqa: E402
from ganforge.metrics.features import build_extractor  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n", type=int, default=10_000)
    args = parser.parse_args()
    a = resize_uint8(load_fashion_mnist("train")[0][: args.n].unsqueeze(1), 32)
    b = resize_uint8(load_fashion_mnist("test")[0][: args.n].unsqueeze(1), 32)
    extractor = build_extractor("fashion-cnn")
    times, fid = [], float("nan")
    for i in range(args.repeats):
        start = time.perf_counter()
        fid = fid_from_features(extractor(a).features, extractor(b).features)
        times.append(time.perf_counter() - start)
        print(f"run {i + 1}/{args.repeats}: {times[-1]:.2f} s (FID {fid:.4f})")
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
          f"CPython {platform.python_version()}")
    print(f"{args.n:,} vs {args.n:,} images, fashion-cnn features; train-vs-test FID {fid:.4f}")
    print(f"seconds: {statistics.median(times):.2f}")


if __name__ == "__main__":
    main()
