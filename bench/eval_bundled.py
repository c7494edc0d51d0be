"""Every metric for the bundled models, beside the real-versus-real floors; a Markdown table.

    python bench/eval_bundled.py [--n 10000] [--models fashion-cgan,fashion-dcgan] [--out bench-out/eval]

Each model's eval.json and report.html go to OUT/<model>/. The floors (real train split
against the real test split, same counts) come out of the same runs. The last line is
``label_accuracy: X`` for fashion-cgan (target >= 0.85; CAS target >= 0.80).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import ganforge  # noqa: E402
from ganforge.metrics.evaluate import evaluate  # noqa: E402
from ganforge.metrics.report_card import ROWS, format_value, write_eval_outputs  # noqa: E402
from ganforge.report import format_number  # noqa: E402


def _cell(value, percent: bool) -> str:
    shown = format_value(value, percent)
    return "-" if shown is None else shown if isinstance(shown, str) else format_number(shown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--models", default="fashion-cgan,fashion-dcgan")
    parser.add_argument("--out", type=Path, default=Path("bench-out/eval"))
    args = parser.parse_args()
    results = {}
    for name in args.models.split(","):
        start = time.perf_counter()
        pipe = ganforge.load(name)
        metrics = "all" if pipe.conditional else None
        result = evaluate(pipe, metrics=metrics, n=args.n, progress=True)
        seconds = time.perf_counter() - start
        # A model given as a folder path reports under its folder's name, inside OUT.
        write_eval_outputs(args.out / Path(name).name, pipe, result, command=" ".join(sys.argv), seconds=seconds)
        results[name] = result
        print(f"{name}: {seconds:.0f} s", flush=True)
    names = list(results)
    print()
    print("| metric | " + " | ".join(names) + " | real vs real |")
    print("|---|" + "---|" * (len(names) + 1))
    for key, label, better, percent in ROWS:
        if not any(key in r.metrics for r in results.values()):
            continue
        floor = next((r.floors.get(key) for r in results.values() if key in r.floors), None)
        if key == "cas":
            floor = next((r.metrics.get("cas_train_on_real") for r in results.values() if "cas_train_on_real" in r.metrics), None)
        cells = [_cell(r.metrics.get(key), percent) for r in results.values()]
        fl = _cell(floor, percent)
        arrow = {"lower": " (lower is better)", "higher": " (higher is better)"}.get(better, "")
        print(f"| {label}{arrow} | " + " | ".join(cells) + f" | {fl} |")
    cgan = results.get("fashion-cgan")
    if cgan is not None and "cas" in cgan.metrics:
        print(f"cas: {cgan.metrics['cas']:.4f}")
    if cgan is not None:
        print(f"label_accuracy: {cgan.metrics['label_accuracy']:.4f}")


if __name__ == "__main__":
    main()
