"""From ranked passages to an answer: the answering sentence, a short span of the asked type, a confidence."""

from __future__ import annotations

import math
from dataclasses import dataclass

from qa import analysis
from qa.documents import Chunk, Hit
from qa.extract import short_answer
from qa.normalize import normalise_with_map
from qa.tokenize import Tokenizer

# Logistic calibration of the confidence, fitted by benchmarks/calibrate.py (see BENCHMARKS.md):
# intercept, then one weight per CONFIDENCE_FEATURES entry.
CONFIDENCE_FEATURES = ("coverage", "missing_idf", "typed", "cosine", "bm25_share", "dense_gap")
CONFIDENCE_WEIGHTS = (-7.865, 8.113, 0.132, 0.098, 2.479, 1.723, 0.383)


# The answer sentence is looked for in the top passages, the lower ones at a small price per rank.
ANSWER_DEPTH = 3
RANK_PENALTY = 0.15


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

    def __init__(self, tokenizer: Tokenizer, headline_of):
        self.tokenizer, self.headline_of = tokenizer, headline_of

    def answer(self, q: analysis.Question, hits: list[Hit], raw_page_of) -> Answer | None:
        if not hits:
            return None
        hit, index, short = max(
            (self._best_sentence(q, hit, rank) for rank, hit in enumerate(hits[:ANSWER_DEPTH])),
            key=lambda found: found[0],
        )[1:]
        chunk = hit.chunk
        a, b = chunk.sentences[index]
        features = self._features(q, hit, typed=short is not None)
        raw = raw_page_of(chunk.page)
        sentence_span = raw_span(chunk, raw, a, b)
        text_span = raw_span(chunk, raw, a + short[0], a + short[1]) if short else sentence_span
        return Answer(text_span, sentence_span, self._confidence(features), chunk, index, features)

    def _best_sentence(self, q: analysis.Question, hit: Hit, rank: int):
        """(value, hit, sentence index, short answer span or None) of the passage's best sentence: the one
        that covers the question best, preferring one that holds a short answer; lower-ranked passages
        pay a small price so the top passage wins ties."""
        chunk = hit.chunk
        headline = self.tokenizer.prepare(self.headline_of(chunk))
        total = sum(w for _, w in q.words) or 1.0
        best = (-1.0, hit, 0, None)
        for i, (a, b) in enumerate(chunk.sentences):
            sentence = chunk.text[a:b]
            prepared = self.tokenizer.prepare(sentence)
            coverage = sum(w for word, w in q.words if word in prepared or word in headline) / total
            anchors = [(word, p, w) for word, w in q.words for p in _positions(prepared, word)]
            # Align the prepared (simplified, NFKC, lower-case) forms: traditional or full-width questions
            # then match too. Offsets carry over only when preparing kept the sentence's length.
            target = prepared if len(prepared) == len(sentence) else sentence
            short = short_answer(q.text, q.kind, target, self.tokenizer.tagged, anchors)
            # A sentence that answers beats one that only echoes the question.
            value = coverage + (0.5 if short else 0.0) - RANK_PENALTY * rank
            if value > best[0]:
                best = (value, hit, i, short)
        return best

    def _features(self, q: analysis.Question, hit: Hit, typed: bool) -> dict[str, float]:
        chunk = hit.chunk
        context = self.tokenizer.prepare(self.headline_of(chunk) + "\n" + chunk.text)
        total = sum(w for _, w in q.words) or 1.0
        found = [w for word, w in q.words if word in context]
        missing = [w for word, w in q.words if word not in context]
        return {
            "coverage": sum(found) / total,
            "missing_idf": max(missing, default=0.0) / max((w for _, w in q.words), default=1.0),
            "typed": float(typed or not q.kind),
            "cosine": hit.scores.get("cosine", 0.0),
            # Do both retrievers back the answer's passage? Its BM25 as a share of the best candidate's,
            # and its cosine minus the best candidate's.
            "bm25_share": hit.scores.get("bm25_share", 0.0),
            "dense_gap": hit.scores.get("dense_gap", 0.0),
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
