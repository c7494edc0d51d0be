"""Projection quality: fit latents to the first Fashion-MNIST test images and report PSNR.

    python bench/projection.py [--models fashion-cgan,fashion-stylegan] [--images 8] [--steps 300,500]

For each model, step count and loss (MSE + fashion-cnn perceptual term, and MSE only), the
first ``--images`` test images are projected with their true classes
(``ganforge.latent.project``, one thread, seed 0) in the model's default space (z for dcgan,
w for stylegan). Prints a Markdown table of mean PSNR, mean fashion-cnn feature distance
(128-d penultimate layer, target to reconstruction) and time per step; the last line is
``psnr: X`` (the first model, the last step count, with the perceptual term).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import ganforge  # noqa: E402
from ganforge.data.fashion import load_fashion_mnist  # noqa: E402
from ganforge.latent import project  # noqa: E402
from ganforge.metrics.classifier import load_classifier, predict, prepare_images  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="fashion-cgan,fashion-stylegan")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--steps", default="300,500", help="comma-separated step counts")
    args = parser.parse_args()
    torch.set_num_threads(1)
    images, labels = load_fashion_mnist("test")
    images, labels = images[: args.images], labels[: args.images]
    classifier = load_classifier()[0]
    print("| model | steps | loss | mean PSNR | fashion-cnn feature distance | time per step |")
    print("|---|---|---|---|---|---|")
    headline = None
    for name in args.models.split(","):
        pipe = ganforge.load(name)
        for steps in (int(s) for s in args.steps.split(",")):
            for perceptual in (True, False):
                psnrs, distances, start = [], [], time.perf_counter()
                for image, label in zip(images, labels):
                    target = image.numpy()[..., None] if image.dim() == 2 else image.permute(1, 2, 0).numpy()
                    res = project(pipe, target, steps=steps, classes=int(label), perceptual=perceptual, progress=False)
                    pair = torch.from_numpy(np.stack([res.target, res.reconstruction])).permute(0, 3, 1, 2)
                    feats = predict(classifier, prepare_images(pair))[0]
                    psnrs.append(res.psnr)
                    distances.append(float((feats[0] - feats[1]).norm()))
                per_step = (time.perf_counter() - start) / (steps * len(images)) * 1000
                loss = "MSE + perceptual" if perceptual else "MSE only"
                print(f"| {name} ({res.space}) | {steps} | {loss} | {sum(psnrs) / len(psnrs):.1f} dB | "
                      f"{sum(distances) / len(distances):.2f} | {per_step:.0f} ms |", flush=True)
                if headline is None or (name == args.models.split(",")[0] and perceptual):
                    headline = sum(psnrs) / len(psnrs)
    print(f"psnr: {headline:.2f}")


if __name__ == "__main__":
    main()
