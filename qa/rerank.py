"""Re-ranking of fused candidates by a weighted sum of question/passage features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.analysis import Passage, Question

FEATURES = ("bm25", "dense", "window", "sentence", "type", "title")
# Weights fitted on both public benchmark sets (benchmarks/tune_rerank.py, BENCHMARKS.md).
WEIGHTS = np.array([1.0, 0.6, 0.0, 0.0, 0.0, 0.0], dtype=np.float32)


@dataclass(frozen=True)
class Match:
    """How a passage meets a question: the feature vector and its best sentence."""

    features: np.ndarray
    best_sentence: int


def _share(q: frozenset[str], other: frozenset[str]) -> float:
    return len(q & other) / len(q) if q else 0.0


def match(q: Question, p: Passage, bm25: float, dense: float) -> Match:
    """Features of one candidate; bm25 and dense are already normalised over the candidates."""
    sentences = p.sentences
    total_idf = sum(w for _, w in q.words) or 1.0
    coverage = [sum(w for word, w in q.words if word in s.text) / total_idf for s in sentences]
    best = int(np.argmax(coverage)) if coverage else 0
    window = max(
        (_share(q.bigrams, sentences[i].bigrams | sentences[i + 1].bigrams) for i in range(len(sentences) - 1)),
        default=_share(q.bigrams, sentences[0].bigrams) if sentences else 0.0,
    )
    typed = float(bool(q.kind and sentences and q.kind in sentences[best].types))
    title = _share(q.bigrams, p.title_bigrams)
    values = [bm25, dense, window, coverage[best] if coverage else 0.0, typed, title]
    return Match(np.array(values, dtype=np.float32), best)


def score(m: Match, weights: np.ndarray = WEIGHTS) -> float:
    return float(m.features @ weights)
