"""From ranked passages to an answer: the reader's best span over the top passages' windows, its sentence, and
calibrated confidences (that the span is right; that the sentence holds the answer)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.answers.confidence import FEATURES, Calibration
from qa.ingest.documents import Chunk, Hit
from qa.ingest.normalize import normalise_with_map
from qa.language import analysis
from qa.language.qtype import type_spans
from qa.language.tokenize import Tokenizer
from qa.models.reader import Reader, SpanScore

READ_DEPTH = 3  # re-ranked passages the reader reads, in one batch
WINDOW_CHARS = 160  # a window: the passage's best sentence and its neighbours up to this many characters
# Blanks and punctuation trimmed off a span's ends (a quote comes back when the span is a quoted name); a
# unit such as % or ℃ stays.
_PUNCT = r"\s,，。.、;；:：!！?？()（）\[\]【】“”\"'‘’《》「」·…—-"
_EDGE = re.compile(rf"^[{_PUNCT}]+|[{_PUNCT}]+$")


@dataclass(frozen=True)
class Span:
    """A quoted span: the normalised text and its offsets in the raw page file."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Answer:
    span: Span  # the likeliest short answer
    sentence: Span  # the sentence that holds it
    highlight: tuple[int, int]  # the span's offsets in `sentence.text`
    confidence: float  # calibrated probability that `span` is right
    support: float  # calibrated probability that `sentence` holds the answer
    span_confident: bool  # show the span (True) or the sentence with the span highlighted (False)
    chunk: Chunk
    sentence_index: int


def raw_span(chunk: Chunk, raw: str, start: int, end: int) -> Span:
    """Map an offset range of `chunk.text` back to the raw page (`raw`: the chunk's raw text, the page's
    `[chunk.start:chunk.end]`)."""
    mapped = normalise_with_map(raw)
    a, b = mapped.to_raw(start, end)
    return Span(chunk.text[start:end], chunk.start + a, chunk.start + b)


@dataclass(frozen=True)
class Candidate:
    hit: Hit
    rank: int
    start: int  # offsets in hit.chunk.text
    end: int
    scored: SpanScore


