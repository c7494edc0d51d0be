"""Screenshots of the studio page with a finished generation job and a finished upscale batch.

Starts a studio on a temporary data dir (uvicorn on a free loopback port, in this process),
signs in through a one-time link in Debian's chromium (driven by Playwright), runs
``generate`` (fashion-cgan, seeds 1 and 2) and ``upscale`` (photo-upscale-x2
on three 128 x 128 photo crops from opencv-doc's examples, or synthetic pictures where those
are missing) from the page, then saves

* ``docs/images/studio/page-desktop.png``: a 1280 x 900 window;
* ``docs/images/studio/page-narrow.png``: a 390 px wide window (the whole page), jobs opened
  from History;
* ``docs/images/studio/page-style.png``: a 1280 x 900 window after a ``style`` job
  (style-painting, strength 0.75) on the same photos.

    python bench/studio_screenshots.py [--out docs/images/studio] [--budget-kib 500]

A screenshot over the budget is saved with a 256-colour palette instead. The last line is
``screenshots: desktop=N KiB narrow=N KiB style=N KiB``.
"""

from __future__ import annotations

import argparse
import io
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from ganforge.studio.app import create_app
from ganforge.studio.auth import owner_key, signin_token
from ganforge.studio.settings import StudioSettings

PHOTOS = Path("/usr/share/doc/opencv-doc/examples/data")
PHOTO_NAMES = ("fruits.jpg", "baboon.jpg", "butterfly.jpg")


def photos(folder: Path, side: int = 128) -> list[Path]:
    """Three side x side PNGs in ``folder``: centre crops of opencv-doc photos, else smooth synthetic pictures."""
    out = []
    for i, name in enumerate(PHOTO_NAMES):
        src = PHOTOS / name
        if src.exists():
            img = Image.open(src).convert("RGB")
            s = min(img.size)
            left, top = (img.width - s) // 2, (img.height - s) // 2
            img = img.crop((left, top, left + s, top + s)).resize((side, side), Image.LANCZOS)
        else:
            y, x = np.mgrid[0:side, 0:side] / side
            rgb = np.stack([np.sin(6 * x + i), np.cos(5 * y - i), np.sin(4 * (x + y) + 2 * i)], -1)
            img = Image.fromarray(((rgb + 1) * 127.5).astype(np.uint8))
        path = folder / f"{Path(name).stem}.png"
        img.save(path)
        out.append(path)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(data_dir: Path):
    """(uvicorn server, thread, base url, app) serving a fresh studio on 127.0.0.1."""
    import uvicorn

    app = create_app(StudioSettings(data_dir=data_dir))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise SystemExit("the studio did not start")
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}", app


def run_job(page, tool_title: str, model: str, fill: dict[str, str], files: list[Path] | None = None) -> None:
    """Pick a tool and model on the page, fill parameters (label -> value), upload files, run, wait."""
    page.get_by_role("radio", name=tool_title, exact=True).check()
    page.get_by_label("Model").select_option(model)
    for label, value in fill.items():
        field = page.get_by_label(label, exact=True)
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    if files:
        page.locator("#file-input").set_input_files([str(f) for f in files])
        page.locator(".thumb").nth(len(files) - 1).wait_for()
    before = page.locator("article.job").count()
    page.get_by_role("button", name="Run", exact=True).click()
    page.locator("article.job").nth(before).wait_for()
    page.locator("article.job").first.locator(".badge.status-succeeded").wait_for(timeout=120_000)
    page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")


def save(png: bytes, path: Path, budget: int) -> int:
    if len(png) > budget:  # a palette keeps the page's flat colours and is far smaller
        img = Image.open(io.BytesIO(png)).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
        buf = io.BytesIO()
        img.save(buf, "PNG", optimize=True)
        png = buf.getvalue()
    path.write_bytes(png)
    return len(png)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs/images/studio"))
    ap.add_argument("--budget-kib", type=int, default=500)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("needs Debian's chromium (apt-get install chromium)")
    args.out.mkdir(parents=True, exist_ok=True)
    budget = args.budget_kib * 1024
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        server, thread, url, app = serve(tmp / "studio")
        try:
            store = app.state.store
            link = f"{url}/signin?token={signin_token(store, owner_key(store), 5)}"
            inputs = photos(tmp)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
                desk = browser.new_context(viewport={"width": 1280, "height": 900})
                page = desk.new_page()
                page.goto(link)
                page.get_by_role("radio", name="Generate", exact=True).wait_for()
                run_job(page, "Generate", "fashion-cgan", {"Seeds": "1,2"})
                run_job(page, "Upscale", "photo-upscale-x2", {}, inputs)
                page.evaluate("window.scrollTo(0, 0)")
                desktop = save(page.screenshot(), args.out / "page-desktop.png", budget)

                narrow = browser.new_context(viewport={"width": 390, "height": 900}, storage_state=desk.storage_state())
                page = narrow.new_page()
                page.goto(f"{url}/")
                items = page.locator(".history-item")
                items.nth(1).wait_for()
                for i in (1, 0):  # oldest first, so the newest ends on top
                    items.nth(i).click()
                    page.locator("article.job").nth(1 - i).wait_for()
                page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
                page.get_by_role("radio", name="Upscale", exact=True).check()
                page.evaluate("window.scrollTo(0, 0)")
                small = save(page.screenshot(full_page=True), args.out / "page-narrow.png", budget)

                styled = browser.new_context(viewport={"width": 1280, "height": 900},
                                             storage_state=desk.storage_state())
                page = styled.new_page()
                page.goto(f"{url}/")
                page.get_by_role("radio", name="Style", exact=True).wait_for()
                run_job(page, "Style", "style-painting", {"Strength": "0.75"}, inputs)
                page.evaluate("window.scrollTo(0, 0)")
                style = save(page.screenshot(), args.out / "page-style.png", budget)
                browser.close()
        finally:
            server.should_exit = True
            thread.join(15)
    print(f"screenshots: desktop={desktop / 1024:.0f} KiB narrow={small / 1024:.0f} KiB style={style / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
