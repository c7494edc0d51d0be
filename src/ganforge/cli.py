"""The ``ganforge`` command line: train, generate, apply, composite, eval, audit, export, export-onnx, info,
train-classifier, interpolate, mix, project; the studio's serve, worker and keys (``studio/commands.py``).

A user mistake prints one line (``error: ...``) and exits with status 2; an interrupted
training run saves a checkpoint and exits with 130.
"""

from __future__ import annotations

import json


import shlex
import sys

from pathlib import Path

import click

from .errors import GanforgeError

OUT_HELP = (
    "where to write: FILE.png (one grid; a scatter plot for 2D models), FILE.npz (arrays: images "
    "(N,H,W,C) uint8 and labels (N,) int64 for conditional models, or samples (N,D) float32; models "
    "with traits: labels (N,T), trait_names (T,), trait_values (N,T)), or a folder (one PNG per image; "
    "models with traits add traits.json: file name -> {trait: value})"
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
      ganforge serve          (the studio: a web page and a REST API)
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
    from .service.training import finish, prepare, summary

    command = "ganforge train " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    config, overrides = (None, args) if resume_dir is not None else (args[0] if args else None, args[1:])
    trainer = prepare(config, overrides, run_dir=run_dir, resume=resume_dir, quiet=quiet, command=command)
    if not quiet and trainer.dist.is_main:
        click.echo(summary(trainer), err=True)
    result = finish(trainer)
    if result.is_main and not quiet:
        from .service.models import load_model

        use = load_model(result.run_dir).usage(str(result.run_dir))  # the task's own command (generate, apply)
        click.echo(f"done: {result.run_dir}\n  samples: {result.samples}\n  checkpoint: {result.checkpoint}\n  use: {use}")


@cli.command()
@click.argument("model")
@click.option("-n", "n", type=click.IntRange(min=1, max=1_000_000), default=64, show_default=True,
              help="number of images (or points) to generate")
@click.option("--seed", type=int, default=0, show_default=True,
              help="image i of seed s is the same whatever -n")
@click.option("--class", "class_", metavar="NAME|all",
              help="class to draw for conditional models: a name (any case) or index; 'all' spreads -n evenly, "
                   "a row per class; a,b,c: one class per image")
@click.option("--trait", "traits", metavar="NAME=VALUE", multiple=True,
              help="a trait's value in every image (repeatable: --trait hair_color=red --trait skin_color=light); "
                   "traits left out are drawn at random per image, the same for the same --seed")
@click.option("--list-traits", is_flag=True, help="print each trait of MODEL with its values, and stop")
@click.option("--truncation", type=float, default=1.0, show_default=True,
              help="truncation psi in [0, 1]: lower trades variety for typical-looking images")
@click.option("--upscale", type=click.Choice(["1", "2", "4"]), default="1", show_default=True,
              help="run the bundled photo upscaler (photo-upscale-x2 or -x4) on each image: 64 px -> 256 px with 4")
@click.option("--out", "out", type=click.Path(path_type=Path), help=OUT_HELP + " (required unless --list-traits)")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
def generate(model: str, n: int, seed: int, class_: str | None, traits: tuple[str, ...], list_traits: bool,
             truncation: float, upscale: str, out: Path | None, device: str) -> None:
    """Generate images with MODEL: a bundled name, an exported folder or a run folder.

    \b
      ganforge generate fashion-cgan --class sneaker -n 16 --out sneakers.png
      ganforge generate MODEL --list-traits
      ganforge generate MODEL --trait hair_color=red --trait skin_color=light -n 16 --out faces/
      ganforge generate MODEL -n 4 --upscale 4 --out big.png
    """
    from .service import generate as generate_images
    from .service import list_traits as model_traits

    if list_traits:
        lines = model_traits(model)
        click.echo("\n".join(lines) if lines else f"{model} is unconditional: it has no traits")
        return
    if out is None:
        _fail("--out is required: FILE.png, FILE.npz or a folder (or use --list-traits)")
    result = generate_images(model, n=n, out=out, seed=seed, classes=class_, traits=list(traits) if traits else None,
                             truncation=truncation, upscale=int(upscale), device=device)
    click.echo(f"wrote {result.count} {'points' if result.kind == 'vector' else 'images'} to {result.out}", err=True)


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
def export(run_dir: Path, out_dir: Path) -> None:
    """Export the latest EMA generator of RUN_DIR as a model folder in OUT_DIR.

    OUT_DIR gets config.json, generator.safetensors and a README model card; use it with
    `ganforge generate OUT_DIR` (noise -> image), `ganforge apply OUT_DIR` (image -> image)
    or `ganforge.load(OUT_DIR)`.
    """
    from .service import export as export_model

    export_model(run_dir, out_dir)
    click.echo(f"exported {run_dir} -> {out_dir}", err=True)


@cli.command("export-onnx")
@click.argument("model")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def export_onnx_cmd(model: str, out: Path) -> None:
    """Export MODEL's network (a bundled name, exported folder or run folder) as an ONNX file OUT.

    \b
    Dynamic batch (and height and width for image inputs), opset 17, and metadata (model,
    pipeline, tool, scale, value range) in the file. Before OUT is written, onnxruntime runs it
    against torch on two input sizes; a difference above 1e-3 fails the export. Example:
      ganforge export-onnx photo-upscale-x4 upscale-x4.onnx
      ganforge apply photo-upscale-x4 photo.jpg --out big.png --runtime onnx --onnx upscale-x4.onnx
    """
    from .service import export_onnx

    result = export_onnx(model, out)
    checks = ", ".join(f"{name} {diff:.2g}" for name, diff in result.parity.items())
    click.echo(f"wrote {result.path} (opset {result.opset}, inputs {', '.join(result.inputs)}) in {result.seconds:.1f} s; "
               f"max |onnxruntime - torch|: {checks}", err=True)


@cli.command()
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="print the description as JSON")
def info(model: str, as_json: bool) -> None:
    """Describe MODEL: what it does, task, family, scale or output, classes, size, training data
    and measured figures."""
    from .service import describe

    d = describe(model)
    if as_json:
        click.echo(json.dumps(d, indent=2))
        return
    t = d.get("training") or {}
    click.echo(f"model:      {d['source']}")
    click.echo(f"task:       {d['task']} ({d['pipeline']} pipeline)")
    if d["kind"] == "enhance":
        click.echo(f"does:       {d['does']}")
        click.echo(f"scale:      {d['scale']}x ({d['tool']}; any image size, in tiles)")
        click.echo(f"network:    {d['family']} ({d['in_channels']} -> {d['out_channels']} channels, runs in {d['precision']})")
    elif d["kind"] == "style":
        click.echo(f"does:       {d['does']} (any photo size, in tiles; --strength 0 to 1)")
        click.echo(f"network:    {d['family']} ({d['in_channels']} -> {d['out_channels']} channels, runs in {d['precision']})")
    elif d["kind"] == "image-to-image":
        click.echo(f"family:     {d['family']} ({d['in_channels']} -> {d['out_channels']} channels, any image size)")
    else:
        click.echo(f"family:     {d['family']} ({d['kind']}, output {' x '.join(map(str, d['output_shape']))})")
        click.echo(f"latent:     {d['latent_dim']}")
    click.echo(f"parameters: {d['parameters']:,}")
    traits = (d.get("conditioning") or {}).get("traits") or []
    if d["kind"] not in ("image-to-image", "enhance", "style"):
        if traits and [t["name"] for t in traits] != ["class"]:  # named traits (--trait NAME=VALUE)
            click.echo("traits:     " + "; ".join(f"{t['name']} ({', '.join(t['values'])})" for t in traits))
        else:
            click.echo(f"classes:    {', '.join(d['classes']) if d['classes'] else 'unconditional'}")
    click.echo(f"data:       {d['data']}" + (f" ({d['data_about']})" if d.get("data_about") else ""))
    if t:
        click.echo(f"training:   {t.get('kimg', '?')} kimg, {t.get('steps', '?')} steps")
        if t.get("command"):
            click.echo(f"command:    {t['command']}")
    metrics = d.get("metrics") or {}
    if metrics:
        click.echo("measured:")
    for k, v in metrics.items():
        click.echo(f"  {k + ':':<28}{v}")


