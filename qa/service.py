"""The QA service: loads the model and the index once, answers questions and looks up citations."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from qa.analysis import Question
from qa.answer import Answer, Answerer, raw_span
from qa.config import Config
from qa.confidence import Calibration
from qa.dense import Encoder
from qa.documents import Article, Chunk, Hit
from qa.errors import NotFound
from qa.index import Index, load_or_build, refuse_other_format
from qa.model import ensure_model
from qa.reader import Reader, load_reader
from qa.retrieve import Retriever
from qa.tokenize import Tokenizer
from qa.validate import quoted

REFUSAL = "资料库中没有找到能回答这个问题的内容。"  # "The archive does not say."
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\u3000]*\n")
_SENTENCE_ID = re.compile(r"^(?P<chunk>.+)-s(?P<n>\d{1,6})$")


@dataclass(frozen=True)
class Snapshot:
    """Everything derived from one index. The service swaps it whole (one attribute): a request reads it
    once and works on that, so it sees the old index or the new one, never a mix of the two."""

    index: Index
    retriever: Retriever
    answerer: Answerer
    chunks_by_id: dict[str, Chunk]

    @classmethod
    def of(cls, index: Index, encoder: Encoder, tokenizer: Tokenizer, config: Config, reader: Reader,
           calibration: Calibration) -> "Snapshot":
        return cls(index, Retriever(index, encoder, tokenizer, config),
                   Answerer(tokenizer, index.corpus.headline, reader, calibration),
                   {c.id: c for c in index.corpus.chunks})


@dataclass
class Search:
    """What retrieval found for one question, before the answer is extracted."""

    snapshot: Snapshot  # the index it searched: the answer is taken from the same one
    question: str
    analysed: Question
    hits: list[Hit]
    timings: dict[str, float]  # milliseconds per stage
    started: float  # perf_counter() at the start of the request


class QAService:
    """Everything the HTTP API and the CLI need, behind plain methods that return JSON-ready dicts."""

    def __init__(self, config: Config, progress: bool = True):
        started = time.perf_counter()
        self.config = config
        refuse_other_format(config.index_dir)  # before the slow model load
        model_path = ensure_model(config, progress=progress)
        self.tokenizer = Tokenizer()
        self.encoder = Encoder(model_path, config.query_prefix, config.passage_prefix, config.torch_threads,
                               config.query_threads)
        self.reader = load_reader(model_path, self.encoder.fingerprint, config.query_threads,
                                  int8=config.reader_precision == "int8")
        self.calibration = Calibration.load()
        index = load_or_build(config, self.encoder, self.tokenizer, progress)
        self._snapshot = self._snapshot_of(index)
        self._follower = follower(config, index, self.encoder.fingerprint)
        self.ask("预热", 1)  # the first forward pass and jieba's dictionary load are slow: pay them at start-up
        self.ready_seconds = time.perf_counter() - started

    def swap(self, index: Index) -> None:
        """Serve another index from the next request on; requests under way finish on the one they started with.
        An index older than the one served (a shared store's generation that a later update passed) is ignored."""
        if index.manifest.get("generation", 0) < self._snapshot.index.manifest.get("generation", 0):
            return
        self._snapshot = self._snapshot_of(index)

    def _snapshot_of(self, index: Index) -> Snapshot:
        return Snapshot.of(index, self.encoder, self.tokenizer, self.config, self.reader, self.calibration)

    @property
    def snapshot(self) -> Snapshot:
        """The index to serve this request from: with a shared (Milvus) store, the newest that any API server
        or `qa add` wrote (looked for at most once a second)."""
        if self._follower is not None and (newer := self._follower.newer(self._snapshot.index)) is not None:
            self.swap(newer)
        return self._snapshot

    # The parts of the current snapshot, for callers outside a request (tests, benchmarks).
    index = property(lambda self: self.snapshot.index)
    retriever = property(lambda self: self.snapshot.retriever)
    answerer = property(lambda self: self.snapshot.answerer)

    # -- questions ---------------------------------------------------------------------------
    def ask(self, question: str, top_k: int = 5, prefer_article: str | None = None) -> dict:
        """The reply body of /api/ask: the answer (or a refusal), the passages with citations, timings."""
        return self.answer(self.search(question, top_k, prefer_article))

    def search(self, question: str, top_k: int = 5, prefer_article: str | None = None,
               snapshot: Snapshot | None = None) -> Search:
        """Retrieval alone; `prefer_article` (e.g. the one a chat's previous answer came from) is favoured.
        A caller that already read the snapshot for this request passes it (one index per request)."""
        started = time.perf_counter()
        snapshot = snapshot or self.snapshot
        timings: dict[str, float] = {}
        analysed = snapshot.retriever.analyse(question)
        hits = snapshot.retriever.hybrid(question, top_k, timings, analysed, prefer_article)
        return Search(snapshot, question, analysed, hits, timings, started)

    def answer(self, found: Search, passages: list[dict] | None = None) -> dict:
        """The answer extracted from a search's hits, and the whole reply body (with `passages` when the
        caller already made them from `found`)."""
        answered = time.perf_counter()
        snapshot = found.snapshot
        answer = snapshot.answerer.answer(found.analysed, found.hits, snapshot.index.corpus.pages.__getitem__)
        refused = answer is None or answer.support < self.config.refuse_below
        body = {
            "question": found.question,
            "answer": None if refused else self._answer_json(answer),
            "passages": self.passages_json(found) if passages is None else passages,
        }
        if refused:
            body["message"] = REFUSAL
            body["confidence"] = round(answer.support, 4) if answer else 0.0
        timings = found.timings
        timings["answer"] = (time.perf_counter() - answered) * 1000
        timings["total"] = (time.perf_counter() - found.started) * 1000
        body["timings_ms"] = {k: round(timings[k], 2) for k in ("embed", "search", "answer", "total")}
        return body

    def passages_json(self, found: Search) -> list[dict]:
        words = sorted(set(self.tokenizer(found.question)), key=len, reverse=True)  # once for all passages
        return [self._passage_json(found.snapshot, h, words) for h in found.hits]

    def _answer_json(self, answer: Answer) -> dict:
        return {
            "text": answer.span.text if answer.span_confident else answer.sentence.text,
            "span_confident": answer.span_confident,
            "span_text": answer.span.text,
            "sentence": answer.sentence.text,
            "highlight": {"start": answer.highlight[0], "end": answer.highlight[1]},
            "span": {"start": answer.span.start, "end": answer.span.end},
            "sentence_span": {"start": answer.sentence.start, "end": answer.sentence.end},
            "confidence": round(answer.confidence, 4),
            "support": round(answer.support, 4),
            "citation": sentence_citation(answer.chunk, answer.sentence_index),
            "page": answer.chunk.page,
        }

    def _passage_json(self, snapshot: Snapshot, hit: Hit, words: list[str]) -> dict:
        chunk = hit.chunk
        return {
            "citation": chunk.id,
            "score": round(hit.score, 4),
            "text": chunk.text,
            "highlights": self._highlights(chunk, words),
            "article": self._article_summary(snapshot.index.corpus.articles[chunk.article_id]),
            "source": {"file": chunk.page, "start": chunk.start, "end": chunk.end},
        }

    def _highlights(self, chunk: Chunk, words: list[str]) -> list[dict]:
        """Offsets in the passage text of the question's words, longest first (the longest wins overlaps)."""
        prepared = self.tokenizer.prepare(chunk.text)
        spans: list[tuple[int, int]] = []
        for word in words:
            start = prepared.find(word)
            while start >= 0:
                end = start + len(word)
                if not any(a < end and start < b for a, b in spans):
                    spans.append((start, end))
                start = prepared.find(word, end)
        return [{"start": a, "end": b, "text": chunk.text[a:b]} for a, b in sorted(spans)]

    # -- lookups -----------------------------------------------------------------------------
    def citation(self, citation_id: str) -> dict:
        """A passage id cites the whole passage, a sentence id (passage id + "-sNN") one of its sentences."""
        snapshot = self.snapshot
        chunk, sentence = self._cited(snapshot, citation_id)
        raw = snapshot.index.corpus.pages[chunk.page]
        start, end = chunk.sentences[sentence] if sentence is not None else (0, len(chunk.text))
        cited = raw_span(chunk, raw, start, end)
        p_start, p_end = paragraph_bounds(raw, cited.start, cited.end)
        return {
            "id": citation_id,
            "article": self._article_json(snapshot, snapshot.index.corpus.articles[chunk.article_id]),
            "passage": {"id": chunk.id, "text": chunk.text, "source": {"file": chunk.page, "start": chunk.start, "end": chunk.end}},
            "paragraph": {"text": raw[p_start:p_end], "source": {"file": chunk.page, "start": p_start, "end": p_end}},
            "span": {"text": cited.text, "raw": raw[cited.start:cited.end], "start": cited.start, "end": cited.end},
        }

    @staticmethod
    def _cited(snapshot: Snapshot, citation_id: str) -> tuple[Chunk, int | None]:
        """The chunk and sentence index of a citation id; only the ids the service hands out are found."""
        chunks = snapshot.chunks_by_id
        if citation_id in chunks:
            return chunks[citation_id], None
        match = _SENTENCE_ID.match(citation_id)
        chunk = chunks.get(match["chunk"]) if match else None
        if chunk and int(match["n"]) < len(chunk.sentences) and sentence_citation(chunk, int(match["n"])) == citation_id:
            return chunk, int(match["n"])
        raise NotFound(f"no citation with id {quoted(citation_id)}")

    def articles(self) -> list[dict]:
        return [self._article_summary(a) for a in self.snapshot.index.corpus.articles.values()]

    def article(self, article_id: str) -> dict:
        snapshot = self.snapshot
        article = snapshot.index.corpus.articles.get(article_id)
        if article is None:
            raise NotFound(f"no article with id {quoted(article_id)}")
        return self._article_json(snapshot, article)

    def health(self) -> dict:
        manifest = self.snapshot.index.manifest
        return {
            "ready": True,
            "index": {k: manifest.get(k) for k in ("format_version", "model", "counts", "skipped", "built_at",
                                                   "build_seconds")} | {"store": self.config.store},
            "start_seconds": round(self.ready_seconds, 2),
        }

    @staticmethod
    def _article_summary(article: Article) -> dict:
        return {"id": article.id, "title": article.headline, "kicker": article.kicker, "date": article.date,
                "reporters": list(article.reporters), "correspondents": list(article.correspondents), "page": article.page}

    def _article_json(self, snapshot: Snapshot, article: Article) -> dict:
        retriever = snapshot.retriever  # its article -> chunk positions: no scan of every chunk per lookup
        chunks = [retriever.chunks[int(i)].id for i in retriever.article_chunks.get(article.id, ())]
        return self._article_summary(article) | {
            "body": article.body,
            "source": {"file": article.page, "start": article.body_start, "end": article.body_end},
            "passages": chunks,
            "warnings": list(article.warnings),
        }


def follower(config: Config, index: Index, fingerprint: str):
    """What keeps a server on the newest index other processes write: only the shared Milvus store has one."""
    if config.store != "milvus":
        return None
    from qa.milvus import Follower  # embedded serving never loads pymilvus

    return Follower(config, index.store.client, fingerprint)


def sentence_citation(chunk: Chunk, sentence_index: int) -> str:
    return f"{chunk.id}-s{sentence_index:02d}"


def paragraph_bounds(raw: str, start: int, end: int) -> tuple[int, int]:
    """The raw paragraph (between blank lines) around a span; a span over several gives all of them."""
    breaks = [(m.start(), m.end()) for m in _PARAGRAPH_BREAK.finditer(raw)]
    p_start = max((b for a, b in breaks if b <= start), default=0)
    p_end = min((a for a, b in breaks if a >= end), default=len(raw))
    return p_start, p_end
