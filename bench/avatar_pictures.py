"""The trait grid of docs/creation.md (## character-avatar): one trait varied on the same characters.

For each of a few traits, ``GeneratorPipeline.trait_variations`` renders every value (or the first
``--values``) of that trait on the same ``--seeds`` characters: rows are characters (one latent and
one draw of the other traits each), columns the trait's values. Each panel is captioned with the
trait and its values. Writes docs/images/creation/avatar-traits.png by default; the last line is
the seconds the generator took.

    .venv/bin/python bench/avatar_pictures.py [MODEL_OR_RUN] [--out PNG]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

import ganforge
from ganforge.images import make_grid, to_uint8

OUT = Path(__file__).resolve().parents[1] / "docs" / "images" / "creation" / "avatar-traits.png"
# (trait, the values shown): hats hide the hair colour, so the hair colour panel fixes a top that shows it
PANELS = (("hair_color", None, {"top": "straight_1"}),
          ("clothing_color", None, {"clothing": "hoodie"}),
          ("top", ("none", "bob", "curly", "dreads", "frida", "straight_1", "short_flat",
                   "hijab", "turban", "winter_hat_1"), {}),
          ("skin_color", None, {}))
SCALE = 2  # 64 px shown at 128 px


def panel(model, trait: str, values, fixed: dict, seeds: int, seed: int) -> Image.Image:
    out, labels = model.trait_variations(trait, seeds, seed=seed, traits=fixed)  # (V, n, C, H, W)
    names = model.conditioning.trait(trait).values
    keep = [names.index(v) for v in values] if values else list(range(len(names)))
    images = to_uint8(out[keep].transpose(0, 1).reshape(-1, *out.shape[2:]))  # row = character
    grid = make_grid(images, len(keep))
    picture = Image.fromarray(grid).resize((grid.shape[1] * SCALE, grid.shape[0] * SCALE), Image.NEAREST)
    sheet = Image.new("RGB", (picture.width, picture.height + 34), "white")
    sheet.paste(picture, (0, 34))
    draw = ImageDraw.Draw(sheet)
    given = ", ".join(f"{k}={v}" for k, v in fixed.items())
    draw.text((4, 2), f"{trait}" + (f"   ({given}; other traits drawn per row)" if given else
                                    "   (other traits drawn per row)"), fill="black")
    step = (64 + 2) * SCALE
    for i, k in enumerate(keep):
        draw.text((4 + i * step, 18), names[k][:16], fill="black")
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="character-avatar", help="bundled name, exported folder or run")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--seeds", type=int, default=3, help="characters (rows) per panel")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    model = ganforge.load(args.model)
    started = time.perf_counter()
    panels = [panel(model, t, v, f, args.seeds, args.seed) for t, v, f in PANELS]
    seconds = time.perf_counter() - started
    width = max(p.width for p in panels)
    sheet = Image.new("RGB", (width, sum(p.height + 10 for p in panels)), "white")
    y = 0
    for p in panels:
        sheet.paste(p, (0, y))
        y += p.height + 10
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    print(f"wrote {args.out}")
    print(f"seconds: {seconds:.2f}")


if __name__ == "__main__":
    main()
