"""How often a question's kind is recognised right: on the public QA sets (every question there is a fact, so any
other kind is a misfire) and on the archive-question sets over the seeds (each line names its kind).

Usage: python benchmarks/kinds.py [--bench ../shared/bench] [--show N]

No model is loaded: the kind is read from the question's jieba tokens (qa/language/kinds.py), in about a
millisecond a question."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.eval import read_items  # noqa: E402
from qa.answers.kinds import FACT, question_kind  # noqa: E402
from qa.language.tokenize import Tokenizer  # noqa: E402
from qa.models.reader_data import read_jsonl  # noqa: E402

PUBLIC = ("cmrc2018_dev", "cmrc2018_trial", "cmrc2018_train", "drcd_dev_articles", "xquad_zh")
FIXTURES = ("kinds_heldout.jsonl", "kinds_blind.jsonl", "archive_qa.jsonl", "archive_qa_heldout.jsonl")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", type=Path, default=ROOT.parent / "shared" / "bench")
    parser.add_argument("--show", type=int, default=5, help="misfires printed per set")
    args = parser.parse_args()
    tokenizer = Tokenizer()
    
    for name in PUBLIC:
        path = args.bench / name / "questions.jsonl"
        if not path.is_file():
            print(f"{name}: not found, skipped")
            continue
        started = time.perf_counter()
        questions = [q["question"] for q in read_jsonl(path)]
        kinds = [question_kind(q, tokenizer) for q in questions]
        misfires = [(q, k) for q, k in zip(questions, kinds) if k != FACT]
        ms = (time.perf_counter() - started) * 1000 / len(questions)
        print(f"{name}: facts {len(questions) - len(misfires)}/{len(questions)}  "
              f"misfires {dict(Counter(k for _, k in misfires))}  ({ms:.2f} ms a question)")
        for question, kind in misfires[: args.show]:
            print(f"    {kind}: {question}")
    for name in FIXTURES:
        items = read_items(ROOT / "tests" / "fixtures" / name)
        wrong = [(i, k) for i in items if (k := question_kind(i["question"], tokenizer)) != i["kind"]]
        by_kind = Counter(i["kind"] for i in items)
        right = Counter(i["kind"] for i in items) - Counter(i["kind"] for i, _ in wrong)
        print(f"{name}: kinds right {len(items) - len(wrong)}/{len(items)}  "
              + "  ".join(f"{k} {right[k]}/{n}" for k, n in by_kind.items()))
        for item, kind in wrong[: args.show]:
            print(f"    {item['id']} {item['kind']} taken for {kind}: {item['question']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
