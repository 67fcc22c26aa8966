"""What answers and citations are read from: passages, articles and page texts, by key. `CorpusRecords` holds a
parsed corpus in this process (the embedded store); a shared store reads its own records per request
(milvus/records.py) so that its API servers hold no copy of the archive."""

from __future__ import annotations

import dataclasses
import re
import threading
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from cachetools import LRUCache

from qa.ingest import citations
from qa.ingest.documents import Article, Chunk
from qa.ingest.normalize import normalise
from qa.storage.columns import ChunkColumns, TypeColumns
from qa.storage.filters import ArticleTable, Day, Filters, Paging, Selection, day_key, people

_QUOTES = re.compile(r"[\s“”\"'‘’《》「」]")  # left out of the texts a list topic is matched against


@dataclass(frozen=True)
class Passage:
    """A chunk with what re-ranking and answering read besides its text: its article's record (the body left out
    where the store keeps it apart: an article's summary), its sentences' answer types, and its raw text in the
    page file (`raw[start:end]` of the page: what offsets are mapped back into)."""

    chunk: Chunk
    article: Article
    types: list[list[str]]
    raw: str

    @property
    def headline(self) -> str:
        return self.article.headline


class LRU:
    """A bounded least-recently-used map shared by request threads (cachetools' LRUCache is not thread-safe on its
    own), counting its hits and misses."""

    def __init__(self, size: int):
        self.size, self.hits, self.misses = size, 0, 0
        self._cache: LRUCache = LRUCache(maxsize=size)
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            value = self._cache.get(key)
            if value is None:
                self.misses += 1
            else:
                self.hits += 1
            return value

    def put(self, key, value) -> None:
        with self._lock:
            self._cache[key] = value

    def __len__(self) -> int:
        return len(self._cache)

    def stats(self) -> dict:
        return {"entries": len(self._cache), "size": self.size, "hits": self.hits, "misses": self.misses}


def matchable(article: Article, prepare: Callable[[str], str]) -> tuple[str, str]:
    """An article's (title, whole text) in the form a list question's topic is matched against: prepared like a
    question (qa.language.tokenize), without quotes and blanks ("亮赛比活动" is in “亮赛比”活动), its printed date
    also in Arabic numerals."""
    def plain(text: str) -> str:
        return _QUOTES.sub("", prepare(text))
    title = plain(f"{article.kicker or ''}{article.headline}")
    day = Day.parse(article.day) if article.day else None  # "十二月二十日" is matched as "12月20日" too
    arabic = f"{day.month}月{day.day}日" if day else ""
    return title, plain("".join([title, article.body, *people(article), article.date or "", arabic]))


def byline_names(article: Article) -> set[str]:
    """The names a chat's rewriter recognises in a follow-up (qa.answers.followups): reporters, correspondents, kicker."""
    return {n for n in (*article.reporters, *article.correspondents, article.kicker or "") if len(n) >= 2}


