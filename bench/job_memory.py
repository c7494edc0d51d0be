"""Each image tool's memory estimate (what the studio checks at submit) against what one item
really takes.

    python bench/job_memory.py [--cases upscale:photo-upscale-x4:1000x1000 ...] [--json OUT]

A composite case names the subject's size and the background's: ``composite:poisson-blend:800x800@3000x2000``
(the subject an RGBA disc over noise, filling most of its square).

For each case a fresh Python process loads the bundled model, runs a warm-up item on a 64 x 64
photo, then runs one item on a photo-like PNG of the given size exactly as a studio worker does
(``service.tools.run_item``: decode, the model in tiles, PNG encoding) with the tool's default
parameters, while a thread reads the process's resident memory (``/proc/self/statm``) every
10 ms. ``rise`` is the highest reading minus the reading just before the item; ``estimate`` is
``tool.memory(model, params, size)``. An estimate must not be below the rise (the studio's bound
relies on it) and should not be far above it (it would refuse jobs the server can run).

The last line is machine-readable: ``max_rise_over_estimate: R`` (below 1: every estimate
covered its item).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CASES = ["upscale:photo-upscale-x4:1000x1000", "upscale:photo-upscale-x2:2000x1500", "denoise:photo-denoise:3000x2000",
         "colorize:photo-colorize:4000x3000", "restore:photo-restore:1500x1000", "style:style-painting:2000x1500",
         "composite:poisson-blend:800x800@3000x2000"]

CHILD = r'''
import json, os, sys, threading, time
from pathlib import Path
import numpy as np
from PIL import Image
tool_name, model, w, h, folder = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5])
subject_size = tuple(map(int, sys.argv[6].split("x"))) if len(sys.argv) > 6 else None
rng = np.random.default_rng(0)
pixels = np.empty((h, w, 3), np.uint8)
ramp = np.linspace(30, 220, w, dtype=np.float32)
for c in range(3):
    for top in range(0, h, 256):
        rows = min(256, h - top)
        pixels[top:top + rows, :, c] = np.clip(ramp[None, :] * (0.5 + 0.25 * c)
                                               + rng.normal(0, 8, (rows, w)), 0, 255).astype(np.uint8)
if tool_name == "colorize":
    pixels[:] = pixels[..., :1]
photo, small = folder / "photo.png", folder / "small.png"
Image.fromarray(pixels).save(photo, compress_level=1)
Image.fromarray(pixels[:64, :64]).save(small)
del pixels
from ganforge.service.tools import TOOLS, Item, loaded, run_item
tool = TOOLS.get(tool_name)
params = tool.Params()
if subject_size is None:
    pipe, sizes = loaded(model), {"image": (w, h)}
    sources, warm = {"image": photo}, {"image": small}
else:
    sw, sh = subject_size
    yy, xx = np.mgrid[0:sh, 0:sw]
    disc = (((yy - sh / 2) / sh) ** 2 + ((xx - sw / 2) / sw) ** 2 < 0.2).astype(np.uint8) * 255
    rgba = np.dstack([rng.integers(0, 256, (sh, sw, 3), dtype=np.uint8), disc])
    Image.fromarray(rgba, "RGBA").save(folder / "subject.png", compress_level=1)
    Image.fromarray(rgba[sh // 2 - 16:sh // 2 + 16, sw // 2 - 16:sw // 2 + 16], "RGBA").save(folder / "s0.png")
    del yy, xx, disc, rgba
    pipe, sizes = None, {"subject": (sw, sh), "background": (w, h)}
    sources, warm = {"subject": folder / "subject.png", "background": photo}, {"subject": folder / "s0.png",
                                                                               "background": small}
inputs = {name: 0 for name in sources}
run_item(tool, model, pipe, params, Item("warm", inputs), warm)
page = os.sysconf("SC_PAGE_SIZE")
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * page
peak, stop = [0], threading.Event()
def watch():
    while not stop.is_set():
        peak[0] = max(peak[0], rss())
        time.sleep(0.01)
before = rss()
thread = threading.Thread(target=watch)
thread.start()
t0 = time.time()
result = run_item(tool, model, pipe, params, Item("a", inputs), sources)
seconds = time.time() - t0
stop.set(); thread.join()
print(json.dumps({"rise": max(peak[0], rss()) - before, "estimate": tool.memory(model, params, sizes),
                  "before": before, "seconds": seconds, "result_bytes": len(result.data)}))
'''


def run_case(case: str) -> dict:
    tool, model, size = case.split(":")
    subject, _, size = size.rpartition("@")
    w, h = map(int, size.split("x"))
    with tempfile.TemporaryDirectory() as folder:
        proc = subprocess.run([sys.executable, "-c", CHILD, tool, model, str(w), str(h), folder, *([subject] if subject else [])],
                              capture_output=True,
                              text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"{case} failed:\n{proc.stderr[-2000:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"case": case, **row}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", nargs="+", default=CASES, metavar="TOOL:MODEL:WxH")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from studio_load import machine

    print(f"machine: {json.dumps(machine())}")
    print(f"{'case':<44} {'before':>8} {'rise':>8} {'estimate':>9} {'rise/est':>9} {'seconds':>8}")
    rows = []
    for case in args.cases:
        r = run_case(case)
        rows.append(r)
        mib = 2**20
        print(f"{case:<44} {r['before'] / mib:>7.0f}M {r['rise'] / mib:>7.0f}M {r['estimate'] / mib:>8.0f}M "
              f"{r['rise'] / r['estimate']:>9.2f} {r['seconds']:>8.0f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    print(f"max_rise_over_estimate: {max(r['rise'] / r['estimate'] for r in rows):.2f}")


if __name__ == "__main__":
    main()
