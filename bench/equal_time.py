"""Equal training time: how many kimg a preset trains in the wall-clock time of another.

Both presets' Trainers run in one process, in alternating chunks, so machine noise hits
both alike; each side's rate is the median of its chunks. The budget for CONTENDER is the
REFERENCE preset's ``train.kimg`` times the ratio of the rates. The last line is
``kimg_equal: X``.

    python bench/equal_time.py [--reference configs/fashion-cgan.yaml] [--contender configs/fashion-stylegan.yaml]
                               [--chunks 7] [--steps 30]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ganforge.tasks import load_config  # noqa: E402
from ganforge.training import Trainer  # noqa: E402

# Long enough never to end; samples and snapshots out of the way (the health probes stay:
# they are part of training).
OVERRIDES = ["train.kimg=100000", "train.sample_every_kimg=1e9", "train.snapshot_every_kimg=1e9", "train.device=cpu"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", default=str(ROOT / "configs" / "fashion-cgan.yaml"))
    ap.add_argument("--contender", default=str(ROOT / "configs" / "fashion-stylegan.yaml"))
    ap.add_argument("--chunks", type=int, default=7, help="timed chunks per side (after one warm-up chunk each)")
    ap.add_argument("--steps", type=int, default=30, help="training steps per chunk")
    args = ap.parse_args()
    if args.chunks < 1 or args.steps < 1:
        ap.error("--chunks and --steps must be at least 1")

    names = {"reference": Path(args.reference).stem, "contender": Path(args.contender).stem}
    configs = {"reference": load_config(args.reference), "contender": load_config(args.contender)}
    rates: dict[str, list[float]] = {"reference": [], "contender": []}
    with tempfile.TemporaryDirectory() as tmp:
        trainers = {side: Trainer(load_config(path, OVERRIDES), Path(tmp) / side, quiet=True)
                    for side, path in (("reference", args.reference), ("contender", args.contender))}

        def chunk(side: str) -> float:
            trainer = trainers[side]
            batch = trainer.cfg.train.batch_size
            t0 = time.perf_counter()
            trainer.run_steps(trainer.images + args.steps * batch)
            return args.steps * batch / (time.perf_counter() - t0)

        for side in trainers:  # warm-up: first calls allocate and build the health probe
            chunk(side)
        for i in range(args.chunks):
            for side in trainers:
                rates[side].append(chunk(side))
            print(f"chunk {i + 1}/{args.chunks}: {names['reference']} {rates['reference'][-1]:7.1f} img/s   "
                  f"{names['contender']} {rates['contender'][-1]:7.1f} img/s", flush=True)

    ref, con = statistics.median(rates["reference"]), statistics.median(rates["contender"])
    ref_kimg = configs["reference"].train.kimg
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    print(f"{names['reference']}: {ref:.1f} img/s (median), {ref_kimg:g} kimg = {ref_kimg * 1000 / ref / 60:.1f} min")
    print(f"{names['contender']}: {con:.1f} img/s (median), preset {configs['contender'].train.kimg:g} kimg")
    print(f"speed ratio (contender / reference): {con / ref:.3f}")
    print(f"kimg_equal: {ref_kimg * con / ref:.1f}")


if __name__ == "__main__":
    main()
