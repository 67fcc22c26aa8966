"""The reader's recipes against each other, each trained on the same sample and measured on held-back documents.

Usage: python benchmarks/reader_recipes.py [--limit 5000] [--questions 400] [--out .cache/recipes] [NAME ...]

Each recipe (RECIPES: layers of e5-small, how many are trained, the training window, epochs) is trained with
`python -m qa train-reader --limit N` (the same N examples for all, drawn by the same seed), then read alone on
its gold passages (`benchmarks/answers.py --gold-passage --reader-only --split calibration`) over the
held-back documents of CMRC 2018 train and of DRCD dev, which no recipe trains on. A trained recipe is kept in
`--out` and not trained again. It prints one row per recipe: EM and F1 on each set, the file's size and the
training's seconds (from its card).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# name -> train-reader options; "base" is the shipped recipe's shape (2 frozen layers, 6 trained, 8 in all).
RECIPES = {
    "base": [],
    "12-layers": ["--lower-layers", "4", "--upper-layers", "8"],
    "4-trained": ["--lower-layers", "4", "--upper-layers", "4"],
    "short-windows": ["--window-chars", "40", "160"],
    "2-epochs": ["--epochs", "2"],
}
SETS = ("cmrc2018_train", "drcd_dev_articles")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"recipes to measure (default: all of {', '.join(RECIPES)})")
    parser.add_argument("--bench", type=Path, default=ROOT.parent / "shared" / "bench")
    parser.add_argument("--limit", type=int, default=5000, help="training examples of every recipe")
    parser.add_argument("--questions", type=int, default=400, help="held-back questions per set")
    parser.add_argument("--out", type=Path, default=ROOT / ".cache" / "recipes")
    args = parser.parse_args()
    if unknown := set(args.names) - set(RECIPES):
        parser.error(f"no recipe {', '.join(sorted(unknown))}")
    print(f"| recipe | {' | '.join(f'{s} EM / F1' for s in SETS)} | MB | training s |")
    print(f"| --- | {' | '.join('---' for _ in SETS)} | --- | --- |")
    for name in args.names or RECIPES:
        weights = args.out / name / "reader.safetensors"
        if not weights.exists():
            options = ["--epochs", "1", *RECIPES[name]]
            subprocess.run([sys.executable, "-m", "qa", "train-reader", "--bench", str(args.bench), "--limit",
                            str(args.limit), "--out", str(weights), "--checkpoints", str(args.out / name / "ck"),
                            *options], cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        card = json.loads(weights.with_suffix(".json").read_text())
        cells = [_measure(args.bench / s, weights, args.questions) for s in SETS]
        recipe = card["recipe"]
        print(f"| {name} ({card['lower_layers']}+{card['upper_layers']} layers, window {recipe['window_chars']}, "
              f"{recipe['epochs']} ep) | {' | '.join(cells)} | {weights.stat().st_size / 1e6:.1f} | "
              f"{card['seconds']['total']:.0f} |", flush=True)


def _measure(dataset: Path, weights: Path, questions: int) -> str:
    """EM / F1 of the reader alone on the gold passages of a set's held-back documents."""
    out = subprocess.run([sys.executable, "benchmarks/answers.py", str(dataset), "--limit", str(questions),
                          "--gold-passage", "--reader-only", "--split", "calibration", "--weights", str(weights)],
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    found = re.search(r"short answer\s+EM ([\d.]+)\s+F1 ([\d.]+)", out)
    return f"{found.group(1)} / {found.group(2)}"


if __name__ == "__main__":
    main()