@cli.command()
@click.argument("model")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="FILE.jpg/.png/.webp/.tif for a single input file (the extension picks the format); otherwise a "
                   "folder that mirrors the input names, each output in its input's format")
@click.option("--tile", default="512", show_default=True, metavar="N|none",
              help="photo and style models: process the image in tiles of N x N input pixels (memory is bounded by the tile, "
                   "not the image); 'none' runs the whole image at once")
@click.option("--overlap", type=click.IntRange(min=0), default=None,
              help="photo and style models: pixels neighbouring tiles share and blend over (default: enough for the model's "
                   "receptive field, so tiled results equal untiled ones within 1/255)")
@click.option("--noise-level", type=click.FloatRange(0, 255), default=None, metavar="SIGMA",
              help="photo-denoise: the noise's standard deviation on 0..255 if you know it (default: blind)")
@click.option("--scale", type=click.Choice(["1", "2"]), default=None,
              help="photo-restore: output at 1x (same size) or 2x (default) the input")
@click.option("--strength", type=click.FloatRange(0, 1), default=None, metavar="0..1",
              help="style models: 0 is the photo, 1 the full style (default 1); in between, colour and tone are "
                   "blended and local contrast is kept, so mid strengths do not look faded")
@click.option("--thumbnail", type=click.IntRange(16, 4096), default=None, metavar="PIXELS",
              help="style models: long side of the thumbnail whose colour statistics every tile is normalised with "
                   "(default 256, the scale the styles trained at)")
