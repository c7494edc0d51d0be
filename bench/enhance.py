"""The photo-enhancement models against classic baselines, every figure side by side in one run.

    python bench/enhance.py [--only upscale,denoise,restore,colorize,speed,memory] [--quick]
                            [--crop 0] [--photos N] [--threads 2] [--model-dir DIR] [--pictures [DIR]] [--write-metrics]

Needs ``pip install -e .[bench]`` (bm3d, opencv-python-headless) for the denoise baselines and
the evaluation photos (``mate-backgrounds``, ``plasma-workspace-wallpapers``; never trained on).
Models are the bundled ones (``src/ganforge/pretrained/<name>``) or ``--model-dir DIR/<name>``;
a section whose model is missing says so and its targets count as not measured.

Sections (all images uint8 RGB; every ganforge model runs in fp32 with tile 512 unless a row
says otherwise):

* ``upscale``: photo-upscale-x2, -x4, -x4-gan against Pillow bicubic and Lanczos. HR: each
  evaluation photo (``--crop N``: its centre N x N; default 0, the whole photo), cropped at the
  bottom/right to a multiple of the scale; LR: HR downscaled with Pillow BICUBIC. PSNR and SSIM
  (Wang et al. 2004: Gaussian window 11, sigma 1.5, valid region) on the BT.601 luma
  Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 (R, G, B in 0..255), ``scale`` border pixels
  cropped; means over photos. High-frequency energy: the share of the Y channel's power
  spectrum (mean removed, Hann-windowed 256 x 256 blocks, averaged periodogram) at radial
  frequencies above half Nyquist (> 0.25 cycles/pixel). The x4 model also runs in bf16 (the
  PSNR it costs decides whether bf16 may be the default on AMX CPUs).
* ``denoise`` at sigma 15, 25, 50: the centre 256 x 256 of 8 evaluation photos (every
  ``len/8``-th of the list); noise: seeded Gaussian (numpy PCG64, seed 1000 * sigma + photo
  index) added to RGB in 0..255 as float, clipped to 0..255 and rounded. PSNR (RGB) of the
  noisy input, ganforge photo-denoise blind and told ``noise_level=sigma``, CBM3D
  (``bm3d.bm3d_rgb``, told sigma) and OpenCV's ``fastNlMeansDenoisingColored`` (7/21 windows,
  h = hColor = f * sigma with f from {0.4 .. 1.2} chosen per sigma by the best mean PSNR on
  these very crops: an oracle setting, so its figure is an upper bound). All outputs rounded
  to uint8 before scoring.
* ``restore``: the centre 512 x 512 of the same 8 photos, degraded by ``second_order`` (scale 2;
  ``torch.Generator`` seed 2000 + photo index; rounded to uint8) -> PSNR (RGB) and SSIM (Y)
  against the clean crop of: bicubic x2 of the degraded input, photo-restore (2x) and the chain
  photo-denoise (blind) -> photo-upscale-x2; at 1x: photo-restore ``scale=1`` and the
  degraded input itself against the clean crop downscaled with Pillow BICUBIC.
* ``colorize``: the upscale set, made grey (Pillow ``convert("L")``) and colorized: colourfulness
  (Hasler & Suesstrunk 2003) of results over that of the originals (ratio of the means over
  photos), RGB PSNR of the result and of the grey input (L repeated) against the original.
* ``speed``: output megapixels per second of x4 on a 512 x 512 LR crop (centre of the first
  photo), this process's ``--threads``: ganforge photo-upscale-x4 (fp32 and bf16) and an
  SRVGGNetCompact (Real-ESRGAN's compact x4 net, 64 channels, 16 body convolutions, random
  weights) through the same tiling code (ganforge's time also includes its PIL conversions);
  alternating, median of 5 runs after a warm-up.
* ``memory``: peak resident set (ru_maxrss) of a fresh subprocess that loads photo-upscale-x2
  and upscales a 6000 x 4000 photo (the first evaluation photo resized) with tile 512.

``--quick`` (a smoke test, figures not comparable): 2 photos, 256-px upscale and colorize
crops, 128-px denoise and restore crops, a 128-px speed input and 2 repeats, a 1200 x 800
memory input. ``--photos N`` keeps the first N photos of each set (otherwise full-run settings).
``--pictures [DIR]`` (default docs/images/enhance) writes before/after PNGs of
256-px crops (the most detailed window) for the first two photos of each section.
``--write-metrics`` stores each measured model's figures under "metrics" in its folder's
config.json (other keys kept; atomic), where ``ganforge info`` shows them.

A full run should take about half an hour on 2 cores (estimated from subsets: most of it is
CBM3D and the x2 model on whole photos). Prints one markdown table per section, then the targets met or missed; the last line is
``targets_met: M/N (missed: X, not measured: Y)``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402
from torch import nn  # noqa: E402

import ganforge  # noqa: E402
from ganforge.data.degradations import second_order  # noqa: E402
from ganforge.data.photoio import read_photo  # noqa: E402
from ganforge.data.photos import evaluation_photos  # noqa: E402
from ganforge.errors import GanforgeError  # noqa: E402
from ganforge.fileio import atomic_write_text  # noqa: E402
from ganforge.metrics.paired import psnr_of_mse  # noqa: E402
from ganforge.pipelines.base import PRETRAINED_DIR  # noqa: E402
from ganforge.tiling import run_tiled  # noqa: E402
from ganforge.runtime import default_channels_last, has_amx  # noqa: E402

SECTIONS = ("upscale", "denoise", "restore", "colorize", "speed", "memory")
SIGMAS = (15, 25, 50)
NLM_FACTORS = (0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.2)
RESTORE_SEED, PICTURE_SIDE, PICTURES_PER_TOOL = 2000, 256, 2
TILE = 512
RESTORE_LABELS = {"degraded, bicubic x2": "bicubic x2", "ganforge photo-restore": "ganforge restore",
                  "photo-denoise -> photo-upscale-x2": "denoise -> x2"}


@dataclass(frozen=True)
class Sizes:
    """How much of the evaluation set each section uses (full run or ``--quick``)."""

    photos: int | None  # photos in the upscale / colorize set (None: all)
    crop: int  # centre crop side of upscale / colorize photos (0: whole photo)
    small_photos: int  # photos in the denoise / restore set
    denoise_side: int
    restore_side: int  # HR side; the degraded input is half of it
    speed_side: int  # LR side of the speed input
    repeats: int
    memory_size: tuple[int, int]


FULL = Sizes(photos=None, crop=0, small_photos=8, denoise_side=256, restore_side=512, speed_side=512, repeats=5,
             memory_size=(6000, 4000))
QUICK = Sizes(photos=2, crop=256, small_photos=2, denoise_side=128, restore_side=128, speed_side=128, repeats=2,
              memory_size=(1200, 800))


@dataclass
class Target:
    name: str
    met: bool | None  # None: not measured
    detail: str


@dataclass
class Bench:
    """What every section shares: settings, models, and what it found."""

    sizes: Sizes
    model_dir: Path
    pictures: Path | None
    threads: int
    photos: list[Path]
    targets: list[Target] = field(default_factory=list)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # model name -> figures
    _models: dict[str, Any] = field(default_factory=dict)

    def model(self, name: str):
        """The pipeline ``name`` from ``model_dir`` in fp32, or None (said once) when it is not there."""
        if name not in self._models:
            path = self.model_dir / name
            if (path / "config.json").is_file():
                self._models[name] = ganforge.load(path).set_precision("fp32")
            else:
                print(f"  ({name} is not in {self.model_dir}: its rows are left out; train it with "
                      f"bench/train_photo_models.sh {name})")
                self._models[name] = None
        return self._models[name]

    def record(self, model: str, **figures: Any) -> None:
        self.metrics.setdefault(model, {}).update(figures)

    def target(self, name: str, met: bool | None, detail: str) -> None:
        self.targets.append(Target(name, met, detail))

    def picture(self, name: str, panels: list[tuple[str, np.ndarray]]) -> None:
        if self.pictures is not None:
            save_panels(self.pictures / f"{name}.png", panels)


# ------------------------------------------------------------------------------------ metrics
def luma(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> ITU-R BT.601 Y in 16..235 as float64 (H, W), the usual SR protocol."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    return 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB of two arrays on a 0..peak scale."""
    return psnr_of_mse(float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)) / peak ** 2)


