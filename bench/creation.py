"""Measures of a creation model (issue 24, section 4): trait accuracy against the real ceiling,
consistency when one trait changes, and FID in a trait classifier's feature space.

    python bench/creation.py [--model character-avatar] [--samples 1000] [--consistency-samples 8]
        [--real-samples 6000] [--seed 0] [--json OUT.json]

The model is a bundled name, an exported folder or a run folder; its config names the data set
(avatars, wesnoth-sprites, portraits, turntable, landscapes, shapes-traits), whose real images
train two trait classifiers (``pool`` and ``strided``, ganforge.metrics.traits; cached under
$GANFORGE_CACHE_DIR/trait-classifiers) and give the held-out images (the data set's test split,
else a seeded 20 % of its images or items). See docs/creation.md, "Measures". Per trait: accuracy
on held-out real images (the ceiling), on generated images (asked value against what the
classifier sees; only images that show the trait, by the real data's visibility), their ratio.
The last line is machine-readable:
``trait_accuracy_ratio: R trait_accuracy_ratio_strided: R2 consistency: C fid: F``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import torch

import ganforge
from ganforge.errors import GanforgeError
from ganforge.fileio import atomic_write_text
from ganforge.metrics.creation import measure_creation
from ganforge.metrics.traits import ARCHITECTURES


def fmt(value, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def print_report(report: dict) -> None:
    archs = list(report["summary"])
    head = archs[0]
    print(f"\nmodel {report['model']}: data {report['real']}")
    print(f"{report['samples']} generated images (seed {report['seed']}); visibility rule agrees with the real "
          f"mask on {report['visibility_rule_agreement']:.1%} of held-out (image, trait) pairs")
    cols = "".join(f" | {a} real | {a} gen | {a} ratio" for a in archs)
    print(f"\n| trait | values | chance | shown real / gen{cols} | consistency ({head}) | varied acc ({head}) |")
    print("|---|---|---|---|" + "---|" * (3 * len(archs)) + "---|---|")
    for name, row in report["traits"].items():
        cells = "".join(f" | {fmt(row[a]['real'])}{'' if row[a]['legible'] else '*'} | {fmt(row[a]['generated'])} | "
                        f"{fmt(row[a]['ratio'])}" for a in archs)
        cons = report["consistency"].get(name, {}).get(head, {})
        print(f"| {name} | {row['values']} | {fmt(row['chance'])} | {row['real_shown']} / {row['generated_shown']}{cells} | "
              f"{fmt(cons.get('unchanged'))} | {fmt(cons.get('varied_accuracy'))} |")
    print("\n* not legible: the classifier reads it on real images less than halfway from chance (the "
          "commonest value's share) to 1; left out of the mean ratio")
    for a in archs:
        s = report["summary"][a]
        print(f"{a}: mean real accuracy {fmt(s['real_accuracy'])}, generated {fmt(s['generated_accuracy'])}, "
              f"ratio {fmt(s['trait_accuracy_ratio'])} over {len(s['legible_traits'])} legible traits "
              f"({fmt(s['trait_accuracy_ratio_all'])} over all); consistency {fmt(s['consistency'])}; "
              f"FID {fmt(s['fid'], '.2f')} (real train vs held out: {fmt(s['fid_real_train'], '.2f')})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="character-avatar", help="bundled name, exported folder or run folder")
    parser.add_argument("--samples", type=int, default=1000, help="generated images for accuracy and FID")
    parser.add_argument("--consistency-samples", type=int, default=8, help="characters per varied trait")
    parser.add_argument("--real-samples", type=int, default=None,
                        help="training images of a generated data set (avatars: data.samples; default: the model's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-cache", action="store_true", help="retrain the classifiers")
    parser.add_argument("--json", default=None, help="write the whole report here")
    args = parser.parse_args()
    torch.manual_seed(0)
    start = time.time()
    try:
        pipe = ganforge.load(args.model)
        report = measure_creation(pipe, samples=args.samples, real_samples=args.real_samples,
                                  consistency_samples=args.consistency_samples, seed=args.seed,
                                  architectures=ARCHITECTURES, use_cache=not args.no_cache,
                                  progress=sys.stderr.isatty(), log=lambda line: print(line, file=sys.stderr))
    except GanforgeError as err:
        sys.exit(f"error: {err}")
    report["seconds"] = round(time.time() - start, 1)
    report["machine"] = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                         "torch": torch.__version__, "threads": torch.get_num_threads()}
    print_report(report)
    print(f"\n{report['seconds']} s on {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)")
    if args.json:
        atomic_write_text(args.json, json.dumps(report, indent=2) + "\n")
    head, second = report["summary"][ARCHITECTURES[0]], report["summary"].get(ARCHITECTURES[1], {})
    print(f"trait_accuracy_ratio: {fmt(head['trait_accuracy_ratio'])} "
          f"trait_accuracy_ratio_{ARCHITECTURES[1]}: {fmt(second.get('trait_accuracy_ratio'))} "
          f"consistency: {fmt(head['consistency'])} fid: {fmt(head['fid'], '.2f')}")


if __name__ == "__main__":
    main()
