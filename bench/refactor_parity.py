"""Every bundled model's outputs unchanged by a refactor (issue 23): record hashes, then check them.

    python bench/refactor_parity.py --record bench/refactor_parity.baseline.json   # on the code before
    python bench/refactor_parity.py --check bench/refactor_parity.baseline.json    # on the code after
    [--only cli,python,studio,onnx,train] [--out bench-out/refactor-parity]

Runs every case of the selected groups on this tree and stores a SHA-256 of each output: the
decoded pixels (mode, size and pixel bytes of every frame; arrays by name, dtype, shape and
bytes; every tensor of a safetensors file) and, for information only, the file's bytes (PNG text
chunks hold the version, so file bytes may differ where pixels do not).

- ``cli``: ``ganforge generate`` of fashion-cgan, fashion-dcgan and fashion-stylegan (``--class
  all``, a class name, an index; PNG, NPZ and folder outputs), ``interpolate`` (PNG and GIF) and
  ``mix`` (stylegan), each a subprocess; ``apply`` of every photo-* and style-* model on three
  photos the bench draws from a fixed seed (RGB, grey, RGBA; 160 x 120), with default options,
  with each model's own option (``--noise-level 25``, ``--scale 1``, ``--strength 0.5``) and
  with ``--tile 64``; a JPEG output and ``--precision bf16`` once.
- ``onnx``: ``apply --runtime onnx`` of every photo and style model on the three photos, the
  exports made afresh in a scratch ``$GANFORGE_CACHE`` (their file hashes are information).
- ``python``: ``ganforge.load(name).generate(...)`` and ``ganforge.load(name)(image, ...)``.
- ``studio``: the app in-process (fastapi's TestClient, a scratch data dir, one key) runs a job of
  every tool that GET /v1/tools lists, for each of its models, through the API a client uses
  today (POST /v1/uploads, POST /v1/jobs {tool, model, params, inputs}); plus one job with
  non-default parameters per tool.
- ``train``: ``ganforge train configs/fashion-cgan.yaml train.kimg=20`` (a few minutes), then
  every tensor of the final checkpoint and of ``ganforge export``'s generator.

Everything runs with one thread (``OMP_NUM_THREADS=1``, ``torch.set_num_threads(1)``): thread
counts reorder float sums. ``--record`` with ``--only`` replaces those groups in an existing file
and keeps the others. ``--check`` prints ``case | recorded | now | same`` and exits non-zero when
a recorded case differs or is missing. Last line: ``parity: K/N identical``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # before torch is imported: one thread, one order of sums
    os.environ[_var] = "1"

import argparse  # noqa: E402
import hashlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tomllib  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageSequence  # noqa: E402

GROUPS = ("cli", "onnx", "python", "studio", "train")
GENERATION = ("fashion-cgan", "fashion-dcgan", "fashion-stylegan")
CONDITIONAL = ("fashion-cgan", "fashion-stylegan")
PHOTO = ("photo-upscale-x2", "photo-upscale-x4", "photo-upscale-x4-gan", "photo-denoise", "photo-restore",
         "photo-colorize")
STYLE = ("style-cartoon", "style-painting", "style-woodblock")
OWN_OPTION = {  # model -> (CLI flags, Python keywords) of the option only it takes
    "photo-denoise": (["--noise-level", "25"], {"noise_level": 25}),
    "photo-restore": (["--scale", "1"], {"scale": 1}),
    **{m: (["--strength", "0.5"], {"strength": 0.5}) for m in STYLE},
}
PHOTOS = ("rgb", "grey", "rgba")  # the bench's test photos, inputs/<name>.png
TRAIN_ARGS = ["configs/fashion-cgan.yaml", "train.kimg=20", "train.seed=0",
              # no samples or intermediate snapshots: only the final checkpoint is compared
              "train.sample_every_kimg=1000000", "train.snapshot_every_kimg=1000000"]

Digest = dict[str, Any]  # {"pixels": sha256, "bytes": sha256 or None, "what": short description, ...}


# Hashes --------------------------------------------------------------------------------------

class Hasher:
    """SHA-256 over typed chunks, each prefixed by its length (so chunk boundaries count)."""

    def __init__(self) -> None:
        self.h = hashlib.sha256()

    def add(self, *parts: bytes | str | int | float | None) -> "Hasher":
        for p in parts:
            b = p if isinstance(p, bytes) else repr(p).encode()
            self.h.update(len(b).to_bytes(8, "little") + b)
        return self

    def hex(self) -> str:
        return self.h.hexdigest()


def pil_digest(img: Image.Image, h: Hasher | None = None) -> tuple[Hasher, str]:
    """Hash every frame's mode, size, palette and pixel bytes (and frame duration); a summary."""
    h = h or Hasher()
    n = 0
    for frame in ImageSequence.Iterator(img):
        frame.load()
        h.add(frame.mode, *frame.size, frame.tobytes(), frame.info.get("duration"))
        if frame.mode == "P":
            h.add(bytes(frame.getpalette() or []))
        n += 1
    what = f"{img.mode} {img.size[0]}x{img.size[1]}" + (f", {n} frames" if n > 1 else "")
    return h, what


