"""Train a bundled model from its preset, time the whole command, check it reproduces the bundled weights.

    python bench/train_bundled.py [--preset fashion-cgan] [--run-dir bench-out/train-fashion-cgan]

Runs ``ganforge train configs/<preset>.yaml --run-dir DIR --quiet`` in a subprocess (start-up,
data loading, sample grids and checkpoints included, as a user would run it), then compares
the final EMA generator with ``src/ganforge/pretrained/<preset>/generator.safetensors``: on
the same machine and thread count they are identical bit for bit. The last line is
``minutes: X`` (fashion-cgan target: at most 20 on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ganforge.tasks.noise_to_image import NoiseToImageTask
from ganforge.pipelines import PRETRAINED_DIR, WEIGHTS  # noqa: E402
from ganforge import checkpoint as ckpt  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fashion-cgan")
    parser.add_argument("--run-dir", type=Path, default=None)
    args = parser.parse_args()
    run_dir = args.run_dir or Path("bench-out") / f"train-{args.preset}"
    shutil.rmtree(run_dir, ignore_errors=True)
    command = [sys.executable, "-m", "ganforge.cli", "train", str(ROOT / "configs" / f"{args.preset}.yaml"),
               "--run-dir", str(run_dir), "--quiet"]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    minutes = (time.perf_counter() - start) / 60
    trained = ckpt.load_weights(ckpt.latest_checkpoint(run_dir) / NoiseToImageTask.file_name("G_ema"))
    bundled_file = PRETRAINED_DIR / args.preset / WEIGHTS
    if bundled_file.is_file():
        bundled = ckpt.load_weights(bundled_file)
        same = bundled.keys() == trained.keys() and all(torch.equal(bundled[k], trained[k]) for k in bundled)
        print(f"identical to the bundled {args.preset}: {'yes' if same else 'no'}")
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    print(f"minutes: {minutes:.2f}")


if __name__ == "__main__":
    main()