class Records(ABC):
    """The archive's records as a server reads them. A passage's key is what the store's search returns for it
    (a position, an id: opaque to the caller); articles and pages are named by their ids and file names."""

    @abstractmethod
    def passages(self, keys: Sequence[Hashable]) -> list[Passage | None]:
        """The passages of these keys, in their order (None for one an update removed meanwhile)."""

    def passage(self, key: Hashable) -> Passage | None:
        return self.passages([key])[0]

    def select(self, filters: Filters) -> Selection:
        """What a store's search needs to pass only the chunks of the articles the filters pass: here the filters
        (a store that keeps the articles' fields with its chunks filters by them)."""
        return Selection(filters)

    @abstractmethod
    def cited(self, chunk_id: str) -> Passage | None:
        """The passage a citation id names (None: no such passage)."""

    @abstractmethod
    def article_of(self, chunk: Chunk) -> Article:
        """The summary of a chunk's article (a chunk of the passages read for this request)."""

    def headline(self, chunk: Chunk) -> str:
        """The headline of a chunk's article (a chunk of the passages read for this request)."""
        return self.article_of(chunk).headline

    @abstractmethod
    def raw(self, chunk: Chunk) -> str:
        """A chunk's raw text in its page file (a chunk of the passages read for this request)."""

    @abstractmethod
    def article(self, article_id: str) -> Article | None:
        """An article's whole record, body included; None when there is none."""

    @abstractmethod
    def article_passages(self, article_id: str) -> tuple[np.ndarray, list[Chunk]]:
        """The keys and the chunks of an article's passages, in order (none for an unknown article)."""

    @abstractmethod
    def articles(self, filters: Filters = Filters()) -> list[Article]:
        """Every article the filters pass, in page order (summaries: the body may be left out)."""

    def listing(self, filters: Filters, paging: Paging, newest: bool = False) -> tuple[int, list[Article]]:
        """How many articles the filters pass, and the summaries of one page of them: in page order, or newest
        first (by printed day, then page order)."""
        articles = self.articles(filters)
        if newest:
            articles = sorted(articles, key=lambda a: -day_key(a))
        return len(articles), paging.of(articles)

    @abstractmethod
    def page(self, name: str) -> str | None:
        """A page file's raw text; None when the archive holds no such page."""

    def pages(self, names: Sequence[str]) -> dict[str, str]:
        """The raw texts of these pages (those the archive holds), read together."""
        return {name: text for name in dict.fromkeys(names) if (text := self.page(name)) is not None}

    @abstractmethod
    def texts(self, filters: Filters, printing: list[str], limit: int | None = None) -> list[tuple[Article, str, str]]:
        """(article summary, title, text) as `matchable` makes them, of the articles the filters pass whose text
        holds every string of `printing`, in page order; at most `limit`. The texts are prepared as `warm` was
        told (a store that keeps them made them with the tokenizer's preparation at build)."""

    @abstractmethod
    def names(self) -> frozenset[str]:
        """`byline_names` of every article."""

    def warm(self, prepare: Callable[[str], str]) -> None:
        """Make now what list questions and the chat read (the names; where the store keeps them here, the texts
        a list topic is matched against, prepared by `prepare`, the question's preparation), when an index is loaded
        or followed, so that no request pays for it. Before it, `texts` has nothing to match."""
        self.names()

    def page_counts(self) -> tuple[Counter, Counter]:
        """How many articles, and how many passages, each page holds (for the admin's page listing: read whole here;
        a store that keeps counts per page reads those)."""
        articles, passages = Counter(), Counter()
        for article in self.articles():
            articles[article.page] += 1
            passages[article.page] += len(self.article_passages(article.id)[1])
        return articles, passages

    def stats(self) -> dict | None:
        """How a store's caches of records fare (entries, hits, misses), for the health reply; None without."""
        return None


