"""Counts of the creation data sets: images per source and images per value of each trait, with
the share of images where the trait can be seen (``Dataset.visible``). The figures in
docs/creation.md ("Creation data") come from this script.

    python bench/creation_data.py [avatars wesnoth-sprites portraits turntable landscapes]
        [--avatar-split test]

Builds (and caches, under $GANFORGE_CACHE_DIR/data) each data set at 64 px from the installed
packages (`make creation-data`); the avatars count the 2,000-image test split by default, whose
draws are uniform like the train split's. The last line is machine-readable: ``images: NAME=N ...``.
"""

from __future__ import annotations

import argparse

import torch

from ganforge.config import DataConfig
from ganforge.data import build_dataset
from ganforge.errors import GanforgeError

NAMES = ("avatars", "wesnoth-sprites", "portraits", "turntable", "landscapes")


def counts(name: str, split: str = "train") -> tuple[int, list[tuple[str, float, dict[str, int]]], int]:
    """``(images, [(trait, visible share, {value: images})], items)`` of one data set at 64 px."""
    ds = build_dataset(DataConfig(dataset=name, split=split, resolution=64, channels=3))
    rows = []
    for j, trait in enumerate(ds.conditioning.traits):
        per_value = torch.bincount(ds.labels[:, j], minlength=trait.size).tolist()
        rows.append((trait.name, ds.visible[:, j].float().mean().item(), dict(zip(trait.values, per_value))))
    return len(ds), rows, len(ds.item_names or [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", default=list(NAMES))
    parser.add_argument("--avatar-split", default="test", choices=("train", "test"))
    args = parser.parse_args()
    totals = {}
    for name in args.names:
        try:
            n, rows, items = counts(name, args.avatar_split if name == "avatars" else "train")
        except GanforgeError as err:
            print(f"{name}: {err}")
            continue
        totals[name] = n
        print(f"\n{name}: {n} images" + (f", {items} items" if items else ""))
        for trait, visible, per_value in rows:
            values = ", ".join(f"{v} {c}" for v, c in per_value.items())
            print(f"  {trait} ({len(per_value)} values, visible in {visible:.1%}): {values}")
    print("images: " + " ".join(f"{k}={v}" for k, v in totals.items()))


if __name__ == "__main__":
    main()