def ssim(a: np.ndarray, b: np.ndarray, *, strip: int = 512) -> float:
    """Mean SSIM (Wang et al. 2004, eq. 13: Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03, L 255,
    valid region only, as BasicSR computes it) of two 2D arrays in 0..255, ``strip`` rows at a time
    so that a whole photo needs no full-size float maps."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    g = torch.exp(-((torch.arange(11, dtype=torch.float32) - 5) ** 2) / (2 * 1.5 ** 2))
    g /= g.sum()
    rows, cols = g.view(1, 1, 11, 1).repeat(5, 1, 1, 1), g.view(1, 1, 1, 11).repeat(5, 1, 1, 1)
    total, count = 0.0, 0
    for top in range(0, a.shape[0] - 10, strip):
        x = torch.from_numpy(np.asarray(a[top:top + strip + 10], dtype=np.float32))
        y = torch.from_numpy(np.asarray(b[top:top + strip + 10], dtype=np.float32))
        # The five local moments in one separable, grouped convolution.
        m = F.conv2d(F.conv2d(torch.stack([x, y, x * x, y * y, x * y])[None], rows, groups=5), cols, groups=5)[0]
        mx, my = m[0], m[1]
        sxx, syy, sxy = m[2] - mx * mx, m[3] - my * my, m[4] - mx * my
        s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
        total += float(s.sum())
        count += s.numel()
    return total / count


def ssim_rgb_luma(a: np.ndarray, b: np.ndarray, border: int = 0) -> tuple[float, float]:
    """(PSNR, SSIM) on the Y channel of two uint8 RGB images, ``border`` pixels cropped."""
    ya, yb = luma(a), luma(b)
    if border:
        ya, yb = ya[border:-border, border:-border], yb[border:-border, border:-border]
    return psnr(ya, yb), ssim(ya, yb)


def high_frequency_share(rgb: np.ndarray, block: int = 256) -> float:
    """Share of the Y channel's power above half Nyquist (radial frequency > 0.25 cycles/pixel),
    DC excluded: Welch's averaged periodogram over non-overlapping Hann-windowed ``block``-pixel
    blocks (the window keeps block edges from leaking into the high frequencies)."""
    y = luma(rgb)
    side = min(block, *y.shape)
    hann = np.outer(np.hanning(side), np.hanning(side))
    fy, fx = np.fft.fftfreq(side)[:, None], np.fft.rfftfreq(side)[None, :]
    high = np.hypot(fy, fx) > 0.25
    power = np.zeros((side, side // 2 + 1))
    for top in range(0, y.shape[0] - side + 1, side):
        for left in range(0, y.shape[1] - side + 1, side):
            tile = y[top:top + side, left:left + side]
            power += np.abs(np.fft.rfft2((tile - tile.mean()) * hann)) ** 2
    power[0, 0] = 0.0
    return float(power[high].sum() / power.sum())


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler & Suesstrunk (2003), eq. 3: rg = R - G, yb = (R + G) / 2 - B on 0..255,
    C = sqrt(std_rg^2 + std_yb^2) + 0.3 sqrt(mean_rg^2 + mean_yb^2)."""
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean()))


