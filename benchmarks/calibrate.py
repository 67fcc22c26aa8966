"""Fit the answer confidence (a logistic model over answer features) and report a refusal threshold.

Usage: python benchmarks/calibrate.py BENCH_DIR [BENCH_DIR ...] --dev DEV.jsonl [--limit N]

Positives and negatives come from three sources, none of them the unseen test questions:
  * benchmark questions against their own corpus: label 1 when the top passage holds the answer;
  * the same questions against the seed index: out-of-archive questions, label 0;
  * the dev set over the seeds (reported, and used to pick the threshold, not to fit weights).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from retrieval import is_hit, load_corpus  # noqa: E402

from qa.answer import CONFIDENCE_FEATURES, Answerer  # noqa: E402
from qa.config import Config  # noqa: E402
from qa.dense import EmbeddingCache  # noqa: E402
from qa.eval import plain  # noqa: E402
from qa.index import Index  # noqa: E402
from qa.retrieve import Retriever  # noqa: E402
from qa.service import QAService  # noqa: E402


def features_of(retriever: Retriever, answerer: Answerer, pages: dict, question: str):
    analysed = retriever.analyse(question)
    hits = retriever.hybrid(question, 5, analysed=analysed)
    answer = answerer.answer(analysed, hits, pages.__getitem__)
    return hits, [answer.features[f] for f in CONFIDENCE_FEATURES]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benches", type=Path, nargs="+")
    parser.add_argument("--dev", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=600)
    args = parser.parse_args()

    config = Config.from_env()
    seeds = QAService(config, progress=False)
    x, y = [], []
    for folder in args.benches:
        corpus = load_corpus(folder, config)
        index = Index.build(corpus, seeds.encoder, seeds.tokenizer,
                            cache=EmbeddingCache(config.cache_dir / "embeddings", seeds.encoder.fingerprint), progress=False)
        retriever = Retriever(index, seeds.encoder, seeds.tokenizer, config)
        answerer = Answerer(seeds.tokenizer, corpus.headline)
        questions = [json.loads(line) for line in (folder / "questions.jsonl").open(encoding="utf-8")]
        for q in random.Random(1).sample(questions, min(args.limit, len(questions))):
            hits, f = features_of(retriever, answerer, corpus.pages, q["question"])
            x.append(f), y.append(int(is_hit(hits[0], q)))
            _, f = features_of(seeds.retriever, seeds.answerer, seeds.index.corpus.pages, q["question"])
            x.append(f), y.append(0)
        print(f"# {folder.name}: {len(x)} examples so far, {sum(y)} positive", flush=True)
    model = LogisticRegression(C=1.0, max_iter=2000).fit(np.array(x), np.array(y))
    weights = [float(model.intercept_[0])] + model.coef_[0].tolist()
    print("CONFIDENCE_FEATURES =", CONFIDENCE_FEATURES)
    print("CONFIDENCE_WEIGHTS = (" + ", ".join(f"{w:.3f}" for w in weights) + ")")

    items = [json.loads(line) for line in args.dev.open(encoding="utf-8") if line.strip()]
    rows = []
    for item in items:
        hits, f = features_of(seeds.retriever, seeds.answerer, seeds.index.corpus.pages, item["question"])
        p = float(model.predict_proba([f])[0, 1])
        correct = item["answer"] is not None and hits[0].chunk.page == item["seed"] and plain(item["answer"]) in plain(hits[0].chunk.text)
        rows.append((p, item["answer"] is not None, correct, item["id"]))
        print(f"{item['id']} answerable={item['answer'] is not None} top1-correct={correct} p={p:.3f} "
              + " ".join(f"{n}={v:.2f}" for n, v in zip(CONFIDENCE_FEATURES, f)))
    worst_answerable = min(p for p, a, _, _ in rows if a)
    best_unanswerable = max((p for p, a, _, _ in rows if not a), default=0.0)
    print(f"lowest answerable {worst_answerable:.3f}, highest unanswerable {best_unanswerable:.3f}")


if __name__ == "__main__":
    main()
