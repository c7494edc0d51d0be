"""Training and generation unchanged by a refactor: this tree against an earlier commit, bit for bit.

Trains the same short runs with the code of ``--before`` (a commit, unpacked with ``git archive``)
and with this tree, each side with its own presets, and compares every tensor of the final
checkpoint (generator, EMA generator, discriminator) exactly. Then generates fixed-seed PNGs of
every bundled model on both sides and compares the files byte for byte.

    python bench/train_parity.py [--before a6d632c] [--cgan-kimg 20] [--ring-kimg 100]

The before side is cached under ``bench-out/parity/<commit>/`` (it does not change); this tree
is run afresh every time. Both sides train in NCHW (``train.channels_last=false``, what the old
code did on a CPU). Last line: ``identical: K/N``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The last commit before the task architecture (issue 14): the reference for training and generation.
PRE_REFACTOR = "a6d632c"
BUNDLED = {  # model -> extra generate arguments
    "fashion-cgan": ["--class", "all", "-n", "40"],
    "fashion-dcgan": ["-n", "36"],
    "fashion-stylegan": ["--class", "all", "-n", "40", "--truncation", "0.7"],
}
CHECKPOINT_FILES = ("generator.safetensors", "generator_ema.safetensors", "discriminator.safetensors")


def runs(cgan_kimg: float, ring_kimg: float) -> dict[str, list[str]]:
    """Run name -> ``ganforge train`` arguments (preset and overrides)."""
    quiet = ["train.sample_every_kimg=1000000", "train.snapshot_every_kimg=1000000"]
    # The memory format is pinned to NCHW, the only one the code before the refactor used on a
    # CPU: since then the default on AVX-512 and AMX CPUs is channels-last (a deliberate change,
    # faster; it reorders float sums, so its weights are not bit-identical: docs/benchmarks.md).
    return {
        "fashion-cgan": ["configs/fashion-cgan.yaml", f"train.kimg={cgan_kimg:g}", "train.channels_last=false", *quiet],
        "toy-ring8": ["configs/toy-ring8.yaml", f"train.kimg={ring_kimg:g}", *quiet],
    }


def unpack(rev: str, dest: Path) -> Path:
    """The source tree of ``rev`` in ``dest/tree`` (once)."""
    tree = dest / "tree"
    if not (tree / "src" / "ganforge").is_dir():
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def ganforge(tree: Path, args: list[str]) -> None:
    """Run ``ganforge ARGS`` with the package of ``tree`` (its src/ first on the path)."""
    env = dict(os.environ, PYTHONPATH=str(tree / "src"))
    subprocess.run([sys.executable, "-m", "ganforge.cli", *args], cwd=tree, env=env, check=True,
                   stdout=subprocess.DEVNULL)


def produce(tree: Path, out: Path, cgan_kimg: float, ring_kimg: float, *, cached: bool) -> dict[str, float]:
    """Train every run and generate every bundled grid into ``out``; returns seconds per item."""
    seconds = {}
    for name, args in runs(cgan_kimg, ring_kimg).items():
        run_dir = out / "runs" / name
        if cached and list((run_dir / "checkpoints").glob("step-*")):
            continue
        shutil.rmtree(run_dir, ignore_errors=True)
        t0 = time.perf_counter()
        ganforge(tree, ["train", *args, "--run-dir", str(run_dir), "--quiet"])
        seconds[name] = time.perf_counter() - t0
        print(f"  trained {name} in {seconds[name]:.0f} s", flush=True)
    for model, args in BUNDLED.items():
        png = out / "generate" / f"{model}.png"
        if cached and png.is_file():
            continue
        png.parent.mkdir(parents=True, exist_ok=True)
        ganforge(tree, ["generate", model, *args, "--seed", "3", "--out", str(png)])
    return seconds


def final_checkpoint(run_dir: Path) -> Path:
    return sorted((run_dir / "checkpoints").glob("step-*"))[-1]


def same_weights(a: Path, b: Path) -> tuple[bool, str]:
    """Every tensor of two safetensors files equal bit for bit (names, dtypes, shapes, bytes)."""
    import torch
    from safetensors.torch import load_file

    wa, wb = load_file(str(a)), load_file(str(b))
    if wa.keys() != wb.keys():
        return False, f"tensor names differ ({sorted(wa.keys() ^ wb.keys())[:3]})"
    for key in wa:
        x, y = wa[key], wb[key]
        same_bytes = x.dtype == y.dtype and x.shape == y.shape and torch.equal(
            x.reshape(-1).contiguous().view(torch.uint8), y.reshape(-1).contiguous().view(torch.uint8))
        if not same_bytes:
            return False, f"tensor '{key}' differs (max |diff| {float((x.float() - y.float()).abs().max()):.3g})"
    return True, f"{len(wa)} tensors equal"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default=PRE_REFACTOR, help="the commit to compare with (default: %(default)s)")
    ap.add_argument("--cgan-kimg", type=float, default=20.0, help="length of the fashion-cgan run")
    ap.add_argument("--ring-kimg", type=float, default=100.0, help="length of the toy-ring8 run (1,000 steps)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench-out" / "parity")
    args = ap.parse_args()

    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.before], check=True,
                         capture_output=True, text=True).stdout.strip()
    key = f"{rev}-cgan{args.cgan_kimg:g}-ring{args.ring_kimg:g}"
    before_dir, after_dir = args.out / key, args.out / "current"
    print(f"before: {rev} -> {before_dir}", flush=True)
    produce(unpack(rev, before_dir), before_dir, args.cgan_kimg, args.ring_kimg, cached=True)
    print(f"after: this tree ({ROOT}) -> {after_dir}", flush=True)
    shutil.rmtree(after_dir, ignore_errors=True)
    produce(ROOT, after_dir, args.cgan_kimg, args.ring_kimg, cached=False)

    results = []
    for name in runs(args.cgan_kimg, args.ring_kimg):
        ca, cb = final_checkpoint(before_dir / "runs" / name), final_checkpoint(after_dir / "runs" / name)
        for file in CHECKPOINT_FILES:
            ok, why = same_weights(ca / file, cb / file)
            if ca.name != cb.name:
                ok, why = False, f"final checkpoints differ in step ({ca.name} vs {cb.name})"
            results.append(ok)
            print(f"{name:14s} {file:28s} {'identical' if ok else 'DIFFERENT'}: {why}")
    for model in BUNDLED:
        a, b = (d / "generate" / f"{model}.png" for d in (before_dir, after_dir))
        ha, hb = (hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in (a, b))
        results.append(ha == hb)
        print(f"{model:14s} {'generate --seed 3 PNG':28s} {'identical' if ha == hb else 'DIFFERENT'}: sha256 {ha} / {hb}")
    print(f"identical: {sum(results)}/{len(results)}")


if __name__ == "__main__":
    main()