def array_digest(arrays: dict[str, np.ndarray]) -> tuple[str, str]:
    h = Hasher()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.add(name, str(a.dtype), *a.shape, a.tobytes())
    return h.hex(), ", ".join(f"{k} {arrays[k].dtype}{list(arrays[k].shape)}" for k in sorted(arrays))


def safetensors_digest(path: Path) -> Digest:
    """Every tensor's name, dtype, shape and bytes (bf16 included: compared as raw bytes)."""
    import torch
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    h, per_tensor = Hasher(), {}
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes()
        per_tensor[name] = hashlib.sha256(raw).hexdigest()[:16]
        h.add(name, str(t.dtype), *t.shape, raw)
    return {"pixels": h.hex(), "bytes": file_sha(path), "what": f"{len(tensors)} tensors", "tensors": per_tensor}


def file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def file_digest(path: Path) -> Digest:
    """The digest of an output file: images decoded, NPZ arrays, safetensors tensors."""
    if path.suffix == ".npz":
        with np.load(path) as z:
            pixels, what = array_digest({k: z[k] for k in z.files})
    elif path.suffix == ".safetensors":
        return safetensors_digest(path)
    else:
        with Image.open(path) as img:
            h, what = pil_digest(img)
            pixels = h.hex()
    return {"pixels": pixels, "bytes": file_sha(path), "what": what}


def image_digest(obj: Image.Image | np.ndarray) -> Digest:
    """The digest of an in-memory result (a PIL image or an array); no file bytes."""
    if isinstance(obj, Image.Image):
        h, what = pil_digest(obj)
        return {"pixels": h.hex(), "bytes": None, "what": what}
    pixels, what = array_digest({"array": np.asarray(obj)})
    return {"pixels": pixels, "bytes": None, "what": what}


# Inputs --------------------------------------------------------------------------------------

def make_photos(folder: Path) -> dict[str, Path]:
    """Three 160 x 120 test photos from a fixed seed: gradients, shapes and noise (RGB), its grey
    version, and RGBA with an alpha gradient and a transparent hole."""
    rng = np.random.default_rng(23)
    h, w = 120, 160
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([x / w * 255, y / h * 255, (1 - x / w) * 160 + 40 * np.sin(y / 9)], axis=2)
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    draw.ellipse((20, 15, 75, 70), fill=(230, 200, 40))
    draw.rectangle((90, 30, 140, 95), fill=(30, 60, 170), outline=(250, 250, 250), width=3)
    draw.polygon([(10, 110), (60, 80), (80, 115)], fill=(180, 30, 60))
    draw.line((0, 0, 159, 119), fill=(0, 0, 0), width=2)
    pixels = np.asarray(img).astype(np.float32) + rng.normal(0, 12, (h, w, 3))
    rgb = Image.fromarray(np.clip(pixels, 0, 255).round().astype(np.uint8), "RGB")
    alpha = np.clip(x / w * 255 + 40, 0, 255).astype(np.uint8)
    alpha[40:60, 60:100] = 0
    rgba = rgb.copy()
    rgba.putalpha(Image.fromarray(alpha, "L"))
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, im in zip(PHOTOS, (rgb, rgb.convert("L"), rgba)):
        paths[name] = folder / f"{name}.png"
        im.save(paths[name])
    return paths


# The CLI -------------------------------------------------------------------------------------

