"""From ranked passages to an answer: the answering sentence, a short span of the asked type, a confidence."""

from __future__ import annotations

import math
from dataclasses import dataclass

from qa import analysis
from qa.documents import Chunk, Hit
from qa.normalize import normalise_with_map
from qa.qtype import type_spans
from qa.tokenize import Tokenizer

# Logistic calibration of the confidence, fitted by benchmarks/calibrate.py (see BENCHMARKS.md):
# intercept, then one weight per CONFIDENCE_FEATURES entry.
CONFIDENCE_FEATURES = ("coverage", "missing_idf", "typed", "cosine", "agreement")
CONFIDENCE_WEIGHTS = (-6.0, 8.0, -0.5, 1.0, 2.0, 1.0)


@dataclass(frozen=True)
class Span:
    """A quoted span: the normalised text and its offsets in the raw page file."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Answer:
    text: Span  # the short answer when one of the asked type is found, else the sentence
    sentence: Span
    confidence: float
    chunk: Chunk
    sentence_index: int
    features: dict[str, float]


def raw_span(chunk: Chunk, raw_page: str, start: int, end: int) -> Span:
    """Map an offset range of `chunk.text` back to the raw page."""
    mapped = normalise_with_map(raw_page[chunk.start : chunk.end])
    a, b = mapped.to_raw(start, end)
    return Span(chunk.text[start:end], chunk.start + a, chunk.start + b)


class Answerer:
    """Picks the answer sentence and span from the re-ranked hits and scores the confidence."""

    def __init__(self, tokenizer: Tokenizer, idf, headline_of):
        self.tokenizer, self.idf, self.headline_of = tokenizer, idf, headline_of

    def answer(self, question: str, hits: list[Hit], raw_page_of) -> Answer | None:
        if not hits:
            return None
        top = hits[0]
        chunk = top.chunk
        q = analysis.question(question, self.tokenizer, self.idf)
        index = int(top.scores.get("best_sentence", 0))
        a, b = chunk.sentences[index]
        sentence = chunk.text[a:b]
        short = self._short_answer(q, sentence)
        features = self._features(q, top, hits, chunk, typed=short is not None)
        raw = raw_page_of(chunk.page)
        sentence_span = raw_span(chunk, raw, a, b)
        text_span = raw_span(chunk, raw, a + short[0], a + short[1]) if short else sentence_span
        return Answer(text_span, sentence_span, self._confidence(features), chunk, index, features)

    def _short_answer(self, q: analysis.Question, sentence: str) -> tuple[int, int] | None:
        """The span of the asked type nearest to the question's words in the sentence, if any."""
        if not q.kind:
            return None
        prepared = self.tokenizer.prepare(sentence)
        spans = [s for s in type_spans(sentence, q.kind, self.tokenizer.tagged)
                 if self.tokenizer.prepare(sentence[s[0]:s[1]]) not in q.text]
        if not spans:
            return None
        anchors = [i for word, _ in q.words for i in _positions(prepared, word)]
        if not anchors:
            return spans[0]
        return min(spans, key=lambda s: min(abs(s[0] - i) for i in anchors))

    def _features(self, q: analysis.Question, top: Hit, hits: list[Hit], chunk: Chunk, typed: bool) -> dict[str, float]:
        context = self.tokenizer.prepare(self.headline_of(chunk) + "\n" + chunk.text)
        total = sum(w for _, w in q.words) or 1.0
        found = [w for word, w in q.words if word in context]
        missing = [w for word, w in q.words if word not in context]
        return {
            "coverage": sum(found) / total,
            "missing_idf": max(missing, default=0.0) / max((w for _, w in q.words), default=1.0),
            "typed": float(typed or not q.kind),
            "cosine": top.scores.get("cosine", 0.0),
            "agreement": min(top.scores.get("bm25", 0.0), top.scores.get("dense", 0.0)),
        }

    @staticmethod
    def _confidence(features: dict[str, float]) -> float:
        z = CONFIDENCE_WEIGHTS[0] + sum(w * features[n] for n, w in zip(CONFIDENCE_FEATURES, CONFIDENCE_WEIGHTS[1:]))
        return 1.0 / (1.0 + math.exp(-z))


def _positions(text: str, word: str) -> list[int]:
    positions, start = [], text.find(word)
    while start >= 0:
        positions.append(start)
        start = text.find(word, start + 1)
    return positions