# -------------------------------------------------------------------------------------- data
def load_rgb(path: Path) -> np.ndarray:
    pixels = read_photo(path).pixels
    return np.repeat(pixels[:, :, None], 3, axis=2) if pixels.ndim == 2 else pixels


def centre(rgb: np.ndarray, side: int) -> np.ndarray:
    """The centre ``side`` x ``side`` crop (0: the whole image)."""
    if not side:
        return rgb
    h, w = rgb.shape[:2]
    side = min(side, h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return np.ascontiguousarray(rgb[top:top + side, left:left + side])


def resize(rgb: np.ndarray, size: tuple[int, int], method: int) -> np.ndarray:
    """Pillow resize of a uint8 image to (width, height)."""
    return np.asarray(Image.fromarray(rgb).resize(size, method))


def small_set(bench: Bench) -> list[Path]:
    """The denoise / restore photos: every len/n-th evaluation photo."""
    n = min(bench.sizes.small_photos, len(bench.photos))
    return [bench.photos[i * len(bench.photos) // n] for i in range(n)]


def as_array(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


# ---------------------------------------------------------------------------------- pictures
def detail_window(rgb: np.ndarray, side: int, align: int = 1) -> tuple[int, int]:
    """(top, left) of the ``side``-pixel window with the most gradient energy (on a grid of
    half-window steps, multiples of ``align``): the crop that shows what a model does to detail."""
    y = luma(rgb).astype(np.float32)
    grad = np.zeros_like(y)
    grad[:, 1:] += np.abs(np.diff(y, axis=1))
    grad[1:, :] += np.abs(np.diff(y, axis=0))
    integral = np.pad(grad.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    side = min(side, *y.shape)
    step = max(align, side // 2 // align * align)
    best, where = -1.0, (0, 0)
    for top in range(0, y.shape[0] - side + 1, step):
        for left in range(0, y.shape[1] - side + 1, step):
            s = (integral[top + side, left + side] - integral[top, left + side] - integral[top + side, left]
                 + integral[top, left])
            if s > best:
                best, where = s, (top, left)
    return where


def cut(rgb: np.ndarray, top: int, left: int, side: int) -> np.ndarray:
    return rgb[top:top + side, left:left + side]


def save_panels(path: Path, panels: list[tuple[str, np.ndarray]], gap: int = 4, caption: int = 14) -> None:
    """Panels side by side with their names above, as a PNG; says its size (target < 500 KB)."""
    side = max(p.shape[0] for _, p in panels)
    sheet = Image.new("RGB", (len(panels) * (side + gap) - gap, side + caption), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (name, pixels) in enumerate(panels):
        img = Image.fromarray(pixels)
        if img.height != side:  # a low-resolution input: nearest, so its pixels show as they are
            img = img.resize((side * img.width // img.height, side), Image.NEAREST)
        sheet.paste(img, (i * (side + gap), caption))
        draw.text((i * (side + gap) + 2, 1), name, fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, optimize=True)
    size = path.stat().st_size
    print(f"  picture {path} ({size / 1024:.0f} KB{'; over 500 KB' if size > 500 * 1024 else ''})")


# -------------------------------------------------------------------------------- sections
def upscale_section(bench: Bench) -> None:
    """PSNR / SSIM on Y of x2, x4, x4-gan and x4 in bf16 against bicubic and Lanczos; HF share."""
    names = {2: ["photo-upscale-x2"], 4: ["photo-upscale-x4", "photo-upscale-x4-gan"]}
    photos = bench.photos[:bench.sizes.photos]
    rows: dict[tuple[int, str], list[tuple[float, float, float]]] = {}  # (scale, method) -> (psnr, ssim, hf)
    originals_hf: list[float] = []
    x4_bf16 = None
    x4 = bench.model("photo-upscale-x4")
    if x4 is not None:
        x4_bf16 = ganforge.load(Path(x4.source)).set_precision("bf16")
    started = time.perf_counter()
    for index, path in enumerate(photos):
        photo = centre(load_rgb(path), bench.sizes.crop)
        originals_hf.append(high_frequency_share(photo))
        for scale, models in names.items():
            h, w = (d // scale * scale for d in photo.shape[:2])
            hr = np.ascontiguousarray(photo[:h, :w])
            lr = resize(hr, (w // scale, h // scale), Image.BICUBIC)
            outputs = {"bicubic": resize(lr, (w, h), Image.BICUBIC), "Lanczos": resize(lr, (w, h), Image.LANCZOS)}
            for name in models:
                pipe = bench.model(name)
                if pipe is not None:
                    outputs[name] = as_array(pipe(lr, tile=TILE))
            if scale == 4 and x4_bf16 is not None:
                outputs["photo-upscale-x4 (bf16)"] = as_array(x4_bf16(lr, tile=TILE))
            for method, out in outputs.items():
                p, s = ssim_rgb_luma(out, hr, border=scale)
                rows.setdefault((scale, method), []).append((p, s, high_frequency_share(out)))
            if index < PICTURES_PER_TOOL and bench.pictures is not None:
                top, left = detail_window(hr, PICTURE_SIDE, align=scale)
                side, small = PICTURE_SIDE, PICTURE_SIDE // scale
                crops = {k: cut(v, top, left, side) for k, v in outputs.items()}
                lr_crop = cut(lr, top // scale, left // scale, small)
                original = cut(hr, top, left, side)
                for name in models:
                    if name not in crops:
                        continue
                    if name.endswith("-gan"):
                        panels = [("input", lr_crop)] + ([("x4 (fidelity)", crops["photo-upscale-x4"])]
                                                         if "photo-upscale-x4" in crops else [])
                        panels += [("x4-gan", crops[name]), ("original", original)]
                    else:
                        panels = [("input", lr_crop), ("bicubic", crops["bicubic"]), ("ganforge", crops[name]),
                                  ("original", original)]
                    bench.picture(f"{name.removeprefix('photo-')}-{index + 1}", panels)
        print(f"  {index + 1}/{len(photos)} {path.name} {photo.shape[1]}x{photo.shape[0]} "
              f"({time.perf_counter() - started:.0f} s)", flush=True)

    mean = {k: tuple(float(np.mean(col)) for col in zip(*v)) for k, v in rows.items()}
    hf_original = float(np.mean(originals_hf))
    megapixels = sum(photo_pixels for photo_pixels in _pixels(photos, bench.sizes.crop)) / 1e6
    where = "whole photos" if not bench.sizes.crop else f"centre {bench.sizes.crop} px crops"
    print(f"\n### Upscaling: {len(photos)} evaluation photos ({where}, {megapixels:.1f} MP of HR), "
          f"LR = Pillow bicubic downscale\n")
    print("| scale | method | PSNR-Y (dB) | SSIM-Y | vs bicubic (dB) | HF share (%) |")
    print("|---|---|---|---|---|---|")
    for (scale, method), (p, s, hf) in mean.items():
        gain = p - mean[(scale, "bicubic")][0]
        print(f"| x{scale} | {method} | {p:.2f} | {s:.4f} | {gain:+.2f} | {100 * hf:.2f} |")
    print(f"| | original (HR) | | | | {100 * hf_original:.2f} |")

    for scale, name, need in ((4, "photo-upscale-x4", 1.0), (2, "photo-upscale-x2", 1.5)):
        bicubic = mean[(scale, "bicubic")][0]
        if (scale, name) in mean:
            p, s, hf = mean[(scale, name)]
            bench.record(name, psnr_y_db=round(p, 2), ssim_y=round(s, 4), bicubic_psnr_y_db=round(bicubic, 2),
                         lanczos_psnr_y_db=round(mean[(scale, "Lanczos")][0], 2))
            bench.target(f"{name} >= bicubic + {need} dB PSNR-Y", p - bicubic >= need,
                         f"{p:.2f} vs bicubic {bicubic:.2f} ({p - bicubic:+.2f} dB)")
        else:
            bench.target(f"{name} >= bicubic + {need} dB PSNR-Y", None, "model missing")
    fid, gan = mean.get((4, "photo-upscale-x4")), mean.get((4, "photo-upscale-x4-gan"))
    if gan is not None:
        bench.record("photo-upscale-x4-gan", psnr_y_db=round(gan[0], 2), ssim_y=round(gan[1], 4),
                     hf_share_pct=round(100 * gan[2], 2), hf_original_pct=round(100 * hf_original, 2))
    if fid is not None and gan is not None:
        bench.record("photo-upscale-x4", hf_share_pct=round(100 * fid[2], 2))
        bench.target("x4-gan PSNR-Y >= x4 - 1.5 dB", gan[0] >= fid[0] - 1.5,
                     f"{gan[0]:.2f} vs {fid[0]:.2f} ({gan[0] - fid[0]:+.2f} dB)")
        bench.target("x4-gan HF share closer to the original's than x4's",
                     abs(gan[2] - hf_original) < abs(fid[2] - hf_original),
                     f"original {100 * hf_original:.2f} %, x4 {100 * fid[2]:.2f} %, x4-gan {100 * gan[2]:.2f} %")
    else:
        for name in ("x4-gan PSNR-Y >= x4 - 1.5 dB", "x4-gan HF share closer to the original's than x4's"):
            bench.target(name, None, "photo-upscale-x4 or photo-upscale-x4-gan missing")
    bf16 = mean.get((4, "photo-upscale-x4 (bf16)"))
    if fid is not None and bf16 is not None:
        delta = bf16[0] - fid[0]
        bench.record("photo-upscale-x4", bf16_psnr_delta_db=round(delta, 3))
        bench.target("bf16 costs <= 0.05 dB PSNR-Y (x4)", abs(delta) <= 0.05,
                     f"bf16 {bf16[0]:.3f} vs fp32 {fid[0]:.3f} dB ({delta:+.3f})")
    else:
        bench.target("bf16 costs <= 0.05 dB PSNR-Y (x4)", None, "photo-upscale-x4 missing")


def _pixels(photos: list[Path], crop: int) -> list[int]:
    """HR pixels per photo (from the headers)."""
    out = []
    for path in photos:
        with Image.open(path) as img:
            w, h = img.size
        out.append(min(crop, w, h) ** 2 if crop else w * h)
    return out


def denoise_section(bench: Bench) -> None:
    """PSNR (RGB) at sigma 15/25/50: noisy input, ganforge blind and told sigma, CBM3D, OpenCV NLM."""
    try:
        import bm3d
    except ImportError:
        bm3d = None
        print("  (bm3d is not installed: no CBM3D row; pip install -e .[bench])")
    try:
        import cv2
        cv2.setNumThreads(bench.threads)
    except ImportError:
        cv2 = None
        print("  (opencv-python-headless is not installed: no NLM row; pip install -e .[bench])")
    pipe = bench.model("photo-denoise")
    paths = small_set(bench)
    clean = [centre(load_rgb(p), bench.sizes.denoise_side) for p in paths]
    table: dict[str, dict[int, float]] = {}
    nlm_factor: dict[int, float] = {}
    started = time.perf_counter()
    for sigma in SIGMAS:
        scores: dict[str, list[float]] = {}
        nlm: dict[float, list[float]] = {}
        for index, ref in enumerate(clean):
            rng = np.random.default_rng(1000 * sigma + index)
            noisy = np.clip(ref + rng.normal(0.0, sigma, ref.shape), 0, 255).round().astype(np.uint8)
            outputs = {"noisy input": noisy}
            if pipe is not None:
                outputs["ganforge blind"] = as_array(pipe(noisy, tile=TILE))
                outputs["ganforge, told sigma"] = as_array(pipe(noisy, tile=TILE, noise_level=sigma))
            if bm3d is not None:
                est = bm3d.bm3d_rgb(noisy.astype(np.float64) / 255.0, sigma / 255.0)
                outputs["CBM3D"] = np.clip(np.round(est * 255.0), 0, 255).astype(np.uint8)
            if cv2 is not None:
                for f in NLM_FACTORS:
                    out = cv2.fastNlMeansDenoisingColored(noisy, None, f * sigma, f * sigma, 7, 21)
                    nlm.setdefault(f, []).append(psnr(out, ref))
            for method, out in outputs.items():
                scores.setdefault(method, []).append(psnr(out, ref))
            if sigma == 25 and index < PICTURES_PER_TOOL and "ganforge blind" in outputs:
                top, left = detail_window(ref, PICTURE_SIDE)
                panels = [(k, cut(outputs[k], top, left, PICTURE_SIDE))
                          for k in ("noisy input", "ganforge blind", "CBM3D") if k in outputs]
                bench.picture(f"denoise-{index + 1}", panels + [("original", cut(ref, top, left, PICTURE_SIDE))])
        for method, values in scores.items():
            table.setdefault(method, {})[sigma] = float(np.mean(values))
        if nlm:
            best = max(nlm, key=lambda f: np.mean(nlm[f]))
            nlm_factor[sigma] = best
            table.setdefault("OpenCV NLM (oracle h)", {})[sigma] = float(np.mean(nlm[best]))
        print(f"  sigma {sigma} ({time.perf_counter() - started:.0f} s)", flush=True)

    side = bench.sizes.denoise_side
    print(f"\n### Denoising: centre {side}x{side} of {len(paths)} evaluation photos, Gaussian noise on RGB "
          f"(clipped, rounded), PSNR (RGB, dB)\n")
    print("| method | " + " | ".join(f"sigma {s}" for s in SIGMAS) + " |")
    print("|---|" + "---|" * len(SIGMAS))
    for method, by_sigma in table.items():
        print(f"| {method} | " + " | ".join(f"{by_sigma[s]:.2f}" if s in by_sigma else "-" for s in SIGMAS) + " |")
    if nlm_factor:
        print("\nNLM h = hColor = " + ", ".join(f"{f} x sigma at sigma {s}" for s, f in nlm_factor.items()))

    if "ganforge blind" in table:
        bench.record("photo-denoise", **{f"psnr_s{s}_db": round(table["ganforge blind"][s], 2) for s in SIGMAS},
                     **{f"psnr_s{s}_told_db": round(table["ganforge, told sigma"][s], 2) for s in SIGMAS})
    if "CBM3D" in table and pipe is not None:
        bench.record("photo-denoise", cbm3d_psnr_s25_db=round(table["CBM3D"][25], 2))
    name = "denoise at sigma 25 >= CBM3D (told sigma, like CBM3D)"
    if pipe is None or "CBM3D" not in table:
        bench.target(name, None, "photo-denoise or bm3d missing")
    else:
        told, blind, ref = table["ganforge, told sigma"][25], table["ganforge blind"][25], table["CBM3D"][25]
        bench.target(name, told >= ref, f"{told:.2f} vs CBM3D {ref:.2f} dB ({told - ref:+.2f}; blind {blind:.2f})")


def restore_section(bench: Bench) -> None:
    """Seeded second-order degradations at scale 2 -> PSNR (RGB) / SSIM (Y) of restorers at 2x and 1x."""
    restore, denoise, x2 = (bench.model(n) for n in ("photo-restore", "photo-denoise", "photo-upscale-x2"))
    paths = small_set(bench)
    scores: dict[str, list[tuple[float, float]]] = {}
    started = time.perf_counter()
    for index, path in enumerate(paths):
        hr = centre(load_rgb(path), bench.sizes.restore_side)
        h, w = hr.shape[0] // 2 * 2, hr.shape[1] // 2 * 2
        hr = np.ascontiguousarray(hr[:h, :w])
        clean = torch.from_numpy(hr).permute(2, 0, 1)[None].float().div(255)
        gen = torch.Generator().manual_seed(RESTORE_SEED + index)
        low = second_order(clean, gen, scale=2)[0].mul(255).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()
        low = np.ascontiguousarray(low)
        two = {"degraded, bicubic x2": resize(low, (w, h), Image.BICUBIC)}
        if restore is not None:
            two["ganforge photo-restore"] = as_array(restore(low, tile=TILE))
        if denoise is not None and x2 is not None:
            two["photo-denoise -> photo-upscale-x2"] = as_array(x2(as_array(denoise(low, tile=TILE)), tile=TILE))
        one_ref = resize(hr, (w // 2, h // 2), Image.BICUBIC)
        one = {"degraded input (1x)": low}
        if restore is not None:
            one["ganforge photo-restore, scale 1"] = as_array(restore(low, tile=TILE, scale=1))
        for group, ref in ((two, hr), (one, one_ref)):
            for method, out in group.items():
                scores.setdefault(method, []).append((psnr(out, ref), ssim(luma(out), luma(ref))))
        if index < PICTURES_PER_TOOL and restore is not None:
            top, left = detail_window(hr, PICTURE_SIDE, align=2)
            panels = [("degraded input", cut(low, top // 2, left // 2, PICTURE_SIDE // 2))]
            panels += [(RESTORE_LABELS[k], cut(v, top, left, PICTURE_SIDE)) for k, v in two.items()]
            bench.picture(f"restore-{index + 1}", panels + [("original", cut(hr, top, left, PICTURE_SIDE))])
        print(f"  {index + 1}/{len(paths)} {path.name} ({time.perf_counter() - started:.0f} s)", flush=True)

    side = bench.sizes.restore_side
    print(f"\n### Restoration: centre {side}x{side} of {len(paths)} evaluation photos, second_order(scale=2), "
          f"seeds {RESTORE_SEED}+i\n")
    print("| output | method | PSNR (RGB, dB) | SSIM-Y |")
    print("|---|---|---|---|")
    for method, values in scores.items():
        p, s = (float(np.mean(col)) for col in zip(*values))
        size = "1x" if "1x" in method or "scale 1" in method else "2x"
        print(f"| {size} | {method} | {p:.2f} | {s:.4f} |")
    if "ganforge photo-restore" in scores:
        p2, s2 = (float(np.mean(c)) for c in zip(*scores["ganforge photo-restore"]))
        p1, s1 = (float(np.mean(c)) for c in zip(*scores["ganforge photo-restore, scale 1"]))
        pb = float(np.mean([v[0] for v in scores["degraded, bicubic x2"]]))
        bench.record("photo-restore", psnr_2x_db=round(p2, 2), ssim_y_2x=round(s2, 4), bicubic_psnr_2x_db=round(pb, 2),
                     psnr_1x_db=round(p1, 2), ssim_y_1x=round(s1, 4))


GREY_COLOURFULNESS = 2.0  # originals below this are black and white already (the plasma "Grey" wallpaper)


def colorize_section(bench: Bench) -> None:
    """Colourfulness of results over the originals', and RGB PSNR of result and grey input."""
    pipe = bench.model("photo-colorize")
    if pipe is None:
        bench.target("colorize colourfulness >= 0.6 of the originals'", None, "photo-colorize missing")
        bench.target("colorize PSNR >= grey input's", None, "photo-colorize missing")
        return
    photos = bench.photos[:bench.sizes.photos]
    c_orig, c_out, p_out, p_grey = [], [], [], []
    started = time.perf_counter()
    skipped = []
    for index, path in enumerate(photos):
        ref = centre(load_rgb(path), bench.sizes.crop)
        if colourfulness(ref) < GREY_COLOURFULNESS:  # a black-and-white original has no colour to recover
            skipped.append(path.name)
            continue
        grey = np.asarray(Image.fromarray(ref).convert("L"))
        grey_rgb = np.repeat(grey[:, :, None], 3, axis=2)
        out = as_array(pipe(grey, tile=TILE))
        c_orig.append(colourfulness(ref))
        c_out.append(colourfulness(out))
        p_out.append(psnr(out, ref))
        p_grey.append(psnr(grey_rgb, ref))
        if index < PICTURES_PER_TOOL:
            top, left = detail_window(ref, PICTURE_SIDE)
            bench.picture(f"colorize-{index + 1}", [(k, cut(v, top, left, PICTURE_SIDE)) for k, v in
                                                    (("grey input", grey_rgb), ("ganforge", out), ("original", ref))])
        print(f"  {index + 1}/{len(photos)} {path.name} ({time.perf_counter() - started:.0f} s)", flush=True)
    ratio = float(np.mean(c_out) / np.mean(c_orig))
    po, pg = float(np.mean(p_out)), float(np.mean(p_grey))
    where = "whole photos" if not bench.sizes.crop else f"centre {bench.sizes.crop} px crops"
    print(f"\n### Colorization: {len(photos) - len(skipped)} evaluation photos ({where}) made grey (Pillow L)"
          + (f"; left out as already black and white: {', '.join(skipped)}" if skipped else "") + "\n")
    print("| | colourfulness (mean) | PSNR vs original (RGB, dB) |")
    print("|---|---|---|")
    print(f"| original | {np.mean(c_orig):.1f} | |")
    print(f"| grey input (L repeated) | 0.0 | {pg:.2f} |")
    print(f"| ganforge photo-colorize | {np.mean(c_out):.1f} (ratio {ratio:.2f}) | {po:.2f} |")
    bench.record("photo-colorize", colourfulness_ratio=round(ratio, 3), psnr_db=round(po, 2), grey_psnr_db=round(pg, 2))
    bench.target("colorize colourfulness >= 0.6 of the originals'", ratio >= 0.6, f"ratio {ratio:.2f}")
    bench.target("colorize PSNR >= grey input's", po >= pg, f"{po:.2f} vs grey {pg:.2f} dB ({po - pg:+.2f})")


class SRVGGNetCompact(nn.Module):
    """Real-ESRGAN's compact x4 network (Wang et al. 2021; ``SRVGGNetCompact`` in the Real-ESRGAN
    repository): conv3x3(3 -> 64) + PReLU, ``convs`` x (conv3x3(64 -> 64) + PReLU), conv3x3(64 -> 3 s^2),
    pixel shuffle s, plus the nearest-upsampled input. 64 channels and 16 body convs: 621,424 parameters."""

    def __init__(self, *, channels: int = 64, convs: int = 16, scale: int = 4, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        layers: list[nn.Module] = [nn.Conv2d(3, channels, 3, padding=1), nn.PReLU(channels)]
        for _ in range(convs):
            layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.PReLU(channels)]
        layers.append(nn.Conv2d(channels, 3 * scale ** 2, 3, padding=1))
        self.body = nn.Sequential(*layers)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.body(x), self.scale) + F.interpolate(x, scale_factor=self.scale, mode="nearest")


def speed_section(bench: Bench) -> None:
    """Output MP/s of x4: ganforge fp32, ganforge bf16 and SRVGGNetCompact, alternating, medians."""
    pipe = bench.model("photo-upscale-x4")
    if pipe is None:
        bench.target("x4 speed >= SRVGGNetCompact's", None, "photo-upscale-x4 missing")
        return
    bf16 = ganforge.load(Path(pipe.source)).set_precision("bf16")
    compact = SRVGGNetCompact().eval().requires_grad_(False)
    # The same memory format as ganforge's fp32 runner (channels-last where the machine runs it faster).
    layout = torch.channels_last if default_channels_last(torch.device("cpu")) else torch.contiguous_format
    compact = compact.to(memory_format=layout)
    side = bench.sizes.speed_side
    lr = centre(load_rgb(bench.photos[0]), side)

    def run_compact() -> None:
        run_tiled(lambda x: compact(x.contiguous(memory_format=layout)), lr, scale=4, out_channels=3, tile=TILE,
                  overlap=16)

    contenders: dict[str, Callable[[], Any]] = {
        "ganforge photo-upscale-x4, fp32": lambda: pipe(lr, tile=TILE),
        "ganforge photo-upscale-x4, bf16": lambda: bf16(lr, tile=TILE),
        "SRVGGNetCompact (64 ch, 16 convs)": run_compact,
    }
    times: dict[str, list[float]] = {k: [] for k in contenders}
    with torch.no_grad():
        for fn in contenders.values():  # warm-up: oneDNN picks its kernels on the first call
            fn()
        for _ in range(bench.sizes.repeats):
            for name, fn in contenders.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    out_mp = (4 * lr.shape[0]) * (4 * lr.shape[1]) / 1e6
    params = {"ganforge photo-upscale-x4, fp32": sum(p.numel() for p in pipe.network.parameters()),
              "SRVGGNetCompact (64 ch, 16 convs)": sum(p.numel() for p in compact.parameters())}
    params["ganforge photo-upscale-x4, bf16"] = params["ganforge photo-upscale-x4, fp32"]
    speed = {k: out_mp / statistics.median(v) for k, v in times.items()}
    print(f"\n### Speed: x4 of a {lr.shape[1]}x{lr.shape[0]} LR crop ({out_mp:.1f} MP out), {bench.threads} threads, "
          f"median of {bench.sizes.repeats} alternating runs; AMX: {'yes' if has_amx() else 'no'}; "
          f"both fp32 nets {'channels-last' if layout == torch.channels_last else 'NCHW'}\n")
    print("| model | parameters | median s | output MP/s |")
    print("|---|---|---|---|")
    for name in contenders:
        print(f"| {name} | {params[name]:,} | {statistics.median(times[name]):.3f} | {speed[name]:.2f} |")
    ratio = speed["ganforge photo-upscale-x4, fp32"] / speed["SRVGGNetCompact (64 ch, 16 convs)"]
    bf16_ratio = speed["ganforge photo-upscale-x4, bf16"] / speed["ganforge photo-upscale-x4, fp32"]
    print(f"\nganforge / SRVGGNetCompact: {ratio:.2f}x; bf16 / fp32: {bf16_ratio:.2f}x")
    bench.record("photo-upscale-x4", cpu_mp_per_s=round(speed["ganforge photo-upscale-x4, fp32"], 2),
                 cpu_speed_vs_compact=round(ratio, 2))
    bench.target("x4 speed >= SRVGGNetCompact's", ratio >= 1.0,
                 f"{speed['ganforge photo-upscale-x4, fp32']:.2f} vs {speed['SRVGGNetCompact (64 ch, 16 convs)']:.2f} "
                 f"MP/s ({ratio:.2f}x)")


MEMORY_CHILD = """
import resource, sys, numpy as np, torch
from PIL import Image
import ganforge
torch.set_num_threads({threads})
pipe = ganforge.load({model!r}).set_precision("fp32")
with Image.open({photo!r}) as img:
    image = np.asarray(img.convert("RGB").resize(({w}, {h}), Image.LANCZOS))
out = pipe(image, tile={tile})
assert out.size == ({w} * 2, {h} * 2), out.size
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def memory_section(bench: Bench) -> None:
    """ru_maxrss of a fresh process that upscales a 24 MP photo x2 with tile 512."""
    pipe = bench.model("photo-upscale-x2")
    name = "x2 of a 24 MP photo peaks < 2 GiB"
    if pipe is None:
        bench.target(name, None, "photo-upscale-x2 missing")
        return
    w, h = bench.sizes.memory_size
    code = MEMORY_CHILD.format(threads=bench.threads, model=pipe.source, photo=str(bench.photos[0]), w=w, h=h,
                               tile=TILE)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": str(bench.threads),
                               "PATH": "/usr/bin:/bin"})
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"the memory subprocess failed:\n{done.stderr}")
    peak = int(done.stdout.split()[-1]) / 1024 / 1024  # KiB -> GiB
    print(f"\n### Memory: photo-upscale-x2 of a {w}x{h} photo ({w * h / 1e6:.0f} MP in, {4 * w * h / 1e6:.0f} MP out), "
          f"tile {TILE}, fresh process\n")
    print("| peak RSS (GiB) | wall time (s, incl. start-up) |")
    print("|---|---|")
    print(f"| {peak:.2f} | {seconds:.0f} |")
    if (w, h) == FULL.memory_size:
        bench.record("photo-upscale-x2", peak_rss_24mp_gib=round(peak, 2))
    bench.target(name if (w, h) == FULL.memory_size else f"{name} (measured at {w}x{h})", peak < 2.0,
                 f"{peak:.2f} GiB")


# -------------------------------------------------------------------------------------- main
def write_metrics(bench: Bench, label: str) -> None:
    """Merge each model's figures into the "metrics" of its config.json (other keys kept)."""
    for name, figures in bench.metrics.items():
        path = bench.model_dir / name / "config.json"
        info = json.loads(path.read_text())
        info["metrics"] = {**(info.get("metrics") or {}), **figures, "benchmark": label}
        atomic_write_text(path, json.dumps(info, indent=2) + "\n")
        print(f"metrics of {name} -> {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of: {', '.join(SECTIONS)}")
    ap.add_argument("--quick", action="store_true", help="2 photos, small crops: a smoke test, not figures")
    ap.add_argument("--crop", type=int, default=None, help="centre crop side for upscale/colorize (0: whole photos)")
    ap.add_argument("--photos", type=int, default=None, help="use only the first N photos of each set")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model-dir", type=Path, default=PRETRAINED_DIR, help="folder holding <model name>/ folders")
    ap.add_argument("--pictures", type=Path, nargs="?", const=ROOT / "docs" / "images" / "enhance", default=None,
                    metavar="DIR", help="write before/after PNGs (default DIR: docs/images/enhance)")
    ap.add_argument("--write-metrics", action="store_true", help="store the figures in each model's config.json")
    args = ap.parse_args()
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in only if s not in SECTIONS]
    if unknown:
        ap.error(f"unknown section {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    if args.write_metrics and (args.quick or args.crop is not None or args.photos is not None):
        ap.error("--write-metrics stores the full run's figures; drop --quick, --crop and --photos")
    if args.photos is not None and args.photos < 1:
        ap.error(f"--photos must be at least 1, got {args.photos}")
    sizes = QUICK if args.quick else FULL
    if args.crop is not None:
        sizes = Sizes(**{**sizes.__dict__, "crop": args.crop})
    if args.photos is not None:
        sizes = Sizes(**{**sizes.__dict__, "photos": args.photos,
                         "small_photos": min(args.photos, sizes.small_photos)})
    torch.set_num_threads(args.threads)
    try:
        photos = evaluation_photos()
    except GanforgeError as err:
        sys.exit(f"error: {err}")
    bench = Bench(sizes=sizes, model_dir=args.model_dir, pictures=args.pictures, threads=args.threads, photos=photos)

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor() or platform.machine())
    partial = args.quick or args.crop is not None or args.photos is not None
    print(f"{cpu}; torch {torch.__version__}, {args.threads} threads, AMX: {'yes' if has_amx() else 'no'}; "
          f"models: {args.model_dir}; {'a SUBSET (not the figures)' if partial else 'full run'}: {sizes}")
    sections = {"upscale": upscale_section, "denoise": denoise_section, "restore": restore_section,
                "colorize": colorize_section, "speed": speed_section, "memory": memory_section}
    for name in only:
        start = time.perf_counter()
        print(f"\n## {name}", flush=True)
        sections[name](bench)
        print(f"\n({name}: {time.perf_counter() - start:.0f} s)", flush=True)

    print("\n### Targets\n")
    print("| target | result | figures |")
    print("|---|---|---|")
    for t in bench.targets:
        print(f"| {t.name} | {'not measured' if t.met is None else 'met' if t.met else 'MISSED'} | {t.detail} |")
    if args.write_metrics:
        where = "whole photos" if not sizes.crop else f"{sizes.crop} px crops"
        write_metrics(bench, f"bench/enhance.py {dt.date.today().isoformat()} ({len(photos)} evaluation photos, "
                             f"{where}, {args.threads} CPU threads)")
    met = sum(t.met is True for t in bench.targets)
    missed = sum(t.met is False for t in bench.targets)
    print(f"targets_met: {met}/{len(bench.targets)} (missed: {missed}, "
          f"not measured: {len(bench.targets) - met - missed})")


if __name__ == "__main__":
    main()