def console_script() -> str:
    """``module:function`` of the ``ganforge`` console script, from this tree's pyproject.toml
    (what the installed ``ganforge`` command runs; robust to the CLI moving between modules)."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["scripts"]["ganforge"]


def run_cli(args: list[str], env: dict[str, str]) -> None:
    """``ganforge ARGS`` in a subprocess with this tree's package; raises with its stderr on failure."""
    module, func = console_script().split(":")
    launcher = f"import sys; sys.argv[0] = 'ganforge'; from {module} import {func} as main; sys.exit(main())"
    proc = subprocess.run([sys.executable, "-c", launcher, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ganforge {' '.join(args)} exited {proc.returncode}: "
                           f"{(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")


def cli_env(out: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT / "src"), GANFORGE_CACHE=str(out / "cache"),
                OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


Case = tuple[str, Callable[[], dict[str, Digest]]]  # (label, run -> {case name: digest})


def folder_digests(folder: Path, prefix: str) -> dict[str, Digest]:
    return {f"{prefix}/{p.relative_to(folder).as_posix()}": file_digest(p)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def cli_cases(out: Path, photos: dict[str, Path]) -> list[Case]:
    env = cli_env(out)
    cases: list[Case] = []

    def file_case(name: str, args: list[str], suffix: str) -> Case:
        path = out / f"{name.replace('/', '__')}{suffix}"

        def run() -> dict[str, Digest]:
            run_cli([*args, "--out", str(path)], env)
            return {f"cli/{name}{suffix}": file_digest(path)}
        return name + suffix, run

    def folder_case(name: str, args: list[str]) -> Case:
        folder = out / name.replace("/", "__")

        def run() -> dict[str, Digest]:
            run_cli([*args, "--out", str(folder)], env)
            return folder_digests(folder, f"cli/{name}")
        return name + "/", run

    # generate: every class, a class by name, by index, a folder of PNGs
    for model in GENERATION:
        g = ["generate", model]
        if model in CONDITIONAL:
            for suffix in (".png", ".npz"):
                cases.append(file_case(f"generate/{model}/class-all", [*g, "--class", "all", "-n", "20", "--seed", "3"],
                                       suffix))
            cases.append(file_case(f"generate/{model}/class-sneaker", [*g, "--class", "sneaker", "-n", "8", "--seed", "5"],
                                   ".npz"))
            cases.append(file_case(f"generate/{model}/class-2-psi0.7",
                                   [*g, "--class", "2", "-n", "8", "--seed", "5", "--truncation", "0.7"], ".png"))
            cases.append(folder_case(f"generate/{model}/folder-class-bag", [*g, "--class", "bag", "-n", "3", "--seed", "9"]))
        else:
            for suffix in (".png", ".npz"):
                cases.append(file_case(f"generate/{model}/n16", [*g, "-n", "16", "--seed", "3"], suffix))
            cases.append(file_case(f"generate/{model}/n8-psi0.7", [*g, "-n", "8", "--seed", "5", "--truncation", "0.7"],
                                   ".png"))
            cases.append(folder_case(f"generate/{model}/folder", [*g, "-n", "3", "--seed", "9"]))
    # interpolate: the default space and method, and the other ones
    for model in GENERATION:
        cls = ["--class", "sneaker"] if model in CONDITIONAL else []
        i = ["interpolate", model, *cls]
        cases.append(file_case(f"interpolate/{model}/seeds0-2", [*i, "--seeds", "0-2", "--steps", "3"], ".png"))
        cases.append(file_case(f"interpolate/{model}/seeds4,7-lerp-z",
                               [*i, "--seeds", "4,7", "--steps", "5", "--method", "lerp", "--space", "z",
                                "--truncation", "0.8"], ".gif"))
    cases.append(file_case("interpolate/fashion-stylegan/seeds1,2-slerp-z-class-1",
                           ["interpolate", "fashion-stylegan", "--class", "1", "--seeds", "1,2", "--steps", "4",
                            "--space", "z", "--method", "slerp", "--fps", "5"], ".gif"))
    # mix (models with a mapping network)
    m = ["mix", "fashion-stylegan", "--rows", "1,2", "--cols", "4-6"]
    cases.append(file_case("mix/fashion-stylegan/class-bag", [*m, "--class", "bag"], ".png"))
    cases.append(file_case("mix/fashion-stylegan/class-0-layers-2-5-psi0.7",
                           [*m, "--class", "0", "--layers", "2-5", "--truncation", "0.7"], ".png"))
    # apply: the three photos with defaults, the model's own option, small tiles
    folder_in = photos["rgb"].parent
    for model in (*PHOTO, *STYLE):
        a = ["apply", model, "-q"]
        cases.append(folder_case(f"apply/{model}/default", [*a, str(folder_in)]))
        if model in OWN_OPTION:
            flags = OWN_OPTION[model][0]
            cases.append(file_case(f"apply/{model}/rgb-{'-'.join(flags).lstrip('-')}", [*a, str(photos["rgb"]), *flags],
                                   ".png"))
        cases.append(file_case(f"apply/{model}/rgba-tile-64", [*a, str(photos["rgba"]), "--tile", "64"], ".png"))
    cases.append(file_case("apply/photo-upscale-x2/rgb-jpeg", ["apply", "photo-upscale-x2", "-q", str(photos["rgb"])],
                           ".jpg"))
    cases.append(file_case("apply/photo-denoise/rgb-bf16-tile-48-overlap-8",
                           ["apply", "photo-denoise", "-q", str(photos["rgb"]), "--precision", "bf16", "--tile", "48",
                            "--overlap", "8"], ".png"))
    return cases


def onnx_cases(out: Path, photos: dict[str, Path]) -> list[Case]:
    env = cli_env(out)
    cache = out / "cache" / "onnx"
    cases: list[Case] = []

    def apply_case(model: str, name: str, inputs: str, extra: list[str]) -> Case:
        folder = out / f"{model}-{name}"

        def run() -> dict[str, Digest]:
            # a single input file is written to a file in the folder (--out names a file then)
            target = folder / Path(inputs).name if Path(inputs).is_file() else folder
            folder.mkdir(parents=True, exist_ok=True)
            run_cli(["apply", model, "-q", "--runtime", "onnx", inputs, *extra, "--out", str(target)], env)
            digests = folder_digests(folder, f"onnx/apply/{model}/{name}")
            exports = sorted(cache.glob(f"{model}-*.onnx"))  # the export's bytes: information, not compared
            for d in digests.values():
                d["onnx_file"] = file_sha(exports[-1])[:16] if exports else None
            return digests
        return f"apply/{model}/{name}", run

    for model in (*PHOTO, *STYLE):
        cases.append(apply_case(model, "default", str(photos["rgb"].parent), []))
    cases.append(apply_case("photo-denoise", "noise-level-25-tile-64", str(photos["rgb"]),
                            ["--noise-level", "25", "--tile", "64"]))
    cases.append(apply_case("style-painting", "strength-0.5-tile-64", str(photos["rgba"]),
                            ["--strength", "0.5", "--tile", "64"]))
    return cases


# Python --------------------------------------------------------------------------------------

def python_cases(out: Path, photos: dict[str, Path]) -> list[Case]:
    import ganforge

    cases: list[Case] = []

    def case(name: str, fn: Callable[[], Image.Image | np.ndarray]) -> Case:
        return name, lambda: {f"python/{name}": image_digest(fn())}

    for model in GENERATION:
        load = lambda model=model: ganforge.load(model)  # noqa: E731 (fresh each case: no state carried over)
        if model in CONDITIONAL:
            cases.append(case(f"{model}/generate-20-all-seed3", lambda load=load: load().generate(20, "all", seed=3)))
            cases.append(case(f"{model}/generate-8-sneaker-seed5", lambda load=load: load().generate(8, "sneaker", 5)))
            cases.append(case(f"{model}/generate-6-index2-psi0.6",
                              lambda load=load: load().generate(6, classes=2, seed=1, truncation=0.6)))
            cases.append(case(f"{model}/generate-4-list",
                              lambda load=load: load().generate(4, classes=["bag", "dress", 0, "sandal"], seed=2)))
        else:
            cases.append(case(f"{model}/generate-16-seed3", lambda load=load: load().generate(16, seed=3)))
            cases.append(case(f"{model}/generate-6-psi0.6",
                              lambda load=load: load().generate(6, seed=1, truncation=0.6)))
    for model in (*PHOTO, *STYLE):
        for photo in PHOTOS:
            cases.append(case(f"{model}/{photo}", lambda model=model, photo=photo:
                              ganforge.load(model)(Image.open(photos[photo]))))
        if model in OWN_OPTION:
            kwargs = OWN_OPTION[model][1]
            label = "-".join(f"{k}-{v}" for k, v in kwargs.items())
            cases.append(case(f"{model}/rgb-{label}", lambda model=model, kwargs=kwargs:
                              ganforge.load(model)(Image.open(photos["rgb"]), **kwargs)))
        cases.append(case(f"{model}/array-tile-64-overlap-12", lambda model=model: ganforge.load(model)(
            np.asarray(Image.open(photos["rgb"])), tile=64, overlap=12)))
    return cases


# The studio ----------------------------------------------------------------------------------

def studio_cases(out: Path, photos: dict[str, Path]) -> list[Case]:
    """One case per (tool, model) job listed by GET /v1/tools, plus one non-default job per tool;
    the client is made once on first use and kept for the group."""
    from fastapi.testclient import TestClient

    from ganforge.studio.app import create_app
    from ganforge.studio.auth import create_key
    from ganforge.studio.settings import StudioSettings

    shutil.rmtree(out / "studio-data", ignore_errors=True)
    app = create_app(StudioSettings(data_dir=out / "studio-data"))
    client = TestClient(app)
    client.__enter__()  # the lifespan (and its local queue); closed by the group's finally
    _, secret = create_key(app.state.store, "parity", rate="1000000/min")
    headers = {"Authorization": f"Bearer {secret}"}

    def check(r, status: int) -> dict:
        if r.status_code != status:
            raise RuntimeError(f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text[:300]}")
        return r.json()

    files = [("files", (p.name, p.read_bytes(), "image/png")) for p in photos.values()]
    uploads = [u["id"] for u in check(client.post("/v1/uploads", files=files, headers=headers), 201)["uploads"]]
    tools = check(client.get("/v1/tools", headers=headers), 200)

    def run_job(tool: dict, model: dict, params: dict) -> dict[str, Digest]:
        body = {"tool": tool["name"], "model": model["name"], "params": params,
                "inputs": uploads if tool["takes_images"] else []}
        job = check(client.post("/v1/jobs", json=body, headers=headers), 202)
        deadline = time.monotonic() + 600
        while job["status"] in ("queued", "running"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"job {job['id']} still {job['status']} after 600 s")
            time.sleep(0.05)
            job = check(client.get(f"/v1/jobs/{job['id']}", headers=headers), 200)
        if job["status"] != "succeeded":
            raise RuntimeError(f"job {job['status']}: {job.get('error')} {[it.get('error') for it in job['items']]}")
        label = ";".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in params.items())
        digests = {}
        for it in job["items"]:
            r = client.get(it["result_url"], headers=headers)
            if r.status_code != 200:
                raise RuntimeError(f"GET {it['result_url']}: {r.status_code}")
            with Image.open(io.BytesIO(r.content)) as img:
                h, what = pil_digest(img)
            digests[f"studio/{tool['name']}/{model['name']}/{label or 'defaults'}/item{it['index']}"] = {
                "pixels": h.hex(), "bytes": hashlib.sha256(r.content).hexdigest(), "what": what}
        return digests

    cases: list[Case] = []
    for tool in tools:
        if len(tool["inputs"]) > 1:
            continue  # a tool of several named inputs (composite) came after the baseline; its own tests cover it
        props = tool["params_schema"].get("properties", {})
        for k, model in enumerate(tool["models"]):
            classes = (model.get("details") or {}).get("classes")
            params = {}
            if tool["name"] == "generate":
                params = {"seeds": [0, 3], "count": 10}
            elif tool["name"] in ("interpolate", "mix") and classes:
                params = {"classes": "sneaker"}  # a conditional model walks or mixes one class
            cases.append((f"{tool['name']}/{model['name']}", lambda t=tool, m=model, p=params: run_job(t, m, p)))
            if k:
                continue
            # one job with non-default parameters, on the tool's first model
            extra = {"generate": {"seeds": [7], "count": 6, "truncation": 0.7, **({"classes": "2"} if classes else {})},
                     "interpolate": {"seeds": [2, 5, 6], "steps": 2, "method": "lerp", "truncation": 0.8,
                                     **({"classes": "bag"} if classes else {})},
                     "mix": {"rows": [3], "cols": [8, 9], "layers": "1-3", "truncation": 0.9,
                             **({"classes": "0"} if classes else {})}}.get(tool["name"])
            if extra is None:  # an image tool: small tiles and its own options
                extra = {"tile": 64}
                for key, value in (("noise_level", 25), ("scale", 1), ("strength", 0.5)):
                    if key in props:
                        extra[key] = value
            cases.append((f"{tool['name']}/{model['name']} (non-default)",
                          lambda t=tool, m=model, p=extra: run_job(t, m, p)))
    cases.append(("(stop the app)", lambda: client.__exit__(None, None, None) or {}))
    return cases


# Training ------------------------------------------------------------------------------------

def train_cases(out: Path, photos: dict[str, Path]) -> list[Case]:
    env = cli_env(out)
    run_dir, export_dir = out / "run", out / "export"

    def train() -> dict[str, Digest]:
        t0 = time.perf_counter()
        run_cli(["train", *TRAIN_ARGS, "--run-dir", str(run_dir), "--quiet"], env)
        print(f"    trained in {time.perf_counter() - t0:.0f} s", flush=True)
        final = sorted((run_dir / "checkpoints").glob("step-*"))[-1]
        return {f"train/fashion-cgan-20kimg/checkpoint/{p.name}": {**file_digest(p), "step": final.name}
                for p in sorted(final.glob("*.safetensors"))}

    def export() -> dict[str, Digest]:
        run_cli(["export", str(run_dir), str(export_dir)], env)
        digests = {f"train/fashion-cgan-20kimg/export/{p.name}": file_digest(p)
                   for p in sorted(export_dir.glob("*.safetensors"))}
        grid = out / "export-generate.png"
        run_cli(["generate", str(export_dir), "--class", "all", "-n", "20", "--seed", "3", "--out", str(grid)], env)
        digests["train/fashion-cgan-20kimg/export/generate-class-all.png"] = file_digest(grid)
        return digests

    return [("train fashion-cgan 20 kimg", train), ("export and generate", export)]


CASES: dict[str, Callable[[Path, dict[str, Path]], list[Case]]] = {
    "cli": cli_cases, "onnx": onnx_cases, "python": python_cases, "studio": studio_cases, "train": train_cases}


# Running, recording, checking ----------------------------------------------------------------

def machine() -> dict[str, Any]:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    import torch

    versions = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
                "pillow": Image.__version__}
    try:
        import onnxruntime

        versions["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "avx512": "avx512f" in flags,
            "amx": any(f.startswith("amx") for f in flags), "threads": torch.get_num_threads(), **versions}


