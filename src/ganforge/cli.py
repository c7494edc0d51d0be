"""The ``ganforge`` command line: train, generate, eval, export, info, train-classifier.

A user mistake prints one line (``error: ...``) and exits with status 2; an interrupted
training run saves a checkpoint and exits with 130.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import sys
from datetime import datetime
from pathlib import Path

import click
import numpy as np

from .errors import GanforgeError

OUT_HELP = (
    "where to write: FILE.png (one grid; a scatter plot for 2D models), FILE.npz (arrays: images "
    "(N,H,W,C) uint8 and labels (N,) int64 for conditional models, or samples (N,D) float32), "
    "or a folder (one PNG per image)"
)


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="ganforge")
def cli() -> None:
    """ganforge: train GANs on real images and generate new ones.

    \b
    Quick start:
      ganforge generate fashion-cgan --class sneaker -n 16 --out sneakers.png
      ganforge train configs/fashion-cgan.yaml train.kimg=50
    """


@cli.command(context_settings={"ignore_unknown_options": False})
@click.argument("args", nargs=-1, metavar="[CONFIG] [KEY=VALUE]...")
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path),
              help="folder for this run's config, log, samples and checkpoints (default: runs/<preset>-<time>)")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False, path_type=Path),
              help="continue the run in this folder from its latest checkpoint (then CONFIG is not given; "
                   "only train.kimg and logging/snapshot intervals may be overridden)")
@click.option("--quiet", "-q", is_flag=True, help="print nothing while training (log.jsonl is still written)")
def train(args: tuple[str, ...], run_dir: Path | None, resume_dir: Path | None, quiet: bool) -> None:
    """Train a GAN from a YAML preset (see configs/), overriding any field with KEY=VALUE.

    \b
    Keys are dotted paths into the config, values are YAML:
      ganforge train configs/fashion-cgan.yaml train.kimg=200 model.width=32 train.device=cpu
    Distributed (gloo on CPU, nccl on CUDA), same command:
      torchrun --nproc_per_node 2 -m ganforge.cli train configs/fashion-dcgan.yaml --run-dir runs/ddp
    """
    from .config import RESUME_OVERRIDABLE, apply_overrides, build_config, load_config, parse_overrides
    from .training import Trainer

    command = "ganforge train " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    if resume_dir is not None:
        import yaml

        cfg_file = resume_dir / "config.yaml"
        if not cfg_file.is_file():
            _fail(f"'{resume_dir}' is not a run folder (no config.yaml); --resume takes a folder made by ganforge train")
        overrides = parse_overrides(args)
        bad = [k for k in overrides if k not in RESUME_OVERRIDABLE]
        if bad:
            _fail(f"'{bad[0]}' cannot change on resume (it would change the training itself); "
                  f"allowed: {', '.join(RESUME_OVERRIDABLE)}")
        cfg = build_config(apply_overrides(yaml.safe_load(cfg_file.read_text()), overrides))
        trainer = Trainer(cfg, resume_dir, resume=True, quiet=quiet, command=command)
        if overrides:
            from .config import save_config_yaml

            if trainer.dist.is_main:
                save_config_yaml(trainer.cfg, resume_dir / "config.yaml")
    else:
        if not args:
            _fail("give a CONFIG file (for example configs/fashion-cgan.yaml) or --resume RUN_DIR")
        cfg = load_config(args[0], args[1:])
        if run_dir is None:
            if int(os.environ.get("WORLD_SIZE", "1")) > 1:
                _fail("under torchrun, pass --run-dir so every process writes to the same folder")
            run_dir = Path("runs") / f"{cfg.name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
        trainer = Trainer(cfg, run_dir, quiet=quiet, command=command)
    if not quiet and trainer.dist.is_main:
        m = trainer.cfg.model
        click.echo(
            f"training {m.family}{' (conditional, ' + str(m.num_classes) + ' classes)' if m.conditional else ''} "
            f"on {trainer.cfg.data.dataset} [{len(trainer.dataset)} examples] for {trainer.cfg.train.kimg:g} kimg "
            f"on {trainer.device} -> {trainer.run_dir}", err=True)
    try:
        out = trainer.fit()
    finally:
        trainer.dist.close()
    if trainer.dist.is_main and not quiet:
        click.echo(f"done: {out}\n  samples: {out / 'samples' / 'latest.png'}\n  "
                   f"checkpoint: {trainer.last_good}\n  generate: ganforge generate {out} -n 64 --out grid.png")


def _grid_columns(n: int, labels) -> int:
    if labels is not None and n:
        per_class = int(np.bincount(labels.numpy()).max())
        if per_class * len(np.unique(labels.numpy())) == n and per_class > 1:
            return per_class  # one row per class
    return max(1, math.ceil(math.sqrt(n)))


@cli.command()
@click.argument("model")
@click.option("-n", "n", type=click.IntRange(min=1, max=1_000_000), default=64, show_default=True,
              help="number of images (or points) to generate")
@click.option("--seed", type=int, default=0, show_default=True,
              help="image i of seed s is the same whatever -n")
@click.option("--class", "class_", metavar="NAME|all",
              help="class to draw (name or index) for conditional models; 'all' spreads -n evenly, a row per class")
@click.option("--truncation", type=float, default=1.0, show_default=True,
              help="truncation psi in [0, 1]: lower trades variety for typical-looking images")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help=OUT_HELP)
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
def generate(model: str, n: int, seed: int, class_: str | None, truncation: float, out: Path, device: str) -> None:
    """Generate images with MODEL: a bundled name, an exported folder or a run folder."""
    from . import load
    from .images import make_grid, save_png, scatter_png, to_uint8

    pipe = load(model)
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            _fail("--device cuda but no CUDA device is available; use --device cpu")
        pipe.to("cuda")
    suffix = out.suffix.lower()
    if suffix not in ("", ".png", ".npz"):
        _fail(f"--out '{out}': use FILE.png, FILE.npz or a folder name (no extension)")
    classes = class_ if class_ is not None else ("all" if pipe.conditional else None)
    raw, labels = pipe.generate_tensor(n, classes, seed=seed, truncation=truncation)
    out.parent.mkdir(parents=True, exist_ok=True)
    if pipe.kind == "vector":
        points = raw.numpy().astype(np.float32)
        if suffix == ".npz":
            _save_npz(out, samples=points)
        elif suffix == ".png":
            save_png(scatter_png(points), out)
        else:
            _fail("2D models write FILE.png (scatter plot) or FILE.npz")
        click.echo(f"wrote {n} points to {out}", err=True)
        return
    images = to_uint8(raw)
    if suffix == ".npz":
        arrays = {"images": images}
        if labels is not None:
            arrays["labels"] = labels.numpy().astype(np.int64)
        _save_npz(out, **arrays)
    elif suffix == ".png":
        grid = make_grid(images, _grid_columns(n, labels))
        save_png(grid, out, upscale=max(1, 512 // max(grid.shape[:2])))
    else:
        out.mkdir(parents=True, exist_ok=True)
        names = pipe.class_names
        for i, img in enumerate(images):
            tag = "" if labels is None else "-" + (names[int(labels[i])] if names else str(int(labels[i]))).replace("/", "-")
            save_png(img, out / f"seed{seed}-{i:06d}{tag}.png")
    click.echo(f"wrote {n} images to {out}", err=True)


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    import io

    from .fileio import atomic_write_bytes

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
def export(run_dir: Path, out_dir: Path) -> None:
    """Export the latest EMA generator of RUN_DIR as a model folder in OUT_DIR.

    OUT_DIR gets config.json, generator.safetensors and a README model card; use it with
    `ganforge generate OUT_DIR` or `ganforge.load(OUT_DIR)`.
    """
    from .pipeline import GeneratorPipeline

    if not (run_dir / "config.yaml").is_file():
        _fail(f"'{run_dir}' is not a run folder (no config.yaml)")
    pipe = GeneratorPipeline.from_run(run_dir)
    pipe.save_pretrained(out_dir)
    click.echo(f"exported {run_dir} -> {out_dir}", err=True)


@cli.command()
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="print the description as JSON")
def info(model: str, as_json: bool) -> None:
    """Describe MODEL: family, output, classes, size, training and metrics."""
    from . import load

    d = load(model).describe()
    if as_json:
        click.echo(json.dumps(d, indent=2))
        return
    t = d.get("training") or {}
    click.echo(f"model:      {d['source']}")
    click.echo(f"family:     {d['family']} ({d['kind']}, output {' x '.join(map(str, d['output_shape']))})")
    click.echo(f"latent:     {d['latent_dim']}")
    click.echo(f"parameters: {d['parameters']:,}")
    click.echo(f"classes:    {', '.join(d['classes']) if d['classes'] else 'unconditional'}")
    click.echo(f"data:       {d['data']}")
    if t:
        click.echo(f"training:   {t.get('kimg', '?')} kimg, {t.get('steps', '?')} steps")
        if t.get("command"):
            click.echo(f"command:    {t['command']}")
    for k, v in (d.get("metrics") or {}).items():
        click.echo(f"{k + ':':<20}{v}")


@cli.command("eval")
@click.argument("model")
@click.option("--metrics", default=None, metavar="LIST",
              help="comma-separated metrics (default: fid,kid,pr,dc,is,acc,ifid,modes where they apply; "
                   "'all' adds cas): fid, kid, pr (precision/recall), dc (density/coverage), is (classifier "
                   "score), acc (label agreement), ifid (intra-class FID), modes, cas (classification accuracy score)")
@click.option("--n", "n", type=click.IntRange(min=10), default=10_000, show_default=True,
              help="generated samples, and real samples of the reference split (mode metrics use their "
                   "protocol's count: 2,500 for 2D mixtures, 26,000 for Stacked Fashion-MNIST)")
@click.option("--ref", default=None, metavar="DATASET:SPLIT|folder:PATH",
              help="real reference data (default: the test split of the model's training data)")
@click.option("--features", default=None,
              help="feature extractor: fashion-cnn, fashion-cnn-channels, inception-v3-fid, points "
                   "(default: chosen from the model's data)")
@click.option("--weights", default=None, type=click.Path(path_type=Path),
              help="weights for the extractor: the FID Inception file (pt_inception-2015-12-05-6726825d.pth) "
                   "or a fashion-cnn folder")
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the generated samples and subsets")
@click.option("--cas-epochs", type=click.IntRange(min=1), default=None,
              help="CAS training budget in epochs over the N images (default: the fashion-cnn recipe's 15)")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="folder for eval.json and report.html (default: MODEL/eval for a run folder, else eval-<name>)")
@click.option("--json", "as_json", is_flag=True, help="print eval.json to stdout")
@click.option("--quiet", "-q", is_flag=True, help="no progress bars")
def eval_cmd(model: str, metrics: str | None, n: int, ref: str | None, features: str | None, weights: Path | None,
             seed: int, cas_epochs: int | None, out_dir: Path | None, as_json: bool, quiet: bool) -> None:
    """Score MODEL (bundled name, exported folder or run folder) against real data.

    \b
    Writes eval.json and report.html (samples, per-class grids, the metric table beside the
    real-versus-real floor of each metric, loss curves of a run). Examples:
      ganforge eval fashion-cgan --out eval-cgan
      ganforge eval runs/my-run --metrics fid,kid,cas --n 5000
      ganforge eval my-model --ref folder:/data/shoes --features inception-v3-fid --weights pt_inception.pth
    fashion-cnn numbers are comparable only with other fashion-cnn numbers, never with Inception FIDs.
    """
    import time

    from . import load
    from .metrics.evaluate import evaluate
    from .metrics.report_card import write_eval_outputs

    pipe = load(model)
    run_dir = Path(model) if (Path(model) / "config.yaml").is_file() else None
    if out_dir is None:
        out_dir = run_dir / "eval" if run_dir else Path(f"eval-{Path(model).name}")
    start = time.perf_counter()
    result = evaluate(pipe, metrics=metrics, n=n, ref=ref, features=features, weights=weights, seed=seed,
                      progress=not quiet, cas_epochs=cas_epochs)
    command = "ganforge eval " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    json_path, html_path = write_eval_outputs(out_dir, pipe, result, command=command, run_dir=run_dir,
                                              seconds=time.perf_counter() - start)
    if as_json:
        click.echo(json_path.read_text(), nl=False)
    elif not quiet:
        for key, value in result.metrics.items():
            floor = result.floors.get(key)
            click.echo(f"{key:<20}{value:>12.4f}" + (f"   (real vs real: {floor:.4f})" if floor is not None else ""))
        for name, reason in result.skipped.items():
            click.echo(f"{name:<20}{'skipped':>12}   ({reason})")
    if not quiet:
        click.echo(f"wrote {json_path} and {html_path}", err=True)


@cli.command("train-classifier")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="new folder for config.json, classifier.safetensors and README.md")
@click.option("--epochs", type=click.IntRange(min=1), default=15, show_default=True,
              help="passes over the training images")
@click.option("--width", type=click.IntRange(min=4), default=16, show_default=True,
              help="channels of the first conv block (doubled per block)")
@click.option("--seed", type=int, default=0, show_default=True, help="initialisation, data order and augmentation")
@click.option("--limit", type=click.IntRange(min=2), default=None,
              help="train on only the first N training images (default: all 60,000)")
def train_classifier(out_dir: Path, epochs: int, width: int, seed: int, limit: int | None) -> None:
    """Train fashion-cnn, the Fashion-MNIST classifier behind the offline metrics.

    Trains on the train split with ganforge's classifier recipe (the one CAS reuses), reports
    the test-split accuracy and writes a folder that `ganforge eval --features-weights DIR`
    (or the bundled copy in ganforge/metrics/weights/fashion-cnn) uses.
    """
    import torch

    from .metrics.classifier import ProgressBars, Recipe, fit_fashion_cnn

    bars = ProgressBars()
    command = "ganforge train-classifier " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    try:
        _, info = fit_fashion_cnn(out_dir, recipe=Recipe(epochs=epochs), seed=seed, width=width, limit=limit,
                                  command=command.strip(), progress=bars("fashion-cnn"))
    finally:
        bars.close()
    click.echo(f"test accuracy {info['test_accuracy']:.4f} ({torch.get_num_threads()} threads); wrote {out_dir}")


def main() -> None:
    from .training import TrainingDiverged

    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except TrainingDiverged as err:
        click.echo(f"error: training stopped: {err}", err=True)
        sys.exit(3)
    except GanforgeError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
