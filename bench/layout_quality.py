"""Quality at equal kimg under each memory format / precision: is a faster default as good?

Trains the same preset (same seed, same steps) once per variant, then scores each run's EMA
generator with the same FID protocol (fashion-cnn features, N generated against N test
images). Variants: ``nchw`` (fp32, the layout of earlier releases), ``channels_last`` (fp32,
the default on AVX-512, AMX and CUDA), ``bf16`` (bf16 autocast, channels-last). Also says
whether each variant's weights are bit-identical to ``nchw``'s.

    python bench/layout_quality.py [--kimg 20] [--variants nchw,channels_last] [--n 5000] [--seeds 0,1]

With several seeds the spread between seeds of one variant says how far apart two equally good
runs land, the yardstick for the gap between variants. Last line: ``fid_ratio: X`` = mean FID of
the second variant / mean FID of the first (1.0 = equal).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import ganforge  # noqa: E402
from ganforge import checkpoint as ckpt  # noqa: E402
from ganforge.metrics.evaluate import evaluate  # noqa: E402
from ganforge.service import train  # noqa: E402

VARIANTS = {
    "nchw": ["train.channels_last=false", "train.precision=fp32"],
    "channels_last": ["train.channels_last=true", "train.precision=fp32"],
    "bf16": ["train.channels_last=true", "train.precision=bf16"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "fashion-cgan.yaml"))
    ap.add_argument("--kimg", type=float, default=20.0)
    ap.add_argument("--variants", default="nchw,channels_last", help=f"comma-separated, of {', '.join(VARIANTS)}")
    ap.add_argument("--n", type=int, default=5000, help="generated and real images per FID")
    ap.add_argument("--seeds", default="0", help="comma-separated train.seed values, each run per variant")
    ap.add_argument("--out", type=Path, default=ROOT / "bench-out" / "layout")
    args = ap.parse_args()
    names = args.variants.split(",")
    unknown = [v for v in names if v not in VARIANTS]
    if unknown or len(names) < 2:
        ap.error(f"--variants: give two or more of {', '.join(VARIANTS)}")

    seeds = [int(x) for x in args.seeds.split(",")]
    rows: dict[tuple[str, int], tuple[Path, float, float]] = {}
    for seed in seeds:
        for name in names:
            run = args.out / f"{Path(args.config).stem}-{args.kimg:g}kimg-{name}-seed{seed}"
            shutil.rmtree(run, ignore_errors=True)
            overrides = [f"train.kimg={args.kimg:g}", "train.sample_every_kimg=1000000",
                         "train.snapshot_every_kimg=1000000", "train.device=cpu", f"train.seed={seed}", *VARIANTS[name]]
            start = time.perf_counter()
            train(args.config, overrides, run_dir=run, quiet=True)
            seconds = time.perf_counter() - start
            fid = evaluate(ganforge.load(run), metrics=["fid"], n=args.n, floors=False).metrics["fid"]
            rows[name, seed] = (run, seconds, fid)
            print(f"{name:14s} seed {seed}: trained {args.kimg:g} kimg in {seconds:6.0f} s   FID {fid:.3f}", flush=True)

    print(f"machine: {torch.get_num_threads()} torch threads, torch {torch.__version__}; FID: fashion-cnn, "
          f"{args.n} generated vs {args.n} test images")
    print(f"| variant | seed | seconds | FID | G_ema bit-identical to {names[0]} |")
    print("|---|---|---|---|---|")
    for (name, seed), (run, seconds, fid) in rows.items():
        reference = ckpt.load_weights(ckpt.latest_checkpoint(rows[names[0], seed][0]) / "generator_ema.safetensors")
        weights = ckpt.load_weights(ckpt.latest_checkpoint(run) / "generator_ema.safetensors")
        same = all(torch.equal(weights[k], reference[k]) for k in reference)
        print(f"| {name} | {seed} | {seconds:.0f} | {fid:.3f} | {'yes' if same else 'no'} |")
    means = {name: sum(rows[name, s][2] for s in seeds) / len(seeds) for name in names}
    for name in names:
        fids = [rows[name, s][2] for s in seeds]
        print(f"{name}: mean FID {means[name]:.3f} over {len(seeds)} seed(s) (range {min(fids):.3f} .. {max(fids):.3f})")
    print(f"fid_ratio: {means[names[1]] / means[names[0]]:.3f}")


if __name__ == "__main__":
    main()
