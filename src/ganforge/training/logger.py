"""What a run tells the world: ``log.jsonl``, TensorBoard events, and the progress display.

Only rank 0 logs. The progress display is a tqdm bar on a terminal, a plain line per log
interval otherwise, and nothing with ``quiet``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm


def _fmt_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


# Periodic-evaluation results shown in the progress display.
SHOWN_METRICS = ("fid", "modes")


class RunLogger:
    def __init__(self, run_dir: Path, *, total_images: int, start_images: int, quiet: bool, enabled: bool = True) -> None:
        self.enabled = enabled
        self.quiet = quiet or not enabled
        self.total = total_images
        self._fh = open(Path(run_dir) / "log.jsonl", "a", encoding="utf-8") if enabled else None
        self._tb = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))
            except ImportError:  # tensorboard is an optional extra
                self._tb = None
        self._bar = None
        self._tty = sys.stderr.isatty()
        if not self.quiet and self._tty:
            self._bar = tqdm(
                total=total_images, initial=start_images, unit="img", unit_scale=True, dynamic_ncols=True,
                desc="train", smoothing=0.1,
            )
        self._t0 = time.perf_counter()
        self._start_images = start_images
        self._latest_eval: dict[str, float] = {}  # shown beside the losses until the next evaluation

    def advance(self, images: int) -> None:
        if self._bar is not None:
            self._bar.update(images)

    def record(self, entry: dict[str, Any]) -> None:
        """Append one line to log.jsonl (and TensorBoard); refresh the progress display."""
        if not self.enabled:
            return
        self._fh.write(json.dumps(entry, sort_keys=False) + "\n")
        self._fh.flush()
        if entry.get("event") == "eval":
            self._latest_eval = {k: v for k, v in entry.get("metrics", {}).items() if k in SHOWN_METRICS}
            if self._tb is not None:
                for key, value in entry.get("metrics", {}).items():
                    self._tb.add_scalar(f"eval/{key}", value, entry["step"])
        elif self._tb is not None and "step" in entry:
            for key, value in entry.items():
                if isinstance(value, (int, float)) and key not in ("step",):
                    self._tb.add_scalar(key, value, entry["step"])
        if self.quiet or "images" not in entry:
            return
        losses = {k: entry[k] for k in ("loss_d", "loss_g") if k in entry} | self._latest_eval
        if self._bar is not None:
            self._bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()}, refresh=False)
        else:
            done = entry["images"] - self._start_images
            elapsed = time.perf_counter() - self._t0
            rate = done / elapsed if elapsed > 0 else 0.0
            eta = (self.total - entry["images"]) / rate if rate > 0 else 0.0
            parts = [f"kimg {entry['images'] / 1000:.1f}/{self.total / 1000:.1f}", f"{rate:.0f} img/s", f"ETA {_fmt_duration(eta)}"]
            parts += [f"{k} {v:.3f}" for k, v in losses.items()]
            print(" | ".join(parts), file=sys.stderr, flush=True)

    def message(self, text: str) -> None:
        """A line for the person watching (not for log.jsonl)."""
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self._fh is not None:
            self._fh.close()
            self._fh = None
