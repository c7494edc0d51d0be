"""Mode-collapse benchmark: PacGAN's protocol on the 2D ring and grid and on Stacked Fashion-MNIST.

    python bench/mode_collapse.py [--seeds 10 | --seed-list 2,6] [--baseline-seeds N] [--only ring8,grid25,stacked]
                                  [--jobs 2] [--kimg-scale 1.0] [--set KEY=VALUE ...] [--out bench-out/mode-collapse]

For each benchmark, a plain GAN baseline and ganforge's stabilized configuration (the
defaults of ``configs/toy-ring8.yaml``, ``configs/toy-grid25.yaml`` and
``configs/stacked-fashion.yaml``) are trained from ``--seeds`` seeds with the real Trainer,
then scored with ``ganforge.metrics.evaluate`` exactly as ``ganforge eval --metrics modes``
does (Lin et al. 2018, "PacGAN", section 5: 2,500 samples for the 2D mixtures, a sample is
high quality within 3 sigma of its nearest mode; 26,000 samples for the stacked data, each
channel classified by fashion-cnn, modes = distinct class triples). For the 2D mixtures the
table adds a column PacGAN's protocol lacks, the mode width (``mode_spread``: RMS distance of
the high-quality samples to their mode over the data's; 0.97 for the data itself), so a
generator that wins precision by drawing each mode as a few points shows it.

The table gives mean and standard error over seeds in PacGAN's format, beside PacGAN's
published rows (Lin et al. 2018, tables 2 and 3). The last line is machine-readable:
``targets_met: K/N``. Runs are independent processes (``--jobs`` at a time, ``--threads`` each);
per-run results are cached as JSON in ``--out``, so an interrupted benchmark continues; a
cached result made with another configuration (other ``--set``, a changed preset or baseline)
is refused, not reused.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

# Published rows (Lin et al. 2018, PacGAN, tables 2 and 3): modes, % high quality, reverse KL.
PUBLISHED = {
    "grid25": [("GAN (PacGAN paper)", 17.3, 94.8, 0.70), ("PacGAN4 (PacGAN paper)", 24.8, 93.6, 0.04)],
    "ring8": [("GAN (PacGAN paper)", 6.3, 98.2, 0.45), ("PacGAN2 (PacGAN paper)", 7.9, 95.6, 0.07)],
    "stacked": [("DCGAN (PacGAN paper, Stacked MNIST)", 99.0, None, 3.4),
                ("PacDCGAN2 (PacGAN paper, Stacked MNIST)", 1000.0, None, 0.06)],
}

# Targets of ganforge's stabilized configuration (issue 4): (metric, comparison, value).
TARGETS = {
    "grid25": [("modes", ">=", 25.0), ("high_quality", ">=", 0.97), ("reverse_kl", "<=", 0.02)],
    "ring8": [("modes", ">=", 8.0), ("high_quality", ">=", 0.98)],
    "stacked": [("modes", ">=", 990.0), ("kl_to_uniform", "<=", 0.1)],
}

PRESETS = {"grid25": "toy-grid25", "ring8": "toy-ring8", "stacked": "stacked-fashion"}

# The plain GAN of PacGAN's experiments in ganforge terms: G and D MLPs of 4 x 400 units,
# 2D latent without discrete codes, raw coordinates, no packing, no regularization, Adam 1e-4 (betas 0.5, 0.999), batch 100,
# no weight averaging. It trains for as many kimg as the preset.
BASELINE = {
    "grid25": ["model.pack=1", "model.latent_dim=2", "model.width=400", "model.depth=4", "model.data_scale=1",
               "model.latent_codes=0", "model.minibatch_std=false",
               "loss.name=nonsaturating", "loss.r1_gamma=0", "train.g_lr=0.0001", "train.d_lr=0.0001",
               "train.betas=[0.5,0.999]", "train.batch_size=100", "train.ema_halflife_kimg=0", "augment.kind=none"],
    # PacGAN's DCGAN (Radford et al. 2016): no spectral norm, no EMA, a constant learning rate.
    "stacked": ["model.pack=1", "model.minibatch_std=false", "model.spectral_norm=false", "loss.r1_gamma=0",
                "train.lr_decay=none", "train.ema_halflife_kimg=0", "augment.kind=none"],
}
BASELINE["ring8"] = BASELINE["grid25"]


@dataclass(frozen=True)
class Job:
    bench: str
    variant: str  # baseline | stabilized
    seed: int
    kimg_scale: float
    out: str
    threads: int = 1
    overrides: tuple[str, ...] = ()  # --set KEY=VALUE, on top of the variant's config

    @property
    def name(self) -> str:
        return f"{self.bench}-{self.variant}-seed{self.seed}"


def job_config(job: Job) -> Any:
    """The RunConfig a job trains: preset, baseline overrides, --set, seed, threads, kimg scale."""
    from ganforge.tasks import load_config

    overrides = (list(BASELINE[job.bench]) if job.variant == "baseline" else []) + list(job.overrides)
    cfg = load_config(ROOT / "configs" / f"{PRESETS[job.bench]}.yaml", overrides + [f"train.seed={job.seed}", f"train.threads={job.threads}"])
    return cfg.model_copy(update={"train": cfg.train.model_copy(update={"kimg": cfg.train.kimg * job.kimg_scale})})


def config_record(cfg: Any) -> dict:
    """What a cached row must match: the whole config but the thread count (which changes
    speed, not the configuration)."""
    from ganforge.config import config_to_dict

    record = json.loads(json.dumps(config_to_dict(cfg)))  # as a cached row holds it: tuples become lists
    record["train"].pop("threads", None)
    return record


def run_job(job: Job) -> dict:
    """Train one model and score it; cached in ``out/<name>.json``."""
    cfg = job_config(job)
    cached = Path(job.out) / f"{job.name}.json"
    if cached.is_file():
        row = json.loads(cached.read_text())
        if row.get("overrides", []) != list(job.overrides):
            raise SystemExit(f"{cached} was made with --set {row.get('overrides', [])}, not {list(job.overrides)}; "
                             "use another --out for another configuration")
        # Rows cached before the config was recorded are checked by their --set alone.
        if "config" in row and row["config"] != config_record(cfg):
            raise SystemExit(f"{cached} was made with another configuration (the preset or the baseline changed "
                             "since); use another --out, or delete it to retrain")
        return row
    import torch

    torch.set_num_threads(job.threads)
    from ganforge.metrics.evaluate import evaluate
    from ganforge.pipelines import GeneratorPipeline
    from ganforge.training import Trainer

    run_dir = Path(job.out) / "runs" / job.name
    shutil.rmtree(run_dir, ignore_errors=True)
    start = time.perf_counter()
    Trainer(cfg, run_dir, quiet=True).fit()
    seconds = time.perf_counter() - start
    pipe = GeneratorPipeline.from_run(run_dir)
    result = evaluate(pipe, metrics=["modes"], n=2500, floors=False)
    row = {"job": job.name, "bench": job.bench, "variant": job.variant, "seed": job.seed, "kimg": cfg.train.kimg,
           "train_seconds": round(seconds, 1), "overrides": list(job.overrides), **result.metrics,
           "config": config_record(cfg)}
    cached.write_text(json.dumps(row) + "\n")
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)  # keep log and samples, drop weights
    return row


def real_stacked_row() -> dict:
    """The protocol applied to 26,000 real Stacked Fashion-MNIST test images: the best a generator can score."""
    from ganforge.config import DataConfig
    from ganforge.data import build_dataset
    from ganforge.metrics import stats
    from ganforge.metrics.evaluate import STACKED_PROTOCOL_SAMPLES
    from ganforge.metrics.features import build_extractor

    data = build_dataset(DataConfig(dataset="stacked-fashion-mnist", split="test", channels=3, resolution=32,
                                    limit=STACKED_PROTOCOL_SAMPLES)).data
    logits = build_extractor("fashion-cnn-channels")(data).logits
    out = stats.stacked_mode_metrics(logits.argmax(-1))
    return {"modes": out["modes"], "kl_to_uniform": out["kl"]}


def mean_se(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, float("nan")
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


def fmt(mean: float | None, se: float | None = None, *, scale: float = 1.0, digits: int = 1) -> str:
    if mean is None:
        return "-"
    text = f"{mean * scale:.{digits}f}"
    return text if se is None or math.isnan(se) else f"{text} ± {se * scale:.{digits}f}"


def table(bench: str, rows: list[dict]) -> tuple[list[str], int, int]:
    """Lines of one benchmark's table, and (targets met, targets checked)."""
    from ganforge.data.toy import toy_mixture
    from ganforge.metrics.stats import GAUSSIAN_2D_HIGH_QUALITY, GAUSSIAN_2D_MODE_SPREAD

    kl_key = "kl_to_uniform" if bench == "stacked" else "reverse_kl"
    # The fifth column: mode width for the 2D mixtures, the channels' share of the KL for stacked.
    extra_key, extra_name = ("channel_kl", "of which channel_kl") if bench == "stacked" else ("mode_spread", "mode width")
    lines = [f"## {bench}", "", "| model | modes | % high quality | " + ("KL to uniform" if bench == "stacked" else "reverse KL")
             + f" | {extra_name} | seeds | kimg |", "|---|---|---|---|---|---|---|"]
    for name, modes, hq, kl in PUBLISHED[bench]:
        lines.append(f"| {name} | {modes} | {'-' if hq is None else hq} | {kl} | - | | |")
    if bench == "stacked":
        real = real_stacked_row()
        lines.append(f"| real test images (the ceiling) | {real['modes']} | - | {real['kl_to_uniform']:.3f} | - | | |")
    else:
        lines.append(f"| the data itself (population values) | {len(toy_mixture(bench)[0])} | {100 * GAUSSIAN_2D_HIGH_QUALITY:.1f} | 0 | {GAUSSIAN_2D_MODE_SPREAD:.2f} | | |")
    met = checked = 0
    for variant in ("baseline", "stabilized"):
        got = [r for r in rows if r["bench"] == bench and r["variant"] == variant]
        if not got:
            continue
        modes = mean_se([r["modes"] for r in got])
        hq = mean_se([r["high_quality"] for r in got]) if "high_quality" in got[0] else None
        kl = mean_se([r[kl_key] for r in got])
        extra = mean_se([r[extra_key] for r in got]) if all(extra_key in r for r in got) else None
        label = "ganforge plain GAN" if variant == "baseline" else "ganforge stabilized (preset default)"
        changed = sorted({o for r in got for o in r.get("overrides", [])})
        if changed:
            label = label.replace(" (preset default)", "") + f" with {' '.join(changed)}"
        kimg = "/".join(sorted({f"{r['kimg']:g}" for r in got}))
        lines.append(f"| {label} | {fmt(*modes)} | {fmt(*hq, scale=100) if hq else '-'} | {fmt(*kl, digits=3)} | {fmt(*extra, digits=3 if bench == 'stacked' else 2) if extra else '-'} | {len(got)} | {kimg} |")
        if variant == "stabilized":
            means = {"modes": modes[0], kl_key: kl[0]}
            if hq:
                means["high_quality"] = hq[0]
            for key, op, value in TARGETS[bench]:
                ok = means[key] >= value if op == ">=" else means[key] <= value
                met += ok
                checked += 1
                lines.append(f"|   target {key} {op} {value} | {'met' if ok else 'NOT met'} ({means[key]:.4g}) | | | | | |")
    return lines + [""], met, checked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds per configuration (PacGAN: 10)")
    parser.add_argument("--baseline-seeds", type=int, default=None,
                        help="seeds of the plain GAN baseline (default: --seeds); it costs several times the stabilized runs")
    parser.add_argument("--seed-list", default=None, metavar="S,S,...",
                        help="run exactly these seeds instead of 0..N-1 (for single-seed ablations, e.g. 8 or 2,6)")
    parser.add_argument("--only", default="ring8,grid25,stacked", help="comma-separated: ring8, grid25, stacked")
    parser.add_argument("--variants", default="baseline,stabilized", help="comma-separated: baseline, stabilized")
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per run")
    parser.add_argument("--kimg-scale", type=float, default=1.0, help="multiply every preset's train.kimg (quick looks)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for every run (repeatable), as in ganforge train; for ablations")
    parser.add_argument("--out", type=Path, default=Path("bench-out/mode-collapse"), help="results cache and run folders")
    args = parser.parse_args()
    benches = [b.strip() for b in args.only.split(",") if b.strip()]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [b for b in benches if b not in PRESETS] + [v for v in variants if v not in ("baseline", "stabilized")]
    if unknown:
        parser.error(f"unknown benchmark or variant {unknown}; accepted: {', '.join(PRESETS)} / baseline, stabilized")
    seeds = {"stabilized": args.seeds, "baseline": args.seeds if args.baseline_seeds is None else args.baseline_seeds}
    seed_lists = {v: list(range(n)) for v, n in seeds.items()}
    if args.seed_list is not None:
        try:
            chosen = [int(x) for x in args.seed_list.split(",") if x.strip()]
        except ValueError:
            parser.error(f"--seed-list takes comma-separated integers, got '{args.seed_list}'")
        seed_lists = {v: chosen for v in seeds}
        seeds = {v: len(chosen) for v in seeds}
    from ganforge.errors import GanforgeError

    jobs = [Job(b, v, s, args.kimg_scale, str(args.out), args.threads, tuple(args.overrides))
            for b in benches for v in variants for s in seed_lists[v]]
    for job in {(j.bench, j.variant): j for j in jobs}.values():  # refuse a bad --set before any run starts
        try:
            job_config(job)
        except GanforgeError as err:
            parser.error(f"--set for {job.bench} ({job.variant}): {err}")
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    rows = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for i, row in enumerate(pool.map(run_job, jobs), 1):
            rows.append(row)
            print(f"[{i}/{len(jobs)}] {row['job']}: modes {row['modes']}"
                  + (f", high quality {100 * row['high_quality']:.1f}%" if "high_quality" in row else "")
                  + f" ({row['train_seconds']} s)", file=sys.stderr, flush=True)
    met = checked = 0
    print(f"machine: {platform.processor() or platform.machine()}, {len(__import__('os').sched_getaffinity(0))} cores; "
          + (f"seeds {args.seed_list}; " if args.seed_list else f"{seeds['stabilized']} seeds ({seeds['baseline']} for the baseline); ")
          + f"kimg scale {args.kimg_scale}; "
          + (f"--set {' '.join(args.overrides)}; " if args.overrides else "") + f"{time.perf_counter() - start:.0f} s\n")
    for bench in benches:
        lines, m, c = table(bench, rows)
        print("\n".join(lines))
        met, checked = met + m, checked + c
    print(f"targets_met: {met}/{checked}")


if __name__ == "__main__":
    main()