class CorpusRecords(Records):
    """A parsed corpus held in this process; keys are chunk positions. The archive's text is held once, in its
    pages: the chunks are columns whose texts are made from the pages when read (ChunkColumns), and the articles
    are kept without their bodies, which `article` makes from the page (`body == normalise(raw[body_start:
    body_end])`, Article's invariant): at 100k passages both copies held 80 MB."""

    def __init__(self, corpus, types: Sequence[list[list[str]]]):
        chunks = corpus.chunks if isinstance(corpus.chunks, ChunkColumns) else ChunkColumns(corpus.pages, corpus.chunks)
        articles = {key: _without_body(article) for key, article in corpus.articles.items()}
        self.corpus = dataclasses.replace(corpus, articles=articles, chunks=chunks.freeze())
        self.types = types if isinstance(types, TypeColumns) else TypeColumns(types)
        self._texts: dict[str, tuple[str, str]] | None = None  # `matchable` texts, made by warm()
        self._prepared: Callable[[str], str] | None = None  # the preparation they were made with
        self._lock = threading.Lock()
        _ = self.table, self._by_article  # made with the index, not by its first filtered or chat request

    @cached_property
    def _by_article(self) -> tuple[np.ndarray, np.ndarray]:
        """Chunk positions ordered by article number, and where each article's run of them starts: article n's are
        `order[starts[n]:starts[n + 1]]` (two arrays, not an array per article: 31,720 of them held 6 MB)."""
        chunks = self.corpus.chunks
        numbers = np.frombuffer(chunks.article, dtype=np.int32)
        order = np.argsort(numbers, kind="stable")
        return order, np.searchsorted(numbers[order], np.arange(len(chunks.articles) + 1))

    def _positions(self, article_id: str) -> np.ndarray:
        """An article's chunk positions, in order (none for an unknown article)."""
        number = self.corpus.chunks.article_number(article_id)
        if number is None:
            return np.empty(0, dtype=np.int64)
        order, starts = self._by_article
        return order[starts[number] : starts[number + 1]]

    @cached_property
    def table(self) -> ArticleTable:
        return ArticleTable(list(self.corpus.articles.values()), self.corpus.chunks.article_ids())

    def select(self, filters: Filters) -> Selection:
        return self.table.select(filters)  # the mask over positions the in-process stores search with

    def passages(self, keys: Sequence[Hashable]) -> list[Passage | None]:
        return [self._passage(int(key)) for key in keys]

    def _passage(self, i: int) -> Passage:
        chunk = self.corpus.chunks[i]
        return Passage(chunk, self.corpus.articles[chunk.article_id], self.types[i], self.raw(chunk))

    def cited(self, chunk_id: str) -> Passage | None:
        cited = citations.parse(chunk_id)  # found among its article's few passages
        for i in self._positions(cited.article) if cited and cited.kind == citations.PASSAGE else ():
            if self.corpus.chunks.ids[int(i)] == chunk_id:
                return self._passage(int(i))
        return None

    def article_of(self, chunk: Chunk) -> Article:
        return self.corpus.articles[chunk.article_id]

    def raw(self, chunk: Chunk) -> str:
        return self.corpus.pages[chunk.page][chunk.start : chunk.end]

    def article(self, article_id: str) -> Article | None:
        summary = self.corpus.articles.get(article_id)
        if summary is None:
            return None
        body = normalise(self.corpus.pages[summary.page][summary.body_start : summary.body_end])
        return dataclasses.replace(summary, body=body)

    def article_passages(self, article_id: str) -> tuple[np.ndarray, list[Chunk]]:
        keys = self._positions(article_id)
        return keys, [self.corpus.chunks[int(i)] for i in keys]

    def articles(self, filters: Filters = Filters()) -> list[Article]:
        if not filters:
            return list(self.corpus.articles.values())
        table = self.table
        return [self.corpus.articles[table.ids[i]] for i in np.flatnonzero(table.passing(filters))]

    def listing(self, filters: Filters, paging: Paging, newest: bool = False) -> tuple[int, list[Article]]:
        """Ordered on the article table's arrays: only the page's articles are looked up."""
        table = self.table
        positions = np.flatnonzero(table.passing(filters))
        if newest:
            positions = table.newest_first(positions)
        return len(positions), [self.corpus.articles[table.ids[i]] for i in paging.of(positions)]

    def page(self, name: str) -> str | None:
        return self.corpus.pages.get(name)

    def texts(self, filters: Filters, printing: list[str], limit: int | None = None) -> list[tuple[Article, str, str]]:
        if self._texts is None:
            raise RuntimeError("no texts to match yet: Records.warm(prepare) makes them (QAService does at load)")
        found, texts = [], self._texts
        first, *others = printing or [""]
        for article in self.articles(filters):
            title, text = texts[article.id]
            if first in text and all(p in text for p in others):  # one phrase, the usual case: no generator
                found.append((article, title, text))
                if limit is not None and len(found) >= limit:
                    break
        return found

    def warm(self, prepare: Callable[[str], str]) -> None:
        """Every article's `matchable` texts, made by `prepare` and kept for the index's life (made again only for
        another preparation)."""
        self.names()
        with self._lock:
            if self._prepared is not prepare:
                self._texts = {key: matchable(self.article(key), prepare) for key in self.corpus.articles}
                self._prepared = prepare

    def page_counts(self) -> tuple[Counter, Counter]:
        return Counter(a.page for a in self.corpus.articles.values()), Counter(self.corpus.chunks.pages())

    @cached_property
    def _names(self) -> frozenset[str]:
        return frozenset(n for a in self.corpus.articles.values() for n in byline_names(a))

    def names(self) -> frozenset[str]:
        return self._names


def _without_body(article: Article) -> Article:
    return dataclasses.replace(article, body="") if article.body else article