def commit() -> str:
    """This tree's commit, "-dirty" when the code under test (src/, configs/, pyproject.toml) has
    uncommitted changes (a bench or doc edit does not change what is measured)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout.strip()

    try:
        dirty = git("status", "--porcelain", "--", "src", "configs", "pyproject.toml")
        return git("rev-parse", "--short=12", "HEAD") + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_group(group: str, out: Path) -> tuple[dict[str, Digest], dict[str, str], float]:
    """Run every case of ``group`` in ``out/group`` (made afresh); (digests, errors by label, seconds)."""
    import torch

    torch.set_num_threads(1)
    work = out / group
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    t0 = time.perf_counter()
    photos = make_photos(out / "inputs")
    digests: dict[str, Digest] = {f"inputs/{p.name}": file_digest(p) for p in photos.values()}
    errors: dict[str, str] = {}
    try:
        cases = CASES[group](work, photos)
    except Exception as err:  # the group cannot start (the studio does not import, ...)
        traceback.print_exc()
        return digests, {f"{group} (set-up)": f"{type(err).__name__}: {err}"}, time.perf_counter() - t0
    for i, (label, fn) in enumerate(cases, 1):
        t1 = time.perf_counter()
        try:
            got = fn()
        except Exception as err:
            errors[f"{group}/{label}"] = f"{type(err).__name__}: {err}"
            print(f"  [{group} {i}/{len(cases)}] {label}: ERROR {errors[f'{group}/{label}']}", flush=True)
            continue
        digests.update(got)
        print(f"  [{group} {i}/{len(cases)}] {label}: {len(got)} output(s) in {time.perf_counter() - t1:.1f} s",
              flush=True)
    return digests, errors, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:5]))
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--record", type=Path, metavar="FILE.json",
                      help="run the cases and store their hashes, the machine and the commit in FILE.json")
    mode.add_argument("--check", type=Path, metavar="FILE.json",
                      help="run the cases again and compare with FILE.json (exit 1 if any differs or is missing)")
    ap.add_argument("--only", default=",".join(GROUPS),
                    help="comma-separated case groups out of %(default)s (train takes a few minutes)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench-out" / "refactor-parity",
                    help="scratch folder for outputs, ONNX exports and the studio's data (default: %(default)s)")
    args = ap.parse_args()
    groups = [g.strip() for g in args.only.split(",") if g.strip()]
    unknown = [g for g in groups if g not in GROUPS]
    if unknown or not groups:
        ap.error(f"--only: unknown group(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(GROUPS)}")
    if args.check and not args.check.is_file():
        ap.error(f"--check: no file {args.check}; make it with --record on the code before the change")

    here, rev = machine(), commit()
    print(f"commit {rev}; {here['cpu']}, {here['cores']} cores, {here['threads']} thread; "
          f"torch {here['torch']}; groups: {', '.join(groups)}; scratch: {args.out}", flush=True)
    now: dict[str, Digest] = {}
    errors: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for group in groups:
        print(f"{group}:", flush=True)
        d, e, s = run_group(group, args.out)
        for name, digest in d.items():
            now[name] = {**digest, "group": "inputs" if name.startswith("inputs/") else group}
        errors.update(e)
        seconds[group] = round(s, 1)
        print(f"{group}: {sum(1 for n in d if not n.startswith('inputs/'))} outputs, {len(e)} errors, {s:.0f} s",
              flush=True)

    if args.record:
        if errors:
            for label, why in errors.items():
                print(f"error: {label}: {why}")
            sys.exit(f"not recorded: {len(errors)} case(s) failed")
        data = json.loads(args.record.read_text()) if args.record.is_file() else {"groups": {}, "cases": {}}
        data["cases"] = {k: v for k, v in data["cases"].items() if v.get("group") not in groups}
        data["cases"].update(now)
        for group in groups:
            data["groups"][group] = {"commit": rev, "seconds": seconds[group], "machine": here,
                                     "recorded": time.strftime("%Y-%m-%d %H:%M:%S")}
        data["cases"] = dict(sorted(data["cases"].items()))
        args.record.write_text(json.dumps(data, indent=1) + "\n")
        n = sum(1 for v in now.values() if v["group"] != "inputs")
        print(f"recorded {n} outputs ({len(now) - n} inputs) of {', '.join(groups)} in {args.record}")
        print(f"recorded: {n}")
        return

    data = json.loads(args.check.read_text())
    for group in groups:
        g = data["groups"].get(group)
        if g:
            print(f"{group}: recorded at {g['commit']} on {g['machine']['cpu']} ({g['seconds']:.0f} s); "
                  f"now {rev}, {seconds[group]:.0f} s")
        else:
            print(f"{group}: not in {args.check}")
    wanted = {k: v for k, v in data["cases"].items() if v.get("group") in (*groups, "inputs")}
    print()
    print("| case | recorded | now | same | file bytes |")
    print("|---|---|---|---|---|")
    same = 0
    for name, old in wanted.items():
        new = now.get(name)
        ok = new is not None and new["pixels"] == old["pixels"]
        same += ok
        if new is None:
            shown, file_bytes = "missing", ""
        else:
            shown = new["pixels"][:12] + ("" if ok or new["what"] == old["what"] else f" ({new['what']})")
            file_bytes = "same" if new.get("bytes") == old.get("bytes") else ("" if old.get("bytes") is None else "differ")
        extra = ""
        if not ok and new is not None and "tensors" in old and "tensors" in new:
            diff = [t for t in old["tensors"] if old["tensors"][t] != new["tensors"].get(t)]
            extra = f" ({len(diff)} tensors differ, first {diff[0]})" if diff else " (tensor names differ)"
        print(f"| {name} | {old['pixels'][:12]} | {shown} | {'yes' if ok else 'NO' + extra} | {file_bytes} |")
    new_cases = sorted(set(now) - set(data["cases"]))
    for name in new_cases:
        print(f"| {name} | (not recorded) | {now[name]['pixels'][:12]} | - | |")
    for label, why in errors.items():
        print(f"error: {label}: {why}")
    print()
    print(f"parity: {same}/{len(wanted)} identical")
    if same != len(wanted) or not wanted:
        sys.exit(1)


if __name__ == "__main__":
    main()
