"""The compositing picture of docs/creation.md: one cut-out on one photo, pasted plainly and composited.

A Wesnoth portrait (RGBA, from the Debian package wesnoth-1.16-data) on an Endless Sky landscape
photo (endless-sky-data): left, pasted with its alpha only (``--blend none --harmonize 0
--feather 0``); right, ``ganforge composite``'s defaults. Writes
docs/images/creation/composite.png; the last line is the composite's time in seconds.

    .venv/bin/python bench/composite_pictures.py
"""

from __future__ import annotations

import time
from pathlib import Path

from PIL import Image, ImageDraw

import ganforge

PORTRAIT = Path("/usr/share/games/wesnoth/1.16/data/core/images/portraits/humans/cavalier.png")
BACKGROUND = Path("/usr/share/games/endless-sky/images/land/beach3.jpg")
OUT = Path(__file__).resolve().parents[1] / "docs" / "images" / "creation" / "composite.png"
PLACE = dict(scale=0.55, x=470, y=233)  # the bust's cut edge on the photo's bottom edge


def main() -> None:
    for path in (PORTRAIT, BACKGROUND):
        if not path.is_file():
            raise SystemExit(f"{path} is missing: apt-get install wesnoth-1.16-data endless-sky-data")
    plain = ganforge.composite(PORTRAIT, BACKGROUND, blend="none", harmonize=0, feather=0, **PLACE)
    started = time.perf_counter()
    blended = ganforge.composite(PORTRAIT, BACKGROUND, **PLACE)
    seconds = time.perf_counter() - started
    w, h = plain.size
    sheet = Image.new("RGB", (2 * w + 8, h + 24), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (picture, caption) in enumerate([(plain, "pasted with its alpha"), (blended, "ganforge composite")]):
        sheet.paste(picture.convert("RGB"), (i * (w + 8), 24))
        draw.text((i * (w + 8) + 4, 6), caption, fill="black")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(OUT)
    print(f"wrote {OUT}")
    print(f"seconds: {seconds:.2f}")


if __name__ == "__main__":
    main()
