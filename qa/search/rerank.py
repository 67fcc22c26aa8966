"""Re-ranking of fused candidates by a weighted sum of question/passage features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.language.analysis import AnalysedPassage, Question

# bm25_share: BM25 as a share of the best candidate's; dense_gap: cosine minus the best candidate's; window,
# sentence, chunk: how much of the question the best two-sentence window / sentence / whole passage
# holds; type: the best sentence holds an answer of the asked type; title: overlap with the headline.
FEATURES = ("bm25_share", "dense_gap", "window", "sentence", "chunk", "type", "title")
# Fitted by pairwise logistic regression on training sets only (benchmarks/tune_rerank.py on dumps of 2000
# CMRC 2018 train and 1500 DRCD dev questions; never CMRC 2018 dev or the seeds), the BM25 weight as fitted
# (raising it measured worse there), then scaled to the former weights' length so that scores keep their size.
WEIGHTS = np.array([4.443, 101.764, 8.73, 4.034, 1.644, 0.817, 13.168], dtype=np.float32)


@dataclass(frozen=True)
class Match:
    """How a passage meets a question: the feature vector and its best sentence."""

    features: np.ndarray
    best_sentence: int


def _share(q: frozenset[str], other: frozenset[str]) -> float:
    return len(q & other) / len(q) if q else 0.0


def match(q: Question, p: AnalysedPassage, retrieval: tuple[float, float]) -> Match:
    """Features of one candidate; `retrieval` is (bm25_share, dense_gap), relative to the other candidates."""
    sentences = p.sentences
    # The headline/title is the context of every sentence: a sentence need not repeat its topic.
    words = [(word, w, word in p.title) for word, w in q.words]
    total_idf = sum(w for _, w, _ in words) or 1.0
    coverage = [sum(w for word, w, in_title in words if in_title or word in s.text) / total_idf
                for s in sentences] or [0.0]
    best = int(np.argmax(coverage))
    everywhere = sum(w for word, w, _ in words if any(word in s.text for s in sentences)) / total_idf
    rest = q.bigrams - p.title_bigrams
    window = max(
        (_share(rest, sentences[i].bigrams | sentences[i + 1].bigrams) for i in range(len(sentences) - 1)),
        default=_share(rest, sentences[0].bigrams) if sentences else 0.0,
    )
    typed = float(bool(q.answer_type and sentences and q.answer_type in sentences[best].types))
    title = _share(q.bigrams, p.title_bigrams)
    values = [*retrieval, window, coverage[best], everywhere, typed, title]
    return Match(np.array(values, dtype=np.float32), best)


def score(m: Match, weights: np.ndarray = WEIGHTS) -> float:
    return float(m.features @ weights)