class Answerer:
    """Reads the top re-ranked passages, scores every candidate span with the fitted span model, and takes the
    likeliest; the fitted support model tells whether the archive answers the question at all."""

    def __init__(self, tokenizer: Tokenizer, headline_of, reader: Reader, calibration: Calibration,
                 window_chars: int = WINDOW_CHARS):
        self.tokenizer, self.headline_of = tokenizer, headline_of
        self.reader, self.calibration, self.window_chars = reader, calibration, window_chars

    def answer(self, q: analysis.Question, hits: list[Hit], raw_of) -> Answer | None:
        """The likeliest answer in the hits; `raw_of(chunk)` gives a chunk's raw text (qa.storage.records)."""
        scored = self.scored(q, hits)
        if not scored:
            return None
        confidence, best, features = max(scored, key=lambda x: x[0])
        chunk = best.hit.chunk
        index = max((i for i, (a, _) in enumerate(chunk.sentences) if a <= best.start), default=0)
        a, b = chunk.sentences[index] if chunk.sentences else (0, len(chunk.text))
        raw = raw_of(chunk)
        return Answer(
            span=raw_span(chunk, raw, best.start, best.end),
            sentence=raw_span(chunk, raw, a, b),
            highlight=(best.start - a, min(best.end, b) - a),
            confidence=confidence,
            support=self.calibration.support(features),
            span_confident=confidence >= self.calibration.confident_above,
            chunk=chunk, sentence_index=index,
        )

    def scored(self, q: analysis.Question, hits: list[Hit]) -> list[tuple[float, Candidate, dict[str, float]]]:
        """Every candidate span the reader found in the top passages' windows (one batch), with the span
        model's probability that it is right and its features."""
        top = hits[:READ_DEPTH]
        if not top:
            return []
        windows = [window(hit, self.window_chars) for hit in top]
        # The reader reads simplified text (q.text is already): a traditional passage gets the same spans.
        simplified = [self.tokenizer.simplified(hit.chunk.text) for hit in top]
        readings = self.reader.read(q.text, [text[a:b] for text, (a, b) in zip(simplified, windows)])
        candidates = [_candidate(hit, rank, windows[rank][0], s, hit.chunk.text)
                      for rank, (hit, found) in enumerate(zip(top, readings)) for s in found]
        candidates = [c for c in candidates if c is not None]
        best_score = max((c.scored.score for c in candidates), default=0.0)
        passages = [self._passage_facts(q, hit) for hit in top]  # once per passage, not per candidate
        return [(self.calibration.span(f), c, f) for c in candidates
                for f in [self.features(q, c, hits[0], best_score, *passages[c.rank])]]

    def _passage_facts(self, q: analysis.Question, hit: Hit) -> tuple[str, list[tuple[int, int]]]:
        """A passage's prepared text with its headline, and its spans of the asked answer type."""
        context = self.tokenizer.prepare(self.headline_of(hit.chunk) + "\n" + hit.chunk.text)
        typed = (type_spans(self.tokenizer.simplified(hit.chunk.text), q.answer_type, self.tokenizer.tagged)
                 if q.answer_type else [])
        return context, typed

    def features(self, q: analysis.Question, c: Candidate, top: Hit, best_score: float, context: str,
                 typed: list[tuple[int, int]]) -> dict[str, float]:
        """The FEATURES of one candidate span (qa.answers.confidence); `context` and `typed` are its passage's facts."""
        text = c.hit.chunk.text[c.start : c.end]
        total = sum(w for _, w in q.words) or 1.0
        missing = [w for word, w in q.words if word not in context]
        prepared = self.tokenizer.prepare(text)
        values = {
            "span_score": c.scored.score,
            "span_vs_null": c.scored.score - c.scored.null,
            "span_vs_best": c.scored.score - best_score,
            "rank": float(c.rank),
            "passage_gap": (c.hit.score - top.score) / max(abs(top.score), 1.0),
            "cosine": c.hit.scores.get("cosine", 0.0),
            "bm25_share": c.hit.scores.get("bm25_share", 0.0),
            "dense_gap": c.hit.scores.get("dense_gap", 0.0),
            "coverage": sum(w for word, w in q.words if word in context) / total,
            "missing_idf": max(missing, default=0.0) / max((w for _, w in q.words), default=1.0),
            "asked_type": float(q.answer_type is not None),
            "type_match": float(any(a < c.end and c.start < b for a, b in typed)),
            "in_question": sum(ch in q.text for ch in prepared) / max(len(prepared), 1),
        }
        assert tuple(values) == FEATURES
        return values


def window(hit: Hit, size: int = WINDOW_CHARS) -> tuple[int, int]:
    """Offsets in the passage text of the window the reader reads: the re-ranker's best sentence, grown by
    whole neighbouring sentences (the next one first) while it stays within `size` characters."""
    sentences = hit.chunk.sentences
    if not sentences:
        return 0, len(hit.chunk.text)
    at = min(int(hit.scores.get("best_sentence", 0)), len(sentences) - 1)
    left = right = at
    while True:
        grown = False
        for i in (right + 1, left - 1):
            if 0 <= i < len(sentences) and max(sentences[right][1], sentences[i][1]) - min(sentences[left][0], sentences[i][0]) <= size:
                left, right, grown = min(left, i), max(right, i), True
        if not grown:
            break
    return sentences[left][0], sentences[right][1]


def _candidate(hit: Hit, rank: int, offset: int, s: SpanScore, text: str) -> Candidate | None:
    """The span in passage offsets, with punctuation and blanks trimmed off its ends (paired quotes kept)."""
    start, end = offset + s.start, offset + s.end
    span = text[start:end]
    trimmed = _EDGE.sub("", span)
    if not trimmed:
        return None
    start += span.find(trimmed)
    end = start + len(trimmed)
    # A quoted name keeps its quotes: 《…》, “…”, 「…」.
    for left, right in ("《》", "“”", "「」", '""'):
        if start > 0 and text[start - 1] == left and text[end : end + 1] == right:
            start, end = start - 1, end + 1
    return Candidate(hit, rank, start, end, s)