@click.option("--format", "fmt", type=click.Choice(["jpg", "png", "webp", "tif"]), default=None,
              help="folder output: write every result in this format (default: each input's own; PNG for BMP, GIF, PPM)")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default="auto", show_default=True,
              help="photo and style models: auto picks bf16 with channels-last on CPUs with AMX (and CUDA), fp32 elsewhere")
@click.option("--skip-existing", is_flag=True, help="leave outputs that already exist alone (resume a batch)")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--runtime", type=click.Choice(["torch", "onnx"]), default="torch", show_default=True,
              help="what runs the network: torch, or onnxruntime (CPU, fp32) on the model's ONNX export, in the "
                   "same tiles")
@click.option("--onnx", "onnx_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="with --runtime onnx: the file from `ganforge export-onnx` (default: export once into "
                   "~/.cache/ganforge/onnx, or $GANFORGE_CACHE/onnx, and reuse it)")
@click.option("--quiet", "-q", is_flag=True, help="no progress bar")
def apply(model: str, inputs: tuple[Path, ...], out: Path, tile: str, overlap: int | None, noise_level: float | None,
          scale: str | None, strength: float | None, thumbnail: int | None, fmt: str | None, precision: str,
          skip_existing: bool,
          device: str, runtime: str, onnx_file: Path | None, quiet: bool) -> None:
    """Run MODEL on INPUT files or folders: a photo model (photo-upscale-x2, photo-upscale-x4,
    photo-upscale-x4-gan, photo-denoise, photo-restore, photo-colorize), a style model
    (style-painting, style-cartoon, style-woodblock; task: unpaired) or an image-to-image model
    (task: paired).

    \b
    Folders are searched recursively. JPEG, PNG, WebP and TIFF in and out (also BMP, GIF, PPM
    in); alpha, greyscale, EXIF orientation, ICC profiles and dpi are kept. A file that cannot
    be read is reported and skipped; the exit status is 1 if any failed. Outputs are written
    atomically, so an interrupted batch resumes with --skip-existing. Examples:
      ganforge apply photo-upscale-x4 shop/ --out shop-x4/
      ganforge apply photo-denoise night.jpg --out night-clean.jpg --noise-level 25
      ganforge apply photo-restore grandma.tif --out grandma-restored.png --scale 1
      ganforge apply style-painting photo.jpg --out art.png --strength 0.75
    """
    import time

    from tqdm import tqdm

    from .service import apply as apply_model

    from click.core import ParameterSource

    from .pipelines.image import OptionError

    if tile.lower() in ("none", "0"):
        tile_px = None
    elif tile.isdigit():
        tile_px = int(tile)
    else:
        _fail(f"--tile must be a number of pixels or 'none', got '{tile}'")
    # The model's options (pipe.options_model) are checked by the service; only flags the user gave
    # are passed, so a model gets its own defaults and refuses a flag it does not take.
    ctx = click.get_current_context()
    values = {"tile": tile_px, "overlap": overlap, "noise_level": noise_level, "scale": int(scale) if scale else None,
              "strength": strength, "thumbnail": thumbnail, "precision": precision}
    options = {k: v for k, v in values.items() if ctx.get_parameter_source(k) is not ParameterSource.DEFAULT}
    bar = tiles = None
    started = time.monotonic()

    def progress(event) -> None:
        nonlocal bar, tiles
        if event.stage == "tiles":  # a second bar within a large photo, gone when it is done
            if quiet or event.total is None or event.total < 4:
                return
            if tiles is None:
                tiles = tqdm(total=event.total, unit="tile", desc=Path(event.info["file"]).name, leave=False,
                             dynamic_ncols=True, position=1)
            tiles.update(event.done - tiles.n)
            if event.done >= event.total:
                tiles.close()
                tiles = None
            return
        if bar is None:
            bar = tqdm(total=event.total, unit="image", disable=quiet, desc="applying", dynamic_ncols=True)
        elapsed = max(time.monotonic() - started, 1e-9)
        bar.set_postfix_str(f"{event.info['megapixels'] / elapsed:.2f} MP/s", refresh=False)
        bar.update(event.done - bar.n)

    try:
        result = apply_model(model, list(inputs), out=out, device=device, fmt=fmt, skip_existing=skip_existing,
                             runtime=runtime, onnx=onnx_file, progress=progress, **options)
    except OptionError as err:
        _fail(err.text(lambda name: "--" + name.replace("_", "-")))
    finally:
        if bar is not None:
            bar.close()
    for path, reason in result.failed:
        click.echo(f"failed {path}: {reason}", err=True)
    elapsed = time.monotonic() - started
    parts = [f"wrote {len(result.written)} image{'s' if len(result.written) != 1 else ''} to {out}",
             f"{result.megapixels:.1f} MP in {elapsed:.1f} s"]
    if result.skipped:
        parts.append(f"{len(result.skipped)} already existed")
    if result.failed:
        parts.append(f"{len(result.failed)} failed")
    click.echo("; ".join(parts), err=True)
    if result.failed:
        sys.exit(1)


@cli.command()
@click.argument("subject", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("background", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="FILE.jpg/.png/.webp/.tif: the background's size; the extension picks the format")
@click.option("--x", "x", type=int, default=None, help="the subject's centre, pixels from the background's left "
                                                        "(default: the centre)")
@click.option("--y", "y", type=int, default=None, help="the subject's centre, pixels from the background's top "
                                                        "(default: the centre)")
@click.option("--scale", type=float, default=None, metavar="FACTOR",
              help="the subject's size factor, after cropping it to its alpha (default 1)")
@click.option("--blend", type=click.Choice(["normal", "mixed", "none"]), default=None,
              help="Poisson blending: normal (the subject's gradients, default), mixed (the stronger of the subject's "
                   "and the background's: its texture shows through), none")
@click.option("--blend-strength", type=float, default=None, metavar="0..1",
              help="how far Poisson blending goes: 1 is seamless cloning (OpenCV's seamlessClone), 0 none "
                   "(default 0.25: flat subjects keep their colours)")
@click.option("--harmonize", type=float, default=None, metavar="0..1",
              help="colour transfer (mean and spread in Lab) toward the background around the subject: 0 none, "
                   "1 its statistics (default 0.3)")
@click.option("--feather", type=int, default=None, metavar="PIXELS",
              help="pixels over which the subject's edge fades in, inside its outline (default 2)")
@click.option("--matte", type=click.Choice(["alpha", "border"]), default=None,
              help="what is subject: its alpha channel (default; an image without one is refused), or everything "
                   "but a uniform border colour (a render on black or white)")
@click.option("--shadow", is_flag=True, default=None, help="add a contact shadow on the ground under the subject")
@click.option("--shadow-opacity", type=float, default=None, metavar="0..1",
              help="the shadow's darkness (default 0.5)")
@click.option("--shadow-blur", type=float, default=None, metavar="PIXELS",
              help="the shadow's softness (default 3% of the subject's height)")
@click.option("--shadow-dx", type=int, default=None, metavar="PIXELS", help="the shadow's offset to the right")
@click.option("--shadow-dy", type=int, default=None, metavar="PIXELS", help="the shadow's offset downward")
@click.option("--quiet", "-q", is_flag=True, help="no progress bar")
def composite(subject: Path, background: Path, out: Path, quiet: bool, **values) -> None:
    """Place SUBJECT (a cut-out with transparency) on BACKGROUND, blended so that it belongs.

    \b
    Colour transfer, then Poisson (gradient-domain) blending inside the subject's outline, a
    feathered edge and an optional contact shadow. Any size and format the photo tools read
    (PNG, JPEG, BMP, GIF, TIFF, WebP, PPM); the result keeps the background's size, metadata
    and alpha. Examples:
      ganforge composite product.png kitchen.jpg --out ad.jpg --scale 0.5 --y 600 --shadow
      ganforge composite avatar.png beach.jpg --out post.png --matte border --blend mixed
    """
    import time

    from tqdm import tqdm

    from .pipelines.image import OptionError
    from .service.compositing import composite as run_composite

    options = {k: v for k, v in values.items() if v is not None}
    started = time.monotonic()
    bar = None

    def progress(event) -> None:
        nonlocal bar
        if quiet or event.total is None or event.total < 2:
            return
        if bar is None:
            bar = tqdm(total=event.total, unit="step", desc="blending", dynamic_ncols=True, leave=False)
        bar.update(event.done - bar.n)

    try:
        result = run_composite(subject, background, out=out, progress=progress, **options)
    except OptionError as err:
        _fail(err.text(lambda name: "--" + name.replace("_", "-")))
    finally:
        if bar is not None:
            bar.close()
    width, height = result.size
    click.echo(f"wrote {result.out} ({width} x {height}) in {time.monotonic() - started:.1f} s", err=True)


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
    from .service.evaluation import evaluate

    command = "ganforge eval " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    outcome = evaluate(model, metrics=metrics, n=n, ref=ref, features=features, weights=weights, seed=seed,
                       cas_epochs=cas_epochs, out_dir=out_dir, command=command, progress=not quiet)
    result, json_path, html_path = outcome.result, outcome.json_path, outcome.html_path
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


# ----------------------------------------------------------------------------- latent tools
def _int_list(text: str, option: str, *, most: int = 10_000) -> list[int]:
    """'1,2,5-8' -> [1, 2, 5, 6, 7, 8] (ranges inclusive); anything else is a one-line error."""
    import re

    values: list[int] = []
    for part in text.split(","):
        part = part.strip()
        single, span = re.fullmatch(r"-?\d+", part), re.fullmatch(r"(\d+)-(\d+)", part)
        if single:
            values.append(int(part))
        elif span and int(span[1]) <= int(span[2]):
            values.extend(range(int(span[1]), int(span[2]) + 1))
        else:
            _fail(f"{option} '{text}': expected comma-separated integers or ranges, for example 1,2,5-8")
        if len(values) > most:
            _fail(f"{option} '{text}': more than {most} values")
    return values


@cli.command("interpolate")
@click.argument("model")
@click.option("--seeds", required=True, metavar="LIST",
              help="keyframe seeds, at least two: 1,2,3 or 0-4 (ranges include both ends); seed s is the first "
                   "image of `ganforge generate MODEL --seed s`")
@click.option("--steps", type=click.IntRange(0, 1000), default=8, show_default=True,
              help="in-between frames from one keyframe to the next")
@click.option("--space", type=click.Choice(["z", "w"]), default=None,
              help="walk in z (any model) or in w (models with a mapping network, such as stylegan)  "
                   "[default: w where the model has a mapping network, else z]")
@click.option("--method", type=click.Choice(["lerp", "slerp"]), default=None,
              help="linear or spherical interpolation  [default: slerp in z, lerp in w]")
@click.option("--class", "class_", metavar="NAME",
              help="class of every frame (name, any case, or index); required for conditional models")
@click.option("--truncation", type=float, default=1.0, show_default=True,
              help="truncation psi in [0, 1], as in generate: lower trades variety for typical-looking images")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="FILE.png: a grid, one row per pair of keyframes (each row starts and ends on a keyframe); "
                   "FILE.gif: an animation that loops forever")
@click.option("--fps", type=click.FloatRange(1, 50), default=12, show_default=True, help="GIF frames per second")
def interpolate_cmd(model: str, seeds: str, steps: int, space: str | None, method: str | None, class_: str | None,
                    truncation: float, out: Path, fps: float) -> None:
    """Walk through MODEL's latent space from seed to seed: a grid or an animated GIF.

    \b
    MODEL is a bundled name, an exported folder or a run folder. Examples:
      ganforge interpolate fashion-dcgan --seeds 1,2,3 --steps 8 --out walk.gif
      ganforge interpolate fashion-cgan --seeds 0-3 --class sneaker --out walk.png
    """
    from .service.latent import interpolate

    keys = _int_list(seeds, "--seeds")
    frames = interpolate(model, seeds=keys, out=out, steps=steps, space=space, method=method,
                         classes=class_, truncation=truncation, fps=fps)
    click.echo(f"wrote {frames} frames ({len(keys)} keyframes, {steps} between each) to {out}", err=True)


@cli.command("mix")
@click.argument("model")
@click.option("--rows", "rows", required=True, metavar="LIST",
              help="seeds of the rows, the destination images: 1,2,3 or 1-3")
@click.option("--cols", "cols", required=True, metavar="LIST",
              help="seeds of the columns, whose styles replace the rows' at --layers: 4,5,6 or 4-6")
@click.option("--layers", default=None, metavar="LIST",
              help="style layers taken from the columns, 0 = the coarsest (4 px): 0-3 or 0,1,5  "
                   "[default: the coarse half, 0 to num_ws/2 - 1: pose and shape from the columns]")
@click.option("--class", "class_", metavar="NAME",
              help="class of every image (name, any case, or index); required for conditional models")
@click.option("--truncation", type=float, default=1.0, show_default=True, help="truncation psi in [0, 1], applied in w")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="FILE.png: column images across the top, row images down the left, mixes inside")
def mix_cmd(model: str, rows: str, cols: str, layers: str | None, class_: str | None, truncation: float,
            out: Path) -> None:
    """Style mixing for models with a mapping network (stylegan): StyleGAN's mixing figure.

    \b
    Cell (r, c) is row seed r's image with the styles of --layers taken from column seed c.
      ganforge mix fashion-stylegan --rows 1,2,3 --cols 4,5,6 --layers 0-3 --out mix.png
    """
    from .service.latent import mix

    row_seeds, col_seeds = _int_list(rows, "--rows", most=100), _int_list(cols, "--cols", most=100)
    chosen = None if layers is None else _int_list(layers, "--layers", most=1000)
    mix(model, rows=row_seeds, cols=col_seeds, out=out, layers=chosen, classes=class_, truncation=truncation)
    click.echo(f"wrote a {len(row_seeds)} x {len(col_seeds)} style-mixing grid to {out}", err=True)


