"""Where a StyleGAN's variety within a class comes from: z or the per-layer noise inputs.

    python bench/noise_diversity.py MODEL [MODEL ...]

MODEL is a bundled name, an exported folder or a run folder of a class-conditional
stylegan model. For each, prints the learned noise strengths and the health probe's
within-class diversity (``ganforge.metrics.diversity.probe_diversity``) of 500 images, 50
per class, with the noise inputs fixed (const), fresh (random) and off (none), and with
one z per class and only the noise fresh. The last line is ``noise_share: X``, the largest
over the models of (noise-only diversity / const-noise diversity): near 0, the noise adds
almost no variety and any collapse within classes is G ignoring z.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import ganforge  # noqa: E402
from ganforge.metrics.diversity import probe_diversity  # noqa: E402

PER_CLASS = 50


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="bundled names, exported folders or run folders")
    args = ap.parse_args()
    shares = []
    for name in args.models:
        pipe = ganforge.load(name)
        g, k = pipe.generator, pipe.config.model.num_classes
        if not (pipe.style_based and pipe.conditional):
            sys.exit(f"error: '{name}' is not a class-conditional stylegan model")
        strengths = [float(m.noise_strength) for m in g.modules() if hasattr(m, "noise_strength")]
        gen = torch.Generator().manual_seed(0)
        z = torch.randn(k * PER_CLASS, g.latent_dim, generator=gen)
        y = torch.arange(k * PER_CLASS) % k
        with torch.no_grad():
            div = {mode: probe_diversity(g(z, y, noise_mode=mode), y, k) for mode in ("const", "random", "none")}
            div["noise only"] = probe_diversity(g(z[:k].repeat(PER_CLASS, 1), y, noise_mode="random"), y, k)
        shares.append(div["noise only"] / div["const"])
        print(f"{name}: noise strengths max |s| {max(abs(s) for s in strengths):.4f} ({len(strengths)} layers)")
        print("  within-class diversity: " + ", ".join(f"{m} {v:.3f}" for m, v in div.items()))
    print(f"noise_share: {max(shares):.3f}")


if __name__ == "__main__":
    main()
