"""A paired (image-to-image) model on held-out pairs: L1 and PSNR beside the identity mapping's.

    python bench/paired_eval.py [--run runs/shapes-pix2pix] [--train] [--n 500]

``--train`` first trains ``configs/shapes-pix2pix.yaml`` into ``--run`` (about 7 minutes on 2
cores) and reports how long it took. The model is scored on the test split of its own data set
(never trained on). Last line: ``l1: X`` (identity: Y; lower is better).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import ganforge  # noqa: E402
from ganforge.data import build_dataset  # noqa: E402
from ganforge.metrics.paired import paired_scores  # noqa: E402
from ganforge.service import train  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=ROOT / "runs" / "shapes-pix2pix", help="run folder or exported model")
    ap.add_argument("--train", action="store_true", help="train configs/shapes-pix2pix.yaml into --run first")
    ap.add_argument("--n", type=int, default=500, help="held-out pairs")
    args = ap.parse_args()
    if args.train:
        shutil.rmtree(args.run, ignore_errors=True)
        start = time.perf_counter()
        train(ROOT / "configs" / "shapes-pix2pix.yaml", run_dir=args.run, quiet=True)
        print(f"trained configs/shapes-pix2pix.yaml in {time.perf_counter() - start:.0f} s")
    pipe = ganforge.load(args.run)
    held = build_dataset(pipe.config.data.model_copy(update={"split": "test", "limit": args.n}))
    start = time.perf_counter()
    scores = paired_scores(pipe.network, held.source, held.target)
    seconds = time.perf_counter() - start
    print(f"{len(held)} held-out pairs of {pipe.config.data.dataset} at {held.target.shape[-1]} px "
          f"({seconds:.1f} s, {len(held) / seconds:.0f} pairs/s)")
    print("| | L1 (pixels in [0, 1]) | PSNR (dB) |")
    print("|---|---|---|")
    print(f"| model | {scores['l1']:.4f} | {scores['psnr']:.2f} |")
    print(f"| identity mapping | {scores['l1_identity']:.4f} | {scores['psnr_identity']:.2f} |")
    print(f"l1: {scores['l1']:.4f} (identity: {scores['l1_identity']:.4f})")


if __name__ == "__main__":
    main()