@cli.command("project")
@click.argument("model")
@click.argument("image")
@click.option("--space", type=click.Choice(["w", "w+", "z"]), default=None,
              help="w: one w for every layer; w+: one w per layer (closer fits, less editable); z: the input "
                   "noise (any model)  [default: w where the model has a mapping network, else z]")
@click.option("--steps", type=click.IntRange(1, 100_000), default=500, show_default=True, help="optimiser steps")
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=0.1, show_default=True,
              help="peak learning rate of Adam (ramped up over the first 5%% of the steps, down over the last 25%%)")
@click.option("--class", "class_", metavar="NAME",
              help="class of the image (name or index); required for conditional models")
@click.option("--seed", type=int, default=0, show_default=True,
              help="seed of the exploration noise; the same seed gives the same result")
@click.option("--perceptual/--no-perceptual", default=None,
              help="add a feature distance on the bundled fashion-cnn classifier to the pixel MSE  "
                   "[default: on for 1-channel 28/32 px Fashion-MNIST models, else off]")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="folder for projected_w.safetensors (latent + metadata), target.png (the image as the model "
                   "sees it), reconstruction.png and comparison.png (target | reconstruction)")
@click.option("--force", is_flag=True,
              help="write into an existing non-empty --out folder, replacing only the four files above")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="CPU threads for torch: one image at a time gains little from more, and on busy cores "
                   "more threads can be many times slower")
@click.option("--quiet", "-q", is_flag=True, help="no progress bar")
def project_cmd(model: str, image: str, space: str | None, steps: int, lr: float, class_: str | None, seed: int,
                perceptual: bool | None, out_dir: Path, force: bool, threads: int, quiet: bool) -> None:
    """Find the latent of MODEL whose image is closest to IMAGE (StyleGAN2's projector).

    \b
    IMAGE (PNG, JPEG, BMP, GIF, TIFF, WEBP, PPM; at most 16.7 megapixels and 50 MiB) is
    converted to the model's channels, centre-cropped and resized to its resolution. Prints
    the reconstruction error (MSE of pixels in [0, 1], PSNR in dB). Example:
      ganforge project fashion-cgan shoe.png --class sneaker --out proj-shoe
    """
    import torch

    from .service.latent import PROJECTION_FILES, project

    torch.set_num_threads(threads)
    outcome = project(model, image, out_dir=out_dir, force=force, space=space, steps=steps, lr=lr,
                      classes=class_, seed=seed, perceptual=perceptual, progress=not quiet)
    result = outcome.result
    click.echo(f"mse {result.mse:.6f}  psnr {result.psnr:.2f} dB  ({result.space} space, {steps} steps, "
               "pixels in [0, 1])")
    if not quiet:
        click.echo(f"wrote {', '.join(PROJECTION_FILES)} to {out_dir}", err=True)


@cli.command("audit")
@click.argument("real", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("synthetic", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--holdout", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="real rows the synthesizer never saw (CSV or Parquet, the real table's columns): the reference "
                   "for what chance gives in every privacy figure, and TSTR/TRTR's test set")
@click.option("--target", default=None, metavar="COL",
              help="a column to predict for TSTR/TRTR (classes: macro F1; numbers: R^2); without it, no TSTR/TRTR")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="folder for audit.json (the figures, the inputs' rows and column kinds, the flags, versions) and "
                   "report.html (one self-contained page with the charts)")
@click.option("--seed", type=int, default=0, show_default=True,
              help="seed of the gradient-boosting models and of the row samples of the distance figures")
@click.option("--json", "as_json", is_flag=True, help="print audit.json to stdout")
@click.option("--quiet", "-q", is_flag=True, help="print nothing but errors (and --json)")
def audit_cmd(real: Path, synthetic: Path, holdout: Path, target: str | None, out_dir: Path, seed: int, as_json: bool,
              quiet: bool) -> None:
    """Audit SYNTHETIC, a table made from REAL (its training rows), for utility and privacy.

    \b
    REAL, SYNTHETIC and --holdout are CSV (UTF-8, a header line) or Parquet files with the same
    columns; SYNTHETIC may come from any tool. Utility: TSTR against TRTR (with --target),
    column similarity, the difference of the association matrices. Privacy: the exact-copy rate,
    the distance to the closest record (DCR) to training against holdout rows, the
    nearest-neighbour distance ratio, a membership-inference attack's AUC (0.5 is chance,
    the goal is <= 0.55). Figures past their limits are listed as flags. Example:
      ganforge audit train.csv synth.csv --holdout test.csv --target diagnosis --out audit
    The exit status is 0 even when there are flags; read "flags" in audit.json.
    """
    from .service.audit import audit_tables

    def progress(event) -> None:
        if not quiet and event.stage != "done":
            click.echo(f"[{event.done + 1}/{event.total}] {event.stage}", err=True)

    outcome = audit_tables(real, synthetic, holdout, target=target, out=out_dir, seed=seed, progress=progress)
    doc = outcome.doc
    if as_json:
        click.echo(outcome.json_path.read_text(), nl=False)
    elif not quiet:
        from .metrics.tables.figures import ORDER
        from .report import format_number

        for key in ORDER:
            if doc.get(key) is not None:
                click.echo(f"{key:<26}{format_number(doc[key]):>12}")
        for flag in doc["flags"]:
            click.echo(f"flag: {flag}")
    if not quiet:
        click.echo(f"wrote {outcome.json_path} and {outcome.html_path}", err=True)


from .studio.commands import COMMANDS as _STUDIO_COMMANDS  # noqa: E402

for _command in _STUDIO_COMMANDS:
    cli.add_command(_command)


def main() -> None:
    from .errors import TrainingDiverged, TrainingUnhealthy

    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except (TrainingDiverged, TrainingUnhealthy) as err:
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
